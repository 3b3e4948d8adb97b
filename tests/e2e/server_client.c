/* server_client.c - the client side the e2e server tests share (see
 * server_client.h): group setup and teardown, requests on a cluster with its
 * token, Status and /healthz checks, watches pumped with libcurl's multi
 * interface. The messages of failed checks are the ones each test printed
 * before this helper gathered them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server_client.h"

int server_client_setup(server_process *sp, const char *const *args, const char *crd_cluster,
                        const char *crd_json)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(sp, 0, sizeof(*sp));
    if (server_process_start(sp, args) != 0) {
        server_process_stop(sp);
        return -1;
    }
    if (!crd_json)
        return 0;
    char path[256];
    snprintf(path, sizeof(path),
             "/clusters/%s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_cluster);
    http_reply r;
    http_do(sp, server_token(sp, crd_cluster), "POST", path, crd_json, NULL, &r);
    int ok = r.status == 201;
    http_reply_free(&r);
    return ok ? 0 : -1;
}

int server_client_teardown(server_process *sp)
{
    int rc = server_process_stop(sp); /* fails on leaks under ASan */
    curl_global_cleanup();
    return rc;
}

long server_client_call(const server_process *sp, const char *cluster, const char *method,
                        const char *path, const char *body, const char *type, http_reply *r)
{
    char full[2048];
    snprintf(full, sizeof(full), "/clusters/%s%s", cluster, path);
    if (http_do(sp, server_token(sp, cluster), method, full, body, type, r) != 0)
        fail_msg("%s %s: no answer", method, full);
    return r->status;
}

long server_client_call_expect(const server_process *sp, const char *cluster, const char *method,
                               const char *path, const char *body, const char *type, long want,
                               http_reply *r)
{
    long got = server_client_call(sp, cluster, method, path, body, type, r);
    if (got != want)
        fail_msg("%s %s: HTTP %ld, want %ld: %s", method, path, got, want, r->body);
    return got;
}

void server_client_assert_status(const http_reply *r, const char *method, const char *path,
                                 const char *reason)
{
    const char *have = json_string_value(json_object_get(r->json, "reason"));
    if (!have || strcmp(have, reason) != 0)
        fail_msg("%s %s: reason %s, want %s", method, path, have ? have : "(none)", reason);
    assert_string_equal(json_string_value(json_object_get(r->json, "kind")), "Status");
}

void server_client_assert_alive(const server_process *sp)
{
    http_reply reply;
    assert_int_equal(http_do(sp, NULL, "GET", "/healthz", NULL, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    http_reply_free(&reply);
}

const char *server_client_rv(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

void server_client_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t watch_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    server_watch *w = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(w->data, w->len + n + 1);
    if (!grown)
        return 0;
    w->data = grown;
    memcpy(w->data + w->len, ptr, n);
    w->len += n;
    w->data[w->len] = '\0';
    return n;
}

void server_watch_start(server_watch *w, const server_process *sp, const char *cluster,
                        const char *path)
{
    memset(w, 0, sizeof(*w));
    char url[2048], auth[256];
    snprintf(url, sizeof(url), "%s/clusters/%s%s", sp->base, cluster, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", server_token(sp, cluster));
    w->headers = curl_slist_append(NULL, auth);
    w->easy = curl_easy_init();
    curl_easy_setopt(w->easy, CURLOPT_URL, url);
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->easy, CURLOPT_CAINFO, sp->ca_path);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, watch_data);
    curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
    w->multi = curl_multi_init();
    curl_multi_add_handle(w->multi, w->easy);
}

int server_watch_until(server_watch *w, const char *needle, long ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int running = 0;
        curl_multi_perform(w->multi, &running);
        if (w->data && strstr(w->data, needle))
            return 1;
        if (!running) {
            w->done = 1;
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > ms)
            return 0;
        curl_multi_poll(w->multi, NULL, 0, 50, NULL);
    }
}

void server_watch_stop(server_watch *w)
{
    curl_multi_remove_handle(w->multi, w->easy);
    curl_easy_cleanup(w->easy);
    curl_multi_cleanup(w->multi);
    curl_slist_free_all(w->headers);
    free(w->data);
}

int server_watch_event_count(const server_watch *w)
{
    int n = 0;
    for (const char *p = w->data; p && (p = strstr(p, "{\"type\":")) != NULL; p++)
        n++;
    return n;
}
