/* cmd_ops.c - `meshcert issue` and `meshcert status`: the operator's view of
 * issuance across the registered clusters. issue writes an
 * IssuedCertificate (and optionally its PodBounceDirective) on one managed
 * cluster, with the optional lifetime fields (duration, renewBefore,
 * keyType); status reads every registered cluster's IssuedCertificates and
 * their output Secrets: state, validity, renewal time, trust-bundle roots,
 * pending rotation. Both reach the clusters through the management
 * cluster's registrations (ops.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "api/validate.h"
#include "cli/cli.h"
#include "cli/issuance.h"
#include "cli/ops.h"
#include "pki/cert.h"
#include "util/duration.h"
#include "util/str.h"

static const char issue_help[] =
    "Usage: meshcert issue --cluster C --name N --host H... [options]\n"
    "\n"
    "Creates IssuedCertificate N on the registered cluster C: its agent makes a key and a\n"
    "CertificateRequest, the issuer signs it with the root in --root-secret, and the agent\n"
    "writes --output-secret. With --bounce, also a PodBounceDirective N whose selectors\n"
    "restart the matching pods once the certificate is written. Every --host is checked\n"
    "(DNS name, IP address or URI) before anything is written, and issue refuses when\n"
    "another IssuedCertificate on C already uses the output Secret (as its output or\n"
    "its private key Secret, which is named after it), the key Secret N or the\n"
    "PodBounceDirective. With --wait, waits until the certificate is done: FINISHED\n"
    "(or, when the status has conditions, Ready True); exits 1 printing the error when\n"
    "it is FAILED, or when --timeout passes first.\n"
    "\n"
    "Options:\n"
    "  --cluster C                   registered cluster                       [required]\n"
    "  --name N                      name of the IssuedCertificate            [required]\n"
    "  --namespace-in-cluster NS     its namespace on cluster C           [meshcert]\n"
    "  --host H                      subjectAltName (repeatable)           [required]\n"
    "  --org O                       organization (subject O=)             [required]\n"
    "  --root-secret NS/NAME         signing root on the management cluster\n"
    "                                                                [meshcert/root-ca]\n"
    "  --output-secret NS/NAME       output Secret on cluster C   [istio-system/cacerts]\n"
    "  --bounce NS:label=value[,...] pods to restart after issuance (repeatable;\n"
    "                                NS: alone selects every pod of NS)\n"
    "  --duration D                  lifetime asked of the issuer, 1m to 87600h\n"
    "                                (e.g. 90m, 720h, 365d; written as hours,\n"
    "                                minutes or seconds)          [the issuer's --ttl]\n"
    "  --renew-before D              renew (new key) this long before notAfter;\n"
    "                                shorter than --duration   [a third of the lifetime]\n"
    "  --key-type TYPE               key of the intermediate: rsa2048, rsa3072,\n"
    "                                rsa4096, ec-p256, ec-p384  [the agent's --key-type]\n"
    "  --wait                        wait until issued (FINISHED or Ready), or FAILED\n"
    "  --timeout D                   --wait: give up after D (e.g. 90s, 5m)      [5m]\n"
    "  -h, --help                    show this help\n"
    "\n"
    "The management cluster:\n" MC_CLI_MGMT_FLAGS_HELP
    "  --namespace NS           namespace of the registrations         [meshcert]\n";

static const char status_help[] =
    "Usage: meshcert status [options]\n"
    "\n"
    "Prints one row per IssuedCertificate on every registered cluster: its state,\n"
    "generation and observed generation, the notBefore and notAfter of the certificate\n"
    "in its output Secret (else the agent's status.notBefore/notAfter; - when\n"
    "unknown), when the agent renews it (status.renewalTime), the roots of its trust\n"
    "bundle (the first 8 hex digits of each root's SHA-256, status.rootFingerprints),\n"
    "ROTATION pending while a meshcert rotate (or root rotation step) has not been\n"
    "taken up by the agent, and its error. A cluster that cannot be reached is one row\n"
    "saying so. Exit code 0 when every cluster answered and no IssuedCertificate is\n"
    "FAILED; 1 otherwise (an unreachable cluster, or a FAILED row).\n"
    "\n"
    "Options:\n" MC_CLI_MGMT_FLAGS_HELP
    "  --namespace NS           namespace of the registrations         [meshcert]\n"
    "  -h, --help               show this help\n";

enum {
    OPT_NAMESPACE = 256,
    OPT_CLUSTER,
    OPT_NAME,
    OPT_NS_IN_CLUSTER,
    OPT_HOST,
    OPT_ORG,
    OPT_ROOT_SECRET,
    OPT_OUTPUT_SECRET,
    OPT_BOUNCE,
    OPT_WAIT,
    OPT_TIMEOUT,
    OPT_DURATION,
    OPT_RENEW_BEFORE,
    OPT_KEY_TYPE
};

static const struct option issue_options[] = {
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"name", required_argument, NULL, OPT_NAME},
    {"namespace-in-cluster", required_argument, NULL, OPT_NS_IN_CLUSTER},
    {"host", required_argument, NULL, OPT_HOST},
    {"org", required_argument, NULL, OPT_ORG},
    {"root-secret", required_argument, NULL, OPT_ROOT_SECRET},
    {"output-secret", required_argument, NULL, OPT_OUTPUT_SECRET},
    {"bounce", required_argument, NULL, OPT_BOUNCE},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"renew-before", required_argument, NULL, OPT_RENEW_BEFORE},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option status_options[] = {
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses "NS:key=value,key=value" (or "NS:") into a podsToBounce entry of
 * directive. MC_EINVAL with the reason. */
