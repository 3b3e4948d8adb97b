/* handlers.c - the write verbs of the embedded server (create, update,
 * patch, server-side apply as computed by apply.c, delete, deletecollection)
 * and the dispatch of every verb, with the status subresource, generation,
 * finalizer and owner-reference semantics of kube-apiserver (../shared/reference/kube-api.md); reads are in read.c. One
 * request at a time on the HTTP thread; every write goes through the store,
 * which makes it durable before the reply is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/codec.h"
#include "api/patch.h"
#include "api/selector.h"
#include "api/strategic.h"
#include "api/time.h"
#include "api/validate.h"
#include "server/apply.h"
#include "server/handlers.h"
#include "server/internal.h"
#include "server/options.h"
#include "server/protobuf.h"
#include "server/yaml.h"
#include "server/schema.h"
#include "server/validation.h"
#include "server/table.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/str.h"

/* ---- small helpers ---- */

static int reply_conflict(mc_server_reply *reply, const mc_server_request *req, const char *name)
{
    char qr[256], msg[768];
    mc_server_qualified_resource(req->resource, qr, sizeof(qr));
    snprintf(msg, sizeof(msg),
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
             "apply your changes to the latest version and try again",
             qr, name);
    return mc_server_reply_status(reply, 409, "Conflict", msg, req);
}

/* 422 Invalid the way kube-apiserver words it: kubectl prints the message
 * from details (kind, name, causes), so they must be right. causes (may be
 * NULL) is a JSON array of {reason, field, message}, consumed. */
static int reply_invalid_causes(mc_server_reply *reply, const mc_server_request *req,
                                const char *name, const char *detail, json_t *causes)
{
    const mc_server_resource *r = req->resource;
    mc_buf msg;
    mc_buf_init(&msg, 16384);
    mc_buf_appendf(&msg, "%s%s%s \"%.253s\" is invalid: %.8000s", r->kind, r->group[0] ? "." : "",
                   r->group, name ? name : "", detail);
    json_t *details =
        json_pack("{s:s,s:s,s:s}", "name", name ? name : "", "group", r->group, "kind", r->kind);
    if (causes)
        json_object_set_new(details, "causes", causes);
    json_t *status =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:o,s:i}", "kind", "Status", "apiVersion", "v1",
                  "metadata", "status", "Failure", "message", msg.data ? msg.data : "invalid",
                  "reason", "Invalid", "details", details, "code", 422);
    mc_server_reply_json(reply, 422, status);
    json_decref(status);
    mc_buf_free(&msg);
    return 0;
}

static int reply_invalid(mc_server_reply *reply, const mc_server_request *req, const char *name,
                         const char *detail)
{
    return reply_invalid_causes(reply, req, name, detail, NULL);
}

static json_t *metadata_of(json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(obj, "metadata", meta);
    }
    return meta;
}

static void now_rfc3339(char *out, size_t size)
{
    mc_time_format((int64_t)time(NULL), out, size);
}

/* What happens to the dependents of a deleted owner (kube's garbage
 * collector, done at once). */
typedef enum { MC_GC_DELETE, MC_GC_ORPHAN } gc_action;
static void collect_dependents(mc_server_request *req, const char *owner_uid, gc_action action);

/* ---- the store, or with dryRun=All nothing (see internal.h) ---- */

int mc_server_write_put(const mc_server_request *req, const mc_server_resource *resource,
                        const char *ns, const char *name, json_t *obj, mc_err *err)
{
    if (!req->dry_run)
        return mc_store_put(req->server->store, req->cluster->name, resource->store_name, ns,
                            name, obj, NULL, err);
    const json_t *current =
        mc_store_get(req->server->store, req->cluster->name, resource->store_name, ns, name);
    const char *rv = current ? mc_server_meta_string(current, "resourceVersion") : NULL;
    json_t *meta = metadata_of(obj);
    if (rv)
        json_object_set_new(meta, "resourceVersion", json_string(rv));
    else
        json_object_del(meta, "resourceVersion");
    return MC_OK;
}

int mc_server_write_delete(const mc_server_request *req, const mc_server_resource *resource,
                           const char *ns, const char *name, mc_err *err)
{
    if (req->dry_run)
        return MC_OK;
    return mc_store_delete(req->server->store, req->cluster->name, resource->store_name, ns, name,
                           NULL, err);
}

/* Fills b with n bytes from the kernel's random source (the same source as
 * /dev/urandom, without opening it: a stdio read of /dev/urandom pulled a
 * whole 4 KiB buffer of random bytes for each UID); rand() if that fails. */
static void random_bytes(unsigned char *b, size_t n)
{
    if (getrandom(b, n, 0) == (ssize_t)n)
        return;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rand();
}

/* A random version-4 UUID. */
static void new_uid(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* generateName suffix: 5 characters from kube's alphabet. */
static void random_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5];
    random_bytes(b, sizeof(b));
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
    out[5] = '\0';
}

/* Checks apiVersion and kind of a body against the resource (both may be
 * absent in patches, not in create/update). Returns 0 or fills a 400. */
static int check_type_meta(const mc_server_request *req, const json_t *obj, mc_server_reply *reply)
{
    char want[256], msg[768];
    mc_server_api_version(req->resource, want, sizeof(want));
    const char *api_version = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!api_version || !kind) {
        mc_server_reply_status(reply, 400, "BadRequest",
                               "Object 'Kind' or 'apiVersion' is missing in the request body", req);
        return -1;
    }
    if (strcmp(api_version, want) != 0) {
        snprintf(msg, sizeof(msg),
                 "the API version in the data (%.100s) does not match the expected API version "
                 "(%s)",
                 api_version, want);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        return -1;
    }
    if (strcmp(kind, req->resource->kind) != 0) {
        snprintf(msg, sizeof(msg),
                 "the kind in the data (%.100s) does not match the expected kind (%s)", kind,
                 req->resource->kind);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        return -1;
    }
    return 0;
}

