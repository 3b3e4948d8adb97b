/* cert.c - X.509 certificate handles: PEM I/O, inspection, the extension
 * and validity helpers issue.c and root.c build with (see cert.h). Extensions are built as ASN.1 objects directly rather than
 * through the X509V3 config-string parser: it is faster and there is no
 * string syntax to get wrong.
 */
#include "pki/cert.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pki/internal.h"
#include "util/host.h"
#include "util/str.h"

#define MAX_CHAIN_CERTS      64

mc_pki_cert *mc_pki_cert_wrap(X509 *x509)
{
    mc_pki_cert *cert = malloc(sizeof(*cert));
    if (!cert)
        return NULL;
    cert->x509 = x509;
    cert->pubkey_pending = 0;
    return cert;
}

X509 *mc_pki_cert_x509(const mc_pki_cert *cert)
{
    mc_pki_cert *mutable_cert = (mc_pki_cert *)cert;
    if (!cert->pubkey_pending)
        return cert->x509;
    unsigned char *der = NULL;
    int len = i2d_X509(cert->x509, &der);
    const unsigned char *p = der;
    X509 *decoded = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    if (!decoded)
        return NULL;
    X509_free(mutable_cert->x509);
    mutable_cert->x509 = decoded;
    mutable_cert->pubkey_pending = 0;
    return decoded;
}

mc_pki_cert *mc_pki_cert_ref(mc_pki_cert *cert)
{
    if (!X509_up_ref(cert->x509))
        return NULL;
    mc_pki_cert *copy = mc_pki_cert_wrap(cert->x509);
    if (!copy)
        X509_free(cert->x509);
    else
        copy->pubkey_pending = cert->pubkey_pending;
    return copy;
}

void mc_pki_cert_free(mc_pki_cert *cert)
{
    if (!cert)
        return;
    X509_free(cert->x509);
    free(cert);
}

void mc_pki_cert_list_free(mc_pki_cert **certs, size_t count)
{
    if (!certs)
        return;
    for (size_t i = 0; i < count; i++)
        mc_pki_cert_free(certs[i]);
    free(certs);
}

int mc_pki_cert_list_from_pem(const char *pem, size_t len, const char *what,
                              mc_pki_cert ***certs_out, size_t *count_out, mc_err *err)
{
    if (len > MC_PKI_PEM_MAX)
        return mc_err_set(err, MC_ELIMIT, "%s: larger than %d bytes", what, MC_PKI_PEM_MAX);
    if (!mc_mem_find(pem, len, "-----BEGIN CERTIFICATE-----"))
        return mc_err_set(err, MC_EINVAL, "%s: no PEM certificate found", what);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    mc_pki_cert **certs = calloc(MAX_CHAIN_CERTS, sizeof(*certs));
    size_t count = 0;
    int rc = MC_OK;
    if (!bio || !certs) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        X509 *x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x509) {
            unsigned long e = ERR_peek_last_error();
            if (count > 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            rc = mc_pki_ssl_err(err, MC_EINVAL, "%s: certificate %zu is not valid PEM/DER", what,
                                count + 1);
            goto out;
        }
        if (count == MAX_CHAIN_CERTS) {
            X509_free(x509);
            rc = mc_err_set(err, MC_ELIMIT, "%s: more than %d certificates", what, MAX_CHAIN_CERTS);
            goto out;
        }
        certs[count] = mc_pki_cert_wrap(x509);
        if (!certs[count]) {
            X509_free(x509);
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
        count++;
    }
out:
    BIO_free(bio);
    if (rc) {
        mc_pki_cert_list_free(certs, count);
        return rc;
    }
    *certs_out = certs;
    *count_out = count;
    return MC_OK;
}

int mc_pki_cert_from_pem(const char *pem, size_t len, const char *what, mc_pki_cert **out,
                         mc_err *err)
{
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    int rc = mc_pki_cert_list_from_pem(pem, len, what, &certs, &count, err);
    if (rc)
        return rc;
    *out = certs[0];
    certs[0] = NULL;
    mc_pki_cert_list_free(certs, count);
    return MC_OK;
}

int mc_pki_cert_to_pem(const mc_pki_cert *cert, char **pem, size_t *len, mc_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = bio && PEM_write_bio_X509(bio, cert->x509)
                 ? mc_pki_bio_to_string(bio, pem, len, err)
                 : mc_pki_ssl_err(err, MC_ECRYPTO, "encoding a certificate as PEM");
    BIO_free(bio);
    return rc;
}

