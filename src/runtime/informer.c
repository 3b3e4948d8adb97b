/* informer.c - list + watch into a local cache (see informer.h).
 *
 * Informers have no thread of their own. A runner (one per process) owns a
 * work queue of informer keys and a fixed pool of list workers: a worker
 * takes an informer's key and runs one step of it (list, then start a watch
 * from the list's resourceVersion; stop an expired or failed watch and
 * relist; resync), then schedules the next step with the queue's timers
 * (backoff, resync due time). The queue hands keys out FIFO and never gives
 * one informer to two workers at once. Watch events update the cache on the
 * watch I/O thread; a 410 or a permanent failure only flags the informer and
 * queues its key, because the watch must not be stopped inside its callback.
 * A relist replaces the cache and tells handlers the difference. The cache
 * and the label index are jansson objects under one mutex; handlers are
 * called without it held.
 */
#include "runtime/informer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/workqueue.h"
#include "runtime/object.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define INFORMER_PAGE           500
#define INFORMER_KEY_MAX        512
#define INFORMER_BACKOFF_MIN_MS 500
#define INFORMER_BACKOFF_MAX_MS 30000
/* A page's request, retries included, holds a list worker at most this
 * long: an unreachable cluster then delays the others (queued behind it)
 * by no more, and retries after its backoff. */
#define INFORMER_PAGE_DEADLINE_MS 15000
#define RUNNER_WORKERS_DEFAULT    4
#define RUNNER_WORKERS_MAX        64

struct mc_informer_runner {
    mc_kube_watcher *watcher;   /* immutable, not owned */
    mc_workqueue *queue;        /* informer keys: steps due now or later */
    pthread_t *workers;         /* immutable after new */
    int worker_count;           /* immutable after new: threads started */
    pthread_mutex_t lock;       /* guards informers, next_id and every informer's busy */
    pthread_cond_t idle;        /* lock: an informer's busy became 0 */
    json_t *informers;          /* lock: key -> informer address (json integer), started ones */
    unsigned long long next_id; /* lock: keys are never reused */
};

struct mc_informer {
    mc_kube_client *client;         /* immutable, not owned */
    mc_informer_runner *runner;     /* immutable, not owned */
    char key[32];                   /* immutable: the runner's queue key */
    mc_kube_resource res;           /* immutable; strings below */
    char *group, *version, *plural; /* immutable, owned */
    char *namespace;                /* immutable, owned, or NULL (all) */
    char *label_selector;           /* immutable, owned, or NULL */
    char *index_label;              /* immutable, owned, or NULL */
    int64_t resync_ms;              /* immutable */
    mc_informer_handlers handlers;  /* immutable; members may be NULL */
    pthread_mutex_t lock;           /* guards the fields marked (lock) */
    pthread_cond_t cond;            /* signalled on synced, stopping */
    json_t *cache;                  /* "ns/name" -> object (lock) */
    json_t *index;                  /* label value -> {"ns/name": true} (lock) */
    int synced;                     /* first list applied (lock) */
    int stopping;                   /* stop requested (lock) */
    int expired;                    /* the watch reported 410 (lock) */
    int failed;                     /* the watch failed permanently (lock) */
    int started;                    /* registered with the runner (lock) */
    int busy;                       /* a worker runs a step (runner->lock) */
    atomic_uint relists;            /* relists after 410 */
    /* The rest belongs to the worker running a step (one at a time). */
    char *resource_version; /* of the last list */
    mc_kube_watch *watch;   /* current watch, or NULL: list next */
    int64_t backoff_ms;     /* delay before the next try after a failure */
    int64_t next_resync_ms; /* monotonic due time of the next resync */
};

static const char *log_component = "informer";

static const char *index_value(const mc_informer *informer, const json_t *obj)
{
    if (!informer->index_label)
        return NULL;
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    return json_string_value(json_object_get(labels, informer->index_label));
}

/* Lock held. */
static void index_remove(mc_informer *informer, const char *key, const json_t *obj)
{
    const char *value = index_value(informer, obj);
    if (!value)
        return;
    json_t *set = json_object_get(informer->index, value);
    json_object_del(set, key);
    if (set && json_object_size(set) == 0)
        json_object_del(informer->index, value);
}

