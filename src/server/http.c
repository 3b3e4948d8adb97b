/* http.c - libmicrohttpd front of the embedded API server (see http.h).
 *
 * Every request runs on the daemon's one thread: bodies are gathered (at
 * most MC_SERVER_BODY_MAX), the cluster is found and its token checked, and
 * the request goes to discovery or to the verbs in handlers.c. Watch replies
 * are streams from watch.c on the same connection.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/discovery.h"
#include "server/internal.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* Per-connection request state (MHD's con_cls). */
typedef struct request_state {
    mc_buf body;   /* the request body so far (capped) */
    int too_large; /* the body exceeded MC_SERVER_BODY_MAX */
} request_state;

int mc_server_reply_json(mc_server_reply *reply, int code, const json_t *obj)
{
    reply->status = code;
    reply->content_type = "application/json";
    reply->body = json_dumps(obj, JSON_COMPACT);
    if (!reply->body) {
        reply->status = 500;
        reply->body = mc_strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                                "\"message\":\"out of memory\",\"reason\":\"InternalError\","
                                "\"code\":500}");
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_sequence(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

static int utf8_valid(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = utf8_sequence(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

int mc_server_reply_status(mc_server_reply *reply, int code, const char *reason,
                           const char *message, const mc_server_request *req)
{
    /* A message quoting request bytes that are not UTF-8 (or cut inside a
     * character by a %.Ns) cannot be a JSON string: such bytes become '?'. */
    char *clean = NULL;
    if (message && !utf8_valid(message)) {
        clean = mc_strdup(message);
        for (unsigned char *p = (unsigned char *)clean; p && *p;) {
            size_t n = utf8_sequence(p);
            if (!n)
                *p++ = '?';
            else
                p += n;
        }
        message = clean ? clean : "invalid request";
    }
    json_t *details = json_object();
    if (req && req->resource) {
        if (req->name)
            json_object_set_new(details, "name", json_string(req->name));
        json_object_set_new(details, "group", json_string(req->resource->group));
        json_object_set_new(details, "kind", json_string(req->resource->plural));
    }
    json_t *status = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:o,s:i}", "kind", "Status", "apiVersion",
                               "v1", "metadata", "status", "Failure", "message", message, "reason",
                               reason, "details", details, "code", code);
    mc_server_reply_json(reply, code, status);
    json_decref(status);
    free(clean);
    return 0;
}

/* MHD iterator: clears *(int *)cls when a query key or value is not UTF-8. */
static enum MHD_Result check_query_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    int *ok = cls;
    if ((key && !utf8_valid(key)) || (value && !utf8_valid(value)))
        *ok = 0;
    return MHD_YES;
}

/* ---- helpers shared by the verbs ---- */

const char *mc_server_query(const mc_server_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

const char *mc_server_header(const mc_server_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, key);
}

/* "issuedcertificates.certificates.smh.solo.io" or "secrets": how kube names a
 * resource in messages. */
void mc_server_qualified_resource(const mc_server_resource *r, char *out, size_t size)
{
    if (r->group[0])
        snprintf(out, size, "%s.%s", r->plural, r->group);
    else
        snprintf(out, size, "%s", r->plural);
}

int mc_server_reply_not_found(mc_server_reply *reply, const mc_server_request *req,
                              const char *name)
{
    char qr[256], msg[512];
    mc_server_qualified_resource(req->resource, qr, sizeof(qr));
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", qr, name);
    return mc_server_reply_status(reply, 404, "NotFound", msg, req);
}

const char *mc_server_meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

void mc_server_api_version(const mc_server_resource *r, char *out, size_t size)
{
    if (r->group[0])
        snprintf(out, size, "%s/%s", r->group, r->version);
    else
        snprintf(out, size, "%s", r->version);
}

int mc_server_reply_store_error(mc_server_reply *reply, const mc_server_request *req,
                                const mc_err *err)
{
    return mc_server_reply_status(reply, 500, "InternalError", err->msg, req);
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

static void dispatch(struct mc_server *server, struct MHD_Connection *connection, const char *url,
                     const char *method, request_state *state, mc_server_reply *reply)
{
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0 || strcmp(url, "/readyz") == 0) {
        reply->status = 200;
        reply->body = mc_strdup("ok");
        reply->content_type = "text/plain";
        return;
    }
    if (strncmp(url, "/clusters/", 10) != 0) {
        mc_server_reply_status(reply, 404, "NotFound",
                               "the server could not find the requested resource (paths start "
                               "with /clusters/<cluster>)",
                               NULL);
        return;
    }
    const char *name_start = url + 10;
    const char *slash = strchr(name_start, '/');
    char cluster_name[128];
    size_t len = slash ? (size_t)(slash - name_start) : strlen(name_start);
    if (len == 0 || len >= sizeof(cluster_name)) {
        mc_server_reply_status(reply, 404, "NotFound", "no such cluster", NULL);
        return;
    }
    memcpy(cluster_name, name_start, len);
    cluster_name[len] = '\0';
    const char *path = slash ? slash : "/";
    mc_server_sync_clusters(server);
    mc_server_cluster *cluster = mc_server_find_cluster(server, cluster_name);
    const char *authorization =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!cluster || !token_ok(authorization, cluster->token)) {
        /* An unknown cluster answers like a wrong token: nothing is revealed. */
        mc_server_reply_status(reply, 401, "Unauthorized", "Unauthorized", NULL);
        return;
    }
    int utf8_ok = utf8_valid(url);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, check_query_utf8, &utf8_ok);
    if (!utf8_ok) {
        /* names, selectors and tokens are UTF-8; kube's Go code would only
         * have replaced such bytes before failing to find anything */
        mc_server_reply_status(reply, 400, "BadRequest",
                               "the request URL (path or query) is not valid UTF-8", NULL);
        return;
    }
    if (state->too_large) {
        mc_server_reply_status(reply, 413, "RequestEntityTooLarge",
                               "the request body is larger than the 3 MiB limit", NULL);
        return;
    }
    if (strcmp(method, "GET") == 0) {
        const char *accept =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
        const char *type = NULL;
        if (mc_server_discovery_serve(cluster->registry, path, accept, &reply->status, &reply->body,
                                      &type)) {
            reply->content_type = type ? type : "application/json";
            return;
        }
    }
    mc_server_request req;
    memset(&req, 0, sizeof(req));
    req.server = server;
    req.connection = connection;
    req.method = method;
    req.cluster = cluster;
    mc_server_identity_admin(&req.identity, cluster->name); /* every token is its cluster's admin */
    req.body = state->body.data;
    req.body_len = state->body.len;
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
    enum MHD_Result ret = MHD_queue_response(connection, (unsigned)reply->status, response);
    MHD_destroy_response(response);
    return ret;
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
        *con_cls = state;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!state->too_large && mc_buf_append(&state->body, upload_data, *upload_data_size))
            state->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    mc_server_reply reply = {500, NULL, "application/json", NULL};
    dispatch(server, connection, url, method, state, &reply);
    if (!reply.body && !reply.stream)
        mc_server_reply_status(&reply, 500, "InternalError", "no reply", NULL);
    return queue_reply(connection, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    request_state *state = *con_cls;
    if (!state)
        return;
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

int mc_server_http_start(struct mc_server *server, const char *host, int port, mc_err *err)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    socklen_t addr_len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        addr_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        addr_len = sizeof(*v6);
        flags |= MHD_USE_IPv6;
    } else {
        return mc_err_set(err, MC_EINVAL, "listen address \"%s\" is not an IP address", host);
    }
    (void)addr_len;
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, server, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_HTTPS_MEM_KEY, server->tls_key,
        MHD_OPTION_HTTPS_MEM_CERT, server->tls_cert, MHD_OPTION_HTTPS_PRIORITIES,
        MC_SERVER_TLS_PRIORITIES, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        server, MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)600, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!server->daemon)
        return mc_err_set(err, MC_EIO, "cannot listen on %s:%d (address in use, or not local?)",
                          host, port);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : port;
    return MC_OK;
}

void mc_server_http_stop(struct mc_server *server)
{
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
}
