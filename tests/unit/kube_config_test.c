/* kube_config_test.c - kubeconfig and in-cluster configuration (kube/config.c)
 * from the fixtures in tests/data/kube/, and URL building (kube/internal.h):
 * every way of naming a CA, a client certificate and a token; relative paths;
 * exec plugins; the failures a user meets (missing context, cluster, file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/internal.h"
#include "util/str.h"

#define FIXTURE MC_TEST_DATA "/kube/kubeconfig.yaml"

static mc_kube_config *load(const char *context)
{
    mc_kube_config *config = NULL;
    mc_err err = {0};
    int rc = mc_kube_config_load_file(FIXTURE, context, &config, &err);
    if (rc)
        fail_msg("load %s: %s", context ? context : "(current)", err.msg);
    return config;
}

static void test_current_context_static_token(void **state)
{
    (void)state;
    mc_kube_config *c = load(NULL);
    assert_string_equal(c->context, "token-ctx");
    assert_string_equal(c->server, "https://127.0.0.1:6443/clusters/c1"); /* trailing / cut */
    assert_string_equal(c->token, "static-token-abc");
    assert_string_equal(c->namespace, "team-a");
    assert_non_null(c->ca_pem);
    assert_non_null(strstr(c->ca_pem, "MIIBfixtureCA"));
    assert_null(c->client_cert_pem);
    assert_null(c->exec);
    assert_int_equal(c->insecure_skip_tls_verify, 0);
    mc_kube_config_free(c);
}

static void test_client_cert_data_and_files(void **state)
{
    (void)state;
    mc_kube_config *data = load("cert-data-ctx");
    mc_kube_config *files = load("cert-file-ctx");
    assert_non_null(strstr(data->client_cert_pem, "MIIBfixtureClientCert"));
    assert_non_null(strstr(data->client_key_pem, "MIIEfixtureClientKey"));
    assert_string_equal(data->client_cert_pem, files->client_cert_pem);
    assert_string_equal(data->client_key_pem, files->client_key_pem);
    assert_string_equal(data->namespace, "default");
    assert_string_equal(files->namespace, "team-b");
    /* certificate-authority as a file relative to the kubeconfig */
    assert_string_equal(files->ca_pem, data->ca_pem);
    assert_null(files->token);
    mc_kube_config_free(data);
    mc_kube_config_free(files);
}

static void test_token_file_resolved(void **state)
{
    (void)state;
    mc_kube_config *c = load("token-file-ctx");
    assert_null(c->token);
    assert_string_equal(c->token_file, MC_TEST_DATA "/kube/token");
    mc_kube_config_free(c);
}

static void test_insecure(void **state)
{
    (void)state;
    mc_kube_config *c = load("insecure-ctx");
    assert_int_equal(c->insecure_skip_tls_verify, 1);
    assert_null(c->ca_pem);
    mc_kube_config_free(c);
}

static void test_exec_plugin(void **state)
{
    (void)state;
    mc_kube_config *c = load("exec-ctx");
    assert_non_null(c->exec);
    assert_string_equal(c->exec->api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(c->exec->command, MC_TEST_DATA "/kube/./exec-plugin.sh");
    assert_int_equal(c->exec->args_len, 2);
    assert_string_equal(c->exec->args[0], "--cluster");
    assert_string_equal(c->exec->args[1], "c1");
    assert_int_equal(c->exec->env_len, 1);
    assert_string_equal(c->exec->env[0], "MC_PLUGIN_MODE=fixture");
    mc_kube_config *copy = NULL;
    assert_int_equal(mc_kube_config_copy(c, &copy, NULL), MC_OK);
    assert_string_equal(copy->exec->args[1], "c1");
    assert_string_equal(copy->exec->env[0], "MC_PLUGIN_MODE=fixture");
    assert_string_equal(copy->server, c->server);
    mc_kube_config_free(copy);
    mc_kube_config_free(c);
}

static void test_failures(void **state)
{
    (void)state;
    mc_kube_config *c = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_config_load_file(FIXTURE, "nope", &c, &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "\"nope\""));
    assert_int_equal(mc_kube_config_load_file(FIXTURE, "no-cluster-ctx", &c, &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));
    assert_int_equal(mc_kube_config_load_file(FIXTURE, "half-cert-ctx", &c, &err), MC_EINVAL);
    assert_int_equal(mc_kube_config_load_file(MC_TEST_DATA "/kube/absent.yaml", NULL, &c, &err),
                     MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "absent.yaml"));
    static const char bad_yaml[] = "clusters: [\n";
    assert_int_equal(
        mc_kube_config_load_text(bad_yaml, strlen(bad_yaml), NULL, "secret x", &c, &err),
        MC_EINVAL);
    assert_non_null(strstr(err.msg, "secret x"));
    static const char no_current[] = "apiVersion: v1\nkind: Config\n";
    assert_int_equal(mc_kube_config_load_text(no_current, strlen(no_current), NULL, "t", &c, &err),
                     MC_ENOTFOUND);
    assert_null(c);
}

