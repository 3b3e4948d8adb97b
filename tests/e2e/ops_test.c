/* ops_test.c - the operator commands as real processes against `meshcert
 * server` with clusters mgmt and east (a fresh server per test): `cluster
 * register` stores on mgmt the token of a least-privilege ServiceAccount it
 * made in east (refused Secrets and anything but what the issuer does), or
 * with --keep-kubeconfig east's kubeconfig itself (refusing to overwrite
 * without --force), `cluster list` shows it, `issue` creates the IssuedCertificate and
 * PodBounceDirective on east, `status` has a row for it and one "unreachable"
 * row for a cluster whose server is down, `cluster deregister` removes the
 * registration. Wrong arguments exit 2; a bad --host exits 2 and writes
 * nothing. `verify --cluster` passes on a valid output Secret (Istio and TLS
 * layouts, made with `ca create`, `csr create` and `sign`) and fails naming
 * a key that does not match; `status` shows the notAfter of the certificate
 * in the output Secret (as `openssl x509 -enddate` reads it) or "-".
 * Without --kubeconfig the commands use $KUBECONFIG (a merged list) or
 * ~/.kube/config (HOME is the test's directory); network failures name the
 * server URL and what to check (refused, silent within --request-timeout,
 * a CA that does not verify the server); `issue` refuses an
 * IssuedCertificate that would share a Secret or directive with another,
 * `issue --wait` ends on FINISHED, FAILED or --timeout; `status` exits 1 on
 * a FAILED row. Issue 12: `issue --duration/--renew-before/--key-type`
 * (checked, written as Go durations; the server refuses bad values with
 * 422), `rotate` (its errors, the token it writes, --all, --wait) and the
 * status columns NOT-BEFORE, RENEWAL, ROOTS and ROTATION.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server_process.h"

extern char **environ;

#define IC_PATH  "/apis/certificates.smh.solo.io/v1alpha2/namespaces/meshcert/issuedcertificates"
#define PBD_PATH "/apis/certificates.smh.solo.io/v1alpha2/namespaces/meshcert/podbouncedirectives"

typedef struct fixture {
    server_process server;
    char mgmt_kubeconfig[512];
    char east_kubeconfig[512];
    char out_path[512];
    char *out;   /* stdout + stderr of the last command */
    pid_t child; /* a command started by spawn_meshcert not yet waited for, or 0 */
} fixture;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs argv[0] (a path, or a name looked up in PATH), stdout and stderr into
 * f->out; returns the exit status (-1 when it did not exit normally). */
static int run_argv(fixture *f, char **argv, int argc)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, f->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    free(f->out);
    f->out = NULL;
    FILE *file = fopen(f->out_path, "r");
    if (file) {
        f->out = calloc(1, 1 << 16);
        if (f->out)
            (void)!fread(f->out, 1, (1 << 16) - 1, file);
        fclose(file);
    }
    fprintf(stderr, "$ %s %s %s -> %d\n%s", argv[0], argc > 1 ? argv[1] : "",
            argc > 2 ? argv[2] : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            f->out ? f->out : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs meshcert with args (NULL-terminated); see run_argv. */
static int run(fixture *f, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = MESHCERT_BIN;
    va_list ap;
    va_start(ap, f);
    for (char *arg; argc < 39 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    return run_argv(f, argv, argc);
}

/* Runs the openssl CLI with args (NULL-terminated); see run_argv. */
static int run_openssl(fixture *f, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = "openssl";
    va_list ap;
    va_start(ap, f);
    for (char *arg; argc < 39 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    return run_argv(f, argv, argc);
}

static long http_status(fixture *f, const char *cluster, const char *method, const char *path,
                        const char *body)
{
    char full[512];
    snprintf(full, sizeof(full), "/clusters/%s%s", cluster, path);
    http_reply reply = {0};
    if (http_do(&f->server, server_token(&f->server, cluster), method, full, body, NULL, &reply))
        return -1;
    long status = reply.status;
    http_reply_free(&reply);
    return status;
}

static int apply_crds(fixture *f)
{
    const char *files[] = {"issuedcertificates.yaml", "certificaterequests.yaml",
                           "podbouncedirectives.yaml"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, files[i]);
        FILE *file = fopen(path, "r");
        if (!file)
            return -1;
        char *text = calloc(1, 1 << 20);
        size_t len = text ? fread(text, 1, (1 << 20) - 1, file) : 0;
        fclose(file);
        http_reply reply = {0};
        int rc =
            text ? http_do(&f->server, server_token(&f->server, "east"), "POST",
                           "/clusters/east/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           text, "application/yaml", &reply)
                 : -1;
        long status = reply.status;
        http_reply_free(&reply);
        free(text);
        if (rc || (status != 201 && status != 200) || len == 0) {
            fprintf(stderr, "crd %s: HTTP %ld\n", files[i], status);
            return -1;
        }
    }
    /* wait until the IssuedCertificate resource is served */
    for (int i = 0; i < 100; i++) {
        if (http_status(f, "east", "GET", IC_PATH, NULL) == 200)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

static int create_namespace(fixture *f, const char *cluster, const char *name)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", name);
    long status = http_status(f, cluster, "POST", "/api/v1/namespaces", body);
    if (status != 201 && status != 409)
        fprintf(stderr, "namespace %s on %s: HTTP %ld\n", name, cluster, status);
    return status == 201 || status == 409 ? 0 : -1;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    const char *args[] = {"--cluster", "mgmt", "--cluster", "east", NULL};
    if (server_process_start(&f->server, args) != 0) {
        fprintf(stderr, "server did not start\n");
        free(f);
        *state = NULL;
        return -1;
    }
    snprintf(f->mgmt_kubeconfig, sizeof(f->mgmt_kubeconfig), "%s/kubeconfigs/mgmt.yaml",
             f->server.dir);
    snprintf(f->east_kubeconfig, sizeof(f->east_kubeconfig), "%s/kubeconfigs/east.yaml",
             f->server.dir);
    snprintf(f->out_path, sizeof(f->out_path), "%s/command.out", f->server.dir);
    /* commands without --kubeconfig look at $KUBECONFIG and ~/.kube/config:
     * neither exists unless a test makes it */
    setenv("HOME", f->server.dir, 1);
    unsetenv("KUBECONFIG");
    if (create_namespace(f, "mgmt", "meshcert") || create_namespace(f, "east", "meshcert") ||
        apply_crds(f)) {
        /* cmocka runs no teardown after a failed setup */
        server_process_stop(&f->server);
        free(f);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    if (f->child > 0) { /* a failed test left its command running */
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    server_process_stop(&f->server);
    free(f->out);
    free(f);
    return 0;
}

static void test_usage_errors(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    assert_int_equal(run(f, "cluster", NULL), 2);
    assert_int_equal(run(f, "cluster", "frob", "--kubeconfig", k, NULL), 2);
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, NULL), 2);
    /* a registration names what the cluster may be issued: nothing by default */
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     2);
    assert_non_null(strstr(f->out, "--trust-domain or --dns-suffix"));
    /* ... and the org its intermediates carry: an intermediate CA needs O= */
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--trust-domain", "cluster.local", NULL),
                     2);
    assert_non_null(strstr(f->out, "at least one --org"));
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--trust-domain", "spiffe://cluster.local", NULL),
                     2);
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--dns-suffix", "x.svc", "--root", "no-namespace",
                         NULL),
                     2);
    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, "--org", "Istio", NULL), 2);
    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, "extra", NULL), 2);
    assert_int_equal(run(f, "cluster", "deregister", "--kubeconfig", k, NULL), 2);
    assert_int_equal(
        run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--name", "x", "--host", "a.b", NULL),
        2);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "x", "--host", "a.b", "--bounce", "no-colon", NULL),
                     2);
    assert_int_equal(run(f, "status", "--bogus", NULL), 2);
    assert_int_equal(run(f, "status", "--request-timeout", "soon", NULL), 2);
    assert_int_equal(run(f, "status", "--request-timeout", "-1s", NULL), 2);
    /* no --kubeconfig, no KUBECONFIG, no ~/.kube/config: a failure saying so */
    assert_int_equal(run(f, "status", NULL), 1);
    assert_non_null(strstr(f->out, "no kubeconfig"));
    assert_non_null(strstr(f->out, "/.kube/config does not exist"));
    assert_int_equal(run(f, "verify", "--cluster", "east", NULL), 1);
    assert_non_null(strstr(f->out, "no kubeconfig"));
    assert_int_equal(run(f, "verify", "--kubeconfig", k, NULL), 2);
    assert_int_equal(run(f, "verify", "--cluster", "east", "--kubeconfig", k, "--root", "r", NULL),
                     2);
    assert_int_equal(run(f, "cluster", "--help", NULL), 0);
    /* an intermediate CA needs a subject: --org is required */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "x",
                         "--host", "a.b", NULL),
                     2);
    assert_non_null(strstr(f->out, "--org is required"));
    assert_int_equal(run(f, "issue", "--help", NULL), 0);
    assert_int_equal(run(f, "status", "--help", NULL), 0);
}

