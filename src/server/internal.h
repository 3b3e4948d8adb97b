/* internal.h - what http.c, handlers.c and server.c share: the server state
 * and one parsed request. Never included outside src/server/.
 */
#ifndef MC_SERVER_INTERNAL_H
#define MC_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

#include "server/authz.h"
#include "server/inflight.h"
#include "server/registry.h"
#include "server/store.h"
#include "server/watch.h"

/* Largest request body accepted (kube-apiserver's limit is 3 MiB). */
#define MC_SERVER_BODY_MAX (3 * 1024 * 1024)

/* DIR/tokens/<cluster> + this: the key signing the cluster's ServiceAccount
 * tokens (cluster names are DNS labels, so it never names a cluster). */
#define MC_SERVER_SA_KEY_SUFFIX ".serviceaccount-key"

/* One logical cluster as the HTTP layer sees it. */
typedef struct mc_server_cluster {
    char *name;                   /* owned */
    char token[65];               /* admin bearer token (hex) */
    char sa_key[65];              /* HMAC key of its ServiceAccount tokens (hex; satoken.h) */
    mc_server_registry *registry; /* owned: built-ins + this cluster's CRDs */
} mc_server_cluster;

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
    mc_server_cluster *clusters; /* owned array */
    size_t cluster_count;
    int64_t data_version; /* SQLite data_version seen last (cluster changes) */
    char *tls_cert;       /* PEM of the serving certificate (owned) */
    char *tls_key;        /* PEM of its key (owned, wiped) */
    struct mc_metric *requests;        /* meshcert_apiserver_requests_total{verb,code}, or NULL */
    struct mc_metric *request_latency; /* meshcert_apiserver_request_duration_seconds{verb} */
};

/* Where a request's query parameters and headers come from: libmicrohttpd's
 * connection, or (fuzz target, tests) a lookup function. kind is
 * MHD_GET_ARGUMENT_KIND or MHD_HEADER_KIND; NULL when absent. */
typedef const char *(*mc_server_lookup_fn)(void *ctx, enum MHD_ValueKind kind, const char *key);

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

/* One API request, parsed from the URL. */
typedef struct mc_server_request {
    struct mc_server *server;
    struct MHD_Connection *connection;
    const char *method; /* "GET", ... */
    mc_server_cluster *cluster;
    const mc_server_resource *resource;
    char *namespace;   /* owned; NULL when cluster-scoped or all namespaces */
    char *name;        /* owned; NULL for the collection */
    char *subresource; /* owned; "status" or NULL */
    const char *body;  /* request body (not NUL-terminated) */
    size_t body_len;
    json_t *applied_managed_fields; /* owned: an apply's managedFields (apply.h), else NULL */
    int dry_run;       /* dryRun=All: validate and answer, store nothing (options.c) */
    json_t *warnings;  /* owned: kube's Warning texts for the reply, or NULL (handlers.c) */
    mc_server_identity identity; /* who sent it (set by http.c after the token check) */
    mc_server_lookup_fn lookup; /* query and headers when connection is NULL */
    void *lookup_ctx;
} mc_server_request;

/* A reply: either a whole body or a stream (watch). */
typedef struct mc_server_reply {
    int status;                  /* HTTP status */
    char *body;                  /* owned, or NULL */
    const char *content_type;    /* static string */
    struct MHD_Response *stream; /* a watch stream, or NULL */
    int retry_after;             /* seconds for a Retry-After header, or 0 for none */
    int close_connection;        /* send Connection: close (a refused client lets go) */
} mc_server_reply;

/* Fills reply with a Failure Status body. Returns 0. */
int mc_server_reply_status(mc_server_reply *reply, int code, const char *reason,
                           const char *message, const mc_server_request *req);

/* Fills reply with a 429 TooManyRequests Status naming the cap (message),
 * with details.retryAfterSeconds and a Retry-After header of 1 s, as
 * kube-apiserver's max-in-flight filter answers. Returns 0. */
int mc_server_reply_too_many(mc_server_reply *reply, const char *message,
                             const mc_server_request *req);

/* Fills reply with obj (serialized; obj not consumed). A list with items
 * (an object with a non-empty "items" array) becomes a stream instead
 * (reply->stream, chunked): its items are encoded as the client reads, so
 * obj's items must not change afterwards (the store's objects never do). */
int mc_server_reply_json(mc_server_reply *reply, int code, const json_t *obj);

/* What a streamed list sends for one of its items (a new reference, or
 * NULL when out of memory: the stream ends there); ctx as given below. */
typedef json_t *(*mc_server_item_fn)(const json_t *item, void *ctx);

/* mc_server_reply_json for a list whose array is obj's member key, each
 * element sent as encode(element, ctx) makes it (a Table's rows from the
 * stored objects): obj's other members, then the elements one at a time as
 * the client reads. ctx is owned by the reply from here (ctx_free, may be
 * NULL). An empty array is sent whole as it is. Returns 0. */
int mc_server_reply_stream(mc_server_reply *reply, int code, const json_t *obj, const char *key,
                           mc_server_item_fn encode, void *ctx, void (*ctx_free)(void *));

/* A query parameter or a header of the request (NULL when absent). */
const char *mc_server_query(const mc_server_request *req, const char *key);
const char *mc_server_header(const mc_server_request *req, const char *key);

