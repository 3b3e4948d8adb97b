/* serviceaccounts.c - ServiceAccount tokens in the server (see internal.h
 * and satoken.h): authenticating them, TokenRequest (`kubectl create
 * token`), and legacy token Secrets filled as kube's token controller fills
 * them. A token is revoked by deleting its ServiceAccount (or its Secret):
 * every request checks that the object still exists with the uid the token
 * names, so a new object of the same name does not revive old tokens.
 * Tokens are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/time.h"
#include "server/handlers.h"
#include "server/internal.h"
#include "server/satoken.h"
#include "util/base64.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"

#define SA_TOKEN_SECRET_TYPE "kubernetes.io/service-account-token"
#define SA_NAME_ANNOTATION   "kubernetes.io/service-account.name"
#define SA_UID_ANNOTATION    "kubernetes.io/service-account.uid"

/* kube's TokenRequest limits: default 1 h, at least 10 min, at most 2^32 s. */
#define TOKEN_DEFAULT_SECONDS 3600
#define TOKEN_MIN_SECONDS     600
#define TOKEN_MAX_SECONDS     4294967296LL

static const json_t *stored(struct mc_server *server, const char *cluster, const char *resource,
                            const char *ns, const char *name)
{
    return mc_store_get(server->store, cluster, resource, ns, name);
}

/* 1 when obj exists, is not being deleted, and has metadata.uid uid. */
static int alive_with_uid(const json_t *obj, const char *uid)
{
    const char *have = obj ? mc_server_meta_string(obj, "uid") : NULL;
    return have && strcmp(have, uid) == 0 && !mc_server_meta_string(obj, "deletionTimestamp");
}

int mc_server_sa_authenticate(struct mc_server *server, const mc_server_cluster *cluster,
                              const char *bearer, mc_server_identity *identity)
{
    if (!bearer || !mc_server_sa_token_shape(bearer))
        return -1;
    mc_server_sa_claims claims;
    mc_err err = {0};
    if (mc_server_sa_token_verify(cluster->sa_key, strlen(cluster->sa_key), bearer,
                                  (int64_t)time(NULL), &claims, &err) != MC_OK) {
        mc_log_debug("server", "cluster %s: token refused: %s", cluster->name, err.msg);
        return -1;
    }
    const char *why = NULL;
    if (strcmp(claims.cluster, cluster->name) != 0)
        why = "issued on another cluster";
    else if (!alive_with_uid(stored(server, cluster->name, "core/serviceaccounts", claims.namespace,
                                    claims.name),
                             claims.uid))
        why = "its ServiceAccount no longer exists";
    else if (claims.secret_name[0] && !alive_with_uid(stored(server, cluster->name, "core/secrets",
                                                             claims.namespace, claims.secret_name),
                                                      claims.secret_uid))
        why = "its token Secret no longer exists";
    if (why) {
        mc_log_debug("server", "cluster %s: token of ServiceAccount %s/%s refused: %s",
                     cluster->name, claims.namespace, claims.name, why);
        return -1;
    }
    mc_server_identity_service_account(identity, claims.namespace, claims.name);
    return 0;
}

/* Fills claims for the ServiceAccount sa of req's namespace. */
static void claims_for(const mc_server_request *req, const json_t *sa, mc_server_sa_claims *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->cluster, sizeof(c->cluster), "%s", req->cluster->name);
    snprintf(c->namespace, sizeof(c->namespace), "%s", req->namespace);
    snprintf(c->name, sizeof(c->name), "%s", mc_server_meta_string(sa, "name"));
    snprintf(c->uid, sizeof(c->uid), "%s", mc_server_meta_string(sa, "uid"));
    c->issued_at = (int64_t)time(NULL);
}

/* ---- TokenRequest ---- */

static void reply_token_invalid(mc_server_reply *reply, const mc_server_request *req,
                                const char *detail)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "TokenRequest.authentication.k8s.io \"%.253s\" is invalid: %s",
             req->name, detail);
    mc_server_reply_status(reply, 422, "Invalid", msg, req);
}

