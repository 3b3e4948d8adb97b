/* agent_test.c - `meshcert agent` as a real process against `meshcert server`
 * (cluster east, a fresh server per test), with the test playing the issuer:
 * the agent makes a key and a CertificateRequest, the test signs it with a
 * root made by pki/, the agent writes istio-system/cacerts (checked with
 * mc_pki_bundle_verify), bounces the two selected pods once each (recorded in
 * the directive), and a SIGKILLed and restarted agent bounces nothing again.
 * With --output-format tls the Secret is kubernetes.io/tls with exactly
 * tls.crt, tls.key and ca.crt (checked in-process and with the openssl CLI).
 * A foreign output Secret is left untouched (FAILED saying how to adopt it)
 * until labelled certificates.smh.solo.io/adopt=true, or is overwritten at
 * once under --adopt-existing-secret. SIGTERM exits 0.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/decide.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/time.h"
#include "api/yaml.h"
#include "kube/client.h"
#include "kube/config.h"
#include "pki/bundle.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/root.h"
#include "pki/verify.h"
#include "server_process.h"
#include "util/base64.h"
#include "util/file.h"
#include "util/str.h"

extern char **environ;

#define HOST    "spiffe://cluster.local/ns/istio-system/sa/citadel"
#define WAIT_MS 20000

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

/* Starts the agent with the common options plus extra ones (NULL-terminated).
 * One agent at a time: teardown stops it whatever the test did. */
static void start_agent_with(const char *extra, ...)
{
    char *argv[24] = {MESHCERT_BIN, "agent",      "--kubeconfig", kubeconfig,    "--namespace",
                      "meshcert",   "--key-type", "ec-p256",      "--log-level", "info"};
    size_t argc = 10;
    va_list ap;
    va_start(ap, extra);
    for (const char *arg = extra; arg && argc < 23; arg = va_arg(ap, const char *))
        argv[argc++] = (char *)arg;
    va_end(ap);
    argv[argc] = NULL;
    assert_int_equal(agent_pid, 0);
    assert_int_equal(posix_spawn(&agent_pid, MESHCERT_BIN, NULL, NULL, argv, environ), 0);
}

static void start_agent(void)
{
    start_agent_with(NULL);
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

/* SIGTERM: the agent must exit 0 (under ASan a leak makes that fail). */
static void stop_agent_cleanly(void)
{
    int status = stop_agent(SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static json_t *load_crd(const char *file)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_t *crd = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    assert_int_equal(mc_file_read(path, 1 << 20, &text, &len, &err), MC_OK);
    assert_int_equal(mc_api_yaml_to_json(text, len, &crd, &err), MC_OK);
    free(text);
    return crd;
}

static void create_crd(json_t *crd, const char *file)
{
    mc_err err = {0};
    if (mc_kube_create(client, mc_kube_resource_of(MC_API_CUSTOM_RESOURCE_DEFINITIONS), NULL, crd,
                       NULL, &err) != MC_OK)
        fail_msg("create crd %s: %s", file, err.msg);
    json_decref(crd);
}

static void apply_crd(const char *file)
{
    create_crd(load_crd(file), file);
}

/* The IssuedCertificate CRD with the lifetime fields kept: when this tree's
 * deploy/crds does not declare status.rotation yet (branch renewcli adds the
 * schema), spec and status preserve unknown fields, else the server would
 * prune what the agent writes. */
static void apply_ic_crd_with_lifetime(void)
{
    json_t *crd = load_crd("issuedcertificates.yaml");
    size_t i;
    json_t *version;
    json_array_foreach(json_object_get(json_object_get(crd, "spec"), "versions"), i, version)
    {
        json_t *props = json_object_get(
            json_object_get(json_object_get(version, "schema"), "openAPIV3Schema"), "properties");
        json_t *status = json_object_get(props, "status");
        if (json_object_get(json_object_get(status, "properties"), "rotation"))
            continue;
        json_object_set_new(status, "x-kubernetes-preserve-unknown-fields", json_true());
        json_object_set_new(json_object_get(props, "spec"), "x-kubernetes-preserve-unknown-fields",
                            json_true());
    }
    create_crd(crd, "issuedcertificates.yaml");
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

static void create_namespace(const char *name)
{
    create(mc_kube_resource_of(MC_API_NAMESPACES), NULL,
           json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                     "name", name));
}

/* The CRDs and the namespaces meshcert and istio-system. */
static void prepare_cluster(void)
{
    apply_ic_crd_with_lifetime();
    apply_crd("certificaterequests.yaml");
    apply_crd("podbouncedirectives.yaml");
    create_namespace("meshcert");
    create_namespace("istio-system");
}

static void create_pod(const char *name)
{
    create(mc_kube_resource_of(MC_API_PODS), "istio-system",
           json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
                     "kind", "Pod", "metadata", "name", name, "namespace", "istio-system", "labels",
                     "app", "istiod", "spec", "containers", "name", "discovery", "image",
                     "istio/pilot"));
}

/* IssuedCertificate meshcert/name writing istio-system/output; directive
 * (optional) names its PodBounceDirective in meshcert. */
static void create_ic(const char *name, const char *output, const char *directive)
{
    json_t *ic =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}",
                  "apiVersion", "certificates.smh.solo.io/v1alpha2", "kind", "IssuedCertificate",
                  "metadata", "name", name, "namespace", "meshcert", "spec", "hosts", HOST, "org",
                  "Istio", "signingCertificateSecret", "name", "root", "namespace", "meshcert",
                  "issuedCertificateSecret", "name", output, "namespace", "istio-system");
    assert_non_null(ic);
    if (directive)
        json_object_set_new(json_object_get(ic, "spec"), "podBounceDirective",
                            json_pack("{s:s, s:s}", "name", directive, "namespace", "meshcert"));
    create(mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "meshcert", ic);
}

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--cluster", "east", NULL};
    memset(&sp, 0, sizeof(sp));
    agent_pid = 0;
    if (server_process_start(&sp, args) != 0)
        return -1;
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/east.yaml", sp.dir);
    mc_kube_config *config = NULL;
    mc_err err = {0};
    if (mc_kube_config_load_file(kubeconfig, NULL, &config, &err) != MC_OK ||
        mc_kube_client_new(config, NULL, &client, &err) != MC_OK) {
        /* cmocka runs no teardown after a failed setup */
        mc_kube_config_free(config);
        server_process_stop(&sp);
        return -1;
    }
    mc_kube_config_free(config);
    return 0;
}

