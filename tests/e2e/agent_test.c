/* agent_test.c - `meshcert agent` as a real process against `meshcert server`
 * (cluster east), with the test playing the issuer: the agent makes a key
 * and a CertificateRequest, the test signs it with a root made by pki/, the
 * agent writes istio-system/cacerts (checked with mc_pki_bundle_verify),
 * bounces the two selected pods once each (recorded in the directive), and a
 * SIGKILLed and restarted agent bounces nothing again; SIGTERM exits 0.
 */
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/yaml.h"
#include "kube/client.h"
#include "kube/config.h"
#include "pki/bundle.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "server_process.h"
#include "util/base64.h"
#include "util/file.h"
#include "util/str.h"

extern char **environ;

static const mc_kube_resource crds = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", 0};
static const mc_kube_resource namespaces = {"", "v1", "namespaces", 0};
static const mc_kube_resource secrets = {"", "v1", "secrets", 1};
static const mc_kube_resource pods = {"", "v1", "pods", 1};
static const mc_kube_resource ics = {"certificates.smh.solo.io", "v1alpha2", "issuedcertificates",
                                     1};
static const mc_kube_resource requests = {"certificates.smh.solo.io", "v1alpha2",
                                          "certificaterequests", 1};
static const mc_kube_resource directives = {"certificates.smh.solo.io", "v1alpha2",
                                            "podbouncedirectives", 1};

#define HOST "spiffe://cluster.local/ns/istio-system/sa/citadel"

static server_process sp;
static mc_kube_client *client;
static char kubeconfig[512];
static pid_t agent_pid;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_agent(void)
{
    char *const argv[] = {MESHCERT_BIN, "agent", "--kubeconfig", kubeconfig, "--namespace",
                          "meshcert", "--key-type", "ec-p256", "--log-level", "info", NULL};
    assert_int_equal(posix_spawn(&agent_pid, MESHCERT_BIN, NULL, NULL, argv, environ), 0);
}

/* Signals the agent and returns its wait status. */
static int stop_agent(int sig)
{
    int status = -1;
    if (agent_pid > 0) {
        kill(agent_pid, sig);
        waitpid(agent_pid, &status, 0);
        agent_pid = 0;
    }
    return status;
}

static void apply_crd(const char *file)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_t *crd = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    assert_int_equal(mc_file_read(path, 1 << 20, &text, &len, &err), MC_OK);
    assert_int_equal(mc_api_yaml_to_json(text, len, &crd, &err), MC_OK);
    free(text);
    if (mc_kube_create(client, &crds, NULL, crd, NULL, &err) != MC_OK)
        fail_msg("create crd %s: %s", file, err.msg);
    json_decref(crd);
}

/* Creates obj (stolen), retrying while a just-created CRD is not served yet. */
static void create(const mc_kube_resource *res, const char *ns, json_t *obj)
{
    mc_err err = {0};
    int rc = MC_ENOTFOUND;
    for (int i = 0; i < 50 && rc == MC_ENOTFOUND; i++) {
        rc = mc_kube_create(client, res, ns, obj, NULL, &err);
        if (rc == MC_ENOTFOUND)
            sleep_ms(100);
    }
    if (rc != MC_OK)
        fail_msg("create: %s", err.msg);
    json_decref(obj);
}

static void create_pod(const char *name)
{
    create(&pods, "istio-system",
           json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
                     "kind", "Pod", "metadata", "name", name, "namespace", "istio-system",
                     "labels", "app", "istiod", "spec", "containers", "name", "discovery",
                     "image", "istio/pilot"));
}

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--cluster", "east", NULL};
    memset(&sp, 0, sizeof(sp));
    if (server_process_start(&sp, args) != 0)
        return -1;
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/east.yaml", sp.dir);
    mc_kube_config *config = NULL;
    mc_err err = {0};
    if (mc_kube_config_load_file(kubeconfig, NULL, &config, &err) != MC_OK ||
        mc_kube_client_new(config, NULL, &client, &err) != MC_OK) {
        mc_kube_config_free(config);
        return -1;
    }
    mc_kube_config_free(config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_agent(SIGKILL);
    mc_kube_client_free(client);
    client = NULL;
    return server_process_stop(&sp) == 0 ? 0 : -1;
}

/* The root the test signs with (EC P-256, 10 years). */
typedef struct test_root {
    mc_pki_key *key;
    mc_pki_cert *cert;
    mc_pki_signer *signer;
    char *pem;
} test_root;

