/* api_codec_test.c - the api/ JSON codec against golden fixtures.
 *
 * Every fixture in tests/data/api/ is shaped like a real kube-apiserver
 * response, with fields meshcert does not model; decoding then encoding must
 * give back the same JSON value. Further tests check decoded values, edits
 * (only the edited fields change), omitempty behaviour and error messages.
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
#include "api/rbac.h"
#include "api/resource.h"
#include "api/root_rotation.h"
#include "api/status.h"
#include "api_test_util.h"

/* A decode+encode pair over the typed struct of one kind. */
typedef int (*roundtrip_fn)(json_t *in, json_t **out, mc_err *err);

#define ROUNDTRIP(name, type, decode, encode, release)         \
    static int name(json_t *in, json_t **out, mc_err *err)      \
    {                                                           \
        type *obj = NULL;                                       \
        int rc = decode(in, &obj, err);                         \
        if (rc == 0)                                            \
            rc = encode(obj, out, err);                         \
        release(obj);                                           \
        return rc;                                              \
    }

ROUNDTRIP(rt_ic, mc_api_issued_certificate, mc_api_issued_certificate_decode,
          mc_api_issued_certificate_encode, mc_api_issued_certificate_free)
ROUNDTRIP(rt_cr, mc_api_certificate_request, mc_api_certificate_request_decode,
          mc_api_certificate_request_encode, mc_api_certificate_request_free)
ROUNDTRIP(rt_pbd, mc_api_pod_bounce_directive, mc_api_pod_bounce_directive_decode,
          mc_api_pod_bounce_directive_encode, mc_api_pod_bounce_directive_free)
ROUNDTRIP(rt_secret, mc_api_secret, mc_api_secret_decode, mc_api_secret_encode,
          mc_api_secret_free)
ROUNDTRIP(rt_status, mc_api_status, mc_api_status_decode, mc_api_status_encode, mc_api_status_free)

static roundtrip_fn roundtrip_for_kind(const char *kind)
{
    static const struct {
        const char *kind;
        roundtrip_fn fn;
    } table[] = {
        {"IssuedCertificate", rt_ic},
        {"CertificateRequest", rt_cr},
        {"PodBounceDirective", rt_pbd},
        {"Secret", rt_secret},
        {"Status", rt_status},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].kind, kind) == 0)
            return table[i].fn;
    return NULL;
}

static void assert_roundtrip(json_t *in, roundtrip_fn fn)
{
    json_t *copy = json_deep_copy(in);
    json_t *out = NULL;
    mc_err err = {0};
    int rc = fn(in, &out, &err);
    if (rc != 0)
        fprintf(stderr, "round trip failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(api_test_json_equal(out, copy));
    assert_true(json_equal(in, copy)); /* the input was not modified */
    json_decref(out);
    json_decref(copy);
}

static void test_roundtrip_objects(void **state)
{
    (void)state;
    static const char *const files[] = {
        "issuedcertificate.json",
        "issuedcertificate-protojson.json",
        "issuedcertificate-lifetime.json",
        "certificaterequest.json",
        "podbouncedirective.json",
        "secret-cacerts.json",
        "status-notfound.json",
        "status-conflict.json",
        "status-invalid.json",
        "status-expired.json",
        "status-toomanyrequests.json",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        json_t *in = api_test_load(files[i]);
        roundtrip_fn fn = roundtrip_for_kind(json_string_value(json_object_get(in, "kind")));
        fprintf(stderr, "round trip %s\n", files[i]);
        assert_non_null(fn);
        assert_roundtrip(in, fn);
        json_decref(in);
    }
}

static mc_api_issued_certificate *load_ic(const char *file)
{
    json_t *in = api_test_load(file);
    mc_api_issued_certificate *ic = NULL;
    mc_err err = {0};
    assert_int_equal(mc_api_issued_certificate_decode(in, &ic, &err), 0);
    json_decref(in); /* ic keeps its own reference */
    return ic;
}

static void test_ic_fields(void **state)
{
    (void)state;
    mc_api_issued_certificate *ic = load_ic("issuedcertificate.json");
    assert_string_equal(ic->metadata.name, "mesh-1");
    assert_string_equal(ic->metadata.namespace, "istio-system");
    assert_string_equal(ic->metadata.resource_version, "123456");
    assert_int_equal(ic->metadata.generation, 2);
    assert_string_equal(ic->metadata.creation_timestamp, "2024-05-01T10:00:00Z");
    assert_string_equal(mc_api_str_map_get(&ic->metadata.labels, "cluster.multicluster.solo.io"),
                        "c1");
    assert_int_equal(ic->metadata.owner_references_len, 1);
    assert_string_equal(ic->metadata.owner_references[0].kind, "VirtualMesh");
    assert_true(ic->metadata.owner_references[0].controller);
    assert_true(mc_api_meta_has_finalizer(&ic->metadata, "certificates.smh.solo.io/cleanup"));
    assert_false(mc_api_meta_has_finalizer(&ic->metadata, "other"));
    assert_int_equal(ic->spec.hosts_len, 3);
    assert_string_equal(ic->spec.hosts[0], "spiffe://cluster.local/ns/istio-system/sa/istio-citadel");
    assert_string_equal(ic->spec.org, "Istio");
    assert_string_equal(ic->spec.signing_certificate_secret.name, "vm-root-ca");
    assert_string_equal(ic->spec.signing_certificate_secret.namespace, "service-mesh-hub");
    assert_string_equal(ic->spec.issued_certificate_secret.name, "cacerts");
    assert_string_equal(ic->spec.pod_bounce_directive.name, "mesh-1");
    assert_int_equal(ic->status.state, MC_IC_STATE_REQUESTED);
    assert_int_equal(ic->status.observed_generation, 2);
    assert_null(ic->status.error);
    assert_int_equal(mc_api_issued_certificate_validate(ic, NULL), 0);
    mc_api_issued_certificate_free(ic);
}

/* An edit changes exactly the edited fields; unknown ones stay. */
static void test_ic_edit_keeps_unknown(void **state)
{
    (void)state;
    mc_api_issued_certificate *ic = load_ic("issuedcertificate.json");
    json_t *before = json_deep_copy(ic->raw);
    ic->status.state = MC_IC_STATE_FAILED;
    ic->status.error = strdup("CSR signature does not verify");
    ic->status.observed_generation = 3;
    assert_int_equal(mc_api_str_map_set(&ic->metadata.labels, "extra", "yes"), 0);
    json_t *out = NULL;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);

    json_t *want = json_deep_copy(before);
    json_t *st = json_object_get(want, "status");
    json_object_set_new(st, "state", json_string("FAILED"));
    json_object_set_new(st, "error", json_string("CSR signature does not verify"));
    json_object_set_new(st, "observedGeneration", json_integer(3));
    json_object_set_new(json_object_get(json_object_get(want, "metadata"), "labels"), "extra",
                        json_string("yes"));
    assert_true(api_test_json_equal(out, want));
    /* the unknown fields are really there */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "spec"), "ttlDays")),
                     365);
    assert_non_null(json_object_get(json_object_get(out, "metadata"), "managedFields"));
    json_decref(want);
    json_decref(out);

    /* clearing fields removes their keys (omitempty) */
    free(ic->status.error);
    ic->status.error = NULL;
    ic->status.state = MC_IC_STATE_PENDING;
    mc_api_str_map_clear(&ic->metadata.labels);
    mc_api_object_ref_clear(&ic->spec.pod_bounce_directive);
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);
    assert_null(json_object_get(json_object_get(out, "status"), "error"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "status"), "state")),
                        "PENDING");
    assert_null(json_object_get(json_object_get(out, "metadata"), "labels"));
    assert_null(json_object_get(json_object_get(out, "spec"), "podBounceDirective"));
    assert_non_null(json_object_get(json_object_get(out, "status"), "conditions"));
    json_decref(out);
    json_decref(before);
    mc_api_issued_certificate_free(ic);
}

