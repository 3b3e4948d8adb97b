/* http.h - the embedded server's HTTPS front: one libmicrohttpd daemon in
 * epoll mode (one thread, watch connections suspended while idle),
 * authentication by bearer token per logical cluster, routing of kube paths
 * below /clusters/<name> to discovery or to the verbs.
 */
#ifndef MC_SERVER_HTTP_H
#define MC_SERVER_HTTP_H

#include "util/err.h"

struct mc_server;

/* Starts serving on host:port (port 0: any free port; the bound port is then
 * in server->port) with server->tls_cert / tls_key. MC_EIO naming the address
 * when it cannot listen. */
int mc_server_http_start(struct mc_server *server, const char *host, int port, mc_err *err);

/* Stops the daemon (open connections are closed). Accepts a server that was
 * never started. */
void mc_server_http_stop(struct mc_server *server);

#endif
