/* rotation_probe_test.c - issue 12's "what must show": no moment of broken
 * trust between clusters while intermediates are renewed and the root is
 * rotated. A `meshcert server` with mgmt and three managed clusters (east,
 * west, north), the issuer and one agent per cluster as real processes, one
 * IssuedCertificate per cluster. A watch on every cluster's output Secret
 * (istio-system/cacerts) feeds the trust probe (trust_probe.h): at every
 * change of any of them, a mutual-TLS handshake for every ordered pair of
 * clusters, each side trusting only its own root-cert.pem.
 *
 * test_rotation: (a) `meshcert rotate --all`, (a2) renewal at the renewal
 * time (spec.duration 1m, renewBefore 45s), (b) `meshcert root rotate
 * --generate --step-dwell 1s --wait`, (c) the same rotation while the issuer
 * and the agents are SIGKILLed at random and restarted: zero failed
 * handshakes, and handshakes > 0, in every phase.
 * test_wrong_order: the negative control. With the processes stopped, one
 * cluster's Secret is rewritten by hand with an intermediate from a new root
 * R3 that no other bundle holds: the probe must fail; the same writes in the
 * right order (R3 in every bundle first, and seen by the probe, then north's
 * signer) must not.
 */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/watch.h"
#include "pki/cert.h"
#include "trust_probe.h"
#include "util/base64.h"
#include "util/str.h"
#include "workflow_fixture.h"

#define CLUSTERS       3
#define IC_NAME        "mesh-ca"
#define OUTPUT_SECRET  "cacerts"
#define STEP_MS        90000 /* the longest a phase may take */
#define SETTLE_MS      500   /* for the last watch events to arrive after a phase */
#define QUEUE_CAPACITY 1024  /* changes waiting for the probe */

typedef struct queued_event {
    int cluster;
    mc_kube_event_type type;
    json_t *secret; /* owned reference */
} queued_event;

typedef struct probe_watch probe_watch;

typedef struct watch_context {
    probe_watch *pw;
    int cluster;
} watch_context;

/* The watches' I/O thread queues each change of an output Secret; the probe
 * thread applies them one at a time and probes after each, so every state
 * the watches saw is probed once. */
struct probe_watch {
    wf_fixture *f;
    trust_probe *probe; /* the probe thread's only */
    mc_kube_watcher *watcher;
    mc_kube_watch *watches[CLUSTERS];
    watch_context contexts[CLUSTERS];
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t changed;
    queued_event queue[QUEUE_CAPACITY]; /* a ring: head, len */
    size_t head, len;
    int busy; /* the probe thread holds an event */
    int stop;
    unsigned long changes;     /* events handled in the current phase */
    trust_probe_result result; /* the current phase's handshakes */
    char trouble[320];         /* a watch that stopped, a full queue */
};

static const char *name_of(int cluster)
{
    return wf_managed_names[cluster];
}

static int is_output_secret(const json_t *secret)
{
    const char *name = wf_str_at(secret, "metadata", "name");
    return name && strcmp(name, OUTPUT_SECRET) == 0;
}

static void on_secret(void *ctx, mc_kube_event_type type, const json_t *object)
{
    watch_context *wc = ctx;
    probe_watch *pw = wc->pw;
    if (type == MC_KUBE_BOOKMARK)
        return;
    pthread_mutex_lock(&pw->lock);
    if (type == MC_KUBE_EXPIRED || type == MC_KUBE_FAILED) {
        snprintf(pw->trouble, sizeof(pw->trouble), "the watch of %s's Secrets stopped (%s)",
                 name_of(wc->cluster), type == MC_KUBE_EXPIRED ? "410 Expired" : "failed");
    } else if (is_output_secret(object)) {
        if (pw->len == QUEUE_CAPACITY) {
            snprintf(pw->trouble, sizeof(pw->trouble), "the probe queue is full");
        } else {
            size_t slot = (pw->head + pw->len++) % QUEUE_CAPACITY;
            pw->queue[slot] = (queued_event){wc->cluster, type, json_incref((json_t *)object)};
            pthread_cond_broadcast(&pw->changed);
        }
    }
    pthread_mutex_unlock(&pw->lock);
}

