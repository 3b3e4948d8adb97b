/* managed.h - metadata.managedFields: which field manager owns which fields
 * of an object, kept up to date by every write (operation Update) and by
 * server-side apply (operation Apply), with apply's conflicts, as
 * kube-apiserver's field manager does (structured-merge-diff's Updater).
 * Pure functions over jansson values and field sets (fieldset.h); the
 * server decides which manager, scope and schema a request has.
 */
#ifndef MC_API_MANAGED_H
#define MC_API_MANAGED_H

#include <jansson.h>
#include <stddef.h>

#include "api/fieldset.h"
#include "util/err.h"

/* kube's limit on a fieldManager's length (bytes). */
#define MC_MANAGED_MANAGER_MAX 128

/* One managedFields entry. A manager is identified by its name, operation
 * and subresource, and for Update also its apiVersion (kube's
 * BuildManagerIdentifier). */
typedef struct mc_managed_entry {
    char *manager;     /* owned */
    int apply;         /* 1: operation Apply; 0: Update */
    char *api_version; /* owned, e.g. "v1" */
    char *subresource; /* owned; "" for the main resource */
    char *time;        /* owned RFC 3339, or NULL */
    json_t *set;       /* owned field set (fieldset.h), never NULL */
} mc_managed_entry;

typedef struct mc_managed {
    mc_managed_entry *entries; /* owned array */
    size_t count;
} mc_managed;

/* Which fields a write may touch, hence own (kube's reset fields). */
#define MC_MANAGED_SCOPE_ALL    0 /* a kind without status subresource */
#define MC_MANAGED_SCOPE_MAIN   1 /* the main resource of a kind with one: not .status */
#define MC_MANAGED_SCOPE_STATUS 2 /* the status subresource: only .status */

/* One write, as the field manager sees it. Strings borrowed. */
typedef struct mc_managed_op {
    const char *manager;     /* the fieldManager */
    const char *api_version; /* of the resource, e.g. "certificates.smh.solo.io/v1alpha2" */
    const char *subresource; /* "" or "status" */
    const char *now;         /* RFC 3339 time of the write */
    int scope;               /* MC_MANAGED_SCOPE_* */
    mc_fieldset_type type;   /* the object's schema */
} mc_managed_op;

/* Frees the entries; m is empty afterwards. Accepts NULL. */
void mc_managed_clear(mc_managed *m);

/* Reads metadata.managedFields (NULL or absent: no entries) into m (which
 * must be empty). MC_EINVAL naming the entry for anything kube would not
 * decode (operation other than Apply/Update, fieldsType other than FieldsV1,
 * a malformed fieldsV1); m is empty then. */
int mc_managed_decode(const json_t *managed_fields, mc_managed *m, mc_err *err);

/* 1 when a client's managedFields ask to clear the bookkeeping: an empty
 * list, or a list of one empty entry (kube's isResetManagedFields). */
int mc_managed_is_reset(const json_t *managed_fields);

/* The managedFields list in kube's order (Apply before Update, then by time,
 * manager, apiVersion, subresource): new reference, NULL on allocation
 * failure. */
json_t *mc_managed_encode(const mc_managed *m);

/* Records a non-apply write (create, update, patch) of next over live (NULL
 * for a create): the fields it changed become op->manager's (operation
 * Update), leaving every other manager, and removed fields leave every
 * manager. Errors as mc_fieldset_compare; m is unchanged then. */
int mc_managed_update(mc_managed *m, const mc_managed_op *op, const json_t *live,
                      const json_t *next, mc_err *err);

/* Server-side apply of config (already checked to be an object of the right
 * kind, without managedFields) onto live (NULL: creates). *out (new
 * reference) receives the object to write: live merged with config, less the
 * fields op->manager applied last time and no longer applies and nobody else
 * owns. op->manager's Apply entry becomes config's fields; an object without
 * managedFields first gets them, for "before-first-apply". A field another
 * manager owns that the apply changes is a conflict: without force,
 * MC_ECONFLICT with *conflicts (new reference) an array of
 * {"manager": "\"name\"[ with subresource \"s\"][ using <apiVersion>]",
 * "field": ".spec.x"} (see mc_managed_conflict_message), m unchanged; with
 * force the field changes hands. *changed: 1 when the object's content
 * (within op->scope) differs from live's. Other errors as
 * mc_fieldset_of_object (e.g. duplicate list items in config). */
int mc_managed_apply(mc_managed *m, const mc_managed_op *op, const json_t *live,
                     const json_t *config, int force, json_t **out, int *changed,
                     json_t **conflicts, mc_err *err);

/* kube's message for apply conflicts: "Apply failed with 1 conflict:
 * conflict with \"m\": .spec.x", or for several "Apply failed with N
 * conflicts: conflicts with \"m\":\n- .spec.x\n- .spec.y". New string
 * (caller frees), NULL on allocation failure. */
char *mc_managed_conflict_message(const json_t *conflicts);

/* Status details.causes for conflicts: [{"reason": "FieldManagerConflict",
 * "message": "conflict with \"m\"", "field": ".spec.x"}]; new reference. */
json_t *mc_managed_conflict_causes(const json_t *conflicts);

/* Checks a fieldManager as kube does: at most MC_MANAGED_MANAGER_MAX bytes,
 * printable characters only. MC_EINVAL with kube's field error text
 * ("Too long: may not be more than 128 bytes", "Invalid value: ..."). */
int mc_managed_check_manager(const char *manager, mc_err *err);

/* The manager kube assigns a write without fieldManager: the User-Agent up
 * to its first '/', control characters dropped, cut at
 * MC_MANAGED_MANAGER_MAX bytes ("kubectl/v1.32.4 (linux)" -> "kubectl").
 * ua may be NULL (empty result). */
void mc_managed_manager_from_user_agent(const char *ua, char *out, size_t size);

#endif
