/* cmd_sign.c - `meshcert sign`: offline issuance. What the issuer does for a
 * CertificateRequest, done by hand: check the CSR, sign it with the root, and
 * write the Istio plug-in CA files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/registration.h"
#include "cli/cli.h"
#include "pki/bundle.h"
#include "pki/issue.h"
#include "pki/verify.h"
#include "util/duration.h"
#include "util/file.h"
#include "util/str.h"

static const char help[] =
    "Usage: meshcert sign --ca DIR --csr FILE --host HOST... --out-dir OUT [options]\n"
    "\n"
    "Signs an intermediate CA certificate for the CSR's public key with the root in\n"
    "DIR (root-cert.pem, and root-key.pem or key.pem, or the key --root-key names:\n"
    "a file, or a pkcs11: URI for a key in an HSM) and writes Istio's plug-in CA\n"
    "files to OUT: ca-cert.pem, cert-chain.pem (ca-cert then root), root-cert.pem,\n"
    "and ca-key.pem when --key gives the CSR's private key (with --format tls:\n"
    "tls.crt, ca.crt and tls.key).\n"
    "\n"
    "The certificate's subjectAltNames are the --host values and its O= is --org;\n"
    "a CSR that asks for anything else (another O=, an extra name) is refused. A CA\n"
    "is never issued with an empty subject (RFC 5280 4.1.2.6): without --org, the\n"
    "CSR must ask for an O=.\n"
    "The validity ends at the root's notAfter at the latest; notBefore is 5 minutes\n"
    "in the past to tolerate clock skew.\n"
    "\n"
    "Options:\n"
    "  --ca DIR           root CA directory                                 [required]\n"
    "  --csr FILE         the PKCS#10 CSR (PEM or DER)                      [required]\n"
    "  --host HOST        a subjectAltName; repeat for several              [required]\n"
    "  --org ORG          subject O=; required when the CSR has no O=   [the CSR's O=]\n"
    "  --ttl DURATION     validity, e.g. 365d, 8760h, 1y                    [365d]\n"
    "  --path-len N       pathLenConstraint; -1 for none                    [0]\n"
    "  --key FILE         the CSR's private key, copied to ca-key.pem (tls.key)\n"
    "  --format FMT       istio (ca-cert.pem, ...) or tls (tls.crt, ...)   [istio]\n"
    "  --out-dir OUT      output directory (created if missing, mode 0755)  [required]\n"
    "  --permit-trust-domain TD  name constraints: the intermediate may sign\n"
    "                     spiffe://TD/... URIs (repeatable)\n"
    "  --permit-dns-suffix S     name constraints: ... and DNS names S, *.S (repeatable);\n"
    "                     with either flag, the critical nameConstraints permit only\n"
    "                     these (a kind with none permits nothing) and no IP address\n"
    "  --no-uri-constraints      with --permit-dns-suffix and no --permit-trust-domain:\n"
    "                     constrain DNS names and IPs only, leaving URIs (SPIFFE IDs)\n"
    "                     unconstrained, for verifiers that refuse any chain with a URI\n"
    "                     constraint (pyca/cryptography, docs/pki.md); the intermediate\n"
    "                     can then sign any SPIFFE ID\n"
    "  --root-key FILE|URI  the root's private key instead of DIR's: a PEM file (e.g.\n"
    "                     mounted from a secret store), or an RFC 7512 URI\n"
    "                     pkcs11:token=LABEL;object=LABEL whose token signs\n" MC_CLI_PKCS11_HELP
    "  -h, --help         show this help\n";

enum {
    OPT_CA = 256,
    OPT_CSR,
    OPT_HOST,
    OPT_ORG,
    OPT_TTL,
    OPT_PATH_LEN,
    OPT_KEY,
    OPT_FORMAT,
    OPT_OUT_DIR,
    OPT_PERMIT_TRUST_DOMAIN,
    OPT_PERMIT_DNS_SUFFIX,
    OPT_NO_URI_CONSTRAINTS,
    OPT_ROOT_KEY,
    OPT_PKCS11_MODULE,
    OPT_PIN_FILE,
    OPT_PIN_ENV
};

static const struct option options[] = {
    {"ca", required_argument, NULL, OPT_CA},
    {"csr", required_argument, NULL, OPT_CSR},
    {"host", required_argument, NULL, OPT_HOST},
    {"org", required_argument, NULL, OPT_ORG},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"path-len", required_argument, NULL, OPT_PATH_LEN},
    {"key", required_argument, NULL, OPT_KEY},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"out-dir", required_argument, NULL, OPT_OUT_DIR},
    {"permit-trust-domain", required_argument, NULL, OPT_PERMIT_TRUST_DOMAIN},
    {"permit-dns-suffix", required_argument, NULL, OPT_PERMIT_DNS_SUFFIX},
    {"no-uri-constraints", no_argument, NULL, OPT_NO_URI_CONSTRAINTS},
    {"root-key", required_argument, NULL, OPT_ROOT_KEY},
    {"pkcs11-module", required_argument, NULL, OPT_PKCS11_MODULE},
    {"pin-file", required_argument, NULL, OPT_PIN_FILE},
    {"pin-env", required_argument, NULL, OPT_PIN_ENV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct sign_args {
    const char *ca_dir;
    const char *csr_path;
    mc_cli_list hosts;
    const char *org; /* NULL: take the CSR's */
    int64_t ttl;
    int path_len;
    const char *key_path;
    mc_bundle_format format;
    const char *out_dir;
    mc_cli_list permit_trust_domains; /* name constraints, when either list is set */
    mc_cli_list permit_dns_suffixes;
    int no_uri_constraints;        /* --no-uri-constraints */
    mc_pki_pkcs11_config root_key; /* .uri: --root-key, a file or a pkcs11: URI */
} sign_args;

