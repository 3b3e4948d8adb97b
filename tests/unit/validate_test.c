/* validate_test.c - every validation rule of api/ with a passing and a
 * failing case: names, labels, annotations, hosts, sizes, and the per-kind
 * validators, whose messages must name the object and the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/certificate_request.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "api/validate.h"
#include "util/host.h"
#include "api_test_util.h"

typedef int (*check_fn)(const char *value, mc_err *err);

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* spec.hosts entries go through mc_host_classify, as api/ and pki/ both do. */
static int validate_host(const char *value, mc_err *err)
{
    mc_host host;
    return mc_host_classify(value, &host, err);
}

static void ok(check_fn fn, const char *value)
{
    mc_err err = {0};
    int rc = fn(value, &err);
    if (rc != 0)
        fprintf(stderr, "\"%s\" rejected: %s\n", value, err.msg);
    assert_int_equal(rc, 0);
}

static void bad(check_fn fn, const char *value, const char *want)
{
    mc_err err = {0};
    int rc = fn(value, &err);
    if (rc == 0)
        fprintf(stderr, "\"%s\" accepted\n", value);
    assert_int_equal(rc, MC_EINVAL);
    if (!strstr(err.msg, want))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
    assert_non_null(strstr(err.msg, want));
}

static void test_dns1123_label(void **state)
{
    (void)state;
    char *max = repeat('a', 63), *over = repeat('a', 64);
    ok(mc_validate_dns1123_label, "istio-system");
    ok(mc_validate_dns1123_label, "a");
    ok(mc_validate_dns1123_label, "0abc9");
    ok(mc_validate_dns1123_label, max);
    bad(mc_validate_dns1123_label, "Istio", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, "-a", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, "a-", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, "a_b", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, "a.b", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, "", "not a valid DNS-1123 label");
    bad(mc_validate_dns1123_label, over, "longer than 63 characters");
    free(max);
    free(over);
}

static void test_dns1123_subdomain(void **state)
{
    (void)state;
    char name[300];
    /* 253 characters: 63.63.63.61 */
    snprintf(name, sizeof(name), "%s.%s.%s.%s", "a23456789012345678901234567890123456789012345678901234567890123",
             "b23456789012345678901234567890123456789012345678901234567890123",
             "c23456789012345678901234567890123456789012345678901234567890123",
             "d234567890123456789012345678901234567890123456789012345678901");
    assert_int_equal(strlen(name), 253);
    ok(mc_validate_dns1123_subdomain, "mesh-1");
    ok(mc_validate_dns1123_subdomain, "vm-root-ca.v2");
    ok(mc_validate_dns1123_subdomain, name);
    bad(mc_validate_dns1123_subdomain, "a..b", "not a valid DNS-1123 subdomain");
    bad(mc_validate_dns1123_subdomain, ".a", "not a valid DNS-1123 subdomain");
    bad(mc_validate_dns1123_subdomain, "a.", "not a valid DNS-1123 subdomain");
    bad(mc_validate_dns1123_subdomain, "Mesh", "not a valid DNS-1123 subdomain");
    bad(mc_validate_dns1123_subdomain, "a.-b", "not a valid DNS-1123 subdomain");
    name[253] = 'e';
    name[254] = '\0';
    bad(mc_validate_dns1123_subdomain, name, "longer than 253 characters");
}

static void test_qualified_name(void **state)
{
    (void)state;
    char *name63 = repeat('n', 63), *name64 = repeat('n', 64), *prefix254 = repeat('p', 254);
    char buf[400];
    ok(mc_validate_qualified_name, "app");
    ok(mc_validate_qualified_name, "app.kubernetes.io/name");
    ok(mc_validate_qualified_name, "agent.certificates.smh.solo.io");
    ok(mc_validate_qualified_name, "A_b.c-D");
    ok(mc_validate_qualified_name, name63);
    bad(mc_validate_qualified_name, "", "not a valid qualified name");
    bad(mc_validate_qualified_name, "/a", "prefix before '/'");
    bad(mc_validate_qualified_name, "a/", "not a valid qualified name");
    bad(mc_validate_qualified_name, "-a", "not a valid qualified name");
    bad(mc_validate_qualified_name, "a b", "not a valid qualified name");
    bad(mc_validate_qualified_name, "Example.com/a", "prefix before '/' must be a DNS-1123 subdomain");
    bad(mc_validate_qualified_name, "a/b/c", "not a valid qualified name");
    bad(mc_validate_qualified_name, name64, "longer than 63");
    snprintf(buf, sizeof(buf), "%s/a", prefix254);
    bad(mc_validate_qualified_name, buf, "1 to 253 characters");
    free(name63);
    free(name64);
    free(prefix254);
}