static void name_oneline(const X509_NAME *name, char *out, size_t out_size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    out[0] = '\0';
    if (!bio)
        return;
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0)
        snprintf(out, out_size, "%.*s", (int)n, data);
    if (!out[0])
        snprintf(out, out_size, "(empty subject)");
    BIO_free(bio);
}

void mc_pki_cert_subject(const mc_pki_cert *cert, char *out, size_t out_size)
{
    name_oneline(X509_get_subject_name(cert->x509), out, out_size);
}

/* Converts an ASN1_TIME to Unix time. */
static int asn1_to_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return MC_EINVAL;
    *out = timegm(&tm);
    return MC_OK;
}

int mc_pki_cert_validity(const mc_pki_cert *cert, time_t *not_before, time_t *not_after)
{
    if (asn1_to_time(X509_get0_notBefore(cert->x509), not_before) ||
        asn1_to_time(X509_get0_notAfter(cert->x509), not_after))
        return MC_EINVAL;
    return MC_OK;
}

int mc_pki_cert_is_ca(const mc_pki_cert *cert)
{
    return X509_check_ca(cert->x509) >= 1 &&
           (X509_get_extension_flags(cert->x509) & EXFLAG_CA) != 0;
}

int mc_pki_cert_is_self_signed(const mc_pki_cert *cert)
{
    return (X509_get_extension_flags(cert->x509) & EXFLAG_SS) != 0;
}

int mc_pki_cert_check_signature(const mc_pki_cert *cert, const char *what, mc_err *err)
{
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(NULL, &alg, cert->x509);
    return mc_pki_check_signature_policy(alg, what, err);
}

int mc_pki_cert_allows_server_auth(const mc_pki_cert *cert)
{
    uint32_t flags = X509_get_extension_flags(cert->x509);
    if (!(flags & EXFLAG_XKUSAGE))
        return 1;
    return (X509_get_extended_key_usage(cert->x509) & (XKU_SSL_SERVER | XKU_ANYEKU)) != 0;
}

void mc_pki_format_time(time_t t, char *out, size_t out_size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int mc_pki_append_general_name(mc_buf *out, const GENERAL_NAME *gn)
{
    int type = 0;
    const void *value = GENERAL_NAME_get0_value(gn, &type);
    if (type != GEN_DNS && type != GEN_URI && type != GEN_EMAIL && type != GEN_IPADD)
        return mc_buf_appendf(out, "other(type %d)", type);
    /* For these four types the value is an ASN1_STRING. */
    const unsigned char *d = ASN1_STRING_get0_data(value);
    int n = ASN1_STRING_length(value);
    switch (type) {
    case GEN_DNS: return mc_buf_appendf(out, "DNS:%.*s", n > 256 ? 256 : n, (const char *)d);
    case GEN_URI: return mc_buf_appendf(out, "URI:%.*s", n > 256 ? 256 : n, (const char *)d);
    case GEN_EMAIL: return mc_buf_appendf(out, "email:%.*s", n > 256 ? 256 : n, (const char *)d);
    case GEN_IPADD: {
        char text[64] = "?";
        if (n == 4)
            snprintf(text, sizeof(text), "%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
        else if (n == 16) {
            char *s = text;
            for (int i = 0; i < 16; i += 2)
                s += snprintf(s, (size_t)(text + sizeof(text) - s), "%s%x", i ? ":" : "",
                              (unsigned)(d[i] << 8 | d[i + 1]));
        }
        return mc_buf_appendf(out, "IP:%s", text);
    }
    default: return mc_buf_appendf(out, "other(%d)", type);
    }
}

int mc_pki_cert_sans(const mc_pki_cert *cert, mc_buf *out)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert->x509, NID_subject_alt_name, NULL, NULL);
    int count = names ? sk_GENERAL_NAME_num(names) : 0;
    int rc = MC_OK;
    if (count == 0)
        rc = mc_buf_append_str(out, "(none)");
    for (int i = 0; i < count && rc == MC_OK; i++) {
        if (i)
            rc = mc_buf_append_str(out, ", ");
        if (rc == MC_OK)
            rc = mc_pki_append_general_name(out, sk_GENERAL_NAME_value(names, i));
    }
    GENERAL_NAMES_free(names);
    return rc;
}

