/* rbac.h - kube-apiserver's RBAC authorizer for the embedded server: the
 * rules of the ClusterRoles bound by ClusterRoleBindings apply everywhere,
 * the rules of Roles and ClusterRoles bound by a RoleBinding apply in that
 * binding's namespace. A rule allows a request when its verbs, apiGroups,
 * resources ("resource/subresource", "*", "*\/subresource") and
 * resourceNames match - or, for a non-resource request, its verbs and
 * nonResourceURLs (exact, "*", or a "prefix*"). No aggregation rules. Every
 * cluster also has, without stored objects, kube's system:discovery,
 * system:basic-user and system:public-info-viewer bindings for
 * system:authenticated: discovery paths, /healthz, /livez, /readyz,
 * /version, and creating the self reviews. Pure: the objects come from an
 * mc_server_rbac_source.
 */
#ifndef MC_SERVER_RBAC_H
#define MC_SERVER_RBAC_H

#include <stddef.h>

#include "server/authz.h"

/* 1 when RBAC allows identity to do what, with reason (optional) set to
 * kube's `RBAC: allowed by RoleBinding "b/ns" of Role "r" to ServiceAccount
 * "sa/ns"`; 0 otherwise (reason ""). rbac may be NULL (defaults only). */
int mc_server_rbac_allows(const mc_server_rbac_source *rbac, const mc_server_identity *identity,
                          const mc_server_authz_request *what, char *reason, size_t reason_size);

/* Appends to resource_rules and non_resource_rules (JSON arrays) every
 * rule identity has in namespace ns (NULL: cluster-wide rules only), as a
 * SelfSubjectRulesReview's status lists them ({verbs, apiGroups,
 * resources[, resourceNames]} and {verbs, nonResourceURLs}). */
void mc_server_rbac_rules(const mc_server_rbac_source *rbac, const mc_server_identity *identity,
                          const char *ns, json_t *resource_rules, json_t *non_resource_rules);

/* 1 when identity is in group. */
int mc_server_identity_in_group(const mc_server_identity *identity, const char *group);

#endif
