/* workflow_root_key_test.c - the workflow with the root key outside the
 * Kubernetes API (issue 16): `meshcert issuer --root-key` with the root in a
 * SoftHSM2 token (made by `meshcert ca create --pkcs11` in a temporary
 * directory with its own SOFTHSM2_CONF), then in a mounted PEM file. Real
 * server, issuer and agent processes over HTTPS: the IssuedCertificate goes
 * FINISHED, the chain verifies with openssl and certtool against the root
 * certificate given with --root-cert, no root Secret holds the key, the
 * issuer's log holds neither the PIN nor a private key, and SIGTERM exits 0
 * (the token handle closes cleanly). The file run puts a decoy root in the
 * root-ca Secret: the issuer must not sign with it. A third run reaches the
 * token through p11_fault (tests/peer/p11_fault.c) and pulls it out while
 * the issuer runs: a re-issue then FAILs naming the missing token, and
 * succeeds once the token is back (sessions reopened, logged in again), the
 * issuer never restarted. Fails (never skips) without softhsm2.
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
#include "util/base64.h"
#include "workflow_fixture.h"

#define MODULE    "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN     "mesh-root"
#define ROOT_URI  "pkcs11:token=" TOKEN ";object=root"
#define PIN       "Pin-4Zt81-never-logged"
#define SO_PIN    "So-7730-never-logged"
#define IC_NAME   "mesh-ca"
#define OUTPUT    "cacerts"
#define ROOT_NAME WF_NS_MESHCERT "/" WF_ROOT_SECRET

typedef struct root_key_case {
    wf_fixture *f;
    char root_cert[256]; /* --root-cert */
    char root_key[256];  /* --root-key: a file or ROOT_URI */
    char pin_file[256];
} root_key_case;

/* work/<dir> made by `meshcert ca create` (extra: its key options). */
static void create_root(const wf_fixture *f, const char *dir, char *const *extra)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", f->work, dir);
    char *argv[16] = {MESHCERT_BIN, "ca", "create", "--dir", path, "--key-type", "ec-p256"};
    size_t n = 7;
    for (size_t i = 0; extra && extra[i] && n + 1 < 16; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (wf_run_tool(f, argv) != 0)
        wf_fail(f, "meshcert ca create --dir %s failed (see tools.log)", path);
}

/* A SoftHSM2 token in work/tokens (SOFTHSM2_CONF set for this process and
 * the issuer it spawns) with the root key made in it: work/token-root. */
static void make_token_root(root_key_case *c)
{
    wf_fixture *f = c->f;
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
    char *const init[] = {"softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
                          "--so-pin",      SO_PIN,         NULL};
    if (wf_run_tool(f, init) != 0)
        wf_fail(f, "softhsm2-util --init-token failed (see tools.log)");
    snprintf(c->pin_file, sizeof(c->pin_file), "%s/pin", f->work);
    wf_write_text(c->pin_file, PIN "\n");
    char *const pkcs11[] = {"--pkcs11",  ROOT_URI, "--pkcs11-module", MODULE, "--pin-file",
                            c->pin_file, NULL};
    create_root(f, "token-root", pkcs11);
    snprintf(c->root_cert, sizeof(c->root_cert), "%s/token-root/root-cert.pem", f->work);
    snprintf(c->root_key, sizeof(c->root_key), "%s", ROOT_URI);
}

/* Secret meshcert/root-ca holding another root, key included: an issuer
 * that read it would sign with the wrong key. */
static void create_decoy_root_secret(const wf_fixture *f)
{
    create_root(f, "decoy", NULL);
    json_t *data = json_object();
    const char *files[][2] = {{"root-cert.pem", "root-cert.pem"}, {"key.pem", "root-key.pem"}};
    for (size_t i = 0; i < 2; i++) {
        char path[256], *encoded = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/decoy/%s", f->work, files[i][1]);
        char *text = wf_read_text(path);
        assert_int_equal(mc_base64_encode(text, strlen(text), &encoded, &len), MC_OK);
        json_object_set_new(data, files[i][0], json_string(encoded));
        free(encoded);
        free(text);
    }
    json_t *secret =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "apiVersion", "v1", "kind", "Secret",
                  "metadata", "name", WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT, "type",
                  "certificates.smh.solo.io/generated_signing_cert", "data", data);
    wf_create(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, secret);
}

