/* events.c - the Event recorder (events.h): a correlator deciding, for each
 * event, between a new Event, a PATCH of the count of one already written,
 * and nothing (spam filter), after client-go's EventCorrelator; and a
 * broadcaster (one per process) whose recorders, one per cluster, only
 * append to its bounded queue, while its one writer thread correlates and
 * writes each event through its recorder's client.
 *
 * The correlator keeps three small LRU caches, as client-go does: similar
 * events (same source, object, type, reason) with their distinct messages;
 * written Events by their full key (name, count, firstTimestamp); and one
 * token bucket per source and object.
 */
#include "runtime/events.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/core.h"
#include "api/time.h"
#include "kube/client.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define LOG_COMPONENT "events"

/* client-go's defaults (tools/record/events_cache.go). */
#define DEFAULT_QPS           (1.0 / 300.0)
#define DEFAULT_BURST         25
#define DEFAULT_CACHE_ENTRIES 4096
#define AGGREGATE_MAX         10           /* distinct messages before combining */
#define AGGREGATE_WINDOW_MS   (600 * 1000) /* similar events further apart start over */
#define COMBINED_PREFIX       "(combined from similar events): "
#define DEFAULT_QUEUE_SIZE    1000
#define DRAIN_MS              2000  /* writes still tried by mc_event_recorder_free */
#define DEFAULT_COOLOFF_MS    30000 /* a cluster's events dropped after a failed write */
#define KEY_MAX               4096
#define SEP                   "\x1f" /* between the fields of a cache key */

/* ---- LRU caches ---- */

typedef struct cache_entry {
    char *key;     /* owned; NULL: a free slot */
    uint64_t used; /* LRU stamp */
    /* similar events */
    char *messages[AGGREGATE_MAX]; /* owned, the distinct messages seen */
    size_t message_count;
    int64_t seen_ms; /* the last similar event */
    /* written Events */
    char name[MC_EVENT_NAME_MAX];
    int64_t count;
    int64_t first_ms;
    /* spam filter */
    double tokens;
    int64_t refilled_ms;
} cache_entry;

typedef struct cache {
    cache_entry *entries; /* owned, cap slots */
    size_t cap;
    uint64_t clock; /* LRU stamps */
} cache;

static void entry_clear(cache_entry *e)
{
    free(e->key);
    for (size_t i = 0; i < e->message_count; i++)
        free(e->messages[i]);
    memset(e, 0, sizeof(*e));
}

static int cache_init(cache *c, size_t cap)
{
    c->entries = calloc(cap, sizeof(*c->entries));
    c->cap = cap;
    c->clock = 0;
    return c->entries ? MC_OK : MC_ENOMEM;
}

static void cache_clear(cache *c)
{
    for (size_t i = 0; c->entries && i < c->cap; i++)
        entry_clear(&c->entries[i]);
    free(c->entries);
    c->entries = NULL;
}

/* The entry of key; a new (zeroed) one in a free or the least recently used
 * slot when absent (*created set). NULL when out of memory. */
static cache_entry *cache_get(cache *c, const char *key, int *created)
{
    cache_entry *victim = &c->entries[0];
    *created = 0;
    for (size_t i = 0; i < c->cap; i++) {
        cache_entry *e = &c->entries[i];
        if (e->key && strcmp(e->key, key) == 0) {
            e->used = ++c->clock;
            return e;
        }
        if (victim->key && (!e->key || e->used < victim->used))
            victim = e;
    }
    entry_clear(victim);
    if (!(victim->key = mc_strdup(key)))
        return NULL;
    victim->used = ++c->clock;
    *created = 1;
    return victim;
}

/* ---- correlator ---- */

struct mc_event_correlator {
    double qps;
    int burst;
    cache similar; /* source + object + type + reason -> distinct messages */
    cache written; /* the full key -> the Event written */
    cache buckets; /* source + object -> token bucket */
    uint32_t seq;  /* makes names unique within one millisecond */
};

mc_event_correlator *mc_event_correlator_new(const mc_event_correlator_options *options)
{
    mc_event_correlator *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    size_t cap = options && options->cache_entries ? options->cache_entries : DEFAULT_CACHE_ENTRIES;
    c->qps = options && options->qps > 0 ? options->qps : DEFAULT_QPS;
    c->burst = options && options->burst > 0 ? options->burst : DEFAULT_BURST;
    if (cache_init(&c->similar, cap) || cache_init(&c->written, cap) ||
        cache_init(&c->buckets, cap)) {
        mc_event_correlator_free(c);
        return NULL;
    }
    return c;
}