/* metadata.<key> of obj as a string, or NULL. */
const char *mc_server_meta_string(const json_t *obj, const char *key);

/* "plural.group" (or "plural" for core): how kube names a resource. */
void mc_server_qualified_resource(const mc_server_resource *r, char *out, size_t size);

/* "group/version" (or "version" for core). */
void mc_server_api_version(const mc_server_resource *r, char *out, size_t size);

/* 404 NotFound for name of the request's resource, in kube's words. */
int mc_server_reply_not_found(mc_server_reply *reply, const mc_server_request *req,
                              const char *name);

/* 500 InternalError carrying a store failure's message. */
int mc_server_reply_store_error(mc_server_reply *reply, const mc_server_request *req,
                                const mc_err *err);

/* Routes and answers one request (health, authentication, discovery, the
 * verbs): the whole request machinery below the transport, on the daemon's
 * thread. reply->body is owned by the caller; reply->stream (a watch) too. */
void mc_server_dispatch(struct mc_server *server, const mc_server_input *in,
                        mc_server_reply *reply);

/* The read verbs (read.c). */
void mc_server_handle_get(mc_server_request *req, mc_server_reply *reply);
void mc_server_handle_list(mc_server_request *req, mc_server_reply *reply);

/* Every object of the request's collection matching its labelSelector and
 * fieldSelector: *items is a new array of borrowed objects (free the array
 * only; valid until the next write). -1 with a 400/500 reply filled. */
int mc_server_select_all(const mc_server_request *req, mc_server_reply *reply,
                         const json_t ***items, size_t *count);

/* The write verbs' only door to the store (handlers.c): put or delete one
 * object as mc_store_put / mc_store_delete do, except that with
 * req->dry_run nothing is stored, no revision is used and no watcher hears of
 * it; a dry-run put leaves obj with the resourceVersion of the object it would
 * replace (none for a create), which is what kube-apiserver answers. */
int mc_server_write_put(const mc_server_request *req, const mc_server_resource *resource,
                        const char *ns, const char *name, json_t *obj, mc_err *err);
int mc_server_write_delete(const mc_server_request *req, const mc_server_resource *resource,
                           const char *ns, const char *name, mc_err *err);

/* Asks mc_server_authorize whether req's identity may do req's verb on its
 * resource: 0 when allowed, else -1 with a 403 Forbidden in kube's words
 * (authz.c). */
int mc_server_authz_check(const mc_server_request *req, mc_server_reply *reply);

/* The same for a non-resource request (discovery, OpenAPI, /version) of
 * req's identity to path (cluster-relative, e.g. "/apis"): the verb is the
 * lower-cased method, as kube's. */
int mc_server_authz_check_path(const mc_server_request *req, const char *path,
                               mc_server_reply *reply);

/* Answers a create of a review resource (SelfSubjectAccessReview,
 * SelfSubjectReview) at once, storing nothing; 405 for other methods
 * (authz.c). */
void mc_server_authz_handle_review(mc_server_request *req, mc_server_reply *reply);

/* The request body as a JSON object: JSON, YAML or kubectl's protobuf
 * (new reference); NULL with a 400/415 reply filled (handlers.c). */
json_t *mc_server_parse_body(const mc_server_request *req, mc_server_reply *reply);

/* ServiceAccount tokens (serviceaccounts.c). */

/* Authenticates a bearer token (after "Bearer ") that is not the cluster's
 * admin token: a ServiceAccount token signed with cluster's key whose
 * ServiceAccount (and, for a legacy token, Secret) still exists with the uid
 * it names. 0 with *identity filled; -1 when it does not authenticate (the
 * reason is logged at debug level, never the token). */
int mc_server_sa_authenticate(struct mc_server *server, const mc_server_cluster *cluster,
                              const char *bearer, mc_server_identity *identity);

/* POST .../serviceaccounts/<name>/token: a TokenRequest answered with a
 * new token (authentication.k8s.io/v1, `kubectl create token`). */
void mc_server_sa_handle_token_request(mc_server_request *req, mc_server_reply *reply);

/* On create of a Secret of type kubernetes.io/service-account-token naming
 * a ServiceAccount that exists (annotation kubernetes.io/service-account.name),
 * fills data.token, data.ca.crt, data.namespace and the
 * kubernetes.io/service-account.uid annotation, as kube's token controller
 * does (here before the Secret is stored). obj must have its uid. 0, or -1
 * with a reply filled. */
int mc_server_sa_fill_token_secret(const mc_server_request *req, json_t *obj,
                                   mc_server_reply *reply);

/* Handles a resource request (verbs, status subresource, watch). */
void mc_server_handle(mc_server_request *req, mc_server_reply *reply);

/* The cluster named name, or NULL. */
mc_server_cluster *mc_server_find_cluster(struct mc_server *server, const char *name);

/* Re-reads the cluster list when another process changed it (meshcert server
 * cluster add/remove), adding and removing clusters in memory. */
void mc_server_sync_clusters(struct mc_server *server);

/* Applies a stored or newly written CRD to the cluster's registry;
 * removes it when crd is NULL (name given). */
int mc_server_cluster_apply_crd(mc_server_cluster *cluster, const json_t *crd, mc_err *err);

#endif
