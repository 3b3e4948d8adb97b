/* issuer_identity.c - the issuer's least-privilege identity in a managed
 * cluster (see issuer_identity.h). Every object is created, or replaced
 * when it exists (Role and RoleBinding: their rules and subjects are
 * brought to what this version needs; ServiceAccount and token Secret are
 * kept, so registering again does not revoke the token the issuer uses).
 */
#include "cli/issuer_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/core.h"
#include "api/meta.h"
#include "api/rbac.h"
#include "kube/config.h"
#include "util/base64.h"
#include "util/str.h"

#define TOKEN_SECRET MC_CLI_ISSUER_IDENTITY "-token"

/* Creates obj; when it exists and replace is set, updates it to obj. */
static int ensure(mc_kube_client *client, const mc_kube_resource *res, const char *ns, json_t *obj,
                  int replace, const char *cluster, mc_err *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    int rc = mc_kube_create(client, res, ns, obj, NULL, err);
    if (rc == MC_EEXISTS) {
        mc_err_clear(err);
        rc = MC_OK;
        json_t *existing = NULL;
        if (replace && (rc = mc_kube_get(client, res, ns, name, &existing, err)) == MC_OK) {
            json_object_set(
                json_object_get(obj, "metadata"), "resourceVersion",
                json_object_get(json_object_get(existing, "metadata"), "resourceVersion"));
            rc = mc_kube_update(client, res, ns, obj, NULL, err);
        }
        json_decref(existing);
    }
    if (rc != MC_OK)
        mc_err_prefix(err, "%s %s%s%s in cluster %s", res->plural, ns ? ns : "", ns ? "/" : "",
                      name ? name : "", cluster);
    return rc;
}

static int ensure_objects(mc_kube_client *client, const char *ns, const char *cluster, mc_err *err)
{
    json_t *rules = json_loads(MC_CLI_ISSUER_RULES, 0, NULL);
    json_t *objs[] = {
        mc_api_object_new(MC_API_NAMESPACES, NULL, ns),
        mc_api_object_new(MC_API_SERVICE_ACCOUNTS, ns, MC_CLI_ISSUER_IDENTITY),
        mc_api_role_new(ns, MC_CLI_ISSUER_IDENTITY, rules),
        mc_api_role_binding_new(ns, MC_CLI_ISSUER_IDENTITY, MC_CLI_ISSUER_IDENTITY, ns,
                                MC_CLI_ISSUER_IDENTITY),
        mc_api_service_account_token_secret_new(ns, TOKEN_SECRET, MC_CLI_ISSUER_IDENTITY),
    };
    json_decref(rules);
    const mc_kube_resource *res[] = {
        mc_kube_resource_of(MC_API_NAMESPACES), mc_kube_resource_of(MC_API_SERVICE_ACCOUNTS),
        mc_kube_resource_of(MC_API_ROLES), mc_kube_resource_of(MC_API_ROLE_BINDINGS),
        mc_kube_resource_of(MC_API_SECRETS)};
    const int replace[] = {0, 0, 1, 1, 0};
    int rc = MC_OK;
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        if (rc == MC_OK && !objs[i])
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        if (rc == MC_OK)
            rc = ensure(client, res[i], res[i]->namespaced ? ns : NULL, objs[i], replace[i],
                        cluster, err);
        json_decref(objs[i]);
    }
    return rc;
}

/* The token kube's token controller writes into the Secret (a new string,
 * wiped by the caller), waiting up to wait_ms for it. */
static int wait_token(mc_kube_client *client, const char *ns, const char *cluster, int wait_ms,
                      char **token, mc_err *err)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    for (int waited = 0;; waited += 200) {
        json_t *secret = NULL;
        int rc = mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, TOKEN_SECRET, &secret,
                             err);
        if (rc != MC_OK)
            return mc_err_prefix(err, "secret %s/%s in cluster %s", ns, TOKEN_SECRET, cluster);
        const char *b64 =
            json_string_value(json_object_get(json_object_get(secret, "data"), "token"));
        unsigned char *raw = NULL;
        size_t n = 0;
        if (b64 && mc_base64_decode(b64, strlen(b64), &raw, &n, NULL) == MC_OK && n > 0) {
            *token = (char *)raw; /* NUL-terminated by the decoder */
            json_decref(secret);
            return MC_OK;
        }
        if (raw)
            mc_secure_free(raw, n);
        json_decref(secret);
        if (waited >= wait_ms)
            return mc_err_set(err, MC_EUNAVAILABLE,
                              "secret %s/%s in cluster %s got no data.token within %d ms (is "
                              "the cluster's token controller running?)",
                              ns, TOKEN_SECRET, cluster, wait_ms);
        nanosleep(&pause, NULL);
    }
}

int mc_cli_issuer_identity_create(const char *admin_file, const char *agent_ns,
                                  const mc_kube_client_options *options, int wait_ms,
                                  char **kubeconfig, size_t *len, mc_err *err)
{
    mc_kube_config *admin = NULL;
    mc_kube_client *client = NULL;
    char *token = NULL;
    int rc = mc_kube_config_load_file(admin_file, NULL, &admin, err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(admin, options, &client, err);
    const char *cluster = admin && admin->server ? admin->server : admin_file;
    if (rc == MC_OK)
        rc = ensure_objects(client, agent_ns, cluster, err);
    if (rc == MC_OK)
        rc = wait_token(client, agent_ns, cluster, wait_ms, &token, err);
    if (rc == MC_OK) {
        *kubeconfig =
            mc_kube_config_token_kubeconfig(admin, MC_CLI_ISSUER_IDENTITY, token, agent_ns);
        if (!*kubeconfig)
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        else
            *len = strlen(*kubeconfig);
    }
    if (token)
        mc_secure_free_str(token);
    mc_kube_client_free(client);
    mc_kube_config_free(admin);
    return rc;
}
