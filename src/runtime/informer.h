/* informer.h - list + watch into a local cache, with event handlers.
 *
 * An informer lists a resource (paged), then watches from the list's
 * resourceVersion; on 410 Expired it relists (handlers see the difference as
 * adds, updates and deletes) and watches again. The cache is indexed by
 * namespace/name (and by one label key where asked). Optional resync calls
 * on_update for every cached object periodically. Thread-safe reads.
 *
 * Threads: informers have none of their own. A process makes one runner
 * over its watcher: its watches share the watcher's I/O thread, and its
 * lists, relists and resyncs run on the runner's fixed pool of list workers,
 * queued FIFO; backoff and resync waits are timers of the runner's queue.
 * So the thread count does not grow with the number of informers (or
 * clusters). Handlers run on the watch I/O thread (events) or a list worker
 * (relist, resync) and must not block: they queue keys.
 */
#ifndef MC_RUNTIME_INFORMER_H
#define MC_RUNTIME_INFORMER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/client.h"
#include "kube/watch.h"
#include "util/err.h"

typedef struct mc_informer mc_informer;
typedef struct mc_informer_runner mc_informer_runner;

typedef struct mc_informer_handlers {
    void (*on_add)(void *ctx, const json_t *obj);
    void (*on_update)(void *ctx, const json_t *old_obj, const json_t *new_obj);
    void (*on_delete)(void *ctx, const json_t *obj);
    void *ctx;
} mc_informer_handlers;

typedef struct mc_informer_options {
    const char *namespace;      /* NULL: all namespaces */
    const char *label_selector; /* or NULL */
    const char *index_label;    /* label key to index by (mc_informer_by_label), or NULL */
    int64_t resync_ms;          /* 0: no resync */
} mc_informer_options;

/* Starts list_workers threads (0: 4; at most 64) that run the lists, relists
 * and resyncs of every informer made with the runner, whose watches run on
 * watcher (which must outlive the runner). A list holds its worker until it
 * ends: at most 15 s per page, retries included (or the client's shorter
 * deadline_ms), so an unreachable cluster holds one worker that long between
 * its backoffs (0.5 s doubling to 30 s) while the other workers go on.
 * MC_EINVAL (no watcher, bad count), MC_ENOMEM. */
int mc_informer_runner_new(mc_kube_watcher *watcher, int list_workers, mc_informer_runner **out,
                           mc_err *err);

/* Stops the workers. Free every informer made with it first. Accepts NULL. */
void mc_informer_runner_free(mc_informer_runner *runner);

/* Informer steps (lists, relists, resyncs) queued and ready for a list
 * worker: the depth of a relist storm (metrics). */
size_t mc_informer_runner_pending(mc_informer_runner *runner);

/* Creates an informer for res (copied) through client and runner (which
 * must outlive it). handlers may be NULL. */
int mc_informer_new(mc_kube_client *client, mc_informer_runner *runner, const mc_kube_resource *res,
                    const mc_informer_options *options, const mc_informer_handlers *handlers,
                    mc_informer **out, mc_err *err);

/* Queues the first list (returns at once). */
int mc_informer_start(mc_informer *informer, mc_err *err);

/* 1 once the first list has been applied to the cache. */
int mc_informer_has_synced(mc_informer *informer);

/* Waits until synced or timeout_ms pass; MC_OK or MC_EUNAVAILABLE. */
int mc_informer_wait_synced(mc_informer *informer, int64_t timeout_ms);

/* Stops watching; handlers are not called after it returns. Waits for a
 * list or resync of this informer in progress on a worker, so it must not
 * be called from the informer's own handlers. */
void mc_informer_stop(mc_informer *informer);

/* Frees (stopping first). Accepts NULL. */
void mc_informer_free(mc_informer *informer);

/* A copy of the cached object (new reference) or NULL. ns "" for
 * cluster-scoped. */
json_t *mc_informer_get(mc_informer *informer, const char *ns, const char *name);

/* Waits up to timeout_ms until the cache shows a write to ns/name: the
 * object present with another resourceVersion than old_rv (old_rv NULL:
 * present at all), or, with deleted, gone (or replaced). Woken by each
 * cache change, no polling. 1 when shown, 0 on timeout or stop. */
int mc_informer_wait_for(mc_informer *informer, const char *ns, const char *name,
                         const char *old_rv, int deleted, int64_t timeout_ms);

/* Copies of every cached object (in ns, or all when NULL) into a new array
 * (*out; caller decrefs each and frees the array). Returns the count. */
size_t mc_informer_list(mc_informer *informer, const char *ns, json_t ***out);

/* Copies of the cached objects whose index_label has value. */
size_t mc_informer_by_label(mc_informer *informer, const char *value, json_t ***out);

/* Times the informer relisted after an expired watch (tests). */
unsigned mc_informer_relists(const mc_informer *informer);

#endif
