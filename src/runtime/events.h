/* events.h - Kubernetes Events (core/v1) recorded the way client-go's record
 * package does: the caller never blocks (a bounded queue, drained by one
 * writer thread per process; a full queue drops and counts), repeated events are
 * aggregated into one Event (count, firstTimestamp, lastTimestamp, updated by
 * a merge PATCH), more than 10 different messages for one object and reason
 * within 10 minutes are combined ("(combined from similar events): ..."),
 * and a token bucket per object name (burst 25, one token per 5 minutes,
 * shared by objects made again under one name) keeps a looping failure from
 * flooding the API server. docs/runtime.md describes it.
 *
 * Messages must never carry secrets (keys, tokens): they are stored in the
 * cluster for anyone who may read Events.
 */
#ifndef MC_RUNTIME_EVENTS_H
#define MC_RUNTIME_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "kube/client.h"
#include "util/err.h"
#include "util/metrics.h"

typedef enum {
    MC_EVENT_NORMAL = 0,  /* "Normal" */
    MC_EVENT_WARNING = 1, /* "Warning" */
} mc_event_type;

/* The object an Event is about (involvedObject). Strings are borrowed for
 * the call; NULL fields are left out. name and kind are required. */
typedef struct mc_event_object {
    const char *api_version;
    const char *kind;
    const char *namespace; /* also the Event's namespace ("default" when NULL) */
    const char *name;
    const char *uid; /* what `kubectl describe` selects Events by */
    const char *resource_version;
} mc_event_object;

/* Wall-clock milliseconds since the epoch (Event timestamps, buckets). */
typedef int64_t (*mc_event_clock_fn)(void *ctx);

/* ---- the correlator: aggregation and spam filter, no I/O ---- */

typedef struct mc_event_correlator mc_event_correlator;

typedef struct mc_event_correlator_options {
    double qps;           /* spam filter refill, tokens per second per object (0: 1/300) */
    int burst;            /* spam filter bucket size per object (0: 25) */
    size_t cache_entries; /* remembered events and objects per cache (0: 4096), LRU */
} mc_event_correlator_options;

/* What to do with one event. */
typedef enum {
    MC_EVENT_CREATE = 0, /* a new Event named name */
    MC_EVENT_PATCH = 1,  /* Event name exists: set count, lastTimestamp, message */
    MC_EVENT_SKIP = 2,   /* the spam filter took it (the count still grew) */
} mc_event_write;

#define MC_EVENT_NAME_MAX    254
#define MC_EVENT_MESSAGE_MAX 1024

typedef struct mc_event_decision {
    mc_event_write write;
    char name[MC_EVENT_NAME_MAX];       /* "<object name>.<hex nanoseconds>" */
    char message[MC_EVENT_MESSAGE_MAX]; /* possibly "(combined from similar events): ..." */
    int64_t count;                      /* occurrences so far, this one included */
    int64_t first_ms;                   /* firstTimestamp */
    int64_t last_ms;                    /* lastTimestamp (now_ms) */
} mc_event_decision;

/* options may be NULL. NULL on allocation failure. Not thread-safe: one
 * caller (the broadcaster's writer thread, or a test). */
mc_event_correlator *mc_event_correlator_new(const mc_event_correlator_options *options);
void mc_event_correlator_free(mc_event_correlator *correlator);

/* Decides the write for an event of obj at now_ms from what was seen before
 * (as client-go's EventCorrelate: aggregate, count, then filter). source
 * names the reporting component. MC_OK, or MC_ENOMEM (out->write SKIP). */
int mc_event_correlate(mc_event_correlator *correlator, const char *source,
                       const mc_event_object *obj, mc_event_type type, const char *reason,
                       const char *message, int64_t now_ms, mc_event_decision *out);

/* ---- the broadcaster (one queue + writer thread per process) and its
 * recorders (one per cluster, a handle on that cluster's client) ---- */

typedef struct mc_event_broadcaster mc_event_broadcaster;
typedef struct mc_event_recorder mc_event_recorder;

typedef struct mc_event_broadcaster_options {
    const char *component; /* source.component and reportingComponent ("meshcert-agent") */
    const char *instance;  /* source.host and reportingInstance (NULL: the host name) */
    size_t queue_size;     /* events waiting for the writer, all recorders (0: 1000) */
    mc_event_correlator_options correlator; /* one correlator, keyed by recorder too */
    mc_event_clock_fn clock;                /* NULL: CLOCK_REALTIME */
    void *clock_ctx;
    int64_t cooloff_ms; /* after a failed write, the recorder's events are dropped
                           for this long (0: 30 000) */
    mc_metric *dropped; /* counter {reason}: queue_full, spam_filtered, write_failed (or NULL) */
} mc_event_broadcaster_options;

/* The process's one Event writer: a bounded queue shared by every recorder
 * and one thread, so that Events for 1 000 clusters cost one thread. A
 * write that fails drops the queued events of its recorder and, for
 * cooloff_ms, its new ones (write_failed): an unreachable cluster holds the
 * writer for one write (its client's timeouts) per cool-off, not one per
 * event. MC_EINVAL without a component, MC_ENOMEM. *out freed with
 * mc_event_broadcaster_free. */
int mc_event_broadcaster_new(const mc_event_broadcaster_options *options,
                             mc_event_broadcaster **out, mc_err *err);

/* Stops the writer and frees. Every recorder must be freed before.
 * Accepts NULL. */
void mc_event_broadcaster_free(mc_event_broadcaster *broadcaster);

/* A recorder writing Events through client (borrowed, thread-safe; it must
 * outlive the recorder) via broadcaster. Costs no thread and no client.
 * Keep the client's per-call deadline short (a few seconds), or one slow
 * cluster delays the others' Events by as much. MC_EINVAL without a
 * broadcaster or client, MC_ENOMEM. */
int mc_event_recorder_new(mc_event_broadcaster *broadcaster, mc_kube_client *client,
                          mc_event_recorder **out, mc_err *err);

/* Queues an Event about obj (copied) and returns at once. reason is a short
 * CamelCase word (Issued, CSRRefused); the message (printf format, cut at
 * MC_EVENT_MESSAGE_MAX - 1 bytes) must hold no secret. A NULL recorder, a
 * full queue or a stopped recorder drop it (counted). Thread-safe. */
void mc_event_record(mc_event_recorder *recorder, const mc_event_object *obj, mc_event_type type,
                     const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Waits up to timeout_ms for this recorder's events to be written out (tests). MC_OK or
 * MC_EUNAVAILABLE when events are still waiting. */
int mc_event_recorder_flush(mc_event_recorder *recorder, int64_t timeout_ms);

/* This recorder's events dropped so far: queue full, spam-filtered, or not
 * written (a failed write, or its cool-off). */
unsigned long mc_event_recorder_dropped(mc_event_recorder *recorder);

/* Waits up to 2 s for this recorder's queued events to be written, drops
 * the rest (queue_full), waits for a write in flight through its client to
 * end, and frees. Accepts NULL. */
void mc_event_recorder_free(mc_event_recorder *recorder);

#endif
