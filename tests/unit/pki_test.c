/* pki_test.c - unit tests for pki/: keys, roots, CSRs, issuance, verification
 * and bundles, including every rejection the issuer relies on. Peers (openssl,
 * certtool) judge the same outputs in tests/peer/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pki/bundle.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/signer.h"
#include "pki/key.h"
#include "pki/root.h"
#include "pki/verify.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/str.h"

#define SPIFFE "spiffe://cluster.local/ns/istio-system/sa/citadel"
#define DAY    86400

static const char *const mesh_hosts[] = {SPIFFE, "istiod.istio-system.svc", "10.0.0.1", "::1"};

/* A root and a CSR shared by most tests (EC keys keep the suite fast). */
typedef struct fixture {
    mc_pki_key *root_key;
    mc_pki_cert *root;
    mc_pki_signer *signer;
    mc_pki_key *csr_key;
    mc_pki_csr *csr;
} fixture;

static mc_pki_cert *make_root(mc_pki_key *key, const char *name, int64_t ttl, time_t now)
{
    mc_pki_root_params params = {"Acme", name, ttl, now};
    mc_pki_cert *root = NULL;
    mc_err err = {0};
    if (mc_pki_root_create(key, &params, &root, &err))
        fail_msg("root: %s", err.msg);
    return root;
}

static mc_pki_key *make_key(mc_key_type type)
{
    mc_pki_key *key = NULL;
    mc_err err = {0};
    if (mc_pki_key_generate(type, &key, &err))
        fail_msg("keygen: %s", err.msg);
    return key;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    mc_err err = {0};
    f->root_key = make_key(MC_KEY_EC_P256);
    f->root = make_root(f->root_key, "root", (int64_t)10 * 365 * DAY, 0);
    if (mc_pki_signer_new(f->root, f->root_key, &f->signer, &err))
        fail_msg("signer: %s", err.msg);
    f->csr_key = make_key(MC_KEY_EC_P256);
    if (mc_pki_csr_create(f->csr_key, "Istio", mesh_hosts, 4, &f->csr, &err))
        fail_msg("csr: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    mc_pki_csr_free(f->csr);
    mc_pki_key_free(f->csr_key);
    mc_pki_signer_free(f->signer);
    mc_pki_cert_free(f->root);
    mc_pki_key_free(f->root_key);
    free(f);
    return 0;
}

static char *read_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/pki/%s", MC_TEST_DATA, name);
    char *data = NULL;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 20, &data, len, &err))
        fail_msg("fixture: %s", err.msg);
    return data;
}

/* The DER inside a PEM text (header and footer lines dropped). */
static unsigned char *pem_to_der(const char *pem, size_t *der_len)
{
    mc_buf b64;
    mc_buf_init(&b64, 1 << 20);
    const char *p = strchr(pem, '\n') + 1;
    const char *end = strstr(p, "-----END");
    for (; p < end; p++)
        if (*p != '\n' && *p != '\r')
            mc_buf_append(&b64, p, 1);
    unsigned char *der = NULL;
    assert_int_equal(mc_base64_decode(b64.data, b64.len, &der, der_len, NULL), MC_OK);
    mc_buf_free(&b64);
    return der;
}

static mc_pki_cert *issue(fixture *f, const char *org, const char *const *hosts, size_t n,
                          int64_t ttl, time_t now)
{
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = org;
    params.hosts = hosts;
    params.host_count = n;
    params.ttl_seconds = ttl;
    params.now = now;
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    if (mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err))
        fail_msg("issue: %s", err.msg);
    return cert;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* ---- keys ---- */

static void check_key_roundtrip(mc_key_type type, const char *trad_header, const char *desc)
{
    mc_pki_key *key = make_key(type);
    mc_err err = {0};
    char *pkcs8 = NULL, *trad = NULL, got[64];
    size_t len8 = 0, lent = 0;
    assert_int_equal(mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, &pkcs8, &len8, &err), MC_OK);
    assert_int_equal(mc_pki_key_to_pem(key, MC_KEY_PEM_TRADITIONAL, &trad, &lent, &err), MC_OK);
    assert_true(mc_str_has_prefix(pkcs8, "-----BEGIN PRIVATE KEY-----\n"));
    assert_true(mc_str_has_prefix(trad, trad_header));
    assert_int_equal(strlen(pkcs8), len8);
    mc_pki_key *a = NULL, *b = NULL;
    assert_int_equal(mc_pki_key_from_pem(pkcs8, len8, "pkcs8", &a, &err), MC_OK);
    assert_int_equal(mc_pki_key_from_pem(trad, lent, "trad", &b, &err), MC_OK);
    mc_pki_key_describe(a, got, sizeof(got));
    assert_string_equal(got, desc);
    mc_pki_key_describe(b, got, sizeof(got));
    assert_string_equal(got, desc);
    /* Same key both ways: a CSR made with one matches the other. */
    mc_pki_csr *csr = NULL;
    const char *host = "a.example";
    assert_int_equal(mc_pki_csr_create(a, "", &host, 1, &csr, &err), MC_OK);
    assert_int_equal(mc_pki_csr_matches_key(csr, b, &err), MC_OK);
    assert_int_equal(mc_pki_csr_matches_key(csr, key, &err), MC_OK);
    mc_pki_csr_free(csr);
    mc_pki_key_free(a);
    mc_pki_key_free(b);
    mc_secure_free_str(pkcs8);
    mc_secure_free_str(trad);
    mc_pki_key_free(key);
}

static void test_key_types_and_pem_formats(void **state)
{
    (void)state;
    check_key_roundtrip(MC_KEY_EC_P256, "-----BEGIN EC PRIVATE KEY-----\n", "EC P-256");
    check_key_roundtrip(MC_KEY_EC_P384, "-----BEGIN EC PRIVATE KEY-----\n", "EC P-384");
    check_key_roundtrip(MC_KEY_RSA2048, "-----BEGIN RSA PRIVATE KEY-----\n", "RSA 2048");
    check_key_roundtrip(MC_KEY_RSA3072, "-----BEGIN RSA PRIVATE KEY-----\n", "RSA 3072");
    check_key_roundtrip(MC_KEY_RSA4096, "-----BEGIN RSA PRIVATE KEY-----\n", "RSA 4096");
}

static void test_key_type_names(void **state)
{
    (void)state;
    mc_key_type t;
    mc_err err = {0};
    static const char *const names[] = {"rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mc_pki_key_type_parse(names[i], &t, &err), MC_OK);
        assert_string_equal(mc_pki_key_type_name(t), names[i]);
    }
    assert_int_equal(mc_pki_key_type_parse("rsa1024", &t, &err), MC_EINVAL);
    assert_contains(err.msg, "rsa1024");
    assert_contains(err.msg, "ec-p384");
}

