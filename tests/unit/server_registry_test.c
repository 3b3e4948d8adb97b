/* server_registry_test.c - the built-in resources of a logical cluster and
 * CustomResourceDefinitions applied to it: names exactly as kube's, CRD
 * validation (a rejected CRD changes nothing), replacement, removal and the
 * iteration order discovery relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "server/registry.h"
#include "server_test_util.h"

static int has_string(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

static void test_builtins(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    assert_non_null(reg);
    static const struct {
        const char *group, *plural, *singular, *kind, *list_kind, *store, *short_name;
        int namespaced, has_status;
    } want[] = {
        {"", "namespaces", "namespace", "Namespace", "NamespaceList", "core/namespaces", "ns", 0,
         1},
        {"", "secrets", "secret", "Secret", "SecretList", "core/secrets", NULL, 1, 0},
        {"", "pods", "pod", "Pod", "PodList", "core/pods", "po", 1, 1},
        {"", "configmaps", "configmap", "ConfigMap", "ConfigMapList", "core/configmaps", "cm", 1,
         0},
        {"", "events", "event", "Event", "EventList", "core/events", "ev", 1, 0},
        {"", "serviceaccounts", "serviceaccount", "ServiceAccount", "ServiceAccountList",
         "core/serviceaccounts", "sa", 1, 0},
        {"apps", "deployments", "deployment", "Deployment", "DeploymentList", "apps/deployments",
         "deploy", 1, 1},
        {"policy", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
         "PodDisruptionBudgetList", "policy/poddisruptionbudgets", "pdb", 1, 1},
        {"coordination.k8s.io", "leases", "lease", "Lease", "LeaseList",
         "coordination.k8s.io/leases", NULL, 1, 0},
        {"apiextensions.k8s.io", "customresourcedefinitions", "customresourcedefinition",
         "CustomResourceDefinition", "CustomResourceDefinitionList",
         "apiextensions.k8s.io/customresourcedefinitions", "crd", 0, 1},
        /* RBAC, without short names as in kube-apiserver */
        {"rbac.authorization.k8s.io", "clusterrolebindings", "clusterrolebinding",
         "ClusterRoleBinding", "ClusterRoleBindingList",
         "rbac.authorization.k8s.io/clusterrolebindings", NULL, 0, 0},
        {"rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole",
         "ClusterRoleList", "rbac.authorization.k8s.io/clusterroles", NULL, 0, 0},
        {"rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding",
         "RoleBindingList", "rbac.authorization.k8s.io/rolebindings", NULL, 1, 0},
        {"rbac.authorization.k8s.io", "roles", "role", "Role", "RoleList",
         "rbac.authorization.k8s.io/roles", NULL, 1, 0},
        /* the create-only reviews of kubectl auth can-i / whoami */
        {"authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectaccessreview",
         "SelfSubjectAccessReview", "SelfSubjectAccessReviewList",
         "authorization.k8s.io/selfsubjectaccessreviews", NULL, 0, 0},
        {"authorization.k8s.io", "selfsubjectrulesreviews", "selfsubjectrulesreview",
         "SelfSubjectRulesReview", "SelfSubjectRulesReviewList",
         "authorization.k8s.io/selfsubjectrulesreviews", NULL, 0, 0},
        {"authentication.k8s.io", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
         "SelfSubjectReviewList", "authentication.k8s.io/selfsubjectreviews", NULL, 0, 0},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    /* and last, authentication.k8s.io/v1beta1 selfsubjectreviews (kubectl 1.27) */
    assert_int_equal(mc_server_registry_count(reg), n + 1);
    const mc_server_resource *beta =
        mc_server_registry_find(reg, "authentication.k8s.io", "v1beta1", "selfsubjectreviews");
    assert_ptr_equal(beta, mc_server_registry_at(reg, n));
    assert_true(beta->create_only);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mc_server_registry_at(reg, i)->create_only, i >= n - 3);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const mc_server_resource *r =
            mc_server_registry_find(reg, want[i].group, "v1", want[i].plural);
        assert_non_null(r);
        assert_ptr_equal(r, mc_server_registry_at(reg, i));
        assert_string_equal(r->version, "v1");
        assert_string_equal(r->singular, want[i].singular);
        assert_string_equal(r->kind, want[i].kind);
        assert_string_equal(r->list_kind, want[i].list_kind);
        assert_string_equal(r->store_name, want[i].store);
        assert_int_equal(r->namespaced, want[i].namespaced);
        assert_int_equal(r->has_status, want[i].has_status);
        assert_null(r->schema);
        assert_null(r->columns);
        assert_null(r->crd_name);
        if (want[i].short_name)
            assert_true(has_string(r->short_names, r->short_names_len, want[i].short_name));
        else
            assert_int_equal(r->short_names_len, 0);
    }
    const mc_server_resource *crd =
        mc_server_registry_find(reg, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    assert_int_equal(crd->short_names_len, 2);
    assert_true(has_string(crd->short_names, 2, "crds"));
    const mc_server_resource *pods = mc_server_registry_find(reg, "", "v1", "pods");
    assert_true(has_string(pods->categories, pods->categories_len, "all"));
    assert_null(mc_server_registry_find(reg, "", "v2", "pods"));
    const mc_server_resource *deployments =
        mc_server_registry_find(reg, "apps", "v1", "deployments");
    assert_true(has_string(deployments->categories, deployments->categories_len, "all"));
    assert_null(mc_server_registry_find(reg, "apps", "v1", "replicasets"));
    /* the names come from api/'s table: each built-in is its entry there */
    assert_true(mc_server_resource_is(deployments, MC_API_DEPLOYMENTS));
    assert_false(mc_server_resource_is(deployments, MC_API_PODS));
    assert_true(mc_server_resource_is(beta, MC_API_SELF_SUBJECT_REVIEWS_V1BETA1));
    assert_false(mc_server_resource_is(beta, MC_API_SELF_SUBJECT_REVIEWS));
    for (size_t i = 0; i < n; i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        const mc_api_resource *api = mc_api_resource_find(r->group, r->version, r->plural);
        assert_non_null(api);
        assert_string_equal(api->kind, r->kind);
    }
    assert_null(mc_server_registry_at(reg, 99));
    mc_server_registry_free(reg);
    mc_server_registry_free(NULL);
}

