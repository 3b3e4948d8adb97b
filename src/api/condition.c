/* condition.c - status.conditions codec and SetStatusCondition (see
 * condition.h).
 */
#include "api/condition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "util/str.h"

static void condition_clear(mc_api_condition *c)
{
    json_decref(c->raw);
    free(c->type);
    free(c->status);
    free(c->last_transition_time);
    free(c->reason);
    free(c->message);
    memset(c, 0, sizeof(*c));
}

void mc_api_conditions_clear(mc_api_conditions *conditions)
{
    if (!conditions)
        return;
    for (size_t i = 0; i < conditions->len; i++)
        condition_clear(&conditions->items[i]);
    free(conditions->items);
    memset(conditions, 0, sizeof(*conditions));
}

int mc_api_conditions_decode(const json_t *status, mc_api_conditions *out, const mc_codec_ctx *ctx,
                             const char *path, mc_err *err)
{
    const json_t *a;
    char sub[128];
    int rc = mc_codec_get_array(status, "conditions", &a, ctx, path, err);
    if (rc != 0 || !a || json_array_size(a) == 0)
        return rc;
    size_t n = json_array_size(a);
    out->items = calloc(n, sizeof(*out->items));
    if (!out->items)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx->what);
    out->len = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        mc_api_condition *c = &out->items[i];
        if (!json_is_object(e))
            return mc_err_set(err, MC_EINVAL, "%s: %s[%zu]: expected an object", ctx->what, path,
                              i);
        c->raw = json_incref((json_t *)e);
        static const char *const keys[] = {"type", "status", "reason", "message"};
        char **fields[] = {&c->type, &c->status, &c->reason, &c->message};
        for (size_t k = 0; k < 4; k++) {
            snprintf(sub, sizeof(sub), "%s[%zu].%s", path, i, keys[k]);
            if ((rc = mc_codec_get_string(e, keys[k], fields[k], ctx, sub, err)) != 0)
                return rc;
        }
        snprintf(sub, sizeof(sub), "%s[%zu].lastTransitionTime", path, i);
        if ((rc = mc_codec_get_time(e, "lastTransitionTime", &c->last_transition_time, ctx, sub,
                                    err)) != 0)
            return rc;
        snprintf(sub, sizeof(sub), "%s[%zu].observedGeneration", path, i);
        if ((rc = mc_codec_get_int64(e, "observedGeneration", &c->observed_generation, ctx, sub,
                                     err)) != 0)
            return rc;
    }
    return 0;
}

static json_t *condition_encode(const mc_api_condition *c)
{
    json_t *o = c->raw ? json_deep_copy(c->raw) : json_object();
    if (!o)
        return NULL;
    if (mc_codec_put_string(o, "type", c->type) != 0 ||
        mc_codec_put_string(o, "status", c->status) != 0 ||
        mc_codec_put_int64(o, "observedGeneration", c->observed_generation) != 0 ||
        mc_codec_put_string(o, "lastTransitionTime", c->last_transition_time) != 0 ||
        mc_codec_put_string(o, "reason", c->reason) != 0 ||
        mc_codec_put_string(o, "message", c->message) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int mc_api_conditions_encode(const mc_api_conditions *conditions, json_t *status)
{
    json_t *a = json_array();
    if (!a)
        return MC_ENOMEM;
    for (size_t i = 0; i < conditions->len; i++) {
        json_t *e = condition_encode(&conditions->items[i]);
        if (!e || json_array_append_new(a, e) != 0) {
            json_decref(a);
            return MC_ENOMEM;
        }
    }
    return mc_codec_put(status, "conditions", a);
}

const mc_api_condition *mc_api_conditions_get(const mc_api_conditions *conditions, const char *type)
{
    for (size_t i = 0; i < conditions->len; i++)
        if (conditions->items[i].type && strcmp(conditions->items[i].type, type) == 0)
            return &conditions->items[i];
    return NULL;
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int mc_api_conditions_says(const mc_api_conditions *conditions, const char *type,
                           const char *status, const char *reason, const char *message,
                           int64_t observed_generation)
{
    const mc_api_condition *c = mc_api_conditions_get(conditions, type);
    return c && same(c->status, status) && same(c->reason, reason) && same(c->message, message) &&
           c->observed_generation == observed_generation && c->last_transition_time;
}

int mc_api_conditions_set(mc_api_conditions *conditions, const char *type, const char *status,
                          const char *reason, const char *message, int64_t observed_generation,
                          int64_t now)
{
    char when[MC_TIME_RFC3339_MAX];
    if (mc_time_format(now, when, sizeof(when)) != 0)
        return MC_EINVAL;
    mc_api_condition *c = (mc_api_condition *)mc_api_conditions_get(conditions, type);
    int transition = !c || !same(c->status, status) || !c->last_transition_time;
    char *new_type = mc_strdup(type), *new_status = mc_strdup(status);
    char *new_reason = mc_strdup(reason ? reason : ""),
         *new_message = mc_strdup(message ? message : "");
    char *new_time = transition ? mc_strdup(when) : NULL;
    if (!new_type || !new_status || !new_reason || !new_message || (transition && !new_time))
        goto oom;
    if (!c) {
        mc_api_condition *items =
            realloc(conditions->items, (conditions->len + 1) * sizeof(*items));
        if (!items)
            goto oom;
        conditions->items = items;
        c = &items[conditions->len++];
        memset(c, 0, sizeof(*c));
    }
    free(c->type);
    c->type = new_type;
    free(c->status);
    c->status = new_status;
    free(c->reason);
    c->reason = new_reason;
    free(c->message);
    c->message = new_message;
    if (transition) {
        free(c->last_transition_time);
        c->last_transition_time = new_time;
    }
    c->observed_generation = observed_generation;
    return MC_OK;
oom:
    free(new_type);
    free(new_status);
    free(new_reason);
    free(new_message);
    free(new_time);
    return MC_ENOMEM;
}