/* Objects written through protojson: int64 as strings, states from a newer writer. */
static void test_ic_protojson_and_unknown_state(void **state)
{
    (void)state;
    mc_api_issued_certificate *ic = load_ic("issuedcertificate-protojson.json");
    assert_int_equal(ic->metadata.generation, 3);
    assert_int_equal(ic->status.observed_generation, 3);
    assert_int_equal(ic->status.state, MC_IC_STATE_UNKNOWN);
    assert_null(ic->spec.pod_bounce_directive.name);
    ic->status.observed_generation = 4;
    json_t *out = NULL;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);
    json_t *st = json_object_get(out, "status");
    assert_true(json_is_integer(json_object_get(st, "observedGeneration")));
    assert_int_equal(json_integer_value(json_object_get(st, "observedGeneration")), 4);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "ROTATING");
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "metadata"),
                                                          "generation")),
                        "3");
    json_decref(out);
    mc_api_issued_certificate_free(ic);
}

static void test_ic_new_encode(void **state)
{
    (void)state;
    mc_api_issued_certificate *ic = mc_api_issued_certificate_new("istio-system", "mesh-1");
    char *hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/istiod"};
    assert_int_equal(mc_codec_str_array_copy(hosts, 1, &ic->spec.hosts), 0);
    ic->spec.hosts_len = 1;
    ic->spec.org = strdup("Istio");
    assert_int_equal(mc_api_object_ref_set(&ic->spec.signing_certificate_secret,
                                           "service-mesh-hub", "root-ca"), 0);
    assert_int_equal(mc_api_object_ref_set(&ic->spec.issued_certificate_secret, "istio-system",
                                           "cacerts"), 0);
    json_t *out = NULL;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);
    json_t *want = api_test_json(
        "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","
        "\"metadata\":{\"name\":\"mesh-1\",\"namespace\":\"istio-system\"},"
        "\"spec\":{\"hosts\":[\"spiffe://cluster.local/ns/istio-system/sa/istiod\"],"
        "\"org\":\"Istio\",\"signingCertificateSecret\":{\"name\":\"root-ca\","
        "\"namespace\":\"service-mesh-hub\"},\"issuedCertificateSecret\":{\"name\":\"cacerts\","
        "\"namespace\":\"istio-system\"}}}");
    assert_true(api_test_json_equal(out, want));
    json_decref(want);
    json_decref(out);
    ic->status.state = MC_IC_STATE_ISSUED;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "status"), "state")),
                        "ISSUED");
    json_decref(out);
    mc_api_issued_certificate_free(ic);
    mc_api_issued_certificate_free(NULL);
}

/* A decode error names the object and the field. */
static void assert_ic_decode_error(const char *text, const char *want)
{
    json_t *in = api_test_json(text);
    mc_api_issued_certificate *ic = NULL;
    mc_err err = {0};
    assert_int_equal(mc_api_issued_certificate_decode(in, &ic, &err), MC_EINVAL);
    assert_null(ic);
    if (!strstr(err.msg, want))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
    assert_non_null(strstr(err.msg, want));
    json_decref(in);
}

