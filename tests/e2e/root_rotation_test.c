/* root_rotation_test.c - `meshcert root rotate` end to end with real
 * processes over HTTPS (workflow_fixture.h): the server with mgmt, east and
 * west, the issuer and one agent per managed cluster, one IssuedCertificate
 * per cluster naming meshcert/root-ca.
 *
 * A full rotation (step dwell 1 s, the issuer SIGKILLed and restarted when
 * PROPAGATING_NEW_INTERMEDIATE is entered, east's agent when
 * DELETING_OLD_ROOT is, and in the second rotation's first step) is watched every 50 ms: the
 * phases come in order with increasing timestamps; at every observation
 * each cluster's intermediate is signed by a root that every cluster's
 * bundle holds (no moment of broken trust); the bundles hold R1 and R2 once
 * step 1 is done, the intermediates are signed by R2 once step 2 is done,
 * an intermediate issued for a step from PROPAGATING_NEW_INTERMEDIATE on is
 * never signed by R1, the bundles hold R2 alone at COMPLETE and the root
 * Secret then holds R2. Then a second rotation aborted in
 * PROPAGATING_NEW_INTERMEDIATE ends ABORTED with bundles of the old root
 * alone and intermediates it signed. An issuer started before the CRD is
 * applied says so once and rotates once it is.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/issued_certificate.h"
#include "api/root_rotation.h"
#include "api/time.h"
#include "pki/cert.h"
#include "pki/verify.h"
#include "rotation_watch.h"
#include "workflow_fixture.h"

/* `meshcert root rotate --generate` of rotation name (step dwell dwell);
 * r->new_root becomes its new root, from the Secret root-ca-<name>. */
static void start_rotation(const wf_fixture *f, const char *name, const char *dwell, rw_roots *r)
{
    const char *args[] = {"rotate",  "--generate",   "--root-key-type",
                          "ec-p256", "--step-dwell", dwell,
                          "--name",  name,           NULL};
    assert_int_equal(rw_run_root(f, args), 0);
    char secret[128];
    snprintf(secret, sizeof(secret), "%s-%s", WF_ROOT_SECRET, name);
    r->new_root = rw_root_cert(f, secret, r->new_fp);
}

static void test_rotation(void **state)
{
    wf_fixture *f = *state;
    for (int c = 0; c < WF_MANAGED; c++)
        wf_create_issued_certificate(f->managed[c], RW_IC_NAME, RW_OUTPUT, NULL, NULL);
    wf_ic_view view;
    for (int c = 0; c < WF_MANAGED; c++)
        wf_wait_ic_state(f, f->managed[c], wf_managed_names[c], RW_IC_NAME, "FINISHED", 1, &view);
    rw_roots r;
    r.old_root = rw_root_cert(f, WF_ROOT_SECRET, r.old_fp);
    r.new_root = NULL;
    r.new_fp[0] = '\0';

    /* a full rotation, the issuer killed in the middle */
    start_rotation(f, "rot1", "1s", &r);
    rw_watch w = {0};
    const char *end = rw_watch_rotation(f, "rot1", &r, &w, "PROPAGATING_NEW_INTERMEDIATE",
                                        "DELETING_OLD_ROOT", NULL);
    assert_string_equal(end, "COMPLETE");
    static const char *const order[] = {"ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE",
                                        "DELETING_OLD_ROOT", "COMPLETE"};
    /* a phase may pass between two reads; the conditions record every one */
    char phase[64];
    json_t *rr = rw_read_rotation(f, "rot1", phase, sizeof(phase));
    rw_watch all = {{order[0], order[1], order[2], order[3]}, 4, 0, 0};
    rw_assert_conditions(f, rr, &all);
    json_decref(rr);
    rw_assert_order(f, &w, order, 4); /* what was seen comes in that order */
    rw_wait_outputs(f, &r, 2, 1, 2);
    char fp[65];
    mc_pki_cert *now = rw_root_cert(f, WF_ROOT_SECRET, fp);
    assert_string_equal(fp, r.new_fp);
    mc_pki_cert_free(now);
    fprintf(stderr,
            "rotation rot1: %ld mutual-trust checks, %ld against the phase, phases seen %d\n",
            w.checks, w.phase_checks, w.count);
    assert_true(w.checks > 10);
    assert_true(w.phase_checks > 0);

    /* a second rotation, aborted in PROPAGATING_NEW_INTERMEDIATE: R2 is the old root now */
    mc_pki_cert_free(r.old_root);
    r.old_root = r.new_root;
    memcpy(r.old_fp, r.new_fp, sizeof(r.old_fp));
    start_rotation(f, "rot2", "3s", &r);
    rw_watch w2 = {0};
    end = rw_watch_rotation(f, "rot2", &r, &w2, NULL, "ADDING_NEW_ROOT",
                            "PROPAGATING_NEW_INTERMEDIATE");
    assert_string_equal(end, "ABORTED");
    rr = rw_read_rotation(f, "rot2", phase, sizeof(phase));
    rw_watch rollback = {{"ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE",
                          "ROLLING_BACK_INTERMEDIATE", "ROLLING_BACK", "ABORTED"},
                         5,
                         0,
                         0};
    rw_assert_conditions(f, rr, &rollback);
    json_decref(rr);
    rw_wait_outputs(f, &r, 1, 1, 1);
    now = rw_root_cert(f, WF_ROOT_SECRET, fp);
    assert_string_equal(fp, r.old_fp); /* the root Secret never changed */
    mc_pki_cert_free(now);
    fprintf(stderr, "rotation rot2: %ld mutual-trust checks, %ld against the phase\n", w2.checks,
            w2.phase_checks);
    assert_true(w2.phase_checks > 0);
    mc_pki_cert_free(r.old_root);
    mc_pki_cert_free(r.new_root);
    rw_watch_clear(&w);
    rw_watch_clear(&w2);
}

