/* root_rotation_pkcs11_test.c - root rotation with roots whose keys live in
 * SoftHSM2 tokens or a key file (issue 16), end to end with real processes over HTTPS
 * (workflow_fixture.h, rotation_watch.h): two tokens made in a temporary
 * directory, three roots made there by `meshcert ca create --pkcs11` (R1 and
 * R2 in token mesh-a, R3 in token mesh-b with its own PIN, named by the
 * URI's pin-source=) and R4 whose key is a file (as if mounted), the root
 * Secret holding R1's certificate and key-ref, the issuer started with R1's
 * key alone: rotation 1 waits in its first step (the issuer saying it lacks
 * R2's key) until the issuer is restarted with the four --root-key.
 *
 * Rotation 1 moves R1 to R2 (the same token), the issuer SIGKILLed and
 * restarted when PROPAGATING_NEW_INTERMEDIATE is entered; rotation 2 moves
 * R2 to R3 (another token), the issuer SIGKILLed in DELETING_OLD_ROOT;
 * rotation 3 moves R3 to R4 (a key file). Each is watched as
 * root_rotation_test.c does (mutual trust at every observation, each
 * phase's bundle and signer, the conditions in order); at COMPLETE the root Secret holds the new
 * root's certificate and key-ref and no key.pem, and the chains verify with openssl and certtool
 * against the certificate ca create wrote. Then the issuer restarts with R4's key alone and a
 * re-issue is signed by R4: what root signs is in the management cluster, not in the issuer's
 * memory. No Secret of the management cluster ever holds a root key, and the issuer's log holds
 * neither PIN nor private key. Fails (never skips) without softhsm2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/issued_certificate.h"
#include "pki/cert.h"
#include "pki/verify.h"
#include "rotation_watch.h"
#include "util/base64.h"
#include "workflow_fixture.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PIN_A  "Pin-A-5517-never-logged"
#define PIN_B  "Pin-B-9043-never-logged"
#define SO_PIN "So-2290-never-logged"

typedef struct token_roots {
    char pin_a[256], pin_b[256];
    char uri[4][512];  /* R1, R2 (token mesh-a), R3 (token mesh-b), R4 (a key file) */
    char cert[4][256]; /* work/r<N>/root-cert.pem */
} token_roots;

static void init_token(const wf_fixture *f, const char *label, const char *pin)
{
    char *const init[] = {"softhsm2-util", "--init-token", "--free",   "--label", (char *)label,
                          "--pin",         (char *)pin,    "--so-pin", SO_PIN,    NULL};
    if (wf_run_tool(f, init) != 0)
        wf_fail(f, "softhsm2-util --init-token %s failed (see tools.log)", label);
}

/* Root i made in its token by `meshcert ca create --pkcs11`: only the
 * certificate is written (work/r<i+1>/root-cert.pem). --pin-file is token
 * mesh-a's PIN: R3's URI names its own PIN file, which wins. */
static void create_token_root(const wf_fixture *f, token_roots *t, int i)
{
    char dir[128]; /* work is 64 bytes */
    snprintf(dir, sizeof(dir), "%s/r%d", f->work, i + 1);
    char *const argv[] = {MESHCERT_BIN, "ca",         "create",   "--dir",   dir,
                          "--key-type", "ec-p256",    "--pkcs11", t->uri[i], "--pkcs11-module",
                          MODULE,       "--pin-file", t->pin_a,   NULL};
    if (wf_run_tool(f, argv) != 0)
        wf_fail(f, "meshcert ca create --pkcs11 %s failed (see tools.log)", t->uri[i]);
    snprintf(t->cert[i], sizeof(t->cert[i]), "%s/root-cert.pem", dir);
    char key[256];
    snprintf(key, sizeof(key), "%s/root-key.pem", dir);
    if (access(key, F_OK) == 0)
        wf_fail(f, "ca create --pkcs11 wrote a key file %s", key);
}

/* Two SoftHSM2 tokens in work/tokens (SOFTHSM2_CONF set for this process
 * and the processes it spawns) and the three roots. */