static void root_make(test_root *root)
{
    mc_err err = {0};
    mc_pki_root_params params = {"Istio", "meshcert test root", (int64_t)3650 * 86400, 0};
    size_t len = 0;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &root->key, &err), MC_OK);
    assert_int_equal(mc_pki_root_create(root->key, &params, &root->cert, &err), MC_OK);
    assert_int_equal(mc_pki_signer_new(root->cert, root->key, &root->signer, &err), MC_OK);
    assert_int_equal(mc_pki_cert_to_pem(root->cert, &root->pem, &len, &err), MC_OK);
}

static void root_free(test_root *root)
{
    mc_pki_signer_free(root->signer);
    mc_pki_cert_free(root->cert);
    mc_pki_key_free(root->key);
    free(root->pem);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

/* Waits for the agent's CertificateRequest, signs its CSR and answers FINISHED. */
static void play_issuer(const test_root *root)
{
    mc_err err = {0};
    json_t *request = NULL;
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        if (mc_kube_get(client, &requests, "meshcert", "mesh-east", &request, &err) == MC_OK &&
            str_at(request, "spec", "certificateSigningRequest"))
            break;
        json_decref(request);
        request = NULL;
        sleep_ms(100);
    }
    if (!request)
        fail_msg("no certificaterequest within 20 s");
    const char *csr_b64 = str_at(request, "spec", "certificateSigningRequest");
    unsigned char *csr_pem = NULL;
    size_t csr_len = 0;
    mc_pki_csr *csr = NULL;
    mc_pki_cert *cert = NULL;
    char *cert_pem = NULL, *cert_b64 = NULL, *root_b64 = NULL;
    size_t len = 0;
    assert_int_equal(mc_base64_decode(csr_b64, strlen(csr_b64), &csr_pem, &csr_len, &err), MC_OK);
    assert_int_equal(mc_pki_csr_parse(csr_pem, csr_len, "test csr", &csr, &err), MC_OK);
    const char *hosts[] = {HOST};
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = hosts;
    params.host_count = 1;
    assert_int_equal(mc_pki_signer_issue(root->signer, csr, &params, &cert, &err), MC_OK);
    assert_int_equal(mc_pki_cert_to_pem(cert, &cert_pem, &len, &err), MC_OK);
    assert_int_equal(mc_base64_encode(cert_pem, len, &cert_b64, &len), 0);
    assert_int_equal(mc_base64_encode(root->pem, strlen(root->pem), &root_b64, &len), 0);
    json_t *generation = json_object_get(json_object_get(request, "metadata"), "generation");
    json_object_set_new(request, "status",
                        json_pack("{s:s, s:s, s:s, s:O}", "state", "FINISHED",
                                  "signedCertificate", cert_b64, "signingRootCa", root_b64,
                                  "observedGeneration", generation ? generation : json_integer(1)));
    if (mc_kube_update_status(client, &requests, "meshcert", request, NULL, &err) != MC_OK)
        fail_msg("answer the request: %s", err.msg);
    free(root_b64);
    free(cert_b64);
    free(cert_pem);
    mc_pki_cert_free(cert);
    mc_pki_csr_free(csr);
    free(csr_pem);
    json_decref(request);
}

static const char *ic_state(void)
{
    static char state[32];
    json_t *ic = NULL;
    mc_err err = {0};
    state[0] = '\0';
    if (mc_kube_get(client, &ics, "meshcert", "mesh-east", &ic, &err) == MC_OK) {
        const char *s = str_at(ic, "status", "state");
        mc_strlcpy(state, s ? s : "", sizeof(state));
    }
    json_decref(ic);
    return state;
}

static int pod_exists(const char *name)
{
    json_t *pod = NULL;
    mc_err err = {0};
    int rc = mc_kube_get(client, &pods, "istio-system", name, &pod, &err);
    int alive = rc == MC_OK && !str_at(pod, "metadata", "deletionTimestamp");
    json_decref(pod);
    return alive;
}

/* The directive's status.bouncedPods (new reference). */
static json_t *bounced_pods(void)
{
    json_t *pbd = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(client, &directives, "meshcert", "mesh-east", &pbd, &err), MC_OK);
    json_t *list = json_object_get(json_object_get(pbd, "status"), "bouncedPods");
    json_t *copy = list ? json_incref(list) : json_array();
    json_decref(pbd);
    return copy;
}

