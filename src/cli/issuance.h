/* issuance.h - the decisions of `meshcert issue` as pure functions (no I/O,
 * unit-tested): whether a new IssuedCertificate would fight one already on
 * the cluster over a Secret or a directive, and where an IssuedCertificate
 * stands for --wait.
 */
#ifndef MC_CLI_ISSUANCE_H
#define MC_CLI_ISSUANCE_H

#include <jansson.h>

#include "util/err.h"

/* What a new IssuedCertificate will use on its cluster. Strings borrowed. */
typedef struct mc_cli_issue_names {
    const char *ns, *name;         /* the IssuedCertificate; its key Secret is ns/name */
    const char *out_ns, *out_name; /* its issuedCertificateSecret */
    int bounce;                    /* it has a PodBounceDirective ns/name */
} mc_cli_issue_names;

/* Checks the new IssuedCertificate against items (the cluster's
 * IssuedCertificates, JSON). MC_EEXISTS naming the other when one has the
 * same name, the same output Secret, an output Secret that is the other's
 * private key Secret (each IssuedCertificate keeps its key in the Secret
 * named after it) or the reverse, or the same PodBounceDirective (when
 * bounce); MC_OK otherwise. */
int mc_cli_issue_conflicts(const json_t *items, const mc_cli_issue_names *new, mc_err *err);

/* Where an IssuedCertificate stands for --wait. */
typedef enum {
    MC_CLI_ISSUANCE_WAITING,
    MC_CLI_ISSUANCE_DONE,
    MC_CLI_ISSUANCE_FAILED,
} mc_cli_issuance;

/* DONE when its status describes the current spec (observedGeneration,
 * when set, equals metadata.generation) and, when the status has a Ready
 * condition, that is True, else its state is FINISHED; FAILED when the
 * state is FAILED; WAITING otherwise. *state receives the state (PENDING
 * when unset; borrowed from ic). */
mc_cli_issuance mc_cli_issuance_progress(const json_t *ic, const char **state);

#endif
