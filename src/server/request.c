/* request.c - what every handler builds its answer with: replies (JSON
 * bodies, lists streamed as the client reads them, Failure Status objects
 * in kube's shape) and a request's query parameters and headers. Below both
 * the transport (http.c) and the handlers; calls neither.
 */
#include "server/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "server/protobuf.h"
#include "server/yaml.h"
#include "util/str.h"

/* A list reply streamed as the client reads: the list's fields, then one
 * item at a time encoded from a reference (through encode, when set: a
 * Table's row), then "]}". A LIST in flight holds references to the stored
 * objects (immutable once stored) and one encoded item, not the whole
 * encoded body: 25 slow readers of a 40 MB list no longer hold 1 GB. Runs on
 * the HTTP thread only. */
typedef struct list_stream {
    char *head;               /* `{...,"items":[`, owned */
    size_t head_len;          /* bytes in head */
    json_t *items;            /* reference to the list's items array */
    mc_server_item_fn encode; /* what to send for an item, or NULL: the item */
    void *ctx;                /* encode's context, owned */
    void (*ctx_free)(void *); /* frees ctx */
    size_t next;              /* index of the next item to encode */
    char *item;               /* the item being sent (with its leading comma), owned */
    size_t item_len;          /* bytes in item */
    size_t offset;            /* bytes of head, item or tail already sent */
    int phase;                /* 0 head, 1 items, 2 tail, 3 done */
} list_stream;

static void list_stream_free(void *cls)
{
    list_stream *ls = cls;
    free(ls->head);
    free(ls->item);
    json_decref(ls->items);
    if (ls->ctx_free)
        ls->ctx_free(ls->ctx);
    free(ls);
}

/* The next item's text (owned), or NULL when out of memory. */
static char *list_stream_encode(list_stream *ls)
{
    json_t *item = json_array_get(ls->items, ls->next);
    if (!ls->encode)
        return json_dumps(item, JSON_COMPACT);
    json_t *shown = ls->encode(item, ls->ctx);
    char *text = shown ? json_dumps(shown, JSON_COMPACT) : NULL;
    json_decref(shown);
    return text;
}

/* Copies from data[*offset..len) into buf; returns the bytes copied. */
static size_t copy_part(char *buf, size_t room, const char *data, size_t len, size_t *offset)
{
    size_t n = len - *offset < room ? len - *offset : room;
    memcpy(buf, data + *offset, n);
    *offset += n;
    return n;
}

static ssize_t list_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    list_stream *ls = cls;
    size_t copied = 0;
    (void)pos;
    while (copied < max && ls->phase < 3) {
        if (ls->phase == 0) {
            copied += copy_part(buf + copied, max - copied, ls->head, ls->head_len, &ls->offset);
            if (ls->offset == ls->head_len)
                ls->phase = 1, ls->offset = 0;
        } else if (ls->phase == 1) {
            if (!ls->item) {
                if (ls->next == json_array_size(ls->items)) {
                    ls->phase = 2;
                    continue;
                }
                char *body = list_stream_encode(ls);
                if (!body)
                    return copied ? (ssize_t)copied : MHD_CONTENT_READER_END_WITH_ERROR;
                size_t len = strlen(body);
                ls->item = malloc(len + 2);
                if (!ls->item) {
                    free(body);
                    return copied ? (ssize_t)copied : MHD_CONTENT_READER_END_WITH_ERROR;
                }
                size_t comma = ls->next > 0;
                ls->item[0] = ',';
                memcpy(ls->item + comma, body, len + 1);
                ls->item_len = len + comma;
                free(body);
                ls->next++;
                ls->offset = 0;
            }
            copied += copy_part(buf + copied, max - copied, ls->item, ls->item_len, &ls->offset);
            if (ls->offset == ls->item_len) {
                free(ls->item);
                ls->item = NULL;
                ls->offset = 0;
            }
        } else {
            copied += copy_part(buf + copied, max - copied, "]}", 2, &ls->offset);
            if (ls->offset == 2)
                ls->phase = 3;
        }
    }
    if (copied == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)copied;
}

/* Sets reply->stream for obj, whose member key is a non-empty array: 0 when
 * done, 1 when the array is empty or missing (nothing set), -1 when out of
 * memory (ctx freed in both failures). */
static int reply_list_stream(mc_server_reply *reply, int code, const json_t *obj, const char *key,
                             mc_server_item_fn encode, void *ctx, void (*ctx_free)(void *))
{
    json_t *items = json_object_get(obj, key);
    if (!json_is_array(items) || json_array_size(items) == 0) {
        if (ctx_free)
            ctx_free(ctx);
        return 1;
    }
    json_t *rest = json_copy((json_t *)obj); /* shallow: the fields but items */
    list_stream *ls = calloc(1, sizeof(*ls));
    char *head = NULL;
    if (rest && ls && json_object_del(rest, key) == 0)
        head = json_dumps(rest, JSON_COMPACT);
    json_decref(rest);
    size_t len = head ? strlen(head) : 0, key_len = strlen(key);
    /* `{...}` becomes `{...,"<key>":[` (or `{"<key>":[` for `{}`) */
    char *full = len >= 2 ? malloc(len + key_len + 6) : NULL;
    if (!full) {
        free(head);
        free(ls);
        if (ctx_free)
            ctx_free(ctx);
        return -1;
    }
    memcpy(full, head, len - 1);
    size_t at = len - 1;
    if (len > 2)
        full[at++] = ',';
    at += (size_t)snprintf(full + at, key_len + 5, "\"%s\":[", key);
    free(head);
    ls->head = full;
    ls->head_len = at;
    ls->items = json_incref(items);
    ls->encode = encode;
    ls->ctx = ctx;
    ls->ctx_free = ctx_free;
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 32 * 1024, list_stream_read, ls, list_stream_free);
    if (!response) {
        list_stream_free(ls);
        return -1;
    }
    reply->status = code;
    reply->content_type = "application/json";
    reply->stream = response;
    return 0;
}

