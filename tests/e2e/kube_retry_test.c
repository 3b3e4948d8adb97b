/* kube_retry_test.c - kube/client.c's retries against a fault-injecting
 * stand-in for an API server: a small plain-HTTP/1.1 server thread on a
 * loopback port (the client accepts http:// servers) that answers each
 * request as its script says (429 with Retry-After, 503, a hang-up after
 * reading the request, or 200 with an object), and records every request it
 * read. The real server cannot produce these failures on demand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"

#define SCRIPT_MAX   16
#define REQUESTS_MAX 64
#define REQUEST_MAX  (64 << 10)

typedef enum {
    REPLY_OK = 0,     /* 200 and a ConfigMap */
    REPLY_429 = 1,    /* 429, Retry-After: 1, a Status */
    REPLY_503 = 2,    /* 503, a Status, no Retry-After */
    REPLY_HANGUP = 3, /* read the whole request, close without a reply */
} reply_kind;

typedef struct fault_server {
    int listen_fd;                 /* immutable after start */
    int port;                      /* immutable after start */
    pthread_t thread;              /* the accept loop */
    int running;                   /* thread was created */
    atomic_int stop;               /* teardown asks the loop to end */
    pthread_mutex_t lock;          /* guards everything below */
    reply_kind script[SCRIPT_MAX]; /* reply to request i */
    int script_len;                /* entries in script */
    reply_kind then;               /* reply once the script is used up */
    int requests;                  /* requests read so far */
    int64_t at_ms[REQUESTS_MAX];   /* when each was read (CLOCK_MONOTONIC) */
    char method[REQUESTS_MAX][8];  /* each one's method */
} fault_server;

typedef struct fixture {
    fault_server server;
    mc_kube_client *client;
} fixture;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the stand-in server ---- */

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* Reads one request (headers and Content-Length body) into buf; returns
 * 0 when it is complete. */
static int read_request(int fd, char *buf, size_t cap, char method[8])
{
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len + 1 >= cap)
            return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end + 4 - buf);
    size_t body = 0;
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            body = (size_t)strtoul(line + 2 + 15, NULL, 10);
    while (len < head + body) {
        if (len + 1 >= cap)
            return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    size_t m = strcspn(buf, " ");
    if (m == 0 || m >= 8)
        return -1;
    memcpy(method, buf, m);
    method[m] = '\0';
    return 0;
}

static void reply(int fd, reply_kind kind)
{
    static const char ok_body[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                                  "\"metadata\":{\"name\":\"x\",\"namespace\":\"default\","
                                  "\"resourceVersion\":\"7\"},\"data\":{\"k\":\"v\"}}";
    static const char busy_body[] = "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":"
                                    "\"Failure\",\"message\":\"slow down\",\"reason\":"
                                    "\"TooManyRequests\",\"code\":429}";
    static const char down_body[] = "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":"
                                    "\"Failure\",\"message\":\"etcd is away\",\"reason\":"
                                    "\"ServiceUnavailable\",\"code\":503}";
    const char *status = "200 OK", *body = ok_body, *extra = "";
    if (kind == REPLY_HANGUP)
        return;
    if (kind == REPLY_429) {
        status = "429 Too Many Requests";
        body = busy_body;
        extra = "Retry-After: 1\r\n";
    } else if (kind == REPLY_503) {
        status = "503 Service Unavailable";
        body = down_body;
    }
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n",
                     status, strlen(body), extra);
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
}

static void serve_one(fault_server *s, int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char *buf = malloc(REQUEST_MAX);
    char method[8];
    if (buf && read_request(fd, buf, REQUEST_MAX, method) == 0) {
        pthread_mutex_lock(&s->lock);
        int i = s->requests++;
        if (i < REQUESTS_MAX) {
            s->at_ms[i] = now_ms();
            memcpy(s->method[i], method, sizeof(method));
        }
        reply_kind kind = i < s->script_len ? s->script[i] : s->then;
        pthread_mutex_unlock(&s->lock);
        reply(fd, kind);
    }
    free(buf);
    close(fd);
}

