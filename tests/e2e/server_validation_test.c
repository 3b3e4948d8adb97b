/* server_validation_test.c - requests meshcert server must refuse, over real
 * HTTPS (issue 14): DELETE with a mismatched preconditions.uid, a malformed
 * DeleteOptions body, a non-string preconditions.resourceVersion or an
 * unknown propagationPolicy deletes nothing (409/400/422); PUT with a wrong
 * metadata.uid or a non-string resourceVersion writes nothing; bad
 * resourceVersions on get/list are 400 and future ones 504 (a watch gets
 * kube's "Too large resource version" ERROR event); a URL that is not UTF-8
 * is a 400, not a 500; the "bearer" scheme is accepted in lower case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_process.h"

static server_process g_server;

#define C1 "/clusters/c1"
#define CM "/api/v1/namespaces/val/configmaps"

static long call(const char *method, const char *path, const char *body, const char *type,
                 http_reply *r)
{
    char full[2048];
    snprintf(full, sizeof(full), C1 "%s", path);
    if (http_do(&g_server, server_token(&g_server, "c1"), method, full, body, type, r) != 0)
        fail_msg("%s %s: no answer", method, full);
    return r->status;
}

/* method path body -> want; the Status message must contain needle (if any). */
static void expect(const char *method, const char *path, const char *body, const char *type,
                   long want, const char *needle)
{
    http_reply r;
    long got = call(method, path, body, type, &r);
    if (got != want)
        fail_msg("%s %s: HTTP %ld, want %ld: %s", method, path, got, want, r.body);
    if (needle && !strstr(r.body ? r.body : "", needle))
        fail_msg("%s %s: wanted \"%s\" in %s", method, path, needle, r.body);
    http_reply_free(&r);
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* The configmap's resourceVersion (static buffer), or "" when it is gone. */
static const char *rv_of(const char *name)
{
    static char rv[32];
    char path[256];
    snprintf(path, sizeof(path), CM "/%s", name);
    http_reply r;
    long status = call("GET", path, NULL, NULL, &r);
    snprintf(rv, sizeof(rv), "%s", status == 200 ? meta_str(r.json, "resourceVersion") : "");
    http_reply_free(&r);
    return rv;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *args[] = {"--cluster", "c1", NULL};
    memset(&g_server, 0, sizeof(g_server));
    if (server_process_start(&g_server, args) != 0) {
        server_process_stop(&g_server);
        return -1;
    }
    http_reply r;
    int ok = call("POST", "/api/v1/namespaces",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"val\"}}",
                  NULL, &r) == 201;
    http_reply_free(&r);
    ok = ok && call("POST", CM,
                    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                    "\"target\"},\"data\":{\"k\":\"v\"}}",
                    NULL, &r) == 201;
    http_reply_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = server_process_stop(&g_server); /* fails on leaks under ASan */
    curl_global_cleanup();
    return rc;
}

static void test_delete_refusals_delete_nothing(void **state)
{
    (void)state;
    char before[32];
    snprintf(before, sizeof(before), "%s", rv_of("target"));
    assert_true(before[0] != '\0');
    expect("DELETE", CM "/target",
           "{\"preconditions\":{\"uid\":\"00000000-0000-4000-8000-000000000000\"}}", NULL, 409,
           "the UID in the precondition (00000000-0000-4000-8000-000000000000) does not match "
           "the UID in record");
    expect("DELETE", CM "/target", "{not json", NULL, 400, NULL);
    expect("DELETE", CM "/target", "[1,2]", NULL, 400, NULL);
    expect("DELETE", CM "/target", "{\"preconditions\":{\"resourceVersion\":5}}", NULL, 400, NULL);
    expect("DELETE", CM "/target", "{\"preconditions\":\"x\"}", NULL, 400, NULL);
    expect("DELETE", CM "/target", "{\"propagationPolicy\":\"Sideways\"}", NULL, 422,
           "DeleteOptions.meta.k8s.io \\\"\\\" is invalid: propagationPolicy: Unsupported value: "
           "\\\"Sideways\\\": supported values: \\\"Foreground\\\", \\\"Background\\\", "
           "\\\"Orphan\\\", \\\"nil\\\"");
    expect("DELETE", CM "/target?propagationPolicy=Sideways", NULL, NULL, 422, "Unsupported");
    expect("DELETE", CM "?propagationPolicy=Sideways", NULL, NULL, 422, "Unsupported");
    expect("DELETE", CM "/target", "{\"preconditions\":{\"resourceVersion\":\"1\"}}", NULL, 409,
           "the ResourceVersion in the precondition (1) does not match");
    assert_string_equal(rv_of("target"), before);
    /* the right uid deletes */
    http_reply r;
    assert_int_equal(call("GET", CM "/target", NULL, NULL, &r), 200);
    char body[256];
    snprintf(body, sizeof(body), "{\"preconditions\":{\"uid\":\"%s\",\"resourceVersion\":\"%s\"}}",
             meta_str(r.json, "uid"), before);
    http_reply_free(&r);
    expect("DELETE", CM "/target", body, NULL, 200, NULL);
    assert_string_equal(rv_of("target"), "");
}

static void test_put_refusals_write_nothing(void **state)
{
    (void)state;
    expect("POST", CM,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"put\"},"
           "\"data\":{\"k\":\"v\"}}",
           NULL, 201, NULL);
    char before[32];
    snprintf(before, sizeof(before), "%s", rv_of("put"));
    expect("PUT", CM "/put",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"put\","
           "\"uid\":\"00000000-0000-4000-8000-000000000000\"},\"data\":{\"k\":\"new\"}}",
           NULL, 409, "Precondition failed: UID in precondition");
    expect("PUT", CM "/put",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"put\","
           "\"resourceVersion\":7},\"data\":{\"k\":\"new\"}}",
           NULL, 400, "metadata.resourceVersion of type string");
    expect("PATCH", CM "/put", "{\"metadata\":{\"resourceVersion\":7},\"data\":{\"k\":\"new\"}}",
           "application/merge-patch+json", 400, NULL);
    expect("PATCH", CM "/put", "{\"metadata\":{\"uid\":\"other\"},\"data\":{\"k\":\"new\"}}",
           "application/merge-patch+json", 422, "metadata.uid: Invalid value");
    expect("POST", CM, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":7}}",
           NULL, 400, NULL);
    assert_string_equal(rv_of("put"), before);
}

static void test_resource_versions_of_reads(void **state)
{
    (void)state;
    static const struct {
        const char *rv, *problem;
    } bad[] = {
        {"-1", "strconv.ParseUint: parsing \\\"-1\\\": invalid syntax"},
        {"abc", "strconv.ParseUint: parsing \\\"abc\\\": invalid syntax"},
        {"18446744073709551616", "value out of range"},
    };
    char path[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), CM "?resourceVersion=%s", bad[i].rv);
        expect("GET", path, NULL, NULL, 400, bad[i].problem);
        snprintf(path, sizeof(path), "/api/v1/namespaces/val?resourceVersion=%s", bad[i].rv);
        expect("GET", path, NULL, NULL, 400, "invalid resource version");
        snprintf(path, sizeof(path), CM "?watch=true&resourceVersion=%s", bad[i].rv);
        expect("GET", path, NULL, NULL, 400, "invalid resource version");
    }
    expect("GET", CM "?resourceVersion=0", NULL, NULL, 200, NULL);
    expect("GET", CM "?resourceVersion=1", NULL, NULL, 200, NULL);
    expect("GET", CM "?resourceVersion=99999999", NULL, NULL, 504,
           "Timeout: Too large resource version: 99999999, current: ");
    /* a watch from the future: kube's ERROR event, and the stream ends */
    http_reply r;
    assert_int_equal(call("GET", CM "?watch=true&resourceVersion=99999999", NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"type\":\"ERROR\""));
    assert_non_null(strstr(r.body, "Too large resource version: 99999999"));
    assert_non_null(strstr(r.body, "\"ResourceVersionTooLarge\""));
    assert_non_null(strstr(r.body, "\"code\":504"));
    http_reply_free(&r);
}

