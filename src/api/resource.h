/* resource.h - the resources meshcert addresses, by group/version/resource.
 *
 * Objects travel as jansson values addressed by GVR; this table ties each
 * resource to its kind, scope and names, for building paths (kube/), serving
 * discovery (server/) and choosing a decoder.
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
} mc_api_resource;

/* The table (static storage) and its length. */
const mc_api_resource *mc_api_resources(size_t *count);

/* Finds a resource by group and plural resource name (version ignored when
 * NULL); NULL when unknown. */
const mc_api_resource *mc_api_resource_find(const char *group, const char *version,
                                            const char *resource);

/* Finds a resource by kind; NULL when unknown. */
const mc_api_resource *mc_api_resource_by_kind(const char *kind);

/* Writes "group/version" (or "v1" for the core group) into out. */
void mc_api_resource_api_version(const mc_api_resource *r, char *out, size_t out_size);

#endif
