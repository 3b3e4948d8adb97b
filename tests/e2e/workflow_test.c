/* workflow_test.c - the whole certificate workflow with real processes over
 * HTTPS on loopback: `meshcert server` with clusters mgmt, east and west, one
 * `meshcert issuer` (generated EC root in mgmt) and one `meshcert agent` per
 * managed cluster. Both clusters' cacerts end FINISHED, verify with the
 * openssl and certtool CLIs and share one root (a leaf signed by east
 * verifies against west's root); a spec change and a deleted output Secret
 * re-issue; a foreign output Secret is left alone (FAILED, adoption); no
 * managed cluster's private key reaches mgmt; SIGTERM exits 0 everywhere.
 */
#include <errno.h>
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

#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/yaml.h"
#include "kube/client.h"
#include "kube/config.h"
#include "pki/cert.h"
#include "server_process.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"

extern char **environ;

static const mc_kube_resource crds = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", 0};
static const mc_kube_resource namespaces = {"", "v1", "namespaces", 0};
static const mc_kube_resource secrets = {"", "v1", "secrets", 1};
static const mc_kube_resource issued = {MC_API_GROUP, MC_API_VERSION, "issuedcertificates", 1};

#define NS_MESHCERT "meshcert"
#define NS_ISTIO    "istio-system"
#define ORG         "Istio"
#define HOST_SPIFFE "spiffe://cluster.local/ns/istio-system/sa/citadel"
#define HOST_ISTIOD "istiod.istio-system.svc"
#define IC_NAME     "mesh-ca"
#define WAIT_MS     30000

enum { EAST = 0, WEST = 1, MANAGED = 2 };
static const char *const managed_names[MANAGED] = {"east", "west"};

typedef struct fixture {
    server_process server;
    mc_kube_client *mgmt;
    mc_kube_client *managed[MANAGED];
    pid_t issuer;
    pid_t agents[MANAGED];
    char work[64];        /* temporary directory for logs and PEM files */
    char issuer_log[128]; /* the issuer's stdout and stderr */
} fixture;

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

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

/* Whether name is an executable on PATH. */
static int tool_on_path(const char *name)
{
    const char *path = getenv("PATH");
    char dir[1024], file[1100];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir)) {
            memcpy(dir, path, n);
            dir[n] = '\0';
            snprintf(file, sizeof(file), "%s/%s", dir, name);
            if (access(file, X_OK) == 0)
                return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Spawns argv[0] (looked up on PATH) with stdout and stderr appended to log
 * (or /dev/null). */
static int spawn_logged(pid_t *pid, char *const *argv, const char *log)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const char *out = log ? log : "/dev/null";
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        *pid = 0;
    return rc == 0 ? 0 : -1;
}

/* Runs a command to completion; its output goes to work/tools.log. Returns
 * its exit status, -1 when it did not exit normally. */
static int run_tool(const fixture *f, char *const *argv)
{
    char log[128];
    snprintf(log, sizeof(log), "%s/tools.log", f->work);
    FILE *l = fopen(log, "a");
    if (l) {
        fputs("$", l);
        for (size_t i = 0; argv[i]; i++)
            fprintf(l, " %s", argv[i]);
        fputs("\n", l);
        fclose(l);
    }
    pid_t pid = 0;
    if (spawn_logged(&pid, argv, log) != 0)
        return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void dump_file(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 20, &text, &len, &err) == MC_OK) {
        size_t from = len > 6000 ? len - 6000 : 0;
        fprintf(stderr, "---- %s (tail) ----\n%s\n----\n", path, text + from);
    }
    free(text);
}

static int client_for(const fixture *f, const char *cluster, mc_kube_client **out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeconfigs/%s.yaml", f->server.dir, cluster);
    mc_kube_config *config = NULL;
    mc_err err = {0};
    int rc = mc_kube_config_load_file(path, NULL, &config, &err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, NULL, out, &err);
    mc_kube_config_free(config);
    if (rc != MC_OK)
        fprintf(stderr, "client %s: %s\n", cluster, err.msg);
    return rc;
}

