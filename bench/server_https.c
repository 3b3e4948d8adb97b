/* server_https.c - the real `meshcert server` process measured end to end
 * over HTTPS, as its users see it (second phase of make bench-server).
 *
 * Starts the server binary as a child on 127.0.0.1:0, then drives it with a
 * libcurl multi client on one epoll loop: ConfigMap creates/s and gets/s with
 * 1 and 16 keep-alive TLS connections, the time to list 10 000 objects (one
 * GET, and pages of 500), the server's RSS per 1 000 stored objects, and the
 * p50/p99 delivery latency of 100 writes to 1 000 concurrent watches. Prints
 * one "name value unit" line per figure; bench/server.sh makes the ratios.
 * The server is always killed at the end, also when a step fails.
 * Usage: bench_server_https <meshcert binary> [objects] [watchers]
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

extern char **environ;

#define MIN_SECONDS      3            /* every rate is measured for at least this long */
#define WATCH_EVENTS     100          /* writes whose delivery is timed */
#define WATCH_SPACING_MS 20           /* between those writes */
#define LIST_OBJECTS     10000        /* objects per timed list */
#define LIST_PAGE        500          /* page size of the paged list */
#define BODY_MAX         (256u << 20) /* cap on a reply body the bench keeps */
#define NS_PER_S         1000000000LL

/* The child server: the bench's one mutable global, so that every failure
 * path (die, a signal) can kill it. */
static pid_t g_server_pid;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Sends sig, waits up to 10 s, then SIGKILL; returns the wait status. */
static int stop_server(int sig)
{
    int status = 0;
    if (g_server_pid <= 0)
        return 0;
    kill(g_server_pid, sig);
    for (int i = 0; i < 100; i++) {
        if (waitpid(g_server_pid, &status, WNOHANG) == g_server_pid) {
            g_server_pid = 0;
            return status;
        }
        usleep(100000);
    }
    kill(g_server_pid, SIGKILL);
    waitpid(g_server_pid, &status, 0);
    g_server_pid = 0;
    return status;
}

__attribute__((noreturn)) static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_server_https: %s: %s\n", what, detail ? detail : "");
    stop_server(SIGKILL);
    exit(1);
}

static long server_rss_kib(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)g_server_pid);
    FILE *fp = fopen(path, "r");
    long kib = -1;
    if (!fp)
        die("rss", path);
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(fp);
    return kib;
}

/* CPU time (user + system) the server process has used, in µs. */
static int64_t server_cpu_us(void)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)g_server_pid);
    FILE *fp = fopen(path, "r");
    if (!fp || !fgets(text, sizeof(text), fp))
        die("cpu", path);
    fclose(fp);
    /* Fields 14 and 15 (utime, stime) in clock ticks, after "(comm)". */
    const char *p = strrchr(text, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        die("cpu", "cannot parse /proc/<pid>/stat");
    return (int64_t)(utime + stime) * 1000000 / sysconf(_SC_CLK_TCK);
}

/* CPU time this process (the client, all threads) has used, in µs. */
static int64_t client_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

static void print_load(const char *when)
{
    char text[128] = "";
    FILE *fp = fopen("/proc/loadavg", "r");
    if (fp) {
        if (!fgets(text, sizeof(text), fp))
            text[0] = '\0';
        fclose(fp);
    }
    text[strcspn(text, "\n")] = '\0';
    printf("https_load_%s %s (1, 5, 15 min load average)\n", when, text);
}

/* ---- the child server ------------------------------------------------------ */

typedef struct server_info {
    char dir[64];   /* data directory */
    char base[128]; /* https://127.0.0.1:<port>/clusters/bench */
    char root[96];  /* https://127.0.0.1:<port> */
    char ca[128];   /* CA file */
    char auth[256]; /* Authorization header */
} server_info;

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    mc_buf b;
    mc_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        if (mc_buf_append(&b, chunk, n) != 0)
            break;
    fclose(fp);
    return mc_buf_steal(&b, NULL);
}

