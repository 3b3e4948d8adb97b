/* pod_bounce.c - PodBounceDirective codec, bounce records and validation (see
 * pod_bounce.h).
 *
 * Both arrays keep one raw JSON per entry, so unknown fields of an entry stay
 * with it while entries are appended or dropped.
 */
#include "api/pod_bounce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "util/str.h"

static void selector_clear(mc_api_pod_selector *s)
{
    free(s->namespace);
    mc_api_str_map_clear(&s->labels);
    json_decref(s->raw);
    memset(s, 0, sizeof(*s));
}

static void record_clear(mc_api_bounced_pod *b)
{
    free(b->issuance);
    free(b->namespace);
    free(b->name);
    free(b->uid);
    json_decref(b->raw);
    memset(b, 0, sizeof(*b));
}

mc_api_pod_bounce_directive *mc_api_pod_bounce_directive_new(const char *namespace,
                                                             const char *name)
{
    mc_api_pod_bounce_directive *pbd = calloc(1, sizeof(*pbd));
    if (!pbd)
        return NULL;
    if (mc_api_meta_set_name(&pbd->metadata, namespace, name) != 0) {
        free(pbd);
        return NULL;
    }
    return pbd;
}

void mc_api_pod_bounce_directive_free(mc_api_pod_bounce_directive *pbd)
{
    if (!pbd)
        return;
    json_decref(pbd->raw);
    mc_api_meta_clear(&pbd->metadata);
    for (size_t i = 0; i < pbd->spec.pods_to_bounce_len; i++)
        selector_clear(&pbd->spec.pods_to_bounce[i]);
    free(pbd->spec.pods_to_bounce);
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++)
        record_clear(&pbd->status.bounced_pods[i]);
    free(pbd->status.bounced_pods);
    free(pbd);
}

static int decode_selectors(const json_t *spec, mc_api_pod_bounce_directive *pbd,
                            const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *a;
    char path[96];
    int rc = mc_codec_get_array(spec, "podsToBounce", &a, ctx, "spec.podsToBounce", err);
    if (rc != 0 || !a || json_array_size(a) == 0)
        return rc;
    size_t n = json_array_size(a);
    pbd->spec.pods_to_bounce = calloc(n, sizeof(mc_api_pod_selector));
    if (!pbd->spec.pods_to_bounce)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx->what);
    pbd->spec.pods_to_bounce_len = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        mc_api_pod_selector *s = &pbd->spec.pods_to_bounce[i];
        if (!json_is_object(e))
            return mc_err_set(err, MC_EINVAL, "%s: spec.podsToBounce[%zu]: expected an object",
                              ctx->what, i);
        s->raw = json_incref((json_t *)e);
        snprintf(path, sizeof(path), "spec.podsToBounce[%zu].namespace", i);
        if ((rc = mc_codec_get_string(e, "namespace", &s->namespace, ctx, path, err)) != 0)
            return rc;
        snprintf(path, sizeof(path), "spec.podsToBounce[%zu].labels", i);
        if ((rc = mc_codec_get_str_map(e, "labels", &s->labels, ctx, path, err)) != 0)
            return rc;
    }
    return 0;
}

static int decode_records(const json_t *status, mc_api_pod_bounce_directive *pbd,
                          const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *a;
    char path[96];
    int rc = mc_codec_get_array(status, "bouncedPods", &a, ctx, "status.bouncedPods", err);
    if (rc != 0 || !a || json_array_size(a) == 0)
        return rc;
    size_t n = json_array_size(a);
    pbd->status.bounced_pods = calloc(n, sizeof(mc_api_bounced_pod));
    if (!pbd->status.bounced_pods)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx->what);
    pbd->status.bounced_pods_len = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        mc_api_bounced_pod *b = &pbd->status.bounced_pods[i];
        if (!json_is_object(e))
            return mc_err_set(err, MC_EINVAL, "%s: status.bouncedPods[%zu]: expected an object",
                              ctx->what, i);
        b->raw = json_incref((json_t *)e);
        static const char *const keys[] = {"issuance", "namespace", "name", "uid"};
        char **fields[] = {&b->issuance, &b->namespace, &b->name, &b->uid};
        for (size_t k = 0; k < 4; k++) {
            snprintf(path, sizeof(path), "status.bouncedPods[%zu].%s", i, keys[k]);
            if ((rc = mc_codec_get_string(e, keys[k], fields[k], ctx, path, err)) != 0)
                return rc;
        }
    }
    return 0;
}

