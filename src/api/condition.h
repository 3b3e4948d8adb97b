/* condition.h - status.conditions (metav1.Condition) and the Ready condition
 * meshcert derives from a workflow state.
 *
 * The seed status fields (state, error, observedGeneration) keep their
 * meaning; conditions are written beside them so that generic tools
 * (`kubectl wait --for=condition=Ready`, Argo CD, kstatus) understand the
 * objects. Each entry keeps its raw JSON, so unknown members survive, and
 * lastTransitionTime changes only when the condition's status changes, as
 * apimachinery's meta.SetStatusCondition does.
 */
#ifndef MC_API_CONDITION_H
#define MC_API_CONDITION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/codec.h"
#include "util/err.h"

#define MC_API_CONDITION_READY "Ready"
/* True while an IssuedCertificate's successor certificate is being issued
 * (a renewal or a rotation) and the current one stays in place. */
#define MC_API_CONDITION_ISSUING "Issuing"

typedef struct mc_api_condition {
    json_t *raw;                 /* the decoded entry (a reference) or NULL */
    char *type;                  /* owned: "Ready" */
    char *status;                /* owned: "True", "False" or "Unknown" */
    int64_t observed_generation; /* the generation the condition was set for */
    char *last_transition_time;  /* owned, RFC 3339: when status last changed */
    char *reason;                /* owned, CamelCase */
    char *message;               /* owned, may be empty */
} mc_api_condition;

typedef struct mc_api_conditions {
    mc_api_condition *items; /* owned array */
    size_t len;
} mc_api_conditions;

/* Decodes status[key="conditions"] into *out (which must be empty). path
 * names the field in errors ("status.conditions"). MC_EINVAL for a wrongly
 * typed member or a lastTransitionTime that is not RFC 3339; MC_ENOMEM. */
int mc_api_conditions_decode(const json_t *status, mc_api_conditions *out, const mc_codec_ctx *ctx,
                             const char *path, mc_err *err);

/* Writes conditions into status["conditions"] (omitted when empty, as
 * omitempty does). MC_ENOMEM. */
int mc_api_conditions_encode(const mc_api_conditions *conditions, json_t *status);

/* Frees the entries and zeroes conditions. Accepts NULL. */
void mc_api_conditions_clear(mc_api_conditions *conditions);

/* The condition of that type, or NULL. */
const mc_api_condition *mc_api_conditions_get(const mc_api_conditions *conditions,
                                              const char *type);

/* Whether the condition of that type already says exactly this (status,
 * reason, message, observedGeneration). */
int mc_api_conditions_says(const mc_api_conditions *conditions, const char *type,
                           const char *status, const char *reason, const char *message,
                           int64_t observed_generation);

/* Sets the condition of that type (added when absent). lastTransitionTime
 * becomes now (Unix seconds) when the condition is new or its status
 * changes, and is kept otherwise. MC_ENOMEM (conditions unchanged). */
int mc_api_conditions_set(mc_api_conditions *conditions, const char *type, const char *status,
                          const char *reason, const char *message, int64_t observed_generation,
                          int64_t now);

#endif
