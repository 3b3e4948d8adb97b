/* authz.c - identities, the authorization decision, and the self reviews
 * that let clients ask about both (see authz.h): SelfSubjectAccessReview
 * (authorization.k8s.io/v1, `kubectl auth can-i`) answers from
 * mc_server_authorize; SelfSubjectReview (authentication.k8s.io/v1 and
 * v1beta1, `kubectl auth whoami`) returns the caller's identity. Reviews are
 * answered at once and never stored. Error texts are kube-apiserver's.
 */
#include "server/authz.h"

#include <stdio.h>
#include <string.h>

#include "api/codec.h"
#include "server/handlers.h"
#include "server/protobuf.h"
#include "util/str.h"

static const char *const admin_groups[] = {"system:masters", "system:authenticated", NULL};

void mc_server_identity_admin(mc_server_identity *identity, const char *cluster)
{
    snprintf(identity->user, sizeof(identity->user), "%.100s-admin", cluster);
    identity->groups = admin_groups;
}

static int in_group(const mc_server_identity *identity, const char *group)
{
    for (const char *const *g = identity->groups; g && *g; g++)
        if (strcmp(*g, group) == 0)
            return 1;
    return 0;
}

mc_server_authz_decision mc_server_authorize(const mc_server_identity *identity,
                                             const mc_server_authz_request *what, char *reason,
                                             size_t reason_size)
{
    (void)what; /* RBAC will look at it */
    if (reason && reason_size)
        reason[0] = '\0';
    if (identity && in_group(identity, "system:masters"))
        return MC_SERVER_AUTHZ_ALLOW;
    return MC_SERVER_AUTHZ_DENY;
}

/* ---- every resource request ---- */

/* kube's verb for a request: get/list/watch, create, update, patch,
 * delete/deletecollection. */
static const char *request_verb(const mc_server_request *req)
{
    const char *m = req->method;
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        if (req->name)
            return "get";
        const char *watch = mc_server_query(req, "watch");
        return watch && (strcmp(watch, "true") == 0 || strcmp(watch, "1") == 0) ? "watch" : "list";
    }
    if (strcmp(m, "POST") == 0)
        return "create";
    if (strcmp(m, "PUT") == 0)
        return "update";
    if (strcmp(m, "PATCH") == 0)
        return "patch";
    if (strcmp(m, "DELETE") == 0)
        return req->name ? "delete" : "deletecollection";
    return m;
}

int mc_server_authz_check(const mc_server_request *req, mc_server_reply *reply)
{
    const mc_server_resource *r = req->resource;
    mc_server_authz_request what = {request_verb(req), r->group,  r->plural, req->subresource,
                                    req->namespace,    req->name, NULL};
    char reason[256];
    if (mc_server_authorize(&req->identity, &what, reason, sizeof(reason)) == MC_SERVER_AUTHZ_ALLOW)
        return 0;
    /* responsewriters.forbiddenMessage, inside errors.NewForbidden */
    char resource[300], qualified[300], msg[2000];
    snprintf(resource, sizeof(resource), "%s%s%s", r->plural, req->subresource ? "/" : "",
             req->subresource ? req->subresource : "");
    snprintf(qualified, sizeof(qualified), "%s%s%s", r->plural, r->group[0] ? "." : "", r->group);
    char who[1200];
    if (req->namespace)
        snprintf(who, sizeof(who),
                 "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the namespace "
                 "\"%.253s\"",
                 req->identity.user, what.verb, resource, r->group, req->namespace);
    else
        snprintf(who, sizeof(who),
                 "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster scope",
                 req->identity.user, what.verb, resource, r->group);
    /* a long reason is cut (the return value is looked at so that GCC's
     * -Wformat-truncation knows the cut is meant) */
    int n;
    if (req->name)
        n = snprintf(msg, sizeof(msg), "%s \"%.253s\" is forbidden: %s%s%s", qualified, req->name,
                     who, reason[0] ? ": " : "", reason);
    else
        n = snprintf(msg, sizeof(msg), "%s is forbidden: %s%s%s", qualified, who,
                     reason[0] ? ": " : "", reason);
    if (n < 0)
        msg[0] = '\0';
    mc_server_reply_status(reply, 403, "Forbidden", msg, req);
    return -1;
}

/* ---- reviews ---- */

/* The review in the body (JSON, or protobuf as kubectl sends it); NULL with
 * a 400/415 reply. */
static json_t *review_body(const mc_server_request *req, mc_server_reply *reply)
{
    const char *type = mc_server_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_t *obj = NULL;
    mc_err err = {0};
    int rc;
    if (type && mc_str_has_prefix(type, MC_PROTOBUF_CONTENT_TYPE))
        rc = mc_server_protobuf_to_json(req->body, req->body_len, &obj, &err);
    else
        rc = mc_api_json_parse(req->body, req->body_len, &obj, &err);
    if (rc == MC_OK && json_is_object(obj))
        return obj;
    json_decref(obj);
    char msg[700];
    snprintf(msg, sizeof(msg), "the %s in the request body cannot be decoded: %s",
             req->resource->kind, err.msg[0] ? err.msg : "not an object");
    mc_server_reply_status(reply, rc == MC_EUNSUPPORTED ? 415 : 400,
                           rc == MC_EUNSUPPORTED ? "UnsupportedMediaType" : "BadRequest", msg, req);
    return NULL;
}

