/* root.c - self-signed root CA certificates (see root.h), signed by a key in
 * memory or by a back end (signer.h). Apart from cert.c so that cert.c, the
 * certificate handle every other pki/ file uses, calls nothing above it.
 */
#include "pki/root.h"

#include <openssl/x509v3.h>
#include <time.h>

#include "pki/internal.h"

#define MC_PKI_ROOT_BACKDATE 300 /* seconds of clock skew tolerated */

static int add_name_entry(X509_NAME *name, int nid, const char *value, mc_err *err)
{
    if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                    0))
        return mc_pki_ssl_err(err, MC_EINVAL, "subject attribute \"%.64s\"", value);
    return MC_OK;
}

/* The root for key, self-signed by key (backend NULL: key holds the private
 * half) or by backend (key holds only the public half). */
static int root_create(const mc_pki_key *key, const mc_pki_key_backend *backend,
                       const mc_pki_root_params *params, mc_pki_cert **out, mc_err *err)
{
    if (!params->org || !params->common_name || params->ttl_seconds <= 0)
        return mc_err_set(err, MC_EINVAL, "root CA needs an org, a name and a positive TTL");
    if (!params->org[0] && !params->common_name[0])
        return mc_err_set(err, MC_EINVAL,
                          "refusing to create a root CA with an empty subject (RFC 5280 "
                          "4.1.2.6): give an org or a name");
    time_t now = params->now ? params->now : time(NULL);
    X509 *x509 = X509_new();
    X509_NAME *name = X509_NAME_new();
    int rc = MC_OK;
    if (!x509 || !name) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    if (!X509_set_version(x509, X509_VERSION_3)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "setting the version");
        goto out;
    }
    if ((rc = mc_pki_set_random_serial(x509, err)) ||
        (params->org[0] && (rc = add_name_entry(name, NID_organizationName, params->org, err))) ||
        (rc = add_name_entry(name, NID_commonName, params->common_name, err)) ||
        (rc =
             mc_pki_set_validity(x509, now - MC_PKI_ROOT_BACKDATE, now + params->ttl_seconds, err)))
        goto out;
    if (!X509_set_subject_name(x509, name) || !X509_set_issuer_name(x509, name) ||
        !X509_set_pubkey(x509, key->pkey)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "setting subject and key");
        goto out;
    }
    if ((rc = mc_pki_add_ca_extensions(x509, -1, 0, err)) || (rc = mc_pki_add_ski(x509, NULL, err)))
        goto out;
    if (backend) {
        if ((rc = mc_pki_x509_sign_backend(x509, backend, err)))
            goto out;
    } else if (!X509_sign(x509, key->pkey, mc_pki_digest_for(key->pkey))) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "self-signing the root certificate");
        goto out;
    }
    *out = mc_pki_cert_wrap(x509);
    if (!*out)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    else
        x509 = NULL;
out:
    X509_NAME_free(name);
    X509_free(x509);
    return rc;
}

int mc_pki_root_create(const mc_pki_key *key, const mc_pki_root_params *params, mc_pki_cert **out,
                       mc_err *err)
{
    return root_create(key, NULL, params, out, err);
}

int mc_pki_root_create_backend(const mc_pki_key *public_key, const mc_pki_key_backend *backend,
                               const mc_pki_root_params *params, mc_pki_cert **out, mc_err *err)
{
    return root_create(public_key, backend, params, out, err);
}
