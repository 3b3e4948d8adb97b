/* ops.c - how the operator commands (cluster, issue, status, verify
 * --cluster) reach the management cluster: the kubeconfig kubectl would use
 * (--kubeconfig, else $KUBECONFIG merged, else ~/.kube/config), --context,
 * and --request-timeout bounding every call, retries included, so that a
 * silent server ends the command instead of hanging it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/ops.h"
#include "kube/config.h"
#include "util/duration.h"

int mc_cli_request_timeout_parse(const char *cmd, const char *text, long *out_ms)
{
    mc_err err = {0};
    int64_t ms = 0;
    /* kubectl's syntax: 0 (or 0s, 0ms) disables the timeout, a bare number
     * is seconds */
    if (text[0] == '0' && strspn(text, "0smh") == strlen(text)) {
        *out_ms = 0;
        return MC_EXIT_OK;
    }
    if (mc_duration_parse_ms(text, &ms, &err) != MC_OK)
        return mc_cli_usage_error(cmd, "--request-timeout: %s", err.msg);
    if (ms > MC_CLI_REQUEST_TIMEOUT_MAX_MS)
        return mc_cli_usage_error(cmd, "--request-timeout: \"%s\" is over a day (0: no timeout)",
                                  text);
    *out_ms = (long)ms;
    return MC_EXIT_OK;
}

int mc_cli_mgmt_client(const mc_cli_mgmt_flags *flags, mc_kube_client **out, mc_err *err)
{
    mc_kube_config *config = NULL;
    mc_kube_client_options options = {0};
    if (flags->request_timeout_ms > 0) {
        options.timeout_ms = (int)flags->request_timeout_ms;
        options.deadline_ms = (int)flags->request_timeout_ms;
    } else {
        options.timeout_ms = -1; /* none; connecting is still bounded */
    }
    int rc = mc_kube_config_load_default(flags->kubeconfig, flags->context, &config, err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, &options, out, err);
    mc_kube_config_free(config);
    return rc;
}

int64_t mc_cli_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mc_cli_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
