/* signer.h - a root key that signs through a back end instead of from memory.
 *
 * The root's private key may live where this process cannot read it: an HSM
 * reached through PKCS#11 (pki/pkcs11.h). Such a key is a back end: a sign
 * function over the DER bytes to sign (a TBSCertificate) and the X.509
 * signature algorithm it produces. mc_pki_signer_new_backend (issue.h) and
 * mc_pki_root_create_backend (root.h) build certificates with it; the in-memory
 * key (mc_pki_signer_new, mc_pki_root_create) stays the default back end.
 */
#ifndef MC_PKI_SIGNER_H
#define MC_PKI_SIGNER_H

#include <stddef.h>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/err.h"

/* The largest signature a back end returns: RSA 8192 (1024 bytes); a DER
 * ECDSA-Sig-Value for P-384 is at most 104. */
#define MC_PKI_SIG_MAX 1024

/* The X.509 signature algorithms a back end may produce. */
typedef enum {
    MC_PKI_SIG_RSA_SHA256 = 0, /* sha256WithRSAEncryption (PKCS#1 v1.5) */
    MC_PKI_SIG_ECDSA_SHA256,   /* ecdsa-with-SHA256 (P-256 keys) */
    MC_PKI_SIG_ECDSA_SHA384,   /* ecdsa-with-SHA384 (P-384 keys) */
} mc_pki_sig_alg;

typedef struct mc_pki_key_backend {
    mc_pki_sig_alg alg; /* what sign produces */
    /* Signs data (hashing it as alg says) into sig (MC_PKI_SIG_MAX bytes);
     * sets *sig_len. ECDSA signatures come DER-encoded (ECDSA-Sig-Value,
     * RFC 3279 2.2.3). Must be safe to call from several threads at once. */
    int (*sign)(void *impl, const unsigned char *data, size_t len, unsigned char *sig,
                size_t *sig_len, mc_err *err);
    void *impl;        /* the back end's state; borrowed, outlives every user */
    const char *label; /* names the key in messages (no secret), e.g. a pkcs11: URI */
} mc_pki_key_backend;

/* MC_EVERIFY unless backend signs with the key of cert: a test signature
 * verified with the certificate's public key (works whether or not the
 * back end can show its public key). */
int mc_pki_backend_check(const mc_pki_key_backend *backend, const mc_pki_cert *cert, mc_err *err);

#endif
