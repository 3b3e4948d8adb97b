/* trust_probe.c - see trust_probe.h. Leaves are made with pki/; the handshake
 * itself is libssl, which only tests include outside pki/: a probe must use
 * the TLS stack a workload would, not meshcert's own chain check.
 */
#include "trust_probe.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/root.h"
#include "pki/verify.h"
#include "util/base64.h"
#include "util/str.h"

#define LEAF_TTL_SECONDS 3600
#define HANDSHAKE_ROUNDS 64

typedef struct probe_cluster {
    char name[64];
    char trust_domain[128];
    char *ca_cert;    /* owned PEM */
    char *ca_key;     /* owned PEM, wiped on free */
    char *cert_chain; /* owned PEM */
    char *root_cert;  /* owned PEM (one or more roots) */
} probe_cluster;

struct trust_probe {
    probe_cluster clusters[TRUST_PROBE_MAX_CLUSTERS];
    size_t count;
};

/* What one cluster's workload presents and trusts during one run. */
typedef struct probe_endpoint {
    const probe_cluster *cluster;
    char *leaf_pem;  /* owned; NULL when it could not be made */
    char *key_pem;   /* owned, wiped */
    char error[640]; /* why there is no leaf */
} probe_endpoint;

/* One side of a handshake. */
typedef struct probe_side {
    const char *name;
    SSL *ssl;
    int done;
    int failed;
    int verify_depth; /* depth of the first verify error, -1 for none */
    char verify_subject[160];
    char ssl_error[160]; /* the library's reason when the handshake failed */
} probe_side;

static void cluster_clear(probe_cluster *c)
{
    free(c->ca_cert);
    mc_secure_free_str(c->ca_key);
    free(c->cert_chain);
    free(c->root_cert);
    memset(c, 0, sizeof(*c));
}

trust_probe *trust_probe_new(void)
{
    return calloc(1, sizeof(trust_probe));
}

void trust_probe_free(trust_probe *probe)
{
    if (!probe)
        return;
    for (size_t i = 0; i < probe->count; i++)
        cluster_clear(&probe->clusters[i]);
    free(probe);
}

size_t trust_probe_count(const trust_probe *probe)
{
    return probe->count;
}

static probe_cluster *find_cluster(trust_probe *probe, const char *name)
{
    for (size_t i = 0; i < probe->count; i++)
        if (strcmp(probe->clusters[i].name, name) == 0)
            return &probe->clusters[i];
    return NULL;
}

int trust_probe_set(trust_probe *probe, const char *cluster, const char *trust_domain,
                    const char *ca_cert, const char *ca_key, const char *cert_chain,
                    const char *root_cert, mc_err *err)
{
    const char *names[4] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"};
    const char *values[4] = {ca_cert, ca_key, cert_chain, root_cert};
    for (int i = 0; i < 4; i++)
        if (!values[i] || !values[i][0])
            return mc_err_set(err, MC_EINVAL, "cluster %s: the output Secret has no %s", cluster,
                              names[i]);
    probe_cluster *c = find_cluster(probe, cluster);
    if (!c) {
        if (probe->count == TRUST_PROBE_MAX_CLUSTERS)
            return mc_err_set(err, MC_ELIMIT, "cluster %s: the probe holds %d clusters at most",
                              cluster, TRUST_PROBE_MAX_CLUSTERS);
        c = &probe->clusters[probe->count++];
    }
    cluster_clear(c);
    mc_strlcpy(c->name, cluster, sizeof(c->name));
    mc_strlcpy(c->trust_domain, trust_domain, sizeof(c->trust_domain));
    c->ca_cert = mc_strdup(ca_cert);
    c->ca_key = mc_strdup(ca_key);
    c->cert_chain = mc_strdup(cert_chain);
    c->root_cert = mc_strdup(root_cert);
    if (!c->ca_cert || !c->ca_key || !c->cert_chain || !c->root_cert) {
        trust_probe_forget(probe, cluster);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    return MC_OK;
}

/* The decoded data[key] of a Secret (owned, NUL-terminated, wiped by the
 * caller when it is a key), or NULL. */
static char *secret_value(const json_t *secret, const char *key)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    unsigned char *raw = NULL;
    size_t len = 0;
    if (!b64 || mc_base64_decode(b64, strlen(b64), &raw, &len, NULL) != MC_OK)
        return NULL;
    char *text = mc_strndup((const char *)raw, len);
    mc_secure_free(raw, len);
    return text;
}