/* spec.expirationSeconds (default 1 h) within kube's bounds; 0 with a 422. */
static int64_t expiration_seconds(const json_t *spec, mc_server_reply *reply,
                                  const mc_server_request *req)
{
    const json_t *v = json_object_get(spec, "expirationSeconds");
    if (!v || json_is_null(v))
        return TOKEN_DEFAULT_SECONDS;
    char detail[200];
    json_int_t seconds = json_integer_value(v);
    if (!json_is_integer(v) || seconds < TOKEN_MIN_SECONDS) {
        snprintf(detail, sizeof(detail),
                 "spec.expirationSeconds: Invalid value: %lld: may not specify a duration less "
                 "than 10 minutes",
                 (long long)seconds);
        reply_token_invalid(reply, req, detail);
        return 0;
    }
    if (seconds > TOKEN_MAX_SECONDS) {
        snprintf(detail, sizeof(detail),
                 "spec.expirationSeconds: Invalid value: %lld: may not specify a duration larger "
                 "than 2^32 seconds",
                 (long long)seconds);
        reply_token_invalid(reply, req, detail);
        return 0;
    }
    return (int64_t)seconds;
}

/* spec.audiences: a non-empty list of strings, or the API's audience. */
static json_t *audiences_of(const json_t *spec)
{
    const json_t *given = json_object_get(spec, "audiences");
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach(given, i, a) if (json_is_string(a) && json_string_length(a))
        json_array_append_new(out, json_string(json_string_value(a)));
    if (json_array_size(out) == 0)
        json_array_append_new(out, json_string(MC_SERVER_SA_AUDIENCE));
    return out;
}

void mc_server_sa_handle_token_request(mc_server_request *req, mc_server_reply *reply)
{
    if (strcmp(req->method, "POST") != 0) {
        mc_server_reply_status(reply, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               req);
        return;
    }
    json_t *body = mc_server_parse_body(req, reply);
    if (!body)
        return;
    json_t *audiences = NULL;
    char *token = NULL;
    const char *kind = json_string_value(json_object_get(body, "kind"));
    if (kind && strcmp(kind, "TokenRequest") != 0) {
        mc_server_reply_status(reply, 400, "BadRequest",
                               "the body of a token request must be a TokenRequest "
                               "(authentication.k8s.io/v1)",
                               req);
        goto out;
    }
    const json_t *spec = json_object_get(body, "spec");
    if (json_is_object(json_object_get(spec, "boundObjectRef"))) {
        reply_token_invalid(reply, req,
                            "spec.boundObjectRef: Forbidden: meshcert server does not bind "
                            "tokens to objects; ask without --bound-object-kind");
        goto out;
    }
    int64_t seconds = expiration_seconds(spec, reply, req);
    if (!seconds)
        goto out;
    const json_t *sa =
        stored(req->server, req->cluster->name, "core/serviceaccounts", req->namespace, req->name);
    if (!sa) {
        mc_server_reply_not_found(reply, req, req->name);
        goto out;
    }
    mc_server_sa_claims claims;
    claims_for(req, sa, &claims);
    claims.expires_at = claims.issued_at + seconds;
    audiences = audiences_of(spec);
    mc_err err = {0};
    if (mc_server_sa_token_sign(req->cluster->sa_key, strlen(req->cluster->sa_key), &claims,
                                audiences, &token, &err) != MC_OK) {
        mc_server_reply_store_error(reply, req, &err);
        goto out;
    }
    char expires[40];
    mc_time_format(claims.expires_at, expires, sizeof(expires));
    json_t *answer =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:n},s:{s:O,s:I,s:n},s:{s:s,s:s}}", "kind", "TokenRequest",
                  "apiVersion", "authentication.k8s.io/v1", "metadata", "name", req->name,
                  "namespace", req->namespace, "creationTimestamp", "spec", "audiences", audiences,
                  "expirationSeconds", (json_int_t)seconds, "boundObjectRef", "status", "token",
                  token, "expirationTimestamp", expires);
    mc_server_reply_json(reply, 201, answer);
    /* the reply holds its own copy; wipe the one in the object */
    json_t *status = json_object_get(answer, "status");
    json_t *copy = json_object_get(status, "token");
    if (copy)
        mc_secure_zero((char *)json_string_value(copy), json_string_length(copy));
    json_decref(answer);