static void start_server(const char *meshcert, server_info *s)
{
    char log_path[128], json_path[128];
    snprintf(log_path, sizeof(log_path), "%s/server.log", s->dir);
    snprintf(json_path, sizeof(json_path), "%s/server.json", s->dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char *argv[] = {(char *)meshcert, "server", "--data-dir",  s->dir, "--listen", "127.0.0.1:0",
                    "--cluster",      "bench",  "--log-level", "warn", NULL};
    int rc = posix_spawn(&g_server_pid, meshcert, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        die("cannot start", meshcert);
    /* server.json appears once the port is bound. */
    json_t *info = NULL;
    for (int64_t until = now_ns() + 30 * NS_PER_S; !info && now_ns() < until;) {
        int status;
        if (waitpid(g_server_pid, &status, WNOHANG) == g_server_pid) {
            g_server_pid = 0;
            die("server exited at start, see", log_path);
        }
        info = json_load_file(json_path, 0, NULL);
        if (!info)
            usleep(20000);
    }
    int port = (int)json_integer_value(json_object_get(info, "port"));
    const char *host = json_string_value(json_object_get(info, "host"));
    if (!port || !host)
        die("no port in", json_path);
    snprintf(s->root, sizeof(s->root), "https://%s:%d", host, port);
    snprintf(s->base, sizeof(s->base), "%s/clusters/bench", s->root);
    json_decref(info);
    snprintf(s->ca, sizeof(s->ca), "%s/ca-cert.pem", s->dir);
    char token_path[128];
    snprintf(token_path, sizeof(token_path), "%s/tokens/bench", s->dir);
    char *token = read_text(token_path);
    if (!token || !*token)
        die("no token in", token_path);
    token[strcspn(token, "\r\n")] = '\0';
    snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
    free(token);
}

/* ---- the client: curl multi on an epoll loop -------------------------------- */

typedef struct loop {
    CURLM *multi;        /* every transfer of a phase */
    int epfd;            /* sockets curl asked us to watch */
    int64_t deadline_ns; /* curl's timer; -1: none */
    int running;         /* transfers in progress */
} loop;

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    loop *l = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (socketp || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    curl_multi_assign(l->multi, fd, l);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    loop *l = userp;
    (void)multi;
    l->deadline_ns = timeout_ms < 0 ? -1 : now_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void loop_init(loop *l)
{
    memset(l, 0, sizeof(*l));
    l->multi = curl_multi_init();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->deadline_ns = -1;
    if (!l->multi || l->epfd < 0)
        die("client", "cannot create the curl multi handle or epoll");
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
}

static void loop_free(loop *l)
{
    curl_multi_cleanup(l->multi);
    close(l->epfd);
}

/* Waits at most max_ms for socket activity or curl's timer, and lets curl
 * handle it. */
static void loop_step(loop *l, int max_ms)
{
    int wait_ms = max_ms;
    if (l->deadline_ns >= 0) {
        int64_t left = (l->deadline_ns - now_ns() + 999999) / 1000000;
        wait_ms = left < 0 ? 0 : (left < max_ms ? (int)left : max_ms);
    }
    struct epoll_event events[256];
    int n = epoll_wait(l->epfd, events, 256, wait_ms);
    for (int i = 0; i < n; i++) {
        int flags = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                    ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                    ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(l->multi, events[i].data.fd, flags, &l->running);
    }
    if (l->deadline_ns >= 0 && now_ns() >= l->deadline_ns) {
        l->deadline_ns = -1;
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &l->running);
    }
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

static size_t keep(char *data, size_t size, size_t n, void *ctx)
{
    return mc_buf_append(ctx, data, size * n) == 0 ? size * n : 0;
}

/* A configured easy handle: TLS verified against the server's CA, HTTP/1.1
 * keep-alive, the cluster's token. */
static CURL *easy_new(const server_info *s, struct curl_slist *headers)
{
    CURL *easy = curl_easy_init();
    if (!easy)
        die("client", "curl_easy_init");
    curl_easy_setopt(easy, CURLOPT_CAINFO, s->ca);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    return easy;
}

static struct curl_slist *headers_new(const server_info *s)
{
    struct curl_slist *h = curl_slist_append(NULL, s->auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    if (!h)
        die("client", "out of memory");
    return h;
}

/* A ConfigMap of about 300 bytes, like the store phase's. */
static int configmap_body(char *out, size_t size, const char *name, long seq)
{
    return snprintf(out, size,
                    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                    "\"namespace\":\"default\",\"labels\":{\"app\":\"bench\",\"tier\":"
                    "\"backend\"}},\"data\":{\"seq\":\"%ld\",\"payload\":\"0123456789abcdef"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                    "0123456789abcdef0123456789abcdef0123456789abcdef\"}}",
                    name, seq);
}

/* ---- creates and gets with C connections ------------------------------------ */

typedef enum op { OP_CREATE, OP_GET } op;

typedef struct slot {
    CURL *easy;     /* reused: its connection stays open (keep-alive) */
    char url[256];  /* of the request in flight */
    char body[512]; /* create body in flight */
} slot;

typedef struct batch {
    const server_info *server;
    op kind;
    const char *prefix; /* object names are <prefix>-<i> */
    long objects;       /* creates: at least this many; gets: names to pick from */
    long min_requests;  /* gets: at least this many */
    unsigned seed;      /* gets: random names */
    long started;       /* requests sent */
    double server_us;   /* result: server CPU per request, µs */
    double client_us;   /* result: client CPU per request, µs */
} batch;

static void slot_start(batch *b, slot *sl, loop *l)
{
    char name[64];
    long i = b->started++;
    if (b->kind == OP_CREATE) {
        snprintf(name, sizeof(name), "%s-%06ld", b->prefix, i);
        configmap_body(sl->body, sizeof(sl->body), name, i);
        snprintf(sl->url, sizeof(sl->url), "%s/api/v1/namespaces/default/configmaps",
                 b->server->base);
        curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDS, sl->body);
        curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(sl->body));
    } else {
        b->seed = b->seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "%s-%06ld", b->prefix,
                 (long)((b->seed >> 8) % (unsigned long)b->objects));
        snprintf(sl->url, sizeof(sl->url), "%s/api/v1/namespaces/default/configmaps/%s",
                 b->server->base, name);
        curl_easy_setopt(sl->easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(sl->easy, CURLOPT_URL, sl->url);
    curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl);
    curl_multi_add_handle(l->multi, sl->easy);
}

/* Runs the batch on conns concurrent connections; returns requests/s. Every
 * create must answer 201, every get 200. A batch makes its objects (creates)
 * or min_requests (gets), and goes on until MIN_SECONDS have passed. */
static double run_batch(batch *b, int conns)
{
    loop l;
    loop_init(&l);
    struct curl_slist *headers = headers_new(b->server);
    slot *slots = calloc((size_t)conns, sizeof(*slots));
    if (!slots)
        die("client", "out of memory");
    long want = b->kind == OP_CREATE ? b->objects : b->min_requests;
    long expected = b->kind == OP_CREATE ? 201 : 200;
    long done = 0;
    int64_t server_cpu = server_cpu_us(), client_cpu = client_cpu_us();
    int64_t start = now_ns(), min_end = start + MIN_SECONDS * NS_PER_S;
    for (int i = 0; i < conns; i++) {
        slots[i].easy = easy_new(b->server, headers);
        if (b->started < want)
            slot_start(b, &slots[i], &l);
    }
    while (done < b->started) {
        loop_step(&l, 100);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l.multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            slot *sl = NULL;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK)
                die(sl->url, curl_easy_strerror(msg->data.result));
            if (code != expected) {
                char detail[300];
                snprintf(detail, sizeof(detail), "HTTP %ld, expected %ld", code, expected);
                die(sl->url, detail);
            }
            curl_multi_remove_handle(l.multi, sl->easy);
            done++;
            int more = b->started < want || now_ns() < min_end;
            if (more)
                slot_start(b, sl, &l);
        }
    }
    double per_s = (double)done / ((double)(now_ns() - start) / 1e9);
    b->server_us = (double)(server_cpu_us() - server_cpu) / (double)done;
    b->client_us = (double)(client_cpu_us() - client_cpu) / (double)done;
    for (int i = 0; i < conns; i++)
        curl_easy_cleanup(slots[i].easy);
    free(slots);
    curl_slist_free_all(headers);
    loop_free(&l);
    return per_s;
}

