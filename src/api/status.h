/* status.h - the Kubernetes Status object: every error body of the API
 * server, the object of a watch ERROR event, and the reply to some deletes.
 *
 * Clients branch on code and reason (404 NotFound, 409 Conflict vs
 * AlreadyExists, 410 Expired on a watch); the server builds its error replies
 * with mc_api_status_new. Unknown fields are kept (codec.h).
 */
#ifndef MC_API_STATUS_H
#define MC_API_STATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/codec.h"
#include "util/err.h"

typedef struct mc_api_status_cause {
    char *reason;  /* owned, e.g. FieldValueInvalid */
    char *message; /* owned */
    char *field;   /* owned, e.g. spec.hosts[0] */
} mc_api_status_cause;

typedef struct mc_api_status {
    json_t *raw;
    char *status;  /* owned: "Success" or "Failure" */
    char *message; /* owned */
    char *reason;  /* owned: NotFound, Conflict, Expired, ... */
    int64_t code;  /* HTTP status code */
    struct {
        char *name, *group, *kind, *uid; /* owned */
        int64_t retry_after_seconds;
        mc_api_status_cause *causes; /* owned array */
        size_t causes_len;
    } details;
} mc_api_status;

/* Builds a Failure Status (copies the strings; message may be printf-free
 * text of any length). NULL on allocation failure. */
mc_api_status *mc_api_status_new(int code, const char *reason, const char *message);

/* Decodes a Status; MC_EINVAL when kind is present and not "Status" or a
 * field has the wrong type. The JSON reference is kept as raw. */
int mc_api_status_decode(json_t *json, mc_api_status **out, mc_err *err);

/* Encodes into a new JSON object (*out, caller decrefs). MC_ENOMEM. */
int mc_api_status_encode(const mc_api_status *status, json_t **out, mc_err *err);

/* Frees status and everything it owns. Accepts NULL. */
void mc_api_status_free(mc_api_status *status);

/* Appends a details.causes entry (copies). MC_ENOMEM. */
int mc_api_status_add_cause(mc_api_status *status, const char *reason, const char *message,
                            const char *field);

/* The conventional reason for an HTTP code ("NotFound" for 404, ...), or
 * "Unknown". 409 maps to "Conflict"; AlreadyExists must be chosen explicitly. */
const char *mc_api_status_reason_for_code(int code);

#endif
