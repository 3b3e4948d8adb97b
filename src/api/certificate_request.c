/* certificate_request.c - CertificateRequest codec and validation (see
 * certificate_request.h).
 *
 * The byte fields may carry a private key's certificate chain but never the
 * key itself; they are still freed with the wiping helpers, like every byte
 * buffer in api/.
 */
#include "api/certificate_request.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static const char *const state_names[] = {"PENDING", "FINISHED", "FAILED"};

const char *mc_api_cr_state_name(mc_cr_state state)
{
    if (state < MC_CR_STATE_PENDING || state > MC_CR_STATE_FAILED)
        return "UNKNOWN";
    return state_names[state];
}

mc_cr_state mc_api_cr_state_parse(const char *name)
{
    for (int i = 0; i <= MC_CR_STATE_FAILED; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (mc_cr_state)i;
    return MC_CR_STATE_UNKNOWN;
}

mc_api_certificate_request *mc_api_certificate_request_new(const char *namespace, const char *name)
{
    mc_api_certificate_request *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return NULL;
    if (mc_api_meta_set_name(&cr->metadata, namespace, name) != 0) {
        free(cr);
        return NULL;
    }
    return cr;
}

void mc_api_certificate_request_free(mc_api_certificate_request *cr)
{
    if (!cr)
        return;
    json_decref(cr->raw);
    mc_api_meta_clear(&cr->metadata);
    mc_secure_free(cr->spec.certificate_signing_request, cr->spec.certificate_signing_request_len);
    free(cr->status.error);
    mc_api_conditions_clear(&cr->status.conditions);
    mc_secure_free(cr->status.signed_certificate, cr->status.signed_certificate_len);
    mc_secure_free(cr->status.signing_root_ca, cr->status.signing_root_ca_len);
    free(cr);
}

static int replace_bytes(unsigned char **field, size_t *field_len, const void *data, size_t len)
{
    unsigned char *copy = NULL;
    if (data) {
        copy = malloc(len + 1);
        if (!copy)
            return MC_ENOMEM;
        if (len)
            memcpy(copy, data, len);
        copy[len] = '\0';
    }
    mc_secure_free(*field, *field_len);
    *field = copy;
    *field_len = data ? len : 0;
    return 0;
}

int mc_api_certificate_request_set_csr(mc_api_certificate_request *cr, const void *data, size_t len)
{
    return replace_bytes(&cr->spec.certificate_signing_request,
                         &cr->spec.certificate_signing_request_len, data, len);
}

int mc_api_certificate_request_set_signed(mc_api_certificate_request *cr, const void *cert,
                                          size_t cert_len, const void *root, size_t root_len)
{
    if (replace_bytes(&cr->status.signed_certificate, &cr->status.signed_certificate_len, cert,
                      cert_len) != 0 ||
        replace_bytes(&cr->status.signing_root_ca, &cr->status.signing_root_ca_len, root,
                      root_len) != 0)
        return MC_ENOMEM;
    return 0;
}

static int decode_body(const json_t *json, mc_api_certificate_request *cr, const mc_codec_ctx *ctx,
                       mc_err *err)
{
    const json_t *spec, *status;
    char *state = NULL;
    int rc;
    if ((rc = mc_codec_get_object(json, "spec", &spec, ctx, "spec", err)) != 0 ||
        (rc = mc_codec_get_bytes(spec, "certificateSigningRequest",
                                 &cr->spec.certificate_signing_request,
                                 &cr->spec.certificate_signing_request_len, ctx,
                                 "spec.certificateSigningRequest", err)) != 0 ||
        (rc = mc_codec_get_object(json, "status", &status, ctx, "status", err)) != 0 ||
        (rc = mc_codec_get_int64(status, "observedGeneration", &cr->status.observed_generation, ctx,
                                 "status.observedGeneration", err)) != 0 ||
        (rc = mc_codec_get_string(status, "error", &cr->status.error, ctx, "status.error", err)) !=
            0 ||
        (rc = mc_codec_get_string(status, "state", &state, ctx, "status.state", err)) != 0 ||
        (rc = mc_codec_get_bytes(status, "signedCertificate", &cr->status.signed_certificate,
                                 &cr->status.signed_certificate_len, ctx,
                                 "status.signedCertificate", err)) != 0 ||
        (rc = mc_codec_get_bytes(status, "signingRootCa", &cr->status.signing_root_ca,
                                 &cr->status.signing_root_ca_len, ctx, "status.signingRootCa",
                                 err)) != 0 ||
        (rc = mc_api_conditions_decode(status, &cr->status.conditions, ctx, "status.conditions",
                                       err)) != 0) {
        free(state);
        return rc;
    }
    if (state)
        cr->status.state = mc_api_cr_state_parse(state);
    free(state);
    return 0;
}

int mc_api_certificate_request_decode(json_t *json, mc_api_certificate_request **out, mc_err *err)
{
    mc_codec_ctx ctx;
    mc_codec_ctx_init(&ctx, "certificaterequest", json);
    int rc = mc_codec_check_type_meta(json, MC_API_GROUP_VERSION, "CertificateRequest", &ctx, err);
    if (rc != 0)
        return rc;
    mc_api_certificate_request *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return mc_err_set(err, MC_ENOMEM, "%s: out of memory", ctx.what);
    cr->raw = json_incref(json);
    if ((rc = mc_api_meta_decode(json, &cr->metadata, &ctx, err)) != 0 ||
        (rc = decode_body(json, cr, &ctx, err)) != 0) {
        mc_api_certificate_request_free(cr);
        return rc;
    }
    *out = cr;
    return 0;
}

static int encode_body(const mc_api_certificate_request *cr, json_t *obj)
{
    json_t *saved;
    json_t *spec = mc_codec_child(obj, "spec", &saved);
    if (!spec)
        return MC_ENOMEM;
    if (mc_codec_put_bytes(spec, "certificateSigningRequest", cr->spec.certificate_signing_request,
                           cr->spec.certificate_signing_request_len) != 0) {
        json_decref(saved);
        return MC_ENOMEM;
    }
    if (mc_codec_child_done(obj, "spec", saved) != 0)
        return MC_ENOMEM;
    json_t *status = mc_codec_child(obj, "status", &saved);
    if (!status)
        return MC_ENOMEM;
    int rc = 0;
    if (mc_codec_put_int64(status, "observedGeneration", cr->status.observed_generation) != 0 ||
        mc_codec_put_string(status, "error", cr->status.error) != 0 ||
        mc_codec_put_bytes(status, "signedCertificate", cr->status.signed_certificate,
                           cr->status.signed_certificate_len) != 0 ||
        mc_codec_put_bytes(status, "signingRootCa", cr->status.signing_root_ca,
                           cr->status.signing_root_ca_len) != 0 ||
        mc_api_conditions_encode(&cr->status.conditions, status) != 0)
        rc = MC_ENOMEM;
    if (rc == 0 && cr->status.state != MC_CR_STATE_UNKNOWN &&
        (cr->status.state != MC_CR_STATE_PENDING || json_object_get(status, "state")))
        rc = mc_codec_put_string(status, "state", mc_api_cr_state_name(cr->status.state));
    if (rc != 0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "status", saved);
}

int mc_api_certificate_request_encode(const mc_api_certificate_request *cr, json_t **out,
                                      mc_err *err)
{
    json_t *obj = mc_codec_begin(cr->raw);
    if (!obj ||
        mc_codec_put_type_meta(obj, cr->raw, MC_API_GROUP_VERSION, "CertificateRequest") != 0 ||
        mc_api_meta_encode(&cr->metadata, obj) != 0 || encode_body(cr, obj) != 0) {
        json_decref(obj);
        return mc_err_set(err, MC_ENOMEM, "encoding certificaterequest: out of memory");
    }
    *out = obj;
    return 0;
}

int mc_api_certificate_request_validate(const mc_api_certificate_request *cr, mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&cr->metadata, "certificaterequest", what, sizeof(what));
    int rc = mc_api_meta_validate(&cr->metadata, true, false, what, err);
    if (rc != 0)
        return rc;
    if (!cr->spec.certificate_signing_request || cr->spec.certificate_signing_request_len == 0)
        return mc_err_set(err, MC_EINVAL, "%s: spec.certificateSigningRequest: required", what);
    if (cr->spec.certificate_signing_request_len > MC_API_CSR_MAX)
        return mc_err_set(err, MC_EINVAL,
                          "%s: spec.certificateSigningRequest: %zu bytes, more than %u", what,
                          cr->spec.certificate_signing_request_len, MC_API_CSR_MAX);
    if (cr->status.observed_generation < 0)
        return mc_err_set(err, MC_EINVAL, "%s: status.observedGeneration: negative", what);
    if (cr->status.state == MC_CR_STATE_FINISHED) {
        if (!cr->status.signed_certificate_len)
            return mc_err_set(err, MC_EINVAL,
                              "%s: status.signedCertificate: required when state is FINISHED",
                              what);
        if (!cr->status.signing_root_ca_len)
            return mc_err_set(err, MC_EINVAL,
                              "%s: status.signingRootCa: required when state is FINISHED", what);
    }
    if (cr->status.state == MC_CR_STATE_FAILED && (!cr->status.error || !*cr->status.error))
        return mc_err_set(err, MC_EINVAL, "%s: status.error: required when state is FAILED", what);
    return 0;
}