/* ---- lists ---------------------------------------------------------------------- */

/* GETs url into body (reset first); returns the transfer's wall time in ns. */
static int64_t get_into(CURL *easy, const char *url, mc_buf *body)
{
    mc_buf_free(body);
    mc_buf_init(body, BODY_MAX);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    int64_t start = now_ns();
    CURLcode rc = curl_easy_perform(easy);
    int64_t took = now_ns() - start;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK)
        die(url, curl_easy_strerror(rc));
    if (code != 200)
        die(url, "list did not answer 200");
    return took;
}

/* Parses a List body (outside the timed part): its item count and continue
 * token (caller frees). */
static size_t list_items(const mc_buf *body, char **cont)
{
    json_error_t jerr;
    json_t *list = json_loadb(body->data, body->len, 0, &jerr);
    if (!list)
        die("list body", jerr.text);
    size_t n = json_array_size(json_object_get(list, "items"));
    const char *token =
        json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
    *cont = token ? strdup(token) : NULL;
    json_decref(list);
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists count objects (one GET with limit=count, or pages of page) again
 * and again for MIN_SECONDS; prints the median and the fastest. The time
 * is the HTTP transfers' only: the client's JSON parsing is left out. */
static void bench_list(const server_info *s, CURL *easy, size_t count, size_t page,
                       const char *label)
{
    mc_buf body;
    mc_buf_init(&body, BODY_MAX);
    int64_t times[1000];
    size_t runs = 0, bytes = 0, requests = 0;
    int64_t until = now_ns() + MIN_SECONDS * NS_PER_S;
    while (runs < sizeof(times) / sizeof(times[0]) && (runs < 5 || now_ns() < until)) {
        int64_t total = 0;
        size_t got = 0;
        char *cont = NULL;
        bytes = requests = 0;
        do {
            char url[1024];
            size_t ask = page ? page : count;
            if (cont)
                snprintf(url, sizeof(url),
                         "%s/api/v1/namespaces/default/configmaps?limit=%zu&continue=%s", s->base,
                         ask, cont);
            else
                snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps?limit=%zu",
                         s->base, ask);
            free(cont);
            total += get_into(easy, url, &body);
            bytes += body.len;
            requests++;
            got += list_items(&body, &cont);
        } while (cont && got < count);
        free(cont);
        if (got != count)
            die(label, "list returned a wrong number of objects");
        times[runs++] = total;
    }
    qsort(times, runs, sizeof(times[0]), cmp_i64);
    printf("%s %.2f ms (median of %zu; fastest %.2f ms; %zu objects, %zu GETs, %zu bytes)\n", label,
           times[runs / 2] / 1e6, runs, times[0] / 1e6, count, requests, bytes);
    mc_buf_free(&body);
}

