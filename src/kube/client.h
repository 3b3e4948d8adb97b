/* client.h - REST verbs against one Kubernetes API server, generic over
 * group/version/resource, objects as jansson values.
 *
 * Thread-safe: worker threads call the verbs concurrently; connections are
 * reused (libcurl share handle). Each verb blocks its caller; retries with
 * jittered exponential backoff on 429, 5xx and connection errors (honouring
 * Retry-After), client-side QPS/burst limits, per-request timeouts; TLS
 * verification always on unless the kubeconfig opts out. A failure fills
 * mc_err with a code from the Status (404 MC_ENOTFOUND, 409 Conflict
 * MC_ECONFLICT, 409 AlreadyExists MC_EEXISTS, 410 MC_EEXPIRED, 401/403
 * MC_EAUTH, 400/422 MC_EINVAL, 429/5xx/transport after retries
 * MC_EUNAVAILABLE) and a message with the verb, the object and the Status
 * message; mc_kube_error_http reads the HTTP code. A transport failure names
 * the server URL and what to check (connection refused, no reply within
 * the timeout, a server certificate that does not verify against the CA the
 * kubeconfig names). The client never prints;
 * tokens never appear in messages.
 */
#ifndef MC_KUBE_CLIENT_H
#define MC_KUBE_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "api/resource.h"
#include "kube/config.h"
#include "util/err.h"

typedef struct mc_kube_client mc_kube_client;

/* What a path is built from. The resources meshcert knows come from api/'s
 * table through mc_kube_resource_of; a caller spells one out only for a
 * resource outside it (a test's own CRD). */
typedef struct mc_kube_resource {
    const char *group;   /* "" for core */
    const char *version; /* "v1" */
    const char *plural;  /* "secrets" */
    int namespaced;
} mc_kube_resource;

/* Resource id of api/resource.h as the verbs and watches address it
 * (static storage, valid for the process's life; thread-safe). */
const mc_kube_resource *mc_kube_resource_of(mc_api_resource_id id);

typedef struct mc_kube_client_options {
    double qps;             /* sustained requests per second (0: 50) */
    int burst;              /* bucket size (0: 100) */
    int timeout_ms;         /* per attempt (0: 30 000; negative: none) */
    int deadline_ms;        /* per call, every retry included (0: none): a call
                               fails with MC_EUNAVAILABLE once it is spent */
    int max_retries;        /* on 429/5xx/connection errors (0: 5; -1: none) */
    const char *user_agent; /* (NULL: "meshcert/<version>") */
    int idle_connections;   /* idle connections kept for the next calls (0: up
                               to 4; -1: none, each call connects and resumes
                               the TLS session): a kept one holds ~40 KiB of
                               TLS and curl state; watches keep their own */
} mc_kube_client_options;

/* A client for config (copied). options may be NULL (defaults). */
int mc_kube_client_new(const mc_kube_config *config, const mc_kube_client_options *options,
                       mc_kube_client **out, mc_err *err);

/* The options the client was made with, defaults filled in (valid while
 * the client lives), e.g. to make a client for another cluster alike. */
const mc_kube_client_options *mc_kube_client_options_of(const mc_kube_client *client);

/* Frees the client. Accepts NULL. Not while calls are in flight. */
void mc_kube_client_free(mc_kube_client *client);

/* The configuration's default namespace. */
const char *mc_kube_client_namespace(const mc_kube_client *client);

/* The HTTP status of the failure err describes (0 when it was not HTTP). */
int mc_kube_error_http(const mc_err *err);

typedef struct mc_kube_list_options {
    const char *label_selector; /* or NULL */
    const char *field_selector; /* or NULL */
    long limit;                 /* 0: no limit */
    const char *continue_token; /* or NULL */
    int deadline_ms;            /* this call, retries included (0: the client's
                                   deadline_ms); the shorter of the two wins */
} mc_kube_list_options;

/* Verbs. ns is ignored for cluster-scoped resources. *out (when the verb has
 * one) is a new reference owned by the caller. */
int mc_kube_get(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                const char *name, json_t **out, mc_err *err);
int mc_kube_list(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                 const mc_kube_list_options *options, json_t **out, mc_err *err);
int mc_kube_create(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const json_t *obj, json_t **out, mc_err *err);
/* PUT of obj (its metadata.name and resourceVersion are used). */
int mc_kube_update(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const json_t *obj, json_t **out, mc_err *err);
/* PUT to the status subresource. */
int mc_kube_update_status(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                          const json_t *obj, json_t **out, mc_err *err);

typedef enum {
    MC_KUBE_PATCH_MERGE = 0, /* application/merge-patch+json */
    MC_KUBE_PATCH_JSON = 1,  /* application/json-patch+json */
} mc_kube_patch_type;

int mc_kube_patch(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                  const char *name, mc_kube_patch_type type, const json_t *patch,
                  int status_subresource, json_t **out, mc_err *err);
/* DELETE; options (DeleteOptions JSON) may be NULL. 404 is MC_ENOTFOUND. */
int mc_kube_delete(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const char *name, const json_t *options, mc_err *err);

#endif
