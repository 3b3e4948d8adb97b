/* decide.h - the agent's reconcile decision as a pure function: given what
 * the agent observes about one IssuedCertificate, the next single action.
 *
 * Level-triggered: the I/O wrapper (agent.c, issue 7) reads the objects,
 * calls mc_agent_decide, executes the one action it returns, and reconciles
 * again; killing the agent at any moment and restarting it converges to the
 * same result. No I/O, no clock (now is an input); pki/ checks are allowed
 * (they are pure). The state machine follows the seeds and
 * ../shared/reference/smh-workflow.md with the reported weaknesses fixed:
 *
 *  - observedGeneration != generation (a spec change) restarts at PENDING;
 *  - PENDING: a key Secret "<name>" (type generated_private_key, owned by the
 *    IssuedCertificate) is made first, then a CertificateRequest "<name>"
 *    whose CSR comes from that key and matches the spec's hosts and org; a
 *    request that does not match the key or the spec is deleted and made
 *    again; then REQUESTED;
 *  - REQUESTED: wait while the request is PENDING (or its observedGeneration
 *    is behind); FAILED → IssuedCertificate FAILED with the request's error;
 *    FINISHED → the signed certificate must match the key, chain to
 *    signingRootCa and carry the spec's hosts before anything is written;
 *    then the output Secret is written (Istio or TLS layout, labelled
 *    agent.certificates.smh.solo.io=<agent namespace>, annotated with the
 *    issuance id and time) and the state becomes ISSUED, or FINISHED at
 *    once when no PodBounceDirective is referenced (no pods to bounce);
 *  - ISSUED: the bounce plan of the issuance - every pod selected by the
 *    PodBounceDirective that was created up to the issuance time - is
 *    recorded in the directive's status in one write, then the recorded pods
 *    are deleted, one per action; a recorded pod whose uid still exists is
 *    deleted again (an interrupted bounce). Once a plan is recorded no other
 *    pod is bounced for that issuance, so a replacement pod (a Deployment
 *    recreating a bounced pod, even within the same second) is never
 *    restarted again; with no pod to bounce, or every recorded pod gone,
 *    FINISHED;
 *  - FINISHED: nothing while the output Secret still matches the key and the
 *    spec; if it disappeared or no longer matches (expired), back to PENDING
 *    (re-issue); a renewal starts when the rotate annotation holds a token
 *    other than status.rotation, or at the renewal time
 *    (mc_agent_renewal_time): one status write PENDING + the Issuing
 *    condition True (+ status.rotation = token), and the output stays as it
 *    is until the successor is signed (Ready stays True "Renewing");
 *  - during a renewal (Issuing True) a key Secret holding the key of the
 *    output Secret is never used for a request: it is deleted and made anew,
 *    so a restart at any point neither skips nor repeats the new key;
 *  - status notBefore, notAfter, renewalTime and rootFingerprints describe
 *    the output at ISSUED and FINISHED; at FINISHED Issuing becomes False;
 *  - a brand-new IssuedCertificate records its rotate token with its first
 *    status (its first key is new anyway);
 *  - an output Secret meshcert did not write (no agent label) is never
 *    overwritten unless adoption is allowed (--adopt-existing-secret or the
 *    label certificates.smh.solo.io/adopt=true on that Secret): FAILED saying
 *    so;
 *  - one owner per object: when another IssuedCertificate (a peer) claims
 *    the same output Secret, the same Secret as key and as output, or the
 *    same PodBounceDirective, only the first of them works on it; the others
 *    are FAILED naming it, in every state, before anything else is done.
 *    First is the one the object already says it belongs to (the output
 *    Secret's MC_AGENT_OWNER_ANNOTATION, a key Secret's ownerReference),
 *    otherwise the oldest creationTimestamp, then namespace/name. A peer
 *    being deleted claims nothing, so the next one takes over;
 *  - an output Secret, or pods of the PodBounceDirective, in a namespace the
 *    agent does not watch (watched_namespaces): FAILED naming the namespace
 *    and --watch-namespaces, in every state, before anything else is done
 *    (the agent can neither see nor, under its Roles, write there);
 *  - an IssuedCertificate being deleted: delete its key Secret and request;
 *  - status.conditions' Ready follows the state (issued_certificate.h); a
 *    status whose Ready is missing or stale is rewritten (SET_STATUS with
 *    the same state) instead of NOTHING or WAIT.
 */