/* Applies one change to the probe and probes every pair; a deleted or
 * incomplete output Secret is a failure of its own (it must never be). */
static void probe_event(probe_watch *pw, const queued_event *event, trust_probe_result *run)
{
    const char *cluster = name_of(event->cluster);
    mc_err err = {0};
    int broken = 0;
    if (event->type == MC_KUBE_DELETED) {
        snprintf(err.msg, sizeof(err.msg), "%s: the output Secret was deleted", cluster);
        broken = 1;
    } else if (trust_probe_set_secret(pw->probe, cluster, WF_TRUST_DOMAIN, event->secret, &err) !=
               MC_OK) {
        broken = 1;
    }
    if (broken) {
        trust_probe_forget(pw->probe, cluster);
        snprintf(run->failure[0], sizeof(run->failure[0]), "%s", err.msg);
        run->failures = 1;
    }
    if (trust_probe_count(pw->probe) >= 2)
        trust_probe_run(pw->probe, run);
}

static void *probe_main(void *arg)
{
    probe_watch *pw = arg;
    pthread_mutex_lock(&pw->lock);
    for (;;) {
        while (!pw->stop && pw->len == 0)
            pthread_cond_wait(&pw->changed, &pw->lock);
        if (pw->len == 0)
            break;
        queued_event event = pw->queue[pw->head];
        pw->head = (pw->head + 1) % QUEUE_CAPACITY;
        pw->len--;
        pw->busy = 1;
        pthread_mutex_unlock(&pw->lock);
        trust_probe_result run = {0};
        probe_event(pw, &event, &run);
        json_decref(event.secret);
        for (unsigned long i = 0; i < run.failures && i < TRUST_PROBE_KEEP_FAILURES; i++)
            fprintf(stderr, "probe FAILED after a change of %s's Secret: %s\n",
                    name_of(event.cluster), run.failure[i]);
        pthread_mutex_lock(&pw->lock);
        pw->changes++;
        trust_probe_result_add(&pw->result, &run);
        pw->busy = 0;
        pthread_cond_broadcast(&pw->changed);
    }
    pthread_mutex_unlock(&pw->lock);
    return NULL;
}

static probe_watch *probe_watch_start(wf_fixture *f)
{
    probe_watch *pw = calloc(1, sizeof(*pw));
    mc_err err = {0};
    assert_non_null(pw);
    pw->f = f;
    pw->probe = trust_probe_new();
    assert_non_null(pw->probe);
    pthread_mutex_init(&pw->lock, NULL);
    pthread_cond_init(&pw->changed, NULL);
    assert_int_equal(pthread_create(&pw->thread, NULL, probe_main, pw), 0);
    pw->thread_started = 1;
    if (mc_kube_watcher_new(&pw->watcher, &err) != MC_OK)
        wf_fail(f, "watcher: %s", err.msg);
    mc_kube_watch_options options = {.bookmarks = 1};
    for (int c = 0; c < CLUSTERS; c++) {
        pw->contexts[c] = (watch_context){pw, c};
        if (mc_kube_watch_start(pw->watcher, f->managed[c], mc_kube_resource_of(MC_API_SECRETS),
                                WF_NS_ISTIO, &options, on_secret, &pw->contexts[c], &pw->watches[c],
                                &err) != MC_OK)
            wf_fail(f, "watch Secrets of %s: %s", name_of(c), err.msg);
    }
    return pw;
}

static void probe_watch_stop(probe_watch *pw)
{
    if (!pw)
        return;
    mc_kube_watcher_free(pw->watcher); /* no more events after this */
    if (pw->thread_started) {
        pthread_mutex_lock(&pw->lock);
        pw->stop = 1;
        pthread_cond_broadcast(&pw->changed);
        pthread_mutex_unlock(&pw->lock);
        pthread_join(pw->thread, NULL);
    }
    for (size_t i = 0; i < pw->len; i++)
        json_decref(pw->queue[(pw->head + i) % QUEUE_CAPACITY].secret);
    trust_probe_free(pw->probe);
    pthread_cond_destroy(&pw->changed);
    pthread_mutex_destroy(&pw->lock);
    free(pw);
}

