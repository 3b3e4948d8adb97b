/* cmd_cluster.c - `meshcert cluster register|list|deregister`: manages the
 * registrations of managed clusters on the management cluster (Secrets of
 * type solo.io/kubeconfig, the issuer's input), and the helpers of ops.h
 * that the other operator commands use to reach those clusters.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"
#include "api/registration.h"
#include "api/validate.h"
#include "cli/cli.h"
#include "cli/issuer_identity.h"
#include "cli/ops.h"
#include "kube/config.h"
#include "util/base64.h"
#include "util/file.h"
#include "util/str.h"

/* Largest kubeconfig accepted (the Secret limit). */
#define KUBECONFIG_MAX (1024u * 1024)

static const char help[] =
    "Usage: meshcert cluster register NAME --kubeconfig-file FILE\n"
    "           (--trust-domain TD | --dns-suffix SUFFIX)... --org O... [--root NS/NAME]...\n"
    "           [--agent-namespace NS] [--keep-kubeconfig] [--force] [options]\n"
    "       meshcert cluster list [options]\n"
    "       meshcert cluster deregister NAME [options]\n"
    "\n"
    "Manages the managed clusters registered on the management cluster: each is a Secret\n"
    "NAME of type solo.io/kubeconfig in NAMESPACE whose data key NAME holds the managed\n"
    "cluster's kubeconfig (what the issuer and the other operator commands use).\n"
    "register refuses to replace an existing registration unless --force is given.\n"
    "\n"
    "register does not store FILE's credentials (usually the managed cluster's admin):\n"
    "with them it creates, in the managed cluster's agent namespace, ServiceAccount,\n"
    "Role and RoleBinding meshcert-issuer and the token Secret meshcert-issuer-token,\n"
    "and stores a kubeconfig holding only that token,\n"
    "with the agent namespace as its context namespace (the issuer serves that namespace\n"
    "only). The Role allows what the issuer does there and nothing else: get, list, watch\n"
    "certificaterequests and issuedcertificates; update certificaterequests/status; patch\n"
    "issuedcertificates (root rotation); create and patch events. Operator commands that\n"
    "need more on the managed cluster through the registration (verify --cluster reads a\n"
    "Secret; issue --bounce creates a PodBounceDirective; status lists every namespace)\n"
    "need --keep-kubeconfig, which stores FILE as it is (the old behaviour).\n"
    "\n"
    "The registration also holds the cluster's issuance policy (annotation\n"
    "certificates.smh.solo.io/issuance-policy), which nothing in the managed cluster can\n"
    "change: the issuer signs only with the cluster's roots, only for hosts\n"
    "spiffe://TD/... of its trust domains and DNS names at or below its DNS suffixes, and\n"
    "only with its orgs; the intermediates it signs carry these names as\n"
    "X.509 name constraints. Nothing is allowed by default but the root NAMESPACE/root-ca:\n"
    "name at least one org and one trust domain or DNS suffix (e.g. --org Istio\n"
    "--trust-domain cluster.local when the clusters share Istio's default trust domain).\n"
    "\n"
    "Options:\n" MC_CLI_MGMT_FLAGS_HELP
    "  --namespace NS           namespace of the registrations         [meshcert]\n"
    "  --kubeconfig-file FILE   register: the managed cluster's (admin) kubeconfig\n"
    "                                                                     [required]\n"
    "  --agent-namespace NS     register: the managed cluster's namespace of the agent's\n"
    "                           IssuedCertificates, where the issuer is allowed [meshcert]\n"
    "  --keep-kubeconfig        register: store FILE itself (its credentials) instead of\n"
    "                           a least-privilege identity\n"
    "  --force                  register: replace an existing registration\n"
    "  --trust-domain TD        register: allow spiffe://TD/... hosts (repeatable)\n"
    "  --dns-suffix SUFFIX      register: allow DNS names SUFFIX and *.SUFFIX (repeatable)\n"
    "  --org O                  register: allow subject O=O (repeatable)   [required]\n"
    "  --root NS/NAME           register: a root Secret that may sign for the cluster,\n"
    "                           in the management cluster (repeatable) [NAMESPACE/root-ca]\n"
    "  -h, --help               show this help\n";

enum {
    OPT_NAMESPACE = 256,
    OPT_KUBECONFIG_FILE,
    OPT_FORCE,
    OPT_TRUST_DOMAIN,
    OPT_DNS_SUFFIX,
    OPT_ORG,
    OPT_ROOT,
    OPT_AGENT_NAMESPACE,
    OPT_KEEP_KUBECONFIG
};

