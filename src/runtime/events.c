/* events.c - the Event recorder (events.h): a correlator deciding, for each
 * event, between a new Event, a PATCH of the count of one already written,
 * and nothing (spam filter), after client-go's EventCorrelator; and a
 * recorder whose callers only append to a bounded queue, while one writer
 * thread correlates and talks to the API server.
 *
 * The correlator keeps three small LRU caches, as client-go does: similar
 * events (same source, object, type, reason) with their distinct messages;
 * written Events by their full key (name, count, firstTimestamp); and one
 * token bucket per source and object.
 */
#include "runtime/events.h"

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
#define DRAIN_MS              2000 /* writes still tried by mc_event_recorder_free */
#define KEY_MAX               4096
#define SEP                   "\x1f" /* between the fields of a cache key */

static const mc_kube_resource events_resource = {"", "v1", "events", 1};

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

/* ---- recorder ---- */

/* One queued event: copies of everything mc_event_record was given. */
typedef struct pending {
    char *api_version, *kind, *namespace, *name, *uid, *resource_version;
    char *reason;
    char *message;
    mc_event_type type;
    int64_t at_ms;
} pending;

struct mc_event_recorder {
    char *component;                 /* immutable */
    char *instance;                  /* immutable */
    mc_event_clock_fn clock;         /* immutable */
    void *clock_ctx;                 /* immutable */
    mc_metric *dropped;              /* immutable (the registry locks values) */
    mc_kube_client *client;          /* writer thread only (after new) */
    mc_event_correlator *correlator; /* writer thread only */
    int failing;                     /* writer thread only: the last write failed */
    pthread_t writer;
    int writer_started;          /* immutable after new */
    pthread_mutex_t lock;        /* guards the fields marked (lock) */
    pthread_cond_t changed;      /* an event queued, written, or stop */
    pending *ring;               /* (lock) queue_size slots */
    size_t queue_size;           /* immutable */
    size_t head, len;            /* (lock) */
    int writing;                 /* (lock) the writer holds a popped event */
    int stopping;                /* (lock) */
    struct timespec drain_until; /* (lock) monotonic; set with stopping */
    unsigned long dropped_count; /* (lock) */
};

static int64_t realtime_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static void count_drop(mc_event_recorder *r, const char *why)
{
    pthread_mutex_lock(&r->lock);
    r->dropped_count++;
    pthread_mutex_unlock(&r->lock);
    mc_metric_add(r->dropped, MC_LABELS(why), 1);
}

static void timestamp(int64_t ms, char *out, size_t size)
{
    mc_time_format(ms / 1000, out, size);
}

/* The Event object for a CREATE (count and timestamps from the decision). */
static int build_event(const mc_event_recorder *r, const pending *p, const mc_event_decision *d,
                       json_t **out, mc_err *err)
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
    ev->source_component = mc_strdup(r->component);
    ev->source_host = mc_strdup(r->instance);
    ev->reporting_component = mc_strdup(r->component);
    ev->reporting_instance = mc_strdup(r->instance);
    int rc = ev->reason && ev->message && ev->type && ev->first_timestamp && ev->last_timestamp &&
                     ev->source_component && ev->reporting_component
                 ? mc_api_event_encode(ev, out, err)
                 : mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_api_event_free(ev);
    return rc;
}

/* PATCH count, lastTimestamp and message of the Event written before; one
 * deleted meanwhile (expired: kube keeps Events an hour) is created again. */
static int write_event(mc_event_recorder *r, const pending *p, const mc_event_decision *d,
                       mc_err *err)
{
    const char *ns = p->namespace ? p->namespace : "default";
    int rc = MC_ENOTFOUND;
    if (d->write == MC_EVENT_PATCH) {
        char last[40];
        timestamp(d->last_ms, last, sizeof(last));
        json_t *patch = json_pack("{s:I, s:s, s:s}", "count", (json_int_t)d->count, "lastTimestamp",
                                  last, "message", d->message);
        rc = patch ? mc_kube_patch(r->client, &events_resource, ns, d->name, MC_KUBE_PATCH_MERGE,
                                   patch, 0, NULL, err)
                   : mc_err_set(err, MC_ENOMEM, "out of memory");
        json_decref(patch);
        if (rc == MC_ENOTFOUND)
            mc_err_clear(err);
    }
    if (rc == MC_ENOTFOUND) {
        json_t *obj = NULL;
        if ((rc = build_event(r, p, d, &obj, err)) == MC_OK)
            rc = mc_kube_create(r->client, &events_resource, ns, obj, NULL, err);
        json_decref(obj);
    }
    return rc;
}