static void apply_ok(mc_server_registry *reg, const char *file)
{
    json_t *crd = server_test_load_crd(file);
    mc_err err = {0};
    int rc = mc_server_registry_apply_crd(reg, crd, &err);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", file, err.msg);
    assert_int_equal(rc, 0);
    json_decref(crd);
}

static void test_meshcert_crds(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    size_t builtins = mc_server_registry_count(reg);
    /* applied out of order: iteration is by CRD name */
    apply_ok(reg, "podbouncedirectives.yaml");
    apply_ok(reg, "issuedcertificates.yaml");
    apply_ok(reg, "certificaterequests.yaml");
    assert_int_equal(mc_server_registry_count(reg), builtins + 3);
    assert_string_equal(mc_server_registry_at(reg, builtins)->plural, "certificaterequests");
    assert_string_equal(mc_server_registry_at(reg, builtins + 1)->plural, "issuedcertificates");
    assert_string_equal(mc_server_registry_at(reg, builtins + 2)->plural, "podbouncedirectives");

    const mc_server_resource *ic =
        mc_server_registry_find(reg, "certificates.smh.solo.io", "v1alpha2", "issuedcertificates");
    assert_non_null(ic);
    assert_string_equal(ic->kind, "IssuedCertificate");
    assert_string_equal(ic->list_kind, "IssuedCertificateList");
    assert_string_equal(ic->singular, "issuedcertificate");
    assert_string_equal(ic->store_name, "certificates.smh.solo.io/issuedcertificates");
    assert_string_equal(ic->crd_name, "issuedcertificates.certificates.smh.solo.io");
    assert_int_equal(ic->namespaced, 1);
    assert_int_equal(ic->has_status, 1);
    assert_int_equal(ic->short_names_len, 1);
    assert_string_equal(ic->short_names[0], "ic");
    assert_int_equal(ic->categories_len, 1);
    assert_string_equal(ic->categories[0], "meshcert");
    assert_true(json_is_object(ic->schema));
    assert_string_equal(json_string_value(json_object_get(ic->schema, "type")), "object");
    assert_int_equal(json_array_size(ic->columns), 12); /* 4 shown, 8 more with -o wide */

    /* applying the same CRD again replaces, not duplicates */
    apply_ok(reg, "issuedcertificates.yaml");
    assert_int_equal(mc_server_registry_count(reg), builtins + 3);

    mc_server_registry_remove_crd(reg, "issuedcertificates.certificates.smh.solo.io");
    assert_null(
        mc_server_registry_find(reg, "certificates.smh.solo.io", "v1alpha2", "issuedcertificates"));
    assert_int_equal(mc_server_registry_count(reg), builtins + 2);
    mc_server_registry_remove_crd(reg, "nothing.example.com");
    mc_server_registry_remove_crd(reg, NULL);
    assert_int_equal(mc_server_registry_count(reg), builtins + 2);
    mc_server_registry_free(reg);
}

