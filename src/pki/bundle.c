/* bundle.c - Istio plug-in CA bundles: building, listing, verifying (see bundle.h). */
#include "pki/bundle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/verify.h"
#include "util/str.h"

int mc_pki_bundle_format_parse(const char *name, mc_bundle_format *out, mc_err *err)
{
    if (strcmp(name, "istio") == 0)
        *out = MC_BUNDLE_ISTIO;
    else if (strcmp(name, "tls") == 0)
        *out = MC_BUNDLE_TLS;
    else
        return mc_err_set(err, MC_EINVAL, "unknown output format \"%.64s\" (expected istio or tls)",
                          name);
    return MC_OK;
}

/* Fills out from the issued certificate, the key, the PEM of the root(s)
 * (stolen) and the root that signed it. */
static int bundle_fill(const mc_pki_cert *issued, const char *key_pem, char *roots_pem,
                       const mc_pki_cert *signer, mc_pki_bundle *out, mc_err *err)
{
    char *signer_pem = NULL;
    memset(out, 0, sizeof(*out));
    out->root_cert = roots_pem;
    int rc = mc_pki_cert_to_pem(issued, &out->ca_cert, NULL, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(signer, &signer_pem, NULL, err);
    if (rc == MC_OK && key_pem && !(out->ca_key = mc_strdup(key_pem)))
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK) {
        mc_buf chain;
        mc_buf_init(&chain, 2 * MC_PKI_PEM_MAX);
        /* Istio's tools write ca-cert.pem followed by root-cert.pem. */
        if (mc_buf_append_str(&chain, out->ca_cert) || mc_buf_append_str(&chain, signer_pem)) {
            mc_buf_free(&chain);
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        } else {
            out->cert_chain = mc_buf_steal(&chain, NULL);
        }
    }
    free(signer_pem);
    if (rc)
        mc_pki_bundle_clear(out);
    return rc;
}

int mc_pki_bundle_build(const mc_pki_cert *issued, const char *key_pem, const mc_pki_cert *root,
                        mc_pki_bundle *out, mc_err *err)
{
    char *root_pem = NULL;
    memset(out, 0, sizeof(*out));
    int rc = mc_pki_cert_to_pem(root, &root_pem, NULL, err);
    if (rc)
        return rc;
    return bundle_fill(issued, key_pem, root_pem, root, out, err);
}

int mc_pki_bundle_build_trust(const mc_pki_cert *issued, const char *key_pem,
                              mc_pki_cert *const *roots, size_t root_count, mc_pki_bundle *out,
                              mc_err *err)
{
    const mc_pki_cert *signer = NULL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < root_count && !signer; i++)
        if (mc_pki_cert_signed_by(issued, roots[i]))
            signer = roots[i];
    if (!signer)
        return mc_err_set(err, MC_EVERIFY, "the certificate was signed by none of the %zu root(s)",
                          root_count);
    mc_buf all;
    mc_buf_init(&all, MC_PKI_PEM_MAX);
    for (size_t i = 0; i < root_count; i++) {
        char *pem = NULL;
        int rc = mc_pki_cert_to_pem(roots[i], &pem, NULL, err);
        if (rc == MC_OK && mc_buf_append_str(&all, pem))
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        free(pem);
        if (rc) {
            mc_buf_free(&all);
            return rc;
        }
    }
    return bundle_fill(issued, key_pem, mc_buf_steal(&all, NULL), signer, out, err);
}

size_t mc_pki_bundle_entries(const mc_pki_bundle *bundle, mc_bundle_format format,
                             mc_pki_bundle_entry entries[4])
{
    size_t n = 0;
#define ADD(NAME, FIELD, SECRET)                                                                   \
    do {                                                                                           \
        if (bundle->FIELD)                                                                         \
            entries[n++] =                                                                         \
                (mc_pki_bundle_entry){NAME, bundle->FIELD, strlen(bundle->FIELD), SECRET};         \
    } while (0)
    if (format == MC_BUNDLE_TLS) {
        ADD("tls.crt", ca_cert, 0);
        ADD("tls.key", ca_key, 1);
        ADD("ca.crt", root_cert, 0);
    } else {
        ADD("ca-cert.pem", ca_cert, 0);
        ADD("ca-key.pem", ca_key, 1);
        ADD("cert-chain.pem", cert_chain, 0);
        ADD("root-cert.pem", root_cert, 0);
    }
#undef ADD
    return n;
}

