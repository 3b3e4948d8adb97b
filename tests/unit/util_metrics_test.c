/* util_metrics_test.c - the Prometheus registry (util/metrics.h): the
 * exposition text of counters, gauges and histograms compared byte for byte
 * with tests/data/util/metrics_expected.prom (HELP/TYPE lines, label value
 * and help escaping, cumulative buckets with +Inf, _sum and _count, series
 * sorted), series removal and reset, collectors, refused names, and many
 * threads adding to one counter.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/file.h"
#include "util/metrics.h"

static char *render(mc_metrics *metrics)
{
    mc_buf out;
    mc_buf_init(&out, 1 << 20);
    assert_int_equal(mc_metrics_render(metrics, &out), MC_OK);
    return mc_buf_steal(&out, NULL);
}

static void fill_gauge(void *ctx)
{
    mc_metric *gauge = ctx;
    mc_metric_reset(gauge);
    mc_metric_set(gauge, MC_LABELS("fresh"), 7);
}

static void test_exposition_matches_file(void **state)
{
    (void)state;
    mc_metrics *metrics = mc_metrics_new();
    assert_non_null(metrics);
    static const char *const two[] = {"cluster", "reason"};
    mc_metric *total =
        mc_metrics_counter(metrics, "test_requests_total", "Requests seen.", NULL, 0);
    mc_metric *refused = mc_metrics_counter(metrics, "test_refused_total",
                                            "Refused \\ requests\nby reason.", two, 2);
    static const char *const one[] = {"name"};
    mc_metric *gauge =
        mc_metrics_gauge(metrics, "test_expiry_timestamp_seconds", "Expiry, Unix seconds.", one, 1);
    mc_metric *collected =
        mc_metrics_gauge(metrics, "test_collected", "Set by a collector.", one, 1);
    static const double buckets[] = {0.1, 1, 2.5};
    mc_metric *latency =
        mc_metrics_histogram(metrics, "test_latency_seconds", "Latency.", one, 1, buckets, 3);
    assert_non_null(total);
    assert_non_null(refused);
    assert_non_null(gauge);
    assert_non_null(latency);
    mc_metric_add(total, NULL, 3);
    mc_metric_add(total, NULL, -1); /* ignored: counters never go down */
    mc_metric_add(refused, MC_LABELS("east", "csr \"bad\"\nsig\\"), 1);
    mc_metric_add(refused, MC_LABELS("east", "csr \"bad\"\nsig\\"), 1);
    mc_metric_add(refused, MC_LABELS("a-west", "policy"), 1);
    mc_metric_set(gauge, MC_LABELS("gone"), 5);
    mc_metric_set(gauge, MC_LABELS("kept"), 1798761600);
    mc_metric_set(gauge, MC_LABELS("half"), 0.5);
    mc_metric_remove(gauge, MC_LABELS("gone"));
    mc_metric_set(collected, MC_LABELS("stale"), 1);
    assert_int_equal(mc_metrics_add_collector(metrics, fill_gauge, collected), MC_OK);
    mc_metric_observe(latency, MC_LABELS("x"), 0.05);
    mc_metric_observe(latency, MC_LABELS("x"), 0.1); /* le is inclusive */
    mc_metric_observe(latency, MC_LABELS("x"), 2);
    mc_metric_observe(latency, MC_LABELS("x"), 30);
    assert_true(mc_metric_value(refused, MC_LABELS("east", "csr \"bad\"\nsig\\")) == 2);
    assert_true(mc_metric_value(latency, MC_LABELS("x")) == 4);
    char *text = render(metrics);
    size_t len = 0;
    char *expected = NULL;
    assert_int_equal(
        mc_file_read(MC_TEST_DATA "/util/metrics_expected.prom", 1 << 20, &expected, &len, NULL),
        MC_OK);
    assert_string_equal(text, expected);
    free(text);
    free(expected);
    /* without the collector the stale series is not refilled */
    mc_metrics_remove_collector(metrics, fill_gauge, collected);
    mc_metric_reset(collected);
    text = render(metrics);
    assert_null(strstr(text, "test_collected{"));
    assert_non_null(strstr(text, "# TYPE test_collected gauge\n"));
    free(text);
    mc_metrics_free(metrics);
}

static void test_refused_names(void **state)
{
    (void)state;
    mc_metrics *metrics = mc_metrics_new();
    static const char *const bad_label[] = {"__reserved"};
    static const char *const le[] = {"le"};
    static const char *const dash[] = {"a-b"};
    static const double unordered[] = {1, 0.5};
    assert_null(mc_metrics_counter(metrics, "9starts_with_digit", "", NULL, 0));
    assert_null(mc_metrics_counter(metrics, "has-dash", "", NULL, 0));
    assert_null(mc_metrics_counter(metrics, "ok_total", "", bad_label, 1));
    assert_null(mc_metrics_counter(metrics, "ok_total", "", dash, 1));
    assert_null(mc_metrics_histogram(metrics, "h", "", le, 1, NULL, 0));
    assert_null(mc_metrics_histogram(metrics, "h", "", NULL, 0, unordered, 2));
    assert_non_null(mc_metrics_counter(metrics, "ok_total", "", NULL, 0));
    assert_null(mc_metrics_gauge(metrics, "ok_total", "", NULL, 0)); /* taken */
    mc_metric_add(NULL, NULL, 1);                                    /* a NULL family is ignored */
    mc_metrics_free(metrics);
}

#define THREADS 8
#define ADDS    20000

static void *add_many(void *arg)
{
    for (int i = 0; i < ADDS; i++)
        mc_metric_add(arg, MC_LABELS(i % 2 ? "odd" : "even"), 1);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    mc_metrics *metrics = mc_metrics_new();
    static const char *const names[] = {"parity"};
    mc_metric *counter = mc_metrics_counter(metrics, "adds_total", "Adds.", names, 1);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, add_many, counter), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_true(mc_metric_value(counter, MC_LABELS("odd")) == THREADS * ADDS / 2);
    assert_true(mc_metric_value(counter, MC_LABELS("even")) == THREADS * ADDS / 2);
    mc_metrics_free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_matches_file),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
