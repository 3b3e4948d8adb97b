/* fieldset_test.c - field sets and managedFields (api/fieldset, api/managed):
 * the server-side apply and update cases of tests/data/api/apply/cases.json
 * (merge, prune, conflicts and their messages, force, set and map lists,
 * atomic maps, before-first-apply, the status subresource, built-in kinds),
 * FieldsV1 reading and writing, path notation, set algebra and the
 * fieldManager rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/fieldset.h"
#include "api/managed.h"
#include "api_test_util.h"

#define NOW "2026-01-01T00:00:00Z"

static int scope_of(const char *name)
{
    if (strcmp(name, "status") == 0)
        return MC_MANAGED_SCOPE_STATUS;
    return strcmp(name, "main") == 0 ? MC_MANAGED_SCOPE_MAIN : MC_MANAGED_SCOPE_ALL;
}

/* Runs one case; returns 1 when it passed (messages on stderr otherwise). */
static int run_case(const json_t *c)
{
    const char *comment = json_string_value(json_object_get(c, "comment"));
    fprintf(stderr, "case: %s\n", comment);
    json_t *schema_value = json_object_get(c, "schema");
    json_t *schema = NULL;
    if (json_is_string(schema_value)) {
        char name[256];
        snprintf(name, sizeof(name), "apply/%s", json_string_value(schema_value));
        schema = api_test_load(name);
    } else if (json_is_object(schema_value)) {
        schema = json_incref(schema_value);
    }
    const json_t *live = json_object_get(c, "live");
    if (json_is_null(live))
        live = NULL;
    const json_t *object = json_object_get(c, "object");
    mc_managed m = {0};
    mc_err err = {0};
    const json_t *live_fields =
        live ? json_object_get(json_object_get(live, "metadata"), "managedFields") : NULL;
    assert_int_equal(mc_managed_decode(live_fields, &m, &err), MC_OK);
    mc_managed_op op = {
        .manager = json_string_value(json_object_get(c, "manager")),
        .api_version = json_string_value(json_object_get(object, "apiVersion")),
        .subresource = json_string_value(json_object_get(c, "subresource")),
        .now = NOW,
        .scope = scope_of(json_string_value(json_object_get(c, "scope"))),
        .type = {schema},
    };
    int ok = 1;
    json_t *out = NULL, *conflicts = NULL;
    int rc;
    if (strcmp(json_string_value(json_object_get(c, "operation")), "update") == 0) {
        rc = mc_managed_update(&m, &op, live, object, &err);
        out = rc == MC_OK ? json_deep_copy(object) : NULL;
    } else {
        int changed = 0;
        rc = mc_managed_apply(&m, &op, live, object, json_is_true(json_object_get(c, "force")),
                              &out, &changed, &conflicts, &err);
    }
    const char *want_conflict = json_string_value(json_object_get(c, "conflict"));
    const char *want_error = json_string_value(json_object_get(c, "error"));
    if (want_conflict) {
        char *message = mc_managed_conflict_message(conflicts);
        json_t *causes = mc_managed_conflict_causes(conflicts);
        ok = rc == MC_ECONFLICT && message && strcmp(message, want_conflict) == 0 &&
             api_test_json_equal(causes, json_object_get(c, "causes"));
        if (!ok)
            fprintf(stderr, "  rc %d, message:\n%s\n  wanted:\n%s\n", rc,
                    message ? message : "(none)", want_conflict);
        free(message);
        json_decref(causes);
    } else if (want_error) {
        ok = rc == MC_EINVAL && strcmp(err.msg, want_error) == 0;
        if (!ok)
            fprintf(stderr, "  rc %d, error \"%s\", wanted \"%s\"\n", rc, err.msg, want_error);
    } else if (rc != MC_OK) {
        fprintf(stderr, "  failed: %d %s\n", rc, err.msg);
        ok = 0;
    } else {
        json_t *encoded = mc_managed_encode(&m);
        json_t *meta = json_object_get(out, "metadata");
        if (json_array_size(encoded) > 0)
            json_object_set(meta, "managedFields", encoded);
        else
            json_object_del(meta, "managedFields");
        ok = api_test_json_equal(out, json_object_get(c, "result"));
        json_decref(encoded);
    }
    json_decref(out);
    json_decref(conflicts);
    mc_managed_clear(&m);
    json_decref(schema);
    return ok;
}