static void process(mc_event_recorder *r, const pending *p)
{
    mc_event_object obj = {p->api_version, p->kind, p->namespace,
                           p->name,        p->uid,  p->resource_version};
    mc_event_decision d;
    if (mc_event_correlate(r->correlator, r->component, &obj, p->type, p->reason, p->message,
                           p->at_ms, &d) != MC_OK ||
        d.write == MC_EVENT_SKIP) {
        count_drop(r, "spam_filtered");
        return;
    }
    mc_err err = {0};
    if (write_event(r, p, &d, &err) != MC_OK) {
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
}

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void *writer_main(void *arg)
{
    mc_event_recorder *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->len == 0 && !r->stopping)
            pthread_cond_wait(&r->changed, &r->lock);
        if (r->len == 0 || (r->stopping && past(&r->drain_until)))
            break;
        pending p = r->ring[r->head];
        memset(&r->ring[r->head], 0, sizeof(r->ring[r->head]));
        r->head = (r->head + 1) % r->queue_size;
        r->len--;
        r->writing = 1;
        pthread_mutex_unlock(&r->lock);
        process(r, &p);
        pending_clear(&p);
        pthread_mutex_lock(&r->lock);
        r->writing = 0;
        pthread_cond_broadcast(&r->changed);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int mc_event_recorder_new(const mc_kube_config *config, const mc_event_recorder_options *options,
                          mc_event_recorder **out, mc_err *err)
{
    *out = NULL;
    if (!options || !options->component || !*options->component)
        return mc_err_set(err, MC_EINVAL, "event recorder: a component name is required");
    mc_event_recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    char host[256] = "";
    if (!options->instance && gethostname(host, sizeof(host) - 1) != 0)
        mc_strlcpy(host, "unknown", sizeof(host));
    r->component = mc_strdup(options->component);
    r->instance = mc_strdup(options->instance ? options->instance : host);
    r->clock = options->clock ? options->clock : realtime_ms;
    r->clock_ctx = options->clock_ctx;
    r->dropped = options->dropped;
    r->queue_size = options->queue_size ? options->queue_size : DEFAULT_QUEUE_SIZE;
    r->ring = calloc(r->queue_size, sizeof(*r->ring));
    r->correlator = mc_event_correlator_new(&options->correlator);
    int rc;
    if (!r->component || !r->instance || !r->ring || !r->correlator) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto fail;
    }
    /* Events are best effort: a write gives up after 5 s, retries included. */
    mc_kube_client_options client_options = {
        .timeout_ms = 3000, .deadline_ms = 5000, .max_retries = 2};
    if ((rc = mc_kube_client_new(config, &client_options, &r->client, err)))
        goto fail;
    if (pthread_create(&r->writer, NULL, writer_main, r) != 0) {
        rc = mc_err_set(err, MC_ENOMEM, "event recorder: cannot start its thread");
        goto fail;
    }
    r->writer_started = 1;
    *out = r;
    return MC_OK;
fail:
    mc_event_recorder_free(r);
    return rc;
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
    pending p;
    memset(&p, 0, sizeof(p));
    char message[MC_EVENT_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    p.type = type;
    p.at_ms = recorder->clock(recorder->clock_ctx);
    if (copy_field(&p.api_version, obj->api_version) || copy_field(&p.kind, obj->kind) ||
        copy_field(&p.namespace, obj->namespace) || copy_field(&p.name, obj->name) ||
        copy_field(&p.uid, obj->uid) || copy_field(&p.resource_version, obj->resource_version) ||
        copy_field(&p.reason, reason) || copy_field(&p.message, message) || !p.name || !p.kind ||
        !p.reason) {
        pending_clear(&p);
        count_drop(recorder, "queue_full");
        return;
    }
    pthread_mutex_lock(&recorder->lock);
    int queued = !recorder->stopping && recorder->len < recorder->queue_size;
    if (queued) {
        recorder->ring[(recorder->head + recorder->len) % recorder->queue_size] = p;
        recorder->len++;
        pthread_cond_broadcast(&recorder->changed);
    }
    pthread_mutex_unlock(&recorder->lock);
    if (!queued) {
        pending_clear(&p);
        count_drop(recorder, "queue_full");
    }
}

int mc_event_recorder_flush(mc_event_recorder *recorder, int64_t timeout_ms)
{
    if (!recorder)
        return MC_OK;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&recorder->lock);
    while ((recorder->len > 0 || recorder->writing) && !past(&deadline)) {
        /* the condition variable runs on CLOCK_REALTIME: wait in short steps */
        struct timespec step;
        clock_gettime(CLOCK_REALTIME, &step);
        step.tv_nsec += 20 * 1000000;
        if (step.tv_nsec >= 1000000000) {
            step.tv_sec++;
            step.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&recorder->changed, &recorder->lock, &step);
    }
    int rc = recorder->len > 0 || recorder->writing ? MC_EUNAVAILABLE : MC_OK;
    pthread_mutex_unlock(&recorder->lock);
    return rc;
}

unsigned long mc_event_recorder_dropped(mc_event_recorder *recorder)
{
    if (!recorder)
        return 0;
    pthread_mutex_lock(&recorder->lock);
    unsigned long n = recorder->dropped_count;
    pthread_mutex_unlock(&recorder->lock);
    return n;
}

void mc_event_recorder_free(mc_event_recorder *recorder)
{
    if (!recorder)
        return;
    if (recorder->writer_started) {
        pthread_mutex_lock(&recorder->lock);
        recorder->stopping = 1;
        clock_gettime(CLOCK_MONOTONIC, &recorder->drain_until);
        recorder->drain_until.tv_sec += DRAIN_MS / 1000;
        pthread_cond_broadcast(&recorder->changed);
        pthread_mutex_unlock(&recorder->lock);
        pthread_join(recorder->writer, NULL);
    }
    for (size_t i = 0; recorder->ring && i < recorder->len; i++) {
        pending_clear(&recorder->ring[(recorder->head + i) % recorder->queue_size]);
        mc_metric_add(recorder->dropped, MC_LABELS("queue_full"), 1);
    }
    free(recorder->ring);
    mc_event_correlator_free(recorder->correlator);
    mc_kube_client_free(recorder->client);
    pthread_cond_destroy(&recorder->changed);
    pthread_mutex_destroy(&recorder->lock);
    free(recorder->component);
    free(recorder->instance);
    free(recorder);
}
