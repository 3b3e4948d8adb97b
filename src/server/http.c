/* http.c - libmicrohttpd front of the embedded API server (see http.h).
 *
 * Every request runs on the daemon's one thread: bodies are gathered (at
 * most MC_SERVER_BODY_MAX), the cluster is found and its token checked, and
 * the request goes to discovery or to the verbs in handlers.c. Watch replies
 * are streams from watch.c on the same connection.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/discovery.h"
#include "server/handlers.h"
#include "server/internal.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

/* Per-connection request state (MHD's con_cls). */
typedef struct request_state {
    mc_buf body;        /* the request body so far (capped) */
    int too_large;      /* the body exceeded MC_SERVER_BODY_MAX */
    int admitted;       /* holds a place in server->inflight until completed */
    char identity[MC_SERVER_USER_MAX]; /* whose place: a user name, or "client <address>" */
    struct timespec started; /* CLOCK_MONOTONIC at the headers (metrics) */
} request_state;

/* MHD iterator: clears *(int *)cls when a query key or value is not UTF-8. */
static enum MHD_Result check_query_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    int *ok = cls;
    if ((key && !mc_server_utf8_valid(key)) || (value && !mc_server_utf8_valid(value)))
        *ok = 0;
    return MHD_YES;
}

/* Splits path into segments (in place in a copy); returns their count. */
static size_t split_path(char *path, char **segs, size_t max)
{
    size_t n = 0;
    for (char *p = path; *p && n < max;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}

/* Parses an API path (below the cluster prefix) into req; 0 when it names a
 * served resource, else fills a 404. */
static int route_resource(mc_server_request *req, const char *path, mc_server_reply *reply)
{
    char *copy = mc_strdup(path);
    char *segs[16];
    size_t n = copy ? split_path(copy, segs, 16) : 0;
    int rc = -1;
    const char *group = NULL, *version = NULL;
    size_t i = 0;
    if (n >= 2 && strcmp(segs[0], "api") == 0) {
        group = "";
        version = segs[1];
        i = 2;
    } else if (n >= 3 && strcmp(segs[0], "apis") == 0) {
        group = segs[1];
        version = segs[2];
        i = 3;
    }
    size_t rest = n - i;
    const char *resource = NULL, *name = NULL, *sub = NULL, *ns = NULL;
    if (group && rest >= 3 && strcmp(segs[i], "namespaces") == 0 &&
        !(rest == 3 &&
          (strcmp(segs[i + 2], "status") == 0 || strcmp(segs[i + 2], "finalize") == 0))) {
        ns = segs[i + 1];
        resource = segs[i + 2];
        name = rest >= 4 ? segs[i + 3] : NULL;
        sub = rest >= 5 ? segs[i + 4] : NULL;
        if (rest > 5)
            resource = NULL;
    } else if (group && rest >= 1 && rest <= 3) {
        resource = segs[i];
        name = rest >= 2 ? segs[i + 1] : NULL;
        sub = rest >= 3 ? segs[i + 2] : NULL;
    }
    const mc_server_resource *r =
        resource ? mc_server_registry_find(req->cluster->registry, group, version, resource) : NULL;
    if (!r || (ns && !r->namespaced) || (!ns && name && r->namespaced)) {
        mc_server_reply_status(reply, 404, "NotFound",
                               "the server could not find the requested resource", NULL);
        goto out;
    }
    req->resource = r;
    req->namespace = ns ? mc_strdup(ns) : NULL;
    req->name = name ? mc_strdup(name) : NULL;
    req->subresource = sub ? mc_strdup(sub) : NULL;
    rc = 0;
out:
    free(copy);
    return rc;
}

/* Constant-time comparison of the presented bearer token. The scheme is
 * case-insensitive ("bearer" too), as kube-apiserver's token authenticator. */
static int token_ok(const char *authorization, const char *token)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *given = authorization + 7;
    size_t want = strlen(token);
    if (strlen(given) != want)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned char)(given[i] ^ token[i]);
    return diff == 0;
}

/* For "/clusters/<name>/rest": copies name into name_out and returns the
 * rest ("/" when none); NULL when url has no cluster prefix, or its name is
 * empty or does not fit. */