/* Removes strategic-merge-patch directives ("$patch", "$setElementOrder/...",
 * "$retainKeys", ...): on custom resources (which kube answers 415 for a
 * strategic merge patch) it is served as a JSON merge patch. */
static void strip_directives(json_t *value)
{
    if (json_is_object(value)) {
        const char *key;
        json_t *child;
        void *tmp;
        json_object_foreach_safe(value, tmp, key, child)
        {
            if (key[0] == '$')
                json_object_del(value, key);
            else
                strip_directives(child);
        }
    } else if (json_is_array(value)) {
        size_t i;
        json_t *child;
        json_array_foreach(value, i, child) strip_directives(child);
    }
}

/* True when a and b differ outside metadata (and outside status when the
 * resource has a status subresource): such a change bumps generation. */
static int spec_changed(const mc_server_resource *r, const json_t *a, const json_t *b)
{
    json_t *ca = json_copy((json_t *)a), *cb = json_copy((json_t *)b);
    json_object_del(ca, "metadata");
    json_object_del(cb, "metadata");
    if (r->has_status) {
        json_object_del(ca, "status");
        json_object_del(cb, "status");
    }
    int changed = !json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return changed;
}

/* The admission check of every write: the name and size here, the rest in
 * validation.c (pruning unknown fields; kube's warnings collect in
 * req->warnings). Returns 0 or fills a 400/413/422. */
static int validate_object(mc_server_request *req, json_t *obj, mc_server_reply *reply)
{
    const char *name = mc_server_meta_string(obj, "name");
    mc_err err = {0};
    int rc = strcmp(req->resource->plural, "namespaces") == 0
                 ? mc_validate_dns1123_label(name, &err)
                 : mc_validate_dns1123_subdomain(name, &err);
    if (rc) {
        char detail[1024];
        snprintf(detail, sizeof(detail), "metadata.name: Invalid value: \"%.253s\": %s", name,
                 err.msg);
        reply_invalid(reply, req, name, detail);
        return -1;
    }
    /* The size check encodes the object; a body under 1 MiB cannot make an
     * object over the 1.5 MiB limit (server metadata is small, stringData
     * grows by 4/3 at most), so creates skip it. */
    int small = req->body_len < 1024 * 1024 && strcmp(req->method, "POST") == 0;
    if (!small && mc_validate_object_size(obj, &err)) {
        mc_server_reply_status(reply, 413, "RequestEntityTooLarge", err.msg, req);
        return -1;
    }
    /* Everything else kube-apiserver's decoding and validation would refuse
     * (validation.c); unknown fields are dropped or refused per
     * fieldValidation. */
    mc_server_verdict verdict;
    int status = mc_server_validate_write(req, obj, &verdict, &err);
    if (status == 422 && verdict.causes)
        reply_invalid_causes(reply, req, name, verdict.message ? verdict.message : err.msg,
                             json_incref(verdict.causes));
    else if (status)
        mc_server_reply_status(reply, status, verdict.reason, err.msg, req);
    else if (verdict.warnings)
        json_array_extend(req->warnings ? req->warnings : (req->warnings = json_array()),
                          verdict.warnings);
    mc_server_verdict_clear(&verdict);
    return status ? -1 : 0;
}

/* Secret: stringData is write-only, merged into data as base64; data values
 * must be base64. Returns 0 or fills a 400/422. */
static int normalize_secret(const mc_server_request *req, json_t *obj, mc_server_reply *reply)
{
    if (strcmp(req->resource->store_name, "core/secrets") != 0)
        return 0;
    json_t *data = json_object_get(obj, "data");
    json_t *string_data = json_object_get(obj, "stringData");
    if (data && !json_is_object(data) && !json_is_null(data)) {
        reply_invalid(reply, req, mc_server_meta_string(obj, "name"), "data: must be an object");
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(data, key, value)
    {
        unsigned char *raw = NULL;
        size_t raw_len = 0;
        const char *text = json_string_value(value);
        if (!text || mc_base64_decode(text, strlen(text), &raw, &raw_len, NULL) != MC_OK) {
            char detail[400];
            snprintf(detail, sizeof(detail), "data[%.253s]: Invalid value: not valid base64", key);
            reply_invalid(reply, req, mc_server_meta_string(obj, "name"), detail);
            return -1;
        }
        mc_secure_free(raw, raw_len);
    }
    if (json_is_object(string_data)) {
        if (!json_is_object(data)) {
            data = json_object();
            json_object_set_new(obj, "data", data);
        }
        json_object_foreach(string_data, key, value)
        {
            const char *text = json_string_value(value);
            char *encoded = NULL;
            if (!text || mc_base64_encode(text, strlen(text), &encoded, NULL) != MC_OK) {
                reply_invalid(reply, req, mc_server_meta_string(obj, "name"),
                              "stringData: values must be strings");
                return -1;
            }
            json_object_set_new(data, key, json_string(encoded));
            free(encoded);
        }
    }
    json_object_del(obj, "stringData");
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!type || !*type) /* kube-apiserver's defaulting */
        json_object_set_new(obj, "type", json_string("Opaque"));
    return 0;
}

/* A Secret's type cannot change once created (kube-apiserver's
 * ValidateSecretUpdate): 422 naming the field. */
static int secret_type_changed(const mc_server_request *req, const json_t *current,
                               const json_t *next, mc_server_reply *reply)
{
    if (strcmp(req->resource->store_name, "core/secrets") != 0)
        return 0;
    const char *was = json_string_value(json_object_get(current, "type"));
    const char *now = json_string_value(json_object_get(next, "type"));
    if (!was || !now || strcmp(was, now) == 0)
        return 0;
    char detail[400];
    snprintf(detail, sizeof(detail), "type: Invalid value: \"%.120s\": field is immutable", now);
    reply_invalid(reply, req, mc_server_meta_string(next, "name"), detail);
    return -1;
}