static void check_output(const test_root *root)
{
    json_t *secret_json = NULL;
    mc_api_secret *secret = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(client, &secrets, "istio-system", "cacerts", &secret_json, &err),
                     MC_OK);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(secret_json, "metadata"), "labels"),
            "agent.certificates.smh.solo.io")),
        "meshcert");
    assert_int_equal(mc_api_secret_decode(secret_json, &secret, &err), MC_OK);
    json_decref(secret_json);
    const char *names[4] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"};
    char *values[4] = {0};
    for (int i = 0; i < 4; i++) {
        const mc_api_bytes_entry *e = mc_api_bytes_map_get(&secret->data, names[i]);
        assert_non_null(e);
        values[i] = mc_strndup((const char *)e->data, e->len);
        assert_non_null(values[i]);
    }
    mc_pki_bundle bundle = {values[0], values[1], values[2], values[3]};
    if (mc_pki_bundle_verify(&bundle, root->pem, "test root", 0, NULL, &err) != MC_OK)
        fail_msg("cacerts does not verify: %s", err.msg);
    mc_pki_bundle_clear(&bundle);
    mc_api_secret_free(secret);
}

static void test_agent_issues_and_bounces_once(void **state)
{
    (void)state;
    apply_crd("issuedcertificates.yaml");
    apply_crd("certificaterequests.yaml");
    apply_crd("podbouncedirectives.yaml");
    create(&namespaces, NULL, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                        "Namespace", "metadata", "name", "meshcert"));
    create(&namespaces, NULL, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                        "Namespace", "metadata", "name", "istio-system"));
    create_pod("istiod-1");
    create_pod("istiod-2");
    start_agent();
    create(&directives, "meshcert",
           json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:{s:s}}]}}", "apiVersion",
                     "certificates.smh.solo.io/v1alpha2", "kind", "PodBounceDirective",
                     "metadata", "name", "mesh-east", "namespace", "meshcert", "spec",
                     "podsToBounce", "namespace", "istio-system", "labels", "app", "istiod"));
    create(&ics, "meshcert",
           json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}, "
                     "s:{s:s, s:s}}}",
                     "apiVersion", "certificates.smh.solo.io/v1alpha2", "kind",
                     "IssuedCertificate", "metadata", "name", "mesh-east", "namespace",
                     "meshcert", "spec", "hosts", HOST, "org", "Istio",
                     "signingCertificateSecret", "name", "root", "namespace", "meshcert",
                     "issuedCertificateSecret", "name", "cacerts", "namespace", "istio-system",
                     "podBounceDirective", "name", "mesh-east", "namespace", "meshcert"));

    test_root root = {0};
    root_make(&root);
    play_issuer(&root);
    int64_t deadline = now_ms() + 20000;
    while (strcmp(ic_state(), "FINISHED") != 0 && now_ms() < deadline)
        sleep_ms(100);
    assert_string_equal(ic_state(), "FINISHED");
    check_output(&root);
    assert_false(pod_exists("istiod-1"));
    assert_false(pod_exists("istiod-2"));
    json_t *bounced = bounced_pods();
    assert_int_equal(json_array_size(bounced), 2);
    const char *n0 = json_string_value(json_object_get(json_array_get(bounced, 0), "name"));
    const char *n1 = json_string_value(json_object_get(json_array_get(bounced, 1), "name"));
    assert_non_null(n0);
    assert_non_null(n1);
    assert_true((strcmp(n0, "istiod-1") == 0 && strcmp(n1, "istiod-2") == 0) ||
                (strcmp(n0, "istiod-2") == 0 && strcmp(n1, "istiod-1") == 0));
    json_decref(bounced);

    /* A restart mid-life: nothing is bounced again, a pod started after the
     * issuance (a later second than issued-at) survives. */
    assert_true(WIFSIGNALED(stop_agent(SIGKILL)));
    sleep_ms(1100);
    create_pod("istiod-3");
    start_agent();
    sleep_ms(3000);
    assert_true(pod_exists("istiod-3"));
    assert_string_equal(ic_state(), "FINISHED");
    bounced = bounced_pods();
    assert_int_equal(json_array_size(bounced), 2);
    json_decref(bounced);
    check_output(&root);

    int status = stop_agent(SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    root_free(&root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_issues_and_bounces_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
