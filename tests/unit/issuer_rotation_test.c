/* issuer_rotation_test.c - mc_rotation_decide (issuer/rotation.h) for every
 * phase x observation, with the clock as an input: steps not done, done
 * while the dwell runs, done after it; aborts in each phase; a crash after
 * the status write and before the tokens; a swap done before COMPLETE was
 * written; a new cluster; a stale token; a FAILED IssuedCertificate; roots
 * changed under the rotation; a second rotation of the same root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/time.h"
#include "issuer/rotation.h"

#define OLD_FP  "1111111111111111111111111111111111111111111111111111111111111111"
#define NEW_FP  "2222222222222222222222222222222222222222222222222222222222222222"
#define STARTED 1800000000 /* stepStartedAt of the test rotations */
#define DWELL   60         /* "1m" */

static mc_api_root_rotation *rotation(mc_rr_phase phase, int abort)
{
    mc_api_root_rotation *rr = mc_api_root_rotation_new("meshcert", "rot");
    rr->metadata.uid = strdup("abcdef12-3456-4789-8abc-def012345678");
    mc_api_object_ref_set(&rr->spec.root_secret, "meshcert", "root-ca");
    mc_api_object_ref_set(&rr->spec.new_root_secret, "meshcert", "root-ca-next");
    rr->spec.step_dwell = strdup("1m");
    rr->spec.abort = abort;
    if (phase != MC_RR_PHASE_NONE) {
        char when[64];
        mc_time_format(STARTED, when, sizeof(when));
        rr->status.phase = strdup(mc_api_rr_phase_name(phase));
        rr->status.step_started_at = strdup(when);
        rr->status.old_root_fingerprint = strdup(OLD_FP);
        rr->status.new_root_fingerprint = strdup(NEW_FP);
    }
    return rr;
}

static char tokens[8][320];

/* An IssuedCertificate that finished phase's step properly. */
static mc_rotation_ic finished_ic(const mc_api_root_rotation *rr, mc_rr_phase phase, int slot)
{
    mc_rotation_token(rr, phase, tokens[slot], sizeof(tokens[slot]));
    unsigned signer, bundle;
    mc_rotation_phase_plan(phase, &signer, &bundle);
    mc_rotation_ic ic = {
        "istio-system", "istio-ca", tokens[slot], tokens[slot], MC_IC_STATE_FINISHED, 1, 1,
        bundle,         signer};
    return ic;
}

typedef struct fixture {
    mc_api_root_rotation *rr;
    mc_rotation_ic ics[2];
    mc_rotation_cluster clusters[2];
    mc_rotation_observation obs;
    mc_rotation_action action;
} fixture;

/* Two clusters with one IssuedCertificate each, both done with the step. */
static void setup(fixture *f, mc_rr_phase phase, int abort, int64_t now)
{
    memset(f, 0, sizeof(*f));
    f->rr = rotation(phase, abort);
    f->ics[0] = finished_ic(f->rr, phase, 0);
    f->ics[1] = finished_ic(f->rr, phase, 1);
    f->clusters[0] = (mc_rotation_cluster){"east", &f->ics[0], 1, 1};
    f->clusters[1] = (mc_rotation_cluster){"west", &f->ics[1], 1, 1};
    f->obs = (mc_rotation_observation){f->rr, f->clusters, 2, OLD_FP, NEW_FP, NULL, NULL, now};
}

static void decide(fixture *f)
{
    mc_rotation_decide(&f->obs, &f->action);
}

static void teardown(fixture *f)
{
    mc_api_root_rotation_free(f->rr);
}

static void assert_phase(const fixture *f, mc_rr_phase phase)
{
    assert_int_equal(f->action.type, MC_ROTATION_SET_PHASE);
    assert_int_equal(f->action.phase, phase);
    assert_string_equal(f->action.condition_type, mc_api_rr_phase_name(phase));
    assert_string_equal(f->action.condition_status, "True");
}