int trust_probe_set_secret(trust_probe *probe, const char *cluster, const char *trust_domain,
                           const json_t *secret, mc_err *err)
{
    char *ca_cert = secret_value(secret, "ca-cert.pem");
    char *ca_key = secret_value(secret, "ca-key.pem");
    char *cert_chain = secret_value(secret, "cert-chain.pem");
    char *root_cert = secret_value(secret, "root-cert.pem");
    int rc =
        trust_probe_set(probe, cluster, trust_domain, ca_cert, ca_key, cert_chain, root_cert, err);
    free(ca_cert);
    mc_secure_free_str(ca_key);
    free(cert_chain);
    free(root_cert);
    return rc;
}

void trust_probe_forget(trust_probe *probe, const char *cluster)
{
    probe_cluster *c = find_cluster(probe, cluster);
    if (!c)
        return;
    size_t index = (size_t)(c - probe->clusters);
    cluster_clear(c);
    memmove(&probe->clusters[index], &probe->clusters[index + 1],
            (probe->count - index - 1) * sizeof(*c));
    probe->count--;
    memset(&probe->clusters[probe->count], 0, sizeof(*c));
}

int trust_probe_make_key(char **key_pem, mc_err *err)
{
    mc_pki_key *key = NULL;
    int rc = mc_pki_key_generate(MC_KEY_EC_P256, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, key_pem, NULL, err);
    mc_pki_key_free(key);
    return rc;
}

