/* server_inflight_test.c - the caps on requests in flight
 * (src/server/inflight.c): the per-identity cap refuses only that identity,
 * the total cap everyone, each naming its flag; released places are free
 * again, and an identity with nothing in flight leaves no entry behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/inflight.h"

static void test_per_identity_cap(void **state)
{
    (void)state;
    mc_inflight *l = mc_inflight_new(10, 3);
    assert_non_null(l);
    mc_err err = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(mc_inflight_acquire(l, "c1-admin", &err), 0);
    assert_int_equal(mc_inflight_acquire(l, "c1-admin", &err), MC_EUNAVAILABLE);
    assert_non_null(strstr(err.msg, "too many requests in flight for c1-admin (limit 3, "
                                    "--max-requests-inflight-per-identity)"));
    /* another identity is not affected */
    assert_int_equal(mc_inflight_acquire(l, "client 127.0.0.1", &err), 0);
    assert_int_equal(mc_inflight_count(l, "c1-admin"), 3);
    assert_int_equal(mc_inflight_count(l, NULL), 4);
    mc_inflight_release(l, "c1-admin");
    assert_int_equal(mc_inflight_acquire(l, "c1-admin", &err), 0);
    mc_inflight_free(l);
}

static void test_total_cap(void **state)
{
    (void)state;
    mc_inflight *l = mc_inflight_new(4, 3);
    mc_err err = {0};
    const char *who[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(mc_inflight_acquire(l, who[i], &err), 0);
    assert_int_equal(mc_inflight_acquire(l, "e", &err), MC_EUNAVAILABLE);
    assert_non_null(strstr(err.msg, "too many requests in flight on this server (limit 4, "
                                    "--max-requests-inflight)"));
    mc_inflight_release(l, "b");
    assert_int_equal(mc_inflight_count(l, "b"), 0);
    assert_int_equal(mc_inflight_acquire(l, "e", &err), 0);
    /* a release of an identity without places changes nothing */
    mc_inflight_release(l, "nobody");
    assert_int_equal(mc_inflight_count(l, NULL), 4);
    mc_inflight_free(l);
}

/* Many identities coming and going: counts stay exact and no place leaks. */
static void test_many_identities(void **state)
{
    (void)state;
    mc_inflight *l = mc_inflight_new(0, 2);
    mc_err err = {0};
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof(name), "id-%d", i);
            assert_int_equal(mc_inflight_acquire(l, name, &err), 0);
            assert_int_equal(mc_inflight_acquire(l, name, &err), 0);
            assert_int_equal(mc_inflight_acquire(l, name, &err), MC_EUNAVAILABLE);
        }
        assert_int_equal(mc_inflight_count(l, NULL), 200);
        for (int i = 99; i >= 0; i--) {
            snprintf(name, sizeof(name), "id-%d", i);
            mc_inflight_release(l, name);
            mc_inflight_release(l, name);
            assert_int_equal(mc_inflight_count(l, name), 0);
        }
        assert_int_equal(mc_inflight_count(l, NULL), 0);
    }
    mc_inflight_free(l);
    mc_inflight_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_identity_cap),
        cmocka_unit_test(test_total_cap),
        cmocka_unit_test(test_many_identities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