/* What each phase signs with and bundles: R1 signs until
 * PROPAGATING_NEW_INTERMEDIATE and again when rolling back; phases that sign
 * nothing have no plan. */
/* decide() waits, until requeue_at (-1: not checked), saying fragment (NULL:
 * not checked). */
static void assert_wait(const fixture *f, int64_t requeue_at, const char *fragment)
{
    assert_int_equal(f->action.type, MC_ROTATION_WAIT);
    if (requeue_at >= 0)
        assert_int_equal(f->action.requeue_at, requeue_at);
    if (fragment)
        assert_non_null(strstr(f->action.message, fragment));
}

static void test_plan(void **state)
{
    (void)state;
    enum { O = MC_ROTATION_ROOT_OLD, N = MC_ROTATION_ROOT_NEW };
    static const struct {
        mc_rr_phase phase;
        int planned;
        unsigned signer, bundle;
    } plans[] = {
        {MC_RR_PHASE_ADDING_NEW_ROOT, 1, O, O | N},
        {MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, 1, N, O | N},
        {MC_RR_PHASE_DELETING_OLD_ROOT, 1, N, N},
        {MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE, 1, O, O | N},
        {MC_RR_PHASE_ROLLING_BACK, 1, O, O},
        {MC_RR_PHASE_NONE, 0, 0, 0},
        {MC_RR_PHASE_COMPLETE, 0, 0, 0},
        {MC_RR_PHASE_ABORTED, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
        unsigned signer = 0, bundle = 0;
        assert_int_equal(mc_rotation_phase_plan(plans[i].phase, &signer, &bundle),
                         plans[i].planned);
        if (plans[i].planned) {
            assert_int_equal(signer, plans[i].signer);
            assert_int_equal(bundle, plans[i].bundle);
        }
    }
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED);
    char token[320];
    mc_rotation_token(f.rr, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, token, sizeof(token));
    assert_string_equal(token, "rot/PROPAGATING_NEW_INTERMEDIATE/abcdef12");
    teardown(&f);
}

static void test_start(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_NONE, 0, STARTED);
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_ADDING_NEW_ROOT);
    assert_int_equal(f.action.record_fingerprints, 1);
    assert_string_equal(f.action.reason, "StepStarted");
    teardown(&f);
    /* aborted before it began: nothing to roll back */
    setup(&f, MC_RR_PHASE_NONE, 1, STARTED);
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_ABORTED);
    teardown(&f);
}

static void test_start_refused(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_NONE, 0, STARTED);
    f.obs.active_elsewhere = "first";
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_FAIL);
    assert_int_equal(f.action.phase, MC_RR_PHASE_FAILED);
    assert_non_null(strstr(f.action.message, "rootrotation first is already rotating"));
    teardown(&f);
    /* the same root twice */
    setup(&f, MC_RR_PHASE_NONE, 0, STARTED);
    f.obs.new_root_fingerprint = OLD_FP;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_FAIL);
    assert_string_equal(f.action.reason, "SameRoot");
    teardown(&f);
    /* the new root's Secret unreadable: wait and retry, naming why */
    setup(&f, MC_RR_PHASE_NONE, 0, STARTED);
    f.obs.new_root_fingerprint = NULL;
    f.obs.root_error = "secret meshcert/root-ca-next not found";
    decide(&f);
    assert_wait(&f, STARTED + 10, "root-ca-next not found");
    teardown(&f);
}

/* Every forward and rollback step: not done, done during the dwell, done after. */
static void check_step(mc_rr_phase phase, mc_rr_phase next)
{
    fixture f;
    /* not done: west's agent has not finished */
    setup(&f, phase, 0, STARTED + 3600);
    f.ics[1].state = MC_IC_STATE_REQUESTED;
    decide(&f);
    assert_wait(&f, 0, "cluster west");
    assert_non_null(strstr(f.action.message, "REQUESTED"));
    teardown(&f);
    /* done, dwell not over */
    setup(&f, phase, 0, STARTED + DWELL - 1);
    decide(&f);
    assert_wait(&f, STARTED + DWELL, NULL);
    teardown(&f);
    /* done, dwell over */
    setup(&f, phase, 0, STARTED + DWELL);
    decide(&f);
    if (phase == MC_RR_PHASE_DELETING_OLD_ROOT) {
        assert_int_equal(f.action.type, MC_ROTATION_SWAP_ROOT);
    } else {
        assert_phase(&f, next);
    }
    teardown(&f);
}