/* The whole collection in one GET without limit, once (it grows with N). */
static void bench_list_all(const server_info *s, CURL *easy)
{
    mc_buf body;
    mc_buf_init(&body, BODY_MAX);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps", s->base);
    int64_t took = get_into(easy, url, &body);
    char *cont = NULL;
    size_t n = list_items(&body, &cont);
    free(cont);
    printf("https_list_all %.2f ms (one GET of all %zu objects, %zu bytes)\n", took / 1e6, n,
           body.len);
    mc_buf_free(&body);
}

/* ---- watch delivery ------------------------------------------------------------------ */

typedef struct delivery {
    int seq;         /* which write */
    int64_t recv_ns; /* when its line was complete at the watcher */
} delivery;

typedef struct watch_set {
    delivery *deliveries; /* every line seen, in order */
    size_t len;           /* used */
    size_t cap;           /* allocated */
    int established;      /* watches whose 200 headers arrived */
    long *seen;           /* per seq: how many watchers saw it */
    int events;           /* seqs 0 (warm-up) .. events */
} watch_set;

typedef struct watcher {
    CURL *easy;         /* the watch */
    watch_set *set;     /* shared results */
    char partial[4096]; /* an incomplete line */
    size_t partial_len; /* bytes in partial */
    int headers_done;   /* the 200 and its headers arrived */
} watcher;

static void watch_line(watcher *w, const char *line)
{
    const char *p = strstr(line, "\"seq\":\"");
    if (!p)
        return;
    long seq = strtol(p + 7, NULL, 10);
    watch_set *set = w->set;
    if (seq < 0 || seq > set->events)
        return;
    set->seen[seq]++;
    if (set->len < set->cap)
        set->deliveries[set->len++] = (delivery){(int)seq, now_ns()};
}

static size_t on_watch_body(char *data, size_t size, size_t n, void *ctx)
{
    watcher *w = ctx;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (w->partial_len < sizeof(w->partial) - 1)
            w->partial[w->partial_len++] = data[i];
        if (data[i] == '\n') {
            w->partial[w->partial_len] = '\0';
            watch_line(w, w->partial);
            w->partial_len = 0;
        }
    }
    return len;
}