/* Lock held. */
static void index_add(mc_informer *informer, const char *key, const json_t *obj)
{
    const char *value = index_value(informer, obj);
    if (!value)
        return;
    json_t *set = json_object_get(informer->index, value);
    if (!set) {
        set = json_object();
        if (!set || json_object_set_new(informer->index, value, set) != 0)
            return;
    }
    json_object_set_new(set, key, json_true());
}

/* Puts obj (a new reference is taken) under key; returns the previous object
 * (a reference the caller drops) or NULL. Lock held. */
static json_t *cache_put(mc_informer *informer, const char *key, json_t *obj)
{
    json_t *old = json_object_get(informer->cache, key);
    if (old) {
        json_incref(old);
        index_remove(informer, key, old);
    }
    if (json_object_set(informer->cache, key, obj) == 0)
        index_add(informer, key, obj);
    return old;
}

/* Removes key; returns the object it held (a reference) or NULL. Lock held. */
static json_t *cache_remove(mc_informer *informer, const char *key)
{
    json_t *old = json_object_get(informer->cache, key);
    if (!old)
        return NULL;
    json_incref(old);
    index_remove(informer, key, old);
    json_object_del(informer->cache, key);
    return old;
}

/* The watch callback: runs on the watch I/O thread; never blocks beyond the
 * cache lock and the handlers (which only queue keys). */
static void on_event(void *ctx, mc_kube_event_type type, const json_t *object)
{
    mc_informer *informer = ctx;
    char key[INFORMER_KEY_MAX];
    json_t *old = NULL;
    switch (type) {
    case MC_KUBE_ADDED:
    case MC_KUBE_MODIFIED:
        if (mc_object_key(object, key, sizeof(key)) != 0)
            return;
        pthread_mutex_lock(&informer->lock);
        old = cache_put(informer, key, (json_t *)object);
        pthread_cond_broadcast(&informer->cond); /* mc_informer_wait_for */
        pthread_mutex_unlock(&informer->lock);
        if (old && informer->handlers.on_update)
            informer->handlers.on_update(informer->handlers.ctx, old, object);
        else if (!old && informer->handlers.on_add)
            informer->handlers.on_add(informer->handlers.ctx, object);
        json_decref(old);
        return;
    case MC_KUBE_DELETED:
        if (mc_object_key(object, key, sizeof(key)) != 0)
            return;
        pthread_mutex_lock(&informer->lock);
        old = cache_remove(informer, key);
        pthread_cond_broadcast(&informer->cond); /* mc_informer_wait_for */
        pthread_mutex_unlock(&informer->lock);
        if (old && informer->handlers.on_delete)
            informer->handlers.on_delete(informer->handlers.ctx, object);
        json_decref(old);
        return;
    case MC_KUBE_BOOKMARK: return; /* the watch tracks the resourceVersion itself */
    case MC_KUBE_EXPIRED:
    case MC_KUBE_FAILED:
        pthread_mutex_lock(&informer->lock);
        if (type == MC_KUBE_EXPIRED)
            informer->expired = 1;
        else
            informer->failed = 1;
        pthread_mutex_unlock(&informer->lock);
        /* A worker stops the watch and relists: never inside this callback. */
        mc_workqueue_add(informer->runner->queue, informer->key);
        return;
    }
}

/* List items of typed lists may lack kind and apiVersion; watch events carry
 * them. Fill them in so that the cache holds one shape whatever its source. */
static void fill_kind(json_t *item, const json_t *list)
{
    const char *list_kind = json_string_value(json_object_get(list, "kind"));
    const char *api_version = json_string_value(json_object_get(list, "apiVersion"));
    if (!json_object_get(item, "kind") && list_kind) {
        size_t len = strlen(list_kind);
        if (len > 4 && strcmp(list_kind + len - 4, "List") == 0)
            json_object_set_new(item, "kind", json_stringn(list_kind, len - 4));
    }
    if (!json_object_get(item, "apiVersion") && api_version)
        json_object_set_new(item, "apiVersion", json_string(api_version));
}

/* Lists every object (paged) into *out ("ns/name" -> object) and the list's
 * resourceVersion into *rv (owned). An expired continue token restarts the
 * list from the beginning, as client-go's pager does. */