int trust_probe_make_root(const char *common_name, char **cert_pem, char **key_pem, mc_err *err)
{
    mc_pki_key *key = NULL;
    mc_pki_cert *root = NULL;
    mc_pki_root_params params = {.org = "Istio", .common_name = common_name, .ttl_seconds = 86400};
    *cert_pem = *key_pem = NULL;
    int rc = mc_pki_key_generate(MC_KEY_EC_P256, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_root_create(key, &params, &root, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(root, cert_pem, NULL, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, key_pem, NULL, err);
    mc_pki_cert_free(root);
    mc_pki_key_free(key);
    return rc;
}

int trust_probe_sign(const char *signer_cert_pem, const char *signer_key_pem, const char *key_pem,
                     int ca, const char *org, const char *host, const char *trust_domain,
                     long ttl_seconds, char **cert_pem, mc_err *err)
{
    mc_pki_cert *signer_cert = NULL, *issued = NULL;
    mc_pki_key *signer_key = NULL, *key = NULL;
    mc_pki_signer *signer = NULL;
    mc_pki_csr *csr = NULL;
    *cert_pem = NULL;
    int rc = mc_pki_cert_from_pem(signer_cert_pem, strlen(signer_cert_pem), "ca-cert.pem",
                                  &signer_cert, err);
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem(signer_key_pem, strlen(signer_key_pem), "ca-key.pem", &signer_key,
                                 err);
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem(key_pem, strlen(key_pem), "the subject's key", &key, err);
    if (rc == MC_OK)
        rc = mc_pki_signer_new(signer_cert, signer_key, &signer, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_create(key, org, &host, 1, &csr, err);
    if (rc == MC_OK) {
        mc_pki_issue_params params;
        mc_pki_issue_params_init(&params);
        params.org = org;
        params.hosts = &host;
        params.host_count = 1;
        params.ttl_seconds = ttl_seconds;
        params.tls_server = !ca;
        params.name_constraints = ca;
        params.permitted_uri_hosts = &trust_domain;
        params.permitted_uri_host_count = 1;
        rc = mc_pki_signer_issue(signer, csr, &params, &issued, err);
    }
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(issued, cert_pem, NULL, err);
    mc_pki_cert_free(issued);
    mc_pki_csr_free(csr);
    mc_pki_signer_free(signer);
    mc_pki_key_free(key);
    mc_pki_key_free(signer_key);
    mc_pki_cert_free(signer_cert);
    return rc;
}

static void endpoint_make(probe_endpoint *ep, const probe_cluster *c)
{
    char spiffe[256];
    mc_err err = {0};
    memset(ep, 0, sizeof(*ep));
    ep->cluster = c;
    snprintf(spiffe, sizeof(spiffe), "spiffe://%s/ns/default/sa/probe", c->trust_domain);
    int rc = trust_probe_make_key(&ep->key_pem, &err);
    if (rc == MC_OK)
        rc = trust_probe_sign(c->ca_cert, c->ca_key, ep->key_pem, 0, "", spiffe, c->trust_domain,
                              LEAF_TTL_SECONDS, &ep->leaf_pem, &err);
    if (rc != MC_OK)
        snprintf(ep->error, sizeof(ep->error), "no workload leaf from %s's intermediate: %s",
                 c->name, err.msg);
}

static void endpoint_clear(probe_endpoint *ep)
{
    free(ep->leaf_pem);
    mc_secure_free_str(ep->key_pem);
    memset(ep, 0, sizeof(*ep));
}

/* Every certificate of a PEM text, in order (NULL when there is none). */
static STACK_OF(X509) * read_certs(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *x;
    while (bio && certs && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (!sk_X509_push(certs, x))
            X509_free(x);
    ERR_clear_error(); /* the read that ended the loop */
    BIO_free(bio);
    if (certs && sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        certs = NULL;
    }
    return certs;
}

/* Records the first verify error and the certificate it was about. */
static int verify_callback(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    probe_side *side = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!ok && side && side->verify_depth < 0) {
        side->verify_depth = X509_STORE_CTX_get_error_depth(store);
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        if (cert)
            X509_NAME_oneline(X509_get_subject_name(cert), side->verify_subject,
                              sizeof(side->verify_subject));
    }
    return ok;
}

/* A TLS 1.3-only context presenting ep's leaf + its cluster's cert-chain.pem
 * and trusting only its cluster's root-cert.pem, requiring a peer
 * certificate. NULL (reason in why) when something does not load. */
static SSL_CTX *context_for(const probe_endpoint *ep, int server, char *why, size_t why_size)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    STACK_OF(X509) *leaf = read_certs(ep->leaf_pem);
    STACK_OF(X509) *chain = read_certs(ep->cluster->cert_chain);
    STACK_OF(X509) *roots = read_certs(ep->cluster->root_cert);
    BIO *key_bio = BIO_new_mem_buf(ep->key_pem, -1);
    EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;
    const char *failed = NULL;
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        failed = "a TLS 1.3 context";
    else if (!leaf || !SSL_CTX_use_certificate(ctx, sk_X509_value(leaf, 0)) || !key ||
             !SSL_CTX_use_PrivateKey(ctx, key) || !SSL_CTX_check_private_key(ctx))
        failed = "the workload leaf and its key";
    else if (!chain || !roots)
        failed = "cert-chain.pem or root-cert.pem (no certificate in it)";
    for (int i = 0; !failed && i < sk_X509_num(chain); i++)
        if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)))
            failed = "cert-chain.pem into the chain sent";
    X509_STORE *store = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;
    for (int i = 0; !failed && i < sk_X509_num(roots); i++)
        if (!X509_STORE_add_cert(store, sk_X509_value(roots, i)))
            failed = "root-cert.pem into the trust store";
    if (!failed) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_callback);
        if (server)
            SSL_CTX_set_num_tickets(ctx, 0);
    } else {
        char reason[120];
        ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
        snprintf(why, why_size, "%s: cannot load %s (%s)", ep->cluster->name, failed, reason);
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
    BIO_free(key_bio);
    sk_X509_pop_free(leaf, X509_free);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(roots, X509_free);
    return ctx;
}

