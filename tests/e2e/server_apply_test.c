/* server_apply_test.c - server-side apply and managedFields of meshcert
 * server over real HTTPS, at the protocol level kubectl does not show: the
 * option errors in kube's shape (422 PatchOptions), the 409 Status with
 * details.causes, an apply that changes nothing writes nothing, YAML bodies,
 * the status subresource, what ordinary writes record and a client's reset
 * of managedFields. kubectl's view is in tests/kubectl/kubectl_test.sh.
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

#define C1      "/clusters/c1"
#define APPLY   "application/apply-patch+yaml"
#define WIDGETS "/apis/example.com/v1/namespaces/default/widgets"

static const char crd_json[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
    "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
    "\"kind\":\"Widget\",\"listKind\":\"WidgetList\"},"
    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"},"
    "\"color\":{\"type\":\"string\"},\"ports\":{\"type\":\"array\","
    "\"x-kubernetes-list-type\":\"map\",\"x-kubernetes-list-map-keys\":[\"name\"],"
    "\"items\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"port\":{\"type\":\"integer\"}}}}}},"
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

/* A request on cluster c1; fails the test when there is no answer or
 * another status than want. */
static long call_expect(const char *method, const char *path, const char *body, const char *type,
                        long want, http_reply *r)
{
    return server_client_call_expect(&g_server, "c1", method, path, body, type, want, r);
}

static const json_t *managed_fields(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "managedFields");
}

/* The entry of manager in obj's managedFields, or NULL. */
static const json_t *entry_of(const json_t *obj, const char *manager)
{
    size_t i;
    const json_t *e;
    json_array_foreach(managed_fields(obj), i, e)
    {
        const char *m = json_string_value(json_object_get(e, "manager"));
        if (m && strcmp(m, manager) == 0)
            return e;
    }
    return NULL;
}

static void assert_json(const json_t *value, const char *text)
{
    json_t *want = json_loads(text, 0, NULL);
    assert_non_null(want);
    if (!json_equal((json_t *)value, want)) {
        char *have = json_dumps(value, JSON_COMPACT);
        fail_msg("have %s, want %s", have ? have : "(null)", text);
    }
    json_decref(want);
}

static void test_options_are_checked_first(void **state)
{
    (void)state;
    http_reply r;
    call_expect("PATCH", WIDGETS "/w0", "{}", APPLY, 422, &r);
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                        "is required for apply patch");
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "Invalid");
    assert_json(json_object_get(r.json, "details"),
                "{\"name\":\"\",\"group\":\"meta.k8s.io\",\"kind\":\"PatchOptions\","
                "\"causes\":[{\"reason\":\"FieldValueRequired\",\"message\":\"Required value: is "
                "required for apply patch\",\"field\":\"fieldManager\"}]}");
    http_reply_free(&r);
    call_expect("PATCH", WIDGETS "/w0?force=true", "{}", "application/merge-patch+json", 422, &r);
    assert_non_null(strstr(r.body, "force: Forbidden: may not be specified for non-apply patch"));
    http_reply_free(&r);
    char long_manager[200];
    memset(long_manager, 'm', sizeof(long_manager) - 1);
    long_manager[sizeof(long_manager) - 1] = '\0';
    char path[512];
    snprintf(path, sizeof(path), WIDGETS "?fieldManager=%s", long_manager);
    call_expect("POST", path,
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"w0\"}}",
                NULL, 422, &r);
    assert_non_null(strstr(r.body, "CreateOptions.meta.k8s.io \\\"\\\" is invalid: fieldManager: "
                                   "Too long: may not be more than 128 bytes"));
    http_reply_free(&r);
    /* nothing was created by any of them */
    call_expect("GET", WIDGETS "/w0", NULL, NULL, 404, &r);
    http_reply_free(&r);
}

