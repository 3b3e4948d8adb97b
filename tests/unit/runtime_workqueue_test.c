/* runtime_workqueue_test.c - the work queue's client-go semantics: dedupe,
 * one worker per key at a time, add_after ordering, per-key exponential
 * backoff and forget, shutdown with and without drain. Time is a fake clock
 * the tests move by hand; nothing here depends on how fast the machine is.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/workqueue.h"

typedef struct fake_clock {
    _Atomic int64_t now; /* ms */
} fake_clock;

static int64_t fake_now(void *ctx)
{
    return atomic_load(&((fake_clock *)ctx)->now);
}

static mc_workqueue *new_queue(fake_clock *clock, int64_t max_delay_ms)
{
    mc_workqueue_options options = {0, max_delay_ms, fake_now, clock};
    mc_workqueue *queue = mc_workqueue_new(&options);
    assert_non_null(queue);
    return queue;
}

/* Takes a key without waiting and checks it is expected. */
static void expect_key(mc_workqueue *queue, const char *expected)
{
    char *key = NULL;
    assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_OK);
    assert_string_equal(key, expected);
    mc_workqueue_done(queue, key);
}

static void expect_empty(mc_workqueue *queue)
{
    char *key = NULL;
    assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_ENOTFOUND);
    assert_null(key);
}

static void test_dedupe(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    mc_workqueue_add(queue, "ns/a");
    mc_workqueue_add(queue, "ns/b");
    mc_workqueue_add(queue, "ns/a");
    mc_workqueue_add(queue, "ns/a");
    assert_int_equal(mc_workqueue_len(queue), 2);
    expect_key(queue, "ns/a");
    expect_key(queue, "ns/b");
    expect_empty(queue);
    mc_workqueue_free(queue);
}

static void test_added_while_processing(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    mc_workqueue_add(queue, "k");
    char *key = NULL;
    assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_OK);
    /* Added twice while a worker holds it: not handed to anyone else now. */
    mc_workqueue_add(queue, "k");
    mc_workqueue_add(queue, "k");
    assert_int_equal(mc_workqueue_len(queue), 0);
    expect_empty(queue);
    mc_workqueue_done(queue, key);
    /* ... and once, not twice, after done. */
    assert_int_equal(mc_workqueue_len(queue), 1);
    expect_key(queue, "k");
    expect_empty(queue);
    mc_workqueue_free(queue);
}

#define HAMMER_KEYS      16
#define HAMMER_WORKERS   8
#define HAMMER_PRODUCERS 4
#define HAMMER_ADDS      20000

typedef struct hammer {
    mc_workqueue *queue;
    atomic_int in_progress[HAMMER_KEYS]; /* 1 while a worker holds the key */
    atomic_int pending[HAMMER_KEYS];     /* set before add, cleared when processing starts */
    atomic_int violations;               /* a key held by two workers at once */
    atomic_int processed;
} hammer;

static void *hammer_worker(void *arg)
{
    hammer *h = arg;
    for (;;) {
        char *key = NULL;
        int rc = mc_workqueue_get(h->queue, &key, -1);
        if (rc == MC_EUNAVAILABLE)
            break;
        if (rc != MC_OK) { /* cmocka asserts belong on the main thread */
            atomic_fetch_add(&h->violations, 1);
            continue;
        }
        int index = atoi(key);
        if (atomic_exchange(&h->in_progress[index], 1) != 0)
            atomic_fetch_add(&h->violations, 1);
        atomic_store(&h->pending[index], 0);
        for (int i = 0; i < 3; i++)
            sched_yield();
        atomic_store(&h->in_progress[index], 0);
        atomic_fetch_add(&h->processed, 1);
        mc_workqueue_done(h->queue, key);
    }
    return NULL;
}

