/* cmd_rotate.c - `meshcert rotate`: asks the agents for a new intermediate
 * with a new key now, instead of at the renewal time. It writes one token
 * into the annotation certificates.smh.solo.io/rotate of the selected
 * IssuedCertificates (a merge patch of that annotation alone); each agent
 * honours a token once, recording it in status.rotation, so the request
 * survives restarts of the agent and of this command. Clusters are reached
 * through the management cluster's registrations (ops.h); --wait follows
 * each object until the agent has taken the token and FINISHED again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/issued_certificate.h"
#include "api/validate.h"
#include "cli/cli.h"
#include "cli/issuance.h"
#include "cli/ops.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert rotate --cluster C [--name N] [--namespace-in-cluster NS] [options]\n"
    "       meshcert rotate --all [options]\n"
    "\n"
    "Starts a new issuance with a new private key now, without waiting for the\n"
    "renewal time: writes the annotation certificates.smh.solo.io/rotate=TOKEN\n"
    "(TOKEN: the current time in RFC 3339 and 8 random hex digits) on the selected\n"
    "IssuedCertificates and prints one line per object. Each agent honours a token\n"
    "exactly once, after any issuance in flight has FINISHED, and records it in\n"
    "status.rotation; the output Secret stays in place until the new certificate is\n"
    "signed, then it is replaced in one write and the pods are bounced as for any\n"
    "issuance. A cluster that is not registered, or an IssuedCertificate that does\n"
    "not exist, is an error (exit 1). With --wait, waits until every selected\n"
    "object has taken the token and is FINISHED again; exits 1 when one is FAILED,\n"
    "or when --timeout passes first.\n"
    "\n"
    "Options:\n"
    "  --cluster C                   registered cluster: its IssuedCertificates\n"
    "  --name N                      only IssuedCertificate N (with --cluster)\n"
    "  --namespace-in-cluster NS     its namespace on cluster C; without --name, only\n"
    "                                the IssuedCertificates of NS\n"
    "                                [--name: meshcert; else every namespace]\n"
    "  --all                         every IssuedCertificate on every registered cluster\n"
    "  --wait                        wait until each has rotated (FINISHED), or FAILED\n"
    "  --timeout D                   --wait: give up after D (e.g. 90s, 5m)      [5m]\n"
    "  -h, --help                    show this help\n"
    "\n"
    "The management cluster:\n" MC_CLI_MGMT_FLAGS_HELP
    "  --namespace NS           namespace of the registrations         [meshcert]\n";

enum {
    OPT_NAMESPACE = 256,
    OPT_CLUSTER,
    OPT_NAME,
    OPT_NS_IN_CLUSTER,
    OPT_ALL,
    OPT_WAIT,
    OPT_TIMEOUT
};

static const struct option options[] = {
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"name", required_argument, NULL, OPT_NAME},
    {"namespace-in-cluster", required_argument, NULL, OPT_NS_IN_CLUSTER},
    {"all", no_argument, NULL, OPT_ALL},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the command line selects; strings borrowed from argv. */
typedef struct selection {
    const char *registrations; /* --namespace on the management cluster */
    const char *cluster;       /* --cluster, or NULL with --all */
    const char *ns;            /* --namespace-in-cluster, or NULL: every namespace */
    const char *name;          /* --name, or NULL: every IssuedCertificate */
    int wait;
    int64_t timeout_ms;
} selection;

/* One IssuedCertificate the token was written to. */
typedef struct rotated {
    char cluster[254], ns[254], name[254];
} rotated;

typedef struct rotated_list {
    rotated *items;
    size_t count, cap;
} rotated_list;

static int rotated_add(rotated_list *list, const char *cluster, const char *ns, const char *name)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        rotated *items = realloc(list->items, cap * sizeof(*items));
        if (!items)
            return MC_ENOMEM;
        list->items = items;
        list->cap = cap;
    }
    rotated *r = &list->items[list->count++];
    mc_strlcpy(r->cluster, cluster, sizeof(r->cluster));
    mc_strlcpy(r->ns, ns, sizeof(r->ns));
    mc_strlcpy(r->name, name, sizeof(r->name));
    return MC_OK;
}

/* What the agent will do with a token, from the object's state: FINISHED
 * starts at once; an issuance in flight completes first; a FAILED object
 * rotates only once it is FINISHED again. */