/* One subtree list of a nameConstraints extension; IP bases are
 * address/prefix-length. */
static int append_subtrees(mc_buf *out, const STACK_OF(GENERAL_SUBTREE) * subtrees)
{
    int rc = MC_OK;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees) && rc == MC_OK; i++) {
        const GENERAL_NAME *base = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
        if (i)
            rc = mc_buf_append_str(out, ", ");
        int type = 0;
        const ASN1_STRING *value = GENERAL_NAME_get0_value(base, &type);
        int n = type == GEN_IPADD ? ASN1_STRING_length(value) : 0;
        if (rc == MC_OK && (n == 8 || n == 32)) {
            const unsigned char *d = ASN1_STRING_get0_data(value);
            int bits = 0;
            for (int j = n / 2; j < n; j++)
                for (int bit = 7; bit >= 0; bit--)
                    bits += (d[j] >> bit) & 1;
            char address[64] = "";
            if (n == 8)
                snprintf(address, sizeof(address), "%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
            else
                for (int j = 0; j < 16; j += 2)
                    snprintf(address + strlen(address), sizeof(address) - strlen(address), "%s%x",
                             j ? ":" : "", (unsigned)(d[j] << 8 | d[j + 1]));
            rc = mc_buf_appendf(out, "IP:%s/%d", address, bits);
        } else if (rc == MC_OK) {
            rc = mc_pki_append_general_name(out, base);
        }
    }
    return rc;
}

int mc_pki_cert_name_constraints(const mc_pki_cert *cert, mc_buf *out)
{
    int critical = -1;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(cert->x509, NID_name_constraints, &critical, NULL);
    if (!nc)
        return 0;
    int rc = mc_buf_append_str(out, "permitted: ");
    if (rc == MC_OK)
        rc = append_subtrees(out, nc->permittedSubtrees);
    if (rc == MC_OK)
        rc = mc_buf_append_str(out, "; excluded: ");
    if (rc == MC_OK)
        rc = append_subtrees(out, nc->excludedSubtrees);
    NAME_CONSTRAINTS_free(nc);
    return rc != MC_OK ? rc : critical == 1 ? 1 : 2;
}

int mc_pki_cert_describe(const mc_pki_cert *cert, mc_buf *out)
{
    char subject[512], issuer[512], key[64], nb[32], na[32];
    mc_pki_cert_subject(cert, subject, sizeof(subject));
    name_oneline(X509_get_issuer_name(cert->x509), issuer, sizeof(issuer));
    X509 *usable = mc_pki_cert_x509(cert);
    mc_pki_describe_pkey(usable ? X509_get0_pubkey(usable) : NULL, key, sizeof(key));
    time_t not_before = 0, not_after = 0;
    mc_pki_cert_validity(cert, &not_before, &not_after);
    mc_pki_format_time(not_before, nb, sizeof(nb));
    mc_pki_format_time(not_after, na, sizeof(na));
    char *serial_hex = NULL;
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->x509), NULL);
    if (serial)
        serial_hex = BN_bn2hex(serial);
    BN_free(serial);
    long pathlen = X509_get_pathlen(cert->x509);
    int rc = mc_buf_appendf(out,
                            "  subject:    %s\n  issuer:     %s\n  serial:     %s\n"
                            "  not before: %s\n  not after:  %s\n  key:        %s\n"
                            "  CA:         %s",
                            subject, issuer, serial_hex ? serial_hex : "?", nb, na, key,
                            mc_pki_cert_is_ca(cert) ? "true" : "false");
    OPENSSL_free(serial_hex);
    if (rc == MC_OK && mc_pki_cert_is_ca(cert) && pathlen >= 0)
        rc = mc_buf_appendf(out, ", pathlen %ld", pathlen);
    if (rc == MC_OK)
        rc = mc_buf_append_str(out, "\n  SANs:       ");
    if (rc == MC_OK)
        rc = mc_pki_cert_sans(cert, out);
    if (rc == MC_OK)
        rc = mc_buf_append_str(out, "\n");
    return rc;
}

int mc_pki_set_random_serial(X509 *x509, mc_err *err)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "generating a serial number");
    bytes[0] |= 0x01; /* never zero; BN_bin2bn keeps it positive */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial && X509_set_serialNumber(x509, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "setting the serial number");
}

