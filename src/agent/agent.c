/* agent.c - the agent's I/O wrapper around mc_agent_decide (decide.h).
 *
 * Informers keep caches of the cluster's IssuedCertificates, their requests,
 * key and output Secrets, PodBounceDirectives and Pods; every event maps to
 * the keys ("ns/name") of the IssuedCertificates it concerns; an
 * IssuedCertificate added, deleted or given a new spec also queues its peers
 * (those naming one of its objects: one owner per object, decide.h). A
 * worker builds the observation from the caches (with the agent's
 * mc_agent_cache of keys and output checks of earlier reconciles, cache.h),
 * executes the one action decided, waits
 * until its own write is visible in the cache (so the next decision does not
 * repeat it) and reconciles again at once; FAILED issuances back off, and
 * the echoes of their own writes (status, CertificateRequests) and the
 * issuer's refusals do not cut that backoff short (docs/workflow.md).
 * Secrets and Pods are watched only in the agent's own namespace and those
 * of --watch-namespaces (one informer each), so that its RBAC can be Roles
 * in exactly those namespaces.
 */
#include "agent/agent.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/decide.h"
#include "api/certificate_metrics.h"
#include "api/certificate_request.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "api/time.h"
#include "api/validate.h"
#include "runtime/object.h"
#include "util/buf.h"
#include "kube/client.h"
#include "kube/watch.h"
#include "runtime/controller.h"
#include "runtime/events.h"
#include "runtime/informer.h"
#include "runtime/metrics.h"
#include "util/log.h"
#include "util/str.h"

#define LOG_COMPONENT "agent"
/* How long a worker waits for the watch to bring back its own write. */
#define CACHE_WAIT_MS 5000
/* The immediate requeue after an executed action. */
#define REQUEUE_NOW_MS 1
/* Retry after a lost write race (the cache catches up meanwhile). */
#define REQUEUE_CONFLICT_MS 100
#define KEY_MAX             512
/* The longest sleep before a renewal time: a later one is looked at again
 * (a clock step, a suspended machine). */
#define RENEWAL_CHECK_MAX_S 3600
/* --watch-namespaces unset: where Istio reads its plug-in CA Secret cacerts. */
#define WATCH_NAMESPACES_DEFAULT "istio-system"
/* The most namespaces one agent watches (two informers each). */
#define WATCH_NAMESPACES_MAX 32
/* The agent's informers: three of its own kinds, Secrets and Pods per namespace. */
#define INFORMERS_MAX (3 + 2 * (WATCH_NAMESPACES_MAX + 1))
/* The longest pause between two retries of a failing IssuedCertificate. */
#define RETRY_MAX_MS (5 * 60 * 1000)

/* The agent's metric families (docs/metrics.md); all NULL without a
 * registry. Immutable pointers; the registry locks the values. */
typedef struct agent_metrics {
    mc_metrics *registry;
    char *cluster;        /* the cluster label value */
    mc_metric *completed; /* issuances that reached FINISHED */
    mc_metric *failed;    /* {reason}: transitions to FAILED */
    mc_metric *latency;   /* request created -> output Secret written */
    mc_api_certificate_metrics certificates;
    mc_runtime_metrics runtime;
} agent_metrics;

struct mc_agent {
    char *namespace;                /* agent namespace and label value (immutable) */
    mc_key_type key_type;           /* immutable */
    mc_bundle_format output_format; /* immutable */
    int adopt_existing;             /* immutable */
    int workers_started;            /* main thread only */
    mc_kube_client *client;         /* thread-safe */
    mc_kube_watcher *watcher;       /* the watch I/O thread */
    mc_informer_runner *informers;  /* list workers of the informers */
    int owns_io;                    /* 0: watcher and runner shared with other agents */
    mc_controller *controller;      /* queue + workers */
    mc_informer *issued;            /* IssuedCertificates in namespace */
    mc_informer *requests;          /* CertificateRequests in namespace */
    mc_informer *directives;        /* PodBounceDirectives, all namespaces */
    /* The namespaces whose Secrets and Pods are watched, the agent's own
     * first, and one informer of each kind per namespace (immutable). */
    char *watched[WATCH_NAMESPACES_MAX + 1];
    size_t watched_count;
    mc_informer *secrets[WATCH_NAMESPACES_MAX + 1]; /* Secrets of watched[i] */
    mc_informer *pods[WATCH_NAMESPACES_MAX + 1];    /* Pods of watched[i] */
    /* Every informer, in start order, and the resource it caches (readiness). */
    mc_informer *all[INFORMERS_MAX];
    const char *all_names[INFORMERS_MAX];
    size_t all_count;
    mc_event_broadcaster *broadcaster; /* the process's Event writer (one thread) */
    int owns_broadcaster;              /* 0: shared with other agents (options) */
    mc_event_recorder *events;         /* Events about what the workers do (thread-safe) */
    agent_metrics metrics;             /* immutable after new */
    mc_agent_cache *cache;             /* keys and output verdicts of earlier reconciles
                                          (thread-safe) */
};

/* ---- event mapping (watch I/O thread: must not block) ---- */

typedef enum { MATCH_SECRET, MATCH_DIRECTIVE, MATCH_POD } match_kind;

