/* issue.h - signing intermediate CA certificates from CSRs with a root.
 *
 * A signer holds a parsed root certificate and key (in memory, or a back end
 * such as PKCS#11, see signer.h), checked once (the key
 * matches the certificate, the certificate is a CA) and reused for every
 * issuance, so the per-issuance cost is the signature itself. Issuance follows
 * the original Service Mesh Hub issuer: subject O= and SANs come from the
 * IssuedCertificate (not the CSR), the public key from the CSR, CA:TRUE with
 * pathlen 0 by default; the TTL is clamped to the root's notAfter and notBefore
 * is back-dated 5 minutes for clock skew. A CA may carry name constraints
 * that bound what it can sign (params.name_constraints).
 */
#ifndef MC_PKI_ISSUE_H
#define MC_PKI_ISSUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "util/err.h"

#define MC_PKI_DEFAULT_TTL      ((int64_t)365 * 86400)
#define MC_PKI_BACKDATE_SECONDS 300

typedef struct mc_pki_signer mc_pki_signer;

/* Builds a signer from a root certificate and its private key. MC_EVERIFY when
 * the key does not match the certificate or the certificate is not a CA.
 * Takes its own references; the caller still frees root and key. */
int mc_pki_signer_new(mc_pki_cert *root, const mc_pki_key *key, mc_pki_signer **out, mc_err *err);

/* Builds a signer whose root key stays in a back end (signer.h), e.g. an HSM
 * through PKCS#11: each issuance has the back end sign the TBSCertificate.
 * MC_EVERIFY when the back end's key does not match root (a test signature
 * is checked against root's public key) or root is not a CA. backend is
 * copied; backend->impl is borrowed and must outlive the signer. */
int mc_pki_signer_new_backend(mc_pki_cert *root, const mc_pki_key_backend *backend,
                              mc_pki_signer **out, mc_err *err);

/* The root certificate of a signer (borrowed). */
const mc_pki_cert *mc_pki_signer_root(const mc_pki_signer *signer);

/* Frees the signer. Accepts NULL. */
void mc_pki_signer_free(mc_pki_signer *signer);

typedef struct mc_pki_issue_params {
    const char *org;          /* subject O= of the issued certificate; required for a CA
                                 (RFC 5280 4.1.2.6), may be "" for a TLS leaf */
    const char *const *hosts; /* subjectAltNames; at least one */
    size_t host_count;
    int64_t ttl_seconds; /* 0 = MC_PKI_DEFAULT_TTL */
    int path_len;        /* pathLenConstraint; -1 = none (CA certificates) */
    int tls_server;      /* 1: a TLS server/client leaf (CA:FALSE, digitalSignature,
                            keyEncipherment, serverAuth+clientAuth) instead of a CA */
    time_t now;          /* 0 = the current time */
    /* X.509 name constraints (RFC 5280 4.2.1.10) for what a CA may sign,
     * added as a critical nameConstraints extension when name_constraints
     * is set: permitted URI hosts (SPIFFE trust domains: spiffe://<td>/...
     * exactly), permitted DNS names (each covers itself and every name
     * below it), every IP address excluded. A kind with no entry permits
     * only the reserved name "invalid" (RFC 6761), i.e. nothing, except
     * URIs with uri_unconstrained: then no URI subtree at all (any URI may
     * be signed), for verifiers that refuse every URI constraint
     * (pyca/cryptography); only without permitted URI hosts. */
    int name_constraints;
    int uri_unconstrained;
    const char *const *permitted_uri_hosts;
    size_t permitted_uri_host_count;
    const char *const *permitted_dns;
    size_t permitted_dns_count;
} mc_pki_issue_params;

/* Sets params to the defaults: no org, no hosts, 365 days, pathlen 0, now. */
void mc_pki_issue_params_init(mc_pki_issue_params *params);

/* Issues an intermediate CA certificate for the CSR's public key. MC_EEXPIRED
 * when the root is expired (or not yet valid) at `now`; MC_EINVAL for bad
 * hosts, and for a CA without an org (its subject would be empty). *out owned
 * by the caller. The CSR must come from mc_pki_csr_parse or mc_pki_csr_create
 * (its signature already verified). */
int mc_pki_signer_issue(const mc_pki_signer *signer, const mc_pki_csr *csr,
                        const mc_pki_issue_params *params, mc_pki_cert **out, mc_err *err);

#endif