static int create_namespace(mc_kube_client *client, const char *name)
{
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", name);
    mc_err err = {0};
    int rc = mc_kube_create(client, &namespaces, NULL, obj, NULL, &err);
    json_decref(obj);
    if (rc != MC_OK && rc != MC_EEXISTS)
        fprintf(stderr, "namespace %s: %s\n", name, err.msg);
    return rc == MC_EEXISTS ? MC_OK : rc;
}

static int apply_crd(mc_kube_client *client, const char *file)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_t *crd = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    int rc = mc_file_read(path, 1 << 20, &text, &len, &err);
    if (rc == MC_OK)
        rc = mc_api_yaml_to_json(text, len, &crd, &err);
    if (rc == MC_OK)
        rc = mc_kube_create(client, &crds, NULL, crd, NULL, &err);
    if (rc != MC_OK)
        fprintf(stderr, "crd %s: %s\n", file, err.msg);
    free(text);
    json_decref(crd);
    return rc;
}

/* The registration: Secret mgmt meshcert/<cluster>, key <cluster> = its kubeconfig. */
static int register_cluster(const fixture *f, const char *cluster)
{
    char path[512], *text = NULL, *b64 = NULL;
    size_t len = 0;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/kubeconfigs/%s.yaml", f->server.dir, cluster);
    int rc = mc_file_read(path, 1 << 20, &text, &len, &err);
    if (rc == MC_OK)
        rc = mc_base64_encode(text, len, &b64, NULL);
    json_t *secret = NULL;
    if (rc == MC_OK) {
        secret = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                           "Secret", "metadata", "name", cluster, "namespace", NS_MESHCERT, "type",
                           MC_API_SECRET_TYPE_KUBECONFIG, "data", cluster, b64);
        rc = mc_kube_create(f->mgmt, &secrets, NS_MESHCERT, secret, NULL, &err);
    }
    if (rc != MC_OK)
        fprintf(stderr, "register %s: %s\n", cluster, err.msg);
    json_decref(secret);
    free(b64);
    free(text);
    return rc;
}

static int start_issuer(fixture *f)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    char *const argv[] = {MESHCERT_BIN,
                          "issuer",
                          "--kubeconfig",
                          kubeconfig,
                          "--namespace",
                          NS_MESHCERT,
                          "--generate-root",
                          "--root-key-type",
                          "ec-p256",
                          "--log-level",
                          "info",
                          NULL};
    return spawn_logged(&f->issuer, argv, f->issuer_log);
}

static int start_agent(fixture *f, int which)
{
    char kubeconfig[512], log[128];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/%s.yaml", f->server.dir,
             managed_names[which]);
    snprintf(log, sizeof(log), "%s/agent-%s.log", f->work, managed_names[which]);
    char *const argv[] = {MESHCERT_BIN, "agent",      "--kubeconfig", kubeconfig,    "--namespace",
                          NS_MESHCERT,  "--key-type", "ec-p256",      "--log-level", "info",
                          NULL};
    return spawn_logged(&f->agents[which], argv, log);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    snprintf(f->work, sizeof(f->work), "/tmp/mc-workflow-XXXXXX");
    if (!mkdtemp(f->work))
        return -1;
    snprintf(f->issuer_log, sizeof(f->issuer_log), "%s/issuer.log", f->work);
    const char *args[] = {"--cluster", "mgmt", "--cluster", "east", "--cluster", "west", NULL};
    if (server_process_start(&f->server, args) != 0 || client_for(f, "mgmt", &f->mgmt) != 0)
        return -1;
    if (create_namespace(f->mgmt, NS_MESHCERT) != 0)
        return -1;
    const char *files[] = {"issuedcertificates.yaml", "certificaterequests.yaml",
                           "podbouncedirectives.yaml"};
    for (int c = 0; c < MANAGED; c++) {
        if (client_for(f, managed_names[c], &f->managed[c]) != 0 ||
            create_namespace(f->managed[c], NS_MESHCERT) != 0 ||
            create_namespace(f->managed[c], NS_ISTIO) != 0)
            return -1;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
            if (apply_crd(f->managed[c], files[i]) != 0)
                return -1;
        if (register_cluster(f, managed_names[c]) != 0)
            return -1;
    }
    if (start_issuer(f) != 0)
        return -1;
    for (int c = 0; c < MANAGED; c++)
        if (start_agent(f, c) != 0)
            return -1;
    return 0;
}

