/* main.c - the meshcert binary: dispatches to subcommands (busybox style).
 *
 * Every command listed in the usage below has its cmd_<name>.c; the
 * completion script (completion.c) knows the same list.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pki/key.h"
#include "util/log.h"
#include "util/process.h"

static const char usage[] =
    "meshcert - multi-cluster certificate issuance for service meshes\n"
    "\n"
    "Usage: meshcert <command> [options]\n"
    "\n"
    "Offline CA commands:\n"
    "  ca create    create a self-signed root CA (root-cert.pem, root-key.pem)\n"
    "  csr create   generate a private key and a PKCS#10 CSR for an intermediate CA\n"
    "  sign         sign a CSR with the root into Istio's plug-in CA files\n"
    "  verify       check an Istio plug-in CA directory (or a cluster's output Secret)\n"
    "\n"
    "Operator commands (through the management cluster: --kubeconfig, else\n"
    "$KUBECONFIG, else ~/.kube/config):\n"
    "  cluster      register, list or deregister managed clusters\n"
    "  issue        request an intermediate CA for a registered cluster (--wait)\n"
    "  status       the IssuedCertificates of every registered cluster: state, lifetime,\n"
    "               renewal time, trust-bundle roots, pending rotations\n"
    "  rotate       new intermediates with new keys now (--cluster C [--name N] or --all)\n"
    "  root         rotate the root CA of every cluster in steps (root rotate|status)\n"
    "\n"
    "Workflow:\n"
    "  issuer       management cluster: signs the CertificateRequests of every cluster\n"
    "  agent        per managed cluster: keys, CSRs, the output Secret, pod bounces\n"
    "\n"
    "Servers:\n"
    "  server       the embedded Kubernetes API server (many logical clusters, SQLite);\n"
    "               server cluster add|remove changes its clusters\n"
    "\n"
    "Other:\n"
    "  completion   print a shell completion script (bash or zsh)\n"
    "  version      print the version\n"
    "  help         print this help\n"
    "\n"
    "Run 'meshcert <command> --help' for a command's options.\n"
    "Exit codes: 0 success, 1 failure, 2 usage error.\n";

/* The commands that hold private keys (the CA key, the root, an agent's
 * fresh keys, the server's CA) keep them in OpenSSL's secure heap; a
 * failure to set it up is not fatal (the keys are wiped on free anyway). */
static void use_secure_heap(const char *cmd)
{
    static const char *const holders[] = {"ca", "csr", "sign", "server", "agent", "issuer", "root"};
    for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++) {
        if (strcmp(cmd, holders[i]) != 0)
            continue;
        int locked = 0;
        mc_err err = {0};
        if (mc_pki_secure_heap_init(&locked, &err) != MC_OK)
            mc_log_debug("cli", "secure heap: %s", err.msg);
        else if (!locked)
            mc_log_debug("cli", "secure heap: not locked in memory (RLIMIT_MEMLOCK)");
        return;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return MC_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return MC_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("meshcert %s\n", MC_VERSION);
        return MC_EXIT_OK;
    }
    /* Commands that read or make private keys or hold bearer tokens: no core
     * dump, no ptrace attach, before the first secret is in memory. */
    static const char *const holding_secrets[] = {"ca",     "csr",     "sign",  "server", "agent",
                                                  "issuer", "cluster", "issue", "status",
                                                  "rotate", "root"};
    for (size_t i = 0; i < sizeof(holding_secrets) / sizeof(holding_secrets[0]); i++) {
        mc_err err = {0};
        if (strcmp(cmd, holding_secrets[i]) == 0 && mc_process_protect_secrets(&err) != MC_OK) {
            fprintf(stderr, "meshcert %s: %s\n", cmd, err.msg);
            return MC_EXIT_FAIL;
        }
    }
    use_secure_heap(cmd);
    if (strcmp(cmd, "ca") == 0)
        return mc_cmd_ca(argc - 1, argv + 1);
    if (strcmp(cmd, "csr") == 0)
        return mc_cmd_csr(argc - 1, argv + 1);
    if (strcmp(cmd, "sign") == 0)
        return mc_cmd_sign(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return mc_cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "server") == 0)
        return mc_cmd_server(argc - 1, argv + 1);
    if (strcmp(cmd, "agent") == 0)
        return mc_cmd_agent(argc - 1, argv + 1);
    if (strcmp(cmd, "issuer") == 0)
        return mc_cmd_issuer(argc - 1, argv + 1);
    if (strcmp(cmd, "cluster") == 0)
        return mc_cmd_cluster(argc - 1, argv + 1);
    if (strcmp(cmd, "issue") == 0)
        return mc_cmd_issue(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return mc_cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "rotate") == 0)
        return mc_cmd_rotate(argc - 1, argv + 1);
    if (strcmp(cmd, "root") == 0)
        return mc_cmd_root(argc - 1, argv + 1);
    if (strcmp(cmd, "completion") == 0)
        return mc_cmd_completion(argc - 1, argv + 1);
    fprintf(stderr, "meshcert: unknown command \"%s\"\nRun 'meshcert help' for the list.\n", cmd);
    return MC_EXIT_USAGE;
}
