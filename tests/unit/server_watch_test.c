/* server_watch_test.c - watch streams end to end over loopback: a plain-HTTP
 * libmicrohttpd daemon (epoll, one thread, suspend/resume, as the server
 * runs it) whose handler starts watches with mc_watch_start and writes to a
 * store on the daemon thread, and libcurl's multi interface as the client.
 * Covers synthetic ADDED, resume from a revision, 410 Expired, bookmarks,
 * timeouts, label and field selectors, ending a cluster's watches, freeing
 * the hub with open watches, and 2000 concurrent watches on one thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "server/watch.h"

/* The daemon, its store and hub, for one test. */
typedef struct harness {
    char dir[64];                  /* temporary directory */
    char path[96];                 /* dir/store.db */
    mc_store *store;               /* touched only on the daemon thread once it runs */
    mc_watch_hub *hub;             /* the hub under test */
    struct MHD_Daemon *daemon;     /* plain HTTP, epoll, internal thread */
    int port;                      /* bound loopback port */
    mc_server_resource configmaps; /* the watched resource */
} harness;

/* One watch (or request) driven by curl. */
typedef struct client {
    CURL *easy;  /* the transfer */
    char *buf;   /* received body */
    size_t len;  /* bytes in buf */
    size_t cap;  /* bytes allocated */
    int done;    /* 1 when the transfer ended */
    CURLcode rc; /* its result */
} client;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the server side (daemon thread) ------------------------------------- */

static void on_store_event(void *ctx, const char *cluster, const mc_store_event *event)
{
    mc_watch_hub_publish(ctx, cluster, event);
}

