/* signer.c - certificates signed by a key back end (see signer.h).
 *
 * X509_sign needs an EVP_PKEY holding the private key, which a back end such
 * as an HSM never gives out. So the certificate's two signature algorithm
 * fields are set here, the TBSCertificate is encoded, the back end signs those
 * bytes, and the signature value is put in place: what X509_sign_ctx does
 * inside OpenSSL, with the signing step handed to the back end.
 */
#include "pki/signer.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <string.h>

#include "pki/internal.h"

static int sig_alg_nid(mc_pki_sig_alg alg)
{
    switch (alg) {
    case MC_PKI_SIG_ECDSA_SHA256: return NID_ecdsa_with_SHA256;
    case MC_PKI_SIG_ECDSA_SHA384: return NID_ecdsa_with_SHA384;
    case MC_PKI_SIG_RSA_SHA256: break;
    }
    return NID_sha256WithRSAEncryption;
}

static const char *sig_alg_digest(mc_pki_sig_alg alg)
{
    return alg == MC_PKI_SIG_ECDSA_SHA384 ? "SHA384" : "SHA256";
}

/* RFC 4055 2.1: sha256WithRSAEncryption carries NULL parameters; RFC 5758
 * 3.2: the ECDSA algorithms carry none. */
static int set_sig_alg(X509_ALGOR *algor, mc_pki_sig_alg alg)
{
    int rsa = alg == MC_PKI_SIG_RSA_SHA256;
    return X509_ALGOR_set0(algor, OBJ_nid2obj(sig_alg_nid(alg)), rsa ? V_ASN1_NULL : V_ASN1_UNDEF,
                           NULL);
}

int mc_pki_x509_sign_backend(X509 *x509, const mc_pki_key_backend *backend, mc_err *err)
{
    const ASN1_BIT_STRING *sig_field = NULL;
    const X509_ALGOR *outer_alg = NULL;
    X509_get0_signature(&sig_field, &outer_alg, x509);
    /* OpenSSL 3.0 has no setter for these fields besides X509_sign_ctx (which
     * wants the private key); they belong to x509, which is ours to change. */
    X509_ALGOR *tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x509);
    if (!set_sig_alg(tbs_alg, backend->alg) || !set_sig_alg((X509_ALGOR *)outer_alg, backend->alg))
        return mc_pki_ssl_err(err, MC_ECRYPTO, "setting the signature algorithm");
    unsigned char *tbs = NULL;
    int tbs_len = i2d_re_X509_tbs(x509, &tbs);
    if (tbs_len <= 0)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "encoding the TBSCertificate");
    unsigned char sig[MC_PKI_SIG_MAX];
    size_t sig_len = 0;
    int rc = backend->sign(backend->impl, tbs, (size_t)tbs_len, sig, &sig_len, err);
    OPENSSL_free(tbs);
    if (rc)
        return mc_err_prefix(err, "signing with %s", backend->label);
    ASN1_BIT_STRING *value = (ASN1_BIT_STRING *)sig_field;
    if (sig_len > MC_PKI_SIG_MAX || !ASN1_BIT_STRING_set(value, sig, (int)sig_len))
        return mc_pki_ssl_err(err, MC_ECRYPTO, "setting the signature value");
    /* a whole number of bytes: no unused bits (as ASN1_item_sign_ctx does) */
    value->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    value->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    return MC_OK;
}

int mc_pki_backend_check(const mc_pki_key_backend *backend, const mc_pki_cert *cert, mc_err *err)
{
    static const unsigned char probe[] = "meshcert: does this key belong to the root certificate?";
    unsigned char sig[MC_PKI_SIG_MAX];
    size_t sig_len = 0;
    int rc = backend->sign(backend->impl, probe, sizeof(probe), sig, &sig_len, err);
    if (rc)
        return mc_err_prefix(err, "signing a test message with %s", backend->label);
    X509 *x509 = mc_pki_cert_x509(cert);
    EVP_PKEY *pub = x509 ? X509_get0_pubkey(x509) : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = pub && ctx &&
             EVP_DigestVerifyInit_ex(ctx, NULL, sig_alg_digest(backend->alg), NULL, NULL, pub,
                                     NULL) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, probe, sizeof(probe)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        char subject[256];
        mc_pki_cert_subject(cert, subject, sizeof(subject));
        ERR_clear_error();
        return mc_err_set(err, MC_EVERIFY, "the key %s does not match the root certificate %s",
                          backend->label, subject);
    }
    return MC_OK;
}