/* Registers cluster name with a copy of east's kubeconfig whose server
 * port is 1, where nothing listens. */
static void register_down_cluster(fixture *f, const char *name)
{
    char *text = NULL;
    FILE *file = fopen(f->east_kubeconfig, "r");
    assert_non_null(file);
    text = calloc(1, 1 << 16);
    assert_non_null(text);
    (void)!fread(text, 1, (1 << 16) - 1, file);
    fclose(file);
    char port[16], down[512];
    snprintf(port, sizeof(port), ":%d", f->server.port);
    char *at = strstr(text, port);
    assert_non_null(at);
    snprintf(down, sizeof(down), "%s/%s.yaml", f->server.dir, name);
    file = fopen(down, "w");
    assert_non_null(file);
    fwrite(text, 1, (size_t)(at - text), file);
    fputs(":1", file); /* nothing listens on port 1 */
    fputs(at + strlen(port), file);
    fclose(file);
    free(text);
    assert_int_equal(run(f, "cluster", "register", "--keep-kubeconfig", name, "--trust-domain",
                         "cluster.local", "--org", "Istio", "--kubeconfig", f->mgmt_kubeconfig,
                         "--kubeconfig-file", down, NULL),
                     0);
}

static void test_operator_flow(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;

    /* register; a second register is refused, --force replaces */
    assert_int_equal(run(f, "cluster", "register", "--keep-kubeconfig", "east", "--trust-domain",
                         "cluster.local", "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     0);
    assert_int_equal(run(f, "cluster", "register", "--keep-kubeconfig", "east", "--trust-domain",
                         "cluster.local", "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     1);
    assert_non_null(strstr(f->out, "--force"));
    assert_int_equal(run(f, "cluster", "register", "--keep-kubeconfig", "east", "--trust-domain",
                         "cluster.local", "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--force", NULL),
                     0);
    /* a file that is no kubeconfig is refused before anything is written */
    assert_int_equal(run(f, "cluster", "register", "bad", "--trust-domain", "cluster.local",
                         "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file", f->out_path,
                         NULL),
                     1);
    assert_int_equal(http_status(f, "mgmt", "GET", "/api/v1/namespaces/meshcert/secrets/bad", NULL),
                     404);

    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, NULL), 0);
    assert_non_null(strstr(f->out, "NAME"));
    assert_non_null(strstr(f->out, "east "));
    assert_non_null(strstr(f->out, "https://127.0.0.1:"));
    assert_non_null(strstr(f->out, "trustDomains=cluster.local dnsSuffixes=- orgs=Istio "
                                   "roots=meshcert/root-ca"));

    /* a bad host: usage error, nothing written */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "ic1", "--host", "istiod.istio-system.svc", "--host", "a..b",
                         NULL),
                     2);
    assert_int_equal(http_status(f, "east", "GET", IC_PATH "/ic1", NULL), 404);

    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "ic1",
                         "--host", "istiod.istio-system.svc", "--host",
                         "spiffe://cluster.local/ns/istio-system/sa/istiod", "--org", "Istio",
                         "--bounce", "istio-system:app=istiod", NULL),
                     0);
    http_reply reply = {0};
    assert_int_equal(http_do(&f->server, server_token(&f->server, "east"), "GET",
                             "/clusters/east" IC_PATH "/ic1", NULL, NULL, &reply),
                     0);
    assert_int_equal(reply.status, 200);
    json_t *spec = json_object_get(reply.json, "spec");
    assert_int_equal(json_array_size(json_object_get(spec, "hosts")), 2);
    assert_string_equal(json_string_value(json_object_get(spec, "org")), "Istio");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(spec, "signingCertificateSecret"), "name")),
                        "root-ca");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(spec, "issuedCertificateSecret"), "namespace")),
                        "istio-system");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(spec, "podBounceDirective"), "name")),
        "ic1");
    http_reply_free(&reply);
    assert_int_equal(http_status(f, "east", "GET", PBD_PATH "/ic1", NULL), 200);
    /* issuing the same name again is refused */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "ic1", "--host", "istiod.istio-system.svc", NULL),
                     1);
    /* an unregistered cluster */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "west",
                         "--name", "ic1", "--host", "istiod.istio-system.svc", NULL),
                     1);
    assert_non_null(strstr(f->out, "not registered"));

    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    assert_non_null(strstr(f->out, "CLUSTER"));
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_non_null(strstr(f->out, "PENDING"));

    /* no output Secret yet: verify --cluster fails (1), naming the Secret */
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", NULL), 1);
    assert_non_null(strstr(f->out, "cacerts"));

    /* a registered cluster whose server is down: one row, exit 1, no crash */
    register_down_cluster(f, "west");
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 1);
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_non_null(strstr(f->out, "unreachable"));
    assert_non_null(strstr(f->out, "cannot connect to https://127.0.0.1:1/clusters/east"));
    assert_int_equal(run(f, "cluster", "deregister", "west", "--kubeconfig", k, NULL), 0);

    /* deregister; again is a failure; list no longer shows it */
    assert_int_equal(run(f, "cluster", "deregister", "east", "--kubeconfig", k, NULL), 0);
    assert_int_equal(
        http_status(f, "mgmt", "GET", "/api/v1/namespaces/meshcert/secrets/east", NULL), 404);
    assert_int_equal(run(f, "cluster", "deregister", "east", "--kubeconfig", k, NULL), 1);
    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, NULL), 0);
    assert_null(strstr(f->out, "east "));
}

#define HOST         "spiffe://cluster.local/ns/istio-system/sa/citadel"
#define SECRETS_PATH "/clusters/east/api/v1/namespaces/istio-system/secrets"

/* Reads a whole (small) file into a new NUL-terminated string; fails the
 * test when it cannot. */
