/* runtime_events_test.c - the Event correlator (runtime/events.h) with a
 * clock moved by hand: repeated events aggregate into one Event (count,
 * firstTimestamp kept), the 10th distinct message of one object and reason
 * combines, the aggregation window restarts, the per-object token bucket
 * (burst, refill, per object, counts kept while filtered), LRU eviction;
 * the broadcaster's bounded queue dropping (and counting) without blocking,
 * a failed write dropping its recorder's queue, and 200 recorders costing
 * no thread beyond the broadcaster's one.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "runtime/events.h"
#include "util/metrics.h"

#define SOURCE "meshcert-agent"
#define MINUTE (60 * 1000)

static const mc_event_object ic_a = {
    "certificates.smh.solo.io/v1alpha2", "IssuedCertificate", "meshcert", "mesh-a", "uid-a", "7"};
static const mc_event_object ic_b = {
    "certificates.smh.solo.io/v1alpha2", "IssuedCertificate", "meshcert", "mesh-b", "uid-b", "9"};

static mc_event_correlator *new_correlator(double qps, int burst, size_t entries)
{
    mc_event_correlator_options options = {qps, burst, entries};
    mc_event_correlator *c = mc_event_correlator_new(&options);
    assert_non_null(c);
    return c;
}

static mc_event_decision correlate(mc_event_correlator *c, const mc_event_object *obj,
                                   mc_event_type type, const char *reason, const char *message,
                                   int64_t now_ms)
{
    mc_event_decision d;
    assert_int_equal(mc_event_correlate(c, SOURCE, obj, type, reason, message, now_ms, &d), 0);
    return d;
}

static void test_repeated_event_patches_one_event(void **state)
{
    (void)state;
    mc_event_correlator *c = new_correlator(0, 0, 0);
    int64_t t0 = 1764684000000; /* 2025-12-02T14:00:00Z */
    mc_event_decision first = correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "no root", t0);
    assert_int_equal(first.write, MC_EVENT_CREATE);
    assert_int_equal(first.count, 1);
    assert_true(strncmp(first.name, "mesh-a.", 7) == 0);
    assert_string_equal(first.message, "no root");
    char hex[32];
    snprintf(hex, sizeof(hex), "%llx", (unsigned long long)t0 * 1000000ull);
    assert_string_equal(first.name + 7, hex); /* kube's "<name>.<hex nanoseconds>" */
    for (int i = 2; i <= 5; i++) {
        mc_event_decision again =
            correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "no root", t0 + i * 1000);
        assert_int_equal(again.write, MC_EVENT_PATCH);
        assert_string_equal(again.name, first.name);
        assert_int_equal(again.count, i);
        assert_int_equal(again.first_ms, t0);
        assert_int_equal(again.last_ms, t0 + i * 1000);
    }
    /* another reason, type, message or object: another Event */
    const mc_event_decision others[] = {
        correlate(c, &ic_a, MC_EVENT_WARNING, "CSRRefused", "no root", t0 + 6000),
        correlate(c, &ic_a, MC_EVENT_NORMAL, "Failed", "no root", t0 + 6000),
        correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "root expired", t0 + 6000),
        correlate(c, &ic_b, MC_EVENT_WARNING, "Failed", "no root", t0 + 6000),
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(others[i].write, MC_EVENT_CREATE);
        assert_int_equal(others[i].count, 1);
        assert_string_not_equal(others[i].name, first.name);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(others[i].name, others[j].name); /* same millisecond */
    }
    mc_event_correlator_free(c);
}