/* Everything sign loads, released together. */
typedef struct sign_inputs {
    char *root_pem, *csr_data, *key_pem;
    size_t root_len, csr_len, key_len;
    mc_pki_cert *root;
    mc_pki_signer *signer;
    mc_pki_csr *csr;
    mc_pki_key *key;       /* parsed --key, to check it matches the CSR */
    mc_pki_pkcs11 *pkcs11; /* the token holding the root key (--root-key pkcs11:) */
} sign_inputs;

static void inputs_free(sign_inputs *in)
{
    mc_pki_signer_free(in->signer);
    mc_pki_pkcs11_free(in->pkcs11);
    mc_pki_csr_free(in->csr);
    mc_pki_key_free(in->key);
    mc_pki_cert_free(in->root);
    free(in->root_pem);
    free(in->csr_data);
    mc_secure_free_str(in->key_pem);
}

/* The root key's file when --root-key names none: DIR/root-key.pem, else
 * DIR/key.pem (the name Istio and Service Mesh Hub use). */
static int find_root_key(const char *dir, char *path, size_t size, mc_err *err)
{
    snprintf(path, size, "%s/root-key.pem", dir);
    if (access(path, F_OK) == 0)
        return MC_OK;
    snprintf(path, size, "%s/key.pem", dir);
    if (access(path, F_OK) == 0)
        return MC_OK;
    return mc_err_set(err, MC_ENOTFOUND, "%s: neither root-key.pem nor key.pem exists", dir);
}

