/* state.h - what the files of the `meshcert issuer` process share: its
 * state (struct mc_issuer, a registered cluster, a cached signer) and the
 * functions one file calls in another. issuer.c creates, starts and stops;
 * clusters.c keeps the registry of clusters; signers.c the signer cache;
 * root.c generates the root; requests.c answers CertificateRequests;
 * metrics.c reports. Not part of the issuer's API (issuer.h), nor of what
 * the rotation controller sees (internal.h).
 */
#ifndef MC_ISSUER_STATE_H
#define MC_ISSUER_STATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "api/certificate_metrics.h"
#include "api/core.h"
#include "api/registration.h"
#include "issuer/internal.h"
#include "issuer/issuer.h"
#include "issuer/rotation_controller.h"
#include "kube/client.h"
#include "kube/watch.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "runtime/controller.h"
#include "runtime/events.h"
#include "runtime/informer.h"
#include "runtime/leader.h"
#include "runtime/metrics.h"
#include "util/err.h"

#define KEY_MAX 800 /* "<cluster>/<ns>/<name>" and "ns/name" keys */

/* One registered cluster. */
typedef struct issuer_cluster {
    struct mc_issuer *issuer;          /* immutable */
    char *name;                        /* immutable: the Secret's data key */
    char *owner;                       /* immutable: "ns/name" of the registration Secret */
    char *kubeconfig;                  /* immutable, wiped on free: notices a changed Secret */
    size_t kubeconfig_len;             /* immutable */
    char *policy_text;                 /* immutable: the policy annotation as read, or NULL */
    mc_api_registration_policy policy; /* immutable: decoded from policy_text */
    int has_policy;                    /* immutable: policy is usable */
    char policy_error[256];            /* immutable: why it is not */
    mc_kube_client *client;            /* immutable; outlives the informers */
    mc_informer *requests;             /* immutable */
    mc_informer *issued;               /* immutable */
    mc_event_recorder *events;   /* immutable: Events on the cluster's requests, through client */
    int refs;                    /* issuer->clusters_lock */
    struct issuer_cluster *next; /* issuer->clusters_lock */
} issuer_cluster;

/* A signing root as read from one version of its Secret. */
typedef struct signer_entry {
    char *secret;               /* immutable: "ns/name" */
    char *resource_version;     /* immutable */
    mc_pki_signer *signer;      /* immutable, NULL when the Secret is unusable */
    int borrowed;               /* immutable: signer is options->root_signer, not freed */
    char *root_pem;             /* immutable */
    int64_t root_not_after;     /* immutable: the root's notAfter (Unix s), 0 unknown */
    char error[MC_ERR_MSG_MAX]; /* immutable: why signer is NULL */
    int refs;                   /* issuer->signers_lock */
    int cached;                 /* in issuer->signers (signers_lock) */
    struct signer_entry *next;  /* issuer->signers_lock */
} signer_entry;

/* The issuer's metric families (docs/metrics.md); all NULL without a
 * registry. Immutable pointers; the registry locks the values. */
typedef struct issuer_metrics {
    mc_metrics *registry;
    mc_metric *signed_total;  /* {cluster} */
    mc_metric *refused_total; /* {cluster, reason} */
    mc_metric *csr_refusals;  /* {cluster, reason} */
    mc_metric *latency;       /* {cluster}: request created -> signed */
    mc_metric *leader;        /* 1 leading, 0 standby */
    mc_metric *clusters;      /* registered clusters watched */
    mc_metric *root_expiry;   /* {secret}: roots read for signing */
    mc_api_certificate_metrics certificates;
    mc_runtime_metrics runtime;
} issuer_metrics;

