/* registration_test.c - the registration Secret's issuance policy codec
 * (api/registration.h): round trip through the annotation, strict
 * decoding (an unknown field, a bad value, no root: the whole policy is
 * refused), value checks, and the Secret that `cluster register` writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/registration.h"

static void add(mc_api_registration_policy *policy, mc_policy_field field, const char *value)
{
    mc_err err = {0};
    if (mc_api_registration_policy_add(policy, field, value, &err) != MC_OK)
        fail_msg("add %s: %s", value, err.msg);
}

static void test_round_trip(void **state)
{
    (void)state;
    mc_api_registration_policy policy, back;
    mc_api_registration_policy_init(&policy);
    mc_api_registration_policy_init(&back);
    add(&policy, MC_POLICY_ROOT, "meshcert/root-ca");
    add(&policy, MC_POLICY_ROOT, "meshcert/root-ca"); /* kept once */
    add(&policy, MC_POLICY_TRUST_DOMAIN, "east.local");
    add(&policy, MC_POLICY_DNS_SUFFIX, "east.example.com");
    add(&policy, MC_POLICY_ORG, "Acme, Inc.");
    assert_int_equal(policy.lens[MC_POLICY_ROOT], 1);
    char *text = NULL;
    mc_err err = {0};
    assert_int_equal(mc_api_registration_policy_encode(&policy, &text, &err), MC_OK);
    assert_string_equal(text, "{\"roots\":[\"meshcert/root-ca\"],\"trustDomains\":[\"east.local\"],"
                              "\"dnsSuffixes\":[\"east.example.com\"],\"orgs\":[\"Acme, Inc.\"]}");
    assert_int_equal(mc_api_registration_policy_decode(text, &back, &err), MC_OK);
    assert_true(mc_api_registration_policy_has(&back, MC_POLICY_ORG, "Acme, Inc."));
    assert_true(mc_api_registration_policy_has(&back, MC_POLICY_TRUST_DOMAIN, "east.local"));
    assert_false(mc_api_registration_policy_has(&back, MC_POLICY_TRUST_DOMAIN, "west.local"));

    json_t *secret = NULL;
    assert_int_equal(mc_api_registration_build("meshcert", "east", "apiVersion: v1\n", 15, &policy,
                                               &secret, &err),
                     MC_OK);
    assert_string_equal(json_string_value(json_object_get(secret, "type")),
                        MC_API_SECRET_TYPE_KUBECONFIG);
    assert_string_equal(json_string_value(json_object_get(json_object_get(secret, "data"), "east")),
                        "YXBpVmVyc2lvbjogdjEK");
    mc_api_registration_policy_clear(&back);
    assert_int_equal(mc_api_registration_policy_from_secret(secret, &back, &err), MC_OK);
    assert_true(mc_api_registration_policy_has(&back, MC_POLICY_ROOT, "meshcert/root-ca"));
    json_decref(secret);
    free(text);
    mc_api_registration_policy_clear(&policy);
    mc_api_registration_policy_clear(&back);
}

static void test_strict_decode(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{\"roots\":[\"meshcert/root-ca\"],\"trustDomain\":[\"east.local\"]}", /* misspelt */
        "{\"trustDomains\":[\"east.local\"]}",                                 /* no root */
        "{\"roots\":[\"root-ca\"]}",                                           /* no namespace */
        "{\"roots\":[\"meshcert/root-ca\"],\"trustDomains\":\"east.local\"}",
        "{\"roots\":[\"meshcert/root-ca\"],\"trustDomains\":[\"spiffe://east.local\"]}",
        "{\"roots\":[\"meshcert/root-ca\"],\"dnsSuffixes\":[\"*.example.com\"]}",
        "{\"roots\":[\"meshcert/root-ca\"],\"orgs\":[\"\"]}",
        "{\"roots\":[\"meshcert/root-ca\"],\"roots\":[\"kube-system/x\"]}", /* duplicate key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mc_api_registration_policy policy;
        mc_api_registration_policy_init(&policy);
        mc_err err = {0};
        if (mc_api_registration_policy_decode(bad[i], &policy, &err) != MC_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(policy.lens[MC_POLICY_ROOT], 0);
        mc_api_registration_policy_clear(&policy);
    }
}

static void test_value_checks(void **state)
{
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_TRUST_DOMAIN, "East.local", &err),
                     MC_EINVAL);
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_TRUST_DOMAIN, "a..b", &err),
                     MC_EINVAL);
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_DNS_SUFFIX, "10.0.0.1", &err),
                     MC_EINVAL);
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_DNS_SUFFIX, ".example.com", &err),
                     MC_EINVAL);
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_ROOT, "a/b/c", &err), MC_EINVAL);
    assert_int_equal(
        mc_api_registration_policy_check(MC_POLICY_TRUST_DOMAIN, "cluster.local", &err), MC_OK);
    assert_int_equal(mc_api_registration_policy_check(MC_POLICY_DNS_SUFFIX, "svc", &err), MC_OK);
}

static void test_secret_without_policy(void **state)
{
    (void)state;
    json_t *secret = json_pack("{s:{s:s}}", "metadata", "name", "east");
    mc_api_registration_policy policy;
    mc_api_registration_policy_init(&policy);
    mc_err err = {0};
    assert_int_equal(mc_api_registration_policy_from_secret(secret, &policy, &err), MC_ENOTFOUND);
    json_decref(secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_strict_decode),
        cmocka_unit_test(test_value_checks),
        cmocka_unit_test(test_secret_without_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
