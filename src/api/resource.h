/* resource.h - the resources meshcert addresses, by group/version/resource.
 *
 * Objects travel as jansson values addressed by GVR; this table ties each
 * resource to its kind, scope and names, for building paths (kube/), the
 * embedded server's built-in resources and discovery (server/) and choosing
 * a decoder. It is the one place a
 * group, version, plural or kind is spelled: callers name a resource by its
 * mc_api_resource_id (kube/ turns it into what its verbs take with
 * mc_kube_resource_of).
 */
#ifndef MC_API_RESOURCE_H
#define MC_API_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mc_api_resource {
    const char *group;        /* "" for the core group */
    const char *version;      /* "v1", "v1alpha2" */
    const char *resource;     /* plural, lower case: "issuedcertificates" */
    const char *singular;     /* "issuedcertificate" */
    const char *kind;         /* "IssuedCertificate" */
    bool namespaced;
    bool has_status;          /* a status subresource exists */
    const char *short_names;  /* comma-separated, "" when none */
    const char *categories;   /* comma-separated ("all"), "" when none */
} mc_api_resource;

/* Every resource of the table. */
typedef enum mc_api_resource_id {
    MC_API_ISSUED_CERTIFICATES,
    MC_API_CERTIFICATE_REQUESTS,
    MC_API_POD_BOUNCE_DIRECTIVES,
    MC_API_ROOT_ROTATIONS,
    MC_API_SECRETS,
    MC_API_PODS,
    MC_API_NAMESPACES,
    MC_API_EVENTS,
    MC_API_LEASES,
    MC_API_CONFIG_MAPS,
    MC_API_SERVICE_ACCOUNTS,
    MC_API_DEPLOYMENTS,
    MC_API_POD_DISRUPTION_BUDGETS,
    MC_API_CUSTOM_RESOURCE_DEFINITIONS,
    MC_API_CLUSTER_ROLE_BINDINGS,
    MC_API_CLUSTER_ROLES,
    MC_API_ROLE_BINDINGS,
    MC_API_ROLES,
    MC_API_SELF_SUBJECT_ACCESS_REVIEWS, /* the reviews are create-only */
    MC_API_SELF_SUBJECT_RULES_REVIEWS,
    MC_API_SELF_SUBJECT_REVIEWS,         /* authentication.k8s.io/v1 */
    MC_API_SELF_SUBJECT_REVIEWS_V1BETA1, /* what kubectl 1.27 asks first */
    MC_API_RESOURCE_COUNT
} mc_api_resource_id;

/* The table entry of id (static storage). */
const mc_api_resource *mc_api_resource_get(mc_api_resource_id id);

/* Finds a resource by group and plural resource name (version ignored when
 * NULL: the first version in the table); NULL when unknown. */
const mc_api_resource *mc_api_resource_find(const char *group, const char *version,
                                            const char *resource);

/* Finds a resource by kind (the first version in the table); NULL when
 * unknown. */
const mc_api_resource *mc_api_resource_by_kind(const char *kind);

/* Writes "group/version" (or "v1" for the core group) into out. */
void mc_api_resource_api_version(const mc_api_resource *r, char *out, size_t out_size);

#endif