static const char *json_str(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static int same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* True when the reference spec[field] names ns/name (its namespace defaults
 * to the IssuedCertificate's). */
static int ref_names(const json_t *ic, const char *field, const char *ns, const char *name)
{
    const json_t *ref = json_object_get(json_object_get(ic, "spec"), field);
    const char *ref_name = json_string_value(json_object_get(ref, "name"));
    const char *ref_ns = json_string_value(json_object_get(ref, "namespace"));
    if (!ref_ns || !*ref_ns)
        ref_ns = json_str(ic, "metadata", "namespace");
    return ref_name && ref_ns && name && ns && strcmp(ref_name, name) == 0 &&
           strcmp(ref_ns, ns) == 0;
}

/* Runs key at once with its backoff reset: something the retries did not
 * write changed (a spec, a rotate token, a Secret or directive it names,
 * a signed request), so a FAILED issuance may now go through, and its
 * next steps run at full pace again. */
static void run_now(mc_agent *agent, const char *key)
{
    mc_workqueue *queue = mc_controller_queue(agent->controller);
    mc_workqueue_forget(queue, key);
    mc_workqueue_add(queue, key);
}

/* Queues every cached IssuedCertificate the object concerns. */
static void queue_concerned(mc_agent *agent, match_kind kind, const json_t *obj)
{
    const char *ns = json_str(obj, "metadata", "namespace");
    const char *name = json_str(obj, "metadata", "name");
    json_t **items = NULL;
    size_t n = mc_informer_list(agent->issued, NULL, &items);
    mc_workqueue *queue = mc_controller_queue(agent->controller);
    for (size_t i = 0; i < n; i++) {
        const char *ic_ns = json_str(items[i], "metadata", "namespace");
        const char *ic_name = json_str(items[i], "metadata", "name");
        const char *state = json_str(items[i], "status", "state");
        int hit = 0;
        switch (kind) {
        case MATCH_SECRET:
            hit = (ns && name && ic_ns && ic_name && strcmp(ns, ic_ns) == 0 &&
                   strcmp(name, ic_name) == 0) ||
                  ref_names(items[i], "issuedCertificateSecret", ns, name);
            break;
        case MATCH_DIRECTIVE: hit = ref_names(items[i], "podBounceDirective", ns, name); break;
        case MATCH_POD:
            /* pods matter only while bouncing; entering ISSUED is an event of its own */
            hit = state && strcmp(state, "ISSUED") == 0;
            break;
        }
        char key[KEY_MAX];
        int keyed = hit && mc_object_key_join(ic_ns, ic_name, key, sizeof(key)) == 0;
        if (keyed && kind == MATCH_POD)
            mc_workqueue_add(queue, key); /* pods churn: no backoff reset */
        else if (keyed)
            run_now(agent, key);
        json_decref(items[i]);
    }
    free(items);
}

static void secret_added(void *ctx, const json_t *obj)
{
    queue_concerned(ctx, MATCH_SECRET, obj);
}
/* A deleted Secret's key or verdict is dropped from the cache at once (a
 * changed one is merely never found again: the cache is keyed by version). */
static void secret_deleted(void *ctx, const json_t *obj)
{
    mc_agent *agent = ctx;
    mc_agent_cache_forget(agent->cache, json_str(obj, "metadata", "namespace"),
                          json_str(obj, "metadata", "name"));
    queue_concerned(agent, MATCH_SECRET, obj);
}
static void secret_updated(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    queue_concerned(ctx, MATCH_SECRET, new_obj);
}
static void directive_added(void *ctx, const json_t *obj)
{
    queue_concerned(ctx, MATCH_DIRECTIVE, obj);
}
static void directive_updated(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    queue_concerned(ctx, MATCH_DIRECTIVE, new_obj);
}
static void pod_added(void *ctx, const json_t *obj)
{
    queue_concerned(ctx, MATCH_POD, obj);
}
static void pod_updated(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    queue_concerned(ctx, MATCH_POD, new_obj);
}

/* A CertificateRequest maps to its owning IssuedCertificate, else to the
 * IssuedCertificate of the same name. */
static int request_key(const json_t *obj, char *key, size_t key_size)
{
    const char *ns = json_str(obj, "metadata", "namespace");
    const char *name = json_str(obj, "metadata", "name");
    const json_t *owners = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *owner;
    json_array_foreach(owners, i, owner)
    {
        const char *kind = json_string_value(json_object_get(owner, "kind"));
        const char *owner_name = json_string_value(json_object_get(owner, "name"));
        if (kind && owner_name && strcmp(kind, "IssuedCertificate") == 0) {
            name = owner_name;
            break;
        }
    }
    return mc_object_key_join(ns, name, key, key_size);
}

/* The namespace and name that spec[field] of ic names (the namespace
 * defaults to ic's); 0 when unset. */
static int ref_of(const json_t *ic, const char *field, const char **ns, const char **name)
{
    const json_t *ref = json_object_get(json_object_get(ic, "spec"), field);
    *name = json_string_value(json_object_get(ref, "name"));
    *ns = json_string_value(json_object_get(ref, "namespace"));
    if (!*ns || !**ns)
        *ns = json_str(ic, "metadata", "namespace");
    return *name && *ns;
}

/* Whether IssuedCertificates a and b may claim one object (decide.h's "one
 * owner per object" decides whether they do): one output Secret, one's
 * output being the other's key Secret, or one PodBounceDirective. */
static int may_share(const json_t *a, const json_t *b)
{
    const char *a_ns = json_str(a, "metadata", "namespace"),
               *a_name = json_str(a, "metadata", "name");
    const char *b_ns = json_str(b, "metadata", "namespace"),
               *b_name = json_str(b, "metadata", "name");
    const char *ns, *name;
    if (ref_of(a, "issuedCertificateSecret", &ns, &name) &&
        (ref_names(b, "issuedCertificateSecret", ns, name) ||
         (same_str(ns, b_ns) && same_str(name, b_name))))
        return 1;
    if (ref_names(b, "issuedCertificateSecret", a_ns, a_name))
        return 1;
    return ref_of(a, "podBounceDirective", &ns, &name) &&
           ref_names(b, "podBounceDirective", ns, name);
}

/* Runs ic and every cached IssuedCertificate that may share an object with
 * it now (run_now): a claim that appears, changes or goes away can change
 * who is first. */
static void queue_with_peers(mc_agent *agent, const json_t *ic)
{
    json_t **items = NULL;
    size_t n = mc_informer_list(agent->issued, NULL, &items);
    for (size_t i = 0; i <= n; i++) {
        const json_t *other = i < n ? items[i] : ic;
        const char *ns = json_str(other, "metadata", "namespace");
        const char *name = json_str(other, "metadata", "name");
        char key[KEY_MAX];
        if ((i == n || may_share(ic, other)) && mc_object_key_join(ns, name, key, sizeof(key)) == 0)
            run_now(agent, key);
        if (i < n)
            json_decref(items[i]);
    }
    free(items);
}

static void issued_added(void *ctx, const json_t *obj)
{
    queue_with_peers(ctx, obj);
}

static const char *rotate_token(const json_t *ic)
{
    const json_t *annotations = json_object_get(json_object_get(ic, "metadata"), "annotations");
    return json_string_value(json_object_get(annotations, MC_API_IC_ROTATE_ANNOTATION));
}

/* A status write changes no claim: only the object itself is queued then,
 * and it waits for a FAILED issuance's backoff (the status is the agent's
 * own write) unless the rotate token changed (docs/workflow.md). A claim
 * that changed runs it and its peers at once, backoff reset. */
static void issued_updated(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    const json_t *old_gen = json_object_get(json_object_get(old_obj, "metadata"), "generation");
    const json_t *new_gen = json_object_get(json_object_get(new_obj, "metadata"), "generation");
    int claims_changed =
        !json_equal(old_gen, new_gen) || !json_str(old_obj, "metadata", "deletionTimestamp") !=
                                             !json_str(new_obj, "metadata", "deletionTimestamp");
    if (claims_changed) {
        queue_with_peers(ctx, old_obj);
        queue_with_peers(ctx, new_obj);
        return;
    }
    mc_agent *agent = ctx;
    const char *ns = json_str(new_obj, "metadata", "namespace");
    const char *name = json_str(new_obj, "metadata", "name");
    char key[KEY_MAX];
    if (mc_object_key_join(ns, name, key, sizeof(key)) != 0)
        return;
    if (!same_str(rotate_token(old_obj), rotate_token(new_obj)))
        run_now(agent, key);
    else
        mc_workqueue_add_unless_backing_off(mc_controller_queue(agent->controller), key);
}

/* A CertificateRequest made, deleted or refused is the echo of the agent's
 * own writes or the issuer's refusal: it waits for a FAILED issuance's
 * backoff, so a refused request is made again at the backoff's pace, not
 * at the issuer's. A signed one runs its IssuedCertificate at once. */
static void request_changed(mc_agent *agent, const json_t *request)
{
    char key[KEY_MAX];
    if (request_key(request, key, sizeof(key)) != 0)
        return;
    const char *state = json_str(request, "status", "state");
    if (state && mc_api_cr_state_parse(state) == MC_CR_STATE_FINISHED)
        run_now(agent, key);
    else
        mc_workqueue_add_unless_backing_off(mc_controller_queue(agent->controller), key);
}

static void request_added(void *ctx, const json_t *obj)
{
    request_changed(ctx, obj);
}

static void request_updated(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    request_changed(ctx, new_obj);
}

/* ---- the observation ---- */

typedef struct observed {
    mc_api_issued_certificate *ic;
    mc_api_secret *key_secret;
    mc_api_certificate_request *request;
    mc_api_secret *output;
    mc_api_pod_bounce_directive *directive;
    mc_api_pod **pod_objects; /* decoded pods, owning the strings pods[] borrow */
    mc_agent_pod *pods;
    size_t pod_count;
    mc_api_issued_certificate **peers; /* others that may share an object (may_share) */
    size_t peer_count;
} observed;

static void observed_clear(observed *o)
{
    mc_api_issued_certificate_free(o->ic);
    mc_api_secret_free(o->key_secret);
    mc_api_certificate_request_free(o->request);
    mc_api_secret_free(o->output);
    mc_api_pod_bounce_directive_free(o->directive);
    for (size_t i = 0; i < o->pod_count; i++)
        mc_api_pod_free(o->pod_objects[i]);
    free(o->pod_objects);
    free(o->pods);
    for (size_t i = 0; i < o->peer_count; i++)
        mc_api_issued_certificate_free(o->peers[i]);
    free(o->peers);
    memset(o, 0, sizeof(*o));
}

/* The informer of per-namespace list (agent->secrets or agent->pods) that
 * caches namespace ns, or NULL when the agent does not watch ns. */
static mc_informer *informer_in(const mc_agent *agent, mc_informer *const *list, const char *ns)
{
    for (size_t i = 0; ns && i < agent->watched_count; i++)
        if (strcmp(agent->watched[i], ns) == 0)
            return list[i];
    return NULL;
}

/* Reads and decodes one cached object (absent, or a namespace not watched:
 * *out stays NULL, MC_OK). */
#define READ_CACHED(informer, ns, name, decode, dst, err)                                          \
    do {                                                                                           \
        json_t *json_ = (informer) ? mc_informer_get((informer), (ns), (name)) : NULL;             \
        if (json_) {                                                                               \
            rc = decode(json_, (dst), (err));                                                      \
            json_decref(json_);                                                                    \
            if (rc)                                                                                \
                goto out;                                                                          \
        }                                                                                          \
    } while (0)

static int pod_known(const observed *o, const char *uid)
{
    for (size_t i = 0; i < o->pod_count; i++)
        if (strcmp(o->pods[i].uid, uid) == 0)
            return 1;
    return 0;
}

/* Adds the cached pods of one selector (deduplicated by uid). */
static int add_pods(mc_agent *agent, observed *o, const mc_api_pod_selector *selector, mc_err *err)
{
    json_t **items = NULL;
    mc_informer *informer = informer_in(agent, agent->pods, selector->namespace);
    size_t n = informer ? mc_informer_list(informer, selector->namespace, &items) : 0;
    int rc = MC_OK;
    for (size_t i = 0; i < n; i++) {
        mc_api_pod *pod = NULL;
        if (rc == MC_OK && mc_api_pod_decode(items[i], &pod, err) == MC_OK) {
            const mc_api_object_meta *m = &pod->metadata;
            int64_t created = 0;
            if (!m->uid || !m->name || pod_known(o, m->uid) ||
                !mc_api_pod_selector_matches(selector, m->namespace, &m->labels) ||
                !m->creation_timestamp ||
                mc_time_parse(m->creation_timestamp, &created, NULL, NULL) != MC_OK) {
                mc_api_pod_free(pod);
            } else {
                mc_api_pod **objects =
                    realloc(o->pod_objects, (o->pod_count + 1) * sizeof(*objects));
                if (objects)
                    o->pod_objects = objects;
                mc_agent_pod *pods = realloc(o->pods, (o->pod_count + 1) * sizeof(*pods));
                if (pods)
                    o->pods = pods;
                if (!objects || !pods) {
                    mc_api_pod_free(pod);
                    rc = mc_err_set(err, MC_ENOMEM, "out of memory");
                } else {
                    o->pod_objects[o->pod_count] = pod;
                    o->pods[o->pod_count] = (mc_agent_pod){
                        .namespace = m->namespace,
                        .name = m->name,
                        .uid = m->uid,
                        .created = created,
                        .deleting = m->deletion_timestamp != NULL,
                    };
                    o->pod_count++;
                }
            }
        }
        /* a pod that does not decode is left out: the agent does not bounce what it cannot read */
        json_decref(items[i]);
    }
    free(items);
    return rc;
}

/* Decodes the cached IssuedCertificates that may share an object with
 * ic_json; one that does not decode is left out (it cannot be issued either). */
static int add_peers(mc_agent *agent, const json_t *ic_json, observed *o, mc_err *err)
{
    json_t **items = NULL;
    size_t n = mc_informer_list(agent->issued, NULL, &items);
    int rc = MC_OK;
    for (size_t i = 0; i < n; i++) {
        mc_api_issued_certificate *peer = NULL;
        if (rc == MC_OK && may_share(ic_json, items[i]) &&
            mc_api_issued_certificate_decode(items[i], &peer, NULL) == MC_OK) {
            mc_api_issued_certificate **peers =
                realloc(o->peers, (o->peer_count + 1) * sizeof(*peers));
            if (!peers) {
                mc_api_issued_certificate_free(peer);
                rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            } else {
                o->peers = peers;
                o->peers[o->peer_count++] = peer;
            }
        }
        json_decref(items[i]);
    }
    free(items);
    return rc;
}

/* Fills o and obs for the IssuedCertificate ns/name. MC_ENOTFOUND when it
 * is not cached (deleted: its owned objects are garbage-collected). */
static int observe(mc_agent *agent, const char *ns, const char *name, observed *o,
                   mc_agent_observation *obs, mc_err *err)
{
    int rc = MC_OK;
    json_t *ic_json = mc_informer_get(agent->issued, ns, name);
    if (!ic_json)
        return MC_ENOTFOUND;
    rc = mc_api_issued_certificate_decode(ic_json, &o->ic, err);
    if (rc == MC_OK)
        rc = add_peers(agent, ic_json, o, err);
    json_decref(ic_json);
    if (rc)
        goto out;
    const mc_api_issued_certificate_spec *spec = &o->ic->spec;
    READ_CACHED(informer_in(agent, agent->secrets, ns), ns, name, mc_api_secret_decode,
                &o->key_secret, err);
    READ_CACHED(agent->requests, ns, name, mc_api_certificate_request_decode, &o->request, err);
    if (spec->issued_certificate_secret.name) {
        const char *out_ns =
            spec->issued_certificate_secret.namespace && *spec->issued_certificate_secret.namespace
                ? spec->issued_certificate_secret.namespace
                : ns; /* as decide.c's ref_namespace */
        READ_CACHED(informer_in(agent, agent->secrets, out_ns), out_ns,
                    spec->issued_certificate_secret.name, mc_api_secret_decode, &o->output, err);
    }
    if (spec->pod_bounce_directive.name) {
        const char *pbd_ns =
            spec->pod_bounce_directive.namespace ? spec->pod_bounce_directive.namespace : ns;
        READ_CACHED(agent->directives, pbd_ns, spec->pod_bounce_directive.name,
                    mc_api_pod_bounce_directive_decode, &o->directive, err);
    }
    if (o->directive && o->ic->status.state == MC_IC_STATE_ISSUED)
        for (size_t i = 0; i < o->directive->spec.pods_to_bounce_len; i++)
            if ((rc = add_pods(agent, o, &o->directive->spec.pods_to_bounce[i], err)))
                goto out;
    *obs = (mc_agent_observation){
        .ic = o->ic,
        .key_secret = o->key_secret,
        .request = o->request,
        .output = o->output,
        .directive = o->directive,
        .directive_referenced = spec->pod_bounce_directive.name != NULL,
        .pods = o->pods,
        .pod_count = o->pod_count,
        .peers = (const mc_api_issued_certificate *const *)o->peers,
        .peer_count = o->peer_count,
        .agent_namespace = agent->namespace,
        .watched_namespaces = (const char *const *)agent->watched,
        .watched_namespace_count = agent->watched_count,
        .output_format = agent->output_format,
        .adopt_existing = agent->adopt_existing,
        .now = time(NULL),
        .cache = agent->cache,
    };
out:
    return rc;
}

/* ---- executing the action (worker threads) ---- */

/* Waits until the cache has moved past the state the decision read: the
 * object present with another resourceVersion than old_rv (old_rv NULL: was
 * absent), or, after a delete, gone. Gives up after CACHE_WAIT_MS: the next
 * reconcile is then merely a repeat that the server refuses harmlessly. */
static void wait_cache(mc_informer *informer, const char *ns, const char *name, const char *old_rv,
                       int deleted)
{
    if (!informer)
        return; /* a namespace not watched: decide.c refuses those before any write */
    if (!mc_informer_wait_for(informer, ns, name, old_rv, deleted, CACHE_WAIT_MS))
        mc_log_debug(LOG_COMPONENT, "cache did not show the write to %s/%s within %d ms", ns, name,
                     CACHE_WAIT_MS);
}

static const char *rv_of(const mc_api_object_meta *meta)
{
    return meta ? meta->resource_version : NULL;
}

/* Creates obj (stolen) in ns; an object that already exists counts as done. */
static int create_object(mc_agent *agent, const mc_kube_resource *res, mc_informer *informer,
                         const char *ns, const char *name, json_t *obj, mc_err *err)
{
    int rc = mc_kube_create(agent->client, res, ns, obj, NULL, err);
    json_decref(obj);
    if (rc == MC_EEXISTS)
        rc = MC_OK;
    if (rc == MC_OK)
        wait_cache(informer, ns, name, NULL, 0);
    return rc;
}

/* Deletes ns/name; one already gone counts as done. */
static int delete_object(mc_agent *agent, const mc_kube_resource *res, mc_informer *informer,
                         const char *ns, const char *name, const char *old_rv, mc_err *err)
{
    int rc = mc_kube_delete(agent->client, res, ns, name, NULL, err);
    if (rc == MC_ENOTFOUND)
        rc = MC_OK;
    if (rc == MC_OK)
        wait_cache(informer, ns, name, old_rv, 1);
    return rc;
}

static int write_status(mc_agent *agent, observed *o, const mc_agent_action *action, mc_err *err)
{
    mc_api_issued_certificate *ic = o->ic;
    json_t *obj = NULL;
    if (mc_agent_apply_status(ic, action, (int64_t)time(NULL)) != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = mc_api_issued_certificate_encode(ic, &obj, err);
    if (rc == MC_OK)
        rc = mc_kube_update_status(agent->client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                   ic->metadata.namespace, obj, NULL, err);
    json_decref(obj);
    if (rc == MC_OK)
        wait_cache(agent->issued, ic->metadata.namespace, ic->metadata.name, rv_of(&ic->metadata),
                   0);
    return rc;
}

static int write_output(mc_agent *agent, observed *o, const mc_agent_observation *obs,
                        const mc_agent_action *action, mc_err *err)
{
    json_t *secret = NULL;
    int rc = mc_agent_build_output(obs, action->issuance, &secret, err);
    if (rc)
        return rc;
    const char *ns = json_str(secret, "metadata", "namespace");
    const char *name = json_str(secret, "metadata", "name");
    char *ns_copy = mc_strdup(ns ? ns : ""), *name_copy = mc_strdup(name ? name : "");
    if (!ns_copy || !name_copy) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    } else if (o->output && !same_str(o->output->type, json_str(secret, "type", NULL))) {
        /* A Secret's type is immutable (an adopted Opaque Secret, or another
         * output layout): delete exactly what the decision read, then the
         * next reconcile finds it absent and creates it. */
        json_t *options = mc_api_delete_options_new(rv_of(&o->output->metadata));
        rc = options ? mc_kube_delete(agent->client, mc_kube_resource_of(MC_API_SECRETS), ns_copy,
                                      name_copy, options, err)
                     : mc_err_set(err, MC_ENOMEM, "out of memory");
        json_decref(options);
        if (rc == MC_ENOTFOUND)
            rc = MC_OK;
        if (rc == MC_OK) {
            mc_log_info(LOG_COMPONENT,
                        "secret %s/%s: type %s cannot change to %s: deleted, to be "
                        "created again",
                        ns_copy, name_copy, o->output->type ? o->output->type : "(none)",
                        json_str(secret, "type", NULL));
            wait_cache(informer_in(agent, agent->secrets, ns_copy), ns_copy, name_copy,
                       rv_of(&o->output->metadata), 1);
        }
    } else if (o->output) {
        /* replace what the decision read (a concurrent change is a conflict) */
        json_object_set_new(
            json_object_get(secret, "metadata"), "resourceVersion",
            json_string(rv_of(&o->output->metadata) ? rv_of(&o->output->metadata) : ""));
        rc = mc_kube_update(agent->client, mc_kube_resource_of(MC_API_SECRETS), ns_copy, secret,
                            NULL, err);
        if (rc == MC_OK)
            wait_cache(informer_in(agent, agent->secrets, ns_copy), ns_copy, name_copy,
                       rv_of(&o->output->metadata), 0);
    } else {
        rc = mc_kube_create(agent->client, mc_kube_resource_of(MC_API_SECRETS), ns_copy, secret,
                            NULL, err);
        if (rc == MC_OK)
            wait_cache(informer_in(agent, agent->secrets, ns_copy), ns_copy, name_copy, NULL, 0);
    }
    json_decref(secret); /* held key material: jansson frees it; the cache copy is the server's */
    free(ns_copy);
    free(name_copy);
    return rc;
}

/* Records the bounce plan: every pod of the observation in the plan, in one
 * status write (records of earlier issuances are dropped). */
static int record_bounce(mc_agent *agent, observed *o, const mc_agent_action *action, mc_err *err)
{
    mc_api_pod_bounce_directive *pbd = o->directive;
    json_t *obj = NULL;
    mc_api_pod_bounce_directive_forget_others(pbd, action->issuance);
    for (size_t i = 0; i < o->pod_count; i++) {
        const mc_agent_pod *pod = &o->pods[i];
        if (mc_agent_pod_in_plan(action, pod) &&
            mc_api_pod_bounce_directive_record(pbd, action->issuance, pod->namespace, pod->name,
                                               pod->uid) != MC_OK)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    pbd->status.observed_generation = pbd->metadata.generation;
    int rc = mc_api_pod_bounce_directive_encode(pbd, &obj, err);
    if (rc == MC_OK)
        rc = mc_kube_update_status(agent->client, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES),
                                   pbd->metadata.namespace, obj, NULL, err);
    json_decref(obj);
    if (rc == MC_OK)
        wait_cache(agent->directives, pbd->metadata.namespace, pbd->metadata.name,
                   rv_of(&pbd->metadata), 0);
    return rc;
}

static const char *action_name(mc_agent_action_type type)
{
    switch (type) {
    case MC_AGENT_NOTHING: return "nothing";
    case MC_AGENT_SET_STATUS: return "set status";
    case MC_AGENT_CREATE_KEY: return "create key secret";
    case MC_AGENT_DELETE_KEY: return "delete key secret";
    case MC_AGENT_CREATE_REQUEST: return "create certificaterequest";
    case MC_AGENT_DELETE_REQUEST: return "delete certificaterequest";
    case MC_AGENT_WAIT: return "wait";
    case MC_AGENT_WRITE_OUTPUT: return "write output secret";
    case MC_AGENT_RECORD_BOUNCE: return "record bounce plan";
    case MC_AGENT_DELETE_POD: return "delete pod";
    }
    return "unknown";
}

static void log_action(const observed *o, const mc_agent_action *action)
{
    const char *ns = o->ic->metadata.namespace, *name = o->ic->metadata.name;
    if (action->type == MC_AGENT_SET_STATUS)
        mc_log(action->state == MC_IC_STATE_FAILED ? MC_LOG_WARN : MC_LOG_INFO, LOG_COMPONENT,
               "issuedcertificate %s/%s: state %s%s%s%s%s%s", ns, name,
               mc_api_ic_state_name((mc_ic_state)action->state),
               action->issuing == MC_AGENT_ISSUING_START ? " (" : "",
               action->issuing == MC_AGENT_ISSUING_START && action->issuing_reason
                   ? action->issuing_reason
                   : "",
               action->issuing == MC_AGENT_ISSUING_START ? " started)" : "",
               action->error[0] ? ": " : "", action->error);
    else if (action->type == MC_AGENT_RECORD_BOUNCE)
        mc_log_info(LOG_COMPONENT, "issuedcertificate %s/%s: %s: %zu pod(s) (issuance %s)", ns,
                    name, action_name(action->type), action->planned, action->issuance);
    else if (action->type == MC_AGENT_DELETE_POD)
        mc_log_info(LOG_COMPONENT, "issuedcertificate %s/%s: %s %s/%s (issuance %s)", ns, name,
                    action_name(action->type), action->pod->namespace, action->pod->name,
                    action->issuance);
    else if (action->type != MC_AGENT_NOTHING && action->type != MC_AGENT_WAIT)
        mc_log_info(LOG_COMPONENT, "issuedcertificate %s/%s: %s", ns, name,
                    action_name(action->type));
}

/* Executes the one action; MC_OK when done (or found done already). */
static int execute(mc_agent *agent, observed *o, const mc_agent_observation *obs,
                   const mc_agent_action *action, mc_err *err)
{
    const char *ns = o->ic->metadata.namespace, *name = o->ic->metadata.name;
    json_t *obj = NULL;
    int rc = MC_OK;
    switch (action->type) {
    case MC_AGENT_NOTHING:
    case MC_AGENT_WAIT: break;
    case MC_AGENT_SET_STATUS: rc = write_status(agent, o, action, err); break;
    case MC_AGENT_CREATE_KEY:
        /* the slow part (RSA 4096): on this worker thread */
        if ((rc = mc_agent_build_key_secret(obs, mc_agent_key_type(o->ic, agent->key_type), &obj,
                                            err)) == MC_OK)
            rc = create_object(agent, mc_kube_resource_of(MC_API_SECRETS), informer_in(agent, agent->secrets, ns), ns,
                               name, obj, err);
        break;
    case MC_AGENT_DELETE_KEY:
        rc = delete_object(agent, mc_kube_resource_of(MC_API_SECRETS), informer_in(agent, agent->secrets, ns), ns, name,
                           o->key_secret ? rv_of(&o->key_secret->metadata) : NULL, err);
        break;
    case MC_AGENT_CREATE_REQUEST:
        if ((rc = mc_agent_build_request(obs, &obj, err)) == MC_OK)
            rc = create_object(agent, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                               agent->requests, ns, name, obj, err);
        break;
    case MC_AGENT_DELETE_REQUEST:
        rc = delete_object(agent, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), agent->requests,
                           ns, name, o->request ? rv_of(&o->request->metadata) : NULL, err);
        break;
    case MC_AGENT_WRITE_OUTPUT: rc = write_output(agent, o, obs, action, err); break;
    case MC_AGENT_RECORD_BOUNCE: rc = record_bounce(agent, o, action, err); break;
    case MC_AGENT_DELETE_POD: {
        const char *pod_rv = NULL;
        for (size_t i = 0; i < o->pod_count; i++)
            if (&o->pods[i] == action->pod)
                pod_rv = rv_of(&o->pod_objects[i]->metadata);
        rc =
            delete_object(agent, mc_kube_resource_of(MC_API_PODS), informer_in(agent, agent->pods, action->pod->namespace),
                          action->pod->namespace, action->pod->name, pod_rv, err);
        break;
    }
    }
    return rc;
}

/* ---- Events (docs/workflow.md, "Events") ---- */

/* What the status said before an action changed it (write_status updates
 * o->ic in place). */
typedef struct prior_status {
    mc_ic_state state;
    int64_t observed_generation;
    char error[512]; /* status.error, cut like mc_agent_action.error */
} prior_status;

static mc_event_object event_object(const char *kind, const mc_api_object_meta *meta)
{
    return (mc_event_object){MC_API_GROUP_VERSION, kind,      meta->namespace,
                             meta->name,           meta->uid, meta->resource_version};
}

/* The Event of a status written. On the success path only FINISHED has one
 * (Requested comes with the CertificateRequest created): an issuance is a
 * handful of Events, as cert-manager's, not one per state. Every failure
 * and every renewal start has its own. A rewrite of the same state (e.g. a
 * stale Ready condition) is none. */
static void record_status_event(mc_agent *agent, const observed *o, const mc_agent_action *action,
                                const prior_status *prior)
{
    const mc_api_issued_certificate *ic = o->ic;
    mc_event_object obj = event_object("IssuedCertificate", &ic->metadata);
    const mc_api_object_ref *out = &ic->spec.issued_certificate_secret;
    const char *out_ns =
        out->namespace && *out->namespace ? out->namespace : ic->metadata.namespace;
    const char *out_name = out->name ? out->name : "";
    int restarted = prior->observed_generation != action->observed_generation;
    switch ((mc_ic_state)action->state) {
    case MC_IC_STATE_FAILED:
        /* not for a rewrite of the same failure (a stale Ready condition) */
        if (restarted || prior->state != MC_IC_STATE_FAILED ||
            strcmp(prior->error, action->error) != 0)
            mc_event_record(agent->events, &obj, MC_EVENT_WARNING, "Failed", "%s", action->error);
        break;
    case MC_IC_STATE_PENDING:
        if (action->issuing == MC_AGENT_ISSUING_START)
            mc_event_record(agent->events, &obj, MC_EVENT_NORMAL,
                            action->issuing_reason &&
                                    strcmp(action->issuing_reason, "Rotation") == 0
                                ? "RotationRequested"
                                : "Renewing",
                            "issuing a successor (new key); the current certificate stays in "
                            "Secret %s/%s until it is FINISHED",
                            out_ns, out_name);
        break;
    case MC_IC_STATE_FINISHED:
        if (prior->state != MC_IC_STATE_FINISHED) {
            char not_after[MC_TIME_RFC3339_MAX] = "";
            mc_time_format(action->not_after, not_after, sizeof(not_after));
            mc_event_record(agent->events, &obj, MC_EVENT_NORMAL, "Finished",
                            "certificate issued and installed in Secret %s/%s, valid until "
                            "%s%s",
                            out_ns, out_name, not_after[0] ? not_after : "(unknown)",
                            ic->spec.pod_bounce_directive.name ? "; pods bounced" : "");
        }
        break;
    default: break;
    }
}

/* The Event of a CertificateRequest created: Requested, naming the key (its
 * type and Secret, never its data) and the request. Not for the retries of
 * a FAILED issuance: their CSRRefused counts them, and one Event per retry
 * keeps the object's spam-filter bucket (refilled one per 5 minutes, the
 * longest retry pause) from running dry, so the later Finished is not
 * filtered. */
static void record_requested(mc_agent *agent, const observed *o, const prior_status *prior)
{
    const mc_api_issued_certificate *ic = o->ic;
    const char *ns = ic->metadata.namespace, *name = ic->metadata.name;
    if (prior->state == MC_IC_STATE_FAILED)
        return;
    mc_event_object obj = event_object("IssuedCertificate", &ic->metadata);
    mc_event_record(agent->events, &obj, MC_EVENT_NORMAL, "Requested",
                    "created CertificateRequest %s/%s (generation %lld) for the %s private key "
                    "in Secret %s/%s (it never leaves this cluster); waiting for the issuer to "
                    "sign",
                    ns, name, (long long)ic->metadata.generation,
                    mc_pki_key_type_name(mc_agent_key_type(ic, agent->key_type)), ns, name);
}

/* The Events of an action executed: on the IssuedCertificate, on the
 * PodBounceDirective whose pods are bounced. Messages name objects, never
 * their data. */
static void record_events(mc_agent *agent, const observed *o, const mc_agent_action *action,
                          const prior_status *prior)
{
    const mc_api_issued_certificate *ic = o->ic;
    const char *ns = ic->metadata.namespace, *name = ic->metadata.name;
    mc_event_object obj = event_object("IssuedCertificate", &ic->metadata);
    switch (action->type) {
    case MC_AGENT_SET_STATUS: record_status_event(agent, o, action, prior); break;
    case MC_AGENT_CREATE_REQUEST: record_requested(agent, o, prior); break;
    case MC_AGENT_DELETE_REQUEST:
        /* each refused request is deleted once, to be made again: a looping
         * refusal is one Event whose count grows */
        if (o->request && o->request->status.state == MC_CR_STATE_FAILED)
            mc_event_record(agent->events, &obj, MC_EVENT_WARNING, "CSRRefused",
                            "the issuer refused CertificateRequest %s/%s: %s", ns, name,
                            o->request->status.error && *o->request->status.error
                                ? o->request->status.error
                                : "(no reason given)");
        break;
    case MC_AGENT_RECORD_BOUNCE: {
        mc_event_object pbd = event_object("PodBounceDirective", &o->directive->metadata);
        mc_event_record(agent->events, &pbd, MC_EVENT_NORMAL, "BouncePlanned",
                        "%zu pod(s) to restart for the new certificate of IssuedCertificate "
                        "%s/%s (issuance %s)",
                        action->planned, ns, name, action->issuance);
        break;
    }
    case MC_AGENT_DELETE_POD:
        if (o->directive) {
            mc_event_object pbd = event_object("PodBounceDirective", &o->directive->metadata);
            mc_event_record(agent->events, &pbd, MC_EVENT_NORMAL, "BouncedPods",
                            "deleted pod %s/%s to load the new certificate of IssuedCertificate "
                            "%s/%s (issuance %s)",
                            action->pod->namespace, action->pod->name, ns, name, action->issuance);
        }
        break;
    default: break;
    }
}

/* Whether the API server refused a write for good (a 4xx other than 409 and
 * 429: invalid, forbidden, the namespace of a new object missing, ...):
 * retrying will not help until someone changes something, so the user must
 * see it in the status. A 404 of a delete or of a replace only means the
 * object went away meanwhile. */
static int refused(const observed *o, const mc_agent_action *action, const mc_err *err)
{
    if (err->http < 400 || err->http >= 500 || err->http == 409 || err->http == 429)
        return 0;
    if (err->http != 404)
        return 1;
    switch (action->type) {
    case MC_AGENT_CREATE_KEY:
    case MC_AGENT_CREATE_REQUEST: return 1;
    case MC_AGENT_WRITE_OUTPUT: return o->output == NULL;
    default: return 0;
    }
}

/* FAILED with the refusal as the error (unless already shown); the action
 * is retried with the per-key backoff like any failure. */
static void report_refusal(mc_agent *agent, observed *o, const mc_err *refusal)
{
    mc_agent_action fail;
    memset(&fail, 0, sizeof(fail));
    fail.type = MC_AGENT_SET_STATUS;
    fail.state = MC_IC_STATE_FAILED;
    fail.observed_generation = o->ic->metadata.generation;
    snprintf(fail.error, sizeof(fail.error), "%.*s", (int)sizeof(fail.error) - 1, refusal->msg);
    /* every refused attempt: a persistent refusal is one Event counting them */
    mc_event_object obj = event_object("IssuedCertificate", &o->ic->metadata);
    mc_event_record(agent->events, &obj, MC_EVENT_WARNING, "WriteRefused", "%s", fail.error);
    const mc_api_issued_certificate_status *st = &o->ic->status;
    if (st->state == MC_IC_STATE_FAILED && st->observed_generation == fail.observed_generation &&
        strcmp(st->error ? st->error : "", fail.error) == 0)
        return;
    log_action(o, &fail);
    mc_err ignored = {0};
    mc_ic_state before = st->state; /* write_status changes the status */
    if (write_status(agent, o, &fail, &ignored) != MC_OK)
        mc_log_debug(LOG_COMPONENT, "%s", ignored.msg);
    else if (before != MC_IC_STATE_FAILED)
        mc_metric_add(agent->metrics.failed, MC_LABELS("api_refused"), 1);
}

/* Counts an executed action: an issuance completed (FINISHED) or failed
 * (FAILED entered from before, the state the decision saw: executing a
 * status write changes o->ic), and the latency of a certificate written. */
static void count_action(const agent_metrics *metrics, const observed *o,
                         const mc_agent_action *action, mc_ic_state before)
{
    if (action->type == MC_AGENT_SET_STATUS && action->state == MC_IC_STATE_FINISHED &&
        before != MC_IC_STATE_FINISHED)
        mc_metric_add(metrics->completed, NULL, 1);
    if (action->type == MC_AGENT_SET_STATUS && action->state == MC_IC_STATE_FAILED &&
        before != MC_IC_STATE_FAILED) {
        int issuer_refused = o->request && o->request->status.state == MC_CR_STATE_FAILED;
        mc_metric_add(metrics->failed, MC_LABELS(issuer_refused ? "request_refused" : "invalid"),
                      1);
    }
    int64_t created = 0;
    if (action->type == MC_AGENT_WRITE_OUTPUT && o->request &&
        o->request->metadata.creation_timestamp &&
        mc_time_parse(o->request->metadata.creation_timestamp, &created, NULL, NULL) == MC_OK) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double seconds = (double)(now.tv_sec - created) + (double)now.tv_nsec / 1e9;
        mc_metric_observe(metrics->latency, NULL, seconds > 0 ? seconds : 0);
    }
}