/* Waits until every queued change has been probed. */
static void probe_watch_drain(probe_watch *pw)
{
    int64_t deadline = wf_now_ms() + 30000;
    pthread_mutex_lock(&pw->lock);
    while ((pw->len > 0 || pw->busy) && wf_now_ms() < deadline) {
        pthread_mutex_unlock(&pw->lock);
        wf_sleep_ms(20);
        pthread_mutex_lock(&pw->lock);
    }
    int left = pw->len > 0 || pw->busy;
    pthread_mutex_unlock(&pw->lock);
    if (left)
        wf_fail(pw->f, "the probe did not keep up with the output Secrets' changes in 30 s");
}

/* Waits until want changes of the current phase have been probed: the
 * watches of different clusters are different streams, so one cluster's
 * change may reach the probe after a later write to another cluster's
 * Secret. A rollout in the right order waits, as the rotation controller
 * does, until each cluster has shown the previous write. */
static void wait_probed(probe_watch *pw, unsigned long want)
{
    int64_t deadline = wf_now_ms() + 30000;
    pthread_mutex_lock(&pw->lock);
    while ((pw->changes < want || pw->len > 0 || pw->busy) && wf_now_ms() < deadline) {
        pthread_mutex_unlock(&pw->lock);
        wf_sleep_ms(20);
        pthread_mutex_lock(&pw->lock);
    }
    unsigned long seen = pw->changes;
    pthread_mutex_unlock(&pw->lock);
    if (seen < want)
        wf_fail(pw->f, "the probe saw %lu of %lu output Secret changes in 30 s", seen, want);
}

static void phase_begin(probe_watch *pw)
{
    probe_watch_drain(pw);
    pthread_mutex_lock(&pw->lock);
    memset(&pw->result, 0, sizeof(pw->result));
    pw->changes = 0;
    pthread_mutex_unlock(&pw->lock);
}

/* Ends a phase: the last changes probed, the counts printed. Returns them. */
static trust_probe_result phase_end(probe_watch *pw, const char *phase, int64_t started_ms)
{
    wf_sleep_ms(SETTLE_MS);
    probe_watch_drain(pw);
    pthread_mutex_lock(&pw->lock);
    trust_probe_result result = pw->result;
    unsigned long changes = pw->changes;
    char trouble[sizeof(pw->trouble)];
    mc_strlcpy(trouble, pw->trouble, sizeof(trouble));
    pthread_mutex_unlock(&pw->lock);
    fprintf(stderr,
            "phase %s: %.1f s, %lu output Secret changes, %lu probe runs, %lu handshakes, %lu "
            "failed\n",
            phase, (double)(wf_now_ms() - started_ms) / 1000.0, changes, result.runs,
            result.handshakes, result.failures);
    for (unsigned long i = 0; i < result.failures && i < TRUST_PROBE_KEEP_FAILURES; i++)
        fprintf(stderr, "  failure: %s\n", result.failure[i]);
    if (trouble[0])
        wf_fail(pw->f, "phase %s: %s", phase, trouble);
    return result;
}

/* Ends a phase that must have probed and never failed. */
static void phase_end_clean(probe_watch *pw, const char *phase, int64_t started_ms)
{
    trust_probe_result result = phase_end(pw, phase, started_ms);
    if (result.failures > 0)
        wf_fail(pw->f, "phase %s: %lu of %lu handshakes failed, first: %s", phase, result.failures,
                result.handshakes, result.failure[0]);
    if (result.handshakes == 0)
        wf_fail(pw->f, "phase %s: no handshake was made (no output Secret changed?)", phase);
}

/* ---- the output Secrets ------------------------------------------------ */

typedef struct cacerts {
    char *ca_cert, *ca_key, *cert_chain, *root_cert; /* owned PEM */
    json_t *secret;
} cacerts;

static void cacerts_clear(cacerts *c)
{
    free(c->ca_cert);
    mc_secure_free_str(c->ca_key);
    free(c->cert_chain);
    free(c->root_cert);
    json_decref(c->secret);
    memset(c, 0, sizeof(*c));
}

