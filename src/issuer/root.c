/* root.c - the issuer generating its own root (--generate-root) when its
 * --root-secret is missing, but never a second root next to another one in
 * the namespace unless asked to (--allow-another-root).
 */
#include "issuer/state.h"

#include <string.h>

#include "issuer/root_secret.h"
#include "util/log.h"

#define LOG "issuer"

/* Before generating a root at ns/name: MC_EEXISTS naming the other root
 * when the namespace already holds one (a second root is a second trust
 * domain, made by a typo as easily as on purpose), unless allowed. */
static int check_no_other_root(mc_issuer *issuer, const char *ns, const char *name, mc_err *err)
{
    if (issuer->allow_another_root)
        return MC_OK;
    json_t *list = NULL;
    int rc =
        mc_kube_list(issuer->client, mc_kube_resource_of(MC_API_SECRETS), ns, NULL, &list, err);
    if (rc != MC_OK)
        return rc;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *other =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (other && strcmp(other, name) != 0 && mc_root_secret_is_root(item)) {
            rc = mc_err_set(err, MC_EEXISTS,
                            "not generating root %s/%s: secret %s/%s already holds a root "
                            "(a second root is a second trust domain; check --root-secret, or "
                            "pass --allow-another-root)",
                            ns, name, ns, other);
            break;
        }
    }
    json_decref(list);
    return rc;
}

int root_generate(mc_issuer *issuer, const char *ns, const char *name, json_t **obj, mc_err *err)
{
    int rc = check_no_other_root(issuer, ns, name, err);
    if (rc == MC_OK)
        rc = mc_root_secret_generate(issuer->client, ns, name, issuer->root_key_type,
                                     MC_ROOT_SECRET_DEFAULT_VALIDITY, 1, obj, err);
    else if (rc == MC_EEXISTS)
        mc_log_error(LOG, "%s", err->msg);
    return rc;
}
