/* root_rotation.c - RootRotation codec and validation (see root_rotation.h).
 *
 * status.clusters is rewritten whole by the issuer on every status write, so
 * its entries keep no raw JSON; everything else round-trips unknown fields
 * through raw like the other meshcert kinds.
 */
#include "api/root_rotation.h"

#include <stdlib.h>
#include <string.h>

#include "util/duration.h"
#include "util/str.h"

static const char *const phase_names[] = {
    "",
    "ADDING_NEW_ROOT",
    "PROPAGATING_NEW_INTERMEDIATE",
    "DELETING_OLD_ROOT",
    "COMPLETE",
    "ROLLING_BACK_INTERMEDIATE",
    "ROLLING_BACK",
    "ABORTED",
    "FAILED",
};

const char *mc_api_rr_phase_name(mc_rr_phase phase)
{
    if (phase < MC_RR_PHASE_NONE || phase > MC_RR_PHASE_FAILED)
        return "UNKNOWN";
    return phase_names[phase];
}

mc_rr_phase mc_api_rr_phase_parse(const char *name)
{
    if (!name || !*name)
        return MC_RR_PHASE_NONE;
    for (int i = 1; i <= MC_RR_PHASE_FAILED; i++)
        if (strcmp(name, phase_names[i]) == 0)
            return (mc_rr_phase)i;
    return MC_RR_PHASE_UNKNOWN;
}

bool mc_api_rr_phase_is_final(mc_rr_phase phase)
{
    return phase == MC_RR_PHASE_COMPLETE || phase == MC_RR_PHASE_ABORTED ||
           phase == MC_RR_PHASE_FAILED;
}

mc_api_root_rotation *mc_api_root_rotation_new(const char *namespace, const char *name)
{
    mc_api_root_rotation *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return NULL;
    if (mc_api_meta_set_name(&rr->metadata, namespace, name) != 0) {
        free(rr);
        return NULL;
    }
    return rr;
}

static void clusters_free(mc_api_root_rotation_cluster *clusters, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(clusters[i].name);
        free(clusters[i].phase);
        free(clusters[i].message);
    }
    free(clusters);
}

void mc_api_root_rotation_free(mc_api_root_rotation *rr)
{
    if (!rr)
        return;
    json_decref(rr->raw);
    mc_api_meta_clear(&rr->metadata);
    mc_api_object_ref_clear(&rr->spec.root_secret);
    mc_api_object_ref_clear(&rr->spec.new_root_secret);
    free(rr->spec.step_dwell);
    free(rr->status.phase);
    free(rr->status.step_started_at);
    free(rr->status.old_root_fingerprint);
    free(rr->status.new_root_fingerprint);
    clusters_free(rr->status.clusters, rr->status.clusters_len);
    mc_api_conditions_clear(&rr->status.conditions);
    free(rr);
}

int mc_api_root_rotation_set_clusters(mc_api_root_rotation *rr,
                                      const mc_api_root_rotation_cluster *clusters, size_t n)
{
    mc_api_root_rotation_cluster *copy = n ? calloc(n, sizeof(*copy)) : NULL;
    if (n && !copy)
        return MC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i].name = mc_strdup(clusters[i].name ? clusters[i].name : "");
        copy[i].phase = mc_strdup(clusters[i].phase ? clusters[i].phase : "");
        copy[i].done = clusters[i].done;
        copy[i].message = clusters[i].message ? mc_strdup(clusters[i].message) : NULL;
        if (!copy[i].name || !copy[i].phase || (clusters[i].message && !copy[i].message)) {
            clusters_free(copy, n);
            return MC_ENOMEM;
        }
    }
    clusters_free(rr->status.clusters, rr->status.clusters_len);
    rr->status.clusters = copy;
    rr->status.clusters_len = n;
    return MC_OK;
}

static int decode_spec(const json_t *json, mc_api_root_rotation_spec *spec, const mc_codec_ctx *ctx,
                       mc_err *err)
{
    const json_t *s;
    int rc = mc_codec_get_object(json, "spec", &s, ctx, "spec", err);
    if (rc != 0 || !s)
        return rc;
    if ((rc = mc_api_object_ref_decode(s, "rootSecret", &spec->root_secret, ctx, "spec.rootSecret",
                                       err)) != 0 ||
        (rc = mc_api_object_ref_decode(s, "newRootSecret", &spec->new_root_secret, ctx,
                                       "spec.newRootSecret", err)) != 0 ||
        (rc = mc_codec_get_string(s, "stepDwell", &spec->step_dwell, ctx, "spec.stepDwell", err)) !=
            0 ||
        (rc = mc_codec_get_bool(s, "abort", &spec->abort, ctx, "spec.abort", err)) != 0)
        return rc;
    return 0;
}

