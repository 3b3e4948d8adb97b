/* cmd_verify.c - `meshcert verify --root R --dir D`: checks a plug-in CA
 * directory (Istio or TLS layout) the way istiod will use it, and prints what
 * it found. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "pki/bundle.h"
#include "util/file.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert verify --root FILE --dir DIR\n"
    "\n"
    "Checks the plug-in CA files in DIR against the trusted root in FILE and prints\n"
    "what it found (subjects, SANs, validity). DIR holds either Istio's layout\n"
    "(ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) or the kubernetes.io/tls\n"
    "layout (tls.crt, tls.key, ca.crt). Checks: ca-cert is a CA and valid now;\n"
    "cert-chain starts with ca-cert; ca-cert chains to the trusted root through\n"
    "cert-chain; root-cert contains the trusted root; ca-key matches ca-cert.\n"
    "Exit code 0 when every check passes, 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  --root FILE        the trusted root certificate(s), PEM              [required]\n"
    "  --dir DIR          the plug-in CA directory                          [required]\n"
    "  -h, --help         show this help\n";

enum { OPT_ROOT = 256, OPT_DIR };

static const struct option options[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"dir", required_argument, NULL, OPT_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Reads DIR/name into *out; a missing optional file leaves *out NULL. */
static int read_member(const char *dir, const char *name, int required, size_t max, char **out,
                       mc_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len = 0;
    int rc = mc_file_read(path, max, out, &len, err);
    if (rc == MC_ENOTFOUND && !required) {
        *out = NULL;
        return MC_OK;
    }
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
    int rc = read_member(dir, istio ? "ca-cert.pem" : "tls.crt", 1, MC_PKI_PEM_MAX,
                         &bundle->ca_cert, err);
    if (rc == MC_OK)
        rc = read_member(dir, istio ? "root-cert.pem" : "ca.crt", 1, MC_PKI_PEM_MAX,
                         &bundle->root_cert, err);
    if (rc == MC_OK && istio)
        rc = read_member(dir, "cert-chain.pem", 1, 2 * MC_PKI_PEM_MAX, &bundle->cert_chain, err);
    if (rc == MC_OK)
        rc = read_member(dir, istio ? "ca-key.pem" : "tls.key", 0, MC_PKI_KEY_PEM_MAX,
                         &bundle->ca_key, err);
    return rc;
}

int mc_cmd_verify(int argc, char **argv)
{
    static const char cmd[] = "verify";
    const char *root_path = NULL, *dir = NULL;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_ROOT: root_path = optarg; break;
        case OPT_DIR: dir = optarg; break;
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
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