int mc_api_pod_bounce_directive_decode(json_t *json, mc_api_pod_bounce_directive **out, mc_err *err)
{
    mc_codec_ctx ctx;
    mc_codec_ctx_init(&ctx, "podbouncedirective", json);
    int rc = mc_codec_check_type_meta(json, MC_API_GROUP_VERSION, "PodBounceDirective", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_pod_bounce_directive *pbd = calloc(1, sizeof(*pbd));
    if (!pbd)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    pbd->raw = json_incref(json);
    const json_t *spec, *status;
    if ((rc = mc_api_meta_decode(json, &pbd->metadata, &ctx, err)) != 0 ||
        (rc = mc_codec_get_object(json, "spec", &spec, &ctx, "spec", err)) != 0 ||
        (rc = decode_selectors(spec, pbd, &ctx, err)) != 0 ||
        (rc = mc_codec_get_object(json, "status", &status, &ctx, "status", err)) != 0 ||
        (rc = mc_codec_get_int64(status, "observedGeneration", &pbd->status.observed_generation,
                                 &ctx, "status.observedGeneration", err)) != 0 ||
        (rc = decode_records(status, pbd, &ctx, err)) != 0) {
        mc_api_pod_bounce_directive_free(pbd);
        return rc;
    }
    *out = pbd;
    return 0;
}

static json_t *selector_encode(const mc_api_pod_selector *s)
{
    json_t *o = mc_codec_begin(s->raw);
    if (!o || mc_codec_put_string(o, "namespace", s->namespace) != 0 ||
        mc_codec_put_str_map(o, "labels", &s->labels) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *record_encode(const mc_api_bounced_pod *b)
{
    json_t *o = mc_codec_begin(b->raw);
    if (!o || mc_codec_put_string(o, "issuance", b->issuance) != 0 ||
        mc_codec_put_string(o, "namespace", b->namespace) != 0 ||
        mc_codec_put_string(o, "name", b->name) != 0 ||
        mc_codec_put_string(o, "uid", b->uid) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int encode_body(const mc_api_pod_bounce_directive *pbd, json_t *obj)
{
    json_t *saved;
    json_t *spec = mc_codec_child(obj, "spec", &saved);
    json_t *a = json_array();
    if (!spec || !a) {
        json_decref(saved);
        json_decref(a);
        return MC_ENOMEM;
    }
    for (size_t i = 0; i < pbd->spec.pods_to_bounce_len; i++) {
        if (json_array_append_new(a, selector_encode(&pbd->spec.pods_to_bounce[i])) != 0) {
            json_decref(saved);
            json_decref(a);
            return MC_ENOMEM;
        }
    }
    if (mc_codec_put(spec, "podsToBounce", a) != 0) {
        json_decref(saved);
        return MC_ENOMEM;
    }
    if (mc_codec_child_done(obj, "spec", saved) != 0)
        return MC_ENOMEM;

    json_t *status = mc_codec_child(obj, "status", &saved);
    a = json_array();
    if (!status || !a) {
        json_decref(saved);
        json_decref(a);
        return MC_ENOMEM;
    }
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++) {
        if (json_array_append_new(a, record_encode(&pbd->status.bounced_pods[i])) != 0) {
            json_decref(saved);
            json_decref(a);
            return MC_ENOMEM;
        }
    }
    if (mc_codec_put_int64(status, "observedGeneration", pbd->status.observed_generation) != 0 ||
        mc_codec_put(status, "bouncedPods", a) != 0) {
        json_decref(saved);
        return MC_ENOMEM;
    }
    return mc_codec_child_done(obj, "status", saved);
}

int mc_api_pod_bounce_directive_encode(const mc_api_pod_bounce_directive *pbd, json_t **out,
                                       mc_err *err)
{
    json_t *obj = mc_codec_begin(pbd->raw);
    if (!obj ||
        mc_codec_put_type_meta(obj, pbd->raw, MC_API_GROUP_VERSION, "PodBounceDirective") != 0 ||
        mc_api_meta_encode(&pbd->metadata, obj) != 0 || encode_body(pbd, obj) != 0) {
        json_decref(obj);
        return mc_err_set(err, MC_ENOMEM, "encoding podbouncedirective: out of memory");
    }
    *out = obj;
    return 0;
}

int mc_api_pod_bounce_directive_add_selector(mc_api_pod_bounce_directive *pbd,
                                             const char *namespace, const mc_api_str_map *labels)
{
    mc_api_pod_selector s = {0};
    s.namespace = mc_strdup(namespace);
    if (namespace && !s.namespace)
        return MC_ENOMEM;
    for (size_t i = 0; labels && i < labels->len; i++) {
        if (mc_api_str_map_set(&s.labels, labels->items[i].key, labels->items[i].value) != 0) {
            selector_clear(&s);
            return MC_ENOMEM;
        }
    }
    mc_api_pod_selector *grown =
        realloc(pbd->spec.pods_to_bounce, (pbd->spec.pods_to_bounce_len + 1) * sizeof(s));
    if (!grown) {
        selector_clear(&s);
        return MC_ENOMEM;
    }
    pbd->spec.pods_to_bounce = grown;
    grown[pbd->spec.pods_to_bounce_len++] = s;
    return 0;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool mc_api_pod_bounce_directive_was_bounced(const mc_api_pod_bounce_directive *pbd,
                                             const char *issuance, const char *pod_uid)
{
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++) {
        const mc_api_bounced_pod *b = &pbd->status.bounced_pods[i];
        if (same(b->issuance, issuance) && same(b->uid, pod_uid))
            return true;
    }
    return false;
}

bool mc_api_pod_bounce_directive_has_issuance(const mc_api_pod_bounce_directive *pbd,
                                              const char *issuance)
{
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++)
        if (same(pbd->status.bounced_pods[i].issuance, issuance))
            return true;
    return false;
}

int mc_api_pod_bounce_directive_record(mc_api_pod_bounce_directive *pbd, const char *issuance,
                                       const char *namespace, const char *name, const char *pod_uid)
{
    if (mc_api_pod_bounce_directive_was_bounced(pbd, issuance, pod_uid))
        return 0;
    mc_api_bounced_pod b = {0};
    b.issuance = mc_strdup(issuance);
    b.namespace = mc_strdup(namespace);
    b.name = mc_strdup(name);
    b.uid = mc_strdup(pod_uid);
    mc_api_bounced_pod *grown = NULL;
    if ((issuance && !b.issuance) || (namespace && !b.namespace) || (name && !b.name) ||
        (pod_uid && !b.uid) ||
        !(grown =
              realloc(pbd->status.bounced_pods, (pbd->status.bounced_pods_len + 1) * sizeof(b)))) {
        record_clear(&b);
        return MC_ENOMEM;
    }
    pbd->status.bounced_pods = grown;
    grown[pbd->status.bounced_pods_len++] = b;
    return 0;
}

size_t mc_api_pod_bounce_directive_forget_others(mc_api_pod_bounce_directive *pbd, const char *keep)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++) {
        mc_api_bounced_pod *b = &pbd->status.bounced_pods[i];
        if (same(b->issuance, keep)) {
            pbd->status.bounced_pods[kept++] = *b;
        } else {
            record_clear(b);
            dropped++;
        }
    }
    pbd->status.bounced_pods_len = kept;
    return dropped;
}

bool mc_api_pod_selector_matches(const mc_api_pod_selector *entry, const char *namespace,
                                 const mc_api_str_map *labels)
{
    if (!same(entry->namespace, namespace))
        return false;
    for (size_t i = 0; i < entry->labels.len; i++) {
        const char *v = mc_api_str_map_get(labels, entry->labels.items[i].key);
        if (!v || strcmp(v, entry->labels.items[i].value) != 0)
            return false;
    }
    return true;
}

int mc_api_pod_bounce_directive_validate(const mc_api_pod_bounce_directive *pbd, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&pbd->metadata, "podbouncedirective", what, sizeof(what));
    int rc = mc_api_meta_validate(&pbd->metadata, true, false, what, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < pbd->spec.pods_to_bounce_len; i++) {
        const mc_api_pod_selector *s = &pbd->spec.pods_to_bounce[i];
        if (!s->namespace || !*s->namespace)
            return mc_err_set(err, MC_EINVAL, "%s: spec.podsToBounce[%zu].namespace: required",
                              what, i);
        if (mc_validate_dns1123_label(s->namespace, err) != 0)
            return mc_err_prefix(err, "%s: spec.podsToBounce[%zu].namespace", what, i);
        if (mc_validate_labels(&s->labels, err) != 0)
            return mc_err_prefix(err, "%s: spec.podsToBounce[%zu].labels", what, i);
    }
    for (size_t i = 0; i < pbd->status.bounced_pods_len; i++) {
        const mc_api_bounced_pod *b = &pbd->status.bounced_pods[i];
        if (!b->issuance || !*b->issuance)
            return mc_err_set(err, MC_EINVAL, "%s: status.bouncedPods[%zu].issuance: required",
                              what, i);
        if (!b->uid || !*b->uid)
            return mc_err_set(err, MC_EINVAL, "%s: status.bouncedPods[%zu].uid: required", what, i);
        if (mc_validate_dns1123_label(b->namespace ? b->namespace : "", err) != 0)
            return mc_err_prefix(err, "%s: status.bouncedPods[%zu].namespace", what, i);
        if (mc_validate_dns1123_subdomain(b->name ? b->name : "", err) != 0)
            return mc_err_prefix(err, "%s: status.bouncedPods[%zu].name", what, i);
    }
    return 0;
}
