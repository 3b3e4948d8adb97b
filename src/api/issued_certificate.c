/* issued_certificate.c - IssuedCertificate codec and validation (see
 * issued_certificate.h).
 *
 * The state is written back as the string it was read as: an unknown state
 * (from a newer writer) is left untouched, and PENDING is only written when the
 * original carried a state or the state changed, so proto3's "absent means
 * PENDING" objects round-trip exactly.
 */
#include "api/issued_certificate.h"

#include "util/duration.h"
#include "util/host.h"

#include <stdlib.h>
#include <string.h>

#include "api/validate.h"

static const char *const state_names[] = {"PENDING", "REQUESTED", "ISSUED", "FINISHED", "FAILED"};

const char *mc_api_ic_state_name(mc_ic_state state)
{
    if (state < MC_IC_STATE_PENDING || state > MC_IC_STATE_FAILED)
        return "UNKNOWN";
    return state_names[state];
}

mc_ic_state mc_api_ic_state_parse(const char *name)
{
    for (int i = 0; i <= MC_IC_STATE_FAILED; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (mc_ic_state)i;
    return MC_IC_STATE_UNKNOWN;
}

mc_api_issued_certificate *mc_api_issued_certificate_new(const char *namespace, const char *name)
{
    mc_api_issued_certificate *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return NULL;
    if (mc_api_meta_set_name(&ic->metadata, namespace, name) != 0) {
        free(ic);
        return NULL;
    }
    return ic;
}

void mc_api_issued_certificate_free(mc_api_issued_certificate *ic)
{
    if (!ic)
        return;
    json_decref(ic->raw);
    mc_api_meta_clear(&ic->metadata);
    mc_codec_str_array_free(ic->spec.hosts, ic->spec.hosts_len);
    free(ic->spec.org);
    mc_api_object_ref_clear(&ic->spec.signing_certificate_secret);
    mc_api_object_ref_clear(&ic->spec.issued_certificate_secret);
    mc_api_object_ref_clear(&ic->spec.pod_bounce_directive);
    free(ic->spec.duration);
    free(ic->spec.renew_before);
    free(ic->spec.key_type);
    free(ic->status.error);
    free(ic->status.not_before);
    free(ic->status.not_after);
    free(ic->status.renewal_time);
    mc_codec_str_array_free(ic->status.root_fingerprints, ic->status.root_fingerprints_len);
    free(ic->status.rotation);
    mc_api_conditions_clear(&ic->status.conditions);
    free(ic);
}

static int decode_spec(const json_t *json, mc_api_issued_certificate_spec *spec,
                       const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *s;
    int rc = mc_codec_get_object(json, "spec", &s, ctx, "spec", err);
    if (rc != 0 || !s)
        return rc;
    if ((rc = mc_codec_get_str_array(s, "hosts", &spec->hosts, &spec->hosts_len, ctx, "spec.hosts",
                                     err)) != 0 ||
        (rc = mc_codec_get_string(s, "org", &spec->org, ctx, "spec.org", err)) != 0 ||
        (rc = mc_api_object_ref_decode(s, "signingCertificateSecret",
                                       &spec->signing_certificate_secret, ctx,
                                       "spec.signingCertificateSecret", err)) != 0 ||
        (rc = mc_api_object_ref_decode(s, "issuedCertificateSecret",
                                       &spec->issued_certificate_secret, ctx,
                                       "spec.issuedCertificateSecret", err)) != 0 ||
        (rc = mc_api_object_ref_decode(s, "podBounceDirective", &spec->pod_bounce_directive, ctx,
                                       "spec.podBounceDirective", err)) != 0 ||
        (rc = mc_codec_get_string(s, "duration", &spec->duration, ctx, "spec.duration", err)) !=
            0 ||
        (rc = mc_codec_get_string(s, "renewBefore", &spec->renew_before, ctx, "spec.renewBefore",
                                  err)) != 0 ||
        (rc = mc_codec_get_string(s, "keyType", &spec->key_type, ctx, "spec.keyType", err)) != 0)
        return rc;
    return 0;
}

static int decode_status(const json_t *json, mc_api_issued_certificate_status *status,
                         const mc_codec_ctx *ctx, mc_err *err)
{
    const json_t *s;
    char *state = NULL;
    int rc = mc_codec_get_object(json, "status", &s, ctx, "status", err);
    if (rc != 0 || !s)
        return rc;
    if ((rc = mc_codec_get_int64(s, "observedGeneration", &status->observed_generation, ctx,
                                 "status.observedGeneration", err)) != 0 ||
        (rc = mc_codec_get_string(s, "error", &status->error, ctx, "status.error", err)) != 0 ||
        (rc = mc_codec_get_string(s, "state", &state, ctx, "status.state", err)) != 0 ||
        (rc = mc_codec_get_time(s, "notBefore", &status->not_before, ctx, "status.notBefore",
                                err)) != 0 ||
        (rc = mc_codec_get_time(s, "notAfter", &status->not_after, ctx, "status.notAfter", err)) !=
            0 ||
        (rc = mc_codec_get_time(s, "renewalTime", &status->renewal_time, ctx, "status.renewalTime",
                                err)) != 0 ||
        (rc = mc_codec_get_str_array(s, "rootFingerprints", &status->root_fingerprints,
                                     &status->root_fingerprints_len, ctx, "status.rootFingerprints",
                                     err)) != 0 ||
        (rc = mc_codec_get_string(s, "rotation", &status->rotation, ctx, "status.rotation", err)) !=
            0 ||
        (rc = mc_api_conditions_decode(s, &status->conditions, ctx, "status.conditions", err)) !=
            0) {
        free(state);
        return rc;
    }
    if (state)
        status->state = mc_api_ic_state_parse(state);
    free(state);
    return 0;
}

int mc_api_issued_certificate_decode(json_t *json, mc_api_issued_certificate **out, mc_err *err)
{
    mc_codec_ctx ctx;
    mc_codec_ctx_init(&ctx, "issuedcertificate", json);
    int rc = mc_codec_check_type_meta(json, MC_API_GROUP_VERSION, "IssuedCertificate", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_issued_certificate *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    ic->raw = json_incref(json);
    if ((rc = mc_api_meta_decode(json, &ic->metadata, &ctx, err)) != 0 ||
        (rc = decode_spec(json, &ic->spec, &ctx, err)) != 0 ||
        (rc = decode_status(json, &ic->status, &ctx, err)) != 0) {
        mc_api_issued_certificate_free(ic);
        return rc;
    }
    *out = ic;
    return 0;
}

static int encode_spec(const mc_api_issued_certificate_spec *spec, json_t *obj)
{
    json_t *saved;
    json_t *s = mc_codec_child(obj, "spec", &saved);
    if (!s)
        return MC_ENOMEM;
    int rc;
    if ((rc = mc_codec_put_str_array(s, "hosts", spec->hosts, spec->hosts_len)) != 0 ||
        (rc = mc_codec_put_string(s, "org", spec->org)) != 0 ||
        (rc = mc_api_object_ref_encode(&spec->signing_certificate_secret, s,
                                       "signingCertificateSecret")) != 0 ||
        (rc = mc_api_object_ref_encode(&spec->issued_certificate_secret, s,
                                       "issuedCertificateSecret")) != 0 ||
        (rc = mc_api_object_ref_encode(&spec->pod_bounce_directive, s, "podBounceDirective")) !=
            0 ||
        (rc = mc_codec_put_string(s, "duration", spec->duration)) != 0 ||
        (rc = mc_codec_put_string(s, "renewBefore", spec->renew_before)) != 0 ||
        (rc = mc_codec_put_string(s, "keyType", spec->key_type)) != 0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "spec", saved);
}

static int encode_state(json_t *status, mc_ic_state state)
{
    if (state == MC_IC_STATE_UNKNOWN)
        return 0;
    if (state == MC_IC_STATE_PENDING && !json_object_get(status, "state"))
        return 0;
    return mc_codec_put_string(status, "state", mc_api_ic_state_name(state));
}

static int encode_status(const mc_api_issued_certificate_status *st, json_t *obj)
{
    json_t *saved;
    json_t *s = mc_codec_child(obj, "status", &saved);
    if (!s)
        return MC_ENOMEM;
    int rc;
    if ((rc = mc_codec_put_int64(s, "observedGeneration", st->observed_generation)) != 0 ||
        (rc = mc_codec_put_string(s, "error", st->error)) != 0 ||
        (rc = encode_state(s, st->state)) != 0 ||
        (rc = mc_codec_put_string(s, "notBefore", st->not_before)) != 0 ||
        (rc = mc_codec_put_string(s, "notAfter", st->not_after)) != 0 ||
        (rc = mc_codec_put_string(s, "renewalTime", st->renewal_time)) != 0 ||
        (rc = mc_codec_put_str_array(s, "rootFingerprints", st->root_fingerprints,
                                     st->root_fingerprints_len)) != 0 ||
        (rc = mc_codec_put_string(s, "rotation", st->rotation)) != 0 ||
        (rc = mc_api_conditions_encode(&st->conditions, s)) != 0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "status", saved);
}

int mc_api_issued_certificate_encode(const mc_api_issued_certificate *ic, json_t **out, mc_err *err)
{
    json_t *obj = mc_codec_begin(ic->raw);
    if (!obj || mc_codec_put_type_meta(obj, ic->raw, MC_API_GROUP_VERSION, "IssuedCertificate") ||
        mc_api_meta_encode(&ic->metadata, obj) != 0 || encode_spec(&ic->spec, obj) != 0 ||
        encode_status(&ic->status, obj) != 0) {
        json_decref(obj);
        return mc_err_set(err, MC_ENOMEM, "encoding issuedcertificate: out of memory");
    }
    *out = obj;
    return 0;
}

/* The names pki/'s mc_pki_key_type_parse accepts (api/ may not use pki/;
 * agent_decide_test checks that both lists agree). */
static const char *const key_type_names[] = {"rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"};

static int parse_duration_field(const char *text, const char *what, const char *field,
                                int64_t *seconds, mc_err *err)
{
    mc_err parse_err = {0};
    int rc = mc_duration_parse(text, seconds, &parse_err);
    if (rc != MC_OK)
        return mc_err_set(err, rc, "%s: %s: %s", what, field, parse_err.msg);
    return MC_OK;
}

int mc_api_issued_certificate_duration(const mc_api_issued_certificate *ic, int64_t default_seconds,
                                       int64_t *seconds, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&ic->metadata, "issuedcertificate", what, sizeof(what));
    if (!ic->spec.duration) {
        *seconds = default_seconds;
        return MC_OK;
    }
    int64_t value;
    int rc = parse_duration_field(ic->spec.duration, what, "spec.duration", &value, err);
    if (rc != MC_OK)
        return rc;
    if (value < MC_API_IC_DURATION_MIN || value > MC_API_IC_DURATION_MAX)
        return mc_err_set(err, MC_EINVAL, "%s: spec.duration: \"%.64s\" is outside 1m to 87600h",
                          what, ic->spec.duration);
    *seconds = value;
    return MC_OK;
}

int mc_api_issued_certificate_renew_before(const mc_api_issued_certificate *ic, int64_t *seconds,
                                           mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&ic->metadata, "issuedcertificate", what, sizeof(what));
    *seconds = 0;
    if (!ic->spec.renew_before)
        return MC_OK;
    return parse_duration_field(ic->spec.renew_before, what, "spec.renewBefore", seconds, err);
}