static void test_url_not_utf8_is_400(void **state)
{
    (void)state;
    expect("GET", CM "/%c3%28", NULL, NULL, 400, "not valid UTF-8");
    expect("GET", "/api/v1/namespaces/%ff/configmaps", NULL, NULL, 400, NULL);
    expect("GET", CM "?labelSelector=%ff", NULL, NULL, 400, NULL);
    expect("DELETE", CM "/%ff", NULL, NULL, 400, NULL);
    expect("GET", CM, NULL, NULL, 200, NULL); /* still serving */
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static void test_lowercase_bearer(void **state)
{
    (void)state;
    static const char *const schemes[] = {"bearer", "BEARER", "Bearer"};
    for (size_t i = 0; i < 3; i++) {
        char url[512], auth[256];
        snprintf(url, sizeof(url), "%s" C1 CM, g_server.base);
        snprintf(auth, sizeof(auth), "Authorization: %s %s", schemes[i],
                 server_token(&g_server, "c1"));
        struct curl_slist *headers = curl_slist_append(NULL, auth);
        CURL *curl = curl_easy_init();
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_CAINFO, g_server.ca_path);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        assert_int_equal(curl_easy_perform(curl), CURLE_OK);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
        if (status != 200)
            fail_msg("Authorization: %s <token>: HTTP %ld", schemes[i], status);
    }
}