static const char *when_taken(const json_t *ic)
{
    const char *state = json_string_value(json_object_get(json_object_get(ic, "status"), "state"));
    if (state && strcmp(state, "FINISHED") == 0)
        return "";
    if (state && strcmp(state, "FAILED") == 0)
        return "; it is FAILED: the agent rotates it once it is FINISHED again";
    return "; the issuance in flight completes first";
}

/* Writes token into the rotate annotation of IssuedCertificate ns/name
 * (MC_ENOTFOUND naming it when it does not exist) and prints the line. */
static int annotate(mc_kube_client *client, const char *cluster, const char *ns, const char *name,
                    const char *token, mc_err *err)
{
    json_t *patch = mc_api_issued_certificate_rotate_patch(token);
    if (!patch)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    json_t *patched = NULL;
    int rc = mc_kube_patch(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), ns, name,
                           MC_KUBE_PATCH_MERGE, patch, 0, &patched, err);
    json_decref(patch);
    if (rc == MC_ENOTFOUND)
        return mc_err_set(err, MC_ENOTFOUND, "issuedcertificate %s/%s not found on cluster %s", ns,
                          name, cluster);
    if (rc != MC_OK)
        return mc_err_prefix(err, "issuedcertificate %s/%s on cluster %s", ns, name, cluster);
    printf("issuedcertificate %s/%s on cluster %s: rotation requested (%s=%s)%s\n", ns, name,
           cluster, MC_API_IC_ROTATE_ANNOTATION, token, when_taken(patched));
    fflush(stdout);
    json_decref(patched);
    return MC_OK;
}

/* Annotates what sel selects on cluster, appending each object to done.
 * MC_ENOTFOUND when the cluster holds nothing to rotate. */
static int rotate_cluster(mc_kube_client *mgmt, const selection *sel, const char *cluster,
                          const char *token, rotated_list *done, mc_err *err)
{
    mc_kube_client *client = NULL;
    json_t *list = NULL;
    int rc = mc_cli_cluster_client(mgmt, sel->registrations, cluster, &client, NULL, 0, err);
    if (rc == MC_OK && sel->name) {
        const char *ns = sel->ns ? sel->ns : MC_CLI_OPS_NAMESPACE;
        rc = annotate(client, cluster, ns, sel->name, token, err);
        if (rc == MC_OK)
            rc = rotated_add(done, cluster, ns, sel->name);
        goto out;
    }
    if (rc == MC_OK)
        rc = mc_kube_list(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                          sel->ns ? sel->ns : "", NULL, &list, err);
    if (rc != MC_OK)
        goto out;
    size_t i, before = done->count;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const json_t *meta = json_object_get(item, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (!ns || !name)
            continue;
        if ((rc = annotate(client, cluster, ns, name, token, err)) != MC_OK ||
            (rc = rotated_add(done, cluster, ns, name)) != MC_OK)
            goto out;
    }
    if (done->count == before)
        rc = mc_err_set(err, MC_ENOTFOUND, "no issuedcertificates on cluster %s%s%s", cluster,
                        sel->ns ? " in namespace " : "", sel->ns ? sel->ns : "");
out:
    if (rc == MC_ENOMEM)
        mc_err_set(err, MC_ENOMEM, "out of memory");
    json_decref(list);
    mc_kube_client_free(client);
    return rc;
}

/* --wait: each rotated object in turn, within one deadline. Returns the
 * number that did not complete, printing why for each. */
static int wait_all(mc_kube_client *mgmt, const selection *sel, const rotated_list *done,
                    const char *token)
{
    int64_t deadline = mc_clock_now_ms() + sel->timeout_ms;
    mc_kube_client *client = NULL;
    const char *client_cluster = NULL;
    int failures = 0;
    for (size_t i = 0; i < done->count; i++) {
        const rotated *r = &done->items[i];
        mc_err err = {0};
        int rc = MC_OK;
        if (!client_cluster || strcmp(client_cluster, r->cluster) != 0) {
            mc_kube_client_free(client);
            client = NULL;
            client_cluster = r->cluster;
            rc =
                mc_cli_cluster_client(mgmt, sel->registrations, r->cluster, &client, NULL, 0, &err);
        }
        int64_t left = deadline - mc_clock_now_ms();
        if (left < 1)
            left = 1; /* one read still tells a FINISHED object from a late one */
        if (rc == MC_OK)
            rc = mc_cli_wait_issuance(client, r->cluster, r->ns, r->name, token, left, &err);
        if (rc != MC_OK) {
            mc_err_prefix(&err, "cluster %s", r->cluster);
            mc_cli_fail("rotate", &err);
            failures++;
        }
    }
    mc_kube_client_free(client);
    return failures;
}

