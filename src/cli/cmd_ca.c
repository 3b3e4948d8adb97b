/* cmd_ca.c - `meshcert ca create`: a self-signed root CA on disk, the way
 * Istio's tools/certs Makefiles make one, with meshcert's safer defaults. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "pki/root.h"
#include "util/duration.h"
#include "util/file.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert ca create --dir DIR [options]\n"
    "       meshcert ca create --dir DIR --pkcs11 URI --pkcs11-module PATH --pin-file FILE\n"
    "\n"
    "Creates a self-signed root CA: DIR/root-cert.pem and DIR/root-key.pem (mode 0600).\n"
    "With --pkcs11 the key is generated inside a PKCS#11 token (an HSM) as a\n"
    "sensitive, non-extractable token object, and only DIR/root-cert.pem is written;\n"
    "sign with it through `meshcert sign --root-key URI`.\n"
    "The root has basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign (both\n"
    "critical), a subject key identifier and a 128-bit random serial number.\n"
    "\n"
    "Options:\n"
    "  --dir DIR          output directory (created if missing)          [required]\n"
    "  --key-type TYPE    rsa4096, rsa3072, rsa2048, ec-p256, ec-p384    [rsa4096]\n"
    "  --org ORG          subject O=                                     [meshcert]\n"
    "  --name NAME        subject CN=                                    [meshcert root CA]\n"
    "  --ttl DURATION     validity, e.g. 10y, 3650d, 87600h              [10y]\n"
    "  --key-format FMT   pkcs8 or traditional (PKCS#1 / SEC1)           [pkcs8]\n"
    "  --force            replace an existing root in DIR\n"
    "  --pkcs11 URI       generate the key in a token: an RFC 7512 URI naming the\n"
    "                     token and the new key, "
    "pkcs11:token=LABEL;object=LABEL\n" MC_CLI_PKCS11_HELP "  -h, --help         show this help\n";

enum {
    OPT_DIR = 256,
    OPT_KEY_TYPE,
    OPT_ORG,
    OPT_NAME,
    OPT_TTL,
    OPT_KEY_FORMAT,
    OPT_FORCE,
    OPT_PKCS11,
    OPT_PKCS11_MODULE,
    OPT_PIN_FILE,
    OPT_PIN_ENV
};

static const struct option options[] = {
    {"dir", required_argument, NULL, OPT_DIR},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"org", required_argument, NULL, OPT_ORG},
    {"name", required_argument, NULL, OPT_NAME},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"key-format", required_argument, NULL, OPT_KEY_FORMAT},
    {"force", no_argument, NULL, OPT_FORCE},
    {"pkcs11", required_argument, NULL, OPT_PKCS11},
    {"pkcs11-module", required_argument, NULL, OPT_PKCS11_MODULE},
    {"pin-file", required_argument, NULL, OPT_PIN_FILE},
    {"pin-env", required_argument, NULL, OPT_PIN_ENV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int mc_cli_parse_key_format(const char *text, mc_key_pem_format *out)
{
    if (strcmp(text, "pkcs8") == 0)
        *out = MC_KEY_PEM_PKCS8;
    else if (strcmp(text, "traditional") == 0 || strcmp(text, "pkcs1") == 0 ||
             strcmp(text, "sec1") == 0)
        *out = MC_KEY_PEM_TRADITIONAL;
    else
        return -1;
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int create_root(const char *dir, mc_key_type key_type, mc_key_pem_format key_format,
                       const mc_pki_root_params *params, mc_err *err)
{
    mc_pki_key *key = NULL;
    mc_pki_cert *cert = NULL;
    char *key_pem = NULL, *cert_pem = NULL;
    size_t key_len = 0, cert_len = 0;
    int rc = mc_pki_key_generate(key_type, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_root_create(key, params, &cert, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, key_format, &key_pem, &key_len, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(cert, &cert_pem, &cert_len, err);
    if (rc == MC_OK) {
        mc_file_entry files[] = {
            {"root-key.pem", key_pem, key_len, 0600},
            {"root-cert.pem", cert_pem, cert_len, 0644},
        };
        rc = mc_file_write_all(dir, files, 2, err);
    }
    mc_secure_free_str(key_pem);
    free(cert_pem);
    mc_pki_cert_free(cert);
    mc_pki_key_free(key);
    return rc;
}

/* The root key is made inside the token; only the certificate is written. */
static int create_root_pkcs11(const char *dir, mc_key_type key_type,
                              const mc_pki_pkcs11_config *config, const mc_pki_root_params *params,
                              mc_err *err)
{
    mc_pki_pkcs11 *p11 = NULL;
    mc_pki_key *public_key = NULL;
    mc_pki_key_backend backend;
    mc_pki_cert *cert = NULL;
    char *cert_pem = NULL;
    size_t cert_len = 0;
    int rc = mc_pki_pkcs11_open(config, &p11, err);
    if (rc == MC_OK)
        rc = mc_pki_pkcs11_generate(p11, key_type, &public_key, err);
    int generated = rc == MC_OK;
    if (rc == MC_OK)
        rc = mc_pki_pkcs11_backend(p11, &backend, err);
    if (rc == MC_OK)
        rc = mc_pki_root_create_backend(public_key, &backend, params, &cert, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(cert, &cert_pem, &cert_len, err);
    if (rc == MC_OK) {
        mc_file_entry files[] = {{"root-cert.pem", cert_pem, cert_len, 0644}};
        rc = mc_file_write_all(dir, files, 1, err);
    }
    /* No certificate, no key: a key left behind would block the next try. */
    if (rc && generated && mc_pki_pkcs11_delete_key(p11, NULL) != MC_OK)
        mc_err_prefix(err, "%s was left in the token", config->uri);
    free(cert_pem);
    mc_pki_cert_free(cert);
    mc_pki_key_free(public_key);
    mc_pki_pkcs11_free(p11);
    return rc;
}

int mc_cmd_ca(int argc, char **argv)
{
    static const char cmd[] = "ca create";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return MC_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return mc_cli_usage_error("ca", "expected a subcommand: create");
    argc--;
    argv++;
    const char *dir = NULL;
    mc_key_type key_type = MC_KEY_RSA4096;
    mc_key_pem_format key_format = MC_KEY_PEM_PKCS8;
    mc_pki_root_params params = {"meshcert", "meshcert root CA", (int64_t)10 * 365 * 86400, 0};
    int force = 0;
    mc_pki_pkcs11_config pkcs11 = {0};
    mc_err err = {0};
    optind = 1;
    opterr = 0;
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_DIR: dir = optarg; break;
        case OPT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &key_type, &err))
                return mc_cli_usage_error(cmd, "--key-type: %s", err.msg);
            break;
        case OPT_ORG: params.org = optarg; break;
        case OPT_NAME: params.common_name = optarg; break;
        case OPT_TTL:
            if (mc_duration_parse(optarg, &params.ttl_seconds, &err))
                return mc_cli_usage_error(cmd, "--ttl: %s", err.msg);
            break;
        case OPT_KEY_FORMAT:
            if (mc_cli_parse_key_format(optarg, &key_format))
                return mc_cli_usage_error(
                    cmd, "--key-format: expected pkcs8 or traditional, got \"%s\"", optarg);
            break;
        case OPT_FORCE: force = 1; break;
        case OPT_PKCS11: pkcs11.uri = optarg; break;
        case OPT_PKCS11_MODULE: pkcs11.module_path = optarg; break;
        case OPT_PIN_FILE: pkcs11.pin_file = optarg; break;
        case OPT_PIN_ENV: pkcs11.pin_env = optarg; break;
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (!dir)
        return mc_cli_usage_error(cmd, "--dir is required");
    if (!params.common_name[0])
        return mc_cli_usage_error(cmd, "--name must not be empty");
    if (pkcs11.uri && !mc_pki_pkcs11_is_uri(pkcs11.uri))
        return mc_cli_usage_error(cmd, "--pkcs11: expected a pkcs11: URI, got \"%.64s\"",
                                  pkcs11.uri);
    if ((rc = mc_cli_pkcs11_check(cmd, &pkcs11)))
        return rc;
    if (!force && (exists(dir, "root-key.pem") || exists(dir, "root-cert.pem"))) {
        mc_err_set(&err, MC_EINVAL,
                   "%s already holds a root CA (root-cert.pem or root-key.pem); refusing to "
                   "replace it without --force",
                   dir);
        return mc_cli_fail(cmd, &err);
    }
    if (pkcs11.uri) {
        if (create_root_pkcs11(dir, key_type, &pkcs11, &params, &err))
            return mc_cli_fail(cmd, &err);
        printf("wrote %s/root-cert.pem; the %s key stays in %s\n", dir,
               mc_pki_key_type_name(key_type), pkcs11.uri);
        return MC_EXIT_OK;
    }
    if (create_root(dir, key_type, key_format, &params, &err))
        return mc_cli_fail(cmd, &err);
    printf("wrote %s/root-cert.pem and %s/root-key.pem (%s, mode 0600)\n", dir, dir,
           mc_pki_key_type_name(key_type));
    return MC_EXIT_OK;
}
