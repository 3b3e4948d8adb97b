/* verify.c - chain, key-match and validity checks (see verify.h). */
#include "pki/verify.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>

#include "pki/internal.h"

int mc_pki_verify_chain(const mc_pki_cert *cert, mc_pki_cert *const *untrusted,
                        size_t untrusted_count, mc_pki_cert *const *roots, size_t root_count,
                        time_t at, mc_err *err)
{
    char subject[256];
    mc_pki_cert_subject(cert, subject, sizeof(subject));
    if (root_count == 0)
        return mc_err_set(err, MC_EINVAL, "no trusted root given to verify %s against", subject);
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = MC_OK;
    if (!store || !chain || !ctx) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < root_count; i++)
        if (!mc_pki_cert_x509(roots[i]) || !X509_STORE_add_cert(store, roots[i]->x509)) {
            rc = mc_pki_ssl_err(err, MC_ECRYPTO, "adding a trusted root");
            goto out;
        }
    for (size_t i = 0; i < untrusted_count; i++)
        if (!mc_pki_cert_x509(untrusted[i]) || !sk_X509_push(chain, untrusted[i]->x509)) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
    if (!mc_pki_cert_x509(cert) || !X509_STORE_CTX_init(ctx, store, cert->x509, chain)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "setting up chain verification");
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, at ? at : time(NULL));
    if (X509_verify_cert(ctx) != 1) {
        int code = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        char failing[256] = "?";
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        if (bad) {
            mc_pki_cert wrapped = {bad, 0};
            mc_pki_cert_subject(&wrapped, failing, sizeof(failing));
        }
        int is_time = code == X509_V_ERR_CERT_HAS_EXPIRED || code == X509_V_ERR_CERT_NOT_YET_VALID;
        rc = mc_err_set(err, is_time ? MC_EEXPIRED : MC_EVERIFY,
                        "certificate %s does not chain to the root: %s (depth %d, subject %s)",
                        subject, X509_verify_cert_error_string(code), depth, failing);
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    X509_STORE_free(store);
    return rc;
}

int mc_pki_cert_matches_key(const mc_pki_cert *cert, const mc_pki_key *key, mc_err *err)
{
    X509 *usable = mc_pki_cert_x509(cert);
    EVP_PKEY *pub = usable ? X509_get0_pubkey(usable) : NULL;
    if (pub && EVP_PKEY_eq(pub, key->pkey) == 1)
        return MC_OK;
    ERR_clear_error();
    char subject[256];
    mc_pki_cert_subject(cert, subject, sizeof(subject));
    return mc_err_set(err, MC_EVERIFY, "private key does not match certificate %s", subject);
}

int mc_pki_cert_check_validity(const mc_pki_cert *cert, time_t at, mc_err *err)
{
    time_t not_before, not_after;
    char subject[256], when[32];
    mc_pki_cert_subject(cert, subject, sizeof(subject));
    if (mc_pki_cert_validity(cert, &not_before, &not_after))
        return mc_err_set(err, MC_EINVAL, "certificate %s has an unreadable validity", subject);
    if (!at)
        at = time(NULL);
    if (at > not_after) {
        mc_pki_format_time(not_after, when, sizeof(when));
        return mc_err_set(err, MC_EEXPIRED, "certificate %s expired at %s", subject, when);
    }
    if (at < not_before) {
        mc_pki_format_time(not_before, when, sizeof(when));
        return mc_err_set(err, MC_EEXPIRED, "certificate %s is not valid before %s", subject, when);
    }
    return MC_OK;
}

int mc_pki_cert_signed_by(const mc_pki_cert *cert, const mc_pki_cert *issuer)
{
    X509 *x = mc_pki_cert_x509(cert), *signer = mc_pki_cert_x509(issuer);
    EVP_PKEY *pub = signer ? X509_get0_pubkey(signer) : NULL;
    int ok = x && pub && X509_check_issued(signer, x) == X509_V_OK && X509_verify(x, pub) == 1;
    ERR_clear_error();
    return ok;
}

int mc_pki_cert_equal(const mc_pki_cert *a, const mc_pki_cert *b)
{
    return X509_cmp(a->x509, b->x509) == 0;
}
