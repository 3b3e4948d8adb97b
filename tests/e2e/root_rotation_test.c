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
#include "workflow_fixture.h"

#define IC_NAME     "mesh-ca"
#define OUTPUT      "cacerts"
#define ROTATION_MS 120000

static const mc_kube_resource rotations = {MC_API_GROUP, MC_API_VERSION, "rootrotations", 1};

/* The certificate in Secret meshcert/<name> of mgmt (a root Secret). */
static mc_pki_cert *root_cert(const wf_fixture *f, const char *name, char fp[65])
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->mgmt, &wf_secrets, WF_NS_MESHCERT, name, &secret, &err) != MC_OK)
        wf_fail(f, "secret meshcert/%s: %s", name, err.msg);
    size_t len = 0;
    char *pem = wf_secret_value(secret, "root-cert.pem", &len);
    json_decref(secret);
    mc_pki_cert *cert = NULL;
    if (!pem || mc_pki_cert_from_pem(pem, len, name, &cert, &err) != MC_OK ||
        mc_pki_cert_fingerprint(cert, fp, &err) != MC_OK)
        wf_fail(f, "secret meshcert/%s root-cert.pem: %s", name, err.msg);
    free(pem);
    return cert;
}

/* What one cluster's output Secret shows, as root bits (1 old, 2 new, 4 other). */
typedef struct output_view {
    unsigned bundle;    /* roots in root-cert.pem */
    int bundle_len;     /* certificates in root-cert.pem */
    unsigned signer;    /* the root whose key signed ca-cert.pem */
    char rotation[320]; /* the IssuedCertificate's status.rotation */
    char state[32];
} output_view;

typedef struct roots {
    mc_pki_cert *old_root, *new_root;
    char old_fp[65], new_fp[65];
} roots;

static unsigned root_bit(const roots *r, const mc_pki_cert *cert)
{
    char fp[65];
    mc_err err = {0};
    if (mc_pki_cert_fingerprint(cert, fp, &err) != MC_OK)
        return 4;
    return strcmp(fp, r->old_fp) == 0 ? 1 : strcmp(fp, r->new_fp) == 0 ? 2 : 4;
}

static int read_output(const wf_fixture *f, int cluster, const roots *r, output_view *view)
{
    memset(view, 0, sizeof(*view));
    json_t *secret = NULL, *ic = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[cluster], &wf_secrets, WF_NS_ISTIO, OUTPUT, &secret, &err) !=
            MC_OK ||
        mc_kube_get(f->managed[cluster], &wf_issued, WF_NS_MESHCERT, IC_NAME, &ic, &err) != MC_OK) {
        json_decref(secret);
        return -1;
    }
    const char *rotation = wf_str_at(ic, "status", "rotation");
    const char *state = wf_str_at(ic, "status", "state");
    snprintf(view->rotation, sizeof(view->rotation), "%s", rotation ? rotation : "");
    snprintf(view->state, sizeof(view->state), "%s", state ? state : "");
    json_decref(ic);
    size_t root_len = 0, ca_len = 0;
    char *root_pem = wf_secret_value(secret, "root-cert.pem", &root_len);
    char *ca_pem = wf_secret_value(secret, "ca-cert.pem", &ca_len);
    json_decref(secret);
    mc_pki_cert **list = NULL, *ca = NULL;
    size_t count = 0;
    int rc = -1;
    if (root_pem && ca_pem &&
        mc_pki_cert_list_from_pem(root_pem, root_len, "root-cert.pem", &list, &count, &err) ==
            MC_OK &&
        mc_pki_cert_from_pem(ca_pem, ca_len, "ca-cert.pem", &ca, &err) == MC_OK) {
        for (size_t i = 0; i < count; i++)
            view->bundle |= root_bit(r, list[i]);
        view->bundle_len = (int)count;
        view->signer = mc_pki_cert_signed_by(ca, r->old_root)   ? 1
                       : mc_pki_cert_signed_by(ca, r->new_root) ? 2
                                                                : 4;
        rc = 0;
    }
    mc_pki_cert_list_free(list, count);
    mc_pki_cert_free(ca);
    free(root_pem);
    free(ca_pem);
    return rc;
}

