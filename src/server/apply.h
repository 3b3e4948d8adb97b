/* apply.h - server-side apply and managedFields in the request machinery
 * (admission step, between routing in handlers.c and storage): the PATCH
 * options kube checks first, the object an application/apply-patch+yaml
 * request writes, and the metadata.managedFields every write records. The
 * write itself stays with handlers.c's create and update paths, so that an
 * apply meets the same validation, pruning, resourceVersion conflicts,
 * dry-run and watch events as any other write. Field-set logic: api/managed.h.
 */
#ifndef MC_SERVER_APPLY_H
#define MC_SERVER_APPLY_H

#include <jansson.h>

#include "server/request.h"

/* The media type of server-side apply (its body may be YAML or JSON). */
#define MC_SERVER_APPLY_CONTENT_TYPE "application/apply-patch+yaml"

/* PatchOptions as kube-apiserver validates them before looking at the
 * object: apply needs a fieldManager, force is for apply only, a
 * fieldManager is at most 128 printable bytes. Returns 0, or -1 with a 422
 * Invalid (kind PatchOptions, group meta.k8s.io) in reply. */
int mc_server_apply_check_options(const mc_server_request *req, int apply, mc_server_reply *reply);

/* The apply body as a JSON object (*config, new reference): JSON, or YAML.
 * Returns 0, or -1 with a 400 in reply. */
int mc_server_apply_parse(const mc_server_request *req, json_t **config, mc_server_reply *reply);

/* Computes what an apply of config (type meta already checked) writes over
 * current (the stored object, borrowed, or NULL when the apply creates):
 * *next (new reference) is current merged with config, less the fields the
 * manager gave up; req->applied_managed_fields (owned by req, freed with
 * mc_server_apply_done) the managedFields it must be stored with;
 * *precondition (caller frees, may be NULL) config's resourceVersion. An
 * apply that changes nothing sets *next to NULL and replies 200 with
 * current. Returns 0, or -1 with reply filled: 400 (managedFields in the
 * body, a name or namespace that is not the URL's), 409 Conflict in kube's
 * words with details.causes, 422 (a configuration the schema's list types
 * refuse). */
int mc_server_apply_prepare(mc_server_request *req, const json_t *current, json_t *config,
                            json_t **next, char **precondition, mc_server_reply *reply);

/* Releases what mc_server_apply_prepare left on req. */
void mc_server_apply_done(mc_server_request *req);

/* Sets next's metadata.managedFields for a write of next over current
 * (NULL for a create), just before it is stored: an apply's (computed by
 * mc_server_apply_prepare), or else the fields this write changed go to its
 * manager (fieldManager, or the User-Agent's product) as operation Update,
 * with subresource "status" for status writes. A client's own managedFields
 * are kept when they decode, and [] or [{}] clear them, as in kube. Returns
 * 0, or -1 with a 422 in reply for an invalid fieldManager. */
int mc_server_apply_track(mc_server_request *req, const json_t *current, json_t *next,
                          mc_server_reply *reply);

#endif
