/* issuance.h - the decisions of `meshcert issue` and `meshcert rotate` as
 * pure functions (no I/O, unit-tested): whether a new IssuedCertificate
 * would fight one already on the cluster over a Secret or a directive,
 * where an IssuedCertificate stands for --wait, and the rotate token.
 */
#ifndef MC_CLI_ISSUANCE_H
#define MC_CLI_ISSUANCE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

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

/* For rotate --wait: DONE when status.rotation equals token and the state
 * is FINISHED for the current generation, with no Issuing condition True (a
 * Ready condition, which a renewal keeps True, is not enough); FAILED when the state is FAILED
 * (the agent starts a rotation only from FINISHED, so a FAILED object never
 * completes one); WAITING otherwise. *state receives the state, or
 * "FINISHED (rotation not started)" while the agent has not taken the
 * token (borrowed: from ic or static). */
mc_cli_issuance mc_cli_rotation_progress(const json_t *ic, const char *token, const char **state);

/* Whether a rotation asked of ic is still open: its rotate annotation is
 * set and differs from status.rotation. */
int mc_cli_rotation_pending(const json_t *ic);

/* Writes the rotate token "<RFC 3339 now>-<8 hex of random>" (e.g.
 * "2026-12-02T11:30:00Z-0a1b2c3d") into out (at least 32 bytes). */
void mc_cli_rotation_token(time_t now, const unsigned char random[4], char *out, size_t out_size);

#endif