static void make_tokens(const wf_fixture *f, token_roots *t)
{
    if (!wf_tool_on_path("softhsm2-util"))
        fail_msg("softhsm2-util is missing: run 'make deps' (installs softhsm2)");
    if (access(MODULE, R_OK) != 0)
        fail_msg("%s is missing: run 'make deps' (installs softhsm2)", MODULE);
    char path[256], conf[512];
    snprintf(path, sizeof(path), "%s/tokens", f->work);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(conf, sizeof(conf),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", path);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", f->work);
    wf_write_text(path, conf);
    setenv("SOFTHSM2_CONF", path, 1);
    init_token(f, "mesh-a", PIN_A);
    init_token(f, "mesh-b", PIN_B);
    snprintf(t->pin_a, sizeof(t->pin_a), "%s/pin-a", f->work);
    snprintf(t->pin_b, sizeof(t->pin_b), "%s/pin-b", f->work);
    wf_write_text(t->pin_a, PIN_A "\n");
    wf_write_text(t->pin_b, PIN_B "\n");
    snprintf(t->uri[0], sizeof(t->uri[0]), "pkcs11:token=mesh-a;object=r1");
    snprintf(t->uri[1], sizeof(t->uri[1]), "pkcs11:token=mesh-a;object=r2");
    snprintf(t->uri[2], sizeof(t->uri[2]), "pkcs11:token=mesh-b;object=r3?pin-source=file:%s",
             t->pin_b);
    for (int i = 0; i < 3; i++)
        create_token_root(f, t, i);
    /* R4: a key file, as a secret-store volume would mount it */
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/r4", f->work);
    char *const argv[] = {MESHCERT_BIN, "ca",         "create",  "--dir",
                          dir,          "--key-type", "ec-p256", NULL};
    if (wf_run_tool(f, argv) != 0)
        wf_fail(f, "meshcert ca create --dir %s failed (see tools.log)", dir);
    snprintf(t->cert[3], sizeof(t->cert[3]), "%s/root-cert.pem", dir);
    snprintf(t->uri[3], sizeof(t->uri[3]), "%s/root-key.pem", dir);
}

/* Secret meshcert/root-ca: R1's certificate and key-ref, no key. */
static void create_root_secret(const wf_fixture *f, const token_roots *t)
{
    char *cert = wf_read_text(t->cert[0]), *cert_b64 = NULL, *ref_b64 = NULL;
    assert_non_null(cert);
    assert_int_equal(mc_base64_encode(cert, strlen(cert), &cert_b64, NULL), MC_OK);
    assert_int_equal(mc_base64_encode(t->uri[0], strlen(t->uri[0]), &ref_b64, NULL), MC_OK);
    json_t *secret =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
                  "Secret", "metadata", "name", WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT, "type",
                  "certificates.smh.solo.io/generated_signing_cert", "data", "root-cert.pem",
                  cert_b64, "key-ref", ref_b64);
    assert_non_null(secret);
    wf_create(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, secret);
    free(cert);
    free(cert_b64);
    free(ref_b64);
}

/* The issuer's arguments: the fast Lease, then the keys (uris[first..
 * first+count)), and the PKCS#11 flags when one of them is in a token (they
 * are refused without one). */
static void set_issuer_keys(wf_fixture *f, token_roots *t, int first, int count)
{
    wf_use_fast_lease(f);
    size_t n = 0;
    while (f->issuer_extra[n])
        n++;
    int tokens = 0;
    for (int i = first; i < first + count; i++) {
        f->issuer_extra[n++] = "--root-key";
        f->issuer_extra[n++] = t->uri[i];
        tokens += strncmp(t->uri[i], "pkcs11:", 7) == 0;
    }
    if (tokens) {
        f->issuer_extra[n++] = "--pkcs11-module";
        f->issuer_extra[n++] = MODULE;
        f->issuer_extra[n++] = "--pin-file";
        f->issuer_extra[n++] = t->pin_a;
    }
    f->issuer_extra[n] = NULL;
}