/* CRDs: validate against the registry before storing; mark Established. */
static int is_crd(const mc_server_request *req)
{
    return strcmp(req->resource->store_name, "apiextensions.k8s.io/customresourcedefinitions") == 0;
}

static int prepare_crd(const mc_server_request *req, json_t *obj, mc_server_reply *reply)
{
    /* Apply to a scratch registry first: an invalid CRD changes nothing. */
    mc_server_registry *scratch = mc_server_registry_new();
    mc_err err = {0};
    int rc = scratch ? mc_server_registry_apply_crd(scratch, obj, &err) : MC_ENOMEM;
    mc_server_registry_free(scratch);
    if (rc) {
        reply_invalid(reply, req, mc_server_meta_string(obj, "name"), err.msg);
        return -1;
    }
    char now[40];
    now_rfc3339(now, sizeof(now));
    json_t *spec_names = json_object_get(json_object_get(obj, "spec"), "names");
    json_t *status = json_pack(
        "{s:O?,s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}],s:[]}", "acceptedNames", spec_names,
        "conditions", "type", "NamesAccepted", "status", "True", "reason", "NoConflicts", "message",
        "no conflicts found", "lastTransitionTime", now, "type", "Established", "status", "True",
        "reason", "InitialNamesAccepted", "message", "the initial names have been accepted",
        "lastTransitionTime", now, "storedVersions");
    json_t *spec_versions = json_object_get(json_object_get(obj, "spec"), "versions");
    size_t i;
    json_t *v;
    json_array_foreach(spec_versions, i, v) if (json_is_true(json_object_get(v, "storage")))
        json_array_append(json_object_get(status, "storedVersions"), json_object_get(v, "name"));
    json_object_set_new(obj, "status", status);
    return 0;
}

/* After a CRD write or delete: the cluster's registry follows. */
static void crd_written(const mc_server_request *req, const json_t *obj, int deleted)
{
    if (!is_crd(req) || req->dry_run)
        return;
    if (deleted)
        mc_server_registry_remove_crd(req->cluster->registry, mc_server_meta_string(obj, "name"));
    else
        mc_server_cluster_apply_crd(req->cluster, obj, NULL);
}

static int namespace_exists(const mc_server_request *req, const char *ns)
{
    return mc_store_get(req->server->store, req->cluster->name, "core/namespaces", "", ns) != NULL;
}

/* ObjectMeta's string fields must be strings (or null): kube-apiserver's
 * decoder refuses anything else with a 400 before any write. */
static int check_meta_types(const mc_server_request *req, const json_t *obj,
                            mc_server_reply *reply)
{
    static const char *const strings[] = {"name", "generateName", "namespace", "uid",
                                          "resourceVersion"};
    const json_t *meta = json_object_get(obj, "metadata");
    for (size_t i = 0; json_is_object(meta) && i < sizeof(strings) / sizeof(strings[0]); i++) {
        const json_t *v = json_object_get(meta, strings[i]);
        if (!v || json_is_null(v) || json_is_string(v))
            continue;
        const char *type = json_is_number(v)    ? "number"
                           : json_is_boolean(v) ? "bool"
                           : json_is_array(v)   ? "array"
                                                : "object";
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of type "
                 "string",
                 type, strings[i]);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        return -1;
    }
    return 0;
}

/* ---- create ---- */

/* Creates obj (consumed): a POST body, or the object an apply computed. */
static void create_object(mc_server_request *req, json_t *obj, mc_server_reply *reply)
{
    if (check_type_meta(req, obj, reply) || check_meta_types(req, obj, reply))
        goto out;
    json_t *meta = metadata_of(obj);
    const char *body_ns = json_string_value(json_object_get(meta, "namespace"));
    if (req->resource->namespaced) {
        if (body_ns && *body_ns && strcmp(body_ns, req->namespace) != 0) {
            mc_server_reply_status(reply, 400, "BadRequest",
                                   "the namespace of the provided object does not match the "
                                   "namespace sent on the request",
                                   req);
            goto out;
        }
        json_object_set_new(meta, "namespace", json_string(req->namespace));
    } else {
        json_object_del(meta, "namespace");
    }
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *generate = json_string_value(json_object_get(meta, "generateName"));
    if ((!name || !*name) && generate && *generate) {
        char suffix[6], full[300];
        random_suffix(suffix);
        snprintf(full, sizeof(full), "%.247s%s", generate, suffix);
        json_object_set_new(meta, "name", json_string(full));
        name = json_string_value(json_object_get(meta, "name"));
    }
    if (!name || !*name) {
        reply_invalid(reply, req, "",
                      "metadata.name: Required value: name or generateName is required");
        goto out;
    }
    if (req->resource->namespaced && !namespace_exists(req, req->namespace)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", req->namespace);
        mc_server_reply_status(reply, 404, "NotFound", msg, req);
        goto out;
    }
    const char *ns = req->namespace ? req->namespace : "";
    if (mc_store_get(req->server->store, req->cluster->name, req->resource->store_name, ns, name)) {
        char qr[256], msg[600];
        mc_server_qualified_resource(req->resource, qr, sizeof(qr));
        snprintf(msg, sizeof(msg), "%s \"%s\" already exists", qr, name);
        mc_server_reply_status(reply, 409, "AlreadyExists", msg, req);
        goto out;
    }
    if (req->resource->has_status && !is_crd(req))
        json_object_del(obj, "status"); /* status is written through /status only */
    char uid[37], now[40];
    new_uid(uid);
    now_rfc3339(now, sizeof(now));
    json_object_set_new(meta, "uid", json_string(uid));
    json_object_set_new(meta, "creationTimestamp", json_string(now));
    json_object_set_new(meta, "generation", json_integer(1));
    json_object_del(meta, "resourceVersion");
    json_object_del(meta, "deletionTimestamp");
    json_object_del(meta, "deletionGracePeriodSeconds");
    json_object_del(meta, "managedFields");
    if (strcmp(req->resource->store_name, "core/namespaces") == 0) {
        /* kube-apiserver's defaults for a new namespace. */
        json_t *spec = json_object_get(obj, "spec");
        if (!json_is_object(spec))
            json_object_set_new(obj, "spec", spec = json_object());
        if (!json_object_get(spec, "finalizers"))
            json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        json_t *labels = json_object_get(meta, "labels");
        if (!json_is_object(labels))
            json_object_set_new(meta, "labels", labels = json_object());
        json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
    }
    if (normalize_secret(req, obj, reply) || mc_server_sa_fill_token_secret(req, obj, reply) ||
        validate_object(req, obj, reply))
        goto out;
    if (is_crd(req) && prepare_crd(req, obj, reply))
        goto out;
    if (mc_server_apply_track(req, NULL, obj, reply))
        goto out;
    mc_err err = {0};
    if (mc_server_write_put(req, req->resource, ns, name, obj, &err) != MC_OK) {
        mc_server_reply_store_error(reply, req, &err);
        goto out;
    }
    crd_written(req, obj, 0);
    mc_server_reply_json(reply, 201, obj);
out:
    json_decref(obj);
}