/* 422 of a review, kube's ValidateSelfSubjectAccessReviewSpec wording. */
static void reply_review_invalid(mc_server_reply *reply, const mc_server_request *req,
                                 const char *field, const char *detail)
{
    char msg[600], cause[400];
    snprintf(cause, sizeof(cause), "Invalid value: \"null\": %s", detail);
    snprintf(msg, sizeof(msg), "%s.%s \"\" is invalid: %s: %s", req->resource->kind,
             req->resource->group, field, cause);
    json_t *status = json_pack(
        "{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:s,s:s,s:[{s:s,s:s,s:s}]},s:i}", "kind", "Status",
        "apiVersion", "v1", "metadata", "status", "Failure", "message", msg, "reason", "Invalid",
        "details", "group", req->resource->group, "kind", req->resource->kind, "causes", "reason",
        "FieldValueInvalid", "message", cause, "field", field, "code", 422);
    mc_server_reply_json(reply, 422, status);
    json_decref(status);
}

static const char *string_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* SelfSubjectAccessReview: status.allowed from mc_server_authorize. */
static void access_review(const mc_server_request *req, json_t *review, mc_server_reply *reply)
{
    const json_t *spec = json_object_get(review, "spec");
    const json_t *res = json_object_get(spec, "resourceAttributes");
    const json_t *non = json_object_get(spec, "nonResourceAttributes");
    if (json_is_object(res) && json_is_object(non)) {
        reply_review_invalid(reply, req, "spec.nonResourceAttributes",
                             "cannot be specified in combination with resourceAttributes");
        return;
    }
    if (!json_is_object(res) && !json_is_object(non)) {
        reply_review_invalid(
            reply, req, "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified");
        return;
    }
    mc_server_authz_request what;
    memset(&what, 0, sizeof(what));
    if (json_is_object(res)) {
        what.verb = string_at(res, "verb");
        what.group = string_at(res, "group");
        what.resource = string_at(res, "resource");
        what.subresource = string_at(res, "subresource");
        what.namespace = string_at(res, "namespace");
        what.name = string_at(res, "name");
        if (!what.resource)
            what.resource = "";
    } else {
        what.verb = string_at(non, "verb");
        what.path = string_at(non, "path");
    }
    char reason[256];
    int allowed =
        mc_server_authorize(&req->identity, &what, reason, sizeof(reason)) == MC_SERVER_AUTHZ_ALLOW;
    json_t *status = json_pack("{s:b}", "allowed", allowed);
    if (reason[0])
        json_object_set_new(status, "reason", json_string(reason));
    json_object_set_new(review, "status", status);
    mc_server_reply_json(reply, 201, review);
}

/* SelfSubjectReview: status.userInfo is the caller. */
static void self_review(const mc_server_request *req, json_t *review, mc_server_reply *reply)
{
    json_t *groups = json_array();
    for (const char *const *g = req->identity.groups; g && *g; g++)
        json_array_append_new(groups, json_string(*g));
    json_object_set_new(
        review, "status",
        json_pack("{s:{s:s,s:o}}", "userInfo", "username", req->identity.user, "groups", groups));
    mc_server_reply_json(reply, 201, review);
}

void mc_server_authz_handle_review(mc_server_request *req, mc_server_reply *reply)
{
    const mc_server_resource *r = req->resource;
    if (strcmp(req->method, "POST") != 0 || req->name || req->subresource) {
        mc_server_reply_status(reply, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               req);
        return;
    }
    json_t *review = review_body(req, reply);
    if (!review)
        return;
    char api_version[256];
    mc_server_api_version(r, api_version, sizeof(api_version));
    const char *kind = string_at(review, "kind");
    if (kind && strcmp(kind, r->kind) != 0) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "the kind in the data (%.100s) does not match the expected kind (%s)", kind,
                 r->kind);
        mc_server_reply_status(reply, 400, "BadRequest", msg, req);
        json_decref(review);
        return;
    }
    json_object_set_new(review, "kind", json_string(r->kind));
    json_object_set_new(review, "apiVersion", json_string(api_version));
    json_t *meta = json_object_get(review, "metadata");
    if (!json_is_object(meta))
        json_object_set_new(review, "metadata", json_pack("{s:n}", "creationTimestamp"));
    if (strcmp(r->kind, "SelfSubjectAccessReview") == 0)
        access_review(req, review, reply);
    else
        self_review(req, review, reply);
    json_decref(review);
}
