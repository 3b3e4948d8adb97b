/* store.h - the embedded API server's storage: a durable log in SQLite and
 * the current state of every logical cluster in memory.
 *
 * Every write is one row appended to the `log` table (WAL mode,
 * synchronous=NORMAL: a write answered 2xx survives kill -9 of the server)
 * and then applied to the in-memory state, which serves get and list. Each
 * logical cluster has its own revision counter, the resourceVersion of its
 * objects, increasing by one per write. The last `history` revisions of each
 * cluster are kept (in the log and in memory) for watch resumption; older
 * rows that a later write superseded are compacted away. At open, the log is
 * replayed to rebuild the state. See docs/server.md.
 *
 * Threading: not thread-safe; the server calls it from its one HTTP thread.
 */
#ifndef MC_SERVER_STORE_H
#define MC_SERVER_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct mc_store mc_store;

/* A resource is named "<group>/<plural>", the core group being "core":
 * "core/secrets", "certificates.smh.solo.io/issuedcertificates". Cluster-scoped
 * objects have namespace "". */

typedef enum {
    MC_STORE_ADDED = 1,
    MC_STORE_MODIFIED = 2,
    MC_STORE_DELETED = 3,
} mc_store_event_type;

/* One change, as watchers see it. obj is the object after the change (for
 * DELETED: the last state, with the deletion's resourceVersion). */
typedef struct mc_store_event {
    int64_t rev;
    mc_store_event_type type;
    const char *resource;
    const char *namespace;
    const char *name;
    const json_t *obj; /* borrowed; json_incref to keep */
    const json_t *prev; /* borrowed: the object before the change; NULL for ADDED
                           (lets a watch turn a MODIFIED that leaves or enters its
                           label selector into DELETED or ADDED, as kube does) */
} mc_store_event;

/* Called after every committed write, on the writing thread. */
typedef void (*mc_store_listener)(void *ctx, const char *cluster, const mc_store_event *event);

#define MC_STORE_DEFAULT_HISTORY 10000

/* Opens (creating if needed) the database at path and replays it. history:
 * revisions kept per cluster for watch resumption (0 = default). MC_EIO with
 * SQLite's message when the file cannot be opened or is not a meshcert
 * database; MC_EINVAL when its integrity check fails. */
int mc_store_open(const char *path, int64_t history, mc_store **out, mc_err *err);

/* Closes the database and frees everything. Accepts NULL. */
void mc_store_close(mc_store *store);

/* Sets the listener for committed writes (one; NULL to clear). */
void mc_store_set_listener(mc_store *store, mc_store_listener fn, void *ctx);

/* Logical clusters. add: MC_EINVAL when the name exists (already) or is not a
 * DNS-1123 label. remove: deletes the cluster and all its objects and log;
 * MC_ENOTFOUND when unknown. */
int mc_store_cluster_add(mc_store *store, const char *cluster, mc_err *err);
int mc_store_cluster_remove(mc_store *store, const char *cluster, mc_err *err);
int mc_store_cluster_exists(const mc_store *store, const char *cluster);

/* Re-reads the clusters table when another process (`meshcert server
 * cluster add|remove`) changed the database since the last call (SQLite's
 * PRAGMA data_version, so the common case costs one cheap query): clusters
 * added there are loaded, clusters removed there are dropped from memory.
 * *changed is set to 1 when the cluster list changed. */
int mc_store_refresh_clusters(mc_store *store, int *changed, mc_err *err);

/* Names of all clusters, sorted (a new array of borrowed strings; free the
 * array only). */
const char **mc_store_cluster_names(const mc_store *store, size_t *count);

/* The cluster's current revision (0 for a new cluster); -1 when unknown. */
int64_t mc_store_revision(const mc_store *store, const char *cluster);

/* The oldest revision a watch may resume from: resuming from rev R needs
 * every change after R, so R must be >= this value. Exactly
 * max(0, revision - history): the history holds the changes with revisions
 * (revision - history, revision], every one of them (-1: unknown cluster). */
int64_t mc_store_oldest_resumable(const mc_store *store, const char *cluster);

/* The current object, or NULL when absent (borrowed: valid until the next
 * write to the same key). Its metadata.resourceVersion is set. */
const json_t *mc_store_get(const mc_store *store, const char *cluster, const char *resource,
                           const char *namespace, const char *name);

/* Lists current objects of a resource, ordered by (namespace, name), in
 * namespace ns (NULL = all), starting strictly after (after_ns, after_name)
 * when after_name is not NULL (paging). Fills a new array *out of borrowed
 * objects (free the array only) of at most limit entries (0 = no limit);
 * *more is set to 1 when further objects exist. */
int mc_store_list(const mc_store *store, const char *cluster, const char *resource,
                  const char *ns, const char *after_ns, const char *after_name, size_t limit,
                  const json_t ***out, size_t *count, int *more, mc_err *err);

/* Writes an object (ADDED when the key is absent, else MODIFIED): assigns
 * the next revision, sets metadata.resourceVersion in obj, appends to the log
 * (durable on return), updates the state, calls the listener. Takes a
 * reference on obj: the caller must not change obj afterwards (it is shared
 * with the history); putting the stored object itself is MC_EINVAL.
 * MC_ENOTFOUND: unknown cluster; MC_EINVAL: bad key ('/' in a namespace or
 * name); MC_EIO: SQLite failed (the state is unchanged). *rev (optional)
 * receives the revision. */
int mc_store_put(mc_store *store, const char *cluster, const char *resource,
                 const char *namespace, const char *name, json_t *obj, int64_t *rev,
                 mc_err *err);

/* Deletes an object: the listener sees DELETED with the last state and the
 * new revision. MC_ENOTFOUND when absent. */
int mc_store_delete(mc_store *store, const char *cluster, const char *resource,
                    const char *namespace, const char *name, int64_t *rev, mc_err *err);

/* Calls fn for every change of the cluster with revision > since, in order.
 * MC_EEXPIRED when since < mc_store_oldest_resumable (the client must
 * relist). */
int mc_store_history(const mc_store *store, const char *cluster, int64_t since,
                     void (*fn)(void *ctx, const mc_store_event *event), void *ctx, mc_err *err);

#endif