static void remove_work(const char *dir)
{
    char path[256];
    const char *names[] = {"issuer.log", "agent-east.log", "agent-west.log", "tools.log"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    const char *subdirs[] = {"east", "west", "east-2", "east-3", "leaf"};
    const char *pems[] = {"ca-cert.pem",   "ca-key.pem", "cert-chain.pem",
                          "root-cert.pem", "chain.pem",  "leaf-key.pem",
                          "leaf.csr",      "leaf.pem",   "leaf.ext"};
    for (size_t s = 0; s < sizeof(subdirs) / sizeof(subdirs[0]); s++) {
        for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s/%s", dir, subdirs[s], pems[i]);
            unlink(path);
        }
        snprintf(path, sizeof(path), "%s/%s", dir, subdirs[s]);
        rmdir(path);
    }
    rmdir(dir);
}

static void kill_and_reap(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    kill_and_reap(&f->issuer);
    for (int c = 0; c < MANAGED; c++) {
        kill_and_reap(&f->agents[c]);
        mc_kube_client_free(f->managed[c]);
    }
    mc_kube_client_free(f->mgmt);
    server_process_stop(&f->server);
    if (f->work[0])
        remove_work(f->work);
    free(f);
    return 0;
}

/* Fails the test after printing the processes' logs. */
static void fail_with_logs(const fixture *f, const char *what)
{
    char path[128];
    dump_file(f->issuer_log);
    for (int c = 0; c < MANAGED; c++) {
        snprintf(path, sizeof(path), "%s/agent-%s.log", f->work, managed_names[c]);
        dump_file(path);
    }
    snprintf(path, sizeof(path), "%s/tools.log", f->work);
    dump_file(path);
    fail_msg("%s", what);
}

/* Creates obj (stolen) on a managed cluster, waiting for its CRD to be served. */
static void create_on(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                      json_t *obj)
{
    mc_err err = {0};
    int rc = MC_ENOTFOUND;
    for (int i = 0; i < 100 && rc == MC_ENOTFOUND; i++) {
        rc = mc_kube_create(client, res, ns, obj, NULL, &err);
        if (rc == MC_ENOTFOUND)
            sleep_ms(100);
    }
    json_decref(obj);
    if (rc != MC_OK)
        fail_msg("create: %s", err.msg);
}

static void create_issued_certificate(mc_kube_client *client, const char *name,
                                      const char *output_secret)
{
    json_t *ic =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}",
                  "apiVersion", MC_API_GROUP_VERSION, "kind", "IssuedCertificate", "metadata",
                  "name", name, "namespace", NS_MESHCERT, "spec", "hosts", HOST_SPIFFE, "org", ORG,
                  "signingCertificateSecret", "name", "root-ca", "namespace", NS_MESHCERT,
                  "issuedCertificateSecret", "name", output_secret, "namespace", NS_ISTIO);
    assert_non_null(ic);
    create_on(client, &issued, NS_MESHCERT, ic);
}

typedef struct ic_view {
    char state[32];
    char error[512];
    int64_t generation;
    int64_t observed;
} ic_view;

static int ic_read(mc_kube_client *client, const char *name, ic_view *view)
{
    json_t *ic = NULL;
    mc_err err = {0};
    memset(view, 0, sizeof(*view));
    if (mc_kube_get(client, &issued, NS_MESHCERT, name, &ic, &err) != MC_OK)
        return -1;
    const char *s = str_at(ic, "status", "state");
    const char *e = str_at(ic, "status", "error");
    mc_strlcpy(view->state, s ? s : "", sizeof(view->state));
    mc_strlcpy(view->error, e ? e : "", sizeof(view->error));
    view->generation =
        json_integer_value(json_object_get(json_object_get(ic, "metadata"), "generation"));
    view->observed =
        json_integer_value(json_object_get(json_object_get(ic, "status"), "observedGeneration"));
    json_decref(ic);
    return 0;
}

