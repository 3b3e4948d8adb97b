/* ops.c - how the operator commands (cluster, issue, rotate, status, verify
 * --cluster) reach the management cluster: the kubeconfig kubectl would use
 * (--kubeconfig, else $KUBECONFIG merged, else ~/.kube/config), --context,
 * and --request-timeout bounding every call, retries included, so that a
 * silent server ends the command instead of hanging it; and their --wait
 * on an IssuedCertificate.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/issued_certificate.h"
#include "cli/cli.h"
#include "cli/issuance.h"
#include "cli/ops.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/str.h"

/* --wait: how often the object is read. */
#define WAIT_POLL_MS 500L

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

int mc_cli_mgmt_flag_parse(const char *cmd, int opt, const char *value, mc_cli_mgmt_flags *flags)
{
    switch (opt) {
    case MC_CLI_OPT_KUBECONFIG: flags->kubeconfig = value; return MC_EXIT_OK;
    case MC_CLI_OPT_CONTEXT: flags->context = value; return MC_EXIT_OK;
    default:
        assert(opt == MC_CLI_OPT_REQUEST_TIMEOUT);
        return mc_cli_request_timeout_parse(cmd, value, &flags->request_timeout_ms);
    }
}

int mc_cli_wait_timeout_parse(const char *cmd, const char *text, int64_t *out_ms)
{
    mc_err err = {0};
    if (mc_duration_parse_ms(text, out_ms, &err) != MC_OK)
        return mc_cli_usage_error(cmd, "--timeout: %s", err.msg);
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

int mc_cli_wait_issuance(mc_kube_client *client, const char *cluster, const char *ns,
                         const char *name, const char *rotation_token, int64_t timeout_ms,
                         mc_err *err)
{
    int64_t deadline = mc_clock_now_ms() + timeout_ms;
    char last[64] = "", limit[32];
    mc_duration_format(timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1, limit, sizeof(limit));
    for (;;) {
        json_t *ic = NULL;
        mc_err read_err = {0};
        int rc = mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), ns, name, &ic,
                             &read_err);
        if (rc && rc != MC_EUNAVAILABLE) {
            *err = read_err;
            return rc;
        }
        if (rc == MC_OK) {
            const char *state = NULL;
            mc_cli_issuance progress = rotation_token
                                           ? mc_cli_rotation_progress(ic, rotation_token, &state)
                                           : mc_cli_issuance_progress(ic, &state);
            if (strcmp(state, last) != 0) {
                mc_strlcpy(last, state, sizeof(last));
                printf("issuedcertificate %s/%s on cluster %s: %s\n", ns, name, cluster, state);
                fflush(stdout);
            }
            if (progress != MC_CLI_ISSUANCE_WAITING) {
                const char *error =
                    json_string_value(json_object_get(json_object_get(ic, "status"), "error"));
                if (progress == MC_CLI_ISSUANCE_FAILED)
                    rc = mc_err_set(err, MC_EINVAL, "issuedcertificate %s/%s FAILED: %s", ns, name,
                                    error && *error ? error : "(no status.error)");
                json_decref(ic);
                return rc;
            }
            json_decref(ic);
        }
        if (mc_clock_now_ms() + WAIT_POLL_MS > deadline)
            return mc_err_set(err, MC_EUNAVAILABLE,
                              "issuedcertificate %s/%s not %s within %s (state %s%s%s); "
                              "is the agent running on the cluster and the issuer on the "
                              "management cluster?",
                              ns, name, rotation_token ? "rotated" : "issued", limit,
                              last[0] ? last : "unknown", rc ? "; last read: " : "",
                              rc ? read_err.msg : "");
        mc_clock_sleep_ms(WAIT_POLL_MS);
    }
}
