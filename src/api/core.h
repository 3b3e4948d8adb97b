/* core.h - the built-in Kubernetes kinds meshcert reads or writes: Secret,
 * Pod and Event (core/v1; Events are only written), and builders for the
 * ServiceAccount token Secret and the Lease (written, never decoded).
 *
 * Only the fields meshcert reasons about are modelled; everything else
 * (a Pod's spec, a Secret's managedFields, ...) stays in raw and is written
 * back unchanged (codec.h). Decode takes a new reference to the JSON; encode
 * returns a new object; free accepts NULL.
 */
#ifndef MC_API_CORE_H
#define MC_API_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/maps.h"
#include "api/meta.h"
#include "util/err.h"

#define MC_API_SECRET_TYPE_OPAQUE "Opaque"
#define MC_API_SECRET_TYPE_TLS "kubernetes.io/tls"
#define MC_API_SECRET_TYPE_PRIVATE_KEY "certificates.smh.solo.io/generated_private_key"
#define MC_API_SECRET_TYPE_ISSUED "certificates.smh.solo.io/issued_certificate"
#define MC_API_SECRET_TYPE_SIGNING "certificates.smh.solo.io/generated_signing_cert"
#define MC_API_SECRET_TYPE_KUBECONFIG "solo.io/kubeconfig"
#define MC_API_SECRET_TYPE_SA_TOKEN "kubernetes.io/service-account-token"

typedef struct mc_api_secret {
    json_t *raw;
    mc_api_object_meta metadata;
    char *type;                  /* owned; NULL means Opaque */
    mc_api_bytes_map data;       /* decoded bytes (wiped on free) */
    mc_api_str_map string_data;  /* write-only in the API: the server merges it into data */
    bool immutable;
} mc_api_secret;

typedef struct mc_api_pod {
    json_t *raw;
    mc_api_object_meta metadata;
    char *phase;      /* owned: Pending, Running, Succeeded, Failed, Unknown */
    bool ready;       /* the Ready condition is "True" */
    bool ready_known; /* a Ready condition is present */
} mc_api_pod;

/* Secret. decode: MC_EINVAL naming the object and key when data is not base64. */
mc_api_secret *mc_api_secret_new(const char *namespace, const char *name, const char *type);
int mc_api_secret_decode(json_t *json, mc_api_secret **out, mc_err *err);
int mc_api_secret_encode(const mc_api_secret *secret, json_t **out, mc_err *err);
void mc_api_secret_free(mc_api_secret *secret);
/* Moves stringData into data (what the API server does on write). MC_ENOMEM. */
int mc_api_secret_merge_string_data(mc_api_secret *secret);
/* Metadata, a valid type, valid data keys (also in stringData), data at most
 * 1 MiB in total (MC_ELIMIT). */
int mc_api_secret_validate(const mc_api_secret *secret, mc_err *err);

/* Decodes data[key] of a Secret (JSON as from the API server) into a new
 * NUL-terminated string (*out, caller frees; wipe it when it is a key or a
 * kubeconfig) and its length (*len, may be NULL); MC_ENOTFOUND when absent,
 * MC_EINVAL for bad base64 (both naming the key). */
int mc_api_secret_value(const json_t *secret, const char *key, char **out, size_t *len,
                        mc_err *err);

typedef struct mc_api_event {
    json_t *raw;
    mc_api_object_meta metadata;
    struct {
        char *api_version, *kind, *namespace, *name, *uid, *resource_version, *field_path;
    } involved_object;    /* all owned */
    char *reason;         /* owned, CamelCase machine reason */
    char *message;        /* owned */
    char *type;           /* owned: Normal or Warning */
    int64_t count;
    char *first_timestamp; /* owned, RFC 3339 */
    char *last_timestamp;  /* owned, RFC 3339 */
    char *event_time;      /* owned, RFC 3339 MicroTime */
    char *source_component;   /* owned, source.component */
    char *source_host;        /* owned, source.host */
    char *reporting_component; /* owned */
    char *reporting_instance;  /* owned */
    char *action;              /* owned */
} mc_api_event;

/* Pod (decode only: meshcert reads pods and deletes them, never writes one). */
int mc_api_pod_decode(json_t *json, mc_api_pod **out, mc_err *err);
void mc_api_pod_free(mc_api_pod *pod);

/* Event (core/v1), as runtime/events.c writes it (encode only). */
mc_api_event *mc_api_event_new(const char *namespace, const char *name);
int mc_api_event_encode(const mc_api_event *event, json_t **out, mc_err *err);
void mc_api_event_free(mc_api_event *event);

/* The merge patch that records an Event once more: count, lastTimestamp
 * (RFC 3339) and message. New reference, NULL when out of memory. */
json_t *mc_api_event_repeat_patch(int64_t count, const char *last_timestamp, const char *message);

/* A Secret of type kubernetes.io/service-account-token in namespace for
 * ServiceAccount service_account: kube's token controller fills its data.token.
 * New reference, NULL when out of memory. */
json_t *mc_api_service_account_token_secret_new(const char *namespace, const char *name,
                                                const char *service_account);

/* A Lease (coordination.k8s.io/v1) held by holder since acquire_time
 * (RFC 3339 MicroTime), renewed at renew_time, for duration_seconds, after
 * transitions changes of holder. New reference, NULL when out of memory. */
json_t *mc_api_lease_new(const char *namespace, const char *name, const char *holder,
                         int64_t duration_seconds, const char *acquire_time,
                         const char *renew_time, int64_t transitions);

#endif
