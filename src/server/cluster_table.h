/* cluster_table.h - the logical clusters a server hosts (cluster_table.c):
 * name, admin token and resource registry of each, kept in step with the
 * store. Touched from the HTTP thread only. Never included outside
 * src/server/.
 */
#ifndef MC_SERVER_CLUSTER_TABLE_H
#define MC_SERVER_CLUSTER_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "server/registry.h"
#include "server/store.h"
#include "server/watch.h"
#include "util/err.h"

/* One logical cluster. */
typedef struct mc_server_cluster {
    char *name;                   /* owned */
    char token[65];               /* admin bearer token (hex) */
    char sa_key[65];              /* HMAC key of its ServiceAccount tokens (hex; satoken.h) */
    mc_server_registry *registry; /* owned: built-ins + this cluster's CRDs */
} mc_server_cluster;

/* DIR/tokens/<cluster> + this: the key signing the cluster's ServiceAccount
 * tokens (cluster names are DNS labels, so it never names a cluster). */
#define MC_SERVER_SA_KEY_SUFFIX ".serviceaccount-key"

typedef struct mc_server_cluster_table {
    const char *data_dir;        /* borrowed: DIR/tokens/<cluster> */
    mc_store *store;             /* borrowed */
    mc_watch_hub *hub;           /* borrowed: a removed cluster's watches end */
    mc_server_cluster *clusters; /* owned array */
    size_t count;
} mc_server_cluster_table;

/* An empty table over the server's data directory, store and hub (all
 * borrowed, outliving the table). */
void mc_server_cluster_table_init(mc_server_cluster_table *table, const char *data_dir,
                                  mc_store *store, mc_watch_hub *hub);

/* Loads a cluster into the table: token, registry (with its stored CRDs),
 * default namespaces. */
int mc_server_cluster_table_load(mc_server_cluster_table *table, const char *name, mc_err *err);

/* Frees every cluster of the table (the borrowed parts stay). */
void mc_server_cluster_table_clear(mc_server_cluster_table *table);

/* Reads DIR/tokens/<cluster> into token (64 hex digits and a NUL), creating
 * a random one when missing. */
int mc_server_cluster_token(const char *dir, const char *cluster, char token[65], mc_err *err);

/* The cluster named name, or NULL. */
mc_server_cluster *mc_server_find_cluster(mc_server_cluster_table *table, const char *name);

/* Re-reads the cluster list when another process changed it (meshcert server
 * cluster add/remove), adding and removing clusters in memory. */
void mc_server_sync_clusters(mc_server_cluster_table *table);

/* Applies a stored or newly written CRD to the cluster's registry;
 * removes it when crd is NULL (name given). */
int mc_server_cluster_apply_crd(mc_server_cluster *cluster, const json_t *crd, mc_err *err);

#endif
