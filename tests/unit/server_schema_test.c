/* server_schema_test.c - structural schema validation and pruning of custom
 * resources: kube's messages and field paths, pruning of undeclared fields
 * (never apiVersion, kind, metadata), nulls, strict mode, patterns (the
 * IssuedCertificate lifetime fields), and the structural checks of a CRD's
 * schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "server/schema.h"
#include "server_test_util.h"

/* The openAPIV3Schema of the first version of deploy/crds/<file> (new ref). */
static json_t *crd_schema(const char *file)
{
    json_t *crd = server_test_load_crd(file);
    json_t *v0 = json_array_get(json_object_get(json_object_get(crd, "spec"), "versions"), 0);
    json_t *schema = json_incref(json_object_get(json_object_get(v0, "schema"), "openAPIV3Schema"));
    json_decref(crd);
    assert_non_null(schema);
    return schema;
}

static const char test_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    " \"spec\":{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{"
    "  \"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"
    "  \"replicas\":{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":1,\"maximum\":10},"
    "  \"ratio\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true},"
    "  \"port\":{\"x-kubernetes-int-or-string\":true},"
    "  \"data\":{\"type\":\"string\",\"format\":\"byte\"},"
    "  \"tags\":{\"type\":\"array\",\"maxItems\":2,\"minItems\":1,\"items\":{\"type\":\"string\"}},"
    "  \"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "  \"free\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
    "  \"maybe\":{\"type\":\"string\",\"nullable\":true},"
    "  \"mode\":{\"type\":\"string\",\"enum\":[\"A\",\"B\"]},"
    "  \"on\":{\"type\":\"boolean\"},"
    "  \"template\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
    "   \"properties\":{\"spec\":{\"type\":\"object\"}}}"
    " }}}}";

/* Validates text against test_schema in mode; returns the object. */
static json_t *run(const char *text, int mode, int want_rc, const char *want_msg)
{
    json_t *schema = server_test_json(test_schema);
    json_t *obj = server_test_json(text);
    mc_err err = {0};
    int rc = mc_server_schema_validate(schema, obj, mode, &err);
    if (rc != want_rc || (want_msg && strcmp(err.msg, want_msg) != 0))
        fprintf(stderr, "%s\n  rc %d msg: %s\n  want %d: %s\n", text, rc, err.msg, want_rc,
                want_msg ? want_msg : "");
    assert_int_equal(rc, want_rc);
    if (want_msg)
        assert_string_equal(err.msg, want_msg);
    json_decref(schema);
    return obj;
}

static void expect_invalid(const char *text, const char *msg)
{
    json_decref(run(text, MC_SERVER_SCHEMA_PRUNE, MC_EINVAL, msg));
}

static void test_valid_and_pruned(void **state)
{
    (void)state;
    json_t *obj =
        run("{\"apiVersion\":\"example.com/v1\",\"kind\":\"W\","
            "\"metadata\":{\"name\":\"w\",\"whatever\":{\"x\":1}},"
            "\"spec\":{\"name\":\"abc\",\"replicas\":3,\"ratio\":0.5,\"port\":\"http\","
            "\"data\":\"aGk=\",\"tags\":[\"a\"],\"labels\":{\"k\":\"v\"},"
            "\"free\":{\"any\":{\"thing\":[1]}},\"maybe\":null,\"mode\":\"B\",\"on\":false,"
            "\"unknown\":1,\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
            "\"metadata\":{\"name\":\"p\"},\"spec\":{},\"extra\":1}},"
            "\"status\":{\"x\":1},\"other\":\"y\"}",
            MC_SERVER_SCHEMA_PRUNE, 0, NULL);
    json_t *want = server_test_json(
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"W\","
        "\"metadata\":{\"name\":\"w\",\"whatever\":{\"x\":1}},"
        "\"spec\":{\"name\":\"abc\",\"replicas\":3,\"ratio\":0.5,\"port\":\"http\","
        "\"data\":\"aGk=\",\"tags\":[\"a\"],\"labels\":{\"k\":\"v\"},"
        "\"free\":{\"any\":{\"thing\":[1]}},\"maybe\":null,\"mode\":\"B\",\"on\":false,"
        "\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
        "\"spec\":{}}}}");
    assert_true(json_equal(obj, want));
    json_decref(want);
    json_decref(obj);

    /* KEEP leaves undeclared fields alone */
    obj = run("{\"spec\":{\"name\":\"abc\",\"unknown\":1},\"other\":2}", MC_SERVER_SCHEMA_KEEP, 0,
              NULL);
    assert_non_null(json_object_get(obj, "other"));
    assert_non_null(json_object_get(json_object_get(obj, "spec"), "unknown"));
    json_decref(obj);
}