void mc_event_correlator_free(mc_event_correlator *correlator)
{
    if (!correlator)
        return;
    cache_clear(&correlator->similar);
    cache_clear(&correlator->written);
    cache_clear(&correlator->buckets);
    free(correlator);
}

static const char *type_name(mc_event_type type)
{
    return type == MC_EVENT_WARNING ? "Warning" : "Normal";
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* "source SEP kind SEP namespace SEP name SEP apiVersion" in key: the spam
 * filter's key. Unlike client-go's it leaves out the uid, so that objects
 * deleted and made again under one name (a refused CertificateRequest the
 * agent makes anew, in a loop) share one bucket instead of a fresh burst
 * each. */
static void object_key(mc_buf *key, const char *source, const mc_event_object *obj)
{
    mc_buf_appendf(key, "%s" SEP "%s" SEP "%s" SEP "%s" SEP "%s", or_empty(source),
                   or_empty(obj->kind), or_empty(obj->namespace), or_empty(obj->name),
                   or_empty(obj->api_version));
}

/* Adds message to the similar events' distinct messages; 1 when there are
 * AGGREGATE_MAX of them (combine from now on). */
static int note_message(cache_entry *similar, const char *message, int64_t now_ms)
{
    if (now_ms - similar->seen_ms > AGGREGATE_WINDOW_MS) {
        for (size_t i = 0; i < similar->message_count; i++)
            free(similar->messages[i]);
        similar->message_count = 0;
    }
    similar->seen_ms = now_ms;
    int known = 0;
    for (size_t i = 0; i < similar->message_count && !known; i++)
        known = strcmp(similar->messages[i], message) == 0;
    if (!known && similar->message_count < AGGREGATE_MAX) {
        char *copy = mc_strdup(message);
        if (copy)
            similar->messages[similar->message_count++] = copy;
    }
    return similar->message_count >= AGGREGATE_MAX;
}

/* Takes a token from the bucket (refilled at qps, at most burst); 0 when empty. */
static int take_token(const mc_event_correlator *c, cache_entry *bucket, int created,
                      int64_t now_ms)
{
    if (created) {
        bucket->tokens = c->burst;
        bucket->refilled_ms = now_ms;
    } else if (now_ms > bucket->refilled_ms) {
        bucket->tokens += (double)(now_ms - bucket->refilled_ms) * c->qps / 1000.0;
        if (bucket->tokens > c->burst)
            bucket->tokens = c->burst;
        bucket->refilled_ms = now_ms;
    }
    if (bucket->tokens < 1.0)
        return 0;
    bucket->tokens -= 1.0;
    return 1;
}

int mc_event_correlate(mc_event_correlator *correlator, const char *source,
                       const mc_event_object *obj, mc_event_type type, const char *reason,
                       const char *message, int64_t now_ms, mc_event_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->write = MC_EVENT_SKIP;
    mc_buf key;
    mc_buf_init(&key, KEY_MAX);
    object_key(&key, source, obj);
    size_t object_len = key.len;
    mc_buf_appendf(&key, SEP "%s" SEP "%s" SEP "%s", or_empty(obj->uid), type_name(type),
                   or_empty(reason));
    if (!key.data) {
        mc_buf_free(&key);
        return MC_ENOMEM;
    }
    int rc = MC_ENOMEM, created = 0;
    cache_entry *similar = cache_get(&correlator->similar, key.data, &created);
    if (!similar)
        goto out;
    int combine = note_message(similar, message, now_ms);
    if (combine) {
        snprintf(out->message, sizeof(out->message), "%s%s", COMBINED_PREFIX, message);
    } else {
        mc_strlcpy(out->message, message, sizeof(out->message));
        mc_buf_appendf(&key, SEP "%s", message);
    }
    cache_entry *written = cache_get(&correlator->written, key.data, &created);
    if (!written)
        goto out;
    if (created) {
        written->first_ms = now_ms;
        /* kube's names: "<object>.<hex nanoseconds>", unique per millisecond by seq */
        uint64_t nanos = (uint64_t)now_ms * 1000000u + (correlator->seq++ % 1000000u);
        snprintf(written->name, sizeof(written->name), "%.230s.%llx", or_empty(obj->name),
                 (unsigned long long)nanos);
    }
    written->count++;
    out->write = created ? MC_EVENT_CREATE : MC_EVENT_PATCH;
    mc_strlcpy(out->name, written->name, sizeof(out->name));
    out->count = written->count;
    out->first_ms = written->first_ms;
    out->last_ms = now_ms;
    key.data[object_len] = '\0'; /* the spam filter's key: source and object name */
    cache_entry *bucket = cache_get(&correlator->buckets, key.data, &created);
    if (!bucket)
        goto out;
    if (!take_token(correlator, bucket, created, now_ms))
        out->write = MC_EVENT_SKIP;
    rc = MC_OK;
out:
    if (rc != MC_OK)
        out->write = MC_EVENT_SKIP;
    mc_buf_free(&key);
    return rc;
}

/* ---- broadcaster and recorders ---- */

/* One queued event: copies of everything mc_event_record was given, and the
 * recorder (cluster) it is for. */
typedef struct pending {
    mc_event_recorder *recorder;
    char *api_version, *kind, *namespace, *name, *uid, *resource_version;
    char *reason;
    char *message;
    mc_event_type type;
    int64_t at_ms;
} pending;

struct mc_event_broadcaster {
    char *component;                 /* immutable */
    char *instance;                  /* immutable */
    mc_event_clock_fn clock;         /* immutable */
    void *clock_ctx;                 /* immutable */
    mc_metric *dropped;              /* immutable (the registry locks values) */
    int64_t cooloff_ms;              /* immutable */
    mc_event_correlator *correlator; /* writer thread only; keys carry the recorder's id */
    pthread_t writer;
    int writer_started;          /* immutable after new */
    pthread_mutex_t lock;        /* guards the fields marked (lock), and recorders' */
    pthread_cond_t changed;      /* an event queued, written or dropped, or stop */
    pending *ring;               /* (lock) queue_size slots, one FIFO for every recorder */
    size_t queue_size;           /* immutable */
    size_t head, len;            /* (lock) */
    mc_event_recorder *writing;  /* (lock) whose event the writer holds, or NULL */
    int stopping;                /* (lock) */
    struct timespec drain_until; /* (lock) monotonic; set with stopping */
    unsigned long next_id;       /* (lock) names the next recorder */
    size_t recorders;            /* (lock) alive */
};

struct mc_event_recorder {
    mc_event_broadcaster *hub;   /* immutable */
    mc_kube_client *client;      /* immutable, borrowed */
    char source_key[96];         /* immutable: component#id, the correlator's source */
    int failing;                 /* writer thread only: the last write failed */
    size_t queued;               /* (hub lock) events of this recorder in the ring */
    struct timespec cool_until;  /* (hub lock) monotonic: drop new events until then */
    unsigned long dropped_count; /* (hub lock) */
};

static int64_t realtime_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec monotonic_after(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Waits on the hub's condition at most 20 ms (the condition variable runs
 * on CLOCK_REALTIME, deadlines on CLOCK_MONOTONIC). Hub lock held. */
static void wait_step(mc_event_broadcaster *hub)
{
    struct timespec step;
    clock_gettime(CLOCK_REALTIME, &step);
    step.tv_nsec += 20 * 1000000;
    if (step.tv_nsec >= 1000000000) {
        step.tv_sec++;
        step.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&hub->changed, &hub->lock, &step);
}

static void pending_clear(pending *p)
{
    free(p->api_version);
    free(p->kind);
    free(p->namespace);
    free(p->name);
    free(p->uid);
    free(p->resource_version);
    free(p->reason);
    free(p->message);
    memset(p, 0, sizeof(*p));
}

/* Counts n events of r dropped for why. Hub lock held. */
static void count_drops_locked(mc_event_recorder *r, const char *why, unsigned long n)
{
    r->dropped_count += n;
    mc_metric_add(r->hub->dropped, MC_LABELS(why), (double)n);
}

static void count_drop(mc_event_recorder *r, const char *why)
{
    pthread_mutex_lock(&r->hub->lock);
    count_drops_locked(r, why, 1);
    pthread_mutex_unlock(&r->hub->lock);
}

/* Removes r's queued events from the ring (the others keep their order),
 * counted as why. Hub lock held. */
static void drop_queued_locked(mc_event_broadcaster *hub, mc_event_recorder *r, const char *why)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < hub->len; i++) {
        pending *p = &hub->ring[(hub->head + i) % hub->queue_size];
        if (p->recorder == r) {
            pending_clear(p);
            removed++;
        } else {
            pending *to = &hub->ring[(hub->head + kept) % hub->queue_size];
            if (to != p) {
                *to = *p;
                memset(p, 0, sizeof(*p));
            }
            kept++;
        }
    }
    hub->len = kept;
    r->queued = 0;
    if (removed) {
        count_drops_locked(r, why, removed);
        pthread_cond_broadcast(&hub->changed);
    }
}