static void handle_create(mc_server_request *req, mc_server_reply *reply)
{
    json_t *obj = mc_server_parse_body(req, reply);
    if (obj)
        create_object(req, obj, reply);
}

/* ---- update, patch (shared write path) ---- */

/* metadata.uid, when given, must be the object's: for PUT it is a
 * precondition (409, as kube's storage precondition check words it), for a
 * patch an immutable field (422). */
static int check_uid_unchanged(const mc_server_request *req, const json_t *current,
                               const json_t *next, mc_server_reply *reply)
{
    const char *want = mc_server_meta_string(current, "uid");
    const char *given = mc_server_meta_string(next, "uid");
    if (!given || !*given || (want && strcmp(given, want) == 0))
        return 0;
    char msg[700];
    if (strcmp(req->method, "PUT") == 0) {
        char qr[256];
        mc_server_qualified_resource(req->resource, qr, sizeof(qr));
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on %s \"%.253s\": Precondition failed: UID in "
                 "precondition: %.64s, UID in object meta: %s",
                 qr, req->name, given, want ? want : "");
        mc_server_reply_status(reply, 409, "Conflict", msg, req);
    } else {
        snprintf(msg, sizeof(msg), "metadata.uid: Invalid value: \"%.64s\": field is immutable",
                 given);
        reply_invalid(reply, req, req->name, msg);
    }
    return -1;
}

/* Writes next over current (both full objects) for PUT/PATCH on the main
 * resource or the status subresource: keeps what the client may not change,
 * applies generation and finalizer semantics, stores, replies. */
static void write_update(mc_server_request *req, const json_t *current, json_t *next,
                         const char *precondition_rv, mc_server_reply *reply)
{
    const char *ns = req->namespace ? req->namespace : "";
    const char *current_rv = mc_server_meta_string(current, "resourceVersion");
    if (check_meta_types(req, next, reply) || check_uid_unchanged(req, current, next, reply))
        return;
    if (precondition_rv && *precondition_rv && strcmp(precondition_rv, current_rv) != 0) {
        reply_conflict(reply, req, req->name);
        return;
    }
    json_t *meta = metadata_of(next);
    const json_t *cur_meta = json_object_get(current, "metadata");
    const char *next_name = json_string_value(json_object_get(meta, "name"));
    if (next_name && strcmp(next_name, req->name) != 0) {
        mc_server_reply_status(reply, 400, "BadRequest",
                               "the name of the object does not match the name on the URL", req);
        return;
    }
    if (req->subresource) {
        /* /status: only .status changes. */
        json_t *status = json_incref(json_object_get(next, "status"));
        json_t *merged = json_deep_copy(current);
        if (status)
            json_object_set_new(merged, "status", status);
        else
            json_object_del(merged, "status");
        json_object_clear(next);
        json_object_update(next, merged);
        json_decref(merged);
        meta = metadata_of(next);
    } else {
        if (req->resource->has_status) {
            json_t *old_status = json_object_get(current, "status");
            if (old_status)
                json_object_set(next, "status", old_status);
            else
                json_object_del(next, "status");
        }
        /* Fields the server owns. */
        static const char *const kept[] = {"uid", "creationTimestamp", "deletionTimestamp",
                                           "deletionGracePeriodSeconds", "namespace"};
        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
            json_t *v = json_object_get(cur_meta, kept[i]);
            if (v)
                json_object_set(meta, kept[i], v);
            else
                json_object_del(meta, kept[i]);
        }
        json_object_set_new(meta, "name", json_string(req->name));
        json_int_t generation = json_integer_value(json_object_get(cur_meta, "generation"));
        if (spec_changed(req->resource, current, next))
            generation++;
        json_object_set_new(meta, "generation", json_integer(generation ? generation : 1));
        if (normalize_secret(req, next, reply))
            return;
    }
    json_object_del(meta, "resourceVersion");
    if (secret_type_changed(req, current, next, reply))
        return;
    if (validate_object(req, next, reply))
        return;
    if (is_crd(req) && !req->subresource && prepare_crd(req, next, reply))
        return;
    if (mc_server_apply_track(req, current, next, reply))
        return;
    mc_err err = {0};
    /* A deleting object whose last finalizer is removed goes away now. */
    json_t *finalizers = json_object_get(meta, "finalizers");
    int deleting = json_object_get(meta, "deletionTimestamp") != NULL;
    if (deleting && json_array_size(finalizers) == 0) {
        if (mc_server_write_delete(req, req->resource, ns, req->name, &err) != MC_OK) {
            mc_server_reply_store_error(reply, req, &err);
            return;
        }
        crd_written(req, next, 1);
        const char *uid = mc_server_meta_string(next, "uid");
        if (uid && !req->dry_run)
            collect_dependents(req, uid, MC_GC_DELETE);
        mc_server_reply_json(reply, 200, next);
        return;
    }
    if (mc_server_write_put(req, req->resource, ns, req->name, next, &err) != MC_OK) {
        mc_server_reply_store_error(reply, req, &err);
        return;
    }
    crd_written(req, next, 0);
    mc_server_reply_json(reply, 200, next);
}

