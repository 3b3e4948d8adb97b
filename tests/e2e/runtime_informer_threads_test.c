/* runtime_informer_threads_test.c - informers cost no thread of their own.
 * Against a real `meshcert server` hosting 200 logical clusters over HTTPS,
 * one process runs two informers per cluster (as the issuer does) on one
 * watcher and one runner: its thread count (/proc/self/task) once the
 * informers on 2 clusters have synced equals the count once those on all
 * 200 have, and is the baseline plus the watch I/O thread and the runner's
 * list workers; every cache holds its cluster's objects and follows a later
 * write. A cluster that never answers (a socket that never accepts) holds
 * one list worker for at most the page deadline while the other informers
 * sync on the rest. Lists are served first in, first out.
 */
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "runtime/informer.h"
#include "server_process.h"
#include "util/log.h"
#include "util/str.h"

#define CLUSTERS     200
#define FEW_CLUSTERS 2
#define WORKERS      4

typedef struct fixture {
    server_process server;
    mc_kube_client *clients[CLUSTERS];
    mc_kube_watcher *watcher;
    mc_informer_runner *runner;
    mc_informer *informers[2 * CLUSTERS + 1]; /* configmaps, secrets per cluster; a spare */
    size_t informer_count;
    int blackhole; /* listening socket that never accepts, or -1 */
} fixture;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Threads of this process now. */
static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count;
}

/* A client for cluster c<i+1>; server_url replaces the kubeconfig's when
 * not NULL. */
static int client_for(fixture *f, int i, const char *server_url, mc_kube_client **out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeconfigs/c%d.yaml", f->server.dir, i + 1);
    mc_kube_config *config = NULL;
    mc_err err;
    int rc = mc_kube_config_load_file(path, NULL, &config, &err);
    if (rc == MC_OK && server_url) {
        free(config->server);
        config->server = mc_strdup(server_url);
    }
    mc_kube_client_options options = {.qps = 1000, .burst = 1000};
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, &options, out, &err);
    mc_kube_config_free(config);
    if (rc != MC_OK)
        fprintf(stderr, "client c%d: %s\n", i + 1, err.msg);
    return rc;
}

static int setup(void **state)
{
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    f->blackhole = -1;
    static char names[CLUSTERS][16];
    const char *args[2 * CLUSTERS + 1];
    for (int i = 0; i < CLUSTERS; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i + 1);
        args[2 * i] = "--cluster";
        args[2 * i + 1] = names[i];
    }
    args[2 * CLUSTERS] = NULL;
    if (server_process_start(&f->server, args) != 0)
        return -1;
    for (int i = 0; i < CLUSTERS; i++)
        if (client_for(f, i, NULL, &f->clients[i]) != MC_OK)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    for (size_t i = 0; i < f->informer_count; i++)
        mc_informer_free(f->informers[i]);
    mc_informer_runner_free(f->runner);
    mc_kube_watcher_free(f->watcher);
    for (int i = 0; i < CLUSTERS; i++)
        mc_kube_client_free(f->clients[i]);
    if (f->blackhole >= 0)
        close(f->blackhole);
    int rc = f->server.pid ? server_process_stop(&f->server) : 0;
    free(f);
    return rc;
}

static void start_runner(fixture *f, int workers)
{
    mc_err err;
    assert_int_equal(mc_kube_watcher_new(&f->watcher, &err), MC_OK);
    assert_int_equal(mc_informer_runner_new(f->watcher, workers, &f->runner, &err), MC_OK);
}

static mc_informer *add_informer(fixture *f, mc_kube_client *client, const mc_kube_resource *res)
{
    mc_informer_options options = {"default", NULL, NULL, 0};
    mc_informer *informer = NULL;
    mc_err err;
    assert_int_equal(mc_informer_new(client, f->runner, res, &options, NULL, &informer, &err),
                     MC_OK);
    f->informers[f->informer_count++] = informer;
    assert_int_equal(mc_informer_start(informer, &err), MC_OK);
    return informer;
}

static void put_marker(fixture *f, int cluster, const char *name)
{
    char value[16];
    snprintf(value, sizeof(value), "c%d", cluster + 1);
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                  "metadata", "name", name, "namespace", "default", "data", "cluster", value);
    json_t *out = NULL;
    mc_err err;
    int rc = mc_kube_create(f->clients[cluster], mc_kube_resource_of(MC_API_CONFIG_MAPS), "default",
                            obj, &out, &err);
    if (rc != MC_OK)
        fprintf(stderr, "create %s in c%d: %s\n", name, cluster + 1, err.msg);
    assert_int_equal(rc, MC_OK);
    json_decref(out);
    json_decref(obj);
}

/* Waits until informer's cache holds name (20 s at most). */
static int cached_within(mc_informer *informer, const char *name)
{
    for (int64_t until = now_ms() + 20000; now_ms() < until; sleep_ms(20)) {
        json_t *obj = mc_informer_get(informer, "default", name);
        json_decref(obj);
        if (obj)
            return 1;
    }
    return 0;
}

