/* watch.c - every watch stream of a process on one I/O thread (see watch.h).
 *
 * One curl multi handle carries all streams, driven by libcurl's socket API:
 * curl tells us which sockets to watch (an epoll set), and after each round
 * we ask it when it wants to be called back anyway, so a wake-up costs the
 * streams that have data, not all of them. New connections are let through
 * a few at a time (MAX_HANDSHAKES). Other threads talk to the thread through
 * a command queue under watcher->lock and wake it through an eventfd in the
 * same epoll set; everything else about a stream belongs to the I/O thread
 * alone, so the hot path takes no lock. A stop waits until the I/O thread
 * has let go of the stream, which is what guarantees that its callback never
 * runs again.
 */
#include "kube/watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "api/status.h"
#include "kube/internal.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/str.h"

#define LINE_MAX_BYTES     (16u << 20) /* one NDJSON event; beyond: broken stream */
#define ERROR_BODY_MAX     (64u << 10) /* body of a non-200 reply */
#define BACKOFF_BASE_MS    250
#define BACKOFF_MAX_MS     10000
#define POLL_MAX_MS        1000   /* the longest sleep */
#define EVENTS_MAX         256    /* epoll events taken per wake-up */
#define CONNECT_TIMEOUT_MS 10000L /* TCP + TLS */
/* Streams starting a connection at once. Every handshake costs this thread
 * CPU, and all of a round share CONNECT_TIMEOUT_MS: 2 000 let through at
 * once on a starved CPU (ASan, a loaded machine) took longer than that as a
 * batch, every one timed out, and they came back together: no stream ever
 * got through. A stream leaves the count when the server answers (headers),
 * when its transfer ends, or after HANDSHAKE_SLOT_MS (then it is waiting on
 * the network, e.g. an unreachable cluster, not on us). */
#define MAX_HANDSHAKES    64
#define HANDSHAKE_SLOT_MS 2000

typedef enum { CMD_START, CMD_STOP } command_type;

/* A FIFO of streams, linked through the streams' queue_prev/queue_next: a
 * stream is on at most one (waiting to connect, or in its handshake). */
typedef struct stream_queue {
    mc_kube_watch *head, *tail;
    unsigned count;
} stream_queue;

typedef struct command {
    command_type type;    /* immutable */
    mc_kube_watch *watch; /* immutable */
    int self;             /* stop issued on the I/O thread: it frees the watch */
    struct command *next; /* watcher->lock while queued */
} command;

struct mc_kube_watch {
    mc_kube_watcher *watcher;       /* immutable */
    mc_kube_client *client;         /* immutable, not owned */
    mc_kube_event_fn fn;            /* immutable */
    void *ctx;                      /* immutable */
    mc_kube_resource res;           /* immutable; strings below */
    char *group, *version, *plural; /* immutable, owned */
    char *ns;                       /* immutable, owned, or NULL (all namespaces) */
    char *label_selector;           /* immutable, owned, or NULL */
    char *field_selector;           /* immutable, owned, or NULL */
    int bookmarks;                  /* immutable */
    int timeout_seconds;            /* immutable */
    int low_speed_seconds;          /* immutable: the dead-stream limit */
    command start_cmd;              /* queued by start */
    command stop_cmd;               /* queued by stop */
    int stop_done;                  /* watcher->lock: the I/O thread let go of it */
    atomic_uint reconnects;         /* written by the I/O thread, read anywhere */
    char *rv;                       /* I/O thread: last resourceVersion seen, or NULL */
    CURL *easy;                     /* I/O thread: the current connection, or NULL */
    struct curl_slist *headers;     /* I/O thread: headers of easy */
    mc_buf line;                    /* I/O thread: the partial NDJSON line */
    mc_buf error_body;              /* I/O thread: body of a non-200 reply */
    long http;                      /* I/O thread: status of the current connection */
    int terminal;                   /* I/O thread: EXPIRED/FAILED delivered: no reconnect */
    int broken;                     /* I/O thread: the stream was cut by us: reconnect */
    int stopped;                    /* I/O thread: callbacks are over */
    int refresh;                    /* I/O thread: the next connect refreshes the credential */
    int refreshed;                  /* I/O thread: a 401 refresh was tried since the last 200 */
    int connected_once;             /* I/O thread */
    unsigned failures;              /* I/O thread: consecutive failures (backoff exponent) */
    int64_t next_connect_ms;        /* I/O thread: when to connect while easy is NULL */
    int64_t handshake_start_ms;     /* I/O thread: when it joined handshaking */
    mc_kube_watch *prev, *next;     /* I/O thread: the watcher's list */
    stream_queue *queue;            /* I/O thread: waiting, handshaking or NULL */
    mc_kube_watch *queue_prev, *queue_next; /* I/O thread: links in queue */
};

