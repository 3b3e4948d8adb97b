/* discovery.h - what kubectl reads before anything else: /version, /api,
 * /apis, the APIResourceList of every group-version, and /openapi/v3 built
 * from the registry (CRD schemas; permissive schemas for built-ins), so that
 * `kubectl apply` with validation, `get` and `describe` work.
 */
#ifndef MC_SERVER_DISCOVERY_H
#define MC_SERVER_DISCOVERY_H

#include "server/registry.h"

/* The gitVersion served at /version (kubectl's dispatcher picks its binary
 * from it). */
#define MC_SERVER_KUBE_VERSION "v1.32.4"

/* Serves a GET of a discovery or OpenAPI path (relative to the cluster
 * prefix, starting with '/', no query string): /version, /api, /api/v1,
 * /apis, /apis/<g>, /apis/<g>/<v>, /openapi/v3, /openapi/v3/api/v1,
 * /openapi/v3/apis/<g>/<v>, /openapi/v2. Returns 1 when path is one of them,
 * with *status, *body (new string, caller frees) and *content_type set;
 * 0 when it is not a discovery path (the caller routes it elsewhere). accept
 * is the request's Accept header (may be NULL). */
int mc_server_discovery_serve(const mc_server_registry *registry, const char *path,
                              const char *accept, int *status, char **body,
                              const char **content_type);

#endif