/* Reads DIR/root-cert.pem and the root key (a file or a token). */
static int load_root(const sign_args *args, sign_inputs *in, mc_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/root-cert.pem", args->ca_dir);
    int rc = mc_file_read(path, MC_PKI_PEM_MAX, &in->root_pem, &in->root_len, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_from_pem(in->root_pem, in->root_len, path, &in->root, err);
    if (rc)
        return rc;
    mc_pki_pkcs11_config key = args->root_key;
    char key_path[4096];
    if (!key.uri) {
        if ((rc = find_root_key(args->ca_dir, key_path, sizeof(key_path), err)) != MC_OK)
            return rc;
        key.uri = key_path;
    }
    rc = mc_cli_root_signer_open(in->root, &key, &in->pkcs11, &in->signer, err);
    if (rc == MC_OK && (rc = mc_pki_cert_check_validity(in->root, 0, err)))
        mc_err_prefix(err, "%s", path);
    return rc;
}

static int load_csr(const sign_args *args, sign_inputs *in, mc_err *err)
{
    int rc = mc_file_read(args->csr_path, MC_PKI_CSR_MAX, &in->csr_data, &in->csr_len, err);
    if (rc == MC_ELIMIT)
        rc = mc_err_set(err, MC_ELIMIT, "%s: CSR exceeds the %d-byte limit", args->csr_path,
                        MC_PKI_CSR_MAX);
    if (rc == MC_OK)
        rc = mc_pki_csr_parse(in->csr_data, in->csr_len, args->csr_path, &in->csr, err);
    if (rc == MC_OK && args->key_path) {
        rc = mc_file_read(args->key_path, MC_PKI_KEY_PEM_MAX, &in->key_pem, &in->key_len, err);
        if (rc == MC_OK)
            rc = mc_pki_key_from_pem(in->key_pem, in->key_len, args->key_path, &in->key, err);
        if (rc == MC_OK && (rc = mc_pki_csr_matches_key(in->csr, in->key, err)))
            mc_err_prefix(err, "%s", args->key_path);
    }
    return rc;
}

/* Without --key, a private key already in OUT from an earlier run would end up
 * next to a certificate for another key: refuse unless it is the CSR's key. */
static int check_stale_key(const sign_args *args, const sign_inputs *in, mc_err *err)
{
    if (args->key_path)
        return MC_OK;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", args->out_dir,
             args->format == MC_BUNDLE_TLS ? "tls.key" : "ca-key.pem");
    char *pem = NULL;
    size_t len = 0;
    int rc = mc_file_read(path, MC_PKI_KEY_PEM_MAX, &pem, &len, err);
    if (rc == MC_ENOTFOUND)
        return MC_OK;
    mc_pki_key *key = NULL;
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem(pem, len, path, &key, err);
    if (rc == MC_OK && mc_pki_csr_matches_key(in->csr, key, NULL) != MC_OK)
        rc = mc_err_set(err, MC_EINVAL,
                        "%s holds a private key that does not match %s; pass the CSR's key "
                        "with --key, or remove the file",
                        path, args->csr_path);
    mc_pki_key_free(key);
    mc_secure_free_str(pem);
    return rc;
}

static int sign_and_write(const sign_args *args, sign_inputs *in, mc_err *err)
{
    char csr_org[256];
    const char *org = args->org;
    if (!org) {
        int rc = mc_pki_csr_org(in->csr, csr_org, sizeof(csr_org), err);
        if (rc)
            return mc_err_prefix(err, "%s", args->csr_path);
        org = csr_org;
    }
    if (!org[0])
        return mc_err_set(err, MC_EINVAL,
                          "%s: the CSR asks for no O= and --org is not given: refusing to issue "
                          "a CA certificate with an empty subject (RFC 5280 4.1.2.6); pass --org",
                          args->csr_path);
    int rc = mc_pki_csr_check_request(in->csr, org, args->hosts.items, args->hosts.count, err);
    if (rc)
        return mc_err_prefix(err, "%s: refused (allowed: the --host values and --org)",
                             args->csr_path);
    if ((rc = check_stale_key(args, in, err)))
        return rc;
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = org;
    params.hosts = args->hosts.items;
    params.host_count = args->hosts.count;
    params.ttl_seconds = args->ttl;
    params.path_len = args->path_len;
    params.name_constraints = args->permit_trust_domains.count || args->permit_dns_suffixes.count;
    params.permitted_uri_hosts = (const char *const *)args->permit_trust_domains.items;
    params.permitted_uri_host_count = args->permit_trust_domains.count;
    params.permitted_dns = (const char *const *)args->permit_dns_suffixes.items;
    params.permitted_dns_count = args->permit_dns_suffixes.count;
    params.uri_unconstrained = args->no_uri_constraints;
    mc_pki_cert *issued = NULL;
    mc_pki_bundle bundle = {0};
    rc = mc_pki_signer_issue(in->signer, in->csr, &params, &issued, err);
    if (rc == MC_OK)
        rc = mc_pki_bundle_build(issued, in->key_pem, in->root, &bundle, err);
    if (rc == MC_OK) {
        mc_pki_bundle_entry entries[4];
        mc_file_entry files[4];
        size_t n = mc_pki_bundle_entries(&bundle, args->format, entries);
        for (size_t i = 0; i < n; i++)
            files[i] = (mc_file_entry){entries[i].name, entries[i].data, entries[i].len,
                                       entries[i].secret ? 0600 : 0644};
        rc = mc_file_write_all(args->out_dir, files, n, err);
        for (size_t i = 0; rc == MC_OK && i < n; i++)
            printf("wrote %s/%s\n", args->out_dir, entries[i].name);
    }
    mc_pki_bundle_clear(&bundle);
    mc_pki_cert_free(issued);
    return rc;
}