struct mc_kube_watcher {
    pthread_t thread;         /* immutable */
    CURLM *multi;             /* I/O thread */
    int epoll_fd;             /* immutable: curl's sockets and wake_fd */
    int wake_fd;              /* immutable: an eventfd; any thread writes to wake the I/O thread */
    pthread_mutex_t lock;     /* guards cmds, cmds_tail, quit, every watch's stop_done */
    pthread_cond_t stopped;   /* lock: a stop_done became 1 */
    command *cmds;            /* lock: FIFO of commands */
    command **cmds_tail;      /* lock */
    int quit;                 /* lock: free asked the thread to end */
    mc_kube_watch *watches;   /* I/O thread: started, not yet released */
    stream_queue waiting;     /* I/O thread: no connection, one due at next_connect_ms */
    stream_queue handshaking; /* I/O thread: connecting, oldest first (MAX_HANDSHAKES) */
    atomic_ulong reconnects;  /* every watch's reconnects (written by the I/O thread) */
    atomic_ulong expired;     /* watches ended by 410 Expired (written by the I/O thread) */
    atomic_ulong failed;      /* watches ended by a permanent failure (I/O thread) */
};

static void watch_free(mc_kube_watch *w)
{
    if (!w)
        return;
    free(w->group);
    free(w->version);
    free(w->plural);
    free(w->ns);
    free(w->label_selector);
    free(w->field_selector);
    free(w->rv);
    mc_buf_free(&w->line);
    mc_buf_free(&w->error_body);
    free(w);
}

/* ---- delivering events ---- */

static void deliver(mc_kube_watch *w, mc_kube_event_type type, const json_t *object)
{
    if (!w->stopped)
        w->fn(w->ctx, type, object);
}

/* Delivers a terminal event (EXPIRED or FAILED): the watch stops for good. */
static void deliver_terminal(mc_kube_watch *w, mc_kube_event_type type, const json_t *object)
{
    w->terminal = 1;
    atomic_fetch_add(type == MC_KUBE_EXPIRED ? &w->watcher->expired : &w->watcher->failed, 1);
    deliver(w, type, object);
}

static void remember_rv(mc_kube_watch *w, const json_t *object)
{
    const char *rv =
        json_string_value(json_object_get(json_object_get(object, "metadata"), "resourceVersion"));
    if (!rv || !rv[0] || (w->rv && strcmp(w->rv, rv) == 0))
        return;
    char *copy = mc_strdup(rv);
    if (copy) {
        free(w->rv);
        w->rv = copy;
    }
}

/* One NDJSON line. Returns 0 to go on, -1 to cut the stream. */
static int handle_line(mc_kube_watch *w, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return 0;
    json_error_t jerr;
    json_t *event = json_loadb(line, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(event, "type"));
    json_t *object = json_object_get(event, "object");
    int rc = 0;
    if (!type || !json_is_object(object)) {
        w->broken = 1;
        rc = -1;
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(object, "code"));
        if (code == 410)
            deliver_terminal(w, MC_KUBE_EXPIRED, object);
        else
            w->broken = 1; /* a server-side problem: reconnect from the last version */
        rc = -1;
    } else {
        mc_kube_event_type t = strcmp(type, "ADDED") == 0      ? MC_KUBE_ADDED
                               : strcmp(type, "MODIFIED") == 0 ? MC_KUBE_MODIFIED
                               : strcmp(type, "DELETED") == 0  ? MC_KUBE_DELETED
                               : strcmp(type, "BOOKMARK") == 0 ? MC_KUBE_BOOKMARK
                                                               : 0;
        if (t) {
            remember_rv(w, object);
            w->failures = 0;
            deliver(w, t, object);
        }
    }
    json_decref(event);
    return rc;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mc_kube_watch *w = userdata;
    size_t n = size * nmemb;
    if (w->stopped || w->terminal)
        return 0;
    if (w->http == 0)
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->http);
    if (w->http != 200) {
        mc_buf_append(&w->error_body, ptr,
                      n); /* a longer body is cut; it is only read for its Status */
        return n;
    }
    size_t start = 0;
    while (start < n) {
        const char *nl = memchr(ptr + start, '\n', n - start);
        size_t piece = nl ? (size_t)(nl - (ptr + start)) : n - start;
        if (mc_buf_append(&w->line, ptr + start, piece) != MC_OK) {
            w->broken = 1; /* an event beyond the cap: treat the stream as broken */
            return 0;
        }
        start += piece;
        if (!nl)
            break;
        start++;
        int rc = handle_line(w, w->line.data ? w->line.data : "", w->line.len);
        w->line.len = 0;
        if (w->line.data)
            w->line.data[0] = '\0';
        if (rc || w->stopped)
            return 0;
    }
    return n;
}

