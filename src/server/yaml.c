/* yaml.c - application/yaml request bodies: the conversion itself is
 * api/yaml.c (shared with kube/'s kubeconfig reader); this names the body
 * in the error so that a client sees which part of its request was wrong.
 */
#include "server/yaml.h"

#include "api/yaml.h"

int mc_server_yaml_to_json(const char *text, size_t len, json_t **out, mc_err *err)
{
    int rc = mc_api_yaml_to_json(text, len, out, err);
    if (rc != MC_OK)
        mc_err_prefix(err, "YAML body");
    return rc;
}