#define IC_HEAD "{\"kind\":\"IssuedCertificate\",\"metadata\":{\"name\":\"mesh-1\",\"namespace\":\"istio-system\""

static void test_ic_decode_errors(void **state)
{
    (void)state;
    assert_ic_decode_error(IC_HEAD "},\"spec\":{\"hosts\":\"a.example\"}}",
                           "issuedcertificate istio-system/mesh-1: spec.hosts: expected an array, got a string");
    assert_ic_decode_error(IC_HEAD "},\"spec\":{\"hosts\":[\"a\",7]}}",
                           "issuedcertificate istio-system/mesh-1: spec.hosts[1]: expected a string");
    assert_ic_decode_error(IC_HEAD "},\"spec\":{\"signingCertificateSecret\":{\"name\":1}}}",
                           "spec.signingCertificateSecret.name: expected a string");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"observedGeneration\":1.5}}",
                           "status.observedGeneration: expected an integer, got a number");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"state\":3}}", "status.state: expected a string");
    assert_ic_decode_error(IC_HEAD ",\"creationTimestamp\":\"yesterday\"}}",
                           "metadata.creationTimestamp: timestamp \"yesterday\" is not RFC 3339");
    assert_ic_decode_error(IC_HEAD ",\"labels\":{\"a\":1}}}", "metadata.labels[\"a\"]: expected a string");
    assert_ic_decode_error(IC_HEAD ",\"ownerReferences\":[{\"controller\":\"yes\"}]}}",
                           "metadata.ownerReferences[0].controller: expected a boolean");
    assert_ic_decode_error(IC_HEAD "},\"spec\":[]}", "spec: expected an object, got an array");
    assert_ic_decode_error("{\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"x\"}}",
                           "kind: expected \"IssuedCertificate\"");
    assert_ic_decode_error("{\"apiVersion\":\"certificates.smh.solo.io/v1\",\"metadata\":{\"name\":\"x\"}}",
                           "apiVersion: expected \"certificates.smh.solo.io/v1alpha2\"");
    assert_ic_decode_error("[]", "expected a JSON object");
}

/* The lifetime fields (issue 12): decoded, validated, edited and encoded
 * with omitempty; an object without them is unchanged (see test_ic_fields). */
static void test_ic_lifetime_fields(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_api_issued_certificate *ic = load_ic("issuedcertificate-lifetime.json");
    assert_string_equal(ic->spec.duration, "2160h");
    assert_string_equal(ic->spec.renew_before, "360h");
    assert_string_equal(ic->spec.key_type, "ec-p256");
    assert_string_equal(ic->status.not_before, "2026-12-01T00:00:00Z");
    assert_string_equal(ic->status.not_after, "2027-03-01T00:00:00Z");
    assert_string_equal(ic->status.renewal_time, "2027-02-12T21:13:05Z");
    assert_int_equal(ic->status.root_fingerprints_len, 2);
    assert_string_equal(ic->status.root_fingerprints[1],
                        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_string_equal(ic->status.rotation, "2026-12-02T11:00:00Z-k3f9");
    assert_string_equal(mc_api_issued_certificate_rotate_token(ic), "2026-12-02T11:00:00Z-k3f9");
    assert_int_equal(mc_api_issued_certificate_validate(ic, &err), 0);
    int64_t seconds = 0;
    assert_int_equal(mc_api_issued_certificate_duration(ic, 1, &seconds, &err), 0);
    assert_int_equal(seconds, 2160 * 3600);
    assert_int_equal(mc_api_issued_certificate_renew_before(ic, &seconds, &err), 0);
    assert_int_equal(seconds, 360 * 3600);

    /* clearing removes the keys; setting writes them */
    free(ic->spec.renew_before);
    ic->spec.renew_before = NULL;
    mc_codec_str_array_free(ic->status.root_fingerprints, ic->status.root_fingerprints_len);
    ic->status.root_fingerprints = NULL;
    ic->status.root_fingerprints_len = 0;
    free(ic->status.rotation);
    ic->status.rotation = strdup("next");
    json_t *out = NULL;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, &err), 0);
    const json_t *spec = json_object_get(out, "spec"), *st = json_object_get(out, "status");
    assert_null(json_object_get(spec, "renewBefore"));
    assert_string_equal(json_string_value(json_object_get(spec, "duration")), "2160h");
    assert_string_equal(json_string_value(json_object_get(spec, "keyType")), "ec-p256");
    assert_null(json_object_get(st, "rootFingerprints"));
    assert_string_equal(json_string_value(json_object_get(st, "rotation")), "next");
    assert_string_equal(json_string_value(json_object_get(st, "renewalTime")),
                        "2027-02-12T21:13:05Z");
    json_decref(out);
    assert_int_equal(mc_api_issued_certificate_renew_before(ic, &seconds, &err), 0);
    assert_int_equal(seconds, 0);
    mc_api_issued_certificate_free(ic);

    /* absent: the default lifetime, no token, and none of the keys written */
    ic = load_ic("issuedcertificate.json");
    assert_null(ic->spec.duration);
    assert_null(ic->status.not_before);
    assert_null(ic->status.renewal_time);
    assert_int_equal(ic->status.root_fingerprints_len, 0);
    assert_null(mc_api_issued_certificate_rotate_token(ic));
    assert_int_equal(mc_api_issued_certificate_duration(ic, 8760 * 3600, &seconds, &err), 0);
    assert_int_equal(seconds, 8760 * 3600);
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, &err), 0);
    assert_null(json_object_get(json_object_get(out, "spec"), "duration"));
    assert_null(json_object_get(json_object_get(out, "status"), "rotation"));
    json_decref(out);
    /* an empty token is no token */
    assert_int_equal(mc_api_str_map_set(&ic->metadata.annotations, MC_API_IC_ROTATE_ANNOTATION, ""),
                     0);
    assert_null(mc_api_issued_certificate_rotate_token(ic));
    mc_api_issued_certificate_free(ic);
}