static void test_label_value(void **state)
{
    (void)state;
    char *max = repeat('v', 63), *over = repeat('v', 64);
    ok(mc_validate_label_value, "");
    ok(mc_validate_label_value, "v1.2_3-x");
    ok(mc_validate_label_value, "Production");
    ok(mc_validate_label_value, max);
    bad(mc_validate_label_value, "-x", "is not valid");
    bad(mc_validate_label_value, "x.", "is not valid");
    bad(mc_validate_label_value, "a b", "is not valid");
    bad(mc_validate_label_value, "a/b", "is not valid");
    bad(mc_validate_label_value, over, "longer than 63 characters");
    free(max);
    free(over);
}

static void test_labels_and_annotations(void **state)
{
    (void)state;
    mc_api_str_map m = {0};
    mc_err err = {0};
    mc_api_str_map_set(&m, "app", "istiod");
    mc_api_str_map_set(&m, "istio.io/rev", "1-22");
    assert_int_equal(mc_validate_labels(&m, &err), 0);
    assert_int_equal(mc_validate_annotations(&m, &err), 0);
    mc_api_str_map_set(&m, "bad key", "x");
    assert_int_equal(mc_validate_labels(&m, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "label key: \"bad key\""));
    assert_int_equal(mc_validate_annotations(&m, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "annotation key"));
    mc_api_str_map_remove(&m, "bad key");
    mc_api_str_map_set(&m, "app", "not valid!");
    assert_int_equal(mc_validate_labels(&m, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "label \"app\": label value \"not valid!\""));
    /* annotation values are free text, but the total is capped */
    assert_int_equal(mc_validate_annotations(&m, &err), 0);
    char *big = repeat('x', MC_VALIDATE_ANNOTATIONS_MAX);
    mc_api_str_map_set(&m, "big", big);
    assert_int_equal(mc_validate_annotations(&m, &err), MC_ELIMIT);
    assert_non_null(strstr(err.msg, "annotations total"));
    free(big);
    mc_api_str_map_clear(&m);
}

static void test_dns_name(void **state)
{
    (void)state;
    mc_err err = {0};
    char *label64 = repeat('a', 64);
    char long_name[300];
    size_t used = 0;
    for (int i = 0; i < 64; i++)
        used += (size_t)snprintf(long_name + used, sizeof(long_name) - used, "abc.");
    snprintf(long_name + used, sizeof(long_name) - used, "com"); /* 259 characters */
    assert_int_equal(strlen(long_name), 259);
    ok(mc_host_check_dns, "istiod.istio-system.svc");
    ok(mc_host_check_dns, "*.example.com");
    ok(mc_host_check_dns, "Example.COM");
    ok(mc_host_check_dns, "xn--bcher-kva.example");
    ok(mc_host_check_dns, "localhost");
    assert_int_equal(mc_host_check_dns("a..b", &err), MC_EINVAL);
    assert_string_equal(err.msg, "\"a..b\" is not a valid DNS name");
    bad(mc_host_check_dns, "-a.com", "not a valid DNS name");
    bad(mc_host_check_dns, "a_b.com", "not a valid DNS name");
    bad(mc_host_check_dns, "*", "not a valid DNS name");
    bad(mc_host_check_dns, "*.", "not a valid DNS name");
    bad(mc_host_check_dns, "a.*.com", "not a valid DNS name");
    bad(mc_host_check_dns, "example.com.", "not a valid DNS name");
    bad(mc_host_check_dns, "", "empty DNS name");
    bad(mc_host_check_dns, label64, "not a valid DNS name");
    bad(mc_host_check_dns, long_name, "longer than 253");
    free(label64);
}

