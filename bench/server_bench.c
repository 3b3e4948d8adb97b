/* server_bench.c - the embedded server's storage and watch fan-out, measured
 * against the raw SQLite ceiling in the same run (make bench-server).
 *
 * Prints one "name value unit" line per figure: raw SQLite inserts/s with
 * the store's durability settings (WAL, synchronous=NORMAL, one transaction
 * per row, for 3 s at least), store creates/s and gets/s, the time to list (and encode)
 * 10 000 objects, RSS per 1 000 stored objects, and the p50/p99 delivery
 * latency of events to 1 000 concurrent watches over loopback HTTP
 * (libmicrohttpd epoll thread, libcurl multi client). bench/server.sh
 * turns them into ratios. Usage: bench_server [objects] [watchers]
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "server/store.h"
#include "server/watch.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_server: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(fp);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A ConfigMap of about 400 bytes, like a small real object. */
static json_t *object(const char *name, int64_t stamp)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s}}, s:{s:I, s:s}}", "apiVersion",
                     "v1", "kind", "ConfigMap", "metadata", "name", name, "namespace", "bench",
                     "uid", "6e77fd70-f677-4a7a-8b7f-78c7c6f7a251", "creationTimestamp",
                     "2026-11-23T11:11:42Z", "labels", "app", "bench", "tier", "backend", "data",
                     "sent", (json_int_t)stamp, "payload",
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

/* ---- raw SQLite ceiling --------------------------------------------------- */

static double sqlite_inserts_per_s(const char *path, int n, int *rows)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open", sqlite3_errmsg(db));
    sqlite3_exec(
        db,
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        "CREATE TABLE log(cluster_id INTEGER, rev INTEGER, type INTEGER, resource TEXT,"
        " namespace TEXT, name TEXT, body TEXT, PRIMARY KEY(cluster_id, rev)) WITHOUT ROWID;",
        NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "INSERT INTO log VALUES(1, ?, 1, 'core/configmaps', 'bench', ?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK)
        die("sqlite prepare", sqlite3_errmsg(db));
    json_t *obj = object("x", 0);
    char *body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    /* At least n rows and at least 3 s, so that WAL checkpoints are part of
     * the ceiling as they are of every timed server phase. */
    int64_t start = now_ns(), min_end = start + 3 * (int64_t)1000000000;
    int i;
    for (i = 0; i < n || now_ns() < min_end; i++) {
        char name[32];
        snprintf(name, sizeof(name), "obj-%d", i);
        sqlite3_bind_int64(stmt, 1, i + 1);
        sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, body, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            die("sqlite insert", sqlite3_errmsg(db));
        sqlite3_reset(stmt);
    }
    double secs = (double)(now_ns() - start) / 1e9;
    free(body);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    *rows = i;
    return i / secs;
}

/* ---- store ---------------------------------------------------------------- */

static void bench_store(const char *path, int n)
{
    mc_store *store = NULL;
    mc_err err = {0};
    long rss_before = rss_kib();
    if (mc_store_open(path, 0, &store, &err) != 0 || mc_store_cluster_add(store, "c1", &err) != 0)
        die("store", err.msg);
    int64_t start = now_ns();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "obj-%d", i);
        json_t *obj = object(name, 0);
        if (mc_store_put(store, "c1", "core/configmaps", "bench", name, obj, NULL, &err) != 0)
            die("put", err.msg);
        json_decref(obj);
    }
    double secs = (double)(now_ns() - start) / 1e9;
    long rss_after = rss_kib();
    printf("store_creates %.0f per_s\n", n / secs);
    printf("rss_per_1000_objects %.0f KiB (history %d revisions holds them too)\n",
           (double)(rss_after - rss_before) * 1000.0 / n, MC_STORE_DEFAULT_HISTORY);

    unsigned seed = 1;
    int gets = n * 10;
    start = now_ns();
    for (int i = 0; i < gets; i++) {
        char name[32];
        seed = seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "obj-%u", (seed >> 8) % (unsigned)n);
        if (!mc_store_get(store, "c1", "core/configmaps", "bench", name))
            die("get", name);
    }
    secs = (double)(now_ns() - start) / 1e9;
    printf("store_gets %.0f per_s\n", gets / secs);

    /* Listing 10 000 objects: the store's part and the JSON body of a List. */
    int list_n = n < 10000 ? n : 10000;
    const json_t **items = NULL;
    size_t count = 0;
    int more = 0;
    mc_store_list(store, "c1", "core/configmaps", NULL, NULL, NULL, 0, &items, &count, &more, &err);
    free(items); /* warms the sorted index, as any list after a write burst */
    start = now_ns();
    if (mc_store_list(store, "c1", "core/configmaps", "bench", NULL, NULL, (size_t)list_n, &items,
                      &count, &more, &err) != 0)
        die("list", err.msg);
    double list_ms = (double)(now_ns() - start) / 1e6;
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append(list, (json_t *)items[i]);
    char *body = json_dumps(list, JSON_COMPACT);
    double encode_ms = (double)(now_ns() - start) / 1e6;
    printf("list_%d_objects %.2f ms (store) %.2f ms (with JSON encoding, %zu bytes)\n", list_n,
           list_ms, encode_ms, strlen(body));
    free(body);
    json_decref(list);
    free(items);
    mc_store_close(store);
}