/* The root Secret holds the certificate of file cert and key-ref uri, and
 * no key.pem. */
static void assert_root_secret(const wf_fixture *f, const char *cert, const char *uri)
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, WF_ROOT_SECRET,
                    &secret, &err) != MC_OK)
        wf_fail(f, "secret %s: %s", WF_ROOT_SECRET, err.msg);
    char *held = wf_secret_value(secret, "root-cert.pem", NULL);
    char *ref = wf_secret_value(secret, "key-ref", NULL);
    char *key = wf_secret_value(secret, "key.pem", NULL);
    char *expected = wf_read_text(cert);
    if (!held || !expected || strcmp(held, expected) != 0)
        wf_fail(f, "secret %s does not hold the certificate %s", WF_ROOT_SECRET, cert);
    if (!ref || strcmp(ref, uri) != 0)
        wf_fail(f, "secret %s: key-ref \"%s\", want \"%s\"", WF_ROOT_SECRET, ref ? ref : "(none)",
                uri);
    if (key)
        wf_fail(f, "secret %s holds a key.pem", WF_ROOT_SECRET);
    free(held);
    free(ref);
    free(expected);
    json_decref(secret);
}

/* No Secret of the issuer's namespace holds a key.pem: the roots' keys
 * never left their tokens or file (the swaps moved references). */
static void assert_no_root_key_in_api(const wf_fixture *f)
{
    json_t *list = NULL;
    mc_err err = {0};
    if (mc_kube_list(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, NULL, &list,
                     &err) != MC_OK)
        wf_fail(f, "list secrets: %s", err.msg);
    size_t i, roots = 0;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        if (json_object_get(json_object_get(item, "data"), "key.pem"))
            wf_fail(f, "secret %s holds a key.pem", wf_str_at(item, "metadata", "name"));
        roots += json_object_get(json_object_get(item, "data"), "key-ref") != NULL;
    }
    json_decref(list);
    assert_int_equal(roots, 4); /* root-ca and the three new roots' Secrets */
}

/* openssl and certtool verify each cluster's chain against the certificate
 * ca create wrote (cert), which is also the whole bundle handed out. */
static void verify_clusters_against(const wf_fixture *f, const char *cert, const char *tag)
{
    char *expected = wf_read_text(cert);
    for (int c = 0; c < WF_MANAGED; c++) {
        char subdir[64], path[256];
        snprintf(subdir, sizeof(subdir), "%s-%s", tag, wf_managed_names[c]);
        wf_save_cacerts(f, f->managed[c], RW_OUTPUT, subdir);
        wf_verify_with_tools(f, subdir);
        snprintf(path, sizeof(path), "%s/%s/root-cert.pem", f->work, subdir);
        char *handed_out = wf_read_text(path);
        if (!handed_out || strcmp(handed_out, expected) != 0)
            wf_fail(f, "%s: %s's root-cert.pem is not %s", tag, wf_managed_names[c], cert);
        free(handed_out);
        char ca[256], untrusted[256], chain[256];
        snprintf(ca, sizeof(ca), "%s/%s/ca-cert.pem", f->work, subdir);
        snprintf(untrusted, sizeof(untrusted), "%s/%s/cert-chain.pem", f->work, subdir);
        snprintf(chain, sizeof(chain), "%s/%s/chain.pem", f->work, subdir);
        char *const openssl[] = {"openssl",    "verify",  "-CAfile", (char *)cert,
                                 "-untrusted", untrusted, ca,        NULL};
        char *const certtool[] = {
            "certtool", "--verify", "--load-ca-certificate", (char *)cert, "--infile", chain, NULL};
        if (wf_run_tool(f, openssl) != 0 || wf_run_tool(f, certtool) != 0)
            wf_fail(f, "%s: %s's chain does not verify against %s", tag, wf_managed_names[c], cert);
    }
    free(expected);
}

/* The issuer runs without the new root's key: the rotation waits in its
 * first step (no phase written), the issuer saying why; restarted with
 * every key, it goes on. */
