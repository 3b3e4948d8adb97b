/* trust_probe_cli.c - `trust-probe`: the trust probe (trust_probe.h) from a
 * shell, for make demo-rotate and for looking at a live mesh by hand. Each
 * argument NAME=SOURCE names a cluster and where its output Secret's Istio
 * files are: a directory holding them, or a kubeconfig of the cluster (the
 * Secret is read through the API). Exit status: 0 every handshake
 * completed, 1 some failed, 2 bad usage or unreadable input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kube/client.h"
#include "kube/config.h"
#include "trust_probe.h"
#include "util/file.h"
#include "util/str.h"

static const char usage[] =
    "usage: trust-probe [--trust-domain TD] [--secret NS/NAME] [--describe] NAME=SOURCE...\n"
    "\n"
    "Completes a mutual-TLS 1.3 handshake for every ordered pair of clusters with a\n"
    "fresh workload leaf (spiffe://TD/ns/default/sa/probe) from each cluster's\n"
    "intermediate, each side trusting only its own cluster's root-cert.pem.\n"
    "\n"
    "  NAME=SOURCE         a cluster: SOURCE is a directory with ca-cert.pem, ca-key.pem,\n"
    "                      cert-chain.pem and root-cert.pem, or the cluster's kubeconfig\n"
    "  --trust-domain TD   trust domain of the leaves                 [cluster.local]\n"
    "  --secret NS/NAME    output Secret read through a kubeconfig    [istio-system/cacerts]\n"
    "  --describe          also print each cluster's roots and signer (short SHA-256)\n"
    "\n"
    "Exit status: 0 every handshake completed, 1 some failed, 2 usage or input error.\n";

static int load_directory(trust_probe *probe, const char *name, const char *dir, const char *td,
                          mc_err *err)
{
    static const char *const files[4] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem",
                                         "root-cert.pem"};
    char *text[4] = {0};
    int rc = MC_OK;
    for (int i = 0; i < 4 && rc == MC_OK; i++) {
        char path[1024];
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        rc = mc_file_read(path, 1 << 20, &text[i], &len, err);
    }
    if (rc == MC_OK)
        rc = trust_probe_set(probe, name, td, text[0], text[1], text[2], text[3], err);
    free(text[0]);
    mc_secure_free_str(text[1]);
    free(text[2]);
    free(text[3]);
    return rc;
}

static int load_kubeconfig(trust_probe *probe, const char *name, const char *path, const char *td,
                           const char *secret_ref, mc_err *err)
{
    char ns[256];
    const char *slash = strchr(secret_ref, '/');
    if (!slash || (size_t)(slash - secret_ref) >= sizeof(ns))
        return mc_err_set(err, MC_EUSAGE, "--secret: expected NS/NAME, got \"%s\"", secret_ref);
    memcpy(ns, secret_ref, (size_t)(slash - secret_ref));
    ns[slash - secret_ref] = '\0';
    mc_kube_config *config = NULL;
    mc_kube_client *client = NULL;
    json_t *secret = NULL;
    int rc = mc_kube_config_load_file(path, NULL, &config, err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, NULL, &client, err);
    if (rc == MC_OK)
        rc = mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, slash + 1, &secret, err);
    if (rc == MC_OK)
        rc = trust_probe_set_secret(probe, name, td, secret, err);
    json_decref(secret);
    mc_kube_client_free(client);
    mc_kube_config_free(config);
    return rc;
}

int main(int argc, char **argv)
{
    const char *td = "cluster.local", *secret_ref = "istio-system/cacerts";
    int describe = 0, clusters = 0, status = 2;
    trust_probe *probe = trust_probe_new();
    if (!probe)
        return 2;
    for (int i = 1; i < argc; i++) {
        mc_err err = {0};
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            status = 0;
            goto out;
        } else if (strcmp(arg, "--describe") == 0) {
            describe = 1;
        } else if (strcmp(arg, "--trust-domain") == 0 && i + 1 < argc) {
            td = argv[++i];
        } else if (strcmp(arg, "--secret") == 0 && i + 1 < argc) {
            secret_ref = argv[++i];
        } else if (arg[0] != '-' && strchr(arg, '=') && strchr(arg, '=') != arg) {
            char name[64];
            const char *eq = strchr(arg, '=');
            mc_strlcpy(name, arg,
                       (size_t)(eq - arg) + 1 < sizeof(name) ? (size_t)(eq - arg) + 1
                                                             : sizeof(name));
            struct stat st;
            int rc = stat(eq + 1, &st) == 0 && S_ISDIR(st.st_mode)
                         ? load_directory(probe, name, eq + 1, td, &err)
                         : load_kubeconfig(probe, name, eq + 1, td, secret_ref, &err);
            if (rc != MC_OK) {
                fprintf(stderr, "trust-probe: cluster %s (%s): %s\n", name, eq + 1, err.msg);
                goto out;
            }
            clusters++;
        } else {
            fprintf(stderr, "trust-probe: unexpected argument \"%s\"\n%s", arg, usage);
            goto out;
        }
    }
    if (clusters < 2) {
        fprintf(stderr, "trust-probe: give at least two clusters (NAME=SOURCE)\n%s", usage);
        goto out;
    }
    if (describe) {
        char text[4096] = "";
        trust_probe_describe(probe, text, sizeof(text));
        fputs(text, stdout);
    }
    trust_probe_result result = {0};
    trust_probe_run(probe, &result);
    printf("probe: %lu mutual-TLS handshakes between %d clusters, %lu failed\n", result.handshakes,
           clusters, result.failures);
    for (unsigned long i = 0; i < result.failures && i < TRUST_PROBE_KEEP_FAILURES; i++)
        printf("  FAILED %s\n", result.failure[i]);
    status = result.failures ? 1 : 0;
out:
    trust_probe_free(probe);
    return status;
}