static void handle_update(mc_server_request *req, mc_server_reply *reply)
{
    json_t *obj = mc_server_parse_body(req, reply);
    if (!obj)
        return;
    const char *ns = req->namespace ? req->namespace : "";
    const json_t *current = NULL;
    if (check_type_meta(req, obj, reply))
        goto out;
    current = mc_store_get(req->server->store, req->cluster->name, req->resource->store_name, ns,
                           req->name);
    if (!current) {
        mc_server_reply_not_found(reply, req, req->name);
        goto out;
    }
    const char *rv = mc_server_meta_string(obj, "resourceVersion");
    char *rv_copy = rv ? mc_strdup(rv) : NULL;
    json_t *current_copy = json_deep_copy(current);
    write_update(req, current_copy, obj, rv_copy, reply);
    json_decref(current_copy);
    free(rv_copy);
out:
    json_decref(obj);
}

/* Server-side apply: apply.c computes the object and its managedFields;
 * the create or update path writes it like any other write. */
static void handle_apply(mc_server_request *req, mc_server_reply *reply)
{
    json_t *config = NULL, *next = NULL;
    char *precondition = NULL;
    if (mc_server_apply_parse(req, &config, reply) || check_type_meta(req, config, reply))
        goto out;
    const char *ns = req->namespace ? req->namespace : "";
    const json_t *current = mc_store_get(req->server->store, req->cluster->name,
                                         req->resource->store_name, ns, req->name);
    if (!current && req->subresource) {
        mc_server_reply_not_found(reply, req, req->name);
        goto out;
    }
    if (mc_server_apply_prepare(req, current, config, &next, &precondition, reply) || !next)
        goto out;
    if (current) {
        json_t *current_copy = json_deep_copy(current);
        write_update(req, current_copy, next, precondition, reply);
        json_decref(current_copy);
        json_decref(next);
    } else {
        create_object(req, next, reply);
    }
out:
    mc_server_apply_done(req);
    free(precondition);
    json_decref(config);
}

static void handle_patch(mc_server_request *req, mc_server_reply *reply)
{
    const char *type = mc_server_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    type = type ? type : "";
    int apply = mc_str_has_prefix(type, MC_SERVER_APPLY_CONTENT_TYPE);
    if (mc_server_apply_check_options(req, apply, reply))
        return;
    if (apply) {
        handle_apply(req, reply);
        return;
    }
    int strategic = mc_str_has_prefix(type, "application/strategic-merge-patch+json");
    int merge = strategic || mc_str_has_prefix(type, "application/merge-patch+json");
    int json_patch = mc_str_has_prefix(type, "application/json-patch+json");
    if (!merge && !json_patch) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json, "
                 "application/strategic-merge-patch+json, application/apply-patch+yaml (got "
                 "\"%.80s\")",
                 type);
        mc_server_reply_status(reply, 415, "UnsupportedMediaType", msg, req);
        return;
    }
    if (req->body_len == 0) {
        mc_server_reply_status(reply, 400, "BadRequest", "the request body is empty", req);
        return;
    }
    json_t *patch = NULL;
    mc_err err = {0};
    if (mc_api_json_parse(req->body, req->body_len, &patch, &err) != MC_OK) {
        char msg[700];
        snprintf(msg, sizeof(msg), "the patch is not valid JSON: %s", err.msg);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        return;
    }
    const char *ns = req->namespace ? req->namespace : "";
    const json_t *current = mc_store_get(req->server->store, req->cluster->name,
                                         req->resource->store_name, ns, req->name);
    json_t *doc = NULL;
    char *precondition = NULL;
    if (!current) {
        mc_server_reply_not_found(reply, req, req->name);
        goto out;
    }
    doc = json_deep_copy(current);
    int rc;
    if (strategic && !req->resource->crd_name) {
        /* kube: lists with a merge key merge item by item (containers by
         * name, ...); kubectl apply sends built-ins nothing else */
        const char *rv = mc_server_meta_string(patch, "resourceVersion");
        precondition = rv ? mc_strdup(rv) : NULL;
        rc = mc_json_strategic_merge_patch(&doc, patch, &err);
    } else if (merge) {
        strip_directives(patch);
        const char *rv = mc_server_meta_string(patch, "resourceVersion");
        precondition = rv ? mc_strdup(rv) : NULL;
        rc = json_is_object(patch) ? mc_json_merge_patch(&doc, patch, &err)
                                   : mc_err_set(&err, MC_EINVAL, "a merge patch must be an object");
    } else {
        rc = json_is_array(patch) ? mc_json_patch_apply(&doc, patch, &err)
                                  : mc_err_set(&err, MC_EINVAL, "a JSON patch must be an array");
    }
    if (rc != MC_OK) {
        char msg[700];
        snprintf(msg, sizeof(msg), "the patch could not be applied: %s", err.msg);
        /* kube-apiserver: a patch that does not apply (a failed test, a
         * missing path) is 422; the patch document itself was valid JSON. */
        mc_server_reply_status(reply, 422, "Invalid", msg, req);
        goto out;
    }
    if (!json_is_object(doc)) {
        mc_server_reply_status(reply, 422, "Invalid", "the patched object is not an object", req);
        goto out;
    }
    json_t *current_copy = json_deep_copy(current);
    write_update(req, current_copy, doc, precondition, reply);
    json_decref(current_copy);
