/* satoken.h - ServiceAccount tokens of the embedded server: compact JWTs
 * (RFC 7519) signed with HMAC-SHA256 under one key per logical cluster, so a
 * token of cluster A never verifies on cluster B and every token survives a
 * restart without being stored. This module only signs and verifies; that
 * the ServiceAccount (and a legacy token Secret) still exists with the uid
 * the token names is checked by serviceaccounts.c. Pure: no store, no HTTP.
 */
#ifndef MC_SERVER_SATOKEN_H
#define MC_SERVER_SATOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The audience of the API itself (kube-apiserver's default
 * --api-audiences): only a token meant for it authenticates. */
#define MC_SERVER_SA_AUDIENCE "https://kubernetes.default.svc.cluster.local"

/* The issuer claim of every token. */
#define MC_SERVER_SA_ISSUER "meshcert-server"

/* Longest token accepted for verification (kube's are ~1 KiB). */
#define MC_SERVER_SA_TOKEN_MAX 8192

/* What a token says. */
typedef struct mc_server_sa_claims {
    char cluster[64];      /* logical cluster it was issued on */
    char namespace[254];   /* the ServiceAccount's namespace */
    char name[254];        /* the ServiceAccount's name */
    char uid[64];          /* the ServiceAccount's metadata.uid */
    char secret_name[254]; /* a legacy token Secret's name, "" for a TokenRequest token */
    char secret_uid[64];   /* that Secret's metadata.uid, or "" */
    int64_t issued_at;     /* iat, seconds since the epoch */
    int64_t expires_at;    /* exp; 0 for a legacy token, which never expires */
} mc_server_sa_claims;

/* Signs claims (audiences: a JSON array of strings, or NULL for
 * [MC_SERVER_SA_AUDIENCE]) with key (key_len bytes) into *token (owned;
 * wipe with mc_secure_free_str). MC_ENOMEM or MC_EINVAL (a claim too long). */
int mc_server_sa_token_sign(const void *key, size_t key_len, const mc_server_sa_claims *claims,
                            const json_t *audiences, char **token, mc_err *err);

/* Verifies token against key at time now: the signature (HS256 only, in
 * constant time), iss, exp and nbf, and that aud holds
 * MC_SERVER_SA_AUDIENCE; fills *claims. MC_EINVAL (malformed, wrong
 * algorithm, issuer or audience) or MC_EVERIFY (signature) with a message
 * naming what was wrong (never the token itself); MC_EEXPIRED when it has
 * expired or is not valid yet. */
int mc_server_sa_token_verify(const void *key, size_t key_len, const char *token, int64_t now,
                              mc_server_sa_claims *claims, mc_err *err);

/* 1 when text has the shape of a JWT (three dot-separated base64url parts),
 * so that other bearer tokens are not even parsed. */
int mc_server_sa_token_shape(const char *text);

#endif
