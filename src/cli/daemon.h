/* daemon.h - what the long-running commands (server, agent, issuer) share:
 * the --log-level and --log-format options, the cluster they connect to
 * (--kubeconfig/--context or --in-cluster), and stopping on SIGINT/SIGTERM.
 */
#ifndef MC_CLI_DAEMON_H
#define MC_CLI_DAEMON_H

#include <signal.h>

#include "kube/config.h"
#include "server/metrics_http.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

/* getopt_long values of the shared options; above each command's own, which
 * count up from 256. */
enum { MC_CLI_OPT_LOG_LEVEL = 0x1000, MC_CLI_OPT_LOG_FORMAT, MC_CLI_OPT_METRICS_ADDR };

/* --log-level and --log-format, before they go to mc_log_configure. */
typedef struct mc_cli_log_options {
    mc_log_level level;
    mc_log_format format;
} mc_cli_log_options;

#define MC_CLI_LOG_OPTIONS_DEFAULT ((mc_cli_log_options){MC_LOG_INFO, MC_LOG_TEXT})

/* Parses the value of --log-level (opt MC_CLI_OPT_LOG_LEVEL: debug, info,
 * warn, error) or --log-format (MC_CLI_OPT_LOG_FORMAT: text, json) into *log.
 * Returns 0, or prints the usage error and returns 2. */
int mc_cli_log_option_parse(const char *cmd, int opt, const char *value, mc_cli_log_options *log);

/* The cluster a command connects to: --kubeconfig FILE [--context NAME]
 * (without --kubeconfig: $KUBECONFIG, then ~/.kube/config, as kubectl) or
 * --in-cluster. Strings borrowed from argv. */
typedef struct mc_cli_kube_source {
    const char *kubeconfig; /* or NULL: $KUBECONFIG, then ~/.kube/config */
    const char *context;    /* or NULL for the current context */
    int in_cluster;         /* the pod's service account */
} mc_cli_kube_source;

/* Checks that --kubeconfig and --in-cluster were not both given, and
 * --context not with --in-cluster. Returns 0, or prints the usage error and
 * returns 2. */
int mc_cli_kube_source_check(const char *cmd, const mc_cli_kube_source *source);

/* Loads the configuration the source names (mc_kube_config_load_default
 * or in-cluster) into *out (free with
 * mc_kube_config_free). The loader's error codes, with err filled. */
int mc_cli_kube_source_load(const mc_cli_kube_source *source, mc_kube_config **out, mc_err *err);

/* Fills *stop with SIGINT and SIGTERM and blocks them in the calling thread,
 * and ignores SIGPIPE. Call before any thread starts: threads inherit the
 * mask, so only mc_cli_stop_signals_wait takes the stop signals. */
void mc_cli_stop_signals_block(sigset_t *stop);

/* Waits for a signal in *stop, at most timeout_ms (negative: without limit).
 * Logs "signal N: stopping" under the component cmd and returns N; returns 0
 * when the time ran out. */
int mc_cli_stop_signals_wait(const char *cmd, const sigset_t *stop, int timeout_ms);

/* Splits "HOST:PORT" or "[V6]:PORT" (port 0 to 65535) into host and *port.
 * 0, or -1 when malformed or host does not fit. */
int mc_cli_host_port_parse(const char *text, char *host, size_t host_size, int *port);

/* Checks --metrics-addr (NULL: not given). Returns 0, or prints the usage
 * error and returns 2. */
int mc_cli_metrics_addr_check(const char *cmd, const char *addr);

/* Starts the endpoint of metrics_http.h on addr (checked already), logging
 * its URL under the component cmd. *out NULL when addr is NULL. The
 * endpoint's error code with err filled. */
int mc_cli_metrics_start(const char *cmd, const char *addr, mc_metrics *metrics,
                         mc_metrics_http_ready_fn ready, void *ready_ctx, mc_metrics_http **out,
                         mc_err *err);

/* Parses --workers: an integer from 1 to max into *out. Returns 0, or
 * prints the usage error and returns 2. */
int mc_cli_workers_parse(const char *cmd, const char *text, int max, int *out);

#endif