static void test_threads_do_not_grow_with_clusters(void **state)
{
    fixture *f = *state;
    put_marker(f, 0, "before");
    put_marker(f, CLUSTERS - 1, "before");
    int baseline = thread_count();
    start_runner(f, WORKERS);

    for (int i = 0; i < FEW_CLUSTERS; i++) {
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_CONFIG_MAPS));
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_SECRETS));
    }
    for (size_t i = 0; i < f->informer_count; i++)
        assert_int_equal(mc_informer_wait_synced(f->informers[i], 60000), MC_OK);
    int few = thread_count();

    int64_t started = now_ms();
    for (int i = FEW_CLUSTERS; i < CLUSTERS; i++) {
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_CONFIG_MAPS));
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_SECRETS));
    }
    for (size_t i = 0; i < f->informer_count; i++)
        assert_int_equal(mc_informer_wait_synced(f->informers[i], 120000), MC_OK);
    int64_t synced_ms = now_ms() - started;
    int many = thread_count();
    printf("threads: %d before, %d with informers on %d clusters, %d on %d clusters "
           "(%zu informers synced in %lld ms)\n",
           baseline, few, FEW_CLUSTERS, many, CLUSTERS, f->informer_count, (long long)synced_ms);
    assert_int_equal(few, baseline + 1 + WORKERS); /* the watch I/O thread, the list workers */
    assert_int_equal(many, few);

    /* The caches are real: listed objects are there, and every watch runs. */
    assert_true(cached_within(f->informers[0], "before"));
    assert_true(cached_within(f->informers[2 * (CLUSTERS - 1)], "before"));
    assert_null(mc_informer_get(f->informers[2], "default", "before"));
    put_marker(f, CLUSTERS / 2, "after");
    assert_true(cached_within(f->informers[2 * (CLUSTERS / 2)], "after"));
    assert_int_equal(thread_count(), few);

    for (size_t i = 0; i < f->informer_count; i++)
        mc_informer_free(f->informers[i]);
    f->informer_count = 0;
    mc_informer_runner_free(f->runner);
    f->runner = NULL;
    mc_kube_watcher_free(f->watcher);
    f->watcher = NULL;
    assert_int_equal(thread_count(), baseline);
}

/* A loopback port whose connections complete the TCP handshake (backlog) and
 * then hear nothing: a cluster that never answers. */
static int blackhole_port(fixture *f)
{
    f->blackhole = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    if (f->blackhole < 0 || bind(f->blackhole, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(f->blackhole, 64) != 0 ||
        getsockname(f->blackhole, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    return ntohs(addr.sin_port);
}

static void test_unreachable_cluster_does_not_block_others(void **state)
{
    fixture *f = *state;
    int port = blackhole_port(f);
    assert_true(port > 0);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/clusters/c1", port);
    mc_kube_client *dead = NULL;
    assert_int_equal(client_for(f, 0, url, &dead), MC_OK);

    start_runner(f, 2);
    int64_t started = now_ms();
    /* First in the FIFO: it takes a worker and keeps it. */
    mc_informer *stuck = add_informer(f, dead, mc_kube_resource_of(MC_API_CONFIG_MAPS));
    for (int i = 0; i < 40; i++)
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_CONFIG_MAPS));
    for (size_t i = 1; i < f->informer_count; i++)
        assert_int_equal(mc_informer_wait_synced(f->informers[i], 10000), MC_OK);
    int64_t others_ms = now_ms() - started;
    assert_false(mc_informer_has_synced(stuck));

    /* Stop waits for the list in flight, which the page deadline (15 s)
     * ends long before the client's own limits (30 s a try, 5 retries). */
    mc_informer_stop(stuck);
    int64_t stopped_ms = now_ms() - started;
    printf("40 informers synced in %lld ms beside an unreachable cluster; its list ended "
           "after %lld ms\n",
           (long long)others_ms, (long long)stopped_ms);
    assert_true(others_ms < 10000);
    assert_true(stopped_ms < 20000);

    for (size_t i = 0; i < f->informer_count; i++)
        mc_informer_free(f->informers[i]);
    f->informer_count = 0;
    mc_informer_runner_free(f->runner);
    f->runner = NULL;
    mc_kube_client_free(dead);
}

/* Lists are served in the order they were queued: with one list worker,
 * whenever informer i has synced, every informer started before it has. */
static void test_lists_are_served_first_in_first_out(void **state)
{
    fixture *f = *state;
    start_runner(f, 1);
    for (int i = 0; i < CLUSTERS; i++)
        add_informer(f, f->clients[i], mc_kube_resource_of(MC_API_CONFIG_MAPS));
    size_t synced = 0, polls = 0;
    for (int64_t until = now_ms() + 60000; synced < f->informer_count && now_ms() < until;
         polls++) {
        /* Read last to first: an informer read as synced was synced before
         * every earlier one is read, so the snapshot must be a prefix. */
        int flags[CLUSTERS];
        for (size_t i = f->informer_count; i-- > 0;)
            flags[i] = mc_informer_has_synced(f->informers[i]);
        size_t prefix = 0;
        while (prefix < f->informer_count && flags[prefix])
            prefix++;
        for (size_t i = prefix; i < f->informer_count; i++)
            if (flags[i])
                fail_msg("informer %zu synced before informer %zu", i, prefix);
        synced = prefix;
        sleep_ms(1);
    }
    printf("%zu informers synced in order on one list worker (%zu polls)\n", synced, polls);
    assert_int_equal(synced, f->informer_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_do_not_grow_with_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_cluster_does_not_block_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lists_are_served_first_in_first_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