static void wait_for_missing_key(wf_fixture *f, token_roots *t, const char *name)
{
    int64_t deadline = wf_now_ms() + 20000;
    for (;;) {
        char *log = wf_read_text(f->issuer_log);
        int said = log && strstr(log, "is not one of the issuer's --root-key");
        free(log);
        if (said)
            break;
        if (wf_now_ms() > deadline)
            wf_fail(f, "the issuer does not say it lacks the new root's key");
        wf_sleep_ms(200);
    }
    wf_sleep_ms(2000); /* two step dwells: a rotation that could start would have */
    char phase[64];
    json_decref(rw_read_rotation(f, name, phase, sizeof(phase)));
    if (phase[0])
        wf_fail(f, "rotation %s entered %s while the issuer lacked the new root's key", name,
                phase);
    wf_kill(&f->issuer);
    set_issuer_keys(f, t, 0, 4);
    assert_int_equal(wf_start_issuer(f), 0);
}

/* One rotation from r->old_root to the root t->uri[next] (made beforehand),
 * watched to COMPLETE with the issuer killed at kill_in (NULL: never);
 * key_missing: the issuer lacks the new key at first (wait_for_missing_key). */
static void rotate_to(wf_fixture *f, token_roots *t, int next, const char *name,
                      const char *kill_in, int key_missing, rw_roots *r)
{
    const char *args[] = {"rotate",      "--new-root-key",
                          t->uri[next],  "--new-root-cert",
                          t->cert[next], "--step-dwell",
                          "1s",          "--name",
                          name,          NULL};
    if (rw_run_root(f, args) != 0)
        wf_fail(f, "meshcert root rotate --new-root-key %s failed (see tools.log)", t->uri[next]);
    char secret[128];
    snprintf(secret, sizeof(secret), "%s-%s", WF_ROOT_SECRET, name);
    r->new_root = rw_root_cert(f, secret, r->new_fp);
    if (key_missing)
        wait_for_missing_key(f, t, name);
    rw_watch w = {0};
    const char *end = rw_watch_rotation(f, name, r, &w, kill_in, NULL, NULL);
    if (strcmp(end, "COMPLETE") != 0)
        wf_fail(f, "rotation %s ended %s", name, end);
    static const char *const order[] = {"ADDING_NEW_ROOT", "PROPAGATING_NEW_INTERMEDIATE",
                                        "DELETING_OLD_ROOT", "COMPLETE"};
    char phase[64];
    json_t *rr = rw_read_rotation(f, name, phase, sizeof(phase));
    rw_watch all = {{order[0], order[1], order[2], order[3]}, 4, 0, 0};
    rw_assert_conditions(f, rr, &all);
    json_decref(rr);
    rw_assert_order(f, &w, order, 4);
    rw_wait_outputs(f, r, 2, 1, 2);
    fprintf(stderr, "rotation %s: %ld mutual-trust checks, %ld against the phase, %d phases seen\n",
            name, w.checks, w.phase_checks, w.count);
    assert_true(w.checks > 5);
    assert_true(w.phase_checks > 0);
    rw_watch_clear(&w);
    assert_root_secret(f, t->cert[next], t->uri[next]);
    verify_clusters_against(f, t->cert[next], name);
    /* the new root becomes the old one of the next rotation */
    mc_pki_cert_free(r->old_root);
    r->old_root = r->new_root;
    r->new_root = NULL;
    memcpy(r->old_fp, r->new_fp, sizeof(r->old_fp));
}

/* The issuer restarted with R4's key alone re-issues east's intermediate
 * (a new key, asked for with the rotate annotation) with R4: it learnt the
 * root from the root Secret, not from a rotation it remembers. */