static void test_ip_and_uri(void **state)
{
    (void)state;
    ok(mc_host_check_ip, "10.0.0.1");
    ok(mc_host_check_ip, "::1");
    ok(mc_host_check_ip, "fe80::1");
    ok(mc_host_check_ip, "2001:db8::8a2e:370:7334");
    bad(mc_host_check_ip, "256.0.0.1", "not a valid IP address");
    bad(mc_host_check_ip, "1.2.3", "not a valid IP address");
    bad(mc_host_check_ip, "::g", "not a valid IP address");
    ok(mc_host_check_uri, "spiffe://cluster.local/ns/istio-system/sa/istiod");
    ok(mc_host_check_uri, "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66");
    ok(mc_host_check_uri, "https://mesh.example/x?y=1");
    bad(mc_host_check_uri, "no-scheme", "no scheme");
    bad(mc_host_check_uri, "1abc:x", "no scheme");
    bad(mc_host_check_uri, "spiffe:", "nothing after the scheme");
    bad(mc_host_check_uri, "spiffe:///ns/x", "not a valid SPIFFE ID");
    bad(mc_host_check_uri, "spiffe:cluster.local", "not a valid SPIFFE ID");
    bad(mc_host_check_uri, "https://a b", "space or control character at offset 9");
}

static void test_host(void **state)
{
    (void)state;
    ok(validate_host, "10.1.2.3");
    ok(validate_host, "2001:db8::1");
    ok(validate_host, "spiffe://cluster.local/ns/istio-system/sa/istio-citadel");
    ok(validate_host, "istiod.istio-system.svc.cluster.local");
    bad(validate_host, "a..b", "is not a valid DNS name");
    bad(validate_host, "spiffe://", "not a valid SPIFFE ID");
    bad(validate_host, "300.1.1.1", "is not a valid DNS name");
    bad(validate_host, "1.2.3", "is not a valid DNS name");
    ok(validate_host, "300.1.1.1x");
    ok(validate_host, "123");
}

static void test_secret_key_and_object_size(void **state)
{
    (void)state;
    char *k253 = repeat('k', 253), *k254 = repeat('k', 254);
    ok(mc_validate_secret_key, "ca-cert.pem");
    ok(mc_validate_secret_key, "tls.crt");
    ok(mc_validate_secret_key, "_private");
    ok(mc_validate_secret_key, k253);
    bad(mc_validate_secret_key, "a/b", "Secret key");
    bad(mc_validate_secret_key, ".", "Secret key");
    bad(mc_validate_secret_key, "..", "Secret key");
    bad(mc_validate_secret_key, "", "Secret key");
    bad(mc_validate_secret_key, k254, "Secret key");
    free(k253);
    free(k254);

    mc_err err = {0};
    json_t *obj = api_test_json("{\"metadata\":{\"name\":\"x\"}}");
    assert_int_equal(mc_validate_object_size(obj, &err), 0);
    char *big = repeat('x', MC_VALIDATE_OBJECT_MAX);
    json_object_set_new(obj, "data", json_string(big));
    assert_int_equal(mc_validate_object_size(obj, &err), MC_ELIMIT);
    assert_non_null(strstr(err.msg, "more than the 1572864 allowed"));
    free(big);
    json_decref(obj);
}

/* ---- per-kind validators ---- */

static mc_api_issued_certificate *valid_ic(void)
{
    mc_api_issued_certificate *ic = mc_api_issued_certificate_new("istio-system", "mesh-1");
    char *hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/istiod", "istiod.istio-system.svc",
                     "10.0.0.1"};
    assert_int_equal(mc_codec_str_array_copy(hosts, 3, &ic->spec.hosts), 0);
    ic->spec.hosts_len = 3;
    ic->spec.org = strdup("Istio");
    mc_api_object_ref_set(&ic->spec.signing_certificate_secret, "service-mesh-hub", "root-ca");
    mc_api_object_ref_set(&ic->spec.issued_certificate_secret, "istio-system", "cacerts");
    assert_int_equal(mc_api_issued_certificate_validate(ic, NULL), 0);
    return ic;
}

static void assert_invalid(int rc, const mc_err *err, const char *want)
{
    if (rc == 0 || !strstr(err->msg, want))
        fprintf(stderr, "rc %d message \"%s\", want \"%s\"\n", rc, err->msg, want);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err->msg, want));
}

