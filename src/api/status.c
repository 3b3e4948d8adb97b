/* status.c - Kubernetes Status codec (see status.h).
 *
 * Status objects are small and flat; details.causes entries are not kept
 * individually raw: a cause carries exactly reason, message and field, and
 * unknown members of a cause would be an API change we would see.
 */
#include "api/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

void mc_api_status_free(mc_api_status *status)
{
    if (!status)
        return;
    json_decref(status->raw);
    free(status->status);
    free(status->message);
    free(status->reason);
    free(status->details.name);
    free(status->details.group);
    free(status->details.kind);
    free(status->details.uid);
    for (size_t i = 0; i < status->details.causes_len; i++) {
        free(status->details.causes[i].reason);
        free(status->details.causes[i].message);
        free(status->details.causes[i].field);
    }
    free(status->details.causes);
    free(status);
}

const char *mc_api_status_reason_for_code(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "Unknown";
    }
}

mc_api_status *mc_api_status_new(int code, const char *reason, const char *message)
{
    mc_api_status *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->code = code;
    s->status = mc_strdup(code >= 200 && code < 300 ? "Success" : "Failure");
    s->reason = mc_strdup(reason ? reason : mc_api_status_reason_for_code(code));
    s->message = mc_strdup(message ? message : "");
    if (!s->status || !s->reason || !s->message) {
        mc_api_status_free(s);
        return NULL;
    }
    return s;
}

int mc_api_status_add_cause(mc_api_status *status, const char *reason, const char *message,
                            const char *field)
{
    mc_api_status_cause c = {mc_strdup(reason), mc_strdup(message), mc_strdup(field)};
    mc_api_status_cause *grown = NULL;
    if ((reason && !c.reason) || (message && !c.message) || (field && !c.field) ||
        !(grown = realloc(status->details.causes,
                          (status->details.causes_len + 1) * sizeof(c)))) {
        free(c.reason);
        free(c.message);
        free(c.field);
        return MC_ENOMEM;
    }
    status->details.causes = grown;
    grown[status->details.causes_len++] = c;
    return 0;
}

static int decode_causes(const json_t *details, mc_api_status *s, const mc_codec_ctx *ctx,
                         mc_err *err)
{
    const json_t *a;
    char path[64];
    int rc = mc_codec_get_array(details, "causes", &a, ctx, "details.causes", err);
    if (rc != 0 || !a || json_array_size(a) == 0)
        return rc;
    s->details.causes = calloc(json_array_size(a), sizeof(mc_api_status_cause));
    if (!s->details.causes)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx->what);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *c = json_array_get(a, i);
        mc_api_status_cause *out = &s->details.causes[i];
        s->details.causes_len = i + 1;
        if (!json_is_object(c))
            return mc_err_set(err, MC_EINVAL, "%s: details.causes[%zu]: expected an object",
                              ctx->what, i);
        snprintf(path, sizeof(path), "details.causes[%zu]", i);
        if ((rc = mc_codec_get_string(c, "reason", &out->reason, ctx, path, err)) != 0 ||
            (rc = mc_codec_get_string(c, "message", &out->message, ctx, path, err)) != 0 ||
            (rc = mc_codec_get_string(c, "field", &out->field, ctx, path, err)) != 0)
            return rc;
    }
    return 0;
}

int mc_api_status_decode(json_t *json, mc_api_status **out, mc_err *err)
{
    mc_codec_ctx ctx;
    snprintf(ctx.what, sizeof(ctx.what), "status");
    int rc = mc_codec_check_type_meta(json, "v1", "Status", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_status *s = calloc(1, sizeof(*s));
    if (!s)
        return mc_err_set(err, MC_ENOMEM, "status: out of memory");
    s->raw = json_incref(json);
    const json_t *d;
    if ((rc = mc_codec_get_string(json, "status", &s->status, &ctx, "status", err)) != 0 ||
        (rc = mc_codec_get_string(json, "message", &s->message, &ctx, "message", err)) != 0 ||
        (rc = mc_codec_get_string(json, "reason", &s->reason, &ctx, "reason", err)) != 0 ||
        (rc = mc_codec_get_int64(json, "code", &s->code, &ctx, "code", err)) != 0 ||
        (rc = mc_codec_get_object(json, "details", &d, &ctx, "details", err)) != 0 ||
        (rc = mc_codec_get_string(d, "name", &s->details.name, &ctx, "details.name", err)) != 0 ||
        (rc = mc_codec_get_string(d, "group", &s->details.group, &ctx, "details.group", err)) !=
            0 ||
        (rc = mc_codec_get_string(d, "kind", &s->details.kind, &ctx, "details.kind", err)) != 0 ||
        (rc = mc_codec_get_string(d, "uid", &s->details.uid, &ctx, "details.uid", err)) != 0 ||
        (rc = mc_codec_get_int64(d, "retryAfterSeconds", &s->details.retry_after_seconds, &ctx,
                                 "details.retryAfterSeconds", err)) != 0 ||
        (rc = decode_causes(d, s, &ctx, err)) != 0) {
        mc_api_status_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static json_t *causes_encode(const mc_api_status *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->details.causes_len; i++) {
        const mc_api_status_cause *c = &s->details.causes[i];
        json_t *o = json_object();
        if (!o || mc_codec_put_string(o, "reason", c->reason) != 0 ||
            mc_codec_put_string(o, "message", c->message) != 0 ||
            mc_codec_put_string(o, "field", c->field) != 0 || json_array_append_new(a, o) != 0) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int mc_api_status_encode(const mc_api_status *status, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(status->raw), *saved = NULL, *d = NULL, *causes = NULL;
    if (!obj || mc_codec_put_type_meta(obj, status->raw, "v1", "Status") != 0)
        goto fail;
    /* The API server always sends "metadata": {} on a Status. */
    if (!status->raw && json_object_set_new(obj, "metadata", json_object()) != 0)
        goto fail;
    if (mc_codec_put_string(obj, "status", status->status) != 0 ||
        mc_codec_put_string(obj, "message", status->message) != 0 ||
        mc_codec_put_string(obj, "reason", status->reason) != 0 ||
        !(d = mc_codec_child(obj, "details", &saved)))
        goto fail;
    causes = causes_encode(status);
    if (!causes || mc_codec_put(d, "causes", causes) != 0 ||
        mc_codec_put_string(d, "name", status->details.name) != 0 ||
        mc_codec_put_string(d, "group", status->details.group) != 0 ||
        mc_codec_put_string(d, "kind", status->details.kind) != 0 ||
        mc_codec_put_string(d, "uid", status->details.uid) != 0 ||
        mc_codec_put_int64(d, "retryAfterSeconds", status->details.retry_after_seconds) != 0) {
        json_decref(saved);
        goto fail;
    }
    if (mc_codec_child_done(obj, "details", saved) != 0 ||
        mc_codec_put_int64(obj, "code", status->code) != 0)
        goto fail;
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return mc_err_set(err, MC_ENOMEM, "encoding status: out of memory");
}
