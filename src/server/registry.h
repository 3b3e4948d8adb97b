/* registry.h - the resources one logical cluster serves: the built-in kinds
 * of api/'s resource table (core v1 namespaces, secrets, pods, configmaps, events, serviceaccounts;
 * coordination.k8s.io/v1 leases; apiextensions.k8s.io/v1
 * customresourcedefinitions; rbac.authorization.k8s.io/v1 roles,
 * clusterroles, rolebindings, clusterrolebindings; the create-only reviews
 * of authorization.k8s.io and authentication.k8s.io) and every custom
 * resource whose
 * CustomResourceDefinition was created through the API, per served version.
 *
 * The HTTP layer finds a resource for a path here; discovery, OpenAPI and
 * Table responses are built from it. Each logical cluster has its own
 * registry (CRDs are per cluster). Not thread-safe (one HTTP thread).
 */
#ifndef MC_SERVER_REGISTRY_H
#define MC_SERVER_REGISTRY_H

#include <jansson.h>
#include <stddef.h>

#include "api/resource.h"
#include "util/err.h"

typedef struct mc_server_resource {
    char *group;          /* "" for core */
    char *version;        /* "v1", "v1alpha2" */
    char *plural;         /* "issuedcertificates" */
    char *singular;       /* "issuedcertificate" */
    char *kind;           /* "IssuedCertificate" */
    char *list_kind;      /* "IssuedCertificateList" */
    char *store_name;     /* "<group>/<plural>", core group as "core": the store's key */
    int namespaced;       /* 1 when namespaced */
    int has_status;       /* 1 when a status subresource is served */
    char **short_names;   /* owned array of owned strings */
    size_t short_names_len;
    char **categories;    /* owned array of owned strings */
    size_t categories_len;
    json_t *schema;       /* openAPIV3Schema of this version (CRDs); NULL for built-ins */
    json_t *columns;      /* additionalPrinterColumns of this version (CRDs); NULL otherwise */
    char *crd_name;       /* "<plural>.<group>" for custom resources; NULL for built-ins */
    int create_only;      /* 1 for a review (SelfSubjectAccessReview, ...): create answers
                             it at once, nothing is stored, no other verb is served */
} mc_server_resource;

typedef struct mc_server_registry mc_server_registry;

/* 1 when r is resource id of api/'s table (resource.h; same group, version
 * and plural, whether built in or defined by a CRD): how the server picks
 * the code for a resource without spelling its name. */
int mc_server_resource_is(const mc_server_resource *r, mc_api_resource_id id);

/* A registry holding the built-in resources. NULL on allocation failure. */
mc_server_registry *mc_server_registry_new(void);

/* Frees the registry and its resources. Accepts NULL. */
void mc_server_registry_free(mc_server_registry *registry);

/* Finds a served resource by group ("" for core), version and plural.
 * NULL when not served. The pointer stays valid until the registry changes. */
const mc_server_resource *mc_server_registry_find(const mc_server_registry *registry,
                                                  const char *group, const char *version,
                                                  const char *plural);

/* Adds or replaces the resources of a CustomResourceDefinition (every version
 * with served: true). MC_EINVAL naming the field when the CRD is not valid
 * (metadata.name must be "<plural>.<group>", spec.names, spec.scope,
 * spec.versions with exactly one storage version, a structural schema per
 * version); the registry is unchanged then. */
int mc_server_registry_apply_crd(mc_server_registry *registry, const json_t *crd, mc_err *err);

/* Removes the resources of the CRD named crd_name (no-op when absent). */
void mc_server_registry_remove_crd(mc_server_registry *registry, const char *crd_name);

/* A deep copy of a resource that outlives registry changes (a watch keeps
 * one to print table rows); NULL on allocation failure. */
mc_server_resource *mc_server_resource_dup(const mc_server_resource *r);

/* Frees a copy from mc_server_resource_dup. Accepts NULL. */
void mc_server_resource_free(mc_server_resource *r);

/* Iteration, in a stable order (built-ins first, then CRDs by name). */
size_t mc_server_registry_count(const mc_server_registry *registry);
const mc_server_resource *mc_server_registry_at(const mc_server_registry *registry, size_t i);

#endif
