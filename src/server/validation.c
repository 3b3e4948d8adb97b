/* validation.c - the admission check of every write (see validation.h).
 *
 * Problems are collected as kube's field errors ("<field>: Invalid value:
 * \"x\": <reason>") and answered together, the way kube-apiserver's
 * aggregate errors read ("[a, b]"); each one is also a Status cause, which
 * kubectl prints. Type errors and strict-decoding errors are 400 BadRequest
 * as kube's decoder answers them; rule violations are 422 Invalid.
 */
#include "server/validation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "server/schema.h"
#include "util/buf.h"

#define ERRORS_MAX 16

/* The field errors of one object. */
typedef struct problems {
    mc_buf text;   /* "a, b" */
    size_t count;
    json_t *causes;
} problems;

static void add_problem(problems *p, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_problem(problems *p, const char *reason, const char *field, const char *fmt, ...)
{
    char message[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (p->count++ >= ERRORS_MAX)
        return;
    if (p->text.len)
        mc_buf_append(&p->text, ", ", 2);
    mc_buf_appendf(&p->text, "%s: %s", field, message);
    json_array_append_new(p->causes,
                          json_pack("{s:s,s:s,s:s}", "reason", reason, "message", message,
                                    "field", field));
}

/* Quotes a value the way kube's field errors do, cut at 256 bytes. */
#define QV "\"%.256s\""

static void invalid(problems *p, const char *field, const char *value, const char *reason)
{
    add_problem(p, "FieldValueInvalid", field, "Invalid value: " QV ": %s", value, reason);
}

/* ---- fieldValidation ---- */

static int field_validation(const mc_server_request *req, mc_err *err)
{
    const char *v = mc_server_query(req, "fieldValidation");
    if (!v || !*v || strcmp(v, "Warn") == 0)
        return 'W';
    if (strcmp(v, "Strict") == 0)
        return 'S';
    if (strcmp(v, "Ignore") == 0)
        return 'I';
    const char *kind = strcmp(req->method, "POST") == 0  ? "CreateOptions"
                       : strcmp(req->method, "PUT") == 0 ? "UpdateOptions"
                                                         : "PatchOptions";
    mc_err_set(err, MC_EINVAL,
               "%s.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"%.100s\": "
               "supported values: \"Ignore\", \"Strict\", \"Warn\"",
               kind, v);
    return 0;
}

/* ---- ObjectMeta ---- */

static const char *const meta_fields[] = {
    "name",          "generateName",      "namespace",        "selfLink",
    "uid",           "resourceVersion",   "generation",       "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers",      "managedFields",
};

static int is_meta_field(const char *key)
{
    for (size_t i = 0; i < sizeof(meta_fields) / sizeof(meta_fields[0]); i++)
        if (strcmp(meta_fields[i], key) == 0)
            return 1;
    return 0;
}

static const char *json_type_word(const json_t *v)
{
    return json_is_string(v)    ? "string"
           : json_is_number(v)  ? "number"
           : json_is_boolean(v) ? "bool"
           : json_is_array(v)   ? "array"
                                : "object";
}

/* kube's decoder refuses metadata fields of the wrong JSON type (400). */
static int check_meta_shapes(const json_t *meta, mc_err *err)
{
    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *m = json_object_get(meta, maps[i]);
        if (!m || json_is_null(m))
            continue;
        if (!json_is_object(m))
            return mc_err_set(err, MC_EINVAL,
                              "json: cannot unmarshal %s into Go struct field "
                              "ObjectMeta.metadata.%s of type map[string]string",
                              json_type_word(m), maps[i]);
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)m, key, v) if (!json_is_string(v)) return mc_err_set(
            err, MC_EINVAL,
            "json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of type string",
            json_type_word(v), maps[i]);
    }
    const json_t *f = json_object_get(meta, "finalizers");
    if (f && !json_is_null(f)) {
        if (!json_is_array(f))
            return mc_err_set(err, MC_EINVAL,
                              "json: cannot unmarshal %s into Go struct field "
                              "ObjectMeta.metadata.finalizers of type []string",
                              json_type_word(f));
        size_t i;
        const json_t *v;
        json_array_foreach(f, i, v) if (!json_is_string(v)) return mc_err_set(
            err, MC_EINVAL,
            "json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.finalizers of "
            "type string",
            json_type_word(v));
    }
    const json_t *refs = json_object_get(meta, "ownerReferences");
    if (refs && !json_is_null(refs)) {
        if (!json_is_array(refs))
            return mc_err_set(err, MC_EINVAL,
                              "json: cannot unmarshal %s into Go struct field "
                              "ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference",
                              json_type_word(refs));
        size_t i;
        const json_t *ref;
        json_array_foreach(refs, i, ref)
        {
            if (!json_is_object(ref))
                return mc_err_set(err, MC_EINVAL,
                                  "json: cannot unmarshal %s into Go struct field "
                                  "ObjectMeta.metadata.ownerReferences of type v1.OwnerReference",
                                  json_type_word(ref));
            static const char *const strings[] = {"apiVersion", "kind", "name", "uid"};
            for (size_t k = 0; k < 4; k++) {
                const json_t *v = json_object_get(ref, strings[k]);
                if (v && !json_is_null(v) && !json_is_string(v))
                    return mc_err_set(err, MC_EINVAL,
                                      "json: cannot unmarshal %s into Go struct field "
                                      "OwnerReference.metadata.ownerReferences.%s of type string",
                                      json_type_word(v), strings[k]);
            }
            static const char *const bools[] = {"controller", "blockOwnerDeletion"};
            for (size_t k = 0; k < 2; k++) {
                const json_t *v = json_object_get(ref, bools[k]);
                if (v && !json_is_null(v) && !json_is_boolean(v))
                    return mc_err_set(err, MC_EINVAL,
                                      "json: cannot unmarshal %s into Go struct field "
                                      "OwnerReference.metadata.ownerReferences.%s of type bool",
                                      json_type_word(v), bools[k]);
            }
        }
    }
    const json_t *g = json_object_get(meta, "generation");
    if (g && !json_is_null(g) && !json_is_integer(g))
        return mc_err_set(err, MC_EINVAL,
                          "json: cannot unmarshal %s into Go struct field "
                          "ObjectMeta.metadata.generation of type int64",
                          json_type_word(g));
    return 0;
}