#ifndef MC_AGENT_DECIDE_H
#define MC_AGENT_DECIDE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "agent/cache.h"
#include "api/certificate_request.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "pki/bundle.h"
#include "pki/key.h"

/* Labels and annotations the agent writes and reads. */
#define MC_AGENT_LABEL                "agent.certificates.smh.solo.io"
#define MC_AGENT_ADOPT_LABEL          "certificates.smh.solo.io/adopt"
#define MC_AGENT_ISSUANCE_ANNOTATION  "certificates.smh.solo.io/issuance"
#define MC_AGENT_ISSUED_AT_ANNOTATION "certificates.smh.solo.io/issued-at"
/* On the output Secret: "<namespace>/<name>" of the IssuedCertificate that
 * wrote it, the claim that decides between two naming the same Secret. */
#define MC_AGENT_OWNER_ANNOTATION "certificates.smh.solo.io/issued-certificate"
/* On the CertificateRequest: the IssuedCertificate's metadata.generation it
 * was made for. A request made for another generation is made again, so a
 * spec change the CSR does not show (duration, keyType...) is signed anew. */
#define MC_AGENT_GENERATION_ANNOTATION "certificates.smh.solo.io/issued-certificate-generation"
#define MC_AGENT_KEY_SECRET_TYPE       "certificates.smh.solo.io/generated_private_key"
#define MC_AGENT_OUTPUT_SECRET_TYPE    "certificates.smh.solo.io/issued_certificate"
/* The key Secret's data key holding the private key PEM (as the original). */
#define MC_AGENT_KEY_DATA "private-key"

/* One pod as the agent sees it (from a list by the directive's selectors). */
typedef struct mc_agent_pod {
    const char *namespace;
    const char *name;
    const char *uid;
    int64_t created; /* metadata.creationTimestamp, Unix seconds */
    int deleting;    /* metadata.deletionTimestamp set */
} mc_agent_pod;

typedef struct mc_agent_observation {
    const mc_api_issued_certificate *ic;          /* required */
    const mc_api_secret *key_secret;              /* Secret <ic name> in ic's namespace, or NULL */
    const mc_api_certificate_request *request;    /* CertificateRequest <ic name>, or NULL */
    const mc_api_secret *output;                  /* spec.issuedCertificateSecret, or NULL */
    const mc_api_pod_bounce_directive *directive; /* spec.podBounceDirective, or NULL */
    int directive_referenced;                     /* spec.podBounceDirective is set */
    const mc_agent_pod *pods;                     /* pods matching the directive's selectors */
    size_t pod_count;
    /* Other IssuedCertificates of the cache that may claim one of ic's
     * objects (its output Secret, its key Secret ns/<name>, its directive);
     * decide checks each relation itself, so a superset is fine. */
    const mc_api_issued_certificate *const *peers;
    size_t peer_count;
    const char *agent_namespace; /* value of MC_AGENT_LABEL */
    /* The namespaces whose Secrets and Pods the agent watches (its own and
     * --watch-namespaces); NULL: every namespace. */
    const char *const *watched_namespaces;
    size_t watched_namespace_count;
    mc_bundle_format output_format; /* istio or tls */
    int adopt_existing;             /* --adopt-existing-secret */
    time_t now;                     /* for validity checks */
    /* Keys parsed and output verdicts taken in earlier decisions (cache.h),
     * or NULL: everything is computed from the objects each time. The
     * decision is the same either way; the cache only saves the work. */
    mc_agent_cache *cache;
} mc_agent_observation;

