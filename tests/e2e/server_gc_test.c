/* server_gc_test.c - garbage collection of dependents by the embedded
 * server, over real HTTPS (issue 14): deleting an IssuedCertificate deletes
 * the key Secret and the CertificateRequest it owns (background and
 * foreground); with propagationPolicy=Orphan they stay, their
 * ownerReference removed; a dependent with another live owner stays; the
 * dependents of an owner with finalizers go when its last finalizer does.
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
#define NS "/api/v1/namespaces/gc"
#define IC "/apis/certificates.smh.solo.io/v1alpha2/namespaces/gc/issuedcertificates"
#define CR "/apis/certificates.smh.solo.io/v1alpha2/namespaces/gc/certificaterequests"
#define SECRETS NS "/secrets"
#define CMS NS "/configmaps"

static long call(const char *method, const char *path, const char *body, const char *type,
                 http_reply *r)
{
    char full[2048];
    snprintf(full, sizeof(full), C1 "%s", path);
    if (http_do(&g_server, server_token(&g_server, "c1"), method, full, body, type, r) != 0)
        fail_msg("%s %s: no answer", method, full);
    return r->status;
}

static void expect(const char *method, const char *path, const char *body, long want)
{
    http_reply r;
    long got = call(method, path, body, NULL, &r);
    if (got != want)
        fail_msg("%s %s: HTTP %ld, want %ld: %s", method, path, got, want, r.body);
    http_reply_free(&r);
}

static int load_crd(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *text = calloc(1, 1 << 20);
    size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    http_reply r = {0};
    long status = len ? call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                             text, "application/yaml", &r)
                      : 0;
    free(text);
    http_reply_free(&r);
    return status == 201 ? 0 : -1;
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
    if (load_crd("issuedcertificates.yaml") || load_crd("certificaterequests.yaml"))
        return -1;
    http_reply r;
    long status = call("POST", "/api/v1/namespaces",
                       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"gc\"}}",
                       NULL, &r);
    http_reply_free(&r);
    return status == 201 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = server_process_stop(&g_server);
    curl_global_cleanup();
    return rc;
}

/* Creates IssuedCertificate name; its uid into uid (37 bytes). */
static void create_owner(const char *name, const char *finalizers, char *uid)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","
             "\"metadata\":{\"name\":\"%s\"%s},\"spec\":{\"hosts\":[\"a.example.com\"],\"org\":"
             "\"o\"}}",
             name, finalizers);
    http_reply r;
    if (call("POST", IC, body, NULL, &r) != 201)
        fail_msg("create %s: %s", name, r.body);
    snprintf(uid, 37, "%s",
             json_string_value(json_object_get(json_object_get(r.json, "metadata"), "uid")));
    http_reply_free(&r);
}

#define OWNER_REF(name, uid, controller)                                                          \
    "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"IssuedCertificate\","        \
    "\"name\":\"%s\",\"uid\":\"%s\",\"controller\":%s,\"blockOwnerDeletion\":true}",              \
        name, uid, controller

/* The key Secret and the CertificateRequest the agent makes for owner. */
static void create_dependents(const char *owner, const char *uid)
{
    char ref[512], body[2048];
    snprintf(ref, sizeof(ref), OWNER_REF(owner, uid, "true"));
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"certificates.smh.solo.io/"
             "generated_private_key\",\"metadata\":{\"name\":\"%s-key\",\"ownerReferences\":[%s]},"
             "\"data\":{\"private-key\":\"eA==\"}}",
             owner, ref);
    expect("POST", SECRETS, body, 201);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"certificates.smh.solo.io/v1alpha2\",\"kind\":\"CertificateRequest\","
             "\"metadata\":{\"name\":\"%s\",\"ownerReferences\":[%s]},\"spec\":{"
             "\"certificateSigningRequest\":\"eA==\"}}",
             owner, ref);
    expect("POST", CR, body, 201);
}

/* HTTP status of a GET of path/name; the object's ownerReferences count
 * into *refs when found. */
