/* metrics_http.h - the plain-HTTP endpoint of the long-running processes
 * (issuer, agent, server): GET /metrics (Prometheus text format 0.0.4 from
 * a util/metrics.h registry), /healthz (200 while the process runs) and
 * /readyz (200 or 503 with the reason the owner's function gives).
 *
 * One libmicrohttpd thread, apart from the API server's HTTPS daemon; it
 * lives in server/ because server/ is the one layer that includes
 * libmicrohttpd. Responses carry no secrets: metric labels are object names.
 */
#ifndef MC_SERVER_METRICS_HTTP_H
#define MC_SERVER_METRICS_HTTP_H

#include <stddef.h>

#include "util/err.h"
#include "util/metrics.h"

typedef struct mc_metrics_http mc_metrics_http;

/* Whether the process is ready; writes a one-line reason either way
 * ("leading", "caches not synced: ..."). Called on the endpoint's thread. */
typedef int (*mc_metrics_http_ready_fn)(void *ctx, char *reason, size_t reason_size);

/* Listens on host:port (an IP address; port 0: a free port) and serves
 * metrics (which must outlive the endpoint) and the probes; ready NULL:
 * /readyz as /healthz. *out stopped with mc_metrics_http_stop. MC_EINVAL or
 * MC_EIO naming the address. */
int mc_metrics_http_start(const char *host, int port, mc_metrics *metrics,
                          mc_metrics_http_ready_fn ready, void *ready_ctx, mc_metrics_http **out,
                          mc_err *err);

/* The bound port. */
int mc_metrics_http_port(const mc_metrics_http *http);

/* Stops serving (no request runs after it returns) and frees. Accepts NULL. */
void mc_metrics_http_stop(mc_metrics_http *http);

#endif