static void test_key_rejections(void **state)
{
    (void)state;
    mc_pki_key *key = NULL;
    mc_err err = {0};
    size_t len = 0;
    char *garbage = read_fixture("garbage.pem", &len);
    assert_int_equal(mc_pki_key_from_pem(garbage, len, "garbage.pem", &key, &err), MC_EINVAL);
    assert_contains(err.msg, "garbage.pem");
    free(garbage);

    char *enc = read_fixture("rsa2048-encrypted.key", &len);
    assert_int_equal(mc_pki_key_from_pem(enc, len, "enc.key", &key, &err), MC_EINVAL);
    assert_contains(err.msg, "enc.key");
    assert_null(strstr(err.msg, "MII")); /* no key material in the message */
    free(enc);

    /* A truncated key: the message names the source and holds no base64 body. */
    char *good = read_fixture("rsa2048.key", &len);
    assert_int_equal(mc_pki_key_from_pem(good, len, "rsa2048.key", &key, &err), MC_OK);
    mc_pki_key_free(key);
    key = NULL;
    char *cut = mc_strndup(good, len / 2);
    assert_int_equal(mc_pki_key_from_pem(cut, len / 2, "cut.key", &key, &err), MC_EINVAL);
    assert_contains(err.msg, "cut.key");
    assert_null(strstr(err.msg, "MII"));
    assert_null(key);
    mc_secure_free_str(cut);
    mc_secure_free_str(good);

    char big[MC_PKI_KEY_PEM_MAX + 1];
    memset(big, 'A', sizeof(big));
    assert_int_equal(mc_pki_key_from_pem(big, sizeof(big), "big.key", &key, &err), MC_ELIMIT);
}

/* ---- roots ---- */

static void test_root_certificate(void **state)
{
    fixture *f = *state;
    mc_buf d;
    mc_buf_init(&d, 1 << 16);
    assert_int_equal(mc_pki_cert_describe(f->root, &d), MC_OK);
    assert_contains(d.data, "subject:    CN=root,O=Acme");
    assert_contains(d.data, "issuer:     CN=root,O=Acme");
    assert_contains(d.data, "CA:         true\n");
    assert_contains(d.data, "key:        EC P-256");
    assert_true(mc_pki_cert_is_ca(f->root));
    /* 128-bit serial: 32 hex digits. */
    const char *serial = strstr(d.data, "serial:     ") + 12;
    assert_int_equal(strcspn(serial, "\n"), 32);
    mc_buf_free(&d);

    /* Validity from a fixed "now" (no wall-clock race under valgrind). */
    time_t nb, na, now = 1900000000;
    mc_pki_cert *fixed = make_root(f->root_key, "root", (int64_t)10 * 365 * DAY, now);
    assert_int_equal(mc_pki_cert_validity(fixed, &nb, &na), MC_OK);
    assert_int_equal(na - now, (time_t)10 * 365 * DAY);
    assert_int_equal(now - nb, 300);
    mc_pki_cert_free(fixed);

    /* Two roots from one key still get different serials. */
    mc_pki_cert *other = make_root(f->root_key, "root", DAY, 0);
    assert_false(mc_pki_cert_equal(other, f->root));
    mc_pki_cert_free(other);

    mc_pki_root_params bad = {"Acme", "root", 0, 0};
    mc_pki_cert *none = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_root_create(f->root_key, &bad, &none, &err), MC_EINVAL);
}

static void test_cert_pem_roundtrip_and_lists(void **state)
{
    fixture *f = *state;
    char *pem = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_pki_cert_to_pem(f->root, &pem, &len, &err), MC_OK);
    mc_pki_cert *back = NULL;
    assert_int_equal(mc_pki_cert_from_pem(pem, len, "root", &back, &err), MC_OK);
    assert_true(mc_pki_cert_equal(back, f->root));
    mc_pki_cert_free(back);

    mc_buf two;
    mc_buf_init(&two, 1 << 16);
    mc_buf_append_str(&two, pem);
    mc_buf_append_str(&two, pem);
    mc_pki_cert **list = NULL;
    size_t count = 0;
    assert_int_equal(mc_pki_cert_list_from_pem(two.data, two.len, "two", &list, &count, &err),
                     MC_OK);
    assert_int_equal(count, 2);
    mc_pki_cert_list_free(list, count);

    /* Second certificate truncated: an error naming which one. */
    mc_buf_append(&two, pem, len / 2);
    assert_int_equal(mc_pki_cert_list_from_pem(two.data, two.len, "chain.pem", &list, &count, &err),
                     MC_EINVAL);
    assert_contains(err.msg, "chain.pem: certificate 3");
    mc_buf_free(&two);

    assert_int_equal(mc_pki_cert_from_pem("junk", 4, "junk.pem", &back, &err), MC_EINVAL);
    assert_contains(err.msg, "junk.pem: no PEM certificate");
    free(pem);
}

/* ---- CSRs ---- */