static int reconcile(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    mc_agent *agent = ctx;
    char ns[256];
    const char *name = NULL;
    observed o;
    memset(&o, 0, sizeof(o));
    mc_agent_observation obs;
    mc_agent_action action;
    if (mc_object_key_split(key, ns, sizeof(ns), &name) != 0)
        return MC_OK; /* not an IssuedCertificate key: nothing to do */
    int rc = observe(agent, ns, name, &o, &obs, err);
    if (rc == MC_ENOTFOUND) {
        rc = MC_OK;
        goto out;
    }
    if (rc) {
        mc_err_prefix(err, "issuedcertificate %s", key);
        goto out;
    }
    mc_agent_decide(&obs, &action);
    log_action(&o, &action);
    int failed = o.ic->status.state == MC_IC_STATE_FAILED ||
                 (action.type == MC_AGENT_SET_STATUS && action.state == MC_IC_STATE_FAILED);
    mc_ic_state before = o.ic->status.state;
    prior_status prior = {before, o.ic->status.observed_generation, ""};
    mc_strlcpy(prior.error, o.ic->status.error ? o.ic->status.error : "", sizeof(prior.error));
    rc = execute(agent, &o, &obs, &action, err);
    if (rc == MC_ECONFLICT) {
        /* the cache was behind: the decision is recomputed from the fresher cache */
        mc_log_debug(LOG_COMPONENT, "issuedcertificate %s: %s", key, err->msg);
        mc_err_clear(err);
        result->requeue_after_ms = REQUEUE_CONFLICT_MS;
        rc = MC_OK;
        goto out;
    }
    if (rc) {
        mc_err_prefix(err, "issuedcertificate %s: %s", key, action_name(action.type));
        if (action.type != MC_AGENT_SET_STATUS && refused(&o, &action, err))
            report_refusal(agent, &o, err);
        goto out;
    }
    count_action(&agent->metrics, &o, &action, before);
    record_events(agent, &o, &action, &prior);
    if (failed)
        result->requeue = 1; /* FAILED: retried with the per-key backoff */
    else if (action.type != MC_AGENT_NOTHING && action.type != MC_AGENT_WAIT)
        result->requeue_after_ms = REQUEUE_NOW_MS;
    else if (action.requeue_after > 0)
        /* level-triggered renewal: come back at the renewal time with no event */
        result->requeue_after_ms = action.requeue_after < RENEWAL_CHECK_MAX_S
                                       ? action.requeue_after * 1000
                                       : RENEWAL_CHECK_MAX_S * 1000;
out:
    observed_clear(&o);
    return rc;
}

