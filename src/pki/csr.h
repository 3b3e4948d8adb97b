/* csr.h - PKCS#10 certificate signing requests: creation, parsing, checks.
 *
 * The agent creates a CSR from its locally generated key, the org and the
 * hosts of an IssuedCertificate. The issuer parses untrusted CSRs: bounded
 * size, signature verified, key type and size checked, and a check that the
 * CSR does not ask for more than the IssuedCertificate allows.
 */
#ifndef MC_PKI_CSR_H
#define MC_PKI_CSR_H

#include <stddef.h>

#include "pki/key.h"
#include "util/err.h"

typedef struct mc_pki_csr mc_pki_csr;

/* Largest CSR (PEM or DER) accepted: 64 KiB. */
#define MC_PKI_CSR_MAX (64 * 1024)

/* Creates a CSR signed by key with subject O=org (omitted when org is empty)
 * and one subjectAltName per host (classified by mc_host_classify). At least
 * one host is required. *out owned by the caller (mc_pki_csr_free). */
int mc_pki_csr_create(const mc_pki_key *key, const char *org, const char *const *hosts,
                      size_t host_count, mc_pki_csr **out, mc_err *err);

/* Parses a CSR given as PEM or DER. Errors (all MC_EINVAL/MC_ELIMIT/
 * MC_EUNSUPPORTED/MC_EVERIFY, naming `what`): over MC_PKI_CSR_MAX bytes, not a
 * CSR, trailing data (a second PEM block included), a key other than RSA 2048-8192 or EC
 * P-256/P-384, a signature that does not verify. *out owned by the caller. */
int mc_pki_csr_parse(const void *data, size_t len, const char *what, mc_pki_csr **out, mc_err *err);

/* Encodes the CSR as PEM into a new NUL-terminated string (caller frees). */
int mc_pki_csr_to_pem(const mc_pki_csr *csr, char **pem, size_t *len, mc_err *err);

/* Checks that the CSR asks for nothing beyond org and hosts: every O= in its
 * subject equals org, a CN= (if any) is one of hosts, no other subject
 * attribute, every requested subjectAltName is one of hosts. MC_EVERIFY with a
 * message naming the first difference. */
int mc_pki_csr_check_request(const mc_pki_csr *csr, const char *org, const char *const *hosts,
                             size_t host_count, mc_err *err);

/* mc_pki_csr_check_request, and also that the CSR asks for every host and,
 * when org is not empty, for O=org: the CSR requests exactly org and hosts.
 * MC_EVERIFY naming the first host (or the O=) it lacks. */
int mc_pki_csr_check_exact(const mc_pki_csr *csr, const char *org, const char *const *hosts,
                           size_t host_count, mc_err *err);

/* Writes "RSA 4096" / "EC P-256" for the CSR's public key into out. */
void mc_pki_csr_describe_key(const mc_pki_csr *csr, char *out, size_t out_size);

/* Copies the CSR subject's O= value into out ("" when absent; MC_EINVAL when
 * it has several). */
int mc_pki_csr_org(const mc_pki_csr *csr, char *out, size_t out_size, mc_err *err);

/* MC_EVERIFY unless the CSR's public key belongs to key. */
int mc_pki_csr_matches_key(const mc_pki_csr *csr, const mc_pki_key *key, mc_err *err);

/* Frees the CSR. Accepts NULL. */
void mc_pki_csr_free(mc_pki_csr *csr);

#endif