static int list_all(mc_informer *informer, json_t **out, char **rv, mc_err *err)
{
    *out = NULL;
    *rv = NULL;
    json_t *objects = json_object();
    char *continue_token = NULL;
    json_t *page = NULL;
    int rc = MC_OK;
    int restarts = 0;
    if (!objects)
        return mc_err_set(err, MC_ENOMEM, "list %s: out of memory", informer->plural);
    for (;;) {
        mc_kube_list_options options = {informer->label_selector, NULL, INFORMER_PAGE,
                                        continue_token, INFORMER_PAGE_DEADLINE_MS};
        rc = mc_kube_list(informer->client, &informer->res, informer->namespace, &options, &page,
                          err);
        if (rc == MC_EEXPIRED && continue_token && restarts++ < 3) {
            free(continue_token);
            continue_token = NULL;
            free(*rv);
            *rv = NULL;
            json_object_clear(objects);
            continue;
        }
        if (rc != MC_OK)
            goto out;
        const json_t *meta = json_object_get(page, "metadata");
        if (!*rv) {
            /* The first page's version: the snapshot the pages belong to. */
            const char *version = json_string_value(json_object_get(meta, "resourceVersion"));
            *rv = mc_strdup(version ? version : "");
        }
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            char key[INFORMER_KEY_MAX];
            if (mc_object_key(item, key, sizeof(key)) != 0)
                continue;
            fill_kind(item, page);
            json_object_set(objects, key, item);
        }
        const char *next = json_string_value(json_object_get(meta, "continue"));
        free(continue_token);
        continue_token = next && *next ? mc_strdup(next) : NULL;
        json_decref(page);
        page = NULL;
        if (!continue_token)
            break;
    }
    if (!*rv) {
        rc = mc_err_set(err, MC_ENOMEM, "list %s: out of memory", informer->plural);
        goto out;
    }
    *out = objects;
    objects = NULL;
out:
    json_decref(page);
    json_decref(objects);
    free(continue_token);
    if (rc != MC_OK) {
        free(*rv);
        *rv = NULL;
    }
    return rc;
}

typedef struct delivery {
    int kind;    /* 0 add, 1 update, 2 delete */
    json_t *old; /* reference or NULL */
    json_t *obj; /* reference */
} delivery;

/* Replaces the cache with objects and tells the handlers the difference:
 * adds for new keys, updates where the resourceVersion changed, deletes for
 * keys that are gone. Takes objects' reference. */