static void test_steps(void **state)
{
    (void)state;
    check_step(MC_RR_PHASE_ADDING_NEW_ROOT, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE);
    check_step(MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, MC_RR_PHASE_DELETING_OLD_ROOT);
    check_step(MC_RR_PHASE_DELETING_OLD_ROOT, MC_RR_PHASE_COMPLETE);
    check_step(MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE, MC_RR_PHASE_ROLLING_BACK);
    check_step(MC_RR_PHASE_ROLLING_BACK, MC_RR_PHASE_ABORTED);
}

static void test_final_phases(void **state)
{
    (void)state;
    mc_rr_phase finals[] = {MC_RR_PHASE_COMPLETE, MC_RR_PHASE_ABORTED, MC_RR_PHASE_FAILED};
    for (size_t i = 0; i < 3; i++) {
        fixture f;
        setup(&f, finals[i], 1, STARTED + 99999);
        f.ics[0].rotate_annotation = NULL;
        decide(&f);
        assert_int_equal(f.action.type, MC_ROTATION_NOTHING);
        teardown(&f);
    }
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED);
    free(f.rr->status.phase);
    f.rr->status.phase = strdup("VERIFYING"); /* a newer writer's phase */
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_NOTHING);
    teardown(&f);
}

/* After the swap and before COMPLETE was written (a crash between them): the
 * root Secret holds R2, the step is still done: COMPLETE, not a second swap. */
static void test_swap_done_before_complete(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_DELETING_OLD_ROOT, 0, STARTED + DWELL);
    f.obs.root_fingerprint = NEW_FP;
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_COMPLETE);
    teardown(&f);
    /* R2 in the root Secret before DELETING_OLD_ROOT: changed by someone else */
    setup(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, 0, STARTED + DWELL);
    f.obs.root_fingerprint = NEW_FP;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_FAIL);
    assert_string_equal(f.action.reason, "RootChanged");
    teardown(&f);
}

static void test_roots_changed(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED);
    f.obs.new_root_fingerprint = "3333";
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_FAIL);
    assert_non_null(strstr(f.action.message, "spec.newRootSecret changed"));
    teardown(&f);
    setup(&f, MC_RR_PHASE_DELETING_OLD_ROOT, 0, STARTED);
    f.obs.root_fingerprint = "3333";
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_FAIL);
    assert_non_null(strstr(f.action.message, "spec.rootSecret changed"));
    teardown(&f);
}

static void test_abort(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 1, STARTED);
    f.ics[1].state = MC_IC_STATE_REQUESTED; /* no need to wait for the step */
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_ROLLING_BACK);
    assert_string_equal(f.action.reason, "AbortRequested");
    teardown(&f);
    /* too late: a note once, then the rotation goes on */
    setup(&f, MC_RR_PHASE_DELETING_OLD_ROOT, 1, STARTED + DWELL);
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SET_NOTE);
    assert_string_equal(f.action.condition_type, "AbortRefused");
    assert_non_null(strstr(f.action.message, "spec.abort ignored"));
    mc_api_conditions_set(&f.rr->status.conditions, "AbortRefused", "True", "TooLate", "x", 1,
                          STARTED);
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SWAP_ROOT);
    teardown(&f);
    /* where spec.abort leads from the other phases (NONE: nothing to do);
     * rolling back already, it changes nothing */
    static const struct {
        mc_rr_phase phase;
        int64_t now;
        mc_rr_phase next;
    } aborts[] = {
        {MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, STARTED, MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE},
        {MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE, STARTED + DWELL, MC_RR_PHASE_ROLLING_BACK},
        {MC_RR_PHASE_ROLLING_BACK, STARTED + DWELL, MC_RR_PHASE_ABORTED},
        {MC_RR_PHASE_COMPLETE, STARTED + DWELL, MC_RR_PHASE_NONE},
    };
    for (size_t i = 0; i < sizeof(aborts) / sizeof(aborts[0]); i++) {
        setup(&f, aborts[i].phase, 1, aborts[i].now);
        decide(&f);
        if (aborts[i].next == MC_RR_PHASE_NONE)
            assert_int_equal(f.action.type, MC_ROTATION_NOTHING);
        else
            assert_phase(&f, aborts[i].next);
        teardown(&f);
    }
}