/* ---- metrics and readiness ---- */

/* Collector: certificate times from the cache, queue and watch counts. */
static void collect_metrics(void *ctx)
{
    mc_agent *agent = ctx;
    agent_metrics *m = &agent->metrics;
    mc_runtime_metrics_controller(&m->runtime, agent->controller);
    mc_runtime_metrics_watcher(&m->runtime, agent->watcher);
    mc_runtime_metrics_informers(&m->runtime, agent->informers);
    mc_api_certificate_metrics_reset(&m->certificates);
    json_t **items = NULL;
    size_t n = mc_informer_list(agent->issued, NULL, &items);
    for (size_t i = 0; i < n; i++) {
        mc_api_certificate_metrics_set(&m->certificates, m->cluster, items[i]);
        json_decref(items[i]);
    }
    free(items);
}

static int metrics_register(mc_agent *agent, const mc_agent_options *options, mc_err *err)
{
    agent_metrics *m = &agent->metrics;
    m->registry = options->metrics;
    if (!m->registry)
        return MC_OK;
    static const char *const reason[] = {"reason"};
    m->cluster = mc_strdup(options->cluster_name ? options->cluster_name : "");
    m->completed = mc_metrics_counter(m->registry, "meshcert_agent_issuances_completed_total",
                                      "Issuances that reached FINISHED (certificate written, "
                                      "pods bounced).",
                                      NULL, 0);
    m->failed = mc_metrics_counter(
        m->registry, "meshcert_agent_issuances_failed_total",
        "IssuedCertificates that entered FAILED: request_refused (the issuer refused the "
        "CertificateRequest), api_refused (the API server refused a write), invalid (anything "
        "else the agent found wrong).",
        reason, 1);
    m->latency =
        mc_metrics_histogram(m->registry, "meshcert_agent_issuance_duration_seconds",
                             "From the CertificateRequest's creation to the output Secret written.",
                             NULL, 0, mc_metrics_latency_buckets, mc_metrics_latency_bucket_count);
    if (!m->cluster || !m->completed || !m->failed || !m->latency)
        return mc_err_set(err, MC_EINVAL, "agent metrics: cannot register (name taken?)");
    int rc = mc_api_certificate_metrics_register(m->registry, &m->certificates, err);
    if (rc == MC_OK)
        rc = mc_runtime_metrics_register(m->registry, &m->runtime, err);
    if (rc == MC_OK && mc_metrics_add_collector(m->registry, collect_metrics, agent) != MC_OK)
        rc = mc_err_set(err, MC_ENOMEM, "agent metrics: out of memory");
    return rc;
}

