/* runtime_events_e2e_test.c - the Event recorder (runtime/events.h) against a
 * real `meshcert server` over HTTPS: a repeated event is one Event whose
 * count, lastTimestamp and message are PATCHed (firstTimestamp and name
 * kept); an Event deleted meanwhile is created again under its name with
 * the count so far; the field selectors kubectl describe sends find it; a
 * refused write (a wrong token: 401) is counted as write_failed and does
 * not block the caller; a cluster nobody answers does not stall another
 * cluster's Events behind the shared writer. Time is a clock the test moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "runtime/events.h"
#include "server_process.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

typedef struct fixture {
    server_process server;
    mc_kube_config *config;
    mc_kube_client *client;
    mc_metrics *metrics;
    mc_metric *dropped;
    mc_event_broadcaster *hub; /* every recorder's: one writer thread */
    int64_t now_ms;
    char uid[64]; /* of ConfigMap default/subject, the object the Events are about */
} fixture;

static int64_t test_clock(void *ctx)
{
    return ((fixture *)ctx)->now_ms;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    const char *args[] = {"--cluster", "c1", NULL};
    if (server_process_start(&f->server, args) != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeconfigs/c1.yaml", f->server.dir);
    mc_err err = {0};
    if (mc_kube_config_load_file(path, NULL, &f->config, &err) != MC_OK ||
        mc_kube_client_new(f->config, NULL, &f->client, &err) != MC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                           "metadata", "name", "subject", "namespace", "default");
    json_t *created = NULL;
    int rc = mc_kube_create(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", cm,
                            &created, &err);
    json_decref(cm);
    if (rc != MC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    mc_strlcpy(f->uid,
               json_string_value(json_object_get(json_object_get(created, "metadata"), "uid")),
               sizeof(f->uid));
    json_decref(created);
    f->metrics = mc_metrics_new();
    static const char *const reason[] = {"reason"};
    f->dropped = mc_metrics_counter(f->metrics, "events_dropped_total", "test", reason, 1);
    f->now_ms = 1764684000000; /* 2025-12-02T14:00:00Z */
    mc_event_broadcaster_options options = {.component = "events-test",
                                            .instance = "test-host",
                                            .clock = test_clock,
                                            .clock_ctx = f,
                                            .dropped = f->dropped};
    if (!f->dropped || mc_event_broadcaster_new(&options, &f->hub, &err) != MC_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    mc_event_broadcaster_free(f->hub);
    mc_kube_client_free(f->client);
    mc_kube_config_free(f->config);
    mc_metrics_free(f->metrics);
    int rc = f->server.pid ? server_process_stop(&f->server) : 0;
    free(f);
    return rc;
}

/* A client with the short deadlines Events are written with. */
static mc_kube_client *events_client(const mc_kube_config *config)
{
    mc_kube_client_options options = {.timeout_ms = 3000, .deadline_ms = 5000, .max_retries = 2};
    mc_kube_client *client = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_client_new(config, &options, &client, &err), MC_OK);
    return client;
}

static mc_event_recorder *new_recorder(fixture *f, mc_kube_client *client)
{
    mc_event_recorder *recorder = NULL;
    mc_err err = {0};
    assert_int_equal(mc_event_recorder_new(f->hub, client, &recorder, &err), MC_OK);
    return recorder;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Events kubectl describe would show for the ConfigMap (a list, owned). */
static json_t *described_events(fixture *f)
{
    char selector[256];
    snprintf(selector, sizeof(selector),
             "involvedObject.name=subject,involvedObject.namespace=default,"
             "involvedObject.kind=ConfigMap,involvedObject.uid=%s",
             f->uid);
    mc_kube_list_options options = {.field_selector = selector};
    json_t *list = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_list(f->client, mc_kube_resource_of(MC_API_EVENTS), "default",
                                  &options, &list, &err),
                     MC_OK);
    return list;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void test_repeats_patch_one_event(void **state)
{
    fixture *f = *state;
    mc_event_recorder *recorder = new_recorder(f, f->client);
    mc_event_object subject = {"v1", "ConfigMap", "default", "subject", f->uid, NULL};
    for (int i = 0; i < 3; i++) {
        mc_event_record(recorder, &subject, MC_EVENT_WARNING, "Refused", "no %s", "root");
        assert_int_equal(mc_event_recorder_flush(recorder, 10000), MC_OK);
        f->now_ms += 5000;
    }
    json_t *list = described_events(f);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *ev = json_array_get(items, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 3);
    assert_string_equal(str(ev, "firstTimestamp"), "2025-12-02T14:00:00Z");
    assert_string_equal(str(ev, "lastTimestamp"), "2025-12-02T14:00:10Z");
    assert_string_equal(str(ev, "type"), "Warning");
    assert_string_equal(str(ev, "reason"), "Refused");
    assert_string_equal(str(ev, "message"), "no root");
    assert_string_equal(str(ev, "reportingComponent"), "events-test");
    assert_string_equal(str(ev, "reportingInstance"), "test-host");
    assert_string_equal(str(json_object_get(ev, "source"), "component"), "events-test");
    assert_string_equal(str(json_object_get(ev, "involvedObject"), "uid"), f->uid);
    char name[300];
    mc_strlcpy(name, str(json_object_get(ev, "metadata"), "name"), sizeof(name));
    assert_true(strncmp(name, "subject.", 8) == 0);
    json_decref(list);

    /* deleted (as kube expires Events): the next one creates it again, same name */
    mc_err err = {0};
    assert_int_equal(
        mc_kube_delete(f->client, mc_kube_resource_of(MC_API_EVENTS), "default", name, NULL, &err),
        MC_OK);
    mc_event_record(recorder, &subject, MC_EVENT_WARNING, "Refused", "no root");
    assert_int_equal(mc_event_recorder_flush(recorder, 10000), MC_OK);
    list = described_events(f);
    items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 1);
    ev = json_array_get(items, 0);
    assert_string_equal(str(json_object_get(ev, "metadata"), "name"), name);
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 4);
    assert_string_equal(str(ev, "firstTimestamp"), "2025-12-02T14:00:00Z");
    json_decref(list);

    /* another reason: another Event */
    mc_event_record(recorder, &subject, MC_EVENT_NORMAL, "Signed", "signed");
    assert_int_equal(mc_event_recorder_flush(recorder, 10000), MC_OK);
    list = described_events(f);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    json_decref(list);
    assert_int_equal(mc_event_recorder_dropped(recorder), 0);
    mc_event_recorder_free(recorder);
}

static void test_refused_write_is_counted(void **state)
{
    fixture *f = *state;
    mc_kube_config *wrong = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_config_copy(f->config, &wrong, &err), MC_OK);
    mc_secure_free_str(wrong->token);
    wrong->token = mc_strdup("not-a-valid-token");
    mc_kube_client *client = events_client(wrong);
    mc_event_recorder *recorder = new_recorder(f, client);
    mc_event_object subject = {"v1", "ConfigMap", "default", "subject", f->uid, NULL};
    mc_event_record(recorder, &subject, MC_EVENT_NORMAL, "Unseen", "never written");
    assert_int_equal(mc_event_recorder_flush(recorder, 10000), MC_OK);
    assert_int_equal(mc_event_recorder_dropped(recorder), 1);
    assert_true(mc_metric_value(f->dropped, MC_LABELS("write_failed")) == 1);
    mc_event_recorder_free(recorder);
    mc_kube_client_free(client);
    mc_kube_config_free(wrong);
    json_t *list = described_events(f);
    json_t *item;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, item)
        assert_string_not_equal(str(item, "reason"), "Unseen");
    json_decref(list);
}

