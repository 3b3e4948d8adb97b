/* server_discovery_test.c - the JSON shapes of every discovery path kubectl
 * reads: /version, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>,
 * /openapi/v3 and its group-version documents, and the 404s, before and
 * after the meshcert CRDs are applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "server/discovery.h"
#include "server_test_util.h"
#include "util/str.h"

#define GROUP "certificates.smh.solo.io"
#define AGGREGATED_ACCEPT                                                                          \
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;"       \
    "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

/* Serves path and parses the reply; asserts the status code. */
static json_t *serve(const mc_server_registry *reg, const char *path, int want_status)
{
    int status = 0;
    char *body = NULL;
    const char *content_type = NULL;
    assert_int_equal(
        mc_server_discovery_serve(reg, path, AGGREGATED_ACCEPT, &status, &body, &content_type), 1);
    assert_int_equal(status, want_status);
    assert_string_equal(content_type, "application/json"); /* plain: kubectl falls back */
    json_t *doc = server_test_json(body);
    free(body);
    return doc;
}

static mc_server_registry *registry_with_crds(void)
{
    mc_server_registry *reg = mc_server_registry_new();
    const char *files[] = {"issuedcertificates.yaml", "certificaterequests.yaml",
                           "podbouncedirectives.yaml"};
    for (size_t i = 0; i < 3; i++) {
        json_t *crd = server_test_load_crd(files[i]);
        mc_err err = {0};
        assert_int_equal(mc_server_registry_apply_crd(reg, crd, &err), 0);
        json_decref(crd);
    }
    return reg;
}

static const json_t *find_named(const json_t *array, const char *key, const char *value)
{
    size_t i;
    const json_t *e;
    json_array_foreach(array, i, e)
    {
        if (json_is_string(json_object_get(e, key)) &&
            !strcmp(json_string_value(json_object_get(e, key)), value))
            return e;
    }
    return NULL;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    assert_non_null(s);
    return s;
}

static void test_version(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *v = serve(reg, "/version", 200);
    assert_string_equal(str(v, "major"), "1");
    assert_string_equal(str(v, "minor"), "32");
    assert_string_equal(str(v, "gitVersion"), "v1.32.4");
    assert_string_equal(str(v, "platform"), "linux/amd64");
    json_decref(v);
    mc_server_registry_free(reg);
}

static void test_not_discovery(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    const char *paths[] = {"/api/v1/namespaces",
                           "/api/v1/namespaces/default/secrets",
                           "/apis/coordination.k8s.io/v1/leases",
                           "/healthz",
                           "/",
                           "/versions"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int status = 0;
        char *body = NULL;
        const char *ct = NULL;
        assert_int_equal(mc_server_discovery_serve(reg, paths[i], NULL, &status, &body, &ct), 0);
        assert_null(body);
    }
    mc_server_registry_free(reg);
}

/* A path longer than discovery's 1 KiB buffer, or with more segments than
 * any discovery path, is declined (the router answers 404): such a GET
 * crashed the server (issue 14). */
static void test_long_and_deep_paths_declined(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    const size_t lengths[] = {1023, 1024, 1025, 4096};
    const char *prefixes[] = {"/", "/openapi/", "/api/", "/apis/x/"};
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
            char *path = malloc(lengths[i] + 1);
            assert_non_null(path);
            memset(path, 'a', lengths[i]);
            memcpy(path, prefixes[p], strlen(prefixes[p]));
            path[lengths[i]] = '\0';
            int status = 0;
            char *body = NULL;
            const char *ct = NULL;
            int served = mc_server_discovery_serve(reg, path, NULL, &status, &body, &ct);
            /* "/openapi/aaa..." shorter than the buffer is discovery's 404 */
            if (served) {
                assert_int_equal(status, 404);
                assert_true(lengths[i] < 1024);
            }
            free(body);
            free(path);
        }
    }
    const char *deep[] = {"/a/b/c/d/e/f", "/openapi/v3/apis/g/v1/x", "/api//v1",
                          "/apis/a/b/c/d/e/f"};
    for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
        int status = 0;
        char *body = NULL;
        const char *ct = NULL;
        assert_int_equal(mc_server_discovery_serve(reg, deep[i], NULL, &status, &body, &ct), 0);
        assert_null(body);
    }
    mc_server_registry_free(reg);
}

