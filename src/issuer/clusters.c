/* clusters.c - the issuer's registry of clusters: one per data key of the
 * registration Secrets (type solo.io/kubeconfig) in the issuer's namespace,
 * each with its client and its CertificateRequest and IssuedCertificate
 * informers. A cluster is reference counted so that a worker reading its
 * caches keeps it alive while its registration Secret is being deleted.
 */
#include "issuer/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/object.h"
#include "util/log.h"
#include "util/str.h"

#define LOG "issuer"

void cluster_free(issuer_cluster *cluster)
{
    if (!cluster)
        return;
    /* informers and recorder first: they use the client */
    mc_informer_free(cluster->requests);
    mc_informer_free(cluster->issued);
    mc_event_recorder_free(cluster->events);
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
issuer_cluster *cluster_get(mc_issuer *issuer, const char *name)
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
void cluster_put(issuer_cluster *cluster)
{
    mc_issuer *issuer = cluster->issuer;
    pthread_mutex_lock(&issuer->clusters_lock);
    int last = --cluster->refs == 0;
    pthread_mutex_unlock(&issuer->clusters_lock);
    if (last)
        cluster_free(cluster);
}

/* Queues "<cluster>/<ns>/<name>" for an object of a cluster's informers. */
void queue_object(void *ctx, const json_t *obj)
{
    issuer_cluster *cluster = ctx;
    mc_issuer *issuer = cluster->issuer;
    if (!atomic_load(&issuer->leading))
        return; /* becoming leader queues every cached request */
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    char object_key[KEY_MAX], key[KEY_MAX];
    if (mc_object_key_join(ns, name, object_key, sizeof(object_key)) == 0 &&
        mc_object_key_join(cluster->name, object_key, key, sizeof(key)) == 0)
        mc_workqueue_add(mc_controller_queue(issuer->request_controller), key);
    /* a rotation step completes through these objects */
    if (issuer->objects_changed)
        issuer->objects_changed(issuer->objects_changed_ctx);
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
    /* Per cluster the issuer makes a few calls per issuance and two lists
     * per sync; the 1 to 2 idle connections curl kept for them cost each
     * registered cluster ~63 KiB of TLS and curl state (bench/RESULTS.md,
     * issue 13). Without them each call resumes the TLS session. */
    mc_kube_client_options client_options = {.idle_connections = -1};
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, &client_options, &cluster->client, err);
    if (rc == MC_OK)
        rc = mc_event_recorder_new(issuer->events, cluster->client, &cluster->events, err);
    mc_informer_handlers handlers = {on_cluster_add, on_cluster_update, on_cluster_delete, cluster};
    /* a kubeconfig whose context names a namespace (what `meshcert cluster
     * register` stores: a ServiceAccount allowed there only) is served in
     * that namespace; else in every namespace */
    mc_informer_options options = {config && config->namespace_given ? config->namespace : NULL,
                                   NULL, NULL, 0};
    if (rc == MC_OK)
        rc = mc_informer_new(cluster->client, issuer->informers, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), &options,
                             &handlers, &cluster->requests, err);
    if (rc == MC_OK)
        rc = mc_informer_new(cluster->client, issuer->informers, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), &options,
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

/* Registration Secret "ns/name": start clusters for new data keys, stop
 * those gone or changed. Level-triggered on the informer's cache. */
int reconcile_registration(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    (void)result;
    (void)err;
    mc_issuer *issuer = ctx;
    char ns[KEY_MAX];
    const char *name = NULL;
    if (mc_object_key_split(key, ns, sizeof(ns), &name) != 0)
        return 0;
    json_t *obj = mc_informer_get(issuer->registrations, ns, name);
    mc_api_secret *secret = NULL;
    mc_err local = {0};
    /* a changed policy restarts the cluster, like a changed kubeconfig */
    char *policy_text = mc_strdup(mc_api_registration_policy_text(obj));
    int is_registration = mc_api_registration_is(obj);
    if (obj && mc_api_secret_decode(obj, &secret, &local) != MC_OK)
        mc_log_warn(LOG, "registration %s ignored: %s", key, local.msg);
    json_decref(obj);
    if (secret && (!is_registration || secret->metadata.deletion_timestamp)) {
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

const mc_issuer_root_key *mc_issuer_root_key_find(const mc_issuer *issuer, const char *ref)
{
    for (size_t i = 0; i < issuer->root_keys_len; i++)
        if (strcmp(issuer->root_keys[i].ref, ref) == 0)
            return &issuer->root_keys[i];
    return NULL;
}

const char *mc_issuer_namespace(const mc_issuer *issuer)
{
    return issuer->namespace;
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
