/* server_authorize_test.c - the server's one authorization decision
 * (mc_server_authorize, src/server/authz.c, and RBAC's rule matching,
 * src/server/rbac.c): a cluster's admin identity is "<cluster>-admin" in
 * system:masters and may do anything, resource or not; every other identity
 * gets what the RBAC objects of tests/data/server/rbac-policy.json allow,
 * case by case from the same file, plus the defaults every cluster has;
 * and 403 messages read as kube-apiserver's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/authz.h"

/* ---- an mc_server_rbac_source over a JSON array of objects ---- */

static const char *plural_of(const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    return !kind                                  ? ""
           : !strcmp(kind, "Role")                ? "roles"
           : !strcmp(kind, "ClusterRole")         ? "clusterroles"
           : !strcmp(kind, "RoleBinding")         ? "rolebindings"
           : !strcmp(kind, "ClusterRoleBinding")  ? "clusterrolebindings"
                                                  : "";
}

static int in_scope(const json_t *obj, const char *plural, const char *ns)
{
    const char *obj_ns =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    return !strcmp(plural_of(obj), plural) && (!ns || (obj_ns && !strcmp(obj_ns, ns)));
}

static const json_t **table_list(void *ctx, const char *plural, const char *ns, size_t *count)
{
    const json_t *objects = ctx;
    const json_t **out = calloc(json_array_size(objects) + 1, sizeof(*out));
    assert_non_null(out);
    *count = 0;
    size_t i;
    const json_t *obj;
    json_array_foreach(objects, i, obj) if (in_scope(obj, plural, ns)) out[(*count)++] = obj;
    return out;
}

static const json_t *table_get(void *ctx, const char *plural, const char *ns, const char *name)
{
    const json_t *objects = ctx;
    size_t i;
    const json_t *obj;
    json_array_foreach(objects, i, obj)
    {
        const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        if (in_scope(obj, plural, ns) && n && !strcmp(n, name))
            return obj;
    }
    return NULL;
}

static json_t *load_policy(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/server/rbac-policy.json", MC_TEST_DATA);
    json_error_t error;
    json_t *policy = json_load_file(path, 0, &error);
    if (!policy)
        fprintf(stderr, "%s: %s\n", path, error.text);
    assert_non_null(policy);
    return policy;
}

/* ---- the cases ---- */

static const char *opt(const json_t *c, const char *key)
{
    return json_string_value(json_object_get(c, key));
}

static void identity_of(const json_t *who, mc_server_identity *identity)
{
    const char *sa = opt(who, "sa");
    if (sa) {
        char ns[254];
        const char *slash = strchr(sa, '/');
        assert_non_null(slash);
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - sa), sa);
        mc_server_identity_service_account(identity, ns, slash + 1);
        return;
    }
    memset(identity, 0, sizeof(*identity));
    snprintf(identity->user, sizeof(identity->user), "%s", opt(who, "user"));
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(who, "groups"), i, g)
        snprintf(identity->groups[identity->groups_len++], MC_SERVER_USER_MAX, "%s",
                 json_string_value(g));
}