static void test_text_refuses_relative_paths(void **state)
{
    (void)state;
    static const char text[] =
        "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
        "    certificate-authority: certs/ca.crt\n"
        "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
    mc_kube_config *c = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_config_load_text(text, strlen(text), NULL, "secret s", &c, &err),
                     MC_EINVAL);
    assert_non_null(strstr(err.msg, "relative path"));
    static const char ok[] = "clusters:\n- name: c\n  cluster:\n    server: http://h:1\n"
                             "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
    assert_int_equal(mc_kube_config_load_text(ok, strlen(ok), "x", "secret s", &c, &err), MC_OK);
    assert_string_equal(c->server, "http://h:1");
    mc_kube_config_free(c);
}

static void test_in_cluster(void **state)
{
    (void)state;
    mc_kube_config *c = NULL;
    mc_err err = {0};
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(mc_kube_config_in_cluster(MC_TEST_DATA "/kube/incluster", &c, &err),
                     MC_ENOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(mc_kube_config_in_cluster(MC_TEST_DATA "/kube/incluster", &c, &err), MC_OK);
    assert_string_equal(c->server, "https://[fd00::1]:443");
    assert_string_equal(c->token_file, MC_TEST_DATA "/kube/incluster/token");
    assert_null(c->token);
    assert_string_equal(c->namespace, "istio-system");
    assert_string_equal(c->context, "in-cluster");
    assert_non_null(strstr(c->ca_pem, "MIIBfixtureCA"));
    mc_kube_config_free(c);
    c = NULL;
    assert_int_equal(mc_kube_config_in_cluster(MC_TEST_DATA "/kube/certs", &c, &err),
                     MC_ENOTFOUND); /* no token there */
    assert_null(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_url_encoding(void **state)
{
    (void)state;
    mc_kube_config *config = load(NULL);
    mc_kube_client *client = NULL;
    assert_int_equal(mc_kube_client_new(config, NULL, &client, NULL), MC_OK);
    mc_kube_config_free(config);
    assert_string_equal(mc_kube_client_namespace(client), "team-a");
    char long_name[254];
    memset(long_name, 'a', 253);
    long_name[253] = '\0';
    char *url = NULL;
    assert_int_equal(mc_kube_url(client, mc_kube_resource_of(MC_API_SECRETS), "ns", long_name, NULL,
                                 NULL, 0, &url, NULL),
                     MC_OK);
    assert_int_equal(strlen(url), strlen("https://127.0.0.1:6443/clusters/c1/api/v1/namespaces/"
                                         "ns/secrets/") +
                                      253);
    free(url);
    mc_kube_query q[] = {{"labelSelector", "app in (a,b),!x"}, {"limit", NULL}, {"k", "a&b=c"}};
    assert_int_equal(mc_kube_url(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "a b/c",
                                 "x?y", "status", q, 3, &url, NULL),
                     MC_OK);
    assert_string_equal(url, "https://127.0.0.1:6443/clusters/c1/apis/certificates.smh.solo.io/"
                             "v1alpha2/namespaces/a%20b%2Fc/issuedcertificates/x%3Fy/status"
                             "?labelSelector=app%20in%20%28a%2Cb%29%2C%21x&k=a%26b%3Dc");
    free(url);
    assert_int_equal(mc_kube_url(client, mc_kube_resource_of(MC_API_NAMESPACES), "ignored", "n1",
                                 NULL, NULL, 0, &url, NULL),
                     MC_OK);
    assert_string_equal(url, "https://127.0.0.1:6443/clusters/c1/api/v1/namespaces/n1");
    free(url);
    mc_err err = {0};
    assert_int_equal(mc_kube_url(client, mc_kube_resource_of(MC_API_SECRETS), "ns", "", NULL, NULL,
                                 0, &url, &err),
                     MC_EINVAL);
    /* an error carries the HTTP status separately from the code */
    static const char exists[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"reason\":"
                                 "\"AlreadyExists\",\"message\":\"exists\",\"code\":409}";
    assert_int_equal(
        mc_kube_http_error(client, 409, exists, strlen(exists), "create secrets ns/x", &err),
        MC_EEXISTS);
    assert_int_equal(mc_kube_error_http(&err), 409);
    assert_non_null(strstr(err.msg, "create secrets ns/x"));
    assert_non_null(strstr(err.msg, "exists"));
    assert_int_equal(mc_kube_http_error(client, 503, "not json", 8, "get x", &err),
                     MC_EUNAVAILABLE);
    assert_int_equal(mc_kube_error_http(&err), 503);
    mc_err_set(&err, MC_EINVAL, "reset");
    assert_int_equal(mc_kube_error_http(&err), 0);
    mc_kube_client_free(client);
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    for (unsigned attempt = 0; attempt < 10; attempt++) {
        long d = mc_kube_backoff_ms(attempt, 100, 5000);
        long full = 100L << attempt;
        if (full > 5000)
            full = 5000;
        assert_true(d >= full / 2 && d <= full);
    }
}

#define MERGE MC_TEST_DATA "/kube/merge"

/* mc_kube_config_load_default with KUBECONFIG=value (NULL: unset) and HOME. */
static int load_default(const char *kubeconfig_env, const char *home, const char *path,
                        const char *context, mc_kube_config **out, mc_err *err)
{
    if (kubeconfig_env)
        setenv("KUBECONFIG", kubeconfig_env, 1);
    else
        unsetenv("KUBECONFIG");
    setenv("HOME", home, 1);
    *out = NULL;
    int rc = mc_kube_config_load_default(path, context, out, err);
    unsetenv("KUBECONFIG");
    return rc;
}

/* A KUBECONFIG list merged by client-go's rules: missing files skipped,
 * current-context from the first file that sets it (b), each cluster, user
 * and context from the first file that defines its name (a's "shared"
 * entries beat b's), relative paths against the defining file. */
static void test_kubeconfig_list_merged(void **state)
{
    (void)state;
    mc_kube_config *c = NULL;
    mc_err err = {0};
    const char *list = MC_TEST_DATA "/kube/absent.yaml:" MERGE "/a/config.yaml:" MERGE
                                    "/empty.yaml:" MERGE "/b/config.yaml:" MERGE "/c.yaml";
    assert_int_equal(load_default(list, "/nonexistent", NULL, NULL, &c, &err), MC_OK);
    assert_string_equal(c->context, "shared-ctx"); /* b's current-context, c's loses */
    assert_string_equal(c->namespace, "ns-a");     /* a's context entry, not b's */
    assert_string_equal(c->server, "https://a.example:6443");
    assert_string_equal(c->token, "token-a");
    assert_non_null(strstr(c->ca_pem, "MIIBmergeCAofA")); /* relative to a/ */
    assert_non_null(strstr(c->ca_origin, "cluster \"shared\""));
    assert_non_null(strstr(c->ca_origin, MERGE "/a/config.yaml"));
    mc_kube_config_free(c);

    /* --context: an entry only b defines, its CA relative to b/ */
    assert_int_equal(load_default(list, "/nonexistent", NULL, "b-ctx", &c, &err), MC_OK);
    assert_string_equal(c->server, "https://b-only.example:6443");
    assert_string_equal(c->token, "token-b");
    assert_string_equal(c->namespace, "default");
    assert_non_null(strstr(c->ca_pem, "MIIBmergeCAofB"));
    mc_kube_config_free(c);

    /* a context of b naming a cluster both define: a's wins */
    assert_int_equal(load_default(list, "/nonexistent", NULL, "mixed-ctx", &c, &err), MC_OK);
    assert_string_equal(c->server, "https://a.example:6443");
    assert_string_equal(c->token, "token-b");
    mc_kube_config_free(c);

    /* the order decides: b first, its entries win */
    assert_int_equal(load_default(MERGE "/b/config.yaml:" MERGE "/a/config.yaml", "/nonexistent",
                                  NULL, NULL, &c, &err),
                     MC_OK);
    assert_string_equal(c->namespace, "ns-b");
    assert_string_equal(c->server, "https://b-only.example:6443");
    mc_kube_config_free(c);

    /* an unknown context names the list */
    assert_int_equal(load_default(list, "/nonexistent", NULL, "nope", &c, &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "\"nope\""));
    assert_non_null(strstr(err.msg, "KUBECONFIG="));
    assert_null(c);
}

/* --kubeconfig beats KUBECONFIG; without either, ~/.kube/config; with
 * nothing at all, an error saying where it looked. */
static void test_kubeconfig_precedence(void **state)
{
    (void)state;
    mc_kube_config *c = NULL;
    mc_err err = {0};
    const char *home = MC_TEST_DATA "/kube/home";
    assert_int_equal(
        load_default(MERGE "/a/config.yaml", home, MERGE "/b/config.yaml", NULL, &c, &err), MC_OK);
    assert_string_equal(c->namespace, "ns-b"); /* the explicit file alone */
    mc_kube_config_free(c);

    assert_int_equal(load_default(NULL, home, NULL, NULL, &c, &err), MC_OK);
    assert_string_equal(c->context, "home-ctx");
    assert_string_equal(c->token, "token-home");
    assert_non_null(strstr(c->ca_origin, "system CA bundle"));
    mc_kube_config_free(c);
    assert_int_equal(load_default("", home, NULL, "home-ctx", &c, &err), MC_OK); /* empty: unset */
    mc_kube_config_free(c);

    assert_int_equal(load_default(NULL, "/nonexistent", NULL, NULL, &c, &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/.kube/config"));
    assert_non_null(strstr(err.msg, "KUBECONFIG"));
    assert_null(c);

    /* a list whose files are all missing is not replaced by ~/.kube/config */
    assert_int_equal(load_default("/nonexistent/a:/nonexistent/b", home, NULL, NULL, &c, &err),
                     MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/a:/nonexistent/b"));

    /* a broken file in the list is an error naming it, not skipped */
    assert_int_equal(load_default(MERGE "/broken.yaml:" MERGE "/a/config.yaml", home, NULL,
                                  "shared-ctx", &c, &err),
                     MC_EINVAL);
    assert_non_null(strstr(err.msg, "broken.yaml"));
    assert_null(c);
}

/* The kubeconfig cluster register writes for the issuer's identity reads
 * back as what it was made from: server, CA, token, namespace. */
static void test_token_kubeconfig_round_trip(void **state)
{
    (void)state;
    mc_kube_config admin = {0};
    admin.server = "https://127.0.0.1:6443/clusters/east";
    admin.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    char *text = mc_kube_config_token_kubeconfig(&admin, "meshcert-issuer", "tok3n", "meshcert");
    assert_non_null(text);
    mc_kube_config *back = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_config_load_text(text, strlen(text), NULL, "identity", &back, &err),
                     MC_OK);
    assert_string_equal(back->server, admin.server);
    assert_string_equal(back->ca_pem, admin.ca_pem);
    assert_string_equal(back->token, "tok3n");
    assert_string_equal(back->namespace, "meshcert");
    assert_false(back->insecure_skip_tls_verify);
    mc_kube_config_free(back);
    mc_secure_free_str(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context_static_token),
        cmocka_unit_test(test_client_cert_data_and_files),
        cmocka_unit_test(test_token_file_resolved),
        cmocka_unit_test(test_insecure),
        cmocka_unit_test(test_exec_plugin),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_text_refuses_relative_paths),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_url_encoding),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_kubeconfig_list_merged),
        cmocka_unit_test(test_kubeconfig_precedence),
        cmocka_unit_test(test_token_kubeconfig_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
