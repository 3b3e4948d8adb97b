/* server_client.h - test helper: the client side the e2e server tests share
 * on top of server_process.h: a cmocka group's setup and teardown (server
 * started, a CRD created), requests on one cluster with its admin token that
 * fail the test when unanswered or answered with the wrong status, the
 * Status-body check, watches read with libcurl's multi interface, and
 * /healthz. Failures are reported with cmocka's fail_msg and assertions.
 */
#ifndef MC_TEST_SERVER_CLIENT_H
#define MC_TEST_SERVER_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#include "server_process.h"

/* A cmocka group setup: curl_global_init, then starts sp (zeroed first) with
 * args; when crd_json is not NULL, creates that CRD on cluster crd_cluster
 * with its token and wants 201. Returns 0, or -1 (the server is stopped when
 * it did not start). */
int server_client_setup(server_process *sp, const char *const *args, const char *crd_cluster,
                        const char *crd_json);

/* A cmocka group teardown: stops sp (server_process_stop's result: fails on
 * leaks under ASan) and calls curl_global_cleanup. */
int server_client_teardown(server_process *sp);

/* A request on /clusters/<cluster><path> with that cluster's token; fails
 * the test ("METHOD /clusters/<cluster><path>: no answer") when the exchange
 * did not happen. Returns the HTTP status; *r is the caller's to free with
 * http_reply_free. */
long server_client_call(const server_process *sp, const char *cluster, const char *method,
                        const char *path, const char *body, const char *type, http_reply *r);

/* server_client_call, and fails the test ("METHOD path: HTTP got, want want:
 * body") when the status is not want. *r is the caller's to free. */
long server_client_call_expect(const server_process *sp, const char *cluster, const char *method,
                               const char *path, const char *body, const char *type, long want,
                               http_reply *r);

/* Fails the test unless r is a Status body with this reason ("METHOD path:
 * reason have, want reason", then kind "Status" asserted). Frees nothing. */
void server_client_assert_status(const http_reply *r, const char *method, const char *path,
                                 const char *reason);

/* Asserts that GET /healthz (no token) is answered with 200. */
void server_client_assert_alive(const server_process *sp);

/* metadata.resourceVersion of obj, or NULL; borrowed from obj. */
const char *server_client_rv(const json_t *obj);

/* Sleeps ms milliseconds. */
void server_client_sleep_ms(long ms);

/* A watch stream read with libcurl's multi interface; every field owned and
 * released by server_watch_stop. */
typedef struct server_watch {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *data; /* the stream so far, NUL-terminated, or NULL */
    size_t len;
    int done; /* the stream ended */
} server_watch;

/* Opens GET /clusters/<cluster><path> with that cluster's token; reads
 * nothing yet. Undo with server_watch_stop. */
void server_watch_start(server_watch *w, const server_process *sp, const char *cluster,
                        const char *path);

/* Pumps until the stream holds needle (or ends: done set, or ms pass); 1 when
 * found. */
int server_watch_until(server_watch *w, const char *needle, long ms);

/* Closes the stream and frees what server_watch_start and the reads made. */
void server_watch_stop(server_watch *w);

/* Counts the events in the NDJSON stream read so far. */
int server_watch_event_count(const server_watch *w);

#endif
