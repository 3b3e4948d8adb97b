/* root_rotation.h - RootRotation (certificates.smh.solo.io/v1alpha2), the
 * record of one move of every registered cluster from root R1 to root R2.
 *
 * Created in the issuer's namespace of the management cluster by `meshcert
 * root rotate`; the spec names the root Secret the IssuedCertificates sign
 * with (R1) and the Secret holding R2; the issuer drives the phases and
 * writes the status (phase, per-cluster progress, one condition per phase
 * entered). Design: docs/workflow.md "Root rotation".
 */
#ifndef MC_API_ROOT_ROTATION_H
#define MC_API_ROOT_ROTATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/condition.h"
#include "api/issued_certificate.h"
#include "api/meta.h"
#include "util/err.h"

/* spec.stepDwell when absent. */
#define MC_API_ROOT_ROTATION_DEFAULT_DWELL "24h"

typedef enum mc_rr_phase {
    MC_RR_PHASE_UNKNOWN = -1,                 /* a phase string this version does not know */
    MC_RR_PHASE_NONE = 0,                     /* no status yet: not started */
    MC_RR_PHASE_ADDING_NEW_ROOT,              /* sign R1, bundle [R1,R2] */
    MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, /* sign R2, bundle [R1,R2] */
    MC_RR_PHASE_DELETING_OLD_ROOT,            /* sign R2, bundle [R2]; then the swap */
    MC_RR_PHASE_COMPLETE,                     /* the root Secret holds R2 */
    MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE,    /* abort: sign R1, bundle [R1,R2] */
    MC_RR_PHASE_ROLLING_BACK,                 /* abort: sign R1, bundle [R1] */
    MC_RR_PHASE_ABORTED,                      /* rolled back: R1 alone, as before */
    MC_RR_PHASE_FAILED,                       /* refused (see the FAILED condition) */
} mc_rr_phase;

/* One registered cluster's progress in the current step (status.clusters[]). */
typedef struct mc_api_root_rotation_cluster {
    char *name;    /* owned: the registered cluster */
    char *phase;   /* owned: the step it was last seen in */
    bool done;     /* every IssuedCertificate of the root finished the step */
    char *message; /* owned: what it waits for, may be NULL */
} mc_api_root_rotation_cluster;

typedef struct mc_api_root_rotation_spec {
    mc_api_object_ref root_secret;     /* the root the IssuedCertificates name (R1 now) */
    mc_api_object_ref new_root_secret; /* R2 */
    char *step_dwell;                  /* owned duration ("24h", "1s"); NULL: the default */
    bool abort;                        /* roll back (refused from DELETING_OLD_ROOT on) */
} mc_api_root_rotation_spec;

typedef struct mc_api_root_rotation_status {
    char *phase;                /* owned: the phase string as read or written; NULL: none */
    char *step_started_at;      /* owned, RFC 3339: when phase was entered */
    char *old_root_fingerprint; /* owned: SHA-256 hex of R1's DER */
    char *new_root_fingerprint; /* owned: SHA-256 hex of R2's DER */
    mc_api_root_rotation_cluster *clusters; /* owned array */
    size_t clusters_len;
    mc_api_conditions conditions; /* one per phase entered (type = phase) */
} mc_api_root_rotation_status;

typedef struct mc_api_root_rotation {
    json_t *raw; /* the decoded document (a reference) or NULL; see codec.h */
    mc_api_object_meta metadata;
    mc_api_root_rotation_spec spec;
    mc_api_root_rotation_status status;
} mc_api_root_rotation;

/* Allocates an empty RootRotation namespace/name. NULL on allocation failure. */
mc_api_root_rotation *mc_api_root_rotation_new(const char *namespace, const char *name);

/* Decodes json (a new reference is kept as raw) into *out (caller frees).
 * MC_EINVAL naming the object and the field for a wrongly typed field or the
 * wrong apiVersion/kind. Unknown fields are kept. */
int mc_api_root_rotation_decode(json_t *json, mc_api_root_rotation **out, mc_err *err);

/* Encodes into a new JSON object (*out, caller decrefs). MC_ENOMEM. */
int mc_api_root_rotation_encode(const mc_api_root_rotation *rr, json_t **out, mc_err *err);

/* Frees rr and everything it owns. Accepts NULL. */
void mc_api_root_rotation_free(mc_api_root_rotation *rr);

/* The merge patch that aborts a rotation (spec.abort: true). New reference,
 * NULL when out of memory. */
json_t *mc_api_root_rotation_abort_patch(void);

/* Validates metadata (namespaced), both Secret references (set, well
 * formed, different), stepDwell (a duration of at least 1 s) and a known
 * status.phase. MC_EINVAL "rootrotation <ns>/<name>: spec.stepDwell: ...". */
int mc_api_root_rotation_validate(const mc_api_root_rotation *rr, mc_err *err);

/* spec.stepDwell in seconds (the default when absent); MC_EINVAL naming it. */
int mc_api_root_rotation_dwell(const mc_api_root_rotation *rr, int64_t *seconds, mc_err *err);

/* Replaces status.clusters with a copy of n entries. MC_ENOMEM (unchanged). */
int mc_api_root_rotation_set_clusters(mc_api_root_rotation *rr,
                                      const mc_api_root_rotation_cluster *clusters, size_t n);

/* "ADDING_NEW_ROOT", ... ("" for NONE, "UNKNOWN" for UNKNOWN). */
const char *mc_api_rr_phase_name(mc_rr_phase phase);

/* Parses a phase string; NONE for NULL or "", UNKNOWN when not known. */
mc_rr_phase mc_api_rr_phase_parse(const char *name);

/* Whether the phase is one of the three final ones (COMPLETE, ABORTED, FAILED). */
bool mc_api_rr_phase_is_final(mc_rr_phase phase);

#endif