out:
    free(precondition);
    json_decref(doc);
    json_decref(patch);
}

/* ---- delete ---- */


/* kube-apiserver's BeforeDelete: preconditions are checked before anything
 * is written. 0, or 409 with kube's message in err. */
static int check_delete_preconditions(const mc_server_resource *resource, const json_t *current,
                                      const char *name, const mc_server_delete_options *opts,
                                      mc_err *err)
{
    if (!opts)
        return 0;
    char qualified[300];
    snprintf(qualified, sizeof(qualified), "%s%s%s", resource->kind, resource->group[0] ? "." : "",
             resource->group);
    const char *uid = mc_server_meta_string(current, "uid");
    const char *rv = mc_server_meta_string(current, "resourceVersion");
    if (opts->precondition_uid && strcmp(opts->precondition_uid, uid ? uid : "") != 0) {
        mc_err_set(err, MC_ECONFLICT,
                   "Operation cannot be fulfilled on %s \"%.253s\": the UID in the precondition "
                   "(%.64s) does not match the UID in record (%s). The object might have been "
                   "deleted and then recreated",
                   qualified, name, opts->precondition_uid, uid ? uid : "");
        return 409;
    }
    if (opts->precondition_rv && strcmp(opts->precondition_rv, rv ? rv : "") != 0) {
        mc_err_set(err, MC_ECONFLICT,
                   "Operation cannot be fulfilled on %s \"%.253s\": the ResourceVersion in the "
                   "precondition (%.64s) does not match the ResourceVersion in record (%s). The "
                   "object might have been modified",
                   qualified, name, opts->precondition_rv, rv ? rv : "");
        return 409;
    }
    return 0;
}

/* Deletes one object (finalizers respected, dependents cascaded unless
 * opts says Orphan; opts may be NULL). Returns the HTTP status (409: err
 * holds kube's message); *result (new reference) receives the object as
 * returned. */
static int delete_one(mc_server_request *req, const mc_server_resource *resource, const char *ns,
                      const char *name, const mc_server_delete_options *opts, json_t **result,
                      mc_err *err)
{
    const json_t *current =
        mc_store_get(req->server->store, req->cluster->name, resource->store_name, ns, name);
    if (!current)
        return 404;
    int conflict = check_delete_preconditions(resource, current, name, opts, err);
    if (conflict)
        return conflict;
    int orphan = opts && opts->orphan;
    json_t *obj = json_deep_copy(current);
    json_t *meta = metadata_of(obj);
    char *uid = mc_strdup(mc_server_meta_string(obj, "uid"));
    if (json_array_size(json_object_get(meta, "finalizers")) > 0) {
        /* kube adds the "orphan" finalizer and its collector orphans the
         * dependents while the finalizers run; orphaning them now ends the
         * same. Otherwise they go when the object does (write_update). */
        if (orphan && uid && !req->dry_run)
            collect_dependents(req, uid, MC_GC_ORPHAN);
        free(uid);
        if (!json_object_get(meta, "deletionTimestamp")) {
            char now[40];
            now_rfc3339(now, sizeof(now));
            json_object_set_new(meta, "deletionTimestamp", json_string(now));
            json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(0));
            json_object_del(meta, "resourceVersion");
            if (mc_server_write_put(req, resource, ns, name, obj, err) != MC_OK) {
                json_decref(obj);
                return 500;
            }
        }
        *result = obj;
        return 200;
    }
    /* Foreground: the dependents go before the owner. */
    if (opts && opts->foreground && !orphan && uid && !req->dry_run)
        collect_dependents(req, uid, MC_GC_DELETE);
    if (mc_server_write_delete(req, resource, ns, name, err) != MC_OK) {
        free(uid);
        json_decref(obj);
        return 500;
    }
    if (req->dry_run) {
        /* Cascades (CRD, namespace contents, dependents) are not simulated
         * object by object: kube's dry run does not run them either. */
        free(uid);
        *result = obj;
        return 200;
    }
    if (strcmp(resource->store_name, "apiextensions.k8s.io/customresourcedefinitions") == 0)
        mc_server_registry_remove_crd(req->cluster->registry, name);
    if (strcmp(resource->store_name, "core/namespaces") == 0) {
        /* The namespace's contents go with it. */
        mc_server_registry *reg = req->cluster->registry;
        for (size_t i = 0; i < mc_server_registry_count(reg); i++) {
            const mc_server_resource *r = mc_server_registry_at(reg, i);
            if (!r->namespaced)
                continue;
            const json_t **items = NULL;
            size_t n = 0;
            int more = 0;
            if (mc_store_list(req->server->store, req->cluster->name, r->store_name, name, NULL,
                              NULL, 0, &items, &n, &more, NULL) != MC_OK)
                continue;
            char **names = calloc(n ? n : 1, sizeof(char *));
            for (size_t k = 0; names && k < n; k++)
                names[k] = mc_strdup(mc_server_meta_string(items[k], "name"));
            free(items);
            for (size_t k = 0; names && k < n; k++) {
                mc_store_delete(req->server->store, req->cluster->name, r->store_name, name,
                                names[k], NULL, NULL);
                free(names[k]);
            }
            free(names);
        }
    }
    if (uid)
        collect_dependents(req, uid, orphan ? MC_GC_ORPHAN : MC_GC_DELETE);
    free(uid);
    *result = obj;
    return 200;
}

