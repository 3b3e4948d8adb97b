/* apply.c - server-side apply and managedFields for the embedded server:
 * request options, the apply body, the schema each kind is merged with
 * (a CRD's openAPIV3Schema; for Secrets and ConfigMaps their maps; other
 * built-ins deduced), and the managedFields of every write. Field-set
 * logic is api/managed.c; handlers.c writes the result through its create
 * and update paths.
 */
#include "server/apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/codec.h"
#include "api/managed.h"
#include "api/time.h"
#include "server/yaml.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* The built-in kinds whose maps apply merges key by key (their other
 * fields are scalars). Every other built-in is deduced: objects are maps,
 * lists are atomic. */
static const char secret_schema[] =
    "{\"type\":\"object\",\"properties\":{\"apiVersion\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\"},"
    "\"type\":{\"type\":\"string\"},\"immutable\":{\"type\":\"boolean\"},"
    "\"data\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"stringData\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}}}";
static const char configmap_schema[] =
    "{\"type\":\"object\",\"properties\":{\"apiVersion\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\"},"
    "\"immutable\":{\"type\":\"boolean\"},"
    "\"data\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"binaryData\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}}}";

/* The schema the request's resource is merged with: new reference or NULL. */
static json_t *schema_of(const mc_server_resource *r)
{
    if (r->schema)
        return json_incref(r->schema);
    if (strcmp(r->store_name, "core/secrets") == 0)
        return json_loads(secret_schema, 0, NULL);
    if (strcmp(r->store_name, "core/configmaps") == 0)
        return json_loads(configmap_schema, 0, NULL);
    return NULL;
}

/* The op of a request; fills the caller's buffers. schema: new reference
 * held by the caller. */
static void op_of(const mc_server_request *req, const char *manager, json_t *schema,
                  char *api_version, size_t api_version_size, char *now, size_t now_size,
                  mc_managed_op *op)
{
    mc_server_api_version(req->resource, api_version, api_version_size);
    mc_time_format((int64_t)time(NULL), now, now_size);
    memset(op, 0, sizeof(*op));
    op->manager = manager;
    op->api_version = api_version;
    op->subresource = req->subresource ? req->subresource : "";
    op->now = now;
    if (req->subresource)
        op->scope = MC_MANAGED_SCOPE_STATUS;
    else
        op->scope = req->resource->has_status ? MC_MANAGED_SCOPE_MAIN : MC_MANAGED_SCOPE_ALL;
    op->type.schema = schema;
}

/* 422 for request options, as kube words it:
 * `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: ...`. */
static int reply_options_invalid(mc_server_reply *reply, const char *kind, const char *field,
                                 const char *reason, const char *detail)
{
    char message[768];
    snprintf(message, sizeof(message), "%s.meta.k8s.io \"\" is invalid: %s: %s", kind, field,
             detail);
    json_t *status =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:s,s:s,s:s,s:[{s:s,s:s,s:s}]},s:i}", "kind",
                  "Status", "apiVersion", "v1", "metadata", "status", "Failure", "message", message,
                  "reason", "Invalid", "details", "name", "", "group", "meta.k8s.io", "kind", kind,
                  "causes", "reason", reason, "message", detail, "field", field, "code", 422);
    mc_server_reply_json(reply, 422, status);
    json_decref(status);
    return -1;
}

static const char *options_kind(const mc_server_request *req)
{
    if (strcmp(req->method, "POST") == 0)
        return "CreateOptions";
    return strcmp(req->method, "PUT") == 0 ? "UpdateOptions" : "PatchOptions";
}

/* The fieldManager query parameter, checked; NULL when absent. -1 with a
 * 422 in reply when invalid. */
static int field_manager_param(const mc_server_request *req, const char **manager,
                               mc_server_reply *reply)
{
    *manager = mc_server_query(req, "fieldManager");
    if (!*manager || !**manager) {
        *manager = NULL;
        return 0;
    }
    mc_err err = {0};
    if (mc_managed_check_manager(*manager, &err) == MC_OK)
        return 0;
    return reply_options_invalid(reply, options_kind(req), "fieldManager",
                                 mc_str_has_prefix(err.msg, "Too long") ? "FieldValueTooLong"
                                                                        : "FieldValueInvalid",
                                 err.msg);
}

