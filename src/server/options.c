/* options.c - CreateOptions, UpdateOptions, PatchOptions and DeleteOptions
 * of the write verbs (see options.h), checked the way kube-apiserver's
 * handlers do (apimachinery's ValidateDryRun and ValidateDeleteOptions): the
 * only dryRun value is "All"; propagationPolicy is Foreground, Background or
 * Orphan; DeleteOptions come from the body when there is one, else from the
 * query. The error texts are kube's, since clients show them verbatim.
 */
#include "server/options.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "server/protobuf.h"
#include "util/buf.h"
#include "util/str.h"

/* Appends s as Go's %q prints it (enough of it for option values). */
static void append_go_quoted(mc_buf *out, const char *s)
{
    mc_buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            mc_buf_appendf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            mc_buf_appendf(out, "\\x%02x", *p);
        else
            mc_buf_append(out, (const char *)p, 1);
    }
    mc_buf_append(out, "\"", 1);
}

/* 422 Invalid for one field of "<kind>.meta.k8s.io", as errors.NewInvalid
 * words it: `<kind>.meta.k8s.io "" is invalid: <field>: <body>`. */
static int reply_options_invalid(mc_server_reply *reply, const char *options_kind,
                                 const char *field, const char *cause_reason, const char *body)
{
    mc_buf msg;
    mc_buf_init(&msg, 8192);
    mc_buf_appendf(&msg, "%s.meta.k8s.io \"\" is invalid: %s: %s", options_kind, field, body);
    json_t *status =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:s,s:s,s:[{s:s,s:s,s:s}]},s:i}", "kind", "Status",
                  "apiVersion", "v1", "metadata", "status", "Failure", "message",
                  msg.data ? msg.data : "invalid options", "reason", "Invalid", "details", "group",
                  "meta.k8s.io", "kind", options_kind, "causes", "reason", cause_reason, "message",
                  body, "field", field, "code", 422);
    mc_server_reply_json(reply, 422, status);
    json_decref(status);
    mc_buf_free(&msg);
    return -1;
}

/* Checks a list of dryRun values (json array of strings): sets *dry_run, or
 * fills a 422 and returns -1. kube: every value must be "All". */
static int check_dry_run(const json_t *values, const char *options_kind, int *dry_run,
                         mc_server_reply *reply)
{
    size_t i;
    const json_t *v;
    int ok = 1;
    json_array_foreach(values, i, v)
    {
        if (strcmp(json_string_value(v), "All") != 0)
            ok = 0;
    }
    if (ok) {
        *dry_run = json_array_size(values) > 0;
        return 0;
    }
    mc_buf body;
    mc_buf_init(&body, 4096);
    mc_buf_appendf(&body, "Unsupported value: []string{");
    json_array_foreach(values, i, v)
    {
        if (i)
            mc_buf_append(&body, ", ", 2);
        append_go_quoted(&body, json_string_value(v));
    }
    mc_buf_appendf(&body, "}: supported values: \"All\"");
    reply_options_invalid(reply, options_kind, "dryRun", "FieldValueNotSupported",
                          body.data ? body.data : "Unsupported value");
    mc_buf_free(&body);
    return -1;
}

/* MHD iterator: collects the values of the query parameter named in ctx. */
typedef struct query_values {
    const char *key;
    json_t *values; /* array of strings */
} query_values;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    query_values *q = cls;
    if (key && strcmp(key, q->key) == 0)
        json_array_append_new(q->values, json_string(value ? value : ""));
    return MHD_YES;
}

/* Every value of query parameter key, in order (new array). */
static json_t *query_all(const mc_server_request *req, const char *key)
{
    query_values q = {key, json_array()};
    if (q.values)
        MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, collect_value, &q);
    return q.values;
}

int mc_server_options_dry_run(mc_server_request *req, const char *options_kind,
                              mc_server_reply *reply)
{
    json_t *values = query_all(req, "dryRun");
    int rc = values ? check_dry_run(values, options_kind, &req->dry_run, reply) : -1;
    if (!values)
        mc_server_reply_status(reply, 500, "InternalError", "out of memory", NULL);
    json_decref(values);
    return rc;
}