static void replace_cache(mc_informer *informer, json_t *objects)
{
    size_t capacity = 0, count = 0;
    delivery *deliveries = NULL;
    pthread_mutex_lock(&informer->lock);
    capacity = json_object_size(objects) + json_object_size(informer->cache);
    deliveries = capacity ? calloc(capacity, sizeof(*deliveries)) : NULL;
    const char *key;
    json_t *obj;
    json_object_foreach(objects, key, obj)
    {
        json_t *old = json_object_get(informer->cache, key);
        if (!old) {
            if (deliveries)
                deliveries[count++] = (delivery){0, NULL, json_incref(obj)};
            continue;
        }
        const char *old_rv =
            json_string_value(json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
        const char *new_rv =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        int same = old_rv && new_rv ? strcmp(old_rv, new_rv) == 0 : json_equal(old, obj);
        if (!same && deliveries)
            deliveries[count++] = (delivery){1, json_incref(old), json_incref(obj)};
    }
    json_object_foreach(informer->cache, key, obj)
    {
        if (!json_object_get(objects, key) && deliveries)
            deliveries[count++] = (delivery){2, NULL, json_incref(obj)};
    }
    json_decref(informer->cache);
    informer->cache = objects;
    json_object_clear(informer->index);
    json_object_foreach(informer->cache, key, obj) index_add(informer, key, obj);
    informer->synced = 1;
    pthread_cond_broadcast(&informer->cond);
    pthread_mutex_unlock(&informer->lock);

    const mc_informer_handlers *h = &informer->handlers;
    for (size_t i = 0; i < count; i++) {
        delivery *d = &deliveries[i];
        if (d->kind == 0 && h->on_add)
            h->on_add(h->ctx, d->obj);
        else if (d->kind == 1 && h->on_update)
            h->on_update(h->ctx, d->old, d->obj);
        else if (d->kind == 2 && h->on_delete)
            h->on_delete(h->ctx, d->obj);
        json_decref(d->old);
        json_decref(d->obj);
    }
    free(deliveries);
}

/* on_update(obj, obj) for every cached object (periodic resync). */
static void resync(mc_informer *informer)
{
    if (!informer->handlers.on_update)
        return;
    pthread_mutex_lock(&informer->lock);
    size_t count = 0, capacity = json_object_size(informer->cache);
    json_t **objects = capacity ? calloc(capacity, sizeof(*objects)) : NULL;
    const char *key;
    json_t *obj;
    if (objects) {
        json_object_foreach(informer->cache, key, obj) objects[count++] = json_incref(obj);
    }
    pthread_mutex_unlock(&informer->lock);
    for (size_t i = 0; i < count; i++) {
        informer->handlers.on_update(informer->handlers.ctx, objects[i], objects[i]);
        json_decref(objects[i]);
    }
    free(objects);
}

static int list_and_replace(mc_informer *informer, mc_err *err)
{
    json_t *objects = NULL;
    char *rv = NULL;
    int rc = list_all(informer, &objects, &rv, err);
    if (rc != MC_OK)
        return rc;
    free(informer->resource_version);
    informer->resource_version = rv;
    replace_cache(informer, objects);
    return MC_OK;
}

static int start_watch(mc_informer *informer, mc_err *err)
{
    mc_kube_watch_options options = {.resource_version = informer->resource_version,
                                     .label_selector = informer->label_selector,
                                     .bookmarks = 1};
    pthread_mutex_lock(&informer->lock);
    informer->expired = 0;
    informer->failed = 0;
    pthread_mutex_unlock(&informer->lock);
    return mc_kube_watch_start(informer->runner->watcher, informer->client, &informer->res,
                               informer->namespace, &options, on_event, informer, &informer->watch,
                               err);
}

/* Schedules the next try after a failure and doubles the delay. */
static void retry_later(mc_informer *informer)
{
    mc_workqueue_add_after(informer->runner->queue, informer->key, informer->backoff_ms);
    informer->backoff_ms = informer->backoff_ms * 2 > INFORMER_BACKOFF_MAX_MS
                               ? INFORMER_BACKOFF_MAX_MS
                               : informer->backoff_ms * 2;
}

/* Stops a watch that reported 410 or a permanent failure. Returns 1 when
 * the informer must wait (backoff) before it lists again. */
static int end_watch(mc_informer *informer)
{
    pthread_mutex_lock(&informer->lock);
    int expired = informer->expired, failed = informer->failed;
    pthread_mutex_unlock(&informer->lock);
    if (!informer->watch || (!expired && !failed))
        return 0;
    mc_kube_watch_stop(informer->watch);
    informer->watch = NULL;
    if (expired) {
        atomic_fetch_add(&informer->relists, 1);
        mc_log_info(log_component, "%s: watch expired (410), relisting", informer->plural);
        informer->backoff_ms = INFORMER_BACKOFF_MIN_MS;
        return 0;
    }
    mc_log_warn(log_component, "%s: watch failed, relisting in %lld ms", informer->plural,
                (long long)informer->backoff_ms);
    retry_later(informer);
    return 1;
}

/* One step, on a list worker: end a watch that expired or failed; list and
 * watch when there is no watch; resync when due; schedule the next resync.
 * Every wait is a timer of the runner's queue, never a sleep. */
static void informer_step(mc_informer *informer)
{
    if (end_watch(informer))
        return;
    if (!informer->watch) {
        mc_err err;
        mc_err_clear(&err);
        if (list_and_replace(informer, &err) != MC_OK || start_watch(informer, &err) != MC_OK) {
            mc_log_warn(log_component, "%s: %s (retrying in %lld ms)", informer->plural, err.msg,
                        (long long)informer->backoff_ms);
            retry_later(informer);
            return;
        }
        informer->next_resync_ms = mc_clock_now_ms() + informer->resync_ms;
    }
    if (informer->resync_ms <= 0)
        return;
    if (mc_clock_now_ms() >= informer->next_resync_ms) {
        resync(informer);
        informer->next_resync_ms = mc_clock_now_ms() + informer->resync_ms;
    }
    mc_workqueue_add_after(informer->runner->queue, informer->key,
                           informer->next_resync_ms - mc_clock_now_ms());
}

/* Looks key up and marks its informer busy (so that stop waits for the
 * step); NULL once the informer was stopped. */
static mc_informer *runner_claim(mc_informer_runner *runner, const char *key)
{
    pthread_mutex_lock(&runner->lock);
    json_int_t address = json_integer_value(json_object_get(runner->informers, key));
    mc_informer *informer = (mc_informer *)(intptr_t)address;
    if (informer)
        informer->busy = 1;
    pthread_mutex_unlock(&runner->lock);
    return informer;
}

static void runner_release(mc_informer_runner *runner, mc_informer *informer)
{
    pthread_mutex_lock(&runner->lock);
    informer->busy = 0;
    pthread_cond_broadcast(&runner->idle);
    pthread_mutex_unlock(&runner->lock);
}

static void *runner_worker(void *arg)
{
    mc_informer_runner *runner = arg;
    char *key = NULL;
    while (mc_workqueue_get(runner->queue, &key, -1) == MC_OK) {
        mc_informer *informer = runner_claim(runner, key);
        if (informer) {
            informer_step(informer);
            runner_release(runner, informer);
        }
        mc_workqueue_done(runner->queue, key);
    }
    return NULL;
}

int mc_informer_runner_new(mc_kube_watcher *watcher, int list_workers, mc_informer_runner **out,
                           mc_err *err)
{
    *out = NULL;
    if (!watcher)
        return mc_err_set(err, MC_EINVAL, "informer runner: a watcher is required");
    if (list_workers < 0 || list_workers > RUNNER_WORKERS_MAX)
        return mc_err_set(err, MC_EINVAL, "informer runner: %d list workers (0 to %d)",
                          list_workers, RUNNER_WORKERS_MAX);
    int count = list_workers ? list_workers : RUNNER_WORKERS_DEFAULT;
    mc_informer_runner *runner = calloc(1, sizeof(*runner));
    if (!runner)
        return mc_err_set(err, MC_ENOMEM, "informer runner: out of memory");
    runner->watcher = watcher;
    runner->queue = mc_workqueue_new(NULL);
    runner->informers = json_object();
    runner->workers = calloc((size_t)count, sizeof(*runner->workers));
    pthread_mutex_init(&runner->lock, NULL);
    pthread_cond_init(&runner->idle, NULL);
    int rc = runner->queue && runner->informers && runner->workers
                 ? MC_OK
                 : mc_err_set(err, MC_ENOMEM, "informer runner: out of memory");
    for (; rc == MC_OK && runner->worker_count < count; runner->worker_count++) {
        if (pthread_create(&runner->workers[runner->worker_count], NULL, runner_worker, runner))
            rc = mc_err_set(err, MC_ENOMEM, "informer runner: cannot start list worker %d of %d",
                            runner->worker_count + 1, count);
    }
    if (rc != MC_OK) {
        mc_informer_runner_free(runner);
        return rc;
    }
    *out = runner;
    return MC_OK;
}

void mc_informer_runner_free(mc_informer_runner *runner)
{
    if (!runner)
        return;
    if (runner->queue)
        mc_workqueue_shutdown(runner->queue, 0);
    for (int i = 0; i < runner->worker_count; i++)
        pthread_join(runner->workers[i], NULL);
    mc_workqueue_free(runner->queue);
    json_decref(runner->informers);
    pthread_cond_destroy(&runner->idle);
    pthread_mutex_destroy(&runner->lock);
    free(runner->workers);
    free(runner);
}

size_t mc_informer_runner_pending(mc_informer_runner *runner)
{
    return mc_workqueue_len(runner->queue);
}

int mc_informer_new(mc_kube_client *client, mc_informer_runner *runner, const mc_kube_resource *res,
                    const mc_informer_options *options, const mc_informer_handlers *handlers,
                    mc_informer **out, mc_err *err)
{
    *out = NULL;
    if (!client || !runner || !res || !res->version || !res->plural)
        return mc_err_set(err, MC_EINVAL, "informer: client, runner and resource are required");
    mc_informer *informer = calloc(1, sizeof(*informer));
    if (!informer)
        return mc_err_set(err, MC_ENOMEM, "informer %s: out of memory", res->plural);
    informer->client = client;
    informer->runner = runner;
    informer->backoff_ms = INFORMER_BACKOFF_MIN_MS;
    pthread_mutex_lock(&runner->lock);
    snprintf(informer->key, sizeof(informer->key), "%llu", runner->next_id++);
    pthread_mutex_unlock(&runner->lock);
    informer->group = mc_strdup(res->group ? res->group : "");
    informer->version = mc_strdup(res->version);
    informer->plural = mc_strdup(res->plural);
    informer->res =
        (mc_kube_resource){informer->group, informer->version, informer->plural, res->namespaced};
    int ok = informer->group && informer->version && informer->plural;
    if (options) {
        if (options->namespace)
            ok = ok && (informer->namespace = mc_strdup(options->namespace));
        if (options->label_selector)
            ok = ok && (informer->label_selector = mc_strdup(options->label_selector));
        if (options->index_label)
            ok = ok && (informer->index_label = mc_strdup(options->index_label));
        informer->resync_ms = options->resync_ms;
    }
    if (handlers)
        informer->handlers = *handlers;
    informer->cache = json_object();
    informer->index = json_object();
    ok = ok && informer->cache && informer->index;
    pthread_condattr_t attr;
    int attr_ok = ok && pthread_condattr_init(&attr) == 0;
    if (attr_ok)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int cond_ok = attr_ok && pthread_cond_init(&informer->cond, &attr) == 0;
    if (attr_ok)
        pthread_condattr_destroy(&attr);
    int lock_ok = cond_ok && pthread_mutex_init(&informer->lock, NULL) == 0;
    if (!lock_ok) {
        if (cond_ok)
            pthread_cond_destroy(&informer->cond);
        json_decref(informer->cache);
        json_decref(informer->index);
        free(informer->index_label);
        free(informer->label_selector);
        free(informer->namespace);
        free(informer->plural);
        free(informer->version);
        free(informer->group);
        free(informer);
        return mc_err_set(err, MC_ENOMEM, "informer %s: out of memory", res->plural);
    }
    *out = informer;
    return MC_OK;
}

int mc_informer_start(mc_informer *informer, mc_err *err)
{
    mc_informer_runner *runner = informer->runner;
    int rc = MC_OK;
    pthread_mutex_lock(&informer->lock);
    if (!informer->started && !informer->stopping) {
        pthread_mutex_lock(&runner->lock);
        json_t *address = json_integer((json_int_t)(intptr_t)informer);
        if (json_object_set_new(runner->informers, informer->key, address) != 0)
            rc = mc_err_set(err, MC_ENOMEM, "informer %s: out of memory", informer->plural);
        pthread_mutex_unlock(&runner->lock);
        informer->started = rc == MC_OK;
    }
    pthread_mutex_unlock(&informer->lock);
    if (rc == MC_OK)
        mc_workqueue_add(runner->queue, informer->key);
    return rc;
}

int mc_informer_has_synced(mc_informer *informer)
{
    pthread_mutex_lock(&informer->lock);
    int synced = informer->synced;
    pthread_mutex_unlock(&informer->lock);
    return synced;
}

int mc_informer_wait_synced(mc_informer *informer, int64_t timeout_ms)
{
    struct timespec until = mc_clock_deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&informer->lock);
    while (!informer->synced && !informer->stopping &&
           pthread_cond_timedwait(&informer->cond, &informer->lock, &until) == 0) {
    }
    int synced = informer->synced;
    pthread_mutex_unlock(&informer->lock);
    return synced ? MC_OK : MC_EUNAVAILABLE;
}