static size_t on_watch_header(char *data, size_t size, size_t n, void *ctx)
{
    watcher *w = ctx;
    size_t len = size * n;
    if (!w->headers_done && len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            return 0; /* fails the transfer, and so the bench */
        w->headers_done = 1;
        w->set->established++;
    }
    return len;
}

typedef struct writer_args {
    const server_info *server;
    int first, last;   /* seqs to write */
    int64_t *sent_ns;  /* per seq: just before the request */
    int64_t *reply_ns; /* per seq: when its 201 arrived */
    int failed;        /* a write did not answer 201 */
} writer_args;

/* Creates ConfigMaps w-<seq>, WATCH_SPACING_MS apart on a fixed schedule,
 * on its own keep-alive connection. */
static void *writer_main(void *arg)
{
    writer_args *a = arg;
    struct curl_slist *headers = headers_new(a->server);
    CURL *easy = easy_new(a->server, headers);
    char url[256], body[512], name[32];
    snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps", a->server->base);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    int64_t start = now_ns();
    for (int seq = a->first; seq <= a->last && !a->failed; seq++) {
        int64_t at = start + (int64_t)(seq - a->first) * WATCH_SPACING_MS * 1000000;
        int64_t wait = at - now_ns();
        if (wait > 0)
            usleep((useconds_t)(wait / 1000));
        snprintf(name, sizeof(name), "w-%d", seq);
        configmap_body(body, sizeof(body), name, seq);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        a->sent_ns[seq] = now_ns();
        CURLcode rc = curl_easy_perform(easy);
        a->reply_ns[seq] = now_ns();
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != 201)
            a->failed = 1;
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    return NULL;
}

static void write_events(const server_info *s, int first, int last, int64_t *sent_ns,
                         int64_t *reply_ns, pthread_t *thread, writer_args *args)
{
    *args = (writer_args){s, first, last, sent_ns, reply_ns, 0};
    if (pthread_create(thread, NULL, writer_main, args) != 0)
        die("watch", "cannot start the writer thread");
}

static const char *current_revision(const server_info *s, CURL *easy, char *out, size_t size)
{
    mc_buf body;
    mc_buf_init(&body, BODY_MAX);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps?limit=1", s->base);
    get_into(easy, url, &body);
    json_t *list = json_loadb(body.data, body.len, 0, NULL);
    const char *rv =
        json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
    if (!rv)
        die("list", "no resourceVersion");
    snprintf(out, size, "%s", rv);
    json_decref(list);
    mc_buf_free(&body);
    return out;
}

/* Waits (serving the watches) until every watcher saw seq, or timeout. */
static int wait_seen(loop *l, watch_set *set, int seq, long watchers, int seconds)
{
    for (int64_t until = now_ns() + seconds * NS_PER_S;
         set->seen[seq] < watchers && now_ns() < until;)
        loop_step(l, 5);
    return set->seen[seq] >= watchers;
}

static void percentiles(int64_t *ns, size_t n, double *p50, double *p99, double *max)
{
    qsort(ns, n, sizeof(*ns), cmp_i64);
    *p50 = n ? ns[n / 2] / 1e6 : 0;
    *p99 = n ? ns[n * 99 / 100] / 1e6 : 0;
    *max = n ? ns[n - 1] / 1e6 : 0;
}