static int parse_bounce(const char *text, mc_api_pod_bounce_directive *directive, mc_err *err)
{
    const char *colon = strchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) > 63)
        return mc_err_set(err, MC_EINVAL, "\"%s\": expected NS:label=value[,label=value...]", text);
    char ns[64];
    memcpy(ns, text, (size_t)(colon - text));
    ns[colon - text] = '\0';
    if (mc_validate_dns1123_label(ns, err))
        return mc_err_prefix(err, "\"%s\": namespace", text);
    mc_api_str_map labels = {0};
    char *rest = mc_strdup(colon + 1);
    if (!rest)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = MC_OK;
    char *cursor = rest;
    while (rc == MC_OK && *cursor) {
        char *comma = strchr(cursor, ',');
        if (comma)
            *comma = '\0';
        char *eq = strchr(cursor, '=');
        if (!eq) {
            rc = mc_err_set(err, MC_EINVAL, "\"%s\": \"%s\" is not label=value", text, cursor);
            break;
        }
        *eq = '\0';
        if (mc_validate_qualified_name(cursor, err) || mc_validate_label_value(eq + 1, err)) {
            rc = mc_err_prefix(err, "\"%s\"", text);
            break;
        }
        if (mc_api_str_map_set(&labels, cursor, eq + 1) != 0)
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        cursor = comma ? comma + 1 : cursor + strlen(cursor);
    }
    free(rest);
    if (rc == MC_OK && mc_api_pod_bounce_directive_add_selector(directive, ns, &labels) != 0)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_api_str_map_clear(&labels);
    return rc;
}

/* The lifetime flags of issue, checked as the agent and issuer check
 * spec (mc_api_issued_certificate_validate) and written in the Go form the
 * CRD's pattern takes. Strings empty when not given. */
typedef struct lifetime_flags {
    char duration[32], renew_before[32];
    const char *key_type;
} lifetime_flags;

/* Parses --duration or --renew-before (flag names it) into out as a Go
 * duration of 1m to 87600h. MC_EINVAL naming the flag otherwise. */
