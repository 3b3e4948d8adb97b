/* cmd_issuer.c - `meshcert issuer`: runs the central issuer (issuer/issuer.h)
 * against the management cluster until SIGINT or SIGTERM, then stops every
 * informer, worker and the leader election (releasing the Lease) and exits 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/registration.h"
#include "cli/cli.h"
#include "cli/daemon.h"
#include "issuer/decide.h"
#include "issuer/issuer.h"
#include "pki/verify.h"
#include "util/duration.h"
#include "util/file.h"
#include "util/log.h"

static const char help[] =
    "Usage: meshcert issuer [--kubeconfig FILE | --in-cluster] [options]\n"
    "\n"
    "Runs the central issuer against the management cluster. Registered clusters are\n"
    "Secrets of type solo.io/kubeconfig in NAMESPACE (one data key, named after the\n"
    "cluster, holding its kubeconfig); they are picked up and dropped while running.\n"
    "Every CertificateRequest on a registered cluster is checked against the\n"
    "IssuedCertificate of the same name and against the cluster's issuance policy\n"
    "(set by meshcert cluster register: signing roots, trust domains, DNS suffixes,\n"
    "orgs), then signed with the root in its signingCertificateSecret (root-cert.pem,\n"
    "key.pem), which must be one of the cluster's roots and is read from the\n"
    "management cluster. A root Secret may hold, instead of key.pem, key-ref: the\n"
    "name of a key outside the Kubernetes API (a pkcs11: URI or a mounted file)\n"
    "given with --root-key, which then signs for it; such roots rotate as any other\n"
    "(meshcert root rotate --new-root-key). With --root-cert, the one --root-key\n"
    "signs for --root-secret, whose Secret is then not read (not rotatable). One\n"
    "replica acts at a time (Lease meshcert-issuer in NAMESPACE). Stops on SIGINT\n"
    "or SIGTERM.\n"
    "\n"
    "Options:\n"
    "  --kubeconfig FILE      kubeconfig of the management cluster\n"
    "                         [$KUBECONFIG (a ':' list, merged as kubectl), else\n"
    "                         ~/.kube/config]\n"
    "  --context NAME         context in the kubeconfig                [current-context]\n"
    "  --in-cluster           use the pod's service account instead\n"
    "  --namespace NS         registered clusters, Lease, generated roots\n"
    "                                                            [the context's namespace]\n"
    "  --generate-root        create the root Secret --root-secret when it is missing\n"
    "                         (self-signed, O=meshcert, 365 days, type\n"
    "                         certificates.smh.solo.io/generated_signing_cert); never\n"
    "                         at another name, and not when its namespace already\n"
    "                         holds another root\n"
    "  --root-secret NS/NAME  the root --generate-root may create, or --root-key\n"
    "                         with --root-cert backs               [NAMESPACE/root-ca]\n"
    "  --allow-another-root   --generate-root even when the namespace holds another\n"
    "                         root (a second trust domain)\n"
    "  --root-key-type TYPE   key of generated roots: rsa2048, rsa3072, rsa4096,\n"
    "                         ec-p256, ec-p384                          [rsa4096]\n"
    "  --root-key FILE|URI    a root key outside the Kubernetes API: a PEM file\n"
    "                         mounted into the issuer, or pkcs11:token=LABEL;\n"
    "                         object=LABEL whose token signs. Repeat it (up to 8,\n"
    "                         same or other tokens and modules) for the roots whose\n"
    "                         Secrets hold root-cert.pem and key-ref: that exact\n"
    "                         text. Opened once at start: a wrong or locked PIN, a\n"
    "                         missing module, token, object or file exits 1\n"
    "  --root-cert FILE       with one --root-key: sign for --root-secret with it and\n"
    "                         this certificate (PEM), never reading that Secret; the\n"
    "                         key must be the certificate's. Not with "
    "--generate-root\n" MC_CLI_PKCS11_HELP
    "  --ttl D                lifetime of an intermediate whose IssuedCertificate sets\n"
    "                         no spec.duration (1m to --max-duration)  [8760h]\n"
    "  --max-duration D       the most any intermediate gets: a longer spec.duration\n"
    "                         is lowered to D (at most 87600h)         [17520h]\n"
    "                         (D: 90m, 8760h, 365d; every lifetime also ends at its\n"
    "                         root's notAfter)\n"
    "  --workers N            reconcile threads                         [4]\n"
    "  --leader-elect-lease-duration D  how long a Lease holds without renewal [15s]\n"
    "  --leader-elect-renew-deadline D  the leader gives up when it could not renew\n"
    "                                   within D                      [10s]\n"
    "  --leader-elect-retry-period D    between two tries to acquire or renew [2s]\n"
    "                         (D: 500ms, 15s, 1m; retry < renew deadline < lease)\n"
    "  --metrics-addr HOST:PORT  serve /metrics (Prometheus), /healthz and /readyz\n"
    "                         over plain HTTP (port 0: a free port, logged); /readyz\n"
    "                         is 200 once the management cluster is cached, saying\n"
    "                         leading or standby, 503 before (docs/metrics.md) [off]\n"
    "  --log-level LEVEL      debug, info, warn, error                  [info]\n"
    "  --log-format FMT       text or json                              [text]\n"
    "  -h, --help             show this help\n";

enum {
    OPT_KUBECONFIG = 256,
    OPT_CONTEXT,
    OPT_IN_CLUSTER,
    OPT_NAMESPACE,
    OPT_GENERATE_ROOT,
    OPT_ROOT_SECRET,
    OPT_ALLOW_ANOTHER_ROOT,
    OPT_ROOT_KEY_TYPE,
    OPT_ROOT_KEY,
    OPT_ROOT_CERT,
    OPT_PKCS11_MODULE,
    OPT_PIN_FILE,
    OPT_PIN_ENV,
    OPT_TTL,
    OPT_MAX_DURATION,
    OPT_WORKERS,
    OPT_LEASE,
    OPT_RENEW,
    OPT_RETRY
};

static const struct option options[] = {
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"in-cluster", no_argument, NULL, OPT_IN_CLUSTER},
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"generate-root", no_argument, NULL, OPT_GENERATE_ROOT},
    {"root-secret", required_argument, NULL, OPT_ROOT_SECRET},
    {"allow-another-root", no_argument, NULL, OPT_ALLOW_ANOTHER_ROOT},
    {"root-key-type", required_argument, NULL, OPT_ROOT_KEY_TYPE},
    {"root-key", required_argument, NULL, OPT_ROOT_KEY},
    {"root-cert", required_argument, NULL, OPT_ROOT_CERT},
    {"pkcs11-module", required_argument, NULL, OPT_PKCS11_MODULE},
    {"pin-file", required_argument, NULL, OPT_PIN_FILE},
    {"pin-env", required_argument, NULL, OPT_PIN_ENV},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"max-duration", required_argument, NULL, OPT_MAX_DURATION},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"leader-elect-lease-duration", required_argument, NULL, OPT_LEASE},
    {"leader-elect-renew-deadline", required_argument, NULL, OPT_RENEW},
    {"leader-elect-retry-period", required_argument, NULL, OPT_RETRY},
    {"metrics-addr", required_argument, NULL, MC_CLI_OPT_METRICS_ADDR},
    {"log-level", required_argument, NULL, MC_CLI_OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, MC_CLI_OPT_LOG_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A leader-election timing: "<n>ms" or a duration (util/duration.h), at
 * most one hour. MC_EINVAL otherwise. */
