/* ops.h - what the operator commands (cluster, issue, rotate, status,
 * verify --cluster) share: reaching the management cluster, and the managed
 * clusters registered in it as Secrets of type solo.io/kubeconfig (one data
 * key named after the cluster, holding its kubeconfig text), and waiting
 * for an IssuedCertificate there.
 */
#ifndef MC_CLI_OPS_H
#define MC_CLI_OPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/client.h"
#include "util/err.h"

/* Default namespace of the registrations on the management cluster. */
#define MC_CLI_OPS_NAMESPACE     "meshcert"
#define MC_CLI_DEFAULT_ROOT_NAME "root-ca" /* the root a registration allows by default */

/* --request-timeout: the default, and the largest accepted. */
#define MC_CLI_REQUEST_TIMEOUT_MS     30000L
#define MC_CLI_REQUEST_TIMEOUT_MAX_MS 86400000L

/* The flags every operator command takes to reach the management cluster.
 * Strings borrowed from argv. */
typedef struct mc_cli_mgmt_flags {
    const char *kubeconfig;  /* --kubeconfig, or NULL: $KUBECONFIG, then ~/.kube/config */
    const char *context;     /* --context, or NULL: current-context */
    long request_timeout_ms; /* --request-timeout: bounds each call, retries included; 0: none */
} mc_cli_mgmt_flags;

#define MC_CLI_MGMT_FLAGS_DEFAULT ((mc_cli_mgmt_flags){NULL, NULL, MC_CLI_REQUEST_TIMEOUT_MS})

/* The usage line of those flags, for the commands' --help. */
#define MC_CLI_MGMT_FLAGS_HELP                                                                     \
    "  --kubeconfig FILE        kubeconfig of the management cluster\n"                            \
    "                           [$KUBECONFIG (a ':' list, merged as kubectl), else\n"              \
    "                           ~/.kube/config]\n"                                                 \
    "  --context NAME           its context                       [current-context]\n"             \
    "  --request-timeout D      give up on a server that does not answer within D\n"               \
    "                           (e.g. 500ms, 30s, 1m; 0: never)            [30s]\n"

/* getopt_long values of the management flags, and their entries for an
 * option table (getopt.h); parse them with mc_cli_mgmt_flag_parse. */
enum { MC_CLI_OPT_KUBECONFIG = 0x1100, MC_CLI_OPT_CONTEXT, MC_CLI_OPT_REQUEST_TIMEOUT };

/* clang-format off */
#define MC_CLI_MGMT_OPTIONS                                                  \
    {"kubeconfig", required_argument, NULL, MC_CLI_OPT_KUBECONFIG},          \
    {"context", required_argument, NULL, MC_CLI_OPT_CONTEXT},                \
    {"request-timeout", required_argument, NULL, MC_CLI_OPT_REQUEST_TIMEOUT}
/* clang-format on */

/* Stores the value of management flag opt (MC_CLI_OPT_KUBECONFIG, _CONTEXT
 * or _REQUEST_TIMEOUT) in *flags. Returns 0, or prints the usage error and
 * returns 2. */
int mc_cli_mgmt_flag_parse(const char *cmd, int opt, const char *value, mc_cli_mgmt_flags *flags);

/* Parses --request-timeout as kubectl does: 0 for none, "<n>ms" or a
 * duration (a bare number is seconds), at most a day. Returns 0, or prints
 * the usage error and returns 2. */
int mc_cli_request_timeout_parse(const char *cmd, const char *text, long *out_ms);

/* A client for the management cluster (*out freed with
 * mc_kube_client_free), with the flags' timeout. MC_ENOTFOUND when no
 * kubeconfig exists (the message says where it looked), else the kubeconfig
 * loader's errors. */
int mc_cli_mgmt_client(const mc_cli_mgmt_flags *flags, mc_kube_client **out, mc_err *err);

/* The cluster name of a registration Secret (type solo.io/kubeconfig), or
 * NULL for any other Secret. */
const char *mc_cli_registration_name(const json_t *secret);

/* A client for cluster registered in namespace ns of mgmt, with mgmt's
 * options (timeouts); server (optional,
 * out_size bytes) receives its API server URL. MC_ENOTFOUND when not
 * registered; MC_EINVAL when the registration is unusable. */
int mc_cli_cluster_client(mc_kube_client *mgmt, const char *ns, const char *cluster,
                          mc_kube_client **out, char *server, size_t server_size, mc_err *err);

/* --wait: the default --timeout. */
#define MC_CLI_WAIT_TIMEOUT_DEFAULT_MS (5 * 60 * 1000L)

/* Parses the --timeout of --wait (e.g. 90s, 5m) into *out_ms. Returns 0, or
 * prints the usage error and returns 2. */
int mc_cli_wait_timeout_parse(const char *cmd, const char *text, int64_t *out_ms);

/* --wait of issue and rotate: reads IssuedCertificate ns/name on client
 * (cluster names it in messages) until it is done, printing each new state.
 * Done is mc_cli_issuance_progress's DONE, or with rotation_token (not NULL)
 * mc_cli_rotation_progress's. MC_OK when done; MC_EINVAL with its
 * status.error when FAILED; MC_EUNAVAILABLE naming the last state when
 * timeout_ms passes first (reads a silent server fails are retried until
 * then); other read errors as they come. */
int mc_cli_wait_issuance(mc_kube_client *client, const char *cluster, const char *ns,
                         const char *name, const char *rotation_token, int64_t timeout_ms,
                         mc_err *err);

/* Splits "NS/NAME" (or "NAME", then default_ns) into ns and name buffers
 * (254 bytes each). -1 when malformed. */
int mc_cli_parse_ref(const char *text, const char *default_ns, char ns[254], char name[254]);

#endif