/* ---- life cycle ---- */

/* Makes an informer on res in ns (NULL: all namespaces) and appends it to
 * agent->all; *out borrows it (freed with the agent). */
static int new_informer(mc_agent *agent, const mc_kube_resource *res, const char *ns,
                        const mc_informer_handlers *handlers, mc_informer **out, mc_err *err)
{
    assert(agent->all_count < INFORMERS_MAX);
    mc_informer_options options = {.namespace = ns};
    int rc = mc_informer_new(agent->client, agent->informers, res, &options, handlers, out, err);
    if (rc == MC_OK) {
        agent->all[agent->all_count] = *out;
        agent->all_names[agent->all_count++] = res->plural;
    }
    return rc;
}

/* Adds ns to agent->watched unless it is there already. */
static int watch_namespace(mc_agent *agent, const char *ns, size_t len, mc_err *err)
{
    char name[254];
    if (len >= sizeof(name))
        return mc_err_set(err, MC_EINVAL, "--watch-namespaces: namespace \"%.*s...\" is too long",
                          20, ns);
    memcpy(name, ns, len);
    name[len] = '\0';
    int rc = mc_validate_dns1123_label(name, err);
    if (rc) {
        mc_err_prefix(err, "--watch-namespaces: namespace \"%s\"", name);
        return rc;
    }
    for (size_t i = 0; i < agent->watched_count; i++)
        if (strcmp(agent->watched[i], name) == 0)
            return MC_OK;
    if (agent->watched_count > WATCH_NAMESPACES_MAX)
        return mc_err_set(err, MC_EINVAL, "--watch-namespaces: more than %d namespaces",
                          WATCH_NAMESPACES_MAX);
    if (!(agent->watched[agent->watched_count] = mc_strdup(name)))
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    agent->watched_count++;
    return MC_OK;
}