int mc_server_apply_check_options(const mc_server_request *req, int apply, mc_server_reply *reply)
{
    const char *manager = NULL;
    if (!apply && mc_server_query(req, "force"))
        return reply_options_invalid(reply, "PatchOptions", "force", "FieldValueForbidden",
                                     "Forbidden: may not be specified for non-apply patch");
    if (field_manager_param(req, &manager, reply))
        return -1;
    if (apply && !manager)
        return reply_options_invalid(reply, "PatchOptions", "fieldManager", "FieldValueRequired",
                                     "Required value: is required for apply patch");
    return 0;
}

int mc_server_apply_parse(const mc_server_request *req, json_t **config, mc_server_reply *reply)
{
    *config = NULL;
    size_t i = 0;
    while (i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\n' ||
                                 req->body[i] == '\r' || req->body[i] == '\t'))
        i++;
    if (i == req->body_len) {
        mc_server_reply_status(reply, 400, "BadRequest", "the request body is empty", req);
        return -1;
    }
    mc_err err = {0};
    int rc = req->body[i] == '{' ? mc_api_json_parse(req->body, req->body_len, config, &err)
                                 : mc_server_yaml_to_json(req->body, req->body_len, config, &err);
    if (rc == MC_OK && json_is_object(*config))
        return 0;
    json_decref(*config);
    *config = NULL;
    char message[700];
    snprintf(message, sizeof(message), "error decoding the apply configuration: %s",
             rc == MC_OK ? "it is not an object" : err.msg);
    mc_server_reply_status(reply, 400, "BadRequest", message, req);
    return -1;
}

/* Checks the configuration's metadata against the request (kube's checks
 * before apply): no managedFields, the URL's name and namespace. Fills a
 * missing name from the URL. Returns 0, or -1 with a 400 in reply. */
static int check_config_metadata(const mc_server_request *req, json_t *config,
                                 mc_server_reply *reply)
{
    json_t *meta = json_object_get(config, "metadata");
    if (!meta) {
        meta = json_object();
        json_object_set_new(config, "metadata", meta);
    }
    if (!json_is_object(meta)) {
        mc_server_reply_status(reply, 400, "BadRequest", "metadata must be an object", req);
        return -1;
    }
    json_t *managed = json_object_get(meta, "managedFields");
    if (managed && !json_is_null(managed)) {
        mc_server_reply_status(reply, 400, "BadRequest", "metadata.managedFields must be nil", req);
        return -1;
    }
    json_object_del(meta, "managedFields");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name || !*name) {
        json_object_set_new(meta, "name", json_string(req->name));
    } else if (strcmp(name, req->name) != 0) {
        char message[700];
        snprintf(message, sizeof(message),
                 "the name of the object (%.253s) does not match the name on the URL (%.253s)",
                 name, req->name);
        mc_server_reply_status(reply, 400, "BadRequest", message, req);
        return -1;
    }
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (req->resource->namespaced && ns && *ns && strcmp(ns, req->namespace) != 0) {
        mc_server_reply_status(reply, 400, "BadRequest",
                               "the namespace of the provided object does not match the "
                               "namespace sent on the request",
                               req);
        return -1;
    }
    return 0;
}

/* 409 Conflict with kube's message and details.causes. */
static void reply_apply_conflict(mc_server_reply *reply, const json_t *conflicts)
{
    char *message = mc_managed_conflict_message(conflicts);
    json_t *status = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:o},s:i}", "kind", "Status",
                               "apiVersion", "v1", "metadata", "status", "Failure", "message",
                               message ? message : "Apply failed", "reason", "Conflict", "details",
                               "causes", mc_managed_conflict_causes(conflicts), "code", 409);
    mc_server_reply_json(reply, 409, status);
    json_decref(status);
    free(message);
}

/* The stored managedFields of obj, decoded; none when they do not decode. */
static void decode_stored(const json_t *obj, mc_managed *m)
{
    const json_t *stored =
        obj ? json_object_get(json_object_get(obj, "metadata"), "managedFields") : NULL;
    if (mc_managed_decode(stored, m, NULL) != MC_OK)
        mc_managed_clear(m);
}