void mc_informer_stop(mc_informer *informer)
{
    mc_informer_runner *runner = informer->runner;
    pthread_mutex_lock(&informer->lock);
    informer->stopping = 1;
    pthread_cond_broadcast(&informer->cond);
    int started = informer->started;
    informer->started = 0;
    pthread_mutex_unlock(&informer->lock);
    if (!started)
        return;
    /* Unregistered, no worker picks the informer up again (its key may
     * still be queued: it is then ignored); wait for a step in progress (a
     * list in flight ends within the client's request timeout). */
    pthread_mutex_lock(&runner->lock);
    json_object_del(runner->informers, informer->key);
    while (informer->busy)
        pthread_cond_wait(&runner->idle, &runner->lock);
    pthread_mutex_unlock(&runner->lock);
    /* No worker owns the watch now; after this no event callback runs. */
    mc_kube_watch_stop(informer->watch);
    informer->watch = NULL;
}

void mc_informer_free(mc_informer *informer)
{
    if (!informer)
        return;
    mc_informer_stop(informer);
    json_decref(informer->cache);
    json_decref(informer->index);
    pthread_cond_destroy(&informer->cond);
    pthread_mutex_destroy(&informer->lock);
    free(informer->resource_version);
    free(informer->index_label);
    free(informer->label_selector);
    free(informer->namespace);
    free(informer->plural);
    free(informer->version);
    free(informer->group);
    free(informer);
}