/* Runs after every test, also a failed one: the agent is killed and reaped
 * before the server goes. */
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

/* Signs the CSR of request (JSON) with root for ttl_seconds (0: 365 days)
 * and writes the FINISHED answer; *signed_pem (optional) receives the
 * certificate issued. */
static void answer_request(const test_root *root, json_t *request, int64_t ttl_seconds,
                           char **signed_pem)
{
    mc_err err = {0};
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
    params.ttl_seconds = ttl_seconds;
    assert_int_equal(mc_pki_signer_issue(root->signer, csr, &params, &cert, &err), MC_OK);
    assert_int_equal(mc_pki_cert_to_pem(cert, &cert_pem, &len, &err), MC_OK);
    assert_int_equal(mc_base64_encode(cert_pem, len, &cert_b64, &len), 0);
    assert_int_equal(mc_base64_encode(root->pem, strlen(root->pem), &root_b64, &len), 0);
    json_t *generation = json_object_get(json_object_get(request, "metadata"), "generation");
    json_object_set_new(request, "status",
                        json_pack("{s:s, s:s, s:s, s:O}", "state", "FINISHED", "signedCertificate",
                                  cert_b64, "signingRootCa", root_b64, "observedGeneration",
                                  generation ? generation : json_integer(1)));
    if (mc_kube_update_status(client, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert",
                              request, NULL, &err) != MC_OK)
        fail_msg("answer the request: %s", err.msg);
    free(root_b64);
    free(cert_b64);
    if (signed_pem)
        *signed_pem = cert_pem;
    else
        free(cert_pem);
    mc_pki_cert_free(cert);
    mc_pki_csr_free(csr);
    free(csr_pem);
}

/* Waits for the agent's CertificateRequest meshcert/name, signs its CSR and
 * answers FINISHED; *signed_pem (optional) receives the certificate issued. */
static void play_issuer_for(const test_root *root, const char *name, char **signed_pem)
{
    mc_err err = {0};
    json_t *request = NULL;
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        if (mc_kube_get(client, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert", name,
                        &request, &err) == MC_OK &&
            str_at(request, "spec", "certificateSigningRequest"))
            break;
        json_decref(request);
        request = NULL;
        sleep_ms(100);
    }
    if (!request)
        fail_msg("no certificaterequest meshcert/%s within %d ms", name, WAIT_MS);
    answer_request(root, request, 0, signed_pem);
    json_decref(request);
}

static void play_issuer(const test_root *root)
{
    play_issuer_for(root, "mesh-east", NULL);
}

/* status.state and status.error of IssuedCertificate meshcert/name ("" when
 * unset or absent). */
static void ic_status(const char *name, char *state, size_t state_size, char *error,
                      size_t error_size)
{
    json_t *ic = NULL;
    mc_err err = {0};
    state[0] = '\0';
    if (error)
        error[0] = '\0';
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "meshcert", name, &ic,
                    &err) == MC_OK) {
        const char *s = str_at(ic, "status", "state");
        const char *e = str_at(ic, "status", "error");
        mc_strlcpy(state, s ? s : "", state_size);
        if (error)
            mc_strlcpy(error, e ? e : "", error_size);
    }
    json_decref(ic);
}

static const char *ic_state_of(const char *name)
{
    static char state[32];
    ic_status(name, state, sizeof(state), NULL, 0);
    return state;
}

static const char *ic_state(void)
{
    return ic_state_of("mesh-east");
}

/* Polls until IssuedCertificate meshcert/name is in want; fails with the last
 * state and error otherwise. *saw_failed (optional) is set when FAILED was
 * seen on the way. */
static void wait_ic_state(const char *name, const char *want, int *saw_failed)
{
    char state[32] = "", error[1024] = "";
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        ic_status(name, state, sizeof(state), error, sizeof(error));
        if (saw_failed && strcmp(state, "FAILED") == 0)
            *saw_failed = 1;
        if (strcmp(state, want) == 0)
            return;
        if (now_ms() >= deadline)
            fail_msg("issuedcertificate meshcert/%s: state \"%s\" (error \"%s\"), want %s within "
                     "%d ms",
                     name, state, error, want, WAIT_MS);
        sleep_ms(20);
    }
}

static int pod_exists(const char *name)
{
    json_t *pod = NULL;
    mc_err err = {0};
    int rc =
        mc_kube_get(client, mc_kube_resource_of(MC_API_PODS), "istio-system", name, &pod, &err);
    int alive = rc == MC_OK && !str_at(pod, "metadata", "deletionTimestamp");
    json_decref(pod);
    return alive;
}

/* The directive's status.bouncedPods (new reference). */
static json_t *bounced_pods(void)
{
    json_t *pbd = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES),
                                 "meshcert", "mesh-east", &pbd, &err),
                     MC_OK);
    json_t *list = json_object_get(json_object_get(pbd, "status"), "bouncedPods");
    json_t *copy = list ? json_incref(list) : json_array();
    json_decref(pbd);
    return copy;
}

/* Secret ns/name as JSON (new reference); fails when absent. */
static json_t *secret_get(const char *ns, const char *name)
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, name, &secret, &err) != MC_OK)
        fail_msg("get secret %s/%s: %s", ns, name, err.msg);
    return secret;
}

/* data[key] of a Secret (JSON), decoded into a new NUL-terminated string;
 * fails when absent. */
static char *secret_value(const json_t *secret, const char *key)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    if (!b64)
        fail_msg("secret %s has no data key %s", str_at(secret, "metadata", "name"), key);
    unsigned char *raw = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode(b64, strlen(b64), &raw, &len, &err), MC_OK);
    char *text = mc_strndup((const char *)raw, len);
    free(raw);
    assert_non_null(text);
    return text;
}