static int check_propagation(const char *policy, mc_server_delete_options *opts,
                             mc_server_reply *reply)
{
    if (!policy)
        return 0;
    if (strcmp(policy, "Orphan") == 0) {
        opts->orphan = 1;
        return 0;
    }
    if (strcmp(policy, "Foreground") == 0) {
        opts->foreground = 1;
        return 0;
    }
    if (strcmp(policy, "Background") == 0)
        return 0;
    mc_buf body;
    mc_buf_init(&body, 1024);
    mc_buf_appendf(&body, "Unsupported value: ");
    append_go_quoted(&body, policy);
    mc_buf_appendf(&body,
                   ": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
    reply_options_invalid(reply, "DeleteOptions", "propagationPolicy", "FieldValueNotSupported",
                          body.data ? body.data : "Unsupported value");
    mc_buf_free(&body);
    return -1;
}

/* 400 for a DeleteOptions body field of the wrong JSON type, in the words of
 * Go's decoder. */
static int reply_wrong_type(mc_server_reply *reply, const mc_server_request *req, const char *field,
                            const char *want)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "json: cannot unmarshal DeleteOptions: field %s must be %s", field,
             want);
    mc_server_reply_status(reply, 400, "BadRequest", msg, req);
    return -1;
}

/* The optional string at obj[key]: 0 with *out (borrowed, NULL when absent or
 * null), -1 with a 400 when it is another type. */
static int optional_string(const json_t *obj, const char *key, const char *field, const char **out,
                           const mc_server_request *req, mc_server_reply *reply)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return reply_wrong_type(reply, req, field, "a string");
    *out = json_string_value(v);
    return 0;
}

static int options_from_body(mc_server_request *req, const json_t *body,
                             mc_server_delete_options *opts, mc_server_reply *reply)
{
    const json_t *pre = json_object_get(body, "preconditions");
    const char *rv = NULL, *uid = NULL, *policy = NULL;
    if (pre && !json_is_null(pre) && !json_is_object(pre))
        return reply_wrong_type(reply, req, "preconditions", "an object");
    if (optional_string(pre, "resourceVersion", "preconditions.resourceVersion", &rv, req, reply) ||
        optional_string(pre, "uid", "preconditions.uid", &uid, req, reply) ||
        optional_string(body, "propagationPolicy", "propagationPolicy", &policy, req, reply))
        return -1;
    const json_t *orphan = json_object_get(body, "orphanDependents");
    if (orphan && !json_is_null(orphan) && !json_is_boolean(orphan))
        return reply_wrong_type(reply, req, "orphanDependents", "a boolean");
    const json_t *grace = json_object_get(body, "gracePeriodSeconds");
    if (grace && !json_is_null(grace) && !json_is_integer(grace))
        return reply_wrong_type(reply, req, "gracePeriodSeconds", "an integer");
    const json_t *dry = json_object_get(body, "dryRun");
    json_t *dry_values = json_array();
    int rc = 0;
    if (dry && !json_is_null(dry)) {
        size_t i;
        const json_t *v;
        if (!json_is_array(dry))
            rc = reply_wrong_type(reply, req, "dryRun", "an array of strings");
        json_array_foreach(dry, i, v)
        {
            if (rc == 0 && !json_is_string(v))
                rc = reply_wrong_type(reply, req, "dryRun", "an array of strings");
            json_array_append(dry_values, (json_t *)v);
        }
    }
    if (rc == 0)
        rc = check_dry_run(dry_values, "DeleteOptions", &req->dry_run, reply);
    json_decref(dry_values);
    if (rc)
        return -1;
    if (orphan && !json_is_null(orphan) && policy) {
        char body_msg[300];
        snprintf(body_msg, sizeof(body_msg),
                 "Invalid value: \"%.100s\": orphanDependents and deletionPropagation cannot be "
                 "both set",
                 policy);
        return reply_options_invalid(reply, "DeleteOptions", "propagationPolicy",
                                     "FieldValueInvalid", body_msg);
    }
    if (check_propagation(policy, opts, reply))
        return -1;
    if (json_is_true(orphan))
        opts->orphan = 1;
    opts->precondition_rv = rv ? mc_strdup(rv) : NULL;
    opts->precondition_uid = uid ? mc_strdup(uid) : NULL;
    return 0;
}