static void cacerts_read(const wf_fixture *f, int cluster, cacerts *out)
{
    mc_err err = {0};
    memset(out, 0, sizeof(*out));
    if (mc_kube_get(f->managed[cluster], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    OUTPUT_SECRET, &out->secret, &err) != MC_OK)
        wf_fail(f, "get %s/%s on %s: %s", WF_NS_ISTIO, OUTPUT_SECRET, name_of(cluster), err.msg);
    out->ca_cert = wf_secret_value(out->secret, "ca-cert.pem", NULL);
    out->ca_key = wf_secret_value(out->secret, "ca-key.pem", NULL);
    out->cert_chain = wf_secret_value(out->secret, "cert-chain.pem", NULL);
    out->root_cert = wf_secret_value(out->secret, "root-cert.pem", NULL);
    if (!out->ca_cert || !out->ca_key || !out->cert_chain || !out->root_cert)
        wf_fail(f, "%s's output Secret lacks one of the Istio files", name_of(cluster));
}

/* Rewrites some files of a cluster's output Secret (NULL: unchanged) in one
 * update, as a careless operator (or a buggy controller) would. */
static void cacerts_write(const wf_fixture *f, int cluster, const char *ca_cert,
                          const char *cert_chain, const char *root_cert)
{
    cacerts now;
    cacerts_read(f, cluster, &now);
    const char *keys[3] = {"ca-cert.pem", "cert-chain.pem", "root-cert.pem"};
    const char *values[3] = {ca_cert, cert_chain, root_cert};
    json_t *data = json_object_get(now.secret, "data");
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        char *b64 = NULL;
        assert_int_equal(mc_base64_encode(values[i], strlen(values[i]), &b64, NULL), MC_OK);
        json_object_set_new(data, keys[i], json_string(b64));
        free(b64);
    }
    mc_err err = {0};
    if (mc_kube_update(f->managed[cluster], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                       now.secret, NULL, &err) != MC_OK)
        wf_fail(f, "update %s's output Secret: %s", name_of(cluster), err.msg);
    cacerts_clear(&now);
}

static size_t cert_count(const char *pem)
{
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    if (mc_pki_cert_list_from_pem(pem, strlen(pem), "root-cert.pem", &certs, &count, NULL) != MC_OK)
        return 0;
    mc_pki_cert_list_free(certs, count);
    return count;
}

/* ---- the processes ----------------------------------------------------- */

/* Runs `meshcert ARGS... --kubeconfig <mgmt>` to completion within
 * timeout_ms (killed and the test failed after it); its output in *output
 * (owned) when not NULL. Returns the exit status. */
static int run_meshcert(const wf_fixture *f, int timeout_ms, char **output, ...)
{
    char kubeconfig[512], log[160];
    char *argv[24];
    size_t n = 0;
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    snprintf(log, sizeof(log), "%s/meshcert-cli.log", f->work);
    argv[n++] = MESHCERT_BIN;
    va_list ap;
    va_start(ap, output);
    for (const char *arg; n < 20 && (arg = va_arg(ap, const char *));)
        argv[n++] = (char *)arg;
    va_end(ap);
    argv[n++] = "--kubeconfig";
    argv[n++] = kubeconfig;
    argv[n] = NULL;
    unlink(log);
    pid_t pid = 0;
    if (wf_spawn_logged(&pid, argv, log) != 0)
        wf_fail(f, "could not start meshcert %s", argv[1]);
    int status = 0;
    int64_t deadline = wf_now_ms() + timeout_ms;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && wf_now_ms() < deadline)
        wf_sleep_ms(50);
    char *text = wf_read_text(log);
    if (done != pid) {
        wf_kill(&pid);
        wf_fail(f, "meshcert %s %s did not finish within %d s; its output:\n%s", argv[1],
                argv[2] ? argv[2] : "", timeout_ms / 1000, text);
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (output)
        *output = text;
    else
        free(text);
    return rc;
}

/* Fails the test naming a command the branch under test lacks. */
static void require_success(const wf_fixture *f, int rc, const char *output, const char *what,
                            const char *owner)
{
    if (rc != 0)
        wf_fail(f, "`meshcert %s` exited %d (%s); its output:\n%s", what, rc, owner, output);
}