static const char *label_of(const json_t *obj, const char *label)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), label));
}

/* Asserts that the Secret's data holds exactly the n keys given. */
static void assert_data_keys(const json_t *secret, const char *const *keys, size_t n)
{
    const json_t *data = json_object_get(secret, "data");
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(data, keys[i]))
            fail_msg("secret %s: data key %s missing", str_at(secret, "metadata", "name"), keys[i]);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)data, key, value)
    {
        int expected = 0;
        for (size_t i = 0; i < n; i++)
            expected |= strcmp(key, keys[i]) == 0;
        if (!expected)
            fail_msg("secret %s: unexpected data key %s", str_at(secret, "metadata", "name"), key);
    }
}

static const char *const istio_files[4] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem",
                                           "root-cert.pem"};

/* The four Istio files of an output Secret (JSON) into *bundle (clear it
 * with mc_pki_bundle_clear); -1 when one is missing. */
static int output_bundle(const json_t *secret_json, mc_pki_bundle *bundle)
{
    mc_api_secret *secret = NULL;
    char *values[4] = {0};
    int rc = mc_api_secret_decode((json_t *)secret_json, &secret, NULL) == MC_OK ? 0 : -1;
    for (int i = 0; i < 4 && rc == 0; i++) {
        const mc_api_bytes_entry *e = mc_api_bytes_map_get(&secret->data, istio_files[i]);
        values[i] = e ? mc_strndup((const char *)e->data, e->len) : NULL;
        rc = values[i] ? 0 : -1;
    }
    *bundle = (mc_pki_bundle){values[0], values[1], values[2], values[3]};
    if (rc != 0)
        mc_pki_bundle_clear(bundle);
    mc_api_secret_free(secret);
    return rc;
}

/* Checks an Istio-layout output Secret istio-system/name written by the agent
 * for root: the agent label, exactly the four files, and the bundle verifies. */
static void check_output_named(const test_root *root, const char *name)
{
    json_t *secret_json = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), "istio-system", name,
                                 &secret_json, &err),
                     MC_OK);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(secret_json, "metadata"), "labels"),
                            "agent.certificates.smh.solo.io")),
                        "meshcert");
    assert_data_keys(secret_json, istio_files, 4);
    mc_pki_bundle bundle;
    assert_int_equal(output_bundle(secret_json, &bundle), 0);
    json_decref(secret_json);
    if (mc_pki_bundle_verify(&bundle, root->pem, "test root", 0, NULL, &err) != MC_OK)
        fail_msg("%s does not verify: %s", name, err.msg);
    mc_pki_bundle_clear(&bundle);
}

static void check_output(const test_root *root)
{
    check_output_named(root, "cacerts");
}

/* Runs `openssl args...` (NULL-terminated) with stdout and stderr into a
 * file of the server's data directory; returns the exit status (-1 when it
 * did not exit) and the output in *out (caller frees). */
static int run_openssl(char **out, ...)
{
    char *argv[24] = {"openssl"};
    size_t argc = 1;
    va_list ap;
    va_start(ap, out);
    for (char *arg; argc < 23 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s/openssl.out", sp.dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "openssl", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    int status = 0;
    waitpid(pid, &status, 0);
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_file_read(path, 1 << 20, out, &len, &err), MC_OK);
    fprintf(stderr, "$ openssl %s -> %d\n%s", argv[1], WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            *out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs the real kubectl against the test cluster (KUBECONFIG, HOME for its
 * caches in the server's directory, no stdin); *out receives stdout and
 * stderr. -1 when kubectl cannot be started. */
static int run_kubectl(char **out, ...)
{
    char *argv[24] = {"kubectl"};
    size_t argc = 1;
    va_list ap;
    va_start(ap, out);
    for (char *arg; argc < 23 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    setenv("KUBECONFIG", kubeconfig, 1);
    setenv("HOME", sp.dir, 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/kubectl.out", sp.dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "kubectl", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    *out = NULL;
    if (rc != 0)
        return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_file_read(path, 1 << 20, out, &len, &err), MC_OK);
    fprintf(stderr, "$ kubectl %s %s -> %d\n%s", argv[1], argc > 2 ? argv[2] : "",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, *out);
    return WIFEXITED(status) && WEXITSTATUS(status) != 127 ? WEXITSTATUS(status) : -1;
}

/* Whether kubectl can run; with CI set its absence fails the test. */
static int kubectl_present(void)
{
    char *out = NULL;
    int rc = run_kubectl(&out, "version", "--client", NULL);
    free(out);
    if (rc == 0)
        return 1;
    if (getenv("CI"))
        fail_msg("kubectl is not installed; CI is set, so that is a failure");
    fprintf(stderr, "SKIPPED: kubectl not installed: the kubectl wait checks are left out\n");
    return 0;
}

/* The Ready condition of IssuedCertificate meshcert/name (new reference) or NULL. */
static json_t *ready_condition(const char *name)
{
    json_t *ic = NULL, *found = NULL;
    mc_err err = {0};
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "meshcert", name, &ic,
                    &err) != MC_OK)
        return NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(ic, "status"), "conditions"), i, c)
    {
        if (!found && json_is_string(json_object_get(c, "type")) &&
            strcmp(json_string_value(json_object_get(c, "type")), "Ready") == 0)
            found = json_incref(c);
    }
    json_decref(ic);
    return found;
}

static void write_file(const char *dir, const char *name, const char *text, char *path,
                       size_t path_size)
{
    mc_err err = {0};
    snprintf(path, path_size, "%s/%s", dir, name);
    if (mc_file_write_atomic(path, text, strlen(text), 0600, &err) != MC_OK)
        fail_msg("write %s: %s", path, err.msg);
}

