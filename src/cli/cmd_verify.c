/* cmd_verify.c - `meshcert verify --root R --dir D`: checks a plug-in CA
 * directory (Istio or TLS layout) the way istiod will use it, and prints what
 * it found. With --cluster, checks the output Secret on a registered cluster
 * instead, against the Secret's own root-cert.pem (ca.crt). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/core.h"
#include "cli/cli.h"
#include "cli/ops.h"
#include "pki/bundle.h"
#include "util/file.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert verify --root FILE --dir DIR\n"
    "       meshcert verify --cluster C [--secret NS/NAME] [--write-dir DIR] [--kubeconfig FILE]\n"
    "\n"
    "Checks the plug-in CA files in DIR against the trusted root in FILE and prints\n"
    "what it found (subjects, SANs, validity). DIR holds either Istio's layout\n"
    "(ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) or the kubernetes.io/tls\n"
    "layout (tls.crt, tls.key, ca.crt). Checks what istiod needs: every file is\n"
    "there (without ca-key.pem istiod falls back to a self-signed root of its own);\n"
    "ca-cert is a CA and valid now; cert-chain starts with ca-cert; ca-cert chains\n"
    "to the trusted root through cert-chain; root-cert contains the trusted root;\n"
    "ca-key matches ca-cert; no certificate below the root is signed with MD5 or\n"
    "SHA-1, and none has an extendedKeyUsage without serverAuth (both of which Go's\n"
    "x509, which istiod verifies with, refuses).\n"
    "With --cluster, the same checks on the output Secret of the registered cluster C\n"
    "(read through the management cluster's registration), trusting the root the Secret\n"
    "itself carries: the chain and the key match are checked, not the trust anchor.\n"
    "With --write-dir, the verified Secret's files are also written into DIR (the key\n"
    "with mode 0600), the way the cluster would mount them.\n"
    "Exit code 0 when every check passes, 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  --root FILE        the trusted root certificate(s), PEM   [required without --cluster]\n"
    "  --dir DIR          the plug-in CA directory               [required without --cluster]\n"
    "  --cluster C        registered cluster holding the output Secret, instead of\n"
    "                     a root file and a directory\n"
    "With --cluster:\n"
    "  --kubeconfig FILE  kubeconfig of the management cluster\n"
    "                     [$KUBECONFIG (a ':' list, merged as kubectl), else ~/.kube/config]\n"
    "  --context NAME     its context                              [current-context]\n"
    "  --request-timeout D  give up on a server that does not answer within D\n"
    "                     (e.g. 500ms, 30s, 1m; 0: never)                   [30s]\n"
    "  --namespace NS     namespace of the registrations                [meshcert]\n"
    "  --secret NS/NAME   the output Secret on C             [istio-system/cacerts]\n"
    "  --write-dir DIR    --cluster: write the verified files into DIR\n"
    "  -h, --help         show this help\n";

enum { OPT_ROOT = 256, OPT_DIR, OPT_NAMESPACE, OPT_CLUSTER, OPT_SECRET, OPT_WRITE_DIR };

static const struct option options[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"dir", required_argument, NULL, OPT_DIR},
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"write-dir", required_argument, NULL, OPT_WRITE_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Why a missing key fails the check: istiod takes the plug-in CA only when
 * its key file is there, and otherwise silently makes a self-signed root of
 * its own, which no other cluster trusts. */
static const char missing_key_reason[] =
    "istiod uses the plug-in CA files only when the CA key is present; without it it "
    "generates a self-signed root of its own, and the mesh shares no trust";

/* Reads DIR/name into *out; every member of a plug-in CA directory is
 * required (istiod reads all of them). */
static int read_member(const char *dir, const char *name, size_t max, char **out, mc_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len = 0;
    int rc = mc_file_read(path, max, out, &len, err);
    if (rc == MC_ENOTFOUND && (strcmp(name, "ca-key.pem") == 0 || strcmp(name, "tls.key") == 0))
        return mc_err_set(err, rc, "%s: missing (%s)", path, missing_key_reason);
    if (rc == MC_ENOTFOUND)
        return mc_err_set(err, rc, "%s: missing", path);
    return rc;
}