/* ---- connections ---- */

static void queue_remove(mc_kube_watch *w)
{
    stream_queue *q = w->queue;
    if (!q)
        return;
    if (w->queue_prev)
        w->queue_prev->queue_next = w->queue_next;
    else
        q->head = w->queue_next;
    if (w->queue_next)
        w->queue_next->queue_prev = w->queue_prev;
    else
        q->tail = w->queue_prev;
    q->count--;
    w->queue = NULL;
    w->queue_prev = w->queue_next = NULL;
}

/* Appends w to q (leaving the queue it was on). */
static void queue_push(stream_queue *q, mc_kube_watch *w)
{
    if (w->queue == q)
        return;
    queue_remove(w);
    w->queue = q;
    w->queue_prev = q->tail;
    w->queue_next = NULL;
    if (q->tail)
        q->tail->queue_next = w;
    else
        q->head = w;
    q->tail = w;
    q->count++;
}

static void disconnect(mc_kube_watch *w)
{
    if (!w->easy)
        return;
    if (w->queue == &w->watcher->handshaking)
        queue_remove(w);
    curl_multi_remove_handle(w->watcher->multi, w->easy);
    curl_easy_cleanup(w->easy);
    curl_slist_free_all(w->headers);
    w->easy = NULL;
    w->headers = NULL;
}

/* The waiting queue holds the streams without a connection that will get
 * one, so a wake-up looks at those only, not at every stream. */
static void connect_at(mc_kube_watch *w, int64_t when_ms)
{
    w->next_connect_ms = when_ms;
    queue_push(&w->watcher->waiting, w);
}

static void schedule_reconnect(mc_kube_watch *w)
{
    long delay = mc_kube_backoff_ms(w->failures, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    w->failures++;
    connect_at(w, mc_clock_now_ms() + delay);
}

/* CURLOPT_HEADERFUNCTION: the server answered, so the stream's handshake
 * slot goes to the next one. */
static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    mc_kube_watch *w = userdata;
    (void)ptr;
    if (w->queue == &w->watcher->handshaking)
        queue_remove(w);
    return size * nitems;
}

static void connect_stream(mc_kube_watch *w)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", w->timeout_seconds);
    mc_kube_query query[] = {
        {"watch", "true"},
        {"resourceVersion", w->rv},
        {"labelSelector", w->label_selector},
        {"fieldSelector", w->field_selector},
        {"allowWatchBookmarks", w->bookmarks ? "true" : NULL},
        {"timeoutSeconds", timeout},
    };
    char *url = NULL;
    mc_err err = {0};
    if (mc_kube_url(w->client, &w->res, w->ns, NULL, NULL, query, 6, &url, &err) != MC_OK ||
        !(w->easy = curl_easy_init())) {
        free(url);
        schedule_reconnect(w);
        return;
    }
    int refresh = w->refresh;
    w->refresh = 0;
    if (mc_kube_prepare(w->client, w->easy, 1, refresh, &w->headers, &err) != MC_OK) {
        free(url);
        curl_slist_free_all(w->headers);
        curl_easy_cleanup(w->easy);
        w->easy = NULL;
        w->headers = NULL;
        schedule_reconnect(w);
        return;
    }
    CURL *e = w->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, w);
    curl_easy_setopt(e, CURLOPT_PRIVATE, w);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(w->timeout_seconds + 60) * 1000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)w->low_speed_seconds);
    free(url);
    w->http = 0;
    w->broken = 0;
    w->line.len = 0;
    w->error_body.len = 0;
    if (curl_multi_add_handle(w->watcher->multi, e) != CURLM_OK) {
        disconnect(w);
        schedule_reconnect(w);
        return;
    }
    w->handshake_start_ms = mc_clock_now_ms();
    queue_push(&w->watcher->handshaking, w);
    if (w->connected_once) {
        /* the total first: a reader of the stream's count then the total
         * never sees the total behind */
        atomic_fetch_add(&w->watcher->reconnects, 1);
        atomic_fetch_add(&w->reconnects, 1);
    }
    w->connected_once = 1;
}

