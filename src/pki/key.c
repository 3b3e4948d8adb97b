/* key.c - private key generation, PEM encoding and parsing (see key.h).
 *
 * Traditional (PKCS#1/SEC1) output goes through the OpenSSL 3 encoder API with
 * the "type-specific" structure; PKCS#8 through "PrivateKeyInfo". Parsing uses
 * the decoder behind PEM_read_bio_PrivateKey, which accepts all three forms.
 */
#include "pki/key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/internal.h"
#include "util/str.h"

static const struct {
    const char *name;
    const char *algorithm;
    unsigned bits;
    const char *curve;
} key_types[] = {
    [MC_KEY_RSA2048] = {"rsa2048", "RSA", 2048, NULL},
    [MC_KEY_RSA3072] = {"rsa3072", "RSA", 3072, NULL},
    [MC_KEY_RSA4096] = {"rsa4096", "RSA", 4096, NULL},
    [MC_KEY_EC_P256] = {"ec-p256", "EC", 0, "P-256"},
    [MC_KEY_EC_P384] = {"ec-p384", "EC", 0, "P-384"},
};

#define KEY_TYPE_COUNT (sizeof(key_types) / sizeof(key_types[0]))

int mc_pki_ssl_err(mc_err *err, int code, const char *fmt, ...)
{
    char msg[MC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    /* "EVP lib", "ASN1 lib": a library passing an error up says nothing */
    size_t n = reason ? strlen(reason) : 0;
    if (n >= 4 && strcmp(reason + n - 4, " lib") == 0)
        reason = NULL;
    if (reason)
        return mc_err_set(err, code, "%s: %s", msg, reason);
    return mc_err_set(err, code, "%s", msg);
}

int mc_pki_key_type_parse(const char *name, mc_key_type *out, mc_err *err)
{
    for (size_t i = 0; i < KEY_TYPE_COUNT; i++) {
        if (strcmp(name, key_types[i].name) == 0) {
            *out = (mc_key_type)i;
            return MC_OK;
        }
    }
    return mc_err_set(err, MC_EINVAL,
                      "unknown key type \"%.64s\" (expected rsa2048, rsa3072, rsa4096, ec-p256 "
                      "or ec-p384)",
                      name);
}

const char *mc_pki_key_type_name(mc_key_type type)
{
    return (size_t)type < KEY_TYPE_COUNT ? key_types[type].name : "unknown";
}

/* Wraps pkey (taking ownership, freeing it on failure) into a new handle. */
static int wrap_pkey(EVP_PKEY *pkey, mc_pki_key **out, mc_err *err)
{
    mc_pki_key *key = malloc(sizeof(*key));
    if (!key) {
        EVP_PKEY_free(pkey);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    key->pkey = pkey;
    *out = key;
    return MC_OK;
}

int mc_pki_secure_heap_init(int *locked, mc_err *err)
{
    if (locked)
        *locked = 0;
#ifdef MC_SANITIZER_BUILD
    return mc_err_set(err, MC_EUNSUPPORTED,
                      "the secure heap is off in sanitizer builds (they cannot see into it)");
#else
    if (CRYPTO_secure_malloc_initialized()) {
        if (locked)
            *locked = 1;
        return MC_OK;
    }
    /* 1: mapped and locked; 2: mapped, mlock refused (RLIMIT_MEMLOCK). */
    int rc = CRYPTO_secure_malloc_init(MC_PKI_SECURE_HEAP_SIZE, 64);
    if (rc == 0)
        return mc_err_set(err, MC_ENOMEM, "OpenSSL could not map a secure heap of %u bytes",
                          MC_PKI_SECURE_HEAP_SIZE);
    if (locked)
        *locked = rc == 1;
    return MC_OK;
#endif
}

size_t mc_pki_secure_heap_used(void)
{
    return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0;
}

int mc_pki_key_generate(mc_key_type type, mc_pki_key **out, mc_err *err)
{
    if ((size_t)type >= KEY_TYPE_COUNT)
        return mc_err_set(err, MC_EINVAL, "unknown key type %d", (int)type);
    EVP_PKEY *pkey;
    if (key_types[type].curve)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", key_types[type].curve);
    else
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)key_types[type].bits);
    if (!pkey)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "generating a %s key", key_types[type].name);
    return wrap_pkey(pkey, out, err);
}

int mc_pki_bio_to_string(BIO *bio, char **out, size_t *len, mc_err *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "encoding produced no output");
    char *s = mc_strndup(data, (size_t)n);
    mc_secure_zero(data, (size_t)n);
    if (!s)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    *out = s;
    if (len)
        *len = (size_t)n;
    return MC_OK;
}

