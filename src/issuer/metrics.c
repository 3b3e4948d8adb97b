/* metrics.c - the issuer's metric families (docs/metrics.md), read by a
 * collector from the caches, queues and signers at scrape time, and its
 * readiness (mc_issuer_ready).
 */
#include "issuer/state.h"

#include "util/buf.h"

#define LOG "issuer"

/* Collector: the values read from caches, the queues and the signers. */
void collect_metrics(void *ctx)
{
    mc_issuer *issuer = ctx;
    issuer_metrics *m = &issuer->metrics;
    mc_metric_set(m->leader, NULL, atomic_load(&issuer->leading) ? 1 : 0);
    mc_runtime_metrics_controller(&m->runtime, issuer->request_controller);
    mc_runtime_metrics_controller(&m->runtime, issuer->cluster_controller);
    mc_runtime_metrics_watcher(&m->runtime, issuer->watcher);
    issuer_cluster **clusters = NULL;
    size_t count = mc_issuer_clusters_acquire(issuer, &clusters);
    mc_metric_set(m->clusters, NULL, (double)count);
    mc_api_certificate_metrics_reset(&m->certificates);
    for (size_t i = 0; i < count; i++) {
        json_t **items = NULL;
        size_t n = mc_informer_list(clusters[i]->issued, NULL, &items);
        for (size_t j = 0; j < n; j++) {
            mc_api_certificate_metrics_set(&m->certificates, clusters[i]->name, items[j]);
            json_decref(items[j]);
        }
        free(items);
    }
    mc_issuer_clusters_release(clusters, count);
    mc_metric_reset(m->root_expiry);
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry *entry = issuer->signers; entry; entry = entry->next)
        if (entry->signer && entry->root_not_after)
            mc_metric_set(m->root_expiry, MC_LABELS(entry->secret), (double)entry->root_not_after);
    pthread_mutex_unlock(&issuer->signers_lock);
}

int metrics_register(mc_issuer *issuer, mc_metrics *registry, mc_err *err)
{
    issuer_metrics *m = &issuer->metrics;
    m->registry = registry;
    if (!registry)
        return MC_OK;
    static const char *const cluster[] = {"cluster"};
    static const char *const cluster_reason[] = {"cluster", "reason"};
    static const char *const secret[] = {"secret"};
    m->signed_total =
        mc_metrics_counter(registry, "meshcert_issuer_requests_signed_total",
                           "CertificateRequests signed (status FINISHED written).", cluster, 1);
    m->refused_total = mc_metrics_counter(
        registry, "meshcert_issuer_requests_refused_total",
        "CertificateRequests refused (status FAILED written), by reason class.", cluster_reason, 2);
    m->csr_refusals =
        mc_metrics_counter(registry, "meshcert_issuer_csr_refusals_total",
                           "CSRs refused, by what was wrong with them.", cluster_reason, 2);
    m->latency = mc_metrics_histogram(
        registry, "meshcert_issuer_issuance_duration_seconds",
        "From a CertificateRequest's creation to its signed status written.", cluster, 1,
        mc_metrics_latency_buckets, mc_metrics_latency_bucket_count);
    m->leader =
        mc_metrics_gauge(registry, "meshcert_issuer_leader",
                         "1 while this replica holds the Lease and signs, 0 on standby.", NULL, 0);
    m->clusters = mc_metrics_gauge(registry, "meshcert_issuer_registered_clusters",
                                   "Registered clusters being watched.", NULL, 0);
    m->root_expiry = mc_metrics_gauge(
        registry, "meshcert_root_expiration_timestamp_seconds",
        "notAfter of each root CA read for signing (Secret ns/name), Unix seconds.", secret, 1);
    if (!m->signed_total || !m->refused_total || !m->csr_refusals || !m->latency || !m->leader ||
        !m->clusters || !m->root_expiry)
        return mc_err_set(err, MC_EINVAL, "issuer metrics: cannot register (name taken?)");
    int rc = mc_api_certificate_metrics_register(registry, &m->certificates, err);
    if (rc == MC_OK)
        rc = mc_runtime_metrics_register(registry, &m->runtime, err);
    if (rc == MC_OK && mc_metrics_add_collector(registry, collect_metrics, issuer) != MC_OK)
        rc = mc_err_set(err, MC_ENOMEM, "issuer metrics: out of memory");
    return rc;
}

int mc_issuer_ready(mc_issuer *issuer, char *reason, size_t reason_size)
{
    if (!mc_informer_has_synced(issuer->registrations)) {
        format_message(reason, reason_size, "registered clusters (secrets in %s) not synced yet",
                       issuer->namespace);
        return 0;
    }
    if (!mc_rotation_controller_ready(issuer->rotations)) {
        format_message(reason, reason_size, "rootrotations not synced yet");
        return 0;
    }
    mc_buf text;
    mc_buf_init(&text, reason_size ? reason_size - 1 : 0);
    mc_buf_append_str(&text, atomic_load(&issuer->leading) ? "leading"
                                                           : "standby (another replica leads)");
    issuer_cluster **clusters = NULL;
    size_t count = mc_issuer_clusters_acquire(issuer, &clusters);
    for (size_t i = 0, unsynced = 0; i < count; i++)
        if (!mc_informer_has_synced(clusters[i]->issued) ||
            !mc_informer_has_synced(clusters[i]->requests))
            mc_buf_appendf(&text, "%s%s", unsynced++ ? ", " : "; caches not synced yet: cluster ",
                           clusters[i]->name);
    mc_issuer_clusters_release(clusters, count);
    format_message(reason, reason_size, "%s", text.data ? text.data : "ready");
    mc_buf_free(&text);
    return 1;
}
