/* cluster_table.c - the logical clusters the server hosts, as its request
 * machinery sees them: each with its admin token (DIR/tokens/<cluster>) and
 * its resource registry (built-ins plus the cluster's CRDs), loaded from the
 * store at start and re-read when another process adds or removes one
 * (meshcert server cluster add/remove). Storage level: below both the
 * transport (http.c) and the handlers; uses the store, the registry and the
 * watch hub only.
 */
#include "server/cluster_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/time.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"

#define CRD_RESOURCE "apiextensions.k8s.io/customresourcedefinitions"

void mc_server_cluster_table_init(mc_server_cluster_table *table, const char *data_dir,
                                  mc_store *store, mc_watch_hub *hub)
{
    memset(table, 0, sizeof(*table));
    table->data_dir = data_dir;
    table->store = store;
    table->hub = hub;
}

/* Reads DIR/tokens/<cluster> (or a cluster's ServiceAccount signing key,
 * DIR/tokens/<cluster>.serviceaccount-key), creating a random one when
 * missing. */
int mc_server_cluster_token(const char *dir, const char *cluster, char token[65], mc_err *err)
{
    char tokens_dir[4096], path[4200];
    snprintf(tokens_dir, sizeof(tokens_dir), "%s/tokens", dir);
    snprintf(path, sizeof(path), "%s/%s", tokens_dir, cluster);
    char *text = NULL;
    size_t len = 0;
    int rc = mc_file_read(path, 1024, &text, &len, err);
    if (rc == MC_OK) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        if (len != 64) {
            mc_secure_free_str(text);
            return mc_err_set(err, MC_EINVAL, "%s: not a meshcert token (64 hex digits)", path);
        }
        memcpy(token, text, 65);
        mc_secure_free_str(text);
        return MC_OK;
    }
    if (rc != MC_ENOTFOUND)
        return rc;
    unsigned char raw[32];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(raw, 1, sizeof(raw), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(raw))
        return mc_err_set(err, MC_EIO, "cannot read /dev/urandom for a token");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    mc_secure_zero(raw, sizeof(raw));
    rc = mc_file_mkdir_p(tokens_dir, 0700, err);
    if (rc == MC_OK)
        rc = mc_file_write_atomic(path, token, 64, 0600, err);
    return rc;
}

mc_server_cluster *mc_server_find_cluster(mc_server_cluster_table *table, const char *name)
{
    for (size_t i = 0; i < table->count; i++)
        if (strcmp(table->clusters[i].name, name) == 0)
            return &table->clusters[i];
    return NULL;
}

int mc_server_cluster_apply_crd(mc_server_cluster *cluster, const json_t *crd, mc_err *err)
{
    return mc_server_registry_apply_crd(cluster->registry, crd, err);
}

static void cluster_clear(mc_server_cluster *cluster)
{
    free(cluster->name);
    mc_server_registry_free(cluster->registry);
    mc_secure_zero(cluster->token, sizeof(cluster->token));
    mc_secure_zero(cluster->sa_key, sizeof(cluster->sa_key));
    memset(cluster, 0, sizeof(*cluster));
}

/* The namespaces every cluster starts with, as kube-apiserver creates them. */
static int ensure_namespaces(mc_server_cluster_table *table, const char *cluster, mc_err *err)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (mc_store_get(table->store, cluster, "core/namespaces", "", names[i]))
            continue;
        char uid[40], now[40];
        unsigned char r[8];
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(r, 1, sizeof(r), f) != sizeof(r))
            memset(r, (int)i, sizeof(r));
        if (f)
            fclose(f);
        snprintf(uid, sizeof(uid), "%02x%02x%02x%02x-0000-4000-8000-%02x%02x%02x%02x0000", r[0],
                 r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
        mc_time_format((int64_t)time(NULL), now, sizeof(now));
        json_t *ns =
            json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:{s:s}},s:{s:[s]},s:{s:s}}", "apiVersion", "v1",
                      "kind", "Namespace", "metadata", "name", names[i], "uid", uid,
                      "creationTimestamp", now, "labels", "kubernetes.io/metadata.name", names[i],
                      "spec", "finalizers", "kubernetes", "status", "phase", "Active");
        int rc =
            mc_store_put(table->store, cluster, "core/namespaces", "", names[i], ns, NULL, err);
        json_decref(ns);
        if (rc)
            return rc;
    }
    return MC_OK;
}

