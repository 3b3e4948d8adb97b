/* strategic_test.c - strategic merge patch (api/strategic.c): the cases of
 * tests/data/api/strategic-cases.json (among them the patch kubectl apply -k
 * sends for an overlay's new image), bad directives, and all-or-nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "api/strategic.h"
#include "api_test_util.h"

static void test_cases(void **state)
{
    (void)state;
    json_t *cases = api_test_load("strategic-cases.json");
    assert_true(json_array_size(cases) >= 9);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        fprintf(stderr, "strategic merge patch: %s\n",
                json_string_value(json_object_get(c, "comment")));
        json_t *doc = json_incref(json_object_get(c, "target"));
        json_t *target_before = json_deep_copy(doc);
        json_t *patch = json_object_get(c, "patch");
        json_t *patch_before = json_deep_copy(patch);
        json_t *orig = json_incref(doc);
        assert_int_equal(mc_json_strategic_merge_patch(&doc, patch, NULL), MC_OK);
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

/* A refused patch names its directive and leaves the document as it was. */
static void expect_refused(const char *patch_text, const char *message)
{
    json_t *doc = api_test_json("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
    json_t *before = doc;
    json_incref(before);
    json_t *patch = api_test_json(patch_text);
    mc_err err = {0};
    assert_int_equal(mc_json_strategic_merge_patch(&doc, patch, &err), MC_EINVAL);
    assert_ptr_equal(doc, before);
    if (!strstr(err.msg, message))
        fail_msg("got \"%s\", wanted \"%s\"", err.msg, message);
    json_decref(before);
    json_decref(patch);
    json_decref(doc);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"merge\"}],"
                   "\"x\":{\"$patch\":\"squash\"}}}",
                   "$patch: unknown value \"squash\"");
    expect_refused("{\"spec\":{\"$setElementOrder/containers\":{\"name\":\"a\"}}}",
                   "$setElementOrder/containers: not a list");
    expect_refused("{\"spec\":{\"$retainKeys\":\"containers\"}}", "$retainKeys: not a list");
    expect_refused("{\"$patch\":\"delete\"}", "delete of the whole object");
    expect_refused("[]", "must be an object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
