/* metrics.c - the runtime's metrics (metrics.h): families registered once,
 * values copied from the queues and the watcher when a collector asks. */
#include "runtime/metrics.h"

#include <string.h>

int mc_runtime_metrics_register(mc_metrics *metrics, mc_runtime_metrics *out, mc_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!metrics)
        return MC_OK;
    static const char *const name[] = {"name"};
    static const char *const reason[] = {"reason"};
    out->queue_depth =
        mc_metrics_gauge(metrics, "meshcert_workqueue_depth",
                         "Keys queued and ready for a worker, per controller.", name, 1);
    out->queue_retries = mc_metrics_counter(
        metrics, "meshcert_workqueue_retries_total",
        "Keys re-queued with backoff after a failed reconcile, per controller.", name, 1);
    out->watch_restarts = mc_metrics_counter(
        metrics, "meshcert_watch_restarts_total",
        "Watch streams restarted: reconnect (stream ended or broke, resumed from its "
        "resourceVersion), expired (410: relisted), failed (401/403/404).",
        reason, 1);
    out->events_dropped = mc_metrics_counter(
        metrics, "meshcert_events_dropped_total",
        "Kubernetes Events not written: queue_full (the recorder's queue was full), "
        "spam_filtered (the per-object rate limit), write_failed (the API server refused or "
        "was unreachable).",
        reason, 1);
    if (!out->queue_depth || !out->queue_retries || !out->watch_restarts || !out->events_dropped)
        return mc_err_set(err, MC_EINVAL, "runtime metrics: cannot register (name taken?)");
    return MC_OK;
}

void mc_runtime_metrics_controller(const mc_runtime_metrics *rm, mc_controller *controller)
{
    if (!rm->queue_depth || !controller)
        return;
    mc_workqueue *queue = mc_controller_queue(controller);
    const char *const *labels = MC_LABELS(mc_controller_name(controller));
    mc_metric_set(rm->queue_depth, labels, (double)mc_workqueue_len(queue));
    mc_metric_set(rm->queue_retries, labels, (double)mc_workqueue_retries(queue));
}

void mc_runtime_metrics_informers(const mc_runtime_metrics *rm, mc_informer_runner *runner)
{
    if (!rm->queue_depth || !runner)
        return;
    mc_metric_set(rm->queue_depth, MC_LABELS("informers"),
                  (double)mc_informer_runner_pending(runner));
}

void mc_runtime_metrics_watcher(const mc_runtime_metrics *rm, mc_kube_watcher *watcher)
{
    if (!rm->watch_restarts || !watcher)
        return;
    unsigned long reconnects = 0, expired = 0, failed = 0;
    mc_kube_watcher_restarts(watcher, &reconnects, &expired, &failed);
    mc_metric_set(rm->watch_restarts, MC_LABELS("reconnect"), (double)reconnects);
    mc_metric_set(rm->watch_restarts, MC_LABELS("expired"), (double)expired);
    mc_metric_set(rm->watch_restarts, MC_LABELS("failed"), (double)failed);
}
