/* internal.h - the server's state (struct mc_server), shared by server.c,
 * which builds it, and the files that read its store, hub and clusters. The
 * modules' functions are in their own headers: http.h (transport),
 * handlers.h (verbs), request.h (requests and replies), cluster_table.h.
 * Never included outside src/server/.
 */
#ifndef MC_SERVER_INTERNAL_H
#define MC_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "server/cluster_table.h"
#include "server/inflight.h"
#include "server/store.h"
#include "server/watch.h"

/* Everything is touched only from the libmicrohttpd thread after start,
 * except the hub, which guards itself. */
struct mc_server {
    char *data_dir;              /* owned */
    char *listen_host;           /* owned, e.g. "127.0.0.1" */
    int port;                    /* bound port */
    int listen_fd;               /* listening socket until the daemon takes it, else -1 */
    size_t fd_limit;             /* RLIMIT_NOFILE in force at start */
    int lock_fd;                 /* DIR/server.lock, flock()ed while running; -1 when not */
    mc_store *store;             /* owned */
    mc_watch_hub *hub;           /* owned */
    mc_inflight *inflight;       /* owned: caps on requests in flight (HTTP thread only) */
    size_t connection_limit;     /* libmicrohttpd's hard cap, above the soft caps */
    struct MHD_Daemon *daemon;   /* owned */
    mc_server_cluster_table clusters; /* the logical clusters (cluster_table.h) */
    char *tls_cert;       /* PEM of the serving certificate (owned) */
    char *tls_key;        /* PEM of its key (owned, wiped) */
    struct mc_metric *requests;        /* meshcert_apiserver_requests_total{verb,code}, or NULL */
    struct mc_metric *request_latency; /* meshcert_apiserver_request_duration_seconds{verb} */
};

#endif