/* Occurrences of needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    char *text = wf_read_text(path);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* An issuer started while the management cluster does not serve
 * RootRotations runs on, says so once, and carries out a rotation once the
 * CRD is applied (no IssuedCertificate: the steps only wait for the dwell). */
static void test_crd_applied_late(void **state)
{
    wf_fixture *f = *state;
    mc_err err = {0};
    wf_kill(&f->issuer);
    if (mc_kube_delete(f->mgmt, mc_kube_resource_of(MC_API_CUSTOM_RESOURCE_DEFINITIONS), NULL,
                       "rootrotations." MC_API_GROUP, NULL, &err) != MC_OK)
        wf_fail(f, "delete the rootrotations CRD: %s", err.msg);
    wf_sleep_ms(300);
    if (wf_start_issuer(f) != 0)
        wf_fail(f, "issuer start failed");
    wf_sleep_ms(3000);
    assert_int_equal(kill(f->issuer, 0), 0);
    const char *said = "does not serve rootrotations";
    assert_int_equal(count_in_file(f->issuer_log, said), 1);
    const char *args[] = {"rotate", "--generate", "--root-key-type", "ec-p256", NULL};
    assert_int_equal(rw_run_root(f, args), 1); /* the CLI names the missing CRD */
    if (wf_apply_crd(f->mgmt, "rootrotations.yaml") != MC_OK)
        wf_fail(f, "apply the rootrotations CRD");
    json_t *root = NULL;
    /* the root the rotation rotates (the issuer makes it on the first request) */
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, WF_ROOT_SECRET,
                    &root, &err) == MC_ENOTFOUND) {
        wf_create_issued_certificate(f->managed[WF_EAST], RW_IC_NAME, RW_OUTPUT, NULL, NULL);
        wf_ic_view view;
        wf_wait_ic_state(f, f->managed[WF_EAST], "east", RW_IC_NAME, "FINISHED", 1, &view);
    }
    json_decref(root);
    const char *rotate[] = {
        "rotate", "--generate", "--root-key-type", "ec-p256",   "--step-dwell", "1s",
        "--name", "late",       "--wait",          "--timeout", "60s",          NULL};
    assert_int_equal(rw_run_root(f, rotate), 0);
    char phase[64];
    json_decref(rw_read_rotation(f, "late", phase, sizeof(phase)));
    assert_string_equal(phase, "COMPLETE");
    assert_int_equal(count_in_file(f->issuer_log, said), 1);
}

static int setup(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    if (rc == 0) {
        wf_use_fast_lease(f);
        rc = wf_start_all(f);
    }
    return wf_setup_done(state, f, rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation, setup, wf_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_crd_applied_late, setup, wf_cmocka_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
