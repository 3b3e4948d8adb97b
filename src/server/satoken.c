/* satoken.c - signing and verifying ServiceAccount tokens (see satoken.h).
 *
 * Header {"alg":"HS256","typ":"JWT"}; claims as kube-apiserver's bound
 * tokens carry them (iss, sub, aud, iat, nbf, exp, and "kubernetes.io" with
 * namespace, serviceaccount {name, uid} and for a legacy token secret
 * {name, uid}), plus "meshcert.io/cluster". HMAC through OpenSSL 3's EVP_MAC.
 */
#include "server/satoken.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/str.h"

#define HS256_LEN 32

/* ---- base64url without padding (RFC 7515 section 2) ---- */

static char *b64url_encode(const void *data, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    if (mc_base64_encode(data, n, &text, &len) != MC_OK)
        return NULL;
    while (len && text[len - 1] == '=')
        text[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        text[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
    return text;
}

static int b64url_decode(const char *text, size_t n, unsigned char **out, size_t *out_len)
{
    if (n % 4 == 1)
        return MC_EINVAL;
    char *std = malloc(n + 4);
    if (!std)
        return MC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == '+' || c == '/' || c == '=')
            c = '!'; /* not base64url: let the decoder refuse it */
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t len = n;
    while (len % 4)
        std[len++] = '=';
    int rc = mc_base64_decode(std, len, out, out_len, NULL);
    free(std);
    return rc;
}

static int is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

int mc_server_sa_token_shape(const char *text)
{
    size_t dots = 0, part = 0;
    for (const char *p = text; p && *p; p++) {
        if (*p == '.') {
            if (part == 0)
                return 0;
            dots++;
            part = 0;
        } else if (!is_b64url_char(*p)) {
            return 0;
        } else {
            part++;
        }
    }
    return text && dots == 2 && part > 0;
}

/* HMAC-SHA256 of data under key into mac. */
static int hs256(const void *key, size_t key_len, const char *data, size_t n,
                 unsigned char mac[HS256_LEN], mc_err *err)
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t len = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)data, n) &&
             EVP_MAC_final(ctx, mac, &len, HS256_LEN) && len == HS256_LEN;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return ok ? MC_OK : mc_err_set(err, MC_ECRYPTO, "HMAC-SHA256 of a ServiceAccount token failed");
}

/* ---- signing ---- */

static json_t *claims_json(const mc_server_sa_claims *c, const json_t *audiences)
{
    char subject[600];
    snprintf(subject, sizeof(subject), "system:serviceaccount:%s:%s", c->namespace, c->name);
    json_t *k8s = json_pack("{s:s,s:{s:s,s:s}}", "namespace", c->namespace, "serviceaccount",
                            "name", c->name, "uid", c->uid);
    if (k8s && c->secret_name[0])
        json_object_set_new(k8s, "secret",
                            json_pack("{s:s,s:s}", "name", c->secret_name, "uid", c->secret_uid));
    json_t *aud = audiences ? json_deep_copy(audiences) : json_pack("[s]", MC_SERVER_SA_AUDIENCE);
    json_t *obj = json_pack("{s:s,s:s,s:o,s:I,s:I,s:o,s:s}", "iss", MC_SERVER_SA_ISSUER, "sub",
                            subject, "aud", aud, "iat", (json_int_t)c->issued_at, "nbf",
                            (json_int_t)c->issued_at, "kubernetes.io", k8s,
                            "meshcert.io/cluster", c->cluster);
    if (obj && c->expires_at)
        json_object_set_new(obj, "exp", json_integer((json_int_t)c->expires_at));
    return obj;
}

int mc_server_sa_token_sign(const void *key, size_t key_len, const mc_server_sa_claims *claims,
                            const json_t *audiences, char **token, mc_err *err)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    json_t *payload = claims_json(claims, audiences);
    char *payload_text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    char *h = b64url_encode(header, strlen(header));
    char *p = payload_text ? b64url_encode(payload_text, strlen(payload_text)) : NULL;
    free(payload_text);
    char *out = NULL, *sig = NULL;
    int rc = h && p ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    size_t signed_len = 0;
    if (rc == MC_OK) {
        signed_len = strlen(h) + 1 + strlen(p);
        out = malloc(signed_len + 1 + 64);
        if (!out)
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        else
            snprintf(out, signed_len + 1, "%s.%s", h, p);
    }
    unsigned char mac[HS256_LEN];
    if (rc == MC_OK)
        rc = hs256(key, key_len, out, signed_len, mac, err);
    if (rc == MC_OK && !(sig = b64url_encode(mac, sizeof(mac))))
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK) {
        snprintf(out + signed_len, 1 + 64, ".%s", sig);
        *token = out;
        out = NULL;
    }
    mc_secure_zero(mac, sizeof(mac));
    free(sig);
    free(h);
    free(p);
    free(out);
    return rc;
}

/* ---- verifying ---- */