/* ---- issue 14: validation on every write path ---- */

#define CM_OBJ(name, rest)                                                                        \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" name "\"" rest "}"
#define MERGE "application/merge-patch+json"

static void test_kind_and_api_version_cannot_change(void **state)
{
    (void)state;
    expect("POST", CM, CM_OBJ("kind", "}"), NULL, 201, NULL);
    char before[32];
    snprintf(before, sizeof(before), "%s", rv_of("kind"));
    expect("PATCH", CM "/kind", "{\"kind\":\"Secret\"}", MERGE, 422,
           "kind: Invalid value: \\\"Secret\\\": must be ConfigMap");
    expect("PATCH", CM "/kind", "{\"kind\":\"Secret\"}", "application/strategic-merge-patch+json",
           422, "must be ConfigMap");
    expect("PATCH", CM "/kind", "[{\"op\":\"remove\",\"path\":\"/apiVersion\"}]",
           "application/json-patch+json", 422, "apiVersion: Invalid value: \\\"\\\": must be v1");
    expect("PATCH", CM "/kind", "{\"apiVersion\":\"v2\"}", MERGE, 422, "must be v1");
    expect("PUT", CM "/kind",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"kind\"}}", NULL,
           400, "does not match the expected kind");
    assert_string_equal(rv_of("kind"), before);
}