static int parse_lifetime(const char *flag, const char *text, char *out, size_t out_size,
                          int64_t *seconds, mc_err *err)
{
    if (mc_duration_parse(text, seconds, err) != MC_OK)
        return mc_err_prefix(err, "%s", flag);
    if (*seconds < MC_API_IC_DURATION_MIN || *seconds > MC_API_IC_DURATION_MAX)
        return mc_err_set(err, MC_EINVAL, "%s: \"%s\" is outside 1m to 87600h", flag, text);
    mc_duration_format_go(*seconds, out, out_size);
    return MC_OK;
}

/* The names of an issuance: the IssuedCertificate ns/name, its root Secret
 * (management cluster) and output Secret (its cluster). */
typedef struct issue_refs {
    const char *ns, *name, *root_ns, *root_name, *out_ns, *out_name;
} issue_refs;

/* Fills ic's spec from the flags (copies). MC_ENOMEM. */
static int issue_spec_fill(mc_api_issued_certificate *ic, const issue_refs *refs,
                           const mc_cli_list *hosts, const char *org,
                           const lifetime_flags *lifetime)
{
    mc_api_issued_certificate_spec *spec = &ic->spec;
    spec->hosts = calloc(hosts->count, sizeof(char *));
    if (!spec->hosts)
        return MC_ENOMEM;
    for (; spec->hosts_len < hosts->count; spec->hosts_len++)
        if (!(spec->hosts[spec->hosts_len] = mc_strdup(hosts->items[spec->hosts_len])))
            return MC_ENOMEM;
    spec->org = mc_strdup(org);
    spec->duration = lifetime->duration[0] ? mc_strdup(lifetime->duration) : NULL;
    spec->renew_before = lifetime->renew_before[0] ? mc_strdup(lifetime->renew_before) : NULL;
    spec->key_type = lifetime->key_type ? mc_strdup(lifetime->key_type) : NULL;
    if (!spec->org || (lifetime->duration[0] && !spec->duration) ||
        (lifetime->renew_before[0] && !spec->renew_before) ||
        (lifetime->key_type && !spec->key_type))
        return MC_ENOMEM;
    return mc_api_object_ref_set(&spec->signing_certificate_secret, refs->root_ns,
                                 refs->root_name) ||
                   mc_api_object_ref_set(&spec->issued_certificate_secret, refs->out_ns,
                                         refs->out_name)
               ? MC_ENOMEM
               : MC_OK;
}

/* The IssuedCertificate issue creates (*ic_json) and, when directive has
 * pods to bounce, the directive named like it (*pbd_json, else NULL), both
 * new references built by api/'s codecs. MC_ENOMEM. */
static int issue_objects(const issue_refs *refs, const mc_cli_list *hosts, const char *org,
                         const lifetime_flags *lifetime, mc_api_pod_bounce_directive *directive,
                         json_t **ic_json, json_t **pbd_json, mc_err *err)
{
    *ic_json = *pbd_json = NULL;
    mc_api_issued_certificate *ic = mc_api_issued_certificate_new(refs->ns, refs->name);
    int rc = ic ? issue_spec_fill(ic, refs, hosts, org, lifetime) : MC_ENOMEM;
    if (rc == MC_OK && directive->spec.pods_to_bounce_len > 0) {
        rc = mc_api_meta_set_name(&directive->metadata, refs->ns, refs->name) ||
                     mc_api_object_ref_set(&ic->spec.pod_bounce_directive, refs->ns, refs->name)
                 ? MC_ENOMEM
                 : mc_api_pod_bounce_directive_encode(directive, pbd_json, err);
    }
    if (rc == MC_OK)
        rc = mc_api_issued_certificate_encode(ic, ic_json, err);
    mc_api_issued_certificate_free(ic);
    if (rc == MC_ENOMEM)
        mc_err_set(err, MC_ENOMEM, "out of memory");
    return rc;
}

/* Creates obj on the cluster; an existing object of that name is an error
 * (issue never silently changes a running issuance). */