/* Lock held: whether the cache shows what mc_informer_wait_for waits for. */
static int cache_shows(mc_informer *informer, const char *key, const char *old_rv, int deleted)
{
    const json_t *obj = json_object_get(informer->cache, key);
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    int changed = !old_rv || !rv || strcmp(rv, old_rv) != 0;
    return deleted ? !obj || changed : obj && changed;
}

int mc_informer_wait_for(mc_informer *informer, const char *ns, const char *name,
                         const char *old_rv, int deleted, int64_t timeout_ms)
{
    char key[INFORMER_KEY_MAX];
    if (mc_object_key_for(ns, name, key, sizeof(key)))
        return 0;
    struct timespec until = mc_clock_deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&informer->lock);
    int shown;
    while (!(shown = cache_shows(informer, key, old_rv, deleted)) && !informer->stopping &&
           pthread_cond_timedwait(&informer->cond, &informer->lock, &until) == 0) {
    }
    pthread_mutex_unlock(&informer->lock);
    return shown;
}

json_t *mc_informer_get(mc_informer *informer, const char *ns, const char *name)
{
    char key[INFORMER_KEY_MAX];
    if (mc_object_key_for(ns, name, key, sizeof(key)))
        return NULL;
    pthread_mutex_lock(&informer->lock);
    json_t *copy = json_deep_copy(json_object_get(informer->cache, key));
    pthread_mutex_unlock(&informer->lock);
    return copy;
}