/* Whether the owner an ownerReference names (in ns for a namespaced kind)
 * exists with the reference's uid. */
static int owner_exists(const mc_server_request *req, const char *ns, const json_t *ref)
{
    const char *api_version = json_string_value(json_object_get(ref, "apiVersion"));
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!api_version || !kind || !name || !uid)
        return 0;
    mc_server_registry *reg = req->cluster->registry;
    for (size_t i = 0; i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        char want[256];
        mc_server_api_version(r, want, sizeof(want));
        if (strcmp(r->kind, kind) != 0 || strcmp(want, api_version) != 0)
            continue;
        const json_t *owner = mc_store_get(req->server->store, req->cluster->name, r->store_name,
                                           r->namespaced ? ns : "", name);
        const char *owner_uid = owner ? mc_server_meta_string(owner, "uid") : NULL;
        return owner_uid && strcmp(owner_uid, uid) == 0;
    }
    return 0;
}

/* Removes the references to owner_uid from a dependent (stored as a
 * modification, watchers see it). */
static void drop_owner_reference(mc_server_request *req, const mc_server_resource *r,
                                 const char *ns, const char *name, const char *owner_uid)
{
    const json_t *current =
        mc_store_get(req->server->store, req->cluster->name, r->store_name, ns, name);
    if (!current)
        return;
    json_t *obj = json_deep_copy(current);
    json_t *meta = metadata_of(obj);
    json_t *refs = json_object_get(meta, "ownerReferences");
    for (size_t j = json_array_size(refs); j-- > 0;) {
        const char *uid = json_string_value(json_object_get(json_array_get(refs, j), "uid"));
        if (uid && strcmp(uid, owner_uid) == 0)
            json_array_remove(refs, j);
    }
    if (json_array_size(refs) == 0)
        json_object_del(meta, "ownerReferences");
    json_object_del(meta, "resourceVersion");
    mc_server_write_put(req, r, ns, name, obj, NULL);
    json_decref(obj);
}

/* One dependent of a deleted owner, as kube's garbage collector treats it:
 * orphaned (the reference removed), kept without the reference while
 * another of its owners still exists, or deleted (its own dependents in
 * turn). */
static void collect_one(mc_server_request *req, const mc_server_resource *r, const char *ns,
                        const char *name, const char *owner_uid, gc_action action)
{
    const json_t *current =
        mc_store_get(req->server->store, req->cluster->name, r->store_name, ns, name);
    if (!current)
        return;
    int other_owner = 0;
    size_t j;
    const json_t *ref;
    json_array_foreach(json_object_get(json_object_get(current, "metadata"), "ownerReferences"), j,
                       ref)
    {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && strcmp(uid, owner_uid) != 0 && owner_exists(req, ns, ref))
            other_owner = 1;
    }
    if (action == MC_GC_ORPHAN || other_owner) {
        drop_owner_reference(req, r, ns, name, owner_uid);
        return;
    }
    json_t *gone = NULL;
    if (delete_one(req, r, ns, name, NULL, &gone, NULL) == 200)
        json_decref(gone);
}

/* Garbage collection, done at once: every object whose ownerReferences name
 * owner_uid is deleted (recursively) or orphaned. */
static void collect_dependents(mc_server_request *req, const char *owner_uid, gc_action action)
{
    mc_server_registry *reg = req->cluster->registry;
    for (size_t i = 0; i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        const json_t **items = NULL;
        size_t n = 0;
        int more = 0;
        if (mc_store_list(req->server->store, req->cluster->name, r->store_name, NULL, NULL, NULL,
                          0, &items, &n, &more, NULL) != MC_OK)
            continue;
        /* Copy the keys first: writing invalidates the borrowed objects. */
        char **keys = calloc(n ? 2 * n : 1, sizeof(char *));
        size_t found = 0;
        for (size_t k = 0; keys && k < n; k++) {
            const json_t *refs =
                json_object_get(json_object_get(items[k], "metadata"), "ownerReferences");
            size_t j;
            const json_t *ref;
            json_array_foreach(refs, j, ref)
            {
                const char *uid = json_string_value(json_object_get(ref, "uid"));
                if (uid && strcmp(uid, owner_uid) == 0) {
                    const char *ns = mc_server_meta_string(items[k], "namespace");
                    keys[2 * found] = mc_strdup(ns ? ns : "");
                    keys[2 * found + 1] = mc_strdup(mc_server_meta_string(items[k], "name"));
                    found++;
                    break;
                }
            }
        }
        free(items);
        for (size_t k = 0; keys && k < found; k++) {
            if (keys[2 * k] && keys[2 * k + 1])
                collect_one(req, r, keys[2 * k], keys[2 * k + 1], owner_uid, action);
            free(keys[2 * k]);
            free(keys[2 * k + 1]);
        }
        free(keys);
    }
}

static void handle_delete(mc_server_request *req, mc_server_reply *reply)
{
    mc_server_delete_options opts;
    if (mc_server_delete_options_parse(req, &opts, reply))
        return;
    json_t *result = NULL;
    mc_err err = {0};
    const char *ns = req->namespace ? req->namespace : "";
    int status = delete_one(req, req->resource, ns, req->name, &opts, &result, &err);
    mc_server_delete_options_free(&opts);
    if (status == 404)
        mc_server_reply_not_found(reply, req, req->name);
    else if (status == 409)
        mc_server_reply_status(reply, 409, "Conflict", err.msg, req);
    else if (status == 500)
        mc_server_reply_store_error(reply, req, &err);
    else
        mc_server_reply_json(reply, 200, result);
    json_decref(result);
}