static void test_cases(void **state)
{
    (void)state;
    json_t *cases = api_test_load("apply/cases.json");
    assert_true(json_array_size(cases) >= 20);
    int failed = 0;
    for (size_t i = 0; i < json_array_size(cases); i++)
        failed += !run_case(json_array_get(cases, i));
    json_decref(cases);
    assert_int_equal(failed, 0);
}

/* A failed apply leaves the entries as they were. */
static void test_conflict_changes_nothing(void **state)
{
    (void)state;
    json_t *live = api_test_json(
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
        "\"managedFields\":[{\"manager\":\"a\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
        "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:k\":{}}}}]},"
        "\"data\":{\"k\":\"1\"}}");
    json_t *config =
        api_test_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
                      "\"data\":{\"k\":\"2\"}}");
    mc_managed m = {0};
    assert_int_equal(
        mc_managed_decode(json_object_get(json_object_get(live, "metadata"), "managedFields"), &m,
                          NULL),
        MC_OK);
    json_t *before = mc_managed_encode(&m);
    mc_managed_op op = {"b", "v1", "", NOW, MC_MANAGED_SCOPE_ALL, {NULL}};
    json_t *out = NULL, *conflicts = NULL;
    int changed = 0;
    mc_err err = {0};
    assert_int_equal(mc_managed_apply(&m, &op, live, config, 0, &out, &changed, &conflicts, &err),
                     MC_ECONFLICT);
    assert_null(out);
    assert_string_equal(err.msg, "Apply failed with 1 conflict: conflict with \"a\": .data.k");
    json_t *after = mc_managed_encode(&m);
    assert_true(api_test_json_equal(before, after));
    json_decref(before);
    json_decref(after);
    json_decref(conflicts);
    mc_managed_clear(&m);
    json_decref(live);
    json_decref(config);
}

static void test_fields_v1_round_trip(void **state)
{
    (void)state;
    json_t *fields = api_test_load("apply/fields-v1.json");
    json_t *set = NULL;
    assert_int_equal(mc_fieldset_from_fields_v1(fields, &set, NULL), MC_OK);
    json_t *back = mc_fieldset_to_fields_v1(set);
    assert_true(api_test_json_equal(back, fields));
    /* A level's members come before what lies below them. */
    json_t *paths = mc_fieldset_paths(set);
    json_t *want = api_test_json(
        "[\".metadata.labels\",\".metadata.labels.app\",\".spec.ports[name=\\\"http\\\"]\","
        "\".spec.ports[name=\\\"x\\\",protocol=\\\"TCP\\\"]\","
        "\".spec.ports[name=\\\"http\\\"].name\",\".spec.ports[name=\\\"http\\\"].port\","
        "\".spec.tags[=\\\"a\\\"]\","
        "\".spec.tags[=5]\",\".spec.x[3]\"]");
    assert_true(api_test_json_equal(paths, want));
    json_decref(want);
    json_decref(paths);
    json_decref(back);
    json_decref(set);
    json_decref(fields);
}

static void test_fields_v1_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "{\"x:y\":{}}", "{\"f:a\":1}", "{\"f:a\":{\".\":{\"f:b\":{}}}}", "{\"f:a\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = api_test_json(bad[i]);
        json_t *set = NULL;
        mc_err err = {0};
        assert_int_equal(mc_fieldset_from_fields_v1(v, &set, &err), MC_EINVAL);
        assert_null(set);
        assert_true(strlen(err.msg) > 0);
        json_decref(v);
    }
    json_t *mf = api_test_json("[{\"manager\":\"a\",\"operation\":\"Patch\"}]");
    mc_managed m = {0};
    assert_int_equal(mc_managed_decode(mf, &m, NULL), MC_EINVAL);
    assert_int_equal(m.count, 0);
    json_decref(mf);
}