static int parse_timing(const char *text, int64_t *ms, mc_err *err)
{
    int rc = mc_duration_parse_ms(text, ms, err);
    if (rc == MC_OK && *ms > 3600 * 1000)
        return mc_err_set(err, MC_EINVAL, "\"%s\" is over an hour", text);
    return rc;
}

/* --ttl or --max-duration: a duration within spec.duration's bounds
 * (decide.h). MC_EINVAL naming the text otherwise. */
static int parse_lifetime(const char *text, int64_t *seconds, mc_err *err)
{
    int rc = mc_duration_parse(text, seconds, err);
    if (rc == MC_OK && (*seconds < MC_API_IC_DURATION_MIN || *seconds > MC_API_IC_DURATION_MAX))
        return mc_err_set(err, MC_EINVAL, "\"%s\" is outside 1m to 87600h", text);
    return rc;
}

/* The root keys --root-key names, opened once for the whole run: with
 * --root-cert one key signing for --root-secret (signer), otherwise each
 * key for the root Secrets whose key-ref names it (keys). */
typedef struct external_root {
    mc_pki_pkcs11_config key; /* module and PIN flags; .uri: the first --root-key */
    const char *uris[MC_ISSUER_ROOT_KEYS_MAX]; /* every --root-key */
    size_t count;
    const char *cert_path; /* --root-cert */
    mc_pki_cert *cert;
    mc_pki_pkcs11 *pkcs11; /* with --root-cert: the token's handle, or NULL for a file */
    mc_pki_signer *signer;
    mc_cli_root_key opened[MC_ISSUER_ROOT_KEYS_MAX]; /* without --root-cert */
    mc_issuer_root_key keys[MC_ISSUER_ROOT_KEYS_MAX];
} external_root;