static int decode_clusters(const json_t *status, mc_api_root_rotation_status *st,
                           const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *array;
    int rc = mc_codec_get_array(status, "clusters", &array, ctx, "status.clusters", err);
    if (rc != 0 || !array || json_array_size(array) == 0)
        return rc;
    size_t n = json_array_size(array);
    st->clusters = calloc(n, sizeof(*st->clusters));
    if (!st->clusters)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx->what);
    st->clusters_len = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(array, i);
        mc_api_root_rotation_cluster *c = &st->clusters[i];
        if (!json_is_object(item))
            return mc_err_set(err, MC_EINVAL, "%s: status.clusters[%zu]: expected an object",
                              ctx->what, i);
        if ((rc = mc_codec_get_string(item, "name", &c->name, ctx, "status.clusters[].name",
                                      err)) != 0 ||
            (rc = mc_codec_get_string(item, "phase", &c->phase, ctx, "status.clusters[].phase",
                                      err)) != 0 ||
            (rc = mc_codec_get_bool(item, "done", &c->done, ctx, "status.clusters[].done", err)) !=
                0 ||
            (rc = mc_codec_get_string(item, "message", &c->message, ctx,
                                      "status.clusters[].message", err)) != 0)
            return rc;
    }
    return 0;
}

static int decode_status(const json_t *json, mc_api_root_rotation_status *st,
                         const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *s;
    int rc = mc_codec_get_object(json, "status", &s, ctx, "status", err);
    if (rc != 0 || !s)
        return rc;
    if ((rc = mc_codec_get_string(s, "phase", &st->phase, ctx, "status.phase", err)) != 0 ||
        (rc = mc_codec_get_time(s, "stepStartedAt", &st->step_started_at, ctx,
                                "status.stepStartedAt", err)) != 0 ||
        (rc = mc_codec_get_string(s, "oldRootFingerprint", &st->old_root_fingerprint, ctx,
                                  "status.oldRootFingerprint", err)) != 0 ||
        (rc = mc_codec_get_string(s, "newRootFingerprint", &st->new_root_fingerprint, ctx,
                                  "status.newRootFingerprint", err)) != 0 ||
        (rc = decode_clusters(s, st, ctx, err)) != 0 ||
        (rc = mc_api_conditions_decode(s, &st->conditions, ctx, "status.conditions", err)) != 0)
        return rc;
    return 0;
}

