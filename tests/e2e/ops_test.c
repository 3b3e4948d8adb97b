/* ops_test.c - the operator commands as real processes against `meshcert
 * server` with clusters mgmt and east (a fresh server per test): `cluster
 * register` stores east's kubeconfig on mgmt (refusing to overwrite without
 * --force), `cluster list` shows it, `issue` creates the IssuedCertificate and
 * PodBounceDirective on east, `status` has a row for it and one "unreachable"
 * row for a cluster whose server is down, `cluster deregister` removes the
 * registration. Wrong arguments exit 2; a bad --host exits 2 and writes
 * nothing. `verify --cluster` passes on a valid output Secret (Istio and TLS
 * layouts, made with `ca create`, `csr create` and `sign`) and fails naming
 * a key that does not match; `status` shows the notAfter of the certificate
 * in the output Secret (as `openssl x509 -enddate` reads it) or "-".
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    char *out; /* stdout + stderr of the last command */
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
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--name", "x", "--host", "a.b", NULL), 2);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "x",
                         "--host", "a.b", "--bounce", "no-colon", NULL),
                     2);
    assert_int_equal(run(f, "status", "--bogus", NULL), 2);
    assert_int_equal(run(f, "status", NULL), 2);
    assert_int_equal(run(f, "verify", "--cluster", "east", NULL), 2);
    assert_int_equal(run(f, "verify", "--cluster", "east", "--kubeconfig", k, "--root", "r", NULL),
                     2);
    assert_int_equal(run(f, "cluster", "--help", NULL), 0);
    assert_int_equal(run(f, "issue", "--help", NULL), 0);
    assert_int_equal(run(f, "status", "--help", NULL), 0);
}

static void test_operator_flow(void **state)
{
    fixture *f = *state;
    char *k = f->mgmt_kubeconfig;

    /* register; a second register is refused, --force replaces */
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--kubeconfig", k, "--kubeconfig-file", f->east_kubeconfig, NULL),
                     0);
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--kubeconfig", k, "--kubeconfig-file", f->east_kubeconfig, NULL),
                     1);
    assert_non_null(strstr(f->out, "--force"));
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--kubeconfig", k, "--kubeconfig-file", f->east_kubeconfig, "--force",
                         NULL),
                     0);
    /* a file that is no kubeconfig is refused before anything is written */
    assert_int_equal(run(f, "cluster", "register", "bad", "--trust-domain", "cluster.local",
                         "--kubeconfig", k, "--kubeconfig-file", f->out_path, NULL),
                     1);
    assert_int_equal(http_status(f, "mgmt", "GET", "/api/v1/namespaces/meshcert/secrets/bad", NULL),
                     404);

    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, NULL), 0);
    assert_non_null(strstr(f->out, "NAME"));
    assert_non_null(strstr(f->out, "east "));
    assert_non_null(strstr(f->out, "https://127.0.0.1:"));
    assert_non_null(strstr(f->out, "trustDomains=cluster.local dnsSuffixes=- orgs=- "
                                   "roots=meshcert/root-ca"));

    /* a bad host: usage error, nothing written */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "ic1",
                         "--host", "istiod.istio-system.svc", "--host", "a..b", NULL),
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
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "ic1",
                         "--host", "istiod.istio-system.svc", NULL),
                     1);
    /* an unregistered cluster */
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "west", "--name", "ic1",
                         "--host", "istiod.istio-system.svc", NULL),
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
    snprintf(down, sizeof(down), "%s/west.yaml", f->server.dir);
    file = fopen(down, "w");
    assert_non_null(file);
    fwrite(text, 1, (size_t)(at - text), file);
    fputs(":1", file); /* nothing listens on port 1 */
    fputs(at + strlen(port), file);
    fclose(file);
    free(text);
    assert_int_equal(run(f, "cluster", "register", "west", "--trust-domain", "cluster.local",
                         "--kubeconfig", k, "--kubeconfig-file", down, NULL),
                     0);
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 1);
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_non_null(strstr(f->out, "unreachable"));
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
    assert_int_equal(run(f, "cluster", "register", "east", "--trust-domain", "cluster.local",
                         "--kubeconfig", f->mgmt_kubeconfig, "--kubeconfig-file",
                         f->east_kubeconfig, "--force", NULL),
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

/* The row of `meshcert status` (in f->out) for object, split into its first
 * five columns: CLUSTER NAMESPACE/NAME STATE GEN/OBS NOT-AFTER. */
static void status_row(const fixture *f, const char *object, char columns[5][128])
{
    const char *line = f->out;
    while (line && *line) {
        char c[5][128];
        if (sscanf(line, "%127s %127s %127s %127s %127s", c[0], c[1], c[2], c[3], c[4]) == 5 &&
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
    char columns[5][128];
    status_row(f, "NAMESPACE/NAME", columns);
    assert_string_equal(columns[4], "NOT-AFTER");
    status_row(f, "meshcert/with-secret", columns);
    assert_string_equal(columns[0], "east");
    assert_string_equal(columns[4], want_istio);
    status_row(f, "meshcert/with-tls", columns);
    assert_string_equal(columns[4], want_tls);
    status_row(f, "meshcert/without-secret", columns);
    assert_string_equal(columns[0], "east");
    assert_string_equal(columns[4], "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_not_after, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