static void test_object_meta_rules(void **state)
{
    (void)state;
    expect("POST", CM, CM_OBJ("m1", ",\"labels\":{\"bad key!\":\"x\"}}"), NULL, 422,
           "metadata.labels: Invalid value: \\\"bad key!\\\": name part must consist of");
    expect("POST", CM, CM_OBJ("m1", ",\"labels\":{\"app\":\"not valid!\"}}"), NULL, 422,
           "metadata.labels: Invalid value: \\\"not valid!\\\": a valid label must be an empty "
           "string");
    expect("POST", CM, CM_OBJ("m1", ",\"labels\":{\"app\":7}}"), NULL, 400,
           "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels");
    expect("POST", CM, CM_OBJ("m1", ",\"annotations\":{\"a/b/c\":\"x\"}}"), NULL, 422,
           "metadata.annotations: Invalid value: \\\"a/b/c\\\"");
    expect("POST", CM, CM_OBJ("m1", ",\"finalizers\":[\"a b\"]}"), NULL, 422,
           "metadata.finalizers: Invalid value: \\\"a b\\\"");
    expect("POST", CM,
           CM_OBJ("m1", ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                        "\"name\":\"o\"}]}"),
           NULL, 422, "metadata.ownerReferences.uid: Invalid value: \\\"\\\": must not be empty");
    expect("POST", CM,
           CM_OBJ("m1", ",\"ownerReferences\":[{\"apiVersion\":\"\",\"kind\":\"\",\"name\":\"o\","
                        "\"uid\":\"u\"}]}"),
           NULL, 422, "metadata.ownerReferences.apiVersion: Invalid value: \\\"\\\": version must "
                      "not be empty, metadata.ownerReferences.kind");
    /* 256 KiB of annotations in total */
    size_t big = 256 * 1024 + 10;
    char *body = malloc(big + 256);
    assert_non_null(body);
    int n = snprintf(body, big + 256, CM_OBJ("m1", ",\"annotations\":{\"a\":\""));
    memset(body + n, 'x', big);
    snprintf(body + n + big, 256, "\"}}}");
    expect("POST", CM, body, NULL, 422,
           "metadata.annotations: Too long: may not be more than 262144 bytes");
    free(body);
    /* an annotation key is checked lower-cased, as kube does */
    expect("POST", CM, CM_OBJ("m1", ",\"annotations\":{\"Example.COM/Key\":\"x\"}}"), NULL, 201,
           NULL);
    /* the same rules on a patch: nothing written */
    char before[32];
    snprintf(before, sizeof(before), "%s", rv_of("m1"));
    expect("PATCH", CM "/m1", "{\"metadata\":{\"labels\":{\"-x\":\"y\"}}}", MERGE, 422,
           "metadata.labels: Invalid value: \\\"-x\\\"");
    expect("PATCH", CM "/m1", "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[\"/\"]}]",
           "application/json-patch+json", 422, "metadata.finalizers");
    assert_string_equal(rv_of("m1"), before);
}

static void test_builtin_fields(void **state)
{
    (void)state;
    expect("POST", CM, CM_OBJ("b1", "},\"data\":{\"k\":1}"), NULL, 422,
           "data.k: Invalid value: \\\"integer\\\"");
    expect("POST", CM, CM_OBJ("b1", "},\"data\":{\"a b\":\"v\"}"), NULL, 422,
           "data[a b]: Invalid value: \\\"a b\\\": a valid config key must consist of");
    expect("POST", CM, CM_OBJ("b1", "},\"binaryData\":{\"k\":\"not base64!\"}"), NULL, 422,
           "binaryData.k");
    expect("POST", CM, CM_OBJ("b1", "},\"data\":{\"k\":\"v\"},\"binaryData\":{\"k\":\"eA==\"}"),
           NULL, 422, "duplicate of key present in binaryData");
    expect("POST", "/api/v1/namespaces/val/secrets",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\"},\"data\":{"
           "\"..k\":\"eA==\"}}",
           NULL, 422, "must not start with '..'");
    expect("POST", "/api/v1/namespaces/val/secrets",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\"},\"data\":{"
           "\"k\":\"%%%\"}}",
           NULL, 422, "data[k]");
    /* unknown fields: refused with Strict, dropped otherwise */
    expect("POST", CM "?fieldValidation=Strict", CM_OBJ("b1", "},\"spec\":{}"), NULL, 400,
           "ConfigMap in version \\\"v1\\\" cannot be handled as a ConfigMap: strict decoding "
           "error: unknown field \\\"spec\\\"");
    expect("POST", CM "?fieldValidation=Strict", CM_OBJ("b1", ",\"bogus\":1}"), NULL, 400,
           "unknown field \\\"metadata.bogus\\\"");
    expect("POST", CM "?fieldValidation=Sometimes", CM_OBJ("b1", "}"), NULL, 422,
           "fieldValidation: Unsupported value: \\\"Sometimes\\\"");
    http_reply r;
    assert_int_equal(call("POST", CM, CM_OBJ("b1", ",\"bogus\":1},\"spec\":{}"), NULL, &r), 201);
    assert_null(json_object_get(r.json, "spec"));
    assert_null(json_object_get(json_object_get(r.json, "metadata"), "bogus"));
    http_reply_free(&r);
    expect("PATCH", CM "/b1?fieldValidation=Strict", "{\"spec\":1}", MERGE, 400, "unknown field");
    assert_int_equal(call("PATCH", CM "/b1", "{\"spec\":1}", MERGE, &r), 200);
    assert_null(json_object_get(r.json, "spec"));
    http_reply_free(&r);
}