static void test_core(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *api = serve(reg, "/api", 200);
    assert_string_equal(str(api, "kind"), "APIVersions");
    assert_int_equal(json_array_size(json_object_get(api, "versions")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(api, "versions"), 0)),
                        "v1");
    json_decref(api);

    json_t *list = serve(reg, "/api/v1", 200);
    assert_string_equal(str(list, "kind"), "APIResourceList");
    assert_string_equal(str(list, "apiVersion"), "v1");
    assert_string_equal(str(list, "groupVersion"), "v1");
    const json_t *resources = json_object_get(list, "resources");
    const json_t *ns = find_named(resources, "name", "namespaces");
    assert_non_null(ns);
    assert_string_equal(str(ns, "kind"), "Namespace");
    assert_string_equal(str(ns, "singularName"), "namespace");
    assert_true(json_is_false(json_object_get(ns, "namespaced")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(ns, "shortNames"), 0)),
                        "ns");
    size_t vi;
    const json_t *verb;
    json_array_foreach(json_object_get(ns, "verbs"), vi, verb)
    {
        assert_string_not_equal(json_string_value(verb), "deletecollection");
    }
    assert_int_equal(json_array_size(json_object_get(ns, "verbs")), 7);
    const json_t *secrets = find_named(resources, "name", "secrets");
    assert_non_null(secrets);
    assert_true(json_is_true(json_object_get(secrets, "namespaced")));
    assert_null(json_object_get(secrets, "shortNames")); /* omitted when empty */
    assert_int_equal(json_array_size(json_object_get(secrets, "verbs")), 8);
    assert_null(find_named(resources, "name", "secrets/status"));
    const json_t *pod_status = find_named(resources, "name", "pods/status");
    assert_non_null(pod_status);
    assert_string_equal(str(pod_status, "kind"), "Pod");
    assert_int_equal(json_array_size(json_object_get(pod_status, "verbs")), 3);
    const json_t *pods = find_named(resources, "name", "pods");
    assert_string_equal(json_string_value(json_array_get(json_object_get(pods, "categories"), 0)),
                        "all");
    assert_non_null(find_named(resources, "name", "namespaces/status"));
    assert_non_null(find_named(resources, "name", "configmaps"));
    assert_non_null(find_named(resources, "name", "events"));
    assert_non_null(find_named(resources, "name", "serviceaccounts"));
    assert_null(find_named(resources, "name", "leases")); /* another group */
    json_decref(list);

    json_t *missing = serve(reg, "/api/v2", 404);
    assert_string_equal(str(missing, "kind"), "Status");
    assert_string_equal(str(missing, "reason"), "NotFound");
    assert_int_equal(json_integer_value(json_object_get(missing, "code")), 404);
    json_decref(missing);
    mc_server_registry_free(reg);
}