static void test_issued_certificate_validate(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_issued_certificate *ic = valid_ic();
    free(ic->spec.hosts[2]);
    ic->spec.hosts[2] = strdup("a..b");
    assert_int_equal(mc_api_issued_certificate_validate(ic, &err), MC_EINVAL);
    assert_string_equal(err.msg, "issuedcertificate istio-system/mesh-1: spec.hosts[2]: \"a..b\" is "
                                 "not a valid DNS name");
    mc_api_issued_certificate_free(ic);

    ic = valid_ic();
    ic->spec.hosts_len = 0;
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "issuedcertificate istio-system/mesh-1: spec.hosts: at least one host");
    ic->spec.hosts_len = 3;
    free(ic->spec.org);
    ic->spec.org = repeat('o', 65);
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err, "spec.org: longer than 64");
    free(ic->spec.org);
    ic->spec.org = repeat('o', 64);
    assert_int_equal(mc_api_issued_certificate_validate(ic, &err), 0);
    mc_api_object_ref_clear(&ic->spec.signing_certificate_secret);
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "spec.signingCertificateSecret.name: required");
    mc_api_object_ref_set(&ic->spec.signing_certificate_secret, "Bad_NS", "root");
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "spec.signingCertificateSecret.namespace: \"Bad_NS\"");
    mc_api_object_ref_set(&ic->spec.signing_certificate_secret, "ns", "root");
    mc_api_object_ref_set(&ic->spec.pod_bounce_directive, "istio-system", NULL);
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "spec.podBounceDirective.name: required when namespace is set");
    mc_api_object_ref_set(&ic->spec.pod_bounce_directive, "istio-system", "mesh-1");
    assert_int_equal(mc_api_issued_certificate_validate(ic, &err), 0);
    ic->status.observed_generation = -1;
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "status.observedGeneration: negative");
    ic->status.observed_generation = 0;
    free(ic->metadata.namespace);
    ic->metadata.namespace = NULL;
    assert_invalid(mc_api_issued_certificate_validate(ic, &err), &err,
                   "issuedcertificate mesh-1: metadata.namespace: required");
    mc_api_issued_certificate_free(ic);
}

static void test_meta_validate(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_object_meta m = {0};
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err,
                   "metadata.name: required (or generateName)");
    m.generate_name = strdup("mesh-");
    m.namespace = strdup("ns");
    assert_int_equal(mc_api_meta_validate(&m, true, false, "x", &err), 0);
    free(m.generate_name);
    m.generate_name = strdup("Mesh-");
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err, "metadata.generateName");
    free(m.generate_name);
    m.generate_name = NULL;
    m.name = strdup("a.b");
    assert_int_equal(mc_api_meta_validate(&m, true, false, "x", &err), 0);
    assert_invalid(mc_api_meta_validate(&m, true, true, "x", &err), &err,
                   "x: metadata.name: \"a.b\" is not a valid DNS-1123 label");
    assert_invalid(mc_api_meta_validate(&m, false, false, "x", &err), &err,
                   "not allowed on a cluster-scoped object");
    mc_api_str_map_set(&m.labels, "app", "-bad");
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err, "x: metadata.labels: label \"app\"");
    mc_api_str_map_clear(&m.labels);
    mc_api_str_map_set(&m.annotations, "bad key", "v");
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err, "metadata.annotations");
    mc_api_str_map_clear(&m.annotations);
    char *fin[] = {"ok.io/cleanup", "bad finalizer"};
    mc_codec_str_array_copy(fin, 2, &m.finalizers);
    m.finalizers_len = 2;
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err, "metadata.finalizers[1]");
    m.finalizers_len = 1;
    assert_int_equal(mc_api_meta_validate(&m, true, false, "x", &err), 0);
    m.finalizers_len = 2;
    mc_api_meta_clear(&m);

    json_t *j = api_test_json("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"ownerReferences\":"
                              "[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":\"p\"}]}}");
    mc_codec_ctx ctx = {"x"};
    assert_int_equal(mc_api_meta_decode(j, &m, &ctx, NULL), 0);
    assert_invalid(mc_api_meta_validate(&m, true, false, "x", &err), &err,
                   "metadata.ownerReferences[0].uid: required");
    mc_api_meta_clear(&m);
    json_decref(j);
}