int mc_server_apply_prepare(mc_server_request *req, const json_t *current, json_t *config,
                            json_t **next, char **precondition, mc_server_reply *reply)
{
    *next = NULL;
    *precondition = NULL;
    if (check_config_metadata(req, config, reply))
        return -1;
    const char *rv =
        json_string_value(json_object_get(json_object_get(config, "metadata"), "resourceVersion"));
    const char *manager = mc_server_query(req, "fieldManager");
    const char *force = mc_server_query(req, "force");
    json_t *schema = schema_of(req->resource);
    char api_version[256], now[40];
    mc_managed_op op;
    op_of(req, manager ? manager : "", schema, api_version, sizeof(api_version), now, sizeof(now),
          &op);
    mc_managed m = {0};
    decode_stored(current, &m);
    json_t *merged = NULL, *conflicts = NULL;
    int changed = 0, result = -1;
    mc_err err = {0};
    int rc = mc_managed_apply(&m, &op, current, config, force && strcmp(force, "true") == 0,
                              &merged, &changed, &conflicts, &err);
    if (rc == MC_ECONFLICT && conflicts) {
        reply_apply_conflict(reply, conflicts);
        goto out;
    }
    if (rc != MC_OK) {
        mc_server_reply_status(reply, rc == MC_ENOMEM ? 500 : 422,
                               rc == MC_ENOMEM ? "InternalError" : "Invalid", err.msg, req);
        goto out;
    }
    json_t *encoded = mc_managed_encode(&m);
    if (!encoded) {
        mc_server_reply_status(reply, 500, "InternalError", "out of memory", req);
        goto out;
    }
    const json_t *stored =
        current ? json_object_get(json_object_get(current, "metadata"), "managedFields") : NULL;
    int same_owners =
        stored ? json_equal(encoded, (json_t *)stored) : json_array_size(encoded) == 0;
    if (current && !changed && same_owners) {
        /* Nothing to write: kube answers with the object as it is. */
        json_decref(encoded);
        mc_server_reply_json(reply, 200, current);
        result = 0;
        goto out;
    }
    json_decref(req->applied_managed_fields);
    req->applied_managed_fields = encoded;
    *precondition = rv ? mc_strdup(rv) : NULL;
    *next = merged;
    merged = NULL;
    result = 0;
out:
    mc_managed_clear(&m);
    json_decref(merged);
    json_decref(conflicts);
    json_decref(schema);
    return result;
}

void mc_server_apply_done(mc_server_request *req)
{
    json_decref(req->applied_managed_fields);
    req->applied_managed_fields = NULL;
}

static void set_managed_fields(json_t *meta, json_t *encoded)
{
    if (json_array_size(encoded) > 0)
        json_object_set(meta, "managedFields", encoded);
    else
        json_object_del(meta, "managedFields");
}

int mc_server_apply_track(mc_server_request *req, const json_t *current, json_t *next,
                          mc_server_reply *reply)
{
    json_t *meta = json_object_get(next, "metadata");
    if (!json_is_object(meta))
        return 0;
    if (req->applied_managed_fields) {
        set_managed_fields(meta, req->applied_managed_fields);
        return 0;
    }
    const char *manager = NULL;
    if (field_manager_param(req, &manager, reply))
        return -1;
    char from_agent[MC_MANAGED_MANAGER_MAX + 1];
    if (!manager) {
        mc_managed_manager_from_user_agent(mc_server_header(req, "User-Agent"), from_agent,
                                           sizeof(from_agent));
        manager = from_agent;
    }
    /* Where the bookkeeping starts: the stored entries, unless the client
     * sent its own (kept when they decode; [] or [{}] clear them). A status
     * write cannot change them, and a create's are the server's. */
    mc_managed m = {0};
    const json_t *sent = json_object_get(meta, "managedFields");
    int own = current && !req->subresource &&
              (mc_managed_is_reset(sent) ||
               (json_array_size(sent) > 0 && mc_managed_decode(sent, &m, NULL) == MC_OK));
    if (!own)
        decode_stored(current, &m);
    json_t *schema = schema_of(req->resource);
    char api_version[256], now[40];
    mc_managed_op op;
    op_of(req, manager, schema, api_version, sizeof(api_version), now, sizeof(now), &op);
    mc_err err = {0};
    if (mc_managed_update(&m, &op, current, next, &err) != MC_OK) {
        /* kube drops managedFields it cannot compute rather than fail a write */
        mc_log_warn("server", "managedFields of %s/%s dropped: %s", req->resource->plural,
                    req->name ? req->name : "", err.msg);
        json_object_del(meta, "managedFields");
    } else {
        json_t *encoded = mc_managed_encode(&m);
        set_managed_fields(meta, encoded);
        json_decref(encoded);
    }
    mc_managed_clear(&m);
    json_decref(schema);
    return 0;
}
