/* issue.c - intermediate CA issuance with a reusable root signer (see issue.h).
 *
 * Everything that depends only on the root (issuer name, authority key id,
 * digest, validity window, the key match check) is computed once in
 * mc_pki_signer_new; an issuance then builds one TBSCertificate and signs it.
 */
#include "pki/issue.h"

#include <openssl/err.h>
#include <limits.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "pki/internal.h"
#include "pki/verify.h"

struct mc_pki_signer {
    mc_pki_cert *root;          /* a reference to the root certificate */
    EVP_PKEY *key;              /* a reference to the root private key; NULL with a back end */
    mc_pki_key_backend backend; /* signs when key is NULL (e.g. PKCS#11) */
    EVP_MD *sha1;               /* fetched once: subject key identifiers */
    EVP_MD_CTX *sign_template;  /* DigestSign context set up once, copied per issuance (key) */
    AUTHORITY_KEYID *akid;      /* keyIdentifier = the root's subject key id */
    time_t root_not_before;
    time_t root_not_after;
    char root_subject[256]; /* for error messages */
};

void mc_pki_issue_params_init(mc_pki_issue_params *params)
{
    memset(params, 0, sizeof(*params));
    params->org = "";
    params->ttl_seconds = MC_PKI_DEFAULT_TTL;
    params->path_len = 0;
}

static AUTHORITY_KEYID *authority_key_id(X509 *root, mc_err *err)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    if (!akid) {
        mc_err_set(err, MC_ENOMEM, "out of memory");
        return NULL;
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(root);
    if (ski) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
    } else {
        /* A root made elsewhere without an SKI: use the RFC 5280 method (1) hash. */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        akid->keyid = ASN1_OCTET_STRING_new();
        if (akid->keyid && !(X509_pubkey_digest(root, EVP_sha1(), md, &md_len) &&
                             ASN1_OCTET_STRING_set(akid->keyid, md, (int)md_len))) {
            ASN1_OCTET_STRING_free(akid->keyid);
            akid->keyid = NULL;
        }
    }
    if (!akid->keyid) {
        AUTHORITY_KEYID_free(akid);
        mc_pki_ssl_err(err, MC_ECRYPTO, "computing the authority key identifier");
        return NULL;
    }
    return akid;
}

/* What every signer computes from its root: the subject for messages, the
 * authority key id, the validity window, the SHA-1 for key ids. */
static int signer_alloc(mc_pki_cert *root, mc_pki_signer **out, mc_err *err)
{
    char subject[256];
    mc_pki_cert_subject(root, subject, sizeof(subject));
    if (!mc_pki_cert_is_ca(root))
        return mc_err_set(err, MC_EVERIFY, "root certificate %s is not a CA (basicConstraints)",
                          subject);
    mc_pki_signer *signer = calloc(1, sizeof(*signer));
    if (!signer)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    memcpy(signer->root_subject, subject, sizeof(subject));
    signer->root = mc_pki_cert_ref(root);
    /* OpenSSL 3 fetches algorithms from providers under locks on every
     * implicit use; doing it once here is most of the per-issuance cost. */
    signer->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!signer->root || !signer->sha1) {
        mc_pki_signer_free(signer);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    signer->akid = authority_key_id(root->x509, err);
    if (!signer->akid ||
        mc_pki_cert_validity(root, &signer->root_not_before, &signer->root_not_after)) {
        mc_pki_signer_free(signer);
        return err && err->code ? err->code
                                : mc_err_set(err, MC_EINVAL, "root %s: bad validity", subject);
    }
    *out = signer;
    return MC_OK;
}