struct mc_issuer {
    char *namespace;                   /* immutable */
    char *identity;                    /* immutable */
    int generate_root;                 /* immutable */
    char *root_secret;                 /* immutable: "ns/name", the only root generated */
    int allow_another_root;            /* immutable */
    mc_key_type root_key_type;         /* immutable */
    signer_entry *external_root;       /* immutable: root_secret's entry with options->root_signer
                                          (refs under signers_lock), or NULL */
    int64_t ttl_seconds;               /* immutable */
    int64_t max_duration_seconds;      /* immutable */
    mc_kube_config *config;            /* immutable */
    mc_kube_client *client;            /* the management cluster; thread-safe */
    mc_kube_watcher *watcher;          /* every watch of the process */
    mc_informer_runner *informers;     /* list workers of every informer */
    mc_event_broadcaster *events;      /* immutable: the one Event writer, every cluster's */
    mc_informer *registrations;        /* Secrets in namespace */
    mc_controller *cluster_controller; /* one worker: registrations */
    mc_controller *request_controller; /* N workers: "<cluster>/<ns>/<name>" */
    mc_rotation_controller *rotations; /* RootRotations (rotation_controller.h) */
    /* immutable: called when an object of a cluster's caches changes
     * (issuer.c: pokes rotations, whose steps complete through them); a
     * callback, so that clusters.c, which the rotation controller calls,
     * calls nothing back */
    void (*objects_changed)(void *ctx);
    void *objects_changed_ctx;
    mc_leader *leader;
    atomic_int leading;            /* set by the election callbacks */
    pthread_mutex_t clusters_lock; /* guards clusters and every refs/next of them */
    issuer_cluster *clusters;
    pthread_mutex_t signers_lock; /* guards signers and signer_entry refs/next/cached */
    signer_entry *signers;
    int started;            /* caller's thread only */
    int stopped;            /* caller's thread only */
    issuer_metrics metrics; /* immutable after new */

    /* immutable: options->root_keys, the keys root Secrets name by key-ref */
    mc_issuer_root_key root_keys[MC_ISSUER_ROOT_KEYS_MAX];
    size_t root_keys_len;
};

/* snprintf for messages that may be cut (names are bounded by the API
 * server, the buffers by status.error's usefulness). Inline here, below
 * every file of issuer/ that formats a message. */
static inline __attribute__((format(printf, 3, 4))) void format_message(char *out, size_t size,
                                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* ---- clusters.c: the registry of clusters ------------------------------ */

/* Frees a cluster nobody else references (informers first). */
void cluster_free(issuer_cluster *cluster);

/* The cluster named name with a reference taken, or NULL. */
issuer_cluster *cluster_get(mc_issuer *issuer, const char *name);

/* Drops a reference; the last one frees (stopping the informers). */
void cluster_put(issuer_cluster *cluster);

/* Queues "<cluster>/<ns>/<name>" for obj, an object of cluster's informers
 * (ctx is the cluster); nothing while not leading. */
void queue_object(void *ctx, const json_t *obj);

/* The registration controller's reconcile (ctx is the issuer): starts and
 * stops the clusters of registration Secret key "ns/name". */
int reconcile_registration(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err);

/* ---- signers.c: signers cached per root Secret resourceVersion --------- */

/* Frees an entry (its signer unless borrowed); NULL is fine. */
void signer_entry_free(signer_entry *entry);

/* Drops a reference to entry (NULL is fine); the last one frees it. */
void signer_put(mc_issuer *issuer, signer_entry *entry);

/* The signer and signingRootCa for requests whose IssuedCertificate names
 * root_key, following a RootRotation in a signing phase (*bundle, caller
 * frees; NULL when not rotating). *signer: release with signer_put. */
int signing_acquire(mc_issuer *issuer, const char *root_key, signer_entry **signer, char **bundle,
                    mc_err *err);

/* The entry of the root whose key is outside the API (--root-key). */
int external_root_new(const char *secret_key, mc_pki_signer *signer, signer_entry **out,
                      mc_err *err);

/* ---- root.c: generating the issuer's own root --------------------------- */

/* Generates root Secret ns/name (the issuer's --root-secret, missing) into
 * *obj, unless the namespace already holds another root and that is not
 * allowed (MC_EEXISTS, logged). */
int root_generate(mc_issuer *issuer, const char *ns, const char *name, json_t **obj, mc_err *err);

/* ---- requests.c: answering CertificateRequests -------------------------- */

/* The request controller's reconcile (ctx is the issuer), key
 * "<cluster>/<ns>/<name>". */
int reconcile_request(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err);

/* ---- metrics.c ---------------------------------------------------------- */

/* Registers the issuer's metric families and collector (nothing without a
 * registry). */
int metrics_register(mc_issuer *issuer, mc_metrics *registry, mc_err *err);

/* The collector registered by metrics_register (ctx is the issuer). */
void collect_metrics(void *ctx);

#endif
