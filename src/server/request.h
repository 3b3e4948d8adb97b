/* request.h - one API request as the handlers see it, and the replies they
 * build (request.c): JSON bodies, streamed lists, Failure Status objects in
 * kube's words, query parameters and headers. Never included outside
 * src/server/.
 */
#ifndef MC_SERVER_REQUEST_H
#define MC_SERVER_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

#include "server/authz.h"
#include "server/cluster_table.h"
#include "server/registry.h"
#include "util/err.h"

struct mc_server;

/* Where a request's query parameters and headers come from: libmicrohttpd's
 * connection, or (fuzz target, tests) a lookup function. kind is
 * MHD_GET_ARGUMENT_KIND or MHD_HEADER_KIND; NULL when absent. */
typedef const char *(*mc_server_lookup_fn)(void *ctx, enum MHD_ValueKind kind, const char *key);

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
    int dry_run;                    /* dryRun=All: validate and answer, store nothing (options.c) */
    json_t *warnings; /* owned: kube's Warning texts for the reply, or NULL (handlers.c) */
    mc_server_identity identity; /* who sent it (set by http.c after the token check) */
    mc_server_lookup_fn lookup;  /* query and headers when connection is NULL */
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

/* A query parameter or header from connection, or from lookup when
 * connection is NULL (fuzz target, tests); NULL when absent. */
const char *mc_server_lookup_value(struct MHD_Connection *connection, mc_server_lookup_fn lookup,
                                   void *ctx, enum MHD_ValueKind kind, const char *key);

/* 1 when text is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
int mc_server_utf8_valid(const char *text);

/* The request body as a JSON object: JSON, YAML or kubectl's protobuf
 * (new reference); NULL with a 400/415 reply filled (request.c). */
json_t *mc_server_parse_body(const mc_server_request *req, mc_server_reply *reply);

#endif
