/* issuer_decide_test.c - mc_issuer_decide: nothing, wait, fail or sign, for
 * each state of a CertificateRequest and each problem a CSR can have.
 *
 * Fixtures are real: an EC P-256 root and signer, CSRs made by pki/ from
 * fresh keys, the RSA-1024 CSR of tests/data/pki (made by the openssl CLI).
 * Issued certificates are checked with pki/verify.h and mc_pki_cert_sans.
 * Every world's cluster c1 has an issuance policy (root meshcert/root-ca,
 * trust domain cluster.local, DNS suffix istio-system.svc, org Istio); the
 * policy tests show that nothing outside it is signed. The lifetime tests
 * (spec.duration, the TTL, --max-duration, the root's end) read the signed
 * certificate's notAfter against the clock given as input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "issuer/decide.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/root.h"
#include "pki/verify.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/str.h"

#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */

static const char *const k_hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/istiod",
                                      "istiod.istio-system.svc"};

static mc_pki_key *g_root_key;
static mc_pki_cert *g_root;
static mc_pki_signer *g_signer;
static char *g_root_pem;

static int group_setup(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_pki_root_params params = {.org = "meshcert",
                                 .common_name = "root",
                                 .ttl_seconds = 10LL * 365 * 86400,
                                 .now = NOW - 86400};
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &g_root_key, &err), 0);
    assert_int_equal(mc_pki_root_create(g_root_key, &params, &g_root, &err), 0);
    assert_int_equal(mc_pki_signer_new(g_root, g_root_key, &g_signer, &err), 0);
    assert_int_equal(mc_pki_cert_to_pem(g_root, &g_root_pem, NULL, &err), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mc_pki_signer_free(g_signer);
    mc_pki_cert_free(g_root);
    mc_pki_key_free(g_root_key);
    free(g_root_pem);
    return 0;
}

typedef struct world {
    mc_api_certificate_request *request;
    mc_api_issued_certificate *ic;
    mc_pki_key *key;
    mc_api_registration_policy policy;
    mc_issuer_observation obs;
    mc_issuer_action action;
} world;

/* A CSR PEM for a fresh key (kept in w->key) with org and hosts. */
static char *make_csr(world *w, const char *org, const char *const *hosts, size_t n)
{
    mc_err err = {0};
    mc_pki_csr *csr = NULL;
    char *pem = NULL;
    mc_pki_key_free(w->key);
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &w->key, &err), 0);
    assert_int_equal(mc_pki_csr_create(w->key, org, hosts, n, &csr, &err), 0);
    assert_int_equal(mc_pki_csr_to_pem(csr, &pem, NULL, &err), 0);
    mc_pki_csr_free(csr);
    return pem;
}

static void set_csr(world *w, const void *data, size_t len)
{
    assert_int_equal(mc_api_certificate_request_set_csr(w->request, data, len), 0);
}

static void world_init(world *w)
{
    memset(w, 0, sizeof(*w));
    w->request = mc_api_certificate_request_new("istio-system", "mesh-1");
    w->request->metadata.generation = 1;
    char *pem = make_csr(w, "Istio", k_hosts, 2);
    set_csr(w, pem, strlen(pem));
    free(pem);
    w->ic = mc_api_issued_certificate_new("istio-system", "mesh-1");
    w->ic->metadata.generation = 1;
    w->ic->spec.org = mc_strdup("Istio");
    w->ic->spec.hosts = calloc(2, sizeof(char *));
    w->ic->spec.hosts[0] = mc_strdup(k_hosts[0]);
    w->ic->spec.hosts[1] = mc_strdup(k_hosts[1]);
    w->ic->spec.hosts_len = 2;
    mc_api_object_ref_set(&w->ic->spec.signing_certificate_secret, "meshcert", "root-ca");
    mc_api_object_ref_set(&w->ic->spec.issued_certificate_secret, "istio-system", "cacerts");
    /* c1 may be issued k_hosts with O=Istio by meshcert/root-ca */
    mc_err err = {0};
    mc_api_registration_policy_init(&w->policy);
    assert_int_equal(
        mc_api_registration_policy_add(&w->policy, MC_POLICY_ROOT, "meshcert/root-ca", &err), 0);
    assert_int_equal(
        mc_api_registration_policy_add(&w->policy, MC_POLICY_TRUST_DOMAIN, "cluster.local", &err),
        0);
    assert_int_equal(
        mc_api_registration_policy_add(&w->policy, MC_POLICY_DNS_SUFFIX, "istio-system.svc", &err),
        0);
    assert_int_equal(mc_api_registration_policy_add(&w->policy, MC_POLICY_ORG, "Istio", &err), 0);
    w->obs.policy = &w->policy;
    w->obs.issuer_namespace = "meshcert";
    w->obs.cluster = "c1";
    w->obs.signer = g_signer;
    w->obs.root_pem = g_root_pem;
    w->obs.now = NOW;
}