static const char widget_crd[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.example.com\"},"
    "\"spec\":{\"group\":\"example.com\",\"scope\":\"Cluster\","
    "\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},"
    "\"versions\":["
    "{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    " \"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":"
    "\"object\"}}}}},"
    "{\"name\":\"v2\",\"served\":false,\"storage\":false,"
    " \"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}},"
    "{\"name\":\"v1beta1\",\"served\":true,\"storage\":false,"
    " \"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}},\"subresources\":{\"status\":{}}}"
    "]}}";

static void test_versions_and_defaults(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *crd = server_test_json(widget_crd);
    mc_err err = {0};
    assert_int_equal(mc_server_registry_apply_crd(reg, crd, &err), 0);
    const mc_server_resource *v1 = mc_server_registry_find(reg, "example.com", "v1", "widgets");
    assert_non_null(v1);
    assert_int_equal(v1->namespaced, 0);
    assert_int_equal(v1->has_status, 0);
    assert_string_equal(v1->singular, "widget"); /* defaulted from kind */
    assert_string_equal(v1->list_kind, "WidgetList");
    assert_null(v1->columns);
    assert_int_equal(v1->short_names_len, 0);
    assert_null(mc_server_registry_find(reg, "example.com", "v2", "widgets")); /* not served */
    const mc_server_resource *beta =
        mc_server_registry_find(reg, "example.com", "v1beta1", "widgets");
    assert_non_null(beta);
    assert_int_equal(beta->has_status, 1);
    json_decref(crd);
    mc_server_registry_free(reg);
}

/* Applies widget_crd changed by a JSON merge of patch; expects failure
 * naming `field`, and the registry unchanged. */
static void expect_rejected(const char *patch, const char *field)
{
    mc_server_registry *reg = mc_server_registry_new();
    json_t *good = server_test_load_crd("issuedcertificates.yaml");
    mc_err err = {0};
    assert_int_equal(mc_server_registry_apply_crd(reg, good, &err), 0);
    size_t before = mc_server_registry_count(reg);

    json_t *crd = server_test_json(widget_crd);
    json_t *p = server_test_json(patch);
    json_t *spec = json_object_get(crd, "spec");
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(p, "spec"), key, value)
    {
        json_object_set(spec, key, value);
    }
    if (json_object_get(p, "metadata"))
        json_object_set(crd, "metadata", json_object_get(p, "metadata"));
    mc_err_clear(&err);
    int rc = mc_server_registry_apply_crd(reg, crd, &err);
    if (rc == 0 || !strstr(err.msg, field))
        fprintf(stderr, "patch %s: rc %d, message: %s\n", patch, rc, err.msg);
    assert_int_equal(rc, MC_EINVAL);
    assert_non_null(strstr(err.msg, field));
    assert_int_equal(mc_server_registry_count(reg), before);
    assert_null(mc_server_registry_find(reg, "example.com", "v1", "widgets"));
    json_decref(p);
    json_decref(crd);
    json_decref(good);
    mc_server_registry_free(reg);
}