int mc_pki_signer_new(mc_pki_cert *root, const mc_pki_key *key, mc_pki_signer **out, mc_err *err)
{
    mc_pki_signer *signer = NULL;
    int rc = signer_alloc(root, &signer, err);
    if (rc)
        return rc;
    if ((rc = mc_pki_cert_matches_key(root, key, err))) {
        mc_pki_signer_free(signer);
        return mc_err_prefix(err, "root CA key does not match the root certificate");
    }
    if (EVP_PKEY_up_ref(key->pkey))
        signer->key = key->pkey;
    signer->sign_template = EVP_MD_CTX_new();
    if (!signer->key || !signer->sign_template ||
        !EVP_DigestSignInit_ex(signer->sign_template, NULL,
                               EVP_MD_get0_name(mc_pki_digest_for(key->pkey)), NULL, NULL,
                               signer->key, NULL)) {
        rc =
            mc_pki_ssl_err(err, MC_ECRYPTO, "preparing to sign with root %s", signer->root_subject);
        mc_pki_signer_free(signer);
        return rc;
    }
    *out = signer;
    return MC_OK;
}

int mc_pki_signer_new_backend(mc_pki_cert *root, const mc_pki_key_backend *backend,
                              mc_pki_signer **out, mc_err *err)
{
    mc_pki_signer *signer = NULL;
    int rc = signer_alloc(root, &signer, err);
    if (rc)
        return rc;
    if ((rc = mc_pki_backend_check(backend, root, err))) {
        mc_pki_signer_free(signer);
        return rc;
    }
    signer->backend = *backend;
    *out = signer;
    return MC_OK;
}

const mc_pki_cert *mc_pki_signer_root(const mc_pki_signer *signer)
{
    return signer->root;
}

void mc_pki_signer_free(mc_pki_signer *signer)
{
    if (!signer)
        return;
    EVP_MD_CTX_free(signer->sign_template);
    EVP_MD_free(signer->sha1);
    AUTHORITY_KEYID_free(signer->akid);
    EVP_PKEY_free(signer->key);
    mc_pki_cert_free(signer->root);
    free(signer);
}

static int check_root_window(const mc_pki_signer *signer, time_t now, mc_err *err)
{
    char when[32];
    if (now > signer->root_not_after) {
        mc_pki_format_time(signer->root_not_after, when, sizeof(when));
        return mc_err_set(err, MC_EEXPIRED, "signing root %s expired at %s", signer->root_subject,
                          when);
    }
    if (now + MC_PKI_BACKDATE_SECONDS < signer->root_not_before) {
        mc_pki_format_time(signer->root_not_before, when, sizeof(when));
        return mc_err_set(err, MC_EEXPIRED, "signing root %s is not valid before %s",
                          signer->root_subject, when);
    }
    return MC_OK;
}

/* Subject O=org (empty only for a TLS leaf), issuer = the root. */
static int set_names(X509 *x509, const mc_pki_signer *signer, const char *org, mc_err *err)
{
    X509_NAME *name = X509_NAME_new();
    int ok = name != NULL;
    if (ok && org && org[0])
        ok = X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                        (const unsigned char *)org, -1, -1, 0);
    ok = ok && X509_set_subject_name(x509, name) &&
         X509_set_issuer_name(x509, X509_get_subject_name(signer->root->x509));
    X509_NAME_free(name);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_EINVAL, "setting subject O=%.64s", org);
}

/* Copies the CSR's SubjectPublicKeyInfo into the certificate as encoded bytes.
 * X509_set_pubkey would re-encode the key through the provider encoders,
 * which costs more than the signature for EC roots. */
static int copy_public_key(X509 *x509, X509_REQ *req, mc_err *err)
{
    ASN1_OBJECT *alg_obj = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0;
    X509_ALGOR *alg = NULL;
    if (!X509_PUBKEY_get0_param(&alg_obj, &bits, &bits_len, &alg, X509_REQ_get_X509_PUBKEY(req)))
        return mc_pki_ssl_err(err, MC_EINVAL, "reading the CSR's public key");
    const ASN1_OBJECT *obj = NULL;
    int param_type = V_ASN1_UNDEF;
    const void *param = NULL;
    X509_ALGOR_get0(&obj, &param_type, &param, alg);
    void *param_copy = NULL;
    if (param_type == V_ASN1_OBJECT)
        param_copy = OBJ_dup(param);
    else if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF)
        return mc_err_set(err, MC_EUNSUPPORTED, "CSR public key has unsupported parameters");
    ASN1_OBJECT *obj_copy = OBJ_dup(obj);
    unsigned char *bits_copy = OPENSSL_memdup(bits, (size_t)bits_len);
    if (!obj_copy || !bits_copy || (param_type == V_ASN1_OBJECT && !param_copy) ||
        !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x509), obj_copy, param_type, param_copy,
                                bits_copy, bits_len)) {
        ASN1_OBJECT_free(obj_copy);
        ASN1_OBJECT_free(param_copy);
        OPENSSL_free(bits_copy);
        return mc_pki_ssl_err(err, MC_ECRYPTO, "setting the public key");
    }
    return MC_OK;
}