static void test_groups(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *apis = serve(reg, "/apis", 200);
    assert_string_equal(str(apis, "kind"), "APIGroupList");
    /* apps, policy, coordination, apiextensions, rbac, authorization and authentication */
    assert_int_equal(json_array_size(json_object_get(apis, "groups")), 7);
    assert_null(find_named(json_object_get(apis, "groups"), "name", GROUP));
    json_decref(apis);
    json_t *missing = serve(reg, "/apis/" GROUP, 404);
    json_decref(missing);
    missing = serve(reg, "/apis/" GROUP "/v1alpha2", 404);
    json_decref(missing);
    mc_server_registry_free(reg);

    reg = registry_with_crds();
    apis = serve(reg, "/apis/", 200); /* a trailing slash is fine */
    const json_t *groups = json_object_get(apis, "groups");
    assert_int_equal(json_array_size(groups), 8);
    assert_string_equal(str(json_array_get(groups, 0), "name"), "apps");
    assert_string_equal(str(json_array_get(groups, 1), "name"), "policy");
    assert_string_equal(str(json_array_get(groups, 2), "name"), "coordination.k8s.io");
    /* authentication.k8s.io: v1 preferred over v1beta1 */
    const json_t *authn = find_named(groups, "name", "authentication.k8s.io");
    assert_non_null(authn);
    assert_string_equal(str(json_object_get(authn, "preferredVersion"), "version"), "v1");
    assert_int_equal(json_array_size(json_object_get(authn, "versions")), 2);
    const json_t *g = find_named(groups, "name", GROUP);
    assert_non_null(g);
    assert_null(json_object_get(g, "kind")); /* inner APIGroups carry no type meta */
    assert_string_equal(str(json_object_get(g, "preferredVersion"), "groupVersion"),
                        GROUP "/v1alpha2");
    assert_string_equal(str(json_array_get(json_object_get(g, "versions"), 0), "version"),
                        "v1alpha2");
    json_decref(apis);

    json_t *group = serve(reg, "/apis/" GROUP, 200);
    assert_string_equal(str(group, "kind"), "APIGroup");
    assert_string_equal(str(group, "apiVersion"), "v1");
    assert_string_equal(str(group, "name"), GROUP);
    json_decref(group);

    json_t *list = serve(reg, "/apis/" GROUP "/v1alpha2", 200);
    assert_string_equal(str(list, "groupVersion"), GROUP "/v1alpha2");
    const json_t *resources = json_object_get(list, "resources");
    assert_int_equal(json_array_size(resources), 6); /* 3 kinds + 3 status */
    const json_t *ic = find_named(resources, "name", "issuedcertificates");
    assert_string_equal(str(ic, "kind"), "IssuedCertificate");
    assert_string_equal(str(ic, "singularName"), "issuedcertificate");
    assert_true(json_is_true(json_object_get(ic, "namespaced")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(ic, "shortNames"), 0)),
                        "ic");
    assert_string_equal(json_string_value(json_array_get(json_object_get(ic, "categories"), 0)),
                        "meshcert");
    assert_non_null(find_named(resources, "name", "issuedcertificates/status"));
    assert_non_null(find_named(resources, "name", "certificaterequests/status"));
    json_decref(list);
    missing = serve(reg, "/apis/" GROUP "/v1", 404);
    json_decref(missing);

    list = serve(reg, "/apis/apiextensions.k8s.io/v1", 200);
    const json_t *crd =
        find_named(json_object_get(list, "resources"), "name", "customresourcedefinitions");
    assert_non_null(crd);
    assert_true(json_is_false(json_object_get(crd, "namespaced")));
    assert_int_equal(json_array_size(json_object_get(crd, "shortNames")), 2);
    json_decref(list);
    mc_server_registry_free(reg);
}

/* A CRD with the given versions (the first one stored). */
static json_t *versions_crd(const char *const *versions, size_t n)
{
    json_t *crd = server_test_json(
        "{\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
        "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},"
        "\"versions\":[]}}");
    json_t *list = json_object_get(json_object_get(crd, "spec"), "versions");
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:b, s:b, s:{s:{s:s}}}", "name", versions[i],
                                              "served", 1, "storage", i == 0, "schema",
                                              "openAPIV3Schema", "type", "object"));
    return crd;
}