static void test_apply_creates_conflicts_and_noop(void **state)
{
    (void)state;
    http_reply r;
    const char *body = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
                       "  labels:\n    app: a\nspec:\n  color: red\n  ports:\n  - name: http\n"
                       "    port: 80\n";
    call_expect("PATCH", WIDGETS "/w1?fieldManager=first", body, APPLY, 201, &r);
    assert_int_equal(json_array_size(managed_fields(r.json)), 1);
    const json_t *e = entry_of(r.json, "first");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "operation")), "Apply");
    assert_string_equal(json_string_value(json_object_get(e, "apiVersion")), "example.com/v1");
    assert_string_equal(json_string_value(json_object_get(e, "fieldsType")), "FieldsV1");
    assert_non_null(json_object_get(e, "time"));
    assert_json(json_object_get(e, "fieldsV1"),
                "{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:color\":{},"
                "\"f:ports\":{\"k:{\\\"name\\\":\\\"http\\\"}\":{\".\":{},\"f:name\":{},"
                "\"f:port\":{}}}}}");
    char *rv = strdup(server_client_rv(r.json));
    http_reply_free(&r);

    /* the same apply again writes nothing */
    call_expect("PATCH", WIDGETS "/w1?fieldManager=first", body, APPLY, 200, &r);
    assert_string_equal(server_client_rv(r.json), rv);
    http_reply_free(&r);

    /* another manager: a conflict in kube's shape, and nothing written */
    const char *other = "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\","
                        "\"metadata\":{\"name\":\"w1\"},\"spec\":{\"color\":\"blue\","
                        "\"ports\":[{\"name\":\"http\",\"port\":8080}]}}";
    call_expect("PATCH", WIDGETS "/w1?fieldManager=second", other, APPLY, 409, &r);
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")), "Conflict");
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "Apply failed with 2 conflicts: conflicts with \"first\":\n- "
                        ".spec.color\n- .spec.ports[name=\"http\"].port");
    assert_json(json_object_get(r.json, "details"),
                "{\"causes\":[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with "
                "\\\"first\\\"\",\"field\":\".spec.color\"},{\"reason\":\"FieldManagerConflict\","
                "\"message\":\"conflict with \\\"first\\\"\",\"field\":\".spec.ports[name="
                "\\\"http\\\"].port\"}]}");
    http_reply_free(&r);
    call_expect("GET", WIDGETS "/w1", NULL, NULL, 200, &r);
    assert_string_equal(server_client_rv(r.json), rv);
    http_reply_free(&r);

    /* force: the fields change hands */
    call_expect("PATCH", WIDGETS "/w1?fieldManager=second&force=true", other, APPLY, 200, &r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "spec"), "color")), "blue");
    assert_json(json_object_get(entry_of(r.json, "first"), "fieldsV1"),
                "{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:ports\":{"
                "\"k:{\\\"name\\\":\\\"http\\\"}\":{\".\":{},\"f:name\":{}}}}}");
    assert_non_null(entry_of(r.json, "second"));
    http_reply_free(&r);

    /* the metadata of an apply must match the request */
    call_expect("PATCH", WIDGETS "/w1?fieldManager=first",
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"w1\",\"managedFields\":[]}}",
                APPLY, 400, &r);
    assert_non_null(strstr(r.body, "metadata.managedFields must be nil"));
    http_reply_free(&r);
    call_expect("PATCH", WIDGETS "/w1?fieldManager=first",
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"other\"}}",
                APPLY, 400, &r);
    http_reply_free(&r);
    call_expect("PATCH", "/apis/example.com/v1/namespaces/nowhere/widgets/w1?fieldManager=first",
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\"}", APPLY, 404, &r);
    http_reply_free(&r);
    free(rv);
}

static void test_status_and_ordinary_writes(void **state)
{
    (void)state;
    http_reply r;
    call_expect("POST", WIDGETS "?fieldManager=creator",
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"w2\"},\"spec\":{\"size\":1}}",
                NULL, 201, &r);
    assert_json(managed_fields(r.json) ? json_object_get(entry_of(r.json, "creator"), "fieldsV1")
                                       : NULL,
                "{\"f:spec\":{\".\":{},\"f:size\":{}}}");
    assert_string_equal(
        json_string_value(json_object_get(entry_of(r.json, "creator"), "operation")), "Update");
    http_reply_free(&r);

    /* apply to the status subresource: status only, subresource recorded */
    call_expect("PATCH", WIDGETS "/w2/status?fieldManager=agent",
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"w2\"},\"spec\":{\"size\":99},\"status\":{\"state\":\"READY\"}}",
                APPLY, 200, &r);
    const json_t *agent = entry_of(r.json, "agent");
    assert_non_null(agent);
    assert_string_equal(json_string_value(json_object_get(agent, "subresource")), "status");
    assert_json(json_object_get(agent, "fieldsV1"), "{\"f:status\":{\"f:state\":{}}}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "spec"), "size")),
                     1);
    http_reply_free(&r);

    /* a merge patch to the main resource: an Update by its manager */
    call_expect("PATCH", WIDGETS "/w2?fieldManager=editor", "{\"spec\":{\"size\":2}}",
                "application/merge-patch+json", 200, &r);
    assert_json(json_object_get(entry_of(r.json, "editor"), "fieldsV1"),
                "{\"f:spec\":{\"f:size\":{}}}");
    assert_json(json_object_get(entry_of(r.json, "creator"), "fieldsV1"), "{\"f:spec\":{}}");
    http_reply_free(&r);

    /* a client clears managedFields with [{}]; the writer's change is recorded */
    call_expect("PATCH", WIDGETS "/w2?fieldManager=resetter",
                "{\"metadata\":{\"managedFields\":[{}]},\"spec\":{\"color\":\"green\"}}",
                "application/merge-patch+json", 200, &r);
    assert_int_equal(json_array_size(managed_fields(r.json)), 1);
    assert_json(json_object_get(entry_of(r.json, "resetter"), "fieldsV1"),
                "{\"f:spec\":{\"f:color\":{}}}");
    http_reply_free(&r);

    /* managedFields a client sends back unchanged (a GET then PUT) stay */
    call_expect("GET", WIDGETS "/w2", NULL, NULL, 200, &r);
    json_t *obj = json_deep_copy(r.json);
    http_reply_free(&r);
    json_object_set_new(json_object_get(obj, "spec"), "size", json_integer(3));
    char *text = json_dumps(obj, JSON_COMPACT);
    call_expect("PUT", WIDGETS "/w2?fieldManager=putter", text, NULL, 200, &r);
    assert_non_null(entry_of(r.json, "resetter"));
    assert_json(json_object_get(entry_of(r.json, "putter"), "fieldsV1"),
                "{\"f:spec\":{\"f:size\":{}}}");
    http_reply_free(&r);
    free(text);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_are_checked_first),
        cmocka_unit_test(test_apply_creates_conflicts_and_noop),
        cmocka_unit_test(test_status_and_ordinary_writes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