static void test_csr_create_parse_roundtrip(void **state)
{
    fixture *f = *state;
    char *pem = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_pki_csr_to_pem(f->csr, &pem, &len, &err), MC_OK);
    assert_true(mc_str_has_prefix(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
    mc_pki_csr *parsed = NULL;
    assert_int_equal(mc_pki_csr_parse(pem, len, "csr", &parsed, &err), MC_OK);
    char org[64];
    assert_int_equal(mc_pki_csr_org(parsed, org, sizeof(org), &err), MC_OK);
    assert_string_equal(org, "Istio");
    assert_int_equal(mc_pki_csr_check_request(parsed, "Istio", mesh_hosts, 4, &err), MC_OK);
    assert_int_equal(mc_pki_csr_matches_key(parsed, f->csr_key, &err), MC_OK);
    assert_int_equal(mc_pki_csr_matches_key(parsed, f->root_key, &err), MC_EVERIFY);
    mc_pki_csr_free(parsed);

    /* DER works too. */
    size_t der_len = 0;
    unsigned char *der = pem_to_der(pem, &der_len);
    assert_int_equal(mc_pki_csr_parse(der, der_len, "csr.der", &parsed, &err), MC_OK);
    mc_pki_csr_free(parsed);
    free(der);
    free(pem);
}

static void test_csr_create_rejects_bad_hosts(void **state)
{
    fixture *f = *state;
    mc_pki_csr *csr = NULL;
    mc_err err = {0};
    const char *bad[] = {"ok.example", "a..b"};
    assert_int_equal(mc_pki_csr_create(f->csr_key, "Istio", bad, 2, &csr, &err), MC_EINVAL);
    assert_contains(err.msg, "a..b");
    assert_int_equal(mc_pki_csr_create(f->csr_key, "Istio", NULL, 0, &csr, &err), MC_EINVAL);
    assert_contains(err.msg, "at least one host");
    assert_null(csr);
}

static void expect_csr_rejected(const void *data, size_t len, int code, const char *fragment)
{
    mc_pki_csr *csr = NULL;
    mc_err err = {0};
    int rc = mc_pki_csr_parse(data, len, "req.csr", &csr, &err);
    if (rc != code)
        fail_msg("expected code %d, got %d (%s)", code, rc, err.msg);
    assert_null(csr);
    assert_contains(err.msg, "req.csr");
    assert_contains(err.msg, fragment);
    /* no bare "EVP lib" / "ASN1 lib" tail from OpenSSL's error queue */
    size_t n = strlen(err.msg);
    if (n >= 4 && strcmp(err.msg + n - 4, " lib") == 0)
        fail_msg("error ends in an uninformative OpenSSL reason: %s", err.msg);
}

static void test_csr_parse_rejections(void **state)
{
    fixture *f = *state;
    size_t len = 0;
    char *garbage = read_fixture("garbage.pem", &len);
    expect_csr_rejected(garbage, len, MC_EINVAL, "not a PKCS#10");
    free(garbage);
    expect_csr_rejected("", 0, MC_EINVAL, "empty");
    expect_csr_rejected("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", 41, MC_EINVAL,
                        "not a valid PEM");

    char *big = calloc(1, MC_PKI_CSR_MAX + 1);
    expect_csr_rejected(big, MC_PKI_CSR_MAX + 1, MC_ELIMIT, "65536-byte limit");
    free(big);

    char *pem = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_csr_to_pem(f->csr, &pem, &len, &err), MC_OK);
    size_t der_len = 0;
    unsigned char *der = pem_to_der(pem, &der_len);
    /* Truncated DER at several points. */
    for (size_t cut = 1; cut < der_len; cut += der_len / 7)
        expect_csr_rejected(der, cut, MC_EINVAL, "not a PKCS#10");
    /* Trailing bytes after a valid CSR. */
    unsigned char *longer = malloc(der_len + 3);
    memcpy(longer, der, der_len);
    memcpy(longer + der_len, "xyz", 3);
    expect_csr_rejected(longer, der_len + 3, MC_EINVAL, "3 unexpected bytes");
    free(longer);
    /* A flipped bit in the signature (the last bytes of the DER). */
    der[der_len - 2] ^= 0x01;
    expect_csr_rejected(der, der_len, MC_EVERIFY, "signature does not verify");
    der[der_len - 2] ^= 0x01;
    /* A flipped bit in the subject (the signed part). */
    unsigned char *istio = (unsigned char *)mc_mem_find(der, der_len, "Istio");
    assert_non_null(istio);
    istio[0] ^= 0x20;
    expect_csr_rejected(der, der_len, MC_EVERIFY, "signature does not verify");
    free(der);
    free(pem);

    char *rsa1024 = read_fixture("rsa1024.csr", &len);
    expect_csr_rejected(rsa1024, len, MC_EUNSUPPORTED, "1024 bits is too small");
    free(rsa1024);
    char *ed = read_fixture("ed25519.csr", &len);
    expect_csr_rejected(ed, len, MC_EUNSUPPORTED, "unsupported key type ED25519");
    free(ed);
    char *p521 = read_fixture("p521.csr", &len);
    expect_csr_rejected(p521, len, MC_EUNSUPPORTED, "unsupported key type EC secp521r1");
    free(p521);
}

/* CSRs made by `openssl req -sha1` / `-md5` (tests/data/pki/README.md) verify
 * under their key, and are refused all the same, naming the digest. */
static void test_csr_parse_rejects_weak_digests(void **state)
{
    (void)state;
    static const struct {
        const char *file, *message;
    } weak[] = {
        {"sha1.csr", "the CSR is signed with SHA-1 (sha1WithRSAEncryption), a broken digest"},
        {"md5.csr", "the CSR is signed with MD5 (md5WithRSAEncryption), a broken digest"},
        {"ecdsa-sha1.csr", "the CSR is signed with SHA-1 (ecdsa-with-SHA1)"},
        {"pss-sha1.csr", "the CSR is signed with SHA-1 (rsassaPss)"},
    };
    size_t len = 0;
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
        char *pem = read_fixture(weak[i].file, &len);
        expect_csr_rejected(pem, len, MC_EUNSUPPORTED, weak[i].message);
        free(pem);
    }
    /* RSASSA-PSS with SHA-256 is fine. */
    char *pem = read_fixture("pss-sha256.csr", &len);
    mc_pki_csr *csr = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_csr_parse(pem, len, "pss-sha256.csr", &csr, &err), MC_OK);
    mc_pki_csr_free(csr);
    free(pem);
}

static void test_csr_check_request(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    /* Exactly what was asked for, in another order: accepted. */
    const char *reordered[] = {"::1", "10.0.0.1", "ISTIOD.istio-system.svc", SPIFFE};
    assert_int_equal(mc_pki_csr_check_request(f->csr, "Istio", reordered, 4, &err), MC_OK);
    /* More allowed than asked: accepted. */
    const char *more[] = {SPIFFE, "istiod.istio-system.svc", "10.0.0.1", "::1", "x.example"};
    assert_int_equal(mc_pki_csr_check_request(f->csr, "Istio", more, 5, &err), MC_OK);
    /* The CSR asks for a name the IssuedCertificate does not have. */
    assert_int_equal(mc_pki_csr_check_request(f->csr, "Istio", mesh_hosts, 3, &err), MC_EVERIFY);
    assert_contains(err.msg, "IP:0:0:0:0:0:0:0:1");
    assert_int_equal(mc_pki_csr_check_request(f->csr, "Istio", mesh_hosts + 1, 3, &err),
                     MC_EVERIFY);
    assert_contains(err.msg, "URI:" SPIFFE);
    /* Another organisation. */
    assert_int_equal(mc_pki_csr_check_request(f->csr, "Evil", mesh_hosts, 4, &err), MC_EVERIFY);
    assert_contains(err.msg, "CSR asks for O=Istio but only O=Evil is allowed");

    /* A CSR made by openssl with a CN that is not a host: refused. */
    size_t len = 0;
    char *pem = read_fixture("openssl-rsa2048.csr", &len);
    mc_pki_csr *csr = NULL;
    assert_int_equal(mc_pki_csr_parse(pem, len, "openssl.csr", &csr, &err), MC_OK);
    const char *two[] = {SPIFFE, "istiod.istio-system.svc"};
    assert_int_equal(mc_pki_csr_check_request(csr, "Istio", two, 2, &err), MC_OK);
    assert_int_equal(mc_pki_csr_check_request(csr, "Istio", two, 1, &err), MC_EVERIFY);
    assert_contains(err.msg, "DNS:istiod.istio-system.svc");
    mc_pki_csr_free(csr);
    free(pem);
}

/* ---- issuance ---- */