/* A TLS leaf: CA:FALSE, keyUsage digitalSignature+keyEncipherment (both
 * critical), extendedKeyUsage serverAuth+clientAuth. */
static int add_leaf_extensions(X509 *x509, mc_err *err)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *usage = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok = bc && usage && eku && ASN1_BIT_STRING_set_bit(usage, 0, 1) &&
             ASN1_BIT_STRING_set_bit(usage, 2, 1) &&
             sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) &&
             sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth));
    if (bc)
        bc->ca = 0;
    ok = ok && X509_add1_ext_i2d(x509, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) &&
         X509_add1_ext_i2d(x509, NID_key_usage, usage, 1, X509V3_ADD_DEFAULT) &&
         X509_add1_ext_i2d(x509, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(usage);
    sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj objects are static */
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "adding TLS leaf extensions");
}

/* Appends one subtree (base name of type with value bytes) to *stack. */
static int add_subtree(STACK_OF(GENERAL_SUBTREE) * *stack, int type, const void *value, size_t len)
{
    GENERAL_SUBTREE *subtree = GENERAL_SUBTREE_new();
    ASN1_STRING *string = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (!*stack)
        *stack = sk_GENERAL_SUBTREE_new_null();
    if (!subtree || !string || !*stack || len > INT_MAX ||
        !ASN1_STRING_set(string, value, (int)len)) {
        GENERAL_SUBTREE_free(subtree);
        ASN1_STRING_free(string);
        return 0;
    }
    GENERAL_NAME_set0_value(subtree->base, type, string);
    if (!sk_GENERAL_SUBTREE_push(*stack, subtree)) {
        GENERAL_SUBTREE_free(subtree);
        return 0;
    }
    return 1;
}

/* The permitted subtrees of one kind, or "invalid" alone when there are none. */
static int add_permitted(NAME_CONSTRAINTS *nc, int type, const char *const *names, size_t count)
{
    static const char nothing[] = "invalid"; /* RFC 6761: never a real name */
    int ok = 1;
    for (size_t i = 0; ok && i < count; i++)
        ok = add_subtree(&nc->permittedSubtrees, type, names[i], strlen(names[i]));
    if (ok && count == 0)
        ok = add_subtree(&nc->permittedSubtrees, type, nothing, strlen(nothing));
    return ok;
}

/* A critical nameConstraints extension (see mc_pki_issue_params). */
static int add_name_constraints(X509 *x509, const mc_pki_issue_params *params, mc_err *err)
{
    /* address + mask, all zero: every IPv4, every IPv6 address */
    static const unsigned char any_v4[8] = {0}, any_v6[32] = {0};
    for (size_t i = 0; i < params->permitted_uri_host_count; i++)
        if (!params->permitted_uri_hosts[i] || !params->permitted_uri_hosts[i][0])
            return mc_err_set(err, MC_EINVAL, "name constraints: an empty URI host");
    for (size_t i = 0; i < params->permitted_dns_count; i++)
        if (!params->permitted_dns[i] || !params->permitted_dns[i][0])
            return mc_err_set(err, MC_EINVAL, "name constraints: an empty DNS name");
    if (params->uri_unconstrained && params->permitted_uri_host_count)
        return mc_err_set(err, MC_EINVAL,
                          "name constraints: URIs cannot be both unconstrained and limited to "
                          "trust domains");
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    int ok = nc &&
             (params->uri_unconstrained || add_permitted(nc, GEN_URI, params->permitted_uri_hosts,
                                                         params->permitted_uri_host_count)) &&
             add_permitted(nc, GEN_DNS, params->permitted_dns, params->permitted_dns_count) &&
             add_subtree(&nc->excludedSubtrees, GEN_IPADD, any_v4, sizeof(any_v4)) &&
             add_subtree(&nc->excludedSubtrees, GEN_IPADD, any_v6, sizeof(any_v6)) &&
             X509_add1_ext_i2d(x509, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT);
    NAME_CONSTRAINTS_free(nc);
    return ok ? MC_OK : mc_pki_ssl_err(err, MC_ECRYPTO, "adding name constraints");
}

