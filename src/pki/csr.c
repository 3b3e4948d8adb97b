/* csr.c - PKCS#10 CSR creation, strict parsing and request checks (see csr.h).
 *
 * A CSR arriving at the issuer is untrusted input from another cluster: it is
 * bounded in size, must be exactly one CSR (no trailing bytes), carry an
 * acceptable key, and verify under its own key before anything reads it.
 */
#include "pki/csr.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pki/internal.h"
#include "util/host.h"
#include "util/str.h"

/* Wraps req into a new handle; on failure req stays the caller's. */
static int wrap_req(X509_REQ *req, mc_pki_csr **out, mc_err *err)
{
    mc_pki_csr *csr = malloc(sizeof(*csr));
    if (!csr)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    csr->req = req;
    *out = csr;
    return MC_OK;
}

static int add_general_name(GENERAL_NAMES *names, int type, const unsigned char *data, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *value = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (!gn || !value || !ASN1_STRING_set(value, data, (int)len)) {
        GENERAL_NAME_free(gn);
        ASN1_STRING_free(value);
        return 0;
    }
    GENERAL_NAME_set0_value(gn, type, value);
    if (!sk_GENERAL_NAME_push(names, gn)) {
        GENERAL_NAME_free(gn);
        return 0;
    }
    return 1;
}

int mc_pki_sans_from_hosts(const char *const *hosts, size_t host_count, GENERAL_NAMES **out,
                           mc_err *err)
{
    if (host_count == 0)
        return mc_err_set(err, MC_EINVAL, "at least one host is required");
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    if (!names)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    for (size_t i = 0; i < host_count; i++) {
        mc_host host;
        int rc = mc_host_classify(hosts[i], &host, err);
        if (rc) {
            GENERAL_NAMES_free(names);
            return rc;
        }
        int ok;
        if (host.kind == MC_HOST_IP)
            ok = add_general_name(names, GEN_IPADD, host.ip, host.ip_len);
        else
            ok = add_general_name(names, host.kind == MC_HOST_URI ? GEN_URI : GEN_DNS,
                                  (const unsigned char *)hosts[i], strlen(hosts[i]));
        if (!ok) {
            GENERAL_NAMES_free(names);
            return mc_err_set(err, MC_ENOMEM, "out of memory");
        }
    }
    *out = names;
    return MC_OK;
}

int mc_pki_csr_create(const mc_pki_key *key, const char *org, const char *const *hosts,
                      size_t host_count, mc_pki_csr **out, mc_err *err)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    GENERAL_NAMES *sans = NULL;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    int rc = MC_OK;
    if (!req || !name || !exts) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = mc_pki_sans_from_hosts(hosts, host_count, &sans, err)))
        goto out;
    if (org && org[0] &&
        !X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                    (const unsigned char *)org, -1, -1, 0)) {
        rc = mc_pki_ssl_err(err, MC_EINVAL, "org \"%.64s\"", org);
        goto out;
    }
    X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
    if (!ext || !sk_X509_EXTENSION_push(exts, ext)) {
        X509_EXTENSION_free(ext);
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "encoding subjectAltNames");
        goto out;
    }
    if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key->pkey) || !X509_REQ_add_extensions(req, exts)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "building the CSR");
        goto out;
    }
    if (!X509_REQ_sign(req, key->pkey, mc_pki_digest_for(key->pkey))) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "signing the CSR");
        goto out;
    }
    if ((rc = wrap_req(req, out, err)) == MC_OK)
        req = NULL;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(sans);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

static X509_REQ *parse_der(const unsigned char *data, size_t len, const char *what, mc_err *err)
{
    const unsigned char *p = data;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    if (!req) {
        mc_pki_ssl_err(err, MC_EINVAL, "%s: not a PKCS#10 certificate signing request", what);
        return NULL;
    }
    if (p != data + len) {
        X509_REQ_free(req);
        mc_err_set(err, MC_EINVAL, "%s: %zu unexpected bytes after the CSR", what,
                   (size_t)(data + len - p));
        return NULL;
    }
    return req;
}

/* True when the n bytes at p are only whitespace. */
static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

