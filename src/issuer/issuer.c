/* issuer.c - the `meshcert issuer` process (see issuer.h): registered
 * clusters from kubeconfig Secrets, one CertificateRequest and one
 * IssuedCertificate informer per cluster, a controller that answers requests
 * with mc_issuer_decide, signers cached per root Secret resourceVersion, and
 * leader election gating the writes.
 *
 * Threads: the watch I/O thread runs informer handlers (they only queue
 * keys); one worker (re)starts and stops clusters; N workers reconcile
 * requests. A cluster is reference counted so that a worker reading its caches
 * keeps it alive while its registration Secret is being deleted.
 */
#include "issuer/issuer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/certificate_metrics.h"
#include "api/certificate_request.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/registration.h"
#include "api/time.h"
#include "issuer/decide.h"
#include "issuer/internal.h"
#include "issuer/policy.h"
#include "issuer/root_secret.h"
#include "issuer/rotation_controller.h"
#include "kube/client.h"
#include "kube/watch.h"
#include "pki/cert.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "runtime/controller.h"
#include "runtime/informer.h"
#include "runtime/leader.h"
#include "runtime/metrics.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define LOG           "issuer"
#define LEASE_NAME    "meshcert-issuer"
#define KEY_MAX       800
#define ROOT_CERT_KEY MC_ROOT_SECRET_CERT_KEY
#define ROOT_KEY_KEY  MC_ROOT_SECRET_KEY_KEY

static const mc_kube_resource secrets_resource = {"", "v1", "secrets", 1};
static const mc_kube_resource requests_resource = {MC_API_GROUP, MC_API_VERSION,
                                                   "certificaterequests", 1};
static const mc_kube_resource issued_resource = {MC_API_GROUP, MC_API_VERSION, "issuedcertificates",
                                                 1};

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
    int refs;                          /* issuer->clusters_lock */
    struct issuer_cluster *next;       /* issuer->clusters_lock */
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
    mc_informer *registrations;        /* Secrets in namespace */
    mc_controller *cluster_controller; /* one worker: registrations */
    mc_controller *request_controller; /* N workers: "<cluster>/<ns>/<name>" */
    mc_rotation_controller *rotations; /* RootRotations (rotation_controller.h) */
    mc_leader *leader;
    atomic_int leading;            /* set by the election callbacks */
    pthread_mutex_t clusters_lock; /* guards clusters and every refs/next of them */
    issuer_cluster *clusters;
    pthread_mutex_t signers_lock; /* guards signers and signer_entry refs/next/cached */
    signer_entry *signers;
    int started; /* caller's thread only */
    int stopped; /* caller's thread only */
    issuer_metrics metrics; /* immutable after new */
};

/* snprintf for messages that may be cut (names are bounded by the API
 * server, the buffers by status.error's usefulness). */