static void test_nulls(void **state)
{
    (void)state;
    /* non-nullable nulls are dropped (and then required fields are missing) */
    json_t *obj = run("{\"spec\":{\"name\":\"abc\",\"replicas\":null,\"tags\":null}}",
                      MC_SERVER_SCHEMA_PRUNE, 0, NULL);
    assert_null(json_object_get(json_object_get(obj, "spec"), "replicas"));
    assert_null(json_object_get(json_object_get(obj, "spec"), "tags"));
    json_decref(obj);
    expect_invalid("{\"spec\":{\"name\":null}}", "spec.name: Required value");
    json_decref(run("{\"spec\":{\"name\":\"abc\",\"replicas\":null}}", MC_SERVER_SCHEMA_KEEP,
                    MC_EINVAL,
                    "spec.replicas: Invalid value: \"null\": spec.replicas in body must be of type "
                    "integer: \"null\""));
}

static void test_messages(void **state)
{
    (void)state;
    json_t *schema = crd_schema("issuedcertificates.yaml");
    json_t *obj = server_test_json("{\"spec\":{\"hosts\":[\"a.example.com\",7]}}");
    mc_err err = {0};
    assert_int_equal(mc_server_schema_validate(schema, obj, MC_SERVER_SCHEMA_PRUNE, &err),
                     MC_EINVAL);
    assert_string_equal(err.msg, "spec.hosts[1]: Invalid value: \"integer\": spec.hosts[1] in body "
                                 "must be of type string: \"integer\"");
    json_decref(obj);
    obj = server_test_json("{\"status\":{\"state\":\"DONE\"}}");
    assert_int_equal(mc_server_schema_validate(schema, obj, MC_SERVER_SCHEMA_PRUNE, &err),
                     MC_EINVAL);
    assert_string_equal(err.msg,
                        "status.state: Unsupported value: \"DONE\": supported values: "
                        "\"PENDING\", \"REQUESTED\", \"ISSUED\", \"FINISHED\", \"FAILED\"");
    json_decref(obj);
    obj = server_test_json("{\"status\":{\"observedGeneration\":1.5}}");
    assert_int_equal(mc_server_schema_validate(schema, obj, MC_SERVER_SCHEMA_PRUNE, &err),
                     MC_EINVAL);
    assert_non_null(strstr(err.msg, "must be of type integer: \"number\""));
    json_decref(obj);
    json_decref(schema);

    expect_invalid("{\"spec\":{}}", "spec.name: Required value");
    expect_invalid(
        "{\"spec\":[]}",
        "spec: Invalid value: \"array\": spec in body must be of type object: \"array\"");
    expect_invalid(
        "[]", "body: Invalid value: \"array\": body in body must be of type object: \"array\"");
    expect_invalid(
        "{\"spec\":{\"name\":\"a\"}}",
        "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long");
    expect_invalid("{\"spec\":{\"name\":\"abcdef\"}}",
                   "spec.name: Too long: may not be more than 5 bytes");
    /* runes, not bytes */
    json_decref(
        run("{\"spec\":{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}}", MC_SERVER_SCHEMA_PRUNE, 0, NULL));
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"replicas\":0}}",
                   "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than "
                   "or equal to 1");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"replicas\":11}}",
                   "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or "
                   "equal to 10");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"ratio\":0}}",
                   "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"port\":true}}",
                   "spec.port: Invalid value: \"boolean\": spec.port in body must be of type "
                   "integer,string: \"boolean\"");
    json_decref(run("{\"spec\":{\"name\":\"ab\",\"port\":8080}}", MC_SERVER_SCHEMA_PRUNE, 0, NULL));
    expect_invalid(
        "{\"spec\":{\"name\":\"ab\",\"data\":\"a b\"}}",
        "spec.data: Invalid value: \"a b\": spec.data in body must be of type byte: \"a b\"");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"tags\":[\"a\",\"b\",\"c\"]}}",
                   "spec.tags: Too many: 3: must have at most 2 items");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"tags\":[]}}",
                   "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"labels\":{\"k\":1}}}",
                   "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of "
                   "type string: \"integer\"");
    expect_invalid("{\"spec\":{\"name\":\"ab\",\"replicas\":3000000000}}",
                   "[spec.replicas: Invalid value: 3000000000: spec.replicas in body should be "
                   "less than or equal to 10, "
                   "spec.replicas: Invalid value: 3000000000: spec.replicas in body must be of "
                   "type int32: 3000000000]");
    expect_invalid(
        "{\"spec\":{\"name\":\"ab\",\"on\":\"true\"}}",
        "spec.on: Invalid value: \"string\": spec.on in body must be of type boolean: \"string\"");
    /* several errors: kube's aggregate form */
    expect_invalid("{\"spec\":{\"mode\":\"C\",\"on\":1}}",
                   "[spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\", "
                   "spec.on: Invalid value: \"integer\": spec.on in body must be of type boolean: "
                   "\"integer\", "
                   "spec.name: Required value]");
}