static void timestamp(int64_t ms, char *out, size_t size)
{
    mc_time_format(ms / 1000, out, size);
}

/* The Event object for a CREATE (count and timestamps from the decision). */
static int build_event(const mc_event_broadcaster *hub, const pending *p,
                       const mc_event_decision *d, json_t **out, mc_err *err)
{
    mc_api_event *ev = mc_api_event_new(p->namespace ? p->namespace : "default", d->name);
    if (!ev)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    char first[40], last[40];
    timestamp(d->first_ms, first, sizeof(first));
    timestamp(d->last_ms, last, sizeof(last));
    ev->involved_object.api_version = mc_strdup(p->api_version);
    ev->involved_object.kind = mc_strdup(p->kind);
    ev->involved_object.namespace = mc_strdup(p->namespace);
    ev->involved_object.name = mc_strdup(p->name);
    ev->involved_object.uid = mc_strdup(p->uid);
    ev->involved_object.resource_version = mc_strdup(p->resource_version);
    ev->reason = mc_strdup(p->reason);
    ev->message = mc_strdup(d->message);
    ev->type = mc_strdup(type_name(p->type));
    ev->count = d->count;
    ev->first_timestamp = mc_strdup(first);
    ev->last_timestamp = mc_strdup(last);
    ev->source_component = mc_strdup(hub->component);
    ev->source_host = mc_strdup(hub->instance);
    ev->reporting_component = mc_strdup(hub->component);
    ev->reporting_instance = mc_strdup(hub->instance);
    int rc = ev->reason && ev->message && ev->type && ev->first_timestamp && ev->last_timestamp &&
                     ev->source_component && ev->reporting_component
                 ? mc_api_event_encode(ev, out, err)
                 : mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_api_event_free(ev);
    return rc;
}