int mc_pki_add_ski(X509 *x509, const EVP_MD *sha1, mc_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    /* RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bit string. */
    if (!X509_pubkey_digest(x509, sha1 ? sha1 : EVP_sha1(), md, &md_len))
        return mc_pki_ssl_err(err, MC_ECRYPTO, "hashing the public key");
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    int ok = ski && ASN1_OCTET_STRING_set(ski, md, (int)md_len) &&
             X509_add1_ext_i2d(x509, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT);
    ASN1_OCTET_STRING_free(ski);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "adding the subject key identifier");
}

const EVP_MD *mc_pki_digest_for(const EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC") && EVP_PKEY_get_bits(pkey) > 256)
        return EVP_sha384();
    return EVP_sha256();
}

/* The digest NID a signature algorithm hashes with; RSASSA-PSS carries it in
 * its parameters, SHA-1 when they leave it out (RFC 4055 section 3.1).
 * NID_undef when it cannot be told. */
static int signature_digest_nid(const X509_ALGOR *alg, int sig_nid)
{
    if (sig_nid != NID_rsassaPss) {
        int md_nid = NID_undef, pkey_nid = NID_undef;
        return OBJ_find_sigid_algs(sig_nid, &md_nid, &pkey_nid) ? md_nid : NID_undef;
    }
    const ASN1_OBJECT *obj = NULL;
    int param_type = V_ASN1_UNDEF;
    const void *param = NULL;
    X509_ALGOR_get0(&obj, &param_type, &param, alg);
    if (param_type != V_ASN1_SEQUENCE)
        return NID_sha1;
    const unsigned char *der = ASN1_STRING_get0_data(param);
    RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS(NULL, &der, ASN1_STRING_length(param));
    if (!pss)
        return NID_undef;
    int md_nid = pss->hashAlgorithm ? OBJ_obj2nid(pss->hashAlgorithm->algorithm) : NID_sha1;
    RSA_PSS_PARAMS_free(pss);
    return md_nid;
}

int mc_pki_check_signature_policy(const X509_ALGOR *alg, const char *what, mc_err *err)
{
    static const int accepted[] = {NID_sha224,     NID_sha256,     NID_sha384,   NID_sha512,
                                   NID_sha512_224, NID_sha512_256, NID_sha3_224, NID_sha3_256,
                                   NID_sha3_384,   NID_sha3_512};
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    int sig_nid = OBJ_obj2nid(obj);
    int md_nid = signature_digest_nid(alg, sig_nid);
    ERR_clear_error();
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        if (md_nid == accepted[i])
            return MC_OK;
    char sig_name[80];
    if (sig_nid != NID_undef)
        snprintf(sig_name, sizeof(sig_name), "%s", OBJ_nid2ln(sig_nid));
    else
        OBJ_obj2txt(sig_name, sizeof(sig_name), obj, 1);
    if (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_md4 || md_nid == NID_md2)
        return mc_err_set(err, MC_EUNSUPPORTED,
                          "%s is signed with %s (%s), a broken digest; refused (sign it with "
                          "SHA-256 or stronger)",
                          what, md_nid == NID_sha1 ? "SHA-1" : OBJ_nid2sn(md_nid), sig_name);
    return mc_err_set(err, MC_EUNSUPPORTED,
                      "%s is signed with %s, which is not accepted (SHA-2 or SHA-3 digests "
                      "only)",
                      what, sig_name);
}

int mc_pki_set_validity(X509 *x509, time_t not_before, time_t not_after, mc_err *err)
{
    if (!ASN1_TIME_set(X509_getm_notBefore(x509), not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x509), not_after))
        return mc_pki_ssl_err(err, MC_ECRYPTO, "setting the validity window");
    return MC_OK;
}

int mc_pki_add_ca_extensions(X509 *x509, long path_len, int digital_signature, mc_err *err)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *usage = ASN1_BIT_STRING_new();
    int ok = bc && usage;
    if (ok) {
        bc->ca = 0xFF; /* DER TRUE; OpenSSL writes the int as the content byte */
        if (path_len >= 0) {
            bc->pathlen = ASN1_INTEGER_new();
            ok = bc->pathlen && ASN1_INTEGER_set(bc->pathlen, path_len);
        }
    }
    /* keyUsage bits: 0 digitalSignature, 5 keyCertSign, 6 cRLSign. */
    ok = ok && (!digital_signature || ASN1_BIT_STRING_set_bit(usage, 0, 1)) &&
         ASN1_BIT_STRING_set_bit(usage, 5, 1) && ASN1_BIT_STRING_set_bit(usage, 6, 1);
    ok = ok && X509_add1_ext_i2d(x509, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) &&
         X509_add1_ext_i2d(x509, NID_key_usage, usage, 1, X509V3_ADD_DEFAULT);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(usage);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "adding CA extensions");
}

