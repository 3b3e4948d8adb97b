/* controller.h - informers + a work queue + a fixed pool of worker threads
 * calling a reconcile function by key ("namespace/name"), as
 * controller-runtime does. Slow reconciles (RSA key generation) run on the
 * workers, never on the watch I/O thread.
 */
#ifndef MC_RUNTIME_CONTROLLER_H
#define MC_RUNTIME_CONTROLLER_H

#include <stdint.h>

#include "runtime/informer.h"
#include "runtime/workqueue.h"
#include "util/err.h"

typedef struct mc_controller mc_controller;

/* What a reconcile returns. */
typedef struct mc_reconcile_result {
    int requeue;              /* 1: retry with backoff (also implied by a non-zero return) */
    int64_t requeue_after_ms; /* > 0: run again after this delay (backoff reset) */
} mc_reconcile_result;

/* Reconciles one key. A non-zero return (with err filled) retries the key
 * with backoff; 0 forgets its backoff. Called on a worker thread; never
 * concurrently for one key. */
typedef int (*mc_reconcile_fn)(void *ctx, const char *key, mc_reconcile_result *result,
                               mc_err *err);

/* A controller named name (for logs) with workers threads. */
int mc_controller_new(const char *name, int workers, mc_reconcile_fn reconcile, void *ctx,
                      mc_controller **out, mc_err *err);

/* The same with the work queue's backoff configured (queue_options may be
 * NULL: client-go's 5 ms doubling up to 1000 s). */
int mc_controller_new_with(const char *name, int workers, mc_reconcile_fn reconcile, void *ctx,
                           const mc_workqueue_options *queue_options, mc_controller **out,
                           mc_err *err);

/* Queues "ns/name" for every add/update/delete the informer sees (the
 * controller installs handlers; call before mc_informer_start). key_fn, when
 * not NULL, maps an object to the key to queue (e.g. its owner's) and returns
 * 0, or -1 to skip it. */
void mc_controller_watch(mc_controller *controller, mc_informer_handlers *handlers,
                         int (*key_fn)(const json_t *obj, char *key, size_t key_size));

/* The controller's queue (to add keys directly). */
mc_workqueue *mc_controller_queue(mc_controller *controller);

/* The name given to mc_controller_new (borrowed). */
const char *mc_controller_name(const mc_controller *controller);

/* Starts the workers. */
int mc_controller_start(mc_controller *controller, mc_err *err);

/* Shuts the queue down (draining) and joins the workers. */
void mc_controller_stop(mc_controller *controller);

/* Frees (stopping first). Accepts NULL. */
void mc_controller_free(mc_controller *controller);

#endif