static void test_agent_issues_and_bounces_once(void **state)
{
    (void)state;
    prepare_cluster();
    create_pod("istiod-1");
    create_pod("istiod-2");
    start_agent();
    create(mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), "meshcert",
           json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:{s:s}}]}}", "apiVersion",
                     "certificates.smh.solo.io/v1alpha2", "kind", "PodBounceDirective", "metadata",
                     "name", "mesh-east", "namespace", "meshcert", "spec", "podsToBounce",
                     "namespace", "istio-system", "labels", "app", "istiod"));
    create_ic("mesh-east", "cacerts", "mesh-east");

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

    stop_agent_cleanly();
    root_free(&root);
}

/* --output-format tls: a kubernetes.io/tls Secret with exactly tls.crt (the
 * intermediate the issuer signed, chaining to the root), tls.key (its key,
 * the agent's key Secret's key) and ca.crt (the root), checked in-process and
 * with the openssl CLI. */
static void test_agent_tls_layout(void **state)
{
    (void)state;
    mc_err err = {0};
    prepare_cluster();
    start_agent_with("--output-format", "tls", NULL);
    create_ic("mesh-tls", "cacerts-tls", NULL);
    test_root root = {0};
    root_make(&root);
    char *signed_pem = NULL;
    play_issuer_for(&root, "mesh-tls", &signed_pem);
    wait_ic_state("mesh-tls", "FINISHED", NULL);
    char state_now[32], error[1024];
    ic_status("mesh-tls", state_now, sizeof(state_now), error, sizeof(error));
    assert_string_equal(error, "");

    json_t *secret = secret_get("istio-system", "cacerts-tls");
    assert_string_equal(json_string_value(json_object_get(secret, "type")), "kubernetes.io/tls");
    assert_string_equal(label_of(secret, MC_AGENT_LABEL), "meshcert");
    static const char *const tls_keys[] = {"tls.crt", "tls.key", "ca.crt"};
    assert_data_keys(secret, tls_keys, 3);
    char *tls_crt = secret_value(secret, "tls.crt");
    char *tls_key = secret_value(secret, "tls.key");
    char *ca_crt = secret_value(secret, "ca.crt");
    json_decref(secret);

    /* in-process: tls.crt starts with the intermediate signed above and
     * chains to ca.crt, which is the root; tls.key is its key, the one the
     * agent generated and keeps in its key Secret */
    mc_pki_cert **chain = NULL, **roots = NULL, *issued = NULL;
    size_t chain_count = 0, root_count = 0;
    mc_pki_key *key = NULL;
    assert_int_equal(
        mc_pki_cert_list_from_pem(tls_crt, strlen(tls_crt), "tls.crt", &chain, &chain_count, &err),
        MC_OK);
    assert_int_equal(mc_pki_cert_from_pem(signed_pem, strlen(signed_pem), "signed", &issued, &err),
                     MC_OK);
    assert_true(mc_pki_cert_equal(chain[0], issued));
    assert_true(mc_pki_cert_is_ca(chain[0]));
    assert_int_equal(
        mc_pki_cert_list_from_pem(ca_crt, strlen(ca_crt), "ca.crt", &roots, &root_count, &err),
        MC_OK);
    assert_int_equal(root_count, 1);
    assert_true(mc_pki_cert_equal(roots[0], root.cert));
    if (mc_pki_verify_chain(chain[0], chain + 1, chain_count - 1, roots, root_count, 0, &err))
        fail_msg("tls.crt does not chain to ca.crt: %s", err.msg);
    assert_int_equal(mc_pki_key_from_pem(tls_key, strlen(tls_key), "tls.key", &key, &err), MC_OK);
    if (mc_pki_cert_matches_key(chain[0], key, &err))
        fail_msg("tls.key: %s", err.msg);
    json_t *key_secret = secret_get("meshcert", "mesh-tls");
    char *agent_key = secret_value(key_secret, MC_AGENT_KEY_DATA);
    assert_string_equal(tls_key, agent_key);
    mc_secure_free_str(agent_key);
    json_decref(key_secret);
    mc_pki_bundle bundle = {tls_crt, tls_key, NULL, ca_crt};
    if (mc_pki_bundle_verify(&bundle, root.pem, "test root", 0, NULL, &err) != MC_OK)
        fail_msg("tls bundle does not verify: %s", err.msg);

    /* the openssl CLI: the chain as Istio's docs check it, and the key match */
    char dir[400], crt_path[512], key_path[512], ca_path[512], root_path[512];
    char *out = NULL, *cert_pub = NULL, *key_pub = NULL, *ca_fp = NULL, *root_fp = NULL;
    snprintf(dir, sizeof(dir), "%s/tls-out", sp.dir);
    assert_int_equal(mc_file_mkdir_p(dir, 0700, &err), MC_OK);
    write_file(dir, "tls.crt", tls_crt, crt_path, sizeof(crt_path));
    write_file(dir, "tls.key", tls_key, key_path, sizeof(key_path));
    write_file(dir, "ca.crt", ca_crt, ca_path, sizeof(ca_path));
    write_file(dir, "test-root.pem", root.pem, root_path, sizeof(root_path));
    assert_int_equal(
        run_openssl(&out, "verify", "-CAfile", ca_path, "-untrusted", crt_path, crt_path, NULL), 0);
    assert_non_null(strstr(out, "tls.crt: OK"));
    free(out);
    assert_int_equal(run_openssl(&cert_pub, "x509", "-in", crt_path, "-noout", "-pubkey", NULL), 0);
    assert_int_equal(run_openssl(&key_pub, "pkey", "-in", key_path, "-pubout", NULL), 0);
    assert_non_null(strstr(cert_pub, "-----BEGIN PUBLIC KEY-----"));
    assert_string_equal(cert_pub, key_pub);
    assert_int_equal(
        run_openssl(&out, "x509", "-in", crt_path, "-noout", "-ext", "basicConstraints", NULL), 0);
    assert_non_null(strstr(out, "CA:TRUE"));
    free(out);
    assert_int_equal(
        run_openssl(&ca_fp, "x509", "-in", ca_path, "-noout", "-fingerprint", "-sha256", NULL), 0);
    assert_int_equal(
        run_openssl(&root_fp, "x509", "-in", root_path, "-noout", "-fingerprint", "-sha256", NULL),
        0);
    assert_non_null(strstr(ca_fp, "Fingerprint="));
    assert_string_equal(ca_fp, root_fp);

    stop_agent_cleanly();
    free(ca_fp);
    free(root_fp);
    free(cert_pub);
    free(key_pub);
    mc_pki_key_free(key);
    mc_pki_cert_free(issued);
    mc_pki_cert_list_free(chain, chain_count);
    mc_pki_cert_list_free(roots, root_count);
    free(tls_crt);
    mc_secure_free_str(tls_key);
    free(ca_crt);
    free(signed_pem);
    root_free(&root);
}

