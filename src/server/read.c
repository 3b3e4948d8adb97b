/* read.c - the read verbs of the embedded server: get, list (paging with
 * continue tokens, label and field selectors, Table replies) and watch
 * (handed to watch.c). Objects are served from the store's memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/selector.h"
#include "server/handlers.h"
#include "server/internal.h"
#include "server/options.h"
#include "server/table.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/str.h"

static const char *accept_header(const mc_server_request *req)
{
    return mc_server_header(req, MHD_HTTP_HEADER_ACCEPT);
}

/* What a Table's rows are made from while the reply streams: the stream
 * outlives the request, so it owns a copy of the resource (a CRD deleted
 * meanwhile changes nothing here). */
typedef struct table_rows {
    mc_server_resource *resource; /* owned copy */
    char *include_object;         /* owned: None, Metadata or Object */
    time_t now;                   /* for ages: one instant for every row */
} table_rows;

static void table_rows_free(void *ctx)
{
    table_rows *rows = ctx;
    if (!rows)
        return;
    mc_server_resource_free(rows->resource);
    free(rows->include_object);
    free(rows);
}

static json_t *table_row(const json_t *obj, void *ctx)
{
    const table_rows *rows = ctx;
    return mc_server_table_row(rows->resource, obj, rows->include_object, rows->now);
}

/* A Table of objs: its columns and metadata, then one row at a time as the
 * client reads (rows are built from the stored objects as they are sent, as
 * a plain LIST's items are), so a Table LIST in flight holds references,
 * not the whole table. */
static void reply_table(mc_server_reply *reply, const mc_server_request *req,
                        const json_t *const *objs, size_t n, const char *rv, const char *cont)
{
    const char *include = mc_server_query(req, "includeObject");
    table_rows *rows = calloc(1, sizeof(*rows));
    json_t *table = mc_server_table_build(req->resource, NULL, 0, rv, cont,
                                          include ? include : "Metadata", time(NULL));
    json_t *refs = json_array();
    for (size_t i = 0; refs && i < n; i++)
        if (json_array_append(refs, (json_t *)objs[i]) != 0)
            json_decref(refs), refs = NULL;
    if (rows) {
        rows->resource = mc_server_resource_dup(req->resource);
        rows->include_object = mc_strdup(include ? include : "Metadata");
        rows->now = time(NULL);
    }
    if (!table || !refs || !rows || !rows->resource || !rows->include_object ||
        json_object_set(table, "rows", refs) != 0) {
        mc_server_reply_status(reply, 500, "InternalError", "building a table failed", req);
        table_rows_free(rows);
    } else {
        mc_server_reply_stream(reply, 200, table, "rows", table_row, rows, table_rows_free);
    }
    json_decref(refs);
    json_decref(table);
}

/* A get or list may name a resourceVersion: it must parse, and must not be
 * newer than the cluster (kube's watch cache answers 504 Too large resource
 * version); any other is served by the current state, which is not older. */
static int check_read_rv(const mc_server_request *req, mc_server_reply *reply)
{
    uint64_t rv = 0;
    if (mc_server_options_resource_version(req, &rv, reply))
        return -1;
    int64_t current = mc_store_revision(req->server->store, req->cluster->name);
    if (current >= 0 && rv > (uint64_t)current) {
        json_t *status = mc_server_status_too_large_rv(rv, current);
        mc_server_reply_json(reply, 504, status);
        json_decref(status);
        return -1;
    }
    return 0;
}

void mc_server_handle_get(mc_server_request *req, mc_server_reply *reply)
{
    if (check_read_rv(req, reply))
        return;
    const char *ns = req->namespace ? req->namespace : "";
    const json_t *obj = mc_store_get(req->server->store, req->cluster->name,
                                     req->resource->store_name, ns, req->name);
    if (!obj) {
        mc_server_reply_not_found(reply, req, req->name);
        return;
    }
    if (mc_server_table_wanted(accept_header(req))) {
        reply_table(reply, req, &obj, 1, mc_server_meta_string(obj, "resourceVersion"), NULL);
        return;
    }
    mc_server_reply_json(reply, 200, obj);
}

/* A field selector: comma-separated key=value / key==value / key!=value over
 * dotted paths (metadata.name, involvedObject.uid, ...). */
typedef struct field_req {
    char *path;
    char *value;
    int negate;
} field_req;