/* Waits (≤ 30 s) for the IssuedCertificate to be in state for its current
 * generation (observedGeneration = generation, and >= min_generation). */
static void wait_ic_state(const fixture *f, mc_kube_client *client, const char *cluster,
                          const char *name, const char *state, int64_t min_generation,
                          ic_view *view)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        if (ic_read(client, name, view) == 0 && strcmp(view->state, state) == 0 &&
            view->observed == view->generation && view->generation >= min_generation)
            return;
        sleep_ms(50);
    }
    char what[1024];
    snprintf(what, sizeof(what),
             "issuedcertificate %s/%s on %s not %s (generation >= %lld) within 30 s: state "
             "\"%s\", generation %lld, observedGeneration %lld, error \"%s\"",
             NS_MESHCERT, name, cluster, state, (long long)min_generation, view->state,
             (long long)view->generation, (long long)view->observed, view->error);
    fail_with_logs(f, what);
}

/* The decoded value of data[key] of a Secret JSON (owned), or NULL. */
static char *secret_value(const json_t *secret, const char *key, size_t *len)
{
    const char *b64 = str_at(secret, "data", key);
    if (!b64)
        return NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    mc_err err = {0};
    if (mc_base64_decode(b64, strlen(b64), &raw, &n, &err) != MC_OK)
        return NULL;
    char *text = mc_strndup((const char *)raw, n);
    free(raw);
    if (len)
        *len = n;
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
}

static int cert_same(const mc_pki_cert *a, const mc_pki_cert *b)
{
    unsigned char da[32], db[32];
    mc_err err = {0};
    return mc_pki_cert_sha256(a, da, &err) == MC_OK && mc_pki_cert_sha256(b, db, &err) == MC_OK &&
           memcmp(da, db, sizeof(da)) == 0;
}

/* Writes the cacerts files of a cluster to work/<subdir>/ (and chain.pem:
 * ca-cert.pem followed by cert-chain.pem's certificates other than it, then
 * root-cert.pem, for certtool). Returns the Secret's uid (static buffer). */
static const char *save_cacerts(const fixture *f, mc_kube_client *client, const char *subdir)
{
    static char uid[128];
    static const char *const names[] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem",
                                        "root-cert.pem"};
    char dir[160], path[256];
    json_t *secret = NULL;
    mc_err err = {0};
    snprintf(dir, sizeof(dir), "%s/%s", f->work, subdir);
    mkdir(dir, 0700);
    if (mc_kube_get(client, &secrets, NS_ISTIO, "cacerts", &secret, &err) != MC_OK)
        fail_msg("get %s/cacerts: %s", NS_ISTIO, err.msg);
    char *values[4] = {0};
    for (int i = 0; i < 4; i++) {
        values[i] = secret_value(secret, names[i], NULL);
        if (!values[i])
            fail_msg("%s/cacerts has no %s", NS_ISTIO, names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        write_text(path, values[i]);
    }
    /* certtool wants the chain in order, leaf first, each certificate once */
    mc_buf chain;
    mc_buf_init(&chain, 1 << 20);
    assert_int_equal(mc_buf_append_str(&chain, values[0]), MC_OK);
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    if (mc_pki_cert_list_from_pem(values[2], strlen(values[2]), "cert-chain.pem", &certs, &count,
                                  &err) != MC_OK)
        fail_msg("cert-chain.pem: %s", err.msg);
    mc_pki_cert *leaf = NULL, *root = NULL;
    assert_int_equal(mc_pki_cert_from_pem(values[0], strlen(values[0]), "ca", &leaf, &err), MC_OK);
    assert_int_equal(mc_pki_cert_from_pem(values[3], strlen(values[3]), "root", &root, &err),
                     MC_OK);
    for (size_t i = 0; i < count; i++) {
        if (cert_same(certs[i], leaf) || cert_same(certs[i], root))
            continue;
        char *pem = NULL;
        size_t len = 0;
        assert_int_equal(mc_pki_cert_to_pem(certs[i], &pem, &len, &err), MC_OK);
        assert_int_equal(mc_buf_append_str(&chain, pem), MC_OK);
        free(pem);
    }
    assert_int_equal(mc_buf_append_str(&chain, values[3]), MC_OK);
    snprintf(path, sizeof(path), "%s/chain.pem", dir);
    write_text(path, chain.data);
    mc_buf_free(&chain);
    mc_pki_cert_free(leaf);
    mc_pki_cert_free(root);
    mc_pki_cert_list_free(certs, count);
    for (int i = 0; i < 4; i++)
        free(values[i]);
    const char *u = str_at(secret, "metadata", "uid");
    mc_strlcpy(uid, u ? u : "", sizeof(uid));
    json_decref(secret);
    return uid;
}

