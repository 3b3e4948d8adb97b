/* authz.h - who a request is, and what it may do: the one authorization
 * decision of the embedded server (mc_server_authorize), which every resource
 * request and every SelfSubjectAccessReview asks. Today every valid token is
 * its cluster's admin (user "<cluster>-admin", group system:masters), which
 * may do everything; an RBAC implementation replaces the body of
 * mc_server_authorize and nothing else. No dependency on the HTTP layer.
 */
#ifndef MC_SERVER_AUTHZ_H
#define MC_SERVER_AUTHZ_H

#include <stddef.h>

#define MC_SERVER_USER_MAX 600 /* "system:serviceaccount:" + two DNS names */
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

/* 1 when identity is in group. */
int mc_server_identity_in_group(const mc_server_identity *identity, const char *group);

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

/* Decides whether identity may do what. reason (optional, reason_size
 * bytes) receives the authorizer's reason, "" when it has none (kube's
 * privileged-group authorizer gives none for system:masters). Members of
 * system:masters may do everything; anyone else nothing, until RBAC. */
mc_server_authz_decision mc_server_authorize(const mc_server_identity *identity,
                                             const mc_server_authz_request *what, char *reason,
                                             size_t reason_size);

#endif
