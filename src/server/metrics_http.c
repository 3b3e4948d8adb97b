/* metrics_http.c - /metrics, /healthz and /readyz over plain HTTP on one
 * libmicrohttpd thread (metrics_http.h). The listening socket comes from
 * mc_server_http_listen, so the address rules and error messages are the
 * API server's.
 */
#include "server/metrics_http.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http.h"
#include "util/buf.h"
#include "util/log.h"

#define LOG "metrics"
/* Cap of one /metrics reply: 64 MiB, far above 100 000 certificates. */
#define METRICS_MAX ((size_t)64 << 20)

struct mc_metrics_http {
    struct MHD_Daemon *daemon; /* immutable once started */
    mc_metrics *metrics;       /* borrowed, thread-safe */
    mc_metrics_http_ready_fn ready;
    void *ready_ctx;
    int port; /* immutable */
};

/* Queues status with body (taken over; NULL: out of memory, 500). */
static enum MHD_Result reply(struct MHD_Connection *connection, unsigned status, char *body,
                             const char *content_type)
{
    if (!body)
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    struct MHD_Response *response =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    enum MHD_Result ret = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return ret;
}

static char *text_line(const char *text)
{
    mc_buf out;
    mc_buf_init(&out, 4096);
    if (mc_buf_appendf(&out, "%s\n", text) != MC_OK) {
        mc_buf_free(&out);
        return NULL;
    }
    return mc_buf_steal(&out, NULL);
}

static enum MHD_Result serve_metrics(mc_metrics_http *http, struct MHD_Connection *connection)
{
    mc_buf out;
    mc_buf_init(&out, METRICS_MAX);
    int rc = mc_metrics_render(http->metrics, &out);
    if (rc == MC_OK && out.len == 0)
        rc = mc_buf_append_str(&out, "");
    if (rc != MC_OK) {
        mc_log_warn(LOG, "/metrics: rendering failed (%s)", mc_err_code_str(rc));
        mc_buf_free(&out);
        return reply(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, text_line("rendering failed"),
                     "text/plain; charset=utf-8");
    }
    return reply(connection, MHD_HTTP_OK, mc_buf_steal(&out, NULL),
                 "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    mc_metrics_http *http = cls;
    static const char text[] = "text/plain; charset=utf-8";
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is read and ignored */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, text_line("only GET is served"),
                     text);
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(http, connection);
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0)
        return reply(connection, MHD_HTTP_OK, text_line("ok"), text);
    if (strcmp(url, "/readyz") == 0) {
        char reason[256] = "ok";
        int ready = !http->ready || http->ready(http->ready_ctx, reason, sizeof(reason));
        return reply(connection, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     text_line(reason), text);
    }
    return reply(connection, MHD_HTTP_NOT_FOUND,
                 text_line("not found: this endpoint serves /metrics, /healthz and /readyz"), text);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    mc_log_debug(LOG, "%s", msg);
}

int mc_metrics_http_start(const char *host, int port, mc_metrics *metrics,
                          mc_metrics_http_ready_fn ready, void *ready_ctx, mc_metrics_http **out,
                          mc_err *err)
{
    *out = NULL;
    mc_metrics_http *http = calloc(1, sizeof(*http));
    if (!http)
        return mc_err_set(err, MC_ENOMEM, "metrics endpoint: out of memory");
    http->metrics = metrics;
    http->ready = ready;
    http->ready_ctx = ready_ctx;
    int fd = -1;
    int rc = mc_server_http_listen(host, port, &fd, &http->port, err);
    if (rc != MC_OK) {
        free(http);
        return mc_err_prefix(err, "metrics endpoint");
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (strchr(host, ':'))
        flags |= MHD_USE_IPv6;
    http->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, http,
                                    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                                    (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!http->daemon) {
        close(fd);
        free(http);
        return mc_err_set(err, MC_EIO, "metrics endpoint: cannot start serving on %s:%d", host,
                          port);
    }
    *out = http;
    return MC_OK;
}

int mc_metrics_http_port(const mc_metrics_http *http)
{
    return http->port;
}

void mc_metrics_http_stop(mc_metrics_http *http)
{
    if (!http)
        return;
    MHD_stop_daemon(http->daemon); /* joins the thread and closes the socket */
    free(http);
}