static const struct option options[] = {
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"kubeconfig-file", required_argument, NULL, OPT_KUBECONFIG_FILE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
    {"dns-suffix", required_argument, NULL, OPT_DNS_SUFFIX},
    {"org", required_argument, NULL, OPT_ORG},
    {"root", required_argument, NULL, OPT_ROOT},
    {"agent-namespace", required_argument, NULL, OPT_AGENT_NAMESPACE},
    {"keep-kubeconfig", no_argument, NULL, OPT_KEEP_KUBECONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

const char *mc_cli_registration_name(const json_t *secret)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(secret, "metadata"), "name"));
    return name && mc_api_registration_is(secret) ? name : NULL;
}

int mc_cli_cluster_client(mc_kube_client *mgmt, const char *ns, const char *cluster,
                          mc_kube_client **out, char *server, size_t server_size, mc_err *err)
{
    json_t *secret = NULL;
    char *text = NULL;
    size_t len = 0;
    mc_kube_config *config = NULL;
    int rc = mc_kube_get(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, cluster, &secret, err);
    if (rc == MC_ENOTFOUND) {
        rc = mc_err_set(err, MC_ENOTFOUND, "cluster \"%s\" is not registered (no Secret %s/%s)",
                        cluster, ns, cluster);
        goto out;
    }
    if (rc)
        goto out;
    if ((rc = mc_api_registration_kubeconfig(secret, cluster, &text, &len, err))) {
        mc_err_prefix(err, "secret %s/%s", ns, cluster);
        goto out;
    }
    char what[600];
    snprintf(what, sizeof(what), "secret %s/%s", ns, cluster);
    if ((rc = mc_kube_config_load_text(text, len, NULL, what, &config, err)))
        goto out;
    if (server && server_size)
        mc_strlcpy(server, config->server ? config->server : "", server_size);
    if (out)
        rc = mc_kube_client_new(config, mc_kube_client_options_of(mgmt), out, err);
out:
    mc_kube_config_free(config);
    if (text)
        mc_secure_free(text, len);
    json_decref(secret);
    return rc;
}

int mc_cli_parse_ref(const char *text, const char *default_ns, char ns[254], char name[254])
{
    const char *slash = strchr(text, '/');
    if (!slash) {
        if (!*text || strlen(text) > 253)
            return -1;
        mc_strlcpy(ns, default_ns, 254);
        mc_strlcpy(name, text, 254);
    } else {
        size_t ns_len = (size_t)(slash - text);
        if (ns_len == 0 || ns_len > 253 || !slash[1] || strlen(slash + 1) > 253 ||
            strchr(slash + 1, '/'))
            return -1;
        memcpy(ns, text, ns_len);
        ns[ns_len] = '\0';
        mc_strlcpy(name, slash + 1, 254);
    }
    mc_err err = {0};
    return mc_validate_dns1123_label(ns, &err) || mc_validate_dns1123_subdomain(name, &err) ? -1
                                                                                            : 0;
}

/* How register gets the kubeconfig it stores. */
typedef struct register_source {
    const char *file;     /* --kubeconfig-file */
    const char *agent_ns; /* --agent-namespace */
    int keep;             /* --keep-kubeconfig: store file itself */
} register_source;

/* How long register waits for the token controller to fill the Secret. */
#define TOKEN_WAIT_MS 30000

static int do_register(mc_kube_client *mgmt, const char *ns, const char *name,
                       const register_source *source, const mc_api_registration_policy *policy,
                       int force, mc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    mc_kube_config *config = NULL;
    json_t *secret = NULL;
    const char *file = source->file;
    int rc = source->keep ? mc_file_read(file, KUBECONFIG_MAX, &text, &len, err)
                          : mc_cli_issuer_identity_create(file, source->agent_ns,
                                                          mc_kube_client_options_of(mgmt),
                                                          TOKEN_WAIT_MS, &text, &len, err);
    /* the stored text must stand alone: relative paths would not resolve */
    if (rc == MC_OK &&
        (rc = mc_kube_config_load_text(text, len, NULL, file, &config, err)) == MC_OK)
        rc = mc_api_registration_build(ns, name, text, len, policy, &secret, err);
    if (rc == MC_OK) {
        rc = mc_kube_create(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, secret, NULL, err);
        if (rc == MC_EEXISTS && force) {
            mc_err_clear(err);
            json_t *existing = NULL;
            rc = mc_kube_get(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, name, &existing, err);
            if (rc == MC_OK) {
                json_object_set(
                    json_object_get(secret, "metadata"), "resourceVersion",
                    json_object_get(json_object_get(existing, "metadata"), "resourceVersion"));
                rc = mc_kube_update(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, secret, NULL,
                                    err);
            }
            json_decref(existing);
        } else if (rc == MC_EEXISTS) {
            rc = mc_err_set(err, MC_EEXISTS,
                            "cluster \"%s\" is already registered (secret %s/%s); use --force "
                            "to replace it",
                            name, ns, name);
        }
    }
    json_decref(secret);
    mc_kube_config_free(config);
    if (text)
        mc_secure_free(text, len);
    return rc;
}