/* openssl and certtool verify work/<subdir>'s chain against the --root-cert
 * file itself (not only against the root the issuer handed out). */
static void verify_against(const wf_fixture *f, const char *subdir, const char *root_cert)
{
    char untrusted[256], ca[256], chain[256], given[256];
    snprintf(untrusted, sizeof(untrusted), "%s/%s/cert-chain.pem", f->work, subdir);
    snprintf(ca, sizeof(ca), "%s/%s/ca-cert.pem", f->work, subdir);
    snprintf(chain, sizeof(chain), "%s/%s/chain.pem", f->work, subdir);
    snprintf(given, sizeof(given), "%s/%s/root-cert.pem", f->work, subdir);
    char *const openssl[] = {"openssl",    "verify",  "-CAfile", (char *)root_cert,
                             "-untrusted", untrusted, ca,        NULL};
    if (wf_run_tool(f, openssl) != 0)
        wf_fail(f, "openssl verify against %s failed", root_cert);
    char *const certtool[] = {
        "certtool", "--verify", "--load-ca-certificate", (char *)root_cert, "--infile",
        chain,      NULL};
    if (wf_run_tool(f, certtool) != 0)
        wf_fail(f, "certtool --verify against %s failed", root_cert);
    char *expected = wf_read_text(root_cert), *handed_out = wf_read_text(given);
    if (strcmp(expected, handed_out) != 0)
        wf_fail(f, "the cacerts' root-cert.pem is not --root-cert %s", root_cert);
    free(expected);
    free(handed_out);
}

/* The decoy's certificate must not verify east's intermediate: proof the
 * Secret's key was not used. */
static void verify_not_against(const wf_fixture *f, const char *root_cert)
{
    char ca[256];
    snprintf(ca, sizeof(ca), "%s/east/ca-cert.pem", f->work);
    char *const openssl[] = {"openssl", "verify", "-CAfile", (char *)root_cert, ca, NULL};
    if (wf_run_tool(f, openssl) == 0)
        wf_fail(f, "the intermediate verifies against the Secret's root %s", root_cert);
}

/* Secret meshcert/root-ca: absent (the issuer made none), or the decoy as
 * the test wrote it. */
static void assert_no_root_key_in_api(const wf_fixture *f, int decoy)
{
    json_t *secret = NULL;
    mc_err err = {0};
    int rc = mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT,
                         WF_ROOT_SECRET, &secret, &err);
    if (!decoy) {
        if (rc != MC_ENOTFOUND)
            wf_fail(f, "secret %s exists (or could not be read: %s); the issuer must not make it",
                    ROOT_NAME, err.msg);
        return;
    }
    assert_int_equal(rc, MC_OK);
    char *decoy_key = wf_secret_value(secret, "key.pem", NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/decoy/root-key.pem", f->work);
    char *expected = wf_read_text(path);
    assert_non_null(decoy_key);
    assert_string_equal(decoy_key, expected); /* left as written: nothing generated over it */
    free(decoy_key);
    free(expected);
    json_decref(secret);
}

static void assert_issuer_log_clean(const wf_fixture *f)
{
    char *log = wf_read_text(f->issuer_log);
    assert_non_null(log);
    if (strstr(log, PIN) || strstr(log, SO_PIN))
        wf_fail(f, "the issuer's log holds the PIN");
    if (strstr(log, "PRIVATE KEY"))
        wf_fail(f, "the issuer's log holds a private key");
    if (!strstr(log, "signs with the key given at start"))
        wf_fail(f, "the issuer's log does not say root %s signs with --root-key", ROOT_NAME);
    free(log);
}

/* A RootRotation of the --root-key root (its Secret being the decoy) never
 * starts: the issuer logs why, the phase stays unset, and the Secret keeps
 * the decoy (no swap; assert_no_root_key_in_api). */
