/* resource.c - the static GVR table (see resource.h).
 *
 * Kept in one place so that the CRDs in deploy/crds/, the server's discovery
 * and the client's paths cannot disagree on a plural or a short name
 * (tests/unit/crd_test.c checks the CRDs against this table).
 */
#include "api/resource.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "api/issued_certificate.h"

#define RBAC "rbac.authorization.k8s.io"

static const mc_api_resource resources[MC_API_RESOURCE_COUNT] = {
    [MC_API_ISSUED_CERTIFICATES] = {MC_API_GROUP, MC_API_VERSION, "issuedcertificates",
                                    "issuedcertificate", "IssuedCertificate", true, true, "ic", ""},
    [MC_API_CERTIFICATE_REQUESTS] = {MC_API_GROUP, MC_API_VERSION, "certificaterequests",
                                     "certificaterequest", "CertificateRequest", true, true, "cr",
                                     ""},
    [MC_API_POD_BOUNCE_DIRECTIVES] = {MC_API_GROUP, MC_API_VERSION, "podbouncedirectives",
                                      "podbouncedirective", "PodBounceDirective", true, true,
                                      "pbd", ""},
    [MC_API_ROOT_ROTATIONS] = {MC_API_GROUP, MC_API_VERSION, "rootrotations", "rootrotation",
                               "RootRotation", true, true, "rr", ""},
    [MC_API_SECRETS] = {"", "v1", "secrets", "secret", "Secret", true, false, "", ""},
    [MC_API_PODS] = {"", "v1", "pods", "pod", "Pod", true, true, "po", "all"},
    [MC_API_NAMESPACES] = {"", "v1", "namespaces", "namespace", "Namespace", false, true, "ns", ""},
    [MC_API_EVENTS] = {"", "v1", "events", "event", "Event", true, false, "ev", ""},
    [MC_API_LEASES] = {"coordination.k8s.io", "v1", "leases", "lease", "Lease", true, false, "", ""},
    [MC_API_CONFIG_MAPS] = {"", "v1", "configmaps", "configmap", "ConfigMap", true, false, "cm", ""},
    [MC_API_SERVICE_ACCOUNTS] = {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount",
                                 true, false, "sa", ""},
    [MC_API_DEPLOYMENTS] = {"apps", "v1", "deployments", "deployment", "Deployment", true, true,
                            "deploy", "all"},
    [MC_API_POD_DISRUPTION_BUDGETS] = {"policy", "v1", "poddisruptionbudgets",
                                       "poddisruptionbudget", "PodDisruptionBudget", true, true,
                                       "pdb", ""},
    [MC_API_CUSTOM_RESOURCE_DEFINITIONS] = {"apiextensions.k8s.io", "v1",
                                            "customresourcedefinitions", "customresourcedefinition",
                                            "CustomResourceDefinition", false, true, "crd,crds",
                                            "api-extensions"},
    [MC_API_CLUSTER_ROLE_BINDINGS] = {RBAC, "v1", "clusterrolebindings", "clusterrolebinding",
                                      "ClusterRoleBinding", false, false, "", ""},
    [MC_API_CLUSTER_ROLES] = {RBAC, "v1", "clusterroles", "clusterrole", "ClusterRole", false,
                              false, "", ""},
    [MC_API_ROLE_BINDINGS] = {RBAC, "v1", "rolebindings", "rolebinding", "RoleBinding", true, false,
                              "", ""},
    [MC_API_ROLES] = {RBAC, "v1", "roles", "role", "Role", true, false, "", ""},
    [MC_API_SELF_SUBJECT_ACCESS_REVIEWS] = {"authorization.k8s.io", "v1",
                                            "selfsubjectaccessreviews", "selfsubjectaccessreview",
                                            "SelfSubjectAccessReview", false, false, "", ""},
    [MC_API_SELF_SUBJECT_RULES_REVIEWS] = {"authorization.k8s.io", "v1", "selfsubjectrulesreviews",
                                           "selfsubjectrulesreview", "SelfSubjectRulesReview",
                                           false, false, "", ""},
    [MC_API_SELF_SUBJECT_REVIEWS] = {"authentication.k8s.io", "v1", "selfsubjectreviews",
                                     "selfsubjectreview", "SelfSubjectReview", false, false, "",
                                     ""},
    [MC_API_SELF_SUBJECT_REVIEWS_V1BETA1] = {"authentication.k8s.io", "v1beta1",
                                             "selfsubjectreviews", "selfsubjectreview",
                                             "SelfSubjectReview", false, false, "", ""},
};

const mc_api_resource *mc_api_resource_get(mc_api_resource_id id)
{
    assert((unsigned)id < MC_API_RESOURCE_COUNT);
    return &resources[id];
}

const mc_api_resource *mc_api_resource_find(const char *group, const char *version,
                                            const char *resource)
{
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
        const mc_api_resource *r = &resources[i];
        if (strcmp(r->group, group ? group : "") == 0 && strcmp(r->resource, resource) == 0 &&
            (!version || strcmp(r->version, version) == 0))
            return r;
    }
    return NULL;
}

const mc_api_resource *mc_api_resource_by_kind(const char *kind)
{
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
        if (strcmp(resources[i].kind, kind) == 0)
            return &resources[i];
    return NULL;
}

void mc_api_resource_api_version(const mc_api_resource *r, char *out, size_t out_size)
{
    if (*r->group)
        snprintf(out, out_size, "%s/%s", r->group, r->version);
    else
        snprintf(out, out_size, "%s", r->version);
}