/* Parses argv into sel; 0, or the usage error's exit code. */
static int parse(int argc, char **argv, selection *sel, mc_cli_mgmt_flags *flags)
{
    static const char cmd[] = "rotate";
    int all = 0, timeout_given = 0;
    mc_err err = {0};
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, flags))
                return MC_EXIT_USAGE;
            break;
        case OPT_NAMESPACE: sel->registrations = optarg; break;
        case OPT_CLUSTER: sel->cluster = optarg; break;
        case OPT_NAME: sel->name = optarg; break;
        case OPT_NS_IN_CLUSTER: sel->ns = optarg; break;
        case OPT_ALL: all = 1; break;
        case OPT_WAIT: sel->wait = 1; break;
        case OPT_TIMEOUT:
            if (mc_cli_wait_timeout_parse(cmd, optarg, &sel->timeout_ms))
                return MC_EXIT_USAGE;
            timeout_given = 1;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (all == (sel->cluster != NULL))
        return mc_cli_usage_error(cmd, "give either --cluster C (optionally with --name N) or "
                                       "--all");
    if (all && (sel->name || sel->ns))
        return mc_cli_usage_error(cmd, "--name and --namespace-in-cluster are for --cluster, "
                                       "not --all");
    if (timeout_given && !sel->wait)
        return mc_cli_usage_error(cmd, "--timeout is for --wait");
    if (sel->name && mc_validate_dns1123_subdomain(sel->name, &err))
        return mc_cli_usage_error(cmd, "--name: %s", err.msg);
    if (sel->ns && mc_validate_dns1123_label(sel->ns, &err))
        return mc_cli_usage_error(cmd, "--namespace-in-cluster: %s", err.msg);
    if (mc_validate_dns1123_label(sel->registrations, &err))
        return mc_cli_usage_error(cmd, "--namespace: %s", err.msg);
    return MC_EXIT_OK;
}

int mc_cmd_rotate(int argc, char **argv)
{
    static const char cmd[] = "rotate";
    selection sel = {MC_CLI_OPS_NAMESPACE, NULL, NULL, NULL, 0, MC_CLI_WAIT_TIMEOUT_DEFAULT_MS};
    mc_cli_mgmt_flags flags = MC_CLI_MGMT_FLAGS_DEFAULT;
    int usage = parse(argc, argv, &sel, &flags);
    if (usage)
        return usage < 0 ? MC_EXIT_OK : usage;

    mc_err err = {0};
    unsigned char random[4];
    char token[64];
    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
        mc_err_set(&err, MC_EIO, "cannot read random bytes for the rotate token");
        return mc_cli_fail(cmd, &err);
    }
    mc_cli_rotation_token(time(NULL), random, token, sizeof(token));

    mc_kube_client *mgmt = NULL;
    json_t *registrations = NULL;
    rotated_list done = {0};
    int failures = 0;
    int rc = mc_cli_mgmt_client(&flags, &mgmt, &err);
    if (rc == MC_OK && sel.cluster) {
        rc = rotate_cluster(mgmt, &sel, sel.cluster, token, &done, &err);
    } else if (rc == MC_OK) {
        rc = mc_kube_list(mgmt, mc_kube_resource_of(MC_API_SECRETS), sel.registrations, NULL,
                          &registrations, &err);
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(registrations, "items"), i, item)
        {
            const char *cluster = mc_cli_registration_name(item);
            mc_err cluster_err = {0};
            /* a cluster without IssuedCertificates has nothing to rotate */
            int cluster_rc =
                cluster ? rotate_cluster(mgmt, &sel, cluster, token, &done, &cluster_err) : MC_OK;
            if (cluster_rc != MC_OK && cluster_rc != MC_ENOTFOUND) {
                mc_err_prefix(&cluster_err, "cluster %s", cluster);
                mc_cli_fail(cmd, &cluster_err);
                failures++;
            }
        }
        if (rc == MC_OK && done.count == 0 && failures == 0)
            rc = mc_err_set(&err, MC_ENOTFOUND,
                            "no issuedcertificates on any cluster registered in namespace %s",
                            sel.registrations);
    }
    int exit_code = MC_EXIT_OK;
    if (rc != MC_OK)
        exit_code = mc_cli_fail(cmd, &err);
    if (sel.wait && done.count > 0)
        failures += wait_all(mgmt, &sel, &done, token);
    if (failures)
        exit_code = MC_EXIT_FAIL;
    free(done.items);
    json_decref(registrations);
    mc_kube_client_free(mgmt);
    return exit_code;
}