static void test_policy_cases(void **state)
{
    (void)state;
    json_t *policy = load_policy();
    mc_server_rbac_source rbac = {table_list, table_get, json_object_get(policy, "objects")};
    size_t i, failed = 0;
    const json_t *c;
    json_array_foreach(json_object_get(policy, "cases"), i, c)
    {
        mc_server_identity identity;
        identity_of(json_object_get(c, "who"), &identity);
        mc_server_authz_request what = {opt(c, "verb"),        opt(c, "group") ? opt(c, "group") : "",
                                        opt(c, "resource"),    opt(c, "subresource"),
                                        opt(c, "namespace"),   opt(c, "name"),
                                        opt(c, "path")};
        if (what.path)
            what.group = NULL;
        char reason[512] = "stale";
        int allowed = mc_server_authorize(&rbac, &identity, &what, reason, sizeof(reason)) ==
                      MC_SERVER_AUTHZ_ALLOW;
        int want = json_is_true(json_object_get(c, "allowed"));
        const char *want_reason = opt(c, "reason");
        if (allowed != want || (want_reason && strcmp(reason, want_reason) != 0) ||
            (!allowed && reason[0])) {
            char *text = json_dumps(c, JSON_COMPACT);
            fprintf(stderr, "case %zu: %s\n  got allowed=%d reason \"%s\"\n", i, text, allowed,
                    reason);
            free(text);
            failed++;
        }
    }
    assert_true(i > 30);
    assert_int_equal(failed, 0);
    json_decref(policy);
}

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
        assert_int_equal(mc_server_authorize(NULL, &admin, &asks[i], reason, sizeof(reason)),
                         MC_SERVER_AUTHZ_ALLOW);
        assert_string_equal(reason, ""); /* kube's privileged-group authorizer gives none */
    }
}

static void test_service_account_identity(void **state)
{
    (void)state;
    mc_server_identity user;
    mc_server_identity_service_account(&user, "istio-system", "agent");
    assert_string_equal(user.user, "system:serviceaccount:istio-system:agent");
    assert_int_equal(user.groups_len, 3);
    assert_string_equal(user.groups[0], "system:serviceaccounts");
    assert_string_equal(user.groups[1], "system:serviceaccounts:istio-system");
    assert_string_equal(user.groups[2], "system:authenticated");
    /* without RBAC objects only the defaults: no Secrets */
    const mc_server_authz_request ask = {"get",          "",        "secrets", NULL,
                                         "istio-system", "cacerts", NULL};
    assert_int_equal(mc_server_authorize(NULL, &user, &ask, NULL, 0), MC_SERVER_AUTHZ_DENY);
    assert_int_equal(mc_server_authorize(NULL, NULL, &ask, NULL, 0), MC_SERVER_AUTHZ_DENY);
}

static void test_forbidden_messages(void **state)
{
    (void)state;
    mc_server_identity sa;
    mc_server_identity_service_account(&sa, "ns", "sa");
    char msg[1024];
    const mc_server_authz_request list = {"list", "", "secrets", NULL, "x", NULL, NULL};
    mc_server_authz_forbidden_message(&sa, &list, "", msg, sizeof(msg));
    assert_string_equal(msg, "secrets is forbidden: User \"system:serviceaccount:ns:sa\" cannot "
                             "list resource \"secrets\" in API group \"\" in the namespace \"x\"");
    const mc_server_authz_request get = {"update", "certificates.smh.solo.io",
                                         "certificaterequests", "status", "istio-system", "cr1",
                                         NULL};
    mc_server_authz_forbidden_message(&sa, &get, NULL, msg, sizeof(msg));
    assert_string_equal(msg, "certificaterequests.certificates.smh.solo.io \"cr1\" is forbidden: "
                             "User \"system:serviceaccount:ns:sa\" cannot update resource "
                             "\"certificaterequests/status\" in API group "
                             "\"certificates.smh.solo.io\" in the namespace \"istio-system\"");
    const mc_server_authz_request ns = {"list", "", "namespaces", NULL, NULL, NULL, NULL};
    mc_server_authz_forbidden_message(&sa, &ns, "", msg, sizeof(msg));
    assert_string_equal(msg, "namespaces is forbidden: User \"system:serviceaccount:ns:sa\" "
                             "cannot list resource \"namespaces\" in API group \"\" at the "
                             "cluster scope");
    const mc_server_authz_request path = {"get", NULL, NULL, NULL, NULL, NULL, "/metrics"};
    mc_server_authz_forbidden_message(&sa, &path, "", msg, sizeof(msg));
    assert_string_equal(msg,
                        "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/metrics\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_may_do_everything),
        cmocka_unit_test(test_service_account_identity),
        cmocka_unit_test(test_policy_cases),
        cmocka_unit_test(test_forbidden_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