static void ready_of(const mc_api_certificate_request *cr, const char **ready, const char **reason,
                     const char **message)
{
    *ready = "False";
    switch (cr->status.state) {
    case MC_CR_STATE_PENDING:
        *reason = "Pending";
        *message = "waiting for the issuer to sign the certificate signing request";
        break;
    case MC_CR_STATE_FINISHED:
        *ready = "True";
        *reason = "Finished";
        *message = "signed: status.signedCertificate and status.signingRootCa are set";
        break;
    case MC_CR_STATE_FAILED:
        *reason = "Failed";
        *message =
            cr->status.error && *cr->status.error ? cr->status.error : "failed (no reason given)";
        break;
    case MC_CR_STATE_UNKNOWN:
    default:
        *ready = "Unknown";
        *reason = "UnknownState";
        *message = "status.state is not one this version of meshcert knows";
        break;
    }
}

int mc_api_certificate_request_set_ready(mc_api_certificate_request *cr, int64_t now)
{
    const char *ready, *reason, *message;
    ready_of(cr, &ready, &reason, &message);
    return mc_api_conditions_set(&cr->status.conditions, MC_API_CONDITION_READY, ready, reason,
                                 message, cr->status.observed_generation, now);
}

int mc_api_certificate_request_ready_current(const mc_api_certificate_request *cr)
{
    const char *ready, *reason, *message;
    ready_of(cr, &ready, &reason, &message);
    return mc_api_conditions_says(&cr->status.conditions, MC_API_CONDITION_READY, ready, reason,
                                  message, cr->status.observed_generation);
}