static const char *url_cluster(const char *url, char *name_out, size_t size)
{
    if (strncmp(url, "/clusters/", 10) != 0)
        return NULL;
    const char *name_start = url + 10;
    const char *slash = strchr(name_start, '/');
    size_t len = slash ? (size_t)(slash - name_start) : strlen(name_start);
    if (len == 0 || len >= size)
        return NULL;
    memcpy(name_out, name_start, len);
    name_out[len] = '\0';
    return slash ? slash : "/";
}

/* The cluster that url names when authorization carries a token valid
 * there - its admin token (system:masters) or one of its ServiceAccount
 * tokens - with *identity filled; else NULL. */
static mc_server_cluster *authenticate(struct mc_server *server, const char *url,
                                       const char *authorization, mc_server_identity *identity)
{
    char cluster_name[128];
    if (!url_cluster(url, cluster_name, sizeof(cluster_name)))
        return NULL;
    mc_server_sync_clusters(&server->clusters);
    mc_server_cluster *cluster = mc_server_find_cluster(&server->clusters, cluster_name);
    if (!cluster)
        return NULL;
    if (token_ok(authorization, cluster->token)) {
        mc_server_identity_admin(identity, cluster->name);
        return cluster;
    }
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0 &&
        mc_server_sa_authenticate(server, cluster, authorization + 7, identity) == 0)
        return cluster;
    return NULL;
}

static int is_health_check(const char *url)
{
    return strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0 ||
           strcmp(url, "/readyz") == 0;
}

