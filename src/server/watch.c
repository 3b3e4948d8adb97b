/* watch.c - watch streams on suspended libmicrohttpd connections, fed by a
 * hub that the store's listener calls after every committed write.
 *
 * Each watch is a chunked response whose content reader copies bytes from
 * the watcher's queue of encoded lines; an event is encoded once per publish
 * and its bytes shared (refcounted) by every watcher that queues it. With an
 * empty queue the reader suspends its connection, and publish (or the timer
 * thread: bookmarks, timeouts) resumes it: no thread per watch.
 * See watch.h and docs/server.md.
 */
#define _GNU_SOURCE /* EPOLLRDHUP: a client's FIN on a suspended watch */
#include "server/watch.h"

#include "server/table.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/sorted.h"
#include "util/str.h"

/* Bytes the content reader may be asked for at once. */
#define WATCH_BLOCK_SIZE (32u * 1024)
/* Live bytes a watcher may have queued before its watch is ended (the
 * client re-watches from its last resourceVersion, as with kube). */
#define WATCH_QUEUE_MAX (16u * 1024 * 1024)
/* How often the timer thread wakes: deadlines are kept to it. */
#define WATCH_TICK_MS 100
/* How often it asks the hub's epoll set which suspended watches' clients
 * hung up: libmicrohttpd does not watch a suspended connection, so without
 * this a closed watch held its socket until two events or its timeout. */
#define WATCH_PEER_CHECK_MS 200
/* Hang-ups taken from the epoll set per epoll_wait call. */
#define WATCH_PEER_EVENTS 256
/* Bookmarks due are sent by one walk over the watches at most this often
 * (a bookmark may be this late; deadlines are kept to the tick): with
 * thousands of watches some bookmark is due at almost every tick. */
#define WATCH_BOOKMARK_BATCH_MS 1000

/* One encoded event line, shared by the watchers that queued it. */
typedef struct watch_line {
    size_t refs; /* references; guarded by hub->lock once shared */
    size_t len;  /* bytes in data */
    char data[]; /* `{"type":...,"object":...}\n`, not NUL-terminated */
} watch_line;

typedef struct watch_cluster watch_cluster;

/* One watch. The filter fields are set before the watcher is published to
 * the hub and never change; the rest is guarded by hub->lock. */
typedef struct watcher {
    mc_watch_hub *hub;                 /* owning hub (kept alive by this watcher) */
    struct MHD_Connection *connection; /* the suspended/resumed connection */
    int fd;                            /* its socket (in hub->epfd while suspended), or -1 */
    int peer_watched;                  /* lock: fd is in hub->epfd */
    int peer_closed;                   /* lock: the client hung up: end with an error */
    char *resource;                    /* filter: store name "<group>/<plural>" */
    char *kind;                        /* BOOKMARK kind */
    char *api_version;                 /* BOOKMARK apiVersion */
    char *namespace;                   /* filter: namespace, or NULL */
    char *field_name;                  /* filter: metadata.name, or NULL */
    char *field_namespace;             /* filter: metadata.namespace, or NULL */
    mc_selector *labels;               /* filter: owned copy, or NULL */
    int64_t since;                     /* live events with rev <= since are not sent */
    int bookmarks;                     /* 1: send BOOKMARK events */
    int64_t deadline_ms;               /* monotonic time at which the watch ends */
    int64_t next_bookmark_ms;          /* monotonic time of the next BOOKMARK */
    watch_cluster *cluster;            /* lock: the cluster list it is on, or NULL */
    struct watcher *prev;              /* lock: in cluster->watchers */
    struct watcher *next;              /* lock: in cluster->watchers */
    watch_line **queue;                /* lock: circular array of queued lines */
    size_t queue_head;                 /* lock: index of the first line */
    size_t queue_len;                  /* lock: lines queued */
    size_t queue_cap;                  /* lock: entries allocated */
    size_t offset;                     /* lock: bytes of the first line already sent */
    size_t queued_bytes;               /* lock: bytes queued, not yet sent */
    size_t queue_max;                  /* cap on queued_bytes for live events */
    int suspended;                     /* lock: 1 while its connection is suspended */
    int ending;                        /* lock: end the stream once the queue is sent */
    json_t **snapshot;                 /* initial ADDED objects still to send (references) */
    size_t snapshot_len;               /* entries in snapshot */
    size_t snapshot_pos;               /* the next one to encode */
    watch_line *initial_line;          /* the snapshot line being sent, or NULL */
    size_t initial_offset;             /* bytes of initial_line already sent */
    mc_server_resource *table;         /* owned copy: print objects as Table rows, or NULL */
    int table_columns_sent;            /* lock: the first Table (with columns) was queued */
} watcher;