static void test_issue_intermediate(void **state)
{
    fixture *f = *state;
    time_t now = time(NULL);
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, now);
    mc_buf d;
    mc_buf_init(&d, 1 << 16);
    assert_int_equal(mc_pki_cert_describe(cert, &d), MC_OK);
    assert_contains(d.data, "subject:    O=Istio\n");
    assert_contains(d.data, "issuer:     CN=root,O=Acme\n");
    assert_contains(d.data, "CA:         true, pathlen 0\n");
    assert_contains(d.data, "SANs:       URI:" SPIFFE
                            ", DNS:istiod.istio-system.svc, IP:10.0.0.1, IP:0:0:0:0:0:0:0:1\n");
    assert_contains(d.data, "key:        EC P-256");
    mc_buf_free(&d);
    time_t nb, na;
    assert_int_equal(mc_pki_cert_validity(cert, &nb, &na), MC_OK);
    assert_int_equal(na - now, 365 * DAY);
    assert_int_equal(now - nb, MC_PKI_BACKDATE_SECONDS);
    mc_err err = {0};
    assert_int_equal(mc_pki_cert_matches_key(cert, f->csr_key, &err), MC_OK);
    assert_int_equal(mc_pki_cert_matches_key(cert, f->root_key, &err), MC_EVERIFY);
    assert_contains(err.msg, "O=Istio");
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &f->root, 1, 0, &err), MC_OK);
    mc_pki_cert_free(cert);
}

/* DER requires BOOLEAN TRUE to be 0xFF; strict parsers (Go's crypto/x509, so
 * kubectl and istiod) reject anything else. */
static void test_basic_constraints_are_der(void **state)
{
    fixture *f = *state;
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, 0);
    char *pem = NULL;
    size_t der_len = 0;
    assert_int_equal(mc_pki_cert_to_pem(cert, &pem, NULL, NULL), MC_OK);
    unsigned char *der = pem_to_der(pem, &der_len);
    /* OCTET STRING { SEQUENCE { BOOLEAN TRUE, INTEGER 0 } } */
    static const unsigned char with_pathlen[] = {0x04, 0x08, 0x30, 0x06, 0x01,
                                                 0x01, 0xff, 0x02, 0x01, 0x00};
    int found = 0;
    for (size_t i = 0; i + sizeof(with_pathlen) <= der_len; i++)
        found |= memcmp(der + i, with_pathlen, sizeof(with_pathlen)) == 0;
    assert_true(found);
    free(der);
    free(pem);
    assert_int_equal(mc_pki_cert_to_pem(f->root, &pem, NULL, NULL), MC_OK);
    der = pem_to_der(pem, &der_len);
    static const unsigned char no_pathlen[] = {0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff};
    found = 0;
    for (size_t i = 0; i + sizeof(no_pathlen) <= der_len; i++)
        found |= memcmp(der + i, no_pathlen, sizeof(no_pathlen)) == 0;
    assert_true(found);
    free(der);
    free(pem);
    mc_pki_cert_free(cert);
}

static void test_issue_sans_and_org_come_from_params(void **state)
{
    fixture *f = *state;
    const char *hosts[] = {"only.example"};
    mc_pki_cert *cert = issue(f, "Other Org", hosts, 1, 30 * DAY, 0);
    mc_buf d;
    mc_buf_init(&d, 1 << 16);
    mc_pki_cert_describe(cert, &d);
    assert_contains(d.data, "subject:    O=Other Org");
    assert_contains(d.data, "SANs:       DNS:only.example\n");
    mc_buf_free(&d);
    mc_pki_cert_free(cert);

    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.path_len = -1;
    params.hosts = hosts;
    params.host_count = 1;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_OK);
    mc_buf_init(&d, 1 << 16);
    mc_pki_cert_describe(cert, &d);
    assert_contains(d.data, "CA:         true\n");
    mc_buf_free(&d);
    mc_pki_cert_free(cert);

    params.host_count = 0;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_EINVAL);
    const char *bad[] = {"-bad-.example"};
    params.hosts = bad;
    params.host_count = 1;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_EINVAL);
    assert_contains(err.msg, "-bad-.example");
}

/* RFC 5280 4.1.2.6: a CA's subject is a non-empty name. Without an org the
 * intermediate's subject would be empty: refused (a TLS leaf may have one). */
static void test_issue_refuses_ca_with_empty_subject(void **state)
{
    fixture *f = *state;
    const char *hosts[] = {"only.example"};
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.hosts = hosts;
    params.host_count = 1;
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_EINVAL);
    assert_null(cert);
    assert_contains(err.msg, "empty subject");
    assert_contains(err.msg, "RFC 5280");
    params.org = NULL;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_EINVAL);
    params.tls_server = 1;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_OK);
    mc_buf d;
    mc_buf_init(&d, 1 << 16);
    mc_pki_cert_describe(cert, &d);
    assert_contains(d.data, "subject:    (empty subject)");
    mc_buf_free(&d);
    mc_pki_cert_free(cert);

    /* A root needs an org or a name. */
    mc_pki_root_params root_params = {"", "", DAY, 0};
    assert_int_equal(mc_pki_root_create(f->root_key, &root_params, &cert, &err), MC_EINVAL);
    assert_contains(err.msg, "empty subject");
}

static void test_issue_clamps_ttl_to_root(void **state)
{
    fixture *f = *state;
    time_t now = time(NULL);
    mc_pki_key *key = make_key(MC_KEY_EC_P256);
    mc_pki_cert *short_root = make_root(key, "short", 10 * DAY, now);
    mc_pki_signer *signer = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_new(short_root, key, &signer, &err), MC_OK);
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = mesh_hosts;
    params.host_count = 1;
    params.now = now;
    mc_pki_cert *cert = NULL;
    assert_int_equal(mc_pki_signer_issue(signer, f->csr, &params, &cert, &err), MC_OK);
    time_t nb, na, rnb, rna;
    mc_pki_cert_validity(cert, &nb, &na);
    mc_pki_cert_validity(short_root, &rnb, &rna);
    assert_int_equal(na, rna);
    assert_int_equal(na - now, 10 * DAY);
    mc_pki_cert_free(cert);

    /* After the root's notAfter: refused, naming the root and the date. */
    params.now = now + 11 * DAY;
    assert_int_equal(mc_pki_signer_issue(signer, f->csr, &params, &cert, &err), MC_EEXPIRED);
    assert_contains(err.msg, "signing root CN=short,O=Acme expired at");
    params.now = now - DAY;
    assert_int_equal(mc_pki_signer_issue(signer, f->csr, &params, &cert, &err), MC_EEXPIRED);
    assert_contains(err.msg, "not valid before");
    mc_pki_signer_free(signer);
    mc_pki_cert_free(short_root);
    mc_pki_key_free(key);
}

static void test_signer_rejects_wrong_key_and_non_ca(void **state)
{
    fixture *f = *state;
    mc_pki_signer *signer = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_new(f->root, f->csr_key, &signer, &err), MC_EVERIFY);
    assert_contains(err.msg, "root CA key does not match the root certificate");
    assert_null(signer);

    size_t len = 0;
    char *pem = read_fixture("leaf-not-ca.crt", &len);
    char *key_pem = read_fixture("rsa2048.key", &len);
    mc_pki_cert *leaf = NULL;
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_cert_from_pem(pem, strlen(pem), "leaf", &leaf, &err), MC_OK);
    assert_int_equal(mc_pki_key_from_pem(key_pem, len, "key", &key, &err), MC_OK);
    assert_false(mc_pki_cert_is_ca(leaf));
    assert_int_equal(mc_pki_signer_new(leaf, key, &signer, &err), MC_EVERIFY);
    assert_contains(err.msg, "CN=leaf-not-ca is not a CA");
    mc_pki_cert_free(leaf);
    mc_pki_key_free(key);
    mc_secure_free_str(key_pem);
    free(pem);
}