/* "trustDomains=a,b dnsSuffixes=- orgs=Istio roots=meshcert/root-ca", or
 * why the registration's policy is unusable. */
static void describe_policy(const json_t *secret, char *out, size_t size)
{
    mc_api_registration_policy policy;
    mc_api_registration_policy_init(&policy);
    mc_err err = {0};
    if (mc_api_registration_policy_from_secret(secret, &policy, &err) != MC_OK) {
        snprintf(out, size, "<none: nothing is issued (%.200s)>", err.msg);
        return;
    }
    static const mc_policy_field order[] = {MC_POLICY_TRUST_DOMAIN, MC_POLICY_DNS_SUFFIX,
                                            MC_POLICY_ORG, MC_POLICY_ROOT};
    size_t used = 0;
    out[0] = '\0';
    for (size_t f = 0; f < sizeof(order) / sizeof(order[0]) && used < size; f++) {
        mc_policy_field field = order[f];
        used += (size_t)snprintf(out + used, size - used, "%s%s=", f ? " " : "",
                                 mc_api_registration_policy_field_name(field));
        for (size_t i = 0; i < policy.lens[field] && used < size; i++)
            used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "",
                                     policy.values[field][i]);
        if (policy.lens[field] == 0 && used < size)
            used += (size_t)snprintf(out + used, size - used, "-");
    }
    mc_api_registration_policy_clear(&policy);
}

static int do_list(mc_kube_client *mgmt, const char *ns, mc_err *err)
{
    json_t *list = NULL;
    int rc = mc_kube_list(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, NULL, &list, err);
    if (rc)
        return rc;
    printf("%-24s %-40s %s\n", "NAME", "SERVER", "POLICY");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *name = mc_cli_registration_name(item);
        if (!name)
            continue;
        char server[512];
        mc_err cluster_err = {0};
        if (mc_cli_cluster_client(mgmt, ns, name, NULL, server, sizeof(server), &cluster_err))
            snprintf(server, sizeof(server), "<unusable: %.400s>", cluster_err.msg);
        char policy[1024];
        describe_policy(item, policy, sizeof(policy));
        printf("%-24s %-40s %s\n", name, server, policy);
    }
    json_decref(list);
    return MC_OK;
}

/* One policy flag's value into policy; MC_EXIT_USAGE on a bad value. */
static int add_policy_value(const char *cmd, mc_api_registration_policy *policy,
                            mc_policy_field field, const char *flag, const char *value)
{
    mc_err err = {0};
    if (mc_api_registration_policy_add(policy, field, value, &err) != MC_OK)
        return mc_cli_usage_error(cmd, "--%s: %s", flag, err.msg);
    return 0;
}