/* The watchers of one logical cluster; guarded by hub->lock. */
struct watch_cluster {
    char *name;        /* owned cluster name */
    int64_t rev;       /* last revision published (BOOKMARK resourceVersion) */
    watcher *watchers; /* first of a doubly-linked list */
    size_t count;      /* watchers on the list */
    int detached;      /* 1: removed from hub->clusters (cluster ended) */
};

struct mc_watch_hub {
    mc_store *store;          /* read only on the HTTP thread (mc_watch_start) */
    int64_t bookmark_ms;      /* interval between BOOKMARK events */
    pthread_mutex_t lock;     /* guards everything below and the watchers' queues */
    pthread_cond_t tick;      /* wakes the timer thread early (stop) */
    pthread_t timer;          /* the timer thread */
    int timer_running;        /* 1 while the timer thread must be joined */
    int stopping;             /* lock: the timer thread must exit */
    int freed;                /* lock: mc_watch_hub_free ran; the last watcher frees */
    watch_cluster **clusters; /* lock: attached clusters, sorted by name */
    size_t clusters_len;      /* lock: entries used */
    size_t clusters_cap;      /* lock: entries allocated */
    size_t watchers;          /* lock: open watches */
    size_t max_watches;       /* lock: cap on watchers (0: none) */
    size_t max_per_cluster;   /* lock: cap on one cluster's watchers (0: none) */
    int epfd;                 /* immutable: epoll set of the suspended watches' sockets
                                 (EPOLLRDHUP, data.ptr = the watcher) */
    uint64_t rng;             /* lock: xorshift state for default timeouts */
    int64_t next_walk_ms;     /* lock: when the timer thread next walks the watches
                                 for deadlines and bookmarks (0: at once) */
};

/* ---- lines ------------------------------------------------------------- */

/* A new line `{"type":"<type>","object":<body>}\n` with one reference. */
static watch_line *line_new(const char *type, const char *body)
{
    static const char head[] = "{\"type\":\"";
    static const char mid[] = "\",\"object\":";
    static const char tail[] = "}\n";
    size_t tlen = strlen(type), blen = strlen(body);
    size_t len = sizeof(head) - 1 + tlen + sizeof(mid) - 1 + blen + sizeof(tail) - 1;
    watch_line *line = malloc(sizeof(*line) + len);
    if (!line)
        return NULL;
    line->refs = 1;
    line->len = len;
    char *p = line->data;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    memcpy(p, type, tlen);
    p += tlen;
    memcpy(p, mid, sizeof(mid) - 1);
    p += sizeof(mid) - 1;
    memcpy(p, body, blen);
    p += blen;
    memcpy(p, tail, sizeof(tail) - 1);
    return line;
}

/* For a watch asked as=Table: obj as a one-row Table, its column
 * definitions only in the stream's first Table, as kube-apiserver sends them
 * (lock held or the watcher not yet shared). Otherwise obj itself. */
static json_t *as_watch_object(watcher *w, const json_t *obj)
{
    if (!w->table)
        return json_incref((json_t *)obj);
    json_t *table = mc_server_table_build(w->table, &obj, 1, NULL, NULL, "Metadata", time(NULL));
    if (table && w->table_columns_sent)
        json_object_del(table, "columnDefinitions");
    if (table)
        w->table_columns_sent = 1;
    return table;
}

static watch_line *line_from_json(const char *type, const json_t *obj)
{
    char *body = json_dumps(obj, JSON_COMPACT);
    if (!body)
        return NULL;
    watch_line *line = line_new(type, body);
    free(body);
    return line;
}

static void line_unref(watch_line *line)
{
    if (line && --line->refs == 0)
        free(line);
}

/* ---- watcher queues (hub->lock held, or the watcher not yet shared) ----- */

/* Queues line (taking a new reference). A live event beyond the cap ends
 * the watch instead: its stream stops after what is queued. */
static void queue_push(watcher *w, watch_line *line, int live)
{
    if (w->ending)
        return;
    if (live && w->queued_bytes + line->len > w->queue_max) {
        mc_log_warn("watch", "watch of %s ended: consumer too slow (%zu bytes queued)", w->resource,
                    w->queued_bytes);
        w->ending = 1;
        return;
    }
    if (w->queue_len == w->queue_cap) {
        size_t cap = w->queue_cap ? w->queue_cap * 2 : 8;
        watch_line **grown = malloc(cap * sizeof(*grown));
        if (!grown) {
            w->ending = 1; /* the client re-watches; nothing is lost silently */
            return;
        }
        for (size_t i = 0; i < w->queue_len; i++)
            grown[i] = w->queue[(w->queue_head + i) % w->queue_cap];
        free(w->queue);
        w->queue = grown;
        w->queue_cap = cap;
        w->queue_head = 0;
    }
    line->refs++;
    w->queue[(w->queue_head + w->queue_len) % w->queue_cap] = line;
    w->queue_len++;
    w->queued_bytes += line->len;
}

