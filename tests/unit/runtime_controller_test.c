/* runtime_controller_test.c - the controller's worker pool with a fake
 * reconcile (no Kubernetes): each key reconciled, never twice at once;
 * failures retried with backoff then forgotten; requeue_after honoured;
 * stop drains what is queued and joins the workers; handlers turn objects
 * into keys (default "ns/name" or a key function).
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

#include "runtime/controller.h"
#include "util/log.h"

#define KEYS 64

typedef struct fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls[KEYS];         /* reconciles per key (lock) */
    int in_progress[KEYS];   /* (lock) */
    int fail_first[KEYS];    /* fail this many times, then succeed (lock) */
    int requeue_after[KEYS]; /* ask once for a 1 ms requeue (lock) */
    int overlaps;            /* one key reconciled twice at once (lock) */
    int total;               /* (lock) */
    int unknown;             /* keys the test never queued (lock) */
} fake;

static int reconcile(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    fake *f = ctx;
    int index = -1;
    if (sscanf(key, "ns/k%d", &index) != 1 || index < 0 || index >= KEYS) {
        pthread_mutex_lock(&f->lock);
        f->unknown++;
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    pthread_mutex_lock(&f->lock);
    if (f->in_progress[index])
        f->overlaps++;
    f->in_progress[index] = 1;
    int call = f->calls[index]++;
    pthread_mutex_unlock(&f->lock);
    sched_yield();
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    f->in_progress[index] = 0;
    if (call < f->fail_first[index]) {
        rc = mc_err_set(err, MC_EUNAVAILABLE, "fake failure %d of %s", call + 1, key);
    } else if (f->requeue_after[index] && call == 0) {
        result->requeue_after_ms = 1;
    }
    f->total++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static fake *fake_new(void)
{
    fake *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    return f;
}

static void fake_free(fake *f)
{
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Waits (event-driven, not timed) until total reconciles reach n. */
static void wait_total(fake *f, int n)
{
    pthread_mutex_lock(&f->lock);
    while (f->total < n)
        pthread_cond_wait(&f->cond, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

static void add_key(mc_controller *controller, int index)
{
    char key[32];
    snprintf(key, sizeof(key), "ns/k%d", index);
    mc_workqueue_add(mc_controller_queue(controller), key);
}

static void test_each_key_once(void **state)
{
    (void)state;
    fake *f = fake_new();
    mc_controller *controller = NULL;
    assert_int_equal(mc_controller_new("test", 4, reconcile, f, &controller, NULL), MC_OK);
    for (int i = 0; i < KEYS; i++) {
        add_key(controller, i);
        add_key(controller, i); /* deduped before start */
    }
    assert_int_equal(mc_controller_start(controller, NULL), MC_OK);
    wait_total(f, KEYS);
    mc_controller_stop(controller);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(f->calls[i], 1);
    assert_int_equal(f->overlaps, 0);
    assert_int_equal(f->unknown, 0);
    mc_controller_free(controller);
    fake_free(f);
}

static void test_failures_retry_then_forget(void **state)
{
    (void)state;
    fake *f = fake_new();
    f->fail_first[3] = 3;
    f->fail_first[7] = 1;
    mc_controller *controller = NULL;
    assert_int_equal(mc_controller_new("test", 2, reconcile, f, &controller, NULL), MC_OK);
    mc_log_configure(MC_LOG_OFF, MC_LOG_TEXT, NULL);
    assert_int_equal(mc_controller_start(controller, NULL), MC_OK);
    add_key(controller, 3);
    add_key(controller, 7);
    add_key(controller, 9);
    /* 3: 3 failures + 1 success; 7: 1 + 1; 9: 1. Backoff 5, 10, 20 ms real. */
    wait_total(f, 4 + 2 + 1);
    mc_controller_stop(controller);
    mc_log_configure(MC_LOG_INFO, MC_LOG_TEXT, NULL);
    assert_int_equal(f->calls[3], 4);
    assert_int_equal(f->calls[7], 2);
    assert_int_equal(f->calls[9], 1);
    /* Success forgot the backoff. */
    assert_int_equal(mc_workqueue_requeues(mc_controller_queue(controller), "ns/k3"), 0);
    assert_int_equal(mc_workqueue_requeues(mc_controller_queue(controller), "ns/k7"), 0);
    mc_controller_free(controller);
    fake_free(f);
}

static void test_requeue_after(void **state)
{
    (void)state;
    fake *f = fake_new();
    f->requeue_after[5] = 1;
    mc_controller *controller = NULL;
    assert_int_equal(mc_controller_new("test", 3, reconcile, f, &controller, NULL), MC_OK);
    assert_int_equal(mc_controller_start(controller, NULL), MC_OK);
    add_key(controller, 5);
    wait_total(f, 2);
    mc_controller_stop(controller);
    assert_int_equal(f->calls[5], 2);
    mc_controller_free(controller);
    fake_free(f);
}

static void test_stop_drains(void **state)
{
    (void)state;
    fake *f = fake_new();
    mc_controller *controller = NULL;
    assert_int_equal(mc_controller_new("test", 2, reconcile, f, &controller, NULL), MC_OK);
    for (int i = 0; i < KEYS; i++)
        add_key(controller, i);
    assert_int_equal(mc_controller_start(controller, NULL), MC_OK);
    mc_controller_stop(controller); /* returns once the queue is drained */
    assert_int_equal(f->total, KEYS);
    /* Stopped: new keys are refused, a second stop is harmless. */
    add_key(controller, 0);
    assert_int_equal(mc_workqueue_len(mc_controller_queue(controller)), 0);
    mc_controller_stop(controller);
    mc_controller_free(controller);
    fake_free(f);
}

static int owner_key(const json_t *obj, char *key, size_t key_size)
{
    const char *owner = json_string_value(json_object_get(obj, "owner"));
    if (!owner)
        return -1;
    snprintf(key, key_size, "ns/%s", owner);
    return 0;
}

static void test_handlers_queue_keys(void **state)
{
    (void)state;
    fake *f = fake_new();
    mc_controller *controller = NULL;
    assert_int_equal(mc_controller_new("test", 1, reconcile, f, &controller, NULL), MC_OK);
    mc_informer_handlers direct, owned;
    mc_controller_watch(controller, &direct, NULL);
    mc_controller_watch(controller, &owned, owner_key);
    assert_non_null(direct.on_add);
    json_t *obj = json_pack("{s:{s:s,s:s}}", "metadata", "namespace", "ns", "name", "k1");
    json_t *obj2 = json_pack("{s:{s:s,s:s}}", "metadata", "namespace", "ns", "name", "k2");
    json_t *child = json_pack("{s:s,s:{s:s}}", "owner", "k3", "metadata", "name", "c");
    json_t *orphan = json_pack("{s:{s:s}}", "metadata", "name", "c");
    json_t *nameless = json_pack("{s:{}}", "metadata");
    direct.on_add(direct.ctx, obj);
    direct.on_update(direct.ctx, obj, obj);
    direct.on_delete(direct.ctx, obj2);
    direct.on_add(direct.ctx, nameless);
    owned.on_update(owned.ctx, child, child);
    owned.on_add(owned.ctx, orphan);
    mc_workqueue *queue = mc_controller_queue(controller);
    assert_int_equal(mc_workqueue_len(queue), 3);
    const char *expected[] = {"ns/k1", "ns/k2", "ns/k3"};
    for (int i = 0; i < 3; i++) {
        char *key = NULL;
        assert_int_equal(mc_workqueue_get(queue, &key, 0), MC_OK);
        assert_string_equal(key, expected[i]);
        mc_workqueue_done(queue, key);
    }
    json_decref(obj);
    json_decref(obj2);
    json_decref(child);
    json_decref(orphan);
    json_decref(nameless);
    mc_controller_free(controller);
    fake_free(f);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    mc_controller *controller = (mc_controller *)1;
    mc_err err;
    assert_int_equal(mc_controller_new("x", 0, reconcile, NULL, &controller, &err), MC_EINVAL);
    assert_null(controller);
    assert_int_equal(mc_controller_new("x", 1, NULL, NULL, &controller, &err), MC_EINVAL);
    mc_controller_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_key_once),
        cmocka_unit_test(test_failures_retry_then_forget),
        cmocka_unit_test(test_requeue_after),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_handlers_queue_keys),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