/* The server with three managed clusters, the issuer and the agents, the
 * watch and probe running, and one IssuedCertificate per cluster FINISHED
 * (the first issuance is itself a probed phase). */
static void start_mesh(wf_fixture **fp, probe_watch **pwp)
{
    if (wf_setup_clusters(fp, CLUSTERS) != 0)
        fail_msg("could not set up the server with three managed clusters");
    wf_fixture *f = *fp;
    wf_use_fast_lease(f);
    if (wf_start_all(f) != 0)
        wf_fail(f, "could not start the issuer and the agents");
    probe_watch *pw = *pwp = probe_watch_start(f);
    int64_t started = wf_now_ms();
    phase_begin(pw);
    for (int c = 0; c < CLUSTERS; c++)
        wf_create_issued_certificate(f->managed[c], IC_NAME, OUTPUT_SECRET, NULL, NULL);
    wf_ic_view view;
    for (int c = 0; c < CLUSTERS; c++)
        wf_wait_ic_state(f, f->managed[c], name_of(c), IC_NAME, "FINISHED", 1, &view);
    phase_end_clean(pw, "first issuance", started);
}

typedef struct rotation_state {
    wf_fixture *f;
    probe_watch *pw;
} rotation_state;

static int teardown(void **state)
{
    rotation_state *s = *state;
    if (s) {
        probe_watch_stop(s->pw); /* before the server goes */
        wf_teardown(s->f);
        free(s);
    }
    return 0;
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(rotation_state));
    return *state ? 0 : -1;
}

/* ---- (a), (b), (c) ----------------------------------------------------- */

/* Waits until every cluster's output Secret holds another intermediate (and
 * another key) than before[], and its IssuedCertificate is FINISHED. */
static void wait_all_renewed(const wf_fixture *f, cacerts before[CLUSTERS], const char *phase)
{
    int64_t deadline = wf_now_ms() + STEP_MS;
    for (int c = 0; c < CLUSTERS; c++) {
        for (;;) {
            cacerts now;
            cacerts_read(f, c, &now);
            int renewed = strcmp(now.ca_cert, before[c].ca_cert) != 0;
            int new_key = strcmp(now.ca_key, before[c].ca_key) != 0;
            cacerts_clear(&now);
            if (renewed && !new_key)
                wf_fail(f, "%s: %s's intermediate changed but its key did not", phase, name_of(c));
            if (renewed)
                break;
            if (wf_now_ms() > deadline)
                wf_fail(f, "%s: %s's intermediate not renewed within %d s", phase, name_of(c),
                        STEP_MS / 1000);
            wf_sleep_ms(100);
        }
        wf_ic_view view;
        wf_wait_ic_state(f, f->managed[c], name_of(c), IC_NAME, "FINISHED", 1, &view);
    }
}

static void read_all(const wf_fixture *f, cacerts out[CLUSTERS])
{
    for (int c = 0; c < CLUSTERS; c++)
        cacerts_read(f, c, &out[c]);
}

static void clear_all(cacerts all[CLUSTERS])
{
    for (int c = 0; c < CLUSTERS; c++)
        cacerts_clear(&all[c]);
}

/* `meshcert rotate --all --wait`: a new issuance, with a new key, now. */
static void rotate_all(const wf_fixture *f)
{
    char *output = NULL;
    int rc = run_meshcert(f, STEP_MS, &output, "rotate", "--all", "--wait", NULL);
    require_success(f, rc, output, "rotate --all --wait", "branch renewcli");
    free(output);
}

static void phase_renewal(wf_fixture *f, probe_watch *pw)
{
    cacerts before[CLUSTERS];
    read_all(f, before);
    int64_t started = wf_now_ms();
    phase_begin(pw);
    rotate_all(f);
    wait_all_renewed(f, before, "renewal");
    clear_all(before);
    phase_end_clean(pw, "(a) renewal of every cluster", started);
}

/* Whether every "rootrotation NS/NAME: PHASE since ..." line of `meshcert
 * root status` (one per rotation, the latest included) says COMPLETE. */