#define FOREIGN_TEXT "someone else's certificate"
/* How long the adoption test leaves the issuance FAILED before labelling the
 * Secret, and how soon after the label the agent must have made its request
 * (a backoff retry alone would come about 4 s after the label). */
#define FAILED_HOLD_MS 6000
#define REACT_MS       2000

/* An Opaque Secret istio-system/name that meshcert did not write (no agent
 * label), as `kubectl create secret generic` makes one. */
static void create_foreign_secret(const char *name)
{
    char *b64 = NULL;
    assert_int_equal(mc_base64_encode(FOREIGN_TEXT, strlen(FOREIGN_TEXT), &b64, NULL), 0);
    create(mc_kube_resource_of(MC_API_SECRETS), "istio-system",
           json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:{s:s, s:s}}", "apiVersion", "v1",
                     "kind", "Secret", "metadata", "name", name, "namespace", "istio-system",
                     "labels", "app", "someone-else", "type", "Opaque", "data", "ca-cert.pem", b64,
                     "foreign.txt", b64));
    free(b64);
}

static char *resource_version(const json_t *obj)
{
    const char *rv = str_at(obj, "metadata", "resourceVersion");
    assert_non_null(rv);
    char *copy = mc_strdup(rv);
    assert_non_null(copy);
    return copy;
}

/* The foreign Secret as created: same resourceVersion, same data. */
static void assert_foreign_untouched(const char *name, const char *rv)
{
    json_t *secret = secret_get("istio-system", name);
    assert_string_equal(str_at(secret, "metadata", "resourceVersion"), rv);
    assert_null(label_of(secret, MC_AGENT_LABEL));
    static const char *const keys[] = {"ca-cert.pem", "foreign.txt"};
    assert_data_keys(secret, keys, 2);
    char *value = secret_value(secret, "ca-cert.pem");
    assert_string_equal(value, FOREIGN_TEXT);
    free(value);
    json_decref(secret);
}

static int object_exists(const mc_kube_resource *res, const char *ns, const char *name)
{
    json_t *obj = NULL;
    mc_err err = {0};
    int rc = mc_kube_get(client, res, ns, name, &obj, &err);
    json_decref(obj);
    return rc == MC_OK;
}

/* A foreign output Secret: FAILED with how to adopt it, nothing made, the
 * Secret untouched; once the user labels it adopt=true the agent (woken by
 * the Secret's watch event) issues and overwrites it, and reaches FINISHED. */
static void test_agent_adopts_labelled_secret(void **state)
{
    (void)state;
    mc_err err = {0};
    prepare_cluster();
    create_foreign_secret("cacerts");
    json_t *foreign = secret_get("istio-system", "cacerts");
    char *rv = resource_version(foreign);
    json_decref(foreign);
    start_agent();
    create_ic("mesh-east", "cacerts", NULL);

    wait_ic_state("mesh-east", "FAILED", NULL);
    char state_now[32], error[1024];
    ic_status("mesh-east", state_now, sizeof(state_now), error, sizeof(error));
    assert_non_null(strstr(error, "istio-system/cacerts"));
    assert_non_null(strstr(error, "not written by meshcert"));
    assert_non_null(strstr(error, MC_AGENT_ADOPT_LABEL "=true"));
    assert_non_null(strstr(error, "--adopt-existing-secret"));
    /* FAILED_HOLD_MS later: still FAILED, still untouched, no key and no
     * request made. By then the FAILED retries' backoff (5 ms doubling) has
     * grown to seconds, so a prompt recovery below comes from the Secret's
     * watch event, not from a retry that happens to come by. */
    sleep_ms(FAILED_HOLD_MS);
    assert_string_equal(ic_state_of("mesh-east"), "FAILED");
    assert_foreign_untouched("cacerts", rv);
    assert_false(object_exists(mc_kube_resource_of(MC_API_SECRETS), "meshcert", "mesh-east"));
    assert_false(
        object_exists(mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert", "mesh-east"));

    /* the user consents; the agent goes to work at once */
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", MC_AGENT_ADOPT_LABEL, "true");
    int64_t labelled = now_ms();
    if (mc_kube_patch(client, mc_kube_resource_of(MC_API_SECRETS), "istio-system", "cacerts",
                      MC_KUBE_PATCH_MERGE, patch, 0, NULL, &err) != MC_OK)
        fail_msg("label the secret: %s", err.msg);
    json_decref(patch);
    while (
        !object_exists(mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert", "mesh-east") &&
        now_ms() - labelled < WAIT_MS)
        sleep_ms(10);
    int64_t reacted = now_ms() - labelled;
    if (!object_exists(mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert", "mesh-east"))
        fail_msg("no certificaterequest within %d ms of the adopt label (issuedcertificate state "
                 "%s)",
                 WAIT_MS, ic_state_of("mesh-east"));
    if (reacted > REACT_MS)
        fail_msg("the agent made its request %lld ms after the adopt label (want <= %d ms: is "
                 "the output Secret's watch event reconciling the issuedcertificate?)",
                 (long long)reacted, REACT_MS);

    test_root root = {0};
    root_make(&root);
    play_issuer_for(&root, "mesh-east", NULL);
    wait_ic_state("mesh-east", "FINISHED", NULL);
    ic_status("mesh-east", state_now, sizeof(state_now), error, sizeof(error));
    assert_string_equal(error, "");
    check_output_named(&root, "cacerts");
    json_t *adopted = secret_get("istio-system", "cacerts");
    assert_string_not_equal(str_at(adopted, "metadata", "resourceVersion"), rv);
    json_decref(adopted);

    stop_agent_cleanly();
    root_free(&root);
    free(rv);
}

/* --adopt-existing-secret: a foreign Secret is overwritten without FAILED. */
static void test_agent_adopt_existing_flag(void **state)
{
    (void)state;
    prepare_cluster();
    create_foreign_secret("cacerts");
    json_t *foreign = secret_get("istio-system", "cacerts");
    char *rv = resource_version(foreign);
    json_decref(foreign);
    start_agent_with("--adopt-existing-secret", NULL);
    create_ic("mesh-east", "cacerts", NULL);

    test_root root = {0};
    root_make(&root);
    play_issuer_for(&root, "mesh-east", NULL);
    int saw_failed = 0;
    wait_ic_state("mesh-east", "FINISHED", &saw_failed);
    assert_false(saw_failed);
    char state_now[32], error[1024];
    ic_status("mesh-east", state_now, sizeof(state_now), error, sizeof(error));
    assert_string_equal(error, "");
    check_output_named(&root, "cacerts");
    json_t *adopted = secret_get("istio-system", "cacerts");
    assert_string_not_equal(str_at(adopted, "metadata", "resourceVersion"), rv);
    json_decref(adopted);

    stop_agent_cleanly();
    root_free(&root);
    free(rv);
}

/* PodBounceDirective meshcert/name selecting the istiod pods. */
static void create_directive(const char *name)
{
    create(mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), "meshcert",
           json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:{s:s}}]}}", "apiVersion",
                     "certificates.smh.solo.io/v1alpha2", "kind", "PodBounceDirective", "metadata",
                     "name", name, "namespace", "meshcert", "spec", "podsToBounce", "namespace",
                     "istio-system", "labels", "app", "istiod"));
}

