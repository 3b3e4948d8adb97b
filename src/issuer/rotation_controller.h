/* rotation_controller.h - the issuer's RootRotation controller: an informer
 * on RootRotations in the issuer's namespace of the management cluster, one
 * worker reconciling them with mc_rotation_decide (rotation.h) and executing
 * its action (status writes, token annotations on the managed clusters'
 * IssuedCertificates, the root Secret swap), and the signing plan the
 * request reconciler asks for each root.
 *
 * Level-triggered: every reconcile starts from the caches and the root
 * Secrets as they are, so a killed issuer resumes the same step.
 */
#ifndef MC_ISSUER_ROTATION_CONTROLLER_H
#define MC_ISSUER_ROTATION_CONTROLLER_H

#include "issuer/issuer.h"
#include "issuer/rotation.h"
#include "kube/client.h"
#include "runtime/informer.h"
#include "util/err.h"

typedef struct mc_rotation_controller mc_rotation_controller;

/* How requests of one root are signed while a rotation of it runs. */
typedef struct mc_rotation_signing {
    char rotation[256];   /* the RootRotation's name (logs) */
    char old_secret[512]; /* "ns/name" of spec.rootSecret */
    char new_secret[512]; /* "ns/name" of spec.newRootSecret */
    unsigned signer;      /* MC_ROTATION_ROOT_OLD or _NEW */
    unsigned bundle;      /* roots of signingRootCa (bits), old first */
} mc_rotation_signing;

/* Builds the controller (nothing runs yet) for issuer, whose management
 * client and informer runner it borrows. MC_ENOMEM and runtime/ errors. */
int mc_rotation_controller_new(mc_issuer *issuer, mc_kube_client *management,
                               mc_informer_runner *informers, const char *namespace,
                               mc_rotation_controller **out, mc_err *err);

/* Starts the informer and the worker. A missing RootRotation CRD is not an
 * error: the informer keeps retrying (and logging) until it is applied. */
int mc_rotation_controller_start(mc_rotation_controller *controller, mc_err *err);

/* Stops the worker and the informer; idempotent. */
void mc_rotation_controller_stop(mc_rotation_controller *controller);

/* Frees (stopping first). Accepts NULL. */
void mc_rotation_controller_free(mc_rotation_controller *controller);

/* Queues every cached RootRotation (an IssuedCertificate or request of a
 * managed cluster changed, or leadership was gained). Accepts NULL. */
void mc_rotation_controller_poke(mc_rotation_controller *controller);

/* 1 when mc_rotation_controller_plan can be trusted: the RootRotations
 * are cached (or the management cluster does not serve them, so none can
 * run). Until then the issuer signs nothing: after a restart in the middle
 * of a rotation a request must not be signed as if no rotation ran. */
int mc_rotation_controller_ready(mc_rotation_controller *controller);

/* 1 with *plan filled when a RootRotation of root Secret root_key
 * ("ns/name") is in a signing phase (mc_rotation_phase_plan), 0 otherwise
 * (sign with the root as it is). Reads the cache only. */
int mc_rotation_controller_plan(mc_rotation_controller *controller, const char *root_key,
                                mc_rotation_signing *plan);

#endif