/* openssl verify and certtool --verify-chain on work/<subdir>/. */
static void verify_with_tools(const fixture *f, const char *subdir)
{
    char root[256], untrusted[256], ca[256], chain[256], what[512];
    snprintf(root, sizeof(root), "%s/%s/root-cert.pem", f->work, subdir);
    snprintf(untrusted, sizeof(untrusted), "%s/%s/cert-chain.pem", f->work, subdir);
    snprintf(ca, sizeof(ca), "%s/%s/ca-cert.pem", f->work, subdir);
    snprintf(chain, sizeof(chain), "%s/%s/chain.pem", f->work, subdir);
    char *const openssl[] = {"openssl",    "verify",  "-CAfile", root,
                             "-untrusted", untrusted, ca,        NULL};
    if (run_tool(f, openssl) != 0) {
        snprintf(what, sizeof(what), "openssl verify of %s's cacerts failed", subdir);
        fail_with_logs(f, what);
    }
    char *const certtool[] = {"certtool", "--verify-chain", "--infile", chain, NULL};
    if (run_tool(f, certtool) != 0) {
        snprintf(what, sizeof(what), "certtool --verify-chain of %s's cacerts failed", subdir);
        fail_with_logs(f, what);
    }
    char *const certtool_trust[] = {
        "certtool", "--verify", "--load-ca-certificate", root, "--infile", chain, NULL};
    if (run_tool(f, certtool_trust) != 0) {
        snprintf(what, sizeof(what), "certtool --verify against %s's root failed", subdir);
        fail_with_logs(f, what);
    }
}

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 20, &text, &len, &err) != MC_OK)
        fail_msg("read %s: %s", path, err.msg);
    return text;
}

/* A workload leaf signed with the openssl CLI by east's intermediate verifies
 * against west's root with east's cert-chain.pem: one trust domain. */
static void check_cross_cluster_leaf(const fixture *f)
{
    char dir[160], key[256], csr[256], leaf[256], ext[256], ca[256], ca_key[256], root[256],
        chain[256];
    snprintf(dir, sizeof(dir), "%s/leaf", f->work);
    mkdir(dir, 0700);
    snprintf(key, sizeof(key), "%s/leaf-key.pem", dir);
    snprintf(csr, sizeof(csr), "%s/leaf.csr", dir);
    snprintf(leaf, sizeof(leaf), "%s/leaf.pem", dir);
    snprintf(ext, sizeof(ext), "%s/leaf.ext", dir);
    snprintf(ca, sizeof(ca), "%s/east/ca-cert.pem", f->work);
    snprintf(ca_key, sizeof(ca_key), "%s/east/ca-key.pem", f->work);
    snprintf(chain, sizeof(chain), "%s/east/cert-chain.pem", f->work);
    snprintf(root, sizeof(root), "%s/west/root-cert.pem", f->work);
    write_text(ext, "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/workload\n");
    char *const genkey[] = {
        "openssl", "req",     "-new", "-newkey", "ec",       "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",  "-keyout", key,    "-subj",   "/O=Istio", "-out",     csr,
        NULL};
    char *const sign[] = {
        "openssl",         "x509",  "-req", "-in",      csr, "-CA",  ca,   "-CAkey", ca_key,
        "-CAcreateserial", "-days", "1",    "-extfile", ext, "-out", leaf, NULL};
    char *const verify[] = {"openssl", "verify", "-CAfile", root, "-untrusted", chain, leaf, NULL};
    if (run_tool(f, genkey) != 0 || run_tool(f, sign) != 0)
        fail_with_logs(f, "openssl could not sign a workload leaf with east's intermediate");
    if (run_tool(f, verify) != 0)
        fail_with_logs(f, "a leaf signed by east does not verify against west's root-cert.pem");
    /* -CAcreateserial writes <ca>.srl next to ca-cert.pem */
    char srl[256];
    snprintf(srl, sizeof(srl), "%s/east/ca-cert.srl", f->work);
    unlink(srl);
}