static int in_namespace(const json_t *obj, const char *ns)
{
    if (!ns)
        return 1;
    const char *obj_ns =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    return strcmp(obj_ns ? obj_ns : "", ns) == 0;
}

size_t mc_informer_list(mc_informer *informer, const char *ns, json_t ***out)
{
    *out = NULL;
    size_t count = 0;
    pthread_mutex_lock(&informer->lock);
    size_t capacity = json_object_size(informer->cache);
    json_t **objects = capacity ? calloc(capacity, sizeof(*objects)) : NULL;
    const char *key;
    json_t *obj;
    if (objects) {
        json_object_foreach(informer->cache, key, obj)
        {
            if (!in_namespace(obj, ns))
                continue;
            json_t *copy = json_deep_copy(obj);
            if (copy)
                objects[count++] = copy;
        }
    }
    pthread_mutex_unlock(&informer->lock);
    *out = objects;
    return count;
}

size_t mc_informer_by_label(mc_informer *informer, const char *value, json_t ***out)
{
    *out = NULL;
    size_t count = 0;
    pthread_mutex_lock(&informer->lock);
    json_t *set = json_object_get(informer->index, value);
    size_t capacity = json_object_size(set);
    json_t **objects = capacity ? calloc(capacity, sizeof(*objects)) : NULL;
    const char *key;
    json_t *flag;
    if (objects) {
        json_object_foreach(set, key, flag)
        {
            json_t *copy = json_deep_copy(json_object_get(informer->cache, key));
            if (copy)
                objects[count++] = copy;
        }
    }
    pthread_mutex_unlock(&informer->lock);
    *out = objects;
    return count;
}

unsigned mc_informer_relists(const mc_informer *informer)
{
    return atomic_load(&((mc_informer *)informer)->relists);
}
