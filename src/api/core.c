/* core.c - codecs for Secret and Pod, reading one data key of a Secret, and
 * the Event encoder runtime/events.c writes with (see core.h).
 */
#include "api/core.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "util/base64.h"
#include "util/str.h"

/* Shared decode prologue: type check, context. */
static int begin_decode(json_t *json, const char *api_version, const char *kind,
                        const char *lower, mc_codec_ctx *ctx, mc_err *err)
{
    mc_codec_ctx_init(ctx, lower, json);
    return mc_codec_check_type_meta(json, api_version, kind, ctx, err);
}

static int encode_fail(json_t *obj, const char *lower, mc_err *err)
{
    json_decref(obj);
    return mc_err_set(err, MC_ENOMEM, "encoding %s: out of memory", lower);
}

/* ---- Secret ---- */

mc_api_secret *mc_api_secret_new(const char *namespace, const char *name, const char *type)
{
    mc_api_secret *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (mc_api_meta_set_name(&s->metadata, namespace, name) != 0 ||
        (type && !(s->type = mc_strdup(type)))) {
        mc_api_secret_free(s);
        return NULL;
    }
    return s;
}

void mc_api_secret_free(mc_api_secret *secret)
{
    if (!secret)
        return;
    json_decref(secret->raw);
    mc_api_meta_clear(&secret->metadata);
    free(secret->type);
    mc_api_bytes_map_clear(&secret->data);
    for (size_t i = 0; i < secret->string_data.len; i++) {
        char *v = secret->string_data.items[i].value;
        mc_secure_zero(v, strlen(v));
    }
    mc_api_str_map_clear(&secret->string_data);
    free(secret);
}