/* Status written, then the issuer died before any token: the tokens follow,
 * one IssuedCertificate per action, and the phase is not entered again. */
static void test_crash_before_tokens(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, 0, STARTED + 99999);
    mc_rotation_ic stale = finished_ic(f.rr, MC_RR_PHASE_ADDING_NEW_ROOT, 2);
    f.ics[0] = stale;
    f.ics[1] = stale;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SET_TOKEN);
    assert_int_equal(f.action.cluster, 0);
    assert_int_equal(f.action.ic, 0);
    assert_string_equal(f.action.token, "rot/PROPAGATING_NEW_INTERMEDIATE/abcdef12");
    f.ics[0].rotate_annotation = f.action.token; /* the patch landed */
    char first[320];
    strcpy(first, f.action.token);
    f.ics[0].rotate_annotation = first;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SET_TOKEN);
    assert_int_equal(f.action.cluster, 1);
    f.ics[1].rotate_annotation = first;
    decide(&f); /* both carry it; the agents have not honoured it yet */
    assert_wait(&f, -1, "waiting for the agent");
    teardown(&f);
}

/* A cluster registered during the rotation joins at the current step. */
static void test_new_cluster(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_DELETING_OLD_ROOT, 0, STARTED + DWELL);
    mc_rotation_ic fresh = {"istio-system",       "istio-ca", NULL, NULL,
                            MC_IC_STATE_FINISHED, 1,          1,    MC_ROTATION_ROOT_OLD,
                            MC_ROTATION_ROOT_OLD};
    mc_rotation_ic ics[3] = {f.ics[0], f.ics[1], fresh};
    mc_rotation_cluster clusters[3] = {f.clusters[0], f.clusters[1], {"south", &ics[2], 1, 1}};
    f.obs.clusters = clusters;
    f.obs.clusters_len = 3;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SET_TOKEN);
    assert_int_equal(f.action.cluster, 2);
    assert_string_equal(f.action.token, "rot/DELETING_OLD_ROOT/abcdef12");
    /* token honoured but answered before the phase reached the issuer: not done */
    ics[2].rotate_annotation = tokens[0];
    ics[2].status_rotation = tokens[0];
    decide(&f);
    assert_wait(&f, -1, "cluster south");
    assert_non_null(strstr(f.action.message, "bundle of the old root"));
    mc_api_root_rotation_cluster progress[3];
    char messages[3][256];
    mc_rotation_progress(&f.obs, progress, messages);
    assert_true(progress[0].done && progress[1].done && !progress[2].done);
    assert_string_equal(progress[2].name, "south");
    assert_string_equal(progress[2].phase, "DELETING_OLD_ROOT");
    assert_non_null(strstr(progress[2].message, "istio-system/istio-ca"));
    ics[2].request_bundle = MC_ROTATION_ROOT_NEW;
    ics[2].request_signer = MC_ROTATION_ROOT_NEW;
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SWAP_ROOT);
    teardown(&f);
}