static int parse(int argc, char **argv, sign_args *args, const char *cmd)
{
    mc_err err = {0};
    optind = 1;
    opterr = 0;
    int opt;
    char *end = NULL;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_CA: args->ca_dir = optarg; break;
        case OPT_CSR: args->csr_path = optarg; break;
        case OPT_HOST:
            if (mc_cli_add_host(&args->hosts, optarg, &err))
                return mc_cli_usage_error(cmd, "--host: %s", err.msg);
            break;
        case OPT_ORG:
            if (!*optarg)
                return mc_cli_usage_error(cmd, "--org must not be empty (a CA's subject may not "
                                               "be empty, RFC 5280 4.1.2.6)");
            args->org = optarg;
            break;
        case OPT_TTL:
            if (mc_duration_parse(optarg, &args->ttl, &err))
                return mc_cli_usage_error(cmd, "--ttl: %s", err.msg);
            break;
        case OPT_PATH_LEN:
            args->path_len = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || args->path_len < -1 || args->path_len > 16)
                return mc_cli_usage_error(cmd, "--path-len: expected -1 to 16, got \"%s\"", optarg);
            break;
        case OPT_KEY: args->key_path = optarg; break;
        case OPT_FORMAT:
            if (mc_pki_bundle_format_parse(optarg, &args->format, &err))
                return mc_cli_usage_error(cmd, "--format: %s", err.msg);
            break;
        case OPT_OUT_DIR: args->out_dir = optarg; break;
        case OPT_PERMIT_TRUST_DOMAIN:
        case OPT_PERMIT_DNS_SUFFIX: {
            int td = opt == OPT_PERMIT_TRUST_DOMAIN;
            /* the values registration policies accept (api/registration.h) */
            if (mc_api_registration_policy_check(td ? MC_POLICY_TRUST_DOMAIN : MC_POLICY_DNS_SUFFIX,
                                                 optarg, &err))
                return mc_cli_usage_error(cmd, "--permit-%s: %s",
                                          td ? "trust-domain" : "dns-suffix", err.msg);
            if (mc_cli_list_add(td ? &args->permit_trust_domains : &args->permit_dns_suffixes,
                                optarg))
                return mc_cli_usage_error(cmd, "out of memory");
            break;
        }
        case OPT_NO_URI_CONSTRAINTS: args->no_uri_constraints = 1; break;
        case OPT_ROOT_KEY: args->root_key.uri = optarg; break;
        case OPT_PKCS11_MODULE: args->root_key.module_path = optarg; break;
        case OPT_PIN_FILE: args->root_key.pin_file = optarg; break;
        case OPT_PIN_ENV: args->root_key.pin_env = optarg; break;
        case 'h': fputs(help, stdout); return -1;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (args->no_uri_constraints &&
        (args->permit_trust_domains.count || !args->permit_dns_suffixes.count))
        return mc_cli_usage_error(cmd, "--no-uri-constraints goes with --permit-dns-suffix and "
                                       "without --permit-trust-domain");
    if (!args->ca_dir || !args->csr_path || !args->out_dir)
        return mc_cli_usage_error(cmd, "--ca, --csr and --out-dir are required");
    if (args->hosts.count == 0)
        return mc_cli_usage_error(cmd, "at least one --host is required");
    return mc_cli_pkcs11_check(cmd, &args->root_key);
}

static void args_free(sign_args *args)
{
    mc_cli_list_free(&args->hosts);
    mc_cli_list_free(&args->permit_trust_domains);
    mc_cli_list_free(&args->permit_dns_suffixes);
}

int mc_cmd_sign(int argc, char **argv)
{
    static const char cmd[] = "sign";
    sign_args args = {.ttl = MC_PKI_DEFAULT_TTL, .format = MC_BUNDLE_ISTIO};
    int rc = parse(argc, argv, &args, cmd);
    if (rc) {
        args_free(&args);
        return rc < 0 ? MC_EXIT_OK : rc;
    }
    mc_err err = {0};
    sign_inputs in;
    memset(&in, 0, sizeof(in));
    if (load_root(&args, &in, &err) || load_csr(&args, &in, &err) ||
        sign_and_write(&args, &in, &err))
        rc = mc_cli_fail(cmd, &err);
    inputs_free(&in);
    args_free(&args);
    return rc;
}