static void world_free(world *w)
{
    mc_issuer_action_clear(&w->action);
    mc_api_certificate_request_free(w->request);
    mc_api_issued_certificate_free(w->ic);
    mc_pki_key_free(w->key);
    mc_api_registration_policy_clear(&w->policy);
}

static const mc_issuer_action *decide(world *w)
{
    mc_issuer_action_clear(&w->action);
    w->obs.request = w->request;
    w->obs.ic = w->ic;
    mc_issuer_decide(&w->obs, &w->action);
    assert_null(strstr(w->action.error, "PRIVATE KEY"));
    if (w->action.type != MC_ISSUER_FINISH)
        assert_null(w->action.certificate_pem);
    return &w->action;
}

static void assert_fail(const mc_issuer_action *a, const char *part)
{
    assert_int_equal(a->type, MC_ISSUER_FAIL);
    assert_int_equal(a->observed_generation, 1);
    assert_non_null(strstr(a->error, "certificaterequest istio-system/mesh-1 on cluster c1"));
    if (!strstr(a->error, part))
        fail_msg("error \"%s\" lacks \"%s\"", a->error, part);
}

/* The metric labels of a refusal: the class and, for a CSR, why (NULL: none). */
static void assert_reasons(const mc_issuer_action *a, const char *reason, const char *csr_reason)
{
    assert_non_null(a->reason);
    assert_string_equal(a->reason, reason);
    if (csr_reason) {
        assert_non_null(a->csr_reason);
        assert_string_equal(a->csr_reason, csr_reason);
    } else {
        assert_null(a->csr_reason);
    }
}

/* ---- already answered, waiting, no signer --------------------------------- */

static void test_answered_for_generation_is_nothing(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    const mc_cr_state states[] = {MC_CR_STATE_FINISHED, MC_CR_STATE_FAILED};
    for (size_t i = 0; i < 2; i++) {
        w.request->status.state = states[i];
        w.request->status.observed_generation = 1;
        assert_int_equal(decide(&w)->type, MC_ISSUER_NOTHING);
        /* Answered for an older generation: answered again. */
        w.request->metadata.generation = 2;
        assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
        assert_int_equal(w.action.observed_generation, 2);
        w.request->metadata.generation = 1;
    }
    world_free(&w);
}

static void test_pending_or_unknown_state_is_signed(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
    w.request->status.state = MC_CR_STATE_UNKNOWN;
    assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
    world_free(&w);
}

static void test_deleting_request_is_nothing(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.request->metadata.deletion_timestamp = mc_strdup("2026-01-01T00:00:00Z");
    assert_int_equal(decide(&w)->type, MC_ISSUER_NOTHING);
    world_free(&w);
}

static void test_ic_missing_waits(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    mc_api_issued_certificate_free(w.ic);
    w.ic = NULL;
    assert_int_equal(decide(&w)->type, MC_ISSUER_WAIT);
    world_free(&w);
}

static void test_no_signer_fails_with_reason(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.obs.signer = NULL;
    w.obs.signer_error = "secret meshcert/root-ca not found";
    assert_fail(decide(&w), "secret meshcert/root-ca not found");
    w.obs.signer_error = NULL;
    assert_fail(decide(&w), "signing root unavailable");
    assert_reasons(decide(&w), MC_ISSUER_REASON_ROOT, NULL);
    world_free(&w);
}

/* ---- CSR problems --------------------------------------------------------- */

static void test_csr_garbage_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    set_csr(&w, "not a csr", 9);
    assert_fail(decide(&w), "certificateSigningRequest");
    assert_reasons(decide(&w), MC_ISSUER_REASON_CSR, MC_ISSUER_CSR_MALFORMED);
    set_csr(&w, NULL, 0);
    assert_fail(decide(&w), "empty");
    assert_reasons(decide(&w), MC_ISSUER_REASON_CSR, MC_ISSUER_CSR_EMPTY);
    world_free(&w);
}

