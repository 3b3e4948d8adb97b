/* internal.h - what client.c shares with watch.c inside kube/ (not an API
 * for other layers): URL building, preparing a curl easy handle with the
 * client's TLS settings and credentials, and turning a failed reply into an
 * mc_err.
 */
#ifndef MC_KUBE_INTERNAL_H
#define MC_KUBE_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#include "kube/client.h"
#include "util/err.h"

/* One query parameter; value NULL: left out. */
typedef struct mc_kube_query {
    const char *key;
    const char *value;
} mc_kube_query;

/* Builds the URL of res (ns and name percent-encoded; name and sub may be
 * NULL) with the query (n pairs) into *out (caller frees). MC_EINVAL for an
 * empty name or namespace where one is needed. */
int mc_kube_url(const mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                const char *name, const char *sub, const mc_kube_query *query, size_t n, char **out,
                mc_err *err);

/* Sets easy's TLS options, credentials (bearer token header or client
 * certificate, through the exec plugin when configured; refresh: run it
 * again / re-read the token file even if cached), user agent and Accept
 * header; *headers receives the list to free after the transfer (extra
 * headers may be appended to it before calling; *headers may be NULL).
 * watch: no connection sharing with the verbs (the watch multi handle keeps
 * its own connections), TLS sessions and DNS still shared. MC_EAUTH when the
 * credential cannot be obtained. */
int mc_kube_prepare(mc_kube_client *client, CURL *easy, int watch, int refresh,
                    struct curl_slist **headers, mc_err *err);

/* 1 when a 401 may be cured by refreshing the credential (exec plugin or
 * token file). */
int mc_kube_can_refresh(const mc_kube_client *client);

/* Fills err for a failed reply: the code mapped from the HTTP status and the
 * Status body (body may be NULL or not JSON), the message naming what
 * (e.g. "get secrets default/x") and the context. Returns the code. */
int mc_kube_http_error(const mc_kube_client *client, long http, const char *body, size_t len,
                       const char *what, mc_err *err);

/* Jittered exponential backoff: a delay in [d/2, d] with d = base_ms *
 * 2^attempt capped at max_ms. Thread-safe. */
long mc_kube_backoff_ms(unsigned attempt, long base_ms, long max_ms);

#endif
