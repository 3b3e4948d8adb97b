/* informer.c - list + watch into a local cache (see informer.h).
 *
 * Each informer owns one thread that lists (paged, 500 a page), starts a
 * watch from the list's resourceVersion and then sleeps until the watch
 * reports 410 Expired or a permanent failure (it then stops the watch, which
 * must not happen inside the watch callback, and relists), until a resync is
 * due, or until stop. Watch events update the cache on the watch I/O thread.
 * A relist replaces the cache and tells handlers the difference. The cache
 * and the label index are jansson objects under one mutex; handlers are
 * called without it held.
 */
#include "runtime/informer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/object.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define INFORMER_PAGE           500
#define INFORMER_KEY_MAX        512
#define INFORMER_BACKOFF_MIN_MS 500
#define INFORMER_BACKOFF_MAX_MS 30000

struct mc_informer {
    mc_kube_client *client;         /* immutable, not owned */
    mc_kube_watcher *watcher;       /* immutable, not owned */
    mc_kube_resource res;           /* immutable; strings below */
    char *group, *version, *plural; /* immutable, owned */
    char *namespace;                /* immutable, owned, or NULL (all) */
    char *label_selector;           /* immutable, owned, or NULL */
    char *index_label;              /* immutable, owned, or NULL */
    int64_t resync_ms;              /* immutable */
    mc_informer_handlers handlers;  /* immutable; members may be NULL */
    pthread_mutex_t lock;           /* guards the fields marked (lock) */
    pthread_cond_t cond;            /* signalled on synced, expired, failed, stopping */
    json_t *cache;                  /* "ns/name" -> object (lock) */
    json_t *index;                  /* label value -> {"ns/name": true} (lock) */
    int synced;                     /* first list applied (lock) */
    int stopping;                   /* stop requested (lock) */
    int expired;                    /* the watch reported 410 (lock) */
    int failed;                     /* the watch failed permanently (lock) */
    int started;                    /* thread running (lock) */
    pthread_t thread;               /* the relist thread while started (lock) */
    atomic_uint relists;            /* relists after 410 */
    char *resource_version;         /* of the last list; informer thread only */
    mc_kube_watch *watch;           /* current watch; informer thread only */
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
        pthread_cond_broadcast(&informer->cond);
        pthread_mutex_unlock(&informer->lock);
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
                                        continue_token};
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

/* Sleeps ms unless stop is asked; returns 1 when stopping. */
static int sleep_unless_stopping(mc_informer *informer, int64_t ms)
{
    struct timespec until = mc_clock_deadline_after(ms);
    pthread_mutex_lock(&informer->lock);
    while (!informer->stopping &&
           pthread_cond_timedwait(&informer->cond, &informer->lock, &until) == 0) {
    }
    int stopping = informer->stopping;
    pthread_mutex_unlock(&informer->lock);
    return stopping;
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
    return mc_kube_watch_start(informer->watcher, informer->client, &informer->res,
                               informer->namespace, &options, on_event, informer, &informer->watch,
                               err);
}

/* Waits while the watch runs; returns 0 to relist after 410, 1 after a
 * permanent watch failure, -1 when stopping. Runs resyncs meanwhile. */
static int wait_for_watch_end(mc_informer *informer)
{
    int64_t next_resync = informer->resync_ms > 0 ? mc_clock_now_ms() + informer->resync_ms : -1;
    pthread_mutex_lock(&informer->lock);
    for (;;) {
        if (informer->stopping) {
            pthread_mutex_unlock(&informer->lock);
            return -1;
        }
        if (informer->expired || informer->failed) {
            int result = informer->expired ? 0 : 1;
            pthread_mutex_unlock(&informer->lock);
            return result;
        }
        if (next_resync < 0) {
            pthread_cond_wait(&informer->cond, &informer->lock);
            continue;
        }
        if (mc_clock_now_ms() >= next_resync) {
            pthread_mutex_unlock(&informer->lock);
            resync(informer);
            next_resync = mc_clock_now_ms() + informer->resync_ms;
            pthread_mutex_lock(&informer->lock);
            continue;
        }
        struct timespec until = mc_clock_deadline_after(next_resync - mc_clock_now_ms());
        pthread_cond_timedwait(&informer->cond, &informer->lock, &until);
    }
}

static void *informer_main(void *arg)
{
    mc_informer *informer = arg;
    int64_t backoff = INFORMER_BACKOFF_MIN_MS;
    for (;;) {
        mc_err err;
        mc_err_clear(&err);
        if (list_and_replace(informer, &err) != MC_OK || start_watch(informer, &err) != MC_OK) {
            mc_log_warn(log_component, "%s: %s (retrying in %lld ms)", informer->plural, err.msg,
                        (long long)backoff);
            if (sleep_unless_stopping(informer, backoff))
                break;
            backoff = backoff * 2 > INFORMER_BACKOFF_MAX_MS ? INFORMER_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        int end = wait_for_watch_end(informer);
        /* Never inside the callback: the watch is stopped from this thread. */
        mc_kube_watch_stop(informer->watch);
        informer->watch = NULL;
        if (end < 0)
            break;
        if (end == 0) {
            atomic_fetch_add(&informer->relists, 1);
            mc_log_info(log_component, "%s: watch expired (410), relisting", informer->plural);
            backoff = INFORMER_BACKOFF_MIN_MS;
            continue;
        }
        mc_log_warn(log_component, "%s: watch failed, relisting in %lld ms", informer->plural,
                    (long long)backoff);
        if (sleep_unless_stopping(informer, backoff))
            break;
        backoff = backoff * 2 > INFORMER_BACKOFF_MAX_MS ? INFORMER_BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

int mc_informer_new(mc_kube_client *client, mc_kube_watcher *watcher, const mc_kube_resource *res,
                    const mc_informer_options *options, const mc_informer_handlers *handlers,
                    mc_informer **out, mc_err *err)
{
    *out = NULL;
    if (!client || !watcher || !res || !res->version || !res->plural)
        return mc_err_set(err, MC_EINVAL, "informer: client, watcher and resource are required");
    mc_informer *informer = calloc(1, sizeof(*informer));
    if (!informer)
        return mc_err_set(err, MC_ENOMEM, "informer %s: out of memory", res->plural);
    informer->client = client;
    informer->watcher = watcher;
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
    int rc = MC_OK;
    pthread_mutex_lock(&informer->lock);
    if (!informer->started && !informer->stopping) {
        if (pthread_create(&informer->thread, NULL, informer_main, informer) != 0)
            rc = mc_err_set(err, MC_ENOMEM, "informer %s: cannot start its thread",
                            informer->plural);
        else
            informer->started = 1;
    }
    pthread_mutex_unlock(&informer->lock);
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
    pthread_mutex_lock(&informer->lock);
    informer->stopping = 1;
    pthread_cond_broadcast(&informer->cond);
    int started = informer->started;
    informer->started = 0;
    pthread_mutex_unlock(&informer->lock);
    /* The thread stops its watch before it returns (a list in flight ends
     * within the client's request timeout). */
    if (started)
        pthread_join(informer->thread, NULL);
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

json_t *mc_informer_get(mc_informer *informer, const char *ns, const char *name)
{
    char key[INFORMER_KEY_MAX];
    int n = ns && *ns ? snprintf(key, sizeof(key), "%s/%s", ns, name)
                      : snprintf(key, sizeof(key), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(key))
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