/* Unknown metadata fields: kube decodes metadata as ObjectMeta, so they are
 * dropped (Ignore, Warn) or refused (Strict), for custom resources too. */
static int unknown_meta_fields(json_t *meta, int mode, json_t *warnings, mc_err *err)
{
    const char *key;
    json_t *v, *tmp;
    json_object_foreach_safe(meta, tmp, key, v)
    {
        if (is_meta_field(key))
            continue;
        if (mode == 'S')
            return mc_err_set(err, MC_EUNSUPPORTED,
                              "strict decoding error: unknown field \"metadata.%.100s\"", key);
        if (mode == 'W' && json_array_size(warnings) < ERRORS_MAX) {
            char w[200];
            snprintf(w, sizeof(w), "unknown field \"metadata.%.100s\"", key);
            json_array_append_new(warnings, json_string(w));
        }
        json_object_del(meta, key);
    }
    return 0;
}

static void check_labels(const json_t *meta, problems *p)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(meta, "labels"), key, v)
    {
        const char *why = mc_validate_qualified_name_reason(key);
        if (why)
            invalid(p, "metadata.labels", key, why);
        why = mc_validate_label_value_reason(json_string_value(v));
        if (why)
            invalid(p, "metadata.labels", json_string_value(v), why);
    }
}

static void check_annotations(const json_t *meta, problems *p)
{
    const char *key;
    const json_t *v;
    size_t total = 0;
    json_object_foreach((json_t *)json_object_get(meta, "annotations"), key, v)
    {
        const char *why = mc_validate_annotation_key_reason(key);
        if (why)
            invalid(p, "metadata.annotations", key, why);
        total += strlen(key) + json_string_length(v);
    }
    if (total > MC_VALIDATE_ANNOTATIONS_MAX)
        add_problem(p, "FieldValueTooLong", "metadata.annotations",
                    "Too long: may not be more than %u bytes", MC_VALIDATE_ANNOTATIONS_MAX);
}

static void check_finalizers(const json_t *meta, problems *p)
{
    size_t i;
    const json_t *v;
    int orphan = 0, foreground = 0;
    json_array_foreach(json_object_get(meta, "finalizers"), i, v)
    {
        const char *name = json_string_value(v);
        const char *why = mc_validate_qualified_name_reason(name);
        if (why)
            invalid(p, "metadata.finalizers", name, why);
        orphan |= strcmp(name, "orphan") == 0;
        foreground |= strcmp(name, "foregroundDeletion") == 0;
    }
    if (orphan && foreground)
        add_problem(p, "FieldValueInvalid", "metadata.finalizers",
                    "Invalid value: []string{...}: finalizer orphan and foregroundDeletion cannot "
                    "be both set");
}

/* The version of an ownerReference's apiVersion ("v1", "g/v1"), as kube's
 * schema.ParseGroupVersion reads it: empty when it has none. */
