/* root_secret.h - the one place that writes and reads the format of a root
 * CA Secret on the management cluster: type generated_signing_cert, the
 * certificate in root-cert.pem and either its key in key.pem (PEM) or, for a
 * key kept out of the API (a PKCS#11 token, a mounted file), a reference to
 * it in key-ref (the pkcs11: URI or the file's path, exactly as the issuer's
 * --root-key names it). The issuer generates its root with it
 * (--generate-root) and `meshcert root rotate --generate` the next one (or
 * --new-root-key the reference Secret); the rotation controller reads
 * fingerprints and swaps contents through it.
 */
#ifndef MC_ISSUER_ROOT_SECRET_H
#define MC_ISSUER_ROOT_SECRET_H

#include <jansson.h>
#include <stdint.h>

#include "kube/client.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/err.h"

#define MC_ROOT_SECRET_CERT_KEY         "root-cert.pem"
#define MC_ROOT_SECRET_KEY_KEY          "key.pem"
#define MC_ROOT_SECRET_KEY_REF_KEY      "key-ref"
#define MC_ROOT_SECRET_KEY_REF_MAX      4096 /* bytes of a key-ref (a URI or a path) */
#define MC_ROOT_SECRET_ORG              "meshcert"
#define MC_ROOT_SECRET_CN               "meshcert root CA"
#define MC_ROOT_SECRET_DEFAULT_VALIDITY ((int64_t)365 * 86400)

/* Generates a self-signed root (key_type, valid validity_seconds, 0: one
 * year) and creates it as Secret ns/name through client; *out (may be NULL)
 * is the Secret as stored. With reuse_existing, an existing Secret of that
 * name is returned instead (another writer won the race); otherwise that is
 * MC_EEXISTS naming it. The key is wiped from memory before returning; it
 * is never logged. */
int mc_root_secret_generate(mc_kube_client *client, const char *ns, const char *name,
                            mc_key_type key_type, int64_t validity_seconds, int reuse_existing,
                            json_t **out, mc_err *err);

/* Creates Secret ns/name holding the root certificate cert_pem and, instead
 * of a key, key_ref (a pkcs11: URI or a key file's path: the issuer signs
 * with the --root-key of that name). *out (may be NULL) is the Secret as
 * stored. MC_EEXISTS naming it when it exists. */
int mc_root_secret_create_ref(mc_kube_client *client, const char *ns, const char *name,
                              const char *cert_pem, size_t cert_len, const char *key_ref,
                              json_t **out, mc_err *err);

/* True when a Secret holds a root: type generated_signing_cert, or
 * root-cert.pem with key.pem or key-ref. */
int mc_root_secret_is_root(const json_t *secret);

/* The key-ref of a root Secret (JSON as read) into out (size bytes): 1 when
 * it has one, 0 when it has none (its key is in key.pem, or it has no key),
 * -1 (err set, naming what) when it is not base64, empty, too long, or the
 * Secret holds key.pem as well (which key would sign is then ambiguous). */
int mc_root_secret_key_ref(const json_t *secret, const char *what, char *out, size_t size,
                           mc_err *err);

/* The certificate of a root Secret (JSON as read) into *cert (caller frees)
 * and, when fingerprint is not NULL, its SHA-256 hex. what names the Secret
 * in errors ("secret meshcert/root-ca"). MC_EINVAL when root-cert.pem is
 * missing or not a certificate. */
int mc_root_secret_cert(const json_t *secret, const char *what, mc_pki_cert **cert,
                        char fingerprint[MC_PKI_FINGERPRINT_SIZE], mc_err *err);

/* A copy of secret (new reference) whose root-cert.pem and key (key.pem,
 * or key-ref: the reference is copied, never a key out of a token) are
 * those of from, the other key form removed, everything else (metadata
 * with resourceVersion, type, other keys) kept: the body of a conditional
 * PUT. NULL when from lacks the certificate or a key, or on allocation
 * failure. */
json_t *mc_root_secret_with_content_of(const json_t *secret, const json_t *from);

#endif
