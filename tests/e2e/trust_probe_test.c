/* trust_probe_test.c - the trust probe itself, without any server: clusters
 * made with pki/ in memory. A good pair completes both handshakes; a cluster
 * whose intermediate comes from a root the peer's bundle lacks fails both
 * directions with the X.509 reason; bundles holding both roots (rotation
 * step 1) let old and new intermediates talk; a key that does not match its
 * certificate is a failure too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trust_probe.h"
#include "util/str.h"

#define TRUST_DOMAIN "cluster.local"
#define CITADEL      "spiffe://" TRUST_DOMAIN "/ns/istio-system/sa/citadel"

typedef struct root {
    char *cert;
    char *key;
} root;

static void make_root(root *r, const char *name)
{
    mc_err err = {0};
    if (trust_probe_make_root(name, &r->cert, &r->key, &err) != MC_OK)
        fail_msg("root %s: %s", name, err.msg);
}

static void free_root(root *r)
{
    free(r->cert);
    mc_secure_free_str(r->key);
}

/* Gives cluster an intermediate signed by signer; its bundle is bundle_pem. */
static void make_cluster(trust_probe *probe, const char *name, const root *signer,
                         const char *bundle_pem)
{
    char *key = NULL, *cert = NULL;
    mc_err err = {0};
    assert_int_equal(trust_probe_make_key(&key, &err), MC_OK);
    if (trust_probe_sign(signer->cert, signer->key, key, 1, "Istio", CITADEL, TRUST_DOMAIN, 3600,
                         &cert, &err) != MC_OK)
        fail_msg("intermediate %s: %s", name, err.msg);
    char *chain = trust_probe_concat(cert, signer->cert);
    if (trust_probe_set(probe, name, TRUST_DOMAIN, cert, key, chain, bundle_pem, &err) != MC_OK)
        fail_msg("set %s: %s", name, err.msg);
    free(chain);
    free(cert);
    mc_secure_free_str(key);
}

static void test_good_pair_passes(void **state)
{
    (void)state;
    root r1;
    make_root(&r1, "R1");
    trust_probe *probe = trust_probe_new();
    make_cluster(probe, "east", &r1, r1.cert);
    make_cluster(probe, "west", &r1, r1.cert);
    trust_probe_result result = {0};
    assert_int_equal(trust_probe_run(probe, &result), 0);
    assert_int_equal(result.handshakes, 2);
    assert_int_equal(result.failures, 0);
    assert_int_equal(result.runs, 1);
    char text[1024] = "";
    trust_probe_describe(probe, text, sizeof(text));
    assert_non_null(strstr(text, "east"));
    assert_null(strstr(text, "none of its bundle"));
    trust_probe_free(probe);
    free_root(&r1);
}

static void test_foreign_root_fails_both_ways(void **state)
{
    (void)state;
    root r1, r3;
    make_root(&r1, "R1");
    make_root(&r3, "R3");
    char *both = trust_probe_concat(r1.cert, r3.cert);
    trust_probe *probe = trust_probe_new();
    make_cluster(probe, "east", &r1, r1.cert);
    /* west switched its signer to R3 before east's bundle held R3 */
    make_cluster(probe, "west", &r3, both);
    trust_probe_result result = {0};
    assert_int_equal(trust_probe_run(probe, &result), 2);
    assert_int_equal(result.handshakes, 2);
    assert_int_equal(result.failures, 2);
    /* east client / west server: east rejects west's server certificate */
    assert_non_null(strstr(result.failure[0], "east -> west: east rejected west's certificate"));
    /* west client / east server: east rejects west's client certificate */
    assert_non_null(strstr(result.failure[1], "west -> east: east rejected west's certificate"));
    /* west's chain carries R3 itself, which east does not trust */
    assert_non_null(strstr(result.failure[0], "self-signed certificate in certificate chain"));
    trust_probe_free(probe);
    free(both);
    free_root(&r1);
    free_root(&r3);
}

static void test_both_roots_in_every_bundle_pass(void **state)
{
    (void)state;
    root r1, r2;
    make_root(&r1, "R1");
    make_root(&r2, "R2");
    char *both = trust_probe_concat(r1.cert, r2.cert);
    trust_probe *probe = trust_probe_new();
    make_cluster(probe, "east", &r1, both);
    make_cluster(probe, "west", &r2, both);
    make_cluster(probe, "north", &r1, both);
    trust_probe_result result = {0};
    assert_int_equal(trust_probe_run(probe, &result), 0);
    assert_int_equal(result.handshakes, 6);
    /* then drop R1 from north's bundle too early: east (still on R1) fails with north */
    make_cluster(probe, "north", &r2, r2.cert);
    assert_int_equal(trust_probe_count(probe), 3);
    assert_int_equal(trust_probe_run(probe, &result), 2);
    assert_int_equal(result.handshakes, 12);
    assert_int_equal(result.runs, 2);
    for (unsigned long i = 0; i < result.failures; i++)
        assert_non_null(strstr(result.failure[i], "north rejected east's certificate"));
    trust_probe_forget(probe, "east");
    assert_int_equal(trust_probe_run(probe, &result), 0);
    assert_int_equal(result.handshakes, 14);
    trust_probe_free(probe);
    free(both);
    free_root(&r1);
    free_root(&r2);
}

static void test_mismatched_key_fails(void **state)
{
    (void)state;
    root r1;
    make_root(&r1, "R1");
    trust_probe *probe = trust_probe_new();
    char *key = NULL, *other = NULL, *cert = NULL;
    mc_err err = {0};
    assert_int_equal(trust_probe_make_key(&key, &err), MC_OK);
    assert_int_equal(trust_probe_make_key(&other, &err), MC_OK);
    assert_int_equal(trust_probe_sign(r1.cert, r1.key, key, 1, "Istio", CITADEL, TRUST_DOMAIN, 3600,
                                      &cert, &err),
                     MC_OK);
    char *chain = trust_probe_concat(cert, r1.cert);
    assert_int_equal(
        trust_probe_set(probe, "east", TRUST_DOMAIN, cert, other, chain, r1.cert, &err), MC_OK);
    make_cluster(probe, "west", &r1, r1.cert);
    trust_probe_result result = {0};
    assert_int_equal(trust_probe_run(probe, &result), 2);
    assert_non_null(strstr(result.failure[0], "no workload leaf from east's intermediate"));
    /* a Secret without a file is refused, naming it */
    assert_int_equal(trust_probe_set(probe, "west", TRUST_DOMAIN, cert, key, chain, "", &err),
                     MC_EINVAL);
    assert_non_null(strstr(err.msg, "root-cert.pem"));
    free(chain);
    free(cert);
    mc_secure_free_str(key);
    mc_secure_free_str(other);
    trust_probe_free(probe);
    free_root(&r1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pair_passes),
        cmocka_unit_test(test_foreign_root_fails_both_ways),
        cmocka_unit_test(test_both_roots_in_every_bundle_pass),
        cmocka_unit_test(test_mismatched_key_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