/* Sets one spec field of the lifetime fixture, validates, and expects the
 * message to contain want (or success when want is NULL). */
static void assert_lifetime_validation(const char *field, const char *value, const char *want)
{
    mc_api_issued_certificate *ic = load_ic("issuedcertificate-lifetime.json");
    if (strcmp(field, "durationAlone") == 0) {
        free(ic->spec.renew_before);
        ic->spec.renew_before = NULL;
        field = "duration";
    }
    char **slot = strcmp(field, "duration") == 0      ? &ic->spec.duration
                  : strcmp(field, "renewBefore") == 0 ? &ic->spec.renew_before
                  : strcmp(field, "keyType") == 0     ? &ic->spec.key_type
                                                      : &ic->status.root_fingerprints[0];
    free(*slot);
    *slot = value ? strdup(value) : NULL;
    mc_err err = {0};
    int rc = mc_api_issued_certificate_validate(ic, &err);
    if (!want) {
        if (rc != 0)
            fprintf(stderr, "%s=%s: unexpected error %s\n", field, value, err.msg);
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, MC_EINVAL);
        if (!strstr(err.msg, want))
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "issuedcertificate istio-system/mesh-1"));
    }
    mc_api_issued_certificate_free(ic);
}

static void test_ic_lifetime_validation(void **state)
{
    (void)state;
    assert_lifetime_validation("durationAlone", "1m", NULL);
    assert_lifetime_validation("duration", "1m",
                               "spec.renewBefore: \"360h\" must be shorter than spec.duration \"1m\"");
    assert_lifetime_validation("duration", "8760h0m0s", NULL); /* Go's time.Duration.String() */
    assert_lifetime_validation("duration", "87600h", NULL);
    assert_lifetime_validation("durationAlone", "59s", "spec.duration: \"59s\" is outside 1m to 87600h");
    assert_lifetime_validation("duration", "87601h", "is outside 1m to 87600h");
    assert_lifetime_validation("duration", "soon", "spec.duration: invalid duration \"soon\"");
    assert_lifetime_validation("duration", "", "spec.duration: empty duration");
    assert_lifetime_validation("renewBefore", "2160h",
                               "spec.renewBefore: \"2160h\" must be shorter than spec.duration");
    assert_lifetime_validation("renewBefore", "1x", "spec.renewBefore: invalid duration \"1x\"");
    assert_lifetime_validation("renewBefore", "2159h", NULL);
    assert_lifetime_validation("renewBefore", NULL, NULL);
    /* renewBefore alone is only checked for syntax (the lifetime is the issuer's) */
    assert_lifetime_validation("duration", NULL, NULL);
    assert_lifetime_validation("keyType", "rsa2048", NULL);
    assert_lifetime_validation("keyType", "ec-p384", NULL);
    assert_lifetime_validation("keyType", "dsa1024", "spec.keyType: unknown key type \"dsa1024\"");
    assert_lifetime_validation("keyType", NULL, NULL);
    assert_lifetime_validation("rootFingerprints", "ABCD",
                               "status.rootFingerprints[0]: \"ABCD\" is not a SHA-256");
    assert_lifetime_validation(
        "rootFingerprints",
        "3F1C9A0B7D2E4F5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C", "lowercase hex");

    assert_ic_decode_error(IC_HEAD "},\"spec\":{\"duration\":3600}}",
                           "spec.duration: expected a string");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"renewalTime\":\"tomorrow\"}}",
                           "status.renewalTime: timestamp \"tomorrow\" is not RFC 3339");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"notBefore\":\"x\"}}", "status.notBefore");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"rootFingerprints\":\"ab\"}}",
                           "status.rootFingerprints: expected an array");
    assert_ic_decode_error(IC_HEAD "},\"status\":{\"rotation\":[]}}",
                           "status.rotation: expected a string");
}