static void handle_delete_collection(mc_server_request *req, mc_server_reply *reply)
{
    mc_server_delete_options opts;
    if (mc_server_delete_options_parse(req, &opts, reply))
        return;
    /* As kube's DeleteCollection: the options apply to each object. */
    const json_t **matched = NULL;
    size_t n = 0;
    if (mc_server_select_all(req, reply, &matched, &n)) {
        mc_server_delete_options_free(&opts);
        return;
    }
    /* Copy the keys first: deleting invalidates the borrowed objects. */
    char **keys = calloc(n ? 2 * n : 1, sizeof(char *));
    for (size_t i = 0; keys && i < n; i++) {
        const char *ns = mc_server_meta_string(matched[i], "namespace");
        keys[2 * i] = mc_strdup(ns ? ns : "");
        keys[2 * i + 1] = mc_strdup(mc_server_meta_string(matched[i], "name"));
    }
    free(matched);
    json_t *items = json_array();
    for (size_t i = 0; keys && i < n; i++) {
        json_t *gone = NULL;
        if (keys[2 * i] && keys[2 * i + 1] &&
            delete_one(req, req->resource, keys[2 * i], keys[2 * i + 1], &opts, &gone, NULL) == 200)
            json_array_append_new(items, gone);
        free(keys[2 * i]);
        free(keys[2 * i + 1]);
    }
    free(keys);
    mc_server_delete_options_free(&opts);
    char api_version[256];
    mc_server_api_version(req->resource, api_version, sizeof(api_version));
    json_t *list = json_pack("{s:s,s:s,s:{},s:o}", "apiVersion", api_version, "kind",
                             req->resource->list_kind, "metadata", "items", items);
    mc_server_reply_json(reply, 200, list);
    json_decref(list);
}

/* ---- dispatch ---- */

static void reply_method_not_allowed(mc_server_reply *reply, const mc_server_request *req)
{
    mc_server_reply_status(reply, 405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource", req);
}

/* A named object or its /status: GET, PUT, PATCH, and DELETE on the object. */
static void handle_object(mc_server_request *req, mc_server_reply *reply, int allow_delete)
{
    const char *m = req->method;
    if (strcmp(m, "GET") == 0)
        mc_server_handle_get(req, reply);
    else if (strcmp(m, "PUT") == 0)
        handle_update(req, reply);
    else if (strcmp(m, "PATCH") == 0)
        handle_patch(req, reply);
    else if (allow_delete && strcmp(m, "DELETE") == 0)
        handle_delete(req, reply);
    else
        reply_method_not_allowed(reply, req);
}

/* dryRun of create, update and patch (any patch type, apply included) is
 * read here, once, so that every write path below honors req->dry_run;
 * delete reads it with the rest of its DeleteOptions. 0, or -1 with a reply. */
static int read_write_options(mc_server_request *req, mc_server_reply *reply)
{
    const char *m = req->method;
    const char *kind = strcmp(m, "POST") == 0    ? "CreateOptions"
                       : strcmp(m, "PUT") == 0   ? "UpdateOptions"
                       : strcmp(m, "PATCH") == 0 ? "PatchOptions"
                                                 : NULL;
    return kind ? mc_server_options_dry_run(req, kind, reply) : 0;
}

/* kube's warnings (299) for what a write dropped. The reply body becomes a
 * prepared response carrying them, which http.c queues as it queues a watch
 * stream. */
static void attach_warnings(mc_server_request *req, mc_server_reply *reply)
{
    json_t *warnings = req->warnings;
    req->warnings = NULL;
    if (warnings && !reply->stream && reply->body && reply->status < 300) {
        struct MHD_Response *response = MHD_create_response_from_buffer(
            strlen(reply->body), reply->body, MHD_RESPMEM_MUST_FREE);
        if (response) {
            reply->body = NULL;
            size_t i;
            json_t *w;
            json_array_foreach(warnings, i, w)
            {
                mc_buf header;
                mc_buf_init(&header, 4096);
                mc_buf_append(&header, "299 - \"", 7);
                for (const char *c = json_string_value(w); *c; c++) {
                    if (*c == '"' || *c == '\\')
                        mc_buf_append(&header, "\\", 1);
                    mc_buf_append(&header, c, 1);
                }
                mc_buf_append(&header, "\"", 1);
                if (header.data)
                    MHD_add_response_header(response, "Warning", header.data);
                mc_buf_free(&header);
            }
            reply->stream = response;
        }
    }
    json_decref(warnings);
}

static void handle_verb(mc_server_request *req, mc_server_reply *reply);

void mc_server_handle(mc_server_request *req, mc_server_reply *reply)
{
    handle_verb(req, reply);
    attach_warnings(req, reply);
}

static void handle_verb(mc_server_request *req, mc_server_reply *reply)
{
    const char *m = req->method;
    if (mc_server_authz_check(req, reply))
        return;
    if (req->resource->create_only) {
        mc_server_authz_handle_review(req, reply);
        return;
    }
    if (req->subresource && strcmp(req->subresource, "token") == 0 && req->name &&
        strcmp(req->resource->store_name, "core/serviceaccounts") == 0) {
        mc_server_sa_handle_token_request(req, reply);
        return;
    }
    if (read_write_options(req, reply))
        return;
    if (req->subresource) {
        if (strcmp(req->subresource, "status") != 0 || !req->resource->has_status || !req->name)
            mc_server_reply_status(reply, 404, "NotFound",
                                   "the server could not find the requested resource", req);
        else
            handle_object(req, reply, 0);
        return;
    }
    if (req->name) {
        handle_object(req, reply, 1);
        return;
    }
    if (strcmp(m, "GET") == 0)
        mc_server_handle_list(req, reply);
    else if (strcmp(m, "POST") == 0 && (req->namespace || !req->resource->namespaced))
        handle_create(req, reply);
    else if (strcmp(m, "DELETE") == 0)
        handle_delete_collection(req, reply);
    else
        reply_method_not_allowed(reply, req);
}
