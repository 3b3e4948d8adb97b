/* server_table_test.c - Table responses: the Accept negotiation, the columns
 * and cells of custom resources (additionalPrinterColumns, typed cells,
 * relative ages) and of the built-in kinds, and the row objects of each
 * includeObject policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "api/time.h"
#include "server/table.h"
#include "server_test_util.h"

#define NOW ((time_t)1750000000)

static void test_wanted(void **state)
{
    (void)state;
    assert_true(mc_server_table_wanted(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
        "g=meta.k8s.io,application/json"));
    assert_true(mc_server_table_wanted("application/json; as=Table; g=meta.k8s.io; v=v1"));
    assert_true(
        mc_server_table_wanted("application/yaml, application/json;as=Table;g=meta.k8s.io;v=v1"));
    assert_false(mc_server_table_wanted("application/json"));
    assert_false(mc_server_table_wanted("application/json;as=Table;v=v1beta1;g=meta.k8s.io"));
    assert_false(mc_server_table_wanted("application/json;as=Tables;v=v1;g=meta.k8s.io"));
    assert_false(mc_server_table_wanted("application/json;as=Table;v=v1;g=meta.k8s.io.evil"));
    assert_false(mc_server_table_wanted("application/json;as=Table;v=v1"));
    assert_false(mc_server_table_wanted(NULL));
    assert_false(mc_server_table_wanted(""));
}

static mc_server_registry *registry_with_ic(void)
{
    mc_server_registry *reg = mc_server_registry_new();
    json_t *crd = server_test_load_crd("issuedcertificates.yaml");
    assert_int_equal(mc_server_registry_apply_crd(reg, crd, NULL), 0);
    json_decref(crd);
    return reg;
}

/* An object named name created `age` seconds before NOW, plus extra fields. */
static json_t *object_aged(const char *name, int64_t age, const char *extra)
{
    char ts[MC_TIME_RFC3339_MAX];
    assert_int_equal(mc_time_format((int64_t)NOW - age, ts, sizeof(ts)), 0);
    json_t *obj = server_test_json(extra ? extra : "{}");
    json_object_set_new(obj, "metadata",
                        json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "name", name, "namespace", "ns1",
                                  "creationTimestamp", ts, "resourceVersion", "7", "labels", "app",
                                  "x"));
    return obj;
}

static const char *column_name(const json_t *table, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(table, "columnDefinitions"), i), "name"));
}

static const json_t *cell(const json_t *table, size_t row, size_t col)
{
    const json_t *r = json_array_get(json_object_get(table, "rows"), row);
    return json_array_get(json_object_get(r, "cells"), col);
}