/* The agent's own namespace (its key Secrets), then each of the
 * comma-separated list (NULL: WATCH_NAMESPACES_DEFAULT). */
static int watch_namespaces(mc_agent *agent, const char *list, mc_err *err)
{
    int rc = watch_namespace(agent, agent->namespace, strlen(agent->namespace), err);
    if (!list)
        list = WATCH_NAMESPACES_DEFAULT;
    for (const char *p = list; rc == MC_OK && *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0)
            rc = watch_namespace(agent, p, len, err);
        p += len;
        if (*p == ',')
            p++;
    }
    return rc;
}

/* Starts the informers: IssuedCertificates and CertificateRequests in the
 * agent's namespace, PodBounceDirectives everywhere, Secrets and Pods in
 * each watched namespace. */
static int new_informers(mc_agent *agent, mc_err *err)
{
    mc_informer_handlers h = {issued_added, issued_updated, issued_added, agent};
    int rc = new_informer(agent, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                          agent->namespace, &h, &agent->issued, err);
    if (rc)
        return rc;
    h = (mc_informer_handlers){request_added, request_updated, request_added, agent};
    if ((rc = new_informer(agent, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                           agent->namespace, &h, &agent->requests, err)))
        return rc;
    h = (mc_informer_handlers){directive_added, directive_updated, directive_added, agent};
    if ((rc = new_informer(agent, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), NULL, &h,
                           &agent->directives, err)))
        return rc;
    mc_informer_handlers secret_h = {secret_added, secret_updated, secret_deleted, agent};
    mc_informer_handlers pod_h = {pod_added, pod_updated, pod_added, agent};
    for (size_t i = 0; rc == MC_OK && i < agent->watched_count; i++)
        if ((rc = new_informer(agent, mc_kube_resource_of(MC_API_SECRETS), agent->watched[i], &secret_h,
                               &agent->secrets[i], err)) == MC_OK)
            rc = new_informer(agent, mc_kube_resource_of(MC_API_PODS), agent->watched[i], &pod_h, &agent->pods[i], err);
    return rc;
}

