/* pkcs11_session_test.c - the PKCS#11 back end against a real SoftHSM2 token
 * (made here in a temporary directory): issuance survives the loss of every
 * session (closed under its feet through the module itself, as a token reset
 * or an HSM failover would) by reconnecting and logging in again, and the
 * session pool serves several threads issuing at once. Through p11_fault
 * (tests/peer/p11_fault.c, in front of SoftHSM2, which never locks a PIN): a
 * locked PIN is named as such, and a token pulled out while a handle signs
 * gives an error naming it, then signs again once it is back. The CLI, the
 * other errors and the non-extractable key are covered by
 * tests/peer/pkcs11_test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/pkcs11.h"
#include "pki/root.h"
#include "pki/verify.h"

#define MODULE     "/usr/lib/softhsm/libsofthsm2.so"
#define THREADS    4
#define PER_THREAD 10

extern char **environ;

typedef struct fixture {
    char dir[64];
    char pin_file[128];
    mc_pki_pkcs11 *p11;
    mc_pki_cert *root;
    mc_pki_signer *signer;
    mc_pki_csr *csr;
} fixture;

static void run_or_fail(char *const argv[])
{
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed: is softhsm2 installed? run 'make deps'", argv[0]);
}

static int setup(void **state)
{
    if (access(MODULE, R_OK) != 0)
        fail_msg("%s is missing: run 'make deps' (installs softhsm2)", MODULE);
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mc-p11-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[160], tokens[96];
    snprintf(tokens, sizeof(tokens), "%s/tokens", f->dir);
    assert_int_equal(mkdir(tokens, 0700), 0);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", f->dir);
    FILE *conf = fopen(path, "w");
    assert_non_null(conf);
    fprintf(conf, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(conf);
    setenv("SOFTHSM2_CONF", path, 1);
    char *init[] = {"softhsm2-util", "--init-token", "--free",   "--label", "session-test",
                    "--pin",         "4321",         "--so-pin", "8765",    NULL};
    run_or_fail(init);
    snprintf(f->pin_file, sizeof(f->pin_file), "%s/pin", f->dir);
    FILE *pin = fopen(f->pin_file, "w");
    assert_non_null(pin);
    fputs("4321\n", pin);
    fclose(pin);

    mc_err err = {0};
    mc_pki_pkcs11_config config = {"pkcs11:token=session-test;object=root", MODULE, f->pin_file,
                                   NULL};
    mc_pki_key *public_key = NULL, *csr_key = NULL;
    mc_pki_key_backend backend;
    mc_pki_root_params params = {"Acme", "token root", 86400, 0};
    static const char *const hosts[] = {"spiffe://c1.local/ns/istio-system/sa/citadel"};
    if (mc_pki_pkcs11_open(&config, &f->p11, &err) ||
        mc_pki_pkcs11_generate(f->p11, MC_KEY_EC_P256, &public_key, &err) ||
        mc_pki_pkcs11_backend(f->p11, &backend, &err) ||
        mc_pki_root_create_backend(public_key, &backend, &params, &f->root, &err) ||
        mc_pki_signer_new_backend(f->root, &backend, &f->signer, &err) ||
        mc_pki_key_generate(MC_KEY_EC_P256, &csr_key, &err) ||
        mc_pki_csr_create(csr_key, "Istio", hosts, 1, &f->csr, &err))
        fail_msg("setup: %s", err.msg);
    mc_pki_key_free(public_key);
    mc_pki_key_free(csr_key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    mc_pki_signer_free(f->signer);
    mc_pki_cert_free(f->root);
    mc_pki_csr_free(f->csr);
    mc_pki_pkcs11_free(f->p11);
    char *rm[] = {"rm", "-rf", f->dir, NULL};
    run_or_fail(rm);
    free(f);
    return 0;
}

/* One issuance, checked against the root: MC_OK or the error code. */
static int issue_and_verify(const fixture *f, mc_err *err)
{
    static const char *const hosts[] = {"spiffe://c1.local/ns/istio-system/sa/citadel"};
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = hosts;
    params.host_count = 1;
    mc_pki_cert *cert = NULL;
    int rc = mc_pki_signer_issue(f->signer, f->csr, &params, &cert, err);
    if (rc == MC_OK)
        rc = mc_pki_verify_chain(cert, NULL, 0, (mc_pki_cert *const *)&f->root, 1, 0, err);
    mc_pki_cert_free(cert);
    return rc;
}

/* Closes every session of the module in this process, as a token reset does:
 * the same library (dlopen returns the loaded one), so the same state. */