/* PATCH count, lastTimestamp and message of the Event written before; one
 * deleted meanwhile (expired: kube keeps Events an hour) is created again. */
static int write_event(const mc_event_broadcaster *hub, const pending *p,
                       const mc_event_decision *d, mc_err *err)
{
    mc_kube_client *client = p->recorder->client;
    const char *ns = p->namespace ? p->namespace : "default";
    int rc = MC_ENOTFOUND;
    if (d->write == MC_EVENT_PATCH) {
        char last[40];
        timestamp(d->last_ms, last, sizeof(last));
        json_t *patch = mc_api_event_repeat_patch(d->count, last, d->message);
        rc = patch ? mc_kube_patch(client, mc_kube_resource_of(MC_API_EVENTS), ns, d->name,
                                   MC_KUBE_PATCH_MERGE, patch, 0, NULL, err)
                   : mc_err_set(err, MC_ENOMEM, "out of memory");
        json_decref(patch);
        if (rc == MC_ENOTFOUND)
            mc_err_clear(err);
    }
    if (rc == MC_ENOTFOUND) {
        json_t *obj = NULL;
        if ((rc = build_event(hub, p, d, &obj, err)) == MC_OK)
            rc = mc_kube_create(client, mc_kube_resource_of(MC_API_EVENTS), ns, obj, NULL, err);
        json_decref(obj);
    }
    return rc;
}

/* Correlates and writes one event. MC_OK unless the write failed. */
static int process(mc_event_broadcaster *hub, const pending *p)
{
    mc_event_recorder *r = p->recorder;
    mc_event_object obj = {p->api_version, p->kind, p->namespace,
                           p->name,        p->uid,  p->resource_version};
    mc_event_decision d;
    if (mc_event_correlate(hub->correlator, r->source_key, &obj, p->type, p->reason, p->message,
                           p->at_ms, &d) != MC_OK ||
        d.write == MC_EVENT_SKIP) {
        count_drop(r, "spam_filtered");
        return MC_OK;
    }
    mc_err err = {0};
    int rc = write_event(hub, p, &d, &err);
    if (rc != MC_OK) {
        /* one warning per run of failures (a missing permission fails them all) */
        mc_log(r->failing ? MC_LOG_DEBUG : MC_LOG_WARN, LOG_COMPONENT,
               "event %s (%s %s/%s): not written: %s%s", p->reason, p->kind, or_empty(p->namespace),
               p->name, err.msg,
               r->failing ? "" : " (further failures logged at debug until one succeeds)");
        r->failing = 1;
        count_drop(r, "write_failed");
    } else {
        r->failing = 0;
    }
    return rc;
}