static void test_set_algebra(void **state)
{
    (void)state;
    json_t *a = NULL, *b = NULL;
    json_t *va = api_test_json("{\"f:s\":{\".\":{},\"f:x\":{},\"f:y\":{}}}");
    json_t *vb = api_test_json("{\"f:s\":{\"f:y\":{},\"f:z\":{}}}");
    assert_int_equal(mc_fieldset_from_fields_v1(va, &a, NULL), MC_OK);
    assert_int_equal(mc_fieldset_from_fields_v1(vb, &b, NULL), MC_OK);
    json_t *u = mc_fieldset_union(a, b), *d = mc_fieldset_difference(a, b),
           *i = mc_fieldset_intersection(a, b), *none = mc_fieldset_difference(a, a);
    json_t *uv = mc_fieldset_to_fields_v1(u), *dv = mc_fieldset_to_fields_v1(d),
           *iv = mc_fieldset_to_fields_v1(i);
    json_t *want_u = api_test_json("{\"f:s\":{\".\":{},\"f:x\":{},\"f:y\":{},\"f:z\":{}}}");
    json_t *want_d = api_test_json("{\"f:s\":{\".\":{},\"f:x\":{}}}");
    json_t *want_i = api_test_json("{\"f:s\":{\"f:y\":{}}}");
    assert_true(api_test_json_equal(uv, want_u));
    assert_true(api_test_json_equal(dv, want_d));
    assert_true(api_test_json_equal(iv, want_i));
    assert_true(mc_fieldset_is_empty(none));
    json_t *all[] = {a, b, va, vb, u, d, i, none, uv, dv, iv, want_u, want_d, want_i};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        json_decref(all[k]);
}

/* A live list of type set with duplicates (kube tolerates them in stored
 * objects) is compared whole instead of failing the write. */
static void test_compare_tolerates_live_duplicates(void **state)
{
    (void)state;
    json_t *schema = api_test_load("apply/schema.json");
    json_t *a = api_test_json("{\"spec\":{\"tags\":[\"a\",\"a\"]}}");
    json_t *b = api_test_json("{\"spec\":{\"tags\":[\"a\"]}}");
    mc_fieldset_type type = {schema};
    json_t *changed = NULL, *removed = NULL;
    assert_int_equal(mc_fieldset_compare(&type, a, b, &changed, &removed, NULL), MC_OK);
    json_t *paths = mc_fieldset_paths(changed);
    json_t *want = api_test_json("[\".spec.tags\"]");
    assert_true(api_test_json_equal(paths, want));
    assert_true(mc_fieldset_is_empty(removed));
    json_t *all[] = {schema, a, b, changed, removed, paths, want};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        json_decref(all[k]);
}

static void test_managers(void **state)
{
    (void)state;
    char out[200];
    mc_managed_manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc", out,
                                       sizeof(out));
    assert_string_equal(out, "kubectl");
    mc_managed_manager_from_user_agent("meshcert", out, sizeof(out));
    assert_string_equal(out, "meshcert");
    mc_managed_manager_from_user_agent("a\tb\x01/c", out, sizeof(out));
    assert_string_equal(out, "ab");
    mc_managed_manager_from_user_agent(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    char long_ua[300];
    memset(long_ua, 'x', sizeof(long_ua) - 1);
    long_ua[sizeof(long_ua) - 1] = '\0';
    mc_managed_manager_from_user_agent(long_ua, out, sizeof(out));
    assert_int_equal(strlen(out), MC_MANAGED_MANAGER_MAX);
    mc_err err = {0};
    assert_int_equal(mc_managed_check_manager("kubectl", &err), MC_OK);
    assert_int_equal(mc_managed_check_manager(long_ua, &err), MC_EINVAL);
    assert_string_equal(err.msg, "Too long: may not be more than 128 bytes");
    assert_int_equal(mc_managed_check_manager("a\nb", &err), MC_EINVAL);
    json_t *reset_empty = api_test_json("[]"), *reset_one = api_test_json("[{}]"),
           *not_reset = api_test_json("[{\"manager\":\"a\"}]");
    assert_true(mc_managed_is_reset(reset_empty));
    assert_true(mc_managed_is_reset(reset_one));
    assert_false(mc_managed_is_reset(not_reset));
    assert_false(mc_managed_is_reset(NULL));
    json_decref(reset_empty);
    json_decref(reset_one);
    json_decref(not_reset);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_conflict_changes_nothing),
        cmocka_unit_test(test_fields_v1_round_trip),
        cmocka_unit_test(test_fields_v1_refused),
        cmocka_unit_test(test_set_algebra),
        cmocka_unit_test(test_compare_tolerates_live_duplicates),
        cmocka_unit_test(test_managers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