static void test_similar_messages_combine(void **state)
{
    (void)state;
    mc_event_correlator *c = new_correlator(0, 100, 0);
    char message[64];
    int64_t now = 1000 * MINUTE;
    for (int i = 1; i <= 9; i++) {
        snprintf(message, sizeof(message), "pod p%d deleted", i);
        mc_event_decision d = correlate(c, &ic_a, MC_EVENT_NORMAL, "BouncedPod", message, now);
        assert_int_equal(d.write, MC_EVENT_CREATE);
        assert_string_equal(d.message, message);
    }
    mc_event_decision tenth =
        correlate(c, &ic_a, MC_EVENT_NORMAL, "BouncedPod", "pod p10 deleted", now + 1);
    assert_int_equal(tenth.write, MC_EVENT_CREATE);
    assert_int_equal(tenth.count, 1);
    assert_string_equal(tenth.message, "(combined from similar events): pod p10 deleted");
    mc_event_decision eleventh =
        correlate(c, &ic_a, MC_EVENT_NORMAL, "BouncedPod", "pod p11 deleted", now + 2);
    assert_int_equal(eleventh.write, MC_EVENT_PATCH);
    assert_string_equal(eleventh.name, tenth.name);
    assert_int_equal(eleventh.count, 2);
    assert_string_equal(eleventh.message, "(combined from similar events): pod p11 deleted");
    /* another object is not combined */
    mc_event_decision other =
        correlate(c, &ic_b, MC_EVENT_NORMAL, "BouncedPod", "pod p12 deleted", now + 3);
    assert_string_equal(other.message, "pod p12 deleted");
    /* more than 10 minutes after the last similar event: start over */
    mc_event_decision later =
        correlate(c, &ic_a, MC_EVENT_NORMAL, "BouncedPod", "pod p13 deleted", now + 13 * MINUTE);
    assert_int_equal(later.write, MC_EVENT_CREATE);
    assert_string_equal(later.message, "pod p13 deleted");
    mc_event_correlator_free(c);
}

static void test_spam_filter_token_bucket(void **state)
{
    (void)state;
    /* client-go's defaults: burst 25, one token per 300 s, per source + object */
    mc_event_correlator *c = new_correlator(0, 0, 0);
    int64_t now = 5000 * MINUTE;
    char reason[32];
    for (int i = 0; i < 25; i++) {
        snprintf(reason, sizeof(reason), "Reason%d", i);
        assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, reason, "m", now).write,
                         MC_EVENT_CREATE);
    }
    mc_event_decision filtered = correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "x", now + 1);
    assert_int_equal(filtered.write, MC_EVENT_SKIP);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "x", now + 2).write,
                     MC_EVENT_SKIP);
    /* another object has its own bucket; one made again under the same
     * name (another uid) shares it, and has its own Events */
    assert_int_equal(correlate(c, &ic_b, MC_EVENT_WARNING, "Failed", "x", now + 3).write,
                     MC_EVENT_CREATE);
    mc_event_object ic_a_again = ic_a;
    ic_a_again.uid = "uid-a2";
    mc_event_decision again = correlate(c, &ic_a_again, MC_EVENT_WARNING, "Failed", "x", now + 3);
    assert_int_equal(again.write, MC_EVENT_SKIP);
    assert_int_equal(again.count, 1);
    assert_string_not_equal(again.name, filtered.name);
    /* 299 s later still empty; 300 s after the last refill one token */
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "x", now + 299 * 1000).write,
                     MC_EVENT_SKIP);
    mc_event_decision allowed =
        correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "x", now + 301 * 1000);
    /* filtered occurrences were counted: the Event shows all four; it was
     * never created (filtered at once), so the writer's PATCH finds nothing
     * and creates it with this name and count */
    assert_int_equal(allowed.write, MC_EVENT_PATCH);
    assert_string_equal(allowed.name, filtered.name);
    assert_int_equal(allowed.count, 4);
    assert_int_equal(allowed.first_ms, now + 1);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_WARNING, "Failed", "x", now + 302 * 1000).write,
                     MC_EVENT_SKIP);
    mc_event_correlator_free(c);
}