static void test_strict(void **state)
{
    (void)state;
    json_t *obj =
        run("{\"metadata\":{\"x\":1},\"spec\":{\"name\":\"ab\",\"bogus\":1,\"free\":{\"y\":2}}}",
            MC_SERVER_SCHEMA_STRICT, MC_EUNSUPPORTED,
            "strict decoding error: unknown field \"spec.bogus\"");
    assert_non_null(
        json_object_get(json_object_get(obj, "spec"), "bogus")); /* reported, not pruned */
    json_decref(obj);
    json_decref(run("{\"spec\":{\"name\":\"ab\",\"a\":1},\"b\":2}", MC_SERVER_SCHEMA_STRICT,
                    MC_EUNSUPPORTED,
                    "strict decoding error: [unknown field \"spec.a\", unknown field \"b\"]"));
    json_decref(run("{\"spec\":{\"name\":\"ab\"}}", MC_SERVER_SCHEMA_STRICT, 0, NULL));
    /* invalid values are still reported when every field is known */
    json_decref(run("{\"spec\":{\"name\":\"a\"}}", MC_SERVER_SCHEMA_STRICT, MC_EINVAL, NULL));
}

static void test_causes(void **state)
{
    (void)state;
    json_t *schema = server_test_json(test_schema);
    json_t *obj = server_test_json("{\"spec\":{\"mode\":\"C\",\"on\":1}}");
    json_t *causes = NULL;
    mc_err err = {0};
    assert_int_equal(
        mc_server_schema_validate_causes(schema, obj, MC_SERVER_SCHEMA_PRUNE, &causes, &err),
        MC_EINVAL);
    json_t *want = server_test_json(
        "[{\"reason\":\"FieldValueNotSupported\",\"field\":\"spec.mode\","
        "\"message\":\"Unsupported value: \\\"C\\\": supported values: \\\"A\\\", \\\"B\\\"\"},"
        "{\"reason\":\"FieldValueInvalid\",\"field\":\"spec.on\","
        "\"message\":\"Invalid value: \\\"integer\\\": spec.on in body must be of type boolean: "
        "\\\"integer\\\"\"},"
        "{\"reason\":\"FieldValueRequired\",\"field\":\"spec.name\",\"message\":\"Required "
        "value\"}]");
    assert_true(json_equal(causes, want));
    json_decref(want);
    json_decref(causes);
    json_decref(obj);
    /* valid, or failing strict decoding: no causes */
    obj = server_test_json("{\"spec\":{\"name\":\"ab\"}}");
    causes = (json_t *)&err; /* must be reset */
    assert_int_equal(
        mc_server_schema_validate_causes(schema, obj, MC_SERVER_SCHEMA_PRUNE, &causes, &err), 0);
    assert_null(causes);
    json_object_set_new(json_object_get(obj, "spec"), "x", json_integer(1));
    assert_int_equal(
        mc_server_schema_validate_causes(schema, obj, MC_SERVER_SCHEMA_STRICT, &causes, &err),
        MC_EUNSUPPORTED);
    assert_null(causes);
    json_decref(obj);
    json_decref(schema);
}

