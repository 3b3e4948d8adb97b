/* workqueue.c - the rate-limited work queue (see workqueue.h).
 *
 * Every key the queue knows has one entry in a chained hash table carrying
 * its state bits (dirty: wants processing; processing: a worker holds it;
 * waiting: sits in the delay heap; deferred: an add that waits for the
 * key's backoff retry) and its failure count. The ready FIFO and
 * the delay heap (a binary min-heap on ready time) point at entries. An entry
 * is freed once no bit is set and its failure count is zero. One mutex guards
 * everything; getters sleep on a condition variable (CLOCK_MONOTONIC), woken
 * by adds, by done, by shutdown and at the next delayed key's ready time.
 */
#include "runtime/workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/str.h"

#define ENTRY_DIRTY      1u /* queued in ready (or due to be when processing ends) */
#define ENTRY_PROCESSING 2u /* handed to a worker, not yet done */
#define ENTRY_WAITING    4u /* in the delay heap */
#define ENTRY_DEFERRED   8u /* an add left to the key's backoff retry (or to forget) */

typedef struct wq_entry {
    char *key;             /* owned (queue lock) */
    unsigned flags;        /* ENTRY_* bits (queue lock) */
    int64_t ready_at;      /* clock ms when a waiting key is due (queue lock) */
    size_t heap_index;     /* position in the heap while waiting (queue lock) */
    unsigned failures;     /* add_rate_limited calls since forget (queue lock) */
    struct wq_entry *next; /* hash chain (queue lock) */
} wq_entry;

struct mc_workqueue {
    pthread_mutex_t lock;  /* guards every field below */
    pthread_cond_t cond;   /* getters wait here */
    int64_t base_delay_ms; /* immutable after new */
    int64_t max_delay_ms;  /* immutable after new */
    mc_clock_fn clock;     /* immutable after new */
    void *clock_ctx;       /* immutable after new */
    wq_entry **buckets;    /* hash table of entries (lock) */
    size_t bucket_count;   /* power of two (lock) */
    size_t entry_count;    /* entries in the table (lock) */
    wq_entry **ready;      /* ring buffer of dirty, not processing entries (lock) */
    size_t ready_cap;      /* capacity of ready (lock) */
    size_t ready_head;     /* index of the oldest (lock) */
    size_t ready_len;      /* count (lock) */
    wq_entry **heap;       /* min-heap on ready_at of waiting entries (lock) */
    size_t heap_len;       /* (lock) */
    size_t heap_cap;       /* (lock) */
    int shutting_down;     /* no more adds (lock) */
    int drain;             /* getters still take ready keys after shutdown (lock) */
    unsigned long retries; /* add_rate_limited calls ever (lock) */
};

static int64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    return mc_clock_now_ms();
}

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static wq_entry *entry_find(mc_workqueue *queue, const char *key)
{
    wq_entry *e = queue->buckets[hash_key(key) & (queue->bucket_count - 1)];
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    return e;
}

