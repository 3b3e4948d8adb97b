/* server_dryrun_test.c - dryRun=All on every write verb of meshcert server,
 * over real HTTPS: create (and generateName), update, merge/JSON/strategic
 * patches, the status subresource, delete (finalizers, cascade, namespace,
 * dryRun in the DeleteOptions body), deletecollection and a CRD. For each:
 * the reply is the would-be object, validation still answers, the store is
 * unchanged (same object, same resourceVersion, same cluster revision) and a
 * watch opened before sees no event. Unsupported dryRun values get kube's 422.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_client.h"

static server_process g_server;

#define C1  "/clusters/c1"
#define NS  "/api/v1/namespaces/dry"
#define DRY "?dryRun=All"

static const char crd_json[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
    "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
    "\"kind\":\"Widget\",\"listKind\":\"WidgetList\"},"
    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"}}},"
    "\"status\":{\"type\":\"object\",\"properties\":{\"state\":{\"type\":\"string\"}}}}}}}]}}";

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--cluster", "c1", NULL};
    return server_client_setup(&g_server, args, "c1", crd_json);
}

static int teardown(void **state)
{
    (void)state;
    return server_client_teardown(&g_server);
}

/* Request on cluster c1 with its token; returns the status. */
static long call(const char *method, const char *path, const char *body, const char *type,
                 http_reply *r)
{
    return server_client_call(&g_server, "c1", method, path, body, type, r);
}

static void expect(const char *method, const char *path, const char *body, const char *type,
                   long want)
{
    http_reply r;
    server_client_call_expect(&g_server, "c1", method, path, body, type, want, &r);
    http_reply_free(&r);
}

static const json_t *meta_of(const json_t *obj)
{
    return json_object_get(obj, "metadata");
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(meta_of(obj), key));
}