static void format_message(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void format_message(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* ---- clusters ---------------------------------------------------------- */

static void cluster_free(issuer_cluster *cluster)
{
    if (!cluster)
        return;
    /* informers first: they use the client */
    mc_informer_free(cluster->requests);
    mc_informer_free(cluster->issued);
    mc_kube_client_free(cluster->client);
    if (cluster->kubeconfig)
        mc_secure_free(cluster->kubeconfig, cluster->kubeconfig_len);
    mc_api_registration_policy_clear(&cluster->policy);
    free(cluster->policy_text);
    free(cluster->name);
    free(cluster->owner);
    free(cluster);
}

/* The cluster named name with a reference taken, or NULL. */
static issuer_cluster *cluster_get(mc_issuer *issuer, const char *name)
{
    pthread_mutex_lock(&issuer->clusters_lock);
    issuer_cluster *found = issuer->clusters;
    while (found && strcmp(found->name, name) != 0)
        found = found->next;
    if (found)
        found->refs++;
    pthread_mutex_unlock(&issuer->clusters_lock);
    return found;
}

/* Drops a reference; the last one frees (stopping the informers). */
static void cluster_put(issuer_cluster *cluster)
{
    mc_issuer *issuer = cluster->issuer;
    pthread_mutex_lock(&issuer->clusters_lock);
    int last = --cluster->refs == 0;
    pthread_mutex_unlock(&issuer->clusters_lock);
    if (last)
        cluster_free(cluster);
}

/* Queues "<cluster>/<ns>/<name>" for an object of a cluster's informers. */
static void queue_object(void *ctx, const json_t *obj)
{
    issuer_cluster *cluster = ctx;
    mc_issuer *issuer = cluster->issuer;
    if (!atomic_load(&issuer->leading))
        return; /* becoming leader queues every cached request */
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    char key[KEY_MAX];
    if (!ns || !name)
        return;
    int n = snprintf(key, sizeof(key), "%s/%s/%s", cluster->name, ns, name);
    if (n > 0 && (size_t)n < sizeof(key))
        mc_workqueue_add(mc_controller_queue(issuer->request_controller), key);
    /* a rotation step completes through these objects */
    mc_rotation_controller_poke(issuer->rotations);
}

static void on_cluster_add(void *ctx, const json_t *obj)
{
    queue_object(ctx, obj);
}

static void on_cluster_update(void *ctx, const json_t *old_obj, const json_t *new_obj)
{
    (void)old_obj;
    queue_object(ctx, new_obj);
}

static void on_cluster_delete(void *ctx, const json_t *obj)
{
    queue_object(ctx, obj);
}

/* Decodes the cluster's policy annotation; an unusable one is kept as the
 * reason (the issuer then issues nothing for the cluster) and logged. */
static void load_policy(issuer_cluster *cluster)
{
    mc_err local = {0};
    mc_api_registration_policy_init(&cluster->policy);
    if (!cluster->policy_text) {
        format_message(cluster->policy_error, sizeof(cluster->policy_error),
                       "no annotation %s; register it again with meshcert cluster register "
                       "--force",
                       MC_API_REGISTRATION_POLICY_ANNOTATION);
    } else if (mc_api_registration_policy_decode(cluster->policy_text, &cluster->policy, &local) !=
               MC_OK) {
        format_message(cluster->policy_error, sizeof(cluster->policy_error), "annotation %s: %s",
                       MC_API_REGISTRATION_POLICY_ANNOTATION, local.msg);
    } else {
        cluster->has_policy = 1;
        return;
    }
    mc_log_warn(LOG, "cluster %s (secret %s): %s: nothing will be issued to it", cluster->name,
                cluster->owner, cluster->policy_error);
}

/* Connects to a registered cluster and starts its two informers. */
static int cluster_start(mc_issuer *issuer, const char *owner, const char *name,
                         const unsigned char *kubeconfig, size_t len, const char *policy_text,
                         issuer_cluster **out, mc_err *err)
{
    *out = NULL;
    issuer_cluster *cluster = calloc(1, sizeof(*cluster));
    mc_kube_config *config = NULL;
    char what[600];
    snprintf(what, sizeof(what), "secret %s key %s", owner, name);
    if (!cluster)
        return mc_err_set(err, MC_ENOMEM, "cluster %s: out of memory", name);
    cluster->issuer = issuer;
    cluster->refs = 1;
    cluster->name = mc_strdup(name);
    cluster->owner = mc_strdup(owner);
    cluster->kubeconfig = mc_strndup((const char *)kubeconfig, len);
    cluster->kubeconfig_len = len;
    cluster->policy_text = policy_text ? mc_strdup(policy_text) : NULL;
    int rc;
    if (!cluster->name || !cluster->owner || !cluster->kubeconfig ||
        (policy_text && !cluster->policy_text)) {
        rc = mc_err_set(err, MC_ENOMEM, "cluster %s: out of memory", name);
        goto out;
    }
    load_policy(cluster);
    rc = mc_kube_config_load_text((const char *)kubeconfig, len, NULL, what, &config, err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, NULL, &cluster->client, err);
    mc_informer_handlers handlers = {on_cluster_add, on_cluster_update, on_cluster_delete, cluster};
    mc_informer_options options = {NULL, NULL, NULL, 0};
    if (rc == MC_OK)
        rc = mc_informer_new(cluster->client, issuer->informers, &requests_resource, &options,
                             &handlers, &cluster->requests, err);
    if (rc == MC_OK)
        rc = mc_informer_new(cluster->client, issuer->informers, &issued_resource, &options,
                             &handlers, &cluster->issued, err);
    if (rc == MC_OK)
        rc = mc_informer_start(cluster->issued, err);
    if (rc == MC_OK)
        rc = mc_informer_start(cluster->requests, err);
out:
    mc_kube_config_free(config);
    if (rc != MC_OK) {
        cluster_free(cluster);
        return mc_err_prefix(err, "cluster %s", name);
    }
    *out = cluster;
    return MC_OK;
}

/* Removes every cluster owned by owner whose data key is not in secret (or
 * whose kubeconfig changed) from the list; returns them chained by next. */
static issuer_cluster *clusters_detach_stale(mc_issuer *issuer, const char *owner,
                                             const mc_api_secret *secret, const char *policy_text)
{
    issuer_cluster *stale = NULL;
    pthread_mutex_lock(&issuer->clusters_lock);
    issuer_cluster **link = &issuer->clusters;
    while (*link) {
        issuer_cluster *cluster = *link;
        const mc_api_bytes_entry *entry =
            secret ? mc_api_bytes_map_get(&secret->data, cluster->name) : NULL;
        int same_policy =
            (!policy_text && !cluster->policy_text) ||
            (policy_text && cluster->policy_text && strcmp(policy_text, cluster->policy_text) == 0);
        int keep = strcmp(cluster->owner, owner) != 0 ||
                   (entry && entry->len == cluster->kubeconfig_len &&
                    memcmp(entry->data, cluster->kubeconfig, entry->len) == 0 && same_policy);
        if (keep) {
            link = &cluster->next;
            continue;
        }
        *link = cluster->next;
        cluster->next = stale;
        stale = cluster;
    }
    pthread_mutex_unlock(&issuer->clusters_lock);
    return stale;
}

/* Adds cluster unless the name is taken; returns the owner holding the name
 * (borrowed while the caller is the only registration worker) or NULL. */
static const char *clusters_insert(mc_issuer *issuer, issuer_cluster *cluster)
{
    pthread_mutex_lock(&issuer->clusters_lock);
    issuer_cluster *other = issuer->clusters;
    while (other && strcmp(other->name, cluster->name) != 0)
        other = other->next;
    if (!other) {
        cluster->next = issuer->clusters;
        issuer->clusters = cluster;
    }
    pthread_mutex_unlock(&issuer->clusters_lock);
    return other ? other->owner : NULL;
}

/* Splits "a/b" into two NUL-terminated parts in buf; -1 without a '/'. */
static int split_key(const char *key, char *buf, size_t size, char **first, char **rest)
{
    if (mc_strlcpy(buf, key, size) >= size)
        return -1;
    char *slash = strchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    *first = buf;
    *rest = slash + 1;
    return 0;
}

/* Registration Secret "ns/name": start clusters for new data keys, stop
 * those gone or changed. Level-triggered on the informer's cache. */
static int reconcile_registration(void *ctx, const char *key, mc_reconcile_result *result,
                                  mc_err *err)
{
    (void)result;
    (void)err;
    mc_issuer *issuer = ctx;
    char buf[KEY_MAX];
    char *ns = NULL, *name = NULL;
    if (split_key(key, buf, sizeof(buf), &ns, &name) != 0)
        return 0;
    json_t *obj = mc_informer_get(issuer->registrations, ns, name);
    mc_api_secret *secret = NULL;
    mc_err local = {0};
    /* a changed policy restarts the cluster, like a changed kubeconfig */
    char *policy_text = mc_strdup(mc_api_registration_policy_text(obj));
    if (obj && mc_api_secret_decode(obj, &secret, &local) != MC_OK)
        mc_log_warn(LOG, "registration %s ignored: %s", key, local.msg);
    json_decref(obj);
    if (secret && (!secret->type || strcmp(secret->type, MC_API_SECRET_TYPE_KUBECONFIG) != 0 ||
                   secret->metadata.deletion_timestamp)) {
        mc_api_secret_free(secret);
        secret = NULL;
    }
    issuer_cluster *stale = clusters_detach_stale(issuer, key, secret, policy_text);
    while (stale) {
        issuer_cluster *next = stale->next;
        mc_log_info(LOG, "cluster %s deregistered (secret %s)", stale->name, key);
        cluster_put(stale);
        stale = next;
    }
    for (size_t i = 0; secret && i < secret->data.len; i++) {
        const mc_api_bytes_entry *entry = &secret->data.items[i];
        issuer_cluster *existing = cluster_get(issuer, entry->key);
        if (existing) {
            if (strcmp(existing->owner, key) != 0)
                mc_log_warn(LOG, "secret %s: cluster %s is already registered by secret %s", key,
                            entry->key, existing->owner);
            cluster_put(existing);
            continue;
        }
        issuer_cluster *cluster = NULL;
        if (cluster_start(issuer, key, entry->key, entry->data, entry->len, policy_text, &cluster,
                          &local) != MC_OK) {
            /* local input only (the kubeconfig text): retried when the Secret changes */
            mc_log_error(LOG, "secret %s: %s", key, local.msg);
            continue;
        }
        const char *holder = clusters_insert(issuer, cluster);
        if (holder) {
            mc_log_warn(LOG, "secret %s: cluster %s is already registered by secret %s", key,
                        entry->key, holder);
            cluster_free(cluster);
            continue;
        }
        mc_log_info(LOG, "cluster %s registered (secret %s)", entry->key, key);
    }
    mc_api_secret_free(secret);
    free(policy_text);
    return 0;
}

/* ---- what rotation_controller.c reads (internal.h) --------------------- */

size_t mc_issuer_clusters_acquire(mc_issuer *issuer, issuer_cluster ***out)
{
    *out = NULL;
    pthread_mutex_lock(&issuer->clusters_lock);
    size_t n = 0;
    for (issuer_cluster *c = issuer->clusters; c; c = c->next)
        n++;
    issuer_cluster **list = n ? calloc(n, sizeof(*list)) : NULL;
    size_t i = 0;
    for (issuer_cluster *c = issuer->clusters; list && c; c = c->next) {
        c->refs++;
        list[i++] = c;
    }
    pthread_mutex_unlock(&issuer->clusters_lock);
    *out = list;
    return list ? n : 0;
}

void mc_issuer_clusters_release(issuer_cluster **clusters, size_t count)
{
    for (size_t i = 0; i < count; i++)
        cluster_put(clusters[i]);
    free(clusters);
}

const char *mc_issuer_cluster_name(const issuer_cluster *cluster)
{
    return cluster->name;
}

mc_informer *mc_issuer_cluster_issued(const issuer_cluster *cluster)
{
    return cluster->issued;
}

mc_informer *mc_issuer_cluster_requests(const issuer_cluster *cluster)
{
    return cluster->requests;
}

mc_kube_client *mc_issuer_cluster_client(const issuer_cluster *cluster)
{
    return cluster->client;
}

int mc_issuer_is_leading(mc_issuer *issuer)
{
    return atomic_load(&issuer->leading);
}

int mc_issuer_root_is_external(const mc_issuer *issuer, const char *root_key)
{
    return issuer->external_root && strcmp(root_key, issuer->root_secret) == 0;
}

const char *mc_issuer_namespace(const mc_issuer *issuer)
{
    return issuer->namespace;
}

/* ---- signers ----------------------------------------------------------- */

static void signer_entry_free(signer_entry *entry)
{
    if (!entry)
        return;
    if (!entry->borrowed)
        mc_pki_signer_free(entry->signer);
    free(entry->root_pem);
    free(entry->secret);
    free(entry->resource_version);
    free(entry);
}

static void signer_put(mc_issuer *issuer, signer_entry *entry)
{
    if (!entry)
        return;
    pthread_mutex_lock(&issuer->signers_lock);
    int last = --entry->refs == 0;
    pthread_mutex_unlock(&issuer->signers_lock);
    if (last)
        signer_entry_free(entry);
}

/* Builds an entry from a root Secret: a signer, or the reason there is none. */
static signer_entry *signer_entry_build(const char *secret_key, const mc_api_secret *secret)
{
    signer_entry *entry = calloc(1, sizeof(*entry));
    if (!entry)
        return NULL;
    entry->refs = 1;
    entry->secret = mc_strdup(secret_key);
    entry->resource_version =
        mc_strdup(secret->metadata.resource_version ? secret->metadata.resource_version : "");
    if (!entry->secret || !entry->resource_version) {
        signer_entry_free(entry);
        return NULL;
    }
    const mc_api_bytes_entry *cert_data = mc_api_bytes_map_get(&secret->data, ROOT_CERT_KEY);
    const mc_api_bytes_entry *key_data = mc_api_bytes_map_get(&secret->data, ROOT_KEY_KEY);
    mc_pki_cert *root = NULL;
    mc_pki_key *key = NULL;
    mc_err err = {0};
    char what[600];
    if (!cert_data || !key_data) {
        format_message(entry->error, sizeof(entry->error),
                       "secret %s (management cluster) lacks %s", secret_key,
                       !cert_data ? ROOT_CERT_KEY : ROOT_KEY_KEY);
        return entry;
    }
    format_message(what, sizeof(what), "secret %s %s", secret_key, ROOT_CERT_KEY);
    int rc = mc_pki_cert_from_pem((const char *)cert_data->data, cert_data->len, what, &root, &err);
    format_message(what, sizeof(what), "secret %s %s", secret_key, ROOT_KEY_KEY);
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem((const char *)key_data->data, key_data->len, what, &key, &err);
    time_t not_before = 0, not_after = 0;
    if (rc == MC_OK && mc_pki_cert_validity(root, &not_before, &not_after) == MC_OK)
        entry->root_not_after = (int64_t)not_after;
    if (rc == MC_OK)
        rc = mc_pki_signer_new(root, key, &entry->signer, &err);
    if (rc == MC_OK) {
        entry->root_pem = mc_strndup((const char *)cert_data->data, cert_data->len);
        if (!entry->root_pem)
            rc = mc_err_set(&err, MC_ENOMEM, "out of memory");
    }
    if (rc != MC_OK) {
        mc_pki_signer_free(entry->signer);
        entry->signer = NULL;
        mc_strlcpy(entry->error, err.msg, sizeof(entry->error));
    }
    mc_pki_cert_free(root);
    mc_pki_key_free(key);
    return entry;
}

/* Before generating a root at ns/name: MC_EEXISTS naming the other root
 * when the namespace already holds one (a second root is a second trust
 * domain, made by a typo as easily as on purpose), unless allowed. */
static int check_no_other_root(mc_issuer *issuer, const char *ns, const char *name, mc_err *err)
{
    if (issuer->allow_another_root)
        return MC_OK;
    json_t *list = NULL;
    int rc = mc_kube_list(issuer->client, &secrets_resource, ns, NULL, &list, err);
    if (rc != MC_OK)
        return rc;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *other =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (other && strcmp(other, name) != 0 && mc_root_secret_is_root(item)) {
            rc = mc_err_set(err, MC_EEXISTS,
                            "not generating root %s/%s: secret %s/%s already holds a root "
                            "(a second root is a second trust domain; check --root-secret, or "
                            "pass --allow-another-root)",
                            ns, name, ns, other);
            break;
        }
    }
    json_decref(list);
    return rc;
}

/* The signer of root Secret secret_key ("ns/name", inside the cluster's
 * policy), read from the management cluster; generated when missing, asked
 * to, and it is the issuer's --root-secret; that root's external signer
 * (--root-key) without reading its Secret. *out is an entry with a signer
 * or an error; non-zero only for transient failures (the caller retries). */
static int signer_acquire(mc_issuer *issuer, const char *secret_key, signer_entry **out,
                          mc_err *err)
{
    *out = NULL;
    if (mc_issuer_root_is_external(issuer, secret_key)) {
        pthread_mutex_lock(&issuer->signers_lock);
        issuer->external_root->refs++;
        pthread_mutex_unlock(&issuer->signers_lock);
        *out = issuer->external_root;
        return MC_OK;
    }
    char buf[KEY_MAX];
    char *ns = NULL, *name = NULL;
    if (split_key(secret_key, buf, sizeof(buf), &ns, &name) != 0)
        return mc_err_set(err, MC_EINTERNAL, "root %s: not ns/name", secret_key);
    json_t *obj = NULL;
    mc_err local = {0};
    int rc = mc_kube_get(issuer->client, &secrets_resource, ns, name, &obj, &local);
    int ours = strcmp(secret_key, issuer->root_secret) == 0;
    if (rc == MC_ENOTFOUND && ours && issuer->generate_root) {
        rc = check_no_other_root(issuer, ns, name, &local);
        if (rc == MC_OK)
            rc = mc_root_secret_generate(issuer->client, ns, name, issuer->root_key_type,
                                         MC_ROOT_SECRET_DEFAULT_VALIDITY, 1, &obj, &local);
        else if (rc == MC_EEXISTS)
            mc_log_error(LOG, "%s", local.msg);
    }
    if (rc == MC_ENOTFOUND || rc == MC_EEXISTS) {
        signer_entry *entry = calloc(1, sizeof(*entry));
        if (!entry)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
        entry->refs = 1;
        /* the details of a refused generation are in the issuer's log only */
        format_message(entry->error, sizeof(entry->error),
                       "root secret %s not found in the management cluster%s", secret_key,
                       rc == MC_EEXISTS ? " (generation refused; see the issuer's log)" : "");
        *out = entry;
        return MC_OK;
    }
    if (rc != MC_OK) {
        *err = local;
        return rc;
    }
    const char *version =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry *entry = issuer->signers; entry; entry = entry->next)
        if (strcmp(entry->secret, secret_key) == 0 && version &&
            strcmp(entry->resource_version, version) == 0) {
            entry->refs++;
            *out = entry;
            break;
        }
    pthread_mutex_unlock(&issuer->signers_lock);
    if (*out) {
        json_decref(obj);
        return MC_OK;
    }
    mc_api_secret *secret = NULL;
    rc = mc_api_secret_decode(obj, &secret, &local);
    json_decref(obj);
    signer_entry *entry = NULL;
    if (rc != MC_OK) {
        entry = calloc(1, sizeof(*entry));
        if (entry) {
            entry->refs = 1;
            mc_strlcpy(entry->error, local.msg, sizeof(entry->error));
        }
    } else {
        entry = signer_entry_build(secret_key, secret);
    }
    mc_api_secret_free(secret);
    if (!entry)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if (!entry->secret) { /* an undecodable Secret: not cached */
        *out = entry;
        return MC_OK;
    }
    /* Cache it, replacing the entry of an older version of the Secret. */
    signer_entry *replaced = NULL;
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry **link = &issuer->signers; *link; link = &(*link)->next)
        if (strcmp((*link)->secret, secret_key) == 0) {
            replaced = *link;
            *link = replaced->next;
            replaced->cached = 0;
            break;
        }
    entry->refs++;
    entry->cached = 1;
    entry->next = issuer->signers;
    issuer->signers = entry;
    pthread_mutex_unlock(&issuer->signers_lock);
    signer_put(issuer, replaced);
    *out = entry;
    return MC_OK;
}

