/* scale_agents.c - the agents of make bench-scale (bench/scale.sh): one
 * mc_agent per managed cluster, all in this one process, so that 1 000
 * clusters do not need 1 000 processes on a 2-core machine.
 *
 * Each agent is what `meshcert agent` runs: its own kubeconfig (that
 * cluster's credentials only), its own kube/ client, its own informers and
 * controller (--workers threads); they share the process's one watch I/O
 * thread, its informer runner (mc_agent_options.watcher and .runner: a
 * fixed pool of list workers) and its Event writer (.broadcaster: one
 * thread; each agent records through its own client). Besides, an observer per cluster (its
 * own client on the same kubeconfig) watches the IssuedCertificates and
 * prints a line each time one enters FINISHED for its generation:
 *     finished <cluster> <namespace>/<name> <CLOCK_MONOTONIC seconds>
 * (the bench's driver compares these with its own clock, Python's
 * time.monotonic(), which is the same clock). Once every agent's caches are
 * synced it prints "ready <agents> <seconds since start>". Stops on SIGINT
 * or SIGTERM, freeing everything, exit 0.
 *
 * Usage: bench_scale_agents [--namespace NS] [--key-type T] [--workers N]
 *                           [--list-workers N] [--log-level L] KUBECONFIG...
 * --workers: reconcile threads per agent [1]; --list-workers: the shared
 * runner's list threads [32] (the first lists of 1 000 clusters, 5 each, are
 * latency-bound: a TLS handshake and a round trip each).
 * The cluster of each KUBECONFIG is its file name without ".yaml".
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "api/resource.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "util/log.h"
#include "util/metrics.h"

typedef struct cluster {
    char name[128];
    mc_kube_config *config;
    mc_agent *agent;
    mc_kube_client *observer_client;
    mc_kube_watch *observer;
    json_t *finished; /* "ns/name" -> true while FINISHED for its generation (I/O thread) */
} cluster;

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const mc_err *err)
{
    fprintf(stderr, "bench_scale_agents: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* On the watch I/O thread: prints a line when an IssuedCertificate enters
 * FINISHED with status.observedGeneration == metadata.generation. */
static void observe(void *ctx, mc_kube_event_type type, const json_t *obj)
{
    cluster *c = ctx;
    if (type != MC_KUBE_ADDED && type != MC_KUBE_MODIFIED)
        return;
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    json_t *status = json_object_get(obj, "status");
    const char *state = json_string_value(json_object_get(status, "state"));
    json_int_t generation =
        json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
    json_int_t observed = json_integer_value(json_object_get(status, "observedGeneration"));
    if (!ns || !name)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    int finished = state && strcmp(state, "FINISHED") == 0 && observed == generation;
    int was = json_object_get(c->finished, key) != NULL;
    if (finished && !was) {
        json_object_set_new(c->finished, key, json_true());
        printf("finished %s %s %.6f\n", c->name, key, monotonic_seconds());
        fflush(stdout);
    } else if (!finished && was) {
        json_object_del(c->finished, key);
    }
}

static void cluster_name_of(const char *path, char *out, size_t out_size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, out_size, "%s", base);
    char *dot = strstr(out, ".yaml");
    if (dot)
        *dot = '\0';
}

int main(int argc, char **argv)
{
    const char *ns = "meshcert";
    mc_key_type key_type = MC_KEY_EC_P256;
    int workers = 1, list_workers = 32;
    mc_log_level level = MC_LOG_WARN;
    mc_err err = {0};
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (first + 1 >= argc)
            die(argv[first], NULL);
        const char *value = argv[first + 1];
        if (strcmp(argv[first], "--namespace") == 0)
            ns = value;
        else if (strcmp(argv[first], "--key-type") == 0) {
            if (mc_pki_key_type_parse(value, &key_type, &err))
                die("--key-type", &err);
        } else if (strcmp(argv[first], "--workers") == 0)
            workers = atoi(value);
        else if (strcmp(argv[first], "--list-workers") == 0)
            list_workers = atoi(value);
        else if (strcmp(argv[first], "--log-level") == 0) {
            int parsed = mc_log_level_parse(value);
            if (parsed < 0)
                die("--log-level: expected debug, info, warn or error", NULL);
            level = (mc_log_level)parsed;
        } else
            die(argv[first], NULL);
    }
    size_t n = (size_t)(argc - first);
    if (n == 0 || workers < 1 || list_workers < 1 || list_workers > 64) {
        fprintf(stderr, "usage: bench_scale_agents [--namespace NS] [--key-type T] [--workers N] "
                        "[--list-workers N] [--log-level L] KUBECONFIG...\n");
        return 2;
    }
    mc_log_configure(level, MC_LOG_TEXT, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    double start = monotonic_seconds();
    const mc_api_resource *ic = mc_api_resource_by_kind("IssuedCertificate");
    mc_kube_resource res_issued = {ic->group, ic->version, ic->resource, ic->namespaced};
    mc_kube_watcher *watcher = NULL;
    mc_informer_runner *runner = NULL;
    if (mc_kube_watcher_new(&watcher, &err) || mc_informer_runner_new(watcher, list_workers, &runner, &err))
        die("watch thread and informer runner", &err);
    /* One writer thread for every agent's Events: room for the burst of all
     * issuances at once (about 8 Events each) several times over, so that
     * a writer behind the agents delays Events and drops none (a slot is
     * ~80 bytes). */
    static const char *const reason[] = {"reason"};
    mc_metrics *registry = mc_metrics_new();
    mc_metric *dropped =
        registry ? mc_metrics_counter(registry, "events_dropped_total", "Events not written.",
                                      reason, 1)
                 : NULL;
    mc_event_broadcaster_options event_options = {
        .component = "meshcert-agent", .queue_size = 64 * n, .dropped = dropped};
    mc_event_broadcaster *broadcaster = NULL;
    if (!dropped || mc_event_broadcaster_new(&event_options, &broadcaster, &err))
        die("event broadcaster", &err);
    cluster *clusters = calloc(n, sizeof(*clusters));
    if (!clusters)
        die("out of memory", NULL);
    for (size_t i = 0; i < n; i++) {
        cluster *c = &clusters[i];
        cluster_name_of(argv[first + (int)i], c->name, sizeof(c->name));
        mc_agent_options options = {0};
        options.namespace = ns;
        options.key_type = key_type;
        options.output_format = MC_BUNDLE_ISTIO;
        options.workers = workers;
        options.cluster_name = c->name;
        options.watcher = watcher;
        options.runner = runner;
        options.broadcaster = broadcaster;
        mc_kube_watch_options watch_options = {.bookmarks = 1};
        c->finished = json_object();
        if (!c->finished ||
            mc_kube_config_load_file(argv[first + (int)i], NULL, &c->config, &err) ||
            (options.config = c->config, mc_agent_new(&options, &c->agent, &err)) ||
            mc_agent_start(c->agent, &err) ||
            mc_kube_client_new(c->config, NULL, &c->observer_client, &err) ||
            mc_kube_watch_start(watcher, c->observer_client, &res_issued, ns, &watch_options,
                                observe, c, &c->observer, &err))
            die(c->name, &err);
    }
    /* every agent synced (its workers start then), or a stop signal */
    struct timespec tick = {0, 100 * 1000000L};
    int stopped = 0;
    for (size_t synced = 0; synced < n && !stopped;) {
        while (synced < n && mc_agent_wait_synced(clusters[synced].agent, 0, &err) == MC_OK)
            synced++;
        if (synced < n)
            stopped = sigtimedwait(&stop, NULL, &tick) > 0;
    }
    if (!stopped) {
        printf("ready %zu %.3f\n", n, monotonic_seconds() - start);
        fflush(stdout);
        int sig = 0;
        sigwait(&stop, &sig);
    }
    unsigned long reconnects = 0, expired = 0, failed = 0;
    mc_kube_watcher_restarts(watcher, &reconnects, &expired, &failed);
    fprintf(stderr, "bench_scale_agents: watch restarts: %lu reconnects, %lu expired, %lu failed\n",
            reconnects, expired, failed);
    for (size_t i = 0; i < n; i++) {
        mc_kube_watch_stop(clusters[i].observer);
        mc_agent_free(clusters[i].agent);
    }
    mc_event_broadcaster_free(broadcaster); /* after every agent's recorder */
    fprintf(stderr,
            "bench_scale_agents: events dropped: %.0f queue full, %.0f spam-filtered, %.0f write "
            "failed\n",
            mc_metric_value(dropped, MC_LABELS("queue_full")),
            mc_metric_value(dropped, MC_LABELS("spam_filtered")),
            mc_metric_value(dropped, MC_LABELS("write_failed")));
    mc_metrics_free(registry);
    mc_informer_runner_free(runner);
    mc_kube_watcher_free(watcher);
    for (size_t i = 0; i < n; i++) {
        mc_kube_client_free(clusters[i].observer_client);
        mc_kube_config_free(clusters[i].config);
        json_decref(clusters[i].finished);
    }
    free(clusters);
    return 0;
}