static int copy_claim(char *dst, size_t size, const json_t *v, const char *what, mc_err *err)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) >= size)
        return mc_err_set(err, MC_EINVAL, "ServiceAccount token: claim %s missing or too long",
                          what);
    memcpy(dst, s, strlen(s) + 1);
    return MC_OK;
}

static int audience_ok(const json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), MC_SERVER_SA_AUDIENCE) == 0;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) &&
                                      strcmp(json_string_value(a), MC_SERVER_SA_AUDIENCE) == 0)
        return 1;
    return 0;
}

static int read_claims(const json_t *obj, int64_t now, mc_server_sa_claims *c, mc_err *err)
{
    const char *iss = json_string_value(json_object_get(obj, "iss"));
    if (!iss || strcmp(iss, MC_SERVER_SA_ISSUER) != 0)
        return mc_err_set(err, MC_EINVAL, "ServiceAccount token: issuer is not %s",
                          MC_SERVER_SA_ISSUER);
    if (!audience_ok(json_object_get(obj, "aud")))
        return mc_err_set(err, MC_EINVAL, "ServiceAccount token: audience is not %s",
                          MC_SERVER_SA_AUDIENCE);
    const json_t *k8s = json_object_get(obj, "kubernetes.io");
    const json_t *sa = json_object_get(k8s, "serviceaccount");
    const json_t *secret = json_object_get(k8s, "secret");
    memset(c, 0, sizeof(*c));
    if (copy_claim(c->cluster, sizeof(c->cluster), json_object_get(obj, "meshcert.io/cluster"),
                   "meshcert.io/cluster", err) ||
        copy_claim(c->namespace, sizeof(c->namespace), json_object_get(k8s, "namespace"),
                   "kubernetes.io.namespace", err) ||
        copy_claim(c->name, sizeof(c->name), json_object_get(sa, "name"),
                   "kubernetes.io.serviceaccount.name", err) ||
        copy_claim(c->uid, sizeof(c->uid), json_object_get(sa, "uid"),
                   "kubernetes.io.serviceaccount.uid", err))
        return MC_EINVAL;
    if (secret && (copy_claim(c->secret_name, sizeof(c->secret_name),
                              json_object_get(secret, "name"), "kubernetes.io.secret.name", err) ||
                   copy_claim(c->secret_uid, sizeof(c->secret_uid), json_object_get(secret, "uid"),
                              "kubernetes.io.secret.uid", err)))
        return MC_EINVAL;
    c->issued_at = json_integer_value(json_object_get(obj, "iat"));
    const json_t *exp = json_object_get(obj, "exp");
    c->expires_at = exp ? json_integer_value(exp) : 0;
    if (exp && (!json_is_integer(exp) || now >= c->expires_at))
        return mc_err_set(err, MC_EEXPIRED, "ServiceAccount token has expired");
    if (!exp && !c->secret_name[0])
        return mc_err_set(err, MC_EINVAL, "ServiceAccount token without exp or secret");
    const json_t *nbf = json_object_get(obj, "nbf");
    if (nbf && json_integer_value(nbf) > now + 60) /* kube allows a minute of skew */
        return mc_err_set(err, MC_EEXPIRED, "ServiceAccount token is not valid yet");
    return MC_OK;
}

/* Decodes one base64url part into a JSON object (new reference) or NULL. */
static json_t *json_part(const char *text, size_t n)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    if (b64url_decode(text, n, &raw, &len) != MC_OK)
        return NULL;
    json_t *obj = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int mc_server_sa_token_verify(const void *key, size_t key_len, const char *token, int64_t now,
                              mc_server_sa_claims *claims, mc_err *err)
{
    if (!token || strlen(token) > MC_SERVER_SA_TOKEN_MAX || !mc_server_sa_token_shape(token))
        return mc_err_set(err, MC_EINVAL, "not a ServiceAccount token (JWT)");
    const char *dot1 = strchr(token, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    unsigned char want[HS256_LEN], *given = NULL;
    size_t given_len = 0;
    int rc = hs256(key, key_len, token, (size_t)(dot2 - token), want, err);
    if (rc == MC_OK && (b64url_decode(dot2 + 1, strlen(dot2 + 1), &given, &given_len) != MC_OK ||
                        given_len != HS256_LEN || CRYPTO_memcmp(want, given, HS256_LEN) != 0))
        rc = mc_err_set(err, MC_EVERIFY,
                        "ServiceAccount token signature does not verify (another cluster's "
                        "token, or altered)");
    free(given);
    mc_secure_zero(want, sizeof(want));
    if (rc != MC_OK)
        return rc;
    /* the signature covers the header too, but a header naming another
     * algorithm is refused all the same */
    json_t *header = json_part(token, (size_t)(dot1 - token));
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0)
        rc = mc_err_set(err, MC_EINVAL, "ServiceAccount token: algorithm is not HS256");
    json_decref(header);
    if (rc != MC_OK)
        return rc;
    json_t *payload = json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!payload)
        return mc_err_set(err, MC_EINVAL, "ServiceAccount token: claims are not a JSON object");
    rc = read_claims(payload, now, claims, err);
    json_decref(payload);
    return rc;
}