/* An IssuedCertificate still carrying an earlier step's token gets the new one. */
static void test_stale_token(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_DELETING_OLD_ROOT, 0, STARTED + DWELL);
    f.ics[1] = finished_ic(f.rr, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, 3);
    decide(&f);
    assert_int_equal(f.action.type, MC_ROTATION_SET_TOKEN);
    assert_int_equal(f.action.cluster, 1);
    assert_string_equal(f.action.token, "rot/DELETING_OLD_ROOT/abcdef12");
    teardown(&f);
}

static void test_failed_ic(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + DWELL);
    f.ics[0].state = MC_IC_STATE_FAILED;
    decide(&f);
    assert_wait(&f, -1, "cluster east: istio-system/istio-ca: FAILED");
    teardown(&f);
    /* FINISHED for an older generation, or the request not answered */
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + DWELL);
    f.ics[0].current = 0;
    decide(&f);
    assert_wait(&f, -1, NULL);
    f.ics[0].current = 1;
    f.ics[0].request_finished = 0;
    decide(&f);
    assert_wait(&f, -1, "not FINISHED");
    teardown(&f);
    /* signed by the wrong root (R1 in PROPAGATING_NEW_INTERMEDIATE) is not done */
    setup(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE, 0, STARTED + DWELL);
    f.ics[0].request_signer = MC_ROTATION_ROOT_OLD;
    decide(&f);
    assert_wait(&f, -1, NULL);
    teardown(&f);
}

/* stepStartedAt carries microseconds; the clock is whole seconds: a step
 * started at S.5 may only end at S+1+dwell, never after less than dwell. */
static void test_dwell_fraction(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + DWELL);
    free(f.rr->status.step_started_at);
    char when[64];
    mc_time_format_micro(STARTED, 500000000, when, sizeof(when));
    f.rr->status.step_started_at = strdup(when);
    decide(&f);
    assert_wait(&f, STARTED + 1 + DWELL, NULL);
    f.obs.now = STARTED + 1 + DWELL;
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE);
    teardown(&f);
}

/* A registered cluster whose caches are not filled (unreachable) is not
 * taken for one without IssuedCertificates: no cluster skips a step. */
static void test_unsynced_cluster(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + DWELL);
    f.clusters[1].ics_len = 0;
    f.clusters[1].synced = 0;
    decide(&f);
    assert_wait(&f, STARTED + DWELL + 10, "cluster west: its IssuedCertificates are not known");
    mc_api_root_rotation_cluster progress[2];
    char messages[2][256];
    mc_rotation_progress(&f.obs, progress, messages);
    assert_true(progress[0].done);
    assert_false(progress[1].done);
    f.clusters[1].synced = 1; /* reachable, and without IssuedCertificates of the root */
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE);
    teardown(&f);
}

/* No IssuedCertificate names the root anywhere: every step is trivially
 * done, only the dwell counts. */
static void test_no_ics(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + DWELL);
    f.clusters[0].ics_len = 0;
    f.clusters[1].ics_len = 0;
    decide(&f);
    assert_phase(&f, MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE);
    teardown(&f);
    /* stepStartedAt missing (hand-edited): the phase's condition says when */
    setup(&f, MC_RR_PHASE_ADDING_NEW_ROOT, 0, STARTED + 10);
    free(f.rr->status.step_started_at);
    f.rr->status.step_started_at = NULL;
    mc_api_conditions_set(&f.rr->status.conditions, "ADDING_NEW_ROOT", "True", "StepStarted", "", 1,
                          STARTED);
    decide(&f);
    assert_wait(&f, STARTED + DWELL, NULL);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_start_refused),
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_final_phases),
        cmocka_unit_test(test_swap_done_before_complete),
        cmocka_unit_test(test_roots_changed),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_crash_before_tokens),
        cmocka_unit_test(test_new_cluster),
        cmocka_unit_test(test_stale_token),
        cmocka_unit_test(test_failed_ic),
        cmocka_unit_test(test_dwell_fraction),
        cmocka_unit_test(test_unsynced_cluster),
        cmocka_unit_test(test_no_ics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