/* Signs with a copy of the signer's prepared context, or through its back end. */
static int sign_certificate(const mc_pki_signer *signer, X509 *x509, mc_err *err)
{
    if (!signer->key)
        return mc_pki_x509_sign_backend(x509, &signer->backend, err);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_MD_CTX_copy_ex(ctx, signer->sign_template) && X509_sign_ctx(x509, ctx);
    EVP_MD_CTX_free(ctx);
    return ok ? MC_OK
              : mc_pki_ssl_err(err, MC_ECRYPTO, "signing the certificate with root %s",
                               signer->root_subject);
}

int mc_pki_signer_issue(const mc_pki_signer *signer, const mc_pki_csr *csr,
                        const mc_pki_issue_params *params, mc_pki_cert **out, mc_err *err)
{
    time_t now = params->now ? params->now : time(NULL);
    int64_t ttl = params->ttl_seconds > 0 ? params->ttl_seconds : MC_PKI_DEFAULT_TTL;
    int has_subject = params->org && params->org[0];
    /* RFC 5280 4.1.2.6: a CA's subject MUST be a non-empty distinguished name
     * (path building matches it against its certificates' issuer field). Only a
     * leaf may be identified by its subjectAltNames alone. */
    if (!has_subject && !params->tls_server)
        return mc_err_set(err, MC_EINVAL,
                          "refusing to issue a CA certificate with an empty subject (no org; "
                          "RFC 5280 4.1.2.6 requires a CA's subject): give an org");
    int rc = check_root_window(signer, now, err);
    if (rc)
        return rc;
    GENERAL_NAMES *sans = NULL;
    if ((rc = mc_pki_sans_from_hosts(params->hosts, params->host_count, &sans, err)))
        return rc;
    time_t not_before = now - MC_PKI_BACKDATE_SECONDS;
    if (not_before < signer->root_not_before)
        not_before = signer->root_not_before;
    time_t not_after =
        ttl > signer->root_not_after - now ? signer->root_not_after : now + (time_t)ttl;
    X509 *x509 = X509_new();
    if (!x509) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    if (!X509_set_version(x509, X509_VERSION_3)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "setting the version");
        goto out;
    }
    if ((rc = copy_public_key(x509, csr->req, err)) || (rc = mc_pki_set_random_serial(x509, err)) ||
        (rc = set_names(x509, signer, params->org, err)) ||
        (rc = mc_pki_set_validity(x509, not_before, not_after, err)) ||
        (rc = params->tls_server ? add_leaf_extensions(x509, err)
                                 : mc_pki_add_ca_extensions(x509, params->path_len, 1, err)) ||
        (rc = mc_pki_add_ski(x509, signer->sha1, err)))
        goto out;
    if (params->name_constraints && !params->tls_server &&
        (rc = add_name_constraints(x509, params, err)))
        goto out;
    /* RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty. */
    if (!X509_add1_ext_i2d(x509, NID_authority_key_identifier, signer->akid, 0,
                           X509V3_ADD_DEFAULT) ||
        !X509_add1_ext_i2d(x509, NID_subject_alt_name, sans, !has_subject, X509V3_ADD_DEFAULT)) {
        rc = mc_pki_ssl_err(err, MC_ECRYPTO, "adding key identifier and subjectAltNames");
        goto out;
    }
    if ((rc = sign_certificate(signer, x509, err)))
        goto out;
    *out = mc_pki_cert_wrap(x509);
    if (!*out) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    } else {
        (*out)->pubkey_pending = 1; /* decoded on first use, see mc_pki_cert_x509 */
        x509 = NULL;
    }
out:
    X509_free(x509);
    GENERAL_NAMES_free(sans);
    return rc;
}
