/* server_api_test.c - meshcert server over real HTTPS, as a client sees it:
 * authentication, the verbs and their errors, paging, selectors, the status
 * subresource and generation, finalizers, owner cascade, watch (resume, 410,
 * bookmarks, timeout), bad input that must write nothing, and durability
 * across kill -9. The server runs as a separate process (server_process.c).
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
#include <sys/wait.h>

#include "server_client.h"

static server_process g_server;

#define C1 "/clusters/c1"

static const char crd_json[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
    "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
    "\"kind\":\"Widget\",\"listKind\":\"WidgetList\",\"shortNames\":[\"wd\"]},"
    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"},"
    "\"color\":{\"type\":\"string\"}}},"
    "\"status\":{\"type\":\"object\",\"properties\":{\"state\":{\"type\":\"string\"}}}}}}}]}}";

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--cluster",           "c1", "--cluster", "c2", "--history", "40",
                          "--bookmark-interval", "1s", NULL};
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

static void expect(const char *method, const char *path, const char *body, long want,
                   const char *reason)
{
    http_reply r;
    server_client_call_expect(&g_server, "c1", method, path, body, NULL, want, &r);
    if (reason)
        server_client_assert_status(&r, method, path, reason);
    http_reply_free(&r);
}

static void create_configmap(const char *ns, const char *name, const char *labels)
{
    char body[1024], path[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{%s}},\"data\":{\"k\":\"v\"}}",
             name, labels ? labels : "");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
    expect("POST", path, body, 201, NULL);
}

static void create_namespace(const char *name)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", name);
    expect("POST", "/api/v1/namespaces", body, 201, NULL);
}

/* ---- tests ---- */

