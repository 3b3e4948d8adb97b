/* issued_certificate.h - IssuedCertificate (certificates.smh.solo.io/v1alpha2).
 *
 * Created by the issuer on a managed cluster; its spec says which certificate
 * to issue (hosts, org) and where the inputs and outputs live; its status is
 * the agent's progress through PENDING -> REQUESTED -> ISSUED -> FINISHED (or
 * FAILED). Field names and state strings are exactly those of the seed API
 * document so that objects written by Service Mesh Hub decode unchanged.
 */
#ifndef MC_API_ISSUED_CERTIFICATE_H
#define MC_API_ISSUED_CERTIFICATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/condition.h"
#include "api/meta.h"
#include "util/err.h"

#define MC_API_GROUP         "certificates.smh.solo.io"
#define MC_API_VERSION       "v1alpha2"
#define MC_API_GROUP_VERSION MC_API_GROUP "/" MC_API_VERSION

/* On-demand rotation: any non-empty token different from status.rotation asks
 * the agent for one new issuance with a new key (docs/workflow.md). */
#define MC_API_IC_ROTATE_ANNOTATION MC_API_GROUP "/rotate"

/* Bounds of spec.duration, in seconds: 1 minute to 87600h (10 years). */
#define MC_API_IC_DURATION_MIN ((int64_t)60)
#define MC_API_IC_DURATION_MAX ((int64_t)87600 * 3600)

typedef enum mc_ic_state {
    MC_IC_STATE_UNKNOWN = -1, /* a state string this version does not know (kept as is) */
    MC_IC_STATE_PENDING = 0,  /* also what an absent state means (proto3 default) */
    MC_IC_STATE_REQUESTED = 1,
    MC_IC_STATE_ISSUED = 2,
    MC_IC_STATE_FINISHED = 3,
    MC_IC_STATE_FAILED = 4,
} mc_ic_state;

typedef struct mc_api_issued_certificate_spec {
    char **hosts; /* owned array of owned strings: DNS names, IPs or URIs */
    size_t hosts_len;
    char *org;                                    /* owned */
    mc_api_object_ref signing_certificate_secret; /* in the issuer's cluster */
    mc_api_object_ref issued_certificate_secret;  /* in the agent's cluster */
    mc_api_object_ref pod_bounce_directive;       /* optional */
    /* The lifetime fields below are not seed fields; all optional, owned,
     * NULL when absent (docs/workflow.md, "Lifetimes and renewal"). */
    char *duration;     /* lifetime asked of the issuer, e.g. "8760h" (util/duration.h) */
    char *renew_before; /* renew this long before notAfter; default a third of the lifetime */
    char *key_type;     /* rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384 */
} mc_api_issued_certificate_spec;

typedef struct mc_api_issued_certificate_status {
    int64_t observed_generation;
    char *error; /* owned; NULL or "" when none */
    mc_ic_state state;
    /* Not seed fields, all owned and NULL when absent; RFC 3339 times describe
     * the certificate in the output Secret. */
    char *not_before;
    char *not_after;          /* expiry of the certificate written */
    char *renewal_time;       /* when the agent starts the next issuance */
    char **root_fingerprints; /* lowercase hex SHA-256 of each root's DER, file order */
    size_t root_fingerprints_len;
    char *rotation;               /* the rotate-annotation token last acted upon */
    mc_api_conditions conditions; /* Ready (mc_api_issued_certificate_set_ready) */
} mc_api_issued_certificate_status;

typedef struct mc_api_issued_certificate {
    json_t *raw; /* the decoded document (a reference) or NULL; see codec.h */
    mc_api_object_meta metadata;
    mc_api_issued_certificate_spec spec;
    mc_api_issued_certificate_status status;
} mc_api_issued_certificate;

/* Allocates an empty IssuedCertificate named namespace/name (copied). NULL on
 * allocation failure. Free with mc_api_issued_certificate_free. */
mc_api_issued_certificate *mc_api_issued_certificate_new(const char *namespace, const char *name);