void mc_server_dispatch(struct mc_server *server, const mc_server_input *in, mc_server_reply *reply)
{
    const char *url = in->url, *method = in->method;
    if (is_health_check(url)) {
        reply->status = 200;
        reply->body = mc_strdup("ok");
        reply->content_type = "text/plain";
        return;
    }
    char cluster_name[128];
    const char *path = url_cluster(url, cluster_name, sizeof(cluster_name));
    if (strncmp(url, "/clusters/", 10) != 0) {
        mc_server_reply_status(reply, 404, "NotFound",
                               "the server could not find the requested resource (paths start "
                               "with /clusters/<cluster>)",
                               NULL);
        return;
    }
    if (!path) {
        mc_server_reply_status(reply, 404, "NotFound", "no such cluster", NULL);
        return;
    }
    const char *authorization = mc_server_lookup_value(
        in->connection, in->lookup, in->lookup_ctx, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    mc_server_identity identity;
    mc_server_cluster *cluster = authenticate(server, url, authorization, &identity);
    if (!cluster) {
        /* An unknown cluster answers like a wrong token: nothing is revealed. */
        mc_server_reply_status(reply, 401, "Unauthorized", "Unauthorized", NULL);
        return;
    }
    int utf8_ok = mc_server_utf8_valid(url);
    if (in->connection) /* the fuzz target's lookup cannot list the query */
        MHD_get_connection_values(in->connection, MHD_GET_ARGUMENT_KIND, check_query_utf8,
                                  &utf8_ok);
    if (!utf8_ok) {
        /* names, selectors and tokens are UTF-8; kube's Go code would only
         * have replaced such bytes before failing to find anything */
        mc_server_reply_status(reply, 400, "BadRequest",
                               "the request URL (path or query) is not valid UTF-8", NULL);
        return;
    }
    if (in->too_large) {
        mc_server_reply_status(reply, 413, "RequestEntityTooLarge",
                               "the request body is larger than the 3 MiB limit", NULL);
        return;
    }
    mc_server_request req;
    memset(&req, 0, sizeof(req));
    req.server = server;
    req.connection = in->connection;
    req.lookup = in->lookup;
    req.lookup_ctx = in->lookup_ctx;
    req.method = method;
    req.cluster = cluster;
    req.identity = identity;
    req.body = in->body;
    req.body_len = in->body_len;
    if (strcmp(method, "GET") == 0) {
        const char *accept = mc_server_lookup_value(in->connection, in->lookup, in->lookup_ctx,
                                         MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
        const char *type = NULL;
        char *body = NULL;
        int status = 0;
        if (mc_server_discovery_serve(cluster->registry, path, accept, &status, &body, &type)) {
            /* a non-resource request: RBAC's nonResourceURLs decide (every
             * authenticated identity may discover, kube's system:discovery) */
            if (mc_server_authz_check_path(&req, path, reply) != 0) {
                free(body);
                return;
            }
            reply->status = status;
            reply->body = body;
            reply->content_type = type ? type : "application/json";
            return;
        }
    }
    if (route_resource(&req, path, reply) == 0)
        mc_server_handle(&req, reply);
    free(req.namespace);
    free(req.name);
    free(req.subresource);
}

static enum MHD_Result queue_reply(struct MHD_Connection *connection, mc_server_reply *reply)
{
    struct MHD_Response *response = reply->stream;
    if (!response) {
        const char *body = reply->body ? reply->body : "";
        response = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                   reply->body ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
        if (!response) {
            free(reply->body);
            return MHD_NO;
        }
        reply->body = NULL; /* owned by the response now */
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            reply->content_type ? reply->content_type : "application/json");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    if (reply->retry_after > 0) {
        char seconds[16];
        snprintf(seconds, sizeof(seconds), "%d", reply->retry_after);
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    if (reply->close_connection)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(connection, (unsigned)reply->status, response);
    MHD_destroy_response(response);
    return ret;
}

/* Who a request is for the caps: the user of the token it carries,
 * else its peer's address (a client without a valid token is still one
 * client). */
static void request_identity(struct mc_server *server, struct MHD_Connection *connection,
                             const char *url, char *out, size_t size)
{
    const char *authorization =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    mc_server_identity identity;
    if (authenticate(server, url, authorization, &identity)) {
        snprintf(out, size, "%s", identity.user);
        return;
    }
    char address[INET6_ADDRSTRLEN] = "unknown";
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *peer = info ? info->client_addr : NULL;
    if (peer && peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, address, sizeof(address));
    else if (peer && peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, address,
                  sizeof(address));
    snprintf(out, size, "client %s", address);
}

/* Health checks are never refused; watches are long-running and have their
 * own caps (watch.c), as kube-apiserver leaves them out of max-in-flight. */
static int counted_in_flight(struct MHD_Connection *connection, const char *url, const char *method)
{
    if (is_health_check(url))
        return 0;
    const char *watch = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "watch");
    return !(strcmp(method, "GET") == 0 && watch &&
             (strcmp(watch, "true") == 0 || strcmp(watch, "1") == 0));
}

/* At a request's first call (headers in, body not yet read): takes its
 * place in flight, or answers 429 at once and lets the connection go, so a
 * refused client holds neither a place nor, for long, a connection. */
static enum MHD_Result admit(struct mc_server *server, struct MHD_Connection *connection,
                             const char *url, const char *method, request_state *state)
{
    if (!counted_in_flight(connection, url, method))
        return MHD_YES;
    request_identity(server, connection, url, state->identity, sizeof(state->identity));
    mc_err err = {0};
    if (mc_inflight_acquire(server->inflight, state->identity, &err) == 0) {
        state->admitted = 1;
        return MHD_YES;
    }
    mc_log_debug("http", "%s %s refused: %s", method, url, err.msg);
    mc_server_reply reply = {500, NULL, "application/json", NULL, 0, 1};
    if (err.code == MC_EUNAVAILABLE)
        mc_server_reply_too_many(&reply, err.msg, NULL);
    else
        mc_server_reply_status(&reply, 500, "InternalError", err.msg, NULL);
    return queue_reply(connection, &reply);
}

/* The verb of a request as kube-apiserver's metrics name it (WATCH for a
 * GET with watch=true; the rest by method). */
static const char *request_verb(struct MHD_Connection *connection, const char *method)
{
    static const char *const methods[] = {"GET",    "POST", "PUT",    "PATCH",
                                          "DELETE", "HEAD", "OPTIONS"};
    if (!counted_in_flight(connection, "", method))
        return "WATCH";
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i]) == 0)
            return methods[i];
    return "OTHER"; /* a label value per unknown method would let clients grow the series */
}

/* Counts an answered API request by verb and code, and its time from the
 * headers to the reply queued (a watch: to its stream started). Health
 * checks are not counted. */