static void assert_root_shared(const fixture *f)
{
    char east[256], west[256];
    snprintf(east, sizeof(east), "%s/east/root-cert.pem", f->work);
    snprintf(west, sizeof(west), "%s/west/root-cert.pem", f->work);
    char *e = read_text(east), *w = read_text(west);
    assert_string_equal(e, w);
    free(e);
    free(w);
}

/* The cacerts' ca-cert.pem carries the hosts (and the org). */
static void assert_hosts(const fixture *f, const char *subdir, const char *const *hosts,
                         size_t count)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/ca-cert.pem", f->work, subdir);
    char *pem = read_text(path);
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_cert_from_pem(pem, strlen(pem), "ca-cert.pem", &cert, &err), MC_OK);
    if (mc_pki_cert_check_identity(cert, ORG, hosts, count, &err) != MC_OK)
        fail_msg("%s ca-cert.pem: %s", subdir, err.msg);
    mc_pki_cert_free(cert);
    free(pem);
}

/* Adds HOST_ISTIOD to east's IssuedCertificate; returns the new generation. */
static int64_t add_host_on_east(fixture *f)
{
    mc_err err = {0};
    json_t *ic = NULL;
    assert_int_equal(mc_kube_get(f->managed[EAST], &issued, NS_MESHCERT, IC_NAME, &ic, &err),
                     MC_OK);
    json_t *hosts = json_object_get(json_object_get(ic, "spec"), "hosts");
    assert_non_null(hosts);
    json_array_append_new(hosts, json_string(HOST_ISTIOD));
    json_t *updated = NULL;
    if (mc_kube_update(f->managed[EAST], &issued, NS_MESHCERT, ic, &updated, &err) != MC_OK)
        fail_msg("update issuedcertificate: %s", err.msg);
    int64_t generation =
        json_integer_value(json_object_get(json_object_get(updated, "metadata"), "generation"));
    json_decref(updated);
    json_decref(ic);
    return generation;
}

/* The private-key bytes of a managed cluster's key Secret (owned). */
static char *managed_private_key(fixture *f, int which)
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[which], &secrets, NS_MESHCERT, IC_NAME, &secret, &err) != MC_OK)
        fail_msg("key secret %s/%s on %s: %s", NS_MESHCERT, IC_NAME, managed_names[which], err.msg);
    assert_string_equal(json_string_value(json_object_get(secret, "type")),
                        MC_API_SECRET_TYPE_PRIVATE_KEY);
    char *key = secret_value(secret, "private-key", NULL);
    assert_non_null(key);
    assert_non_null(strstr(key, "PRIVATE KEY"));
    json_decref(secret);
    return key;
}

/* 32 base64 characters of the PEM body from character 48 on (byte 36 of the
 * DER: past the ASN.1 prefix every key of a type shares, into the private
 * scalar): found even when the key is re-wrapped into another PEM document. */
static void pem_body_probe(const char *pem, char *out, size_t out_size)
{
    const char *body = strchr(pem, '\n');
    assert_non_null(body);
    body++;
    char unwrapped[4096];
    size_t n = 0;
    for (const char *p = body; *p && *p != '-' && n + 1 < sizeof(unwrapped); p++)
        if (*p != '\n' && *p != '\r')
            unwrapped[n++] = *p;
    assert_true(n >= 48 + 32 && out_size > 32);
    memcpy(out, unwrapped + 48, 32);
    out[32] = '\0';
}

/* No Secret of mgmt holds a managed cluster's private key (decoded or as
 * the base64 of its PEM), and the issuer never logged one. */
