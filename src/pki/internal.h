/* internal.h - pki/'s private view of its handles; never included outside pki/.
 *
 * Wraps OpenSSL objects so that public headers stay free of OpenSSL types.
 */
#ifndef MC_PKI_INTERNAL_H
#define MC_PKI_INTERNAL_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "util/buf.h"
#include "util/err.h"

struct mc_pki_key {
    EVP_PKEY *pkey; /* owned */
};

struct mc_pki_cert {
    X509 *x509;         /* owned; reference-counted through X509_up_ref */
    int pubkey_pending; /* issued here with the public key as raw bytes: x509's
                           decoded key is absent until mc_pki_cert_x509 reloads it */
};

struct mc_pki_csr {
    X509_REQ *req; /* owned */
};

/* The certificate with a usable decoded public key. A freshly issued
 * certificate carries its key only as bytes (decoding costs more than the
 * signature); the first call here re-reads it from its DER, so it mutates the
 * handle: not for concurrent first use from several threads. NULL only when
 * that re-read fails. */
X509 *mc_pki_cert_x509(const mc_pki_cert *cert);

/* Copies a memory BIO's contents into a new NUL-terminated string (caller
 * frees), then wipes the BIO's copy (it may have held a key). */
int mc_pki_bio_to_string(BIO *bio, char **out, size_t *len, mc_err *err);

/* Wraps an X509 (taking ownership) into a new handle; NULL on failure. */
mc_pki_cert *mc_pki_cert_wrap(X509 *x509);

/* Sets err to "<what>: <message>: <first OpenSSL error reason>" and clears the
 * OpenSSL error queue. Returns code. */
int mc_pki_ssl_err(mc_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the 128-bit random serial of a new certificate. */
int mc_pki_set_random_serial(X509 *x509, mc_err *err);

/* Adds a subject key identifier computed from the certificate's public key
 * with sha1 (NULL: the default SHA-1). */
int mc_pki_add_ski(X509 *x509, const EVP_MD *sha1, mc_err *err);

/* Adds basicConstraints CA:TRUE (critical; pathlen when >= 0) and keyUsage
 * keyCertSign+cRLSign (critical), plus digitalSignature when asked. */
int mc_pki_add_ca_extensions(X509 *x509, long path_len, int digital_signature, mc_err *err);

/* Sets notBefore/notAfter. */
int mc_pki_set_validity(X509 *x509, time_t not_before, time_t not_after, mc_err *err);

/* Builds subjectAltNames from hosts (IP, URI or DNS per mc_host_classify) into
 * a new *out (GENERAL_NAMES_free). MC_EINVAL naming the first bad host. */
int mc_pki_sans_from_hosts(const char *const *hosts, size_t host_count, GENERAL_NAMES **out,
                           mc_err *err);

/* Appends "DNS:x", "IP:1.2.3.4", "URI:..." for one general name (long values
 * cut at 256 characters). */
int mc_pki_append_general_name(mc_buf *out, const GENERAL_NAME *gn);

/* True (1) when host (mc_host_classify) is among names: IPs by bytes, URIs
 * exactly, DNS names without case. names may be NULL. */
int mc_pki_names_have_host(const GENERAL_NAMES *names, const char *host);

/* The message digest to sign with for a key: SHA-384 for P-384, else SHA-256. */
const EVP_MD *mc_pki_digest_for(const EVP_PKEY *pkey);

/* Describes a public key ("RSA 4096", "EC P-256"). */
void mc_pki_describe_pkey(const EVP_PKEY *pkey, char *out, size_t out_size);

/* MC_EUNSUPPORTED unless pkey is RSA 2048-8192 bits or EC P-256/P-384. */
int mc_pki_check_key_policy(const EVP_PKEY *pkey, const char *what, mc_err *err);

/* MC_EUNSUPPORTED unless the signature algorithm alg (of a CSR or a
 * certificate: `what`, e.g. "c1.csr: the CSR", starts the message) hashes
 * with SHA-2 (224 to 512 bits) or SHA-3. MD5 and SHA-1, whose collisions are
 * practical, are refused by name, and so is RSASSA-PSS whose parameters name
 * SHA-1 or leave the hash out (RFC 4055: then it is SHA-1). */
int mc_pki_check_signature_policy(const X509_ALGOR *alg, const char *what, mc_err *err);

/* Signs x509 through backend: sets both signature algorithm fields, encodes
 * the TBSCertificate, has the back end sign it and stores the signature. */
int mc_pki_x509_sign_backend(X509 *x509, const mc_pki_key_backend *backend, mc_err *err);

#endif