static void test_cr_bytes(void **state)
{
    (void)state;
    json_t *in = api_test_load("certificaterequest.json");
    mc_api_certificate_request *cr = NULL;
    assert_int_equal(mc_api_certificate_request_decode(in, &cr, NULL), 0);
    assert_non_null(strstr((const char *)cr->spec.certificate_signing_request,
                           "BEGIN CERTIFICATE REQUEST"));
    assert_int_equal(cr->status.state, MC_CR_STATE_FINISHED);
    assert_non_null(strstr((const char *)cr->status.signing_root_ca, "BEGIN CERTIFICATE"));
    assert_int_equal(mc_api_certificate_request_validate(cr, NULL), 0);

    /* new status: FAILED with error, certificates cleared */
    cr->status.state = MC_CR_STATE_FAILED;
    cr->status.error = strdup("CSR does not match the IssuedCertificate hosts");
    assert_int_equal(mc_api_certificate_request_set_signed(cr, NULL, 0, NULL, 0), 0);
    json_t *out = NULL;
    assert_int_equal(mc_api_certificate_request_encode(cr, &out, NULL), 0);
    json_t *st = json_object_get(out, "status");
    assert_null(json_object_get(st, "signedCertificate"));
    assert_null(json_object_get(st, "signingRootCa"));
    assert_string_equal(json_string_value(json_object_get(st, "state")), "FAILED");
    assert_string_equal(json_string_value(json_object_get(st, "issuedAt")), "2024-05-01T10:00:03Z");
    json_decref(out);
    mc_api_certificate_request_free(cr);
    json_decref(in);

    mc_api_certificate_request *fresh = mc_api_certificate_request_new("ns", "x");
    assert_int_equal(mc_api_certificate_request_set_csr(fresh, "hello", 5), 0);
    assert_int_equal(mc_api_certificate_request_encode(fresh, &out, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "spec"),
                                                          "certificateSigningRequest")),
                        "aGVsbG8=");
    assert_null(json_object_get(out, "status"));
    json_decref(out);
    mc_api_certificate_request_free(fresh);

    mc_err err = {0};
    json_t *bad = api_test_json("{\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},"
                                "\"spec\":{\"certificateSigningRequest\":\"not base64!\"}}");
    assert_int_equal(mc_api_certificate_request_decode(bad, &cr, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "certificaterequest n/x: spec.certificateSigningRequest"));
    json_decref(bad);
}

static void test_pod_bounce_records(void **state)
{
    (void)state;
    json_t *in = api_test_load("podbouncedirective.json");
    mc_api_pod_bounce_directive *pbd = NULL;
    assert_int_equal(mc_api_pod_bounce_directive_decode(in, &pbd, NULL), 0);
    json_decref(in);
    assert_int_equal(pbd->spec.pods_to_bounce_len, 3);
    assert_string_equal(pbd->spec.pods_to_bounce[1].namespace, "istio-system");
    assert_int_equal(pbd->spec.pods_to_bounce[1].labels.len, 2);
    assert_int_equal(pbd->spec.pods_to_bounce[2].labels.len, 0);
    assert_int_equal(pbd->status.bounced_pods_len, 2);
    assert_int_equal(mc_api_pod_bounce_directive_validate(pbd, NULL), 0);

    const char *issuance = "istio-system/mesh-1@2:5c1e0d8a9b7f6e21";
    assert_true(mc_api_pod_bounce_directive_was_bounced(pbd, issuance,
                                                        "11111111-aaaa-4bbb-8ccc-000000000001"));
    assert_false(mc_api_pod_bounce_directive_was_bounced(pbd, "other",
                                                         "11111111-aaaa-4bbb-8ccc-000000000001"));
    assert_false(mc_api_pod_bounce_directive_was_bounced(pbd, issuance, "new-uid"));
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, issuance, "istio-system", "istiod-x",
                                                        "11111111-aaaa-4bbb-8ccc-000000000001"), 0);
    assert_int_equal(pbd->status.bounced_pods_len, 2); /* already recorded: no duplicate */
    assert_int_equal(mc_api_pod_bounce_directive_record(pbd, "next", "bookinfo", "reviews-1", "u3"), 0);
    assert_int_equal(pbd->status.bounced_pods_len, 3);

    json_t *out = NULL;
    assert_int_equal(mc_api_pod_bounce_directive_encode(pbd, &out, NULL), 0);
    json_t *pods = json_object_get(json_object_get(out, "status"), "bouncedPods");
    assert_int_equal(json_array_size(pods), 3);
    /* unknown members of entries stay with their entry */
    assert_string_equal(json_string_value(json_object_get(json_array_get(pods, 0), "bouncedAt")),
                        "2024-05-01T10:00:05Z");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(json_object_get(out, "spec"), "podsToBounce"), 0),
                         "waitForReplicas")),
                     1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pods, 2), "issuance")), "next");
    json_decref(out);

    assert_int_equal(mc_api_pod_bounce_directive_forget_others(pbd, "next"), 2);
    assert_int_equal(pbd->status.bounced_pods_len, 1);
    assert_string_equal(pbd->status.bounced_pods[0].name, "reviews-1");

    mc_api_str_map labels = {0};
    mc_api_str_map_set(&labels, "app", "istiod");
    mc_api_str_map_set(&labels, "version", "1");
    assert_true(mc_api_pod_selector_matches(&pbd->spec.pods_to_bounce[0], "istio-system", &labels));
    assert_false(mc_api_pod_selector_matches(&pbd->spec.pods_to_bounce[0], "default", &labels));
    assert_false(mc_api_pod_selector_matches(&pbd->spec.pods_to_bounce[1], "istio-system", &labels));
    assert_true(mc_api_pod_selector_matches(&pbd->spec.pods_to_bounce[2], "bookinfo", &labels));
    mc_api_str_map_clear(&labels);
    mc_api_pod_bounce_directive_free(pbd);

    pbd = mc_api_pod_bounce_directive_new("istio-system", "fresh");
    mc_api_str_map sel = {0};
    mc_api_str_map_set(&sel, "app", "istiod");
    assert_int_equal(mc_api_pod_bounce_directive_add_selector(pbd, "istio-system", &sel), 0);
    mc_api_str_map_clear(&sel);
    assert_int_equal(mc_api_pod_bounce_directive_encode(pbd, &out, NULL), 0);
    json_t *want = api_test_json(
        "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"PodBounceDirective\","
        "\"metadata\":{\"name\":\"fresh\",\"namespace\":\"istio-system\"},"
        "\"spec\":{\"podsToBounce\":[{\"namespace\":\"istio-system\",\"labels\":{\"app\":\"istiod\"}}]}}");
    assert_true(api_test_json_equal(out, want));
    json_decref(want);
    json_decref(out);
    mc_api_pod_bounce_directive_free(pbd);
}