typedef struct field_selector {
    field_req *reqs;
    size_t len;
} field_selector;

static void field_selector_free(field_selector *fs)
{
    for (size_t i = 0; i < fs->len; i++) {
        free(fs->reqs[i].path);
        free(fs->reqs[i].value);
    }
    free(fs->reqs);
    fs->reqs = NULL;
    fs->len = 0;
}

static int field_selector_parse(const char *text, field_selector *fs, mc_err *err)
{
    memset(fs, 0, sizeof(*fs));
    if (!text || !*text)
        return MC_OK;
    char *copy = mc_strdup(text);
    if (!copy)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = MC_OK;
    for (char *term = copy; term && rc == MC_OK;) {
        char *comma = strchr(term, ',');
        if (comma)
            *comma = '\0';
        char *op = strstr(term, "!=");
        int negate = op != NULL;
        size_t op_len = 2;
        if (!op) {
            op = strstr(term, "==");
            if (!op) {
                op = strchr(term, '=');
                op_len = 1;
            }
        }
        if (!op || op == term) {
            rc = mc_err_set(err, MC_EINVAL, "invalid field selector \"%.200s\": expected key=value",
                            text);
            break;
        }
        field_req *grown = realloc(fs->reqs, (fs->len + 1) * sizeof(*grown));
        if (!grown) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            break;
        }
        fs->reqs = grown;
        fs->reqs[fs->len].path = mc_strndup(term, (size_t)(op - term));
        fs->reqs[fs->len].value = mc_strdup(op + op_len);
        fs->reqs[fs->len].negate = negate;
        fs->len++;
        term = comma ? comma + 1 : NULL;
    }
    free(copy);
    if (rc)
        field_selector_free(fs);
    return rc;
}

/* The string form of the value at a dotted path ("" when absent). */
static const char *path_string(const json_t *obj, const char *path, char *scratch, size_t size)
{
    char buf[512];
    mc_strlcpy(buf, path, sizeof(buf));
    const json_t *cur = obj;
    for (char *seg = buf; seg && cur;) {
        char *dot = strchr(seg, '.');
        if (dot)
            *dot = '\0';
        cur = json_object_get(cur, seg);
        seg = dot ? dot + 1 : NULL;
    }
    if (json_is_string(cur))
        return json_string_value(cur);
    if (json_is_integer(cur)) {
        snprintf(scratch, size, "%lld", (long long)json_integer_value(cur));
        return scratch;
    }
    if (json_is_boolean(cur))
        return json_is_true(cur) ? "true" : "false";
    return "";
}

static int field_selector_matches(const field_selector *fs, const json_t *obj)
{
    for (size_t i = 0; i < fs->len; i++) {
        char scratch[32];
        int equal = strcmp(path_string(obj, fs->reqs[i].path, scratch, sizeof(scratch)),
                           fs->reqs[i].value) == 0;
        if (equal == fs->reqs[i].negate)
            return 0;
    }
    return 1;
}

/* The continue token: base64 of "<namespace>/<name>" of the last item sent. */
static int decode_continue(const char *token, char **ns, char **name)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    if (mc_base64_decode(token, strlen(token), &raw, &len, NULL) != MC_OK)
        return -1;
    char *slash = memchr(raw, '/', len);
    if (!slash) {
        free(raw);
        return -1;
    }
    *ns = mc_strndup((char *)raw, (size_t)(slash - (char *)raw));
    *name = mc_strdup(slash + 1);
    free(raw);
    return 0;
}

static char *encode_continue(const json_t *obj)
{
    mc_buf b;
    mc_buf_init(&b, 1024);
    const char *ns = mc_server_meta_string(obj, "namespace");
    mc_buf_appendf(&b, "%s/%s", ns ? ns : "", mc_server_meta_string(obj, "name"));
    char *token = NULL;
    if (b.data)
        mc_base64_encode(b.data, b.len, &token, NULL);
    mc_buf_free(&b);
    return token;
}

/* Collects the matching objects after the continue point, at most limit. */
typedef struct list_result {
    const json_t **items;
    size_t count;
    size_t cap;
    char *continue_token;
} list_result;

static int grow_result(list_result *out, mc_err *err)
{
    if (out->count < out->cap)
        return MC_OK;
    size_t cap = out->cap ? out->cap * 2 : 64;
    const json_t **grown = realloc(out->items, cap * sizeof(*grown));
    if (!grown)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    out->items = grown;
    out->cap = cap;
    return MC_OK;
}

