/* rbac.c - Role and RoleBinding builders (see rbac.h); group and kinds come
 * from the resource table.
 */
#include "api/rbac.h"

#include "api/meta.h"
#include "api/resource.h"

json_t *mc_api_role_new(const char *namespace, const char *name, json_t *rules)
{
    json_t *role = mc_api_object_new(MC_API_ROLES, namespace, name);
    if (!role || !json_is_array(rules) || json_object_set(role, "rules", rules) != 0) {
        json_decref(role);
        return NULL;
    }
    return role;
}

json_t *mc_api_role_binding_new(const char *namespace, const char *name, const char *role,
                                const char *service_account_namespace,
                                const char *service_account)
{
    const mc_api_resource *roles = mc_api_resource_get(MC_API_ROLES);
    const mc_api_resource *accounts = mc_api_resource_get(MC_API_SERVICE_ACCOUNTS);
    json_t *binding = mc_api_object_new(MC_API_ROLE_BINDINGS, namespace, name);
    if (!binding ||
        json_object_set_new(binding, "roleRef",
                            json_pack("{s:s, s:s, s:s}", "apiGroup", roles->group, "kind",
                                      roles->kind, "name", role)) != 0 ||
        json_object_set_new(binding, "subjects",
                            json_pack("[{s:s, s:s, s:s}]", "kind", accounts->kind, "name",
                                      service_account, "namespace",
                                      service_account_namespace)) != 0) {
        json_decref(binding);
        return NULL;
    }
    return binding;
}