const char *mc_api_issued_certificate_rotate_token(const mc_api_issued_certificate *ic)
{
    const char *token = mc_api_str_map_get(&ic->metadata.annotations, MC_API_IC_ROTATE_ANNOTATION);
    return token && *token ? token : NULL;
}

static int validate_lifetime(const mc_api_issued_certificate *ic, const char *what, mc_err *err)
{
    int64_t duration = 0, renew_before = 0;
    int rc;
    if ((rc = mc_api_issued_certificate_duration(ic, 0, &duration, err)) != MC_OK ||
        (rc = mc_api_issued_certificate_renew_before(ic, &renew_before, err)) != MC_OK)
        return rc;
    if (ic->spec.duration && ic->spec.renew_before && renew_before >= duration)
        return mc_err_set(err, MC_EINVAL,
                          "%s: spec.renewBefore: \"%.64s\" must be shorter than spec.duration "
                          "\"%.64s\"",
                          what, ic->spec.renew_before, ic->spec.duration);
    if (!ic->spec.key_type)
        return MC_OK;
    for (size_t i = 0; i < sizeof(key_type_names) / sizeof(key_type_names[0]); i++)
        if (strcmp(ic->spec.key_type, key_type_names[i]) == 0)
            return MC_OK;
    return mc_err_set(err, MC_EINVAL,
                      "%s: spec.keyType: unknown key type \"%.64s\" (expected rsa2048, rsa3072, "
                      "rsa4096, ec-p256 or ec-p384)",
                      what, ic->spec.key_type);
}