static void test_invalid_crds(void **state)
{
    (void)state;
    expect_rejected("{\"metadata\":{\"name\":\"widget.example.com\"}}",
                    "metadata.name: Invalid value: \"widget.example.com\": must be "
                    "spec.names.plural+\".\"+spec.group");
    expect_rejected("{\"metadata\":{}}", "metadata.name: Required value");
    expect_rejected("{\"spec\":{\"scope\":\"Global\"}}",
                    "spec.scope: Unsupported value: \"Global\"");
    expect_rejected("{\"spec\":{\"group\":\"example\"}}", "spec.group");
    expect_rejected("{\"spec\":{\"names\":{\"plural\":\"widgets\"}}}",
                    "spec.names.kind: Required value");
    expect_rejected("{\"spec\":{\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\","
                    "\"shortNames\":[\"W!\"]}}}",
                    "spec.names.shortNames[0]");
    expect_rejected("{\"spec\":{\"versions\":[]}}", "spec.versions");
    expect_rejected("{\"spec\":{\"versions\":["
                    "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{"
                    "\"openAPIV3Schema\":{\"type\":\"object\"}}},"
                    "{\"name\":\"v2\",\"served\":true,\"storage\":true,\"schema\":{"
                    "\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}",
                    "must have exactly one version marked as storage version");
    expect_rejected("{\"spec\":{\"versions\":["
                    "{\"name\":\"v1\",\"served\":true,\"storage\":false,\"schema\":{"
                    "\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}",
                    "must have exactly one version marked as storage version");
    expect_rejected("{\"spec\":{\"versions\":["
                    "{\"name\":\"v1\",\"served\":true,\"storage\":true}]}}",
                    "spec.versions[0].schema.openAPIV3Schema: Required value");
    expect_rejected(
        "{\"spec\":{\"versions\":["
        "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":"
        "{\"type\":\"object\",\"properties\":{\"spec\":{\"properties\":{}}}}}}]}}",
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value");
    expect_rejected(
        "{\"spec\":{\"versions\":["
        "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":{"
        "\"type\":\"object\"}},"
        "\"additionalPrinterColumns\":[{\"name\":\"X\",\"type\":\"color\",\"jsonPath\":\".spec.x\"}"
        "]}]}}",
        "spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: \"color\"");
    expect_rejected("{\"spec\":{\"versions\":["
                    "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{"
                    "\"openAPIV3Schema\":{\"type\":\"object\"}},"
                    "\"additionalPrinterColumns\":[{\"name\":\"X\",\"type\":\"string\"}]}]}}",
                    "spec.versions[0].additionalPrinterColumns[0].jsonPath: Required value");
    expect_rejected("{\"spec\":{\"versions\":["
                    "{\"name\":\"V1\",\"served\":true,\"storage\":true,\"schema\":{"
                    "\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}",
                    "spec.versions[0].name");
    /* the group of a built-in */
    expect_rejected("{\"metadata\":{\"name\":\"widgets.coordination.k8s.io\"},\"spec\":{\"group\":"
                    "\"coordination.k8s.io\"}}",
                    "spec.group");
}

static void test_kind_conflict(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *a = server_test_json(widget_crd);
    json_t *b = json_deep_copy(a);
    json_object_set_new(json_object_get(b, "metadata"), "name", json_string("gadgets.example.com"));
    json_object_set_new(json_object_get(json_object_get(b, "spec"), "names"), "plural",
                        json_string("gadgets"));
    mc_err err = {0};
    assert_int_equal(mc_server_registry_apply_crd(reg, a, &err), 0);
    assert_int_equal(mc_server_registry_apply_crd(reg, b, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "spec.names.kind"));
    assert_int_equal(mc_server_registry_apply_crd(reg, NULL, &err), MC_EINVAL);
    json_decref(a);
    json_decref(b);
    mc_server_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_meshcert_crds),
        cmocka_unit_test(test_versions_and_defaults),
        cmocka_unit_test(test_invalid_crds),
        cmocka_unit_test(test_kind_conflict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
