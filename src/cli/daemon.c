/* daemon.c - what the long-running commands (server, agent, issuer) share:
 * the --log-level and --log-format options, the cluster they connect to
 * (--kubeconfig/--context, $KUBECONFIG or ~/.kube/config as kubectl, or
 * --in-cluster), and stopping on SIGINT/SIGTERM.
 * The stop signals are blocked rather than caught so that no handler runs on
 * a worker thread: the main thread takes them synchronously and shuts down.
 */
#include "cli/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

int mc_cli_log_option_parse(const char *cmd, int opt, const char *value, mc_cli_log_options *log)
{
    if (opt == MC_CLI_OPT_LOG_LEVEL) {
        int level = mc_log_level_parse(value);
        if (level < 0)
            return mc_cli_usage_error(cmd, "--log-level: expected debug, info, warn or error");
        log->level = (mc_log_level)level;
        return MC_EXIT_OK;
    }
    if (strcmp(value, "json") == 0)
        log->format = MC_LOG_JSON;
    else if (strcmp(value, "text") == 0)
        log->format = MC_LOG_TEXT;
    else
        return mc_cli_usage_error(cmd, "--log-format: expected text or json");
    return MC_EXIT_OK;
}

int mc_cli_workers_parse(const char *cmd, const char *text, int max, int *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < 1 || value > max)
        return mc_cli_usage_error(cmd, "--workers: expected 1 to %d, got \"%s\"", max, text);
    *out = (int)value;
    return MC_EXIT_OK;
}

int mc_cli_kube_source_check(const char *cmd, const mc_cli_kube_source *source)
{
    if (source->kubeconfig && source->in_cluster)
        return mc_cli_usage_error(cmd, "--kubeconfig and --in-cluster exclude each other");
    if (source->in_cluster && source->context)
        return mc_cli_usage_error(cmd, "--context needs --kubeconfig");
    return MC_EXIT_OK;
}

int mc_cli_kube_source_load(const mc_cli_kube_source *source, mc_kube_config **out, mc_err *err)
{
    if (source->in_cluster)
        return mc_kube_config_in_cluster(NULL, out, err);
    return mc_kube_config_load_default(source->kubeconfig, source->context, out, err);
}

void mc_cli_stop_signals_block(sigset_t *stop)
{
    sigemptyset(stop);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
    /* A peer closing its connection mid-write must fail the write, not end
     * the process. */
    signal(SIGPIPE, SIG_IGN);
}

int mc_cli_stop_signals_wait(const char *cmd, const sigset_t *stop, int timeout_ms)
{
    int sig = 0;
    if (timeout_ms < 0) {
        if (sigwait(stop, &sig) != 0)
            return 0;
    } else {
        struct timespec timeout = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        sig = sigtimedwait(stop, NULL, &timeout);
        if (sig <= 0)
            return 0;
    }
    mc_log_info(cmd, "signal %d: stopping", sig);
    return sig;
}

int mc_cli_host_port_parse(const char *text, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return -1;
    const char *h = text;
    size_t len = (size_t)(colon - text);
    if (h[0] == '[' && len >= 2 && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len == 0 || len >= host_size)
        return -1;
    memcpy(host, h, len);
    host[len] = '\0';
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int mc_cli_metrics_addr_check(const char *cmd, const char *addr)
{
    char host[256];
    int port;
    if (addr && mc_cli_host_port_parse(addr, host, sizeof(host), &port) != 0)
        return mc_cli_usage_error(cmd, "--metrics-addr: expected HOST:PORT, got \"%s\"", addr);
    return MC_EXIT_OK;
}

int mc_cli_metrics_start(const char *cmd, const char *addr, mc_metrics *metrics,
                         mc_metrics_http_ready_fn ready, void *ready_ctx, mc_metrics_http **out,
                         mc_err *err)
{
    *out = NULL;
    char host[256];
    int port = 0;
    if (!addr)
        return MC_OK;
    if (mc_cli_host_port_parse(addr, host, sizeof(host), &port) != 0)
        return mc_err_set(err, MC_EINVAL, "--metrics-addr: expected HOST:PORT, got \"%s\"", addr);
    int rc = mc_metrics_http_start(host, port, metrics, ready, ready_ctx, out, err);
    if (rc == MC_OK) {
        int v6 = strchr(host, ':') != NULL;
        mc_log_info(cmd, "metrics on http://%s%s%s:%d/metrics (probes /healthz, /readyz)",
                    v6 ? "[" : "", host, v6 ? "]" : "", mc_metrics_http_port(*out));
    }
    return rc;
}