static void restart_with_last_key(wf_fixture *f, token_roots *t, rw_roots *r)
{
    wf_kill(&f->issuer);
    set_issuer_keys(f, t, 3, 1);
    assert_int_equal(wf_start_issuer(f), 0);
    json_t *before = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, RW_OUTPUT, &before, &err),
                     MC_OK);
    char *old_ca = wf_secret_value(before, "ca-cert.pem", NULL);
    json_decref(before);
    assert_non_null(old_ca);
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations",
                              MC_API_IC_ROTATE_ANNOTATION, "after-restart");
    if (mc_kube_patch(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                      WF_NS_MESHCERT, RW_IC_NAME, MC_KUBE_PATCH_MERGE, patch, 0, NULL,
                      &err) != MC_OK)
        wf_fail(f, "annotate east's issuedcertificate: %s", err.msg);
    json_decref(patch);
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    for (;;) {
        json_t *after = NULL;
        char *ca = NULL;
        if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                        RW_OUTPUT, &after, &err) == MC_OK)
            ca = wf_secret_value(after, "ca-cert.pem", NULL);
        json_decref(after);
        mc_pki_cert *cert = NULL;
        if (ca && strcmp(ca, old_ca) != 0 &&
            mc_pki_cert_from_pem(ca, strlen(ca), "ca-cert.pem", &cert, &err) == MC_OK) {
            int by_r3 = mc_pki_cert_signed_by(cert, r->old_root);
            mc_pki_cert_free(cert);
            free(ca);
            if (!by_r3)
                wf_fail(f, "after the restart east's new intermediate is not signed by R4");
            break;
        }
        free(ca);
        if (wf_now_ms() > deadline)
            wf_fail(f, "east was not re-issued after the issuer's restart with R4's key");
        wf_sleep_ms(100);
    }
    free(old_ca);
    rw_wait_outputs(f, r, 1, 1, 1); /* R4 is "old" now: bundle [R4], signed by R4 */
    verify_clusters_against(f, t->cert[3], "restarted");
}

static void assert_issuer_log_clean(const wf_fixture *f)
{
    char *log = wf_read_text(f->issuer_log);
    assert_non_null(log);
    if (strstr(log, PIN_A) || strstr(log, PIN_B) || strstr(log, SO_PIN))
        wf_fail(f, "the issuer's log holds a PIN");
    if (strstr(log, "PRIVATE KEY"))
        wf_fail(f, "the issuer's log holds a private key");
    free(log);
}

static void test_token_rotation(void **state)
{
    wf_fixture *f = *state;
    token_roots t;
    memset(&t, 0, sizeof(t));
    make_tokens(f, &t);
    create_root_secret(f, &t);
    f->generate_root = 0;
    set_issuer_keys(f, &t, 0, 1); /* R1's key alone at first */
    if (wf_start_all(f) != 0)
        wf_fail(f, "starting the issuer and the agents failed");
    for (int c = 0; c < WF_MANAGED; c++)
        wf_create_issued_certificate(f->managed[c], RW_IC_NAME, RW_OUTPUT, NULL, NULL);
    wf_ic_view view;
    for (int c = 0; c < WF_MANAGED; c++)
        wf_wait_ic_state(f, f->managed[c], wf_managed_names[c], RW_IC_NAME, "FINISHED", 1, &view);
    verify_clusters_against(f, t.cert[0], "r1");
    rw_roots r;
    memset(&r, 0, sizeof(r));
    r.old_root = rw_root_cert(f, WF_ROOT_SECRET, r.old_fp);

    rotate_to(f, &t, 1, "same-token", "PROPAGATING_NEW_INTERMEDIATE", 1, &r);
    rotate_to(f, &t, 2, "other-token", "DELETING_OLD_ROOT", 0, &r);
    rotate_to(f, &t, 3, "key-file", NULL, 0, &r);
    restart_with_last_key(f, &t, &r);
    assert_no_root_key_in_api(f);
    assert_true(wf_assert_no_key_leak(f) >= WF_MANAGED);
    wf_stop_cleanly(f, &f->issuer, "meshcert issuer");
    assert_issuer_log_clean(f);
    mc_pki_cert_free(r.old_root);
}

static int setup(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    wf_teardown(*state);
    unsetenv("SOFTHSM2_CONF");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
