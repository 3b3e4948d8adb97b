/* patch.h - JSON merge patch (RFC 7386) and JSON patch (RFC 6902) on jansson
 * values, with JSON pointers (RFC 6901).
 *
 * The API server accepts both on PATCH (application/merge-patch+json and
 * application/json-patch+json); the server applies them with these functions
 * and the clients build merge patches with mc_json_merge_patch_diff. Applying
 * is all or nothing: on error the document is unchanged.
 */
#ifndef MC_API_PATCH_H
#define MC_API_PATCH_H

#include <jansson.h>

#include "util/err.h"

/* Applies the merge patch to *doc (which may be NULL, meaning no document),
 * replacing *doc with the result (a new reference; the old one is released).
 * patch is not modified. MC_ENOMEM only: every JSON value is a valid merge
 * patch. */
int mc_json_merge_patch(json_t **doc, const json_t *patch, mc_err *err);

/* Computes a merge patch that turns from into to (*out, a new reference).
 * Objects are diffed member by member; anything else that differs is
 * replaced whole. A null inside to cannot be expressed by a merge patch and
 * is written as a removal (RFC 7386 section 1). MC_ENOMEM. */
int mc_json_merge_patch_diff(const json_t *from, const json_t *to, json_t **out, mc_err *err);

/* Applies a JSON patch (an array of operations: add, remove, replace, move,
 * copy, test) to *doc, replacing *doc with the result on success; on failure
 * *doc is untouched. MC_EINVAL "json patch operation <i> (<op> <path>): <why>"
 * for a malformed patch, a path that does not exist, or a failed test. */
int mc_json_patch_apply(json_t **doc, const json_t *patch, mc_err *err);

/* Resolves an RFC 6901 pointer ("" is the whole document) in doc; *out is
 * borrowed. MC_EINVAL for a malformed pointer, MC_ENOTFOUND when a step does
 * not exist. */
int mc_json_pointer_get(const json_t *doc, const char *pointer, json_t **out, mc_err *err);

/* Equality as RFC 6902's test operation defines it: numbers by value
 * (1 equals 1.0), objects regardless of member order, strings byte by byte. */
int mc_json_equal(const json_t *a, const json_t *b);

#endif