/* Loads a cluster into memory: token, registry (with its stored CRDs),
 * default namespaces, kubeconfig. */
int mc_server_cluster_table_load(mc_server_cluster_table *table, const char *name, mc_err *err)
{
    mc_server_cluster *grown = realloc(table->clusters, (table->count + 1) * sizeof(*grown));
    if (!grown)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    table->clusters = grown;
    mc_server_cluster *cluster = &table->clusters[table->count];
    memset(cluster, 0, sizeof(*cluster));
    cluster->name = mc_strdup(name);
    cluster->registry = mc_server_registry_new();
    int rc =
        cluster->name && cluster->registry ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK)
        rc = mc_server_cluster_token(table->data_dir, name, cluster->token, err);
    if (rc == MC_OK) {
        char key_name[128];
        snprintf(key_name, sizeof(key_name), "%.100s" MC_SERVER_SA_KEY_SUFFIX, name);
        rc = mc_server_cluster_token(table->data_dir, key_name, cluster->sa_key, err);
    }
    if (rc == MC_OK)
        rc = ensure_namespaces(table, name, err);
    if (rc == MC_OK) {
        const json_t **crds = NULL;
        size_t n = 0;
        int more = 0;
        rc = mc_store_list(table->store, name, CRD_RESOURCE, NULL, NULL, NULL, 0, &crds, &n, &more,
                           err);
        for (size_t i = 0; rc == MC_OK && i < n; i++) {
            mc_err crd_err = {0};
            if (mc_server_registry_apply_crd(cluster->registry, crds[i], &crd_err))
                mc_log_warn("server", "cluster %s: stored CRD not served: %s", name, crd_err.msg);
        }
        free(crds);
    }
    if (rc) {
        cluster_clear(cluster);
        return rc;
    }
    table->count++;
    return MC_OK;
}

static void cluster_unload(mc_server_cluster_table *table, const char *name)
{
    for (size_t i = 0; i < table->count; i++) {
        if (strcmp(table->clusters[i].name, name) != 0)
            continue;
        mc_watch_hub_end_cluster(table->hub, name);
        cluster_clear(&table->clusters[i]);
        table->clusters[i] = table->clusters[table->count - 1];
        table->count--;
        return;
    }
}

void mc_server_sync_clusters(mc_server_cluster_table *table)
{
    int changed = 0;
    if (mc_store_refresh_clusters(table->store, &changed, NULL) != MC_OK || !changed)
        return;
    size_t count = 0;
    const char **names = mc_store_cluster_names(table->store, &count);
    /* Unload clusters that are gone, load new ones. */
    for (size_t i = 0; i < table->count;) {
        int present = 0;
        for (size_t k = 0; names && k < count; k++)
            present |= strcmp(names[k], table->clusters[i].name) == 0;
        if (present) {
            i++;
            continue;
        }
        mc_log_info("server", "cluster %s removed", table->clusters[i].name);
        char *gone = mc_strdup(table->clusters[i].name);
        if (gone)
            cluster_unload(table, gone);
        free(gone);
    }
    for (size_t k = 0; names && k < count; k++) {
        if (mc_server_find_cluster(table, names[k]))
            continue;
        mc_err err = {0};
        if (mc_server_cluster_table_load(table, names[k], &err))
            mc_log_error("server", "cluster %s: %s", names[k], err.msg);
        else
            mc_log_info("server", "cluster %s added", names[k]);
    }
    free(names);
}

void mc_server_cluster_table_clear(mc_server_cluster_table *table)
{
    for (size_t i = 0; i < table->count; i++)
        cluster_clear(&table->clusters[i]);
    free(table->clusters);
    table->clusters = NULL;
    table->count = 0;
}