static int run_cluster(int argc, char **argv, mc_api_registration_policy *policy)
{
    static const char cmd[] = "cluster";
    const char *ns = MC_CLI_OPS_NAMESPACE;
    register_source source = {NULL, MC_CLI_OPS_NAMESPACE, 0};
    mc_cli_mgmt_flags flags = MC_CLI_MGMT_FLAGS_DEFAULT;
    int force = 0, policy_flags = 0, names = 0, roots = 0, orgs = 0, source_flags = 0;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return MC_EXIT_OK;
    }
    if (argc < 2)
        return mc_cli_usage_error(cmd, "expected register, list or deregister");
    const char *action = argv[1];
    int is_register = strcmp(action, "register") == 0, is_list = strcmp(action, "list") == 0,
        is_deregister = strcmp(action, "deregister") == 0;
    if (!is_register && !is_list && !is_deregister)
        return mc_cli_usage_error(cmd, "unknown action \"%s\" (register, list, deregister)",
                                  action);
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, &flags))
                return MC_EXIT_USAGE;
            break;
        case OPT_NAMESPACE: ns = optarg; break;
        case OPT_KUBECONFIG_FILE: source.file = optarg; break;
        case OPT_AGENT_NAMESPACE:
            source.agent_ns = optarg;
            source_flags++;
            break;
        case OPT_KEEP_KUBECONFIG:
            source.keep = 1;
            source_flags++;
            break;
        case OPT_FORCE: force = 1; break;
        case OPT_TRUST_DOMAIN:
        case OPT_DNS_SUFFIX:
        case OPT_ORG:
        case OPT_ROOT: {
            mc_policy_field field = opt == OPT_TRUST_DOMAIN ? MC_POLICY_TRUST_DOMAIN
                                    : opt == OPT_DNS_SUFFIX ? MC_POLICY_DNS_SUFFIX
                                    : opt == OPT_ORG        ? MC_POLICY_ORG
                                                            : MC_POLICY_ROOT;
            const char *flag = opt == OPT_TRUST_DOMAIN ? "trust-domain"
                               : opt == OPT_DNS_SUFFIX ? "dns-suffix"
                               : opt == OPT_ORG        ? "org"
                                                       : "root";
            if (add_policy_value(cmd, policy, field, flag, optarg))
                return MC_EXIT_USAGE;
            policy_flags++;
            names += field == MC_POLICY_TRUST_DOMAIN || field == MC_POLICY_DNS_SUFFIX;
            roots += field == MC_POLICY_ROOT;
            orgs += field == MC_POLICY_ORG;
            break;
        }
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    const char *name = NULL;
    if (!is_list) {
        if (optind >= argc)
            return mc_cli_usage_error(cmd, "%s: the cluster NAME is required", action);
        name = argv[optind++];
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (is_register && !source.file)
        return mc_cli_usage_error(cmd, "register: --kubeconfig-file is required");
    if (!is_register && (source.file || force || policy_flags || source_flags))
        return mc_cli_usage_error(cmd, "--kubeconfig-file, --agent-namespace, --keep-kubeconfig, "
                                       "--force, --trust-domain, --dns-suffix, --org and --root "
                                       "are for register");
    if (source.keep && source_flags > 1)
        return mc_cli_usage_error(cmd, "register: --agent-namespace is for the least-privilege "
                                       "identity, not with --keep-kubeconfig");
    if (is_register && !names)
        return mc_cli_usage_error(cmd,
                                  "register: name what the cluster may be issued: at least one "
                                  "--trust-domain or --dns-suffix (nothing is allowed by default)");
    /* An intermediate CA needs a subject (O=), and a policy without orgs allows
     * none: such a registration could never be issued anything. */
    if (is_register && !orgs)
        return mc_cli_usage_error(cmd, "register: name the org(s) the cluster's intermediates may "
                                       "carry: at least one --org (e.g. --org Istio)");
    mc_err err = {0};
    if (mc_validate_dns1123_label(ns, &err))
        return mc_cli_usage_error(cmd, "--namespace: %s", err.msg);
    if (mc_validate_dns1123_label(source.agent_ns, &err))
        return mc_cli_usage_error(cmd, "--agent-namespace: %s", err.msg);
    /* the name is both a Secret name and its data key */
    if (name && (mc_validate_dns1123_subdomain(name, &err) || mc_validate_secret_key(name, &err)))
        return mc_cli_usage_error(cmd, "cluster name: %s", err.msg);

    if (is_register && !roots) {
        char root[300];
        snprintf(root, sizeof(root), "%s/%s", ns, MC_CLI_DEFAULT_ROOT_NAME);
        if (add_policy_value(cmd, policy, MC_POLICY_ROOT, "root", root))
            return MC_EXIT_USAGE;
    }
    mc_kube_client *mgmt = NULL;
    int rc = mc_cli_mgmt_client(&flags, &mgmt, &err);
    if (rc == MC_OK) {
        if (is_register) {
            rc = do_register(mgmt, ns, name, &source, policy, force, &err);
            if (rc == MC_OK && source.keep)
                printf("cluster %s registered (secret %s/%s, with the credentials of %s)\n", name,
                       ns, name, source.file);
            else if (rc == MC_OK)
                printf("cluster %s registered (secret %s/%s, as ServiceAccount %s/%s of the "
                       "cluster)\n",
                       name, ns, name, source.agent_ns, MC_CLI_ISSUER_IDENTITY);
        } else if (is_list) {
            rc = do_list(mgmt, ns, &err);
        } else {
            /* only a registration: never delete an unrelated Secret */
            json_t *secret = NULL;
            rc = mc_kube_get(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, name, &secret, &err);
            if (rc == MC_ENOTFOUND)
                mc_err_set(&err, rc, "cluster \"%s\" is not registered (no Secret %s/%s)", name, ns,
                           name);
            const char *type = json_string_value(json_object_get(secret, "type"));
            if (rc == MC_OK && !mc_api_registration_is(secret))
                rc = mc_err_set(&err, MC_EINVAL,
                                "secret %s/%s is not a registration (type %s); "
                                "not deleting",
                                ns, name, type ? type : "Opaque");
            json_decref(secret);
            if (rc == MC_OK)
                rc =
                    mc_kube_delete(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, name, NULL, &err);
            if (rc == MC_OK)
                printf("cluster %s deregistered\n", name);
        }
    }
    mc_kube_client_free(mgmt);
    return rc ? mc_cli_fail(cmd, &err) : MC_EXIT_OK;
}

int mc_cmd_cluster(int argc, char **argv)
{
    mc_api_registration_policy policy;
    mc_api_registration_policy_init(&policy);
    int rc = run_cluster(argc, argv, &policy);
    mc_api_registration_policy_clear(&policy);
    return rc;
}