static void test_authentication(void **state)
{
    (void)state;
    http_reply r;
    assert_int_equal(http_do(&g_server, NULL, "GET", C1 "/api/v1/namespaces", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "Unauthorized");
    http_reply_free(&r);
    assert_int_equal(http_do(&g_server, "wrong", "GET", C1 "/api/v1/namespaces", NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 401);
    http_reply_free(&r);
    /* c2's token does not open c1. */
    assert_int_equal(http_do(&g_server, server_token(&g_server, "c2"), "GET",
                             C1 "/api/v1/namespaces", NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 401);
    http_reply_free(&r);
    assert_int_equal(http_do(&g_server, server_token(&g_server, "c2"), "GET",
                             "/clusters/c2/api/v1/namespaces/default", NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
}

static void test_create_get_conflict_delete(void **state)
{
    (void)state;
    create_namespace("crud");
    const char *secret = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                         "\"s1\"},\"type\":\"Opaque\",\"stringData\":{\"a\":\"hello\"}}";
    http_reply r;
    assert_int_equal(call("POST", "/api/v1/namespaces/crud/secrets", secret, NULL, &r), 201);
    /* stringData is write-only, merged into data as base64. */
    assert_null(json_object_get(r.json, "stringData"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "data"), "a")),
                        "aGVsbG8=");
    assert_non_null(json_object_get(json_object_get(r.json, "metadata"), "uid"));
    char *rv1 = strdup(server_client_rv(r.json));
    http_reply_free(&r);
    expect("POST", "/api/v1/namespaces/crud/secrets", secret, 409, "AlreadyExists");
    expect("POST", "/api/v1/namespaces/missing/secrets", secret, 404, "NotFound");
    assert_int_equal(call("GET", "/api/v1/namespaces/crud/secrets/s1", NULL, NULL, &r), 200);
    assert_string_equal(server_client_rv(r.json), rv1);
    http_reply_free(&r);
    /* Update with a stale resourceVersion: Conflict; with the current one: OK. */
    const char *stale = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                        "\"s1\",\"resourceVersion\":\"1\"},\"data\":{\"a\":\"eA==\"}}";
    expect("PUT", "/api/v1/namespaces/crud/secrets/s1", stale, 409, "Conflict");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\","
             "\"resourceVersion\":\"%s\"},\"data\":{\"a\":\"eA==\"}}",
             rv1);
    assert_int_equal(call("PUT", "/api/v1/namespaces/crud/secrets/s1", body, NULL, &r), 200);
    assert_true(atoll(server_client_rv(r.json)) > atoll(rv1));
    http_reply_free(&r);
    free(rv1);
    expect("DELETE", "/api/v1/namespaces/crud/secrets/s1", NULL, 200, NULL);
    expect("GET", "/api/v1/namespaces/crud/secrets/s1", NULL, 404, "NotFound");
    expect("DELETE", "/api/v1/namespaces/crud/secrets/s1", NULL, 404, "NotFound");
    /* generateName */
    const char *gen = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                      "{\"generateName\":\"gen-\"}}";
    assert_int_equal(call("POST", "/api/v1/namespaces/crud/configmaps", gen, NULL, &r), 201);
    const char *name =
        json_string_value(json_object_get(json_object_get(r.json, "metadata"), "name"));
    assert_int_equal(strlen(name), 9);
    assert_true(strncmp(name, "gen-", 4) == 0);
    http_reply_free(&r);
}

static void test_paging_and_selectors(void **state)
{
    (void)state;
    create_namespace("paging");
    char name[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof(name), "cm-%02d", i);
        create_configmap("paging", name, i % 2 ? "\"parity\":\"odd\"" : "\"parity\":\"even\"");
    }
    /* Follow continue tokens: 25 objects, no duplicates, in order. */
    int seen = 0;
    char path[1024] = "/api/v1/namespaces/paging/configmaps?limit=10";
    char last[64] = "";
    for (int page = 0; page < 5; page++) {
        http_reply r;
        assert_int_equal(call("GET", path, NULL, NULL, &r), 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "kind")), "ConfigMapList");
        json_t *items = json_object_get(r.json, "items");
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            const char *n =
                json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
            assert_true(strcmp(n, last) > 0);
            snprintf(last, sizeof(last), "%s", n);
            seen++;
        }
        const char *cont =
            json_string_value(json_object_get(json_object_get(r.json, "metadata"), "continue"));
        if (!cont) {
            http_reply_free(&r);
            break;
        }
        assert_int_equal(json_array_size(items), 10);
        char *escaped = curl_easy_escape(NULL, cont, 0);
        snprintf(path, sizeof(path), "/api/v1/namespaces/paging/configmaps?limit=10&continue=%s",
                 escaped);
        curl_free(escaped);
        http_reply_free(&r);
    }
    assert_int_equal(seen, 25);
    http_reply r;
    assert_int_equal(call("GET", "/api/v1/namespaces/paging/configmaps?labelSelector=parity%3Dodd",
                          NULL, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 12);
    http_reply_free(&r);
    assert_int_equal(
        call("GET", "/api/v1/namespaces/paging/configmaps?fieldSelector=metadata.name%3Dcm-07",
             NULL, NULL, &r),
        200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    http_reply_free(&r);
    expect("GET", "/api/v1/namespaces/paging/configmaps?labelSelector=a%20in%20(", NULL, 400,
           "BadRequest");
}

static void test_status_subresource_and_generation(void **state)
{
    (void)state;
    create_namespace("gen");
    const char *w = "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                    "\"w1\"},\"spec\":{\"size\":1},\"status\":{\"state\":\"IGNORED\"}}";
    http_reply r;
    assert_int_equal(call("POST", "/apis/example.com/v1/namespaces/gen/widgets", w, NULL, &r), 201);
    assert_null(json_object_get(r.json, "status")); /* status only through /status */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "generation")), 1);
    http_reply_free(&r);
    /* A status write does not bump generation and keeps spec. */
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/gen/widgets/w1/status",
                          "{\"status\":{\"state\":\"READY\"},\"spec\":{\"size\":99}}",
                          "application/merge-patch+json", &r),
                     200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "status"), "state")), "READY");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "spec"), "size")),
                     1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "generation")), 1);
    http_reply_free(&r);
    /* A spec change bumps generation and keeps status; labels alone do not. */
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/gen/widgets/w1",
                          "{\"spec\":{\"size\":2},\"status\":{\"state\":\"NO\"}}",
                          "application/merge-patch+json", &r),
                     200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "generation")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "status"), "state")), "READY");
    http_reply_free(&r);
    assert_int_equal(
        call("PATCH", "/apis/example.com/v1/namespaces/gen/widgets/w1",
             "[{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"a\":\"b\"}}]",
             "application/json-patch+json", &r),
        200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "generation")), 2);
    http_reply_free(&r);
    /* Schema: a string where an integer belongs is Invalid; unknown fields pruned. */
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/gen/widgets/w1",
                          "{\"spec\":{\"size\":\"big\"}}", "application/merge-patch+json", &r),
                     422);
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/apis/example.com/v1/namespaces/gen/widgets/w1",
                          "{\"spec\":{\"extra\":1}}", "application/merge-patch+json", &r),
                     200);
    assert_null(json_object_get(json_object_get(r.json, "spec"), "extra"));
    http_reply_free(&r);
    assert_int_equal(call("PATCH",
                          "/apis/example.com/v1/namespaces/gen/widgets/w1?fieldValidation=Strict",
                          "{\"spec\":{\"extra\":1}}", "application/merge-patch+json", &r),
                     400);
    http_reply_free(&r);
}