/* The object at path as JSON text (sorted keys, to compare), or NULL on 404. */
static char *snapshot(const char *path)
{
    http_reply r;
    long status = call("GET", path, NULL, NULL, &r);
    char *text = status == 200 ? json_dumps(r.json, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    if (status != 200 && status != 404)
        fail_msg("GET %s: HTTP %ld", path, status);
    http_reply_free(&r);
    return text;
}

/* The cluster's revision, as a list reports it. */
static long long revision(void)
{
    http_reply r;
    assert_int_equal(call("GET", "/api/v1/namespaces", NULL, NULL, &r), 200);
    long long rev = atoll(meta_str(r.json, "resourceVersion"));
    http_reply_free(&r);
    return rev;
}

/* ---- tests ---- */

/* Every write verb with dryRun=All: the would-be object comes back, nothing
 * changes, no watcher hears anything. */
static void test_dry_run_writes_nothing(void **state)
{
    (void)state;
    expect("POST", "/api/v1/namespaces",
           "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"dry\"}}", NULL,
           201);
    expect("POST", NS "/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kept\","
           "\"labels\":{\"batch\":\"b\"}},\"data\":{\"k\":\"old\"}}",
           NULL, 201);
    expect("POST", NS "/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"held\","
           "\"finalizers\":[\"example.com/hold\"]}}",
           NULL, 201);
    http_reply r;
    assert_int_equal(call("POST", NS "/configmaps",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"owner\"}}",
                          NULL, &r),
                     201);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"owned\","
             "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":"
             "\"owner\",\"uid\":\"%s\"}]}}",
             meta_str(r.json, "uid"));
    http_reply_free(&r);
    expect("POST", NS "/secrets", body, NULL, 201);
    expect("POST", "/apis/example.com/v1/namespaces/dry/widgets",
           "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
           "\"w1\"},\"spec\":{\"size\":1}}",
           NULL, 201);

    char *kept = snapshot(NS "/configmaps/kept");
    char *held = snapshot(NS "/configmaps/held");
    char *widget = snapshot("/apis/example.com/v1/namespaces/dry/widgets/w1");
    char *owned = snapshot(NS "/secrets/owned");
    char *ns = snapshot("/api/v1/namespaces/dry");
    assert_non_null(kept);
    long long rev_before = revision();
    char path[512];
    snprintf(path, sizeof(path), NS "/configmaps?watch=true&resourceVersion=%lld", rev_before);
    server_watch w;
    server_watch_start(&w, &g_server, "c1", path);
    server_watch_until(&w, "never", 300); /* the stream is open before the writes */

    /* create: the would-be object (uid, creationTimestamp, no resourceVersion). */
    assert_int_equal(call("POST", NS "/configmaps" DRY,
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"phantom\"},\"data\":{\"a\":\"b\"}}",
                          NULL, &r),
                     201);
    assert_string_equal(meta_str(r.json, "name"), "phantom");
    assert_string_equal(meta_str(r.json, "namespace"), "dry");
    assert_non_null(meta_str(r.json, "uid"));
    assert_non_null(meta_str(r.json, "creationTimestamp"));
    assert_null(json_object_get(meta_of(r.json), "resourceVersion"));
    http_reply_free(&r);
    assert_null(snapshot(NS "/configmaps/phantom"));
    /* generateName: a name is generated, nothing is created. */
    assert_int_equal(call("POST", NS "/configmaps" DRY,
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                          "{\"generateName\":\"gen-\"}}",
                          NULL, &r),
                     201);
    const char *generated = meta_str(r.json, "name");
    assert_non_null(generated);
    assert_int_equal(strlen(generated), 9);
    snprintf(path, sizeof(path), NS "/configmaps/%s", generated);
    http_reply_free(&r);
    assert_null(snapshot(path));
    /* Validation and conflicts still answer. */
    expect("POST", NS "/configmaps" DRY,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"Bad_Name\"}}",
           NULL, 422);
    expect("POST", NS "/configmaps" DRY,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kept\"}}", NULL,
           409);
    expect("PUT", NS "/configmaps/kept" DRY,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kept\","
           "\"resourceVersion\":\"1\"}}",
           NULL, 409);

    /* update: the new data, the current resourceVersion. */
    assert_int_equal(call("GET", NS "/configmaps/kept", NULL, NULL, &r), 200);
    char *kept_rv = strdup(meta_str(r.json, "resourceVersion"));
    http_reply_free(&r);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kept\","
             "\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"put\"}}",
             kept_rv);
    assert_int_equal(call("PUT", NS "/configmaps/kept" DRY, body, NULL, &r), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "data"), "k")),
                        "put");
    assert_string_equal(meta_str(r.json, "resourceVersion"), kept_rv);
    http_reply_free(&r);
    /* the three patch types */
    static const struct {
        const char *type, *body;
    } patches[] = {
        {"application/merge-patch+json", "{\"data\":{\"k\":\"patched\"}}"},
        {"application/strategic-merge-patch+json", "{\"data\":{\"k\":\"patched\"}}"},
        {"application/json-patch+json",
         "[{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"patched\"}]"},
    };
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
        assert_int_equal(
            call("PATCH", NS "/configmaps/kept" DRY, patches[i].body, patches[i].type, &r), 200);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r.json, "data"), "k")), "patched");
        assert_string_equal(meta_str(r.json, "resourceVersion"), kept_rv);
        http_reply_free(&r);
    }
    /* the status subresource, and a spec change that would bump generation */
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/dry/widgets/w1/status" DRY,
                          "{\"status\":{\"state\":\"READY\"}}", "application/merge-patch+json", &r),
                     200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "status"), "state")), "READY");
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/dry/widgets/w1" DRY,
                          "{\"spec\":{\"size\":2}}", "application/merge-patch+json", &r),
                     200);
    assert_int_equal(json_integer_value(json_object_get(meta_of(r.json), "generation")), 2);
    http_reply_free(&r);
    expect("PATCH", "/apis/example.com/v1/namespaces/dry/widgets/w1" DRY,
           "{\"spec\":{\"size\":\"big\"}}", "application/merge-patch+json", 422);

    /* delete: the object as it is; with a finalizer, the deletionTimestamp it
     * would get; dryRun in the DeleteOptions body, as kubectl sends it. */
    assert_int_equal(call("DELETE", NS "/configmaps/kept" DRY, NULL, NULL, &r), 200);
    assert_string_equal(meta_str(r.json, "name"), "kept");
    http_reply_free(&r);
    assert_int_equal(call("DELETE", NS "/configmaps/kept",
                          "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"dryRun\":[\"All\"],"
                          "\"propagationPolicy\":\"Background\"}",
                          NULL, &r),
                     200);
    http_reply_free(&r);
    assert_int_equal(call("DELETE", NS "/configmaps/held" DRY, NULL, NULL, &r), 200);
    assert_non_null(meta_str(r.json, "deletionTimestamp"));
    http_reply_free(&r);
    expect("DELETE", NS "/configmaps/owner" DRY, NULL, NULL, 200); /* no cascade */
    expect("DELETE", NS "/configmaps/nothing" DRY, NULL, NULL, 404);
    /* deletecollection: what would go */
    assert_int_equal(
        call("DELETE", NS "/configmaps?labelSelector=batch%3Db&dryRun=All", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    http_reply_free(&r);
    expect("DELETE", "/api/v1/namespaces/dry" DRY, NULL, NULL, 200); /* contents stay */
    /* a CRD: not served afterwards */
    assert_int_equal(
        call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions" DRY,
             "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
             "\"metadata\":{\"name\":\"gadgets.example.com\"},\"spec\":{\"group\":\"example.com\","
             "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"gadgets\",\"singular\":\"gadget\","
             "\"kind\":\"Gadget\"},\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":"
             "true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}",
             NULL, &r),
        201);
    http_reply_free(&r);
    expect("GET", "/apis/example.com/v1/namespaces/dry/gadgets", NULL, NULL, 404);
    expect("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com",
           NULL, NULL, 404);

    /* Nothing changed: objects, resourceVersions, the cluster's revision. */
    char *after = snapshot(NS "/configmaps/kept");
    assert_string_equal(after, kept);
    free(after);
    after = snapshot(NS "/configmaps/held");
    assert_string_equal(after, held);
    free(after);
    after = snapshot("/apis/example.com/v1/namespaces/dry/widgets/w1");
    assert_string_equal(after, widget);
    free(after);
    after = snapshot(NS "/secrets/owned");
    assert_string_equal(after, owned);
    free(after);
    after = snapshot("/api/v1/namespaces/dry");
    assert_string_equal(after, ns);
    free(after);
    assert_int_equal(revision(), rev_before);
    /* The watch saw nothing: the first event it gets is a real write's. */
    expect("POST", NS "/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"sentinel\"}}",
           NULL, 201);
    assert_true(server_watch_until(&w, "\"name\":\"sentinel\"", 5000));
    if (server_watch_event_count(&w) != 1)
        fail_msg("the watch saw dry-run writes: %s", w.data);
    server_watch_stop(&w);
    free(kept);
    free(held);
    free(widget);
    free(owned);
    free(ns);
    free(kept_rv);
}