static int load_bundle(const char *dir, mc_pki_bundle *bundle, const char **layout, mc_err *err)
{
    struct stat st;
    char probe[4096];
    if (stat(dir, &st) != 0)
        return mc_err_set(err, MC_ENOTFOUND, "%s: does not exist", dir);
    if (!S_ISDIR(st.st_mode))
        return mc_err_set(err, MC_EINVAL, "%s: not a directory", dir);
    snprintf(probe, sizeof(probe), "%s/ca-cert.pem", dir);
    int istio = stat(probe, &st) == 0;
    snprintf(probe, sizeof(probe), "%s/tls.crt", dir);
    if (!istio && stat(probe, &st) != 0)
        return mc_err_set(err, MC_ENOTFOUND, "%s: holds neither ca-cert.pem nor tls.crt", dir);
    *layout = istio ? "istio" : "tls";
    int rc =
        read_member(dir, istio ? "ca-cert.pem" : "tls.crt", MC_PKI_PEM_MAX, &bundle->ca_cert, err);
    if (rc == MC_OK)
        rc = read_member(dir, istio ? "ca-key.pem" : "tls.key", MC_PKI_KEY_PEM_MAX, &bundle->ca_key,
                         err);
    if (rc == MC_OK)
        rc = read_member(dir, istio ? "root-cert.pem" : "ca.crt", MC_PKI_PEM_MAX,
                         &bundle->root_cert, err);
    if (rc == MC_OK && istio)
        rc = read_member(dir, "cert-chain.pem", 2 * MC_PKI_PEM_MAX, &bundle->cert_chain, err);
    return rc;
}

/* Reads the bundle from a Secret's data (Istio keys, else TLS keys). */
static int bundle_from_secret(const json_t *secret, mc_pki_bundle *bundle, const char **layout,
                              mc_err *err)
{
    int istio = json_object_get(json_object_get(secret, "data"), "ca-cert.pem") != NULL;
    *layout = istio ? "istio" : "tls";
    int rc =
        mc_api_secret_value(secret, istio ? "ca-cert.pem" : "tls.crt", &bundle->ca_cert, NULL, err);
    if (rc == MC_OK)
        rc = mc_api_secret_value(secret, istio ? "root-cert.pem" : "ca.crt", &bundle->root_cert,
                                 NULL, err);
    if (rc == MC_OK && istio)
        rc = mc_api_secret_value(secret, "cert-chain.pem", &bundle->cert_chain, NULL, err);
    if (rc == MC_OK) {
        const char *key = istio ? "ca-key.pem" : "tls.key";
        rc = mc_api_secret_value(secret, key, &bundle->ca_key, NULL, err);
        if (rc == MC_ENOTFOUND)
            mc_err_set(err, rc, "%s: missing (%s)", key, missing_key_reason);
    }
    return rc;
}

/* Writes the verified bundle into dir in its layout (the key 0600), all or
 * nothing, and notes each file written in report. */
static int write_bundle(const mc_pki_bundle *bundle, const char *layout, const char *dir,
                        mc_buf *report, mc_err *err)
{
    mc_pki_bundle_entry entries[4];
    mc_file_entry files[4];
    size_t n = mc_pki_bundle_entries(
        bundle, strcmp(layout, "tls") == 0 ? MC_BUNDLE_TLS : MC_BUNDLE_ISTIO, entries);
    for (size_t i = 0; i < n; i++)
        files[i] = (mc_file_entry){entries[i].name, entries[i].data, entries[i].len,
                                   entries[i].secret ? 0600 : 0644};
    int rc = mc_file_write_all(dir, files, n, err);
    for (size_t i = 0; rc == MC_OK && i < n; i++)
        mc_buf_appendf(report, "wrote %s/%s\n", dir, entries[i].name);
    return rc;
}