static void reply_out_of_memory(mc_server_reply *reply)
{
    reply->status = 500;
    reply->body = mc_strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                            "\"message\":\"out of memory\",\"reason\":\"InternalError\","
                            "\"code\":500}");
}

int mc_server_reply_stream(mc_server_reply *reply, int code, const json_t *obj, const char *key,
                           mc_server_item_fn encode, void *ctx, void (*ctx_free)(void *))
{
    int rc = reply_list_stream(reply, code, obj, key, encode, ctx, ctx_free);
    if (rc == 0)
        return 0;
    reply->status = code;
    reply->content_type = "application/json";
    reply->body = rc > 0 ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (!reply->body)
        reply_out_of_memory(reply);
    return 0;
}

int mc_server_reply_json(mc_server_reply *reply, int code, const json_t *obj)
{
    return mc_server_reply_stream(reply, code, obj, "items", NULL, NULL, NULL);
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

int mc_server_utf8_valid(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = utf8_sequence(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

/* A Failure Status (new reference) in kube's shape. */
static json_t *status_object(int code, const char *reason, const char *message,
                             const mc_server_request *req)
{
    /* A message quoting request bytes that are not UTF-8 (or cut inside a
     * character by a %.Ns) cannot be a JSON string: such bytes become '?'. */
    char *clean = NULL;
    if (message && !mc_server_utf8_valid(message)) {
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
    free(clean);
    return status;
}

int mc_server_reply_status(mc_server_reply *reply, int code, const char *reason,
                           const char *message, const mc_server_request *req)
{
    json_t *status = status_object(code, reason, message, req);
    mc_server_reply_json(reply, code, status);
    json_decref(status);
    return 0;
}

int mc_server_reply_too_many(mc_server_reply *reply, const char *message,
                             const mc_server_request *req)
{
    json_t *status = status_object(429, "TooManyRequests", message, req);
    json_object_set_new(json_object_get(status, "details"), "retryAfterSeconds", json_integer(1));
    mc_server_reply_json(reply, 429, status);
    json_decref(status);
    reply->retry_after = 1;
    return 0;
}

/* ---- request accessors and names ---- */

const char *mc_server_lookup_value(struct MHD_Connection *connection, mc_server_lookup_fn lookup,
                                   void *ctx, enum MHD_ValueKind kind, const char *key)
{
    if (connection)
        return MHD_lookup_connection_value(connection, kind, key);
    return lookup ? lookup(ctx, kind, key) : NULL;
}

const char *mc_server_query(const mc_server_request *req, const char *key)
{
    return mc_server_lookup_value(req->connection, req->lookup, req->lookup_ctx,
                                  MHD_GET_ARGUMENT_KIND, key);
}

const char *mc_server_header(const mc_server_request *req, const char *key)
{
    return mc_server_lookup_value(req->connection, req->lookup, req->lookup_ctx, MHD_HEADER_KIND,
                                  key);
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

/* Parses the body as a JSON object. On failure fills a 400 (415 for a body
 * that is not JSON, e.g. protobuf) reply and returns NULL. */
json_t *mc_server_parse_body(const mc_server_request *req, mc_server_reply *reply)
{
    const char *type = mc_server_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (type && mc_str_has_prefix(type, MC_PROTOBUF_CONTENT_TYPE)) {
        json_t *decoded = NULL;
        mc_err err = {0};
        int rc = mc_server_protobuf_to_json(req->body, req->body_len, &decoded, &err);
        if (rc == MC_OK)
            return decoded;
        mc_server_reply_status(reply, rc == MC_EUNSUPPORTED ? 415 : 400,
                               rc == MC_EUNSUPPORTED ? "UnsupportedMediaType" : "BadRequest",
                               err.msg, req);
        return NULL;
    }
    if (type && mc_str_has_prefix(type, "application/yaml")) {
        json_t *decoded = NULL;
        mc_err err = {0};
        if (mc_server_yaml_to_json(req->body, req->body_len, &decoded, &err) == MC_OK &&
            json_is_object(decoded))
            return decoded;
        json_decref(decoded);
        mc_server_reply_status(reply, 400, "BadRequest",
                               err.msg[0] ? err.msg : "the YAML body is not a mapping", req);
        return NULL;
    }
    if (type && !mc_str_has_prefix(type, "application/json") && !mc_str_has_prefix(type, "*/*")) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json, application/yaml (got \"%.80s\")",
                 type);
        mc_server_reply_status(reply, 415, "UnsupportedMediaType", msg, req);
        return NULL;
    }
    if (req->body_len == 0) {
        mc_server_reply_status(reply, 400, "BadRequest", "the request body is empty", req);
        return NULL;
    }
    json_t *obj = NULL;
    mc_err err = {0};
    if (mc_api_json_parse(req->body, req->body_len, &obj, &err) != MC_OK) {
        char msg[700];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s", err.msg);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        mc_server_reply_status(reply, 400, "BadRequest", "the request body is not a JSON object",
                               req);
        return NULL;
    }
    return obj;
}