static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file)
        fail_msg("cannot open %s", path);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t len = fread(text, 1, (1 << 16) - 1, file);
    fclose(file);
    assert_true(len > 0);
    return text;
}

/* Standard base64 with padding of text (new string). */
static char *base64(const char *text)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text);
    char *out = calloc(1, 4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    const unsigned char *in = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    return out;
}

typedef struct secret_file {
    const char *key;  /* data key in the Secret */
    const char *path; /* file whose contents it holds */
} secret_file;

/* Creates Secret istio-system/name of type on cluster east from files. */
static void create_secret(fixture *f, const char *name, const char *type, const secret_file *files,
                          size_t n)
{
    json_t *data = json_object();
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) {
        char *text = read_text(files[i].path);
        char *encoded = base64(text);
        json_object_set_new(data, files[i].key, json_string(encoded));
        free(encoded);
        free(text);
    }
    json_t *secret = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "apiVersion", "v1", "kind",
                               "Secret", "metadata", "name", name, "namespace", "istio-system",
                               "type", type, "data", data);
    assert_non_null(secret);
    char *body = json_dumps(secret, JSON_COMPACT);
    json_decref(secret);
    assert_non_null(body);
    http_reply reply = {0};
    assert_int_equal(http_do(&f->server, server_token(&f->server, "east"), "POST", SECRETS_PATH,
                             body, NULL, &reply),
                     0);
    if (reply.status != 201)
        fail_msg("create secret %s: HTTP %ld %s", name, reply.status, reply.body);
    http_reply_free(&reply);
    free(body);
}

/* Registers east on mgmt and creates istio-system on east. */
static void register_east(fixture *f)
{
    assert_int_equal(create_namespace(f, "east", "istio-system"), 0);
    assert_int_equal(run(f, "cluster", "register", "--keep-kubeconfig", "east", "--trust-domain",
                         "cluster.local", "--org", "Istio", "--kubeconfig", f->mgmt_kubeconfig,
                         "--kubeconfig-file", f->east_kubeconfig, "--force", NULL),
                     0);
}

/* f->server.dir/pki/name, into path. */
static void pki_path(const fixture *f, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/pki/%s", f->server.dir, name);
}

/* With the meshcert binary's offline commands: a root in pki/root (once),
 * then a key pki/<name>.key, its CSR for HOST, and the intermediate signed
 * into pki/<name>/ in format (istio or tls), valid for ttl. */
static void make_intermediate(fixture *f, const char *name, const char *format, const char *ttl)
{
    char root[512], key[512], csr[512], out[512], probe[600];
    struct stat st;
    pki_path(f, "root", root, sizeof(root));
    snprintf(probe, sizeof(probe), "%s/root-cert.pem", root);
    if (stat(probe, &st) != 0)
        assert_int_equal(
            run(f, "ca", "create", "--dir", root, "--key-type", "ec-p256", "--org", "Istio", NULL),
            0);
    snprintf(key, sizeof(key), "%s/pki/%s.key", f->server.dir, name);
    snprintf(csr, sizeof(csr), "%s/pki/%s.csr", f->server.dir, name);
    pki_path(f, name, out, sizeof(out));
    assert_int_equal(run(f, "csr", "create", "--host", HOST, "--org", "Istio", "--key-type",
                         "ec-p256", "--out-key", key, "--out-csr", csr, NULL),
                     0);
    assert_int_equal(run(f, "sign", "--ca", root, "--csr", csr, "--host", HOST, "--org", "Istio",
                         "--ttl", ttl, "--key", key, "--format", format, "--out-dir", out, NULL),
                     0);
}

/* The certificate's notAfter as `openssl x509 -enddate` reads it, in the
 * form meshcert prints times (2026-12-23T14:52:18Z), into out. */
static void openssl_not_after(fixture *f, const char *cert_path, char *out, size_t size)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    assert_int_equal(run_openssl(f, "x509", "-enddate", "-noout", "-in", cert_path, NULL), 0);
    char month[4] = "";
    int day = 0, hour = 0, minute = 0, second = 0, year = 0;
    if (sscanf(f->out, "notAfter=%3s %d %d:%d:%d %d GMT", month, &day, &hour, &minute, &second,
               &year) != 6)
        fail_msg("unexpected openssl output: %s", f->out);
    const char *at = strstr(months, month);
    assert_non_null(at);
    assert_int_equal((at - months) % 3, 0);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, (int)(at - months) / 3 + 1, day,
             hour, minute, second);
}

/* The row of `meshcert status` (in f->out) for object, split into its
 * columns before ERROR: CLUSTER NAMESPACE/NAME STATE GEN/OBS NOT-BEFORE
 * NOT-AFTER RENEWAL ROOTS ROTATION. */
