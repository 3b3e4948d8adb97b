/* requests.c - the issuer answering one CertificateRequest of one cluster:
 * read request and IssuedCertificate from the cluster's caches, acquire the
 * signer the policy allows, mc_issuer_decide, write the status (FINISHED
 * with the certificate, or FAILED with the reason) and wait for the cache to
 * show it. Only the leader writes.
 */
#include "issuer/state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/certificate_request.h"
#include "api/issued_certificate.h"
#include "api/time.h"
#include "issuer/decide.h"
#include "issuer/policy.h"
#include "runtime/object.h"
#include "util/log.h"
#include "util/str.h"

#define LOG "issuer"
/* How long a worker waits for the watch to bring back its own status write. */
#define CACHE_WAIT_MS 2000

static int put_status(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err);

/* Writes the request's status for a FINISH or FAIL action, with its Ready
 * condition (conditional on the resourceVersion the decision was made from). */
static int write_status(issuer_cluster *cluster, mc_api_certificate_request *request,
                        const mc_issuer_action *action, const char *root_pem, mc_err *err)
{
    request->status.observed_generation = action->observed_generation;
    free(request->status.error);
    request->status.error = NULL;
    int rc = MC_OK;
    if (action->type == MC_ISSUER_FINISH) {
        request->status.state = MC_CR_STATE_FINISHED;
        rc = mc_api_certificate_request_set_signed(request, action->certificate_pem,
                                                   strlen(action->certificate_pem), root_pem,
                                                   strlen(root_pem));
    } else {
        request->status.state = MC_CR_STATE_FAILED;
        request->status.error = mc_strdup(action->error);
        rc = mc_api_certificate_request_set_signed(request, NULL, 0, NULL, 0);
        if (rc == MC_OK && !request->status.error)
            rc = MC_ENOMEM;
    }
    if (rc == MC_OK)
        rc = mc_api_certificate_request_set_ready(request, (int64_t)time(NULL));
    if (rc != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    return put_status(cluster, request, err);
}

/* An answer written without the Ready condition (by an older issuer): the
 * condition is added, nothing else changes. */
static int write_ready(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err)
{
    if (mc_api_certificate_request_set_ready(request, (int64_t)time(NULL)) != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    return put_status(cluster, request, err);
}

static int put_status(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err)
{
    json_t *body = NULL;
    int rc = mc_api_certificate_request_encode(request, &body, err);
    if (rc == MC_OK)
        rc =
            mc_kube_update_status(cluster->client, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                                  request->metadata.namespace, body, NULL, err);
    json_decref(body);
    return rc;
}

/* Waits (at most CACHE_WAIT_MS) until the request cache shows a version
 * other than old_rv, or the request gone: a reconcile queued while this one
 * ran would otherwise decide from the state before our status write and sign
 * the request a second time (the server refuses that write with 409, but the
 * signature is wasted). Woken by the cache's own events (runtime/informer.h),
 * no polling. */
static void wait_cache(issuer_cluster *cluster, const char *ns, const char *name,
                       const char *old_rv)
{
    if (!mc_informer_wait_for(cluster->requests, ns, name, old_rv, 1, CACHE_WAIT_MS))
        mc_log_debug(LOG,
                     "cluster %s: cache did not show the write to certificaterequest %s/%s "
                     "within %d ms",
                     cluster->name, ns, name, CACHE_WAIT_MS);
}

/* Counts an answer written: signed (with its latency since the request was
 * created) or refused by reason class. */
static void count_answer(const issuer_metrics *metrics, const char *cluster,
                         const mc_api_certificate_request *request, const mc_issuer_action *action)
{
    if (action->type == MC_ISSUER_FINISH) {
        mc_metric_add(metrics->signed_total, MC_LABELS(cluster), 1);
        int64_t created = 0;
        if (request->metadata.creation_timestamp &&
            mc_time_parse(request->metadata.creation_timestamp, &created, NULL, NULL) == MC_OK) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double seconds = (double)(now.tv_sec - created) + (double)now.tv_nsec / 1e9;
            mc_metric_observe(metrics->latency, MC_LABELS(cluster), seconds > 0 ? seconds : 0);
        }
        return;
    }
    mc_metric_add(metrics->refused_total,
                  MC_LABELS(cluster, action->reason ? action->reason : "other"), 1);
    if (action->csr_reason)
        mc_metric_add(metrics->csr_refusals, MC_LABELS(cluster, action->csr_reason), 1);
}

/* The Event reason of a refusal class (MC_ISSUER_REASON_*), kube's CamelCase. */
static const char *refusal_event_reason(const char *reason)
{
    static const struct {
        const char *class, *event;
    } reasons[] = {
        {MC_ISSUER_REASON_INVALID_IC, "InvalidIssuedCertificate"},
        {MC_ISSUER_REASON_NO_POLICY, "NoPolicy"},
        {MC_ISSUER_REASON_POLICY, "PolicyDenied"},
        {MC_ISSUER_REASON_LIFETIME, "InvalidLifetime"},
        {MC_ISSUER_REASON_CSR, "CSRRefused"},
        {MC_ISSUER_REASON_ROOT, "RootUnavailable"},
        {MC_ISSUER_REASON_SIGNING, "SigningFailed"},
    };
    for (size_t i = 0; reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(reason, reasons[i].class) == 0)
            return reasons[i].event;
    return "Refused";
}

/* The Event of an answer written, on the request in its cluster. */
static void record_answer(issuer_cluster *cluster, const mc_api_certificate_request *request,
                          const mc_issuer_action *action)
{
    mc_event_object obj = {MC_API_GROUP_VERSION,        "CertificateRequest",
                           request->metadata.namespace, request->metadata.name,
                           request->metadata.uid,       request->metadata.resource_version};
    if (action->type == MC_ISSUER_FINISH)
        mc_event_record(cluster->events, &obj, MC_EVENT_NORMAL, "Signed",
                        "signed for cluster %s (generation %lld)", cluster->name,
                        (long long)action->observed_generation);
    else
        mc_event_record(cluster->events, &obj, MC_EVENT_WARNING,
                        refusal_event_reason(action->reason), "%s", action->error);
}

/* Decides and writes for one request of one cluster. */
static int reconcile_cluster_request(mc_issuer *issuer, issuer_cluster *cluster, const char *ns,
                                     const char *name, mc_err *err)
{
    mc_api_certificate_request *request = NULL;
    mc_api_issued_certificate *issued = NULL;
    signer_entry *signer = NULL;
    char *bundle = NULL;
    mc_issuer_action action;
    memset(&action, 0, sizeof(action));
    mc_err local = {0};
    int rc = MC_OK;
    json_t *obj = mc_informer_get(cluster->requests, ns, name);
    if (!obj)
        return MC_OK; /* deleted */
    rc = mc_api_certificate_request_decode(obj, &request, &local);
    json_decref(obj);
    if (rc != MC_OK) {
        mc_log_warn(LOG, "cluster %s: %s", cluster->name, local.msg);
        return MC_OK; /* answered when it changes */
    }
    int answered = request->status.state == MC_CR_STATE_FINISHED ||
                   request->status.state == MC_CR_STATE_FAILED;
    /* what decide would call NOTHING or WAIT, without reading the root */
    obj = mc_informer_get(cluster->issued, ns, name);
    if (!request->metadata.deletion_timestamp && answered &&
        request->status.observed_generation == request->metadata.generation &&
        !mc_api_certificate_request_ready_current(request)) {
        rc = write_ready(cluster, request, err);
        if (rc == MC_ECONFLICT) {
            mc_err_clear(err);
            rc = MC_OK; /* a newer version is on its way to the cache */
        } else if (rc == MC_OK) {
            wait_cache(cluster, ns, name, request->metadata.resource_version);
        }
        goto out;
    }
    if (request->metadata.deletion_timestamp ||
        (answered && request->status.observed_generation == request->metadata.generation) || !obj)
        goto out;
    rc = mc_api_issued_certificate_decode(obj, &issued, &local);
    if (rc != MC_OK) {
        action.type = MC_ISSUER_FAIL;
        action.reason = MC_ISSUER_REASON_INVALID_IC;
        action.observed_generation = request->metadata.generation;
        format_message(action.error, sizeof(action.error),
                       "certificaterequest %s/%s on cluster %s: %s", ns, name, cluster->name,
                       local.msg);
        rc = MC_OK;
    } else {
        /* Only a root inside the cluster's policy is ever read (or made);
         * decide() refuses any other with the same words whether it exists. */
        char root_key[KEY_MAX];
        if (cluster->has_policy &&
            mc_issuer_policy_check_root(&cluster->policy, cluster->name,
                                        &issued->spec.signing_certificate_secret, issuer->namespace,
                                        root_key, sizeof(root_key), &local) == MC_OK) {
            rc = signing_acquire(issuer, root_key, &signer, &bundle, err);
            if (rc != MC_OK)
                goto out;
        }
        mc_issuer_observation observation = {
            .cluster = cluster->name,
            .request = request,
            .ic = issued,
            .policy = cluster->has_policy ? &cluster->policy : NULL,
            .policy_error = cluster->has_policy ? NULL : cluster->policy_error,
            .issuer_namespace = issuer->namespace,
            .signer = signer ? signer->signer : NULL,
            .signer_error = signer && !signer->signer ? signer->error : NULL,
            .root_pem = bundle   ? bundle
                        : signer ? signer->root_pem
                                 : NULL,
            .ttl_seconds = issuer->ttl_seconds,
            .max_duration_seconds = issuer->max_duration_seconds,
            .now = time(NULL),
        };
        mc_issuer_decide(&observation, &action);
    }
    if (action.type != MC_ISSUER_FINISH && action.type != MC_ISSUER_FAIL)
        goto out;
    rc = write_status(cluster, request, &action,
                      bundle                       ? bundle
                      : signer && signer->root_pem ? signer->root_pem
                                                   : "",
                      err);
    if (rc != MC_OK) {
        mc_err_prefix(err, "certificaterequest %s/%s on cluster %s", ns, name, cluster->name);
        goto out;
    }
    wait_cache(cluster, ns, name, request->metadata.resource_version);
    count_answer(&issuer->metrics, cluster->name, request, &action);
    record_answer(cluster, request, &action);
    if (action.type == MC_ISSUER_FINISH)
        mc_log_info(LOG, "certificaterequest %s/%s on cluster %s: FINISHED (generation %lld)", ns,
                    name, cluster->name, (long long)action.observed_generation);
    else
        mc_log_warn(LOG, "%s: FAILED", action.error);
out:
    json_decref(obj);
    mc_issuer_action_clear(&action);
    free(bundle);
    signer_put(issuer, signer);
    mc_api_issued_certificate_free(issued);
    mc_api_certificate_request_free(request);
    return rc;
}

/* Key "<cluster>/<ns>/<name>". */
int reconcile_request(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    mc_issuer *issuer = ctx;
    if (!atomic_load(&issuer->leading))
        return 0; /* the next leader reconciles everything */
    char cluster_name[KEY_MAX], ns[KEY_MAX];
    const char *rest = NULL, *name = NULL;
    if (mc_object_key_split(key, cluster_name, sizeof(cluster_name), &rest) != 0 ||
        mc_object_key_split(rest, ns, sizeof(ns), &name) != 0)
        return 0;
    if (!mc_rotation_controller_ready(issuer->rotations)) {
        result->requeue_after_ms = 200; /* the signing plan is not known yet */
        return 0;
    }
    issuer_cluster *cluster = cluster_get(issuer, cluster_name);
    if (!cluster)
        return 0; /* deregistered */
    int rc = reconcile_cluster_request(issuer, cluster, ns, name, err);
    cluster_put(cluster);
    return rc;
}