static const char *arg(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle_watch(harness *h, struct MHD_Connection *c)
{
    const char *cluster = arg(c, "cluster");
    const char *since = arg(c, "since");
    const char *labels = arg(c, "labels");
    const char *timeout = arg(c, "timeout");
    mc_selector *selector = NULL;
    mc_err err = {0};
    if (labels && mc_selector_parse(labels, &selector, &err) != 0)
        return respond_text(c, 400, err.msg);
    mc_watch_params params = {
        .resource = &h->configmaps,
        .namespace = arg(c, "ns"),
        .labels = selector,
        .field_name = arg(c, "fname"),
        .field_namespace = arg(c, "fns"),
        .since = since ? strtoll(since, NULL, 10) : -1,
        .bookmarks = arg(c, "bookmarks") != NULL,
        .timeout_seconds = timeout ? atoi(timeout) : 0,
    };
    struct MHD_Response *r = mc_watch_start(h->hub, c, cluster ? cluster : "c1", &params, &err);
    mc_selector_free(selector);
    if (!r)
        return respond_text(c, 500, err.msg);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* POST /put?ns=&name=[&app=][&v=] or /delete?ns=&name=: a store write on
 * the daemon thread, as the server's handlers do; answers the revision. */
static enum MHD_Result handle_write(harness *h, struct MHD_Connection *c, int delete)
{
    const char *ns = arg(c, "ns"), *name = arg(c, "name"), *app = arg(c, "app");
    const char *cluster = arg(c, "cluster");
    const char *v = arg(c, "v");
    int64_t rev = 0;
    mc_err err = {0};
    int rc;
    if (!ns || !name)
        return respond_text(c, 400, "ns and name");
    if (delete) {
        rc = mc_store_delete(h->store, cluster ? cluster : "c1", "core/configmaps", ns, name, &rev,
                             &err);
    } else {
        json_t *obj =
            json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                      "metadata", "name", name, "namespace", ns, "data", "v", v ? v : "");
        if (app)
            json_object_set_new(json_object_get(obj, "metadata"), "labels",
                                json_pack("{s:s}", "app", app));
        rc = mc_store_put(h->store, cluster ? cluster : "c1", "core/configmaps", ns, name, obj,
                          &rev, &err);
        json_decref(obj);
    }
    if (rc != 0)
        return respond_text(c, 500, err.msg);
    char text[32];
    snprintf(text, sizeof(text), "%lld", (long long)rev);
    return respond_text(c, 200, text);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    static int first;
    harness *h = cls;
    (void)version;
    (void)upload;
    if (!*req_cls) {
        *req_cls = &first;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/watch") == 0)
        return handle_watch(h, c);
    if (strcmp(method, "POST") == 0 && strcmp(url, "/put") == 0)
        return handle_write(h, c, 0);
    if (strcmp(method, "POST") == 0 && strcmp(url, "/delete") == 0)
        return handle_write(h, c, 1);
    return respond_text(c, 404, "no");
}

static harness *harness_start(int64_t history, int bookmark_seconds)
{
    harness *h = calloc(1, sizeof(*h));
    mc_err err = {0};
    snprintf(h->dir, sizeof(h->dir), "/tmp/mc-watch-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    snprintf(h->path, sizeof(h->path), "%s/store.db", h->dir);
    assert_int_equal(mc_store_open(h->path, history, &h->store, &err), 0);
    assert_int_equal(mc_store_cluster_add(h->store, "c1", &err), 0);
    assert_int_equal(mc_store_cluster_add(h->store, "c2", &err), 0);
    h->hub = mc_watch_hub_new(h->store, bookmark_seconds);
    assert_non_null(h->hub);
    mc_store_set_listener(h->store, on_store_event, h->hub);
    h->configmaps = (mc_server_resource){.group = "",
                                         .version = "v1",
                                         .plural = "configmaps",
                                         .singular = "configmap",
                                         .kind = "ConfigMap",
                                         .list_kind = "ConfigMapList",
                                         .store_name = "core/configmaps",
                                         .namespaced = 1};
    h->daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                                     MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, h, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned int)10000, MHD_OPTION_LISTEN_BACKLOG_SIZE,
                                 (unsigned int)4096, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(h->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    h->port = info->port;
    return h;
}

static void harness_stop(harness *h)
{
    mc_watch_hub_free(h->hub);
    MHD_stop_daemon(h->daemon);
    mc_store_close(h->store);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", h->path, suffixes[i]);
        unlink(p);
    }
    rmdir(h->dir);
    free(h);
}

/* ---- the client side ------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    client *cl = ctx;
    size_t len = size * n;
    if (cl->len + len + 1 > cl->cap) {
        size_t cap = (cl->cap ? cl->cap : 256);
        while (cap < cl->len + len + 1)
            cap *= 2;
        char *grown = realloc(cl->buf, cap);
        if (!grown)
            return 0;
        cl->buf = grown;
        cl->cap = cap;
    }
    memcpy(cl->buf + cl->len, data, len);
    cl->len += len;
    cl->buf[cl->len] = '\0';
    return len;
}

static void client_init(client *cl, const harness *h, const char *path_and_query)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", h->port, path_and_query);
    memset(cl, 0, sizeof(*cl));
    cl->easy = curl_easy_init();
    assert_non_null(cl->easy);
    curl_easy_setopt(cl->easy, CURLOPT_URL, url);
    curl_easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cl->easy, CURLOPT_WRITEDATA, cl);
    curl_easy_setopt(cl->easy, CURLOPT_PRIVATE, cl);
}

static void client_cleanup(client *cl)
{
    curl_easy_cleanup(cl->easy);
    free(cl->buf);
}

/* A synchronous write; returns the revision answered. */
static int64_t write_obj(const harness *h, const char *op, const char *query)
{
    client cl;
    char path[256];
    snprintf(path, sizeof(path), "/%s?%s", op, query);
    client_init(&cl, h, path);
    curl_easy_setopt(cl.easy, CURLOPT_POSTFIELDS, "");
    assert_int_equal(curl_easy_perform(cl.easy), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(cl.easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        fprintf(stderr, "write %s: %ld %s\n", path, code, cl.buf ? cl.buf : "");
    assert_int_equal(code, 200);
    int64_t rev = strtoll(cl.buf, NULL, 10);
    client_cleanup(&cl);
    return rev;
}

/* Number of complete lines received. */
static size_t line_count(const client *cl)
{
    size_t n = 0;
    for (size_t i = 0; i < cl->len; i++)
        n += cl->buf[i] == '\n';
    return n;
}

/* Line i (0-based) parsed; the caller decrefs. */
static json_t *line_at(const client *cl, size_t i)
{
    const char *p = cl->buf;
    for (size_t k = 0; k < i; k++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *end = strchr(p, '\n');
    assert_non_null(end);
    json_error_t jerr;
    json_t *line = json_loadb(p, (size_t)(end - p), 0, &jerr);
    assert_non_null(line);
    return line;
}

/* "TYPE:name:rv" of line i. */
static void line_summary(const client *cl, size_t i, char *out, size_t size)
{
    json_t *line = line_at(cl, i);
    json_t *meta = json_object_get(json_object_get(line, "object"), "metadata");
    snprintf(out, size, "%s:%s:%s", json_string_value(json_object_get(line, "type")),
             json_string_value(json_object_get(meta, "name")),
             json_string_value(json_object_get(meta, "resourceVersion")));
    json_decref(line);
}

static void expect_lines(const client *cl, const char *const *expected, size_t n)
{
    assert_int_equal(line_count(cl), n);
    for (size_t i = 0; i < n; i++) {
        char got[256];
        line_summary(cl, i, got, sizeof(got));
        assert_string_equal(got, expected[i]);
    }
}

typedef int (*until_fn)(client **clients, size_t n, void *ctx);

/* Drives the transfers until done(clients) or timeout_ms; returns 1 if done. */
static int pump(CURLM *multi, client **clients, size_t n, until_fn done, void *ctx, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            client *cl = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&cl);
            cl->done = 1;
            cl->rc = msg->data.result;
        }
        if (done(clients, n, ctx))
            return 1;
        if (now_ms() >= deadline)
            return 0;
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    }
}

/* Until every client has at least *(size_t *)ctx lines. */
static int until_lines(client **clients, size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (line_count(clients[i]) < *(size_t *)ctx)
            return 0;
    return 1;
}

static int until_done(client **clients, size_t n, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        if (!clients[i]->done)
            return 0;
    return 1;
}

/* Starts one watch on multi. */
static client *watch_open(CURLM *multi, const harness *h, const char *query)
{
    client *cl = malloc(sizeof(*cl));
    char path[512];
    snprintf(path, sizeof(path), "/watch?%s", query);
    client_init(cl, h, path);
    assert_int_equal(curl_multi_add_handle(multi, cl->easy), CURLM_OK);
    return cl;
}

static void watch_close(CURLM *multi, client *cl)
{
    curl_multi_remove_handle(multi, cl->easy);
    client_cleanup(cl);
    free(cl);
}

/* Waits until the hub counts n watches (they register on the daemon thread).
 * The limit is generous: under valgrind on a loaded machine 2 000 TLS
 * handshakes took over 10 s. */
static void wait_count(const harness *h, size_t n, CURLM *multi, client **clients, size_t nc)
{
    int64_t deadline = now_ms() + 60000;
    while (mc_watch_hub_count(h->hub) != n && now_ms() < deadline) {
        size_t zero = 0;
        pump(multi, clients, nc, until_lines, &zero, 10);
    }
    assert_int_equal(mc_watch_hub_count(h->hub), n);
}

/* ---- tests -------------------------------------------------------------- */

static void test_synthetic_added_then_live(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    write_obj(h, "put", "ns=a&name=x"); /* 1 */
    write_obj(h, "put", "ns=b&name=y"); /* 2 */
    write_obj(h, "put", "ns=a&name=w"); /* 3 */
    write_obj(h, "put", "cluster=c2&ns=a&name=other");
    client *all = watch_open(multi, h, "");
    client *ns_a = watch_open(multi, h, "ns=a");
    client *cls[] = {all, ns_a};
    size_t want = 2;
    assert_true(pump(multi, cls, 2, until_lines, &want, 5000));
    wait_count(h, 2, multi, cls, 2);
    write_obj(h, "put", "ns=a&name=x&v=2"); /* 4 */
    write_obj(h, "put", "ns=b&name=z");     /* 5 */
    assert_int_equal(write_obj(h, "delete", "ns=a&name=w"), 6);
    want = 4;
    assert_true(pump(multi, &ns_a, 1, until_lines, &want, 5000));
    want = 6;
    assert_true(pump(multi, &all, 1, until_lines, &want, 5000));
    const char *expect_a[] = {"ADDED:w:3", "ADDED:x:1", "MODIFIED:x:4", "DELETED:w:6"};
    expect_lines(ns_a, expect_a, 4);
    const char *expect_all[] = {"ADDED:w:3",    "ADDED:x:1", "ADDED:y:2",
                                "MODIFIED:x:4", "ADDED:z:5", "DELETED:w:6"};
    expect_lines(all, expect_all, 6);
    /* The DELETED object is the last state: its data survives. */
    json_t *del = line_at(all, 5);
    assert_string_equal(json_string_value(json_object_get(del, "type")), "DELETED");
    assert_non_null(json_object_get(json_object_get(del, "object"), "data"));
    json_decref(del);
    assert_false(all->done);
    watch_close(multi, all);
    watch_close(multi, ns_a);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_resume_from_revision(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    write_obj(h, "put", "ns=a&name=x");
    write_obj(h, "put", "ns=a&name=y");
    write_obj(h, "put", "ns=a&name=x&v=1");
    write_obj(h, "delete", "ns=a&name=y");
    write_obj(h, "put", "ns=a&name=z");
    client *cl = watch_open(multi, h, "since=2");
    size_t want = 3;
    assert_true(pump(multi, &cl, 1, until_lines, &want, 5000));
    wait_count(h, 1, multi, &cl, 1);
    write_obj(h, "put", "ns=a&name=q");
    want = 4;
    assert_true(pump(multi, &cl, 1, until_lines, &want, 5000));
    const char *expect[] = {"MODIFIED:x:3", "DELETED:y:4", "ADDED:z:5", "ADDED:q:6"};
    expect_lines(cl, expect, 4);
    watch_close(multi, cl);
    /* Resuming at the current revision: only what comes next. */
    cl = watch_open(multi, h, "since=6");
    wait_count(h, 1, multi, &cl, 1);
    write_obj(h, "put", "ns=a&name=r");
    want = 1;
    assert_true(pump(multi, &cl, 1, until_lines, &want, 5000));
    const char *expect2[] = {"ADDED:r:7"};
    expect_lines(cl, expect2, 1);
    watch_close(multi, cl);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_expired(void **state)
{
    (void)state;
    harness *h = harness_start(5, 0);
    CURLM *multi = curl_multi_init();
    for (int i = 0; i < 12; i++)
        write_obj(h, "put", "ns=a&name=x");
    /* oldest resumable = 12 - 5 = 7: 6 is too old, 7 is fine. */
    client *old = watch_open(multi, h, "since=6");
    client *ok = watch_open(multi, h, "since=7");
    assert_true(pump(multi, &old, 1, until_done, NULL, 5000));
    assert_int_equal(old->rc, CURLE_OK);
    long code = 0;
    curl_easy_getinfo(old->easy, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    assert_int_equal(line_count(old), 1);
    json_t *line = line_at(old, 0);
    json_t *status = json_object_get(line, "object");
    assert_string_equal(json_string_value(json_object_get(line, "type")), "ERROR");
    assert_string_equal(json_string_value(json_object_get(status, "kind")), "Status");
    assert_string_equal(json_string_value(json_object_get(status, "apiVersion")), "v1");
    assert_string_equal(json_string_value(json_object_get(status, "status")), "Failure");
    assert_string_equal(json_string_value(json_object_get(status, "reason")), "Expired");
    assert_string_equal(json_string_value(json_object_get(status, "message")),
                        "too old resource version: 6 (7)");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 410);
    assert_true(json_is_object(json_object_get(status, "metadata")));
    json_decref(line);
    size_t want = 5;
    assert_true(pump(multi, &ok, 1, until_lines, &want, 5000));
    assert_false(ok->done);
    char first[64];
    line_summary(ok, 0, first, sizeof(first));
    assert_string_equal(first, "MODIFIED:x:8");
    watch_close(multi, old);
    watch_close(multi, ok);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static int until_bookmark(client **clients, size_t n, void *ctx)
{
    (void)n;
    (void)ctx;
    return clients[0]->buf && strstr(clients[0]->buf, "BOOKMARK") != NULL;
}

static void test_bookmarks(void **state)
{
    (void)state;
    harness *h = harness_start(0, 1);
    CURLM *multi = curl_multi_init();
    write_obj(h, "put", "ns=a&name=x");
    write_obj(h, "put", "cluster=c2&ns=a&name=x");
    write_obj(h, "put", "ns=a&name=y");
    /* c1 is at revision 2 (c2's write has its own counter). */
    client *with = watch_open(multi, h, "since=2&bookmarks=1");
    client *without = watch_open(multi, h, "since=2");
    client *cls[] = {with, without};
    wait_count(h, 2, multi, cls, 2);
    assert_true(pump(multi, &with, 1, until_bookmark, NULL, 4000));
    json_t *line = line_at(with, 0);
    assert_string_equal(json_string_value(json_object_get(line, "type")), "BOOKMARK");
    json_t *obj = json_object_get(line, "object");
    assert_int_equal(json_object_size(obj), 3);
    assert_string_equal(json_string_value(json_object_get(obj, "kind")), "ConfigMap");
    assert_string_equal(json_string_value(json_object_get(obj, "apiVersion")), "v1");
    json_t *meta = json_object_get(obj, "metadata");
    assert_int_equal(json_object_size(meta), 1);
    assert_string_equal(json_string_value(json_object_get(meta, "resourceVersion")), "2");
    json_decref(line);
    /* A later bookmark carries the new revision. */
    write_obj(h, "put", "ns=a&name=z");
    size_t want = 3;
    assert_true(pump(multi, &with, 1, until_lines, &want, 4000));
    line = line_at(with, 2);
    assert_string_equal(json_string_value(json_object_get(line, "type")), "BOOKMARK");
    meta = json_object_get(json_object_get(line, "object"), "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "resourceVersion")), "3");
    json_decref(line);
    assert_int_equal(line_count(without), 1);
    watch_close(multi, with);
    watch_close(multi, without);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_timeout_ends_stream(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    write_obj(h, "put", "ns=a&name=x");
    int64_t start = now_ms();
    client *cl = watch_open(multi, h, "timeout=1");
    client *lasting = watch_open(multi, h, "");
    assert_true(pump(multi, &cl, 1, until_done, NULL, 5000));
    int64_t took = now_ms() - start;
    assert_true(took >= 900);
    assert_true(took < 3000);
    assert_int_equal(cl->rc, CURLE_OK); /* a clean end of the chunked stream */
    assert_int_equal(line_count(cl), 1);
    assert_false(lasting->done);
    wait_count(h, 1, multi, &lasting, 1);
    watch_close(multi, cl);
    watch_close(multi, lasting);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_selectors(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    write_obj(h, "put", "ns=a&name=x&app=web"); /* 1 */
    write_obj(h, "put", "ns=a&name=y&app=db");  /* 2 */
    client *web = watch_open(multi, h, "labels=app%3Dweb");
    client *named = watch_open(multi, h, "fname=y");
    client *fns = watch_open(multi, h, "fns=b");
    client *cls[] = {web, named, fns};
    wait_count(h, 3, multi, cls, 3);
    write_obj(h, "put", "ns=a&name=x&app=db");     /* 3: x leaves app=web */
    write_obj(h, "put", "ns=a&name=x&app=web");    /* 4: x enters again */
    write_obj(h, "put", "ns=a&name=z");            /* 5: no labels */
    write_obj(h, "put", "ns=b&name=y&app=web");    /* 6 */
    write_obj(h, "put", "ns=a&name=y&app=db&v=2"); /* 7 */
    write_obj(h, "delete", "ns=a&name=x");         /* 8 */
    size_t want = 5;
    assert_true(pump(multi, &web, 1, until_lines, &want, 5000));
    const char *expect_web[] = {"ADDED:x:1", "DELETED:x:3", "ADDED:x:4", "ADDED:y:6",
                                "DELETED:x:8"};
    expect_lines(web, expect_web, 5);
    want = 3;
    assert_true(pump(multi, &named, 1, until_lines, &want, 5000));
    const char *expect_named[] = {"ADDED:y:2", "ADDED:y:6", "MODIFIED:y:7"};
    expect_lines(named, expect_named, 3);
    const char *expect_fns[] = {"ADDED:y:6"};
    expect_lines(fns, expect_fns, 1);
    watch_close(multi, web);
    watch_close(multi, named);
    watch_close(multi, fns);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_end_cluster_and_free(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    client *c1 = watch_open(multi, h, "cluster=c1");
    client *c2 = watch_open(multi, h, "cluster=c2");
    client *cls[] = {c1, c2};
    wait_count(h, 2, multi, cls, 2);
    mc_watch_hub_end_cluster(h->hub, "c2");
    assert_true(pump(multi, &c2, 1, until_done, NULL, 5000));
    assert_int_equal(c2->rc, CURLE_OK);
    assert_false(c1->done);
    wait_count(h, 1, multi, &c1, 1);
    /* Freeing the hub ends the remaining (suspended) watch; the daemon then
     * stops without suspended connections. */
    mc_watch_hub_free(h->hub);
    h->hub = NULL;
    assert_true(pump(multi, &c1, 1, until_done, NULL, 5000));
    assert_int_equal(c1->rc, CURLE_OK);
    watch_close(multi, c1);
    watch_close(multi, c2);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

static void test_free_with_open_watch(void **state)
{
    (void)state;
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    client *c1 = watch_open(multi, h, "");
    wait_count(h, 1, multi, &c1, 1);
    /* Stop everything while the client still has the watch open and
     * suspended: no abort, no leak. */
    watch_close(multi, c1);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

#define MANY 2000

static void test_many_watches(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * MANY + 100) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    assert_true(rl.rlim_cur >= 2 * MANY + 100);
    harness *h = harness_start(0, 0);
    CURLM *multi = curl_multi_init();
    client **cls = calloc(MANY, sizeof(*cls));
    for (size_t i = 0; i < MANY; i++)
        cls[i] = watch_open(multi, h, "ns=a");
    wait_count(h, MANY, multi, cls, MANY);
    int64_t start = now_ms();
    write_obj(h, "put", "ns=a&name=x");
    size_t want = 1;
    assert_true(pump(multi, cls, MANY, until_lines, &want, 60000));
    int64_t took = now_ms() - start;
    for (size_t i = 0; i < MANY; i++) {
        const char *expect[] = {"ADDED:x:1"};
        expect_lines(cls[i], expect, 1);
        assert_false(cls[i]->done);
    }
    fprintf(stderr, "%d watches: one event delivered to all in %lld ms\n", MANY, (long long)took);
    for (size_t i = 0; i < MANY; i++)
        watch_close(multi, cls[i]);
    free(cls);
    curl_multi_cleanup(multi);
    harness_stop(h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_added_then_live),
        cmocka_unit_test(test_resume_from_revision),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_bookmarks),
        cmocka_unit_test(test_timeout_ends_stream),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_end_cluster_and_free),
        cmocka_unit_test(test_free_with_open_watch),
        cmocka_unit_test(test_many_watches),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