/* A key back end for tests: signs with an OpenSSL key the way an HSM would,
 * from outside the signer (the signer never sees the EVP_PKEY). */
static int memory_backend_sign(void *impl, const unsigned char *data, size_t len,
                               unsigned char *sig, size_t *sig_len, mc_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    *sig_len = MC_PKI_SIG_MAX;
    int ok = ctx && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, impl, NULL) == 1 &&
             EVP_DigestSign(ctx, sig, sig_len, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? MC_OK : mc_err_set(err, MC_ECRYPTO, "test back end failed");
}

static EVP_PKEY *evp_from_key(const mc_pki_key *key)
{
    char *pem = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, &pem, &len, &err), MC_OK);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    mc_secure_free_str(pem);
    assert_non_null(pkey);
    return pkey;
}

/* A root made and used through a back end gives the same chain as an
 * in-memory one; a back end holding another key is refused by name. */
static void test_backend_signer(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    mc_pki_key *root_key = make_key(MC_KEY_EC_P256);
    EVP_PKEY *pkey = evp_from_key(root_key);
    mc_pki_key_backend backend = {MC_PKI_SIG_ECDSA_SHA256, memory_backend_sign, pkey, "test:root"};
    mc_pki_root_params params = {"Acme", "backend root", 30 * DAY, 0};
    mc_pki_cert *root = NULL;
    assert_int_equal(mc_pki_root_create_backend(root_key, &backend, &params, &root, &err), MC_OK);
    assert_int_equal(mc_pki_cert_signed_by(root, root), 1);
    mc_pki_signer *signer = NULL;
    assert_int_equal(mc_pki_signer_new_backend(root, &backend, &signer, &err), MC_OK);
    mc_pki_issue_params ip;
    mc_pki_issue_params_init(&ip);
    ip.org = "Istio";
    ip.hosts = mesh_hosts;
    ip.host_count = 4;
    mc_pki_cert *cert = NULL;
    assert_int_equal(mc_pki_signer_issue(signer, f->csr, &ip, &cert, &err), MC_OK);
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &root, 1, 0, &err), MC_OK);
    assert_int_equal(mc_pki_cert_matches_key(cert, f->csr_key, &err), MC_OK);
    mc_pki_signer *wrong = NULL;
    assert_int_equal(mc_pki_signer_new_backend(f->root, &backend, &wrong, &err), MC_EVERIFY);
    assert_contains(err.msg, "test:root does not match the root certificate");
    assert_null(wrong);
    mc_pki_cert_free(cert);
    mc_pki_signer_free(signer);
    mc_pki_cert_free(root);
    EVP_PKEY_free(pkey);
    mc_pki_key_free(root_key);
}

static void test_issue_rsa4096_root_signs_openssl_csr(void **state)
{
    (void)state;
    mc_pki_key *key = make_key(MC_KEY_RSA4096);
    mc_pki_cert *root = make_root(key, "rsa-root", 365 * DAY, 0);
    mc_pki_signer *signer = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_new(root, key, &signer, &err), MC_OK);
    size_t len = 0;
    char *pem = read_fixture("openssl-rsa2048.csr", &len);
    mc_pki_csr *csr = NULL;
    assert_int_equal(mc_pki_csr_parse(pem, len, "openssl.csr", &csr, &err), MC_OK);
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = mesh_hosts;
    params.host_count = 2;
    mc_pki_cert *cert = NULL;
    assert_int_equal(mc_pki_signer_issue(signer, csr, &params, &cert, &err), MC_OK);
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &root, 1, 0, &err), MC_OK);
    mc_pki_cert_free(cert);
    mc_pki_csr_free(csr);
    free(pem);
    mc_pki_signer_free(signer);
    mc_pki_cert_free(root);
    mc_pki_key_free(key);
}

static void test_issue_tls_server_leaf(void **state)
{
    fixture *f = *state;
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    const char *hosts[] = {"127.0.0.1", "localhost"};
    params.hosts = hosts;
    params.host_count = 2;
    params.tls_server = 1;
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &cert, &err), MC_OK);
    assert_false(mc_pki_cert_is_ca(cert));
    mc_buf d;
    mc_buf_init(&d, 1 << 16);
    mc_pki_cert_describe(cert, &d);
    assert_contains(d.data, "CA:         false");
    assert_contains(d.data, "SANs:       IP:127.0.0.1, DNS:localhost");
    mc_buf_free(&d);
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &f->root, 1, 0, &err), MC_OK);
    mc_pki_cert_free(cert);
}

/* ---- verification ---- */

static void test_verify_chain_failures(void **state)
{
    fixture *f = *state;
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 30 * DAY, 0);
    mc_pki_key *other_key = make_key(MC_KEY_EC_P256);
    mc_pki_cert *other_root = make_root(other_key, "other", 365 * DAY, 0);
    mc_err err = {0};
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &other_root, 1, 0, &err), MC_EVERIFY);
    assert_contains(err.msg, "certificate O=Istio does not chain to the root");
    assert_contains(err.msg, "unable to get local issuer certificate");
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, NULL, 0, 0, &err), MC_EINVAL);
    /* Two roots, one of them right: verifies (root rotation). */
    mc_pki_cert *both[] = {other_root, f->root};
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, both, 2, 0, &err), MC_OK);
    /* At a time past its notAfter: expired. */
    time_t later = time(NULL) + 40 * DAY;
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &f->root, 1, later, &err), MC_EEXPIRED);
    assert_contains(err.msg, "certificate has expired");
    assert_int_equal(mc_pki_cert_check_validity(cert, later, &err), MC_EEXPIRED);
    assert_contains(err.msg, "certificate O=Istio expired at");
    assert_int_equal(mc_pki_cert_check_validity(cert, time(NULL) - DAY, &err), MC_EEXPIRED);
    assert_contains(err.msg, "not valid before");
    assert_int_equal(mc_pki_cert_check_validity(cert, 0, &err), MC_OK);
    mc_pki_cert_free(other_root);
    mc_pki_key_free(other_key);
    mc_pki_cert_free(cert);
}