static int create_object(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                         const char *kind, const char *name, json_t *obj, mc_err *err)
{
    int rc = mc_kube_create(client, res, ns, obj, NULL, err);
    if (rc == MC_EEXISTS)
        return mc_err_set(err, MC_EEXISTS, "%s %s/%s already exists", kind, ns, name);
    return rc;
}

/* Refuses (MC_EEXISTS, naming the other) when an IssuedCertificate
 * already on the cluster would fight the new one (issuance.h). */
static int check_conflicts(mc_kube_client *client, const mc_cli_issue_names *names, mc_err *err)
{
    json_t *list = NULL;
    int rc =
        mc_kube_list(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "", NULL, &list, err);
    if (rc == MC_OK)
        rc = mc_cli_issue_conflicts(json_object_get(list, "items"), names, err);
    json_decref(list);
    return rc;
}

int mc_cmd_issue(int argc, char **argv)
{
    static const char cmd[] = "issue";
    const char *ns = MC_CLI_OPS_NAMESPACE, *cluster = NULL, *name = NULL,
               *ns_in_cluster = "meshcert", *org = NULL, *root_secret = "meshcert/root-ca",
               *output_secret = "istio-system/cacerts";
    mc_cli_mgmt_flags flags = MC_CLI_MGMT_FLAGS_DEFAULT;
    int wait = 0, timeout_given = 0;
    int64_t wait_timeout_ms = MC_CLI_WAIT_TIMEOUT_DEFAULT_MS;
    mc_cli_list hosts = {0};
    lifetime_flags lifetime = {{0}, {0}, NULL};
    int64_t duration_seconds = 0, renew_before_seconds = 0;
    mc_key_type key_type;
    mc_api_pod_bounce_directive *directive = mc_api_pod_bounce_directive_new(NULL, NULL);
    json_t *ic = NULL, *pbd = NULL;
    mc_kube_client *mgmt = NULL, *target = NULL;
    mc_err err = {0};
    int exit_code = MC_EXIT_OK;
    if (!directive)
        return MC_EXIT_FAIL;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", issue_options, NULL)) != -1) {
        switch (opt) {
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, &flags)) {
                exit_code = MC_EXIT_USAGE;
                goto out;
            }
            break;
        case OPT_WAIT: wait = 1; break;
        case OPT_TIMEOUT:
            if (mc_cli_wait_timeout_parse(cmd, optarg, &wait_timeout_ms)) {
                exit_code = MC_EXIT_USAGE;
                goto out;
            }
            timeout_given = 1;
            break;
        case OPT_DURATION:
        case OPT_RENEW_BEFORE: {
            int is_duration = opt == OPT_DURATION;
            if (parse_lifetime(is_duration ? "--duration" : "--renew-before", optarg,
                               is_duration ? lifetime.duration : lifetime.renew_before,
                               sizeof(lifetime.duration),
                               is_duration ? &duration_seconds : &renew_before_seconds, &err)) {
                exit_code = mc_cli_usage_error(cmd, "%s", err.msg);
                goto out;
            }
            break;
        }
        case OPT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &key_type, &err)) {
                exit_code = mc_cli_usage_error(cmd, "--key-type: %s", err.msg);
                goto out;
            }
            lifetime.key_type = mc_pki_key_type_name(key_type);
            break;
        case OPT_NAMESPACE: ns = optarg; break;
        case OPT_CLUSTER: cluster = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_NS_IN_CLUSTER: ns_in_cluster = optarg; break;
        case OPT_HOST:
            if (mc_cli_add_host(&hosts, optarg, &err)) {
                exit_code = mc_cli_usage_error(cmd, "--host: %s", err.msg);
                goto out;
            }
            break;
        case OPT_ORG: org = optarg; break;
        case OPT_ROOT_SECRET: root_secret = optarg; break;
        case OPT_OUTPUT_SECRET: output_secret = optarg; break;
        case OPT_BOUNCE:
            if (parse_bounce(optarg, directive, &err)) {
                exit_code = mc_cli_usage_error(cmd, "--bounce: %s", err.msg);
                goto out;
            }
            break;
        case 'h': fputs(issue_help, stdout); goto out;
        default: exit_code = mc_cli_bad_option(cmd, argv, optopt); goto out;
        }
    }
    char root_ns[254], root_name[254], out_ns[254], out_name[254];
    if (optind < argc)
        exit_code = mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    else if (!cluster || !name || hosts.count == 0)
        exit_code = mc_cli_usage_error(cmd, "--cluster, --name and --host are required");
    else if (!org || !*org)
        exit_code = mc_cli_usage_error(cmd, "--org is required (an intermediate CA may not have "
                                            "an empty subject, RFC 5280 4.1.2.6)");
    else if (timeout_given && !wait)
        exit_code = mc_cli_usage_error(cmd, "--timeout is for --wait");
    else if (duration_seconds && renew_before_seconds >= duration_seconds)
        exit_code = mc_cli_usage_error(cmd, "--renew-before %s must be shorter than --duration %s",
                                       lifetime.renew_before, lifetime.duration);
    else if (mc_validate_dns1123_subdomain(name, &err))
        exit_code = mc_cli_usage_error(cmd, "--name: %s", err.msg);
    else if (mc_validate_dns1123_label(ns_in_cluster, &err))
        exit_code = mc_cli_usage_error(cmd, "--namespace-in-cluster: %s", err.msg);
    else if (mc_validate_dns1123_label(ns, &err))
        exit_code = mc_cli_usage_error(cmd, "--namespace: %s", err.msg);
    else if (org && strlen(org) > MC_VALIDATE_ORG_MAX)
        exit_code =
            mc_cli_usage_error(cmd, "--org: longer than %d characters", MC_VALIDATE_ORG_MAX);
    else if (mc_cli_parse_ref(root_secret, MC_CLI_OPS_NAMESPACE, root_ns, root_name))
        exit_code =
            mc_cli_usage_error(cmd, "--root-secret: expected NS/NAME, got \"%s\"", root_secret);
    else if (mc_cli_parse_ref(output_secret, "istio-system", out_ns, out_name))
        exit_code =
            mc_cli_usage_error(cmd, "--output-secret: expected NS/NAME, got \"%s\"", output_secret);
    else if (strcmp(out_ns, ns_in_cluster) == 0 && strcmp(out_name, name) == 0)
        exit_code = mc_cli_usage_error(cmd,
                                       "--output-secret %s/%s is the IssuedCertificate's own "
                                       "private key Secret (named after it); choose another",
                                       out_ns, out_name);
    if (exit_code != MC_EXIT_OK)
        goto out;

    const issue_refs refs = {ns_in_cluster, name, root_ns, root_name, out_ns, out_name};
    if (issue_objects(&refs, &hosts, org, &lifetime, directive, &ic, &pbd, &err)) {
        exit_code = mc_cli_fail(cmd, &err);
        goto out;
    }
    int rc = mc_cli_mgmt_client(&flags, &mgmt, &err);
    if (rc == MC_OK)
        rc = mc_cli_cluster_client(mgmt, ns, cluster, &target, NULL, 0, &err);
    const mc_cli_issue_names names = {ns_in_cluster, name, out_ns, out_name, pbd != NULL};
    if (rc == MC_OK)
        rc = check_conflicts(target, &names, &err);
    /* the directive first: the agent may act on the certificate at once */
    if (rc == MC_OK && pbd)
        rc = create_object(target, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), ns_in_cluster,
                           "podbouncedirective", name, pbd, &err);
    if (rc == MC_OK)
        rc = create_object(target, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), ns_in_cluster,
                           "issuedcertificate", name, ic, &err);
    if (rc) {
        mc_err_prefix(&err, "cluster %s", cluster);
        exit_code = mc_cli_fail(cmd, &err);
        goto out;
    }
    printf("issuedcertificate %s/%s created on cluster %s%s\n", ns_in_cluster, name, cluster,
           pbd ? " (with its podbouncedirective)" : "");
    fflush(stdout);
    if (wait &&
        mc_cli_wait_issuance(target, cluster, ns_in_cluster, name, NULL, wait_timeout_ms, &err)) {
        mc_err_prefix(&err, "cluster %s", cluster);
        exit_code = mc_cli_fail(cmd, &err);
    }
