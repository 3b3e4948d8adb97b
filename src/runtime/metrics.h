/* metrics.h - the runtime's Prometheus metrics, shared by every process that
 * runs controllers and watches (issuer, agent): work queue depth and
 * retries per controller (as client-go's workqueue_depth and
 * workqueue_retries_total), the informer runner's pending lists, watch
 * restarts by reason, and Events dropped (counted by the recorders,
 * events.h). Read from the queues and the watcher when scraped (a collector
 * of the owner calls these), so the hot paths only count.
 */
#ifndef MC_RUNTIME_METRICS_H
#define MC_RUNTIME_METRICS_H

#include "kube/watch.h"
#include "runtime/controller.h"
#include "runtime/informer.h"
#include "util/metrics.h"

typedef struct mc_runtime_metrics {
    mc_metric *queue_depth;    /* meshcert_workqueue_depth{name} */
    mc_metric *queue_retries;  /* meshcert_workqueue_retries_total{name} */
    mc_metric *watch_restarts; /* meshcert_watch_restarts_total{reason} */
    mc_metric *events_dropped; /* meshcert_events_dropped_total{reason}: given to event
                                  recorders (events.h), which count into it */
} mc_runtime_metrics;

/* Registers the families in metrics (NULL: *out all NULL, every call below a
 * no-op). MC_ENOMEM or MC_EINVAL (a name taken) with err filled. */
int mc_runtime_metrics_register(mc_metrics *metrics, mc_runtime_metrics *out, mc_err *err);

/* Copies a controller's queue depth and retries into the families. */
void mc_runtime_metrics_controller(const mc_runtime_metrics *rm, mc_controller *controller);

/* Copies the informer runner's pending steps as the queue depth of name
 * "informers". */
void mc_runtime_metrics_informers(const mc_runtime_metrics *rm, mc_informer_runner *runner);

/* Copies the watcher's restart totals: reason reconnect, expired (410,
 * relisted) and failed (401/403/404). */
void mc_runtime_metrics_watcher(const mc_runtime_metrics *rm, mc_kube_watcher *watcher);

#endif