/* Fairness: a cluster nobody answers holds the shared writer for one
 * failed write, not one per queued event; the reachable cluster's Event,
 * queued behind 50 of the other's, is written within seconds. */
static void test_unreachable_cluster_does_not_stall_others(void **state)
{
    fixture *f = *state;
    static const char kubeconfig[] =
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n";
    mc_kube_config *config = NULL;
    mc_err err = {0};
    assert_int_equal(
        mc_kube_config_load_text(kubeconfig, sizeof(kubeconfig) - 1, NULL, "test", &config, &err),
        MC_OK);
    mc_kube_client *dead_client = events_client(config);
    mc_event_recorder *dead = new_recorder(f, dead_client);
    mc_event_recorder *alive = new_recorder(f, f->client);
    mc_event_object subject = {"v1", "ConfigMap", "default", "subject", f->uid, NULL};
    int64_t start = monotonic_ms();
    for (int i = 0; i < 50; i++)
        mc_event_record(dead, &subject, MC_EVENT_WARNING, "Lost", "attempt %d", i);
    mc_event_record(alive, &subject, MC_EVENT_NORMAL, "Reached", "written");
    assert_int_equal(mc_event_recorder_flush(alive, 20000), MC_OK);
    int64_t took = monotonic_ms() - start;
    print_message("the reachable cluster's Event written after %lld ms\n", (long long)took);
    assert_true(took < 6000); /* one failed write (5 s deadline), not 50 */
    assert_int_equal(mc_event_recorder_flush(dead, 0), MC_OK);
    assert_int_equal(mc_event_recorder_dropped(dead), 50);
    assert_int_equal(mc_event_recorder_dropped(alive), 0);
    json_t *list = described_events(f);
    int reached = 0;
    json_t *item;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, item) reached +=
        strcmp(str(item, "reason"), "Reached") == 0;
    json_decref(list);
    assert_int_equal(reached, 1);
    mc_event_recorder_free(alive);
    mc_event_recorder_free(dead);
    mc_kube_client_free(dead_client);
    mc_kube_config_free(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_patch_one_event),
        cmocka_unit_test(test_refused_write_is_counted),
        cmocka_unit_test(test_unreachable_cluster_does_not_stall_others),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
