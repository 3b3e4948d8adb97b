/* ops_test.c - the operator commands as real processes against `meshcert
 * server` with clusters mgmt and east: `cluster register` stores east's
 * kubeconfig on mgmt (refusing to overwrite without --force), `cluster list`
 * shows it, `issue` creates the IssuedCertificate and PodBounceDirective on
 * east, `status` has a row for it and one "unreachable" row for a cluster
 * whose server is down, `cluster deregister` removes the registration.
 * Wrong arguments exit 2; a bad --host exits 2 and writes nothing.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server_process.h"

extern char **environ;

#define IC_PATH "/apis/certificates.smh.solo.io/v1alpha2/namespaces/meshcert/issuedcertificates"
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

/* Runs meshcert with args (NULL-terminated), stdout and stderr into f->out;
 * returns the exit status (-1 when it did not exit normally). */
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
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, f->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, MESHCERT_BIN, &actions, NULL, argv, environ);
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
    fprintf(stderr, "$ meshcert %s %s -> %d\n%s", argv[1], argc > 2 ? argv[2] : "",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, f->out ? f->out : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
        int rc = text ? http_do(&f->server, server_token(&f->server, "east"), "POST",
                                "/clusters/east/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                text,
                                "application/yaml", &reply)
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
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
             name);
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
        return -1;
    }
    snprintf(f->mgmt_kubeconfig, sizeof(f->mgmt_kubeconfig), "%s/kubeconfigs/mgmt.yaml",
             f->server.dir);
    snprintf(f->east_kubeconfig, sizeof(f->east_kubeconfig), "%s/kubeconfigs/east.yaml",
             f->server.dir);
    snprintf(f->out_path, sizeof(f->out_path), "%s/command.out", f->server.dir);
    if (create_namespace(f, "mgmt", "meshcert") || create_namespace(f, "east", "meshcert"))
        return -1;
    return apply_crds(f);
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
    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, "extra", NULL), 2);
    assert_int_equal(run(f, "cluster", "deregister", "--kubeconfig", k, NULL), 2);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--name", "x", "--host", "a.b", NULL), 2);
    assert_int_equal(run(f, "issue", "--kubeconfig", k, "--cluster", "east", "--name", "x",
                         "--host", "a.b", "--bounce", "no-colon", NULL),
                     2);
    assert_int_equal(run(f, "status", "--bogus", NULL), 2);
    assert_int_equal(run(f, "status", NULL), 2);
    assert_int_equal(run(f, "verify", "--cluster", "east", NULL), 2);
    assert_int_equal(run(f, "verify", "--cluster", "east", "--kubeconfig", k, "--root", "r",
                         NULL),
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
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     0);
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, NULL),
                     1);
    assert_non_null(strstr(f->out, "--force"));
    assert_int_equal(run(f, "cluster", "register", "east", "--kubeconfig", k, "--kubeconfig-file",
                         f->east_kubeconfig, "--force", NULL),
                     0);
    /* a file that is no kubeconfig is refused before anything is written */
    assert_int_equal(run(f, "cluster", "register", "bad", "--kubeconfig", k, "--kubeconfig-file",
                         f->out_path, NULL),
                     1);
    assert_int_equal(http_status(f, "mgmt", "GET", "/api/v1/namespaces/meshcert/secrets/bad",
                                 NULL),
                     404);

    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, NULL), 0);
    assert_non_null(strstr(f->out, "NAME"));
    assert_non_null(strstr(f->out, "east "));
    assert_non_null(strstr(f->out, "https://127.0.0.1:"));

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
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(spec, "podBounceDirective"), "name")),
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
    assert_int_equal(run(f, "cluster", "register", "west", "--kubeconfig", k, "--kubeconfig-file",
                         down, NULL),
                     0);
    assert_int_equal(run(f, "status", "--kubeconfig", k, NULL), 1);
    assert_non_null(strstr(f->out, "meshcert/ic1"));
    assert_non_null(strstr(f->out, "unreachable"));
    assert_int_equal(run(f, "cluster", "deregister", "west", "--kubeconfig", k, NULL), 0);

    /* deregister; again is a failure; list no longer shows it */
    assert_int_equal(run(f, "cluster", "deregister", "east", "--kubeconfig", k, NULL), 0);
    assert_int_equal(http_status(f, "mgmt", "GET", "/api/v1/namespaces/meshcert/secrets/east",
                                 NULL),
                     404);
    assert_int_equal(run(f, "cluster", "deregister", "east", "--kubeconfig", k, NULL), 1);
    assert_int_equal(run(f, "cluster", "list", "--kubeconfig", k, NULL), 0);
    assert_null(strstr(f->out, "east "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_operator_flow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