static void test_verify_through_intermediate(void **state)
{
    fixture *f = *state;
    /* root -> intermediate (pathlen 1) -> our CA: verifies only with the
     * intermediate supplied as untrusted. */
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = mesh_hosts;
    params.host_count = 4;
    params.path_len = 1;
    mc_pki_cert *mid = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_OK);
    mc_pki_signer *mid_signer = NULL;
    assert_int_equal(mc_pki_signer_new(mid, f->csr_key, &mid_signer, &err), MC_OK);
    mc_pki_key *leaf_key = make_key(MC_KEY_EC_P256);
    mc_pki_csr *csr = NULL;
    const char *host = "leaf.example";
    assert_int_equal(mc_pki_csr_create(leaf_key, "", &host, 1, &csr, &err), MC_OK);
    params.hosts = &host;
    params.host_count = 1;
    params.path_len = 0;
    mc_pki_cert *leaf = NULL;
    assert_int_equal(mc_pki_signer_issue(mid_signer, csr, &params, &leaf, &err), MC_OK);
    assert_int_equal(mc_pki_verify_chain(leaf, &mid, 1, &f->root, 1, 0, &err), MC_OK);
    assert_int_equal(mc_pki_verify_chain(leaf, NULL, 0, &f->root, 1, 0, &err), MC_EVERIFY);
    assert_contains(err.msg, "depth 0");
    mc_pki_cert_free(leaf);
    mc_pki_csr_free(csr);
    mc_pki_key_free(leaf_key);
    mc_pki_signer_free(mid_signer);
    mc_pki_cert_free(mid);
}

/* Name constraints: absent unless asked; when asked, what the CA may sign
 * (a leaf inside verifies, one outside does not: OpenSSL enforces them in
 * mc_pki_verify_chain), and a kind with no entry permits only "invalid". */
static void test_name_constraints_bind_what_the_ca_signs(void **state)
{
    fixture *f = *state;
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = mesh_hosts;
    params.host_count = 4;
    params.path_len = 1;
    mc_err err = {0};
    mc_buf text;
    mc_pki_cert *mid = NULL;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_OK);
    mc_buf_init(&text, 4096);
    assert_int_equal(mc_pki_cert_name_constraints(mid, &text), 0);
    mc_buf_free(&text);
    mc_pki_cert_free(mid);

    const char *trust_domains[] = {"east.local"};
    params.name_constraints = 1;
    params.permitted_uri_hosts = trust_domains;
    params.permitted_uri_host_count = 1;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_OK);
    mc_buf_init(&text, 4096);
    assert_int_equal(mc_pki_cert_name_constraints(mid, &text), 1);
    assert_string_equal(text.data, "permitted: URI:east.local, DNS:invalid; "
                                   "excluded: IP:0.0.0.0/0, IP:0:0:0:0:0:0:0:0/0");
    mc_buf_free(&text);
    mc_pki_cert_free(mid);

    const char *suffixes[] = {"example.org"};
    params.permitted_dns = suffixes;
    params.permitted_dns_count = 1;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_OK);
    mc_pki_signer *mid_signer = NULL;
    assert_int_equal(mc_pki_signer_new(mid, f->csr_key, &mid_signer, &err), MC_OK);
    mc_pki_key *leaf_key = make_key(MC_KEY_EC_P256);
    const char *inside[] = {"leaf.example.org", "spiffe://east.local/ns/a/sa/b"};
    const char *outside[] = {"leaf.example", "spiffe://west.local/ns/a/sa/b", "10.0.0.1"};
    for (size_t i = 0; i < 5; i++) {
        const char *host = i < 2 ? inside[i] : outside[i - 2];
        mc_pki_csr *csr = NULL;
        mc_pki_cert *leaf = NULL;
        assert_int_equal(mc_pki_csr_create(leaf_key, "", &host, 1, &csr, &err), MC_OK);
        mc_pki_issue_params leaf_params;
        mc_pki_issue_params_init(&leaf_params);
        leaf_params.hosts = &host;
        leaf_params.host_count = 1;
        leaf_params.tls_server = 1;
        assert_int_equal(mc_pki_signer_issue(mid_signer, csr, &leaf_params, &leaf, &err), MC_OK);
        int rc = mc_pki_verify_chain(leaf, &mid, 1, &f->root, 1, 0, &err);
        if (i < 2 && rc != MC_OK)
            fail_msg("%s: %s", host, err.msg);
        if (i >= 2) {
            assert_int_equal(rc, MC_EVERIFY);
            assert_contains(err.msg, "subtree violation");
        }
        mc_pki_cert_free(leaf);
        mc_pki_csr_free(csr);
    }
    mc_pki_key_free(leaf_key);
    mc_pki_signer_free(mid_signer);
    mc_pki_cert_free(mid);

    /* URIs left unconstrained (sign --no-uri-constraints): no URI subtree,
     * and never together with trust domains */
    params.uri_unconstrained = 1;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_EINVAL);
    assert_contains(err.msg, "both unconstrained and limited");
    params.permitted_uri_host_count = 0;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_OK);
    mc_buf_init(&text, 4096);
    assert_int_equal(mc_pki_cert_name_constraints(mid, &text), 1);
    assert_string_equal(text.data, "permitted: DNS:example.org; "
                                   "excluded: IP:0.0.0.0/0, IP:0:0:0:0:0:0:0:0/0");
    mc_buf_free(&text);
    mc_pki_cert_free(mid);
    params.uri_unconstrained = 0;

    const char *empty[] = {""};
    params.permitted_dns = empty;
    assert_int_equal(mc_pki_signer_issue(f->signer, f->csr, &params, &mid, &err), MC_EINVAL);
}

/* ---- bundles ---- */

static void test_bundle_build_entries_verify(void **state)
{
    fixture *f = *state;
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, 0);
    mc_pki_bundle bundle;
    mc_err err = {0};
    char *key_pem = NULL;
    assert_int_equal(mc_pki_key_to_pem(f->csr_key, MC_KEY_PEM_TRADITIONAL, &key_pem, NULL, &err),
                     MC_OK);
    assert_int_equal(mc_pki_bundle_build(cert, key_pem, f->root, &bundle, &err), MC_OK);
    assert_string_equal(bundle.ca_key, key_pem); /* copied as given, not re-encoded */
    mc_secure_free_str(key_pem);
    mc_pki_bundle_entry entries[4];
    assert_int_equal(mc_pki_bundle_entries(&bundle, MC_BUNDLE_ISTIO, entries), 4);
    assert_string_equal(entries[0].name, "ca-cert.pem");
    assert_string_equal(entries[1].name, "ca-key.pem");
    assert_true(entries[1].secret);
    assert_false(entries[0].secret);
    assert_string_equal(entries[2].name, "cert-chain.pem");
    assert_string_equal(entries[3].name, "root-cert.pem");
    /* cert-chain.pem = ca-cert.pem followed by root-cert.pem, byte for byte. */
    size_t ca_len = strlen(bundle.ca_cert);
    assert_memory_equal(bundle.cert_chain, bundle.ca_cert, ca_len);
    assert_string_equal(bundle.cert_chain + ca_len, bundle.root_cert);
    assert_int_equal(mc_pki_bundle_entries(&bundle, MC_BUNDLE_TLS, entries), 3);
    assert_string_equal(entries[0].name, "tls.crt");
    assert_string_equal(entries[1].name, "tls.key");
    assert_string_equal(entries[2].name, "ca.crt");

    mc_buf report;
    mc_buf_init(&report, 1 << 16);
    assert_int_equal(mc_pki_bundle_verify(&bundle, bundle.root_cert, "root.pem", 0, &report, &err),
                     MC_OK);
    assert_contains(report.data, "chain: OK");
    assert_contains(report.data, "ca-key.pem: EC P-256, matches ca-cert.pem");
    assert_null(strstr(report.data, "PRIVATE KEY"));
    mc_buf_free(&report);
    mc_pki_bundle_clear(&bundle);

    assert_int_equal(mc_pki_bundle_build(cert, NULL, f->root, &bundle, &err), MC_OK);
    assert_null(bundle.ca_key);
    assert_int_equal(mc_pki_bundle_entries(&bundle, MC_BUNDLE_ISTIO, entries), 3);
    assert_int_equal(mc_pki_bundle_verify(&bundle, NULL, "root.pem", 0, NULL, &err), MC_OK);
    mc_pki_bundle_clear(&bundle);
    mc_pki_cert_free(cert);

    mc_bundle_format format;
    assert_int_equal(mc_pki_bundle_format_parse("tls", &format, &err), MC_OK);
    assert_int_equal(format, MC_BUNDLE_TLS);
    assert_int_equal(mc_pki_bundle_format_parse("pkcs12", &format, &err), MC_EINVAL);
}

