/* server_satoken_test.c - ServiceAccount tokens (src/server/satoken.c):
 * what is signed verifies under the same key and says who it was for; a
 * token verifies under no other cluster's key, not once altered, not after
 * exp, not for another audience; a legacy (Secret) token never expires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/satoken.h"

#define KEY_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define NOW   ((int64_t)1800000000)

static mc_server_sa_claims sample(void)
{
    mc_server_sa_claims c;
    memset(&c, 0, sizeof(c));
    snprintf(c.cluster, sizeof(c.cluster), "east");
    snprintf(c.namespace, sizeof(c.namespace), "meshcert");
    snprintf(c.name, sizeof(c.name), "meshcert-issuer");
    snprintf(c.uid, sizeof(c.uid), "6a5cc643-4576-4485-8f5d-e997c5425fec");
    c.issued_at = NOW;
    c.expires_at = NOW + 3600;
    return c;
}

static char *sign(const char *key, const mc_server_sa_claims *c, const json_t *audiences)
{
    char *token = NULL;
    mc_err err = {0};
    assert_int_equal(mc_server_sa_token_sign(key, strlen(key), c, audiences, &token, &err), MC_OK);
    assert_true(mc_server_sa_token_shape(token));
    return token;
}

static int verify(const char *key, const char *token, int64_t now, mc_server_sa_claims *out,
                  mc_err *err)
{
    return mc_server_sa_token_verify(key, strlen(key), token, now, out, err);
}

static void test_round_trip(void **state)
{
    (void)state;
    mc_server_sa_claims c = sample(), got;
    char *token = sign(KEY_A, &c, NULL);
    mc_err err = {0};
    assert_int_equal(verify(KEY_A, token, NOW + 10, &got, &err), MC_OK);
    assert_string_equal(got.cluster, "east");
    assert_string_equal(got.namespace, "meshcert");
    assert_string_equal(got.name, "meshcert-issuer");
    assert_string_equal(got.uid, c.uid);
    assert_string_equal(got.secret_name, "");
    assert_int_equal(got.expires_at, NOW + 3600);
    free(token);
}

static void test_refusals(void **state)
{
    (void)state;
    mc_server_sa_claims c = sample(), got;
    char *token = sign(KEY_A, &c, NULL);
    mc_err err = {0};
    /* another cluster's key */
    assert_int_equal(verify(KEY_B, token, NOW, &got, &err), MC_EVERIFY);
    assert_non_null(strstr(err.msg, "signature does not verify"));
    assert_null(strstr(err.msg, token)); /* never the token in a message */
    /* expired, at exp exactly */
    assert_int_equal(verify(KEY_A, token, NOW + 3600, &got, &err), MC_EEXPIRED);
    /* not valid yet (beyond a minute of skew) */
    assert_int_equal(verify(KEY_A, token, NOW - 120, &got, &err), MC_EEXPIRED);
    /* one character of the claims changed */
    size_t at = strcspn(token, ".") + 5; /* an index: GCC -O3 takes a pointer for dangling */
    token[at] = token[at] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(KEY_A, token, NOW, &got, &err), MC_EVERIFY);
    free(token);
    /* not a JWT at all, and garbage in each part */
    const char *bad[] = {"", "abc", "a.b", "a..c", "a.b.c.d", "a.b+.c", "a b.c.d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(mc_server_sa_token_shape(bad[i]));
        assert_int_equal(verify(KEY_A, bad[i], NOW, &got, &err), MC_EINVAL);
    }
}

static void test_audience(void **state)
{
    (void)state;
    mc_server_sa_claims c = sample(), got;
    mc_err err = {0};
    json_t *vault = json_pack("[s]", "vault");
    char *token = sign(KEY_A, &c, vault);
    assert_int_equal(verify(KEY_A, token, NOW, &got, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "audience"));
    free(token);
    json_array_append_new(vault, json_string(MC_SERVER_SA_AUDIENCE));
    token = sign(KEY_A, &c, vault);
    assert_int_equal(verify(KEY_A, token, NOW, &got, &err), MC_OK);
    free(token);
    json_decref(vault);
}

static void test_legacy_never_expires(void **state)
{
    (void)state;
    mc_server_sa_claims c = sample(), got;
    c.expires_at = 0;
    mc_err err = {0};
    /* without exp, only a Secret's token is valid */
    char *token = sign(KEY_A, &c, NULL);
    assert_int_equal(verify(KEY_A, token, NOW, &got, &err), MC_EINVAL);
    free(token);
    snprintf(c.secret_name, sizeof(c.secret_name), "issuer-token");
    snprintf(c.secret_uid, sizeof(c.secret_uid), "abe22029-ccbd-47f4-bfd9-94a1c2f6d5df");
    token = sign(KEY_A, &c, NULL);
    assert_int_equal(verify(KEY_A, token, NOW + 10 * 365 * 86400LL, &got, &err), MC_OK);
    assert_string_equal(got.secret_name, "issuer-token");
    assert_string_equal(got.secret_uid, c.secret_uid);
    assert_int_equal(got.expires_at, 0);
    free(token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_legacy_never_expires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