/* Puts a suspended watch's socket in the hub's epoll set, so that the
 * timer thread learns of a hang-up without looking at the other watches.
 * Lock held. If epoll_ctl fails (out of memory), the hang-up is noticed at
 * the next event or the watch's timeout, as with no check at all. */
static void peer_watch_add(watcher *w)
{
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = w};
    if (w->fd >= 0 && !w->peer_watched && epoll_ctl(w->hub->epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0)
        w->peer_watched = 1;
}

/* Takes the socket out of the epoll set before libmicrohttpd has it again
 * (it may close it, and the fd number be reused). Lock held. */
static void peer_watch_remove(watcher *w)
{
    if (w->peer_watched) {
        epoll_ctl(w->hub->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        w->peer_watched = 0;
    }
}

/* Resumes the connection if the reader suspended it. Only called with the
 * lock held: the reader suspends under the same lock, so a resume can never
 * precede its suspend (libmicrohttpd would then cancel the suspend). */
static void wake(watcher *w)
{
    if (w->suspended) {
        w->suspended = 0;
        peer_watch_remove(w);
        MHD_resume_connection(w->connection);
    }
}

static void queue_clear(watcher *w)
{
    for (size_t i = 0; i < w->queue_len; i++)
        line_unref(w->queue[(w->queue_head + i) % w->queue_cap]);
    free(w->queue);
    w->queue = NULL;
    w->queue_len = w->queue_cap = w->queue_head = 0;
    w->queued_bytes = 0;
}

/* ---- filters ------------------------------------------------------------ */

static int labels_match(const watcher *w, const json_t *obj)
{
    if (!w->labels)
        return 1;
    return mc_selector_matches_json(w->labels,
                                    json_object_get(json_object_get(obj, "metadata"), "labels"));
}

/* The event type this watcher sees for e, or NULL when it sees nothing. A
 * label selector turns MODIFIED into ADDED or DELETED when the object
 * enters or leaves it, as kube-apiserver does. */
static const char *event_type_for(const watcher *w, const mc_store_event *e)
{
    if (strcmp(e->resource, w->resource) != 0)
        return NULL;
    if (w->namespace && strcmp(e->namespace, w->namespace) != 0)
        return NULL;
    if (w->field_namespace && strcmp(e->namespace, w->field_namespace) != 0)
        return NULL;
    if (w->field_name && strcmp(e->name, w->field_name) != 0)
        return NULL;
    int now = labels_match(w, e->obj);
    switch (e->type) {
    case MC_STORE_ADDED: return now ? "ADDED" : NULL;
    case MC_STORE_DELETED: return now ? "DELETED" : NULL;
    case MC_STORE_MODIFIED: {
        int before = e->prev ? labels_match(w, e->prev) : 0;
        if (now)
            return before ? "MODIFIED" : "ADDED";
        return before ? "DELETED" : NULL;
    }
    }
    return NULL;
}

static int type_index(const char *type)
{
    return type[0] == 'A' ? 0 : type[0] == 'M' ? 1 : 2;
}

/* ---- hub clusters (lock held) -------------------------------------------- */

static const char *watch_cluster_name(const void *item)
{
    return ((const watch_cluster *)item)->name;
}

static size_t cluster_index(const mc_watch_hub *hub, const char *name, int *found)
{
    return mc_sorted_index((void *const *)hub->clusters, hub->clusters_len, watch_cluster_name,
                           name, found);
}

static watch_cluster *cluster_find(const mc_watch_hub *hub, const char *name)
{
    int found;
    size_t i = cluster_index(hub, name, &found);
    return found ? hub->clusters[i] : NULL;
}

static watch_cluster *cluster_get_or_add(mc_watch_hub *hub, const char *name)
{
    int found;
    size_t at = cluster_index(hub, name, &found);
    if (found)
        return hub->clusters[at];
    if (hub->clusters_len == hub->clusters_cap) {
        size_t cap = hub->clusters_cap ? hub->clusters_cap * 2 : 8;
        watch_cluster **grown = realloc(hub->clusters, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        hub->clusters = grown;
        hub->clusters_cap = cap;
    }
    watch_cluster *wc = calloc(1, sizeof(*wc));
    if (!wc || !(wc->name = mc_strdup(name))) {
        free(wc);
        return NULL;
    }
    memmove(&hub->clusters[at + 1], &hub->clusters[at],
            (hub->clusters_len - at) * sizeof(*hub->clusters));
    hub->clusters[at] = wc;
    hub->clusters_len++;
    return wc;
}

static void cluster_detach(mc_watch_hub *hub, watch_cluster *wc)
{
    int found;
    size_t i = cluster_index(hub, wc->name, &found);
    if (found && hub->clusters[i] == wc) {
        memmove(&hub->clusters[i], &hub->clusters[i + 1],
                (hub->clusters_len - i - 1) * sizeof(*hub->clusters));
        hub->clusters_len--;
    }
    wc->detached = 1;
}

static void cluster_unlink(mc_watch_hub *hub, watcher *w)
{
    watch_cluster *wc = w->cluster;
    if (!wc)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        wc->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->cluster = NULL;
    w->prev = w->next = NULL;
    if (--wc->count == 0) {
        if (!wc->detached)
            cluster_detach(hub, wc);
        free(wc->name);
        free(wc);
    }
}

/* ---- hub lifetime -------------------------------------------------------- */

static void hub_destroy(mc_watch_hub *hub)
{
    for (size_t i = 0; i < hub->clusters_len; i++) {
        free(hub->clusters[i]->name);
        free(hub->clusters[i]);
    }
    free(hub->clusters);
    if (hub->epfd >= 0)
        close(hub->epfd);
    pthread_cond_destroy(&hub->tick);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

/* The snapshot holds references to the store's objects, which are never
 * changed once stored; it is read and released on the HTTP thread only
 * (the reader, publish, watch_free). This drops what is not yet encoded;
 * the line being sent stays, so the stream ends on a whole line. */
static void snapshot_drop_unsent(watcher *w)
{
    for (size_t i = w->snapshot_pos; i < w->snapshot_len; i++)
        json_decref(w->snapshot[i]);
    free(w->snapshot);
    w->snapshot = NULL;
    w->snapshot_len = w->snapshot_pos = 0;
}

static void snapshot_clear(watcher *w)
{
    snapshot_drop_unsent(w);
    if (w->initial_line)
        line_unref(w->initial_line);
    w->initial_line = NULL;
    w->initial_offset = 0;
}

static void watcher_free(watcher *w)
{
    if (!w)
        return;
    queue_clear(w);
    snapshot_clear(w);
    free(w->resource);
    free(w->kind);
    free(w->api_version);
    free(w->namespace);
    free(w->field_name);
    free(w->field_namespace);
    mc_selector_free(w->labels);
    mc_server_resource_free(w->table);
    free(w);
}

/* Queues a BOOKMARK (lock held). */
static void send_bookmark(watcher *w)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%" PRId64, w->cluster ? w->cluster->rev : 0);
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", w->kind, "apiVersion", w->api_version,
                            "metadata", "resourceVersion", rv);
    watch_line *line = obj ? line_from_json("BOOKMARK", obj) : NULL;
    json_decref(obj);
    if (!line)
        return; /* out of memory: the next interval tries again */
    queue_push(w, line, 1);
    line_unref(line);
}

/* Ends the suspended watches whose client hung up (lock held). Only the
 * sockets that reported a hang-up come back from epoll_wait: the cost is
 * that of what changed, not of every open watch. A watch leaves the set
 * when woken, so each one reported here is still suspended. */
static void reap_closed_peers(mc_watch_hub *hub)
{
    struct epoll_event events[WATCH_PEER_EVENTS];
    int n;
    do {
        n = epoll_wait(hub->epfd, events, WATCH_PEER_EVENTS, 0);
        for (int i = 0; i < n; i++) {
            watcher *w = events[i].data.ptr;
            if (w->ending) {
                peer_watch_remove(w);
                continue;
            }
            w->peer_closed = 1;
            w->ending = 1;
            queue_clear(w);
            wake(w);
        }
    } while (n == WATCH_PEER_EVENTS);
}

/* Ends the watches past their deadline and queues the bookmarks due (lock
 * held), and sets when this is next needed: the earliest deadline, or the
 * earliest bookmark but not before WATCH_BOOKMARK_BATCH_MS from now. Between
 * two walks the timer thread does not look at the watches (with 10 000 open,
 * a walk every tick was 5 % of a core). */
static void end_and_bookmark(mc_watch_hub *hub, int64_t now)
{
    int64_t next_deadline = INT64_MAX, next_bookmark = INT64_MAX;
    for (size_t i = 0; i < hub->clusters_len; i++) {
        for (watcher *w = hub->clusters[i]->watchers; w; w = w->next) {
            if (w->ending)
                continue;
            if (now >= w->deadline_ms) {
                w->ending = 1;
                wake(w);
                continue;
            }
            if (w->bookmarks && now >= w->next_bookmark_ms) {
                w->next_bookmark_ms = now + hub->bookmark_ms;
                send_bookmark(w);
                wake(w);
            }
            if (w->deadline_ms < next_deadline)
                next_deadline = w->deadline_ms;
            if (w->bookmarks && w->next_bookmark_ms < next_bookmark)
                next_bookmark = w->next_bookmark_ms;
        }
    }
    if (next_bookmark < now + WATCH_BOOKMARK_BATCH_MS)
        next_bookmark = now + WATCH_BOOKMARK_BATCH_MS;
    hub->next_walk_ms = next_deadline < next_bookmark ? next_deadline : next_bookmark;
}

static void *timer_main(void *arg)
{
    mc_watch_hub *hub = arg;
    int64_t next_peer_check = 0;
    pthread_mutex_lock(&hub->lock);
    while (!hub->stopping) {
        int64_t now = mc_clock_now_ms();
        if (now >= next_peer_check) {
            reap_closed_peers(hub);
            next_peer_check = now + WATCH_PEER_CHECK_MS;
        }
        if (now >= hub->next_walk_ms)
            end_and_bookmark(hub, now);
        int64_t until = mc_clock_now_ms() + WATCH_TICK_MS;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        pthread_cond_timedwait(&hub->tick, &hub->lock, &ts);
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

mc_watch_hub *mc_watch_hub_new(mc_store *store, int bookmark_seconds)
{
    mc_watch_hub *hub = calloc(1, sizeof(*hub));
    if (!hub)
        return NULL;
    hub->store = store;
    hub->bookmark_ms = (int64_t)(bookmark_seconds > 0 ? bookmark_seconds : 60) * 1000;
    hub->rng = (uint64_t)mc_clock_now_ms() * 0x9E3779B97F4A7C15ull | 1u;
    pthread_condattr_t attr;
    if (pthread_mutex_init(&hub->lock, NULL) != 0) {
        free(hub);
        return NULL;
    }
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&hub->tick, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&hub->lock);
        free(hub);
        return NULL;
    }
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (hub->epfd < 0 || pthread_create(&hub->timer, NULL, timer_main, hub) != 0) {
        hub_destroy(hub);
        return NULL;
    }
    hub->timer_running = 1;
    return hub;
}

void mc_watch_hub_end_all(mc_watch_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    pthread_cond_signal(&hub->tick);
    pthread_mutex_unlock(&hub->lock);
    if (hub->timer_running)
        pthread_join(hub->timer, NULL);
    hub->timer_running = 0;

    /* End every watch and resume every suspended connection, so that none
     * is left suspended when the daemon stops (libmicrohttpd aborts then). */
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < hub->clusters_len; i++) {
        for (watcher *w = hub->clusters[i]->watchers; w; w = w->next) {
            w->ending = 1;
            wake(w);
        }
    }
    pthread_mutex_unlock(&hub->lock);
}