static size_t collect_headers(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    size_t n = size * nmemb;
    char *all = userdata;
    size_t used = strlen(all);
    if (used + n < 4096) {
        memcpy(all + used, ptr, n);
        all[used + n] = '\0';
    }
    return n;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata);

/* fieldValidation=Warn (the default): kube's 299 Warning per dropped field */
static void test_unknown_field_warnings(void **state)
{
    (void)state;
    char url[512], auth[256], headers_seen[4096] = "";
    snprintf(url, sizeof(url), "%s" C1 CM, g_server.base);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", server_token(&g_server, "c1"));
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CAINFO, g_server.ca_path);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, CM_OBJ("w1", "},\"spec\":{\"x\":1}"));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_headers);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, headers_seen);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    assert_int_equal(status, 201);
    if (!strstr(headers_seen, "Warning: 299 - \"unknown field \\\"spec\\\"\""))
        fail_msg("no Warning header: %s", headers_seen);
}

static void test_deep_json_refused(void **state)
{
    (void)state;
    static const int depths[] = {1500, 5000};
    for (size_t k = 0; k < 2; k++) {
        int depth = depths[k];
        size_t size = (size_t)depth * 8 + 256;
        char *body = malloc(size);
        assert_non_null(body);
        int n = snprintf(body, size,
                         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"deep\"},"
                         "\"spec\":");
        for (int i = 0; i < depth; i++)
            n += snprintf(body + n, size - (size_t)n, "{\"a\":");
        n += snprintf(body + n, size - (size_t)n, "1");
        for (int i = 0; i <= depth; i++)
            n += snprintf(body + n, size - (size_t)n, "}");
        expect("POST", "/api/v1/namespaces/val/pods", body, NULL, 400,
               depth < 2000 ? "exceeded max depth" : NULL);
        free(body);
    }
    expect("GET", "/api/v1/namespaces/val/pods/deep", NULL, NULL, 404, NULL);
}

/* The same check on a custom resource, through apply and /status too. */
#define ICS "/apis/certificates.smh.solo.io/v1alpha2/namespaces/val/issuedcertificates"
#define IC_OBJ(name, meta, rest)                                                                  \
    "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","        \
    "\"metadata\":{\"name\":\"" name "\"" meta "},\"spec\":{\"hosts\":[\"a.example.com\"],"       \
    "\"org\":\"o\"}" rest "}"