/* The RootRotation's phase (into phase) and the whole object (new ref). */
static json_t *read_rotation(const wf_fixture *f, const char *name, char *phase, size_t size)
{
    json_t *obj = NULL;
    mc_err err = {0};
    phase[0] = '\0';
    if (mc_kube_get(f->mgmt, &rotations, WF_NS_MESHCERT, name, &obj, &err) != MC_OK)
        return NULL;
    const char *p = wf_str_at(obj, "status", "phase");
    snprintf(phase, size, "%s", p ? p : "");
    return obj;
}

/* `meshcert root rotate ARGS...` against mgmt; its exit status. */
static int run_root(const wf_fixture *f, const char *const *args)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    char *argv[24];
    size_t n = 0;
    argv[n++] = MESHCERT_BIN;
    argv[n++] = "root";
    for (size_t i = 0; args[i] && n < 20; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = "--kubeconfig";
    argv[n++] = kubeconfig;
    argv[n] = NULL;
    return wf_run_tool(f, argv);
}

/* `meshcert root rotate --generate` of rotation name (step dwell dwell);
 * r->new_root becomes its new root, from the Secret root-ca-<name>. */
static void start_rotation(const wf_fixture *f, const char *name, const char *dwell, roots *r)
{
    const char *args[] = {"rotate",  "--generate",   "--root-key-type",
                          "ec-p256", "--step-dwell", dwell,
                          "--name",  name,           NULL};
    assert_int_equal(run_root(f, args), 0);
    char secret[128];
    snprintf(secret, sizeof(secret), "%s-%s", WF_ROOT_SECRET, name);
    r->new_root = root_cert(f, secret, r->new_fp);
}

typedef struct watch {
    const char *phases[8]; /* in the order entered */
    int count;
    long checks;       /* observations of both clusters checked for mutual trust */
    long phase_checks; /* of them, checked against their phase's guarantees */
} watch;

static void record_phase(const wf_fixture *f, watch *w, const char *phase)
{
    if (!*phase || (w->count && strcmp(w->phases[w->count - 1], phase) == 0))
        return;
    if (w->count == 8)
        wf_fail(f, "too many phases");
    w->phases[w->count++] = strdup(phase);
    fprintf(stderr, "phase %s at %lld ms\n", phase, (long long)wf_now_ms());
}

/* Every cluster's intermediate is signed by a root that every cluster's
 * bundle holds: a workload of either cluster accepts the other's leaves. */
static void assert_mutual_trust(const wf_fixture *f, const output_view *views, const char *phase)
{
    for (int a = 0; a < WF_MANAGED; a++)
        for (int b = 0; b < WF_MANAGED; b++)
            if (!(views[b].bundle & views[a].signer))
                wf_fail(f,
                        "during %s: %s's intermediate (signed by root bit %u) is not trusted by "
                        "%s's bundle (root bits %u)",
                        phase, wf_managed_names[a], views[a].signer, wf_managed_names[b],
                        views[b].bundle);
}

/* Conditions of every phase entered, in order, with non-decreasing times. */
static void assert_conditions(const wf_fixture *f, const json_t *rr, const watch *w)
{
    const json_t *conditions = json_object_get(json_object_get(rr, "status"), "conditions");
    int64_t last = 0;
    for (int i = 0; i < w->count; i++) {
        const json_t *found = NULL;
        size_t k;
        json_t *c;
        json_array_foreach(conditions, k,
                           c) if (strcmp(json_string_value(json_object_get(c, "type")),
                                         w->phases[i]) == 0) found = c;
        if (!found)
            wf_fail(f, "no condition for phase %s", w->phases[i]);
        int64_t t = 0;
        int32_t nanos = 0;
        if (mc_time_parse(json_string_value(json_object_get(found, "lastTransitionTime")), &t,
                          &nanos, NULL) != MC_OK ||
            t < last)
            wf_fail(f, "condition %s: lastTransitionTime missing or before the previous step",
                    w->phases[i]);
        last = t;
    }
}