out:
    if (token)
        mc_secure_free_str(token);
    json_decref(audiences);
    json_decref(body);
}

/* ---- legacy token Secrets ---- */

static int set_base64(json_t *data, const char *key, const void *value, size_t len)
{
    char *b64 = NULL;
    if (mc_base64_encode(value, len, &b64, NULL) != MC_OK)
        return -1;
    int rc = json_object_set_new(data, key, json_string(b64));
    mc_secure_free_str(b64);
    return rc;
}

int mc_server_sa_fill_token_secret(const mc_server_request *req, json_t *obj,
                                   mc_server_reply *reply)
{
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (strcmp(req->resource->store_name, "core/secrets") != 0 || !type ||
        strcmp(type, SA_TOKEN_SECRET_TYPE) != 0)
        return 0;
    json_t *meta = json_object_get(obj, "metadata");
    json_t *annotations = json_object_get(meta, "annotations");
    const char *sa_name = json_string_value(json_object_get(annotations, SA_NAME_ANNOTATION));
    if (!sa_name || !*sa_name) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "Secret \"%.253s\" is invalid: metadata.annotations[" SA_NAME_ANNOTATION
                 "]: Required value",
                 mc_server_meta_string(obj, "name") ? mc_server_meta_string(obj, "name") : "");
        mc_server_reply_status(reply, 422, "Invalid", msg, req);
        return -1;
    }
    /* as kube's token controller: a Secret for a ServiceAccount that does
     * not exist (or a different one than the uid annotation names) gets no
     * token */
    const json_t *sa =
        stored(req->server, req->cluster->name, "core/serviceaccounts", req->namespace, sa_name);
    const char *want_uid = json_string_value(json_object_get(annotations, SA_UID_ANNOTATION));
    if (!sa || (want_uid && strcmp(want_uid, mc_server_meta_string(sa, "uid")) != 0))
        return 0;
    mc_server_sa_claims claims;
    claims_for(req, sa, &claims);
    snprintf(claims.secret_name, sizeof(claims.secret_name), "%s",
             mc_server_meta_string(obj, "name"));
    snprintf(claims.secret_uid, sizeof(claims.secret_uid), "%s", mc_server_meta_string(obj, "uid"));
    json_object_set_new(annotations, SA_UID_ANNOTATION, json_string(claims.uid));
    char *token = NULL, *ca = NULL, ca_path[4200];
    size_t ca_len = 0;
    mc_err err = {0};
    snprintf(ca_path, sizeof(ca_path), "%s/ca-cert.pem", req->server->data_dir);
    int rc = mc_file_read(ca_path, 1 << 20, &ca, &ca_len, &err);
    if (rc == MC_OK)
        rc = mc_server_sa_token_sign(req->cluster->sa_key, strlen(req->cluster->sa_key), &claims,
                                     NULL, &token, &err);
    json_t *data = json_object_get(obj, "data");
    if (!json_is_object(data))
        json_object_set_new(obj, "data", data = json_object());
    if (rc == MC_OK && (set_base64(data, "token", token, strlen(token)) ||
                        set_base64(data, "ca.crt", ca, ca_len) ||
                        set_base64(data, "namespace", req->namespace, strlen(req->namespace))))
        rc = mc_err_set(&err, MC_ENOMEM, "out of memory");
    if (token)
        mc_secure_free_str(token);
    free(ca);
    if (rc != MC_OK) {
        mc_server_reply_store_error(reply, req, &err);
        return -1;
    }
    return 0;
}