static int verify_cluster(const mc_cli_mgmt_flags *flags, const char *ns, const char *cluster,
                          const char *secret_ref, const char *write_dir)
{
    static const char cmd[] = "verify";
    char secret_ns[254], secret_name[254], what[600];
    if (mc_cli_parse_ref(secret_ref, "istio-system", secret_ns, secret_name))
        return mc_cli_usage_error(cmd, "--secret: expected NS/NAME, got \"%s\"", secret_ref);
    mc_err err = {0};
    mc_kube_client *mgmt = NULL, *target = NULL;
    json_t *secret = NULL;
    mc_pki_bundle bundle = {0};
    const char *layout = "istio";
    mc_buf report;
    mc_buf_init(&report, 1 << 20);
    snprintf(what, sizeof(what), "secret %s/%s on cluster %s", secret_ns, secret_name, cluster);
    int rc = mc_cli_mgmt_client(flags, &mgmt, &err);
    if (rc == MC_OK)
        rc = mc_cli_cluster_client(mgmt, ns, cluster, &target, NULL, 0, &err);
    if (rc == MC_OK && (rc = mc_kube_get(target, mc_kube_resource_of(MC_API_SECRETS), secret_ns,
                                         secret_name, &secret, &err)) == MC_ENOTFOUND)
        mc_err_set(&err, rc, "%s: not found (not issued yet?)", what);
    if (rc == MC_OK && (rc = bundle_from_secret(secret, &bundle, &layout, &err)))
        mc_err_prefix(&err, "%s", what);
    if (rc == MC_OK &&
        (rc = mc_pki_bundle_verify(&bundle, NULL, "its own root-cert.pem", 0, &report, &err)))
        mc_err_prefix(&err, "%s", what);
    if (rc == MC_OK && write_dir)
        rc = write_bundle(&bundle, layout, write_dir, &report, &err);
    int exit_code = MC_EXIT_OK;
    if (rc)
        exit_code = mc_cli_fail(cmd, &err);
    else
        printf("%s (%s layout), trusted root: the Secret's own\n%sOK\n", what, layout,
               report.data ? report.data : "");
    mc_buf_free(&report);
    mc_pki_bundle_clear(&bundle);
    json_decref(secret);
    mc_kube_client_free(target);
    mc_kube_client_free(mgmt);
    return exit_code;
}

int mc_cmd_verify(int argc, char **argv)
{
    static const char cmd[] = "verify";
    const char *root_path = NULL, *dir = NULL, *ns = MC_CLI_OPS_NAMESPACE, *cluster = NULL,
               *secret_ref = NULL, *write_dir = NULL;
    mc_cli_mgmt_flags flags = MC_CLI_MGMT_FLAGS_DEFAULT;
    int mgmt_flag_given = 0;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_ROOT: root_path = optarg; break;
        case OPT_DIR: dir = optarg; break;
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, &flags))
                return MC_EXIT_USAGE;
            mgmt_flag_given = 1;
            break;
        case OPT_NAMESPACE: ns = optarg; break;
        case OPT_CLUSTER: cluster = optarg; break;
        case OPT_SECRET: secret_ref = optarg; break;
        case OPT_WRITE_DIR: write_dir = optarg; break;
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (cluster || mgmt_flag_given || secret_ref || write_dir) {
        if (root_path || dir)
            return mc_cli_usage_error(cmd, "--cluster and --root/--dir exclude each other");
        if (!cluster)
            return mc_cli_usage_error(cmd, "--kubeconfig, --context, --request-timeout, --secret "
                                           "and --write-dir need --cluster");
        return verify_cluster(&flags, ns, cluster, secret_ref ? secret_ref : "istio-system/cacerts",
                              write_dir);
    }
    if (!root_path || !dir)
        return mc_cli_usage_error(cmd, "--root and --dir are required");

    mc_err err = {0};
    mc_pki_bundle bundle = {0};
    char *root_pem = NULL;
    size_t root_len = 0;
    const char *layout = "istio";
    mc_buf report;
    mc_buf_init(&report, 1 << 20);
    int rc = mc_file_read(root_path, MC_PKI_PEM_MAX, &root_pem, &root_len, &err);
    if (rc == MC_OK)
        rc = load_bundle(dir, &bundle, &layout, &err);
    if (rc == MC_OK && (rc = mc_pki_bundle_verify(&bundle, root_pem, root_path, 0, &report, &err)))
        mc_err_prefix(&err, "%s", dir);
    int exit_code = MC_EXIT_OK;
    if (rc) {
        exit_code = mc_cli_fail(cmd, &err);
    } else {
        printf("%s (%s layout), trusted root %s\n%sOK\n", dir, layout, root_path,
               report.data ? report.data : "");
    }
    mc_buf_free(&report);
    free(root_pem);
    mc_pki_bundle_clear(&bundle);
    return exit_code;
}