static void test_csr_bad_signature_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    /* PEM body to DER, flip a byte of the signature (the end), pass the DER. */
    const char *pem = (const char *)w.request->spec.certificate_signing_request;
    const char *begin = strchr(pem, '\n') + 1;
    const char *end = strstr(pem, "-----END");
    mc_buf b64;
    mc_buf_init(&b64, 1 << 16);
    for (const char *p = begin; p < end; p++)
        if (*p != '\n')
            mc_buf_append(&b64, p, 1);
    unsigned char *der = NULL;
    size_t der_len = 0;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode(b64.data, b64.len, &der, &der_len, &err), 0);
    der[der_len - 2] ^= 0x01;
    set_csr(&w, der, der_len);
    assert_fail(decide(&w), "signature");
    assert_reasons(decide(&w), MC_ISSUER_REASON_CSR, MC_ISSUER_CSR_SIGNATURE);
    free(der);
    mc_buf_free(&b64);
    world_free(&w);
}

static void test_csr_rsa1024_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_file_read(MC_TEST_DATA "/pki/rsa1024.csr", 1 << 16, &text, &len, &err), 0);
    set_csr(&w, text, len);
    assert_fail(decide(&w), "1024");
    assert_reasons(decide(&w), MC_ISSUER_REASON_CSR, MC_ISSUER_CSR_KEY);
    free(text);
    world_free(&w);
}

/* A CSR self-signed with SHA-1 (openssl req -sha1, tests/data/pki) verifies,
 * and is refused naming the digest. */
static void test_csr_sha1_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_file_read(MC_TEST_DATA "/pki/sha1.csr", 1 << 16, &text, &len, &err), 0);
    set_csr(&w, text, len);
    assert_fail(decide(&w), "signed with SHA-1 (sha1WithRSAEncryption)");
    free(text);
    world_free(&w);
}

/* An IssuedCertificate without spec.org would give the intermediate CA an
 * empty subject (RFC 5280 4.1.2.6): FAILED with that reason. */
static void test_ic_without_org_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    free(w.ic->spec.org);
    w.ic->spec.org = NULL;
    char *pem = make_csr(&w, "", k_hosts, 2);
    set_csr(&w, pem, strlen(pem));
    assert_fail(decide(&w), "empty subject");
    free(pem);
    world_free(&w);
}

static void test_csr_extra_san_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    const char *hosts[] = {k_hosts[0], "evil.example.com"};
    char *pem = make_csr(&w, "Istio", hosts, 2);
    set_csr(&w, pem, strlen(pem));
    assert_fail(decide(&w), "DNS:evil.example.com");
    assert_reasons(decide(&w), MC_ISSUER_REASON_CSR, MC_ISSUER_CSR_NAMES);
    free(pem);
    world_free(&w);
}

static void test_csr_other_org_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    char *pem = make_csr(&w, "Evil Corp", k_hosts, 2);
    set_csr(&w, pem, strlen(pem));
    assert_fail(decide(&w), "O=Evil Corp");
    free(pem);
    world_free(&w);
}

static void test_invalid_ic_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    free(w.ic->spec.hosts[1]);
    w.ic->spec.hosts[1] = mc_strdup("a..b");
    assert_fail(decide(&w), "spec.hosts[1]");
    world_free(&w);
}

/* ---- signing -------------------------------------------------------------- */