void mc_pki_bundle_clear(mc_pki_bundle *bundle)
{
    mc_secure_free_str(bundle->ca_key);
    free(bundle->ca_cert);
    free(bundle->cert_chain);
    free(bundle->root_cert);
    memset(bundle, 0, sizeof(*bundle));
}

/* Parsed form of a bundle for verification. */
typedef struct parsed_bundle {
    mc_pki_cert *ca_cert;
    mc_pki_cert **chain;
    size_t chain_count;
    mc_pki_cert **roots;
    size_t root_count;
    mc_pki_cert **trusted;
    size_t trusted_count;
    mc_pki_key *key;
} parsed_bundle;

static void parsed_free(parsed_bundle *p)
{
    mc_pki_cert_free(p->ca_cert);
    mc_pki_cert_list_free(p->chain, p->chain_count);
    mc_pki_cert_list_free(p->roots, p->root_count);
    mc_pki_cert_list_free(p->trusted, p->trusted_count);
    mc_pki_key_free(p->key);
}

static int parse_bundle(const mc_pki_bundle *bundle, const char *trusted_root_pem,
                        const char *trusted_what, parsed_bundle *p, mc_err *err)
{
    if (!bundle->ca_cert || !bundle->root_cert)
        return mc_err_set(err, MC_EINVAL, "bundle lacks %s",
                          !bundle->ca_cert ? "ca-cert.pem" : "root-cert.pem");
    int rc = mc_pki_cert_from_pem(bundle->ca_cert, strlen(bundle->ca_cert), "ca-cert.pem",
                                  &p->ca_cert, err);
    if (rc == MC_OK && bundle->cert_chain)
        rc = mc_pki_cert_list_from_pem(bundle->cert_chain, strlen(bundle->cert_chain),
                                       "cert-chain.pem", &p->chain, &p->chain_count, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_list_from_pem(bundle->root_cert, strlen(bundle->root_cert),
                                       "root-cert.pem", &p->roots, &p->root_count, err);
    if (rc == MC_OK && trusted_root_pem)
        rc = mc_pki_cert_list_from_pem(trusted_root_pem, strlen(trusted_root_pem),
                                       trusted_what ? trusted_what : "trusted root", &p->trusted,
                                       &p->trusted_count, err);
    if (rc == MC_OK && bundle->ca_key)
        rc =
            mc_pki_key_from_pem(bundle->ca_key, strlen(bundle->ca_key), "ca-key.pem", &p->key, err);
    return rc;
}

static int contains_cert(mc_pki_cert *const *list, size_t n, const mc_pki_cert *cert)
{
    for (size_t i = 0; i < n; i++)
        if (mc_pki_cert_equal(list[i], cert))
            return 1;
    return 0;
}

/* What istiod's Go crypto/x509 verification refuses and OpenSSL's accepts:
 * a signature over MD5 or SHA-1 on ca-cert or a non-root chain certificate,
 * and an extendedKeyUsage without serverAuth anywhere in the chain. */
static int check_for_istiod(const parsed_bundle *p, mc_err *err)
{
    for (size_t i = 0; i <= p->chain_count; i++) {
        const mc_pki_cert *cert = i == 0 ? p->ca_cert : p->chain[i - 1];
        if (i == 1)
            continue; /* cert-chain.pem's first certificate is ca-cert.pem */
        const char *file = i == 0 ? "ca-cert.pem" : "cert-chain.pem";
        char subject[256], what[400];
        mc_pki_cert_subject(cert, subject, sizeof(subject));
        snprintf(what, sizeof(what), "%s: %s", file, subject);
        int rc = MC_OK;
        if (!mc_pki_cert_is_self_signed(cert) &&
            (rc = mc_pki_cert_check_signature(cert, what, err)))
            return rc;
        if (!mc_pki_cert_allows_server_auth(cert))
            return mc_err_set(err, MC_EVERIFY,
                              "%s has an extendedKeyUsage without serverAuth; istiod verifies "
                              "its CA chain for serverAuth (Go's x509 default) and would refuse it",
                              what);
    }
    return MC_OK;
}

static int check_bundle(const parsed_bundle *p, const char *trusted_what, time_t at, mc_buf *report,
                        mc_err *err)
{
    char subject[256];
    mc_pki_cert_subject(p->ca_cert, subject, sizeof(subject));
    if (!mc_pki_cert_is_ca(p->ca_cert))
        return mc_err_set(err, MC_EVERIFY, "ca-cert.pem: %s is not a CA certificate", subject);
    int rc = mc_pki_cert_check_validity(p->ca_cert, at, err);
    if (rc)
        return mc_err_prefix(err, "ca-cert.pem");
    if (p->chain && !mc_pki_cert_equal(p->chain[0], p->ca_cert))
        return mc_err_set(err, MC_EVERIFY, "cert-chain.pem does not start with ca-cert.pem");
    if ((rc = check_for_istiod(p, err)))
        return rc;
    mc_pki_cert *const *trusted = p->trusted ? p->trusted : p->roots;
    size_t trusted_count = p->trusted ? p->trusted_count : p->root_count;
    if (p->trusted) {
        int found = 0;
        for (size_t i = 0; i < p->trusted_count && !found; i++)
            found = contains_cert(p->roots, p->root_count, p->trusted[i]);
        if (!found)
            return mc_err_set(err, MC_EVERIFY,
                              "root-cert.pem does not contain the trusted root certificate (%s)",
                              trusted_what ? trusted_what : "given");
    }
    mc_pki_cert *const *untrusted = p->chain ? p->chain + 1 : NULL;
    size_t untrusted_count = p->chain ? p->chain_count - 1 : 0;
    rc = mc_pki_verify_chain(p->ca_cert, untrusted, untrusted_count, trusted, trusted_count, at,
                             err);
    if (rc)
        return mc_err_prefix(err, "ca-cert.pem");
    if (p->key && (rc = mc_pki_cert_matches_key(p->ca_cert, p->key, err)))
        return mc_err_prefix(err, "ca-key.pem");
    if (report) {
        mc_buf_append_str(report, "ca-cert.pem:\n");
        mc_pki_cert_describe(p->ca_cert, report);
        for (size_t i = 0; i < p->root_count; i++) {
            mc_buf_appendf(report, "root-cert.pem (%zu of %zu):\n", i + 1, p->root_count);
            mc_pki_cert_describe(p->roots[i], report);
        }
        if (p->chain)
            mc_buf_appendf(report, "cert-chain.pem: %zu certificates, starts with ca-cert.pem\n",
                           p->chain_count);
        if (p->key) {
            char desc[64];
            mc_pki_key_describe(p->key, desc, sizeof(desc));
            mc_buf_appendf(report, "ca-key.pem: %s, matches ca-cert.pem\n", desc);
        } else {
            mc_buf_append_str(report, "ca-key.pem: absent (not checked)\n");
        }
        mc_buf_append_str(report, "chain: OK (ca-cert.pem verifies against the root)\n");
    }
    return MC_OK;
}

int mc_pki_bundle_verify(const mc_pki_bundle *bundle, const char *trusted_root_pem,
                         const char *trusted_what, time_t at, mc_buf *report, mc_err *err)
{
    parsed_bundle p;
    memset(&p, 0, sizeof(p));
    int rc = parse_bundle(bundle, trusted_root_pem, trusted_what, &p, err);
    if (rc == MC_OK)
        rc = check_bundle(&p, trusted_what, at, report, err);
    parsed_free(&p);
    return rc;
}

/* Narrows [*from, *until] to the validity of cert. */
static int narrow_validity(const mc_pki_cert *cert, time_t *from, time_t *until, mc_err *err)
{
    time_t not_before = 0, not_after = 0;
    if (mc_pki_cert_validity(cert, &not_before, &not_after) != MC_OK)
        return mc_err_set(err, MC_EINVAL, "certificate validity unreadable");
    if (not_before > *from)
        *from = not_before;
    if (not_after < *until)
        *until = not_after;
    return MC_OK;
}

int mc_pki_bundle_validity(const mc_pki_bundle *bundle, time_t *valid_from, time_t *valid_until,
                           mc_err *err)
{
    /* the key plays no part in the window: not parsed */
    mc_pki_bundle certs_only = *bundle;
    certs_only.ca_key = NULL;
    parsed_bundle p;
    memset(&p, 0, sizeof(p));
    time_t from = 0, until = (time_t)INT64_MAX;
    int rc = parse_bundle(&certs_only, NULL, NULL, &p, err);
    if (rc == MC_OK)
        rc = narrow_validity(p.ca_cert, &from, &until, err);
    for (size_t i = 0; rc == MC_OK && i < p.chain_count; i++)
        rc = narrow_validity(p.chain[i], &from, &until, err);
    for (size_t i = 0; rc == MC_OK && i < p.root_count; i++)
        rc = narrow_validity(p.roots[i], &from, &until, err);
    parsed_free(&p);
    *valid_from = from;
    *valid_until = until;
    return rc;
}
