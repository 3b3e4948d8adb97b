/* patch_test.c - JSON merge patch and JSON patch against the examples of
 * RFC 7386 (appendix A and section 3) and RFC 6902 (appendix A), kept as data
 * files in tests/data/api/, plus atomicity, pointers and merge-patch diffs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "api/patch.h"
#include "api_test_util.h"

static void test_rfc7386_cases(void **state)
{
    (void)state;
    json_t *cases = api_test_load("rfc7386-cases.json");
    assert_true(json_array_size(cases) >= 16);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        fprintf(stderr, "merge patch %s\n", json_string_value(json_object_get(c, "comment")));
        json_t *doc = json_incref(json_object_get(c, "target"));
        json_t *target_before = json_deep_copy(doc);
        json_t *patch = json_object_get(c, "patch");
        json_t *patch_before = json_deep_copy(patch);
        json_t *orig = json_incref(doc);
        assert_int_equal(mc_json_merge_patch(&doc, patch, NULL), 0);
        assert_true(api_test_json_equal(doc, json_object_get(c, "result")));
        /* neither the original document nor the patch was modified */
        assert_true(json_equal(orig, target_before));
        assert_true(json_equal(patch, patch_before));
        json_decref(orig);
        json_decref(target_before);
        json_decref(patch_before);
        json_decref(doc);
    }
    json_decref(cases);
}

static void test_merge_patch_null_doc(void **state)
{
    (void)state;
    json_t *doc = NULL;
    json_t *patch = api_test_json("{\"a\":{\"b\":null,\"c\":1}}");
    assert_int_equal(mc_json_merge_patch(&doc, patch, NULL), 0);
    json_t *want = api_test_json("{\"a\":{\"c\":1}}");
    assert_true(api_test_json_equal(doc, want));
    json_decref(want);
    json_decref(patch);
    json_decref(doc);
}

/* diff(a, b) applied to a gives b, for every RFC 7386 case without nulls in the result. */
static void test_merge_patch_diff(void **state)
{
    (void)state;
    json_t *cases = api_test_load("rfc7386-cases.json");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *from = json_object_get(c, "target"), *to = json_object_get(c, "result");
        json_t *patch = NULL;
        assert_int_equal(mc_json_merge_patch_diff(from, to, &patch, NULL), 0);
        json_t *doc = json_deep_copy(from);
        assert_int_equal(mc_json_merge_patch(&doc, patch, NULL), 0);
        if (!(json_is_object(to) && json_object_get(to, "e"))) /* {"e":null} cannot be expressed */
            assert_true(api_test_json_equal(doc, to));
        json_decref(doc);
        json_decref(patch);
    }
    json_decref(cases);

    json_t *a = api_test_json("{\"metadata\":{\"labels\":{\"x\":\"1\",\"y\":\"2\"}},\"spec\":{\"n\":1},\"status\":{\"state\":\"PENDING\"}}");
    json_t *b = api_test_json("{\"metadata\":{\"labels\":{\"x\":\"1\"}},\"spec\":{\"n\":1},\"status\":{\"state\":\"REQUESTED\"}}");
    json_t *patch = NULL;
    assert_int_equal(mc_json_merge_patch_diff(a, b, &patch, NULL), 0);
    json_t *want = api_test_json("{\"metadata\":{\"labels\":{\"y\":null}},\"status\":{\"state\":\"REQUESTED\"}}");
    assert_true(api_test_json_equal(patch, want));
    json_decref(want);
    json_decref(patch);
    assert_int_equal(mc_json_merge_patch_diff(a, a, &patch, NULL), 0);
    assert_int_equal(json_object_size(patch), 0);
    json_decref(patch);
    json_decref(a);
    json_decref(b);
}