int mc_api_root_rotation_decode(json_t *json, mc_api_root_rotation **out, mc_err *err)
{
    mc_codec_ctx ctx;
    mc_codec_ctx_init(&ctx, "rootrotation", json);
    int rc = mc_codec_check_type_meta(json, MC_API_GROUP_VERSION, "RootRotation", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_root_rotation *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    rr->raw = json_incref(json);
    if ((rc = mc_api_meta_decode(json, &rr->metadata, &ctx, err)) != 0 ||
        (rc = decode_spec(json, &rr->spec, &ctx, err)) != 0 ||
        (rc = decode_status(json, &rr->status, &ctx, err)) != 0) {
        mc_api_root_rotation_free(rr);
        return rc;
    }
    *out = rr;
    return 0;
}

static int encode_spec(const mc_api_root_rotation_spec *spec, json_t *obj)
{
    json_t *saved;
    json_t *s = mc_codec_child(obj, "spec", &saved);
    if (!s)
        return MC_ENOMEM;
    int rc;
    if ((rc = mc_api_object_ref_encode(&spec->root_secret, s, "rootSecret")) != 0 ||
        (rc = mc_api_object_ref_encode(&spec->new_root_secret, s, "newRootSecret")) != 0 ||
        (rc = mc_codec_put_string(s, "stepDwell", spec->step_dwell)) != 0 ||
        (rc = mc_codec_put_bool(s, "abort", spec->abort)) != 0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "spec", saved);
}

static json_t *encode_clusters(const mc_api_root_rotation_status *st)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < st->clusters_len; i++) {
        const mc_api_root_rotation_cluster *c = &st->clusters[i];
        json_t *item = json_object();
        if (!item || mc_codec_put_string(item, "name", c->name) != 0 ||
            mc_codec_put_string(item, "phase", c->phase) != 0 ||
            json_object_set_new(item, "done", json_boolean(c->done)) != 0 ||
            mc_codec_put_string(item, "message", c->message) != 0 ||
            json_array_append_new(a, item) != 0) {
            json_decref(item);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int encode_status(const mc_api_root_rotation_status *st, json_t *obj)
{
    json_t *saved;
    json_t *s = mc_codec_child(obj, "status", &saved);
    if (!s)
        return MC_ENOMEM;
    json_t *clusters = encode_clusters(st);
    /* mc_codec_put steals clusters (NULL: out of memory, reported below) */
    int rc = clusters ? mc_codec_put(s, "clusters", clusters) : MC_ENOMEM;
    if (rc == 0 &&
        ((rc = mc_codec_put_string(s, "phase", st->phase)) != 0 ||
         (rc = mc_codec_put_string(s, "stepStartedAt", st->step_started_at)) != 0 ||
         (rc = mc_codec_put_string(s, "oldRootFingerprint", st->old_root_fingerprint)) != 0 ||
         (rc = mc_codec_put_string(s, "newRootFingerprint", st->new_root_fingerprint)) != 0 ||
         (rc = mc_api_conditions_encode(&st->conditions, s)) != 0))
        rc = MC_ENOMEM;
    if (rc != 0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "status", saved);
}

int mc_api_root_rotation_encode(const mc_api_root_rotation *rr, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(rr->raw);
    if (!obj || mc_codec_put_type_meta(obj, rr->raw, MC_API_GROUP_VERSION, "RootRotation") ||
        mc_api_meta_encode(&rr->metadata, obj) != 0 || encode_spec(&rr->spec, obj) != 0 ||
        encode_status(&rr->status, obj) != 0) {
        json_decref(obj);
        return mc_err_set(err, MC_ENOMEM, "encoding rootrotation: out of memory");
    }
    *out = obj;
    return 0;
}

int mc_api_root_rotation_dwell(const mc_api_root_rotation *rr, int64_t *seconds, mc_err *err)
{
    const char *text = rr->spec.step_dwell && *rr->spec.step_dwell
                           ? rr->spec.step_dwell
                           : MC_API_ROOT_ROTATION_DEFAULT_DWELL;
    char what[320];
    if (mc_duration_parse(text, seconds, err) == MC_OK)
        return MC_OK;
    mc_api_meta_describe(&rr->metadata, "rootrotation", what, sizeof(what));
    return mc_err_prefix(err, "%s: spec.stepDwell", what);
}

static bool same_ref(const mc_api_object_ref *a, const mc_api_object_ref *b)
{
    const char *an = a->namespace ? a->namespace : "", *bn = b->namespace ? b->namespace : "";
    return strcmp(an, bn) == 0 && a->name && b->name && strcmp(a->name, b->name) == 0;
}

int mc_api_root_rotation_validate(const mc_api_root_rotation *rr, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&rr->metadata, "rootrotation", what, sizeof(what));
    int rc = mc_api_meta_validate(&rr->metadata, true, false, what, err);
    if (rc != 0)
        return rc;
    if ((rc = mc_api_object_ref_validate(&rr->spec.root_secret, true, what, "spec.rootSecret",
                                         err)) != 0 ||
        (rc = mc_api_object_ref_validate(&rr->spec.new_root_secret, true, what,
                                         "spec.newRootSecret", err)) != 0)
        return rc;
    if (same_ref(&rr->spec.root_secret, &rr->spec.new_root_secret))
        return mc_err_set(err, MC_EINVAL,
                          "%s: spec.newRootSecret: names the same Secret as spec.rootSecret", what);
    int64_t dwell;
    if ((rc = mc_api_root_rotation_dwell(rr, &dwell, err)) != 0)
        return rc;
    if (mc_api_rr_phase_parse(rr->status.phase) == MC_RR_PHASE_UNKNOWN)
        return mc_err_set(err, MC_EINVAL, "%s: status.phase: \"%s\" is not a known phase", what,
                          rr->status.phase);
    return 0;
}

json_t *mc_api_root_rotation_abort_patch(void)
{
    return json_pack("{s:{s:b}}", "spec", "abort", 1);
}
