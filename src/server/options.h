/* options.h - the options of the write verbs (CreateOptions, UpdateOptions,
 * PatchOptions, DeleteOptions) as kube-apiserver reads and checks them before
 * anything is written: dryRun, and for delete the DeleteOptions body
 * (preconditions, propagationPolicy); and the resourceVersion of reads. A refused option answers
 * the request (422 Invalid naming "<Kind>.meta.k8s.io", or 400 for a body that does not decode) and
 * nothing is written. Internal to src/server/.
 */
#ifndef MC_SERVER_OPTIONS_H
#define MC_SERVER_OPTIONS_H

#include <stdint.h>

#include "server/request.h"

/* DeleteOptions as the delete verbs use them. */
typedef struct mc_server_delete_options {
    char *precondition_rv;  /* owned; preconditions.resourceVersion or NULL */
    char *precondition_uid; /* owned; preconditions.uid or NULL */
    int orphan;             /* propagationPolicy Orphan (or orphanDependents true) */
    int foreground;         /* propagationPolicy Foreground: dependents go first */
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

/* The resourceVersion query parameter of a get, list or watch, read as
 * kube-apiserver's versioner does (strconv.ParseUint): *rv = 0 when absent,
 * "" or "0"; else its value. -1 with a 400 BadRequest ("invalid resource
 * version: ...") for anything else (-1, abc, 2^64). */
int mc_server_options_resource_version(const mc_server_request *req, uint64_t *rv,
                                       mc_server_reply *reply);

/* The Status kube-apiserver's watch cache answers for a resourceVersion
 * newer than the cluster's revision: 504, reason Timeout, "Timeout: Too large
 * resource version: <rv>, current: <current>", cause ResourceVersionTooLarge,
 * retryAfterSeconds 1. New reference. */
json_t *mc_server_status_too_large_rv(uint64_t rv, int64_t current);

/* Frees what opts owns (not opts). Accepts NULL. */
void mc_server_delete_options_free(mc_server_delete_options *opts);

#endif