static void count_request(struct mc_server *server, struct MHD_Connection *connection,
                          const char *url, const char *method, int status,
                          const struct timespec *started)
{
    if (!server->requests || is_health_check(url))
        return;
    const char *verb = request_verb(connection, method);
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    mc_metric_add(server->requests, MC_LABELS(verb, code), 1);
    mc_metric_observe(server->request_latency, MC_LABELS(verb), mc_clock_seconds_since(started));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct mc_server *server = cls;
    request_state *state = *con_cls;
    if (!state) {
        state = calloc(1, sizeof(*state));
        if (!state)
            return MHD_NO;
        mc_buf_init(&state->body, MC_SERVER_BODY_MAX);
        clock_gettime(CLOCK_MONOTONIC, &state->started);
        *con_cls = state;
        return admit(server, connection, url, method, state);
    }
    if (*upload_data_size > 0) {
        if (!state->too_large && mc_buf_append(&state->body, upload_data, *upload_data_size))
            state->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    mc_server_reply reply = {500, NULL, "application/json", NULL, 0, 0};
    mc_server_input in = {
        connection, NULL, NULL, url, method, state->body.data, state->body.len, state->too_large};
    mc_server_dispatch(server, &in, &reply);
    if (!reply.body && !reply.stream)
        mc_server_reply_status(&reply, 500, "InternalError", "no reply", NULL);
    count_request(server, connection, url, method, reply.status, &state->started);
    return queue_reply(connection, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct mc_server *server = cls;
    (void)connection;
    (void)toe;
    request_state *state = *con_cls;
    if (!state)
        return;
    if (state->admitted)
        mc_inflight_release(server->inflight, state->identity);
    /* Bodies may hold Secrets. */
    mc_buf_free_secure(&state->body);
    free(state);
    *con_cls = NULL;
}

/* libmicrohttpd's messages go to our logger at debug level. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    mc_log_debug("http", "%s", msg);
}

/* GnuTLS priorities: TLS 1.2 and 1.3 only, as kube-apiserver's default
 * --tls-min-version (VersionTLS12); GnuTLS's NORMAL set otherwise. */
#define MC_SERVER_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* The listening socket is ours, not libmicrohttpd's: MHD's
 * MHD_OPTION_LISTENING_ADDRESS_REUSE sets SO_REUSEPORT, which let a second
 * server bind the same port and take half the connections. SO_REUSEADDR alone
 * (what every Linux server sets) still lets a restart after kill -9 bind while
 * the old connections sit in TIME_WAIT, and a live listener still refuses. */
int mc_server_http_listen(const char *host, int port, int *fd_out, int *port_out, mc_err *err)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    socklen_t addr_len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
    int v6_host = strchr(host, ':') != NULL;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        addr_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        addr_len = sizeof(*v6);
    } else {
        return mc_err_set(err, MC_EINVAL, "listen address \"%s\" is not an IP address", host);
    }
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mc_err_set(err, MC_EIO, "cannot listen on %s%s%s:%d: socket: %s", v6_host ? "[" : "",
                          host, v6_host ? "]" : "", port, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return mc_err_set(err, MC_EIO,
                              "cannot listen on %s%s%s:%d: address already in use (another "
                              "meshcert server, or another program, holds it)",
                              v6_host ? "[" : "", host, v6_host ? "]" : "", port);
        return mc_err_set(err, MC_EIO, "cannot listen on %s%s%s:%d: %s", v6_host ? "[" : "", host,
                          v6_host ? "]" : "", port, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    int bound_port = port;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        bound_port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                 : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *fd_out = fd;
    *port_out = bound_port;
    return MC_OK;
}

int mc_server_http_start(struct mc_server *server, mc_err *err)
{
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS | MHD_USE_ERROR_LOG;
    if (strchr(server->listen_host, ':'))
        flags |= MHD_USE_IPv6;
    /* Connections beyond the fd limit (less room for the store, the
     * certificates and the daemon's own descriptors) are refused at accept
     * rather than failing accept() with EMFILE over and over. */
    size_t limit = server->connection_limit;
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, server, MHD_OPTION_LISTEN_SOCKET, server->listen_fd,
        MHD_OPTION_HTTPS_MEM_KEY, server->tls_key, MHD_OPTION_HTTPS_MEM_CERT, server->tls_cert,
        MHD_OPTION_HTTPS_PRIORITIES, MC_SERVER_TLS_PRIORITIES, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, server, MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_END);
    if (!server->daemon)
        return mc_err_set(err, MC_EIO, "cannot start the HTTPS daemon on %s:%d",
                          server->listen_host, server->port);
    server->listen_fd = -1; /* the daemon closes it when it stops */
    return MC_OK;
}

void mc_server_http_stop(struct mc_server *server)
{
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
}