static long get_refs(const char *collection, const char *name, size_t *refs)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", collection, name);
    http_reply r;
    long status = call("GET", path, NULL, NULL, &r);
    if (refs)
        *refs = json_array_size(
            json_object_get(json_object_get(r.json, "metadata"), "ownerReferences"));
    http_reply_free(&r);
    return status;
}

static void test_background_deletes_dependents(void **state)
{
    (void)state;
    char uid[37];
    create_owner("bg", "", uid);
    create_dependents("bg", uid);
    expect("DELETE", IC "/bg", NULL, 200);
    assert_int_equal(get_refs(SECRETS, "bg-key", NULL), 404);
    assert_int_equal(get_refs(CR, "bg", NULL), 404);
}

static void test_foreground_deletes_dependents(void **state)
{
    (void)state;
    char uid[37];
    create_owner("fg", "", uid);
    create_dependents("fg", uid);
    expect("DELETE", IC "/fg", "{\"propagationPolicy\":\"Foreground\"}", 200);
    assert_int_equal(get_refs(IC, "fg", NULL), 404);
    assert_int_equal(get_refs(SECRETS, "fg-key", NULL), 404);
    assert_int_equal(get_refs(CR, "fg", NULL), 404);
}

static void test_orphan_keeps_dependents_without_reference(void **state)
{
    (void)state;
    char uid[37];
    size_t refs = 99;
    create_owner("or", "", uid);
    create_dependents("or", uid);
    expect("DELETE", IC "/or?propagationPolicy=Orphan", NULL, 200);
    assert_int_equal(get_refs(IC, "or", NULL), 404);
    assert_int_equal(get_refs(SECRETS, "or-key", &refs), 200);
    assert_int_equal(refs, 0);
    assert_int_equal(get_refs(CR, "or", &refs), 200);
    assert_int_equal(refs, 0);
}

static void test_second_owner_keeps_dependent(void **state)
{
    (void)state;
    char uid1[37], uid2[37], ref1[512], ref2[512], body[2048];
    create_owner("o1", "", uid1);
    create_owner("o2", "", uid2);
    snprintf(ref1, sizeof(ref1), OWNER_REF("o1", uid1, "true"));
    snprintf(ref2, sizeof(ref2), OWNER_REF("o2", uid2, "false"));
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"shared\","
             "\"ownerReferences\":[%s,%s]}}",
             ref1, ref2);
    expect("POST", CMS, body, 201);
    size_t refs = 0;
    expect("DELETE", IC "/o1", NULL, 200);
    assert_int_equal(get_refs(CMS, "shared", &refs), 200);
    assert_int_equal(refs, 1);
    expect("DELETE", IC "/o2", NULL, 200);
    assert_int_equal(get_refs(CMS, "shared", NULL), 404);
}

static void test_finalizer_delays_collection(void **state)
{
    (void)state;
    char uid[37];
    create_owner("fin", ",\"finalizers\":[\"example.com/hold\"]", uid);
    create_dependents("fin", uid);
    expect("DELETE", IC "/fin", NULL, 200);
    assert_int_equal(get_refs(SECRETS, "fin-key", NULL), 200);
    assert_int_equal(get_refs(CR, "fin", NULL), 200);
    http_reply r;
    long status = call("PATCH", IC "/fin", "{\"metadata\":{\"finalizers\":null}}",
                       "application/merge-patch+json", &r);
    http_reply_free(&r);
    assert_int_equal(status, 200);
    assert_int_equal(get_refs(IC, "fin", NULL), 404);
    assert_int_equal(get_refs(SECRETS, "fin-key", NULL), 404);
    assert_int_equal(get_refs(CR, "fin", NULL), 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_deletes_dependents),
        cmocka_unit_test(test_foreground_deletes_dependents),
        cmocka_unit_test(test_orphan_keeps_dependents_without_reference),
        cmocka_unit_test(test_second_owner_keeps_dependent),
        cmocka_unit_test(test_finalizer_delays_collection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