int mc_api_secret_decode(json_t *json, mc_api_secret **out, mc_err *err)
{
    mc_codec_ctx ctx;
    int rc = begin_decode(json, "v1", "Secret", "secret", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_secret *s = calloc(1, sizeof(*s));
    if (!s)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    s->raw = json_incref(json);
    if ((rc = mc_api_meta_decode(json, &s->metadata, &ctx, err)) != 0 ||
        (rc = mc_codec_get_string(json, "type", &s->type, &ctx, "type", err)) != 0 ||
        (rc = mc_codec_get_bytes_map(json, "data", &s->data, &ctx, "data", err)) != 0 ||
        (rc = mc_codec_get_str_map(json, "stringData", &s->string_data, &ctx, "stringData",
                                   err)) != 0 ||
        (rc = mc_codec_get_bool(json, "immutable", &s->immutable, &ctx, "immutable", err)) != 0) {
        mc_api_secret_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int mc_api_secret_encode(const mc_api_secret *secret, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(secret->raw);
    if (!obj || mc_codec_put_type_meta(obj, secret->raw, "v1", "Secret") != 0 ||
        mc_api_meta_encode(&secret->metadata, obj) != 0 ||
        mc_codec_put_string(obj, "type", secret->type) != 0 ||
        mc_codec_put_bytes_map(obj, "data", &secret->data) != 0 ||
        mc_codec_put_str_map(obj, "stringData", &secret->string_data) != 0 ||
        mc_codec_put_bool(obj, "immutable", secret->immutable) != 0)
        return encode_fail(obj, "secret", err);
    *out = obj;
    return 0;
}

int mc_api_secret_merge_string_data(mc_api_secret *secret)
{
    for (size_t i = 0; i < secret->string_data.len; i++) {
        const mc_api_str_pair *p = &secret->string_data.items[i];
        if (mc_api_bytes_map_set(&secret->data, p->key, p->value, strlen(p->value)) != 0)
            return MC_ENOMEM;
    }
    for (size_t i = 0; i < secret->string_data.len; i++) {
        char *v = secret->string_data.items[i].value;
        mc_secure_zero(v, strlen(v));
    }
    mc_api_str_map_clear(&secret->string_data);
    return 0;
}

int mc_api_secret_validate(const mc_api_secret *secret, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&secret->metadata, "secret", what, sizeof(what));
    int rc = mc_api_meta_validate(&secret->metadata, true, false, what, err);
    if (rc != 0)
        return rc;
    if (secret->type && *secret->type && strcmp(secret->type, MC_API_SECRET_TYPE_OPAQUE) != 0 &&
        mc_validate_qualified_name(secret->type, NULL) != 0)
        return mc_err_set(err, MC_EINVAL, "%s: type: \"%.100s\" is not a valid Secret type",
                          what, secret->type);
    size_t total = 0;
    for (size_t i = 0; i < secret->data.len; i++) {
        if (mc_validate_secret_key(secret->data.items[i].key, err) != 0)
            return mc_err_prefix(err, "%s: data", what);
        total += secret->data.items[i].len;
    }
    for (size_t i = 0; i < secret->string_data.len; i++) {
        if (mc_validate_secret_key(secret->string_data.items[i].key, err) != 0)
            return mc_err_prefix(err, "%s: stringData", what);
        total += strlen(secret->string_data.items[i].value);
    }
    if (total > MC_VALIDATE_SECRET_DATA_MAX)
        return mc_err_set(err, MC_ELIMIT, "%s: data: %zu bytes, more than the %u allowed", what,
                          total, MC_VALIDATE_SECRET_DATA_MAX);
    return 0;
}

int mc_api_secret_value(const json_t *secret, const char *key, char **out, size_t *len, mc_err *err)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    if (!b64)
        return mc_err_set(err, MC_ENOTFOUND, "data key \"%s\" is missing", key);
    unsigned char *bytes = NULL;
    size_t n = 0;
    int rc = mc_base64_decode(b64, strlen(b64), &bytes, &n, err);
    if (rc)
        return mc_err_prefix(err, "data key \"%s\"", key);
    char *text = mc_strndup((const char *)bytes, n);
    mc_secure_free(bytes, n);
    if (!text)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    *out = text;
    if (len)
        *len = n;
    return MC_OK;
}

/* ---- Pod ---- */

void mc_api_pod_free(mc_api_pod *pod)
{
    if (!pod)
        return;
    json_decref(pod->raw);
    mc_api_meta_clear(&pod->metadata);
    free(pod->phase);
    free(pod);
}

static int decode_ready(const json_t *status, mc_api_pod *pod, const mc_codec_ctx *ctx,
                        mc_err *err)
{
    const json_t *conditions;
    int rc = mc_codec_get_array(status, "conditions", &conditions, ctx, "status.conditions", err);
    if (rc != 0 || !conditions)
        return rc;
    for (size_t i = 0; i < json_array_size(conditions); i++) {
        const json_t *c = json_array_get(conditions, i);
        const char *type = json_string_value(json_object_get(c, "type"));
        if (!json_is_object(c))
            return mc_err_set(err, MC_EINVAL, "%s: status.conditions[%zu]: expected an object",
                              ctx->what, i);
        if (type && strcmp(type, "Ready") == 0) {
            const char *st = json_string_value(json_object_get(c, "status"));
            pod->ready_known = true;
            pod->ready = st && strcmp(st, "True") == 0;
        }
    }
    return 0;
}

int mc_api_pod_decode(json_t *json, mc_api_pod **out, mc_err *err)
{
    mc_codec_ctx ctx;
    int rc = begin_decode(json, "v1", "Pod", "pod", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_pod *pod = calloc(1, sizeof(*pod));
    if (!pod)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    pod->raw = json_incref(json);
    const json_t *status;
    if ((rc = mc_api_meta_decode(json, &pod->metadata, &ctx, err)) != 0 ||
        (rc = mc_codec_get_object(json, "status", &status, &ctx, "status", err)) != 0 ||
        (rc = mc_codec_get_string(status, "phase", &pod->phase, &ctx, "status.phase", err)) != 0 ||
        (rc = decode_ready(status, pod, &ctx, err)) != 0) {
        mc_api_pod_free(pod);
        return rc;
    }
    *out = pod;
    return 0;
}

/* ---- Event ----
 *
 * Mostly flat strings, so described by a field table (JSON parent, key,
 * struct offset) walked by one encoder instead of a line per field. */

enum field_kind { FIELD_STRING, FIELD_TIME, FIELD_INT64 };

typedef struct field_desc {
    const char *parent; /* NULL for the top level, else a member object */
    const char *key;
    const char *path;   /* for messages */
    size_t offset;      /* of the char * or int64_t in the struct */
    enum field_kind kind;
} field_desc;

static int encode_fields(json_t *obj, const void *base, const field_desc *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const field_desc *f = &fields[i];
        json_t *target = obj, *saved = NULL;
        if (f->parent && !(target = mc_codec_child(obj, f->parent, &saved)))
            return MC_ENOMEM;
        const char *const *s = (const char *const *)((const char *)base + f->offset);
        const int64_t *v = (const int64_t *)((const char *)base + f->offset);
        int rc = f->kind == FIELD_INT64 ? mc_codec_put_int64(target, f->key, *v)
                                        : mc_codec_put_string(target, f->key, *s);
        if (rc != 0) {
            json_decref(saved);
            return rc;
        }
        if (f->parent && mc_codec_child_done(obj, f->parent, saved) != 0)
            return MC_ENOMEM;
    }
    return 0;
}

static void free_fields(void *base, const field_desc *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fields[i].kind == FIELD_INT64)
            continue;
        char **s = (char **)((char *)base + fields[i].offset);
        free(*s);
        *s = NULL;
    }
}