int mc_agent_new(const mc_agent_options *options, mc_agent **out, mc_err *err)
{
    *out = NULL;
    mc_agent *agent = calloc(1, sizeof(*agent));
    if (!agent)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc;
    agent->key_type = options->key_type;
    agent->output_format = options->output_format;
    agent->adopt_existing = options->adopt_existing;
    if ((rc = mc_kube_client_new(options->config, NULL, &agent->client, err)))
        goto fail;
    agent->namespace = mc_strdup(options->namespace && *options->namespace
                                     ? options->namespace
                                     : mc_kube_client_namespace(agent->client));
    if (!agent->namespace) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = watch_namespaces(agent, options->watch_namespaces, err)))
        goto fail;
    /* A FAILED IssuedCertificate is retried 5 ms, 10 ms, ... apart up to
     * RETRY_MAX_MS: once the cause is fixed elsewhere (a root created in the
     * management cluster) it recovers within that, not client-go's 1000 s. */
    mc_workqueue_options queue_options = {0, RETRY_MAX_MS, NULL, NULL};
    agent->owns_io = !options->watcher || !options->runner;
    agent->watcher = agent->owns_io ? NULL : options->watcher;
    agent->informers = agent->owns_io ? NULL : options->runner;
    if ((agent->owns_io && ((rc = mc_kube_watcher_new(&agent->watcher, err)) ||
                            (rc = mc_informer_runner_new(agent->watcher, 0, &agent->informers,
                                                         err)))) ||
        (rc = mc_controller_new_with("agent", options->workers > 0 ? options->workers : 4,
                                     reconcile, agent, &queue_options, &agent->controller, err)))
        goto fail;
    if ((rc = metrics_register(agent, options, err)) ||
        (rc = mc_agent_cache_new(0, &agent->cache, err)))
        goto fail;
    mc_event_broadcaster_options event_options = {.component = "meshcert-agent",
                                                  .dropped = agent->metrics.runtime.events_dropped};
    agent->owns_broadcaster = !options->broadcaster;
    agent->broadcaster = options->broadcaster;
    if ((agent->owns_broadcaster &&
         (rc = mc_event_broadcaster_new(&event_options, &agent->broadcaster, err))) ||
        (rc = mc_event_recorder_new(agent->broadcaster, agent->client, &agent->events, err)))
        goto fail;
    if ((rc = new_informers(agent, err)))
        goto fail;
    *out = agent;
    return MC_OK;