static int all_rotations_complete(const char *status)
{
    int rotations = 0;
    for (const char *line = status; line && *line; line = strchr(line, '\n'), line += !!line) {
        if (!mc_str_has_prefix(line, "rootrotation "))
            continue;
        rotations++;
        const char *colon = strstr(line, ": ");
        if (!colon || !mc_str_has_prefix(colon + 2, "COMPLETE "))
            return 0;
    }
    return rotations > 0;
}

/* Sets (or, with NULL, removes) spec.duration and spec.renewBefore of every
 * cluster's IssuedCertificate: a spec change, so a new issuance each. */
static void set_lifetime(const wf_fixture *f, const char *duration, const char *renew_before)
{
    json_t *patch = json_pack("{s:{s:o, s:o}}", "spec", "duration",
                              duration ? json_string(duration) : json_null(), "renewBefore",
                              renew_before ? json_string(renew_before) : json_null());
    assert_non_null(patch);
    for (int c = 0; c < CLUSTERS; c++) {
        mc_err err = {0};
        if (mc_kube_patch(f->managed[c], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                          WF_NS_MESHCERT, IC_NAME, MC_KUBE_PATCH_MERGE, patch, 0, NULL,
                          &err) != MC_OK)
            wf_fail(f, "patch the lifetime of %s's IssuedCertificate: %s", name_of(c), err.msg);
    }
    json_decref(patch);
}

/* Waits until every cluster's intermediate has changed `times` times since
 * before[] (polled every 50 ms: renewals here are seconds apart). */
static void wait_changes(const wf_fixture *f, cacerts before[CLUSTERS], int times,
                         const char *phase)
{
    char *last[CLUSTERS];
    int changes[CLUSTERS] = {0}, pending = CLUSTERS;
    int64_t deadline = wf_now_ms() + STEP_MS;
    for (int c = 0; c < CLUSTERS; c++)
        last[c] = mc_strdup(before[c].ca_cert);
    while (pending > 0) {
        if (wf_now_ms() > deadline)
            wf_fail(f,
                    "%s: not every intermediate renewed %d times within %d s (east %d, west "
                    "%d, north %d)",
                    phase, times, STEP_MS / 1000, changes[0], changes[1], changes[2]);
        for (int c = 0; c < CLUSTERS; c++) {
            cacerts now;
            cacerts_read(f, c, &now);
            if (strcmp(now.ca_cert, last[c]) != 0) {
                free(last[c]);
                last[c] = mc_strdup(now.ca_cert);
                if (++changes[c] == times)
                    pending--;
            }
            cacerts_clear(&now);
        }
        wf_sleep_ms(50);
    }
    for (int c = 0; c < CLUSTERS; c++)
        free(last[c]);
}

/* Renewal driven by the clock, not by a token: a 1 minute lifetime renewed
 * 45 s (minus jitter) before notAfter, i.e. 6-15 s after each issuance. A
 * change of spec.duration alone re-uses the signed certificate (the CSR is
 * unchanged), so a rotate gets the short one; then one renewal at the
 * renewal time per cluster; then the lifetime fields removed and a last
 * rotate for the default TTL again. */
static void phase_timed_renewal(wf_fixture *f, probe_watch *pw)
{
    cacerts before[CLUSTERS];
    read_all(f, before);
    int64_t started = wf_now_ms();
    phase_begin(pw);
    set_lifetime(f, "1m", "45s");
    rotate_all(f);
    wait_changes(f, before, 2, "(a2) renewal at the renewal time");
    set_lifetime(f, NULL, NULL);
    rotate_all(f);
    clear_all(before);
    read_all(f, before);
    for (int c = 0; c < CLUSTERS; c++) {
        mc_pki_cert *cert = NULL;
        time_t not_before = 0, not_after = 0;
        if (mc_pki_cert_from_pem(before[c].ca_cert, strlen(before[c].ca_cert), "ca-cert.pem", &cert,
                                 NULL) != MC_OK ||
            mc_pki_cert_validity(cert, &not_before, &not_after) != MC_OK ||
            not_after < time(NULL) + 86400)
            wf_fail(f,
                    "(a2) %s's intermediate after the lifetime fields were removed is not "
                    "the default long one",
                    name_of(c));
        mc_pki_cert_free(cert);
    }
    clear_all(before);
    phase_end_clean(pw, "(a2) renewal at the renewal time (duration 1m, renewBefore 45s)", started);
}