#define STATUS_COLUMNS 9
static void status_row(const fixture *f, const char *object, char columns[STATUS_COLUMNS][128])
{
    const char *line = f->out;
    while (line && *line) {
        char c[STATUS_COLUMNS][128];
        if (sscanf(line, "%127s %127s %127s %127s %127s %127s %127s %127s %127s", c[0], c[1],
                   c[2], c[3], c[4], c[5], c[6], c[7], c[8]) == STATUS_COLUMNS &&
            strcmp(c[1], object) == 0) {
            memcpy(columns, c, sizeof(c));
            return;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    fail_msg("no status row for %s in:\n%s", object, f->out);
}

/* Asserts that file dir/name holds exactly the text of file src. */
static void assert_same_file(const char *dir, const char *name, const char *src)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *a = read_text(path), *b = read_text(src);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* verify --cluster on valid output Secrets (Istio and TLS layouts): exit 0,
 * the report, and --write-dir writing what was verified; on a Secret whose
 * key belongs to another certificate: exit 1 naming the Secret, the file and
 * the mismatch, and nothing written. */
static void test_verify_cluster(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    make_intermediate(f, "east", "istio", "365d");
    make_intermediate(f, "other", "istio", "365d");
    make_intermediate(f, "east-tls", "tls", "365d");
    char dir[512], other_key[512], tls_dir[512];
    pki_path(f, "east", dir, sizeof(dir));
    pki_path(f, "east-tls", tls_dir, sizeof(tls_dir));
    snprintf(other_key, sizeof(other_key), "%s/pki/other.key", f->server.dir);
    char ca_cert[600], ca_key[600], chain[600], root[600];
    snprintf(ca_cert, sizeof(ca_cert), "%s/ca-cert.pem", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca-key.pem", dir);
    snprintf(chain, sizeof(chain), "%s/cert-chain.pem", dir);
    snprintf(root, sizeof(root), "%s/root-cert.pem", dir);
    const secret_file good[] = {{"ca-cert.pem", ca_cert},
                                {"ca-key.pem", ca_key},
                                {"cert-chain.pem", chain},
                                {"root-cert.pem", root}};
    create_secret(f, "cacerts", "certificates.smh.solo.io/issued_certificate", good, 4);

    /* the default --secret, istio-system/cacerts */
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", NULL), 0);
    assert_non_null(strstr(f->out, "secret istio-system/cacerts on cluster east (istio layout), "
                                   "trusted root: the Secret's own\n"));
    assert_non_null(strstr(f->out, "matches ca-cert.pem"));
    assert_non_null(strstr(f->out, "chain: OK"));
    assert_non_null(strstr(f->out, "\nOK\n"));

    /* --write-dir: the files verified, the key 0600 */
    char written[512];
    snprintf(written, sizeof(written), "%s/written", f->server.dir);
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", "--secret",
                         "istio-system/cacerts", "--write-dir", written, NULL),
                     0);
    assert_same_file(written, "ca-cert.pem", ca_cert);
    assert_same_file(written, "ca-key.pem", ca_key);
    assert_same_file(written, "cert-chain.pem", chain);
    assert_same_file(written, "root-cert.pem", root);
    struct stat st;
    char path[600];
    snprintf(path, sizeof(path), "%s/ca-key.pem", written);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* the TLS layout */
    char tls_crt[600], tls_key[600], tls_ca[600];
    snprintf(tls_crt, sizeof(tls_crt), "%s/tls.crt", tls_dir);
    snprintf(tls_key, sizeof(tls_key), "%s/tls.key", tls_dir);
    snprintf(tls_ca, sizeof(tls_ca), "%s/ca.crt", tls_dir);
    const secret_file tls[] = {{"tls.crt", tls_crt}, {"tls.key", tls_key}, {"ca.crt", tls_ca}};
    create_secret(f, "cacerts-tls", "kubernetes.io/tls", tls, 3);
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", "--secret",
                         "istio-system/cacerts-tls", NULL),
                     0);
    assert_non_null(strstr(f->out, "secret istio-system/cacerts-tls on cluster east (tls layout)"));
    assert_non_null(strstr(f->out, "\nOK\n"));

    /* another intermediate's key next to east's certificate */
    const secret_file bad[] = {{"ca-cert.pem", ca_cert},
                               {"ca-key.pem", other_key},
                               {"cert-chain.pem", chain},
                               {"root-cert.pem", root}};
    create_secret(f, "cacerts-badkey", "certificates.smh.solo.io/issued_certificate", bad, 4);
    char not_written[512];
    snprintf(not_written, sizeof(not_written), "%s/not-written", f->server.dir);
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", "--secret",
                         "istio-system/cacerts-badkey", "--write-dir", not_written, NULL),
                     1);
    assert_non_null(strstr(f->out, "meshcert verify: "));
    assert_non_null(strstr(f->out, "secret istio-system/cacerts-badkey on cluster east"));
    assert_non_null(strstr(f->out, "ca-key.pem"));
    assert_non_null(strstr(f->out, "private key does not match certificate"));
    assert_null(strstr(f->out, "\nOK\n"));
    assert_int_not_equal(stat(not_written, &st), 0);

    /* no ca-key.pem: istiod would not use the Secret (it would make a
     * self-signed root of its own), so verify fails naming the key */
    const secret_file keyless[] = {
        {"ca-cert.pem", ca_cert}, {"cert-chain.pem", chain}, {"root-cert.pem", root}};
    create_secret(f, "cacerts-nokey", "certificates.smh.solo.io/issued_certificate", keyless, 3);
    assert_int_equal(run(f, "verify", "--kubeconfig", k, "--cluster", "east", "--secret",
                         "istio-system/cacerts-nokey", "--write-dir", not_written, NULL),
                     1);
    assert_non_null(strstr(f->out, "secret istio-system/cacerts-nokey on cluster east"));
    assert_non_null(strstr(f->out, "ca-key.pem: missing"));
    assert_non_null(strstr(f->out, "self-signed root"));
    assert_null(strstr(f->out, "\nOK\n"));
    assert_int_not_equal(stat(not_written, &st), 0);
}

/* status NOT-AFTER: the notAfter of ca-cert.pem (Istio) or tls.crt (TLS) of
 * the output Secret, as openssl reads it; "-" when there is no Secret. */
static void test_status_not_after(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    /* TTLs unlike the root's 10 years and unlike each other */
    make_intermediate(f, "present", "istio", "30d");
    make_intermediate(f, "present-tls", "tls", "45d");
    char dir[512], tls_dir[512], ca_cert[600], ca_key[600], chain[600], root[600];
    char tls_crt[600], tls_key[600], tls_ca[600];
    pki_path(f, "present", dir, sizeof(dir));
    pki_path(f, "present-tls", tls_dir, sizeof(tls_dir));
    snprintf(ca_cert, sizeof(ca_cert), "%s/ca-cert.pem", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca-key.pem", dir);
    snprintf(chain, sizeof(chain), "%s/cert-chain.pem", dir);
    snprintf(root, sizeof(root), "%s/root-cert.pem", dir);
    snprintf(tls_crt, sizeof(tls_crt), "%s/tls.crt", tls_dir);
    snprintf(tls_key, sizeof(tls_key), "%s/tls.key", tls_dir);
    snprintf(tls_ca, sizeof(tls_ca), "%s/ca.crt", tls_dir);
    const secret_file istio[] = {{"ca-cert.pem", ca_cert},
                                 {"ca-key.pem", ca_key},
                                 {"cert-chain.pem", chain},
                                 {"root-cert.pem", root}};
    const secret_file tls[] = {{"tls.crt", tls_crt}, {"tls.key", tls_key}, {"ca.crt", tls_ca}};
    create_secret(f, "present", "certificates.smh.solo.io/issued_certificate", istio, 4);
    create_secret(f, "present-tls", "kubernetes.io/tls", tls, 3);
    char want_istio[64], want_tls[64], want_root[64];
    openssl_not_after(f, ca_cert, want_istio, sizeof(want_istio));
    openssl_not_after(f, tls_crt, want_tls, sizeof(want_tls));
    openssl_not_after(f, root, want_root, sizeof(want_root));
    assert_string_not_equal(want_istio, want_tls);
    assert_string_not_equal(want_istio, want_root);

    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name",
                         "with-secret", "--host", HOST, "--org", "Istio", "--output-secret",
                         "istio-system/present", NULL),
                     0);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "with-tls",
                         "--host", HOST, "--org", "Istio", "--output-secret",
                         "istio-system/present-tls", NULL),
                     0);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name",
                         "without-secret", "--host", HOST, "--org", "Istio", "--output-secret",
                         "istio-system/absent", NULL),
                     0);

    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    char columns[STATUS_COLUMNS][128];
    status_row(f, "NAMESPACE/NAME", columns);
    assert_string_equal(columns[4], "NOT-BEFORE");
    assert_string_equal(columns[5], "NOT-AFTER");
    status_row(f, "meshcert/with-secret", columns);
    assert_string_equal(columns[0], "east");
    assert_string_equal(columns[5], want_istio);
    assert_int_equal(strlen(columns[4]), strlen("2026-01-01T00:00:00Z"));
    assert_true(strcmp(columns[4], columns[5]) < 0);
    status_row(f, "meshcert/with-tls", columns);
    assert_string_equal(columns[5], want_tls);
    status_row(f, "meshcert/without-secret", columns);
    assert_string_equal(columns[0], "east");
    assert_string_equal(columns[4], "-");
    assert_string_equal(columns[5], "-");
}

/* Writes a copy of the kubeconfig src to dst with the first line holding
 * find replaced by replacement (a whole line), or, when replace_line is 0,
 * the first occurrence of find replaced. */
static void write_variant(const char *src, const char *dst, const char *find,
                          const char *replacement, int replace_line)
{
    char *text = read_text(src);
    char *at = strstr(text, find);
    assert_non_null(at);
    char *end = at + strlen(find);
    if (replace_line) {
        while (at > text && at[-1] != '\n')
            at--;
        end = strchr(end, '\n');
        assert_non_null(end);
    }
    FILE *file = fopen(dst, "w");
    assert_non_null(file);
    fwrite(text, 1, (size_t)(at - text), file);
    fputs(replacement, file);
    fputs(end, file);
    fclose(file);
    free(text);
}

