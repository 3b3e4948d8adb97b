/* issuer.c - the `meshcert issuer` process (see issuer.h): creating,
 * starting and stopping it, and leader election gating the writes. Its parts:
 * registered clusters from kubeconfig Secrets, one CertificateRequest and one
 * IssuedCertificate informer per cluster (clusters.c); a controller that
 * answers requests with mc_issuer_decide (requests.c); signers cached per
 * root Secret resourceVersion (signers.c, root.c); metrics (metrics.c).
 *
 * Threads: the watch I/O thread runs informer handlers (they only queue
 * keys); one worker (re)starts and stops clusters; N workers reconcile
 * requests. A cluster is reference counted so that a worker reading its caches
 * keeps it alive while its registration Secret is being deleted.
 */
#include "issuer/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"

#define LOG        "issuer"
#define LEASE_NAME "meshcert-issuer"

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

static void poke_rotations(void *rotations)
{
    mc_rotation_controller_poke(rotations);
}

static void on_stopped_leading(void *ctx)
{
    mc_issuer *issuer = ctx;
    atomic_store(&issuer->leading, 0);
    mc_log_info(LOG, "not leading (lease %s/%s)", issuer->namespace, LEASE_NAME);
}

/* ---- lifecycle --------------------------------------------------------- */

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
    if (options->root_keys_len > MC_ISSUER_ROOT_KEYS_MAX ||
        (options->root_keys_len && !options->root_keys))
        return mc_err_set(err, MC_EINVAL, "issuer: at most %d root keys", MC_ISSUER_ROOT_KEYS_MAX);
    for (size_t i = 0; i < options->root_keys_len; i++)
        if (!options->root_keys[i].ref ||
            !options->root_keys[i].key == !options->root_keys[i].backend)
            return mc_err_set(err, MC_EINVAL,
                              "issuer: root key %zu needs a ref and one of a key or a back end", i);
    mc_issuer *issuer = calloc(1, sizeof(*issuer));
    if (!issuer)
        return mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    pthread_mutex_init(&issuer->clusters_lock, NULL);
    pthread_mutex_init(&issuer->signers_lock, NULL);
    atomic_init(&issuer->leading, 0);
    issuer->generate_root = options->generate_root;
    for (size_t i = 0; i < options->root_keys_len; i++)
        issuer->root_keys[i] = options->root_keys[i];
    issuer->root_keys_len = options->root_keys_len;
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
        rc = mc_rotation_controller_new(issuer, issuer->client, issuer->informers, issuer->namespace,
                                        &issuer->rotations, err);
    if (rc == MC_OK) {
        issuer->objects_changed = poke_rotations;
        issuer->objects_changed_ctx = issuer->rotations;
    }
    if (rc == MC_OK)
        rc = metrics_register(issuer, options->metrics, err);
    mc_event_broadcaster_options event_options = {
        .component = "meshcert-issuer", .dropped = issuer->metrics.runtime.events_dropped};
    if (rc == MC_OK)
        rc = mc_event_broadcaster_new(&event_options, &issuer->events, err);
    if (rc == MC_OK) {
        mc_informer_handlers handlers;
        mc_controller_watch(issuer->cluster_controller, &handlers, NULL);
        mc_informer_options informer_options = {issuer->namespace, NULL, NULL, 0};
        rc = mc_informer_new(issuer->client, issuer->informers, mc_kube_resource_of(MC_API_SECRETS), &informer_options,
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
    mc_event_broadcaster_free(issuer->events); /* after the clusters' recorders */
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
