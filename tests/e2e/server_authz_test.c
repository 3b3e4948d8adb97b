/* server_authz_test.c - the self reviews of meshcert server over real HTTPS:
 * SelfSubjectAccessReview (authorization.k8s.io/v1) answers from the
 * server's authorization decision, SelfSubjectReview (authentication.k8s.io
 * v1 and v1beta1) names the caller as the kubeconfig does; both are in
 * discovery with the verb create only, are never stored, and refuse other
 * methods and malformed specs. An invalid token gets 401 before any of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_client.h"

static server_process g_server;

#define C1   "/clusters/c1"
#define SSAR C1 "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
#define SSR  C1 "/apis/authentication.k8s.io/v1/selfsubjectreviews"

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--cluster", "c1", "--cluster", "c2", NULL};
    return server_client_setup(&g_server, args, NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return server_client_teardown(&g_server);
}

static long post(const char *token, const char *path, const char *body, http_reply *r)
{
    if (http_do(&g_server, token, "POST", path, body, NULL, r) != 0)
        fail_msg("POST %s: no answer", path);
    return r->status;
}

static const char *c1_token(void)
{
    return server_token(&g_server, "c1");
}

static void test_access_review(void **state)
{
    (void)state;
    http_reply r;
    assert_int_equal(
        post(c1_token(), SSAR,
             "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
             "\"spec\":{\"resourceAttributes\":{\"verb\":\"delete\",\"group\":"
             "\"certificates.smh.solo.io\",\"resource\":\"issuedcertificates\",\"namespace\":"
             "\"istio-system\"}}}",
             &r),
        201);
    assert_string_equal(json_string_value(json_object_get(r.json, "kind")),
                        "SelfSubjectAccessReview");
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "status"), "allowed")));
    /* the spec comes back as asked */
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r.json, "spec"), "resourceAttributes"), "verb")),
        "delete");
    http_reply_free(&r);
    assert_int_equal(post(c1_token(), SSAR,
                          "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
                          "\"SelfSubjectAccessReview\",\"spec\":{\"nonResourceAttributes\":"
                          "{\"verb\":\"get\",\"path\":\"/healthz\"}}}",
                          &r),
                     201);
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "status"), "allowed")));
    http_reply_free(&r);
    /* kube's validation: exactly one of the two attribute sets */
    assert_int_equal(post(c1_token(), SSAR,
                          "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
                          "\"SelfSubjectAccessReview\",\"spec\":{}}",
                          &r),
                     422);
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")),
                           "exactly one of nonResourceAttributes or resourceAttributes must be "
                           "specified"));
    http_reply_free(&r);
    assert_int_equal(post(c1_token(), SSAR, "{not json", &r), 400);
    http_reply_free(&r);
    /* a review is not stored: no get, list, delete */
    assert_int_equal(http_do(&g_server, c1_token(), "GET", SSAR, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    http_reply_free(&r);
    assert_int_equal(http_do(&g_server, c1_token(), "DELETE", SSAR "/x", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    http_reply_free(&r);
}

static void test_self_review(void **state)
{
    (void)state;
    http_reply r;
    static const char *const paths[] = {SSR, C1 "/apis/authentication.k8s.io/v1beta1/"
                                                "selfsubjectreviews"};
    for (size_t i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"authentication.k8s.io/%s\",\"kind\":\"SelfSubjectReview\"}",
                 i == 0 ? "v1" : "v1beta1");
        assert_int_equal(post(c1_token(), paths[i], body, &r), 201);
        const json_t *user = json_object_get(json_object_get(r.json, "status"), "userInfo");
        /* the user name of the cluster's kubeconfig */
        assert_string_equal(json_string_value(json_object_get(user, "username")), "c1-admin");
        const json_t *groups = json_object_get(user, "groups");
        assert_int_equal(json_array_size(groups), 2);
        assert_string_equal(json_string_value(json_array_get(groups, 0)), "system:masters");
        assert_string_equal(json_string_value(json_array_get(groups, 1)), "system:authenticated");
        http_reply_free(&r);
    }
    /* c2's token is c2's admin */
    assert_int_equal(post(server_token(&g_server, "c2"),
                          "/clusters/c2/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
                          "\"SelfSubjectReview\"}",
                          &r),
                     201);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r.json, "status"), "userInfo"), "username")),
        "c2-admin");
    http_reply_free(&r);
}

static void test_invalid_token_is_401(void **state)
{
    (void)state;
    http_reply r;
    assert_int_equal(post("wrong", SSR,
                          "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
                          "\"SelfSubjectReview\"}",
                          &r),
                     401);
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "Unauthorized");
    http_reply_free(&r);
    assert_int_equal(post(NULL, SSAR,
                          "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
                          "\"SelfSubjectAccessReview\",\"spec\":{\"nonResourceAttributes\":"
                          "{\"verb\":\"get\",\"path\":\"/\"}}}",
                          &r),
                     401);
    http_reply_free(&r);
}

static void test_discovery(void **state)
{
    (void)state;
    http_reply r;
    assert_int_equal(
        http_do(&g_server, c1_token(), "GET", C1 "/apis/authorization.k8s.io/v1", NULL, NULL, &r),
        0);
    assert_int_equal(r.status, 200);
    const json_t *entry = json_array_get(json_object_get(r.json, "resources"), 0);
    assert_string_equal(json_string_value(json_object_get(entry, "name")),
                        "selfsubjectaccessreviews");
    assert_int_equal(json_array_size(json_object_get(entry, "verbs")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "verbs"), 0)),
                        "create");
    http_reply_free(&r);
    assert_int_equal(http_do(&g_server, c1_token(), "GET", C1 "/apis", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"authentication.k8s.io/v1\""));
    assert_non_null(strstr(r.body, "\"authorization.k8s.io/v1\""));
    http_reply_free(&r);
}

/* Last: SIGTERM stops the server with exit status 0 (not under ASan when a
 * leak or memory error happened in the server). */
static void test_server_stops_cleanly(void **state)
{
    (void)state;
    assert_int_equal(server_process_kill(&g_server, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_review),        cmocka_unit_test(test_self_review),
        cmocka_unit_test(test_invalid_token_is_401), cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