int mc_pki_cert_sha256(const mc_pki_cert *cert, unsigned char out[32], mc_err *err)
{
    unsigned int n = 0;
    if (!X509_digest(cert->x509, EVP_sha256(), out, &n) || n != 32)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "hashing a certificate");
    return MC_OK;
}

int mc_pki_cert_fingerprint(const mc_pki_cert *cert, char out[MC_PKI_FINGERPRINT_SIZE], mc_err *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[32];
    int rc = mc_pki_cert_sha256(cert, raw, err);
    if (rc != MC_OK)
        return rc;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[64] = '\0';
    return MC_OK;
}

int mc_pki_sha256(const void *data, size_t len, unsigned char out[32], mc_err *err)
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32)
        return mc_pki_ssl_err(err, MC_ECRYPTO, "hashing");
    return MC_OK;
}

int mc_pki_sha256_parts(const mc_pki_hash_part *parts, size_t count, unsigned char out[32],
                        mc_err *err)
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < count; i++) {
        /* 8 length bytes, big-endian; all ones for an absent part */
        uint64_t len = parts[i].data ? (uint64_t)parts[i].len : UINT64_MAX;
        unsigned char prefix[8];
        for (int b = 0; b < 8; b++)
            prefix[b] = (unsigned char)(len >> (56 - 8 * b));
        ok = EVP_DigestUpdate(ctx, prefix, sizeof(prefix)) &&
             (!parts[i].data || EVP_DigestUpdate(ctx, parts[i].data, parts[i].len));
    }
    ok = ok && EVP_DigestFinal_ex(ctx, out, &n) && n == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "hashing");
}

int mc_pki_names_have_host(const GENERAL_NAMES *names, const char *host)
{
    mc_host kind;
    if (!names || mc_host_classify(host, &kind, NULL))
        return 0;
    size_t host_len = strlen(host);
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        int type = 0;
        const void *value = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, i), &type);
        if (type != GEN_DNS && type != GEN_URI && type != GEN_IPADD)
            continue;
        const unsigned char *d = ASN1_STRING_get0_data(value);
        size_t n = (size_t)ASN1_STRING_length(value);
        if (type == GEN_IPADD && kind.kind == MC_HOST_IP && n == kind.ip_len &&
            memcmp(d, kind.ip, n) == 0)
            return 1;
        if (n != host_len)
            continue;
        if (type == GEN_URI && kind.kind == MC_HOST_URI && memcmp(d, host, n) == 0)
            return 1;
        if (type == GEN_DNS && kind.kind == MC_HOST_DNS &&
            strncasecmp((const char *)d, host, n) == 0)
            return 1;
    }
    return 0;
}

int mc_pki_cert_check_identity(const mc_pki_cert *cert, const char *org, const char *const *hosts,
                               size_t host_count, mc_err *err)
{
    if (org && org[0]) {
        const X509_NAME *name = X509_get_subject_name(cert->x509);
        int idx = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
        const ASN1_STRING *value =
            idx < 0 ? NULL : X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
        if (!value || (size_t)ASN1_STRING_length(value) != strlen(org) ||
            memcmp(ASN1_STRING_get0_data(value), org, strlen(org)) != 0)
            return mc_err_set(
                err, MC_EVERIFY, "certificate subject has O=%.*s, expected O=%.100s",
                value ? (ASN1_STRING_length(value) > 100 ? 100 : ASN1_STRING_length(value)) : 0,
                value ? (const char *)ASN1_STRING_get0_data(value) : "", org);
    }
    GENERAL_NAMES *names = X509_get_ext_d2i(cert->x509, NID_subject_alt_name, NULL, NULL);
    int rc = MC_OK;
    for (size_t i = 0; i < host_count && rc == MC_OK; i++)
        if (!mc_pki_names_have_host(names, hosts[i]))
            rc = mc_err_set(err, MC_EVERIFY, "certificate lacks host %.200s", hosts[i]);
    GENERAL_NAMES_free(names);
    return rc;
}