/* Usage checks of --root-key and the options that go with it. 0 or 2. */
static int external_root_check(const char *cmd, const external_root *root, int generate_root,
                               int root_secret_given)
{
    if (root->cert_path && generate_root)
        return mc_cli_usage_error(cmd, "--root-cert and --generate-root exclude each other: a "
                                       "root with its own key is never generated");
    if (!root->count && root->cert_path)
        return mc_cli_usage_error(cmd, "--root-cert goes with --root-key");
    if (root->count > 1 && root->cert_path)
        return mc_cli_usage_error(cmd, "--root-cert goes with one --root-key; several keys are "
                                       "named by their root Secrets' key-ref instead");
    if (root_secret_given && !generate_root && !root->cert_path)
        return mc_cli_usage_error(cmd, "--root-secret is for --generate-root or --root-cert");
    /* the PKCS#11 flags go with the pkcs11: keys; file keys ignore them */
    mc_pki_pkcs11_config key = root->key;
    for (size_t i = 0; i < root->count; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(root->uris[i], root->uris[j]) == 0)
                return mc_cli_usage_error(cmd, "--root-key %s given twice", root->uris[i]);
        if (mc_pki_pkcs11_is_uri(root->uris[i]))
            key.uri = root->uris[i];
    }
    return mc_cli_pkcs11_check(cmd, &key);
}

/* Without --root-cert: opens every --root-key (in order; closed in reverse,
 * see pkcs11.h) for the root Secrets whose key-ref names it. */
static int root_keys_open(external_root *root, mc_err *err)
{
    for (size_t i = 0; i < root->count; i++) {
        mc_pki_pkcs11_config key = root->key;
        key.uri = root->uris[i];
        int rc = mc_cli_root_key_open(&key, &root->opened[i], err);
        if (rc != MC_OK)
            return mc_err_prefix(err, "--root-key %s", root->uris[i]);
        root->keys[i].ref = root->uris[i];
        root->keys[i].key = root->opened[i].key;
        root->keys[i].backend = root->opened[i].pkcs11 ? &root->opened[i].backend : NULL;
        mc_log_info("issuer", "root key %s opened (signs for root Secrets whose key-ref names it)",
                    root->uris[i]);
    }
    return MC_OK;
}

/* Reads --root-cert and opens --root-key's signer; errors name the file or
 * the URI, never the key or the PIN. */