static void test_custom_resource(void **state)
{
    (void)state;
    mc_server_registry *reg = registry_with_ic();
    const mc_server_resource *r =
        mc_server_registry_find(reg, "certificates.smh.solo.io", "v1alpha2", "issuedcertificates");
    json_t *a = object_aged("mesh-1", 300, "{\"status\":{\"state\":\"ISSUED\"}}");
    json_t *b =
        object_aged("mesh-2", 5, "{\"status\":{\"state\":\"FAILED\",\"error\":\"bad CSR\"}}");
    const json_t *objs[] = {a, b};
    json_t *t = mc_server_table_build(r, objs, 2, "42", "next", NULL, NOW);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "kind")), "Table");
    assert_string_equal(json_string_value(json_object_get(t, "apiVersion")), "meta.k8s.io/v1");
    const json_t *md = json_object_get(t, "metadata");
    assert_string_equal(json_string_value(json_object_get(md, "resourceVersion")), "42");
    assert_string_equal(json_string_value(json_object_get(md, "continue")), "next");

    /* Name, State, Error, Not-After, Age, then the -o wide (priority 1) columns */
    assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 13);
    assert_string_equal(column_name(t, 0), "Name");
    assert_string_equal(column_name(t, 1), "State");
    assert_string_equal(column_name(t, 2), "Error");
    assert_string_equal(column_name(t, 3), "Not-After");
    assert_string_equal(column_name(t, 4), "Age");
    const json_t *name_col = json_array_get(json_object_get(t, "columnDefinitions"), 0);
    assert_string_equal(json_string_value(json_object_get(name_col, "format")), "name");
    const json_t *age_col = json_array_get(json_object_get(t, "columnDefinitions"), 4);
    assert_string_equal(json_string_value(json_object_get(age_col, "type")), "date");
    assert_int_equal(json_integer_value(json_object_get(age_col, "priority")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(age_col, "description")),
                           ".metadata.creationTimestamp"));

    assert_string_equal(json_string_value(cell(t, 0, 0)), "mesh-1");
    assert_string_equal(json_string_value(cell(t, 0, 1)), "ISSUED");
    assert_true(json_is_null(cell(t, 0, 2))); /* absent: kubectl prints <none> */
    assert_true(json_is_null(cell(t, 0, 3)));
    assert_string_equal(json_string_value(cell(t, 0, 4)), "5m");
    assert_string_equal(json_string_value(cell(t, 1, 2)), "bad CSR");
    assert_string_equal(json_string_value(cell(t, 1, 4)), "5s");

    const json_t *row_obj =
        json_object_get(json_array_get(json_object_get(t, "rows"), 0), "object");
    assert_string_equal(json_string_value(json_object_get(row_obj, "kind")),
                        "PartialObjectMetadata");
    assert_string_equal(json_string_value(json_object_get(row_obj, "apiVersion")),
                        "meta.k8s.io/v1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(row_obj, "metadata"), "namespace")),
        "ns1");
    assert_null(json_object_get(row_obj, "status"));
    json_decref(t);

    t = mc_server_table_build(r, objs, 2, NULL, NULL, "None", NOW);
    assert_null(json_object_get(json_array_get(json_object_get(t, "rows"), 0), "object"));
    assert_null(json_object_get(json_object_get(t, "metadata"), "resourceVersion"));
    assert_null(json_object_get(json_object_get(t, "metadata"), "continue"));
    json_decref(t);
    t = mc_server_table_build(r, objs, 2, NULL, "", "Object", NOW);
    row_obj = json_object_get(json_array_get(json_object_get(t, "rows"), 1), "object");
    assert_true(json_equal((json_t *)row_obj, b));
    assert_null(json_object_get(json_object_get(t, "metadata"), "continue"));
    json_decref(t);

    t = mc_server_table_build(r, NULL, 0, "1", NULL, NULL, NOW);
    assert_int_equal(json_array_size(json_object_get(t, "rows")), 0);
    assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 13);
    json_decref(t);
    json_decref(a);
    json_decref(b);
    mc_server_registry_free(reg);
}

/* Ages as kube's HumanDuration prints them. */
#define AGE_COLUMN 4 /* Name, State, Error, Not-After, Age */

static void test_ages(void **state)
{
    (void)state;
    mc_server_registry *reg = registry_with_ic();
    const mc_server_resource *r =
        mc_server_registry_find(reg, "certificates.smh.solo.io", "v1alpha2", "issuedcertificates");
    static const struct {
        int64_t age;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {-1, "0s"},
        {-5, "<invalid>"},
        {119, "119s"},
        {120, "2m"},
        {150, "2m30s"},
        {599, "9m59s"},
        {600, "10m"},
        {10799, "179m"},
        {10800, "3h"},
        {3 * 3600 + 60, "3h1m"},
        {8 * 3600 + 60, "8h"},
        {47 * 3600, "47h"},
        {50 * 3600, "2d2h"},
        {7 * 86400, "7d"},
        {10 * 86400, "10d"},
        {729 * 86400, "729d"},
        {(3 * 365 + 5) * 86400LL, "3y5d"},
        {9 * 365 * 86400LL, "9y"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = object_aged("x", cases[i].age, NULL);
        const json_t *objs[] = {o};
        json_t *t = mc_server_table_build(r, objs, 1, NULL, NULL, NULL, NOW);
        if (strcmp(json_string_value(cell(t, 0, AGE_COLUMN)), cases[i].text) != 0)
            fprintf(stderr, "age %lld: got %s want %s\n", (long long)cases[i].age,
                    json_string_value(cell(t, 0, AGE_COLUMN)), cases[i].text);
        assert_string_equal(json_string_value(cell(t, 0, AGE_COLUMN)), cases[i].text);
        json_decref(t);
        json_decref(o);
    }
    json_t *o =
        server_test_json("{\"metadata\":{\"name\":\"y\",\"creationTimestamp\":\"yesterday\"}}");
    const json_t *objs[] = {o};
    json_t *t = mc_server_table_build(r, objs, 1, NULL, NULL, NULL, NOW);
    assert_string_equal(json_string_value(cell(t, 0, AGE_COLUMN)), "<invalid>");
    json_decref(t);
    json_decref(o);
    mc_server_registry_free(reg);
}

static const char typed_crd[] =
    "{\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
    "\"scope\":\"Cluster\",\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},"
    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":"
    "true}},"
    "\"additionalPrinterColumns\":["
    "{\"name\":\"Count\",\"type\":\"integer\",\"jsonPath\":\".spec.count\"},"
    "{\"name\":\"Ratio\",\"type\":\"number\",\"jsonPath\":\".spec.ratio\",\"priority\":1,"
    "\"description\":\"how much\"},"
    "{\"name\":\"On\",\"type\":\"boolean\",\"jsonPath\":\".spec.on\"},"
    "{\"name\":\"Text\",\"type\":\"string\",\"jsonPath\":\".spec.text\"},"
    "{\"name\":\"First\",\"type\":\"string\",\"jsonPath\":\".spec.items[0].name\"},"
    "{\"name\":\"Last\",\"type\":\"string\",\"jsonPath\":\".spec.items[-1].name\"}"
    "]},"
    "{\"name\":\"v2\",\"served\":true,\"storage\":false,"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}";

