/* cmd_csr.c - `meshcert csr create`: what an agent does in its cluster, by
 * hand: a new private key that stays here, and a CSR to send to the issuer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "util/file.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert csr create --org ORG --host HOST... --out-key FILE --out-csr FILE [options]\n"
    "\n"
    "Generates a private key and a PKCS#10 CSR for an intermediate CA. Each --host\n"
    "becomes a subjectAltName: an IP address, a URI (anything with a scheme, e.g.\n"
    "spiffe://cluster.local/ns/istio-system/sa/citadel) or a DNS name. Missing\n"
    "directories of --out-key (mode 0700) and --out-csr (0755) are created.\n"
    "\n"
    "Options:\n"
    "  --host HOST        a subjectAltName; repeat for several              [required]\n"
    "  --org ORG          subject O= (Istio meshes use \"Istio\"); an intermediate CA\n"
    "                     needs a non-empty subject (RFC 5280 4.1.2.6)      [required]\n"
    "  --key-type TYPE    rsa4096, rsa3072, rsa2048, ec-p256, ec-p384       [rsa4096]\n"
    "  --key-format FMT   pkcs8 or traditional (PKCS#1 / SEC1)              [pkcs8]\n"
    "  --out-key FILE     where to write the private key (mode 0600)        [required]\n"
    "  --out-csr FILE     where to write the CSR (PEM)                      [required]\n"
    "  --force            replace an existing --out-key file\n"
    "  -h, --help         show this help\n";

enum { OPT_HOST = 256, OPT_ORG, OPT_KEY_TYPE, OPT_KEY_FORMAT, OPT_OUT_KEY, OPT_OUT_CSR, OPT_FORCE };

static const struct option options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"org", required_argument, NULL, OPT_ORG},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"key-format", required_argument, NULL, OPT_KEY_FORMAT},
    {"out-key", required_argument, NULL, OPT_OUT_KEY},
    {"out-csr", required_argument, NULL, OPT_OUT_CSR},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct csr_args {
    mc_cli_list hosts;
    const char *org;
    mc_key_type key_type;
    mc_key_pem_format key_format;
    const char *out_key;
    const char *out_csr;
    int force;
} csr_args;

/* Creates the missing directories of path's directory with mode, as sign
 * creates its --out-dir. */
static int make_parent(const char *path, mode_t mode, mc_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return MC_OK;
    char *dir = mc_strndup(path, (size_t)(slash - path));
    if (!dir)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = mc_file_mkdir_p(dir, mode, err);
    free(dir);
    return rc;
}

static int create(const csr_args *args, mc_err *err)
{
    mc_pki_key *key = NULL;
    mc_pki_csr *csr = NULL;
    char *key_pem = NULL, *csr_pem = NULL;
    size_t key_len = 0, csr_len = 0;
    int rc = make_parent(args->out_key, 0700, err);
    if (rc == MC_OK)
        rc = make_parent(args->out_csr, 0755, err);
    if (rc == MC_OK)
        rc = mc_pki_key_generate(args->key_type, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_create(key, args->org, args->hosts.items, args->hosts.count, &csr, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, args->key_format, &key_pem, &key_len, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_to_pem(csr, &csr_pem, &csr_len, err);
    if (rc == MC_OK) {
        mc_file_entry files[] = {
            {args->out_key, key_pem, key_len, 0600},
            {args->out_csr, csr_pem, csr_len, 0644},
        };
        rc = mc_file_write_all(NULL, files, 2, err);
    }
    mc_secure_free_str(key_pem);
    free(csr_pem);
    mc_pki_csr_free(csr);
    mc_pki_key_free(key);
    return rc;
}

static int parse(int argc, char **argv, csr_args *args, const char *cmd)
{
    mc_err err = {0};
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            if (mc_cli_add_host(&args->hosts, optarg, &err))
                return mc_cli_usage_error(cmd, "--host: %s", err.msg);
            break;
        case OPT_ORG: args->org = optarg; break;
        case OPT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &args->key_type, &err))
                return mc_cli_usage_error(cmd, "--key-type: %s", err.msg);
            break;
        case OPT_KEY_FORMAT:
            if (mc_cli_parse_key_format(optarg, &args->key_format))
                return mc_cli_usage_error(
                    cmd, "--key-format: expected pkcs8 or traditional, got \"%s\"", optarg);
            break;
        case OPT_OUT_KEY: args->out_key = optarg; break;
        case OPT_OUT_CSR: args->out_csr = optarg; break;
        case OPT_FORCE: args->force = 1; break;
        case 'h': fputs(help, stdout); return -1;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (args->hosts.count == 0)
        return mc_cli_usage_error(cmd, "at least one --host is required");
    /* The CSR is for a CA, and a CA's subject may not be empty (RFC 5280
     * 4.1.2.6); O= is the only subject attribute the issuer lets it ask for. */
    if (!args->org[0])
        return mc_cli_usage_error(cmd, "--org is required (a non-empty O=: an intermediate CA "
                                       "may not have an empty subject, RFC 5280 4.1.2.6)");
    if (!args->out_key || !args->out_csr)
        return mc_cli_usage_error(cmd, "--out-key and --out-csr are required");
    if (strcmp(args->out_key, args->out_csr) == 0)
        return mc_cli_usage_error(cmd, "--out-key and --out-csr must be different files");
    return MC_EXIT_OK;
}

int mc_cmd_csr(int argc, char **argv)
{
    static const char cmd[] = "csr create";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return MC_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return mc_cli_usage_error("csr", "expected a subcommand: create");
    csr_args args = {{NULL, 0}, "", MC_KEY_RSA4096, MC_KEY_PEM_PKCS8, NULL, NULL, 0};
    int rc = parse(argc - 1, argv + 1, &args, cmd);
    if (rc) {
        mc_cli_list_free(&args.hosts);
        return rc < 0 ? MC_EXIT_OK : rc;
    }
    mc_err err = {0};
    struct stat st;
    if (!args.force && stat(args.out_key, &st) == 0) {
        mc_err_set(&err, MC_EINVAL,
                   "%s already exists; refusing to replace a private key without --force",
                   args.out_key);
        rc = mc_cli_fail(cmd, &err);
    } else if (create(&args, &err)) {
        rc = mc_cli_fail(cmd, &err);
    } else {
        printf("wrote %s (%s private key, mode 0600) and %s\n", args.out_key,
               mc_pki_key_type_name(args.key_type), args.out_csr);
    }
    mc_cli_list_free(&args.hosts);
    return rc;
}