/* Without --kubeconfig the commands use $KUBECONFIG (a list: missing files
 * skipped) and then ~/.kube/config, as kubectl; --context picks a context. */
static void test_kubeconfig_defaults(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "ic1", "--host", HOST, NULL),
                     0);
    char list[1200];
    snprintf(list, sizeof(list), "%s/absent.yaml:%s", f->server.dir, k);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(run(f, "status", NULL), 0);
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_int_equal(run(f, "cluster", "list", NULL), 0);
    assert_non_null(strstr(f->out, "east "));
    assert_int_equal(run(f, "status", "--context", "mgmt", NULL), 0);
    assert_int_equal(run(f, "status", "--request-timeout", "0", NULL), 0); /* none */
    assert_int_equal(run(f, "status", "--request-timeout", "0s", NULL), 0);
    assert_int_equal(run(f, "status", "--request-timeout", "45", NULL), 0); /* seconds */
    assert_int_equal(run(f, "status", "--context", "nope", NULL), 1);
    assert_non_null(strstr(f->out, "context \"nope\" not found"));
    /* the first file to define context mgmt wins: a copy whose server is
     * down, listed first, is the one used */
    char down[600];
    snprintf(down, sizeof(down), "%s/down.yaml", f->server.dir);
    char port[32];
    snprintf(port, sizeof(port), ":%d/", f->server.port);
    write_variant(k, down, port, ":1/", 0);
    snprintf(list, sizeof(list), "%s:%s", down, k);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(run(f, "status", NULL), 1);
    assert_non_null(strstr(f->out, "https://127.0.0.1:1/clusters/mgmt"));
    /* --kubeconfig beats KUBECONFIG */
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    unsetenv("KUBECONFIG");

    /* ~/.kube/config (HOME is the server's directory in these tests) */
    char kube_dir[600], home_config[700];
    snprintf(kube_dir, sizeof(kube_dir), "%s/.kube", f->server.dir);
    snprintf(home_config, sizeof(home_config), "%s/config", kube_dir);
    assert_int_equal(mkdir(kube_dir, 0700), 0);
    write_variant(k, home_config, "kind: Config", "kind: Config", 0);
    assert_int_equal(run(f, "status", NULL), 0);
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_int_equal(run(f, "verify", "--cluster", "east", NULL), 1); /* reached: no cacerts */
    assert_non_null(strstr(f->out, "cacerts"));
    remove(home_config);
    rmdir(kube_dir);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Network failures name the server URL and what to check: connection
 * refused, a server that accepts the connection and never answers (ends
 * within --request-timeout), a server certificate the kubeconfig's CA does
 * not verify (naming that CA). */