static void test_typed_cells(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *crd = server_test_json(typed_crd);
    assert_int_equal(mc_server_registry_apply_crd(reg, crd, NULL), 0);
    json_decref(crd);
    const mc_server_resource *r = mc_server_registry_find(reg, "example.com", "v1", "widgets");
    json_t *good = object_aged("good", 1,
                               "{\"spec\":{\"count\":3,\"ratio\":2,\"on\":true,"
                               "\"text\":\"hi\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}");
    json_t *odd = object_aged("odd", 1,
                              "{\"spec\":{\"count\":2.9,\"ratio\":\"x\",\"on\":\"yes\","
                              "\"text\":{\"b\":1,\"a\":[true]},\"items\":[]}}");
    json_t *num = object_aged("num", 1, "{\"spec\":{\"count\":\"3\",\"text\":5,\"on\":null}}");
    const json_t *objs[] = {good, odd, num};
    json_t *t = mc_server_table_build(r, objs, 3, NULL, NULL, NULL, NOW);
    assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 7);
    const json_t *ratio = json_array_get(json_object_get(t, "columnDefinitions"), 2);
    assert_int_equal(json_integer_value(json_object_get(ratio, "priority")), 1);
    assert_string_equal(json_string_value(json_object_get(ratio, "description")), "how much");
    assert_string_equal(json_string_value(json_object_get(ratio, "type")), "number");

    assert_int_equal(json_integer_value(cell(t, 0, 1)), 3);
    assert_true(json_is_real(cell(t, 0, 2)));
    assert_true(json_real_value(cell(t, 0, 2)) == 2.0);
    assert_true(json_is_true(cell(t, 0, 3)));
    assert_string_equal(json_string_value(cell(t, 0, 4)), "hi");
    assert_string_equal(json_string_value(cell(t, 0, 5)), "a");
    assert_string_equal(json_string_value(cell(t, 0, 6)), "b");

    assert_true(json_is_integer(cell(t, 1, 1)));
    assert_int_equal(json_integer_value(cell(t, 1, 1)), 2); /* truncated, as Go's int64() */
    assert_true(json_is_null(cell(t, 1, 2)));
    assert_true(json_is_null(cell(t, 1, 3)));
    assert_string_equal(json_string_value(cell(t, 1, 4)), "{\"a\":[true],\"b\":1}");
    assert_true(json_is_null(cell(t, 1, 5)));

    assert_true(json_is_null(cell(t, 2, 1))); /* "3" is not an integer */
    assert_string_equal(json_string_value(cell(t, 2, 4)), "5");
    assert_true(json_is_null(cell(t, 2, 3)));
    json_decref(t);

    /* a version without columns gets Name and Age */
    r = mc_server_registry_find(reg, "example.com", "v2", "widgets");
    t = mc_server_table_build(r, objs, 1, NULL, NULL, NULL, NOW);
    assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 2);
    assert_string_equal(column_name(t, 1), "Age");
    assert_string_equal(json_string_value(cell(t, 0, 1)), "1s");
    json_decref(t);
    json_decref(good);
    json_decref(odd);
    json_decref(num);
    mc_server_registry_free(reg);
}

/* Builds a one-row table of a built-in and checks column names and cells
 * (cells as a JSON array literal). */