static void side_step(probe_side *side)
{
    if (side->done || side->failed)
        return;
    ERR_clear_error();
    int r = SSL_do_handshake(side->ssl);
    if (r == 1) {
        side->done = 1;
        return;
    }
    int e = SSL_get_error(side->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    side->failed = 1;
    unsigned long code = ERR_peek_last_error();
    if (code)
        ERR_error_string_n(code, side->ssl_error, sizeof(side->ssl_error));
    else
        snprintf(side->ssl_error, sizeof(side->ssl_error), "SSL error %d", e);
}

/* Why a side failed, from the verify result when it was the certificate. */
static int side_verify_reason(const probe_side *verifier, const probe_side *peer, char *why,
                              size_t why_size)
{
    long result = SSL_get_verify_result(verifier->ssl);
    if (result == X509_V_OK)
        return 0;
    snprintf(why, why_size, "%s rejected %s's certificate: %s (depth %d, %s)", verifier->name,
             peer->name, X509_verify_cert_error_string(result), verifier->verify_depth,
             verifier->verify_subject);
    return 1;
}

/* After the handshake, one message each way: the server's verdict on the
 * client certificate is final only once the client has seen its reply. */
static int exchange(SSL *from, SSL *to, const char *message)
{
    char buf[16];
    int n = (int)strlen(message);
    return SSL_write(from, message, n) == n && SSL_read(to, buf, sizeof(buf)) == n &&
           memcmp(buf, message, (size_t)n) == 0;
}

/* One mutual-TLS handshake, client_ep's leaf against server_ep's. 0 when it
 * completed (TLS 1.3, both certificates verified, data both ways), else 1
 * with the reason in why. */
static int handshake(const probe_endpoint *client_ep, const probe_endpoint *server_ep, char *why,
                     size_t why_size)
{
    const probe_endpoint *eps[2] = {client_ep, server_ep};
    for (int i = 0; i < 2; i++)
        if (!eps[i]->leaf_pem) {
            snprintf(why, why_size, "%s", eps[i]->error);
            return 1;
        }
    probe_side client = {.name = client_ep->cluster->name, .verify_depth = -1};
    probe_side server = {.name = server_ep->cluster->name, .verify_depth = -1};
    SSL_CTX *client_ctx = context_for(client_ep, 0, why, why_size);
    SSL_CTX *server_ctx = client_ctx ? context_for(server_ep, 1, why, why_size) : NULL;
    BIO *client_bio = NULL, *server_bio = NULL;
    int failed = 1;
    if (!client_ctx || !server_ctx)
        goto out;
    client.ssl = SSL_new(client_ctx);
    server.ssl = SSL_new(server_ctx);
    if (!client.ssl || !server.ssl || !BIO_new_bio_pair(&client_bio, 0, &server_bio, 0)) {
        snprintf(why, why_size, "out of memory setting up a handshake");
        goto out;
    }
    SSL_set_bio(client.ssl, client_bio, client_bio);
    SSL_set_bio(server.ssl, server_bio, server_bio);
    SSL_set_app_data(client.ssl, &client);
    SSL_set_app_data(server.ssl, &server);
    SSL_set_connect_state(client.ssl);
    SSL_set_accept_state(server.ssl);
    for (int round = 0; round < HANDSHAKE_ROUNDS; round++) {
        side_step(&client);
        side_step(&server);
        if ((client.done && server.done) || client.failed || server.failed)
            break;
    }
    if (side_verify_reason(&server, &client, why, why_size) ||
        side_verify_reason(&client, &server, why, why_size))
        goto out;
    if (client.failed || server.failed) {
        snprintf(why, why_size, "handshake failed on the %s side (%s): %s",
                 server.failed ? "server" : "client", server.failed ? server.name : client.name,
                 server.failed ? server.ssl_error : client.ssl_error);
        goto out;
    }
    if (!client.done || !server.done) {
        snprintf(why, why_size, "handshake did not finish in %d rounds", HANDSHAKE_ROUNDS);
        goto out;
    }
    if (SSL_version(client.ssl) != TLS1_3_VERSION || !SSL_get0_peer_certificate(client.ssl) ||
        !SSL_get0_peer_certificate(server.ssl)) {
        snprintf(why, why_size, "not a mutual TLS 1.3 session");
        goto out;
    }
    if (!exchange(client.ssl, server.ssl, "ping") || !exchange(server.ssl, client.ssl, "pong")) {
        snprintf(why, why_size, "no application data after the handshake");
        goto out;
    }
    failed = 0;
out:
    ERR_clear_error();
    SSL_free(client.ssl); /* frees the BIOs it was given */
    SSL_free(server.ssl);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    return failed;
}

unsigned long trust_probe_run(trust_probe *probe, trust_probe_result *result)
{
    probe_endpoint eps[TRUST_PROBE_MAX_CLUSTERS];
    unsigned long failures = 0;
    for (size_t i = 0; i < probe->count; i++)
        endpoint_make(&eps[i], &probe->clusters[i]);
    for (size_t a = 0; a < probe->count; a++) {
        for (size_t b = 0; b < probe->count; b++) {
            if (a == b)
                continue;
            char why[700] = "";
            result->handshakes++;
            if (!handshake(&eps[a], &eps[b], why, sizeof(why)))
                continue;
            if (result->failures < TRUST_PROBE_KEEP_FAILURES)
                snprintf(result->failure[result->failures], sizeof(result->failure[0]),
                         "%s -> %s: %.360s", eps[a].cluster->name, eps[b].cluster->name, why);
            result->failures++;
            failures++;
        }
    }
    for (size_t i = 0; i < probe->count; i++)
        endpoint_clear(&eps[i]);
    result->runs++;
    return failures;
}

void trust_probe_result_add(trust_probe_result *into, const trust_probe_result *from)
{
    for (unsigned long i = 0; i < from->failures && i < TRUST_PROBE_KEEP_FAILURES; i++)
        if (into->failures + i < TRUST_PROBE_KEEP_FAILURES)
            memcpy(into->failure[into->failures + i], from->failure[i], sizeof(from->failure[i]));
    into->runs += from->runs;
    into->handshakes += from->handshakes;
    into->failures += from->failures;
}

/* "3f2a9c1b": the first 4 bytes of the certificate's SHA-256, in hex. */
static void short_fingerprint(const mc_pki_cert *cert, char out[9])
{
    unsigned char digest[32];
    if (mc_pki_cert_sha256(cert, digest, NULL) != MC_OK) {
        mc_strlcpy(out, "????????", 9);
        return;
    }
    snprintf(out, 9, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
}

static void describe_cluster(const probe_cluster *c, char *out, size_t out_size)
{
    mc_pki_cert *ca = NULL, **roots = NULL;
    size_t root_count = 0;
    char bundle[160] = "", signer[24] = "none of its bundle", fp[9], not_after[32] = "?";
    if (mc_pki_cert_from_pem(c->ca_cert, strlen(c->ca_cert), "ca-cert.pem", &ca, NULL) != MC_OK ||
        mc_pki_cert_list_from_pem(c->root_cert, strlen(c->root_cert), "root-cert.pem", &roots,
                                  &root_count, NULL) != MC_OK) {
        snprintf(out, out_size, "  %s: unreadable ca-cert.pem or root-cert.pem\n", c->name);
        mc_pki_cert_free(ca);
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < root_count; i++) {
        short_fingerprint(roots[i], fp);
        used += (size_t)snprintf(bundle + used, used < sizeof(bundle) ? sizeof(bundle) - used : 0,
                                 "%s%s", i ? " " : "", fp);
        if (used >= sizeof(bundle))
            break;
    }
    for (size_t i = 0; i < root_count; i++)
        if (mc_pki_verify_chain(ca, NULL, 0, &roots[i], 1, 0, NULL) == MC_OK) {
            short_fingerprint(roots[i], signer);
            break;
        }
    time_t nb, na;
    if (mc_pki_cert_validity(ca, &nb, &na) == MC_OK)
        mc_pki_format_time(na, not_after, sizeof(not_after));
    snprintf(out, out_size, "  %-6s intermediate signed by %s, notAfter %s; bundle [%s]\n", c->name,
             signer, not_after, bundle);
    mc_pki_cert_list_free(roots, root_count);
    mc_pki_cert_free(ca);
}

void trust_probe_describe(const trust_probe *probe, char *out, size_t out_size)
{
    size_t used = strlen(out);
    for (size_t i = 0; i < probe->count && used + 1 < out_size; i++) {
        describe_cluster(&probe->clusters[i], out + used, out_size - used);
        used += strlen(out + used);
    }
}

char *trust_probe_concat(const char *first, const char *second)
{
    size_t first_len = strlen(first), second_len = strlen(second);
    char *joined = malloc(first_len + second_len + 1);
    if (!joined)
        abort();
    memcpy(joined, first, first_len);
    memcpy(joined + first_len, second, second_len + 1);
    return joined;
}