static void test_rfc6902_cases(void **state)
{
    (void)state;
    json_t *cases = api_test_load("rfc6902-cases.json");
    assert_true(json_array_size(cases) >= 30);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *comment = json_string_value(json_object_get(c, "comment"));
        const char *want_error = json_string_value(json_object_get(c, "error"));
        fprintf(stderr, "json patch %s\n", comment);
        json_t *doc = json_deep_copy(json_object_get(c, "doc"));
        json_t *before = json_incref(doc);
        json_t *patch = json_incref(json_object_get(c, "patch"));
        mc_err err = {0};
        int rc;
        if (!patch) {
            /* A.13: the patch document itself is invalid JSON for us (duplicate member). */
            const char *text = json_string_value(json_object_get(c, "patch_text"));
            rc = mc_api_json_parse(text, strlen(text), &patch, &err);
            assert_int_equal(rc, MC_EINVAL);
        } else {
            rc = mc_json_patch_apply(&doc, patch, &err);
        }
        if (want_error) {
            assert_int_not_equal(rc, 0);
            if (!strstr(err.msg, want_error))
                fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want_error);
            assert_non_null(strstr(err.msg, want_error));
            assert_ptr_equal(doc, before); /* untouched on failure */
            assert_true(json_equal(doc, json_object_get(c, "doc")));
        } else {
            if (rc != 0)
                fprintf(stderr, "%s\n", err.msg);
            assert_int_equal(rc, 0);
            assert_true(api_test_json_equal(doc, json_object_get(c, "expected")));
        }
        json_decref(patch);
        json_decref(before);
        json_decref(doc);
    }
    json_decref(cases);
}

static void test_patch_errors_name_operation(void **state)
{
    (void)state;
    json_t *doc = api_test_json("{\"a\":1}");
    mc_err err = {0};
    json_t *patch = api_test_json("{\"op\":\"add\"}");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "expected an array"));
    json_decref(patch);
    patch = api_test_json("[{\"op\":\"test\",\"path\":\"/a\",\"value\":1},{\"op\":\"replace\",\"path\":\"/zz\",\"value\":2}]");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    assert_string_equal(err.msg,
                        "json patch operation 1 (replace /zz): the target location does not exist");
    json_decref(patch);
    patch = api_test_json("[7]");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "must be a JSON object"));
    json_decref(patch);
    patch = api_test_json("[{\"op\":\"copy\",\"path\":\"/b\"}]");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "\"from\" must be a string"));
    json_decref(patch);
    patch = api_test_json("[{\"op\":\"remove\",\"path\":\"\"}]");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    json_decref(patch);
    patch = api_test_json("[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]");
    assert_int_equal(mc_json_patch_apply(&doc, patch, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "not an object or array"));
    json_decref(patch);
    json_decref(doc);
}

static void test_pointer_get(void **state)
{
    (void)state;
    json_t *doc = api_test_json("{\"a\":[{\"b~/c\":5}]}");
    json_t *v = NULL;
    mc_err err = {0};
    assert_int_equal(mc_json_pointer_get(doc, "/a/0/b~0~1c", &v, NULL), 0);
    assert_int_equal(json_integer_value(v), 5);
    assert_int_equal(mc_json_pointer_get(doc, "", &v, NULL), 0);
    assert_ptr_equal(v, doc);
    assert_int_equal(mc_json_pointer_get(doc, "/a/1", &v, &err), MC_ENOTFOUND);
    assert_int_equal(mc_json_pointer_get(doc, "/a/-", &v, &err), MC_ENOTFOUND);
    assert_int_equal(mc_json_pointer_get(doc, "a", &v, &err), MC_EINVAL);
    json_decref(doc);

    json_t *x = api_test_json("[1, 2.0, \"a\", {\"k\": [true, null]}]");
    json_t *y = api_test_json("[1.0, 2, \"a\", {\"k\": [true, null]}]");
    json_t *z = api_test_json("[1, 2, \"a\", {\"k\": [false, null]}]");
    assert_true(mc_json_equal(x, y));
    assert_false(mc_json_equal(x, z));
    json_decref(x);
    json_decref(y);
    json_decref(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7386_cases),
        cmocka_unit_test(test_merge_patch_null_doc),
        cmocka_unit_test(test_merge_patch_diff),
        cmocka_unit_test(test_rfc6902_cases),
        cmocka_unit_test(test_patch_errors_name_operation),
        cmocka_unit_test(test_pointer_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