void mc_watch_hub_free(mc_watch_hub *hub)
{
    if (!hub)
        return;
    mc_watch_hub_end_all(hub);
    pthread_mutex_lock(&hub->lock);
    hub->freed = 1;
    size_t open = hub->watchers;
    pthread_mutex_unlock(&hub->lock);
    if (open == 0)
        hub_destroy(hub);
}

/* ---- publish --------------------------------------------------------------- */

/* A watch that ends (too slow, timed out, out of memory) before its initial
 * events are sent ends after the line being sent: the rest of its snapshot
 * and the live events queued behind it go now. A client that does not read
 * would otherwise keep, until it hangs up, the objects of its snapshot that
 * writes have since replaced (one namespace's worth per such watcher), on
 * top of its full queue. The client sees a prefix of the ADDED events and
 * the end of the stream, and watches again. HTTP thread, lock held. */
static void end_unsent_snapshot(watcher *w)
{
    if (!w->ending || w->snapshot_pos == w->snapshot_len)
        return;
    snapshot_drop_unsent(w);
    queue_clear(w);
}

void mc_watch_hub_publish(mc_watch_hub *hub, const char *cluster, const mc_store_event *event)
{
    watch_line *lines[3] = {NULL, NULL, NULL};
    int needed[3] = {0, 0, 0};
    int needed_table = 0; /* a watcher that prints Tables wants this event */
    pthread_mutex_lock(&hub->lock);
    /* a write that finishes while the server stops: every watch has ended */
    watch_cluster *wc = hub->stopping ? NULL : cluster_find(hub, cluster);
    if (wc) {
        wc->rev = event->rev;
        for (watcher *w = wc->watchers; w; w = w->next) {
            const char *type =
                w->ending || event->rev <= w->since ? NULL : event_type_for(w, event);
            if (type && !w->table)
                needed[type_index(type)] = 1;
            else if (type)
                needed_table = 1;
        }
    }
    pthread_mutex_unlock(&hub->lock);
    if (!needed[0] && !needed[1] && !needed[2] && !needed_table)
        return;

    /* Encode outside the lock, once per type, for all watchers. */
    char *body = json_dumps(event->obj, JSON_COMPACT);
    static const char *const names[3] = {"ADDED", "MODIFIED", "DELETED"};
    for (int t = 0; t < 3 && body; t++)
        if (needed[t])
            lines[t] = line_new(names[t], body);
    free(body);

    /* Watchers are added and removed only on the HTTP thread, which is this
     * one, so the list is the one seen above; the timer thread may only have
     * ended some. */
    pthread_mutex_lock(&hub->lock);
    wc = cluster_find(hub, cluster);
    for (watcher *w = wc ? wc->watchers : NULL; w; w = w->next) {
        const char *type = w->ending || event->rev <= w->since ? NULL : event_type_for(w, event);
        if (!type) {
            end_unsent_snapshot(w);
            continue;
        }
        watch_line *line = lines[type_index(type)];
        watch_line *own = NULL;
        if (w->table) { /* rare (kubectl get -w): encoded for this watcher */
            json_t *shown = as_watch_object(w, event->obj);
            own = line = shown ? line_from_json(type, shown) : NULL;
            json_decref(shown);
        }
        if (line)
            queue_push(w, line, 1);
        else
            w->ending = 1; /* encoding failed (memory): end rather than skip */
        line_unref(own);
        end_unsent_snapshot(w);
        wake(w);
    }
    for (int t = 0; t < 3; t++)
        line_unref(lines[t]);
    pthread_mutex_unlock(&hub->lock);
}