static void check_preferred(const char *const *versions, size_t n, const char *const *order)
{
    mc_server_registry *reg = mc_server_registry_new();
    json_t *crd = versions_crd(versions, n);
    assert_int_equal(mc_server_registry_apply_crd(reg, crd, NULL), 0);
    json_t *group = serve(reg, "/apis/example.com", 200);
    const json_t *list = json_object_get(group, "versions");
    assert_int_equal(json_array_size(list), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(str(json_array_get(list, i), "version"), order[i]);
    assert_string_equal(str(json_object_get(group, "preferredVersion"), "version"), order[0]);
    json_decref(group);
    json_decref(crd);
    mc_server_registry_free(reg);
}

static void test_preferred_version(void **state)
{
    (void)state;
    const char *a[] = {"v1beta1", "v1"}, *a_order[] = {"v1", "v1beta1"};
    check_preferred(a, 2, a_order);
    const char *b[] = {"v1alpha1", "v1beta2", "v1beta10", "v2alpha1"};
    const char *b_order[] = {"v1beta10", "v1beta2", "v2alpha1", "v1alpha1"};
    check_preferred(b, 4, b_order);
    const char *c[] = {"foo", "v1alpha1", "bar"}, *c_order[] = {"v1alpha1", "bar", "foo"};
    check_preferred(c, 3, c_order);
    const char *d[] = {"v2", "v10", "v1"}, *d_order[] = {"v10", "v2", "v1"};
    check_preferred(d, 3, d_order);
}

static const char *relative_url(const json_t *index, const char *key)
{
    const json_t *entry = json_object_get(json_object_get(index, "paths"), key);
    assert_non_null(entry);
    return str(entry, "serverRelativeURL");
}

static void test_openapi_index(void **state)
{
    (void)state;
    mc_server_registry *reg = registry_with_crds();
    json_t *index = serve(reg, "/openapi/v3", 200);
    const json_t *paths = json_object_get(index, "paths");
    /* core, apps, policy, coordination, apiextensions, rbac, the reviews' three, the CRDs' group */
    assert_int_equal(json_object_size(paths), 10);
    const char *core = relative_url(index, "api/v1");
    /* rooted at /openapi/v3: client-go then keeps the /clusters/<name> prefix */
    assert_true(strncmp(core, "/openapi/v3/api/v1?hash=", 24) == 0);
    assert_int_equal(strlen(core), 24 + 16);
    const char *ic = relative_url(index, "apis/" GROUP "/v1alpha2");
    assert_true(strncmp(ic, "/openapi/v3/apis/" GROUP "/v1alpha2?hash=", 17 + strlen(GROUP) + 15) ==
                0);
    relative_url(index, "apis/coordination.k8s.io/v1");
    relative_url(index, "apis/apps/v1");
    relative_url(index, "apis/policy/v1");
    relative_url(index, "apis/apiextensions.k8s.io/v1");
    char *before = mc_strdup(ic);
    char *core_before = mc_strdup(core);
    json_decref(index);

    /* a changed schema changes the hash of its group-version only */
    json_t *crd = server_test_load_crd("issuedcertificates.yaml");
    json_t *schema = json_object_get(
        json_object_get(
            json_array_get(json_object_get(json_object_get(crd, "spec"), "versions"), 0), "schema"),
        "openAPIV3Schema");
    json_object_set_new(schema, "description", json_string("changed"));
    assert_int_equal(mc_server_registry_apply_crd(reg, crd, NULL), 0);
    json_decref(crd);
    index = serve(reg, "/openapi/v3", 200);
    assert_string_not_equal(relative_url(index, "apis/" GROUP "/v1alpha2"), before);
    assert_string_equal(relative_url(index, "api/v1"), core_before);
    json_decref(index);
    free(before);
    free(core_before);
    mc_server_registry_free(reg);
}

static const json_t *patch_op_for(const json_t *doc, const char *path)
{
    const json_t *item = json_object_get(json_object_get(doc, "paths"), path);
    assert_non_null(item);
    const json_t *patch = json_object_get(item, "patch");
    assert_non_null(patch);
    assert_non_null(find_named(json_object_get(patch, "parameters"), "name", "fieldValidation"));
    assert_string_equal(
        str(find_named(json_object_get(patch, "parameters"), "name", "fieldValidation"), "in"),
        "query");
    return patch;
}

static void test_openapi_documents(void **state)
{
    (void)state;
    mc_server_registry *reg = registry_with_crds();
    json_t *doc = serve(reg, "/openapi/v3/apis/" GROUP "/v1alpha2", 200);
    assert_string_equal(str(doc, "openapi"), "3.0.0");
    const json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    const json_t *ic =
        json_object_get(schemas, "io.solo.smh.certificates.v1alpha2.IssuedCertificate");
    assert_non_null(ic);
    assert_string_equal(str(ic, "type"), "object");
    const json_t *gvk = json_array_get(json_object_get(ic, "x-kubernetes-group-version-kind"), 0);
    assert_string_equal(str(gvk, "group"), GROUP);
    assert_string_equal(str(gvk, "version"), "v1alpha2");
    assert_string_equal(str(gvk, "kind"), "IssuedCertificate");
    const json_t *props = json_object_get(ic, "properties");
    assert_string_equal(
        str(json_object_get(json_object_get(props, "spec"), "properties")
                ? json_object_get(json_object_get(json_object_get(props, "spec"), "properties"),
                                  "org")
                : NULL,
            "type"),
        "string");
    assert_string_equal(str(json_object_get(props, "apiVersion"), "type"), "string");
    assert_string_equal(str(json_object_get(props, "kind"), "type"), "string");
    const json_t *meta_ref =
        json_array_get(json_object_get(json_object_get(props, "metadata"), "allOf"), 0);
    assert_string_equal(str(meta_ref, "$ref"),
                        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_non_null(json_object_get(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert_non_null(
        json_object_get(schemas, "io.solo.smh.certificates.v1alpha2.CertificateRequest"));
    const json_t *patch = patch_op_for(
        doc, "/apis/" GROUP "/v1alpha2/namespaces/{namespace}/issuedcertificates/{name}");
    const json_t *op_gvk = json_object_get(patch, "x-kubernetes-group-version-kind");
    assert_true(json_is_object(op_gvk)); /* an object on operations, a list on schemas */
    assert_string_equal(str(op_gvk, "kind"), "IssuedCertificate");
    json_decref(doc);

    doc = serve(reg, "/openapi/v3/api/v1", 200);
    schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    const json_t *secret = json_object_get(schemas, "io.k8s.api.core.v1.Secret");
    assert_non_null(secret);
    assert_true(json_is_true(json_object_get(secret, "x-kubernetes-preserve-unknown-fields")));
    gvk = json_array_get(json_object_get(secret, "x-kubernetes-group-version-kind"), 0);
    assert_string_equal(str(gvk, "group"), "");
    assert_string_equal(str(gvk, "kind"), "Secret");
    patch_op_for(doc, "/api/v1/namespaces/{namespace}/secrets/{name}");
    patch_op_for(doc, "/api/v1/namespaces/{name}");
    json_decref(doc);

    doc = serve(reg, "/openapi/v3/apis/coordination.k8s.io/v1", 200);
    assert_non_null(json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                    "io.k8s.api.coordination.v1.Lease"));
    json_decref(doc);

    /* OpenAPI v2: an empty protobuf Document{swagger: "2.0"} (kubectl < 1.28). */
    int status = 0;
    char *body = NULL;
    const char *content_type = NULL;
    assert_int_equal(mc_server_discovery_serve(reg, "/openapi/v2", NULL, &status, &body,
                                               &content_type),
                     1);
    assert_int_equal(status, 200);
    assert_string_equal(content_type, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    assert_memory_equal(body, "\x0a\x03" "2.0", 5);
    free(body);
    const char *missing[] = {"/openapi/v3/apis/" GROUP "/v1", "/openapi/v3/api/v2",
                             "/openapi/v3/apis/nothing.example.com/v1", "/openapi/v3/apis"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        json_t *st = serve(reg, missing[i], 404);
        assert_string_equal(str(st, "kind"), "Status");
        assert_string_equal(str(st, "reason"), "NotFound");
        json_decref(st);
    }
    mc_server_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_not_discovery),
        cmocka_unit_test(test_long_and_deep_paths_declined),
        cmocka_unit_test(test_core),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_preferred_version),
        cmocka_unit_test(test_openapi_index),
        cmocka_unit_test(test_openapi_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
