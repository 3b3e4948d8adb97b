/* bundle.h - the output a cluster's mesh reads: Istio's plug-in CA files.
 *
 * Istio layout: ca-cert.pem (the intermediate), ca-key.pem (its key),
 * cert-chain.pem (intermediate then root), root-cert.pem. TLS layout
 * (kubernetes.io/tls, Istio >= 1.15): tls.crt, tls.key, ca.crt. A bundle is a
 * set of PEM strings; the key string is wiped when the bundle is cleared.
 */
#ifndef MC_PKI_BUNDLE_H
#define MC_PKI_BUNDLE_H

#include <stddef.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/buf.h"
#include "util/err.h"

typedef enum {
    MC_BUNDLE_ISTIO = 0, /* ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem */
    MC_BUNDLE_TLS = 1,   /* tls.crt, tls.key, ca.crt */
} mc_bundle_format;

typedef struct mc_pki_bundle {
    char *ca_cert;    /* PEM of the issued intermediate; owned */
    char *ca_key;     /* PEM of its private key, or NULL; owned, wiped on clear */
    char *cert_chain; /* PEM: ca_cert then root_cert; owned */
    char *root_cert;  /* PEM of the root(s); owned */
} mc_pki_bundle;

typedef struct mc_pki_bundle_entry {
    const char *name; /* file or Secret key name */
    const char *data; /* borrowed from the bundle */
    size_t len;
    int secret; /* 1 for the private key (mode 0600) */
} mc_pki_bundle_entry;

/* Parses "istio" or "tls". */
int mc_pki_bundle_format_parse(const char *name, mc_bundle_format *out, mc_err *err);

/* Builds a bundle from the issued certificate, its private key PEM exactly as
 * the caller holds it (PKCS#8, PKCS#1 or SEC1; copied; NULL: no ca-key.pem)
 * and the root. Fills *out; release with mc_pki_bundle_clear. */
int mc_pki_bundle_build(const mc_pki_cert *issued, const char *key_pem, const mc_pki_cert *root,
                        mc_pki_bundle *out, mc_err *err);

/* The same for a trust bundle of root_count roots (a root rotation's R1+R2):
 * root-cert.pem holds every root in the given order; cert-chain.pem is the
 * issued certificate then the first root that signed it. MC_EVERIFY when
 * none of the roots signed it. */
int mc_pki_bundle_build_trust(const mc_pki_cert *issued, const char *key_pem,
                              mc_pki_cert *const *roots, size_t root_count, mc_pki_bundle *out,
                              mc_err *err);

/* Lists the entries of the bundle in the given layout into entries (room for
 * 4); returns their count. An absent key is left out. */
size_t mc_pki_bundle_entries(const mc_pki_bundle *bundle, mc_bundle_format format,
                             mc_pki_bundle_entry entries[4]);

/* Checks a bundle against a trusted root PEM (NULL: trust the bundle's own
 * root-cert.pem; trusted_what names its source in errors): ca-cert is a CA, valid at `at` (0 =
 * now); cert-chain starts with ca-cert; ca-cert chains to the trusted root through cert-chain;
 * root-cert.pem contains the trusted root; ca-key (if present) matches ca-cert.
 * Appends a human report to report (optional). MC_EVERIFY/MC_EEXPIRED/MC_EINVAL
 * naming the file and the failed check. */
int mc_pki_bundle_verify(const mc_pki_bundle *bundle, const char *trusted_root_pem,
                         const char *trusted_what, time_t at, mc_buf *report, mc_err *err);

/* The window in which mc_pki_bundle_verify's time checks hold: the latest
 * notBefore (*valid_from) and the earliest notAfter (*valid_until) of every
 * certificate in ca-cert, cert-chain and root-cert (roots the chain does not
 * use included, so the window is never wider than the truth). A verdict
 * taken at a time inside it stands for any other time inside it (the agent
 * caches it, agent/cache.h). MC_EINVAL naming the file that does not parse. */
int mc_pki_bundle_validity(const mc_pki_bundle *bundle, time_t *valid_from, time_t *valid_until,
                           mc_err *err);

/* Frees the strings, wiping the key. Accepts a zeroed bundle. */
void mc_pki_bundle_clear(mc_pki_bundle *bundle);

#endif