static void *hammer_producer(void *arg)
{
    hammer *h = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < HAMMER_ADDS; i++) {
        int index = (int)(rand_r(&seed) % HAMMER_KEYS);
        char key[16];
        snprintf(key, sizeof(key), "%d", index);
        atomic_store(&h->pending[index], 1);
        mc_workqueue_add(h->queue, key);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_no_concurrent_processing(void **state)
{
    (void)state;
    hammer *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->queue = mc_workqueue_new(NULL);
    assert_non_null(h->queue);
    pthread_t workers[HAMMER_WORKERS], producers[HAMMER_PRODUCERS];
    for (int i = 0; i < HAMMER_WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, hammer_worker, h), 0);
    for (int i = 0; i < HAMMER_PRODUCERS; i++)
        assert_int_equal(pthread_create(&producers[i], NULL, hammer_producer, h), 0);
    for (int i = 0; i < HAMMER_PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    /* Drain: every key added before shutdown is processed after its last add. */
    mc_workqueue_shutdown(h->queue, 1);
    for (int i = 0; i < HAMMER_WORKERS; i++)
        pthread_join(workers[i], NULL);
    assert_int_equal(atomic_load(&h->violations), 0);
    for (int i = 0; i < HAMMER_KEYS; i++)
        assert_int_equal(atomic_load(&h->pending[i]), 0);
    assert_true(atomic_load(&h->processed) >= HAMMER_KEYS);
    /* Dedupe merged adds: far fewer reconciles than adds are allowed, never more. */
    assert_true(atomic_load(&h->processed) <= HAMMER_ADDS * HAMMER_PRODUCERS);
    mc_workqueue_free(h->queue);
    free(h);
}

/* Fails key once more and checks it comes back after exactly delay ms. */
static void expect_backoff(mc_workqueue *queue, fake_clock *clock, const char *key, int64_t delay)
{
    mc_workqueue_add_rate_limited(queue, key);
    atomic_fetch_add(&clock->now, delay - 1);
    expect_empty(queue);
    atomic_fetch_add(&clock->now, 1);
    expect_key(queue, key);
}

static void test_backoff_growth_and_cap(void **state)
{
    (void)state;
    fake_clock clock = {1000};
    mc_workqueue *queue = new_queue(&clock, 0); /* defaults: 5 ms .. 1000 s */
    int64_t expected = 5;
    for (unsigned i = 0; i < 30; i++) {
        expect_backoff(queue, &clock, "k", expected);
        assert_int_equal(mc_workqueue_requeues(queue, "k"), i + 1);
        expected = expected * 2 > 1000000 ? 1000000 : expected * 2;
    }
    /* 5 * 2^18 passes 1000 s: the last twelve were capped. */
    assert_int_equal(expected, 1000000);
    /* Another key has its own backoff. */
    expect_backoff(queue, &clock, "other", 5);
    mc_workqueue_free(queue);
}

static void test_forget_resets(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    expect_backoff(queue, &clock, "k", 5);
    expect_backoff(queue, &clock, "k", 10);
    expect_backoff(queue, &clock, "k", 20);
    assert_int_equal(mc_workqueue_requeues(queue, "k"), 3);
    mc_workqueue_forget(queue, "k");
    assert_int_equal(mc_workqueue_requeues(queue, "k"), 0);
    expect_backoff(queue, &clock, "k", 5);
    mc_workqueue_free(queue);
}

/* An event for a key in backoff waits for its retry (the agent's refusal
 * loop); without backoff, and after forget, it queues at once. */
static void test_add_unless_backing_off(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    mc_workqueue_add_unless_backing_off(queue, "k"); /* no backoff: at once */
    expect_key(queue, "k");
    /* k failed: the event during its 5 ms and 10 ms waits runs nothing early */
    mc_workqueue_add_rate_limited(queue, "k");
    mc_workqueue_add_unless_backing_off(queue, "k");
    atomic_fetch_add(&clock.now, 4);
    expect_empty(queue);
    atomic_fetch_add(&clock.now, 1);
    expect_key(queue, "k");
    mc_workqueue_add_rate_limited(queue, "k");
    for (int i = 0; i < 9; i++) {
        mc_workqueue_add_unless_backing_off(queue, "k");
        atomic_fetch_add(&clock.now, 1);
        expect_empty(queue);
    }
    atomic_fetch_add(&clock.now, 1);
    expect_key(queue, "k");
    /* a plain add still runs it at once (a changed spec) */
    mc_workqueue_add_rate_limited(queue, "k");
    mc_workqueue_add(queue, "k");
    expect_key(queue, "k");
    /* an event while the run is in progress, which then succeeds: forget
     * queues it (the run may have read the state before it) */
    char *key = NULL;
    atomic_fetch_add(&clock.now, 20);
    assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_OK);
    mc_workqueue_add_unless_backing_off(queue, "k");
    mc_workqueue_forget(queue, "k");
    mc_workqueue_done(queue, key);
    expect_key(queue, "k");
    expect_empty(queue);
    /* no backoff left: at once again */
    mc_workqueue_add_unless_backing_off(queue, "k");
    expect_key(queue, "k");
    mc_workqueue_free(queue);
}

static void test_custom_limits(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue_options options = {100, 250, fake_now, &clock};
    mc_workqueue *queue = mc_workqueue_new(&options);
    assert_non_null(queue);
    expect_backoff(queue, &clock, "k", 100);
    expect_backoff(queue, &clock, "k", 200);
    expect_backoff(queue, &clock, "k", 250);
    expect_backoff(queue, &clock, "k", 250);
    mc_workqueue_free(queue);
}

static void test_add_after_ordering(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    mc_workqueue_add_after(queue, "c", 30);
    mc_workqueue_add_after(queue, "a", 10);
    mc_workqueue_add_after(queue, "b", 20);
    mc_workqueue_add_after(queue, "d", 40);
    /* Added again with a later time: the earlier one stays. */
    mc_workqueue_add_after(queue, "a", 35);
    /* Added again with an earlier time: it moves up. */
    mc_workqueue_add_after(queue, "d", 5);
    assert_int_equal(mc_workqueue_len(queue), 0);
    expect_empty(queue);
    atomic_store(&clock.now, 9);
    expect_key(queue, "d");
    expect_empty(queue);
    atomic_store(&clock.now, 30);
    assert_int_equal(mc_workqueue_len(queue), 3);
    expect_key(queue, "a");
    expect_key(queue, "b");
    expect_key(queue, "c");
    atomic_store(&clock.now, 1000);
    expect_empty(queue); /* a's later time was merged, not kept */
    /* Zero delay is a plain add; a delayed key already queued is not doubled. */
    mc_workqueue_add_after(queue, "e", 0);
    mc_workqueue_add_after(queue, "e", 10);
    atomic_store(&clock.now, 1010);
    expect_key(queue, "e");
    expect_empty(queue);
    mc_workqueue_free(queue);
}

