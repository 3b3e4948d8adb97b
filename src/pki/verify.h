/* verify.h - checks on certificates: chains, key match, validity windows.
 *
 * Errors say which check failed and for which subject, e.g.
 * "certificate O=Istio does not chain to the root: unable to get local issuer
 * certificate (depth 0, subject O=Istio)".
 */
#ifndef MC_PKI_VERIFY_H
#define MC_PKI_VERIFY_H

#include <stddef.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/err.h"

/* Verifies that cert chains to one of roots through the untrusted
 * intermediates, at time `at` (0 = now). MC_EVERIFY or MC_EEXPIRED. */
int mc_pki_verify_chain(const mc_pki_cert *cert, mc_pki_cert *const *untrusted,
                        size_t untrusted_count, mc_pki_cert *const *roots, size_t root_count,
                        time_t at, mc_err *err);

/* MC_EVERIFY unless the certificate's public key belongs to key. */
int mc_pki_cert_matches_key(const mc_pki_cert *cert, const mc_pki_key *key, mc_err *err);

/* MC_EEXPIRED unless not_before <= at <= not_after (at 0 = now). */
int mc_pki_cert_check_validity(const mc_pki_cert *cert, time_t at, mc_err *err);

/* True (1) when issuer's subject names cert's issuer and issuer's public key
 * verifies cert's signature (no time or chain checks). */
int mc_pki_cert_signed_by(const mc_pki_cert *cert, const mc_pki_cert *issuer);

/* True (1) when both handles hold the same certificate (DER-equal). */
int mc_pki_cert_equal(const mc_pki_cert *a, const mc_pki_cert *b);

#endif