static void close_all_sessions(void)
{
    void *module = dlopen(MODULE, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(module);
    CK_C_GetFunctionList get = NULL;
    void *sym = dlsym(module, "C_GetFunctionList");
    memcpy(&get, &sym, sizeof(get));
    CK_FUNCTION_LIST *fn = NULL;
    assert_int_equal(get(&fn), CKR_OK);
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    assert_int_equal(fn->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; i++)
        fn->C_CloseAllSessions(slots[i]);
    dlclose(module);
}

static void test_reconnects_after_sessions_are_lost(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    assert_int_equal(issue_and_verify(f, &err), MC_OK);
    for (int round = 0; round < 3; round++) {
        close_all_sessions();
        if (issue_and_verify(f, &err) != MC_OK)
            fail_msg("round %d after losing every session: %s", round, err.msg);
    }
}

static void *issue_many(void *arg)
{
    const fixture *f = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        mc_err err = {0};
        if (issue_and_verify(f, &err) != MC_OK)
            return strdup(err.msg);
    }
    return NULL;
}

static void test_pool_serves_threads(void **state)
{
    fixture *f = *state;
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, issue_many, f), 0);
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *msg = NULL;
        pthread_join(threads[i], &msg);
        if (msg) {
            print_error("thread %d: %s\n", i, (char *)msg);
            failed++;
            free(msg);
        }
    }
    assert_int_equal(failed, 0);
}

/* Switches p11_fault's fault name on (touches the file) or off. */
static void set_fault(const fixture *f, const char *name, int on)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    if (on) {
        FILE *file = fopen(path, "w");
        assert_non_null(file);
        fclose(file);
    } else {
        assert_int_equal(unlink(path), 0);
    }
}

/* A handle on the fixture's key through p11_fault. */
static int open_through_fault(const fixture *f, mc_pki_pkcs11 **p11, mc_err *err)
{
    setenv("MC_P11_FAULT_MODULE", MODULE, 1);
    setenv("MC_P11_FAULT_DIR", f->dir, 1);
    mc_pki_pkcs11_config config = {"pkcs11:token=session-test;object=root", P11_FAULT, f->pin_file,
                                   NULL};
    return mc_pki_pkcs11_open(&config, p11, err);
}

static void test_locked_pin(void **state)
{
    fixture *f = *state;
    mc_pki_pkcs11 *p11 = NULL;
    mc_err err = {0};
    set_fault(f, "pin-locked", 1);
    int rc = open_through_fault(f, &p11, &err);
    set_fault(f, "pin-locked", 0);
    assert_null(p11);
    assert_int_equal(rc, MC_EAUTH);
    assert_non_null(strstr(err.msg, "PKCS#11 token \"session-test\" is locked after too many "
                                    "wrong PINs (CKR_PIN_LOCKED)"));
    assert_null(strstr(err.msg, "4321")); /* never the PIN */
    /* unlocked: the same handle opens */
    assert_int_equal(open_through_fault(f, &p11, &err), MC_OK);
    mc_pki_pkcs11_free(p11);
}

/* One issuance with signer, checked against the fixture's root. */
static int issue_with(const fixture *f, mc_pki_signer *signer, mc_err *err)
{
    static const char *const hosts[] = {"spiffe://c1.local/ns/istio-system/sa/citadel"};
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = hosts;
    params.host_count = 1;
    mc_pki_cert *cert = NULL;
    int rc = mc_pki_signer_issue(signer, f->csr, &params, &cert, err);
    if (rc == MC_OK)
        rc = mc_pki_verify_chain(cert, NULL, 0, (mc_pki_cert *const *)&f->root, 1, 0, err);
    mc_pki_cert_free(cert);
    return rc;
}

static void test_token_removed_and_back(void **state)
{
    fixture *f = *state;
    mc_pki_pkcs11 *p11 = NULL;
    mc_pki_signer *signer = NULL;
    mc_pki_key_backend backend;
    mc_err err = {0};
    if (open_through_fault(f, &p11, &err) || mc_pki_pkcs11_backend(p11, &backend, &err) ||
        mc_pki_signer_new_backend(f->root, &backend, &signer, &err))
        fail_msg("open through p11_fault: %s", err.msg);
    assert_int_equal(issue_with(f, signer, &err), MC_OK);
    set_fault(f, "removed", 1);
    for (int attempt = 0; attempt < 2; attempt++) { /* each tries a reconnect */
        mc_err_clear(&err);
        assert_int_not_equal(issue_with(f, signer, &err), MC_OK);
        if (!strstr(err.msg, "PKCS#11 token \"session-test\" not found in " P11_FAULT))
            fail_msg("the error does not name the missing token: %s", err.msg);
    }
    set_fault(f, "removed", 0);
    /* back: its old sessions were ended by the removal; the handle finds
     * the token again, logs in again and signs */
    if (issue_with(f, signer, &err) != MC_OK)
        fail_msg("the token is back but signing fails: %s", err.msg);
    assert_int_equal(issue_with(f, signer, &err), MC_OK);
    /* the fixture's own handle (the same SoftHSM2 underneath) recovers too */
    assert_int_equal(issue_and_verify(f, &err), MC_OK);
    mc_pki_signer_free(signer);
    mc_pki_pkcs11_free(p11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconnects_after_sessions_are_lost),
        cmocka_unit_test(test_pool_serves_threads),
        cmocka_unit_test(test_locked_pin),
        cmocka_unit_test(test_token_removed_and_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