static void test_certificate_request_validate(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_certificate_request *cr = mc_api_certificate_request_new("istio-system", "mesh-1");
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err,
                   "certificaterequest istio-system/mesh-1: spec.certificateSigningRequest: required");
    mc_api_certificate_request_set_csr(cr, "csr", 3);
    assert_int_equal(mc_api_certificate_request_validate(cr, &err), 0);
    char *big = repeat('c', MC_API_CSR_MAX + 1);
    mc_api_certificate_request_set_csr(cr, big, MC_API_CSR_MAX + 1);
    free(big);
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err, "more than 65536");
    mc_api_certificate_request_set_csr(cr, "csr", 3);
    cr->status.state = MC_CR_STATE_FINISHED;
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err,
                   "status.signedCertificate: required when state is FINISHED");
    mc_api_certificate_request_set_signed(cr, "cert", 4, NULL, 0);
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err, "status.signingRootCa");
    mc_api_certificate_request_set_signed(cr, "cert", 4, "root", 4);
    assert_int_equal(mc_api_certificate_request_validate(cr, &err), 0);
    cr->status.state = MC_CR_STATE_FAILED;
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err,
                   "status.error: required when state is FAILED");
    cr->status.error = strdup("boom");
    assert_int_equal(mc_api_certificate_request_validate(cr, &err), 0);
    cr->status.observed_generation = -2;
    assert_invalid(mc_api_certificate_request_validate(cr, &err), &err, "observedGeneration");
    mc_api_certificate_request_free(cr);
}

static void test_pod_bounce_validate(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_pod_bounce_directive *pbd = mc_api_pod_bounce_directive_new("istio-system", "mesh-1");
    mc_api_str_map labels = {0};
    mc_api_str_map_set(&labels, "app", "istiod");
    assert_int_equal(mc_api_pod_bounce_directive_add_selector(pbd, "istio-system", &labels), 0);
    assert_int_equal(mc_api_pod_bounce_directive_validate(pbd, &err), 0);
    assert_int_equal(mc_api_pod_bounce_directive_add_selector(pbd, NULL, &labels), 0);
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err,
                   "podbouncedirective istio-system/mesh-1: spec.podsToBounce[1].namespace: required");
    pbd->spec.pods_to_bounce[1].namespace = strdup("Bad");
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err,
                   "spec.podsToBounce[1].namespace: \"Bad\"");
    free(pbd->spec.pods_to_bounce[1].namespace);
    pbd->spec.pods_to_bounce[1].namespace = strdup("bookinfo");
    mc_api_str_map_set(&pbd->spec.pods_to_bounce[1].labels, "x", "bad value");
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err, "spec.podsToBounce[1].labels");
    mc_api_str_map_remove(&pbd->spec.pods_to_bounce[1].labels, "x");
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, "", "istio-system", "istiod-1", "u1"), 0);
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err,
                   "status.bouncedPods[0].issuance: required");
    mc_api_pod_bounce_directive_forget_others(pbd, "i1");
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, "i1", "istio-system", "Istiod", "u1"), 0);
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err, "status.bouncedPods[0].name");
    mc_api_pod_bounce_directive_forget_others(pbd, "none");
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, "i1", "istio-system", "istiod-1", ""), 0);
    assert_invalid(mc_api_pod_bounce_directive_validate(pbd, &err), &err, "status.bouncedPods[0].uid");
    mc_api_pod_bounce_directive_forget_others(pbd, "none");
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, "i1", "istio-system", "istiod-1", "u1"), 0);
    assert_int_equal(mc_api_pod_bounce_directive_validate(pbd, &err), 0);
    mc_api_str_map_clear(&labels);
    mc_api_pod_bounce_directive_free(pbd);
}

