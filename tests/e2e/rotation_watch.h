/* rotation_watch.h - what the root rotation e2e tests share
 * (root_rotation_test.c, root_rotation_pkcs11_test.c): start `meshcert root`,
 * read a RootRotation and the root Secrets, and watch a rotation to its end
 * while checking at every observation that the clusters trust each other
 * and that each phase shows its bundle and signer. One IssuedCertificate
 * RW_IC_NAME per managed cluster, output Secret istio-system/RW_OUTPUT.
 * Failures fail the running cmocka test (wf_fail).
 */
#ifndef MC_TEST_ROTATION_WATCH_H
#define MC_TEST_ROTATION_WATCH_H

#include <jansson.h>
#include <stddef.h>

#include "pki/cert.h"
#include "workflow_fixture.h"

#define RW_IC_NAME "mesh-ca"
#define RW_OUTPUT  "cacerts"

/* R1 and R2 of a rotation, with their SHA-256 fingerprints. */
typedef struct rw_roots {
    mc_pki_cert *old_root, *new_root;
    char old_fp[65], new_fp[65];
} rw_roots;

/* The phases a watch saw, in order, and how many observations it checked. */
typedef struct rw_watch {
    const char *phases[8]; /* in the order entered */
    int count;
    long checks;       /* observations of both clusters checked for mutual trust */
    long phase_checks; /* of them, checked against their phase's guarantees */
} rw_watch;

/* The certificate in Secret meshcert/<name> of mgmt (a root Secret); fp
 * gets its fingerprint. Caller frees. */
mc_pki_cert *rw_root_cert(const wf_fixture *f, const char *name, char fp[65]);

/* The RootRotation's phase (into phase) and the whole object (new ref, NULL
 * when it cannot be read). */
json_t *rw_read_rotation(const wf_fixture *f, const char *name, char *phase, size_t size);

/* `meshcert root ARGS...` against mgmt; its exit status. */
int rw_run_root(const wf_fixture *f, const char *const *args);

/* Watches rotation name until a final phase, checking the invariants at
 * every observation; kill_in: the phase at whose entry the issuer is
 * SIGKILLed and restarted, kill_agent_in: the one at whose entry east's
 * agent is (NULL: none); abort_in: the phase at whose entry `meshcert root
 * rotate --abort` runs. Returns the final phase (static). */
const char *rw_watch_rotation(wf_fixture *f, const char *name, const rw_roots *r, rw_watch *w,
                              const char *kill_in, const char *kill_agent_in, const char *abort_in);

/* Conditions of every phase in w, in order, with non-decreasing times. */
void rw_assert_conditions(const wf_fixture *f, const json_t *rr, const rw_watch *w);

/* Checks that the phases w saw come in the order of the want phases. */
void rw_assert_order(const wf_fixture *f, const rw_watch *w, const char *const *want, int count);

/* Waits until every output Secret shows bundle bits and signer bits (1 R1,
 * 2 R2, 4 another root). */
void rw_wait_outputs(const wf_fixture *f, const rw_roots *r, unsigned bundle, int bundle_len,
                     unsigned signer);

/* Frees the phase names w recorded. */
void rw_watch_clear(rw_watch *w);

#endif