static X509_REQ *parse_pem(const char *data, size_t len, const char *what, mc_err *err)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
    if (!req) {
        BIO_free(bio);
        mc_pki_ssl_err(err, MC_EINVAL, "%s: not a valid PEM certificate signing request", what);
        return NULL;
    }
    /* One request per input: a second block (or anything but whitespace)
     * after the first is refused, as trailing bytes after DER are. */
    char *rest = NULL;
    long rest_len = BIO_get_mem_data(bio, &rest);
    if (rest_len > 0 && !only_space(rest, (size_t)rest_len)) {
        X509_REQ_free(req);
        req = NULL;
        mc_err_set(err, MC_EINVAL, "%s: unexpected data after the CSR (one CSR per input)", what);
    }
    BIO_free(bio);
    return req;
}

int mc_pki_csr_parse(const void *data, size_t len, const char *what, mc_pki_csr **out, mc_err *err)
{
    if (len > MC_PKI_CSR_MAX)
        return mc_err_set(err, MC_ELIMIT, "%s: CSR of %zu bytes exceeds the %d-byte limit", what,
                          len, MC_PKI_CSR_MAX);
    if (len == 0)
        return mc_err_set(err, MC_EINVAL, "%s: empty CSR", what);
    X509_REQ *req;
    if (mc_mem_find(data, len, "-----BEGIN"))
        req = parse_pem(data, len, what, err);
    else
        req = parse_der(data, len, what, err);
    if (!req)
        return err ? err->code : MC_EINVAL;
    int rc = MC_OK;
    EVP_PKEY *pkey = X509_REQ_get0_pubkey(req);
    if (!pkey) {
        rc = mc_pki_ssl_err(err, MC_EINVAL, "%s: CSR public key cannot be decoded", what);
        goto out;
    }
    if ((rc = mc_pki_check_key_policy(pkey, what, err)))
        goto out;
    /* Before the signature is verified, so that the refusal names the
     * algorithm: a CSR self-signed with MD5 or SHA-1 proves little. */
    const X509_ALGOR *sig_alg = NULL;
    X509_REQ_get0_signature(req, NULL, &sig_alg);
    char label[300];
    snprintf(label, sizeof(label), "%.280s: the CSR", what);
    if ((rc = mc_pki_check_signature_policy(sig_alg, label, err)))
        goto out;
    if (X509_REQ_verify(req, pkey) != 1) {
        rc = mc_pki_ssl_err(err, MC_EVERIFY, "%s: CSR signature does not verify", what);
        goto out;
    }
    if ((rc = wrap_req(req, out, err)) == MC_OK)
        req = NULL;
out:
    ERR_clear_error();
    X509_REQ_free(req);
    return rc;
}

int mc_pki_csr_to_pem(const mc_pki_csr *csr, char **pem, size_t *len, mc_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = bio && PEM_write_bio_X509_REQ(bio, csr->req)
                 ? mc_pki_bio_to_string(bio, pem, len, err)
                 : mc_pki_ssl_err(err, MC_ECRYPTO, "encoding the CSR as PEM");
    BIO_free(bio);
    return rc;
}

/* True when the requested name equals one of hosts (DNS compared without case). */
static int host_allows(const char *const *hosts, size_t host_count, int type,
                       const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < host_count; i++) {
        mc_host host;
        if (mc_host_classify(hosts[i], &host, NULL))
            continue;
        if (type == GEN_IPADD && host.kind == MC_HOST_IP && host.ip_len == len &&
            memcmp(host.ip, data, len) == 0)
            return 1;
        if (strlen(hosts[i]) != len)
            continue;
        if (type == GEN_URI && host.kind == MC_HOST_URI && memcmp(hosts[i], data, len) == 0)
            return 1;
        if (type == GEN_DNS && host.kind == MC_HOST_DNS &&
            strncasecmp(hosts[i], (const char *)data, len) == 0)
            return 1;
    }
    return 0;
}

static int check_subject(const X509_REQ *req, const char *org, const char *const *hosts,
                         size_t host_count, mc_err *err)
{
    const X509_NAME *name = X509_REQ_get_subject_name(req);
    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
        const ASN1_STRING *value = X509_NAME_ENTRY_get_data(entry);
        const char *text = (const char *)ASN1_STRING_get0_data(value);
        int len = ASN1_STRING_length(value);
        if (nid == NID_organizationName) {
            if (!org || strlen(org) != (size_t)len || memcmp(org, text, (size_t)len) != 0)
                return mc_err_set(err, MC_EVERIFY, "CSR asks for O=%.*s but only O=%s is allowed",
                                  len > 128 ? 128 : len, text, org && org[0] ? org : "(none)");
            continue;
        }
        if (nid == NID_commonName &&
            host_allows(hosts, host_count, GEN_DNS, (const unsigned char *)text, (size_t)len))
            continue;
        if (nid == NID_commonName &&
            host_allows(hosts, host_count, GEN_URI, (const unsigned char *)text, (size_t)len))
            continue;
        const char *sn = nid == NID_undef ? "unknown attribute" : OBJ_nid2sn(nid);
        return mc_err_set(err, MC_EVERIFY,
                          "CSR subject asks for %s=%.*s, which is not among the allowed org "
                          "and hosts",
                          sn, len > 128 ? 128 : len, text);
    }
    return MC_OK;
}