fail:
    mc_agent_free(agent);
    return rc;
}

int mc_agent_start(mc_agent *agent, mc_err *err)
{
    for (size_t i = 0; i < agent->all_count; i++) {
        int rc = mc_informer_start(agent->all[i], err);
        if (rc)
            return rc;
    }
    mc_buf watched;
    mc_buf_init(&watched, 4096);
    for (size_t i = 0; i < agent->watched_count; i++)
        mc_buf_appendf(&watched, "%s%s", i ? ", " : "", agent->watched[i]);
    mc_log_info(LOG_COMPONENT,
                "watching issuedcertificates in namespace %s (key type %s); secrets and pods in "
                "%s",
                agent->namespace, mc_pki_key_type_name(agent->key_type),
                watched.data ? watched.data : agent->namespace);
    mc_buf_free(&watched);
    return MC_OK;
}

int mc_agent_wait_synced(mc_agent *agent, int64_t timeout_ms, mc_err *err)
{
    if (agent->workers_started)
        return MC_OK;
    for (size_t i = 0; i < agent->all_count; i++)
        if (mc_informer_wait_synced(agent->all[i], timeout_ms) != MC_OK)
            return mc_err_set(err, MC_EUNAVAILABLE, "caches not synced yet");
    int rc = mc_controller_start(agent->controller, err);
    if (rc == MC_OK) {
        agent->workers_started = 1;
        mc_log_info(LOG_COMPONENT, "caches synced; reconciling");
    }
    return rc;
}

int mc_agent_ready(mc_agent *agent, char *reason, size_t reason_size)
{
    mc_buf text;
    mc_buf_init(&text, reason_size ? reason_size - 1 : 0);
    size_t unsynced = 0;
    for (size_t i = 0; i < agent->all_count; i++)
        if (!mc_informer_has_synced(agent->all[i]))
            mc_buf_appendf(&text, "%s%s",
                           unsynced++ ? ", " : "caches not synced yet: ", agent->all_names[i]);
    int ready = unsynced == 0;
    snprintf(reason, reason_size, "%s",
             ready       ? "caches synced"
             : text.data ? text.data
                         : "caches not synced yet");
    mc_buf_free(&text);
    return ready;
}

void mc_agent_free(mc_agent *agent)
{
    if (!agent)
        return;
    /* no scrape reads the agent once this returns */
    mc_metrics_remove_collector(agent->metrics.registry, collect_metrics, agent);
    /* workers first (they read the caches), then the informers that feed the queue */
    if (agent->controller)
        mc_controller_stop(agent->controller);
    for (size_t i = 0; i < agent->all_count; i++)
        mc_informer_free(agent->all[i]);
    mc_controller_free(agent->controller);
    mc_event_recorder_free(agent->events); /* after the workers: writes what they recorded */
    if (agent->owns_broadcaster)
        mc_event_broadcaster_free(agent->broadcaster);
    if (agent->owns_io) {
        mc_informer_runner_free(agent->informers);
        mc_kube_watcher_free(agent->watcher);
    }
    mc_kube_client_free(agent->client);
    mc_agent_cache_free(agent->cache); /* after the workers and handlers that use it */
    free(agent->metrics.cluster);
    for (size_t i = 0; i < agent->watched_count; i++)
        free(agent->watched[i]);
    free(agent->namespace);
    free(agent);
}