static void expect_schema_check(const char *schema_text, const char *msg)
{
    json_t *schema = server_test_json(schema_text);
    mc_err err = {0};
    int rc = mc_server_schema_check(schema, &err);
    if (msg == NULL) {
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", schema_text, err.msg);
        assert_int_equal(rc, 0);
    } else {
        if (rc == 0 || strcmp(err.msg, msg) != 0)
            fprintf(stderr, "%s\n  got %d %s\n  want %s\n", schema_text, rc, err.msg, msg);
        assert_int_equal(rc, MC_EINVAL);
        assert_string_equal(err.msg, msg);
    }
    json_decref(schema);
}

static void test_check(void **state)
{
    (void)state;
    const char *files[] = {"issuedcertificates.yaml", "certificaterequests.yaml",
                           "podbouncedirectives.yaml"};
    for (size_t i = 0; i < 3; i++) {
        json_t *schema = crd_schema(files[i]);
        mc_err err = {0};
        assert_int_equal(mc_server_schema_check(schema, &err), 0);
        json_decref(schema);
    }
    expect_schema_check(test_schema, NULL);
    expect_schema_check("{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}",
                        NULL);
    expect_schema_check("{}", "type: Required value: must not be empty at the root");
    expect_schema_check("{\"type\":\"string\"}",
                        "type: Invalid value: \"string\": must be object at the root");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"spec\":{\"properties\":{}}}}",
        "properties[spec].type: Required value: must not be empty for specified object fields");
    expect_schema_check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}}}",
                        "properties[a].items: Required value: must be specified");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":{}}}}",
        "properties[a].items.type: Required value: must not be empty for specified object fields");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"date\"}}}",
        "properties[a].type: Unsupported value: \"date\": supported values: \"array\", "
        "\"boolean\", \"integer\", \"number\", \"object\", \"string\"");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{},"
        "\"additionalProperties\":{\"type\":\"string\"}}}}",
        "properties[a].additionalProperties: Forbidden: additionalProperties and properties "
        "are mutual exclusive");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"object\",\"properties\":{\"x\":{}}}}}}",
        "properties[m].additionalProperties.properties[x].type: Required value: must not be "
        "empty for specified object fields");
    expect_schema_check(
        "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"properties\":{}}}}",
        "properties[s].properties: Forbidden: only allowed for type object");
    expect_schema_check("{\"type\":\"object\",\"required\":\"spec\"}",
                        "required: Invalid value: must be an array of strings");
    expect_schema_check("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
                        "\"x-kubernetes-int-or-string\":true}}}",
                        "properties[p].type: Invalid value: \"string\": must be empty if "
                        "x-kubernetes-int-or-string is true");
    expect_schema_check("[]", "openAPIV3Schema: Invalid value: must be a schema object");
    expect_schema_check("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\","
                        "\"pattern\":\"^(a\"}}}",
                        "properties[d].pattern: Invalid value: must be a valid regular expression "
                        "(POSIX extended syntax)");
    /* RE2's repetition limit, and no nesting that regcomp would expand to
     * gigabytes */
    expect_schema_check("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\","
                        "\"pattern\":\"^[a-z]{1,63}(\\\\.[a-z]{1,63})*$\"}}}",
                        NULL);
    const char *const costly[] = {"^a{1001}$", "((a{1,1000}){1,1000}){1,1000}", "(a{2,400}){300}"};
    for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++) {
        char schema[256];
        snprintf(schema, sizeof(schema),
                 "{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\","
                 "\"pattern\":\"%s\"}}}",
                 costly[i]);
        expect_schema_check(schema, "properties[d].pattern: Invalid value: must be at most 1024 "
                                    "bytes with repetition bounds of at most 1000 (together at "
                                    "most 100000)");
    }
}