/* ---- watch delivery latency ------------------------------------------------ */

typedef struct bench_server {
    mc_store *store;           /* written only on the daemon thread */
    mc_watch_hub *hub;         /* fan-out */
    struct MHD_Daemon *daemon; /* plain HTTP, epoll, one thread */
    mc_server_resource res;    /* the watched resource */
    int port;                  /* loopback port */
} bench_server;

static void on_event(void *ctx, const char *cluster, const mc_store_event *e)
{
    mc_watch_hub_publish(ctx, cluster, e);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    static int marker;
    bench_server *s = cls;
    (void)version;
    (void)upload;
    if (!*req_cls) {
        *req_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/watch") == 0) {
        mc_watch_params params = {.resource = &s->res, .since = -1};
        mc_err err = {0};
        struct MHD_Response *r = mc_watch_start(s->hub, c, "c1", &params, &err);
        if (!r)
            return reply(c, 500);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/put") == 0) {
        const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
        json_t *obj = object(name ? name : "x", now_ns());
        mc_err err = {0};
        int rc = mc_store_put(s->store, "c1", "core/configmaps", "bench", name ? name : "x", obj,
                              NULL, &err);
        json_decref(obj);
        return reply(c, rc == 0 ? 200 : 500);
    }
    return reply(c, 404);
}

typedef struct watch_client {
    CURL *easy;         /* the watch */
    char partial[4096]; /* an incomplete line */
    size_t partial_len; /* bytes in partial */
} watch_client;

typedef struct samples {
    int64_t *ns; /* latencies */
    size_t len;  /* used */
    size_t cap;  /* allocated */
} samples;

static samples g_samples; /* the bench's only global: latencies from write callbacks */

static void record_line(const char *line, size_t len)
{
    const char *p = memchr(line, 's', len) ? strstr(line, "\"sent\":") : NULL;
    if (!p || (size_t)(p - line) >= len)
        return;
    int64_t sent = strtoll(p + 7, NULL, 10);
    if (g_samples.len == g_samples.cap) {
        g_samples.cap = g_samples.cap ? g_samples.cap * 2 : 4096;
        g_samples.ns = realloc(g_samples.ns, g_samples.cap * sizeof(*g_samples.ns));
        if (!g_samples.ns)
            die("memory", "samples");
    }
    g_samples.ns[g_samples.len++] = now_ns() - sent;
}

static size_t on_watch_body(char *data, size_t size, size_t n, void *ctx)
{
    watch_client *w = ctx;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (w->partial_len < sizeof(w->partial) - 1)
            w->partial[w->partial_len++] = data[i];
        if (data[i] == '\n') {
            w->partial[w->partial_len] = '\0';
            record_line(w->partial, w->partial_len);
            w->partial_len = 0;
        }
    }
    return len;
}

typedef struct writer_args {
    int port;   /* server port */
    int events; /* writes to make */
    int done;   /* set when finished */
} writer_args;

static size_t discard(char *d, size_t s, size_t n, void *c)
{
    (void)d;
    (void)c;
    return s * n;
}

