/* validation.h - the admission check every write of the embedded server
 * passes before it is stored: create, update, every patch type, the status
 * subresource and server-side apply all reach it through handlers.c's
 * validate_object. It checks the object as kube-apiserver's decoding and
 * validation would: nesting depth, kind and apiVersion, ObjectMeta (field
 * types, labels, annotations and their size, finalizers, ownerReferences),
 * the fields of built-in kinds and of custom resources (the CRD's schema),
 * ConfigMap and Secret keys; fieldValidation decides what happens to unknown
 * fields. The rules themselves are api/validate.c's. Internal to src/server/.
 */
#ifndef MC_SERVER_VALIDATION_H
#define MC_SERVER_VALIDATION_H

#include <jansson.h>

#include "server/request.h"
#include "util/err.h"

/* What a refused write answers. */
typedef struct mc_server_verdict {
    int status;       /* 0 (accepted), 400, 413 or 422 */
    const char *reason; /* kube's Status reason: "BadRequest", "Invalid", ... */
    json_t *causes;   /* 422: details.causes (new reference) or NULL */
    char *message;    /* 422 with causes: the whole message (owned; err->msg may be cut) */
    json_t *warnings; /* accepted: kube's warnings, e.g. "unknown field \"foo\"" (new
                         reference) or NULL */
} mc_server_verdict;

/* Checks obj, the whole object req is about to store, and drops the unknown
 * fields kube drops (fieldValidation Ignore or Warn, the default; with Warn
 * each becomes a warning). Returns 0 with verdict->warnings, or the HTTP
 * status with verdict filled and err->msg the message (for 422 the part
 * after `<Kind> "<name>" is invalid: `, fields joined kube's way). Free the
 * verdict with mc_server_verdict_clear. */
int mc_server_validate_write(const mc_server_request *req, json_t *obj, mc_server_verdict *verdict,
                             mc_err *err);

/* Releases what verdict holds. */
void mc_server_verdict_clear(mc_server_verdict *verdict);

#endif