static void test_secret(void **state)
{
    (void)state;
    json_t *in = api_test_load("secret-cacerts.json");
    mc_api_secret *s = NULL;
    assert_int_equal(mc_api_secret_decode(in, &s, NULL), 0);
    json_decref(in);
    assert_string_equal(s->type, MC_API_SECRET_TYPE_ISSUED);
    assert_int_equal(s->data.len, 4);
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&s->data, "ca-key.pem");
    assert_non_null(e);
    assert_non_null(strstr((const char *)e->data, "BEGIN RSA PRIVATE KEY"));
    assert_int_equal(mc_api_secret_validate(s, NULL), 0);
    mc_api_secret_free(s);

    s = mc_api_secret_new("istio-system", "cacerts", MC_API_SECRET_TYPE_TLS);
    assert_int_equal(mc_api_bytes_map_set(&s->data, "tls.crt", "abc", 3), 0);
    assert_int_equal(mc_api_str_map_set(&s->string_data, "ca.crt", "xyz"), 0);
    assert_int_equal(mc_api_str_map_set(&s->string_data, "tls.crt", "new"), 0);
    assert_int_equal(mc_api_secret_merge_string_data(s), 0);
    assert_int_equal(s->string_data.len, 0);
    assert_memory_equal(mc_api_bytes_map_get(&s->data, "tls.crt")->data, "new", 3);
    json_t *out = NULL;
    assert_int_equal(mc_api_secret_encode(s, &out, NULL), 0);
    json_t *want = api_test_json(
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"cacerts\","
        "\"namespace\":\"istio-system\"},\"type\":\"kubernetes.io/tls\","
        "\"data\":{\"tls.crt\":\"bmV3\",\"ca.crt\":\"eHl6\"}}");
    assert_true(api_test_json_equal(out, want));
    json_decref(want);
    json_decref(out);
    assert_true(mc_api_bytes_map_remove(&s->data, "ca.crt"));
    assert_false(mc_api_bytes_map_remove(&s->data, "ca.crt"));
    mc_api_secret_free(s);

    mc_err err = {0};
    json_t *bad = api_test_json("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},"
                                "\"data\":{\"k\":\"@@@\"}}");
    assert_int_equal(mc_api_secret_decode(bad, &s, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "secret n/s: data[\"k\"]"));
    json_decref(bad);
}

static void test_pod(void **state)
{
    (void)state;
    json_t *in = api_test_load("pod.json");
    mc_api_pod *pod = NULL;
    assert_int_equal(mc_api_pod_decode(in, &pod, NULL), 0);
    assert_string_equal(pod->phase, "Running");
    assert_true(pod->ready_known);
    assert_true(pod->ready);
    assert_string_equal(pod->metadata.generate_name, "istiod-7d4b9c8f6-");
    mc_api_pod_free(pod);
    json_decref(in);

    json_t *unready = api_test_json("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"status\":"
                                    "{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"Ready\","
                                    "\"status\":\"False\"}]}}");
    assert_int_equal(mc_api_pod_decode(unready, &pod, NULL), 0);
    assert_true(pod->ready_known);
    assert_false(pod->ready);
    mc_api_pod_free(pod);
    json_decref(unready);
}

static void test_status(void **state)
{
    (void)state;
    json_t *in = api_test_load("status-invalid.json");
    mc_api_status *st = NULL;
    assert_int_equal(mc_api_status_decode(in, &st, NULL), 0);
    assert_int_equal(st->code, 422);
    assert_string_equal(st->reason, "Invalid");
    assert_string_equal(st->details.kind, "IssuedCertificate");
    assert_int_equal(st->details.causes_len, 1);
    assert_string_equal(st->details.causes[0].field, "spec.hosts");
    mc_api_status_free(st);
    json_decref(in);

    in = api_test_load("status-toomanyrequests.json");
    assert_int_equal(mc_api_status_decode(in, &st, NULL), 0);
    assert_int_equal(st->details.retry_after_seconds, 1);
    mc_api_status_free(st);
    json_decref(in);

    st = mc_api_status_new(404, NULL, "issuedcertificates.certificates.smh.solo.io \"x\" not found");
    st->details.name = strdup("x");
    st->details.group = strdup("certificates.smh.solo.io");
    st->details.kind = strdup("issuedcertificates");
    json_t *out = NULL;
    assert_int_equal(mc_api_status_encode(st, &out, NULL), 0);
    json_t *want = api_test_json(
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"issuedcertificates.certificates.smh.solo.io \\\"x\\\" not found\","
        "\"reason\":\"NotFound\",\"details\":{\"name\":\"x\",\"group\":\"certificates.smh.solo.io\","
        "\"kind\":\"issuedcertificates\"},\"code\":404}");
    assert_true(api_test_json_equal(out, want));
    json_decref(want);
    json_decref(out);
    assert_int_equal(mc_api_status_add_cause(st, "FieldValueInvalid", "bad", "spec.hosts[0]"), 0);
    assert_int_equal(mc_api_status_encode(st, &out, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
                            json_object_get(out, "details"), "causes"), 0), "field")),
                        "spec.hosts[0]");
    json_decref(out);
    mc_api_status_free(st);
    assert_string_equal(mc_api_status_reason_for_code(409), "Conflict");
    assert_string_equal(mc_api_status_reason_for_code(410), "Expired");
    assert_string_equal(mc_api_status_reason_for_code(999), "Unknown");

    mc_err err = {0};
    json_t *bad = api_test_json("{\"kind\":\"Pod\"}");
    assert_int_equal(mc_api_status_decode(bad, &st, &err), MC_EINVAL);
    json_decref(bad);
}

