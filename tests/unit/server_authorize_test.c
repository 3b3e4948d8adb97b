/* server_authorize_test.c - the server's one authorization decision
 * (mc_server_authorize, src/server/authz.c): a cluster's admin identity is
 * "<cluster>-admin" in system:masters and may do anything, resource or not;
 * an identity outside system:masters may do nothing until RBAC exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/authz.h"

static void test_admin_may_do_everything(void **state)
{
    (void)state;
    mc_server_identity admin;
    mc_server_identity_admin(&admin, "east");
    assert_string_equal(admin.user, "east-admin");
    assert_string_equal(admin.groups[0], "system:masters");
    assert_string_equal(admin.groups[1], "system:authenticated");
    assert_int_equal(admin.groups_len, 2);
    const mc_server_authz_request asks[] = {
        {"delete", "certificates.smh.solo.io", "issuedcertificates", NULL, "istio-system", "x",
         NULL},
        {"*", "*", "*", NULL, NULL, NULL, NULL},
        {"patch", "", "namespaces", "status", NULL, "default", NULL},
        {"get", NULL, NULL, NULL, NULL, NULL, "/healthz"},
    };
    char reason[64] = "stale";
    for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
        assert_int_equal(mc_server_authorize(&admin, &asks[i], reason, sizeof(reason)),
                         MC_SERVER_AUTHZ_ALLOW);
        assert_string_equal(reason, ""); /* kube's privileged-group authorizer gives none */
    }
}

static void test_others_may_do_nothing_yet(void **state)
{
    (void)state;
    mc_server_identity user;
    mc_server_identity_service_account(&user, "istio-system", "agent");
    assert_string_equal(user.user, "system:serviceaccount:istio-system:agent");
    assert_int_equal(user.groups_len, 3);
    assert_string_equal(user.groups[0], "system:serviceaccounts");
    assert_string_equal(user.groups[1], "system:serviceaccounts:istio-system");
    assert_string_equal(user.groups[2], "system:authenticated");
    const mc_server_authz_request ask = {"get",          "",        "secrets", NULL,
                                         "istio-system", "cacerts", NULL};
    assert_int_equal(mc_server_authorize(&user, &ask, NULL, 0), MC_SERVER_AUTHZ_DENY);
    assert_int_equal(mc_server_authorize(NULL, &ask, NULL, 0), MC_SERVER_AUTHZ_DENY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_may_do_everything),
        cmocka_unit_test(test_others_may_do_nothing_yet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
