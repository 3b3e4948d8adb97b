/* issuer.h - the `meshcert issuer` process: answers CertificateRequests on
 * every registered cluster with certificates signed by roots that stay in
 * the management cluster.
 *
 * Registered clusters are Secrets of type solo.io/kubeconfig in the issuer's
 * namespace (one data key per cluster, named after it); an informer on them
 * starts and stops per-cluster CertificateRequest and IssuedCertificate
 * informers while running. A controller reconciles "<cluster>/<ns>/<name>"
 * with mc_issuer_decide (decide.h) and writes the request's status; leader
 * election on the Lease "meshcert-issuer" gates reconciling.
 */
#ifndef MC_ISSUER_ISSUER_H
#define MC_ISSUER_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "kube/config.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "util/err.h"
#include "util/metrics.h"

#define MC_ISSUER_DEFAULT_ROOT_NAME "root-ca"

#define MC_ISSUER_ROOT_KEYS_MAX 8

typedef struct mc_issuer mc_issuer;

/* A root key outside the Kubernetes API, for the root Secrets whose key-ref
 * (issuer/root_secret.h) is ref: either an in-memory key (a mounted file)
 * or a back end (a PKCS#11 token). Everything borrowed; outlives the issuer;
 * the back end must be thread-safe. */
typedef struct mc_issuer_root_key {
    const char *ref;                   /* the name key-ref uses: the URI or the path */
    const mc_pki_key *key;             /* a key file's key, or NULL */
    const mc_pki_key_backend *backend; /* or the token's back end */
} mc_issuer_root_key;

typedef struct mc_issuer_options {
    const mc_kube_config *management; /* the management cluster (copied); required */
    const char *namespace;            /* registered clusters, the Lease, generated roots (NULL: the
                                         config's namespace) */
    int generate_root;                /* create root_secret when it is missing (and no other
                                         root is in its namespace) */
    const char *root_secret;          /* "ns/name" of the one root generate_root may create
                                         (NULL: "<namespace>/root-ca") */
    int allow_another_root;           /* generate root_secret even when its namespace already
                                         holds another root */
    mc_key_type root_key_type;        /* of generated roots (MC_KEY_RSA4096 as the original) */
    mc_pki_signer *root_signer;       /* signs for root_secret instead of its Secret, which is
                                         then not read (--root-key: a PEM file or a PKCS#11
                                         token); borrowed, outlives the issuer; must be
                                         thread-safe. NULL: the Secret's key. Not with
                                         generate_root */
    const mc_issuer_root_key *root_keys; /* keys root Secrets may name by key-ref (borrowed) */
    size_t root_keys_len;                /* at most MC_ISSUER_ROOT_KEYS_MAX */
    int workers;                         /* reconcile threads (0: 4) */
    int64_t ttl_seconds;                 /* of issued certificates without spec.duration
                                            (0: 365 days) */
    int64_t max_duration_seconds;        /* the most any certificate gets, spec.duration
                                            included (0: 17520h, MC_ISSUER_DEFAULT_MAX_DURATION) */
    const char *identity;                /* leader identity (NULL: "<hostname>-<pid>") */
    int64_t lease_ms;                    /* leader election timings (0: client-go's defaults) */
    int64_t renew_deadline_ms;
    int64_t retry_ms;
    /* where the issuer's metrics go (docs/metrics.md), or NULL; outlives the issuer */
    mc_metrics *metrics;
} mc_issuer_options;

/* Builds an issuer (nothing runs yet). *out freed with mc_issuer_free.
 * MC_EINVAL for bad options; kube/ and runtime/ errors otherwise. */
int mc_issuer_new(const mc_issuer_options *options, mc_issuer **out, mc_err *err);

/* Starts the informers, the controllers and the leader election; returns at
 * once. */
int mc_issuer_start(mc_issuer *issuer, mc_err *err);

/* Stops everything (releasing the Lease when leading); idempotent. */
void mc_issuer_stop(mc_issuer *issuer);

/* Frees (stopping first). Accepts NULL. */
void mc_issuer_free(mc_issuer *issuer);

/* Readiness (/readyz): 1 once the management cluster's caches (registrations,
 * RootRotations) are synced, whether leading or standing by; 0 before. reason
 * gets "leading", "standby (another replica leads)" or what is not synced,
 * and the registered clusters whose caches are not synced yet (which do not
 * make the issuer unready: one unreachable cluster must not stall a rollout
 * while the others are served). Thread-safe; call between mc_issuer_start
 * and mc_issuer_free. */
int mc_issuer_ready(mc_issuer *issuer, char *reason, size_t reason_size);

/* Number of registered clusters currently watched (tests, logs). */
int mc_issuer_cluster_count(mc_issuer *issuer);

#endif