/* Takes ownership of after_ns and after_name (the continue point). */
static int collect(const mc_server_request *req, const mc_selector *labels,
                   const field_selector *fields, size_t limit, char *after_ns, char *after_name,
                   list_result *out, mc_err *err)
{
    memset(out, 0, sizeof(*out));
    const size_t chunk = 512;
    int rc = MC_OK;
    for (int done = 0; !done && rc == MC_OK;) {
        const json_t **page = NULL;
        size_t n = 0;
        int more = 0;
        rc = mc_store_list(req->server->store, req->cluster->name, req->resource->store_name,
                           req->namespace, after_ns, after_name, chunk, &page, &n, &more, err);
        for (size_t i = 0; rc == MC_OK && !done && i < n; i++) {
            const json_t *obj = page[i];
            const json_t *labels_json = json_object_get(json_object_get(obj, "metadata"), "labels");
            if ((labels && !mc_selector_matches_json(labels, labels_json)) ||
                !field_selector_matches(fields, obj))
                continue;
            if (limit && out->count == limit) {
                /* One more match exists: the client continues after the last sent. */
                out->continue_token = encode_continue(out->items[out->count - 1]);
                done = 1;
                break;
            }
            if ((rc = grow_result(out, err)) == MC_OK)
                out->items[out->count++] = obj;
        }
        if (rc == MC_OK && !done && more && n > 0) {
            const char *lns = mc_server_meta_string(page[n - 1], "namespace");
            free(after_ns);
            free(after_name);
            after_ns = mc_strdup(lns ? lns : "");
            after_name = mc_strdup(mc_server_meta_string(page[n - 1], "name"));
            if (!after_ns || !after_name)
                rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        } else {
            done = 1;
        }
        free(page);
    }
    free(after_ns);
    free(after_name);
    return rc;
}

/* Parses labelSelector and fieldSelector; fills a 400 on error. */
static int parse_selectors(const mc_server_request *req, mc_selector **labels,
                           field_selector *fields, mc_server_reply *reply)
{
    mc_err err = {0};
    const char *label_text = mc_server_query(req, "labelSelector");
    *labels = NULL;
    if (label_text && mc_selector_parse(label_text, labels, &err) != MC_OK) {
        mc_server_reply_status(reply, 400, "BadRequest", err.msg, req);
        return -1;
    }
    if (field_selector_parse(mc_server_query(req, "fieldSelector"), fields, &err) != MC_OK) {
        mc_selector_free(*labels);
        *labels = NULL;
        mc_server_reply_status(reply, 400, "BadRequest", err.msg, req);
        return -1;
    }
    return 0;
}

static void handle_watch(mc_server_request *req, mc_server_reply *reply, mc_selector *labels,
                         const field_selector *fields)
{
    mc_watch_params params;
    memset(&params, 0, sizeof(params));
    params.resource = req->resource;
    params.namespace = req->namespace;
    params.labels = labels;
    params.since = -1;
    for (size_t i = 0; i < fields->len; i++) {
        if (strcmp(fields->reqs[i].path, "metadata.name") == 0 && !fields->reqs[i].negate)
            params.field_name = fields->reqs[i].value;
        else if (strcmp(fields->reqs[i].path, "metadata.namespace") == 0 && !fields->reqs[i].negate)
            params.field_namespace = fields->reqs[i].value;
        else {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "field selector \"%.200s\" is not supported for watch (metadata.name and "
                     "metadata.namespace are)",
                     fields->reqs[i].path);
            mc_server_reply_status(reply, 400, "BadRequest", msg, req);
            return;
        }
    }
    uint64_t rv = 0;
    if (mc_server_options_resource_version(req, &rv, reply))
        return;
    int64_t current = mc_store_revision(req->server->store, req->cluster->name);
    if (current >= 0 && rv > (uint64_t)current) {
        /* kube's watch cache: a stream whose one event is the ERROR */
        json_t *event = json_pack("{s:s,s:o}", "type", "ERROR", "object",
                                  mc_server_status_too_large_rv(rv, current));
        char *line = event ? json_dumps(event, JSON_COMPACT) : NULL;
        json_decref(event);
        mc_buf body;
        mc_buf_init(&body, 4096);
        if (line && mc_buf_append_str(&body, line) == 0 && mc_buf_append(&body, "\n", 1) == 0) {
            reply->status = 200;
            reply->body = mc_buf_steal(&body, NULL);
            reply->content_type = "application/json";
        } else {
            mc_server_reply_status(reply, 500, "InternalError", "out of memory", req);
        }
        mc_buf_free(&body);
        free(line);
        return;
    }
    if (rv > 0)
        params.since = (int64_t)rv;
    const char *bookmarks = mc_server_query(req, "allowWatchBookmarks");
    params.bookmarks = bookmarks && strcmp(bookmarks, "true") == 0;
    const char *timeout = mc_server_query(req, "timeoutSeconds");
    params.timeout_seconds = timeout ? atoi(timeout) : 0;
    params.table = mc_server_table_wanted(accept_header(req));
    mc_err err = {0};
    reply->stream =
        mc_watch_start(req->server->hub, req->connection, req->cluster->name, &params, &err);
    if (!reply->stream) {
        if (err.code == MC_EUNAVAILABLE)
            mc_server_reply_too_many(reply, err.msg, req);
        else
            mc_server_reply_store_error(reply, req, &err);
        return;
    }
    reply->status = 200;
}

