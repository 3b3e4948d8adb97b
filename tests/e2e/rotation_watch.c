/* rotation_watch.c - the root rotation e2e tests' shared watch (see
 * rotation_watch.h).
 */
#include "rotation_watch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/root_rotation.h"
#include "api/time.h"
#include "pki/verify.h"

#define ROTATION_MS 120000

/* The certificate in Secret meshcert/<name> of mgmt (a root Secret). */
mc_pki_cert *rw_root_cert(const wf_fixture *f, const char *name, char fp[65])
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, name, &secret,
                    &err) != MC_OK)
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
    unsigned bundle;    /* rw_roots in root-cert.pem */
    int bundle_len;     /* certificates in root-cert.pem */
    unsigned signer;    /* the root whose key signed ca-cert.pem */
    char rotation[320]; /* the IssuedCertificate's status.rotation */
    char state[32];
} output_view;

static unsigned root_bit(const rw_roots *r, const mc_pki_cert *cert)
{
    char fp[65];
    mc_err err = {0};
    if (mc_pki_cert_fingerprint(cert, fp, &err) != MC_OK)
        return 4;
    return strcmp(fp, r->old_fp) == 0 ? 1 : strcmp(fp, r->new_fp) == 0 ? 2 : 4;
}

static int read_output(const wf_fixture *f, int cluster, const rw_roots *r, output_view *view)
{
    memset(view, 0, sizeof(*view));
    json_t *secret = NULL, *ic = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[cluster], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    RW_OUTPUT, &secret, &err) != MC_OK ||
        mc_kube_get(f->managed[cluster], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                    WF_NS_MESHCERT, RW_IC_NAME, &ic, &err) != MC_OK) {
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
json_t *rw_read_rotation(const wf_fixture *f, const char *name, char *phase, size_t size)
{
    json_t *obj = NULL;
    mc_err err = {0};
    phase[0] = '\0';
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), WF_NS_MESHCERT, name, &obj,
                    &err) != MC_OK)
        return NULL;
    const char *p = wf_str_at(obj, "status", "phase");
    snprintf(phase, size, "%s", p ? p : "");
    return obj;
}

/* `meshcert root rotate ARGS...` against mgmt; its exit status. */
int rw_run_root(const wf_fixture *f, const char *const *args)
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

static void record_phase(const wf_fixture *f, rw_watch *w, const char *phase)
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
void rw_assert_conditions(const wf_fixture *f, const json_t *rr, const rw_watch *w)
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
            wf_fail(f, "%s in %s: root-cert.pem holds root bits %u (%d rw_roots), not [R1,R2]", who,
                    phase, v->bundle, v->bundle_len);
        if (!strcmp(phase, "DELETING_OLD_ROOT") && v->signer != 2)
            wf_fail(f, "%s in %s: intermediate signed by root bit %u, not R2", who, phase,
                    v->signer);
        if (!strcmp(phase, "COMPLETE") && (v->bundle != 2 || v->bundle_len != 1 || v->signer != 2))
            wf_fail(f, "%s at COMPLETE: bundle bits %u (%d rw_roots), signer %u; want [R2], R2",
                    who, v->bundle, v->bundle_len, v->signer);
        if (!strcmp(phase, "ROLLING_BACK") && v->signer != 1)
            wf_fail(f, "%s in ROLLING_BACK: intermediate signed by root bit %u, not R1", who,
                    v->signer);
        if (!strcmp(phase, "ABORTED") && (v->bundle != 1 || v->bundle_len != 1 || v->signer != 1))
            wf_fail(f, "%s at ABORTED: bundle bits %u (%d rw_roots), signer %u; want [R1], R1", who,
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
const char *rw_watch_rotation(wf_fixture *f, const char *name, const rw_roots *r, rw_watch *w,
                              const char *kill_in, const char *kill_agent_in, const char *abort_in)
{
    int64_t deadline = wf_now_ms() + ROTATION_MS;
    int killed = 0, killed_agent = 0, aborted = 0;
    static char phase[64];
    for (;;) {
        json_t *rr = rw_read_rotation(f, name, phase, sizeof(phase));
        json_decref(rr);
        record_phase(f, w, phase);
        output_view views[WF_MANAGED];
        int complete = 1;
        for (int c = 0; c < WF_MANAGED; c++)
            complete &= read_output(f, c, r, &views[c]) == 0;
        /* the phase again: the outputs belong to it only when it did not move */
        char after[64];
        json_decref(rw_read_rotation(f, name, after, sizeof(after)));
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
            if (rw_run_root(f, args) != 0)
                wf_fail(f, "meshcert root rotate --abort exited non-zero");
        }
        if (wf_now_ms() > deadline)
            wf_fail(f, "rotation %s did not end within %d s (phase %s)", name, ROTATION_MS / 1000,
                    phase);
        wf_sleep_ms(50);
    }
}

/* Waits until every output Secret shows bundle bits and signer bits. */
void rw_wait_outputs(const wf_fixture *f, const rw_roots *r, unsigned bundle, int bundle_len,
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
            wf_fail(
                f,
                "outputs: want bundle %u (%d rw_roots) signed by %u; east %u/%d/%u west %u/%d/%u",
                bundle, bundle_len, signer, views[0].bundle, views[0].bundle_len, views[0].signer,
                views[1].bundle, views[1].bundle_len, views[1].signer);
        wf_sleep_ms(100);
    }
}

void rw_assert_order(const wf_fixture *f, const rw_watch *w, const char *const *want, int count)
{
    for (int i = 0, j = 0; i < w->count; i++) {
        while (j < count && strcmp(want[j], w->phases[i]) != 0)
            j++;
        if (j == count)
            wf_fail(f, "phase %s seen out of order", w->phases[i]);
    }
}

void rw_watch_clear(rw_watch *w)
{
    for (int i = 0; i < w->count; i++)
        free((char *)w->phases[i]);
    w->count = 0;
}