/* Decodes json (takes a new reference to it, kept as raw: do not modify json
 * afterwards) into *out (caller frees). MC_EINVAL naming the object and the
 * field when a modelled field has the wrong type, a bytes field is not base64,
 * or apiVersion/kind are not IssuedCertificate's. Unknown fields are kept. */
int mc_api_issued_certificate_decode(json_t *json, mc_api_issued_certificate **out, mc_err *err);

/* Encodes into a new JSON object (*out, caller decrefs): raw's fields with the
 * modelled ones overwritten. MC_ENOMEM. */
int mc_api_issued_certificate_encode(const mc_api_issued_certificate *ic, json_t **out,
                                     mc_err *err);

/* Frees ic and everything it owns. Accepts NULL. */
void mc_api_issued_certificate_free(mc_api_issued_certificate *ic);

/* The merge patch that asks for a new key now: annotation
 * MC_API_IC_ROTATE_ANNOTATION set to token (a new value restarts the
 * workflow). New reference, NULL when out of memory. */
json_t *mc_api_issued_certificate_rotate_patch(const char *token);

/* Validates what the agent relies on: metadata (namespaced), at least one
 * host and every host valid (mc_host_classify), org at most 64 characters,
 * both secret references present and well formed, the optional
 * podBounceDirective reference well formed, a non-negative observedGeneration;
 * the optional lifetime fields: duration within [1m, 87600h], renewBefore a
 * duration shorter than duration when both are set, keyType one of the five
 * key type names; status.rootFingerprints 64 lowercase hex digits each.
 * MC_EINVAL "issuedcertificate <ns>/<name>: spec.hosts[2]: ...". */
int mc_api_issued_certificate_validate(const mc_api_issued_certificate *ic, mc_err *err);

/* The lifetime ic->spec.duration asks for in *seconds, or default_seconds
 * when absent. MC_EINVAL naming the object and field when malformed or out of
 * [MC_API_IC_DURATION_MIN, MC_API_IC_DURATION_MAX]. */
int mc_api_issued_certificate_duration(const mc_api_issued_certificate *ic, int64_t default_seconds,
                                       int64_t *seconds, mc_err *err);

/* spec.renewBefore in *seconds, or 0 when absent (the caller then uses a
 * third of the actual lifetime). MC_EINVAL naming the object and field. */
int mc_api_issued_certificate_renew_before(const mc_api_issued_certificate *ic, int64_t *seconds,
                                           mc_err *err);

/* The rotate annotation's token, borrowed; NULL when absent or empty. */
const char *mc_api_issued_certificate_rotate_token(const mc_api_issued_certificate *ic);

/* "PENDING", "REQUESTED", ... ("UNKNOWN" for MC_IC_STATE_UNKNOWN). */
const char *mc_api_ic_state_name(mc_ic_state state);

/* Parses a state string; MC_IC_STATE_UNKNOWN when not one of the five. */
mc_ic_state mc_api_ic_state_parse(const char *name);

/* The Ready condition that status (state, error, Issuing) means: True
 * "Finished" at FINISHED; False "Failed" with the error as message at FAILED;
 * during a renewal (the Issuing condition True) True "Renewing" at PENDING,
 * REQUESTED and ISSUED, as the current certificate stays in place; otherwise
 * False "Pending", "Requested" or "Issued" (the state, CamelCase) in
 * progress; Unknown "UnknownState" for a state this version does not know.
 * The strings are static or borrowed from status. */
void mc_api_issued_certificate_ready(const mc_api_issued_certificate_status *status,
                                     const char **ready, const char **reason, const char **message);

/* Sets the Ready condition of ic->status.conditions from ic->status (with
 * status.observedGeneration); lastTransitionTime becomes now (Unix seconds)
 * only when Ready's status changes. MC_ENOMEM. */
int mc_api_issued_certificate_set_ready(mc_api_issued_certificate *ic, int64_t now);

/* Whether status carries the Issuing condition with status True: a renewal
 * or rotation is under way (docs/workflow.md, "Lifetimes and renewal"). */
int mc_api_issued_certificate_renewing(const mc_api_issued_certificate_status *status);

/* Whether ic->status.conditions' Ready already says what ic->status means. */
int mc_api_issued_certificate_ready_current(const mc_api_issued_certificate *ic);

#endif
