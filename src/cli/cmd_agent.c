/* cmd_agent.c - `meshcert agent`: runs the agent (agent/agent.h) against one
 * managed cluster, from a kubeconfig or the in-cluster service account,
 * until SIGINT/SIGTERM; then stops its workers, informers and watches and
 * exits 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/daemon.h"

static const char help[] =
    "Usage: meshcert agent [--kubeconfig FILE | --in-cluster] [options]\n"
    "\n"
    "Runs the agent of one managed cluster: for every IssuedCertificate in NAMESPACE it\n"
    "generates the private key (which never leaves the cluster), requests the certificate\n"
    "with a CertificateRequest, writes the output Secret once the issuer has signed it,\n"
    "and restarts the pods its PodBounceDirective selects. It renews each certificate with\n"
    "a new key at its status.renewalTime (spec.renewBefore before notAfter, jittered) or\n"
    "when the certificates.smh.solo.io/rotate annotation gets a new token, leaving the\n"
    "current output Secret in place until the new one is signed. Stops on SIGINT or\n"
    "SIGTERM.\n"
    "\n"
    "Options:\n"
    "  --kubeconfig FILE        kubeconfig of the managed cluster\n"
    "                           [$KUBECONFIG (a ':' list, merged as kubectl), else\n"
    "                           ~/.kube/config]\n"
    "  --context NAME           kubeconfig context                [current-context]\n"
    "  --in-cluster             use the pod's service account\n"
    "  --namespace NS           namespace of the IssuedCertificates, and the value of\n"
    "                           the agent.certificates.smh.solo.io label [the context's]\n"
    "  --watch-namespaces LIST  comma-separated namespaces whose Secrets and Pods the\n"
    "                           agent watches besides its own NAMESPACE: where output\n"
    "                           Secrets are written and pods bounced; an\n"
    "                           IssuedCertificate naming another namespace is FAILED\n"
    "                           (its RBAC: Roles in exactly these namespaces,\n"
    "                           docs/deploy.md)                   [istio-system]\n"
    "  --key-type TYPE          rsa4096, rsa3072, rsa2048, ec-p256, ec-p384, for\n"
    "                           IssuedCertificates without spec.keyType    [rsa4096]\n"
    "  --output-format FMT      istio (ca-cert.pem, ...) or tls (tls.crt, ...) [istio]\n"
    "  --adopt-existing-secret  overwrite an output Secret meshcert did not write\n"
    "  --workers N              reconcile threads (1..64)          [4]\n"
    "  --metrics-addr HOST:PORT serve /metrics (Prometheus), /healthz and /readyz\n"
    "                           over plain HTTP (port 0: a free port, logged);\n"
    "                           /readyz is 200 once every cache is synced, 503\n"
    "                           before (docs/metrics.md)          [off]\n"
    "  --cluster-name NAME      value of the cluster label of the certificate\n"
    "                           metrics                            [\"\"]\n"
    "  --log-level LEVEL        debug, info, warn, error           [info]\n"
    "  --log-format FMT         text or json                       [text]\n"
    "  -h, --help               show this help\n";

enum {
    OPT_KUBECONFIG = 256,
    OPT_CONTEXT,
    OPT_IN_CLUSTER,
    OPT_NAMESPACE,
    OPT_WATCH_NAMESPACES,
    OPT_KEY_TYPE,
    OPT_OUTPUT_FORMAT,
    OPT_ADOPT,
    OPT_WORKERS,
    OPT_CLUSTER_NAME
};

static const struct option options[] = {
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"in-cluster", no_argument, NULL, OPT_IN_CLUSTER},
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"watch-namespaces", required_argument, NULL, OPT_WATCH_NAMESPACES},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"output-format", required_argument, NULL, OPT_OUTPUT_FORMAT},
    {"adopt-existing-secret", no_argument, NULL, OPT_ADOPT},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"metrics-addr", required_argument, NULL, MC_CLI_OPT_METRICS_ADDR},
    {"cluster-name", required_argument, NULL, OPT_CLUSTER_NAME},
    {"log-level", required_argument, NULL, MC_CLI_OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, MC_CLI_OPT_LOG_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Waits for the caches while watching for a stop signal; then for the
 * signal. */