/* The Status of a failed reply, or a synthesised one (new reference). */
static json_t *reply_status(mc_kube_watch *w)
{
    json_error_t jerr;
    json_t *json =
        w->error_body.len ? json_loadb(w->error_body.data, w->error_body.len, 0, &jerr) : NULL;
    const char *kind = json_string_value(json_object_get(json, "kind"));
    if (kind && strcmp(kind, "Status") == 0)
        return json;
    json_decref(json);
    json_t *status = NULL;
    mc_api_status *s = mc_api_status_new((int)w->http, NULL, "watch failed");
    if (s)
        mc_api_status_encode(s, &status, NULL);
    mc_api_status_free(s);
    return status;
}

/* A transfer ended: decide between reconnecting and stopping for good. */
static void on_done(mc_kube_watch *w, CURLcode result)
{
    if (w->http == 0)
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->http);
    disconnect(w);
    (void)result;
    if (w->stopped || w->terminal)
        return;
    long http = w->http;
    if (http == 200) {
        w->refreshed = 0;
        schedule_reconnect(w);
        return;
    }
    if (http == 401 && !w->refreshed && mc_kube_can_refresh(w->client)) {
        w->refreshed = 1;
        w->refresh = 1;
        connect_at(w, mc_clock_now_ms());
        return;
    }
    if (http == 410 || http == 401 || http == 403 || http == 404) {
        json_t *status = reply_status(w);
        deliver_terminal(w, http == 410 ? MC_KUBE_EXPIRED : MC_KUBE_FAILED, status);
        json_decref(status);
        return;
    }
    schedule_reconnect(w); /* 0 (no connection), 429, 5xx, ... */
}

/* ---- the I/O thread ---- */

static void list_add(mc_kube_watcher *watcher, mc_kube_watch *w)
{
    w->prev = NULL;
    w->next = watcher->watches;
    if (w->next)
        w->next->prev = w;
    watcher->watches = w;
}