static void assert_no_key_in_mgmt(fixture *f)
{
    char *keys[MANAGED];
    char probes[MANAGED][48];
    for (int c = 0; c < MANAGED; c++) {
        keys[c] = managed_private_key(f, c);
        pem_body_probe(keys[c], probes[c], sizeof(probes[c]));
    }
    /* the probes are specific to each key */
    assert_string_not_equal(probes[EAST], probes[WEST]);
    json_t *list = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_list(f->mgmt, &secrets, NULL, NULL, &list, &err), MC_OK);
    json_t *items = json_object_get(list, "items");
    assert_true(json_array_size(items) >= 3); /* two registrations and the root */
    size_t index;
    json_t *item;
    json_array_foreach(items, index, item)
    {
        const char *name = str_at(item, "metadata", "name");
        char *dump = json_dumps(item, 0);
        assert_non_null(dump);
        const char *data_key;
        json_t *value;
        json_object_foreach(json_object_get(item, "data"), data_key, value)
        {
            char *decoded = secret_value(item, data_key, NULL);
            for (int c = 0; c < MANAGED; c++) {
                if (decoded && (strstr(decoded, keys[c]) || strstr(decoded, probes[c])))
                    fail_msg("mgmt Secret %s holds %s's private key (data %s)", name,
                             managed_names[c], data_key);
            }
            free(decoded);
        }
        for (int c = 0; c < MANAGED; c++)
            if (strstr(dump, probes[c]))
                fail_msg("mgmt Secret %s holds %s's private key", name, managed_names[c]);
        free(dump);
    }
    json_decref(list);
    char *log = read_text(f->issuer_log);
    if (strstr(log, "PRIVATE KEY"))
        fail_with_logs(f, "the issuer's log contains \"PRIVATE KEY\"");
    for (int c = 0; c < MANAGED; c++) {
        if (strstr(log, probes[c]))
            fail_with_logs(f, "the issuer's log contains a managed cluster's key");
        free(keys[c]);
    }
    free(log);
}

/* SIGTERM, then exit status 0 within 15 s. */
static void stop_cleanly(const fixture *f, pid_t *pid, const char *what)
{
    assert_int_equal(kill(*pid, SIGTERM), 0);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 150 && done == 0; i++) {
        done = waitpid(*pid, &status, WNOHANG);
        if (done == 0)
            sleep_ms(100);
    }
    char msg[256];
    if (done != *pid) {
        snprintf(msg, sizeof(msg), "%s did not exit within 15 s of SIGTERM", what);
        fail_with_logs(f, msg);
    }
    *pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(msg, sizeof(msg), "%s after SIGTERM: %s %d", what,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        fail_with_logs(f, msg);
    }
}

