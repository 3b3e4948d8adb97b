/* http.h - the embedded server's HTTPS front: one libmicrohttpd daemon in
 * epoll mode (one thread, watch connections suspended while idle),
 * authentication by bearer token per logical cluster, routing of kube paths
 * below /clusters/<name> to discovery or to the verbs.
 */
#ifndef MC_SERVER_HTTP_H
#define MC_SERVER_HTTP_H

#include <microhttpd.h>
#include <stddef.h>

#include "server/request.h"
#include "util/err.h"

struct mc_server;

/* Largest request body accepted (kube-apiserver's limit is 3 MiB). */
#define MC_SERVER_BODY_MAX (3 * 1024 * 1024)

/* One request as the transport hands it over. */
typedef struct mc_server_input {
    struct MHD_Connection *connection; /* NULL when lookup answers instead */
    mc_server_lookup_fn lookup;        /* used when connection is NULL */
    void *lookup_ctx;
    const char *url;    /* the path, without the query */
    const char *method; /* "GET", ... */
    const char *body;   /* not NUL-terminated */
    size_t body_len;
    int too_large; /* the body exceeded MC_SERVER_BODY_MAX (dropped) */
} mc_server_input;

/* Routes and answers one request (health, authentication, discovery, the
 * verbs): the whole request machinery below the transport, on the daemon's
 * thread. reply->body is owned by the caller; reply->stream (a watch) too. */
void mc_server_dispatch(struct mc_server *server, const mc_server_input *in,
                        mc_server_reply *reply);

/* Binds and listens on host:port (port 0: any free port) with SO_REUSEADDR
 * but never SO_REUSEPORT, so that a second server on the same address fails.
 * *fd_out: the listening socket (owned by the caller until
 * mc_server_http_start); *port_out: the bound port. MC_EINVAL when host is not
 * an IP address, MC_EIO naming the address ("address already in use") when it
 * cannot listen. */
int mc_server_http_listen(const char *host, int port, int *fd_out, int *port_out, mc_err *err);

/* Starts serving on server->listen_fd (from mc_server_http_listen) with
 * server->tls_cert / tls_key; the daemon takes the socket over. MC_EIO when
 * the daemon cannot start. */
int mc_server_http_start(struct mc_server *server, mc_err *err);

/* Stops the daemon (open connections are closed). Accepts a server that was
 * never started. */
void mc_server_http_stop(struct mc_server *server);

#endif