static void *serve(void *arg)
{
    fault_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd >= 0)
            serve_one(s, fd);
    }
    return NULL;
}

static int fault_server_start(fault_server *s)
{
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return -1;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(addr);
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &alen) != 0)
        return -1;
    s->port = ntohs(addr.sin_port);
    if (pthread_create(&s->thread, NULL, serve, s) != 0)
        return -1;
    s->running = 1;
    return 0;
}

static void fault_server_stop(fault_server *s)
{
    atomic_store(&s->stop, 1);
    if (s->running)
        pthread_join(s->thread, NULL);
    s->running = 0;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
    pthread_mutex_destroy(&s->lock);
}

/* Sets the replies: the first n from kinds, then `then` for ever; resets
 * the request log. */
static void script(fault_server *s, const reply_kind *kinds, int n, reply_kind then)
{
    assert_true(n <= SCRIPT_MAX);
    pthread_mutex_lock(&s->lock);
    if (n > 0)
        memcpy(s->script, kinds, (size_t)n * sizeof(*kinds));
    s->script_len = n;
    s->then = then;
    s->requests = 0;
    pthread_mutex_unlock(&s->lock);
}

static int requests(fault_server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- fixture ---- */

/* A client for the stand-in with the given max_retries (0: default). */
static mc_kube_client *client_for(fixture *f, int max_retries)
{
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "apiVersion: v1\nkind: Config\n"
                     "clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:%d\n"
                     "users:\n- name: u\n  user:\n    token: not-a-secret\n"
                     "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: u\n"
                     "    namespace: default\n"
                     "current-context: fake\n",
                     f->server.port);
    mc_kube_config *config = NULL;
    mc_kube_client *client = NULL;
    mc_kube_client_options options = {
        .qps = 1000, .burst = 1000, .timeout_ms = 5000, .max_retries = max_retries};
    mc_err err = {0};
    if (mc_kube_config_load_text(text, (size_t)n, NULL, "fake kubeconfig", &config, &err) !=
            MC_OK ||
        mc_kube_client_new(config, &options, &client, &err) != MC_OK)
        fail_msg("client: %s", err.msg);
    mc_kube_config_free(config);
    return client;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    f->server.listen_fd = -1;
    return fault_server_start(&f->server);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    mc_kube_client_free(f->client);
    fault_server_stop(&f->server);
    free(f);
    return 0;
}

/* ---- tests ---- */

/* 429 with Retry-After: 1, twice, then 200: the call succeeds on the third
 * attempt, and waits the server's second each time (the computed backoff
 * of the first two attempts is at most 100 and 200 ms). */
static void test_429_honours_retry_after(void **state)
{
    fixture *f = *state;
    f->client = client_for(f, 0);
    static const reply_kind kinds[] = {REPLY_429, REPLY_429};
    script(&f->server, kinds, 2, REPLY_OK);
    mc_err err = {0};
    json_t *got = NULL;
    int64_t start = now_ms();
    int rc =
        mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", &got, &err);
    int64_t elapsed = now_ms() - start;
    if (rc != MC_OK)
        fail_msg("get: %s", err.msg);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "metadata"), "name")), "x");
    json_decref(got);
    assert_int_equal(requests(&f->server), 3);
    assert_true(elapsed >= 2000);
    /* Each retry came at least the Retry-After second after the 429 (a few
     * ms of slack: the server stamps after reading, the client before). */
    assert_true(f->server.at_ms[1] - f->server.at_ms[0] >= 990);
    assert_true(f->server.at_ms[2] - f->server.at_ms[1] >= 990);
}

/* 503 three times, then 200: retried with the computed backoff (no
 * Retry-After), so well under the seconds a Retry-After would cost. */