/* What a phase guarantees once entered (its previous step is done on every
 * cluster): bundles [R1,R2] from step 2 on, intermediates of R2 from step
 * 3 on, [R2] alone at COMPLETE; on the way back, intermediates of R1 in
 * ROLLING_BACK and [R1] alone at ABORTED. Returns 1 when it checked. */
static int assert_phase_state(const wf_fixture *f, const char *phase, const output_view *views)
{
    for (int c = 0; c < WF_MANAGED; c++) {
        const output_view *v = &views[c];
        const char *who = wf_managed_names[c];
        if ((!strcmp(phase, "PROPAGATING_NEW_INTERMEDIATE") ||
             !strcmp(phase, "ROLLING_BACK_INTERMEDIATE")) &&
            (v->bundle != 3 || v->bundle_len != 2))
            wf_fail(f, "%s in %s: root-cert.pem holds root bits %u (%d roots), not [R1,R2]", who,
                    phase, v->bundle, v->bundle_len);
        if (!strcmp(phase, "DELETING_OLD_ROOT") && v->signer != 2)
            wf_fail(f, "%s in %s: intermediate signed by root bit %u, not R2", who, phase,
                    v->signer);
        if (!strcmp(phase, "COMPLETE") && (v->bundle != 2 || v->bundle_len != 1 || v->signer != 2))
            wf_fail(f, "%s at COMPLETE: bundle bits %u (%d roots), signer %u; want [R2], R2", who,
                    v->bundle, v->bundle_len, v->signer);
        if (!strcmp(phase, "ROLLING_BACK") && v->signer != 1)
            wf_fail(f, "%s in ROLLING_BACK: intermediate signed by root bit %u, not R1", who,
                    v->signer);
        if (!strcmp(phase, "ABORTED") && (v->bundle != 1 || v->bundle_len != 1 || v->signer != 1))
            wf_fail(f, "%s at ABORTED: bundle bits %u (%d roots), signer %u; want [R1], R1", who,
                    v->bundle, v->bundle_len, v->signer);
    }
    return strcmp(phase, "ADDING_NEW_ROOT") != 0;
}

static int is_forward_token(const char *rotation, const char *name)
{
    char a[320], b[320];
    snprintf(a, sizeof(a), "%s/PROPAGATING_NEW_INTERMEDIATE/", name);
    snprintf(b, sizeof(b), "%s/DELETING_OLD_ROOT/", name);
    return strncmp(rotation, a, strlen(a)) == 0 || strncmp(rotation, b, strlen(b)) == 0;
}

/* Watches rotation name until a final phase, checking the invariants at
 * every observation; kill_in: the phase at whose entry the issuer is
 * SIGKILLed and restarted, kill_agent_in: the one at whose entry east's
 * agent is (NULL: none); abort_in: the phase at whose entry `meshcert root
 * rotate --abort` runs. Returns the final phase (static). */