static void test_core_validate(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_secret *s = mc_api_secret_new("istio-system", "cacerts", MC_API_SECRET_TYPE_ISSUED);
    mc_api_bytes_map_set(&s->data, "ca-cert.pem", "x", 1);
    assert_int_equal(mc_api_secret_validate(s, &err), 0);
    mc_api_bytes_map_set(&s->data, "bad/key", "x", 1);
    assert_invalid(mc_api_secret_validate(s, &err), &err, "secret istio-system/cacerts: data: Secret key \"bad/key\"");
    mc_api_bytes_map_remove(&s->data, "bad/key");
    mc_api_str_map_set(&s->string_data, "bad/key", "x");
    assert_invalid(mc_api_secret_validate(s, &err), &err, "stringData: Secret key");
    mc_api_str_map_clear(&s->string_data);
    char *big = repeat('x', MC_VALIDATE_SECRET_DATA_MAX);
    mc_api_bytes_map_set(&s->data, "big", big, MC_VALIDATE_SECRET_DATA_MAX);
    free(big);
    assert_int_equal(mc_api_secret_validate(s, &err), MC_ELIMIT);
    mc_api_bytes_map_remove(&s->data, "big");
    free(s->type);
    s->type = strdup("not a type");
    assert_invalid(mc_api_secret_validate(s, &err), &err, "type: \"not a type\"");
    mc_api_secret_free(s);
}

/* issue 14: kube-apiserver's wording of the same rules, for the server's 422s */
static void test_kube_reasons(void **state)
{
    (void)state;
    assert_null(mc_validate_qualified_name_reason("example.com/My_Name"));
    assert_string_equal(mc_validate_qualified_name_reason("/x"), "prefix part must be non-empty");
    assert_non_null(strstr(mc_validate_qualified_name_reason("bad key!"),
                           "name part must consist of alphanumeric characters"));
    assert_non_null(strstr(mc_validate_qualified_name_reason("a/b/c"),
                           "with an optional DNS subdomain prefix"));
    assert_non_null(strstr(mc_validate_qualified_name_reason("Example.com/x"),
                           "prefix part a lowercase RFC 1123 subdomain"));
    /* annotation keys are checked lower-cased */
    assert_null(mc_validate_annotation_key_reason("Example.COM/Key"));
    assert_non_null(mc_validate_annotation_key_reason("a b"));
    assert_null(mc_validate_label_value_reason(""));
    assert_non_null(strstr(mc_validate_label_value_reason("-x"), "a valid label must be"));
    assert_null(mc_validate_config_key_reason("tls.crt"));
    assert_string_equal(mc_validate_config_key_reason(".."), "must not be '..'");
    assert_string_equal(mc_validate_config_key_reason("..data"), "must not start with '..'");
    assert_non_null(strstr(mc_validate_config_key_reason("a/b"), "a valid config key"));
    /* the Secret key rule agrees */
    mc_err err = {0};
    assert_int_equal(mc_validate_secret_key("..data", &err), MC_EINVAL);
    /* annotations: an upper-case prefix is fine once lower-cased */
    mc_api_str_map m = {0};
    mc_api_str_map_set(&m, "Example.COM/Key", "x");
    assert_int_equal(mc_validate_annotations(&m, &err), 0);
    mc_api_str_map_clear(&m);
}

static void test_depth(void **state)
{
    (void)state;
    mc_err err = {0};
    json_t *v = json_integer(1);
    for (int i = 0; i < 5; i++)
        v = json_pack("{s:o}", "a", v);
    assert_int_equal(mc_validate_depth(v, 5, &err), 0);
    assert_int_equal(mc_validate_depth(v, 4, &err), MC_ELIMIT);
    assert_non_null(strstr(err.msg, "exceeded max depth"));
    json_decref(v);
    json_t *s = json_string("x");
    assert_int_equal(mc_validate_depth(s, 0, &err), 0);
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns1123_label),
        cmocka_unit_test(test_dns1123_subdomain),
        cmocka_unit_test(test_qualified_name),
        cmocka_unit_test(test_label_value),
        cmocka_unit_test(test_labels_and_annotations),
        cmocka_unit_test(test_dns_name),
        cmocka_unit_test(test_ip_and_uri),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_secret_key_and_object_size),
        cmocka_unit_test(test_issued_certificate_validate),
        cmocka_unit_test(test_meta_validate),
        cmocka_unit_test(test_certificate_request_validate),
        cmocka_unit_test(test_pod_bounce_validate),
        cmocka_unit_test(test_core_validate),
        cmocka_unit_test(test_kube_reasons),
        cmocka_unit_test(test_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