static int has_version(const char *api_version)
{
    if (!api_version || !*api_version)
        return 0;
    const char *slash = strchr(api_version, '/');
    if (!slash)
        return 1;
    return slash[1] != '\0' && !strchr(slash + 1, '/');
}

static void check_owner_references(const json_t *meta, problems *p)
{
    size_t i;
    const json_t *ref;
    const char *controller = NULL, *controller_kind = NULL;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
    {
        const char *api_version = json_string_value(json_object_get(ref, "apiVersion"));
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (!has_version(api_version))
            invalid(p, "metadata.ownerReferences.apiVersion", api_version ? api_version : "",
                    "version must not be empty");
        if (!kind || !*kind)
            invalid(p, "metadata.ownerReferences.kind", "", "must not be empty");
        if (!name || !*name)
            invalid(p, "metadata.ownerReferences.name", "", "must not be empty");
        if (!uid || !*uid)
            invalid(p, "metadata.ownerReferences.uid", "", "must not be empty");
        if (api_version && kind && strcmp(api_version, "v1") == 0 && strcmp(kind, "Event") == 0)
            add_problem(p, "FieldValueInvalid", "metadata.ownerReferences",
                        "Invalid value: \"%.100s\": /v1, Kind=Event is disallowed from being an "
                        "owner",
                        name ? name : "");
        if (json_is_true(json_object_get(ref, "controller"))) {
            if (controller)
                add_problem(p, "FieldValueInvalid", "metadata.ownerReferences",
                            "Invalid value: []v1.OwnerReference{...}: Only one reference can "
                            "have Controller set to true. Found \"true\" in references for "
                            "%.100s/%.100s and %.100s/%.100s",
                            controller_kind, controller, kind ? kind : "", name ? name : "");
            else {
                controller = name ? name : "";
                controller_kind = kind ? kind : "";
            }
        }
    }
}

/* ---- ConfigMap and Secret keys ---- */

static void check_keys(const json_t *obj, const char *field, const char *other, problems *p)
{
    const char *key;
    const json_t *v;
    json_t *others = json_object_get(obj, other);
    json_object_foreach(json_object_get(obj, field), key, v)
    {
        char path[300];
        snprintf(path, sizeof(path), "%s[%.253s]", field, key);
        const char *why = mc_validate_config_key_reason(key);
        if (why)
            invalid(p, path, key, why);
        if (json_is_object(others) && json_object_get(others, key)) {
            char msg[100];
            snprintf(msg, sizeof(msg), "duplicate of key present in %s", other);
            invalid(p, path, key, msg);
        }
    }
}

/* ---- RBAC (kube's pkg/apis/rbac/validation) ---- */

static void required(problems *p, const char *field, const char *detail)
{
    add_problem(p, "FieldValueRequired", field, "Required value%s%s", *detail ? ": " : "", detail);
}

static void unsupported(problems *p, const char *field, const char *value, const char *supported)
{
    add_problem(p, "FieldValueNotSupported", field, "Unsupported value: " QV ": supported values: %s",
                value, supported);
}

/* A PolicyRule: verbs always; nonResourceURLs only in a ClusterRole and
 * alone; else apiGroups and resources. */
static void check_policy_rule(const json_t *rule, int namespaced, const char *at, problems *p)
{
    char field[128];
    if (json_array_size(json_object_get(rule, "verbs")) == 0) {
        snprintf(field, sizeof(field), "%s.verbs", at);
        required(p, field, "verbs must contain at least one value");
    }
    const json_t *urls = json_object_get(rule, "nonResourceURLs");
    if (json_array_size(urls) > 0) {
        char *text = json_dumps(urls, JSON_COMPACT);
        snprintf(field, sizeof(field), "%s.nonResourceURLs", at);
        if (namespaced)
            invalid(p, field, text ? text : "", "namespaced rules cannot apply to non-resource URLs");
        if (json_array_size(json_object_get(rule, "apiGroups")) ||
            json_array_size(json_object_get(rule, "resources")) ||
            json_array_size(json_object_get(rule, "resourceNames")))
            invalid(p, field, text ? text : "",
                    "rules cannot apply to both regular resources and non-resource URLs");
        free(text);
        return;
    }
    if (json_array_size(json_object_get(rule, "apiGroups")) == 0) {
        snprintf(field, sizeof(field), "%s.apiGroups", at);
        required(p, field, "resource rules must supply at least one api group");
    }
    if (json_array_size(json_object_get(rule, "resources")) == 0) {
        snprintf(field, sizeof(field), "%s.resources", at);
        required(p, field, "resource rules must supply at least one resource");
    }
}

