/* handlers.h - the request machinery's entry points below routing: the
 * verbs on a resource (handlers.c), the read verbs and selection (read.c),
 * the one door to the store for writes (handlers.c), and authorization
 * (authz.c). Called by the transport (http.c); they call neither it nor
 * server.c. Never included outside src/server/.
 */
#ifndef MC_SERVER_HANDLERS_H
#define MC_SERVER_HANDLERS_H

#include <jansson.h>
#include <stddef.h>

#include "server/registry.h"
#include "server/request.h"
#include "util/err.h"

/* The read verbs (read.c). */
void mc_server_handle_get(mc_server_request *req, mc_server_reply *reply);
void mc_server_handle_list(mc_server_request *req, mc_server_reply *reply);

/* Every object of the request's collection matching its labelSelector and
 * fieldSelector: *items is a new array of borrowed objects (free the array
 * only; valid until the next write). -1 with a 400/500 reply filled. */
int mc_server_select_all(const mc_server_request *req, mc_server_reply *reply,
                         const json_t ***items, size_t *count);

/* The write verbs' only door to the store (handlers.c): put or delete one
 * object as mc_store_put / mc_store_delete do, except that with
 * req->dry_run nothing is stored, no revision is used and no watcher hears of
 * it; a dry-run put leaves obj with the resourceVersion of the object it would
 * replace (none for a create), which is what kube-apiserver answers. */
int mc_server_write_put(const mc_server_request *req, const mc_server_resource *resource,
                        const char *ns, const char *name, json_t *obj, mc_err *err);
int mc_server_write_delete(const mc_server_request *req, const mc_server_resource *resource,
                           const char *ns, const char *name, mc_err *err);

/* Asks mc_server_authorize whether req's identity may do req's verb on its
 * resource: 0 when allowed, else -1 with a 403 Forbidden in kube's words
 * (authz.c). */
int mc_server_authz_check(const mc_server_request *req, mc_server_reply *reply);

/* The same for a non-resource request (discovery, OpenAPI, /version) of
 * req's identity to path (cluster-relative, e.g. "/apis"): the verb is the
 * lower-cased method, as kube's. */
int mc_server_authz_check_path(const mc_server_request *req, const char *path,
                               mc_server_reply *reply);

/* Answers a create of a review resource (SelfSubjectAccessReview,
 * SelfSubjectReview) at once, storing nothing; 405 for other methods
 * (authz.c). */
void mc_server_authz_handle_review(mc_server_request *req, mc_server_reply *reply);

/* ServiceAccount tokens (serviceaccounts.c). */

/* Authenticates a bearer token (after "Bearer ") that is not the cluster's
 * admin token: a ServiceAccount token signed with cluster's key whose
 * ServiceAccount (and, for a legacy token, Secret) still exists with the uid
 * it names. 0 with *identity filled; -1 when it does not authenticate (the
 * reason is logged at debug level, never the token). */
int mc_server_sa_authenticate(struct mc_server *server, const mc_server_cluster *cluster,
                              const char *bearer, mc_server_identity *identity);

/* POST .../serviceaccounts/<name>/token: a TokenRequest answered with a
 * new token (authentication.k8s.io/v1, `kubectl create token`). */
void mc_server_sa_handle_token_request(mc_server_request *req, mc_server_reply *reply);

/* On create of a Secret of type kubernetes.io/service-account-token naming
 * a ServiceAccount that exists (annotation kubernetes.io/service-account.name),
 * fills data.token, data.ca.crt, data.namespace and the
 * kubernetes.io/service-account.uid annotation, as kube's token controller
 * does (here before the Secret is stored). obj must have its uid. 0, or -1
 * with a reply filled. */
int mc_server_sa_fill_token_secret(const mc_server_request *req, json_t *obj,
                                   mc_server_reply *reply);

/* Handles a resource request (verbs, status subresource, watch). */
void mc_server_handle(mc_server_request *req, mc_server_reply *reply);

#endif