typedef struct getter {
    mc_workqueue *queue;
    int rc;
    char key[32];
} getter;

static void *blocking_get(void *arg)
{
    getter *g = arg;
    char *key = NULL;
    g->rc = mc_workqueue_get(g->queue, &key, -1);
    if (key) {
        snprintf(g->key, sizeof(g->key), "%s", key);
        mc_workqueue_done(g->queue, key);
    }
    return NULL;
}

static void test_tick_wakes_for_delayed(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    /* Due in a fake hour; the getter must get it once the clock says so. */
    mc_workqueue_add_after(queue, "late", 3600 * 1000);
    getter g = {queue, 1, ""};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, blocking_get, &g), 0);
    atomic_store(&clock.now, 3600 * 1000);
    mc_workqueue_tick(queue);
    pthread_join(thread, NULL);
    assert_int_equal(g.rc, MC_OK);
    assert_string_equal(g.key, "late");
    mc_workqueue_free(queue);
}

static void test_blocking_get_woken_by_add(void **state)
{
    (void)state;
    mc_workqueue *queue = mc_workqueue_new(NULL);
    assert_non_null(queue);
    getter g = {queue, 1, ""};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, blocking_get, &g), 0);
    mc_workqueue_add(queue, "x");
    pthread_join(thread, NULL);
    assert_int_equal(g.rc, MC_OK);
    assert_string_equal(g.key, "x");
    mc_workqueue_free(queue);
}

static void test_shutdown_drain(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    mc_workqueue_add(queue, "a");
    mc_workqueue_add(queue, "b");
    mc_workqueue_add_after(queue, "delayed", 10);
    char *held = NULL;
    assert_int_equal(mc_workqueue_get(queue, &held, 0), MC_OK);
    assert_string_equal(held, "a");
    mc_workqueue_add(queue, "a"); /* dirty while processing */
    mc_workqueue_shutdown(queue, 1);
    mc_workqueue_add(queue, "after-shutdown");
    atomic_store(&clock.now, 100);
    expect_key(queue, "b");
    /* The held key, added before shutdown, is still delivered after done. */
    mc_workqueue_done(queue, held);
    expect_key(queue, "a");
    char *key = NULL;
    assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_EUNAVAILABLE);
    assert_int_equal(mc_workqueue_get(queue, &key, -1), MC_EUNAVAILABLE);
    assert_null(key);
    mc_workqueue_free(queue);
}

static void test_shutdown_no_drain(void **state)
{
    (void)state;
    mc_workqueue *queue = mc_workqueue_new(NULL);
    assert_non_null(queue);
    mc_workqueue_add(queue, "a");
    getter g = {queue, 1, ""};
    mc_workqueue_shutdown(queue, 0);
    blocking_get(&g);
    assert_int_equal(g.rc, MC_EUNAVAILABLE);
    mc_workqueue_free(queue); /* frees what is still queued */
}

static void test_shutdown_wakes_blocked_getters(void **state)
{
    (void)state;
    mc_workqueue *queue = mc_workqueue_new(NULL);
    assert_non_null(queue);
    getter g[3] = {{queue, 1, ""}, {queue, 1, ""}, {queue, 1, ""}};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, blocking_get, &g[i]), 0);
    mc_workqueue_shutdown(queue, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(g[i].rc, MC_EUNAVAILABLE);
    }
    mc_workqueue_free(queue);
}

static void test_many_keys(void **state)
{
    (void)state;
    fake_clock clock = {0};
    mc_workqueue *queue = new_queue(&clock, 0);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns/k%d", i);
        mc_workqueue_add(queue, key);
        mc_workqueue_add(queue, key);
    }
    assert_int_equal(mc_workqueue_len(queue), 5000);
    for (int i = 0; i < 5000; i++) { /* FIFO order */
        snprintf(key, sizeof(key), "ns/k%d", i);
        expect_key(queue, key);
    }
    expect_empty(queue);
    mc_workqueue_free(queue);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe),
        cmocka_unit_test(test_added_while_processing),
        cmocka_unit_test(test_no_concurrent_processing),
        cmocka_unit_test(test_backoff_growth_and_cap),
        cmocka_unit_test(test_forget_resets),
        cmocka_unit_test(test_add_unless_backing_off),
        cmocka_unit_test(test_custom_limits),
        cmocka_unit_test(test_add_after_ordering),
        cmocka_unit_test(test_tick_wakes_for_delayed),
        cmocka_unit_test(test_blocking_get_woken_by_add),
        cmocka_unit_test(test_shutdown_drain),
        cmocka_unit_test(test_shutdown_no_drain),
        cmocka_unit_test(test_shutdown_wakes_blocked_getters),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