static void *writer_main(void *arg)
{
    mc_event_broadcaster *hub = arg;
    pthread_mutex_lock(&hub->lock);
    for (;;) {
        while (hub->len == 0 && !hub->stopping)
            pthread_cond_wait(&hub->changed, &hub->lock);
        if (hub->len == 0 || (hub->stopping && past(&hub->drain_until)))
            break;
        pending p = hub->ring[hub->head];
        memset(&hub->ring[hub->head], 0, sizeof(hub->ring[hub->head]));
        hub->head = (hub->head + 1) % hub->queue_size;
        hub->len--;
        p.recorder->queued--;
        mc_event_recorder *r = p.recorder;
        hub->writing = r;
        pthread_mutex_unlock(&hub->lock);
        int rc = process(hub, &p);
        pending_clear(&p);
        pthread_mutex_lock(&hub->lock);
        if (rc != MC_OK) {
            /* Fairness: a cluster that failed a write (unreachable, or a
             * missing permission) holds the writer at most once per
             * cool-off; what it has queued would fail alike. */
            r->cool_until = monotonic_after(hub->cooloff_ms);
            drop_queued_locked(hub, r, "write_failed");
        }
        hub->writing = NULL;
        pthread_cond_broadcast(&hub->changed);
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

int mc_event_broadcaster_new(const mc_event_broadcaster_options *options,
                             mc_event_broadcaster **out, mc_err *err)
{
    *out = NULL;
    if (!options || !options->component || !*options->component)
        return mc_err_set(err, MC_EINVAL, "event broadcaster: a component name is required");
    mc_event_broadcaster *hub = calloc(1, sizeof(*hub));
    if (!hub)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->changed, NULL);
    char host[256] = "";
    if (!options->instance && gethostname(host, sizeof(host) - 1) != 0)
        mc_strlcpy(host, "unknown", sizeof(host));
    hub->component = mc_strdup(options->component);
    hub->instance = mc_strdup(options->instance ? options->instance : host);
    hub->clock = options->clock ? options->clock : realtime_ms;
    hub->clock_ctx = options->clock_ctx;
    hub->dropped = options->dropped;
    hub->cooloff_ms = options->cooloff_ms > 0 ? options->cooloff_ms : DEFAULT_COOLOFF_MS;
    hub->queue_size = options->queue_size ? options->queue_size : DEFAULT_QUEUE_SIZE;
    hub->ring = calloc(hub->queue_size, sizeof(*hub->ring));
    hub->correlator = mc_event_correlator_new(&options->correlator);
    int rc;
    if (!hub->component || !hub->instance || !hub->ring || !hub->correlator) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto fail;
    }
    if (pthread_create(&hub->writer, NULL, writer_main, hub) != 0) {
        rc = mc_err_set(err, MC_ENOMEM, "event broadcaster: cannot start its thread");
        goto fail;
    }
    hub->writer_started = 1;
    *out = hub;
    return MC_OK;
fail:
    mc_event_broadcaster_free(hub);
    return rc;
}

void mc_event_broadcaster_free(mc_event_broadcaster *hub)
{
    if (!hub)
        return;
    assert(hub->recorders == 0); /* each recorder's events reference it */
    if (hub->writer_started) {
        pthread_mutex_lock(&hub->lock);
        hub->stopping = 1;
        hub->drain_until = monotonic_after(DRAIN_MS);
        pthread_cond_broadcast(&hub->changed);
        pthread_mutex_unlock(&hub->lock);
        pthread_join(hub->writer, NULL);
    }
    free(hub->ring);
    mc_event_correlator_free(hub->correlator);
    pthread_cond_destroy(&hub->changed);
    pthread_mutex_destroy(&hub->lock);
    free(hub->component);
    free(hub->instance);
    free(hub);
}

