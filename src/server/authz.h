/* authz.h - who a request is, and what it may do: the one authorization
 * decision of the embedded server (mc_server_authorize), which every
 * request - resource or not, watches included - and every
 * SelfSubjectAccessReview asks. A cluster's admin token is user
 * "<cluster>-admin" in system:masters and may do everything; every other
 * identity (ServiceAccount tokens) is judged by RBAC (rbac.h) from the
 * cluster's Roles, ClusterRoles and bindings. No dependency on the HTTP
 * layer.
 */
#ifndef MC_SERVER_AUTHZ_H
#define MC_SERVER_AUTHZ_H

#include <jansson.h>
#include <stddef.h>

#define MC_SERVER_USER_MAX   600 /* "system:serviceaccount:" + two DNS names */
#define MC_SERVER_GROUPS_MAX 4

/* An authenticated identity (kube's user.Info). A plain value: copying it
 * copies everything. */
typedef struct mc_server_identity {
    char user[MC_SERVER_USER_MAX]; /* user name, e.g. "c1-admin" */
    char groups[MC_SERVER_GROUPS_MAX][MC_SERVER_USER_MAX]; /* the first groups_len are set */
    size_t groups_len;
} mc_server_identity;

/* The identity behind a cluster's admin token: the user its kubeconfig
 * names ("<cluster>-admin"), groups system:masters and system:authenticated. */
void mc_server_identity_admin(mc_server_identity *identity, const char *cluster);

/* The identity of a ServiceAccount token, as kube names it: user
 * "system:serviceaccount:<ns>:<name>", groups system:serviceaccounts,
 * system:serviceaccounts:<ns> and system:authenticated. */
void mc_server_identity_service_account(mc_server_identity *identity, const char *ns,
                                        const char *name);


/* What is asked (kube's authorizer.Attributes). Strings may be "*" in a
 * SelfSubjectAccessReview; NULL or "" means none / all namespaces. */
typedef struct mc_server_authz_request {
    const char *verb;        /* get, list, watch, create, update, patch, delete, deletecollection */
    const char *group;       /* "" for core */
    const char *resource;    /* plural; NULL for a non-resource request */
    const char *subresource; /* "status" or NULL */
    const char *namespace;   /* NULL or "" for cluster-scoped / every namespace */
    const char *name;        /* NULL or "" for every object */
    const char *path;        /* a non-resource request's URL path; else NULL */
} mc_server_authz_request;

typedef enum {
    MC_SERVER_AUTHZ_DENY = 0,
    MC_SERVER_AUTHZ_ALLOW = 1,
} mc_server_authz_decision;

/* Where the RBAC objects of one cluster come from (the store, or a test's
 * table). plural is "roles", "rolebindings", "clusterroles" or
 * "clusterrolebindings"; ns is NULL for the cluster-scoped two. */
typedef struct mc_server_rbac_source {
    /* Every object of plural in ns: a new array of borrowed objects (free
     * the array only), *count set; NULL with *count 0 when there are none. */
    const json_t **(*list)(void *ctx, const char *plural, const char *ns, size_t *count);
    /* One object by name, borrowed; NULL when absent. */
    const json_t *(*get)(void *ctx, const char *plural, const char *ns, const char *name);
    void *ctx;
} mc_server_rbac_source;

/* Decides whether identity may do what. Members of system:masters may do
 * everything (reason "", as kube's privileged-group authorizer); anyone else
 * what RBAC allows from rbac's objects (NULL: none) and the defaults every
 * cluster has (rbac.h). reason (optional, reason_size bytes) receives the
 * authorizer's reason: for an allow, which binding allowed it, in kube's
 * words; "" for a deny. */
mc_server_authz_decision mc_server_authorize(const mc_server_rbac_source *rbac,
                                             const mc_server_identity *identity,
                                             const mc_server_authz_request *what, char *reason,
                                             size_t reason_size);

/* kube-apiserver's 403 message for identity being refused what (its
 * responsewriters.forbiddenMessage inside errors.NewForbidden), e.g.
 * `secrets "x" is forbidden: User "u" cannot get resource "secrets" in API
 * group "" in the namespace "ns"`, or for a non-resource request
 * `forbidden: User "u" cannot get path "/foo"`. */
void mc_server_authz_forbidden_message(const mc_server_identity *identity,
                                       const mc_server_authz_request *what, const char *reason,
                                       char *out, size_t size);

#endif