/* The IssuedCertificate lifetime fields (issue 12): duration and renewBefore
 * match the CRD's pattern (Go durations in h, m, s), keyType its enum. */
#define FINGERPRINT "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_lifetime_fields(void **state)
{
    (void)state;
    json_t *schema = crd_schema("issuedcertificates.yaml");
    const char *good[] = {"{\"spec\":{\"duration\":\"8760h\",\"renewBefore\":\"1h30m\","
                          "\"keyType\":\"ec-p256\"}}",
                          "{\"spec\":{\"duration\":\"1m\",\"renewBefore\":\"20s\"}}",
                          "{\"status\":{\"notBefore\":\"2026-01-01T00:00:00Z\",\"rotation\":"
                          "\"t\",\"rootFingerprints\":[\"" FINGERPRINT "\"]}}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *obj = server_test_json(good[i]);
        json_t *copy = json_deep_copy(obj);
        mc_err err = {0};
        if (mc_server_schema_validate(schema, obj, MC_SERVER_SCHEMA_PRUNE, &err) != 0)
            fail_msg("%s: %s", good[i], err.msg);
        assert_true(json_equal(obj, copy)); /* declared: nothing pruned */
        json_decref(copy);
        json_decref(obj);
    }
    const struct {
        const char *obj, *msg;
    } bad[] = {
        {"{\"spec\":{\"duration\":\"365d\"}}",
         "spec.duration: Invalid value: \"365d\": spec.duration in body should match "
         "'^([0-9]+(h|m|s))+$'"},
        {"{\"spec\":{\"duration\":\"\"}}", "should match"},
        {"{\"spec\":{\"renewBefore\":\"1.5h\"}}", "spec.renewBefore: Invalid value: \"1.5h\""},
        {"{\"spec\":{\"duration\":\"8760h \"}}", "should match"},
        {"{\"spec\":{\"keyType\":\"rsa1024\"}}",
         "spec.keyType: Unsupported value: \"rsa1024\": supported values: \"rsa2048\", "
         "\"rsa3072\", \"rsa4096\", \"ec-p256\", \"ec-p384\""},
        {"{\"status\":{\"renewalTime\":7}}", "must be of type string"},
        {"{\"status\":{\"rootFingerprints\":[\"E3B0C442\"]}}",
         "status.rootFingerprints[0]: Invalid value: \"E3B0C442\": status.rootFingerprints[0] in "
         "body should match '^[0-9a-f]{64}$'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *obj = server_test_json(bad[i].obj);
        mc_err err = {0};
        assert_int_equal(mc_server_schema_validate(schema, obj, MC_SERVER_SCHEMA_PRUNE, &err),
                         MC_EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].obj, err.msg, bad[i].msg);
        json_decref(obj);
    }
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_pruned), cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_messages),         cmocka_unit_test(test_strict),
        cmocka_unit_test(test_causes),           cmocka_unit_test(test_check),
        cmocka_unit_test(test_lifetime_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
