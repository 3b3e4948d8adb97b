/* controller.c - a work queue drained by a fixed pool of worker threads that
 * call one reconcile function per key (see controller.h).
 *
 * Informer handlers only turn objects into keys and queue them (they run on
 * the watch I/O thread and must not block); everything slow happens on the
 * workers. The queue guarantees that one key is never reconciled by two
 * workers at once. Failures go back through the per-key backoff; successes
 * forget it.
 */
#include "runtime/controller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/object.h"
#include "util/log.h"
#include "util/str.h"

#define CONTROLLER_KEY_MAX 512

/* One mc_controller_watch call: the handlers' ctx. */
typedef struct controller_binding {
    struct mc_controller *controller;                             /* immutable */
    int (*key_fn)(const json_t *obj, char *key, size_t key_size); /* immutable, or NULL */
    struct controller_binding *next; /* list owned by the controller (lock) */
} controller_binding;

struct mc_controller {
    char *name;                   /* immutable, for logs */
    int worker_count;             /* immutable */
    mc_reconcile_fn reconcile;    /* immutable */
    void *ctx;                    /* immutable */
    mc_workqueue *queue;          /* thread-safe itself */
    pthread_mutex_t lock;         /* guards the fields below */
    pthread_t *threads;           /* worker_count threads while started (lock) */
    int started;                  /* workers running (lock) */
    controller_binding *bindings; /* from mc_controller_watch (lock) */
};

int mc_controller_new(const char *name, int workers, mc_reconcile_fn reconcile, void *ctx,
                      mc_controller **out, mc_err *err)
{
    return mc_controller_new_with(name, workers, reconcile, ctx, NULL, out, err);
}

int mc_controller_new_with(const char *name, int workers, mc_reconcile_fn reconcile, void *ctx,
                           const mc_workqueue_options *queue_options, mc_controller **out,
                           mc_err *err)
{
    *out = NULL;
    if (!name || workers < 1 || !reconcile)
        return mc_err_set(err, MC_EINVAL,
                          "controller: a name, a reconcile function and at "
                          "least one worker are required");
    mc_controller *controller = calloc(1, sizeof(*controller));
    if (!controller)
        return mc_err_set(err, MC_ENOMEM, "controller %s: out of memory", name);
    controller->name = mc_strdup(name);
    controller->worker_count = workers;
    controller->reconcile = reconcile;
    controller->ctx = ctx;
    controller->queue = mc_workqueue_new(queue_options);
    controller->threads = calloc((size_t)workers, sizeof(*controller->threads));
    if (!controller->name || !controller->queue || !controller->threads ||
        pthread_mutex_init(&controller->lock, NULL) != 0) {
        mc_workqueue_free(controller->queue);
        free(controller->threads);
        free(controller->name);
        free(controller);
        return mc_err_set(err, MC_ENOMEM, "controller %s: out of memory", name);
    }
    *out = controller;
    return MC_OK;
}

static void enqueue_object(controller_binding *binding, const json_t *obj)
{
    char key[CONTROLLER_KEY_MAX];
    int rc = binding->key_fn ? binding->key_fn(obj, key, sizeof(key))
                             : mc_object_key(obj, key, sizeof(key));
    if (rc == 0)
        mc_workqueue_add(binding->controller->queue, key);
}

static void on_add(void *ctx, const json_t *obj)
{
    enqueue_object(ctx, obj);
}

static void on_update(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    enqueue_object(ctx, new_obj);
}

static void on_delete(void *ctx, const json_t *obj)
{
    enqueue_object(ctx, obj);
}