static void test_network_errors(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    char port[32], path[600];
    snprintf(port, sizeof(port), ":%d/", f->server.port);

    snprintf(path, sizeof(path), "%s/refused.yaml", f->server.dir);
    write_variant(k, path, port, ":1/", 0);
    assert_int_equal(run(f, "status", "--kubeconfig", path, NULL), 1);
    assert_non_null(strstr(f->out, "cannot connect to https://127.0.0.1:1/clusters/mgmt "
                                   "(connection refused): is the API server running, is the "
                                   "kubeconfig's server address right?"));
    assert_null(strstr(f->out, "Couldn't connect"));

    /* a listening socket that never accepts: the TCP handshake completes
     * (the backlog) and nothing is ever said */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(silent >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    assert_int_equal(bind(silent, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(silent, 16), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&addr, &len), 0);
    char silent_port[32];
    snprintf(silent_port, sizeof(silent_port), ":%d/", ntohs(addr.sin_port));
    snprintf(path, sizeof(path), "%s/silent.yaml", f->server.dir);
    write_variant(k, path, port, silent_port, 0);
    double start = now_seconds();
    int rc = run(f, "status", "--kubeconfig", path, "--request-timeout", "2s", NULL);
    double elapsed = now_seconds() - start;
    close(silent);
    assert_int_equal(rc, 1);
    assert_true(elapsed >= 1.5 && elapsed < 6);
    char want[900];
    snprintf(want, sizeof(want), "no reply from https://127.0.0.1%sclusters/mgmt within 2 s",
             silent_port);
    assert_non_null(strstr(f->out, want));

    /* a CA that did not sign the server's certificate */
    char root_dir[600], ca_line[800];
    snprintf(root_dir, sizeof(root_dir), "%s/other-root", f->server.dir);
    assert_int_equal(run(f, "ca", "create", "--dir", root_dir, "--key-type", "ec-p256", NULL), 0);
    snprintf(ca_line, sizeof(ca_line), "    certificate-authority: %s/root-cert.pem", root_dir);
    snprintf(path, sizeof(path), "%s/wrong-ca.yaml", f->server.dir);
    write_variant(k, path, "certificate-authority-data:", ca_line, 1);
    assert_int_equal(run(f, "status", "--kubeconfig", path, NULL), 1);
    assert_non_null(strstr(f->out, "the server certificate of https://127.0.0.1"));
    assert_non_null(strstr(f->out, "does not verify"));
    snprintf(want, sizeof(want), "check certificate-authority %s/root-cert.pem of cluster \"mgmt\"",
             root_dir);
    assert_non_null(strstr(f->out, want));
    assert_null(strstr(f->out, server_token(&f->server, "mgmt")));
}

/* Starts meshcert with args (NULL-terminated) without waiting, stdout and
 * stderr into path; returns its pid, also kept in f->child so that teardown
 * stops it when the test fails first. */
static pid_t spawn_meshcert(fixture *f, const char *path, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = MESHCERT_BIN;
    va_list ap;
    va_start(ap, path);
    for (char *arg; argc < 39 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    f->child = pid;
    return pid;
}

/* Waits at most seconds for f->child; its exit status, or -1 (then it is
 * killed: a test never leaves a process behind). */
static int wait_exit(fixture *f, int seconds)
{
    int status = 0;
    pid_t pid = f->child;
    f->child = 0;
    for (int i = 0; i < seconds * 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Waits until IssuedCertificate meshcert/name exists on east. */
static void wait_created(fixture *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), IC_PATH "/%s", name);
    for (int i = 0; i < 100; i++) {
        if (http_status(f, "east", "GET", path, NULL) == 200)
            return;
        sleep_ms(100);
    }
    fail_msg("issuedcertificate %s was not created", name);
}

/* Merge-patches the status of IssuedCertificate meshcert/name on east, as
 * the agent would write it. */
static void set_status(fixture *f, const char *name, const char *status_json)
{
    char path[256], body[1024];
    snprintf(path, sizeof(path), "/clusters/east" IC_PATH "/%s/status", name);
    snprintf(body, sizeof(body), "{\"status\":%s}", status_json);
    http_reply reply = {0};
    assert_int_equal(http_do(&f->server, server_token(&f->server, "east"), "PATCH", path, body,
                             "application/merge-patch+json", &reply),
                     0);
    if (reply.status != 200)
        fail_msg("patch status of %s: HTTP %ld %s", name, reply.status, reply.body);
    http_reply_free(&reply);
}

/* The registration's kubeconfig (decoded with the openssl CLI), parsed;
 * the caller decrefs. */
static json_t *stored_kubeconfig(fixture *f, const char *cluster)
{
    char path[256], b64_path[600], text_path[600];
    snprintf(path, sizeof(path), "/clusters/mgmt/api/v1/namespaces/meshcert/secrets/%s", cluster);
    http_reply reply = {0};
    assert_int_equal(
        http_do(&f->server, server_token(&f->server, "mgmt"), "GET", path, NULL, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(reply.json, "data"), cluster));
    assert_non_null(b64);
    snprintf(b64_path, sizeof(b64_path), "%s/registration.b64", f->server.dir);
    snprintf(text_path, sizeof(text_path), "%s/registration.kubeconfig", f->server.dir);
    FILE *file = fopen(b64_path, "w");
    assert_non_null(file);
    fputs(b64, file);
    fclose(file);
    http_reply_free(&reply);
    assert_int_equal(run_openssl(f, "base64", "-d", "-A", "-in", b64_path, "-out", text_path, NULL),
                     0);
    json_error_t error;
    json_t *config = json_load_file(text_path, 0, &error); /* register writes JSON, which is YAML */
    if (!config)
        fail_msg("stored kubeconfig: %s", error.text);
    return config;
}

/* status of method path on cluster with token; the body's message into msg. */
static long status_as(fixture *f, const char *token, const char *method, const char *path,
                      const char *body, char *msg, size_t msg_size)
{
    http_reply reply = {0};
    assert_int_equal(http_do(&f->server, token, method, path, body, NULL, &reply), 0);
    if (msg && msg_size)
        snprintf(msg, msg_size, "%s",
                 json_string_value(json_object_get(reply.json, "message"))
                     ? json_string_value(json_object_get(reply.json, "message"))
                     : "");
    long status = reply.status;
    http_reply_free(&reply);
    return status;
}

/* register without --keep-kubeconfig stores no admin credentials but the
 * token of ServiceAccount meshcert/meshcert-issuer of the managed cluster,
 * allowed only what the issuer does in the agent's namespace: it reads
 * CertificateRequests and IssuedCertificates there, and is refused (403,
 * kube's words) Secrets, other namespaces, creating IssuedCertificates,
 * and (401) the management cluster. Registering again keeps the token. */
static void test_register_least_privilege(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig, msg[1024];
    char admin[256];
    snprintf(admin, sizeof(admin), "%s", server_token(&f->server, "east"));
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     0);
    assert_non_null(strstr(f->out, "as ServiceAccount meshcert/meshcert-issuer"));
    json_t *config = stored_kubeconfig(f, "east");
    char *text = json_dumps(config, JSON_COMPACT);
    assert_null(strstr(text, admin)); /* the admin token is not stored */
    free(text);
    const json_t *context =
        json_object_get(json_array_get(json_object_get(config, "contexts"), 0), "context");
    assert_string_equal(json_string_value(json_object_get(context, "namespace")), "meshcert");
    char token[4096];
    snprintf(token, sizeof(token), "%s",
             json_string_value(json_object_get(
                 json_object_get(json_array_get(json_object_get(config, "users"), 0), "user"),
                 "token")));
    json_decref(config);
    assert_true(strlen(token) > 100);

    /* what the issuer needs */
    assert_int_equal(status_as(f, token, "GET", "/clusters/east" IC_PATH, NULL, NULL, 0), 200);
    assert_int_equal(status_as(f, token, "GET",
                               "/clusters/east/apis/certificates.smh.solo.io/v1alpha2/namespaces/"
                               "meshcert/certificaterequests?watch=true&timeoutSeconds=1",
                               NULL, NULL, 0),
                     200);
    /* allowed to write a request's status: past authorization, 404 as there is none */
    assert_int_equal(status_as(f, token, "PUT",
                               "/clusters/east/apis/certificates.smh.solo.io/v1alpha2/namespaces/"
                               "meshcert/certificaterequests/none/status",
                               "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":"
                               "\"CertificateRequest\",\"metadata\":{\"name\":\"none\"}}",
                               msg, sizeof(msg)),
                     404);
    /* and nothing else */
    assert_int_equal(status_as(f, token, "GET", "/clusters/east/api/v1/namespaces/meshcert/secrets",
                               NULL, msg, sizeof(msg)),
                     403);
    assert_string_equal(msg,
                        "secrets is forbidden: User "
                        "\"system:serviceaccount:meshcert:meshcert-issuer\" cannot list "
                        "resource \"secrets\" in API group \"\" in the namespace \"meshcert\"");
    assert_int_equal(status_as(f, token, "GET", SECRETS_PATH "/cacerts", NULL, msg, sizeof(msg)),
                     403);
    assert_non_null(strstr(msg, "secrets \"cacerts\" is forbidden"));
    assert_int_equal(status_as(f, token, "GET",
                               "/clusters/east/apis/certificates.smh.solo.io/v1alpha2/"
                               "issuedcertificates",
                               NULL, msg, sizeof(msg)),
                     403);
    assert_non_null(strstr(msg, "at the cluster scope"));
    assert_int_equal(status_as(f, token, "POST", "/clusters/east" IC_PATH,
                               "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":"
                               "\"IssuedCertificate\",\"metadata\":{\"name\":\"x\"}}",
                               msg, sizeof(msg)),
                     403);
    assert_int_equal(status_as(f, token, "GET", "/clusters/mgmt/api/v1/namespaces", NULL, NULL, 0),
                     401);
    /* the objects it is, in the managed cluster */
    assert_int_equal(http_status(f, "east", "GET",
                                 "/apis/rbac.authorization.k8s.io/v1/namespaces/meshcert/roles/"
                                 "meshcert-issuer",
                                 NULL),
                     200);
    assert_int_equal(http_status(f, "east", "GET",
                                 "/api/v1/namespaces/meshcert/serviceaccounts/meshcert-issuer",
                                 NULL),
                     200);

    /* registering again (--force) brings the Role up to date, keeps the token */
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--org", "Istio", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--force", NULL),
                     0);
    assert_int_equal(status_as(f, token, "GET", "/clusters/east" IC_PATH, NULL, NULL, 0), 200);
    /* deleting the ServiceAccount in the managed cluster revokes it */
    assert_int_equal(http_status(f, "east", "DELETE",
                                 "/api/v1/namespaces/meshcert/serviceaccounts/meshcert-issuer",
                                 NULL),
                     200);
    assert_int_equal(status_as(f, token, "GET", "/clusters/east" IC_PATH, NULL, NULL, 0), 401);
    memset(token, 0, sizeof(token));
}

/* issue refuses an IssuedCertificate that would share an output Secret,
 * use another's key Secret or PodBounceDirective (exit 1 naming the other,
 * nothing created); status exits 1 when a row is FAILED. */
static void test_issue_conflicts_and_failed_status(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "first", "--host", HOST, NULL),
                     0);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "second", "--host", HOST, NULL),
                     1);
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/first already writes its "
                                   "certificate to Secret istio-system/cacerts"));
    assert_int_equal(http_status(f, "east", "GET", IC_PATH "/second", NULL), 404);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "second", "--host", HOST, "--output-secret", "meshcert/first",
                         NULL),
                     1);
    assert_non_null(strstr(f->out, "private key Secret of issuedcertificate meshcert/first"));
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "second", "--host", HOST, "--output-secret", "meshcert/second",
                         NULL),
                     2); /* its own key Secret */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "second", "--host", HOST, "--output-secret",
                         "istio-system/second", NULL),
                     0);

    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    set_status(f, "first", "{\"state\":\"FAILED\",\"observedGeneration\":1,\"error\":\"boom\"}");
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 1);
    char columns[STATUS_COLUMNS][128];
    status_row(f, "meshcert/first", columns);
    assert_string_equal(columns[2], "FAILED");
    assert_non_null(strstr(f->out, "boom"));
}