static void test_custom_rate(void **state)
{
    (void)state;
    mc_event_correlator *c = new_correlator(2.0, 2, 0); /* 2 per second, burst 2 */
    int64_t now = 42;
    assert_int_not_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now).write, MC_EVENT_SKIP);
    assert_int_not_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now).write, MC_EVENT_SKIP);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now + 100).write,
                     MC_EVENT_SKIP);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now + 600).write,
                     MC_EVENT_PATCH);
    /* a long pause refills to the burst, not beyond */
    now += 60 * 1000;
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now).write, MC_EVENT_PATCH);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now).write, MC_EVENT_PATCH);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "m", now).write, MC_EVENT_SKIP);
    mc_event_correlator_free(c);
}

static void test_lru_forgets_oldest(void **state)
{
    (void)state;
    mc_event_correlator *c = new_correlator(0, 100, 2);
    mc_event_decision a = correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "a", 1);
    correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "b", 2);
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "a", 3).count, 2); /* a recent */
    correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "c", 4);                            /* evicts b */
    assert_int_equal(correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "a", 5).count, 3);
    mc_event_decision b = correlate(c, &ic_a, MC_EVENT_NORMAL, "R", "b", 6);
    assert_int_equal(b.write, MC_EVENT_CREATE);
    assert_int_equal(b.count, 1);
    assert_string_not_equal(b.name, a.name);
    mc_event_correlator_free(c);
}

static int64_t fixed_clock(void *ctx)
{
    return *(int64_t *)ctx;
}

static const char unreachable_kubeconfig[] =
    "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
    "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
    "users: [{name: u, user: {token: t}}]\n"
    "contexts: [{name: c, context: {cluster: c, user: u}}]\n";

/* A client for a server nobody listens on: each write fails after seconds
 * of connection refused and retries. */
static mc_kube_client *unreachable_client(void)
{
    mc_kube_config *config = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_config_load_text(unreachable_kubeconfig,
                                              sizeof(unreachable_kubeconfig) - 1, NULL, "test",
                                              &config, &err),
                     0);
    mc_kube_client_options options = {.timeout_ms = 3000, .deadline_ms = 5000, .max_retries = 2};
    mc_kube_client *client = NULL;
    assert_int_equal(mc_kube_client_new(config, &options, &client, &err), 0);
    mc_kube_config_free(config);
    return client;
}

/* The threads of this process, from /proc/self/task. */
static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    assert_non_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

/* The writer's first write takes seconds, so the queue fills and further
 * records return at once, dropped and counted; once that write fails, the
 * rest of that recorder's queue and its new events (cool-off) are dropped
 * as write_failed without a write. */
static void test_full_queue_drops_without_blocking(void **state)
{
    (void)state;
    mc_metrics *metrics = mc_metrics_new();
    static const char *const reason[] = {"reason"};
    mc_metric *dropped = mc_metrics_counter(metrics, "dropped_total", "test", reason, 1);
    int64_t now = 1764684000000;
    mc_event_broadcaster_options options = {.component = SOURCE,
                                            .instance = "test-host",
                                            .queue_size = 4,
                                            .clock = fixed_clock,
                                            .clock_ctx = &now,
                                            .dropped = dropped};
    mc_event_broadcaster *hub = NULL;
    mc_err err = {0};
    assert_int_equal(mc_event_broadcaster_new(&options, &hub, &err), 0);
    mc_kube_client *client = unreachable_client();
    mc_event_recorder *recorder = NULL;
    assert_int_equal(mc_event_recorder_new(hub, client, &recorder, &err), 0);
    for (int i = 0; i < 100; i++)
        mc_event_record(recorder, &ic_a, MC_EVENT_NORMAL, "Issued", "attempt %d", i);
    /* at most 4 queued and 1 being written */
    assert_true(mc_event_recorder_dropped(recorder) >= 95);
    assert_true(mc_metric_value(dropped, MC_LABELS("queue_full")) >= 95);
    assert_int_equal(mc_event_recorder_flush(recorder, 10), MC_EUNAVAILABLE);
    /* the failed write drops the 4 still queued: nothing waits 4 more writes */
    assert_int_equal(mc_event_recorder_flush(recorder, 10000), MC_OK);
    assert_int_equal(mc_event_recorder_dropped(recorder), 100);
    assert_int_equal(mc_metric_value(dropped, MC_LABELS("write_failed")) +
                         mc_metric_value(dropped, MC_LABELS("queue_full")),
                     100);
    double failed = mc_metric_value(dropped, MC_LABELS("write_failed"));
    assert_true(failed >= 1);
    mc_event_record(recorder, &ic_a, MC_EVENT_NORMAL, "Issued", "in the cool-off");
    assert_int_equal(mc_metric_value(dropped, MC_LABELS("write_failed")), failed + 1);
    assert_int_equal(mc_event_recorder_flush(recorder, 0), MC_OK);
    mc_event_record(NULL, &ic_a, MC_EVENT_NORMAL, "Issued", "no recorder: ignored");
    mc_event_recorder_free(recorder);
    mc_event_broadcaster_free(hub);
    mc_kube_client_free(client);
    mc_metrics_free(metrics);
}