static void test_good_csr_is_signed(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    /* A subset of the hosts is fine: the certificate carries the IC's hosts. */
    char *pem = make_csr(&w, "Istio", k_hosts, 1);
    set_csr(&w, pem, strlen(pem));
    free(pem);
    w.obs.ttl_seconds = 30 * 86400;
    const mc_issuer_action *a = decide(&w);
    assert_int_equal(a->type, MC_ISSUER_FINISH);
    assert_int_equal(a->observed_generation, 1);
    assert_string_equal(a->error, "");
    assert_non_null(a->certificate_pem);
    mc_err err = {0};
    mc_pki_cert *cert = NULL;
    assert_int_equal(
        mc_pki_cert_from_pem(a->certificate_pem, strlen(a->certificate_pem), "c", &cert, &err), 0);
    mc_pki_cert *roots[] = {g_root};
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, roots, 1, NOW, &err), 0);
    assert_int_equal(mc_pki_cert_matches_key(cert, w.key, &err), 0);
    assert_true(mc_pki_cert_is_ca(cert));
    mc_buf sans;
    mc_buf_init(&sans, 4096);
    assert_int_equal(mc_pki_cert_sans(cert, &sans), 0);
    assert_non_null(strstr(sans.data, "URI:spiffe://cluster.local/ns/istio-system/sa/istiod"));
    assert_non_null(strstr(sans.data, "DNS:istiod.istio-system.svc"));
    mc_buf_free(&sans);
    /* the policy travels as critical name constraints */
    mc_buf constraints;
    mc_buf_init(&constraints, 4096);
    assert_int_equal(mc_pki_cert_name_constraints(cert, &constraints), 1);
    assert_string_equal(constraints.data, "permitted: URI:cluster.local, DNS:istio-system.svc; "
                                          "excluded: IP:0.0.0.0/0, IP:0:0:0:0:0:0:0:0/0");
    mc_buf_free(&constraints);
    assert_int_equal(mc_pki_cert_check_identity(cert, "Istio", k_hosts, 2, &err), 0);
    time_t nb = 0, na = 0;
    assert_int_equal(mc_pki_cert_validity(cert, &nb, &na), 0);
    assert_int_equal(na, NOW + 30 * 86400);
    mc_pki_cert_free(cert);
    world_free(&w);
}

/* The notAfter of the certificate decide() signs for w (FINISH asserted). */
static time_t signed_not_after(world *w)
{
    const mc_issuer_action *a = decide(w);
    if (a->type != MC_ISSUER_FINISH)
        fail_msg("expected FINISH, got %d: %s", a->type, a->error);
    mc_err err = {0};
    mc_pki_cert *cert = NULL;
    assert_int_equal(
        mc_pki_cert_from_pem(a->certificate_pem, strlen(a->certificate_pem), "c", &cert, &err), 0);
    time_t nb = 0, na = 0;
    mc_pki_cert_validity(cert, &nb, &na);
    mc_pki_cert_free(cert);
    return na;
}

static void set_duration(world *w, const char *duration)
{
    free(w->ic->spec.duration);
    w->ic->spec.duration = duration ? mc_strdup(duration) : NULL;
}

static void test_default_ttl_is_a_year(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    assert_int_equal(signed_not_after(&w), NOW + 365 * 86400);
    world_free(&w);
}

/* ---- lifetime: spec.duration, --ttl, --max-duration, the root (issue 12) -- */

/* Without spec.duration the issuer's TTL; with it, spec.duration whatever
 * the TTL, down to the 1m minimum. */
static void test_duration_overrides_ttl(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.obs.ttl_seconds = 3600;
    assert_int_equal(signed_not_after(&w), NOW + 3600);
    set_duration(&w, "90m");
    assert_int_equal(signed_not_after(&w), NOW + 90 * 60);
    set_duration(&w, "1m");
    assert_int_equal(signed_not_after(&w), NOW + 60);
    set_duration(&w, "1h30m");
    w.obs.now = NOW + 7;
    assert_int_equal(signed_not_after(&w), NOW + 7 + 5400);
    set_duration(&w, NULL);
    assert_int_equal(signed_not_after(&w), NOW + 7 + 3600);
    world_free(&w);
}

/* Outside [1m, 87600h], or not a duration: FAILED naming spec.duration. */
static void test_duration_out_of_bounds_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    const char *bad[] = {"59s", "87601h", "3651d", "soon", "10x", "0s", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_duration(&w, bad[i]);
        assert_fail(decide(&w), "spec.duration");
        assert_non_null(strstr(w.action.error, *bad[i] ? bad[i] : "empty"));
    }
    set_duration(&w, "87600h"); /* the maximum itself is accepted (then capped) */
    assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
    world_free(&w);
}

/* --max-duration caps spec.duration (default 17520h); the root's notAfter
 * caps everything: the root here ends NOW - 1 day + 10 years. */
static void test_duration_capped_by_max_and_root(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    time_t root_end = NOW - 86400 + 10LL * 365 * 86400;
    set_duration(&w, "87600h");
    assert_int_equal(signed_not_after(&w), NOW + 17520LL * 3600);
    w.obs.max_duration_seconds = 2 * 3600;
    assert_int_equal(signed_not_after(&w), NOW + 2 * 3600);
    set_duration(&w, "1h");
    assert_int_equal(signed_not_after(&w), NOW + 3600);
    w.obs.max_duration_seconds = 87600LL * 3600;
    set_duration(&w, "87600h");
    assert_int_equal(signed_not_after(&w), root_end);
    /* a TTL beyond --max-duration is capped too (the CLI refuses it) */
    set_duration(&w, NULL);
    w.obs.ttl_seconds = 87600LL * 3600;
    w.obs.max_duration_seconds = 100;
    assert_int_equal(signed_not_after(&w), NOW + 100);
    /* a day before the root ends, a year asks too much: the root's end */
    w.obs.max_duration_seconds = 0;
    w.obs.ttl_seconds = 0;
    w.obs.now = root_end - 86400;
    assert_int_equal(signed_not_after(&w), root_end);
    world_free(&w);
}