static int check_sans(const X509_REQ *req, const char *const *hosts, size_t host_count, mc_err *err)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions((X509_REQ *)req);
    int rc = MC_OK;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts) && rc == MC_OK; i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name)
            continue;
        GENERAL_NAMES *names = X509V3_EXT_d2i(ext);
        if (!names) {
            rc = mc_err_set(err, MC_EINVAL, "CSR subjectAltName extension is malformed");
            break;
        }
        for (int j = 0; j < sk_GENERAL_NAME_num(names) && rc == MC_OK; j++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
            int type = 0;
            const void *value = GENERAL_NAME_get0_value(gn, &type);
            if ((type == GEN_DNS || type == GEN_URI || type == GEN_IPADD) &&
                host_allows(hosts, host_count, type, ASN1_STRING_get0_data(value),
                            (size_t)ASN1_STRING_length(value)))
                continue;
            mc_buf shown;
            mc_buf_init(&shown, 512);
            mc_pki_append_general_name(&shown, gn);
            rc = mc_err_set(err, MC_EVERIFY,
                            "CSR asks for subjectAltName %s, which is not among the allowed "
                            "hosts",
                            shown.data ? shown.data : "?");
            mc_buf_free(&shown);
        }
        GENERAL_NAMES_free(names);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

int mc_pki_csr_check_request(const mc_pki_csr *csr, const char *org, const char *const *hosts,
                             size_t host_count, mc_err *err)
{
    int rc = check_subject(csr->req, org, hosts, host_count, err);
    if (rc == MC_OK)
        rc = check_sans(csr->req, hosts, host_count, err);
    return rc;
}

int mc_pki_csr_check_exact(const mc_pki_csr *csr, const char *org, const char *const *hosts,
                           size_t host_count, mc_err *err)
{
    int rc = mc_pki_csr_check_request(csr, org, hosts, host_count, err);
    if (rc != MC_OK)
        return rc;
    if (org && org[0] &&
        X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(csr->req), NID_organizationName,
                                   -1) < 0)
        return mc_err_set(err, MC_EVERIFY, "CSR does not ask for O=%.100s", org);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr->req);
    GENERAL_NAMES *names = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    for (size_t i = 0; i < host_count && rc == MC_OK; i++)
        if (!mc_pki_names_have_host(names, hosts[i]))
            rc = mc_err_set(err, MC_EVERIFY, "CSR does not ask for host %.200s", hosts[i]);
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return rc;
}

void mc_pki_csr_describe_key(const mc_pki_csr *csr, char *out, size_t out_size)
{
    mc_pki_describe_pkey(X509_REQ_get0_pubkey(csr->req), out, out_size);
}

int mc_pki_csr_org(const mc_pki_csr *csr, char *out, size_t out_size, mc_err *err)
{
    const X509_NAME *name = X509_REQ_get_subject_name(csr->req);
    int idx = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
    out[0] = '\0';
    if (idx < 0)
        return MC_OK;
    if (X509_NAME_get_index_by_NID(name, NID_organizationName, idx) >= 0)
        return mc_err_set(err, MC_EINVAL, "CSR subject has more than one O= attribute");
    const ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    snprintf(out, out_size, "%.*s", ASN1_STRING_length(value),
             (const char *)ASN1_STRING_get0_data(value));
    return MC_OK;
}

int mc_pki_csr_matches_key(const mc_pki_csr *csr, const mc_pki_key *key, mc_err *err)
{
    EVP_PKEY *pub = X509_REQ_get0_pubkey(csr->req);
    if (pub && EVP_PKEY_eq(pub, key->pkey) == 1)
        return MC_OK;
    ERR_clear_error();
    return mc_err_set(err, MC_EVERIFY, "private key does not match the CSR's public key");
}

void mc_pki_csr_free(mc_pki_csr *csr)
{
    if (!csr)
        return;
    X509_REQ_free(csr->req);
    free(csr);
}