/* Appends a PEM text to a bundle, ending it with a newline. */
static int bundle_append(mc_buf *bundle, const char *pem)
{
    size_t len = strlen(pem);
    if (mc_buf_append(bundle, pem, len) != MC_OK)
        return MC_ENOMEM;
    return len && pem[len - 1] != '\n' ? mc_buf_append_str(bundle, "\n") : MC_OK;
}

/* The signer and signingRootCa for requests whose IssuedCertificate names
 * root_key: that root and its certificate, or, while a RootRotation of it
 * is in a signing phase, the phase's signer and trust bundle (*bundle,
 * caller frees; NULL when not rotating). A root of the bundle that cannot
 * be read hands back its entry (no signer, an error) so that nothing is
 * signed with a bundle lacking a root. */
static int signing_acquire(mc_issuer *issuer, const char *root_key, signer_entry **signer,
                           char **bundle, mc_err *err)
{
    *bundle = NULL;
    mc_rotation_signing plan;
    if (!mc_rotation_controller_plan(issuer->rotations, root_key, &plan))
        return signer_acquire(issuer, root_key, signer, err);
    signer_entry *old_root = NULL, *new_root = NULL;
    int rc = signer_acquire(issuer, plan.old_secret, &old_root, err);
    if (rc == MC_OK)
        rc = signer_acquire(issuer, plan.new_secret, &new_root, err);
    if (rc != MC_OK) {
        signer_put(issuer, old_root);
        signer_put(issuer, new_root);
        return rc;
    }
    signer_entry *chosen = plan.signer == MC_ROTATION_ROOT_NEW ? new_root : old_root;
    signer_entry *other = chosen == new_root ? old_root : new_root;
    mc_buf buf;
    mc_buf_init(&buf, 1 << 20);
    int missing = 0;
    if (plan.bundle & MC_ROTATION_ROOT_OLD) {
        missing |= !old_root->root_pem;
        if (old_root->root_pem && bundle_append(&buf, old_root->root_pem) != MC_OK)
            rc = MC_ENOMEM;
    }
    if (plan.bundle & MC_ROTATION_ROOT_NEW) {
        missing |= !new_root->root_pem;
        if (new_root->root_pem && bundle_append(&buf, new_root->root_pem) != MC_OK)
            rc = MC_ENOMEM;
    }
    if (rc != MC_OK) {
        mc_buf_free(&buf);
        signer_put(issuer, old_root);
        signer_put(issuer, new_root);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    if (missing && chosen->signer && !other->signer) {
        signer_entry *swap = chosen; /* the unusable root answers */
        chosen = other;
        other = swap;
    }
    signer_put(issuer, other);
    *signer = chosen;
    *bundle = mc_buf_steal(&buf, NULL);
    return MC_OK;
}

/* ---- requests ---------------------------------------------------------- */

static int put_status(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err);

/* Writes the request's status for a FINISH or FAIL action, with its Ready
 * condition (conditional on the resourceVersion the decision was made from). */
static int write_status(issuer_cluster *cluster, mc_api_certificate_request *request,
                        const mc_issuer_action *action, const char *root_pem, mc_err *err)
{
    request->status.observed_generation = action->observed_generation;
    free(request->status.error);
    request->status.error = NULL;
    int rc = MC_OK;
    if (action->type == MC_ISSUER_FINISH) {
        request->status.state = MC_CR_STATE_FINISHED;
        rc = mc_api_certificate_request_set_signed(request, action->certificate_pem,
                                                   strlen(action->certificate_pem), root_pem,
                                                   strlen(root_pem));
    } else {
        request->status.state = MC_CR_STATE_FAILED;
        request->status.error = mc_strdup(action->error);
        rc = mc_api_certificate_request_set_signed(request, NULL, 0, NULL, 0);
        if (rc == MC_OK && !request->status.error)
            rc = MC_ENOMEM;
    }
    if (rc == MC_OK)
        rc = mc_api_certificate_request_set_ready(request, (int64_t)time(NULL));
    if (rc != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    return put_status(cluster, request, err);
}

/* An answer written without the Ready condition (by an older issuer): the
 * condition is added, nothing else changes. */
static int write_ready(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err)
{
    if (mc_api_certificate_request_set_ready(request, (int64_t)time(NULL)) != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    return put_status(cluster, request, err);
}

static int put_status(issuer_cluster *cluster, mc_api_certificate_request *request, mc_err *err)
{
    json_t *body = NULL;
    int rc = mc_api_certificate_request_encode(request, &body, err);
    if (rc == MC_OK)
        rc = mc_kube_update_status(cluster->client, &requests_resource, request->metadata.namespace,
                                   body, NULL, err);
    json_decref(body);
    return rc;
}

/* Decides and writes for one request of one cluster. */
/* Waits (at most 2 s) until the request cache shows a version other than
 * old_rv: a reconcile queued while this one ran would otherwise decide from
 * the state before our status write and sign the request a second time (the
 * server refuses that write with 409, but the signature is wasted). */
static void wait_cache(issuer_cluster *cluster, const char *ns, const char *name,
                       const char *old_rv)
{
    for (int waited = 0; old_rv && waited < 2000; waited += 5) {
        json_t *obj = mc_informer_get(cluster->requests, ns, name);
        const char *rv = obj ? json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                                 "resourceVersion"))
                             : NULL;
        int moved = !obj || !rv || strcmp(rv, old_rv) != 0;
        json_decref(obj);
        if (moved)
            return;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Counts an answer written: signed (with its latency since the request was
 * created) or refused by reason class. */
static void count_answer(const issuer_metrics *metrics, const char *cluster,
                         const mc_api_certificate_request *request, const mc_issuer_action *action)
{
    if (action->type == MC_ISSUER_FINISH) {
        mc_metric_add(metrics->signed_total, MC_LABELS(cluster), 1);
        int64_t created = 0;
        if (request->metadata.creation_timestamp &&
            mc_time_parse(request->metadata.creation_timestamp, &created, NULL, NULL) == MC_OK) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double seconds = (double)(now.tv_sec - created) + (double)now.tv_nsec / 1e9;
            mc_metric_observe(metrics->latency, MC_LABELS(cluster), seconds > 0 ? seconds : 0);
        }
        return;
    }
    mc_metric_add(metrics->refused_total,
                  MC_LABELS(cluster, action->reason ? action->reason : "other"), 1);
    if (action->csr_reason)
        mc_metric_add(metrics->csr_refusals, MC_LABELS(cluster, action->csr_reason), 1);
}

static int reconcile_cluster_request(mc_issuer *issuer, issuer_cluster *cluster, const char *ns,
                                     const char *name, mc_err *err)
{
    mc_api_certificate_request *request = NULL;
    mc_api_issued_certificate *issued = NULL;
    signer_entry *signer = NULL;
    char *bundle = NULL;
    mc_issuer_action action;
    memset(&action, 0, sizeof(action));
    mc_err local = {0};
    int rc = MC_OK;
    json_t *obj = mc_informer_get(cluster->requests, ns, name);
    if (!obj)
        return MC_OK; /* deleted */
    rc = mc_api_certificate_request_decode(obj, &request, &local);
    json_decref(obj);
    if (rc != MC_OK) {
        mc_log_warn(LOG, "cluster %s: %s", cluster->name, local.msg);
        return MC_OK; /* answered when it changes */
    }
    int answered = request->status.state == MC_CR_STATE_FINISHED ||
                   request->status.state == MC_CR_STATE_FAILED;
    /* what decide would call NOTHING or WAIT, without reading the root */
    obj = mc_informer_get(cluster->issued, ns, name);
    if (!request->metadata.deletion_timestamp && answered &&
        request->status.observed_generation == request->metadata.generation &&
        !mc_api_certificate_request_ready_current(request)) {
        rc = write_ready(cluster, request, err);
        if (rc == MC_ECONFLICT) {
            mc_err_clear(err);
            rc = MC_OK; /* a newer version is on its way to the cache */
        } else if (rc == MC_OK) {
            wait_cache(cluster, ns, name, request->metadata.resource_version);
        }
        goto out;
    }
    if (request->metadata.deletion_timestamp ||
        (answered && request->status.observed_generation == request->metadata.generation) || !obj)
        goto out;
    rc = mc_api_issued_certificate_decode(obj, &issued, &local);
    if (rc != MC_OK) {
        action.type = MC_ISSUER_FAIL;
        action.reason = MC_ISSUER_REASON_INVALID_IC;
        action.observed_generation = request->metadata.generation;
        format_message(action.error, sizeof(action.error),
                       "certificaterequest %s/%s on cluster %s: %s", ns, name, cluster->name,
                       local.msg);
        rc = MC_OK;
    } else {
        /* Only a root inside the cluster's policy is ever read (or made);
         * decide() refuses any other with the same words whether it exists. */
        char root_key[KEY_MAX];
        if (cluster->has_policy &&
            mc_issuer_policy_check_root(&cluster->policy, cluster->name,
                                        &issued->spec.signing_certificate_secret, issuer->namespace,
                                        root_key, sizeof(root_key), &local) == MC_OK) {
            rc = signing_acquire(issuer, root_key, &signer, &bundle, err);
            if (rc != MC_OK)
                goto out;
        }
        mc_issuer_observation observation = {
            .cluster = cluster->name,
            .request = request,
            .ic = issued,
            .policy = cluster->has_policy ? &cluster->policy : NULL,
            .policy_error = cluster->has_policy ? NULL : cluster->policy_error,
            .issuer_namespace = issuer->namespace,
            .signer = signer ? signer->signer : NULL,
            .signer_error = signer && !signer->signer ? signer->error : NULL,
            .root_pem = bundle   ? bundle
                        : signer ? signer->root_pem
                                 : NULL,
            .ttl_seconds = issuer->ttl_seconds,
            .max_duration_seconds = issuer->max_duration_seconds,
            .now = time(NULL),
        };
        mc_issuer_decide(&observation, &action);
    }
    if (action.type != MC_ISSUER_FINISH && action.type != MC_ISSUER_FAIL)
        goto out;
    rc = write_status(cluster, request, &action,
                      bundle                       ? bundle
                      : signer && signer->root_pem ? signer->root_pem
                                                   : "",
                      err);
    if (rc != MC_OK) {
        mc_err_prefix(err, "certificaterequest %s/%s on cluster %s", ns, name, cluster->name);
        goto out;
    }
    wait_cache(cluster, ns, name, request->metadata.resource_version);
    count_answer(&issuer->metrics, cluster->name, request, &action);
    if (action.type == MC_ISSUER_FINISH)
        mc_log_info(LOG, "certificaterequest %s/%s on cluster %s: FINISHED (generation %lld)", ns,
                    name, cluster->name, (long long)action.observed_generation);
    else
        mc_log_warn(LOG, "%s: FAILED", action.error);
out:
    json_decref(obj);
    mc_issuer_action_clear(&action);
    free(bundle);
    signer_put(issuer, signer);
    mc_api_issued_certificate_free(issued);
    mc_api_certificate_request_free(request);
    return rc;
}

/* Key "<cluster>/<ns>/<name>". */
static int reconcile_request(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    mc_issuer *issuer = ctx;
    if (!atomic_load(&issuer->leading))
        return 0; /* the next leader reconciles everything */
    char buf[KEY_MAX], inner[KEY_MAX];
    char *cluster_name = NULL, *rest = NULL, *ns = NULL, *name = NULL;
    if (split_key(key, buf, sizeof(buf), &cluster_name, &rest) != 0 ||
        split_key(rest, inner, sizeof(inner), &ns, &name) != 0)
        return 0;
    if (!mc_rotation_controller_ready(issuer->rotations)) {
        result->requeue_after_ms = 200; /* the signing plan is not known yet */
        return 0;
    }
    issuer_cluster *cluster = cluster_get(issuer, cluster_name);
    if (!cluster)
        return 0; /* deregistered */
    int rc = reconcile_cluster_request(issuer, cluster, ns, name, err);
    cluster_put(cluster);
    return rc;
}

/* ---- leader election --------------------------------------------------- */

static void on_started_leading(void *ctx)
{
    mc_issuer *issuer = ctx;
    atomic_store(&issuer->leading, 1);
    mc_log_info(LOG, "leading (lease %s/%s, identity %s)", issuer->namespace, LEASE_NAME,
                issuer->identity);
    /* Everything cached may have changed while another replica led. */
    pthread_mutex_lock(&issuer->clusters_lock);
    for (issuer_cluster *cluster = issuer->clusters; cluster; cluster = cluster->next) {
        json_t **items = NULL;
        size_t count = mc_informer_list(cluster->requests, NULL, &items);
        for (size_t i = 0; i < count; i++) {
            queue_object(cluster, items[i]);
            json_decref(items[i]);
        }
        free(items);
    }
    pthread_mutex_unlock(&issuer->clusters_lock);
    mc_rotation_controller_poke(issuer->rotations);
}

static void on_stopped_leading(void *ctx)
{
    mc_issuer *issuer = ctx;
    atomic_store(&issuer->leading, 0);
    mc_log_info(LOG, "not leading (lease %s/%s)", issuer->namespace, LEASE_NAME);
}

/* ---- metrics and readiness --------------------------------------------- */

/* Collector: the values read from caches, the queues and the signers. */
static void collect_metrics(void *ctx)
{
    mc_issuer *issuer = ctx;
    issuer_metrics *m = &issuer->metrics;
    mc_metric_set(m->leader, NULL, atomic_load(&issuer->leading) ? 1 : 0);
    mc_runtime_metrics_controller(&m->runtime, issuer->request_controller);
    mc_runtime_metrics_controller(&m->runtime, issuer->cluster_controller);
    mc_runtime_metrics_watcher(&m->runtime, issuer->watcher);
    issuer_cluster **clusters = NULL;
    size_t count = mc_issuer_clusters_acquire(issuer, &clusters);
    mc_metric_set(m->clusters, NULL, (double)count);
    mc_api_certificate_metrics_reset(&m->certificates);
    for (size_t i = 0; i < count; i++) {
        json_t **items = NULL;
        size_t n = mc_informer_list(clusters[i]->issued, NULL, &items);
        for (size_t j = 0; j < n; j++) {
            mc_api_certificate_metrics_set(&m->certificates, clusters[i]->name, items[j]);
            json_decref(items[j]);
        }
        free(items);
    }
    mc_issuer_clusters_release(clusters, count);
    mc_metric_reset(m->root_expiry);
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry *entry = issuer->signers; entry; entry = entry->next)
        if (entry->signer && entry->root_not_after)
            mc_metric_set(m->root_expiry, MC_LABELS(entry->secret), (double)entry->root_not_after);
    pthread_mutex_unlock(&issuer->signers_lock);
}

static int metrics_register(mc_issuer *issuer, mc_metrics *registry, mc_err *err)
{
    issuer_metrics *m = &issuer->metrics;
    m->registry = registry;
    if (!registry)
        return MC_OK;
    static const char *const cluster[] = {"cluster"};
    static const char *const cluster_reason[] = {"cluster", "reason"};
    static const char *const secret[] = {"secret"};
    m->signed_total =
        mc_metrics_counter(registry, "meshcert_issuer_requests_signed_total",
                           "CertificateRequests signed (status FINISHED written).", cluster, 1);
    m->refused_total = mc_metrics_counter(
        registry, "meshcert_issuer_requests_refused_total",
        "CertificateRequests refused (status FAILED written), by reason class.", cluster_reason, 2);
    m->csr_refusals =
        mc_metrics_counter(registry, "meshcert_issuer_csr_refusals_total",
                           "CSRs refused, by what was wrong with them.", cluster_reason, 2);
    m->latency = mc_metrics_histogram(
        registry, "meshcert_issuer_issuance_duration_seconds",
        "From a CertificateRequest's creation to its signed status written.", cluster, 1,
        mc_metrics_latency_buckets, mc_metrics_latency_bucket_count);
    m->leader =
        mc_metrics_gauge(registry, "meshcert_issuer_leader",
                         "1 while this replica holds the Lease and signs, 0 on standby.", NULL, 0);
    m->clusters = mc_metrics_gauge(registry, "meshcert_issuer_registered_clusters",
                                   "Registered clusters being watched.", NULL, 0);
    m->root_expiry = mc_metrics_gauge(
        registry, "meshcert_root_expiration_timestamp_seconds",
        "notAfter of each root CA read for signing (Secret ns/name), Unix seconds.", secret, 1);
    if (!m->signed_total || !m->refused_total || !m->csr_refusals || !m->latency || !m->leader ||
        !m->clusters || !m->root_expiry)
        return mc_err_set(err, MC_EINVAL, "issuer metrics: cannot register (name taken?)");
    int rc = mc_api_certificate_metrics_register(registry, &m->certificates, err);
    if (rc == MC_OK)
        rc = mc_runtime_metrics_register(registry, &m->runtime, err);
    if (rc == MC_OK && mc_metrics_add_collector(registry, collect_metrics, issuer) != MC_OK)
        rc = mc_err_set(err, MC_ENOMEM, "issuer metrics: out of memory");
    return rc;
}

int mc_issuer_ready(mc_issuer *issuer, char *reason, size_t reason_size)
{
    if (!mc_informer_has_synced(issuer->registrations)) {
        format_message(reason, reason_size, "registered clusters (secrets in %s) not synced yet",
                       issuer->namespace);
        return 0;
    }
    if (!mc_rotation_controller_ready(issuer->rotations)) {
        format_message(reason, reason_size, "rootrotations not synced yet");
        return 0;
    }
    mc_buf text;
    mc_buf_init(&text, reason_size ? reason_size - 1 : 0);
    mc_buf_append_str(&text, atomic_load(&issuer->leading) ? "leading"
                                                           : "standby (another replica leads)");
    issuer_cluster **clusters = NULL;
    size_t count = mc_issuer_clusters_acquire(issuer, &clusters);
    for (size_t i = 0, unsynced = 0; i < count; i++)
        if (!mc_informer_has_synced(clusters[i]->issued) ||
            !mc_informer_has_synced(clusters[i]->requests))
            mc_buf_appendf(&text, "%s%s", unsynced++ ? ", " : "; caches not synced yet: cluster ",
                           clusters[i]->name);
    mc_issuer_clusters_release(clusters, count);
    format_message(reason, reason_size, "%s", text.data ? text.data : "ready");
    mc_buf_free(&text);
    return 1;
}

/* ---- lifecycle --------------------------------------------------------- */

/* The entry of the root whose key is outside the API (--root-key): held by
 * the issuer for its whole life, never cached by resourceVersion. */
static int external_root_new(const char *secret_key, mc_pki_signer *signer, signer_entry **out,
                             mc_err *err)
{
    signer_entry *entry = calloc(1, sizeof(*entry));
    if (!entry)
        return mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    entry->refs = 1;
    entry->signer = signer;
    entry->borrowed = 1;
    entry->secret = mc_strdup(secret_key);
    entry->resource_version = mc_strdup("");
    int rc = entry->secret && entry->resource_version
                 ? mc_pki_cert_to_pem(mc_pki_signer_root(signer), &entry->root_pem, NULL, err)
                 : mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    if (rc != MC_OK) {
        signer_entry_free(entry);
        return rc;
    }
    *out = entry;
    return MC_OK;
}

int mc_issuer_new(const mc_issuer_options *options, mc_issuer **out, mc_err *err)
{
    *out = NULL;
    if (!options || !options->management || options->workers < 0)
        return mc_err_set(err, MC_EINVAL,
                          "issuer: a management cluster configuration is "
                          "required and workers must not be negative");
    if (options->root_signer && options->generate_root)
        return mc_err_set(err, MC_EINVAL,
                          "issuer: a root with its own key (--root-key) is never generated");
    mc_issuer *issuer = calloc(1, sizeof(*issuer));
    if (!issuer)
        return mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    pthread_mutex_init(&issuer->clusters_lock, NULL);
    pthread_mutex_init(&issuer->signers_lock, NULL);
    atomic_init(&issuer->leading, 0);
    issuer->generate_root = options->generate_root;
    issuer->allow_another_root = options->allow_another_root;
    issuer->root_key_type = options->root_key_type;
    issuer->ttl_seconds = options->ttl_seconds;
    issuer->max_duration_seconds = options->max_duration_seconds;
    const char *ns = options->namespace && *options->namespace ? options->namespace
                                                               : options->management->namespace;
    issuer->namespace = mc_strdup(ns ? ns : "default");
    char root_secret[KEY_MAX];
    snprintf(root_secret, sizeof(root_secret), "%s/%s", issuer->namespace ? issuer->namespace : "",
             MC_ISSUER_DEFAULT_ROOT_NAME);
    if (options->root_secret && *options->root_secret)
        mc_strlcpy(root_secret, options->root_secret, sizeof(root_secret));
    issuer->root_secret = mc_strdup(root_secret);
    char identity[300];
    if (options->identity) {
        mc_strlcpy(identity, options->identity, sizeof(identity));
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
            mc_strlcpy(host, "meshcert", sizeof(host));
        snprintf(identity, sizeof(identity), "%s-%ld", host, (long)getpid());
    }
    issuer->identity = mc_strdup(identity);
    int rc = MC_OK;
    if (!issuer->namespace || !issuer->identity || !issuer->root_secret) {
        rc = mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
        goto out;
    }
    if (options->root_signer && (rc = external_root_new(issuer->root_secret, options->root_signer,
                                                        &issuer->external_root, err)) != MC_OK)
        goto out;
    if (issuer->external_root)
        mc_log_info(LOG, "root %s signs with the key given at start; its Secret is not read",
                    issuer->root_secret);
    rc = mc_kube_config_copy(options->management, &issuer->config, err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(issuer->config, NULL, &issuer->client, err);
    if (rc == MC_OK)
        rc = mc_kube_watcher_new(&issuer->watcher, err);
    if (rc == MC_OK)
        rc = mc_informer_runner_new(issuer->watcher, 0, &issuer->informers, err);
    if (rc == MC_OK)
        rc = mc_controller_new("issuer-clusters", 1, reconcile_registration, issuer,
                               &issuer->cluster_controller, err);
    if (rc == MC_OK)
        rc = mc_controller_new("issuer", options->workers ? options->workers : 4, reconcile_request,
                               issuer, &issuer->request_controller, err);
    if (rc == MC_OK)
        rc = mc_rotation_controller_new(issuer, issuer->client, issuer->informers,
                                        issuer->namespace, &issuer->rotations, err);
    if (rc == MC_OK)
        rc = metrics_register(issuer, options->metrics, err);
    if (rc == MC_OK) {
        mc_informer_handlers handlers;
        mc_controller_watch(issuer->cluster_controller, &handlers, NULL);
        mc_informer_options informer_options = {issuer->namespace, NULL, NULL, 0};
        rc = mc_informer_new(issuer->client, issuer->informers, &secrets_resource, &informer_options,
                             &handlers, &issuer->registrations, err);
    }
    if (rc == MC_OK) {
        mc_leader_options leader_options = {issuer->namespace,
                                            LEASE_NAME,
                                            issuer->identity,
                                            options->lease_ms,
                                            options->renew_deadline_ms,
                                            options->retry_ms,
                                            on_started_leading,
                                            on_stopped_leading,
                                            issuer};
        rc = mc_leader_new(issuer->client, &leader_options, &issuer->leader, err);
    }
out:
    if (rc != MC_OK) {
        mc_issuer_free(issuer);
        return rc;
    }
    *out = issuer;
    return MC_OK;
}

int mc_issuer_start(mc_issuer *issuer, mc_err *err)
{
    if (issuer->started)
        return mc_err_set(err, MC_EINVAL, "issuer: already started");
    issuer->started = 1;
    int rc = mc_controller_start(issuer->cluster_controller, err);
    if (rc == MC_OK)
        rc = mc_controller_start(issuer->request_controller, err);
    if (rc == MC_OK)
        rc = mc_informer_start(issuer->registrations, err);
    if (rc == MC_OK)
        rc = mc_rotation_controller_start(issuer->rotations, err);
    if (rc == MC_OK)
        rc = mc_leader_start(issuer->leader, err);
    if (rc == MC_OK)
        mc_log_info(LOG, "started: registered clusters from secrets of type %s in namespace %s%s%s",
                    MC_API_SECRET_TYPE_KUBECONFIG, issuer->namespace,
                    issuer->generate_root ? ", generating root " : "",
                    issuer->generate_root ? issuer->root_secret : "");
    return rc;
}

void mc_issuer_stop(mc_issuer *issuer)
{
    if (!issuer || issuer->stopped)
        return;
    issuer->stopped = 1;
    /* Leadership first (the Lease is released for a standby), then the
     * sources of keys, then the workers (draining: non-leaders return at once). */
    mc_leader_stop(issuer->leader);
    atomic_store(&issuer->leading, 0);
    if (issuer->registrations)
        mc_informer_stop(issuer->registrations);
    /* before the clusters go: its workers read their caches */
    mc_rotation_controller_stop(issuer->rotations);
    mc_controller_stop(issuer->cluster_controller);
    pthread_mutex_lock(&issuer->clusters_lock);
    issuer_cluster *clusters = issuer->clusters;
    issuer->clusters = NULL;
    pthread_mutex_unlock(&issuer->clusters_lock);
    for (issuer_cluster *cluster = clusters; cluster; cluster = cluster->next) {
        mc_informer_stop(cluster->requests);
        mc_informer_stop(cluster->issued);
    }
    mc_controller_stop(issuer->request_controller);
    while (clusters) {
        issuer_cluster *next = clusters->next;
        cluster_put(clusters);
        clusters = next;
    }
    mc_log_info(LOG, "stopped");
}

void mc_issuer_free(mc_issuer *issuer)
{
    if (!issuer)
        return;
    /* no scrape reads the issuer once this returns */
    mc_metrics_remove_collector(issuer->metrics.registry, collect_metrics, issuer);
    if (issuer->started)
        mc_issuer_stop(issuer);
    mc_leader_free(issuer->leader);
    mc_rotation_controller_free(issuer->rotations);
    mc_informer_free(issuer->registrations);
    mc_controller_free(issuer->request_controller);
    mc_controller_free(issuer->cluster_controller);
    /* clusters still listed were never started */
    while (issuer->clusters) {
        issuer_cluster *next = issuer->clusters->next;
        cluster_free(issuer->clusters);
        issuer->clusters = next;
    }
    while (issuer->signers) {
        signer_entry *next = issuer->signers->next;
        signer_entry_free(issuer->signers);
        issuer->signers = next;
    }
    signer_entry_free(issuer->external_root);
    mc_informer_runner_free(issuer->informers);
    mc_kube_watcher_free(issuer->watcher);
    mc_kube_client_free(issuer->client);
    mc_kube_config_free(issuer->config);
    pthread_mutex_destroy(&issuer->clusters_lock);
    pthread_mutex_destroy(&issuer->signers_lock);
    free(issuer->namespace);
    free(issuer->root_secret);
    free(issuer->identity);
    free(issuer);
}

int mc_issuer_cluster_count(mc_issuer *issuer)
{
    int count = 0;
    pthread_mutex_lock(&issuer->clusters_lock);
    for (issuer_cluster *cluster = issuer->clusters; cluster; cluster = cluster->next)
        count++;
    pthread_mutex_unlock(&issuer->clusters_lock);
    return count;
}