static int external_root_open(external_root *root, mc_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = mc_file_read(root->cert_path, MC_PKI_PEM_MAX, &pem, &len, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_from_pem(pem, len, root->cert_path, &root->cert, err);
    free(pem);
    if (rc == MC_OK && (rc = mc_pki_cert_check_validity(root->cert, 0, err)) != MC_OK)
        mc_err_prefix(err, "%s", root->cert_path);
    if (rc == MC_OK && (rc = mc_cli_root_signer_open(root->cert, &root->key, &root->pkcs11,
                                                     &root->signer, err)) == MC_EVERIFY)
        mc_err_prefix(err, "--root-cert %s", root->cert_path);
    return rc;
}

static void external_root_close(external_root *root)
{
    mc_pki_signer_free(root->signer);
    mc_pki_pkcs11_free(root->pkcs11);
    mc_pki_cert_free(root->cert);
    for (size_t i = MC_ISSUER_ROOT_KEYS_MAX; i-- > 0;)
        mc_cli_root_key_close(&root->opened[i]);
}

static int issuer_ready(void *issuer, char *reason, size_t reason_size)
{
    return mc_issuer_ready(issuer, reason, reason_size);
}

int mc_cmd_issuer(int argc, char **argv)
{
    static const char cmd[] = "issuer";
    mc_cli_kube_source source = {0};
    mc_issuer_options issuer_options;
    memset(&issuer_options, 0, sizeof(issuer_options));
    issuer_options.root_key_type = MC_KEY_RSA4096;
    mc_cli_log_options log_options = MC_CLI_LOG_OPTIONS_DEFAULT;
    mc_err err = {0};
    const char *root_secret = NULL;
    external_root root = {0};
    const char *metrics_addr = NULL;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_KUBECONFIG: source.kubeconfig = optarg; break;
        case OPT_CONTEXT: source.context = optarg; break;
        case OPT_IN_CLUSTER: source.in_cluster = 1; break;
        case OPT_NAMESPACE: issuer_options.namespace = optarg; break;
        case OPT_GENERATE_ROOT: issuer_options.generate_root = 1; break;
        case OPT_ROOT_SECRET: root_secret = optarg; break;
        case OPT_ALLOW_ANOTHER_ROOT: issuer_options.allow_another_root = 1; break;
        case OPT_ROOT_KEY:
            if (root.count == MC_ISSUER_ROOT_KEYS_MAX)
                return mc_cli_usage_error(cmd, "at most %d --root-key", MC_ISSUER_ROOT_KEYS_MAX);
            root.uris[root.count++] = optarg;
            root.key.uri = root.uris[0];
            break;
        case OPT_ROOT_CERT: root.cert_path = optarg; break;
        case OPT_PKCS11_MODULE: root.key.module_path = optarg; break;
        case OPT_PIN_FILE: root.key.pin_file = optarg; break;
        case OPT_PIN_ENV: root.key.pin_env = optarg; break;
        case OPT_ROOT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &issuer_options.root_key_type, &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--root-key-type: %s", err.msg);
            break;
        case OPT_TTL:
        case OPT_MAX_DURATION:
            if (parse_lifetime(optarg,
                               opt == OPT_TTL ? &issuer_options.ttl_seconds
                                              : &issuer_options.max_duration_seconds,
                               &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--%s: %s", opt == OPT_TTL ? "ttl" : "max-duration",
                                          err.msg);
            break;
        case OPT_WORKERS:
            if (mc_cli_workers_parse(cmd, optarg, 256, &issuer_options.workers))
                return MC_EXIT_USAGE;
            break;
        case OPT_LEASE:
        case OPT_RENEW:
        case OPT_RETRY: {
            int64_t *slot = opt == OPT_LEASE   ? &issuer_options.lease_ms
                            : opt == OPT_RENEW ? &issuer_options.renew_deadline_ms
                                               : &issuer_options.retry_ms;
            const char *flag = opt == OPT_LEASE   ? "lease-duration"
                               : opt == OPT_RENEW ? "renew-deadline"
                                                  : "retry-period";
            if (parse_timing(optarg, slot, &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--leader-elect-%s: %s", flag, err.msg);
            break;
        }
        case MC_CLI_OPT_METRICS_ADDR:
            if (mc_cli_metrics_addr_check(cmd, optarg))
                return MC_EXIT_USAGE;
            metrics_addr = optarg;
            break;
        case MC_CLI_OPT_LOG_LEVEL:
        case MC_CLI_OPT_LOG_FORMAT:
            if (mc_cli_log_option_parse(cmd, opt, optarg, &log_options))
                return MC_EXIT_USAGE;
            break;
        case 'h': fputs(help, stdout); return MC_EXIT_OK;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (mc_cli_kube_source_check(cmd, &source))
        return MC_EXIT_USAGE;
    /* NS/NAME spelled out: which root is made is the operator's choice alone */
    if (root_secret && (!strchr(root_secret, '/') ||
                        mc_api_registration_policy_check(MC_POLICY_ROOT, root_secret, &err)))
        return mc_cli_usage_error(cmd, "--root-secret: expected NS/NAME, got \"%s\"", root_secret);
    if (issuer_options.allow_another_root && !issuer_options.generate_root)
        return mc_cli_usage_error(cmd, "--allow-another-root is for --generate-root");
    int rc = external_root_check(cmd, &root, issuer_options.generate_root, root_secret != NULL);
    if (rc)
        return rc;
    issuer_options.root_secret = root_secret;
    int64_t ttl = issuer_options.ttl_seconds ? issuer_options.ttl_seconds : MC_ISSUER_DEFAULT_TTL;
    int64_t most = issuer_options.max_duration_seconds ? issuer_options.max_duration_seconds
                                                       : MC_ISSUER_DEFAULT_MAX_DURATION;
    if (ttl > most) {
        char ttl_text[32], most_text[32];
        mc_duration_format(ttl, ttl_text, sizeof(ttl_text));
        mc_duration_format(most, most_text, sizeof(most_text));
        return mc_cli_usage_error(cmd, "--ttl %s is longer than --max-duration %s", ttl_text,
                                  most_text);
    }
    int64_t lease = issuer_options.lease_ms ? issuer_options.lease_ms : 15000;
    int64_t renew = issuer_options.renew_deadline_ms ? issuer_options.renew_deadline_ms : 10000;
    int64_t retry = issuer_options.retry_ms ? issuer_options.retry_ms : 2000;
    if (!(retry < renew && renew < lease))
        return mc_cli_usage_error(cmd,
                                  "leader election needs retry period < renew deadline < lease "
                                  "duration (got %lldms, %lldms, %lldms)",
                                  (long long)retry, (long long)renew, (long long)lease);
    mc_log_configure(log_options.level, log_options.format, NULL);

    /* the root key first: a wrong PIN or key stops the issuer before it
     * touches any cluster */
    if (root.cert_path) {
        if (external_root_open(&root, &err) != MC_OK) {
            external_root_close(&root);
            return mc_cli_fail(cmd, &err);
        }
        issuer_options.root_signer = root.signer;
        mc_log_info("issuer", "root key %s opened (certificate %s)", root.key.uri, root.cert_path);
    } else if (root.count) {
        if (root_keys_open(&root, &err) != MC_OK) {
            external_root_close(&root);
            return mc_cli_fail(cmd, &err);
        }
        issuer_options.root_keys = root.keys;
        issuer_options.root_keys_len = root.count;
    }
    mc_kube_config *config = NULL;
    rc = mc_cli_kube_source_load(&source, &config, &err);
    if (rc != MC_OK) {
        external_root_close(&root);
        return mc_cli_fail(cmd, &err);
    }
    issuer_options.management = config;

    sigset_t stop;
    mc_cli_stop_signals_block(&stop);
    mc_metrics *metrics = metrics_addr ? mc_metrics_new() : NULL;
    mc_metrics_http *http = NULL;
    mc_issuer *issuer = NULL;
    issuer_options.metrics = metrics;
    rc = metrics_addr && !metrics ? mc_err_set(&err, MC_ENOMEM, "out of memory")
                                  : mc_issuer_new(&issuer_options, &issuer, &err);
    mc_kube_config_free(config);
    if (rc == MC_OK)
        rc = mc_issuer_start(issuer, &err);
    if (rc == MC_OK)
        rc = mc_cli_metrics_start(cmd, metrics_addr, metrics, issuer_ready, issuer, &http, &err);
    if (rc == MC_OK)
        mc_cli_stop_signals_wait(cmd, &stop, -1);
    /* the endpoint first: its scrapes read the issuer */
    mc_metrics_http_stop(http);
    mc_issuer_free(issuer);
    mc_metrics_free(metrics);
    external_root_close(&root);
    return rc == MC_OK ? MC_EXIT_OK : mc_cli_fail(cmd, &err);
}
