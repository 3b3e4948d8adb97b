/* workqueue.h - a rate-limited work queue with client-go's semantics.
 *
 * A key added many times before a worker takes it is processed once; a key
 * is never handed to two workers at once (added while processing, it is
 * queued again when its worker calls done); a failed key comes back after a
 * per-key exponential delay (5 ms doubling up to 1000 s, as client-go's
 * default controller rate limiter) until it is forgotten. Time comes from a
 * clock function so that tests control it. Thread-safe.
 */
#ifndef MC_RUNTIME_WORKQUEUE_H
#define MC_RUNTIME_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct mc_workqueue mc_workqueue;

/* Monotonic milliseconds. */
typedef int64_t (*mc_clock_fn)(void *ctx);

typedef struct mc_workqueue_options {
    int64_t base_delay_ms; /* first retry delay (0: 5) */
    int64_t max_delay_ms;  /* cap (0: 1 000 000) */
    mc_clock_fn clock;     /* NULL: CLOCK_MONOTONIC */
    void *clock_ctx;
} mc_workqueue_options;

/* options may be NULL. NULL on allocation failure. */
mc_workqueue *mc_workqueue_new(const mc_workqueue_options *options);

/* Frees the queue (after shutdown and after workers returned). Accepts NULL. */
void mc_workqueue_free(mc_workqueue *queue);

/* Queues key (copied) unless already queued. */
void mc_workqueue_add(mc_workqueue *queue, const char *key);

/* Queues key once delay_ms have passed. */
void mc_workqueue_add_after(mc_workqueue *queue, const char *key, int64_t delay_ms);

/* Queues key after its backoff delay, and doubles that delay. */
void mc_workqueue_add_rate_limited(mc_workqueue *queue, const char *key);

/* Queues key as mc_workqueue_add does, unless key is backing off (it was
 * rate-limited since it was last forgotten): then the add is left to the
 * retry already scheduled, which reads the current state anyway, and
 * happens at mc_workqueue_forget if that comes first (the run in progress
 * succeeded). For events that must not cut a backoff short, e.g. the echo
 * of a failing reconcile's own writes; mc_workqueue_add still runs a key at
 * once (a changed spec). */
void mc_workqueue_add_unless_backing_off(mc_workqueue *queue, const char *key);

/* Resets key's backoff (call after a success); a deferred add happens now. */
void mc_workqueue_forget(mc_workqueue *queue, const char *key);

/* How many times key was rate-limited since it was last forgotten. */
unsigned mc_workqueue_requeues(mc_workqueue *queue, const char *key);

/* Takes the next key (*key owned by the caller until mc_workqueue_done),
 * waiting at most timeout_ms (-1: forever) for one. MC_OK with a key;
 * MC_ENOTFOUND on timeout; MC_EUNAVAILABLE once shut down (and drained). */
int mc_workqueue_get(mc_workqueue *queue, char **key, int64_t timeout_ms);

/* Marks key processed (frees it); re-queues it if it was added meanwhile. */
void mc_workqueue_done(mc_workqueue *queue, char *key);

/* Stops accepting keys; drain = 1: getters still receive what is queued
 * (delayed keys are dropped), then MC_EUNAVAILABLE; drain = 0: at once. */
void mc_workqueue_shutdown(mc_workqueue *queue, int drain);

/* Keys queued and ready (not delayed, not processing). */
size_t mc_workqueue_len(mc_workqueue *queue);

/* How many keys were re-queued with backoff (add_rate_limited) since the
 * queue was made, all keys together (metrics). */
unsigned long mc_workqueue_retries(mc_workqueue *queue);

/* Wakes getters to re-check delayed keys (tests that move the clock call it). */
void mc_workqueue_tick(mc_workqueue *queue);

#endif