static void test_states_and_resources(void **state)
{
    (void)state;
    static const char *const ic_states[] = {"PENDING", "REQUESTED", "ISSUED", "FINISHED", "FAILED"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mc_api_ic_state_parse(ic_states[i]), i);
        assert_string_equal(mc_api_ic_state_name((mc_ic_state)i), ic_states[i]);
    }
    assert_int_equal(mc_api_ic_state_parse("pending"), MC_IC_STATE_UNKNOWN);
    assert_int_equal(mc_api_cr_state_parse("FINISHED"), MC_CR_STATE_FINISHED);
    assert_int_equal(mc_api_cr_state_parse("ISSUED"), MC_CR_STATE_UNKNOWN);
    assert_string_equal(mc_api_cr_state_name(MC_CR_STATE_FAILED), "FAILED");

    const mc_api_resource *r = mc_api_resource_find("certificates.smh.solo.io", "v1alpha2",
                                                    "issuedcertificates");
    assert_non_null(r);
    assert_string_equal(r->kind, "IssuedCertificate");
    assert_null(mc_api_resource_find("certificates.smh.solo.io", "v1", "issuedcertificates"));
    r = mc_api_resource_by_kind("Lease");
    char av[64];
    mc_api_resource_api_version(r, av, sizeof(av));
    assert_string_equal(av, "coordination.k8s.io/v1");
    r = mc_api_resource_find("", NULL, "namespaces");
    assert_false(r->namespaced);
    mc_api_resource_api_version(r, av, sizeof(av));
    assert_string_equal(av, "v1");
}

