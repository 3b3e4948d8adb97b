/* api_root_rotation_test.c - the RootRotation codec and validation
 * (api/root_rotation.h): the golden fixture decodes into the struct and
 * re-encodes unchanged, unknown fields survive, a wrongly typed field is
 * named, and validation names what is wrong (missing or equal Secrets, a
 * bad stepDwell, an unknown phase).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/root_rotation.h"
#include "api_test_util.h"

static mc_api_root_rotation *load(void)
{
    json_t *json = api_test_load("rootrotation.json");
    mc_api_root_rotation *rr = NULL;
    mc_err err = {0};
    if (mc_api_root_rotation_decode(json, &rr, &err) != MC_OK)
        fail_msg("%s", err.msg);
    json_decref(json);
    return rr;
}

static void test_decode_fixture(void **state)
{
    (void)state;
    mc_api_root_rotation *rr = load();
    assert_string_equal(rr->metadata.name, "rotate-2026");
    assert_string_equal(rr->spec.root_secret.name, "root-ca");
    assert_string_equal(rr->spec.new_root_secret.namespace, "meshcert");
    assert_string_equal(rr->spec.step_dwell, "24h");
    assert_false(rr->spec.abort);
    assert_int_equal(mc_api_rr_phase_parse(rr->status.phase),
                     MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE);
    assert_int_equal(rr->status.clusters_len, 2);
    assert_true(rr->status.clusters[0].done);
    assert_false(rr->status.clusters[1].done);
    assert_non_null(strstr(rr->status.clusters[1].message, "REQUESTED"));
    assert_int_equal(rr->status.conditions.len, 2);
    assert_string_equal(rr->status.conditions.items[1].type, "PROPAGATING_NEW_INTERMEDIATE");
    int64_t dwell = 0;
    assert_int_equal(mc_api_root_rotation_dwell(rr, &dwell, NULL), MC_OK);
    assert_int_equal(dwell, 86400);
    assert_int_equal(mc_api_root_rotation_validate(rr, NULL), MC_OK);
    /* re-encoded as it came, with an unknown field kept */
    json_t *out = NULL;
    assert_int_equal(mc_api_root_rotation_encode(rr, &out, NULL), MC_OK);
    json_t *in = api_test_load("rootrotation.json");
    assert_true(api_test_json_equal(in, out));
    json_decref(out);
    json_decref(in);
    mc_api_root_rotation_free(rr);

    json_t *extra = api_test_load("rootrotation.json");
    json_object_set_new(json_object_get(extra, "spec"), "verification", json_string("manual"));
    assert_int_equal(mc_api_root_rotation_decode(extra, &rr, NULL), MC_OK);
    assert_int_equal(mc_api_root_rotation_encode(rr, &out, NULL), MC_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "spec"), "verification")), "manual");
    json_decref(out);
    json_decref(extra);
    mc_api_root_rotation_free(rr);
}

static void test_decode_errors(void **state)
{
    (void)state;
    json_t *json = api_test_load("rootrotation.json");
    json_object_set_new(json_object_get(json, "spec"), "abort", json_string("yes"));
    mc_api_root_rotation *rr = NULL;
    mc_err err = {0};
    assert_int_equal(mc_api_root_rotation_decode(json, &rr, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "spec.abort"));
    json_decref(json);
    json = api_test_load("rootrotation.json");
    json_object_set_new(json, "kind", json_string("IssuedCertificate"));
    assert_int_equal(mc_api_root_rotation_decode(json, &rr, &err), MC_EINVAL);
    json_decref(json);
    json = api_test_load("rootrotation.json");
    json_object_set_new(json_object_get(json, "status"), "stepStartedAt", json_string("yesterday"));
    assert_int_equal(mc_api_root_rotation_decode(json, &rr, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "status.stepStartedAt"));
    json_decref(json);
}

static void expect_invalid(mc_api_root_rotation *rr, const char *words)
{
    mc_err err = {0};
    assert_int_equal(mc_api_root_rotation_validate(rr, &err), MC_EINVAL);
    if (!strstr(err.msg, words))
        fail_msg("\"%s\" does not say \"%s\"", err.msg, words);
    assert_non_null(strstr(err.msg, "rootrotation meshcert/rotate-2026"));
    mc_api_root_rotation_free(rr);
}

static void test_validate(void **state)
{
    (void)state;
    mc_api_root_rotation *rr = load();
    mc_api_object_ref_set(&rr->spec.new_root_secret, "meshcert", "root-ca");
    expect_invalid(rr, "spec.newRootSecret: names the same Secret as spec.rootSecret");
    rr = load();
    mc_api_object_ref_clear(&rr->spec.root_secret);
    expect_invalid(rr, "spec.rootSecret");
    rr = load();
    free(rr->spec.step_dwell);
    rr->spec.step_dwell = strdup("soon");
    expect_invalid(rr, "spec.stepDwell");
    rr = load();
    free(rr->status.phase);
    rr->status.phase = strdup("VERIFYING");
    expect_invalid(rr, "status.phase");
    /* stepDwell absent: the 24h default */
    rr = load();
    free(rr->spec.step_dwell);
    rr->spec.step_dwell = NULL;
    int64_t dwell = 0;
    assert_int_equal(mc_api_root_rotation_dwell(rr, &dwell, NULL), MC_OK);
    assert_int_equal(dwell, 24 * 3600);
    mc_api_root_rotation_free(rr);
}

static void test_phases(void **state)
{
    (void)state;
    for (int p = MC_RR_PHASE_ADDING_NEW_ROOT; p <= MC_RR_PHASE_FAILED; p++)
        assert_int_equal(mc_api_rr_phase_parse(mc_api_rr_phase_name((mc_rr_phase)p)), p);
    assert_int_equal(mc_api_rr_phase_parse(NULL), MC_RR_PHASE_NONE);
    assert_int_equal(mc_api_rr_phase_parse(""), MC_RR_PHASE_NONE);
    assert_int_equal(mc_api_rr_phase_parse("complete"), MC_RR_PHASE_UNKNOWN);
    assert_true(mc_api_rr_phase_is_final(MC_RR_PHASE_COMPLETE));
    assert_true(mc_api_rr_phase_is_final(MC_RR_PHASE_ABORTED));
    assert_true(mc_api_rr_phase_is_final(MC_RR_PHASE_FAILED));
    assert_false(mc_api_rr_phase_is_final(MC_RR_PHASE_ROLLING_BACK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fixture),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_phases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