/* How often Secret ns/name changes (resourceVersion) within ms. */
static int count_secret_writes(const char *ns, const char *name, int64_t ms)
{
    char last[64] = "";
    int changes = 0;
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        json_t *secret = NULL;
        mc_err err = {0};
        const char *rv = NULL;
        if (mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, name, &secret, &err) ==
            MC_OK)
            rv = str_at(secret, "metadata", "resourceVersion");
        if (rv && last[0] && strcmp(rv, last) != 0)
            changes++;
        if (rv)
            mc_strlcpy(last, rv, sizeof(last));
        json_decref(secret);
        sleep_ms(10);
    }
    return changes;
}

/* How long the Secret is watched for writes; MC_OWNER_HOLD_MS overrides it
 * (30000 measures the write rate issue 11 reported). */
static int64_t owner_hold_ms(void)
{
    const char *v = getenv("MC_OWNER_HOLD_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    return ms > 0 ? ms : 3000;
}
#define OWNER_HOLD_MS owner_hold_ms()

/* Two IssuedCertificates naming one output Secret (issue 11: they used to
 * overwrite each other for ever, bouncing the pods on every flip): the first
 * (mesh-a: same second, smaller name, or older) issues and bounces once; the
 * second is FAILED naming it, makes no key and no request, bounces nothing,
 * and the Secret is not written again. Once mesh-a is deleted, mesh-b takes
 * the Secret over. */
static void test_agent_one_owner_per_output_secret(void **state)
{
    (void)state;
    mc_err err = {0};
    prepare_cluster();
    create_pod("istiod-1");
    start_agent();
    create_directive("mesh-a");
    create_directive("mesh-b");
    create_ic("mesh-a", "cacerts", "mesh-a");
    create_ic("mesh-b", "cacerts", "mesh-b");

    test_root root = {0};
    root_make(&root);
    play_issuer_for(&root, "mesh-a", NULL);
    wait_ic_state("mesh-a", "FINISHED", NULL);
    /* the second one: FAILED naming the first; answered if it asks anyway
     * (as before issue 11), which the test then sees as writes below */
    char state_b[32] = "", error_b[1024] = "";
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        ic_status("mesh-b", state_b, sizeof(state_b), error_b, sizeof(error_b));
        if (strcmp(state_b, "FAILED") == 0 && strstr(error_b, "meshcert/mesh-a"))
            break;
        if (now_ms() >= deadline)
            fail_msg("issuedcertificate meshcert/mesh-b: state \"%s\" (error \"%s\"), want FAILED "
                     "naming meshcert/mesh-a (secret written %d times in %lld ms)",
                     state_b, error_b,
                     count_secret_writes("istio-system", "cacerts", OWNER_HOLD_MS),
                     (long long)OWNER_HOLD_MS);
        json_t *request = NULL;
        if (mc_kube_get(client, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert",
                        "mesh-b", &request, &err) == MC_OK &&
            !str_at(request, "status", "state"))
            play_issuer_for(&root, "mesh-b", NULL);
        json_decref(request);
        sleep_ms(50);
    }
    assert_non_null(strstr(error_b, "output secret istio-system/cacerts"));
    assert_false(object_exists(mc_kube_resource_of(MC_API_SECRETS), "meshcert", "mesh-b"));
    assert_false(
        object_exists(mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert", "mesh-b"));

    int writes = count_secret_writes("istio-system", "cacerts", OWNER_HOLD_MS);
    if (writes != 0)
        fail_msg("secret istio-system/cacerts written %d times in %lld ms after the conflict was "
                 "decided",
                 writes, (long long)OWNER_HOLD_MS);
    json_t *secret = secret_get("istio-system", "cacerts");
    json_t *annotations = json_object_get(json_object_get(secret, "metadata"), "annotations");
    assert_string_equal(json_string_value(json_object_get(annotations, MC_AGENT_OWNER_ANNOTATION)),
                        "meshcert/mesh-a");
    json_decref(secret);
    check_output_named(&root, "cacerts");
    assert_string_equal(ic_state_of("mesh-a"), "FINISHED");
    assert_string_equal(ic_state_of("mesh-b"), "FAILED");
    /* status.conditions as the agent wrote them: Ready True at FINISHED, False
     * Failed with the error at FAILED; what kubectl wait reads */
    json_t *ready = ready_condition("mesh-a");
    assert_non_null(ready);
    assert_string_equal(json_string_value(json_object_get(ready, "status")), "True");
    assert_string_equal(json_string_value(json_object_get(ready, "reason")), "Finished");
    assert_int_equal(json_integer_value(json_object_get(ready, "observedGeneration")), 1);
    assert_non_null(json_string_value(json_object_get(ready, "lastTransitionTime")));
    json_decref(ready);
    json_t *ic_a = NULL;
    assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                 "meshcert", "mesh-a", &ic_a, &err),
                     MC_OK);
    assert_non_null(str_at(ic_a, "status", "notAfter")); /* status.notAfter */
    json_decref(ic_a);
    ready = ready_condition("mesh-b");
    assert_non_null(ready);
    assert_string_equal(json_string_value(json_object_get(ready, "status")), "False");
    assert_string_equal(json_string_value(json_object_get(ready, "reason")), "Failed");
    assert_string_equal(json_string_value(json_object_get(ready, "message")), error_b);
    json_decref(ready);
    if (kubectl_present()) {
        char *out = NULL;
        assert_int_equal(run_kubectl(&out, "-n", "meshcert", "wait", "--for=condition=Ready",
                                     "issuedcertificate/mesh-a", "--timeout=20s", NULL),
                         0);
        assert_non_null(strstr(out, "condition met"));
        free(out);
        assert_int_equal(run_kubectl(&out, "-n", "meshcert", "wait", "--for=condition=Ready=False",
                                     "issuedcertificate/mesh-b", "--timeout=20s", NULL),
                         0);
        free(out);
        assert_int_not_equal(run_kubectl(&out, "-n", "meshcert", "wait", "--for=condition=Ready",
                                         "issuedcertificate/mesh-b", "--timeout=1s", NULL),
                             0);
        free(out);
        /* -o wide shows the expiry the agent recorded */
        assert_int_equal(
            run_kubectl(&out, "-n", "meshcert", "get", "ic", "mesh-a", "-o", "wide", NULL), 0);
        assert_non_null(strstr(out, "NOT-AFTER"));
        assert_non_null(strstr(out, "cacerts"));
        free(out);
    }
    /* bounced once, by mesh-a; mesh-b recorded nothing */
    assert_false(pod_exists("istiod-1"));
    json_t *pbd_b = NULL;
    assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES),
                                 "meshcert", "mesh-b", &pbd_b, &err),
                     MC_OK);
    assert_null(json_object_get(json_object_get(pbd_b, "status"), "bouncedPods"));
    json_decref(pbd_b);

    /* the first goes away: the second takes over */
    if (mc_kube_delete(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "meshcert",
                       "mesh-a", NULL, &err) != MC_OK)
        fail_msg("delete mesh-a: %s", err.msg);
    play_issuer_for(&root, "mesh-b", NULL);
    wait_ic_state("mesh-b", "FINISHED", NULL);
    secret = secret_get("istio-system", "cacerts");
    annotations = json_object_get(json_object_get(secret, "metadata"), "annotations");
    assert_string_equal(json_string_value(json_object_get(annotations, MC_AGENT_OWNER_ANNOTATION)),
                        "meshcert/mesh-b");
    json_decref(secret);
    check_output_named(&root, "cacerts");

    stop_agent_cleanly();
    root_free(&root);
}