static void table_grow(mc_workqueue *queue)
{
    size_t count = queue->bucket_count * 2;
    wq_entry **buckets = calloc(count, sizeof(*buckets));
    if (!buckets)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < queue->bucket_count; i++) {
        wq_entry *e = queue->buckets[i];
        while (e) {
            wq_entry *next = e->next;
            size_t b = hash_key(e->key) & (count - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(queue->buckets);
    queue->buckets = buckets;
    queue->bucket_count = count;
}

/* The entry for key, created when absent; NULL on allocation failure. */
static wq_entry *entry_get(mc_workqueue *queue, const char *key)
{
    wq_entry *e = entry_find(queue, key);
    if (e)
        return e;
    if (queue->entry_count >= queue->bucket_count)
        table_grow(queue);
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = mc_strdup(key);
    if (!e->key) {
        free(e);
        return NULL;
    }
    size_t b = hash_key(key) & (queue->bucket_count - 1);
    e->next = queue->buckets[b];
    queue->buckets[b] = e;
    queue->entry_count++;
    return e;
}

/* Frees e when nothing refers to it any more. */
static void entry_release(mc_workqueue *queue, wq_entry *e)
{
    if (e->flags || e->failures)
        return;
    wq_entry **link = &queue->buckets[hash_key(e->key) & (queue->bucket_count - 1)];
    while (*link != e)
        link = &(*link)->next;
    *link = e->next;
    queue->entry_count--;
    free(e->key);
    free(e);
}

static int ready_push(mc_workqueue *queue, wq_entry *e)
{
    if (queue->ready_len == queue->ready_cap) {
        size_t cap = queue->ready_cap ? queue->ready_cap * 2 : 64;
        wq_entry **ready = malloc(cap * sizeof(*ready));
        if (!ready)
            return -1;
        for (size_t i = 0; i < queue->ready_len; i++)
            ready[i] = queue->ready[(queue->ready_head + i) % queue->ready_cap];
        free(queue->ready);
        queue->ready = ready;
        queue->ready_cap = cap;
        queue->ready_head = 0;
    }
    queue->ready[(queue->ready_head + queue->ready_len) % queue->ready_cap] = e;
    queue->ready_len++;
    return 0;
}

static wq_entry *ready_pop(mc_workqueue *queue)
{
    wq_entry *e = queue->ready[queue->ready_head];
    queue->ready_head = (queue->ready_head + 1) % queue->ready_cap;
    queue->ready_len--;
    return e;
}

static void heap_swap(mc_workqueue *queue, size_t a, size_t b)
{
    wq_entry *t = queue->heap[a];
    queue->heap[a] = queue->heap[b];
    queue->heap[b] = t;
    queue->heap[a]->heap_index = a;
    queue->heap[b]->heap_index = b;
}

static void heap_up(mc_workqueue *queue, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (queue->heap[parent]->ready_at <= queue->heap[i]->ready_at)
            break;
        heap_swap(queue, parent, i);
        i = parent;
    }
}

static void heap_down(mc_workqueue *queue, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < queue->heap_len && queue->heap[left]->ready_at < queue->heap[least]->ready_at)
            least = left;
        if (right < queue->heap_len && queue->heap[right]->ready_at < queue->heap[least]->ready_at)
            least = right;
        if (least == i)
            return;
        heap_swap(queue, i, least);
        i = least;
    }
}

static int heap_push(mc_workqueue *queue, wq_entry *e)
{
    if (queue->heap_len == queue->heap_cap) {
        size_t cap = queue->heap_cap ? queue->heap_cap * 2 : 64;
        wq_entry **heap = realloc(queue->heap, cap * sizeof(*heap));
        if (!heap)
            return -1;
        queue->heap = heap;
        queue->heap_cap = cap;
    }
    e->heap_index = queue->heap_len;
    queue->heap[queue->heap_len++] = e;
    heap_up(queue, e->heap_index);
    return 0;
}

static wq_entry *heap_pop(mc_workqueue *queue)
{
    wq_entry *top = queue->heap[0];
    queue->heap_len--;
    if (queue->heap_len > 0) {
        queue->heap[0] = queue->heap[queue->heap_len];
        queue->heap[0]->heap_index = 0;
        heap_down(queue, 0);
    }
    return top;
}

/* Marks e dirty and queues it unless it is already queued or being processed
 * (done queues it then). Lock held. */
static void add_locked(mc_workqueue *queue, wq_entry *e)
{
    if (e->flags & ENTRY_DIRTY)
        return;
    if (e->flags & ENTRY_PROCESSING) {
        e->flags |= ENTRY_DIRTY;
        return;
    }
    if (ready_push(queue, e) != 0)
        return; /* allocation failure: the key is lost, as an add that never happened */
    e->flags |= ENTRY_DIRTY;
    pthread_cond_signal(&queue->cond);
}

/* Moves every waiting entry whose time has come to the ready queue. */
static void promote_due(mc_workqueue *queue, int64_t now)
{
    while (queue->heap_len > 0 && queue->heap[0]->ready_at <= now) {
        wq_entry *e = heap_pop(queue);
        e->flags &= ~ENTRY_WAITING;
        add_locked(queue, e);
        entry_release(queue, e);
    }
}

mc_workqueue *mc_workqueue_new(const mc_workqueue_options *options)
{
    mc_workqueue *queue = calloc(1, sizeof(*queue));
    if (!queue)
        return NULL;
    queue->base_delay_ms = options && options->base_delay_ms > 0 ? options->base_delay_ms : 5;
    queue->max_delay_ms = options && options->max_delay_ms > 0 ? options->max_delay_ms : 1000000;
    queue->clock = options && options->clock ? options->clock : monotonic_ms;
    queue->clock_ctx = options ? options->clock_ctx : NULL;
    queue->bucket_count = 64;
    queue->buckets = calloc(queue->bucket_count, sizeof(*queue->buckets));
    pthread_condattr_t attr;
    int attr_ok = pthread_condattr_init(&attr) == 0;
    if (attr_ok)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!queue->buckets || !attr_ok || pthread_mutex_init(&queue->lock, NULL) != 0) {
        if (attr_ok)
            pthread_condattr_destroy(&attr);
        free(queue->buckets);
        free(queue);
        return NULL;
    }
    if (pthread_cond_init(&queue->cond, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        pthread_mutex_destroy(&queue->lock);
        free(queue->buckets);
        free(queue);
        return NULL;
    }
    pthread_condattr_destroy(&attr);
    return queue;
}

