/* cmd_server.c - `meshcert server`: runs the embedded Kubernetes API server
 * until SIGINT/SIGTERM; `meshcert server cluster add|remove` changes its
 * logical clusters from another process. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/daemon.h"
#include "server/server.h"
#include "util/duration.h"

static const char help[] =
    "Usage: meshcert server --data-dir DIR [options]\n"
    "       meshcert server cluster add|remove NAME --data-dir DIR\n"
    "\n"
    "Runs the embedded Kubernetes API server: one HTTPS port hosting many logical\n"
    "clusters under /clusters/<name>, stored in SQLite in DIR. At start it prints the\n"
    "kubeconfig written for each cluster (DIR/kubeconfigs/<name>.yaml: the server's CA\n"
    "embedded, the cluster's admin token, user <name>-admin in system:masters). Other\n"
    "identities are ServiceAccounts (kubectl create token NAME, or a Secret of type\n"
    "kubernetes.io/service-account-token), allowed what the cluster's Roles,\n"
    "ClusterRoles and bindings allow (RBAC, docs/server.md). Stops on SIGINT or SIGTERM.\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR         data directory (created if missing)             [required]\n"
    "  --listen HOST:PORT     address to serve on; port 0 picks a free port   [127.0.0.1:6443]\n"
    "  --cluster NAME         a logical cluster to create if missing; repeat\n"
    "                         (up to 4096)\n"
    "  --history N            revisions kept per cluster for watch resumption [10000]\n"
    "  --bookmark-interval D  interval of watch BOOKMARK events, e.g. 60s     [60s]\n"
    "  --max-watches N        open watches in total; more get 429             [20000]\n"
    "  --max-watches-per-cluster N\n"
    "                         open watches of one cluster (its token)         [5000]\n"
    "  --max-requests-inflight N\n"
    "                         other requests in flight (from headers to the   [400]\n"
    "                         reply's last byte) in total; more get 429\n"
    "  --max-requests-inflight-per-identity N\n"
    "                         of one identity (a token's user, or the         [100]\n"
    "                         address of a client without one); more get 429\n"
    "                         Watches and /healthz, /livez, /readyz are not counted. Defaults\n"
    "                         shrink to fit the fd limit; the connection limit (fd limit\n"
    "                         less 64) stays 64 above watches plus requests in flight.\n"
    "  --metrics-addr HOST:PORT\n"
    "                         serve /metrics (API requests by verb and code, their\n"
    "                         latency), /healthz and /readyz over plain HTTP (port 0:\n"
    "                         a free port, logged); docs/metrics.md           [off]\n"
    "  --log-level LEVEL      debug, info, warn, error                        [info]\n"
    "  --log-format FMT       text or json                                    [text]\n"
    "  -h, --help             show this help\n"
    "\n"
    "`cluster add` creates a cluster (and its token and kubeconfig) in DIR; `cluster\n"
    "remove` deletes it with all its objects. A running server picks either up on its\n"
    "next request.\n";

enum {
    OPT_DATA_DIR = 256,
    OPT_LISTEN,
    OPT_CLUSTER,
    OPT_HISTORY,
    OPT_BOOKMARK,
    OPT_MAX_WATCHES,
    OPT_MAX_WATCHES_PER_CLUSTER,
    OPT_MAX_INFLIGHT,
    OPT_MAX_INFLIGHT_PER_IDENTITY
};

static const struct option options[] = {
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"bookmark-interval", required_argument, NULL, OPT_BOOKMARK},
    {"max-watches", required_argument, NULL, OPT_MAX_WATCHES},
    {"max-watches-per-cluster", required_argument, NULL, OPT_MAX_WATCHES_PER_CLUSTER},
    {"max-requests-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"max-requests-inflight-per-identity", required_argument, NULL, OPT_MAX_INFLIGHT_PER_IDENTITY},
    {"metrics-addr", required_argument, NULL, MC_CLI_OPT_METRICS_ADDR},
    {"log-level", required_argument, NULL, MC_CLI_OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, MC_CLI_OPT_LOG_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A count from 1 to 1 000 000 (the caps' flags); -1 when text is not one. */
static long parse_count(const char *text)
{
    char *end = NULL;
    long n = strtol(text, &end, 10);
    return *text && !*end && n >= 1 && n <= 1000000 ? n : -1;
}

static const char cluster_help[] =
    "Usage: meshcert server cluster add NAME --data-dir DIR\n"
    "       meshcert server cluster remove NAME --data-dir DIR\n"
    "\n"
    "`add` creates logical cluster NAME (its admin token and DIR/kubeconfigs/NAME.yaml)\n"
    "in the data directory of a server; `remove` deletes it with all its objects. A\n"
    "running server picks either up on its next request.\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR         the server's data directory                    [required]\n"
    "  -h, --help             show this help\n";