static bool is_sha256_hex(const char *text)
{
    size_t n = strlen(text);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return true;
}

int mc_api_issued_certificate_validate(const mc_api_issued_certificate *ic, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&ic->metadata, "issuedcertificate", what, sizeof(what));
    int rc = mc_api_meta_validate(&ic->metadata, true, false, what, err);
    if (rc != 0)
        return rc;
    if (ic->spec.hosts_len == 0)
        return mc_err_set(err, MC_EINVAL, "%s: spec.hosts: at least one host is required", what);
    for (size_t i = 0; i < ic->spec.hosts_len; i++) {
        mc_host host;
        if (mc_host_classify(ic->spec.hosts[i], &host, err) != 0)
            return mc_err_prefix(err, "%s: spec.hosts[%zu]", what, i);
    }
    if (ic->spec.org && strlen(ic->spec.org) > MC_VALIDATE_ORG_MAX)
        return mc_err_set(err, MC_EINVAL, "%s: spec.org: longer than %d characters", what,
                          MC_VALIDATE_ORG_MAX);
    if ((rc = mc_api_object_ref_validate(&ic->spec.signing_certificate_secret, true, what,
                                         "spec.signingCertificateSecret", err)) != 0 ||
        (rc = mc_api_object_ref_validate(&ic->spec.issued_certificate_secret, true, what,
                                         "spec.issuedCertificateSecret", err)) != 0 ||
        (rc = mc_api_object_ref_validate(&ic->spec.pod_bounce_directive, false, what,
                                         "spec.podBounceDirective", err)) != 0 ||
        (rc = validate_lifetime(ic, what, err)) != 0)
        return rc;
    if (ic->status.observed_generation < 0)
        return mc_err_set(err, MC_EINVAL, "%s: status.observedGeneration: negative", what);
    for (size_t i = 0; i < ic->status.root_fingerprints_len; i++)
        if (!is_sha256_hex(ic->status.root_fingerprints[i]))
            return mc_err_set(err, MC_EINVAL,
                              "%s: status.rootFingerprints[%zu]: \"%.80s\" is not a SHA-256 "
                              "in lowercase hex",
                              what, i, ic->status.root_fingerprints[i]);
    return 0;
}