typedef enum {
    MC_AGENT_NOTHING = 0,    /* steady: nothing to do */
    MC_AGENT_SET_STATUS,     /* write status: state, error, observedGeneration, and the
                                Ready condition they mean (mc_api_issued_certificate_set_ready) */
    MC_AGENT_CREATE_KEY,     /* generate a key and create the key Secret */
    MC_AGENT_DELETE_KEY,     /* delete the key Secret (unusable, or cleanup) */
    MC_AGENT_CREATE_REQUEST, /* create the CertificateRequest with a CSR from the key */
    MC_AGENT_DELETE_REQUEST, /* delete the CertificateRequest (stale, or cleanup) */
    MC_AGENT_WAIT,           /* the issuer has not answered: wait for an event */
    MC_AGENT_WRITE_OUTPUT,   /* create or replace the output Secret from key + request */
    MC_AGENT_RECORD_BOUNCE,  /* record the bounce plan in the directive's status */
    MC_AGENT_DELETE_POD,     /* delete pod (recorded already) */
} mc_agent_action_type;

/* The most roots of a trust bundle whose fingerprints go into the status. */
#define MC_AGENT_ROOTS_MAX 8

/* What a SET_STATUS does to the Issuing condition. */
typedef enum {
    MC_AGENT_ISSUING_KEEP = 0, /* leave it as it is */
    MC_AGENT_ISSUING_START,    /* True, reason issuing_reason: a renewal starts */
    MC_AGENT_ISSUING_END,      /* False: the renewal ended (FINISHED, or a spec change) */
} mc_agent_issuing;

typedef struct mc_agent_action {
    mc_agent_action_type type;
    int state;                   /* SET_STATUS: an mc_ic_state value */
    int64_t observed_generation; /* SET_STATUS: the value to write */
    char error[512];             /* SET_STATUS to FAILED: the reason ("" otherwise) */
    /* SET_STATUS at ISSUED and FINISHED: the output's certificate (Unix
     * seconds) and when its renewal starts; 0 keeps the status field. */
    int64_t not_before, not_after, renewal_time;
    /* SET_STATUS with root_fingerprint_count > 0: status.rootFingerprints */
    char root_fingerprints[MC_AGENT_ROOTS_MAX][65];
    size_t root_fingerprint_count;
    const char *rotation;       /* SET_STATUS: status.rotation to write (borrowed from the
                                   observation's annotation), NULL keeps it */
    mc_agent_issuing issuing;   /* SET_STATUS: the Issuing condition */
    const char *issuing_reason; /* ISSUING_START: "Renewal" or "Rotation" (static) */
    int64_t requeue_after;      /* NOTHING: seconds until the clock alone changes the
                                   decision (the renewal time); 0: never */
    char issuance[128];         /* WRITE_OUTPUT/RECORD_BOUNCE/DELETE_POD: the issuance id */
    int64_t issued_at;          /* RECORD_BOUNCE: the issuance time (Unix seconds) */
    size_t planned;             /* RECORD_BOUNCE: how many pods the plan holds */
    const mc_agent_pod *pod;    /* DELETE_POD: into observation->pods */
} mc_agent_action;

/* True when pod belongs in the bounce plan of a RECORD_BOUNCE action: it is
 * not being deleted and was created up to action->issued_at. The executor
 * records every such pod of the observation in one status write. */
int mc_agent_pod_in_plan(const mc_agent_action *action, const mc_agent_pod *pod);

/* Whether IssuedCertificate a comes before b in claiming an object: the
 * object (optional) names its owner (MC_AGENT_OWNER_ANNOTATION, or an
 * ownerReference uid for a key Secret); otherwise the older
 * creationTimestamp (an unparseable or absent one counts as newest), then
 * the smaller "<namespace>/<name>". Total and stable: exactly one of
 * (a, b) and (b, a) is true for two distinct objects. */