out:
    mc_kube_client_free(target);
    mc_kube_client_free(mgmt);
    json_decref(ic);
    json_decref(pbd);
    mc_api_pod_bounce_directive_free(directive);
    mc_cli_list_free(&hosts);
    return exit_code;
}

/* One row of status: the times, roots and rotation of an IssuedCertificate. */
typedef struct status_times {
    char not_before[64], not_after[64], renewal[64];
    char roots[128];      /* "0a1b2c3d,ffee0011": first 8 hex of each root, or "-" */
    const char *rotation; /* "pending" or "-" */
} status_times;

/* The validity of the first certificate in the output Secret the spec
 * names (what is really served), into times; MC_OK when it was read. */
static int output_validity(mc_kube_client *client, const json_t *spec, status_times *times)
{
    const json_t *ref = json_object_get(spec, "issuedCertificateSecret");
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    json_t *secret = NULL;
    char *pem = NULL;
    size_t len = 0;
    mc_pki_cert *cert = NULL;
    time_t not_before = 0, not_after = 0;
    mc_err err = {0};
    int rc = ns && name
                 ? mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, name, &secret, &err)
                 : MC_ENOTFOUND;
    if (rc == MC_OK && mc_api_secret_value(secret, "ca-cert.pem", &pem, &len, &err) != MC_OK)
        rc = mc_api_secret_value(secret, "tls.crt", &pem, &len, &err);
    if (rc == MC_OK)
        rc = mc_pki_cert_from_pem(pem, len, name, &cert, &err);
    if (rc == MC_OK && (rc = mc_pki_cert_validity(cert, &not_before, &not_after)) == 0) {
        mc_pki_format_time(not_before, times->not_before, sizeof(times->not_before));
        mc_pki_format_time(not_after, times->not_after, sizeof(times->not_after));
    }
    mc_pki_cert_free(cert);
    free(pem);
    json_decref(secret);
    return rc;
}