int mc_server_delete_options_parse(mc_server_request *req, mc_server_delete_options *opts,
                                   mc_server_reply *reply)
{
    memset(opts, 0, sizeof(*opts));
    const char *type = mc_server_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    /* Typed clients may send DeleteOptions as protobuf, which is not decoded:
     * those requests keep to the query, as before. */
    int body_is_json =
        req->body_len > 0 && !(type && mc_str_has_prefix(type, MC_PROTOBUF_CONTENT_TYPE));
    if (body_is_json) {
        json_t *body = NULL;
        mc_err err = {0};
        if (mc_api_json_parse(req->body, req->body_len, &body, &err) != MC_OK ||
            !json_is_object(body)) {
            char msg[700];
            snprintf(msg, sizeof(msg), "the DeleteOptions body is not a JSON object%s%s",
                     err.msg[0] ? ": " : "", err.msg);
            mc_server_reply_status(reply, 400, "BadRequest", msg, req);
            json_decref(body);
            return -1;
        }
        int rc = options_from_body(req, body, opts, reply);
        json_decref(body);
        if (rc)
            mc_server_delete_options_free(opts);
        return rc;
    }
    json_t *dry_values = query_all(req, "dryRun");
    int rc = dry_values ? check_dry_run(dry_values, "DeleteOptions", &req->dry_run, reply) : -1;
    if (!dry_values)
        mc_server_reply_status(reply, 500, "InternalError", "out of memory", NULL);
    json_decref(dry_values);
    if (rc)
        return -1;
    const char *orphan = mc_server_query(req, "orphanDependents");
    if (orphan && strcmp(orphan, "true") == 0)
        opts->orphan = 1;
    return check_propagation(mc_server_query(req, "propagationPolicy"), opts, reply);
}

int mc_server_options_resource_version(const mc_server_request *req, uint64_t *rv,
                                       mc_server_reply *reply)
{
    const char *text = mc_server_query(req, "resourceVersion");
    *rv = 0;
    if (!text || !*text)
        return 0;
    const char *problem = NULL;
    uint64_t value = 0;
    /* the first problem met wins, as in Go */
    for (const char *p = text; *p && !problem; p++) {
        if (*p < '0' || *p > '9')
            problem = "invalid syntax";
        else if (value > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            problem = "value out of range";
        else
            value = value * 10 + (uint64_t)(*p - '0');
    }
    if (!problem) {
        *rv = value;
        return 0;
    }
    mc_buf msg;
    mc_buf_init(&msg, 2048);
    mc_buf_appendf(&msg, "invalid resource version: resourceVersion: Invalid value: ");
    append_go_quoted(&msg, text);
    mc_buf_appendf(&msg, ": strconv.ParseUint: parsing ");
    append_go_quoted(&msg, text);
    mc_buf_appendf(&msg, ": %s", problem);
    mc_server_reply_status(reply, 400, "BadRequest",
                           msg.data ? msg.data : "invalid resource version", req);
    mc_buf_free(&msg);
    return -1;
}

json_t *mc_server_status_too_large_rv(uint64_t rv, int64_t current)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "Timeout: Too large resource version: %llu, current: %lld",
             (unsigned long long)rv, (long long)current);
    return json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}],s:i},s:i}", "kind", "Status",
                     "apiVersion", "v1", "metadata", "status", "Failure", "message", msg, "reason",
                     "Timeout", "details", "causes", "reason", "ResourceVersionTooLarge", "message",
                     "Too large resource version", "retryAfterSeconds", 1, "code", 504);
}

void mc_server_delete_options_free(mc_server_delete_options *opts)
{
    if (!opts)
        return;
    free(opts->precondition_rv);
    free(opts->precondition_uid);
    opts->precondition_rv = NULL;
    opts->precondition_uid = NULL;
}