int mc_agent_claims_first(const mc_api_issued_certificate *a, const mc_api_issued_certificate *b,
                          const mc_api_object_meta *object);

/* Decides the next action for the observation. Never fails: a problem is a
 * SET_STATUS to FAILED with the reason (no key material in it). */
void mc_agent_decide(const mc_agent_observation *observation, mc_agent_action *action);

/* When the agent starts renewing a certificate valid from not_before to
 * not_after (Unix seconds; the agent passes as not_before the later of
 * notBefore and the time the output was written, as issuers back-date
 * notBefore): not_after - renewBefore - jitter, where renew_before <= 0 or
 * >= the lifetime means a third of the lifetime, and the
 * jitter is in [0, renewBefore/5), taken from the SHA-256 of uid followed by
 * issuance, so that it is stable across restarts and spreads clusters with
 * the same lifetime. Never after not_after - 1, never before not_before. */
int64_t mc_agent_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before,
                              const char *uid, const char *issuance);

/* The key type for a new key of ic: spec.keyType, or fallback (the agent's
 * --key-type) when absent or unknown. */
mc_key_type mc_agent_key_type(const mc_api_issued_certificate *ic, mc_key_type fallback);

/* Applies a SET_STATUS action to ic->status as the agent writes it: state,
 * error, observedGeneration, the lifetime fields the action sets, the
 * Issuing condition, then Ready (mc_api_issued_certificate_set_ready at
 * now). MC_ENOMEM (ic then partly updated: discard it). */
int mc_agent_apply_status(mc_api_issued_certificate *ic, const mc_agent_action *action,
                          int64_t now);

/* The issuance id of a signed certificate: "<generation>-<first 16 hex
 * digits of the SHA-256 of its DER>", written into the output Secret's
 * annotation and the directive's records. MC_EINVAL for a bad PEM. */
int mc_agent_issuance_id(const char *cert_pem, int64_t generation, char *out, size_t out_size,
                         mc_err *err);

/* Builds the key Secret for observation->ic: a new key of key_type (PKCS#8
 * PEM under MC_AGENT_KEY_DATA), type MC_AGENT_KEY_SECRET_TYPE, the agent
 * label, and an ownerReference to the IssuedCertificate. *secret_out is a new
 * JSON object owned by the caller (json_decref); it holds key material.
 * MC_ENOMEM, or pki/'s code when key generation fails. */
int mc_agent_build_key_secret(const mc_agent_observation *observation, mc_key_type key_type,
                              json_t **secret_out, mc_err *err);

/* Builds the CertificateRequest for observation->ic: a CSR from the key in
 * observation->key_secret (required) for the spec's org and hosts, the agent
 * label, and an ownerReference (controller) to the IssuedCertificate's uid.
 * *request_out is a new JSON object owned by the caller (json_decref).
 * MC_EINVAL when the key Secret is absent or unusable. */
int mc_agent_build_request(const mc_agent_observation *observation, json_t **request_out,
                           mc_err *err);

/* Builds the output Secret spec.issuedCertificateSecret from the key Secret
 * and the FINISHED request of observation: data in observation->output_format
 * (pki/bundle.h), type MC_AGENT_OUTPUT_SECRET_TYPE (kubernetes.io/tls for the
 * TLS layout), the agent label, MC_AGENT_ISSUANCE_ANNOTATION = issuance,
 * MC_AGENT_ISSUED_AT_ANNOTATION = observation->now (RFC 3339) and
 * MC_AGENT_OWNER_ANNOTATION = "<ic namespace>/<ic name>". The Secret is
 * built whole, so a foreign Secret's labels and data are replaced (the caller
 * replaces it only when mc_agent_decide said WRITE_OUTPUT). *secret_out is a
 * new JSON object owned by the caller (json_decref); it holds key material.
 * MC_EINVAL when the key Secret or the signed certificate is missing or bad. */
int mc_agent_build_output(const mc_agent_observation *observation, const char *issuance,
                          json_t **secret_out, mc_err *err);

#endif