static void check_rotation_refused(const wf_fixture *f)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    char *const rotate[] = {MESHCERT_BIN,   "root",         "rotate",
                            "--kubeconfig", kubeconfig,     "--namespace",
                            WF_NS_MESHCERT, "--generate",   "--root-key-type",
                            "ec-p256",      "--step-dwell", "1s",
                            "--name",       "rot",          NULL};
    if (wf_run_tool(f, rotate) != 0)
        wf_fail(f, "meshcert root rotate could not create the RootRotation (see tools.log)");
    int64_t deadline = wf_now_ms() + 20000;
    for (;;) {
        char *log = wf_read_text(f->issuer_log);
        int said = log && strstr(log, "root " ROOT_NAME " signs with the issuer's --root-key and "
                                      "--root-cert, which cannot be rotated");
        free(log);
        if (said)
            break;
        if (wf_now_ms() > deadline)
            wf_fail(f, "the issuer does not say the rotation of a --root-key root is refused");
        wf_sleep_ms(500);
    }
    wf_sleep_ms(3000); /* three step dwells: a rotation that could start would have */
    char *const status[] = {MESHCERT_BIN,  "root",         "status", "--kubeconfig", kubeconfig,
                            "--namespace", WF_NS_MESHCERT, "--name", "rot",          NULL};
    char *out = NULL;
    if (wf_run_output(f, status, &out) != 0 || !strstr(out, "not started"))
        wf_fail(f, "the rotation of a --root-key root started: %s", out ? out : "(no output)");
    free(out);
}

/* The workflow with the issuer on c's --root-key and the agents of east and
 * west, one IssuedCertificate each. */
static void run_workflow(root_key_case *c, int decoy)
{
    wf_fixture *f = c->f;
    f->generate_root = 0;
    size_t n = 0;
    f->issuer_extra[n++] = "--root-key";
    f->issuer_extra[n++] = c->root_key;
    f->issuer_extra[n++] = "--root-cert";
    f->issuer_extra[n++] = c->root_cert;
    if (c->pin_file[0]) {
        f->issuer_extra[n++] = "--pkcs11-module";
        f->issuer_extra[n++] = MODULE;
        f->issuer_extra[n++] = "--pin-file";
        f->issuer_extra[n++] = c->pin_file;
    }
    f->issuer_extra[n] = NULL;
    assert_int_equal(wf_start_issuer(f), 0);
    for (int m = 0; m < WF_MANAGED; m++) {
        assert_int_equal(wf_start_agent(f, m), 0);
        wf_create_issued_certificate(f->managed[m], IC_NAME, OUTPUT, NULL, NULL);
    }
    for (int m = 0; m < WF_MANAGED; m++) {
        const char *cluster = wf_managed_names[m];
        wf_ic_view view;
        wf_wait_ic_state(f, f->managed[m], cluster, IC_NAME, "FINISHED", 1, &view);
        wf_save_cacerts(f, f->managed[m], OUTPUT, cluster);
        wf_verify_with_tools(f, cluster);
        verify_against(f, cluster, c->root_cert);
    }
    if (decoy)
        check_rotation_refused(f);
    assert_no_root_key_in_api(f, decoy);
    assert_true(wf_assert_no_key_leak(f) >= WF_MANAGED);
    for (int m = 0; m < WF_MANAGED; m++) {
        char what[64];
        snprintf(what, sizeof(what), "meshcert agent (%s)", wf_managed_names[m]);
        wf_stop_cleanly(f, &f->agents[m], what);
    }
    wf_stop_cleanly(f, &f->issuer, "meshcert issuer");
    assert_issuer_log_clean(f);
}

static void test_token_root(void **state)
{
    root_key_case c = {.f = *state};
    make_token_root(&c);
    run_workflow(&c, 0);
}

static void test_file_root(void **state)
{
    root_key_case c = {.f = *state};
    create_root(c.f, "file-root", NULL);
    snprintf(c.root_cert, sizeof(c.root_cert), "%s/file-root/root-cert.pem", c.f->work);
    snprintf(c.root_key, sizeof(c.root_key), "%s/file-root/root-key.pem", c.f->work);
    create_decoy_root_secret(c.f);
    run_workflow(&c, 1);
    char decoy[256];
    snprintf(decoy, sizeof(decoy), "%s/decoy/root-cert.pem", c.f->work);
    verify_not_against(c.f, decoy);
}