static void check_role(const json_t *obj, int namespaced, problems *p)
{
    size_t i;
    const json_t *rule;
    json_array_foreach(json_object_get(obj, "rules"), i, rule)
    {
        char at[64];
        snprintf(at, sizeof(at), "rules[%zu]", i);
        check_policy_rule(rule, namespaced, at, p);
    }
}

static const char *string_member(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* A binding's roleRef (a RoleBinding may name a Role or a ClusterRole) and
 * subjects (ServiceAccounts need a namespace in a ClusterRoleBinding). */
static void check_binding(const json_t *obj, int namespaced, problems *p)
{
    const json_t *ref = json_object_get(obj, "roleRef");
    const char *group = string_member(ref, "apiGroup"), *kind = string_member(ref, "kind");
    if (strcmp(group, "rbac.authorization.k8s.io") != 0)
        unsupported(p, "roleRef.apiGroup", group, "\"rbac.authorization.k8s.io\"");
    if (namespaced && strcmp(kind, "Role") != 0 && strcmp(kind, "ClusterRole") != 0)
        unsupported(p, "roleRef.kind", kind, "\"Role\", \"ClusterRole\"");
    else if (!namespaced && strcmp(kind, "ClusterRole") != 0)
        unsupported(p, "roleRef.kind", kind, "\"ClusterRole\"");
    if (!*string_member(ref, "name"))
        required(p, "roleRef.name", "");
    size_t i;
    const json_t *subject;
    json_array_foreach(json_object_get(obj, "subjects"), i, subject)
    {
        char field[64];
        const char *skind = string_member(subject, "kind");
        if (!*string_member(subject, "name")) {
            snprintf(field, sizeof(field), "subjects[%zu].name", i);
            required(p, field, "");
        }
        if (strcmp(skind, "ServiceAccount") == 0) {
            if (!namespaced && !*string_member(subject, "namespace")) {
                snprintf(field, sizeof(field), "subjects[%zu].namespace", i);
                required(p, field, "");
            }
        } else if (strcmp(skind, "User") != 0 && strcmp(skind, "Group") != 0) {
            snprintf(field, sizeof(field), "subjects[%zu].kind", i);
            unsupported(p, field, skind, "\"ServiceAccount\", \"User\", \"Group\"");
        }
    }
}

static void check_rbac(const mc_server_resource *r, const json_t *obj, problems *p)
{
    if (strcmp(r->group, "rbac.authorization.k8s.io") != 0)
        return;
    if (strcmp(r->plural, "roles") == 0 || strcmp(r->plural, "clusterroles") == 0)
        check_role(obj, r->namespaced, p);
    else
        check_binding(obj, r->namespaced, p);
}

/* ---- the whole check ---- */

static int finish_problems(problems *p, mc_server_verdict *verdict, mc_err *err)
{
    const char *more = p->count > ERRORS_MAX ? ", ..." : "";
    mc_buf whole;
    mc_buf_init(&whole, 80 * 1024);
    if (p->count == 1)
        mc_buf_appendf(&whole, "%s", p->text.data ? p->text.data : "");
    else
        mc_buf_appendf(&whole, "[%s%s]", p->text.data ? p->text.data : "", more);
    mc_err_set(err, MC_EINVAL, "%s", whole.data ? whole.data : "invalid");
    verdict->message = whole.data ? strdup(whole.data) : NULL;
    mc_buf_free(&whole);
    verdict->status = 422;
    verdict->reason = "Invalid";
    verdict->causes = p->causes;
    p->causes = NULL;
    return 422;
}

static int refuse(mc_server_verdict *verdict, int status, const char *reason)
{
    verdict->status = status;
    verdict->reason = reason;
    return status;
}

/* kube's decoder prefixes what it cannot decode with the kind it expected. */
static int bad_request(const mc_server_request *req, mc_server_verdict *verdict, mc_err *err)
{
    char api_version[256];
    mc_server_api_version(req->resource, api_version, sizeof(api_version));
    mc_err inner = *err;
    mc_err_set(err, MC_EINVAL, "%s in version \"%s\" cannot be handled as a %s: %s",
               req->resource->kind, req->resource->version, req->resource->kind, inner.msg);
    return refuse(verdict, 400, "BadRequest");
}

static int check_type_meta(const mc_server_request *req, const json_t *obj, problems *p)
{
    char want[256];
    mc_server_api_version(req->resource, want, sizeof(want));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *api_version = json_string_value(json_object_get(obj, "apiVersion"));
    if (!kind || strcmp(kind, req->resource->kind) != 0) {
        char must[300];
        snprintf(must, sizeof(must), "must be %s", req->resource->kind);
        invalid(p, "kind", kind ? kind : "", must);
    }
    if (!api_version || strcmp(api_version, want) != 0) {
        char must[300];
        snprintf(must, sizeof(must), "must be %s", want);
        invalid(p, "apiVersion", api_version ? api_version : "", must);
    }
    return p->count;
}

int mc_server_validate_write(const mc_server_request *req, json_t *obj, mc_server_verdict *verdict,
                             mc_err *err)
{
    memset(verdict, 0, sizeof(*verdict));
    problems p = {.count = 0};
    int rc = 0;
    mc_buf_init(&p.text, 64 * 1024);
    p.causes = json_array();
    json_t *warnings = json_array();
    json_t *schema = NULL;
    if (mc_validate_depth(obj, MC_VALIDATE_DEPTH_MAX, err) != 0) {
        rc = bad_request(req, verdict, err);
        goto out;
    }
    int mode = field_validation(req, err);
    if (!mode) {
        rc = refuse(verdict, 422, "Invalid");
        goto out;
    }
    /* A patch or an update may not turn the object into another kind
     * (kube: 422 from the custom resource validator, a decode error for
     * built-ins). */
    if (check_type_meta(req, obj, &p)) {
        rc = finish_problems(&p, verdict, err);
        goto out;
    }
    json_t *meta = json_object_get(obj, "metadata");
    if (json_is_object(meta)) {
        if (check_meta_shapes(meta, err) != 0) {
            rc = refuse(verdict, 400, "BadRequest");
            goto out;
        }
        if (unknown_meta_fields(meta, mode, warnings, err) != 0) {
            rc = bad_request(req, verdict, err);
            goto out;
        }
        check_labels(meta, &p);
        check_annotations(meta, &p);
        check_finalizers(meta, &p);
        check_owner_references(meta, &p);
    }
    schema = req->resource->schema ? json_incref(req->resource->schema)
                                   : mc_server_schema_builtin(req->resource->store_name);
    if (schema) {
        json_t *causes = NULL, *pruned = NULL;
        int srv = mc_server_schema_validate_full(
            schema, obj, mode == 'S' ? MC_SERVER_SCHEMA_STRICT : MC_SERVER_SCHEMA_PRUNE, &causes,
            &pruned, err);
        if (srv == MC_EUNSUPPORTED) {
            rc = bad_request(req, verdict, err);
            goto out;
        }
        if (srv == MC_EINVAL) {
            /* schema errors come as one message with their causes */
            size_t i;
            json_t *c;
            json_array_foreach(causes, i, c)
            {
                const char *field = json_string_value(json_object_get(c, "field"));
                const char *message = json_string_value(json_object_get(c, "message"));
                add_problem(&p, json_string_value(json_object_get(c, "reason")), field ? field : "",
                            "%s", message ? message : "");
            }
            if (json_array_size(causes) == 0)
                add_problem(&p, "FieldValueInvalid", "", "%s", err->msg);
            json_decref(causes);
        } else if (srv != MC_OK) {
            rc = refuse(verdict, 500, "InternalError");
            goto out;
        }
        size_t i;
        json_t *path;
        json_array_foreach(pruned, i, path) if (mode == 'W')
        {
            char w[600];
            snprintf(w, sizeof(w), "unknown field \"%s\"", json_string_value(path));
            json_array_append_new(warnings, json_string(w));
        }
        json_decref(pruned);
    }
    if (strcmp(req->resource->store_name, "core/configmaps") == 0) {
        check_keys(obj, "data", "binaryData", &p);
        check_keys(obj, "binaryData", "data", &p);
    } else if (strcmp(req->resource->store_name, "core/secrets") == 0) {
        check_keys(obj, "data", "", &p);
    } else {
        check_rbac(req->resource, obj, &p);
    }
    if (p.count) {
        rc = finish_problems(&p, verdict, err);
        goto out;
    }
    if (json_array_size(warnings)) {
        verdict->warnings = warnings;
        warnings = NULL;
    }
out:
    json_decref(schema);
    json_decref(warnings);
    json_decref(p.causes);
    mc_buf_free(&p.text);
    return rc;
}

void mc_server_verdict_clear(mc_server_verdict *verdict)
{
    if (!verdict)
        return;
    json_decref(verdict->causes);
    json_decref(verdict->warnings);
    free(verdict->message);
    memset(verdict, 0, sizeof(*verdict));
}