/* issue --wait: exit 0 once FINISHED, 1 printing status.error once FAILED,
 * 1 when --timeout passes first. */
static void test_issue_wait(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    char out[600];
    snprintf(out, sizeof(out), "%s/wait.out", f->server.dir);

    pid_t pid = spawn_meshcert(f, out, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster",
                               "east", "--name", "done", "--host", HOST, "--output-secret",
                               "istio-system/done", "--wait", "--timeout", "30s", NULL);
    wait_created(f, "done");
    set_status(f, "done", "{\"state\":\"REQUESTED\",\"observedGeneration\":1}");
    sleep_ms(700);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still waiting */
    set_status(f, "done", "{\"state\":\"FINISHED\",\"observedGeneration\":1}");
    assert_int_equal(wait_exit(f, 10), 0);
    char *text = read_text(out);
    assert_non_null(strstr(text, "issuedcertificate meshcert/done on cluster east: FINISHED"));
    free(text);

    spawn_meshcert(f, out, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                   "--name", "broken", "--host", HOST, "--output-secret", "istio-system/broken",
                   "--wait", NULL);
    wait_created(f, "broken");
    set_status(f, "broken",
               "{\"state\":\"FAILED\",\"observedGeneration\":1,\"error\":\"no root in "
               "meshcert/root-ca\"}");
    assert_int_equal(wait_exit(f, 10), 1);
    text = read_text(out);
    assert_non_null(strstr(text, "meshcert issue: cluster east: issuedcertificate meshcert/broken "
                                 "FAILED: no root in meshcert/root-ca"));
    free(text);

    double start = now_seconds();
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "slow", "--host", HOST, "--output-secret", "istio-system/slow",
                         "--wait", "--timeout", "1s", NULL),
                     1);
    assert_true(now_seconds() - start < 5);
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/slow not issued within 1s"));
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "x", "--host", HOST, "--timeout", "1s", NULL),
                     2); /* --timeout without --wait */
}

/* The spec (new reference) of IssuedCertificate meshcert/name on east. */
static json_t *get_ic(fixture *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/clusters/east" IC_PATH "/%s", name);
    http_reply reply = {0};
    assert_int_equal(
        http_do(&f->server, server_token(&f->server, "east"), "GET", path, NULL, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    json_t *ic = json_incref(reply.json);
    http_reply_free(&reply);
    return ic;
}

/* The rotate annotation of meshcert/name on east, copied into token ("" when
 * absent). */
static void rotate_token(fixture *f, const char *name, char token[64])
{
    json_t *ic = get_ic(f, name);
    const char *value = json_string_value(json_object_get(
        json_object_get(json_object_get(ic, "metadata"), "annotations"),
        "certificates.smh.solo.io/rotate"));
    snprintf(token, 64, "%s", value ? value : "");
    json_decref(ic);
}

/* "<RFC 3339>-<8 lowercase hex>", as the contract of issue 12 writes it. */
static void assert_token_form(const char *token)
{
    int year, month, day, hour, minute, second, end = 0;
    char hex[9];
    if (sscanf(token, "%4d-%2d-%2dT%2d:%2d:%2dZ-%8[0-9a-f]%n", &year, &month, &day, &hour,
               &minute, &second, hex, &end) != 7 ||
        (size_t)end != strlen(token) || strlen(token) != 29 || year < 2025 || month > 12)
        fail_msg("rotate token \"%s\" is not <RFC 3339>-<8 hex>", token);
}

/* issue --duration/--renew-before/--key-type: checked before anything is
 * written, stored as Go durations and the key type's name; the server
 * refuses (422) what the CRD's schema refuses. */
static void test_issue_lifetime_flags(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    register_east(f);
    const char *bad[][2] = {{"--duration", "30s"},     {"--duration", "87601h"},
                            {"--duration", "soon"},    {"--renew-before", "0s"},
                            {"--key-type", "rsa1024"}, {"--key-type", ""}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                             "--name", "bad", "--host", HOST, bad[i][0], bad[i][1], NULL),
                         2);
        assert_non_null(strstr(f->out, bad[i][0]));
    }
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "bad", "--host", HOST, "--duration", "1h", "--renew-before",
                         "1h", NULL),
                     2);
    assert_non_null(strstr(f->out, "--renew-before 1h must be shorter than --duration 1h"));
    assert_int_equal(http_status(f, "east", "GET", IC_PATH "/bad", NULL), 404);

    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "short", "--host", HOST, "--duration", "1h30m",
                         "--renew-before", "1800", "--key-type", "ec-p256", NULL),
                     0);
    json_t *ic = get_ic(f, "short");
    json_t *spec = json_object_get(ic, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "duration")), "90m");
    assert_string_equal(json_string_value(json_object_get(spec, "renewBefore")), "30m");
    assert_string_equal(json_string_value(json_object_get(spec, "keyType")), "ec-p256");
    json_decref(ic);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "year", "--host", HOST, "--output-secret", "istio-system/year",
                         "--duration", "365d", NULL),
                     0);
    ic = get_ic(f, "year");
    spec = json_object_get(ic, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "duration")), "8760h");
    assert_null(json_object_get(spec, "renewBefore"));
    assert_null(json_object_get(spec, "keyType"));
    json_decref(ic);

    /* the server: a bad keyType or duration is 422 naming the field */
    const char *refused[][2] = {
        {"\"duration\":\"365d\"", "spec.duration in body should match"},
        {"\"keyType\":\"rsa1024\"", "spec.keyType: Unsupported value: \\\"rsa1024\\\""},
        {"\"renewBefore\":\"1.5h\"", "spec.renewBefore in body should match"}};
    for (size_t i = 0; i < 3; i++) {
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":"
                 "\"IssuedCertificate\",\"metadata\":{\"name\":\"raw\"},\"spec\":{\"hosts\":"
                 "[\"a.example\"],\"org\":\"Istio\",%s}}",
                 refused[i][0]);
        http_reply reply = {0};
        assert_int_equal(http_do(&f->server, server_token(&f->server, "east"), "POST",
                                 "/clusters/east" IC_PATH, body, NULL, &reply),
                         0);
        if (reply.status != 422 || !reply.body || !strstr(reply.body, refused[i][1]))
            fail_msg("%s: HTTP %ld %s", refused[i][0], reply.status, reply.body);
        http_reply_free(&reply);
    }
    assert_int_equal(http_status(f, "east", "GET", IC_PATH "/raw", NULL), 404);
}

/* rotate: usage errors; a cluster not registered, a missing name, a
 * cluster without IssuedCertificates are clear failures; the token is
 * written (and only it), one line per object; status shows the rotation
 * pending until status.rotation takes the token, and the new columns;
 * --all reaches every object; --wait ends on the token FINISHED, on
 * FAILED, or at --timeout. */