/* dryRun takes only "All", as kube-apiserver: anything else is a 422 naming
 * the verb's options, and nothing is written. */
static void test_unsupported_dry_run_values(void **state)
{
    (void)state;
    expect("POST", "/api/v1/namespaces",
           "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"dryval\"}}",
           NULL, 201);
    http_reply r;
    assert_int_equal(call("POST", "/api/v1/namespaces/dryval/configmaps?dryRun=true",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"x\"}}",
                          NULL, &r),
                     422);
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "Invalid");
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: "
                        "[]string{\"true\"}: supported values: \"All\"");
    json_t *cause =
        json_array_get(json_object_get(json_object_get(r.json, "details"), "causes"), 0);
    assert_string_equal(json_string_value(json_object_get(cause, "field")), "dryRun");
    assert_string_equal(json_string_value(json_object_get(cause, "reason")),
                        "FieldValueNotSupported");
    http_reply_free(&r);
    assert_null(snapshot("/api/v1/namespaces/dryval/configmaps/x"));
    /* All values are checked: one good value does not excuse a bad one. */
    assert_int_equal(call("POST", "/api/v1/namespaces/dryval/configmaps?dryRun=All&dryRun=Some",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"x\"}}",
                          NULL, &r),
                     422);
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")),
                           "[]string{\"All\", \"Some\"}"));
    http_reply_free(&r);
    expect("POST", "/api/v1/namespaces/dryval/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", NULL,
           201);
    assert_int_equal(call("PUT", "/api/v1/namespaces/dryval/configmaps/x?dryRun=",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"x\"},\"data\":{\"a\":\"b\"}}",
                          NULL, &r),
                     422);
    assert_non_null(
        strstr(json_string_value(json_object_get(r.json, "message")), "UpdateOptions.meta.k8s.io"));
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/dryval/configmaps/x?dryRun=all",
                          "{\"data\":{\"a\":\"b\"}}", "application/merge-patch+json", &r),
                     422);
    assert_non_null(
        strstr(json_string_value(json_object_get(r.json, "message")), "PatchOptions.meta.k8s.io"));
    http_reply_free(&r);
    assert_int_equal(call("DELETE", "/api/v1/namespaces/dryval/configmaps/x",
                          "{\"dryRun\":[\"Yes\"]}", NULL, &r),
                     422);
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")),
                           "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun"));
    http_reply_free(&r);
    expect("DELETE", "/api/v1/namespaces/dryval/configmaps/x?dryRun=No", NULL, NULL, 422);
    expect("DELETE", "/api/v1/namespaces/dryval/configmaps?dryRun=No", NULL, NULL, 422);
    /* still there, never written */
    assert_int_equal(call("GET", "/api/v1/namespaces/dryval/configmaps/x", NULL, NULL, &r), 200);
    assert_null(json_object_get(r.json, "data"));
    http_reply_free(&r);
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
        cmocka_unit_test(test_dry_run_writes_nothing),
        cmocka_unit_test(test_unsupported_dry_run_values),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
