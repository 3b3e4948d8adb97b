/* runtime_informer_test.c - the informer against a real `meshcert server`
 * process: its cache must end equal to the server's state, object by object
 * (json_equal against GET), after bursts of creates/updates/deletes, after a
 * partition long enough for the watch to expire (410 -> relist), and over
 * rounds of a proxy cutting and stalling its connections mid-stream; a
 * label selector limits the cache to the matching objects (compared with
 * the server's list under the same selector) as labels change; resync calls
 * on_update(obj, obj) for every cached object periodically; wait_for sees
 * creates, updates and deletes and times out when nothing comes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "runtime/informer.h"
#include "server_process.h"
#include "tcp_proxy.h"
#include "util/log.h"
#include "util/str.h"

typedef struct fixture {
    server_process server;
    tcp_proxy *proxy;
    mc_kube_client *direct;  /* straight to the server: the writer and the judge */
    mc_kube_client *proxied; /* through the proxy: the informer's */
    mc_kube_watcher *watcher;
    mc_informer_runner *runner;
    mc_informer *informer;
    const char *selector;              /* the informer's label selector (and compare's), or NULL */
    int64_t resync_ms;                 /* the informer's resync period */
    atomic_int adds, updates, deletes; /* handler calls */
    atomic_int resyncs;                /* on_update calls with old equal to new (no watch event) */
    atomic_int resyncs_of[3];          /* the same per object "rs-<i>" */
} fixture;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_add(void *ctx, const json_t *obj)
{
    (void)obj;
    atomic_fetch_add(&((fixture *)ctx)->adds, 1);
}

static void on_update(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    fixture *f = ctx;
    atomic_fetch_add(&f->updates, 1);
    /* A watch MODIFIED always brings a new resourceVersion: an update with
     * nothing changed is a resync. */
    if (!json_equal(old_obj, new_obj))
        return;
    atomic_fetch_add(&f->resyncs, 1);
    const char *name =
        json_string_value(json_object_get(json_object_get(new_obj, "metadata"), "name"));
    if (name && strncmp(name, "rs-", 3) == 0 && name[3] >= '0' && name[3] <= '2' && !name[4])
        atomic_fetch_add(&f->resyncs_of[name[3] - '0'], 1);
}

static void on_delete(void *ctx, const json_t *obj)
{
    (void)obj;
    atomic_fetch_add(&((fixture *)ctx)->deletes, 1);
}