/* After a root rotation from old_root: every bundle holds one root, the
 * same everywhere and not old_root; every intermediate changed; the
 * rotation's status says COMPLETE. */
static void check_rotated(const wf_fixture *f, cacerts before[CLUSTERS], const char *phase)
{
    wait_all_renewed(f, before, phase);
    cacerts now[CLUSTERS];
    int64_t deadline = wf_now_ms() + STEP_MS;
    for (;;) {
        read_all(f, now);
        int done = 1;
        for (int c = 0; c < CLUSTERS; c++)
            done = done && cert_count(now[c].root_cert) == 1 &&
                   strcmp(now[c].root_cert, before[c].root_cert) != 0 &&
                   strcmp(now[c].root_cert, now[0].root_cert) == 0;
        if (done)
            break;
        if (wf_now_ms() > deadline)
            wf_fail(f, "%s: the bundles do not all hold exactly the one new root after %d s", phase,
                    STEP_MS / 1000);
        clear_all(now);
        wf_sleep_ms(100);
    }
    clear_all(now);
    char *status = NULL;
    int rc = run_meshcert(f, 30000, &status, "root", "status", NULL);
    require_success(f, rc, status, "root status", "branch rootrot");
    if (!all_rotations_complete(status))
        wf_fail(f, "%s: `meshcert root status` does not say COMPLETE for every rotation:\n%s",
                phase, status);
    fprintf(stderr, "meshcert root status after %s:\n%s", phase, status);
    free(status);
}

static void phase_root_rotation(wf_fixture *f, probe_watch *pw)
{
    cacerts before[CLUSTERS];
    read_all(f, before);
    int64_t started = wf_now_ms();
    phase_begin(pw);
    char *output = NULL;
    int rc = run_meshcert(f, STEP_MS, &output, "root", "rotate", "--generate", "--step-dwell", "1s",
                          "--wait", NULL);
    require_success(f, rc, output, "root rotate --generate --step-dwell 1s --wait",
                    "branch rootrot");
    fprintf(stderr, "meshcert root rotate:\n%s", output);
    free(output);
    check_rotated(f, before, "(b) root rotation");
    clear_all(before);
    phase_end_clean(pw, "(b) root rotation", started);
}

/* While the rotation command runs: a random process (the issuer or an
 * agent) SIGKILLed every 300-900 ms, restarted 100-500 ms later. */
static void kill_until_exit(wf_fixture *f, wf_chaos *c, pid_t rotate, int *rotate_status)
{
    int64_t start = wf_now_ms();
    wf_chaos_start(c, start);
    for (;;) {
        int64_t now = wf_now_ms();
        wf_chaos_restart_due(f, c, now);
        if (!c->down && waitpid(rotate, rotate_status, WNOHANG) == rotate)
            return;
        if (now - start > STEP_MS) {
            pid_t pid = rotate;
            wf_kill(&pid);
            wf_fail(f,
                    "(c) the root rotation did not converge within %d s under SIGKILLs "
                    "(%d issuer and %d agent kills)",
                    STEP_MS / 1000, c->issuer_kills, c->agent_kills);
        }
        wf_chaos_kill_due(f, c, now);
        wf_sleep_ms(20);
    }
}

static void phase_root_rotation_chaos(wf_fixture *f, probe_watch *pw)
{
    wf_chaos c;
    wf_chaos_init(&c, 300, 900, 100, 500);
    cacerts before[CLUSTERS];
    read_all(f, before);
    char kubeconfig[512], log[160];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    snprintf(log, sizeof(log), "%s/root-rotate-chaos.log", f->work);
    char *argv[] = {MESHCERT_BIN, "root",   "rotate",       "--generate", "--step-dwell",
                    "1s",         "--wait", "--kubeconfig", kubeconfig,   NULL};
    int64_t started = wf_now_ms();
    phase_begin(pw);
    pid_t rotate = 0;
    if (wf_spawn_logged(&rotate, argv, log) != 0)
        wf_fail(f, "could not start meshcert root rotate");
    int status = 0;
    kill_until_exit(f, &c, rotate, &status);
    char *output = wf_read_text(log);
    require_success(f, WIFEXITED(status) ? WEXITSTATUS(status) : -1, output,
                    "root rotate --generate --step-dwell 1s --wait (under SIGKILLs)",
                    "branch rootrot");
    free(output);
    fprintf(stderr, "(c) %d issuer and %d agent SIGKILLs during the rotation (seed %u)\n",
            c.issuer_kills, c.agent_kills, c.seed0);
    if (c.issuer_kills + c.agent_kills == 0)
        wf_fail(f, "(c) the rotation finished before any process was killed");
    check_rotated(f, before, "(c) root rotation under SIGKILLs");
    clear_all(before);
    phase_end_clean(pw, "(c) root rotation under SIGKILLs", started);
}

