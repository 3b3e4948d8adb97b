/* ops.h - what the operator commands (cluster, issue, status, verify
 * --cluster) share: reaching the management cluster, and the managed
 * clusters registered in it as Secrets of type solo.io/kubeconfig (one data
 * key named after the cluster, holding its kubeconfig text).
 */
#ifndef MC_CLI_OPS_H
#define MC_CLI_OPS_H

#include <jansson.h>
#include <stddef.h>

#include "kube/client.h"
#include "util/err.h"

/* Default namespace of the registrations on the management cluster. */
#define MC_CLI_OPS_NAMESPACE     "meshcert"
#define MC_CLI_DEFAULT_ROOT_NAME "root-ca" /* the root a registration allows by default */

extern const mc_kube_resource mc_cli_secrets;

/* A client for the management cluster from a kubeconfig file and context
 * (NULL: current-context). *out freed with mc_kube_client_free. */
int mc_cli_mgmt_client(const char *kubeconfig, const char *context, mc_kube_client **out,
                       mc_err *err);

/* The cluster name of a registration Secret (type solo.io/kubeconfig), or
 * NULL for any other Secret. */
const char *mc_cli_registration_name(const json_t *secret);

/* A client for cluster registered in namespace ns of mgmt; server (optional,
 * out_size bytes) receives its API server URL. MC_ENOTFOUND when not
 * registered; MC_EINVAL when the registration is unusable. */
int mc_cli_cluster_client(mc_kube_client *mgmt, const char *ns, const char *cluster,
                          mc_kube_client **out, char *server, size_t server_size, mc_err *err);

/* Decodes data[key] of a Secret (JSON) into a new NUL-terminated string
 * (*out, caller frees); MC_ENOTFOUND when absent, MC_EINVAL for bad base64. */
int mc_cli_secret_value(const json_t *secret, const char *key, char **out, size_t *len,
                        mc_err *err);

/* Splits "NS/NAME" (or "NAME", then default_ns) into ns and name buffers
 * (254 bytes each). -1 when malformed. */
int mc_cli_parse_ref(const char *text, const char *default_ns, char ns[254], char name[254]);

#endif
