/* options.h - the options of the write verbs (CreateOptions, UpdateOptions,
 * PatchOptions, DeleteOptions) as kube-apiserver reads and checks them before
 * anything is written: dryRun, and for delete the DeleteOptions body
 * (preconditions, propagationPolicy). A refused option answers the request
 * (422 Invalid naming "<Kind>.meta.k8s.io", or 400 for a body that does not
 * decode) and nothing is written. Internal to src/server/.
 */
#ifndef MC_SERVER_OPTIONS_H
#define MC_SERVER_OPTIONS_H

#include "server/internal.h"

/* DeleteOptions as the delete verbs use them. */
typedef struct mc_server_delete_options {
    char *precondition_rv;  /* owned; preconditions.resourceVersion or NULL */
    char *precondition_uid; /* owned; preconditions.uid or NULL */
    int orphan;             /* propagationPolicy Orphan (or orphanDependents true) */
} mc_server_delete_options;

/* Reads every dryRun query parameter of req into req->dry_run (1 when
 * dryRun=All was given). options_kind names the options in kube's error
 * ("CreateOptions", "UpdateOptions", "PatchOptions"). Returns 0, or -1 with
 * reply filled (422 Invalid, kube's "Unsupported value" message) when a value
 * other than "All" was given. */
int mc_server_options_dry_run(mc_server_request *req, const char *options_kind,
                              mc_server_reply *reply);

/* Reads DeleteOptions: from the JSON body when there is one, else from the
 * query (dryRun, propagationPolicy), as kube-apiserver does; sets
 * req->dry_run. Returns 0 with opts filled (free with
 * mc_server_delete_options_free), or -1 with reply filled: 400 for a body
 * that is not a DeleteOptions object or a field of the wrong type, 422 for an
 * unsupported dryRun or propagationPolicy. */
int mc_server_delete_options_parse(mc_server_request *req, mc_server_delete_options *opts,
                                   mc_server_reply *reply);

/* Frees what opts owns (not opts). Accepts NULL. */
void mc_server_delete_options_free(mc_server_delete_options *opts);

#endif
