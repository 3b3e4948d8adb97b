/* authz.c - identities, the authorization decision, and the self reviews
 * that let clients ask about both (see authz.h): SelfSubjectAccessReview
 * (authorization.k8s.io/v1, `kubectl auth can-i`) answers from
 * mc_server_authorize; SelfSubjectReview (authentication.k8s.io/v1 and
 * v1beta1, `kubectl auth whoami`) returns the caller's identity. Reviews are
 * answered at once and never stored. Error texts are kube-apiserver's.
 */
#include "server/authz.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/codec.h"
#include "server/handlers.h"
#include "server/internal.h"
#include "server/protobuf.h"
#include "server/rbac.h"
#include "util/str.h"

static void identity_add_group(mc_server_identity *identity, const char *group)
{
    if (identity->groups_len < MC_SERVER_GROUPS_MAX)
        snprintf(identity->groups[identity->groups_len++], MC_SERVER_USER_MAX, "%s", group);
}

void mc_server_identity_admin(mc_server_identity *identity, const char *cluster)
{
    memset(identity, 0, sizeof(*identity));
    snprintf(identity->user, sizeof(identity->user), "%.100s-admin", cluster);
    identity_add_group(identity, "system:masters");
    identity_add_group(identity, "system:authenticated");
}

void mc_server_identity_service_account(mc_server_identity *identity, const char *ns,
                                        const char *name)
{
    memset(identity, 0, sizeof(*identity));
    snprintf(identity->user, sizeof(identity->user), "system:serviceaccount:%.253s:%.253s", ns,
             name);
    char ns_group[MC_SERVER_USER_MAX];
    snprintf(ns_group, sizeof(ns_group), "system:serviceaccounts:%.253s", ns);
    identity_add_group(identity, "system:serviceaccounts");
    identity_add_group(identity, ns_group);
    identity_add_group(identity, "system:authenticated");
}

mc_server_authz_decision mc_server_authorize(const mc_server_rbac_source *rbac,
                                             const mc_server_identity *identity,
                                             const mc_server_authz_request *what, char *reason,
                                             size_t reason_size)
{
    if (reason && reason_size)
        reason[0] = '\0';
    if (!identity)
        return MC_SERVER_AUTHZ_DENY;
    if (mc_server_identity_in_group(identity, "system:masters"))
        return MC_SERVER_AUTHZ_ALLOW;
    return mc_server_rbac_allows(rbac, identity, what, reason, reason_size) ? MC_SERVER_AUTHZ_ALLOW
                                                                            : MC_SERVER_AUTHZ_DENY;
}

void mc_server_authz_forbidden_message(const mc_server_identity *identity,
                                       const mc_server_authz_request *what, const char *reason,
                                       char *out, size_t size)
{
    const char *verb = what->verb ? what->verb : "";
    const char *suffix = reason && *reason ? ": " : "";
    reason = reason ? reason : "";
    if (what->path) {
        snprintf(out, size, "forbidden: User \"%s\" cannot %.40s path \"%.1000s\"%s%s",
                 identity->user, verb, what->path, suffix, reason);
        return;
    }
    const char *group = what->group ? what->group : "";
    const char *sub = what->subresource && *what->subresource ? what->subresource : NULL;
    char resource[300], qualified[300], where[400];
    snprintf(resource, sizeof(resource), "%.200s%s%.60s", what->resource, sub ? "/" : "",
             sub ? sub : "");
    snprintf(qualified, sizeof(qualified), "%.200s%s%.90s", what->resource, *group ? "." : "",
             group);
    if (what->namespace && *what->namespace)
        snprintf(where, sizeof(where), "in the namespace \"%.253s\"", what->namespace);
    else
        snprintf(where, sizeof(where), "at the cluster scope");
    /* a long reason is cut (the return value is looked at so that GCC's
     * -Wformat-truncation knows the cut is meant) */
    int n;
    if (what->name && *what->name)
        n = snprintf(out, size,
                     "%s \"%.253s\" is forbidden: User \"%s\" cannot %.40s resource \"%s\" in "
                     "API group \"%.100s\" %s%s%s",
                     qualified, what->name, identity->user, verb, resource, group, where, suffix,
                     reason);
    else
        n = snprintf(out, size,
                     "%s is forbidden: User \"%s\" cannot %.40s resource \"%s\" in API group "
                     "\"%.100s\" %s%s%s",
                     qualified, identity->user, verb, resource, group, where, suffix, reason);
    if (n < 0 && size)
        out[0] = '\0';
}

/* ---- the cluster's RBAC objects, from the store ---- */

static const json_t **store_list(void *ctx, const char *plural, const char *ns, size_t *count)
{
    const mc_server_request *req = ctx;
    char resource[128];
    snprintf(resource, sizeof(resource), "rbac.authorization.k8s.io/%s", plural);
    const json_t **items = NULL;
    int more = 0;
    *count = 0;
    if (mc_store_list(req->server->store, req->cluster->name, resource, ns, NULL, NULL, 0, &items,
                      count, &more, NULL) != MC_OK) {
        *count = 0;
        return NULL;
    }
    return items;
}

