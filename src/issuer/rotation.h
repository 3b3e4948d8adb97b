/* rotation.h - the issuer's decision for one RootRotation, as a pure
 * function: given the rotation, what every registered cluster's
 * IssuedCertificates of the rotated root (and their CertificateRequests)
 * show, the fingerprints of the two root Secrets as they are now and the
 * clock, return one action: enter a phase, put the step's token on one
 * IssuedCertificate, swap the root Secret's content, wait, fail or nothing.
 *
 * The phases and what each signs and bundles are in docs/workflow.md "Root
 * rotation". A step is done on a cluster when each IssuedCertificate carries
 * the step's token, its agent recorded the token and FINISHED, and its
 * request was answered with the step's bundle by the step's signer; the next
 * phase starts when every cluster is done and the dwell time has passed.
 * No I/O; the controller (rotation_controller.c) gathers and executes.
 */
#ifndef MC_ISSUER_ROTATION_H
#define MC_ISSUER_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "api/issued_certificate.h"
#include "api/root_rotation.h"

/* Roots, as bits: in a bundle (several) or as a signer (one). */
#define MC_ROTATION_ROOT_OLD   1u /* R1: the rotation's status.oldRootFingerprint */
#define MC_ROTATION_ROOT_NEW   2u /* R2: status.newRootFingerprint */
#define MC_ROTATION_ROOT_OTHER 4u /* any other root */

/* One IssuedCertificate naming the rotated root, and its request. */
typedef struct mc_rotation_ic {
    const char *namespace; /* of the IssuedCertificate (messages) */
    const char *name;
    const char *rotate_annotation; /* metadata.annotations[MC_API_IC_ROTATE_ANNOTATION] or NULL */
    const char *status_rotation;   /* status.rotation (the token the agent honoured) or NULL */
    mc_ic_state state;
    int current;             /* status.observedGeneration == metadata.generation */
    int request_finished;    /* its CertificateRequest is FINISHED for its generation */
    unsigned request_bundle; /* roots in the request's signingRootCa (bits) */
    unsigned request_signer; /* the root its signedCertificate verifies against (bit), 0 */
} mc_rotation_ic;

typedef struct mc_rotation_cluster {
    const char *name;          /* registered cluster */
    const mc_rotation_ic *ics; /* IssuedCertificates naming the rotated root */
    size_t ics_len;
} mc_rotation_cluster;

typedef struct mc_rotation_observation {
    const mc_api_root_rotation *rotation; /* required */
    const mc_rotation_cluster *clusters;  /* every registered cluster */
    size_t clusters_len;
    const char *root_fingerprint;     /* of spec.rootSecret's certificate now; NULL: unreadable */
    const char *new_root_fingerprint; /* of spec.newRootSecret's now; NULL: unreadable */
    const char *root_error;           /* why a fingerprint is NULL (message), or NULL */
    const char *active_elsewhere;     /* name of another active rotation of the same root, or
                                         NULL (the older one wins; this one FAILs) */
    int64_t now;                      /* Unix seconds, rounded down */
} mc_rotation_observation;

typedef enum mc_rotation_action_type {
    MC_ROTATION_NOTHING = 0, /* final phase (or one this version does not know) */
    MC_ROTATION_WAIT,        /* step in progress, or dwell not over: look again at requeue_at */
    MC_ROTATION_SET_PHASE,   /* write status: phase, stepStartedAt = now, condition */
    MC_ROTATION_SET_NOTE,    /* write a condition (condition_type) without changing the phase */
    MC_ROTATION_SET_TOKEN,   /* merge-patch the annotation token on clusters[cluster].ics[ic] */
    MC_ROTATION_SWAP_ROOT,   /* write newRootSecret's certificate and key into rootSecret */
    MC_ROTATION_FAIL,        /* write status: phase FAILED, condition with message */
} mc_rotation_action_type;

typedef struct mc_rotation_action {
    mc_rotation_action_type type;
    mc_rr_phase phase;            /* SET_PHASE, FAIL: the phase to write */
    const char *condition_type;   /* SET_PHASE, SET_NOTE, FAIL: static */
    const char *condition_status; /* "True" or "False" (static) */
    const char *reason;           /* CamelCase (static) */
    char message[512];            /* condition message; WAIT: what is waited for */
    int record_fingerprints;      /* SET_PHASE: write the observed fingerprints into status */
    size_t cluster;               /* SET_TOKEN: index into observation->clusters */
    size_t ic;                    /* SET_TOKEN: index into that cluster's ics */
    char token[320];              /* SET_TOKEN: the annotation's value */
    int64_t requeue_at;           /* WAIT: Unix seconds to look again (0: on a change only) */
} mc_rotation_action;

/* What a phase signs with and bundles. Returns 1 for the five phases in
 * which the issuer signs the rotated root's requests differently (ADDING_NEW_ROOT
 * through ROLLING_BACK), with *signer one root bit and *bundle the roots'
 * bits in file order (old first); 0 otherwise (NONE, final phases: sign
 * with the root Secret as it is, bundle it alone). */
int mc_rotation_phase_plan(mc_rr_phase phase, unsigned *signer, unsigned *bundle);

/* The token of a phase: "<rotation name>/<PHASE>/<first 8 characters of the
 * rotation's uid>" into out. */
void mc_rotation_token(const mc_api_root_rotation *rotation, mc_rr_phase phase, char *out,
                       size_t out_size);

/* Decides. Never fails; problems become FAIL or a WAIT message. */
void mc_rotation_decide(const mc_rotation_observation *observation, mc_rotation_action *action);

/* Per-cluster progress in the rotation's current phase: out[i] for
 * clusters[i] (name and phase borrowed from the observation; message is
 * written into messages[i]; phase points to a static name). */
void mc_rotation_progress(const mc_rotation_observation *observation,
                          mc_api_root_rotation_cluster *out, char (*messages)[256]);

#endif
