/* decide.c - the issuer's pure decision for one CertificateRequest (see
 * decide.h): nothing when already answered for the request's generation,
 * wait for the IssuedCertificate, otherwise check the CSR strictly and sign.
 *
 * A request answered (FINISHED or FAILED) for its current generation is never
 * answered again: the agent retries by deleting and recreating the request.
 * Every FAIL message names the request, the cluster and the problem; none
 * carries key material (the issuer never holds the managed cluster's key).
 */
#include "issuer/decide.h"

#include "issuer/policy.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "util/buf.h"
#include "util/str.h"

static void fail(mc_issuer_action *action, const char *reason_class, const char *what,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fail(mc_issuer_action *action, const char *reason_class, const char *what,
                 const char *fmt, ...)
{
    char reason[sizeof(action->error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    action->type = MC_ISSUER_FAIL;
    action->reason = reason_class;
    /* A message cut at sizeof(error) still names the request first. */
    mc_buf msg;
    mc_buf_init(&msg, 4096);
    mc_buf_appendf(&msg, "%s: %s", what, reason);
    mc_strlcpy(action->error, msg.data ? msg.data : what, sizeof(action->error));
    mc_buf_free(&msg);
}

/* The IssuedCertificate valid and inside the cluster's policy: root, org,
 * hosts. MC_OK, or FAIL into action. Checked before the signer is looked at,
 * so that a root outside the policy reads the same whether it exists. */
static int check_policy(const mc_issuer_observation *obs, const char *what,
                        mc_issuer_action *action)
{
    const mc_api_issued_certificate *ic = obs->ic;
    mc_err err = {0};
    char root[600];
    if (mc_api_issued_certificate_validate(ic, &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_INVALID_IC, what, "%s", err.msg);
        return MC_EINVAL;
    }
    if (!obs->policy) {
        fail(action, MC_ISSUER_REASON_NO_POLICY, what,
             "cluster %s has no usable issuance policy in its registration (%s)",
             obs->cluster ? obs->cluster : "?", obs->policy_error ? obs->policy_error : "none");
        return MC_EVERIFY;
    }
    if (mc_issuer_policy_check_root(obs->policy, obs->cluster, &ic->spec.signing_certificate_secret,
                                    obs->issuer_namespace ? obs->issuer_namespace : "", root,
                                    sizeof(root), &err) != MC_OK ||
        mc_issuer_policy_check_names(obs->policy, obs->cluster, ic->spec.org,
                                     (const char *const *)ic->spec.hosts, ic->spec.hosts_len,
                                     &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_POLICY, what, "%s", err.msg);
        return MC_EVERIFY;
    }
    return MC_OK;
}

int mc_issuer_lifetime(const mc_api_issued_certificate *ic, int64_t ttl_seconds,
                       int64_t max_duration_seconds, int64_t *seconds, mc_err *err)
{
    int64_t lifetime = 0;
    int rc = mc_api_issued_certificate_duration(
        ic, ttl_seconds > 0 ? ttl_seconds : MC_ISSUER_DEFAULT_TTL, &lifetime, err);
    if (rc != MC_OK)
        return rc;
    int64_t most = max_duration_seconds > 0 ? max_duration_seconds : MC_ISSUER_DEFAULT_MAX_DURATION;
    *seconds = lifetime < most ? lifetime : most;
    return MC_OK;
}

/* Why mc_pki_csr_parse refused a CSR, from its error code (csr.h). */
static const char *csr_parse_reason(int code)
{
    switch (code) {
    case MC_ELIMIT: return MC_ISSUER_CSR_TOO_LARGE;
    case MC_EUNSUPPORTED: return MC_ISSUER_CSR_KEY;
    case MC_EVERIFY: return MC_ISSUER_CSR_SIGNATURE;
    default: return MC_ISSUER_CSR_MALFORMED;
    }
}

/* Parses and checks the CSR, then signs it; FINISH or FAIL into action. */
static void sign(const mc_issuer_observation *obs, const char *what, mc_issuer_action *action)
{
    const mc_api_certificate_request *req = obs->request;
    const mc_api_issued_certificate *ic = obs->ic;
    const char *org = ic->spec.org ? ic->spec.org : "";
    const char *const *hosts = (const char *const *)ic->spec.hosts;
    mc_pki_csr *csr = NULL;
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    int64_t lifetime = 0;
    if (mc_issuer_lifetime(ic, obs->ttl_seconds, obs->max_duration_seconds,
                           &lifetime, &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_LIFETIME, what, "%s", err.msg);
        goto out;
    }
    if (!req->spec.certificate_signing_request || req->spec.certificate_signing_request_len == 0) {
        fail(action, MC_ISSUER_REASON_CSR, what, "spec.certificateSigningRequest is empty");
        action->csr_reason = MC_ISSUER_CSR_EMPTY;
        goto out;
    }
    if (mc_pki_csr_parse(req->spec.certificate_signing_request,
                         req->spec.certificate_signing_request_len, "certificateSigningRequest",
                         &csr, &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_CSR, what, "%s", err.msg);
        action->csr_reason = csr_parse_reason(err.code);
        goto out;
    }
    if (mc_pki_csr_check_request(csr, org, hosts, ic->spec.hosts_len, &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_CSR, what, "%s", err.msg);
        action->csr_reason = MC_ISSUER_CSR_NAMES;
        goto out;
    }
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = org;
    params.hosts = hosts;
    params.host_count = ic->spec.hosts_len;
    params.ttl_seconds = lifetime; /* the signer clamps it to its root's notAfter */
    params.now = obs->now;
    /* the policy travels with the intermediate: what it may sign is bounded
     * for every verifier that enforces name constraints */
    params.name_constraints = 1;
    params.permitted_uri_hosts = (const char *const *)obs->policy->values[MC_POLICY_TRUST_DOMAIN];
    params.permitted_uri_host_count = obs->policy->lens[MC_POLICY_TRUST_DOMAIN];
    params.permitted_dns = (const char *const *)obs->policy->values[MC_POLICY_DNS_SUFFIX];
    params.permitted_dns_count = obs->policy->lens[MC_POLICY_DNS_SUFFIX];
    size_t len = 0;
    if (mc_pki_signer_issue(obs->signer, csr, &params, &cert, &err) != MC_OK ||
        mc_pki_cert_to_pem(cert, &action->certificate_pem, &len, &err) != MC_OK) {
        fail(action, MC_ISSUER_REASON_SIGNING, what, "signing: %s", err.msg);
        goto out;
    }
    action->type = MC_ISSUER_FINISH;
out:
    mc_pki_cert_free(cert);
    mc_pki_csr_free(csr);
}

void mc_issuer_decide(const mc_issuer_observation *obs, mc_issuer_action *action)
{
    assert(obs && obs->request && action);
    memset(action, 0, sizeof(*action));
    const mc_api_certificate_request *req = obs->request;
    action->observed_generation = req->metadata.generation;
    char what[400], name[320];
    mc_api_meta_describe(&req->metadata, "certificaterequest", name, sizeof(name));
    snprintf(what, sizeof(what), "%s on cluster %s", name, obs->cluster ? obs->cluster : "?");
    int answered =
        req->status.state == MC_CR_STATE_FINISHED || req->status.state == MC_CR_STATE_FAILED;
    if (req->metadata.deletion_timestamp ||
        (answered && req->status.observed_generation == req->metadata.generation)) {
        action->type = MC_ISSUER_NOTHING;
        return;
    }
    if (!obs->ic) {
        action->type = MC_ISSUER_WAIT;
        return;
    }
    if (check_policy(obs, what, action) != MC_OK)
        return;
    if (!obs->signer) {
        fail(action, MC_ISSUER_REASON_ROOT, what, "signing root unavailable: %s",
             obs->signer_error ? obs->signer_error : "no signer");
        return;
    }
    sign(obs, what, action);
}

void mc_issuer_action_clear(mc_issuer_action *action)
{
    if (!action)
        return;
    free(action->certificate_pem);
    action->certificate_pem = NULL;
}
