/* cert.h - X.509 certificates: PEM I/O, inspection, self-signed roots.
 *
 * Certificates are opaque handles so that no layer above pki/ sees OpenSSL.
 * A root CA is self-signed with subject O=<org>, CN=<name>, basicConstraints
 * CA:TRUE (critical), keyUsage keyCertSign+cRLSign (critical), a subject key
 * identifier, and a 128-bit random serial number.
 */
#ifndef MC_PKI_CERT_H
#define MC_PKI_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pki/key.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct mc_pki_cert mc_pki_cert;

/* Largest PEM input (a certificate, a chain, a root bundle) pki/ accepts. */
#define MC_PKI_PEM_MAX (256 * 1024)

/* Parses the first certificate of a PEM text. what names the source for
 * errors. *out is owned by the caller (mc_pki_cert_free). */
int mc_pki_cert_from_pem(const char *pem, size_t len, const char *what, mc_pki_cert **out,
                         mc_err *err);

/* Parses every certificate of a PEM text (at least one, at most 64) into a new
 * array *certs of *count handles; free with mc_pki_cert_list_free. */
int mc_pki_cert_list_from_pem(const char *pem, size_t len, const char *what, mc_pki_cert ***certs,
                              size_t *count, mc_err *err);

/* Frees an array from mc_pki_cert_list_from_pem. Accepts NULL. */
void mc_pki_cert_list_free(mc_pki_cert **certs, size_t count);

/* Encodes as PEM into a new NUL-terminated string (caller frees). */
int mc_pki_cert_to_pem(const mc_pki_cert *cert, char **pem, size_t *len, mc_err *err);

/* One-line subject in RFC 2253 order, e.g. "CN=root,O=Istio", into out. */
void mc_pki_cert_subject(const mc_pki_cert *cert, char *out, size_t out_size);

/* Validity window as Unix times. */
int mc_pki_cert_validity(const mc_pki_cert *cert, time_t *not_before, time_t *not_after);

/* True (1) when basicConstraints says CA:TRUE. */
int mc_pki_cert_is_ca(const mc_pki_cert *cert);

/* True (1) when the certificate is self-issued and self-signed (a root). */
int mc_pki_cert_is_self_signed(const mc_pki_cert *cert);

/* MC_EUNSUPPORTED, naming `what` and the algorithm, when the certificate is
 * signed with MD5 or SHA-1 (or anything but SHA-2/SHA-3): Go's crypto/x509,
 * which istiod verifies its plug-in CA with, rejects such signatures. */
int mc_pki_cert_check_signature(const mc_pki_cert *cert, const char *what, mc_err *err);

/* True (1) unless the certificate has an extendedKeyUsage without serverAuth
 * or anyExtendedKeyUsage: Go's x509 Verify, which istiod uses on its plug-in
 * CA, asks for serverAuth through the whole chain by default. */
int mc_pki_cert_allows_server_auth(const mc_pki_cert *cert);

/* Appends a human description (subject, issuer, serial, validity, key, CA
 * constraints, SANs), one "  field: value" line each, to out. */
int mc_pki_cert_describe(const mc_pki_cert *cert, mc_buf *out);

/* Appends the subjectAltNames as "DNS:a, IP:1.2.3.4, URI:spiffe://..." to out
 * ("(none)" when there are none). */
int mc_pki_cert_sans(const mc_pki_cert *cert, mc_buf *out);

/* Appends the nameConstraints as "permitted: URI:east.local, DNS:x.svc;
 * excluded: IP:0.0.0.0/0, IP:::/0" to out. Returns 1 when the extension is
 * present and critical, 2 when present and not critical, 0 when absent
 * (nothing appended), a negative MC_E* code on failure. */
int mc_pki_cert_name_constraints(const mc_pki_cert *cert, mc_buf *out);

/* Writes the SHA-256 of the certificate's DER encoding into out. MC_ECRYPTO. */
int mc_pki_cert_sha256(const mc_pki_cert *cert, unsigned char out[32], mc_err *err);

/* The same as 64 lowercase hex digits and a NUL in out (a root's
 * fingerprint in RootRotation and IssuedCertificate status). MC_ECRYPTO. */
#define MC_PKI_FINGERPRINT_SIZE 65
int mc_pki_cert_fingerprint(const mc_pki_cert *cert, char out[MC_PKI_FINGERPRINT_SIZE],
                            mc_err *err);

/* SHA-256 of len bytes of data into out. MC_ECRYPTO. */
int mc_pki_sha256(const void *data, size_t len, unsigned char out[32], mc_err *err);

/* One input of mc_pki_sha256_parts (data NULL: an absent value, which hashes
 * unlike an empty one). */
typedef struct mc_pki_hash_part {
    const void *data;
    size_t len;
} mc_pki_hash_part;

/* SHA-256 over count parts, each preceded by its length (or a marker for an
 * absent one), so that two different lists of parts never hash alike by
 * moving a boundary. No copy of the parts is made. MC_ECRYPTO. */
int mc_pki_sha256_parts(const mc_pki_hash_part *parts, size_t count, unsigned char out[32],
                        mc_err *err);

/* Checks that the certificate was issued for org and hosts: its subject O=
 * equals org (when org is not empty) and every host is one of its
 * subjectAltNames (DNS names compared without case). MC_EVERIFY naming the
 * first missing host or the O= found. Extra SANs are not an error. */
int mc_pki_cert_check_identity(const mc_pki_cert *cert, const char *org, const char *const *hosts,
                               size_t host_count, mc_err *err);

/* Adds a reference; the certificate is freed when the last holder frees it. */
mc_pki_cert *mc_pki_cert_ref(mc_pki_cert *cert);

/* Frees the certificate. Accepts NULL. */
void mc_pki_cert_free(mc_pki_cert *cert);

/* Formats a Unix time as "2026-11-23T10:00:00Z" into out (>= 21 bytes). */
void mc_pki_format_time(time_t t, char *out, size_t out_size);

#endif