static void run_until_signal(mc_agent *agent, const sigset_t *stop)
{
    mc_err err = {0};
    int synced = 0, warned = 0;
    for (int waited_ms = 0;; waited_ms += 200) {
        if (!synced) {
            synced = mc_agent_wait_synced(agent, 0, &err) == MC_OK;
            if (!synced && !warned && waited_ms >= 10000) {
                mc_log_warn("agent", "caches not synced after 10 s; still trying (%s)", err.msg);
                warned = 1;
            }
        }
        if (mc_cli_stop_signals_wait("agent", stop, 200))
            return;
    }
}

static int agent_ready(void *agent, char *reason, size_t reason_size)
{
    return mc_agent_ready(agent, reason, reason_size);
}

int mc_cmd_agent(int argc, char **argv)
{
    static const char cmd[] = "agent";
    mc_cli_kube_source source = {0};
    mc_agent_options agent_options;
    memset(&agent_options, 0, sizeof(agent_options));
    agent_options.key_type = MC_KEY_RSA4096;
    agent_options.output_format = MC_BUNDLE_ISTIO;
    mc_cli_log_options log_options = MC_CLI_LOG_OPTIONS_DEFAULT;
    mc_err err = {0};
    const char *metrics_addr = NULL;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_KUBECONFIG: source.kubeconfig = optarg; break;
        case OPT_CONTEXT: source.context = optarg; break;
        case OPT_IN_CLUSTER: source.in_cluster = 1; break;
        case OPT_NAMESPACE: agent_options.namespace = optarg; break;
        case OPT_WATCH_NAMESPACES: agent_options.watch_namespaces = optarg; break;
        case OPT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &agent_options.key_type, &err))
                return mc_cli_usage_error(cmd, "--key-type: %s", err.msg);
            break;
        case OPT_OUTPUT_FORMAT:
            if (mc_pki_bundle_format_parse(optarg, &agent_options.output_format, &err))
                return mc_cli_usage_error(cmd, "--output-format: %s", err.msg);
            break;
        case OPT_ADOPT: agent_options.adopt_existing = 1; break;
        case OPT_WORKERS:
            if (mc_cli_workers_parse(cmd, optarg, 64, &agent_options.workers))
                return MC_EXIT_USAGE;
            break;
        case MC_CLI_OPT_METRICS_ADDR:
            if (mc_cli_metrics_addr_check(cmd, optarg))
                return MC_EXIT_USAGE;
            metrics_addr = optarg;
            break;
        case OPT_CLUSTER_NAME: agent_options.cluster_name = optarg; break;
        case MC_CLI_OPT_LOG_LEVEL:
        case MC_CLI_OPT_LOG_FORMAT:
            if (mc_cli_log_option_parse(cmd, opt, optarg, &log_options))
                return MC_EXIT_USAGE;
            break;
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (mc_cli_kube_source_check(cmd, &source))
        return MC_EXIT_USAGE;
    mc_log_configure(log_options.level, log_options.format, NULL);

    mc_kube_config *config = NULL;
    int rc = mc_cli_kube_source_load(&source, &config, &err);
    if (rc)
        return mc_cli_fail(cmd, &err);
    agent_options.config = config;

    sigset_t stop;
    mc_cli_stop_signals_block(&stop);
    mc_metrics *metrics = metrics_addr ? mc_metrics_new() : NULL;
    mc_metrics_http *http = NULL;
    mc_agent *agent = NULL;
    agent_options.metrics = metrics;
    if (metrics_addr && !metrics)
        rc = mc_err_set(&err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK && (rc = mc_agent_new(&agent_options, &agent, &err)) == MC_OK &&
        (rc = mc_agent_start(agent, &err)) == MC_OK)
        rc = mc_cli_metrics_start(cmd, metrics_addr, metrics, agent_ready, agent, &http, &err);
    if (rc == MC_OK)
        run_until_signal(agent, &stop);
    /* the endpoint first: its scrapes read the agent */
    mc_metrics_http_stop(http);
    mc_agent_free(agent);
    mc_metrics_free(metrics);
    mc_kube_config_free(config);
    return rc == MC_OK ? MC_EXIT_OK : mc_cli_fail(cmd, &err);
}