void mc_controller_watch(mc_controller *controller, mc_informer_handlers *handlers,
                         int (*key_fn)(const json_t *obj, char *key, size_t key_size))
{
    memset(handlers, 0, sizeof(*handlers));
    controller_binding *binding = calloc(1, sizeof(*binding));
    if (!binding) {
        mc_log_error("controller", "%s: out of memory installing handlers", controller->name);
        return; /* handlers stay empty: the informer delivers nothing */
    }
    binding->controller = controller;
    binding->key_fn = key_fn;
    pthread_mutex_lock(&controller->lock);
    binding->next = controller->bindings;
    controller->bindings = binding;
    pthread_mutex_unlock(&controller->lock);
    handlers->on_add = on_add;
    handlers->on_update = on_update;
    handlers->on_delete = on_delete;
    handlers->ctx = binding;
}

mc_workqueue *mc_controller_queue(mc_controller *controller)
{
    return controller->queue;
}

/* One reconcile of key and what it means for the queue. */
static void process_key(mc_controller *controller, const char *key)
{
    mc_reconcile_result result = {0, 0};
    mc_err err;
    mc_err_clear(&err);
    int rc = controller->reconcile(controller->ctx, key, &result, &err);
    if (rc != 0) {
        /* err's messages are written for status.error: no key material. */
        mc_log_warn("controller", "%s: reconcile %s failed (retry %u): %s", controller->name, key,
                    mc_workqueue_requeues(controller->queue, key) + 1,
                    err.msg[0] ? err.msg : mc_err_code_str(rc));
        mc_workqueue_add_rate_limited(controller->queue, key);
    } else if (result.requeue_after_ms > 0) {
        mc_workqueue_forget(controller->queue, key);
        mc_workqueue_add_after(controller->queue, key, result.requeue_after_ms);
    } else if (result.requeue) {
        mc_workqueue_add_rate_limited(controller->queue, key);
    } else {
        mc_workqueue_forget(controller->queue, key);
    }
}

static void *worker_main(void *arg)
{
    mc_controller *controller = arg;
    for (;;) {
        char *key = NULL;
        int rc = mc_workqueue_get(controller->queue, &key, -1);
        if (rc == MC_EUNAVAILABLE)
            break;
        if (rc != MC_OK)
            continue; /* out of memory copying a key: the key stays queued */
        process_key(controller, key);
        mc_workqueue_done(controller->queue, key);
    }
    return NULL;
}

int mc_controller_start(mc_controller *controller, mc_err *err)
{
    int rc = MC_OK;
    int created = 0;
    pthread_mutex_lock(&controller->lock);
    if (controller->started)
        goto out;
    for (; created < controller->worker_count; created++) {
        if (pthread_create(&controller->threads[created], NULL, worker_main, controller) != 0)
            break;
    }
    if (created < controller->worker_count) {
        /* The queue must be shut down to stop the workers that did start;
         * this controller cannot be started again. */
        mc_workqueue_shutdown(controller->queue, 0);
        for (int i = 0; i < created; i++)
            pthread_join(controller->threads[i], NULL);
        rc = mc_err_set(err, MC_ENOMEM, "controller %s: cannot start worker thread %d",
                        controller->name, created + 1);
        goto out;
    }
    controller->started = 1;
    mc_log_debug("controller", "%s: started %d workers", controller->name,
                 controller->worker_count);
out:
    pthread_mutex_unlock(&controller->lock);
    return rc;
}

void mc_controller_stop(mc_controller *controller)
{
    mc_workqueue_shutdown(controller->queue, 1);
    pthread_mutex_lock(&controller->lock);
    if (controller->started) {
        for (int i = 0; i < controller->worker_count; i++)
            pthread_join(controller->threads[i], NULL);
        controller->started = 0;
    }
    pthread_mutex_unlock(&controller->lock);
}

void mc_controller_free(mc_controller *controller)
{
    if (!controller)
        return;
    mc_controller_stop(controller);
    controller_binding *binding = controller->bindings;
    while (binding) {
        controller_binding *next = binding->next;
        free(binding);
        binding = next;
    }
    mc_workqueue_free(controller->queue);
    pthread_mutex_destroy(&controller->lock);
    free(controller->threads);
    free(controller->name);
    free(controller);
}

const char *mc_controller_name(const mc_controller *controller)
{
    return controller->name;
}