static void bench_watch(const server_info *s, CURL *easy, int watchers)
{
    char rv[32], url[512];
    current_revision(s, easy, rv, sizeof(rv));
    snprintf(url, sizeof(url),
             "%s/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=%s", s->base, rv);
    watch_set set;
    memset(&set, 0, sizeof(set));
    set.events = WATCH_EVENTS;
    set.cap = (size_t)watchers * (WATCH_EVENTS + 1);
    set.deliveries = calloc(set.cap, sizeof(*set.deliveries));
    set.seen = calloc(WATCH_EVENTS + 1, sizeof(*set.seen));
    int64_t *sent_ns = calloc(WATCH_EVENTS + 1, sizeof(*sent_ns));
    int64_t *reply_ns = calloc(WATCH_EVENTS + 1, sizeof(*reply_ns));
    watcher *ws = calloc((size_t)watchers, sizeof(*ws));
    if (!set.deliveries || !set.seen || !sent_ns || !reply_ns || !ws)
        die("watch", "out of memory");
    struct curl_slist *headers = headers_new(s);
    loop l;
    loop_init(&l);
    int64_t start = now_ns();
    for (int i = 0; i < watchers; i++) {
        ws[i].set = &set;
        ws[i].easy = easy_new(s, headers);
        curl_easy_setopt(ws[i].easy, CURLOPT_URL, url);
        curl_easy_setopt(ws[i].easy, CURLOPT_WRITEFUNCTION, on_watch_body);
        curl_easy_setopt(ws[i].easy, CURLOPT_WRITEDATA, &ws[i]);
        curl_easy_setopt(ws[i].easy, CURLOPT_HEADERFUNCTION, on_watch_header);
        curl_easy_setopt(ws[i].easy, CURLOPT_HEADERDATA, &ws[i]);
        curl_multi_add_handle(l.multi, ws[i].easy);
    }
    for (int64_t until = now_ns() + 60 * NS_PER_S; set.established < watchers;) {
        loop_step(&l, 10);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l.multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                die("a watch ended", curl_easy_strerror(msg->data.result));
        if (now_ns() > until)
            die("watch", "not every watch was established within 60 s");
    }
    double setup_s = (double)(now_ns() - start) / 1e9;
    /* Warm-up: one event every watch must see before the timed writes. */
    pthread_t writer;
    writer_args args;
    write_events(s, 0, 0, sent_ns, reply_ns, &writer, &args);
    int warm = wait_seen(&l, &set, 0, watchers, 30);
    pthread_join(writer, NULL);
    if (!warm || args.failed)
        die("watch", "the warm-up event did not reach every watch");
    long rss_watches = server_rss_kib();
    size_t warm_len = set.len;
    write_events(s, 1, WATCH_EVENTS, sent_ns, reply_ns, &writer, &args);
    int all = wait_seen(&l, &set, WATCH_EVENTS, watchers, 60);
    pthread_join(writer, NULL);
    /* Earlier events may still be in flight when the last one arrived. */
    for (int64_t until = now_ns() + 10 * NS_PER_S; set.len < set.cap && now_ns() < until;)
        loop_step(&l, 5);
    if (args.failed)
        die("watch", "a timed write did not answer 201");
    size_t n = set.len - warm_len;
    int64_t *from_send = calloc(n + 1, sizeof(*from_send));
    int64_t *from_reply = calloc(n + 1, sizeof(*from_reply));
    if (!from_send || !from_reply)
        die("watch", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const delivery *d = &set.deliveries[warm_len + i];
        from_send[i] = d->recv_ns - sent_ns[d->seq];
        int64_t r = d->recv_ns - reply_ns[d->seq];
        from_reply[i] = r < 0 ? 0 : r; /* seen before the writer had its reply */
    }
    size_t expected = (size_t)watchers * WATCH_EVENTS;
    if (!all || n < expected)
        fprintf(stderr, "bench_server_https: only %zu of %zu deliveries seen\n", n, expected);
    double p50, p99, max, r50, r99, rmax;
    percentiles(from_send, n, &p50, &p99, &max);
    percentiles(from_reply, n, &r50, &r99, &rmax);
    printf("https_watch_setup %.2f s (%d watches over TLS established)\n", setup_s, watchers);
    printf("https_watch_delivery_p50 %.2f ms (from just before the write; %d watchers, %d writes "
           "%d ms apart, %zu of %zu deliveries)\n",
           p50, watchers, WATCH_EVENTS, WATCH_SPACING_MS, n, expected);
    printf("https_watch_delivery_p99 %.2f ms (max %.2f ms)\n", p99, max);
    printf("https_watch_delivery_from_reply_p50 %.2f ms (p99 %.2f ms, max %.2f ms)\n", r50, r99,
           rmax);
    printf("https_rss_with_%d_watches %ld KiB (server process)\n", watchers, rss_watches);
    for (int i = 0; i < watchers; i++) {
        curl_multi_remove_handle(l.multi, ws[i].easy);
        curl_easy_cleanup(ws[i].easy);
    }
    loop_free(&l);
    curl_slist_free_all(headers);
    free(ws);
    free(from_send);
    free(from_reply);
    free(sent_ns);
    free(reply_ns);
    free(set.deliveries);
    free(set.seen);
}