static void test_finalizers_and_cascade(void **state)
{
    (void)state;
    create_namespace("fin");
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"f1\","
                     "\"finalizers\":[\"example.com/hold\"]}}";
    expect("POST", "/api/v1/namespaces/fin/configmaps", cm, 201, NULL);
    http_reply r;
    assert_int_equal(call("DELETE", "/api/v1/namespaces/fin/configmaps/f1", NULL, NULL, &r), 200);
    assert_non_null(json_object_get(json_object_get(r.json, "metadata"), "deletionTimestamp"));
    http_reply_free(&r);
    expect("GET", "/api/v1/namespaces/fin/configmaps/f1", NULL, 200, NULL);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/fin/configmaps/f1",
                          "{\"metadata\":{\"finalizers\":null}}", "application/merge-patch+json",
                          &r),
                     200);
    http_reply_free(&r);
    expect("GET", "/api/v1/namespaces/fin/configmaps/f1", NULL, 404, "NotFound");

    /* Owner references: deleting the owner deletes the dependent. */
    assert_int_equal(call("POST", "/api/v1/namespaces/fin/configmaps",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"owner\"}}",
                          NULL, &r),
                     201);
    const char *uid =
        json_string_value(json_object_get(json_object_get(r.json, "metadata"), "uid"));
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"owned\","
             "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":"
             "\"owner\",\"uid\":\"%s\"}]}}",
             uid);
    http_reply_free(&r);
    expect("POST", "/api/v1/namespaces/fin/secrets", body, 201, NULL);
    expect("DELETE", "/api/v1/namespaces/fin/configmaps/owner", NULL, 200, NULL);
    expect("GET", "/api/v1/namespaces/fin/secrets/owned", NULL, 404, "NotFound");
}

static void test_bad_input_writes_nothing(void **state)
{
    (void)state;
    create_namespace("bad");
    http_reply r;
    assert_int_equal(call("GET", "/api/v1/namespaces/bad/configmaps", NULL, NULL, &r), 200);
    const char *rv_before = server_client_rv(r.json);
    char *before = strdup(rv_before ? rv_before : "");
    http_reply_free(&r);
    expect("POST", "/api/v1/namespaces/bad/configmaps", "{not json", 400, "BadRequest");
    expect("POST", "/api/v1/namespaces/bad/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}", 400,
           "BadRequest");
    expect("POST", "/api/v1/namespaces/bad/configmaps",
           "{\"apiVersion\":\"v2\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", 400,
           "BadRequest");
    expect("POST", "/api/v1/namespaces/bad/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"Bad_Name\"}}",
           422, "Invalid");
    expect("GET", "/api/v1/namespaces/bad/nosuchthings", NULL, 404, "NotFound");
    expect("GET", "/apis/nosuch.group/v1/things", NULL, 404, "NotFound");
    size_t big_len = 3 * 1024 * 1024 + 100;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[big_len] = '\0';
    memcpy(big, "{\"a\":", 5);
    expect("POST", "/api/v1/namespaces/bad/configmaps", big, 413, "RequestEntityTooLarge");
    free(big);
    /* server-side apply: a fieldManager is required (422, as kube-apiserver), and
     * a body without kind is refused; neither creates anything */
    assert_int_equal(call("PATCH", "/api/v1/namespaces/bad/configmaps/none", "{}",
                          "application/apply-patch+yaml", &r),
                     422);
    assert_non_null(strstr(r.body, "fieldManager: Required value: is required for apply patch"));
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/bad/configmaps/none?fieldManager=t", "{}",
                          "application/apply-patch+yaml", &r),
                     400);
    http_reply_free(&r);
    assert_int_equal(call("GET", "/api/v1/namespaces/bad/configmaps", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    assert_string_equal(server_client_rv(r.json), before); /* nothing was written */
    http_reply_free(&r);
    free(before);

    /* A Secret's type is immutable (as kube-apiserver): by update and by patch. */
    expect("POST", "/api/v1/namespaces/bad/secrets",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
           "\"data\":{\"k\":\"dg==\"}}",
           201, NULL);
    assert_int_equal(call("PUT", "/api/v1/namespaces/bad/secrets/s",
                          "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                          "\"s\"},\"type\":\"kubernetes.io/tls\",\"data\":{\"k\":\"dg==\"}}",
                          NULL, &r),
                     422);
    assert_non_null(
        strstr(r.body, "type: Invalid value: \\\"kubernetes.io/tls\\\": field is immutable"));
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/bad/secrets/s", "{\"type\":\"other\"}",
                          "application/merge-patch+json", &r),
                     422);
    http_reply_free(&r);
    assert_int_equal(call("GET", "/api/v1/namespaces/bad/secrets/s", NULL, NULL, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "type")), "Opaque");
    http_reply_free(&r);
    /* the same type, other data: fine */
    expect("PUT", "/api/v1/namespaces/bad/secrets/s",
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
           "\"type\":\"Opaque\",\"data\":{\"k\":\"dw==\"}}",
           200, NULL);
}