static void test_bundle_verify_detects_tampering(void **state)
{
    fixture *f = *state;
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, 0);
    mc_pki_key *other_key = make_key(MC_KEY_EC_P256);
    mc_pki_cert *other_root = make_root(other_key, "other", 365 * DAY, 0);
    char *other_pem = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_cert_to_pem(other_root, &other_pem, NULL, &err), MC_OK);

    mc_pki_bundle bundle;
    char *key_pem = NULL;
    assert_int_equal(mc_pki_key_to_pem(f->csr_key, MC_KEY_PEM_PKCS8, &key_pem, NULL, &err), MC_OK);
    assert_int_equal(mc_pki_bundle_build(cert, key_pem, f->root, &bundle, &err), MC_OK);
    mc_secure_free_str(key_pem);
    /* A different trusted root. */
    assert_int_equal(mc_pki_bundle_verify(&bundle, other_pem, "root.pem", 0, NULL, &err),
                     MC_EVERIFY);
    assert_contains(err.msg,
                    "root-cert.pem does not contain the trusted root certificate (root.pem)");
    /* ca-key.pem from another cluster. */
    char *saved_key = bundle.ca_key;
    assert_int_equal(mc_pki_key_to_pem(other_key, MC_KEY_PEM_PKCS8, &bundle.ca_key, NULL, &err),
                     MC_OK);
    assert_int_equal(mc_pki_bundle_verify(&bundle, bundle.root_cert, "root.pem", 0, NULL, &err),
                     MC_EVERIFY);
    assert_contains(err.msg, "ca-key.pem: private key does not match certificate O=Istio");
    mc_secure_free_str(bundle.ca_key);
    bundle.ca_key = saved_key;
    /* cert-chain.pem that does not start with ca-cert.pem. */
    char *saved_chain = bundle.cert_chain;
    bundle.cert_chain = bundle.root_cert;
    assert_int_equal(mc_pki_bundle_verify(&bundle, NULL, "root.pem", 0, NULL, &err), MC_EVERIFY);
    assert_contains(err.msg, "cert-chain.pem does not start with ca-cert.pem");
    bundle.cert_chain = saved_chain;
    /* root-cert.pem of the other root, trusted as given: the chain fails. */
    char *saved_root = bundle.root_cert;
    bundle.root_cert = other_pem;
    assert_int_equal(mc_pki_bundle_verify(&bundle, other_pem, "root.pem", 0, NULL, &err),
                     MC_EVERIFY);
    assert_contains(err.msg, "ca-cert.pem: certificate O=Istio does not chain to the root");
    bundle.root_cert = saved_root;
    /* Expired by the time of checking. */
    assert_int_equal(
        mc_pki_bundle_verify(&bundle, NULL, "root.pem", time(NULL) + 400 * DAY, NULL, &err),
        MC_EEXPIRED);
    assert_contains(err.msg, "ca-cert.pem: certificate O=Istio expired");
    assert_int_equal(mc_pki_bundle_verify(&bundle, NULL, "root.pem", 0, NULL, &err), MC_OK);
    mc_pki_bundle_clear(&bundle);
    free(other_pem);
    mc_pki_cert_free(other_root);
    mc_pki_key_free(other_key);
    mc_pki_cert_free(cert);
}

/* issue 13: what the agent's decision cache relies on. The validity window of
 * a bundle is the intersection of its certificates' (verify holds inside it,
 * not after it); hashed parts do not collide by moving a boundary or by an
 * absent part; a shared key is one key, usable after the other handle is
 * freed. */
static void test_bundle_validity_hash_parts_key_share(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, 0);
    mc_pki_bundle bundle;
    assert_int_equal(mc_pki_bundle_build(cert, NULL, f->root, &bundle, &err), MC_OK);
    time_t from = 0, until = 0, cert_from = 0, cert_until = 0, root_from = 0, root_until = 0;
    assert_int_equal(mc_pki_bundle_validity(&bundle, &from, &until, &err), MC_OK);
    assert_int_equal(mc_pki_cert_validity(cert, &cert_from, &cert_until), MC_OK);
    assert_int_equal(mc_pki_cert_validity(f->root, &root_from, &root_until), MC_OK);
    assert_int_equal(from, cert_from > root_from ? cert_from : root_from);
    assert_int_equal(until, cert_until < root_until ? cert_until : root_until);
    assert_int_equal(mc_pki_bundle_verify(&bundle, NULL, NULL, until - 1, NULL, &err), MC_OK);
    assert_int_not_equal(mc_pki_bundle_verify(&bundle, NULL, NULL, until + 1, NULL, &err), MC_OK);
    char *saved = bundle.root_cert;
    bundle.root_cert = "not a certificate";
    assert_int_not_equal(mc_pki_bundle_validity(&bundle, &from, &until, &err), MC_OK);
    bundle.root_cert = saved;
    mc_pki_bundle_clear(&bundle);
    mc_pki_cert_free(cert);

    unsigned char a[32], b[32];
    mc_pki_hash_part ab_c[] = {{"ab", 2}, {"c", 1}}, a_bc[] = {{"a", 1}, {"bc", 2}};
    mc_pki_hash_part absent[] = {{NULL, 0}}, empty[] = {{"", 0}};
    assert_int_equal(mc_pki_sha256_parts(ab_c, 2, a, &err), MC_OK);
    assert_int_equal(mc_pki_sha256_parts(a_bc, 2, b, &err), MC_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(mc_pki_sha256_parts(ab_c, 2, b, &err), MC_OK);
    assert_memory_equal(a, b, 32);
    assert_int_equal(mc_pki_sha256_parts(absent, 1, a, &err), MC_OK);
    assert_int_equal(mc_pki_sha256_parts(empty, 1, b, &err), MC_OK);
    assert_memory_not_equal(a, b, 32);

    mc_pki_key *key = make_key(MC_KEY_EC_P256), *shared = NULL;
    assert_int_equal(mc_pki_key_share(key, &shared, &err), MC_OK);
    char *pem = NULL, *shared_pem = NULL;
    assert_int_equal(mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, &pem, NULL, &err), MC_OK);
    mc_pki_key_free(key);
    assert_int_equal(mc_pki_key_to_pem(shared, MC_KEY_PEM_PKCS8, &shared_pem, NULL, &err), MC_OK);
    assert_string_equal(pem, shared_pem);
    mc_secure_free_str(pem);
    mc_secure_free_str(shared_pem);
    mc_pki_key_free(shared);
}

