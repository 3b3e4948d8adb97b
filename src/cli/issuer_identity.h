/* issuer_identity.h - the least-privilege identity `meshcert cluster
 * register` makes for the issuer in a managed cluster, as `istioctl
 * create-remote-secret` does: with the cluster's admin kubeconfig it
 * creates (or brings up to date) ServiceAccount, Role and RoleBinding
 * MC_CLI_ISSUER_IDENTITY in the agent's namespace and a legacy token Secret
 * MC_CLI_ISSUER_IDENTITY "-token" for it, then writes a kubeconfig holding
 * only that token (and the cluster's server and CA) with the agent's
 * namespace as its context namespace, which the issuer serves. The Role's
 * rules are MC_CLI_ISSUER_RULES; docs/cli.md says why each is needed.
 */
#ifndef MC_CLI_ISSUER_IDENTITY_H
#define MC_CLI_ISSUER_IDENTITY_H

#include <stddef.h>

#include "kube/client.h"
#include "util/err.h"

/* ServiceAccount, Role and RoleBinding name in the managed cluster. */
#define MC_CLI_ISSUER_IDENTITY "meshcert-issuer"

/* The Role's rules (JSON), what the issuer does in the agent's namespace:
 * watch CertificateRequests and IssuedCertificates (informers), write a
 * request's signed chain to its status, set the rotate annotation on
 * IssuedCertificates (root rotation), and record Events. */
#define MC_CLI_ISSUER_RULES                                                                        \
    "[{\"apiGroups\":[\"certificates.smh.solo.io\"],"                                              \
    "\"resources\":[\"certificaterequests\",\"issuedcertificates\"],"                              \
    "\"verbs\":[\"get\",\"list\",\"watch\"]},"                                                     \
    "{\"apiGroups\":[\"certificates.smh.solo.io\"],"                                               \
    "\"resources\":[\"certificaterequests/status\"],\"verbs\":[\"update\"]},"                      \
    "{\"apiGroups\":[\"certificates.smh.solo.io\"],"                                               \
    "\"resources\":[\"issuedcertificates\"],\"verbs\":[\"patch\"]},"                               \
    "{\"apiGroups\":[\"\"],\"resources\":[\"events\"],\"verbs\":[\"create\",\"patch\"]}]"

/* Makes the identity in the cluster of the kubeconfig file admin_file
 * (current context) for namespace agent_ns (created when missing), waits
 * up to wait_ms for the token Secret to be filled, and returns the new
 * kubeconfig in *kubeconfig (owned; wipe with mc_secure_free, *len bytes).
 * options: the client options (timeouts) to reach the cluster with. Errors
 * name the object and cluster that failed; the token never appears. */
int mc_cli_issuer_identity_create(const char *admin_file, const char *agent_ns,
                                  const mc_kube_client_options *options, int wait_ms,
                                  char **kubeconfig, size_t *len, mc_err *err);

#endif