static void test_503_retried_with_backoff(void **state)
{
    fixture *f = *state;
    f->client = client_for(f, 0);
    static const reply_kind kinds[] = {REPLY_503, REPLY_503, REPLY_503};
    script(&f->server, kinds, 3, REPLY_OK);
    mc_err err = {0};
    json_t *got = NULL;
    int64_t start = now_ms();
    int rc =
        mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", &got, &err);
    int64_t elapsed = now_ms() - start;
    if (rc != MC_OK)
        fail_msg("get: %s", err.msg);
    json_decref(got);
    assert_int_equal(requests(&f->server), 4);
    /* backoff in [d/2, d] for d = 100, 200, 400 ms: at least 350 ms */
    assert_true(elapsed >= 350);
    /* A write is retried on 5xx too (the server said it did not apply it). */
    script(&f->server, kinds, 1, REPLY_OK);
    json_t *cm = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                           "metadata", "name", "x");
    rc = mc_kube_create(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", cm, NULL,
                        &err);
    json_decref(cm);
    if (rc != MC_OK)
        fail_msg("create: %s", err.msg);
    assert_int_equal(requests(&f->server), 2);
    assert_string_equal(f->server.method[0], "POST");
    assert_string_equal(f->server.method[1], "POST");
}

/* Always 503: after max_retries retries the call fails with
 * MC_EUNAVAILABLE, the HTTP status and the Status message. */
static void test_gives_up_after_max_retries(void **state)
{
    fixture *f = *state;
    f->client = client_for(f, 2);
    script(&f->server, NULL, 0, REPLY_503);
    mc_err err = {0};
    json_t *got = NULL;
    assert_int_equal(
        mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", &got, &err),
        MC_EUNAVAILABLE);
    assert_null(got);
    assert_int_equal(mc_kube_error_http(&err), 503);
    assert_non_null(strstr(err.msg, "get configmaps default/x"));
    assert_non_null(strstr(err.msg, "etcd is away"));
    assert_int_equal(requests(&f->server), 3);
}

/* Always 429 and max_retries -1 (none): one attempt, MC_EUNAVAILABLE, 429,
 * and no Retry-After wait after the last attempt. */
static void test_no_retries(void **state)
{
    fixture *f = *state;
    f->client = client_for(f, -1);
    script(&f->server, NULL, 0, REPLY_429);
    mc_err err = {0};
    int64_t start = now_ms();
    assert_int_equal(
        mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", NULL, &err),
        MC_EUNAVAILABLE);
    assert_true(now_ms() - start < 900);
    assert_int_equal(mc_kube_error_http(&err), 429);
    assert_non_null(strstr(err.msg, "slow down"));
    assert_int_equal(requests(&f->server), 1);
}

/* A transport error after the request was sent (the server read it and
 * hung up): a POST may have been applied, so it is not retried; a GET is. */
static void test_write_not_retried_after_send(void **state)
{
    fixture *f = *state;
    f->client = client_for(f, 2);
    script(&f->server, NULL, 0, REPLY_HANGUP);
    mc_err err = {0};
    json_t *cm = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                           "metadata", "name", "x");
    json_t *out = NULL;
    assert_int_equal(mc_kube_create(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default",
                                    cm, &out, &err),
                     MC_EUNAVAILABLE);
    json_decref(cm);
    assert_null(out);
    assert_int_equal(mc_kube_error_http(&err), 0);
    assert_non_null(strstr(err.msg, "create configmaps default/x"));
    assert_int_equal(requests(&f->server), 1);
    assert_string_equal(f->server.method[0], "POST");
    /* The same failure on a GET: retried up to max_retries. */
    script(&f->server, NULL, 0, REPLY_HANGUP);
    assert_int_equal(
        mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", NULL, &err),
        MC_EUNAVAILABLE);
    assert_int_equal(mc_kube_error_http(&err), 0);
    assert_int_equal(requests(&f->server), 3);
    /* And a GET that meets the hang-up once then succeeds. */
    static const reply_kind once[] = {REPLY_HANGUP};
    script(&f->server, once, 1, REPLY_OK);
    json_t *got = NULL;
    if (mc_kube_get(f->client, mc_kube_resource_of(MC_API_CONFIG_MAPS), "default", "x", &got,
                    &err) != MC_OK)
        fail_msg("get: %s", err.msg);
    json_decref(got);
    assert_int_equal(requests(&f->server), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_429_honours_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503_retried_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gives_up_after_max_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_not_retried_after_send, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