/* Fills times for ic: the output Secret's validity, else the agent's
 * status.notBefore/notAfter; status.renewalTime; the short fingerprints of
 * status.rootFingerprints; whether a rotation is pending. "-" for what is
 * unknown. */
static void status_times_read(mc_kube_client *client, const json_t *ic, status_times *times)
{
    const json_t *status = json_object_get(ic, "status");
    const char *not_before = json_string_value(json_object_get(status, "notBefore"));
    const char *not_after = json_string_value(json_object_get(status, "notAfter"));
    const char *renewal = json_string_value(json_object_get(status, "renewalTime"));
    if (output_validity(client, json_object_get(ic, "spec"), times) != MC_OK) {
        mc_strlcpy(times->not_before, not_before && *not_before ? not_before : "-",
                   sizeof(times->not_before));
        mc_strlcpy(times->not_after, not_after && *not_after ? not_after : "-",
                   sizeof(times->not_after));
    }
    mc_strlcpy(times->renewal, renewal && *renewal ? renewal : "-", sizeof(times->renewal));
    size_t used = 0, i;
    json_t *fingerprint;
    times->roots[0] = '\0';
    json_array_foreach(json_object_get(status, "rootFingerprints"), i, fingerprint)
    {
        const char *hex = json_string_value(fingerprint);
        int n = snprintf(times->roots + used, sizeof(times->roots) - used, "%s%.8s",
                         used ? "," : "", hex ? hex : "?");
        if (n < 0 || used + (size_t)n >= sizeof(times->roots))
            break;
        used += (size_t)n;
    }
    if (!used)
        mc_strlcpy(times->roots, "-", sizeof(times->roots));
    times->rotation = mc_cli_rotation_pending(ic) ? "pending" : "-";
}

