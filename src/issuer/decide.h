/* decide.h - the issuer's decision for one CertificateRequest, as a pure
 * function: given the request, the IssuedCertificate of the same
 * namespace/name on that cluster and the signing root, sign, wait or fail.
 *
 * As the original Service Mesh Hub issuer, with its weaknesses fixed: the
 * CSR's signature is verified, its key type and size checked against the
 * allowed set, and a CSR that asks for more than the IssuedCertificate's
 * hosts and org is refused naming the difference. The IssuedCertificate, which
 * the managed cluster writes, is held to the cluster's issuance policy, which
 * the management cluster sets (policy.h): its signing root, org and hosts
 * must be allowed there, or the request FAILs before any root is used. The
 * certificate's SANs and O= come from the IssuedCertificate; the public key
 * from the CSR; its lifetime from spec.duration or the issuer's TTL, capped
 * by the issuer's maximum and the root's notAfter. The root
 * key never leaves the management cluster; the request carries no private
 * key and none is ever read from a managed cluster. No I/O; pki/ is used.
 */
#ifndef MC_ISSUER_DECIDE_H
#define MC_ISSUER_DECIDE_H

#include <time.h>

#include "api/certificate_request.h"
#include "api/issued_certificate.h"
#include "api/registration.h"
#include "pki/issue.h"

typedef struct mc_issuer_observation {
    const char *cluster;                       /* registered cluster name (messages) */
    const mc_api_certificate_request *request; /* required */
    const mc_api_issued_certificate *ic;       /* same namespace/name, or NULL */
    const mc_api_registration_policy *policy;  /* the cluster's issuance policy, from its
                                                  registration; NULL: issue nothing */
    const char *policy_error;                  /* why policy is NULL, or NULL */
    const char *issuer_namespace;              /* of a signingCertificateSecret without one */
    const mc_pki_signer *signer;               /* the root from signingCertificateSecret, or NULL */
    const char *signer_error;                  /* why signer is NULL (missing Secret ns/name,
                                                  bad key...), or NULL */
    const char *root_pem;                      /* the root certificate PEM (signingRootCa) */
    int64_t ttl_seconds;                       /* without spec.duration (0: 365 days) */
    int64_t max_duration_seconds;              /* the most any certificate gets (0:
                                                  MC_ISSUER_DEFAULT_MAX_DURATION) */
    time_t now;
} mc_issuer_observation;

/* The issuer's --ttl and --max-duration defaults: 8760h and 17520h. */
#define MC_ISSUER_DEFAULT_TTL          ((int64_t)8760 * 3600)
#define MC_ISSUER_DEFAULT_MAX_DURATION ((int64_t)17520 * 3600)

typedef enum {
    MC_ISSUER_NOTHING = 0, /* FINISHED (or FAILED) for the current generation already */
    MC_ISSUER_WAIT,        /* no IssuedCertificate yet: wait for it */
    MC_ISSUER_FINISH,      /* write status FINISHED with certificate_pem and signingRootCa */
    MC_ISSUER_FAIL,        /* write status FAILED with error */
} mc_issuer_action_type;

typedef struct mc_issuer_action {
    mc_issuer_action_type type;
    int64_t observed_generation; /* for the status write */
    char *certificate_pem;       /* FINISH: owned (free with free()) */
    char error[512];             /* FAIL: names the request, the cluster and the problem */
    const char *reason;          /* FAIL: the class of refusal, a static MC_ISSUER_REASON_* */
    const char *csr_reason;      /* FAIL for the CSR itself: a static MC_ISSUER_CSR_* */
} mc_issuer_action;

/* Classes of refusal (metrics label values, docs/metrics.md). */
#define MC_ISSUER_REASON_INVALID_IC "invalid_issuedcertificate" /* spec does not validate */
#define MC_ISSUER_REASON_NO_POLICY  "no_policy"        /* the registration has no usable policy */
#define MC_ISSUER_REASON_POLICY     "policy_denied"    /* root, org or hosts outside the policy */
#define MC_ISSUER_REASON_LIFETIME   "invalid_lifetime" /* spec.duration unusable */
#define MC_ISSUER_REASON_CSR        "csr_refused"      /* the CSR (csr_reason says why) */
#define MC_ISSUER_REASON_ROOT       "root_unavailable" /* the signing root cannot be read */
#define MC_ISSUER_REASON_SIGNING    "signing_failed"   /* the signer failed */
/* Why a CSR was refused. */
#define MC_ISSUER_CSR_EMPTY     "empty"
#define MC_ISSUER_CSR_MALFORMED "malformed"
#define MC_ISSUER_CSR_TOO_LARGE "too_large"
#define MC_ISSUER_CSR_KEY       "unsupported_key"
#define MC_ISSUER_CSR_SIGNATURE "bad_signature"
#define MC_ISSUER_CSR_NAMES     "names_not_allowed"

/* The lifetime to ask of the signer for ic: its spec.duration when set,
 * else ttl_seconds (0: MC_ISSUER_DEFAULT_TTL); then lowered to
 * max_duration_seconds (0: MC_ISSUER_DEFAULT_MAX_DURATION). The signer
 * lowers it further to its root's notAfter. MC_EINVAL naming the object and
 * spec.duration when it does not parse or lies outside [1m, 87600h]
 * (mc_api_issued_certificate_duration). */
int mc_issuer_lifetime(const mc_api_issued_certificate *ic, int64_t ttl_seconds,
                       int64_t max_duration_seconds, int64_t *seconds, mc_err *err);

/* Decides (and for FINISH, signs). Never fails; problems are FAIL. */
void mc_issuer_decide(const mc_issuer_observation *observation, mc_issuer_action *action);

/* Frees what an action owns. */
void mc_issuer_action_clear(mc_issuer_action *action);

#endif
