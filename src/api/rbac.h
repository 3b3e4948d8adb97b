/* rbac.h - builders for the RBAC objects meshcert writes
 * (rbac.authorization.k8s.io/v1 Role and RoleBinding): `meshcert cluster
 * register --create-identity` makes the issuer's least-privilege identity in
 * a managed cluster with them. Built, never decoded (the server's authz.c
 * reads RBAC objects as JSON).
 */
#ifndef MC_API_RBAC_H
#define MC_API_RBAC_H

#include <jansson.h>

/* A Role namespace/name granting rules (a JSON array of PolicyRules; the
 * Role takes a new reference). New reference, NULL when out of memory. */
json_t *mc_api_role_new(const char *namespace, const char *name, json_t *rules);

/* A RoleBinding namespace/name of Role role to ServiceAccount
 * service_account_namespace/service_account. New reference, NULL when out of
 * memory. */
json_t *mc_api_role_binding_new(const char *namespace, const char *name, const char *role,
                                const char *service_account_namespace,
                                const char *service_account);

#endif