#define STATUS_ROW "%-16s %-40s %-10s %-10s %-21s %-21s %-21s %-18s %-8s %s\n"

/* Prints the rows of one cluster, counting the FAILED ones in *failed;
 * MC_OK, or the error of an unreachable one. */
static int status_cluster(mc_kube_client *mgmt, const char *ns, const char *cluster, int *failed,
                          mc_err *err)
{
    mc_kube_client *client = NULL;
    json_t *list = NULL;
    int rc = mc_cli_cluster_client(mgmt, ns, cluster, &client, NULL, 0, err);
    if (rc == MC_OK)
        rc = mc_kube_list(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), "", NULL, &list,
                          err); /* all */
    if (rc == MC_OK) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            const json_t *meta = json_object_get(item, "metadata");
            const json_t *status = json_object_get(item, "status");
            const char *state = json_string_value(json_object_get(status, "state"));
            const char *error = json_string_value(json_object_get(status, "error"));
            char object[512], generation[64];
            status_times times;
            const char *object_ns = json_string_value(json_object_get(meta, "namespace"));
            const char *object_name = json_string_value(json_object_get(meta, "name"));
            snprintf(object, sizeof(object), "%s/%s", object_ns ? object_ns : "?",
                     object_name ? object_name : "?");
            snprintf(generation, sizeof(generation), "%lld/%lld",
                     (long long)json_integer_value(json_object_get(meta, "generation")),
                     (long long)json_integer_value(json_object_get(status, "observedGeneration")));
            status_times_read(client, item, &times);
            if (state && strcmp(state, "FAILED") == 0)
                (*failed)++;
            printf(STATUS_ROW, cluster, object, state && *state ? state : "PENDING", generation,
                   times.not_before, times.not_after, times.renewal, times.roots, times.rotation,
                   error && *error ? error : "-");
        }
    }
    json_decref(list);
    mc_kube_client_free(client);
    return rc;
}

int mc_cmd_status(int argc, char **argv)
{
    static const char cmd[] = "status";
    const char *ns = MC_CLI_OPS_NAMESPACE;
    mc_cli_mgmt_flags flags = MC_CLI_MGMT_FLAGS_DEFAULT;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", status_options, NULL)) != -1) {
        switch (opt) {
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, &flags))
                return MC_EXIT_USAGE;
            break;
        case OPT_NAMESPACE: ns = optarg; break;
        case 'h': fputs(status_help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    mc_err err = {0};
    mc_kube_client *mgmt = NULL;
    json_t *list = NULL;
    int rc = mc_cli_mgmt_client(&flags, &mgmt, &err);
    if (rc == MC_OK)
        rc = mc_kube_list(mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, NULL, &list, &err);
    if (rc) {
        mc_kube_client_free(mgmt);
        return mc_cli_fail(cmd, &err);
    }
    int unreachable = 0, failed = 0;
    printf(STATUS_ROW, "CLUSTER", "NAMESPACE/NAME", "STATE", "GEN/OBS", "NOT-BEFORE", "NOT-AFTER",
           "RENEWAL", "ROOTS", "ROTATION", "ERROR");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *name = mc_cli_registration_name(item);
        if (!name)
            continue;
        mc_err cluster_err = {0};
        if (status_cluster(mgmt, ns, name, &failed, &cluster_err)) {
            unreachable = 1;
            char unreachable_msg[sizeof(cluster_err.msg) + 16];
            snprintf(unreachable_msg, sizeof(unreachable_msg), "unreachable: %s", cluster_err.msg);
            printf(STATUS_ROW, name, "-", "-", "-", "-", "-", "-", "-", "-", unreachable_msg);
        }
    }
    fflush(stdout);
    json_decref(list);
    mc_kube_client_free(mgmt);
    return unreachable || failed ? MC_EXIT_FAIL : MC_EXIT_OK;
}