static void test_workflow(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    ic_view view;
    if (!tool_on_path("openssl") || !tool_on_path("certtool"))
        fail_msg("workflow_test needs the openssl and certtool (GnuTLS) command-line tools on "
                 "PATH (packages openssl and gnutls-bin)%s",
                 getenv("CI") ? " - they must be installed in CI" : "");

    /* 1. Both clusters issued, verified by two toolkits, one trust domain. */
    for (int c = 0; c < MANAGED; c++)
        create_issued_certificate(f->managed[c], IC_NAME, "cacerts");
    for (int c = 0; c < MANAGED; c++)
        wait_ic_state(f, f->managed[c], managed_names[c], IC_NAME, "FINISHED", 1, &view);
    const char *only_spiffe[] = {HOST_SPIFFE};
    for (int c = 0; c < MANAGED; c++) {
        save_cacerts(f, f->managed[c], managed_names[c]);
        verify_with_tools(f, managed_names[c]);
        assert_hosts(f, managed_names[c], only_spiffe, 1);
    }
    assert_root_shared(f);
    check_cross_cluster_leaf(f);

    /* 2. A spec change re-issues: REQUESTED, then FINISHED for the new
     * generation. The issuer is paused so that REQUESTED is observable. */
    assert_int_equal(kill(f->issuer, SIGSTOP), 0);
    int64_t generation = add_host_on_east(f);
    assert_true(generation >= 2);
    int seen_requested = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (!seen_requested && now_ms() < deadline) {
        if (ic_read(f->managed[EAST], IC_NAME, &view) == 0 &&
            strcmp(view.state, "REQUESTED") == 0 && view.observed == generation)
            seen_requested = 1;
        else
            sleep_ms(50);
    }
    assert_int_equal(kill(f->issuer, SIGCONT), 0);
    if (!seen_requested)
        fail_with_logs(f, "east's issuedcertificate did not reach REQUESTED for the new "
                          "generation within 30 s");
    wait_ic_state(f, f->managed[EAST], "east", IC_NAME, "FINISHED", generation, &view);
    save_cacerts(f, f->managed[EAST], "east-2");
    verify_with_tools(f, "east-2");
    const char *both[] = {HOST_SPIFFE, HOST_ISTIOD};
    assert_hosts(f, "east-2", both, 2);

    /* 3. A deleted output Secret is written again. */
    const char *old_uid = save_cacerts(f, f->managed[EAST], "east-3");
    char uid_before[128];
    mc_strlcpy(uid_before, old_uid, sizeof(uid_before));
    assert_int_equal(mc_kube_delete(f->managed[EAST], &secrets, NS_ISTIO, "cacerts", NULL, &err),
                     MC_OK);
    deadline = now_ms() + WAIT_MS;
    int back = 0;
    while (!back && now_ms() < deadline) {
        json_t *secret = NULL;
        mc_err get_err = {0};
        if (mc_kube_get(f->managed[EAST], &secrets, NS_ISTIO, "cacerts", &secret, &get_err) ==
                MC_OK &&
            str_at(secret, "metadata", "uid") &&
            strcmp(str_at(secret, "metadata", "uid"), uid_before) != 0 &&
            ic_read(f->managed[EAST], IC_NAME, &view) == 0 && strcmp(view.state, "FINISHED") == 0)
            back = 1;
        json_decref(secret);
        if (!back)
            sleep_ms(50);
    }
    if (!back)
        fail_with_logs(f, "east's deleted cacerts Secret was not written again within 30 s");
    wait_ic_state(f, f->managed[EAST], "east", IC_NAME, "FINISHED", generation, &view);
    save_cacerts(f, f->managed[EAST], "east-3");
    verify_with_tools(f, "east-3");
    assert_hosts(f, "east-3", both, 2);

    /* 4. A foreign output Secret is never overwritten. */
    json_t *foreign = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1",
                                "kind", "Secret", "metadata", "name", "othercerts", "namespace",
                                NS_ISTIO, "type", "Opaque", "data", "ca-cert.pem", "Zm9yZWlnbg==");
    json_t *created = NULL;
    assert_int_equal(mc_kube_create(f->managed[EAST], &secrets, NS_ISTIO, foreign, &created, &err),
                     MC_OK);
    char foreign_version[64];
    mc_strlcpy(foreign_version, str_at(created, "metadata", "resourceVersion"),
               sizeof(foreign_version));
    json_decref(created);
    json_decref(foreign);
    create_issued_certificate(f->managed[EAST], "mesh-foreign", "othercerts");
    wait_ic_state(f, f->managed[EAST], "east", "mesh-foreign", "FAILED", 1, &view);
    if (!strstr(view.error, "adopt"))
        fail_msg("the FAILED error does not mention adoption: %s", view.error);
    sleep_ms(1000); /* a late write would show now */
    json_t *after = NULL;
    assert_int_equal(mc_kube_get(f->managed[EAST], &secrets, NS_ISTIO, "othercerts", &after, &err),
                     MC_OK);
    assert_string_equal(str_at(after, "metadata", "resourceVersion"), foreign_version);
    assert_string_equal(str_at(after, "data", "ca-cert.pem"), "Zm9yZWlnbg==");
    assert_null(json_object_get(json_object_get(json_object_get(after, "metadata"), "labels"),
                                "agent.certificates.smh.solo.io"));
    json_decref(after);

    /* 5. The managed clusters' keys stayed home. */
    assert_no_key_in_mgmt(f);

    /* 6. SIGTERM stops every process with exit status 0. */
    stop_cleanly(f, &f->issuer, "meshcert issuer");
    for (int c = 0; c < MANAGED; c++) {
        char what[64];
        snprintf(what, sizeof(what), "meshcert agent (%s)", managed_names[c]);
        stop_cleanly(f, &f->agents[c], what);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workflow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