int mc_event_recorder_new(mc_event_broadcaster *hub, mc_kube_client *client,
                          mc_event_recorder **out, mc_err *err)
{
    *out = NULL;
    if (!hub || !client)
        return mc_err_set(err, MC_EINVAL,
                          "event recorder: a broadcaster and a client are required");
    mc_event_recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    r->hub = hub;
    r->client = client;
    pthread_mutex_lock(&hub->lock);
    snprintf(r->source_key, sizeof(r->source_key), "%s#%lu", hub->component, hub->next_id++);
    hub->recorders++;
    pthread_mutex_unlock(&hub->lock);
    *out = r;
    return MC_OK;
}

/* A copy of s; 0 when s is NULL or copied, -1 when out of memory. */
static int copy_field(char **dst, const char *s)
{
    *dst = s ? mc_strdup(s) : NULL;
    return s && !*dst ? -1 : 0;
}

void mc_event_record(mc_event_recorder *recorder, const mc_event_object *obj, mc_event_type type,
                     const char *reason, const char *fmt, ...)
{
    if (!recorder)
        return;
    mc_event_broadcaster *hub = recorder->hub;
    pending p;
    memset(&p, 0, sizeof(p));
    char message[MC_EVENT_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    p.recorder = recorder;
    p.type = type;
    p.at_ms = hub->clock(hub->clock_ctx);
    if (copy_field(&p.api_version, obj->api_version) || copy_field(&p.kind, obj->kind) ||
        copy_field(&p.namespace, obj->namespace) || copy_field(&p.name, obj->name) ||
        copy_field(&p.uid, obj->uid) || copy_field(&p.resource_version, obj->resource_version) ||
        copy_field(&p.reason, reason) || copy_field(&p.message, message) || !p.name || !p.kind ||
        !p.reason) {
        pending_clear(&p);
        count_drop(recorder, "queue_full");
        return;
    }
    const char *dropped = NULL;
    pthread_mutex_lock(&hub->lock);
    if (!past(&recorder->cool_until))
        dropped = "write_failed"; /* its cluster failed a write moments ago */
    else if (hub->stopping || hub->len >= hub->queue_size)
        dropped = "queue_full";
    if (dropped) {
        count_drops_locked(recorder, dropped, 1);
    } else {
        hub->ring[(hub->head + hub->len) % hub->queue_size] = p;
        hub->len++;
        recorder->queued++;
        pthread_cond_broadcast(&hub->changed);
    }
    pthread_mutex_unlock(&hub->lock);
    if (dropped)
        pending_clear(&p);
}

/* Waits until recorder has nothing queued or being written, or deadline.
 * Hub lock held. MC_OK or MC_EUNAVAILABLE. */
static int wait_written_locked(mc_event_recorder *recorder, const struct timespec *deadline)
{
    mc_event_broadcaster *hub = recorder->hub;
    while ((recorder->queued > 0 || hub->writing == recorder) && !past(deadline))
        wait_step(hub);
    return recorder->queued > 0 || hub->writing == recorder ? MC_EUNAVAILABLE : MC_OK;
}

int mc_event_recorder_flush(mc_event_recorder *recorder, int64_t timeout_ms)
{
    if (!recorder)
        return MC_OK;
    struct timespec deadline = monotonic_after(timeout_ms);
    pthread_mutex_lock(&recorder->hub->lock);
    int rc = wait_written_locked(recorder, &deadline);
    pthread_mutex_unlock(&recorder->hub->lock);
    return rc;
}

unsigned long mc_event_recorder_dropped(mc_event_recorder *recorder)
{
    if (!recorder)
        return 0;
    pthread_mutex_lock(&recorder->hub->lock);
    unsigned long n = recorder->dropped_count;
    pthread_mutex_unlock(&recorder->hub->lock);
    return n;
}

void mc_event_recorder_free(mc_event_recorder *recorder)
{
    if (!recorder)
        return;
    mc_event_broadcaster *hub = recorder->hub;
    struct timespec deadline = monotonic_after(DRAIN_MS);
    pthread_mutex_lock(&hub->lock);
    wait_written_locked(recorder, &deadline);
    drop_queued_locked(hub, recorder, "queue_full");
    /* the client is borrowed: no write through it may outlive the recorder */
    while (hub->writing == recorder)
        wait_step(hub);
    hub->recorders--;
    pthread_mutex_unlock(&hub->lock);
    free(recorder);
}