static const char *watch_rotation(wf_fixture *f, const char *name, const roots *r, watch *w,
                                  const char *kill_in, const char *kill_agent_in,
                                  const char *abort_in)
{
    int64_t deadline = wf_now_ms() + ROTATION_MS;
    int killed = 0, killed_agent = 0, aborted = 0;
    static char phase[64];
    for (;;) {
        json_t *rr = read_rotation(f, name, phase, sizeof(phase));
        json_decref(rr);
        record_phase(f, w, phase);
        output_view views[WF_MANAGED];
        int complete = 1;
        for (int c = 0; c < WF_MANAGED; c++)
            complete &= read_output(f, c, r, &views[c]) == 0;
        /* the phase again: the outputs belong to it only when it did not move */
        char after[64];
        json_decref(read_rotation(f, name, after, sizeof(after)));
        /* once an abort is asked for, a request in flight for a forward
         * step may be answered by the rollback's signer (R1): allowed, as
         * every bundle still holds R1 */
        if (complete) {
            assert_mutual_trust(f, views, phase);
            w->checks++;
            if (!strcmp(after, phase))
                w->phase_checks += assert_phase_state(f, phase, views);
            for (int c = 0; c < WF_MANAGED; c++)
                if (is_forward_token(views[c].rotation, name) &&
                    !strcmp(views[c].state, "FINISHED") && views[c].signer != 2 && !aborted)
                    wf_fail(f, "%s: issued for step %s but signed by root bit %u, not R2",
                            wf_managed_names[c], views[c].rotation, views[c].signer);
        }
        if (!strcmp(phase, "COMPLETE") || !strcmp(phase, "ABORTED") || !strcmp(phase, "FAILED"))
            return phase;
        if (kill_in && !killed && !strcmp(phase, kill_in)) {
            killed = 1;
            fprintf(stderr, "SIGKILL issuer in %s\n", phase);
            wf_kill_restart(f, -1, 300);
        }
        if (kill_agent_in && !killed_agent && !strcmp(phase, kill_agent_in)) {
            killed_agent = 1;
            fprintf(stderr, "SIGKILL east's agent in %s\n", phase);
            wf_kill_restart(f, WF_EAST, 300);
        }
        if (abort_in && !aborted && !strcmp(phase, abort_in)) {
            aborted = 1;
            const char *args[] = {"rotate", "--abort", "--name", name, NULL};
            if (run_root(f, args) != 0)
                wf_fail(f, "meshcert root rotate --abort exited non-zero");
        }
        if (wf_now_ms() > deadline)
            wf_fail(f, "rotation %s did not end within %d s (phase %s)", name, ROTATION_MS / 1000,
                    phase);
        wf_sleep_ms(50);
    }
}

/* Waits until every output Secret shows bundle bits and signer bits. */
static void wait_outputs(const wf_fixture *f, const roots *r, unsigned bundle, int bundle_len,
                         unsigned signer)
{
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    for (;;) {
        int ok = 1;
        output_view views[WF_MANAGED];
        for (int c = 0; c < WF_MANAGED; c++)
            ok &= read_output(f, c, r, &views[c]) == 0 && views[c].bundle == bundle &&
                  views[c].bundle_len == bundle_len && views[c].signer == signer;
        if (ok)
            return;
        if (wf_now_ms() > deadline)
            wf_fail(f,
                    "outputs: want bundle %u (%d roots) signed by %u; east %u/%d/%u west %u/%d/%u",
                    bundle, bundle_len, signer, views[0].bundle, views[0].bundle_len,
                    views[0].signer, views[1].bundle, views[1].bundle_len, views[1].signer);
        wf_sleep_ms(100);
    }
}

