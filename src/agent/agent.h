/* agent.h - the `meshcert agent` process: informers on IssuedCertificates,
 * CertificateRequests, PodBounceDirectives, and Secrets and Pods of the
 * watched namespaces (its own and watch_namespaces) of one managed
 * cluster, and a controller whose workers turn each IssuedCertificate's
 * cached objects into an mc_agent_observation, ask mc_agent_decide for the
 * next action and execute it with kube/ verbs (decide.h says which).
 * Key generation runs on the worker threads, never on the watch I/O thread.
 * Progress lives only in the cluster: a restarted agent converges the same.
 */
#ifndef MC_AGENT_AGENT_H
#define MC_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "kube/config.h"
#include "kube/watch.h"
#include "runtime/events.h"
#include "runtime/informer.h"
#include "pki/bundle.h"
#include "pki/key.h"
#include "util/err.h"
#include "util/metrics.h"

typedef struct mc_agent mc_agent;

typedef struct mc_agent_options {
    const mc_kube_config *config;   /* where the cluster is (copied by the client) */
    const char *namespace;          /* IssuedCertificates' namespace and the agent label's
                                       value (NULL: the configuration's namespace) */
    const char *watch_namespaces;   /* comma-separated namespaces whose Secrets and Pods the
                                       agent watches besides its own (output Secrets, pods
                                       to bounce); NULL: "istio-system". An IssuedCertificate
                                       writing or bouncing elsewhere is FAILED. */
    mc_key_type key_type;           /* keys generated for the intermediates */
    mc_bundle_format output_format; /* Istio or TLS layout of the output Secret */
    int adopt_existing;             /* --adopt-existing-secret */
    int workers;                    /* reconcile threads (0: 4) */
    mc_metrics *metrics;            /* where the agent's metrics go (docs/metrics.md), or NULL;
                                       must outlive the agent */
    const char *cluster_name;       /* the cluster label of its metrics (NULL: "") */
    mc_kube_watcher *watcher;       /* a watch I/O thread and an informer runner made on it,
                                       shared with other agents of the process (both must */
    mc_informer_runner *runner;     /* outlive the agent), or NULL: the agent starts its own
                                       (bench/scale_agents.c shares one of each) */
    mc_event_broadcaster *broadcaster; /* the process's Event writer (one thread), shared
                                          with other agents (must outlive the agent), or
                                          NULL: the agent makes its own. Each agent still
                                          records through its own client, as its cluster. */
} mc_agent_options;

/* Builds the client, the watch I/O thread and informer runner (unless
 * shared), the informers and the controller (nothing runs yet). *out freed
 * with mc_agent_free. MC_ENOMEM, kube/ codes, MC_EINVAL for a
 * watch_namespaces entry that is no namespace name (or more than 32). */
int mc_agent_new(const mc_agent_options *options, mc_agent **out, mc_err *err);

/* Starts the informers (returns at once). */
int mc_agent_start(mc_agent *agent, mc_err *err);

/* Waits up to timeout_ms for every informer's first list; once all are
 * synced the workers start (so that no decision is taken from a partial
 * cache). MC_OK when running, MC_EUNAVAILABLE when not synced yet (call
 * again). */
int mc_agent_wait_synced(mc_agent *agent, int64_t timeout_ms, mc_err *err);

/* Readiness (/readyz): 1 once every informer's first list is cached; reason
 * gets "caches synced" or the resources not synced yet. Thread-safe; call
 * between mc_agent_start and mc_agent_free. */
int mc_agent_ready(mc_agent *agent, char *reason, size_t reason_size);

/* Stops the workers (letting a running reconcile finish), the informers and
 * the watch thread, and frees everything. Accepts NULL. */
void mc_agent_free(mc_agent *agent);

#endif