static void list_remove(mc_kube_watcher *watcher, mc_kube_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        watcher->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void run_commands(mc_kube_watcher *watcher, command *cmds)
{
    while (cmds) {
        command *next = cmds->next;
        mc_kube_watch *w = cmds->watch;
        if (cmds->type == CMD_START) {
            list_add(watcher, w);
            connect_at(w, mc_clock_now_ms());
        } else {
            w->stopped = 1;
            disconnect(w);
            queue_remove(w);
            list_remove(watcher, w);
            if (cmds->self) {
                watch_free(w);
            } else {
                pthread_mutex_lock(&watcher->lock);
                w->stop_done = 1;
                pthread_cond_broadcast(&watcher->stopped);
                pthread_mutex_unlock(&watcher->lock);
            }
        }
        cmds = next;
    }
}

static command *take_commands(mc_kube_watcher *watcher, int *quit)
{
    pthread_mutex_lock(&watcher->lock);
    command *cmds = watcher->cmds;
    watcher->cmds = NULL;
    watcher->cmds_tail = &watcher->cmds;
    *quit = watcher->quit;
    pthread_mutex_unlock(&watcher->lock);
    return cmds;
}

/* Streams in their handshake longer than HANDSHAKE_SLOT_MS give up their
 * slot (the queue is oldest first). */
static void release_slow_handshakes(mc_kube_watcher *watcher, int64_t now)
{
    while (watcher->handshaking.head &&
           now - watcher->handshaking.head->handshake_start_ms >= HANDSHAKE_SLOT_MS)
        queue_remove(watcher->handshaking.head);
}

/* Connects the waiting streams whose time has come, oldest first, while
 * fewer than MAX_HANDSHAKES are connecting; returns ms until the next one is
 * due or a slot frees by age (capped at POLL_MAX_MS). */
static int64_t connect_due(mc_kube_watcher *watcher)
{
    int64_t now = mc_clock_now_ms();
    int64_t wait = POLL_MAX_MS;
    release_slow_handshakes(watcher, now);
    mc_kube_watch *next;
    for (mc_kube_watch *w = watcher->waiting.head; w; w = next) {
        next = w->queue_next;
        if (watcher->handshaking.count >= MAX_HANDSHAKES)
            break;
        if (w->terminal || w->stopped) {
            queue_remove(w);
        } else if (w->next_connect_ms <= now) {
            queue_remove(w);
            connect_stream(w); /* on failure, back on the waiting queue's tail */
        } else if (w->next_connect_ms - now < wait) {
            wait = w->next_connect_ms - now;
        }
    }
    mc_kube_watch *oldest = watcher->handshaking.head;
    if (watcher->waiting.head && oldest) {
        int64_t slot_frees = oldest->handshake_start_ms + HANDSHAKE_SLOT_MS - now;
        if (slot_frees < wait)
            wait = slot_frees < 0 ? 0 : slot_frees;
    }
    return wait;
}

/* CURLMOPT_SOCKETFUNCTION: curl says which events a socket waits for.
 * socketp is NULL for a socket curl has not told us about before (ADD),
 * else what we assigned (MOD). Each falls back on the other: a closed fd
 * leaves the epoll set by itself, and a new socket may reuse its number. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    mc_kube_watcher *watcher = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        /* called before curl closes it; ENOENT when the fd never got in */
        epoll_ctl(watcher->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(watcher->epoll_fd, op, fd, &ev) != 0) {
        int retry = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
        /* out of memory or over the epoll watch limit: on -1 curl aborts
         * the transfers (CURLM_ABORTED_BY_CALLBACK) and they reconnect */
        if (retry < 0 || epoll_ctl(watcher->epoll_fd, retry, fd, &ev) != 0)
            return -1;
    }
    if (!socketp)
        curl_multi_assign(watcher->multi, fd, watcher);
    return 0;
}

/* ms until curl must be called with CURL_SOCKET_TIMEOUT (0: now), or -1.
 * Asked after every round instead of kept from CURLMOPT_TIMERFUNCTION:
 * libcurl (7.88) skips that callback when the deadline equals the last one
 * it reported, and a lost 0-ms deadline is a stream stalled for good, since
 * it is how curl asks to come back for bytes OpenSSL already decrypted and
 * buffered, when nothing new arrives on the socket. */
static long curl_deadline_ms(mc_kube_watcher *watcher)
{
    long ms = -1;
    if (curl_multi_timeout(watcher->multi, &ms) != CURLM_OK)
        return POLL_MAX_MS;
    return ms;
}

static void act(mc_kube_watcher *watcher, curl_socket_t fd, int mask)
{
    int running = 0;
    curl_multi_socket_action(watcher->multi, fd, mask, &running);
}

static void collect_done(mc_kube_watcher *watcher)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(watcher->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        mc_kube_watch *w = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
        if (w)
            on_done(w, msg->data.result);
    }
}

static void drain_wake(mc_kube_watcher *watcher)
{
    uint64_t count;
    while (read(watcher->wake_fd, &count, sizeof(count)) > 0)
        ;
}

