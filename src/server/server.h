/* server.h - `meshcert server`: the embedded Kubernetes API server, as the
 * CLI starts and stops it. See docs/server.md for the data directory layout.
 */
#ifndef MC_SERVER_SERVER_H
#define MC_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct mc_server mc_server;

typedef struct mc_server_config {
    const char *data_dir;             /* created (0700) when missing */
    const char *listen_host;          /* "127.0.0.1" */
    int port;                         /* 0: any free port */
    const char *const *clusters;      /* clusters to create when missing */
    size_t cluster_count;
    int64_t history;                  /* revisions kept for watch resumption; 0 = default */
    int bookmark_seconds;             /* interval of BOOKMARK events; 0 = 60 */
    size_t max_watches;               /* open watches in total; 0 = default (see below) */
    size_t max_watches_per_cluster;   /* open watches of one cluster (its token); 0 = 5000 */
    size_t max_requests_inflight;     /* other requests in flight in total; 0 = default */
    size_t max_requests_inflight_per_identity; /* of one identity; 0 = default */
    struct mc_metrics *metrics; /* API request metrics go here (docs/metrics.md), or NULL;
                                   must outlive the server */
} mc_server_config;

/* The defaults of the soft caps (answered with 429): open watches, requests
 * in flight (every request but watches and health checks, from its headers
 * to the last byte of its reply) in total and per identity (a cluster's
 * token, or the peer address of a client without one). The defaults shrink
 * when the file-descriptor limit (raised to its hard limit at start) cannot
 * hold them: libmicrohttpd's hard cap on connections (the fd limit less 64,
 * at most 60 000) stays MC_SERVER_CONNECTION_HEADROOM above the sum of the
 * watch and in-flight caps, so that a refused client is still answered. */
#define MC_SERVER_MAX_WATCHES_DEFAULT             20000
#define MC_SERVER_MAX_WATCHES_PER_CLUSTER_DEFAULT 5000
#define MC_SERVER_MAX_INFLIGHT_DEFAULT            400
#define MC_SERVER_MAX_INFLIGHT_PER_IDENTITY_DEFAULT 100
#define MC_SERVER_CONNECTION_HEADROOM             64

/* Opens the data directory (serving certificate, tokens, store), creates the
 * missing clusters, writes a kubeconfig per cluster and starts serving.
 * *out owned by the caller (mc_server_stop). */
int mc_server_start(const mc_server_config *config, mc_server **out, mc_err *err);

/* The bound port. */
int mc_server_port(const mc_server *server);

/* Stops serving, ends every watch, closes the store, frees. Accepts NULL. */
void mc_server_stop(mc_server *server);

/* Writes DIR/kubeconfigs/<cluster>.yaml pointing at https://host:port. */
int mc_server_write_kubeconfig(const char *data_dir, const char *cluster, const char *host,
                               int port, mc_err *err);

/* Adds or removes a logical cluster in a data directory from another process
 * (`meshcert server cluster add|remove`): a running server picks the change
 * up on its next request. add also creates the token and the kubeconfig
 * (host/port read from DIR/server.json when the server has run). */
int mc_server_admin_cluster_add(const char *data_dir, const char *cluster, mc_err *err);
int mc_server_admin_cluster_remove(const char *data_dir, const char *cluster, mc_err *err);

#endif
