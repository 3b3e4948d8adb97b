/* watch.h - watch streams: chunked NDJSON responses on suspended
 * libmicrohttpd connections, fed by a hub that receives every committed
 * write of the store.
 *
 * A watch without a resourceVersion starts with a synthetic ADDED for every
 * existing object; with resourceVersion N it replays every change after N
 * from the store's history, or sends one ERROR event with a 410 Expired
 * Status when N is older than the history window, and ends. BOOKMARK events
 * (kind, apiVersion, metadata.resourceVersion only) are sent every
 * bookmark interval to watches that asked for them. A watch ends after its
 * timeoutSeconds (default: a random 30-60 minutes, as kube-apiserver's
 * 30 minutes x [1, 2)), when its cluster is removed, when the hub is freed,
 * or within WATCH_PEER_CHECK_MS of its client hanging up (the sockets of
 * suspended watches are polled for POLLRDHUP by the timer thread).
 * No thread per watch: a connection with nothing to send is suspended and
 * resumed when an event arrives; a timer thread drives bookmarks and
 * timeouts.
 */
#ifndef MC_SERVER_WATCH_H
#define MC_SERVER_WATCH_H

#include <microhttpd.h>
#include <stdint.h>

#include "api/selector.h"
#include "server/registry.h"
#include "server/store.h"
#include "util/err.h"

typedef struct mc_watch_hub mc_watch_hub;

typedef struct mc_watch_params {
    const mc_server_resource *resource; /* what is watched (kind/apiVersion for bookmarks) */
    const char *namespace;              /* NULL: every namespace */
    const mc_selector *labels;          /* NULL: everything; copied */
    const char *field_name;             /* metadata.name=<x> field selector, or NULL */
    const char *field_namespace;        /* metadata.namespace=<x>, or NULL */
    int64_t since;                      /* resourceVersion to resume from; -1: none given */
    int bookmarks;                      /* allowWatchBookmarks=true */
    int timeout_seconds;                /* 0: the default */
    int table;                          /* 1: objects as one-row Tables (as=Table);
                                           column definitions in the first only */
} mc_watch_params;

/* A hub for a store. bookmark_seconds: interval between BOOKMARK events
 * (0 = 60). Starts the timer thread. NULL on failure. */
mc_watch_hub *mc_watch_hub_new(mc_store *store, int bookmark_seconds);

/* Ends every watch (their streams close, their suspended connections resume)
 * and stops the timer; the hub stays valid and publishes nothing more, so a
 * write still in flight can finish. Call before MHD_stop_daemon. Accepts NULL. */
void mc_watch_hub_end_all(mc_watch_hub *hub);

/* Ends every watch (mc_watch_hub_end_all) and frees the hub, or leaves that to
 * the last open watch. Call once no request can publish (after
 * MHD_stop_daemon). Accepts NULL. */
void mc_watch_hub_free(mc_watch_hub *hub);

/* Delivers one committed change to the matching watches of the cluster; the
 * store listener of the server calls this. */
void mc_watch_hub_publish(mc_watch_hub *hub, const char *cluster, const mc_store_event *event);

/* Starts a watch of cluster on connection: returns the response to queue
 * with status 200 (chunked, Content-Type application/json), or NULL with err
 * set (MC_ENOMEM; MC_EUNAVAILABLE beyond a cap of mc_watch_hub_set_limits). The initial events
 * (synthetic ADDED, the replayed history, or the 410 ERROR) are part of the stream. */
struct MHD_Response *mc_watch_start(mc_watch_hub *hub, struct MHD_Connection *connection,
                                    const char *cluster, const mc_watch_params *params,
                                    mc_err *err);

/* Caps the open watches in total and per cluster (each cluster is one
 * identity: its token); 0 = no cap. A watch beyond a cap is refused by
 * mc_watch_start with MC_EUNAVAILABLE (the server answers 429). */
void mc_watch_hub_set_limits(mc_watch_hub *hub, size_t max_watches, size_t max_per_cluster);

/* Ends every watch of a cluster (it is being removed). */
void mc_watch_hub_end_cluster(mc_watch_hub *hub, const char *cluster);

/* Number of open watches (for tests and metrics). */
size_t mc_watch_hub_count(const mc_watch_hub *hub);

#endif
