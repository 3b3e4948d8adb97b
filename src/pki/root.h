/* root.h - self-signed root CA certificates: from a key in memory, or from
 * a back end that holds the private key elsewhere (signer.h, pkcs11.h).
 */
#ifndef MC_PKI_ROOT_H
#define MC_PKI_ROOT_H

#include <stdint.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "util/err.h"

typedef struct mc_pki_root_params {
    const char *org;         /* subject O=; required, may be "" when common_name is not */
    const char *common_name; /* subject CN=; required */
    int64_t ttl_seconds;     /* validity from now; > 0 */
    time_t now;              /* 0 = the current time (tests pass a fixed time) */
} mc_pki_root_params;

/* Creates a self-signed root CA certificate for key. *out owned by the caller. */
int mc_pki_root_create(const mc_pki_key *key, const mc_pki_root_params *params, mc_pki_cert **out,
                       mc_err *err);

/* Creates a self-signed root CA certificate for public_key (a key with only
 * its public half, e.g. from mc_pki_pkcs11_generate), signed by backend.
 * Same certificate as mc_pki_root_create. *out owned by the caller. */
int mc_pki_root_create_backend(const mc_pki_key *public_key, const mc_pki_key_backend *backend,
                               const mc_pki_root_params *params, mc_pki_cert **out, mc_err *err);

#endif