static void *writer_main(void *arg)
{
    writer_args *a = arg;
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    for (int i = 0; i < a->events; i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/put?name=obj-%d", a->port, i % 10);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_perform(easy);
        usleep(20000);
    }
    curl_easy_cleanup(easy);
    __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_watch(const char *path, int watchers, int events)
{
    bench_server s = {0};
    mc_err err = {0};
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (mc_store_open(path, 0, &s.store, &err) != 0 ||
        mc_store_cluster_add(s.store, "c1", &err) != 0)
        die("store", err.msg);
    s.hub = mc_watch_hub_new(s.store, 0);
    mc_store_set_listener(s.store, on_event, s.hub);
    s.res = (mc_server_resource){.group = "",
                                 .version = "v1",
                                 .plural = "configmaps",
                                 .kind = "ConfigMap",
                                 .store_name = "core/configmaps"};
    s.daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
                                NULL, on_request, &s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
                                MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_END);
    if (!s.daemon)
        die("daemon", "cannot start");
    s.port = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;

    CURLM *multi = curl_multi_init();
    watch_client *clients = calloc((size_t)watchers, sizeof(*clients));
    for (int i = 0; i < watchers; i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/watch", s.port);
        clients[i].easy = curl_easy_init();
        curl_easy_setopt(clients[i].easy, CURLOPT_URL, url);
        curl_easy_setopt(clients[i].easy, CURLOPT_WRITEFUNCTION, on_watch_body);
        curl_easy_setopt(clients[i].easy, CURLOPT_WRITEDATA, &clients[i]);
        curl_multi_add_handle(multi, clients[i].easy);
    }
    int running = 0;
    int64_t until = now_ns() + 10 * (int64_t)1000000000;
    while (mc_watch_hub_count(s.hub) < (size_t)watchers && now_ns() < until) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    if (mc_watch_hub_count(s.hub) < (size_t)watchers)
        die("watch", "not every watch started");
    long rss_watch = rss_kib();

    writer_args args = {.port = s.port, .events = events};
    pthread_t writer;
    pthread_create(&writer, NULL, writer_main, &args);
    size_t expected = (size_t)watchers * (size_t)events;
    until = now_ns() + 120 * (int64_t)1000000000;
    while (g_samples.len < expected && now_ns() < until) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 5, NULL);
    }
    pthread_join(writer, NULL);
    qsort(g_samples.ns, g_samples.len, sizeof(*g_samples.ns), cmp_i64);
    if (g_samples.len < expected)
        fprintf(stderr, "bench_server: only %zu of %zu deliveries seen\n", g_samples.len, expected);
    if (g_samples.len > 0) {
        printf("watch_delivery_p50 %.2f ms (%d watchers, %d events, %zu deliveries)\n",
               g_samples.ns[g_samples.len / 2] / 1e6, watchers, events, g_samples.len);
        printf("watch_delivery_p99 %.2f ms\n", g_samples.ns[g_samples.len * 99 / 100] / 1e6);
    }
    printf("rss_with_%d_watches %ld KiB (client and server in one process)\n", watchers, rss_watch);

    for (int i = 0; i < watchers; i++) {
        curl_multi_remove_handle(multi, clients[i].easy);
        curl_easy_cleanup(clients[i].easy);
    }
    free(clients);
    curl_multi_cleanup(multi);
    mc_watch_hub_free(s.hub);
    MHD_stop_daemon(s.daemon);
    mc_store_close(s.store);
    free(g_samples.ns);
}

int main(int argc, char **argv)
{
    int objects = argc > 1 ? atoi(argv[1]) : 20000;
    int watchers = argc > 2 ? atoi(argv[2]) : 1000;
    char dir[] = "/tmp/mc-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    char raw[64], store[64], watch[64];
    snprintf(raw, sizeof(raw), "%s/raw.db", dir);
    snprintf(store, sizeof(store), "%s/store.db", dir);
    snprintf(watch, sizeof(watch), "%s/watch.db", dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rows = 0;
    double inserts = sqlite_inserts_per_s(raw, objects, &rows);
    printf("sqlite_inserts %.0f per_s (%d rows, one transaction each)\n", inserts, rows);
    bench_store(store, objects);
    bench_watch(watch, watchers, 100);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_server: could not remove %s\n", dir);
    return 0;
}