/* ---- lifetime: renewal before expiry and the rotate token ----------------- */

#define RENEW_TTL_S    60 /* what the test, as the issuer, signs for (spec.duration 1m) */
#define RENEW_BEFORE_S 20

/* What the polls of the renewal test saw. */
typedef struct renewal_watch {
    int polls;
    int key_changes;   /* times the output's ca-key.pem changed */
    char *ca_key;      /* the output's current ca-key.pem (wiped on free) */
    time_t changed_at; /* wall clock of the last change */
    int ready_checked; /* polls that checked Ready (after the first FINISHED) */
    int check_ready;   /* check that Ready is True */
} renewal_watch;

/* status.<field> of IssuedCertificate meshcert/mesh-east, copied ("" when
 * unset). */
static char *ic_status_field(const char *field)
{
    json_t *ic = NULL;
    mc_err err = {0};
    char *value = NULL;
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "meshcert",
                    "mesh-east", &ic, &err) == MC_OK)
        value = mc_strdup(str_at(ic, "status", field) ? str_at(ic, "status", field) : "");
    json_decref(ic);
    return value ? value : mc_strdup("");
}

static int64_t ic_status_time(const char *field)
{
    char *text = ic_status_field(field);
    int64_t t = 0;
    if (mc_time_parse(text, &t, NULL, NULL) != MC_OK)
        fail_msg("status.%s \"%s\" is not a time", field, text);
    free(text);
    return t;
}

/* One step of about 100 ms: the test answers an unanswered request of the
 * agent (signing for RENEW_TTL_S), then checks the output Secret: once
 * written it must always be there, its ca-key matching ca-cert, its chain
 * verifying against the root, valid now; and Ready True when asked. */