#define EVENT_FIELD(parent, key, path, member, kind) \
    {parent, key, path, offsetof(mc_api_event, member), kind}
#define INVOLVED(key, member) \
    EVENT_FIELD("involvedObject", key, "involvedObject." key, involved_object.member, FIELD_STRING)
static const field_desc event_fields[] = {
    INVOLVED("apiVersion", api_version),
    INVOLVED("kind", kind),
    INVOLVED("namespace", namespace),
    INVOLVED("name", name),
    INVOLVED("uid", uid),
    INVOLVED("resourceVersion", resource_version),
    INVOLVED("fieldPath", field_path),
    EVENT_FIELD(NULL, "reason", "reason", reason, FIELD_STRING),
    EVENT_FIELD(NULL, "message", "message", message, FIELD_STRING),
    EVENT_FIELD(NULL, "type", "type", type, FIELD_STRING),
    EVENT_FIELD(NULL, "count", "count", count, FIELD_INT64),
    EVENT_FIELD(NULL, "firstTimestamp", "firstTimestamp", first_timestamp, FIELD_TIME),
    EVENT_FIELD(NULL, "lastTimestamp", "lastTimestamp", last_timestamp, FIELD_TIME),
    EVENT_FIELD(NULL, "eventTime", "eventTime", event_time, FIELD_TIME),
    EVENT_FIELD("source", "component", "source.component", source_component, FIELD_STRING),
    EVENT_FIELD("source", "host", "source.host", source_host, FIELD_STRING),
    EVENT_FIELD(NULL, "reportingComponent", "reportingComponent", reporting_component,
                FIELD_STRING),
    EVENT_FIELD(NULL, "reportingInstance", "reportingInstance", reporting_instance,
                FIELD_STRING),
    EVENT_FIELD(NULL, "action", "action", action, FIELD_STRING),
};
#define EVENT_FIELDS (sizeof(event_fields) / sizeof(event_fields[0]))

mc_api_event *mc_api_event_new(const char *namespace, const char *name)
{
    mc_api_event *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    if (mc_api_meta_set_name(&e->metadata, namespace, name) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

void mc_api_event_free(mc_api_event *event)
{
    if (!event)
        return;
    json_decref(event->raw);
    mc_api_meta_clear(&event->metadata);
    free_fields(event, event_fields, EVENT_FIELDS);
    free(event);
}

int mc_api_event_encode(const mc_api_event *event, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(event->raw);
    if (!obj || mc_codec_put_type_meta(obj, event->raw, "v1", "Event") != 0 ||
        mc_api_meta_encode(&event->metadata, obj) != 0 ||
        encode_fields(obj, event, event_fields, EVENT_FIELDS) != 0)
        return encode_fail(obj, "event", err);
    *out = obj;
    return 0;
}

json_t *mc_api_event_repeat_patch(int64_t count, const char *last_timestamp, const char *message)
{
    return json_pack("{s:I, s:s, s:s}", "count", (json_int_t)count, "lastTimestamp",
                     last_timestamp, "message", message);
}

json_t *mc_api_service_account_token_secret_new(const char *namespace, const char *name,
                                                const char *service_account)
{
    json_t *secret = mc_api_object_new(MC_API_SECRETS, namespace, name);
    if (!secret ||
        json_object_set_new(json_object_get(secret, "metadata"), "annotations",
                            json_pack("{s:s}", "kubernetes.io/service-account.name",
                                      service_account)) != 0 ||
        json_object_set_new(secret, "type", json_string(MC_API_SECRET_TYPE_SA_TOKEN)) != 0) {
        json_decref(secret);
        return NULL;
    }
    return secret;
}

json_t *mc_api_lease_new(const char *namespace, const char *name, const char *holder,
                         int64_t duration_seconds, const char *acquire_time,
                         const char *renew_time, int64_t transitions)
{
    json_t *lease = mc_api_object_new(MC_API_LEASES, namespace, name);
    if (!lease || json_object_set_new(lease, "spec",
                                      json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity",
                                                holder, "leaseDurationSeconds",
                                                (json_int_t)duration_seconds, "acquireTime",
                                                acquire_time, "renewTime", renew_time,
                                                "leaseTransitions", (json_int_t)transitions)) != 0) {
        json_decref(lease);
        return NULL;
    }
    return lease;
}
