/* watch.h - many watch streams on one I/O thread: one libcurl multi handle
 * carries every watch of a process (thousands of them), parses their NDJSON
 * events and hands them to callbacks on that thread. The thread sleeps in
 * epoll on curl's sockets (libcurl's socket API) and wakes for the streams
 * with data, curl's next deadline, a reconnect due, or a start/stop; at most
 * 64 streams are in their TLS handshake at once, the others wait their turn
 * (docs/kube.md).
 *
 * A watch follows the resourceVersion of the events it delivered (BOOKMARKs
 * included) and reconnects from it with jittered backoff when the stream
 * ends or breaks (server timeout, server restart, a proxy that cuts it); TCP
 * keepalive and a low-speed limit notice dead streams. When the server
 * answers 410 Expired, the watch does not resume: it reports MC_KUBE_EXPIRED
 * and stops, and its owner (an informer) relists and starts a new one.
 */
#ifndef MC_KUBE_WATCH_H
#define MC_KUBE_WATCH_H

#include <jansson.h>

#include "kube/client.h"
#include "util/err.h"

typedef struct mc_kube_watcher mc_kube_watcher; /* the I/O thread */
typedef struct mc_kube_watch mc_kube_watch;     /* one stream */

typedef enum {
    MC_KUBE_ADDED = 1,
    MC_KUBE_MODIFIED = 2,
    MC_KUBE_DELETED = 3,
    MC_KUBE_BOOKMARK = 4,
    MC_KUBE_EXPIRED = 5, /* 410: relist; the watch has stopped (object: the Status) */
    MC_KUBE_FAILED = 6,  /* a permanent failure (401, 403, 404): stopped; object: Status or NULL */
} mc_kube_event_type;

/* Called on the I/O thread for each event; object is borrowed (incref to
 * keep). Must not block (hand work to a queue). */
typedef void (*mc_kube_event_fn)(void *ctx, mc_kube_event_type type, const json_t *object);

typedef struct mc_kube_watch_options {
    const char *resource_version; /* start after this version (NULL: synthetic ADDED first) */
    const char *label_selector;   /* or NULL */
    const char *field_selector;   /* or NULL */
    int bookmarks;                /* allowWatchBookmarks */
    int timeout_seconds;          /* server-side timeout per connection (0: 300) */
    int low_speed_seconds;        /* a stream under 1 byte/s this long is dead: reconnect
                                     (0: 130 with bookmarks, else timeout_seconds + 30;
                                     tests set a few seconds) */
} mc_kube_watch_options;

/* Starts the I/O thread. */
int mc_kube_watcher_new(mc_kube_watcher **out, mc_err *err);

/* Stops every watch and the thread, and frees the watches not yet stopped
 * (do not call mc_kube_watch_stop on them afterwards). Accepts NULL. */
void mc_kube_watcher_free(mc_kube_watcher *watcher);

/* Starts a watch (connects asynchronously). client must outlive it. */
int mc_kube_watch_start(mc_kube_watcher *watcher, mc_kube_client *client,
                        const mc_kube_resource *res, const char *ns,
                        const mc_kube_watch_options *options, mc_kube_event_fn fn, void *ctx,
                        mc_kube_watch **out, mc_err *err);

/* Stops and frees a watch (also one that ended with EXPIRED or FAILED);
 * after it returns fn is never called again for it. Must not be called
 * from its own fn; from another watch's fn (the I/O thread) it takes effect
 * at once and the stream is freed by the loop. Accepts NULL. */
void mc_kube_watch_stop(mc_kube_watch *watch);

/* Totals over every watch the watcher ran (metrics): reconnects after a
 * stream ended or broke, watches ended by 410 Expired (their owners
 * relist), and by a permanent failure. */
void mc_kube_watcher_restarts(mc_kube_watcher *watcher, unsigned long *reconnects,
                              unsigned long *expired, unsigned long *failed);

/* Number of reconnects so far (tests). */
unsigned mc_kube_watch_reconnects(const mc_kube_watch *watch);

#endif