static void wake(mc_kube_watcher *watcher)
{
    uint64_t one = 1;
    while (write(watcher->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* An error or hang-up is passed on as readable (an error also as writable,
 * for a connect in progress), so that curl's own read or connect check finds
 * out what it was. */
static int select_mask(uint32_t events)
{
    int mask = 0;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        mask |= CURL_CSELECT_IN;
    if (events & (EPOLLOUT | EPOLLERR))
        mask |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        mask |= CURL_CSELECT_ERR;
    return mask;
}

/* Sleeps until a socket is ready, curl's deadline, a connect is due, or
 * another thread wakes us; lets curl act on the ready sockets only, then on
 * its deadline if it passed. */
static void wait_and_act(mc_kube_watcher *watcher, int64_t wait)
{
    long deadline = curl_deadline_ms(watcher);
    if (deadline >= 0 && deadline < wait)
        wait = deadline;
    struct epoll_event events[EVENTS_MAX];
    int n = epoll_wait(watcher->epoll_fd, events, EVENTS_MAX, (int)wait);
    for (int i = 0; i < n; i++) {
        if (events[i].data.fd == watcher->wake_fd)
            drain_wake(watcher);
        else
            act(watcher, events[i].data.fd, select_mask(events[i].events));
    }
    if (curl_deadline_ms(watcher) == 0)
        act(watcher, CURL_SOCKET_TIMEOUT, 0);
}

static void *io_thread(void *arg)
{
    mc_kube_watcher *watcher = arg;
    for (;;) {
        int quit = 0;
        run_commands(watcher, take_commands(watcher, &quit));
        if (quit)
            break;
        int64_t wait = connect_due(watcher); /* new handles: curl's deadline is 0 */
        wait_and_act(watcher, wait);
        collect_done(watcher);
    }
    /* Free: every stream goes; stops still queued were handled above. */
    while (watcher->watches) {
        mc_kube_watch *w = watcher->watches;
        disconnect(w);
        queue_remove(w);
        list_remove(watcher, w);
        watch_free(w);
    }
    return NULL;
}

/* ---- API ---- */

static void close_fds(mc_kube_watcher *watcher)
{
    if (watcher->wake_fd >= 0)
        close(watcher->wake_fd);
    if (watcher->epoll_fd >= 0)
        close(watcher->epoll_fd);
}

int mc_kube_watcher_new(mc_kube_watcher **out, mc_err *err)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mc_kube_watcher *watcher = calloc(1, sizeof(*watcher));
    if (!watcher)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    watcher->cmds_tail = &watcher->cmds;
    atomic_init(&watcher->reconnects, 0);
    atomic_init(&watcher->expired, 0);
    atomic_init(&watcher->failed, 0);
    pthread_mutex_init(&watcher->lock, NULL);
    pthread_cond_init(&watcher->stopped, NULL);
    watcher->wake_fd = -1;
    watcher->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (watcher->epoll_fd < 0) {
        mc_err_set(err, MC_EIO, "watcher: cannot create an epoll set: %s", strerror(errno));
        goto fail;
    }
    watcher->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wake_ev = {.events = EPOLLIN};
    wake_ev.data.fd = watcher->wake_fd;
    if (watcher->wake_fd < 0 ||
        epoll_ctl(watcher->epoll_fd, EPOLL_CTL_ADD, watcher->wake_fd, &wake_ev) != 0) {
        mc_err_set(err, MC_EIO, "watcher: cannot create its wake-up eventfd: %s", strerror(errno));
        goto fail;
    }
    watcher->multi = curl_multi_init();
    if (!watcher->multi) {
        mc_err_set(err, MC_ENOMEM, "watcher: cannot create a curl multi handle");
        goto fail;
    }
    curl_multi_setopt(watcher->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(watcher->multi, CURLMOPT_SOCKETDATA, watcher);
    if (pthread_create(&watcher->thread, NULL, io_thread, watcher) != 0) {
        mc_err_set(err, MC_ENOMEM, "watcher: cannot start the I/O thread");
        goto fail;
    }
    *out = watcher;
    return MC_OK;
fail:
    if (watcher->multi)
        curl_multi_cleanup(watcher->multi);
    close_fds(watcher);
    pthread_cond_destroy(&watcher->stopped);
    pthread_mutex_destroy(&watcher->lock);
    free(watcher);
    return err ? err->code : MC_ENOMEM;
}

void mc_kube_watcher_free(mc_kube_watcher *watcher)
{
    if (!watcher)
        return;
    pthread_mutex_lock(&watcher->lock);
    watcher->quit = 1;
    pthread_mutex_unlock(&watcher->lock);
    wake(watcher);
    pthread_join(watcher->thread, NULL);
    curl_multi_cleanup(watcher->multi); /* may still call on_socket: fds closed after */
    close_fds(watcher);
    pthread_cond_destroy(&watcher->stopped);
    pthread_mutex_destroy(&watcher->lock);
    free(watcher);
}

static void enqueue(mc_kube_watcher *watcher, command *cmd)
{
    cmd->next = NULL;
    *watcher->cmds_tail = cmd;
    watcher->cmds_tail = &cmd->next;
}

static int copy_opt(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = mc_strdup(src);
    return *dst ? 0 : -1;
}

int mc_kube_watch_start(mc_kube_watcher *watcher, mc_kube_client *client,
                        const mc_kube_resource *res, const char *ns,
                        const mc_kube_watch_options *options, mc_kube_event_fn fn, void *ctx,
                        mc_kube_watch **out, mc_err *err)
{
    mc_kube_watch_options none = {0};
    if (!options)
        options = &none;
    if (!res || !res->version || !res->plural || !fn)
        return mc_err_set(err, MC_EINVAL, "watch: resource and callback are required");
    mc_kube_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    w->watcher = watcher;
    w->client = client;
    w->fn = fn;
    w->ctx = ctx;
    w->bookmarks = options->bookmarks;
    w->timeout_seconds = options->timeout_seconds > 0 ? options->timeout_seconds : 300;
    /* Bookmarks arrive every minute or so; without them a quiet stream is
     * silent until the server's timeout ends it. */
    w->low_speed_seconds = options->low_speed_seconds > 0 ? options->low_speed_seconds
                           : w->bookmarks                 ? 130
                                                          : w->timeout_seconds + 30;
    mc_buf_init(&w->line, LINE_MAX_BYTES);
    mc_buf_init(&w->error_body, ERROR_BODY_MAX);
    atomic_init(&w->reconnects, 0);
    if (copy_opt(&w->group, res->group ? res->group : "") || copy_opt(&w->version, res->version) ||
        copy_opt(&w->plural, res->plural) ||
        (res->namespaced && ns && ns[0] && copy_opt(&w->ns, ns)) ||
        copy_opt(&w->label_selector, options->label_selector) ||
        copy_opt(&w->field_selector, options->field_selector) ||
        (options->resource_version && options->resource_version[0] &&
         copy_opt(&w->rv, options->resource_version))) {
        watch_free(w);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    w->res = (mc_kube_resource){w->group, w->version, w->plural, res->namespaced};
    w->start_cmd = (command){.type = CMD_START, .watch = w};
    w->stop_cmd = (command){.type = CMD_STOP, .watch = w};
    pthread_mutex_lock(&watcher->lock);
    enqueue(watcher, &w->start_cmd);
    pthread_mutex_unlock(&watcher->lock);
    wake(watcher);
    *out = w;
    return MC_OK;
}

void mc_kube_watch_stop(mc_kube_watch *watch)
{
    if (!watch)
        return;
    mc_kube_watcher *watcher = watch->watcher;
    if (pthread_equal(pthread_self(), watcher->thread)) {
        /* From a callback of another stream (or, against the contract, of
         * this one): no more callbacks from now on; the loop frees it once
         * curl has let go of the handle. */
        watch->stopped = 1;
        watch->stop_cmd.self = 1;
        pthread_mutex_lock(&watcher->lock);
        enqueue(watcher, &watch->stop_cmd);
        pthread_mutex_unlock(&watcher->lock);
        return;
    }
    pthread_mutex_lock(&watcher->lock);
    enqueue(watcher, &watch->stop_cmd);
    pthread_mutex_unlock(&watcher->lock);
    wake(watcher);
    pthread_mutex_lock(&watcher->lock);
    while (!watch->stop_done)
        pthread_cond_wait(&watcher->stopped, &watcher->lock);
    pthread_mutex_unlock(&watcher->lock);
    watch_free(watch);
}

unsigned mc_kube_watch_reconnects(const mc_kube_watch *watch)
{
    return atomic_load(&((mc_kube_watch *)watch)->reconnects);
}

void mc_kube_watcher_restarts(mc_kube_watcher *watcher, unsigned long *reconnects,
                              unsigned long *expired, unsigned long *failed)
{
    *reconnects = atomic_load(&watcher->reconnects);
    *expired = atomic_load(&watcher->expired);
    *failed = atomic_load(&watcher->failed);
}