static const json_t *store_get(void *ctx, const char *plural, const char *ns, const char *name)
{
    const mc_server_request *req = ctx;
    char resource[128];
    snprintf(resource, sizeof(resource), "rbac.authorization.k8s.io/%s", plural);
    return mc_store_get(req->server->store, req->cluster->name, resource, ns ? ns : "", name);
}

/* The RBAC objects of req's cluster. */
static mc_server_rbac_source store_source(const mc_server_request *req)
{
    mc_server_rbac_source source = {store_list, store_get, (void *)req};
    return source;
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

/* The object a list or watch is about when its fieldSelector pins
 * metadata.name (kube's RequestInfo does the same, so that resourceNames
 * rules can allow an informer on one object); else NULL. Into buf. */
static const char *selected_name(const mc_server_request *req, char *buf, size_t size)
{
    const char *selector = mc_server_query(req, "fieldSelector");
    for (const char *p = selector; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *value = NULL;
        if (len > 15 && strncmp(p, "metadata.name==", 15) == 0)
            value = p + 15;
        else if (len > 14 && strncmp(p, "metadata.name=", 14) == 0)
            value = p + 14;
        if (value && (size_t)(p + len - value) < size) {
            memcpy(buf, value, (size_t)(p + len - value));
            buf[p + len - value] = '\0';
            return buf;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return NULL;
}

int mc_server_authz_check(const mc_server_request *req, mc_server_reply *reply)
{
    const mc_server_resource *r = req->resource;
    char selected[256];
    mc_server_authz_request what = {request_verb(req), r->group,  r->plural, req->subresource,
                                    req->namespace,    req->name, NULL};
    if (!req->name && (!strcmp(what.verb, "list") || !strcmp(what.verb, "watch")))
        what.name = selected_name(req, selected, sizeof(selected));
    mc_server_rbac_source rbac = store_source(req);
    char reason[512];
    if (mc_server_authorize(&rbac, &req->identity, &what, reason, sizeof(reason)) ==
        MC_SERVER_AUTHZ_ALLOW)
        return 0;
    char msg[3000];
    mc_server_authz_forbidden_message(&req->identity, &what, reason, msg, sizeof(msg));
    mc_server_reply_status(reply, 403, "Forbidden", msg, req);
    return -1;
}

int mc_server_authz_check_path(const mc_server_request *req, const char *path,
                               mc_server_reply *reply)
{
    char verb[16];
    size_t i = 0;
    for (; req->method[i] && i + 1 < sizeof(verb); i++)
        verb[i] = (char)tolower((unsigned char)req->method[i]);
    verb[i] = '\0';
    mc_server_authz_request what = {verb, NULL, NULL, NULL, NULL, NULL, path};
    mc_server_rbac_source rbac = store_source(req);
    char reason[512], msg[3000];
    if (mc_server_authorize(&rbac, &req->identity, &what, reason, sizeof(reason)) ==
        MC_SERVER_AUTHZ_ALLOW)
        return 0;
    mc_server_authz_forbidden_message(&req->identity, &what, reason, msg, sizeof(msg));
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
    char reason[512];
    mc_server_rbac_source rbac = store_source(req);
    int allowed = mc_server_authorize(&rbac, &req->identity, &what, reason, sizeof(reason)) ==
                  MC_SERVER_AUTHZ_ALLOW;
    json_t *status = json_pack("{s:b}", "allowed", allowed);
    if (reason[0])
        json_object_set_new(status, "reason", json_string(reason));
    json_object_set_new(review, "status", status);
    mc_server_reply_json(reply, 201, review);
}

/* SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules of the
 * caller in spec.namespace, from the same RBAC objects; system:masters gets
 * kube's "*" rules. */
static void rules_review(const mc_server_request *req, json_t *review, mc_server_reply *reply)
{
    const char *ns = string_at(json_object_get(review, "spec"), "namespace");
    json_t *resource_rules = json_array(), *non_resource_rules = json_array();
    if (mc_server_identity_in_group(&req->identity, "system:masters")) {
        json_array_append_new(resource_rules, json_pack("{s:[s],s:[s],s:[s]}", "verbs", "*",
                                                        "apiGroups", "*", "resources", "*"));
        json_array_append_new(non_resource_rules,
                              json_pack("{s:[s],s:[s]}", "verbs", "*", "nonResourceURLs", "*"));
    } else {
        mc_server_rbac_source rbac = store_source(req);
        mc_server_rbac_rules(&rbac, &req->identity, ns, resource_rules, non_resource_rules);
    }
    json_object_set_new(review, "status",
                        json_pack("{s:o,s:o,s:b}", "resourceRules", resource_rules,
                                  "nonResourceRules", non_resource_rules, "incomplete", 0));
    mc_server_reply_json(reply, 201, review);
}

/* SelfSubjectReview: status.userInfo is the caller. */
static void self_review(const mc_server_request *req, json_t *review, mc_server_reply *reply)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < req->identity.groups_len; i++)
        json_array_append_new(groups, json_string(req->identity.groups[i]));
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
    else if (strcmp(r->kind, "SelfSubjectRulesReview") == 0)
        rules_review(req, review, reply);
    else
        self_review(req, review, reply);
    json_decref(review);
}