void mc_watch_hub_end_cluster(mc_watch_hub *hub, const char *cluster)
{
    pthread_mutex_lock(&hub->lock);
    watch_cluster *wc = cluster_find(hub, cluster);
    if (wc) {
        cluster_detach(hub, wc);
        for (watcher *w = wc->watchers; w; w = w->next) {
            w->ending = 1;
            wake(w);
        }
    }
    pthread_mutex_unlock(&hub->lock);
}

size_t mc_watch_hub_count(const mc_watch_hub *hub)
{
    mc_watch_hub *h = (mc_watch_hub *)hub;
    pthread_mutex_lock(&h->lock);
    size_t n = h->watchers;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* ---- the response ---------------------------------------------------------- */

/* The next line of the initial ADDED events, encoded from the snapshot as
 * the client reads: a watch of a large collection holds references to the
 * stored objects, not their encoding (25 watchers of a 40 MB namespace
 * that did not read took the server from 89 MB to 1 GB). NULL when the
 * snapshot is sent, or out of memory (then the watch ends: the client
 * re-watches). HTTP thread, lock held. */
static watch_line *next_initial_line(watcher *w)
{
    while (w->snapshot_pos < w->snapshot_len) {
        json_t *obj = w->snapshot[w->snapshot_pos];
        w->snapshot[w->snapshot_pos++] = NULL;
        json_t *shown = as_watch_object(w, obj);
        watch_line *line = shown ? line_from_json("ADDED", shown) : NULL;
        json_decref(shown);
        json_decref(obj);
        if (line)
            return line;
        w->ending = 1;
        break;
    }
    snapshot_clear(w);
    return NULL;
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    watcher *w = cls;
    size_t copied = 0;
    (void)pos;
    pthread_mutex_lock(&w->hub->lock);
    if (w->peer_closed) {
        /* the client is gone: libmicrohttpd closes the connection now */
        pthread_mutex_unlock(&w->hub->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* The snapshot first: the live events queued meanwhile come after it. */
    while (copied < max && (w->initial_line || w->snapshot_pos < w->snapshot_len)) {
        if (!w->initial_line) {
            w->initial_line = next_initial_line(w);
            w->initial_offset = 0;
            if (!w->initial_line)
                break;
        }
        watch_line *line = w->initial_line;
        size_t n = line->len - w->initial_offset;
        if (n > max - copied)
            n = max - copied;
        memcpy(buf + copied, line->data + w->initial_offset, n);
        copied += n;
        w->initial_offset += n;
        if (w->initial_offset == line->len) {
            line_unref(line);
            w->initial_line = NULL;
            w->initial_offset = 0;
        }
    }
    int snapshot_left = w->initial_line || w->snapshot_pos < w->snapshot_len;
    while (!snapshot_left && copied < max && w->queue_len > 0) {
        watch_line *line = w->queue[w->queue_head];
        size_t n = line->len - w->offset;
        if (n > max - copied)
            n = max - copied;
        memcpy(buf + copied, line->data + w->offset, n);
        copied += n;
        w->offset += n;
        if (w->offset == line->len) {
            w->queued_bytes -= line->len;
            w->queue_head = (w->queue_head + 1) % w->queue_cap;
            w->queue_len--;
            w->offset = 0;
            line_unref(line);
        }
    }
    ssize_t result;
    if (copied > 0) {
        result = (ssize_t)copied;
    } else if (w->ending) {
        result = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: park the connection until wake(). Suspending
         * under the lock makes the check and the suspend one step for
         * publishers, which resume only connections marked suspended. */
        w->suspended = 1;
        MHD_suspend_connection(w->connection);
        peer_watch_add(w);
        result = 0;
    }
    pthread_mutex_unlock(&w->hub->lock);
    return result;
}

static void watch_free(void *cls)
{
    watcher *w = cls;
    mc_watch_hub *hub = w->hub;
    pthread_mutex_lock(&hub->lock);
    if (w->cluster) {
        cluster_unlink(hub, w);
        hub->watchers--;
    }
    peer_watch_remove(w);
    queue_clear(w);
    int destroy = hub->freed && hub->watchers == 0;
    pthread_mutex_unlock(&hub->lock);
    watcher_free(w);
    if (destroy)
        hub_destroy(hub);
}

/* Context of the initial events (HTTP thread; the watcher is not shared). */
typedef struct initial_ctx {
    watcher *w; /* the new watcher */
    int failed; /* 1: out of memory */
} initial_ctx;

static void queue_json(initial_ctx *ctx, const char *type, const json_t *obj)
{
    json_t *shown = strcmp(type, "ERROR") == 0 ? json_incref((json_t *)obj)
                                                : as_watch_object(ctx->w, obj);
    watch_line *line = shown ? line_from_json(type, shown) : NULL;
    json_decref(shown);
    if (!line) {
        ctx->failed = 1;
        return;
    }
    queue_push(ctx->w, line, 0);
    line_unref(line);
}

static void on_history(void *arg, const mc_store_event *event)
{
    initial_ctx *ctx = arg;
    const char *type = event_type_for(ctx->w, event);
    if (type && !ctx->failed)
        queue_json(ctx, type, event->obj);
}

static int queue_current(mc_store *store, const char *cluster, initial_ctx *ctx, mc_err *err)
{
    watcher *w = ctx->w;
    const json_t **items = NULL;
    size_t count = 0;
    int more = 0;
    const char *ns = w->namespace ? w->namespace : w->field_namespace;
    int rc =
        mc_store_list(store, cluster, w->resource, ns, NULL, NULL, 0, &items, &count, &more, err);
    if (rc != 0)
        return rc;
    w->snapshot = count ? malloc(count * sizeof(*w->snapshot)) : NULL;
    if (count && !w->snapshot)
        ctx->failed = 1;
    for (size_t i = 0; i < count && !ctx->failed; i++) {
        const json_t *meta = json_object_get(items[i], "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (w->field_name && (!name || strcmp(name, w->field_name) != 0))
            continue;
        if (w->field_namespace) {
            const char *obj_ns = json_string_value(json_object_get(meta, "namespace"));
            if (strcmp(obj_ns ? obj_ns : "", w->field_namespace) != 0)
                continue;
        }
        if (labels_match(w, items[i]))
            w->snapshot[w->snapshot_len++] = json_incref((json_t *)items[i]);
    }
    free(items);
    return 0;
}

static int queue_expired(initial_ctx *ctx, const char *message)
{
    json_t *status = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
                               "apiVersion", "v1", "metadata", "status", "Failure", "message",
                               message, "reason", "Expired", "code", 410);
    if (!status)
        return MC_ENOMEM;
    queue_json(ctx, "ERROR", status);
    json_decref(status);
    ctx->w->ending = 1;
    return 0;
}

static int copy_opt(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = mc_strdup(src);
    return *dst ? 0 : MC_ENOMEM;
}

static watcher *watcher_new(mc_watch_hub *hub, struct MHD_Connection *connection,
                            const mc_watch_params *params)
{
    const mc_server_resource *res = params->resource;
    watcher *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->hub = hub;
    w->connection = connection;
    w->fd = -1;
    const union MHD_ConnectionInfo *info =
        connection ? MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    if (info)
        w->fd = info->connect_fd;
    w->since = params->since;
    w->bookmarks = params->bookmarks;
    w->queue_max = WATCH_QUEUE_MAX;
    size_t av_len = strlen(res->group) + strlen(res->version) + 2;
    w->api_version = malloc(av_len);
    if (w->api_version)
        snprintf(w->api_version, av_len, "%s%s%s", res->group, *res->group ? "/" : "",
                 res->version);
    int rc = w->api_version ? 0 : MC_ENOMEM;
    if (rc == 0)
        rc = copy_opt(&w->resource, res->store_name);
    if (rc == 0)
        rc = copy_opt(&w->kind, res->kind);
    if (rc == 0)
        rc = copy_opt(&w->namespace, params->namespace);
    if (rc == 0)
        rc = copy_opt(&w->field_name, params->field_name);
    if (rc == 0)
        rc = copy_opt(&w->field_namespace, params->field_namespace);
    if (rc == 0 && params->table && !(w->table = mc_server_resource_dup(res)))
        rc = MC_ENOMEM;
    if (rc == 0 && params->labels && params->labels->len > 0) {
        /* A copy through the canonical text, which parses to an equal selector. */
        char *text = mc_selector_format(params->labels);
        rc = text ? mc_selector_parse(text, &w->labels, NULL) : MC_ENOMEM;
        free(text);
    }
    if (rc != 0) {
        watcher_free(w);
        return NULL;
    }
    return w;
}

void mc_watch_hub_set_limits(mc_watch_hub *hub, size_t max_watches, size_t max_per_cluster)
{
    pthread_mutex_lock(&hub->lock);
    hub->max_watches = max_watches;
    hub->max_per_cluster = max_per_cluster;
    pthread_mutex_unlock(&hub->lock);
}

/* MC_EUNAVAILABLE when one more watch of cluster would pass a cap. Only
 * the HTTP thread adds watchers, so the count cannot grow before this one
 * is registered. */
static int hub_over_limit(mc_watch_hub *hub, const char *cluster, mc_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&hub->lock);
    watch_cluster *wc = cluster_find(hub, cluster);
    size_t of_cluster = wc ? wc->count : 0;
    if (hub->max_watches && hub->watchers >= hub->max_watches)
        rc = mc_err_set(err, MC_EUNAVAILABLE,
                        "too many open watches on this server (limit %zu, --max-watches); retry "
                        "later",
                        hub->max_watches);
    else if (hub->max_per_cluster && of_cluster >= hub->max_per_cluster)
        rc = mc_err_set(err, MC_EUNAVAILABLE,
                        "too many open watches for cluster %s (limit %zu, "
                        "--max-watches-per-cluster); retry later",
                        cluster, hub->max_per_cluster);
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

struct MHD_Response *mc_watch_start(mc_watch_hub *hub, struct MHD_Connection *connection,
                                    const char *cluster, const mc_watch_params *params, mc_err *err)
{
    struct MHD_Response *response = NULL;
    initial_ctx ctx = {0};
    int rc = 0;
    int64_t rev = mc_store_revision(hub->store, cluster);
    if (rev < 0) {
        mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster);
        return NULL;
    }
    if (hub_over_limit(hub, cluster, err))
        return NULL;
    watcher *w = watcher_new(hub, connection, params);
    if (!w) {
        mc_err_set(err, MC_ENOMEM, "out of memory starting a watch of %s in cluster %s",
                   params->resource->store_name, cluster);
        return NULL;
    }
    ctx.w = w;

    /* kube treats resourceVersion "0" as "any": the current state, like none. */
    if (params->since <= 0) {
        rc = queue_current(hub->store, cluster, &ctx, err);
    } else {
        mc_err herr = {0};
        rc = mc_store_history(hub->store, cluster, params->since, on_history, &ctx, &herr);
        if (rc == MC_EEXPIRED)
            rc = queue_expired(&ctx, herr.msg);
        else if (rc != 0)
            mc_err_set(err, rc, "%s", herr.msg);
    }
    if (rc == 0 && ctx.failed)
        rc = MC_ENOMEM;
    if (rc != 0) {
        if (rc == MC_ENOMEM)
            mc_err_set(err, MC_ENOMEM, "out of memory starting a watch of %s in cluster %s",
                       w->resource, cluster);
        watcher_free(w);
        return NULL;
    }
    /* Live events must come after what was queued: those up to rev are in. */
    if (w->since < rev)
        w->since = rev;
    /* The initial events may exceed the cap; live ones get the cap on top. */
    w->queue_max = w->queued_bytes + WATCH_QUEUE_MAX;

    response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, WATCH_BLOCK_SIZE, watch_reader,
                                                 w, watch_free);
    if (!response) {
        watcher_free(w);
        mc_err_set(err, MC_ENOMEM, "cannot create the watch response (cluster %s)", cluster);
        return NULL;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");

    int64_t now = mc_clock_now_ms();
    pthread_mutex_lock(&hub->lock);
    int64_t timeout_ms = (int64_t)params->timeout_seconds * 1000;
    if (params->timeout_seconds <= 0) {
        /* kube-apiserver: 30 minutes x [1, 2), spreading reconnects. */
        hub->rng ^= hub->rng << 13;
        hub->rng ^= hub->rng >> 7;
        hub->rng ^= hub->rng << 17;
        timeout_ms = (1800 + (int64_t)(hub->rng % 1800)) * 1000;
    }
    w->deadline_ms = now + timeout_ms;
    w->next_bookmark_ms = now + hub->bookmark_ms;
    if (w->deadline_ms < hub->next_walk_ms)
        hub->next_walk_ms = w->deadline_ms;
    if (w->bookmarks && w->next_bookmark_ms < hub->next_walk_ms)
        hub->next_walk_ms = w->next_bookmark_ms;
    watch_cluster *wc = hub->freed ? NULL : cluster_get_or_add(hub, cluster);
    if (wc) {
        if (wc->rev < rev)
            wc->rev = rev;
        w->cluster = wc;
        w->next = wc->watchers;
        if (wc->watchers)
            wc->watchers->prev = w;
        wc->watchers = w;
        wc->count++;
        hub->watchers++;
    }
    pthread_mutex_unlock(&hub->lock);
    if (!wc) {
        MHD_destroy_response(response); /* frees w through watch_free */
        mc_err_set(err, MC_ENOMEM, "cannot register a watch (cluster %s)", cluster);
        return NULL;
    }
    return response;
}