static void test_rotation(void **state)
{
    rotation_state *s = *state;
    int64_t started = wf_now_ms();
    start_mesh(&s->f, &s->pw);
    phase_renewal(s->f, s->pw);
    phase_timed_renewal(s->f, s->pw);
    phase_root_rotation(s->f, s->pw);
    phase_root_rotation_chaos(s->f, s->pw);
    fprintf(stderr, "rotation_probe: every phase clean in %.1f s\n",
            (double)(wf_now_ms() - started) / 1000.0);
}

/* ---- (d) the negative control ------------------------------------------ */

static void test_wrong_order(void **state)
{
    rotation_state *s = *state;
    start_mesh(&s->f, &s->pw);
    wf_fixture *f = s->f;
    probe_watch *pw = s->pw;
    /* the hand-made writes below must not race the controllers */
    wf_kill(&f->issuer);
    for (int c = 0; c < CLUSTERS; c++)
        wf_kill(&f->agents[c]);
    cacerts original[CLUSTERS];
    read_all(f, original);
    char *r3_cert = NULL, *r3_key = NULL, *north_r3 = NULL;
    mc_err err = {0};
    assert_int_equal(trust_probe_make_root("R3", &r3_cert, &r3_key, &err), MC_OK);
    /* north's own key, re-signed by R3 */
    if (trust_probe_sign(r3_cert, r3_key, original[WF_NORTH].ca_key, 1, WF_ORG, WF_HOST_SPIFFE,
                         WF_TRUST_DOMAIN, 3600, &north_r3, &err) != MC_OK)
        wf_fail(f, "re-signing north's intermediate by R3: %s", err.msg);
    char *north_chain = trust_probe_concat(north_r3, r3_cert);
    char *both_roots = trust_probe_concat(original[WF_NORTH].root_cert, r3_cert);

    /* wrong: north's signer switches to R3 while east's and west's bundles lack it */
    int64_t started = wf_now_ms();
    phase_begin(pw);
    cacerts_write(f, WF_NORTH, north_r3, north_chain, both_roots);
    trust_probe_result wrong = phase_end(pw, "(d) signer switched before the bundles", started);
    assert_true(wrong.handshakes > 0);
    if (wrong.failures == 0)
        wf_fail(f, "(d) the probe did not fail although east and west do not trust R3");
    for (unsigned long i = 0; i < wrong.failures && i < TRUST_PROBE_KEEP_FAILURES; i++)
        assert_non_null(strstr(wrong.failure[i], "rejected north's certificate"));

    /* back to what the agent wrote: clean again */
    started = wf_now_ms();
    phase_begin(pw);
    cacerts_write(f, WF_NORTH, original[WF_NORTH].ca_cert, original[WF_NORTH].cert_chain,
                  original[WF_NORTH].root_cert);
    phase_end_clean(pw, "(d) north restored", started);

    /* right: R3 into every bundle first, then north's signer switches */
    started = wf_now_ms();
    phase_begin(pw);
    for (int c = 0; c < CLUSTERS; c++)
        cacerts_write(f, c, NULL, NULL, both_roots);
    wait_probed(pw, CLUSTERS); /* every cluster trusts R3 before north's signer switches */
    cacerts_write(f, WF_NORTH, north_r3, north_chain, NULL);
    phase_end_clean(pw, "(d) the same writes in the right order", started);

    free(both_roots);
    free(north_chain);
    free(north_r3);
    free(r3_cert);
    mc_secure_free_str(r3_key);
    clear_all(original);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