static void test_lifetime_function(void **state)
{
    (void)state;
    mc_err err = {0};
    int64_t s = 0;
    mc_api_issued_certificate *ic = mc_api_issued_certificate_new("ns", "x");
    assert_int_equal(mc_issuer_lifetime(ic, 0, 0, &s, &err), MC_OK);
    assert_int_equal(s, MC_ISSUER_DEFAULT_TTL);
    assert_int_equal(mc_issuer_lifetime(ic, 600, 300, &s, &err), MC_OK);
    assert_int_equal(s, 300);
    ic->spec.duration = mc_strdup("8760h");
    assert_int_equal(mc_issuer_lifetime(ic, 60, 0, &s, &err), MC_OK);
    assert_int_equal(s, 8760LL * 3600);
    free(ic->spec.duration);
    ic->spec.duration = mc_strdup("20000h");
    assert_int_equal(mc_issuer_lifetime(ic, 0, 0, &s, &err), MC_OK);
    assert_int_equal(s, MC_ISSUER_DEFAULT_MAX_DURATION);
    free(ic->spec.duration);
    ic->spec.duration = mc_strdup("30s");
    assert_int_equal(mc_issuer_lifetime(ic, 0, 0, &s, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "spec.duration"));
    assert_non_null(strstr(err.msg, "30s"));
    free(ic->spec.duration);
    ic->spec.duration = mc_strdup("1q");
    assert_int_equal(mc_issuer_lifetime(ic, 0, 0, &s, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "spec.duration"));
    mc_api_issued_certificate_free(ic);
}

static void test_expired_root_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.obs.now = NOW + 20LL * 365 * 86400;
    assert_fail(decide(&w), "signing");
    assert_reasons(decide(&w), MC_ISSUER_REASON_SIGNING, NULL);
    world_free(&w);
}

/* ---- the cluster's issuance policy (issue 14) ------------------------------ */

/* Sets the IssuedCertificate's hosts (and a matching CSR), org, root. */
static void set_spec(world *w, const char *org, const char *const *hosts, size_t n)
{
    for (size_t i = 0; i < w->ic->spec.hosts_len; i++)
        free(w->ic->spec.hosts[i]);
    free(w->ic->spec.hosts);
    w->ic->spec.hosts = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        w->ic->spec.hosts[i] = mc_strdup(hosts[i]);
    w->ic->spec.hosts_len = n;
    free(w->ic->spec.org);
    w->ic->spec.org = mc_strdup(org);
    char *pem = make_csr(w, org, hosts, n);
    set_csr(w, pem, strlen(pem));
    free(pem);
}

/* East's hostile IssuedCertificate: the CSR matches it exactly, the root
 * is the right one, yet every name outside the policy is refused by name. */
static void test_hosts_outside_policy_fail(void **state)
{
    (void)state;
    const char *const google[] = {"www.google.com"};
    const char *const west[] = {"spiffe://west.local/ns/istio-system/sa/istiod"};
    const char *const ip[] = {"10.0.0.1"};
    const char *const near_miss[] = {"evilistio-system.svc"};
    const char *const other_uri[] = {"https://cluster.local/x"};
    const char *const port[] = {"spiffe://cluster.local:443/ns/x"};
    const struct {
        const char *const *hosts;
        const char *named;
    } cases[] = {{google, "www.google.com"}, {west, "spiffe://west.local/"},
                 {ip, "10.0.0.1"},           {near_miss, "evilistio-system.svc"},
                 {other_uri, "https://"},    {port, "cluster.local:443"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        world w;
        world_init(&w);
        set_spec(&w, "Istio", cases[i].hosts, 1);
        const mc_issuer_action *a = decide(&w);
        assert_fail(a, cases[i].named);
        assert_non_null(strstr(a->error, "outside cluster c1's issuance policy"));
        assert_non_null(strstr(a->error, "trust domains: cluster.local"));
        assert_non_null(strstr(a->error, "DNS suffixes: istio-system.svc"));
        world_free(&w);
    }
}

static void test_org_outside_policy_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    set_spec(&w, "Google LLC", k_hosts, 2);
    assert_fail(decide(&w),
                "org \"Google LLC\" is outside cluster c1's issuance policy (orgs: Istio)");
    assert_reasons(decide(&w), MC_ISSUER_REASON_POLICY, NULL);
    world_free(&w);
}