void mc_api_issued_certificate_ready(const mc_api_issued_certificate_status *status,
                                     const char **ready, const char **reason, const char **message)
{
    *ready = "False";
    if (mc_api_issued_certificate_renewing(status) &&
        (status->state == MC_IC_STATE_PENDING || status->state == MC_IC_STATE_REQUESTED ||
         status->state == MC_IC_STATE_ISSUED)) {
        *ready = "True";
        *reason = "Renewing";
        *message = "the current certificate stays in place while its successor is issued";
        return;
    }
    switch (status->state) {
    case MC_IC_STATE_PENDING:
        *reason = "Pending";
        *message = "waiting for the agent to make a key and a certificate request";
        break;
    case MC_IC_STATE_REQUESTED:
        *reason = "Requested";
        *message = "waiting for the issuer to sign the certificate request";
        break;
    case MC_IC_STATE_ISSUED:
        *reason = "Issued";
        *message = "certificate written; restarting the pods of the podBounceDirective";
        break;
    case MC_IC_STATE_FINISHED:
        *ready = "True";
        *reason = "Finished";
        *message = "certificate issued and written to spec.issuedCertificateSecret";
        break;
    case MC_IC_STATE_FAILED:
        *reason = "Failed";
        *message = status->error && *status->error ? status->error : "failed (no reason given)";
        break;
    case MC_IC_STATE_UNKNOWN:
    default:
        *ready = "Unknown";
        *reason = "UnknownState";
        *message = "status.state is not one this version of meshcert knows";
        break;
    }
}

int mc_api_issued_certificate_renewing(const mc_api_issued_certificate_status *status)
{
    const mc_api_condition *c =
        mc_api_conditions_get(&status->conditions, MC_API_CONDITION_ISSUING);
    return c && c->status && strcmp(c->status, "True") == 0;
}

int mc_api_issued_certificate_set_ready(mc_api_issued_certificate *ic, int64_t now)
{
    const char *ready, *reason, *message;
    mc_api_issued_certificate_ready(&ic->status, &ready, &reason, &message);
    return mc_api_conditions_set(&ic->status.conditions, MC_API_CONDITION_READY, ready, reason,
                                 message, ic->status.observed_generation, now);
}

int mc_api_issued_certificate_ready_current(const mc_api_issued_certificate *ic)
{
    const char *ready, *reason, *message;
    mc_api_issued_certificate_ready(&ic->status, &ready, &reason, &message);
    return mc_api_conditions_says(&ic->status.conditions, MC_API_CONDITION_READY, ready, reason,
                                  message, ic->status.observed_generation);
}

json_t *mc_api_issued_certificate_rotate_patch(const char *token)
{
    return json_pack("{s:{s:{s:s}}}", "metadata", "annotations", MC_API_IC_ROTATE_ANNOTATION,
                     token);
}