static void test_custom_resource_every_path(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/issuedcertificates.yaml", MC_CRD_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *crd = calloc(1, 1 << 20);
    assert_non_null(crd);
    size_t len = fread(crd, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(len > 0);
    expect("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd,
           "application/yaml", 201, NULL);
    free(crd);
    expect("POST", ICS, IC_OBJ("ic", "", ""), NULL, 201, NULL);
    http_reply r;
    assert_int_equal(call("GET", ICS "/ic", NULL, NULL, &r), 200);
    char before[32];
    snprintf(before, sizeof(before), "%s", meta_str(r.json, "resourceVersion"));
    http_reply_free(&r);
    /* patch types */
    expect("PATCH", ICS "/ic", "{\"kind\":\"Secret\",\"apiVersion\":\"v1\"}", MERGE, 422,
           "IssuedCertificate.certificates.smh.solo.io \\\"ic\\\" is invalid: [kind: Invalid "
           "value: \\\"Secret\\\": must be IssuedCertificate, apiVersion: Invalid value: "
           "\\\"v1\\\": must be certificates.smh.solo.io/v1alpha2]");
    expect("PATCH", ICS "/ic", "[{\"op\":\"replace\",\"path\":\"/kind\",\"value\":\"Pod\"}]",
           "application/json-patch+json", 422, "must be IssuedCertificate");
    expect("PATCH", ICS "/ic", "{\"metadata\":{\"labels\":{\"a\":\"b c\"}}}",
           "application/strategic-merge-patch+json", 422, "metadata.labels: Invalid value");
    /* server-side apply */
    expect("PATCH", ICS "/ic?fieldManager=t",
           IC_OBJ("ic", ",\"labels\":{\"x/y/z\":\"1\"}", ""),
           "application/apply-patch+yaml", 422, "metadata.labels: Invalid value: \\\"x/y/z\\\"");
    expect("PATCH", ICS "/ic?fieldManager=t&fieldValidation=Strict", IC_OBJ("ic", "", ",\"x\":1"),
           "application/apply-patch+yaml", 400, "unknown field \\\"x\\\"");
    /* the status subresource */
    expect("PUT", ICS "/ic/status", IC_OBJ("ic", "", ",\"status\":{\"observedGeneration\":\"x\"}"),
           NULL, 422, "status.observedGeneration");
    expect("PATCH", ICS "/ic/status", "{\"status\":{\"observedGeneration\":\"x\"}}", MERGE, 422,
           "status.observedGeneration");
    assert_int_equal(call("GET", ICS "/ic", NULL, NULL, &r), 200);
    assert_string_equal(meta_str(r.json, "resourceVersion"), before);
    assert_string_equal(json_string_value(json_object_get(r.json, "kind")), "IssuedCertificate");
    http_reply_free(&r);
}

/* 0 when `openssl s_client -<version>` completes a handshake with the server.
 * SECLEVEL=0 lets the client offer TLS 1.0/1.1 at all (OpenSSL 3 refuses them
 * at its default level), so only the server can refuse. */
static int tls_handshake(const char *version)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "timeout 20 openssl s_client -connect 127.0.0.1:%d -%s -cipher 'DEFAULT:@SECLEVEL=0' "
             "</dev/null >/dev/null 2>&1",
             g_server.port, version);
    return system(cmd);
}

/* issue 14: TLS 1.2 is the minimum, as kube-apiserver's default. */
static void test_tls_minimum_is_1_2(void **state)
{
    (void)state;
    if (system("openssl version >/dev/null 2>&1") != 0)
        skip();
    assert_int_not_equal(tls_handshake("tls1"), 0);
    assert_int_not_equal(tls_handshake("tls1_1"), 0);
    assert_int_equal(tls_handshake("tls1_2"), 0);
    assert_int_equal(tls_handshake("tls1_3"), 0);
}

/* Last: SIGTERM stops the server with exit status 0 (under ASan, a leak or a
 * memory error in the server makes it non-zero). */
static void test_server_stops_cleanly(void **state)
{
    (void)state;
    assert_int_equal(server_process_kill(&g_server, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_refusals_delete_nothing),
        cmocka_unit_test(test_put_refusals_write_nothing),
        cmocka_unit_test(test_resource_versions_of_reads),
        cmocka_unit_test(test_url_not_utf8_is_400),
        cmocka_unit_test(test_lowercase_bearer),
        cmocka_unit_test(test_tls_minimum_is_1_2),
        cmocka_unit_test(test_kind_and_api_version_cannot_change),
        cmocka_unit_test(test_object_meta_rules),
        cmocka_unit_test(test_builtin_fields),
        cmocka_unit_test(test_unknown_field_warnings),
        cmocka_unit_test(test_deep_json_refused),
        cmocka_unit_test(test_custom_resource_every_path),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