void mc_server_handle_list(mc_server_request *req, mc_server_reply *reply)
{
    mc_selector *labels = NULL;
    field_selector fields;
    if (parse_selectors(req, &labels, &fields, reply))
        return;
    const char *watch = mc_server_query(req, "watch");
    if (watch && (strcmp(watch, "true") == 0 || strcmp(watch, "1") == 0)) {
        handle_watch(req, reply, labels, &fields);
        mc_selector_free(labels);
        field_selector_free(&fields);
        return;
    }
    char *after_ns = NULL, *after_name = NULL;
    if (check_read_rv(req, reply))
        goto out;
    const char *limit_text = mc_server_query(req, "limit");
    size_t limit = limit_text ? (size_t)strtoull(limit_text, NULL, 10) : 0;
    const char *cont = mc_server_query(req, "continue");
    if (cont && *cont && decode_continue(cont, &after_ns, &after_name) != 0) {
        mc_server_reply_status(reply, 400, "BadRequest", "invalid continue token", req);
        goto out;
    }
    list_result result;
    mc_err err = {0};
    /* collect takes ownership of after_ns/after_name. */
    int rc = collect(req, labels, &fields, limit, after_ns, after_name, &result, &err);
    after_ns = after_name = NULL;
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld",
             (long long)mc_store_revision(req->server->store, req->cluster->name));
    if (rc) {
        mc_server_reply_store_error(reply, req, &err);
    } else if (mc_server_table_wanted(accept_header(req))) {
        reply_table(reply, req, result.items, result.count, rv, result.continue_token);
    } else {
        char api_version[256], list_kind[256];
        mc_server_api_version(req->resource, api_version, sizeof(api_version));
        snprintf(list_kind, sizeof(list_kind), "%s", req->resource->list_kind);
        json_t *items = json_array();
        for (size_t i = 0; i < result.count; i++)
            json_array_append(items, (json_t *)result.items[i]);
        json_t *list = json_pack("{s:s,s:s,s:{s:s},s:o}", "apiVersion", api_version, "kind",
                                 list_kind, "metadata", "resourceVersion", rv, "items", items);
        if (result.continue_token)
            json_object_set_new(json_object_get(list, "metadata"), "continue",
                                json_string(result.continue_token));
        mc_server_reply_json(reply, 200, list);
        json_decref(list);
    }
    free(result.items);
    free(result.continue_token);
out:
    free(after_ns);
    free(after_name);
    mc_selector_free(labels);
    field_selector_free(&fields);
}

int mc_server_select_all(const mc_server_request *req, mc_server_reply *reply,
                         const json_t ***items, size_t *count)
{
    mc_selector *labels = NULL;
    field_selector fields;
    if (parse_selectors(req, &labels, &fields, reply))
        return -1;
    list_result result;
    mc_err err = {0};
    int rc = collect(req, labels, &fields, 0, NULL, NULL, &result, &err);
    mc_selector_free(labels);
    field_selector_free(&fields);
    free(result.continue_token);
    if (rc) {
        free(result.items);
        mc_server_reply_store_error(reply, req, &err);
        return -1;
    }
    *items = result.items;
    *count = result.count;
    return 0;
}
