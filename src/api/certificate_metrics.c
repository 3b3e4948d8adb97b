/* certificate_metrics.c - notAfter and renewalTime of IssuedCertificates as
 * Prometheus gauges (certificate_metrics.h). */
#include "api/certificate_metrics.h"

#include <string.h>

#include "api/time.h"

int mc_api_certificate_metrics_register(mc_metrics *metrics, mc_api_certificate_metrics *out,
                                        mc_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!metrics)
        return MC_OK;
    static const char *const labels[] = {"cluster", "namespace", "name"};
    out->expiration = mc_metrics_gauge(
        metrics, "meshcert_certificate_expiration_timestamp_seconds",
        "notAfter of the intermediate CA certificate an IssuedCertificate wrote (status.notAfter), "
        "Unix seconds.",
        labels, 3);
    out->renewal = mc_metrics_gauge(
        metrics, "meshcert_certificate_renewal_timestamp_seconds",
        "When the agent renews the intermediate of an IssuedCertificate (status.renewalTime), "
        "Unix seconds.",
        labels, 3);
    if (!out->expiration || !out->renewal)
        return mc_err_set(err, MC_EINVAL, "certificate metrics: cannot register (name taken?)");
    return MC_OK;
}

void mc_api_certificate_metrics_reset(const mc_api_certificate_metrics *cm)
{
    mc_metric_reset(cm->expiration);
    mc_metric_reset(cm->renewal);
}

static void set_time(mc_metric *metric, const char *const *labels, const json_t *status,
                     const char *field)
{
    const char *text = json_string_value(json_object_get(status, field));
    int64_t seconds = 0;
    if (text && mc_time_parse(text, &seconds, NULL, NULL) == MC_OK)
        mc_metric_set(metric, labels, (double)seconds);
}

void mc_api_certificate_metrics_set(const mc_api_certificate_metrics *cm, const char *cluster,
                                    const json_t *issued_certificate)
{
    if (!cm->expiration)
        return;
    const json_t *meta = json_object_get(issued_certificate, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const json_t *status = json_object_get(issued_certificate, "status");
    if (!ns || !name)
        return;
    const char *const *labels = MC_LABELS(cluster ? cluster : "", ns, name);
    set_time(cm->expiration, labels, status, "notAfter");
    set_time(cm->renewal, labels, status, "renewalTime");
}
