/* root_secret.h - the one place that writes and reads the format of a root
 * CA Secret on the management cluster: type generated_signing_cert, the
 * certificate in root-cert.pem and its key in key.pem (PEM). The issuer
 * generates its root with it (--generate-root) and `meshcert root rotate
 * --generate` the next one; the rotation controller reads fingerprints and
 * swaps contents through it.
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

/* True when a Secret holds a root: type generated_signing_cert, or both keys. */
int mc_root_secret_is_root(const json_t *secret);

/* The certificate of a root Secret (JSON as read) into *cert (caller frees)
 * and, when fingerprint is not NULL, its SHA-256 hex. what names the Secret
 * in errors ("secret meshcert/root-ca"). MC_EINVAL when root-cert.pem is
 * missing or not a certificate. */
int mc_root_secret_cert(const json_t *secret, const char *what, mc_pki_cert **cert,
                        char fingerprint[MC_PKI_FINGERPRINT_SIZE], mc_err *err);

/* A copy of secret (new reference) whose root-cert.pem and key.pem are
 * those of from, everything else (metadata with resourceVersion, type,
 * other keys) kept: the body of a conditional PUT. NULL when from lacks
 * either key or on allocation failure. */
json_t *mc_root_secret_with_content_of(const json_t *secret, const json_t *from);

#endif