/* Sets IssuedCertificate meshcert/IC_NAME's rotate annotation on east:
 * the agent re-issues with a new key, which the issuer must sign. */
static void ask_reissue(const wf_fixture *f, const char *token)
{
    json_t *patch =
        json_pack("{s:{s:{s:s}}}", "metadata", "annotations", MC_API_IC_ROTATE_ANNOTATION, token);
    mc_err err = {0};
    if (mc_kube_patch(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                      WF_NS_MESHCERT, IC_NAME, MC_KUBE_PATCH_MERGE, patch, 0, NULL, &err) != MC_OK)
        wf_fail(f, "annotate east's issuedcertificate: %s", err.msg);
    json_decref(patch);
}

/* Waits for east's IssuedCertificate to be FINISHED for rotate token token
 * (status.rotation). */
static void wait_reissued(const wf_fixture *f, const char *token)
{
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    for (;;) {
        json_t *ic = NULL;
        mc_err err = {0};
        int done = 0;
        if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                        WF_NS_MESHCERT, IC_NAME, &ic, &err) == MC_OK) {
            const char *rotation = wf_str_at(ic, "status", "rotation");
            const char *state = wf_str_at(ic, "status", "state");
            done = rotation && state && !strcmp(rotation, token) && !strcmp(state, "FINISHED");
        }
        json_decref(ic);
        if (done)
            return;
        if (wf_now_ms() > deadline)
            wf_fail(f, "east was not re-issued for %s within %d s", token, WF_WAIT_MS / 1000);
        wf_sleep_ms(100);
    }
}

static void test_token_removed_while_running(void **state)
{
    root_key_case c = {.f = *state};
    wf_fixture *f = c.f;
    make_token_root(&c);
    char faults[128], removed[160];
    snprintf(faults, sizeof(faults), "%s/faults", f->work);
    snprintf(removed, sizeof(removed), "%s/removed", faults);
    assert_int_equal(mkdir(faults, 0700), 0);
    setenv("MC_P11_FAULT_MODULE", MODULE, 1); /* inherited by the issuer */
    setenv("MC_P11_FAULT_DIR", faults, 1);
    f->generate_root = 0;
    const char *extra[] = {"--root-key", c.root_key,        "--root-cert",
                           c.root_cert,  "--pkcs11-module", P11_FAULT,
                           "--pin-file", c.pin_file,        NULL};
    memcpy(f->issuer_extra, extra, sizeof(extra));
    assert_int_equal(wf_start_issuer(f), 0);
    assert_int_equal(wf_start_agent(f, WF_EAST), 0);
    wf_create_issued_certificate(f->managed[WF_EAST], IC_NAME, OUTPUT, NULL, NULL);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", 1, &view);

    wf_write_text(removed, "");
    ask_reissue(f, "while-removed");
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FAILED", 1, &view);
    if (!strstr(view.error, "PKCS#11 token \"" TOKEN "\" not found in " P11_FAULT))
        wf_fail(f, "the failure does not name the missing token: %s", view.error);
    assert_null(strstr(view.error, PIN));
    assert_int_equal(unlink(removed), 0);
    wait_reissued(f, "while-removed"); /* the agent's retry, signed once the token is back */
    wf_save_cacerts(f, f->managed[WF_EAST], OUTPUT, "east");
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", 1, &view);
    verify_against(f, "east", c.root_cert);
    wf_stop_cleanly(f, &f->agents[WF_EAST], "meshcert agent (east)");
    wf_stop_cleanly(f, &f->issuer, "meshcert issuer");
    assert_issuer_log_clean(f);
    unsetenv("MC_P11_FAULT_MODULE");
    unsetenv("MC_P11_FAULT_DIR");
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
        cmocka_unit_test_setup_teardown(test_token_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_removed_while_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