static void test_yaml_bodies_patch_errors_deletecollection(void **state)
{
    (void)state;
    create_namespace("misc");
    http_reply r;
    /* A YAML body, as kube-apiserver accepts it. */
    assert_int_equal(call("POST", "/api/v1/namespaces/misc/configmaps",
                          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n"
                          "  labels: {batch: one}\ndata:\n  port: \"8080\"\n",
                          "application/yaml", &r),
                     201);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "data"), "port")),
                        "8080");
    http_reply_free(&r);
    assert_int_equal(call("POST", "/api/v1/namespaces/misc/configmaps",
                          "apiVersion: v1\nkind: [unclosed\n", "application/yaml", &r),
                     400);
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "YAML"));
    http_reply_free(&r);
    /* A JSON patch whose test fails, or that points nowhere: refused, nothing written. */
    assert_int_equal(call("GET", "/api/v1/namespaces/misc/configmaps/from-yaml", NULL, NULL, &r),
                     200);
    char *rv = strdup(server_client_rv(r.json));
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/misc/configmaps/from-yaml",
                          "[{\"op\":\"test\",\"path\":\"/data/port\",\"value\":\"1\"}]",
                          "application/json-patch+json", &r),
                     422);
    http_reply_free(&r);
    assert_int_equal(call("PATCH", "/api/v1/namespaces/misc/configmaps/from-yaml",
                          "[{\"op\":\"remove\",\"path\":\"/nothing/here\"}]",
                          "application/json-patch+json", &r),
                     422);
    http_reply_free(&r);
    expect("PATCH", "/api/v1/namespaces/misc/configmaps/from-yaml", NULL, 415,
           "UnsupportedMediaType");
    assert_int_equal(call("GET", "/api/v1/namespaces/misc/configmaps/from-yaml", NULL, NULL, &r),
                     200);
    assert_string_equal(server_client_rv(r.json), rv);
    http_reply_free(&r);
    free(rv);
    /* deletecollection with a selector deletes only what matches. */
    create_configmap("misc", "one-a", "\"batch\":\"one\"");
    create_configmap("misc", "two-a", "\"batch\":\"two\"");
    assert_int_equal(call("DELETE", "/api/v1/namespaces/misc/configmaps?labelSelector=batch%3Done",
                          NULL, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    http_reply_free(&r);
    assert_int_equal(call("GET", "/api/v1/namespaces/misc/configmaps", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    http_reply_free(&r);
}

/* Runs `meshcert server cluster <verb> <name> --data-dir <dir>`; its exit status. */
static int cluster_admin(const char *verb, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' server cluster %s %s --data-dir '%s' >/dev/null 2>&1",
             MESHCERT_BIN, verb, name, g_server.dir);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_clusters_added_and_removed_while_running(void **state)
{
    (void)state;
    http_reply r;
    assert_int_equal(cluster_admin("add", "east"), 0);
    char token[128];
    snprintf(token, sizeof(token), "%s", server_token(&g_server, "east"));
    assert_int_equal(strlen(token), 64);
    assert_int_equal(http_do(&g_server, token, "GET", "/clusters/east/api/v1/namespaces/default",
                             NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/east.yaml", g_server.dir);
    FILE *f = fopen(kubeconfig, "r");
    assert_non_null(f);
    fclose(f);
    assert_int_not_equal(cluster_admin("add", "east"), 0); /* already exists */
    assert_int_not_equal(cluster_admin("add", "Bad_Name"), 0);
    assert_int_equal(cluster_admin("remove", "east"), 0);
    assert_int_equal(http_do(&g_server, token, "GET", "/clusters/east/api/v1/namespaces/default",
                             NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 401);
    http_reply_free(&r);
    assert_int_not_equal(cluster_admin("remove", "east"), 0);
    /* The other clusters are untouched. */
    expect("GET", "/api/v1/namespaces/default", NULL, 200, NULL);
}

/* ---- watch ---- */

static void test_watch_events_resume_bookmarks(void **state)
{
    (void)state;
    create_namespace("watch");
    create_configmap("watch", "before", NULL);
    http_reply r;
    assert_int_equal(call("GET", "/api/v1/namespaces/watch/configmaps", NULL, NULL, &r), 200);
    char *list_rv = strdup(server_client_rv(r.json));
    http_reply_free(&r);
    /* Without resourceVersion: a synthetic ADDED for what exists. */
    server_watch w;
    server_watch_start(&w, &g_server, "c1", "/api/v1/namespaces/watch/configmaps?watch=true");
    assert_true(server_watch_until(&w, "\"name\":\"before\"", 5000));
    assert_non_null(strstr(w.data, "\"type\":\"ADDED\""));
    /* A change made by another client arrives. */
    create_configmap("watch", "live", NULL);
    assert_true(server_watch_until(&w, "\"name\":\"live\"", 5000));
    server_watch_stop(&w);
    /* From the list's resourceVersion: only what came after, then live events. */
    char path[512];
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/watch/configmaps?watch=true&resourceVersion=%s&"
             "allowWatchBookmarks=true",
             list_rv);
    server_watch_start(&w, &g_server, "c1", path);
    assert_true(server_watch_until(&w, "\"name\":\"live\"", 5000));
    assert_null(strstr(w.data, "\"name\":\"before\""));
    assert_true(server_watch_until(&w, "\"type\":\"BOOKMARK\"", 5000));
    server_watch_stop(&w);
    /* timeoutSeconds ends the stream. */
    server_watch_start(&w, &g_server, "c1",
                       "/api/v1/namespaces/watch/configmaps?watch=true&timeoutSeconds=1");
    server_watch_until(&w, "never-there", 5000);
    assert_true(w.done);
    server_watch_stop(&w);
    /* Older than the history window (40 revisions): one ERROR with 410 Expired. */
    char name[32];
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "churn-%02d", i);
        create_configmap("watch", name, NULL);
    }
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/watch/configmaps?watch=true&resourceVersion=%s", list_rv);
    server_watch_start(&w, &g_server, "c1", path);
    assert_true(server_watch_until(&w, "\"code\":410", 5000));
    assert_non_null(strstr(w.data, "\"type\":\"ERROR\""));
    assert_non_null(strstr(w.data, "\"reason\":\"Expired\""));
    server_watch_stop(&w);
    free(list_rv);
}

static void test_survives_kill_9(void **state)
{
    (void)state;
    create_namespace("durable");
    create_configmap("durable", "kept", NULL);
    server_process_kill(&g_server, 1);
    const char *args[] = {"--history", "40", "--bookmark-interval", "1s", NULL};
    assert_int_equal(server_process_start(&g_server, args), 0);
    expect("GET", "/api/v1/namespaces/durable/configmaps/kept", NULL, 200, NULL);
    /* The CRD and its resources are served again after the restart. */
    expect("GET", "/apis/example.com/v1/namespaces/gen/widgets/w1", NULL, 200, NULL);
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
        cmocka_unit_test(test_authentication),
        cmocka_unit_test(test_create_get_conflict_delete),
        cmocka_unit_test(test_paging_and_selectors),
        cmocka_unit_test(test_status_subresource_and_generation),
        cmocka_unit_test(test_finalizers_and_cascade),
        cmocka_unit_test(test_bad_input_writes_nothing),
        cmocka_unit_test(test_yaml_bodies_patch_errors_deletecollection),
        cmocka_unit_test(test_clusters_added_and_removed_while_running),
        cmocka_unit_test(test_watch_events_resume_bookmarks),
        cmocka_unit_test(test_survives_kill_9),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
