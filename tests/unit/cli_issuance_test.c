/* cli_issuance_test.c - the decisions of `meshcert issue` (cli/issuance.c):
 * which IssuedCertificate already on a cluster a new one would fight (the
 * same output Secret, an output Secret that is a key Secret either way, the
 * same PodBounceDirective, the same name), and when --wait is over
 * (FINISHED, Ready, FAILED, a status of an older generation); for `meshcert
 * rotate`, when --wait is over, when a rotation is pending, the token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/issued_certificate.h"
#include "cli/issuance.h"

/* An IssuedCertificate ns/name writing out_ns/out_name, with an optional
 * PodBounceDirective reference. */
static json_t *ic(const char *ns, const char *name, const char *out_ns, const char *out_name,
                  const char *pbd_name)
{
    json_t *obj = json_pack("{s:{s:s, s:s, s:i}, s:{s:{s:s, s:s}}}", "metadata", "namespace", ns,
                            "name", name, "generation", 1, "spec", "issuedCertificateSecret",
                            "namespace", out_ns, "name", out_name);
    assert_non_null(obj);
    if (pbd_name)
        json_object_set_new(json_object_get(obj, "spec"), "podBounceDirective",
                            json_pack("{s:s, s:s}", "namespace", ns, "name", pbd_name));
    return obj;
}

static json_t *existing(void)
{
    json_t *items = json_array();
    json_array_append_new(items, ic("meshcert", "east-ca", "istio-system", "cacerts", "east-ca"));
    json_array_append_new(items, ic("meshcert", "writes-key", "meshcert", "newcomer", NULL));
    json_array_append_new(
        items, ic("meshcert", "bounces-other", "istio-system", "other", "shared-bounce"));
    return items;
}

static int check(const json_t *items, const char *ns, const char *name, const char *out_ns,
                 const char *out_name, int bounce, mc_err *err)
{
    mc_cli_issue_names names = {ns, name, out_ns, out_name, bounce};
    mc_err_clear(err);
    return mc_cli_issue_conflicts(items, &names, err);
}

static void test_conflicts(void **state)
{
    (void)state;
    json_t *items = existing();
    mc_err err = {0};
    /* a free name and Secret */
    assert_int_equal(check(items, "meshcert", "west-ca", "istio-system", "west", 1, &err), MC_OK);
    /* the same output Secret */
    assert_int_equal(check(items, "meshcert", "west-ca", "istio-system", "cacerts", 0, &err),
                     MC_EEXISTS);
    assert_non_null(strstr(err.msg, "issuedcertificate meshcert/east-ca"));
    assert_non_null(strstr(err.msg, "istio-system/cacerts"));
    /* an output Secret that is another's private key Secret */
    assert_int_equal(check(items, "istio-system", "west-ca", "meshcert", "east-ca", 0, &err),
                     MC_EEXISTS);
    assert_non_null(strstr(err.msg, "private key Secret of issuedcertificate meshcert/east-ca"));
    /* a key Secret that another writes its certificate to */
    assert_int_equal(check(items, "meshcert", "newcomer", "istio-system", "west", 0, &err),
                     MC_EEXISTS);
    assert_non_null(strstr(err.msg, "issuedcertificate meshcert/writes-key"));
    /* the same PodBounceDirective, only when bouncing */
    assert_int_equal(check(items, "meshcert", "shared-bounce", "istio-system", "x", 1, &err),
                     MC_EEXISTS);
    assert_non_null(strstr(err.msg, "podbouncedirective meshcert/shared-bounce"));
    assert_non_null(strstr(err.msg, "meshcert/bounces-other"));
    assert_int_equal(check(items, "meshcert", "shared-bounce", "istio-system", "x", 0, &err),
                     MC_OK);
    /* the same name */
    assert_int_equal(check(items, "meshcert", "east-ca", "istio-system", "x", 0, &err), MC_EEXISTS);
    assert_non_null(strstr(err.msg, "already exists"));
    /* another namespace's same name is another object */
    assert_int_equal(check(items, "team-a", "east-ca", "team-a", "cacerts", 0, &err), MC_OK);
    json_decref(items);
    assert_int_equal(check(NULL, "meshcert", "a", "istio-system", "cacerts", 1, &err), MC_OK);
}