/* issue 14: private key material lives in OpenSSL's secure heap (off in
 * sanitizer builds). Runs last: the heap is process-wide. */
static void test_secure_heap(void **state)
{
    (void)state;
    mc_err err = {0};
    int locked = -1;
    int rc = mc_pki_secure_heap_init(&locked, &err);
#ifdef MC_SANITIZER_BUILD
    assert_int_equal(rc, MC_EUNSUPPORTED);
    assert_int_equal(mc_pki_secure_heap_used(), 0);
#else
    assert_int_equal(rc, MC_OK);
    assert_int_equal(mc_pki_secure_heap_init(NULL, &err), MC_OK); /* idempotent */
    static const mc_key_type types[] = {MC_KEY_EC_P256, MC_KEY_RSA2048};
    for (size_t i = 0; i < 2; i++) {
        size_t before = mc_pki_secure_heap_used();
        mc_pki_key *key = NULL;
        assert_int_equal(mc_pki_key_generate(types[i], &key, &err), MC_OK);
        assert_true(mc_pki_secure_heap_used() > before);
        mc_pki_key_free(key);
        assert_int_equal(mc_pki_secure_heap_used(), before);
    }
#endif
}

/* A trust bundle of two roots (a root rotation's R1+R2): root-cert.pem holds
 * both in order, cert-chain.pem ends with the root that signed; the bundle
 * verifies; a certificate signed by neither is refused. */
static void test_bundle_build_trust(void **state)
{
    fixture *f = *state;
    mc_pki_cert *cert = issue(f, "Istio", mesh_hosts, 4, 0, 0);
    mc_pki_key *other_key = make_key(MC_KEY_EC_P256);
    mc_pki_cert *other = make_root(other_key, "other root", DAY, 0);
    mc_pki_cert *roots[2] = {other, f->root};
    mc_pki_bundle bundle;
    mc_err err = {0};
    char *root_pem = NULL, *other_pem = NULL;
    assert_int_equal(mc_pki_cert_to_pem(f->root, &root_pem, NULL, &err), MC_OK);
    assert_int_equal(mc_pki_cert_to_pem(other, &other_pem, NULL, &err), MC_OK);
    assert_true(mc_pki_cert_signed_by(cert, f->root));
    assert_false(mc_pki_cert_signed_by(cert, other));
    assert_true(mc_pki_cert_signed_by(f->root, f->root)); /* self-signed */
    assert_false(mc_pki_cert_signed_by(other, f->root));

    assert_int_equal(mc_pki_bundle_build_trust(cert, NULL, roots, 2, &bundle, &err), MC_OK);
    size_t other_len = strlen(other_pem);
    assert_memory_equal(bundle.root_cert, other_pem, other_len);
    assert_string_equal(bundle.root_cert + other_len, root_pem);
    size_t ca_len = strlen(bundle.ca_cert);
    assert_string_equal(bundle.cert_chain + ca_len, root_pem);
    assert_int_equal(mc_pki_bundle_verify(&bundle, NULL, NULL, 0, NULL, &err), MC_OK);
    /* trusting either root of the bundle: the signing one verifies */
    assert_int_equal(mc_pki_bundle_verify(&bundle, root_pem, "R1", 0, NULL, &err), MC_OK);
    assert_int_not_equal(mc_pki_bundle_verify(&bundle, other_pem, "R2", 0, NULL, &err), MC_OK);
    mc_pki_bundle_clear(&bundle);

    assert_int_equal(mc_pki_bundle_build_trust(cert, NULL, roots, 1, &bundle, &err), MC_EVERIFY);
    assert_contains(err.msg, "signed by none of the 1 root(s)");
    assert_null(bundle.root_cert);

    unsigned char a[32], b[32];
    assert_int_equal(mc_pki_sha256("abc", 3, a, &err), MC_OK);
    static const unsigned char abc[4] = {0xba, 0x78, 0x16, 0xbf}; /* FIPS 180-2 */
    assert_memory_equal(a, abc, 4);
    assert_int_equal(mc_pki_sha256("abd", 3, b, &err), MC_OK);
    assert_memory_not_equal(a, b, 32);
    free(root_pem);
    free(other_pem);
    mc_pki_cert_free(other);
    mc_pki_key_free(other_key);
    mc_pki_cert_free(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_types_and_pem_formats),
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_key_rejections),
        cmocka_unit_test(test_root_certificate),
        cmocka_unit_test(test_cert_pem_roundtrip_and_lists),
        cmocka_unit_test(test_csr_create_parse_roundtrip),
        cmocka_unit_test(test_csr_create_rejects_bad_hosts),
        cmocka_unit_test(test_csr_parse_rejections),
        cmocka_unit_test(test_csr_parse_rejects_weak_digests),
        cmocka_unit_test(test_csr_check_request),
        cmocka_unit_test(test_issue_intermediate),
        cmocka_unit_test(test_basic_constraints_are_der),
        cmocka_unit_test(test_issue_sans_and_org_come_from_params),
        cmocka_unit_test(test_issue_refuses_ca_with_empty_subject),
        cmocka_unit_test(test_name_constraints_bind_what_the_ca_signs),
        cmocka_unit_test(test_issue_clamps_ttl_to_root),
        cmocka_unit_test(test_signer_rejects_wrong_key_and_non_ca),
        cmocka_unit_test(test_backend_signer),
        cmocka_unit_test(test_issue_rsa4096_root_signs_openssl_csr),
        cmocka_unit_test(test_issue_tls_server_leaf),
        cmocka_unit_test(test_verify_chain_failures),
        cmocka_unit_test(test_verify_through_intermediate),
        cmocka_unit_test(test_bundle_build_entries_verify),
        cmocka_unit_test(test_bundle_build_trust),
        cmocka_unit_test(test_bundle_verify_detects_tampering),
        cmocka_unit_test(test_bundle_validity_hash_parts_key_share),
        cmocka_unit_test(test_secure_heap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