static void test_json_parse_limits(void **state)
{
    (void)state;
    json_t *j = NULL;
    mc_err err = {0};
    const char *dup = "{\"a\":1,\"a\":2}";
    assert_int_equal(mc_api_json_parse(dup, strlen(dup), &j, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(mc_api_json_parse("{}", MC_API_JSON_MAX + 1, &j, &err), MC_ELIMIT);
    assert_int_equal(mc_api_json_parse("null", 4, &j, &err), 0);
    assert_true(json_is_null(j));
    json_decref(j);
}

/* status.conditions: decoded with unknown members kept, Ready set from the
 * state (lastTransitionTime moving only with its status), a bad time refused
 * naming the field; the seed fields keep their meaning. */
static void test_conditions(void **state)
{
    (void)state;
    mc_err err = {0};
    json_t *json = api_test_json(
        "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","
        "\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\",\"generation\":2},"
        "\"status\":{\"state\":\"REQUESTED\",\"observedGeneration\":2,\"conditions\":["
        "{\"type\":\"Synced\",\"status\":\"True\",\"lastTransitionTime\":\"2024-01-01T00:00:00Z\","
        "\"reason\":\"Ok\",\"extra\":1},"
        "{\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"2024-01-01T00:00:00Z\","
        "\"reason\":\"Requested\",\"message\":\"waiting for the issuer to sign the certificate "
        "request\",\"observedGeneration\":2}]}}");
    mc_api_issued_certificate *ic = NULL;
    assert_int_equal(mc_api_issued_certificate_decode(json, &ic, &err), 0);
    assert_int_equal(ic->status.conditions.len, 2);
    assert_true(mc_api_issued_certificate_ready_current(ic));
    /* FINISHED: True, a transition */
    ic->status.state = MC_IC_STATE_FINISHED;
    assert_false(mc_api_issued_certificate_ready_current(ic));
    assert_int_equal(mc_api_issued_certificate_set_ready(ic, 1767225600), 0);
    json_t *out = NULL;
    assert_int_equal(mc_api_issued_certificate_encode(ic, &out, &err), 0);
    const json_t *conds = json_object_get(json_object_get(out, "status"), "conditions");
    assert_int_equal(json_array_size(conds), 2);
    const json_t *synced = json_array_get(conds, 0), *ready = json_array_get(conds, 1);
    assert_int_equal(json_integer_value(json_object_get(synced, "extra")), 1);
    assert_string_equal(json_string_value(json_object_get(ready, "status")), "True");
    assert_string_equal(json_string_value(json_object_get(ready, "reason")), "Finished");
    assert_string_equal(json_string_value(json_object_get(ready, "lastTransitionTime")),
                        "2026-01-01T00:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(ready, "observedGeneration")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "status"), "state")),
                        "FINISHED");
    json_decref(out);
    /* same status later: the transition time stays */
    assert_int_equal(mc_api_issued_certificate_set_ready(ic, 1767229200), 0);
    assert_string_equal(
        mc_api_conditions_get(&ic->status.conditions, "Ready")->last_transition_time,
        "2026-01-01T00:00:00Z");
    mc_api_issued_certificate_free(ic);
    json_decref(json);

    json = api_test_json(
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\"},\"status\":{\"conditions\":["
        "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"yesterday\"}]}}");
    assert_int_equal(mc_api_issued_certificate_decode(json, &ic, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "status.conditions[0].lastTransitionTime"));
    json_decref(json);

    /* CertificateRequest: Pending, then Failed with the error */
    mc_api_certificate_request *cr = mc_api_certificate_request_new("ns", "x");
    cr->metadata.generation = 1;
    cr->status.observed_generation = 1;
    assert_int_equal(mc_api_certificate_request_set_ready(cr, 1767225600), 0);
    const mc_api_condition *c = mc_api_conditions_get(&cr->status.conditions, "Ready");
    assert_string_equal(c->status, "False");
    assert_string_equal(c->reason, "Pending");
    cr->status.state = MC_CR_STATE_FAILED;
    cr->status.error = strdup("CSR signature does not verify");
    assert_false(mc_api_certificate_request_ready_current(cr));
    assert_int_equal(mc_api_certificate_request_set_ready(cr, 1767225601), 0);
    c = mc_api_conditions_get(&cr->status.conditions, "Ready");
    assert_string_equal(c->reason, "Failed");
    assert_string_equal(c->message, "CSR signature does not verify");
    assert_string_equal(c->last_transition_time, "2026-01-01T00:00:00Z");
    assert_true(mc_api_certificate_request_ready_current(cr));
    mc_api_certificate_request_free(cr);
}

/* obj, then freed, is exactly want on the wire (compact, members in order). */
static void assert_wire(json_t *obj, const char *want)
{
    assert_non_null(obj);
    char *text = json_dumps(obj, JSON_COMPACT);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    json_decref(obj);
}

/* The builders of objects and patches meshcert writes: apiVersion and kind
 * from the resource table, fields exactly as the callers wrote them before
 * (cluster register --create-identity, the issuer's root Secret and Lease,
 * the agent's guarded delete, rotate and root abort). */
static void test_builders(void **state)
{
    (void)state;
    assert_wire(
        mc_api_object_new(MC_API_NAMESPACES, NULL, "meshcert"),
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"meshcert\"}}");
    assert_wire(mc_api_object_new(MC_API_SERVICE_ACCOUNTS, "ns", "sa"),
                "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"sa\","
                "\"namespace\":\"ns\"}}");
    assert_wire(
        mc_api_object_new(MC_API_ISSUED_CERTIFICATES, "ns", "x"),
        "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","
        "\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\"}}");
    json_t *rules = json_loads("[{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],"
                               "\"verbs\":[\"get\"]}]",
                               0, NULL);
    assert_wire(mc_api_role_new("ns", "r", rules),
                "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"Role\",\"metadata\":{"
                "\"name\":\"r\",\"namespace\":\"ns\"},\"rules\":[{\"apiGroups\":[\"\"],"
                "\"resources\":[\"secrets\"],\"verbs\":[\"get\"]}]}");
    assert_int_equal(rules->refcount, 1); /* the Role took its own reference */
    json_decref(rules);
    assert_null(mc_api_role_new("ns", "r", NULL));
    assert_wire(
        mc_api_role_binding_new("ns", "b", "r", "agents", "sa"),
        "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\",\"metadata\":{"
        "\"name\":\"b\",\"namespace\":\"ns\"},\"roleRef\":{\"apiGroup\":"
        "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"r\"},\"subjects\":[{"
        "\"kind\":\"ServiceAccount\",\"name\":\"sa\",\"namespace\":\"agents\"}]}");
    assert_wire(
        mc_api_service_account_token_secret_new("ns", "t", "sa"),
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"t\",\"namespace\":"
        "\"ns\",\"annotations\":{\"kubernetes.io/service-account.name\":\"sa\"}},\"type\":"
        "\"kubernetes.io/service-account-token\"}");
    assert_wire(
        mc_api_lease_new("ns", "l", "me", 15, "2026-01-02T03:04:05.000000Z",
                         "2026-01-02T03:04:06.000000Z", 2),
        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"
        "\"l\",\"namespace\":\"ns\"},\"spec\":{\"holderIdentity\":\"me\","
        "\"leaseDurationSeconds\":15,\"acquireTime\":\"2026-01-02T03:04:05.000000Z\","
        "\"renewTime\":\"2026-01-02T03:04:06.000000Z\",\"leaseTransitions\":2}}");
    assert_wire(mc_api_delete_options_new("42"),
                "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":{"
                "\"resourceVersion\":\"42\"}}");
    assert_wire(mc_api_delete_options_new(NULL),
                "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":{"
                "\"resourceVersion\":\"\"}}");
    assert_wire(mc_api_issued_certificate_rotate_patch("t1"),
                "{\"metadata\":{\"annotations\":{\"certificates.smh.solo.io/rotate\":\"t1\"}}}");
    assert_wire(mc_api_root_rotation_abort_patch(), "{\"spec\":{\"abort\":true}}");
    assert_wire(mc_api_event_repeat_patch(3, "2026-01-02T03:04:05Z", "m"),
                "{\"count\":3,\"lastTimestamp\":\"2026-01-02T03:04:05Z\",\"message\":\"m\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_objects),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_ic_fields),
        cmocka_unit_test(test_ic_edit_keeps_unknown),
        cmocka_unit_test(test_ic_protojson_and_unknown_state),
        cmocka_unit_test(test_ic_new_encode),
        cmocka_unit_test(test_ic_decode_errors),
        cmocka_unit_test(test_ic_lifetime_fields),
        cmocka_unit_test(test_ic_lifetime_validation),
        cmocka_unit_test(test_cr_bytes),
        cmocka_unit_test(test_pod_bounce_records),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_states_and_resources),
        cmocka_unit_test(test_json_parse_limits),
        cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