static void test_names_inside_policy_are_signed(void **state)
{
    (void)state;
    const char *const inside[] = {"spiffe://cluster.local", "ISTIOD.istio-system.SVC",
                                  "*.istio-system.svc", "istio-system.svc"};
    world w;
    world_init(&w);
    set_spec(&w, "Istio", inside, 4);
    assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
    world_free(&w);
}

/* A root outside the policy fails before the signer is looked at: the same
 * words whether the Secret exists (a signer) or not (an error). */
static void test_root_outside_policy_fails_alike(void **state)
{
    (void)state;
    char first[sizeof(((mc_issuer_action *)0)->error)] = "";
    for (int exists = 0; exists < 2; exists++) {
        world w;
        world_init(&w);
        mc_api_object_ref_set(&w.ic->spec.signing_certificate_secret, "kube-system",
                              "attacker-root");
        w.obs.signer = exists ? g_signer : NULL;
        w.obs.signer_error = exists ? NULL : "secret kube-system/attacker-root not found";
        const mc_issuer_action *a = decide(&w);
        assert_fail(a, "spec.signingCertificateSecret kube-system/attacker-root is not a signing "
                       "root of cluster c1 (its registration allows: meshcert/root-ca)");
        assert_null(strstr(a->error, "not found"));
        if (!exists)
            mc_strlcpy(first, a->error, sizeof(first));
        else
            assert_string_equal(first, a->error);
        world_free(&w);
    }
}

static void test_root_without_namespace_is_the_issuers(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    mc_api_object_ref_set(&w.ic->spec.signing_certificate_secret, NULL, "root-ca");
    assert_int_equal(decide(&w)->type, MC_ISSUER_FINISH);
    w.obs.issuer_namespace = "other";
    assert_fail(decide(&w), "other/root-ca is not a signing root of cluster c1");
    world_free(&w);
}

static void test_no_policy_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.obs.policy = NULL;
    w.obs.policy_error = "no annotation certificates.smh.solo.io/issuance-policy";
    assert_fail(decide(&w), "cluster c1 has no usable issuance policy in its registration (no "
                            "annotation certificates.smh.solo.io/issuance-policy)");
    assert_reasons(decide(&w), MC_ISSUER_REASON_NO_POLICY, NULL);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered_for_generation_is_nothing),
        cmocka_unit_test(test_pending_or_unknown_state_is_signed),
        cmocka_unit_test(test_deleting_request_is_nothing),
        cmocka_unit_test(test_ic_missing_waits),
        cmocka_unit_test(test_no_signer_fails_with_reason),
        cmocka_unit_test(test_csr_garbage_fails),
        cmocka_unit_test(test_csr_bad_signature_fails),
        cmocka_unit_test(test_csr_rsa1024_fails),
        cmocka_unit_test(test_csr_sha1_fails),
        cmocka_unit_test(test_ic_without_org_fails),
        cmocka_unit_test(test_csr_extra_san_fails),
        cmocka_unit_test(test_csr_other_org_fails),
        cmocka_unit_test(test_invalid_ic_fails),
        cmocka_unit_test(test_good_csr_is_signed),
        cmocka_unit_test(test_default_ttl_is_a_year),
        cmocka_unit_test(test_duration_overrides_ttl),
        cmocka_unit_test(test_duration_out_of_bounds_fails),
        cmocka_unit_test(test_duration_capped_by_max_and_root),
        cmocka_unit_test(test_lifetime_function),
        cmocka_unit_test(test_expired_root_fails),
        cmocka_unit_test(test_hosts_outside_policy_fail),
        cmocka_unit_test(test_org_outside_policy_fails),
        cmocka_unit_test(test_names_inside_policy_are_signed),
        cmocka_unit_test(test_root_outside_policy_fails_alike),
        cmocka_unit_test(test_root_without_namespace_is_the_issuers),
        cmocka_unit_test(test_no_policy_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
