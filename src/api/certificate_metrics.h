/* certificate_metrics.h - the per-IssuedCertificate gauges both the issuer
 * (every registered cluster) and the agent (its own cluster) export, named
 * like cert-manager's certmanager_certificate_expiration_timestamp_seconds:
 *
 *   meshcert_certificate_expiration_timestamp_seconds{cluster,namespace,name}
 *   meshcert_certificate_renewal_timestamp_seconds{cluster,namespace,name}
 *
 * from status.notAfter and status.renewalTime (Unix seconds). Owners refill
 * them from their caches on every scrape, so a deleted object's series goes.
 */
#ifndef MC_API_CERTIFICATE_METRICS_H
#define MC_API_CERTIFICATE_METRICS_H

#include <jansson.h>

#include "util/err.h"
#include "util/metrics.h"

typedef struct mc_api_certificate_metrics {
    mc_metric *expiration; /* status.notAfter */
    mc_metric *renewal;    /* status.renewalTime */
} mc_api_certificate_metrics;

/* Registers both families (metrics NULL: both NULL, the calls below no-ops).
 * MC_EINVAL when a name is taken. */
int mc_api_certificate_metrics_register(mc_metrics *metrics, mc_api_certificate_metrics *out,
                                        mc_err *err);

/* Drops every series (before a refill). */
void mc_api_certificate_metrics_reset(const mc_api_certificate_metrics *cm);

/* Sets the series of one cached IssuedCertificate (JSON as the API returns
 * it) of cluster ("" when unnamed); fields absent or unparsable set none. */
void mc_api_certificate_metrics_set(const mc_api_certificate_metrics *cm, const char *cluster,
                                    const json_t *issued_certificate);

#endif