/* ---- main ---------------------------------------------------------------------------- */

static void wait_healthy(const server_info *s)
{
    char url[160];
    snprintf(url, sizeof(url), "%s/healthz", s->root);
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CAINFO, s->ca);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    for (int64_t until = now_ns() + 30 * NS_PER_S; code != 200 && now_ns() < until;) {
        if (curl_easy_perform(easy) == CURLE_OK)
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            usleep(20000);
    }
    curl_easy_cleanup(easy);
    if (code != 200)
        die("server", "GET /healthz did not answer 200 within 30 s");
}

/* A rate, and the CPU each side spent per request: with the server and the
 * client on the same cores, 1e6 / server µs is what the server alone could
 * do on one core. */
static void print_rate(const char *name, double per_s, const batch *b, const char *what)
{
    printf("%s %.0f per_s (%ld %s; server CPU %.1f us/request = %.0f per_s per core; client CPU "
           "%.1f us/request)\n",
           name, per_s, b->started, what, b->server_us, 1e6 / b->server_us, b->client_us);
}

/* Only async-signal-safe calls here. */
static void on_signal(int sig)
{
    (void)sig;
    if (g_server_pid > 0)
        kill(g_server_pid, SIGKILL);
    _exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_server_https <meshcert binary> [objects] [watchers]\n");
        return 2;
    }
    const char *meshcert = argv[1];
    long objects = argc > 2 ? atol(argv[2]) : 20000;
    int watchers = argc > 3 ? atoi(argv[3]) : 1000;
    if (objects < 1 || watchers < 1)
        die("usage", "objects and watchers must be positive");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    server_info s;
    memset(&s, 0, sizeof(s));
    snprintf(s.dir, sizeof(s.dir), "/tmp/mc-bench-https-XXXXXX");
    if (!mkdtemp(s.dir))
        die("mkdtemp", s.dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    print_load("start");
    start_server(meshcert, &s);
    wait_healthy(&s);
    long rss_start = server_rss_kib();

    batch one = {.server = &s, .kind = OP_CREATE, .prefix = "c1", .objects = objects};
    print_rate("https_creates_c1", run_batch(&one, 1), &one, "ConfigMaps, 1 connection");
    batch many = {.server = &s, .kind = OP_CREATE, .prefix = "c16", .objects = objects};
    print_rate("https_creates_c16", run_batch(&many, 16), &many, "ConfigMaps, 16 connections");
    long rss_after = server_rss_kib(), stored = one.started + many.started;
    printf("https_rss_per_1000_objects %.0f KiB (server VmRSS %ld KiB at start, %ld KiB with %ld "
           "objects)\n",
           (double)(rss_after - rss_start) * 1000.0 / (double)stored, rss_start, rss_after, stored);
    batch get1 = {.server = &s,
                  .kind = OP_GET,
                  .prefix = "c1",
                  .objects = objects,
                  .seed = 1,
                  .min_requests = 1000};
    print_rate("https_gets_c1", run_batch(&get1, 1), &get1, "GETs, 1 connection");
    batch get16 = {.server = &s,
                   .kind = OP_GET,
                   .prefix = "c1",
                   .objects = objects,
                   .seed = 2,
                   .min_requests = 1000};
    print_rate("https_gets_c16", run_batch(&get16, 16), &get16, "GETs, 16 connections");

    struct curl_slist *headers = headers_new(&s);
    CURL *easy = easy_new(&s, headers);
    size_t list_n = (size_t)stored < LIST_OBJECTS ? (size_t)stored : LIST_OBJECTS;
    char label[64];
    snprintf(label, sizeof(label), "https_list_%zu_objects", list_n);
    bench_list(&s, easy, list_n, 0, label);
    snprintf(label, sizeof(label), "https_list_%zu_paged", list_n);
    bench_list(&s, easy, list_n, LIST_PAGE, label);
    bench_list_all(&s, easy);
    bench_watch(&s, easy, watchers);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    print_load("end");

    int status = stop_server(SIGTERM);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr,
                "bench_server_https: the server did not exit 0 after SIGTERM (wait status %d)\n",
                status);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_server_https: could not remove %s\n", s.dir);
    return 0;
}
