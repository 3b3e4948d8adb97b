/* resource.c - the static GVR table (see resource.h).
 *
 * Kept in one place so that the CRDs in deploy/crds/, the server's discovery
 * and the client's paths cannot disagree on a plural or a short name
 * (tests/unit/crd_test.c checks the CRDs against this table).
 */
#include "api/resource.h"

#include <stdio.h>
#include <string.h>

static const mc_api_resource resources[] = {
    {"certificates.smh.solo.io", "v1alpha2", "issuedcertificates", "issuedcertificate",
     "IssuedCertificate", true, true, "ic"},
    {"certificates.smh.solo.io", "v1alpha2", "certificaterequests", "certificaterequest",
     "CertificateRequest", true, true, "cr"},
    {"certificates.smh.solo.io", "v1alpha2", "podbouncedirectives", "podbouncedirective",
     "PodBounceDirective", true, true, "pbd"},
    {"certificates.smh.solo.io", "v1alpha2", "rootrotations", "rootrotation", "RootRotation", true,
     true, "rr"},
    {"", "v1", "secrets", "secret", "Secret", true, false, ""},
    {"", "v1", "pods", "pod", "Pod", true, true, "po"},
    {"", "v1", "namespaces", "namespace", "Namespace", false, true, "ns"},
    {"", "v1", "events", "event", "Event", true, false, "ev"},
    {"coordination.k8s.io", "v1", "leases", "lease", "Lease", true, false, ""},
};

const mc_api_resource *mc_api_resources(size_t *count)
{
    *count = sizeof(resources) / sizeof(resources[0]);
    return resources;
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