static void test_rotation(void **state)
{
    wf_fixture *f = *state;
    for (int c = 0; c < WF_MANAGED; c++)
        wf_create_issued_certificate(f->managed[c], IC_NAME, OUTPUT, NULL, NULL);
    wf_ic_view view;
    for (int c = 0; c < WF_MANAGED; c++)
        wf_wait_ic_state(f, f->managed[c], wf_managed_names[c], IC_NAME, "FINISHED", 1, &view);
    roots r;
    r.old_root = root_cert(f, WF_ROOT_SECRET, r.old_fp);
    r.new_root = NULL;
    r.new_fp[0] = '\0';

    /* a full rotation, the issuer killed in the middle */
    start_rotation(f, "rot1", "1s", &r);
    watch w = {0};
    const char *end = watch_rotation(f, "rot1", &r, &w, "PROPAGATING_NEW_INTERMEDIATE",
                                     "DELETING_OLD_ROOT", NULL);
    assert_string_equal(end, "COMPLETE");
    static const char *const order[] = {"ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE",
                                        "DELETING_OLD_ROOT", "COMPLETE"};
    /* a phase may pass between two reads; the conditions record every one */
    char phase[64];
    json_t *rr = read_rotation(f, "rot1", phase, sizeof(phase));
    watch all = {{order[0], order[1], order[2], order[3]}, 4, 0, 0};
    assert_conditions(f, rr, &all);
    json_decref(rr);
    for (int i = 0, j = 0; i < w.count; i++) { /* what was seen comes in that order */
        while (j < 4 && strcmp(order[j], w.phases[i]) != 0)
            j++;
        if (j == 4)
            wf_fail(f, "phase %s seen out of order", w.phases[i]);
    }
    wait_outputs(f, &r, 2, 1, 2);
    char fp[65];
    mc_pki_cert *now = root_cert(f, WF_ROOT_SECRET, fp);
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
    watch w2 = {0};
    end =
        watch_rotation(f, "rot2", &r, &w2, NULL, "ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE");
    assert_string_equal(end, "ABORTED");
    rr = read_rotation(f, "rot2", phase, sizeof(phase));
    watch rollback = {{"ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE",
                       "ROLLING_BACK_INTERMEDIATE", "ROLLING_BACK", "ABORTED"},
                      5,
                      0,
                      0};
    assert_conditions(f, rr, &rollback);
    json_decref(rr);
    wait_outputs(f, &r, 1, 1, 1);
    now = root_cert(f, WF_ROOT_SECRET, fp);
    assert_string_equal(fp, r.old_fp); /* the root Secret never changed */
    mc_pki_cert_free(now);
    fprintf(stderr, "rotation rot2: %ld mutual-trust checks, %ld against the phase\n", w2.checks,
            w2.phase_checks);
    assert_true(w2.phase_checks > 0);
    mc_pki_cert_free(r.old_root);
    mc_pki_cert_free(r.new_root);
    for (int i = 0; i < w.count; i++)
        free((char *)w.phases[i]);
    for (int i = 0; i < w2.count; i++)
        free((char *)w2.phases[i]);
}

static const mc_kube_resource crds = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", 0};

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
    if (mc_kube_delete(f->mgmt, &crds, NULL, "rootrotations." MC_API_GROUP, NULL, &err) != MC_OK)
        wf_fail(f, "delete the rootrotations CRD: %s", err.msg);
    wf_sleep_ms(300);
    if (wf_start_issuer(f) != 0)
        wf_fail(f, "issuer start failed");
    wf_sleep_ms(3000);
    assert_int_equal(kill(f->issuer, 0), 0);
    const char *said = "does not serve rootrotations";
    assert_int_equal(count_in_file(f->issuer_log, said), 1);
    const char *args[] = {"rotate", "--generate", "--root-key-type", "ec-p256", NULL};
    assert_int_equal(run_root(f, args), 1); /* the CLI names the missing CRD */
    if (wf_apply_crd(f->mgmt, "rootrotations.yaml") != MC_OK)
        wf_fail(f, "apply the rootrotations CRD");
    json_t *root = NULL;
    /* the root the rotation rotates (the issuer makes it on the first request) */
    if (mc_kube_get(f->mgmt, &wf_secrets, WF_NS_MESHCERT, WF_ROOT_SECRET, &root, &err) ==
        MC_ENOTFOUND) {
        wf_create_issued_certificate(f->managed[WF_EAST], IC_NAME, OUTPUT, NULL, NULL);
        wf_ic_view view;
        wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", 1, &view);
    }
    json_decref(root);
    const char *rotate[] = {
        "rotate", "--generate", "--root-key-type", "ec-p256",   "--step-dwell", "1s",
        "--name", "late",       "--wait",          "--timeout", "60s",          NULL};
    assert_int_equal(run_root(f, rotate), 0);
    char phase[64];
    json_decref(read_rotation(f, "late", phase, sizeof(phase)));
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