static void renewal_poll(const test_root *root, renewal_watch *w)
{
    mc_err err = {0};
    json_t *request = NULL, *secret = NULL;
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), "meshcert",
                    "mesh-east", &request, &err) == MC_OK &&
        str_at(request, "spec", "certificateSigningRequest") && !str_at(request, "status", "state"))
        answer_request(root, request, RENEW_TTL_S, NULL);
    json_decref(request);
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), "istio-system", "cacerts", &secret,
                    &err) != MC_OK) {
        if (w->ca_key)
            fail_msg("poll %d: output secret istio-system/cacerts missing: %s", w->polls, err.msg);
    } else {
        mc_pki_bundle bundle;
        if (output_bundle(secret, &bundle) != 0)
            fail_msg("poll %d: output secret lacks a file", w->polls);
        if (mc_pki_bundle_verify(&bundle, root->pem, "test root", 0, NULL, &err) != MC_OK)
            fail_msg("poll %d: output does not verify: %s", w->polls, err.msg);
        if (!w->ca_key || strcmp(w->ca_key, bundle.ca_key) != 0) {
            w->key_changes += w->ca_key ? 1 : 0;
            mc_secure_free_str(w->ca_key);
            w->ca_key = mc_strdup(bundle.ca_key);
            w->changed_at = time(NULL);
        }
        mc_pki_bundle_clear(&bundle);
    }
    json_decref(secret);
    if (w->check_ready) {
        json_t *ready = ready_condition("mesh-east");
        const char *status = json_string_value(json_object_get(ready, "status"));
        if (!status || strcmp(status, "True") != 0)
            fail_msg("poll %d: Ready is %s (reason %s) during a renewal", w->polls,
                     status ? status : "absent",
                     json_string_value(json_object_get(ready, "reason")));
        json_decref(ready);
        w->ready_checked++;
    }
    w->polls++;
    sleep_ms(100);
}

/* Polls until IssuedCertificate mesh-east is FINISHED with status.rotation
 * equal to rotation (NULL: any) and the output key changed changes times. */
static void renewal_wait(const test_root *root, renewal_watch *w, const char *rotation, int changes,
                         int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        renewal_poll(root, w);
        char *rot = ic_status_field("rotation");
        int done = strcmp(ic_state(), "FINISHED") == 0 && w->key_changes >= changes &&
                   (!rotation || strcmp(rot, rotation) == 0);
        free(rot);
        if (done)
            return;
        if (now_ms() > deadline)
            fail_msg("state %s, %d key change(s) (want %d) after %lld ms", ic_state(),
                     w->key_changes, changes, (long long)timeout_ms);
    }
}

/* spec.duration 1m, renewBefore 20s: the agent renews by itself at its
 * renewal time (before notAfter - renewBefore) with a new key, and each of
 * three rotate tokens makes exactly one more new key, with the agent
 * SIGKILLed at a different point of each rotation. Polled every 100 ms throughout: the output
 * Secret is never missing, mismatched or expired, Ready never False. */
static void test_agent_renews_before_expiry_and_rotates_once(void **state)
{
    (void)state;
    test_root root;
    renewal_watch w = {0};
    mc_err err = {0};
    prepare_cluster();
    root_make(&root);
    create_ic("mesh-east", "cacerts", NULL);
    json_t *patch = json_pack("{s:{s:s, s:s}}", "spec", "duration", "1m", "renewBefore", "20s");
    assert_int_equal(mc_kube_patch(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                   "meshcert", "mesh-east", MC_KUBE_PATCH_MERGE, patch, 0, NULL,
                                   &err),
                     MC_OK);
    json_decref(patch);
    start_agent();
    renewal_wait(&root, &w, NULL, 0, WAIT_MS);
    int64_t not_before = ic_status_time("notBefore"), not_after = ic_status_time("notAfter");
    int64_t renewal = ic_status_time("renewalTime");
    printf("first certificate: lifetime %lld s, renewal at notAfter - %lld s\n",
           (long long)(not_after - not_before), (long long)(not_after - renewal));
    /* the issuer back-dates notBefore 5 minutes; 60 s left from now */
    assert_int_equal(not_after - not_before, RENEW_TTL_S + MC_PKI_BACKDATE_SECONDS);
    assert_true(not_after - (int64_t)time(NULL) > RENEW_TTL_S - 10);
    assert_true(renewal <= not_after - RENEW_BEFORE_S);
    assert_true(renewal > not_after - RENEW_BEFORE_S - RENEW_BEFORE_S / 5);

    /* the renewal, with no event but the clock */
    w.check_ready = 1;
    renewal_wait(&root, &w, NULL, 1, (not_after - (int64_t)time(NULL)) * 1000);
    printf("renewed (new key in the output) at notAfter - %lld s after %d polls\n",
           (long long)(not_after - (int64_t)w.changed_at), w.polls);
    assert_true((int64_t)w.changed_at >= renewal - 1);
    assert_true((int64_t)w.changed_at <= not_after - RENEW_BEFORE_S + 3);
    assert_true(ic_status_time("notAfter") > not_after);
    assert_true(ic_status_time("renewalTime") > renewal);

    /* rotate tokens: one new key each, the agent SIGKILLed once the start
     * is in the status, then 5 ms and 40 ms after the token was set */
    static const long kill_after_ms[] = {-1, 5, 40};
    for (int round = 0; round < 3; round++) {
        char token[64];
        snprintf(token, sizeof(token), "2026-12-02T12:00:0%dZ-test", round);
        patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", MC_API_IC_ROTATE_ANNOTATION,
                          token);
        assert_int_equal(mc_kube_patch(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                       "meshcert", "mesh-east", MC_KUBE_PATCH_MERGE, patch, 0, NULL,
                                       &err),
                         MC_OK);
        json_decref(patch);
        if (kill_after_ms[round] >= 0)
            sleep_ms(kill_after_ms[round]);
        for (int64_t deadline = now_ms() + WAIT_MS; kill_after_ms[round] < 0;) {
            char *rot = ic_status_field("rotation");
            int started = strcmp(rot, token) == 0;
            free(rot);
            if (started)
                break;
            if (now_ms() > deadline)
                fail_msg("the rotation did not start");
            renewal_poll(&root, &w);
        }
        stop_agent(SIGKILL);
        start_agent();
        renewal_wait(&root, &w, token, 2 + round, WAIT_MS);
        for (int i = 0; i < 10; i++) /* a second more: no further key */
            renewal_poll(&root, &w);
        assert_int_equal(w.key_changes, 2 + round);
    }
    printf("rotation: %d key changes in all, %d polls, Ready True in %d of them\n", w.key_changes,
           w.polls, w.ready_checked);
    stop_agent_cleanly();
    mc_secure_free_str(w.ca_key);
    root_free(&root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_issues_and_bounces_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_tls_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_adopts_labelled_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_adopt_existing_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_one_owner_per_output_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_renews_before_expiry_and_rotates_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