int mc_pki_key_to_pem(const mc_pki_key *key, mc_key_pem_format format, char **pem, size_t *len,
                      mc_err *err)
{
    const char *structure = format == MC_KEY_PEM_TRADITIONAL ? "type-specific" : "PrivateKeyInfo";
    OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(key->pkey, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                                          "PEM", structure, NULL);
    BIO *bio = BIO_new(BIO_s_secmem());
    int rc = MC_OK;
    if (!ctx || !bio || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "no PEM encoder for this key");
        goto out;
    }
    if (!OSSL_ENCODER_to_bio(ctx, bio)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "encoding the private key");
        goto out;
    }
    rc = mc_pki_bio_to_string(bio, pem, len, err);
out:
    BIO_free(bio);
    OSSL_ENCODER_CTX_free(ctx);
    return rc;
}

void mc_pki_describe_pkey(const EVP_PKEY *pkey, char *out, size_t out_size)
{
    if (!pkey) { /* a certificate whose public key does not decode */
        snprintf(out, out_size, "undecodable public key");
        return;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        snprintf(out, out_size, "RSA %d", EVP_PKEY_get_bits(pkey));
        return;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char curve[64] = "";
        size_t n = 0;
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &n);
        const char *pretty = strcmp(curve, "prime256v1") == 0  ? "P-256"
                             : strcmp(curve, "secp384r1") == 0 ? "P-384"
                                                               : curve;
        snprintf(out, out_size, "EC %s", pretty[0] ? pretty : "(unknown curve)");
        return;
    }
    const char *type = EVP_PKEY_get0_type_name(pkey);
    snprintf(out, out_size, "%s", type ? type : "unknown key type");
}

int mc_pki_check_key_policy(const EVP_PKEY *pkey, const char *what, mc_err *err)
{
    char desc[64];
    mc_pki_describe_pkey(pkey, desc, sizeof(desc));
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048)
            return mc_err_set(err, MC_EUNSUPPORTED,
                              "%s: RSA key of %d bits is too small (minimum 2048)", what, bits);
        if (bits > 8192)
            return mc_err_set(err, MC_EUNSUPPORTED,
                              "%s: RSA key of %d bits is too large (maximum 8192)", what, bits);
        return MC_OK;
    }
    if (strcmp(desc, "EC P-256") == 0 || strcmp(desc, "EC P-384") == 0)
        return MC_OK;
    return mc_err_set(err, MC_EUNSUPPORTED,
                      "%s: unsupported key type %s (expected RSA 2048-8192, EC P-256 or EC P-384)",
                      what, desc);
}

int mc_pki_key_from_pem(const char *pem, size_t len, const char *what, mc_pki_key **out,
                        mc_err *err)
{
    if (len > MC_PKI_KEY_PEM_MAX)
        return mc_err_set(err, MC_ELIMIT, "%s: private key larger than %d bytes", what,
                          MC_PKI_KEY_PEM_MAX);
    if (!mc_mem_find(pem, len, "PRIVATE KEY-----"))
        return mc_err_set(err, MC_EINVAL, "%s: no PEM private key found", what);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return mc_pki_ssl_err(err, MC_ENOMEM, "%s", what);
    /* An empty passphrase callback: encrypted keys fail instead of prompting. */
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!pkey)
        return mc_pki_ssl_err(err, MC_EINVAL,
                              "%s: not a readable private key (PKCS#8, PKCS#1 or SEC1 PEM, "
                              "unencrypted)",
                              what);
    int rc = mc_pki_check_key_policy(pkey, what, err);
    if (rc) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    return wrap_pkey(pkey, out, err);
}

int mc_pki_key_share(const mc_pki_key *key, mc_pki_key **out, mc_err *err)
{
    if (!EVP_PKEY_up_ref(key->pkey))
        return mc_pki_ssl_err(err, MC_ENOMEM, "sharing a key");
    return wrap_pkey(key->pkey, out, err);
}

int mc_pki_key_is_type(const mc_pki_key *key, mc_key_type type)
{
    if ((size_t)type >= KEY_TYPE_COUNT || !EVP_PKEY_is_a(key->pkey, key_types[type].algorithm))
        return 0;
    if (!key_types[type].curve)
        return EVP_PKEY_get_bits(key->pkey) == (int)key_types[type].bits;
    char group[64] = "";
    size_t n = 0;
    if (!EVP_PKEY_get_group_name(key->pkey, group, sizeof(group), &n)) {
        ERR_clear_error();
        return 0;
    }
    int nid = OBJ_sn2nid(group);
    return nid != NID_undef && nid == EC_curve_nist2nid(key_types[type].curve);
}

void mc_pki_key_describe(const mc_pki_key *key, char *out, size_t out_size)
{
    mc_pki_describe_pkey(key->pkey, out, out_size);
}

void mc_pki_key_free(mc_pki_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material on free */
    free(key);
}