void mc_workqueue_free(mc_workqueue *queue)
{
    if (!queue)
        return;
    for (size_t i = 0; i < queue->bucket_count; i++) {
        wq_entry *e = queue->buckets[i];
        while (e) {
            wq_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(queue->buckets);
    free(queue->ready);
    free(queue->heap);
    pthread_cond_destroy(&queue->cond);
    pthread_mutex_destroy(&queue->lock);
    free(queue);
}

void mc_workqueue_add(mc_workqueue *queue, const char *key)
{
    pthread_mutex_lock(&queue->lock);
    if (!queue->shutting_down) {
        wq_entry *e = entry_get(queue, key);
        if (e) {
            add_locked(queue, e);
            entry_release(queue, e);
        }
    }
    pthread_mutex_unlock(&queue->lock);
}

static void add_after_locked(mc_workqueue *queue, const char *key, int64_t delay_ms)
{
    if (queue->shutting_down)
        return;
    wq_entry *e = entry_get(queue, key);
    if (!e)
        return;
    if (delay_ms <= 0) {
        add_locked(queue, e);
    } else {
        int64_t ready_at = queue->clock(queue->clock_ctx) + delay_ms;
        if (e->flags & ENTRY_WAITING) {
            /* Already waiting: the earlier time wins, as in client-go. */
            if (ready_at < e->ready_at) {
                e->ready_at = ready_at;
                heap_up(queue, e->heap_index);
                pthread_cond_broadcast(&queue->cond);
            }
        } else {
            e->ready_at = ready_at;
            if (heap_push(queue, e) == 0)
                e->flags |= ENTRY_WAITING;
            /* A getter may be sleeping until a later key's time. */
            pthread_cond_broadcast(&queue->cond);
        }
    }
    entry_release(queue, e);
}

void mc_workqueue_add_after(mc_workqueue *queue, const char *key, int64_t delay_ms)
{
    pthread_mutex_lock(&queue->lock);
    add_after_locked(queue, key, delay_ms);
    pthread_mutex_unlock(&queue->lock);
}

void mc_workqueue_add_rate_limited(mc_workqueue *queue, const char *key)
{
    pthread_mutex_lock(&queue->lock);
    if (!queue->shutting_down) {
        queue->retries++;
        wq_entry *e = entry_get(queue, key);
        if (e) {
            int64_t delay = queue->base_delay_ms;
            /* base * 2^failures, computed without overflowing past the cap. */
            for (unsigned i = 0; i < e->failures && delay < queue->max_delay_ms; i++)
                delay *= 2;
            if (delay > queue->max_delay_ms)
                delay = queue->max_delay_ms;
            if (e->failures < UINT32_MAX)
                e->failures++;
            add_after_locked(queue, key, delay);
        }
    }
    pthread_mutex_unlock(&queue->lock);
}

void mc_workqueue_add_unless_backing_off(mc_workqueue *queue, const char *key)
{
    pthread_mutex_lock(&queue->lock);
    wq_entry *e = queue->shutting_down ? NULL : entry_get(queue, key);
    if (e && e->failures > 0)
        e->flags |= ENTRY_DEFERRED;
    else if (e)
        add_locked(queue, e);
    if (e)
        entry_release(queue, e);
    pthread_mutex_unlock(&queue->lock);
}

void mc_workqueue_forget(mc_workqueue *queue, const char *key)
{
    pthread_mutex_lock(&queue->lock);
    wq_entry *e = entry_find(queue, key);
    if (e) {
        e->failures = 0;
        /* the run that succeeded may have read the cache before the add's
         * event: the add happens now, as it would have without backoff */
        if (e->flags & ENTRY_DEFERRED) {
            e->flags &= ~ENTRY_DEFERRED;
            if (!queue->shutting_down)
                add_locked(queue, e);
        }
        entry_release(queue, e);
    }
    pthread_mutex_unlock(&queue->lock);
}

unsigned mc_workqueue_requeues(mc_workqueue *queue, const char *key)
{
    pthread_mutex_lock(&queue->lock);
    wq_entry *e = entry_find(queue, key);
    unsigned failures = e ? e->failures : 0;
    pthread_mutex_unlock(&queue->lock);
    return failures;
}

int mc_workqueue_get(mc_workqueue *queue, char **key, int64_t timeout_ms)
{
    *key = NULL;
    /* The get timeout runs on the real monotonic clock; delayed keys fall due
     * by the queue's clock (tests move it and call mc_workqueue_tick). */
    int64_t give_up = timeout_ms >= 0 ? mc_clock_now_ms() + timeout_ms : -1;
    int rc = MC_OK;
    pthread_mutex_lock(&queue->lock);
    for (;;) {
        if (queue->shutting_down && !queue->drain) {
            rc = MC_EUNAVAILABLE;
            break;
        }
        if (!queue->shutting_down)
            promote_due(queue, queue->clock(queue->clock_ctx));
        if (queue->ready_len > 0) {
            wq_entry *e = ready_pop(queue);
            char *copy = mc_strdup(e->key);
            if (!copy) {
                ready_push(queue, e); /* room was just freed */
                rc = MC_ENOMEM;
                break;
            }
            /* this run sees what a deferred add was about */
            e->flags = (e->flags & ~(ENTRY_DIRTY | ENTRY_DEFERRED)) | ENTRY_PROCESSING;
            *key = copy;
            break;
        }
        if (queue->shutting_down) {
            rc = MC_EUNAVAILABLE;
            break;
        }
        int64_t now_real = mc_clock_now_ms();
        if (give_up >= 0 && now_real >= give_up) {
            rc = MC_ENOTFOUND;
            break;
        }
        int64_t wait_ms = give_up >= 0 ? give_up - now_real : -1;
        if (queue->heap_len > 0) {
            int64_t until_due = queue->heap[0]->ready_at - queue->clock(queue->clock_ctx);
            if (until_due < 1)
                until_due = 1;
            if (wait_ms < 0 || until_due < wait_ms)
                wait_ms = until_due;
        }
        if (wait_ms < 0) {
            pthread_cond_wait(&queue->cond, &queue->lock);
        } else {
            struct timespec ts = mc_clock_deadline_after(wait_ms);
            pthread_cond_timedwait(&queue->cond, &queue->lock, &ts);
        }
    }
    /* A key taken while others remain: let another getter look too. */
    if (rc == MC_OK && queue->ready_len > 0)
        pthread_cond_signal(&queue->cond);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

void mc_workqueue_done(mc_workqueue *queue, char *key)
{
    if (!key)
        return;
    pthread_mutex_lock(&queue->lock);
    wq_entry *e = entry_find(queue, key);
    if (e && (e->flags & ENTRY_PROCESSING)) {
        e->flags &= ~ENTRY_PROCESSING;
        if (e->flags & ENTRY_DIRTY) {
            /* Added while it was processed: queue it now (even while
             * draining, so a drain processes the latest state). */
            if (ready_push(queue, e) == 0)
                pthread_cond_signal(&queue->cond);
            else
                e->flags &= ~ENTRY_DIRTY;
        }
        entry_release(queue, e);
    }
    pthread_mutex_unlock(&queue->lock);
    free(key);
}

void mc_workqueue_shutdown(mc_workqueue *queue, int drain)
{
    pthread_mutex_lock(&queue->lock);
    queue->shutting_down = 1;
    queue->drain = drain;
    while (queue->heap_len > 0) {
        wq_entry *e = heap_pop(queue);
        e->flags &= ~ENTRY_WAITING;
        entry_release(queue, e);
    }
    pthread_cond_broadcast(&queue->cond);
    pthread_mutex_unlock(&queue->lock);
}

size_t mc_workqueue_len(mc_workqueue *queue)
{
    pthread_mutex_lock(&queue->lock);
    if (!queue->shutting_down)
        promote_due(queue, queue->clock(queue->clock_ctx));
    size_t n = queue->ready_len;
    pthread_mutex_unlock(&queue->lock);
    return n;
}

void mc_workqueue_tick(mc_workqueue *queue)
{
    pthread_mutex_lock(&queue->lock);
    pthread_cond_broadcast(&queue->cond);
    pthread_mutex_unlock(&queue->lock);
}

unsigned long mc_workqueue_retries(mc_workqueue *queue)
{
    pthread_mutex_lock(&queue->lock);
    unsigned long retries = queue->retries;
    pthread_mutex_unlock(&queue->lock);
    return retries;
}