/* The IssuedCertificate of generation 2 with status (JSON text, or NULL). */
static mc_cli_issuance progress(const char *status_json, const char **state)
{
    json_t *obj = ic("meshcert", "x", "istio-system", "cacerts", NULL);
    json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(2));
    if (status_json) {
        json_error_t jerr;
        json_t *status = json_loads(status_json, 0, &jerr);
        assert_non_null(status);
        json_object_set_new(obj, "status", status);
    }
    mc_cli_issuance p = mc_cli_issuance_progress(obj, state);
    static char copy[32];
    strncpy(copy, *state, sizeof(copy) - 1);
    *state = copy;
    json_decref(obj);
    return p;
}

static void test_progress(void **state)
{
    (void)state;
    const char *s = NULL;
    assert_int_equal(progress(NULL, &s), MC_CLI_ISSUANCE_WAITING);
    assert_string_equal(s, "PENDING");
    assert_int_equal(progress("{\"state\":\"REQUESTED\",\"observedGeneration\":2}", &s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_string_equal(s, "REQUESTED");
    assert_int_equal(progress("{\"state\":\"ISSUED\",\"observedGeneration\":2}", &s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(progress("{\"state\":\"FINISHED\",\"observedGeneration\":2}", &s),
                     MC_CLI_ISSUANCE_DONE);
    assert_int_equal(progress("{\"state\":\"FINISHED\"}", &s), MC_CLI_ISSUANCE_DONE);
    /* a status of the previous spec does not count, FINISHED or FAILED */
    assert_int_equal(progress("{\"state\":\"FINISHED\",\"observedGeneration\":1}", &s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(progress("{\"state\":\"FAILED\",\"observedGeneration\":1}", &s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(
        progress("{\"state\":\"FAILED\",\"observedGeneration\":2,\"error\":\"no root\"}", &s),
        MC_CLI_ISSUANCE_FAILED);
    assert_string_equal(s, "FAILED");
    /* a Ready condition, when present, decides */
    assert_int_equal(progress("{\"state\":\"FINISHED\",\"observedGeneration\":2,\"conditions\":"
                              "[{\"type\":\"Ready\",\"status\":\"False\"}]}",
                              &s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(progress("{\"state\":\"FINISHED\",\"observedGeneration\":2,\"conditions\":"
                              "[{\"type\":\"Other\",\"status\":\"False\"},"
                              "{\"type\":\"Ready\",\"status\":\"True\"}]}",
                              &s),
                     MC_CLI_ISSUANCE_DONE);
    assert_int_equal(progress("{\"state\":\"FINISHED\",\"observedGeneration\":2,\"conditions\":"
                              "[{\"type\":\"Other\",\"status\":\"False\"}]}",
                              &s),
                     MC_CLI_ISSUANCE_DONE);
    assert_int_equal(progress("{\"state\":\"FAILED\",\"observedGeneration\":2,\"conditions\":"
                              "[{\"type\":\"Ready\",\"status\":\"False\"}]}",
                              &s),
                     MC_CLI_ISSUANCE_FAILED);
}

#define TOKEN "2026-12-02T11:30:00Z-0a1b2c3d"

/* The IssuedCertificate of generation 2 with status (JSON text, or NULL)
 * and, when annotation is not NULL, the rotate annotation. */
static json_t *rotated_ic(const char *status_json, const char *annotation)
{
    json_t *obj = ic("meshcert", "x", "istio-system", "cacerts", NULL);
    json_t *meta = json_object_get(obj, "metadata");
    json_object_set_new(meta, "generation", json_integer(2));
    if (annotation)
        json_object_set_new(meta, "annotations",
                            json_pack("{s:s}", MC_API_IC_ROTATE_ANNOTATION, annotation));
    if (status_json) {
        json_error_t jerr;
        json_t *status = json_loads(status_json, 0, &jerr);
        assert_non_null(status);
        json_object_set_new(obj, "status", status);
    }
    return obj;
}

static mc_cli_issuance rotation(const char *status_json, char state[64])
{
    json_t *obj = rotated_ic(status_json, TOKEN);
    const char *s = NULL;
    mc_cli_issuance p = mc_cli_rotation_progress(obj, TOKEN, &s);
    snprintf(state, 64, "%s", s);
    json_decref(obj);
    return p;
}

/* rotate --wait: done only when the agent took this token and FINISHED
 * again; a Ready condition kept True during the renewal is not enough. */
static void test_rotation_progress(void **state)
{
    (void)state;
    char s[64];
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":2}", s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_string_equal(s, "FINISHED (rotation not started)");
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":2,"
                              "\"rotation\":\"older\",\"conditions\":"
                              "[{\"type\":\"Ready\",\"status\":\"True\"}]}",
                              s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(rotation("{\"state\":\"REQUESTED\",\"observedGeneration\":2,"
                              "\"rotation\":\"" TOKEN "\",\"conditions\":"
                              "[{\"type\":\"Ready\",\"status\":\"True\"}]}",
                              s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_string_equal(s, "REQUESTED");
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":2,"
                              "\"rotation\":\"" TOKEN "\"}",
                              s),
                     MC_CLI_ISSUANCE_DONE);
    /* FINISHED with the token while the agent's Issuing condition is True */
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":2,"
                              "\"rotation\":\"" TOKEN "\",\"conditions\":"
                              "[{\"type\":\"Issuing\",\"status\":\"True\"}]}",
                              s),
                     MC_CLI_ISSUANCE_WAITING);
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":2,"
                              "\"rotation\":\"" TOKEN "\",\"conditions\":"
                              "[{\"type\":\"Issuing\",\"status\":\"False\"}]}",
                              s),
                     MC_CLI_ISSUANCE_DONE);
    /* FINISHED with the token, but for an older spec */
    assert_int_equal(rotation("{\"state\":\"FINISHED\",\"observedGeneration\":1,"
                              "\"rotation\":\"" TOKEN "\"}",
                              s),
                     MC_CLI_ISSUANCE_WAITING);
    /* FAILED before or after taking the token: never completes */
    assert_int_equal(rotation("{\"state\":\"FAILED\",\"observedGeneration\":2}", s),
                     MC_CLI_ISSUANCE_FAILED);
    assert_int_equal(rotation("{\"state\":\"FAILED\",\"observedGeneration\":2,"
                              "\"rotation\":\"" TOKEN "\"}",
                              s),
                     MC_CLI_ISSUANCE_FAILED);
    assert_int_equal(rotation(NULL, s), MC_CLI_ISSUANCE_WAITING);
    assert_string_equal(s, "PENDING");
}

static void test_rotation_pending_and_token(void **state)
{
    (void)state;
    struct {
        const char *status, *annotation;
        int pending;
    } cases[] = {
        {NULL, NULL, 0},
        {"{\"rotation\":\"a\"}", NULL, 0},
        {NULL, "", 0},
        {NULL, "a", 1},
        {"{\"rotation\":\"a\"}", "a", 0},
        {"{\"rotation\":\"a\"}", "b", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *obj = rotated_ic(cases[i].status, cases[i].annotation);
        assert_int_equal(mc_cli_rotation_pending(obj), cases[i].pending);
        json_decref(obj);
    }
    char token[64];
    const unsigned char random[4] = {0x0a, 0x1b, 0x2c, 0xfd};
    mc_cli_rotation_token((time_t)1796211000, random, token, sizeof(token));
    assert_string_equal(token, "2026-12-02T11:30:00Z-0a1b2cfd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_rotation_progress),
        cmocka_unit_test(test_rotation_pending_and_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