/* Issue 13: Events for many clusters cost the process one thread, not one
 * per cluster. */
static void test_recorders_cost_no_thread(void **state)
{
    (void)state;
    enum { RECORDERS = 200 };
    int before = thread_count();
    /* a small queue: the rest are dropped, not written (each write to the
     * unreachable server fails after its retries) */
    mc_event_broadcaster_options options = {
        .component = SOURCE, .instance = "test-host", .queue_size = 4};
    mc_event_broadcaster *hub = NULL;
    mc_err err = {0};
    assert_int_equal(mc_event_broadcaster_new(&options, &hub, &err), 0);
    assert_int_equal(thread_count(), before + 1);
    mc_kube_client *client = unreachable_client();
    mc_event_recorder *recorders[RECORDERS];
    for (int i = 0; i < RECORDERS; i++)
        assert_int_equal(mc_event_recorder_new(hub, client, &recorders[i], &err), 0);
    for (int i = 0; i < RECORDERS; i++)
        mc_event_record(recorders[i], &ic_a, MC_EVENT_NORMAL, "Issued", "cluster %d", i);
    assert_int_equal(thread_count(), before + 1);
    for (int i = 0; i < RECORDERS; i++)
        mc_event_recorder_free(recorders[i]);
    mc_event_broadcaster_free(hub);
    assert_int_equal(thread_count(), before);
    mc_kube_client_free(client);
}

static void test_recorder_needs_component_and_client(void **state)
{
    (void)state;
    mc_event_broadcaster *hub = (mc_event_broadcaster *)&hub;
    mc_err err = {0};
    mc_event_broadcaster_options options = {0};
    assert_int_equal(mc_event_broadcaster_new(&options, &hub, &err), MC_EINVAL);
    assert_null(hub);
    assert_non_null(strstr(err.msg, "component"));
    options.component = SOURCE;
    assert_int_equal(mc_event_broadcaster_new(&options, &hub, &err), MC_OK);
    mc_event_recorder *recorder = (mc_event_recorder *)&recorder;
    assert_int_equal(mc_event_recorder_new(hub, NULL, &recorder, &err), MC_EINVAL);
    assert_null(recorder);
    assert_non_null(strstr(err.msg, "client"));
    mc_event_broadcaster_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_event_patches_one_event),
        cmocka_unit_test(test_similar_messages_combine),
        cmocka_unit_test(test_spam_filter_token_bucket),
        cmocka_unit_test(test_custom_rate),
        cmocka_unit_test(test_lru_forgets_oldest),
        cmocka_unit_test(test_full_queue_drops_without_blocking),
        cmocka_unit_test(test_recorders_cost_no_thread),
        cmocka_unit_test(test_recorder_needs_component_and_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