static int cluster_admin(int argc, char **argv)
{
    static const char cmd[] = "server cluster";
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(cluster_help, stdout);
            return MC_EXIT_OK;
        }
    if (argc < 3 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0))
        return mc_cli_usage_error(cmd, "expected: cluster add|remove NAME --data-dir DIR");
    const char *verb = argv[1], *name = argv[2], *data_dir = NULL;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            data_dir = argv[++i];
        else if (strncmp(argv[i], "--data-dir=", 11) == 0)
            data_dir = argv[i] + 11;
        else
            return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[i]);
    }
    if (!data_dir)
        return mc_cli_usage_error(cmd, "--data-dir is required");
    mc_err err = {0};
    int rc = strcmp(verb, "add") == 0 ? mc_server_admin_cluster_add(data_dir, name, &err)
                                      : mc_server_admin_cluster_remove(data_dir, name, &err);
    if (rc)
        return mc_cli_fail(cmd, &err);
    if (strcmp(verb, "add") == 0)
        printf("cluster %s added; kubeconfig: %s/kubeconfigs/%s.yaml\n", name, data_dir, name);
    else
        printf("cluster %s removed\n", name);
    return MC_EXIT_OK;
}

int mc_cmd_server(int argc, char **argv)
{
    static const char cmd[] = "server";
    if (argc >= 2 && strcmp(argv[1], "cluster") == 0)
        return cluster_admin(argc - 1, argv + 1);
    mc_server_config config;
    memset(&config, 0, sizeof(config));
    char host[256] = "127.0.0.1";
    config.port = 6443;
    const char *clusters[4096]; /* make bench-scale starts 1 001 */
    size_t cluster_count = 0;
    mc_cli_log_options log_options = MC_CLI_LOG_OPTIONS_DEFAULT;
    mc_err err = {0};
    const char *metrics_addr = NULL;
    optind = 1;
    opterr = 0;
    int opt;
    char *end = NULL;
    int64_t seconds = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_DATA_DIR: config.data_dir = optarg; break;
        case OPT_LISTEN:
            if (mc_cli_host_port_parse(optarg, host, sizeof(host), &config.port))
                return mc_cli_usage_error(cmd, "--listen: expected HOST:PORT, got \"%s\"", optarg);
            break;
        case OPT_CLUSTER:
            if (cluster_count == sizeof(clusters) / sizeof(clusters[0]))
                return mc_cli_usage_error(cmd, "too many --cluster options (at most 4096)");
            clusters[cluster_count++] = optarg;
            break;
        case OPT_HISTORY:
            config.history = strtoll(optarg, &end, 10);
            if (!*optarg || *end || config.history < 1)
                return mc_cli_usage_error(cmd, "--history: expected a positive number, got \"%s\"",
                                          optarg);
            break;
        case OPT_BOOKMARK:
            if (mc_duration_parse(optarg, &seconds, &err) || seconds > 86400)
                return mc_cli_usage_error(cmd, "--bookmark-interval: %s",
                                          err.msg[0] ? err.msg : "at most 1 day");
            config.bookmark_seconds = (int)seconds;
            break;
        case OPT_MAX_WATCHES:
        case OPT_MAX_WATCHES_PER_CLUSTER:
        case OPT_MAX_INFLIGHT:
        case OPT_MAX_INFLIGHT_PER_IDENTITY: {
            long n = parse_count(optarg);
            const struct option *o = options;
            while (o->val != opt)
                o++;
            if (n < 0)
                return mc_cli_usage_error(
                    cmd, "--%s: expected a number from 1 to 1000000, got \"%s\"", o->name, optarg);
            if (opt == OPT_MAX_WATCHES)
                config.max_watches = (size_t)n;
            else if (opt == OPT_MAX_WATCHES_PER_CLUSTER)
                config.max_watches_per_cluster = (size_t)n;
            else if (opt == OPT_MAX_INFLIGHT)
                config.max_requests_inflight = (size_t)n;
            else
                config.max_requests_inflight_per_identity = (size_t)n;
            break;
        }
        case MC_CLI_OPT_METRICS_ADDR:
            if (mc_cli_metrics_addr_check(cmd, optarg))
                return MC_EXIT_USAGE;
            metrics_addr = optarg;
            break;
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
    if (!config.data_dir)
        return mc_cli_usage_error(cmd, "--data-dir is required");
    mc_log_configure(log_options.level, log_options.format, NULL);
    config.listen_host = host;
    config.clusters = clusters;
    config.cluster_count = cluster_count;

    sigset_t stop;
    mc_cli_stop_signals_block(&stop);
    mc_server *server = NULL;
    mc_metrics *metrics = metrics_addr ? mc_metrics_new() : NULL;
    mc_metrics_http *http = NULL;
    config.metrics = metrics;
    int rc = metrics_addr && !metrics ? mc_err_set(&err, MC_ENOMEM, "out of memory")
                                      : mc_server_start(&config, &server, &err);
    if (rc == MC_OK)
        rc = mc_cli_metrics_start(cmd, metrics_addr, metrics, NULL, NULL, &http, &err);
    if (rc != MC_OK) {
        mc_metrics_http_stop(http);
        if (server)
            mc_server_stop(server);
        mc_metrics_free(metrics);
        return mc_cli_fail(cmd, &err);
    }
    int v6 = strchr(host, ':') != NULL;
    printf("meshcert server listening on https://%s%s%s:%d (data in %s)\n", v6 ? "[" : "", host,
           v6 ? "]" : "", mc_server_port(server), config.data_dir);
    for (size_t i = 0; i < cluster_count; i++)
        printf("cluster %s: KUBECONFIG=%s/kubeconfigs/%s.yaml\n", clusters[i], config.data_dir,
               clusters[i]);
    fflush(stdout);
    mc_cli_stop_signals_wait(cmd, &stop, -1);
    mc_metrics_http_stop(http);
    mc_server_stop(server);
    mc_metrics_free(metrics);
    return MC_EXIT_OK;
}