static int start(fixture *f, const char *history)
{
    memset(f, 0, sizeof(*f));
    const char *args[] = {"--cluster", "c1", "--history", history, NULL};
    if (server_process_start(&f->server, args) != 0)
        return -1;
    if (tcp_proxy_start(f->server.port, &f->proxy) != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeconfigs/c1.yaml", f->server.dir);
    mc_kube_config *config = NULL;
    mc_err err;
    if (mc_kube_config_load_file(path, NULL, &config, &err) != MC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    mc_kube_client_options options = {.timeout_ms = 5000};
    options.qps = 1000;
    options.burst = 1000;
    int rc = mc_kube_client_new(config, &options, &f->direct, &err);
    if (rc == MC_OK) {
        char server[256];
        snprintf(server, sizeof(server), "https://127.0.0.1:%d/clusters/c1",
                 tcp_proxy_port(f->proxy));
        free(config->server);
        config->server = mc_strdup(server);
        rc = mc_kube_client_new(config, &options, &f->proxied, &err);
    }
    mc_kube_config_free(config);
    if (rc == MC_OK)
        rc = mc_kube_watcher_new(&f->watcher, &err);
    if (rc == MC_OK)
        rc = mc_informer_runner_new(f->watcher, 0, &f->runner, &err);
    if (rc != MC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int setup_default(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    return f ? start(f, "10000") : -1;
}

static int setup_short_history(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    return f ? start(f, "20") : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    mc_informer_free(f->informer);
    mc_informer_runner_free(f->runner);
    mc_kube_watcher_free(f->watcher);
    mc_kube_client_free(f->proxied);
    mc_kube_client_free(f->direct);
    tcp_proxy_stop(f->proxy);
    int rc = f->server.pid ? server_process_stop(&f->server) : 0;
    free(f);
    return rc;
}

static void start_informer(fixture *f)
{
    mc_informer_handlers handlers = {on_add, on_update, on_delete, f};
    mc_informer_options options = {"default", f->selector, "group", f->resync_ms};
    mc_err err;
    assert_int_equal(mc_informer_new(f->proxied, f->runner, mc_kube_resource_of(MC_API_CONFIG_MAPS),
                                     &options, &handlers, &f->informer, &err),
                     MC_OK);
    assert_int_equal(mc_informer_start(f->informer, &err), MC_OK);
    assert_int_equal(mc_informer_wait_synced(f->informer, 20000), MC_OK);
}

static void put_configmap(fixture *f, const char *name, int value)
{
    char text[32];
    snprintf(text, sizeof(text), "%d", value);
    json_t *obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s}}", "apiVersion", "v1", "kind",
                            "ConfigMap", "metadata", "name", name, "namespace", "default", "labels",
                            "group", value % 2 ? "odd" : "even", "data", "value", text);
    json_t *out = NULL;
    mc_err err;
    int rc = mc_kube_create(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", obj,
                            &out, &err);
    if (rc == MC_EEXISTS) {
        json_t *current = NULL;
        rc = mc_kube_get(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", name,
                         &current, &err);
        if (rc == MC_OK) {
            json_object_set(
                json_object_get(obj, "metadata"), "resourceVersion",
                json_object_get(json_object_get(current, "metadata"), "resourceVersion"));
            rc = mc_kube_update(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", obj,
                                &out, &err);
            if (rc == MC_ECONFLICT)
                rc = MC_OK; /* a concurrent writer won; state stays consistent */
        }
        json_decref(current);
    }
    if (rc != MC_OK)
        fprintf(stderr, "put %s: %s\n", name, err.msg);
    assert_int_equal(rc, MC_OK);
    json_decref(out);
    json_decref(obj);
}

static void delete_configmap(fixture *f, const char *name)
{
    mc_err err;
    int rc = mc_kube_delete(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", name,
                            NULL, &err);
    if (rc != MC_OK && rc != MC_ENOTFOUND)
        fprintf(stderr, "delete %s: %s\n", name, err.msg);
    assert_true(rc == MC_OK || rc == MC_ENOTFOUND);
}

/* A burst of random writes over count names. */
static void burst(fixture *f, unsigned *seed, int writes, int names)
{
    for (int i = 0; i < writes; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cm-%d", (int)(rand_r(seed) % (unsigned)names));
        if (rand_r(seed) % 4 == 0)
            delete_configmap(f, name);
        else
            put_configmap(f, name, (int)(rand_r(seed) % 1000));
    }
}

/* 0 when the informer's cache equals the server's state object by object;
 * report != 0 prints the first difference. */
static int compare(fixture *f, int report)
{
    json_t *list = NULL;
    mc_err err;
    mc_kube_list_options selected = {.label_selector = f->selector};
    if (mc_kube_list(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", &selected,
                     &list, &err) != MC_OK) {
        fprintf(stderr, "list: %s\n", err.msg);
        return -1;
    }
    int diff = 0;
    json_t **cached = NULL;
    size_t cached_count = mc_informer_list(f->informer, "default", &cached);
    json_t *items = json_object_get(list, "items");
    if (cached_count != json_array_size(items)) {
        if (report)
            fprintf(stderr, "informer holds %zu objects, server %zu\n", cached_count,
                    json_array_size(items));
        diff = 1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (diff)
            break;
        const char *name =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        json_t *server_obj = NULL;
        if (mc_kube_get(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", name,
                        &server_obj, &err) != MC_OK) {
            diff = 1; /* deleted between list and get: not settled yet */
            break;
        }
        json_t *cached_obj = mc_informer_get(f->informer, "default", name);
        if (!cached_obj || !json_equal(cached_obj, server_obj)) {
            if (report) {
                char *a = cached_obj ? json_dumps(cached_obj, JSON_COMPACT) : NULL;
                char *b = json_dumps(server_obj, JSON_COMPACT);
                fprintf(stderr, "differs: %s\n  cache:  %s\n  server: %s\n", name,
                        a ? a : "(absent)", b ? b : "?");
                free(a);
                free(b);
            }
            diff = 1;
        }
        json_decref(cached_obj);
        json_decref(server_obj);
    }
    for (size_t k = 0; k < cached_count; k++)
        json_decref(cached[k]);
    free(cached);
    json_decref(list);
    return diff;
}

/* Waits (up to timeout_ms) for the cache to settle equal to the server. */
static void assert_converges(fixture *f, int64_t timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    while (compare(f, 0) != 0 && now_ms() < until)
        sleep_ms(100);
    assert_int_equal(compare(f, 1), 0);
}

static void test_cache_equals_server(void **state)
{
    fixture *f = *state;
    unsigned seed = 1;
    burst(f, &seed, 30, 20); /* some objects exist before the first list */
    start_informer(f);
    assert_int_equal(compare(f, 1), 0); /* synced means the list is in the cache */
    burst(f, &seed, 300, 40);
    assert_converges(f, 20000);
    assert_true(atomic_load(&f->adds) > 0);
    assert_true(atomic_load(&f->updates) > 0);
    assert_true(atomic_load(&f->deletes) > 0);
    /* The label index follows labels through updates. */
    json_t **odd = NULL;
    size_t odd_count = mc_informer_by_label(f->informer, "odd", &odd);
    for (size_t i = 0; i < odd_count; i++) {
        const char *value = json_string_value(json_object_get(
            json_object_get(json_object_get(odd[i], "metadata"), "labels"), "group"));
        assert_string_equal(value, "odd");
        json_decref(odd[i]);
    }
    free(odd);
    json_t **all = NULL;
    size_t all_count = mc_informer_list(f->informer, NULL, &all);
    json_t **even = NULL;
    size_t even_count = mc_informer_by_label(f->informer, "even", &even);
    assert_int_equal(odd_count + even_count, all_count);
    for (size_t i = 0; i < all_count; i++)
        json_decref(all[i]);
    for (size_t i = 0; i < even_count; i++)
        json_decref(even[i]);
    free(all);
    free(even);
    assert_int_equal(mc_informer_relists(f->informer), 0);
}

static void test_relist_after_expiry(void **state)
{
    fixture *f = *state;
    unsigned seed = 2;
    burst(f, &seed, 10, 10);
    start_informer(f);
    assert_int_equal(mc_informer_relists(f->informer), 0);
    /* Partition: nothing moves through the proxy while the server's window
     * of 20 revisions passes by several times. */
    tcp_proxy_stall(f->proxy, 1);
    burst(f, &seed, 100, 15);
    /* Break the stalled watch and heal: the watch resumes from a revision
     * the server no longer has (410), and the informer must relist. */
    tcp_proxy_cut(f->proxy);
    tcp_proxy_stall(f->proxy, 0);
    int64_t until = now_ms() + 30000;
    while (mc_informer_relists(f->informer) == 0 && now_ms() < until)
        sleep_ms(50);
    assert_true(mc_informer_relists(f->informer) > 0);
    assert_converges(f, 20000);
    /* And it keeps watching after the relist. */
    burst(f, &seed, 30, 15);
    assert_converges(f, 20000);
}

static void test_proxy_cuts_and_stalls(void **state)
{
    fixture *f = *state;
    unsigned seed = 3;
    burst(f, &seed, 20, 25);
    start_informer(f);
    for (int round = 0; round < 8; round++) {
        /* Cut mid-stream while writes flow, then stall for a while with
         * more writes (odd rounds outlast the 20-revision window), then heal. */
        burst(f, &seed, 5, 25);
        tcp_proxy_cut(f->proxy);
        burst(f, &seed, 5, 25);
        tcp_proxy_stall(f->proxy, 1);
        burst(f, &seed, round % 2 ? 40 : 5, 25);
        tcp_proxy_cut(f->proxy);
        tcp_proxy_stall(f->proxy, 0);
        burst(f, &seed, 5, 25);
        assert_converges(f, 30000);
    }
    fprintf(stderr, "proxy rounds: %u relists, %u connections\n", mc_informer_relists(f->informer),
            tcp_proxy_accepted(f->proxy));
    assert_true(mc_informer_relists(f->informer) > 0);
}

static void test_stop_is_prompt_and_final(void **state)
{
    fixture *f = *state;
    unsigned seed = 4;
    start_informer(f);
    burst(f, &seed, 10, 5);
    assert_converges(f, 20000);
    mc_informer_stop(f->informer);
    int calls = atomic_load(&f->adds) + atomic_load(&f->updates) + atomic_load(&f->deletes);
    burst(f, &seed, 20, 5);
    sleep_ms(300);
    /* No handler runs after stop returned. */
    assert_int_equal(atomic_load(&f->adds) + atomic_load(&f->updates) + atomic_load(&f->deletes),
                     calls);
}

/* Objects whose label group is odd: the cache holds them and only them,
 * object by object equal to the server's list under the same selector,
 * also as updates move objects in and out of the selection (the watch then
 * reports them as added and deleted). */
static void test_label_selector_limits_cache(void **state)
{
    fixture *f = *state;
    unsigned seed = 5;
    f->selector = "group=odd";
    burst(f, &seed, 30, 20);
    start_informer(f);
    assert_int_equal(compare(f, 1), 0);
    burst(f, &seed, 200, 20);
    /* Moves in both directions, whatever the burst did. */
    put_configmap(f, "mover-a", 1);
    put_configmap(f, "mover-b", 2);
    put_configmap(f, "mover-a", 2); /* odd -> even: leaves the cache */
    put_configmap(f, "mover-b", 3); /* even -> odd: enters it */
    assert_converges(f, 20000);
    json_t *a = mc_informer_get(f->informer, "default", "mover-a");
    json_t *b = mc_informer_get(f->informer, "default", "mover-b");
    assert_null(a);
    assert_non_null(b);
    json_decref(b);
    /* The selection is a strict, non-empty part of what the server holds,
     * and every cached object carries the label. */
    json_t *all = NULL;
    mc_err err;
    assert_int_equal(mc_kube_list(f->direct, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default",
                                  NULL, &all, &err),
                     MC_OK);
    json_t **cached = NULL;
    size_t count = mc_informer_list(f->informer, NULL, &cached);
    assert_true(count > 0);
    assert_true(count < json_array_size(json_object_get(all, "items")));
    for (size_t i = 0; i < count; i++) {
        const char *group = json_string_value(json_object_get(
            json_object_get(json_object_get(cached[i], "metadata"), "labels"), "group"));
        assert_non_null(group);
        assert_string_equal(group, "odd");
        json_decref(cached[i]);
    }
    free(cached);
    json_decref(all);
    assert_true(atomic_load(&f->deletes) > 0); /* mover-a at least */
}

/* resync_ms 300 and no writes: every cached object is handed to on_update
 * (old equal to new) about every 300 ms; none after stop. */
/* mc_informer_wait_for returns as soon as the cache shows the write (woken
 * by the watch event, no polling), and times out when it never comes. */
static const char *cached_rv(fixture *f, const char *name, char *out, size_t out_size)
{
    json_t *obj = mc_informer_get(f->informer, "default", name);
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    snprintf(out, out_size, "%s", rv ? rv : "");
    json_decref(obj);
    return rv ? out : NULL;
}

static void test_wait_for_shows_writes(void **state)
{
    fixture *f = *state;
    start_informer(f);
    char rv[64], rv2[64];
    /* absent and never written: times out after about the timeout */
    int64_t t0 = now_ms();
    assert_int_equal(mc_informer_wait_for(f->informer, "default", "wf", NULL, 0, 300), 0);
    assert_true(now_ms() - t0 >= 290);
    /* created: shown */
    put_configmap(f, "wf", 1);
    assert_int_equal(mc_informer_wait_for(f->informer, "default", "wf", NULL, 0, 10000), 1);
    assert_non_null(cached_rv(f, "wf", rv, sizeof(rv)));
    /* no newer write than rv: times out */
    assert_int_equal(mc_informer_wait_for(f->informer, "default", "wf", rv, 0, 200), 0);
    /* updated: shown with a new resourceVersion */
    put_configmap(f, "wf", 2);
    assert_int_equal(mc_informer_wait_for(f->informer, "default", "wf", rv, 0, 10000), 1);
    assert_non_null(cached_rv(f, "wf", rv2, sizeof(rv2)));
    assert_string_not_equal(rv, rv2);
    /* deleted: shown as gone */
    delete_configmap(f, "wf");
    assert_int_equal(mc_informer_wait_for(f->informer, "default", "wf", rv2, 1, 10000), 1);
    assert_null(cached_rv(f, "wf", rv, sizeof(rv)));
}

static void test_resync_calls_on_update(void **state)
{
    fixture *f = *state;
    f->resync_ms = 300;
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "rs-%d", i);
        put_configmap(f, name, i);
    }
    start_informer(f);
    /* nothing was modified since the list: every update is a resync */
    assert_int_equal(atomic_load(&f->updates), atomic_load(&f->resyncs));
    int64_t start = now_ms();
    sleep_ms(1400);
    int64_t elapsed = now_ms() - start;
    /* Four periods (give or take one at each end) passed. */
    for (int i = 0; i < 3; i++) {
        int n = atomic_load(&f->resyncs_of[i]);
        if (n < 3 || n > (int)(elapsed / 300) + 2)
            fail_msg("rs-%d resynced %d times in %lld ms", i, n, (long long)elapsed);
    }
    assert_int_equal(atomic_load(&f->updates), atomic_load(&f->resyncs));
    assert_int_equal(atomic_load(&f->resyncs), atomic_load(&f->resyncs_of[0]) +
                                                   atomic_load(&f->resyncs_of[1]) +
                                                   atomic_load(&f->resyncs_of[2]));
    /* A real change is an update with a difference, not a resync. */
    put_configmap(f, "rs-0", 10);
    int64_t until = now_ms() + 10000;
    while (atomic_load(&f->updates) == atomic_load(&f->resyncs) && now_ms() < until)
        sleep_ms(20);
    assert_true(atomic_load(&f->updates) > atomic_load(&f->resyncs));
    mc_informer_stop(f->informer);
    int after_stop = atomic_load(&f->resyncs);
    sleep_ms(700);
    assert_int_equal(atomic_load(&f->resyncs), after_stop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_equals_server, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_relist_after_expiry, setup_short_history, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_cuts_and_stalls, setup_short_history, teardown),
        cmocka_unit_test_setup_teardown(test_stop_is_prompt_and_final, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_label_selector_limits_cache, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_resync_calls_on_update, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_shows_writes, setup_default, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