static void test_rotate(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, NULL), 2);
    assert_non_null(strstr(f->out, "either --cluster C"));
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--all", "--cluster", "east", NULL), 2);
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--all", "--name", "x", NULL), 2);
    assert_int_equal(
        run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--timeout", "1s", NULL), 2);
    assert_int_equal(
        run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "Bad_Name", NULL), 2);
    assert_int_equal(run(f, "rotate", "--help", NULL), 0);

    /* nothing registered yet */
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--cluster", "east", NULL), 1);
    assert_non_null(strstr(f->out, "not registered"));
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--all", NULL), 1);
    assert_non_null(strstr(f->out, "no issuedcertificates on any cluster"));
    register_east(f);
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--cluster", "east", NULL), 1);
    assert_non_null(strstr(f->out, "no issuedcertificates on cluster east"));
    assert_int_equal(
        run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "nope", NULL), 1);
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/nope not found on cluster east"));

    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "one", "--host", HOST, NULL),
                     0);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--org", "Istio", "--cluster", "east",
                         "--name", "two", "--host", HOST, "--output-secret", "istio-system/two",
                         NULL),
                     0);
    json_t *before = get_ic(f, "one");
    assert_int_equal(
        run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "one", NULL), 0);
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/one on cluster east: rotation "
                                   "requested (certificates.smh.solo.io/rotate="));
    assert_non_null(strstr(f->out, "; the issuance in flight completes first")); /* PENDING */
    assert_null(strstr(f->out, "meshcert/two"));
    char token[64], token_two[64];
    rotate_token(f, "one", token);
    assert_token_form(token);
    assert_non_null(strstr(f->out, token));
    rotate_token(f, "two", token_two);
    assert_string_equal(token_two, "");
    /* the annotation alone changed: not the spec, not the generation */
    json_t *after = get_ic(f, "one");
    assert_true(json_equal(json_object_get(before, "spec"), json_object_get(after, "spec")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(after, "metadata"), "generation")),
        json_integer_value(json_object_get(json_object_get(before, "metadata"), "generation")));
    json_decref(before);
    json_decref(after);

    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    char columns[STATUS_COLUMNS][128];
    status_row(f, "NAMESPACE/NAME", columns);
    assert_string_equal(columns[6], "RENEWAL");
    assert_string_equal(columns[7], "ROOTS");
    assert_string_equal(columns[8], "ROTATION");
    status_row(f, "meshcert/one", columns);
    assert_string_equal(columns[8], "pending");
    assert_string_equal(columns[6], "-");
    assert_string_equal(columns[7], "-");
    status_row(f, "meshcert/two", columns);
    assert_string_equal(columns[8], "-");

    /* the agent's status: times from it (no output Secret here), two roots */
    char status_json[1024];
    snprintf(status_json, sizeof(status_json),
             "{\"state\":\"FINISHED\",\"observedGeneration\":1,\"rotation\":\"%s\","
             "\"notBefore\":\"2026-01-01T00:00:00Z\",\"notAfter\":\"2027-01-01T00:00:00Z\","
             "\"renewalTime\":\"2026-09-01T10:20:30Z\",\"rootFingerprints\":["
             "\"0123abcd%s\",\"fedc9876%s\"]}",
             token, "00000000000000000000000000000000000000000000000000000000",
             "11111111111111111111111111111111111111111111111111111111");
    set_status(f, "one", status_json);
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 0);
    status_row(f, "meshcert/one", columns);
    assert_string_equal(columns[2], "FINISHED");
    assert_string_equal(columns[4], "2026-01-01T00:00:00Z");
    assert_string_equal(columns[5], "2027-01-01T00:00:00Z");
    assert_string_equal(columns[6], "2026-09-01T10:20:30Z");
    assert_string_equal(columns[7], "0123abcd,fedc9876");
    assert_string_equal(columns[8], "-");

    /* --namespace-in-cluster without --name: only that namespace's */
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--cluster", "east",
                         "--namespace-in-cluster", "default", NULL),
                     1);
    assert_non_null(strstr(f->out, "no issuedcertificates on cluster east in namespace default"));

    /* --all: both, with a new token */
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--all", NULL), 0);
    assert_non_null(strstr(f->out, "meshcert/one on cluster east: rotation requested"));
    assert_non_null(strstr(f->out, "meshcert/two on cluster east: rotation requested"));
    char token_all[64];
    rotate_token(f, "one", token_all);
    rotate_token(f, "two", token_two);
    assert_token_form(token_all);
    assert_string_equal(token_all, token_two);
    assert_string_not_equal(token_all, token);

    /* --all with a cluster down: reported (exit 1), the others still rotated */
    register_down_cluster(f, "down");
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--all", NULL), 1);
    assert_non_null(strstr(f->out, "meshcert rotate: cluster down: "));
    assert_non_null(strstr(f->out, "cannot connect to https://127.0.0.1:1/"));
    assert_non_null(strstr(f->out, "meshcert/two on cluster east: rotation requested"));
    char token_down[64];
    rotate_token(f, "one", token_down);
    assert_string_not_equal(token_down, token_all);
    assert_int_equal(run(f, "cluster", "deregister", "down", "--kubeconfig", k, NULL), 0);
    snprintf(token_all, sizeof(token_all), "%s", token_down);
    rotate_token(f, "two", token_two);

    /* --wait: no agent takes the token, --timeout ends it */
    double start = now_seconds();
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "one",
                         "--wait", "--timeout", "1s", NULL),
                     1);
    assert_true(now_seconds() - start < 6);
    assert_non_null(strstr(f->out, "FINISHED (rotation not started)"));
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/one not rotated within 1s"));

    /* --wait: done once status.rotation holds the token and FINISHED again */
    char out[600];
    snprintf(out, sizeof(out), "%s/rotate.out", f->server.dir);
    pid_t pid = spawn_meshcert(f, out, "rotate", "--kubeconfig", k, "--cluster", "east", "--name",
                               "two", "--wait", "--timeout", "30s", NULL);
    char seen[64] = "", old_two[64];
    snprintf(old_two, sizeof(old_two), "%s", token_two);
    for (int i = 0; i < 100 && (!seen[0] || !strcmp(seen, old_two)); i++) {
        sleep_ms(100);
        rotate_token(f, "two", seen);
    }
    assert_string_not_equal(seen, old_two);
    snprintf(status_json, sizeof(status_json),
             "{\"state\":\"REQUESTED\",\"observedGeneration\":1,\"rotation\":\"%s\"}", seen);
    set_status(f, "two", status_json);
    sleep_ms(700);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* REQUESTED: still waiting */
    snprintf(status_json, sizeof(status_json),
             "{\"state\":\"FINISHED\",\"observedGeneration\":1,\"rotation\":\"%s\"}", seen);
    set_status(f, "two", status_json);
    assert_int_equal(wait_exit(f, 10), 0);
    char *text = read_text(out);
    assert_non_null(strstr(text, "issuedcertificate meshcert/two on cluster east: REQUESTED"));
    assert_non_null(strstr(text, "issuedcertificate meshcert/two on cluster east: FINISHED\n"));
    free(text);

    /* --wait: FAILED ends it with the error; the line says why it waits */
    set_status(f, "two", "{\"state\":\"FAILED\",\"error\":\"no root\"}");
    assert_int_equal(
        run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "two", NULL), 0);
    assert_non_null(strstr(f->out, "it is FAILED: the agent rotates it once it is FINISHED again"));
    assert_int_equal(run(f, "rotate", "--kubeconfig", k, "--cluster", "east", "--name", "two",
                         "--wait", "--timeout", "10s", NULL),
                     1);
    assert_non_null(strstr(f->out, "issuedcertificate meshcert/two FAILED: no root"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_least_privilege, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_not_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_conflicts_and_failed_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_lifetime_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