static void check_builtin(const mc_server_registry *reg, const char *group, const char *plural,
                          const json_t *obj, const char *const *columns, size_t ncol,
                          const char *cells)
{
    const mc_server_resource *r = mc_server_registry_find(reg, group, "v1", plural);
    assert_non_null(r);
    const json_t *objs[] = {obj};
    json_t *t = mc_server_table_build(r, objs, 1, NULL, NULL, NULL, NOW);
    size_t shown = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(t, "columnDefinitions")); i++) {
        const json_t *c = json_array_get(json_object_get(t, "columnDefinitions"), i);
        if (json_integer_value(json_object_get(c, "priority")) == 0)
            shown++;
    }
    assert_int_equal(shown, ncol);
    for (size_t i = 0; i < ncol; i++)
        assert_string_equal(column_name(t, i), columns[i]);
    json_t *want = server_test_json(cells);
    const json_t *got = json_object_get(json_array_get(json_object_get(t, "rows"), 0), "cells");
    if (!json_equal(want, (json_t *)got)) {
        char *text = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "%s: got %s want %s\n", plural, text, cells);
        free(text);
    }
    assert_true(json_equal(want, (json_t *)got));
    json_decref(want);
    json_decref(t);
}

static void test_builtins(void **state)
{
    (void)state;
    mc_server_registry *reg = mc_server_registry_new();
    json_t *ns = object_aged("istio-system", 60, "{\"status\":{\"phase\":\"Active\"}}");
    const char *ns_cols[] = {"Name", "Status", "Age"};
    check_builtin(reg, "", "namespaces", ns, ns_cols, 3, "[\"istio-system\",\"Active\",\"60s\"]");
    json_t *secret = object_aged("cacerts", 3 * 86400,
                                 "{\"type\":\"Opaque\",\"data\":{\"a\":\"eA==\",\"b\":\"\"}}");
    const char *secret_cols[] = {"Name", "Type", "Data", "Age"};
    check_builtin(reg, "", "secrets", secret, secret_cols, 4, "[\"cacerts\",\"Opaque\",2,\"3d\"]");
    json_t *pod = object_aged(
        "web-0", 30,
        "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"nodeName\":\"n1\"},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"containerStatuses\":["
        "{\"ready\":true,\"restartCount\":2},{\"ready\":false,\"restartCount\":1}]}}");
    const char *pod_cols[] = {"Name", "Ready", "Status", "Restarts", "Age"};
    check_builtin(reg, "", "pods", pod, pod_cols, 5,
                  "[\"web-0\",\"1/2\",\"Running\",\"3\",\"30s\",\"10.0.0.5\",\"n1\"]");
    json_t *pending = object_aged(
        "web-1", 30,
        "{\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Pending\","
        "\"containerStatuses\":[{\"ready\":false,\"restartCount\":0,"
        "\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}}");
    check_builtin(reg, "", "pods", pending, pod_cols, 5,
                  "[\"web-1\",\"0/1\",\"ImagePullBackOff\",\"0\",\"30s\",\"<none>\",\"<none>\"]");
    json_t *cm =
        object_aged("conf", 30, "{\"data\":{\"a\":\"1\"},\"binaryData\":{\"b\":\"AA==\"}}");
    const char *cm_cols[] = {"Name", "Data", "Age"};
    check_builtin(reg, "", "configmaps", cm, cm_cols, 3, "[\"conf\",2,\"30s\"]");
    json_t *sa = object_aged("default", 30, NULL);
    const char *sa_cols[] = {"Name", "Secrets", "Age"};
    check_builtin(reg, "", "serviceaccounts", sa, sa_cols, 3, "[\"default\",0,\"30s\"]");
    json_t *lease = object_aged("leader", 30, "{\"spec\":{\"holderIdentity\":\"agent-1\"}}");
    const char *lease_cols[] = {"Name", "Holder", "Age"};
    check_builtin(reg, "coordination.k8s.io", "leases", lease, lease_cols, 3,
                  "[\"leader\",\"agent-1\",\"30s\"]");
    json_t *deploy = object_aged(
        "issuer", 30,
        "{\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"tier\":\"ca\","
        "\"app\":\"issuer\"},\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
        "\"values\":[\"b\",\"a\"]},{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]},"
        "\"template\":{\"spec\":{\"containers\":[{\"name\":\"issuer\",\"image\":\"m:1\"},"
        "{\"name\":\"side\",\"image\":\"s:2\"}]}}},"
        "\"status\":{\"readyReplicas\":1,\"updatedReplicas\":2,\"availableReplicas\":1}}");
    const char *deploy_cols[] = {"Name", "Ready", "Up-to-date", "Available", "Age"};
    check_builtin(reg, "apps", "deployments", deploy, deploy_cols, 5,
                  "[\"issuer\",\"1/2\",2,1,\"30s\",\"issuer,side\",\"m:1,s:2\","
                  "\"app=issuer,!canary,tier=ca,zone in (a,b)\"]");
    json_t *fresh = object_aged("agent", 30, "{\"spec\":{}}"); /* replicas defaults to 1 */
    check_builtin(reg, "apps", "deployments", fresh, deploy_cols, 5,
                  "[\"agent\",\"0/1\",0,0,\"30s\",\"\",\"\",\"<none>\"]");
    json_t *pdb = object_aged(
        "issuer", 30, "{\"spec\":{\"minAvailable\":1},\"status\":{\"disruptionsAllowed\":1}}");
    const char *pdb_cols[] = {"Name", "Min Available", "Max Unavailable", "Allowed Disruptions",
                              "Age"};
    check_builtin(reg, "policy", "poddisruptionbudgets", pdb, pdb_cols, 5,
                  "[\"issuer\",\"1\",\"N/A\",1,\"30s\"]");
    json_t *pdb_percent = object_aged("agent", 30, "{\"spec\":{\"maxUnavailable\":\"50%\"}}");
    check_builtin(reg, "policy", "poddisruptionbudgets", pdb_percent, pdb_cols, 5,
                  "[\"agent\",\"N/A\",\"50%\",0,\"30s\"]");
    json_t *crd = server_test_json("{\"metadata\":{\"name\":\"widgets.example.com\","
                                   "\"creationTimestamp\":\"2025-01-02T03:04:05Z\"}}");
    const char *crd_cols[] = {"Name", "Created At"};
    check_builtin(reg, "apiextensions.k8s.io", "customresourcedefinitions", crd, crd_cols, 2,
                  "[\"widgets.example.com\",\"2025-01-02T03:04:05Z\"]");
    json_t *ev = server_test_json(
        "{\"metadata\":{\"name\":\"e1\"},\"type\":\"Normal\",\"reason\":\"Issued\","
        "\"message\":\"done\",\"involvedObject\":{\"kind\":\"IssuedCertificate\","
        "\"name\":\"mesh-1\"}}");
    const char *ev_cols[] = {"Last Seen", "Type", "Reason", "Object", "Message"};
    check_builtin(
        reg, "", "events", ev, ev_cols, 5,
        "[\"<unknown>\",\"Normal\",\"Issued\",\"issuedcertificate/mesh-1\",\"done\",\"e1\"]");
    const char *role_cols[] = {"Name", "Created At"};
    check_builtin(reg, "rbac.authorization.k8s.io", "roles", crd, role_cols, 2,
                  "[\"widgets.example.com\",\"2025-01-02T03:04:05Z\"]");
    json_t *binding =
        object_aged("readers", 30,
                    "{\"roleRef\":{\"kind\":\"ClusterRole\",\"name\":\"view\"},\"subjects\":["
                    "{\"kind\":\"User\",\"name\":\"alice\"},{\"kind\":\"Group\",\"name\":\"ops\"},"
                    "{\"kind\":\"ServiceAccount\",\"name\":\"agent\",\"namespace\":\"meshcert\"},"
                    "{\"kind\":\"User\",\"name\":\"bob\"}]}");
    const char *binding_cols[] = {"Name", "Role", "Age"};
    check_builtin(reg, "rbac.authorization.k8s.io", "rolebindings", binding, binding_cols, 3,
                  "[\"readers\",\"ClusterRole/view\",\"30s\",\"alice, bob\",\"ops\","
                  "\"meshcert:agent\"]");
    json_decref(binding);
    json_decref(ns);
    json_decref(secret);
    json_decref(pod);
    json_decref(pending);
    json_decref(cm);
    json_decref(sa);
    json_decref(lease);
    json_decref(deploy);
    json_decref(fresh);
    json_decref(pdb);
    json_decref(pdb_percent);
    json_decref(crd);
    json_decref(ev);
    mc_server_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),   cmocka_unit_test(test_custom_resource),
        cmocka_unit_test(test_ages),     cmocka_unit_test(test_typed_cells),
        cmocka_unit_test(test_builtins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
