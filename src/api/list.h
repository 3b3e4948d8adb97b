/* list.h - list responses and watch events.
 *
 * A list is {apiVersion, kind: "<Kind>List", metadata: {resourceVersion,
 * continue, remainingItemCount}, items: [...]}; a watch stream is one JSON
 * event per line, {type, object}. Items and event objects stay jansson values:
 * callers decode them with the kind's own decoder, so lists of any resource
 * (including ones meshcert does not model) pass through unchanged.
 */
#ifndef MC_API_LIST_H
#define MC_API_LIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct mc_api_list {
    json_t *raw;
    char *api_version;          /* owned */
    char *kind;                 /* owned, "<Kind>List" */
    char *resource_version;     /* owned: resume a watch from here */
    char *continue_token;       /* owned: metadata.continue, NULL on the last page */
    int64_t remaining_item_count; /* 0 when absent */
    json_t *items;              /* an array (owned reference), never NULL after decode/new */
} mc_api_list;

/* A new empty list of kind (e.g. "IssuedCertificateList"). NULL on failure. */
mc_api_list *mc_api_list_new(const char *api_version, const char *kind);

/* Decodes a list (kind must end in "List"; items an array, null counted as
 * empty). MC_EINVAL naming the field. The JSON reference is kept as raw. */
int mc_api_list_decode(json_t *json, mc_api_list **out, mc_err *err);

/* Encodes into a new object (*out, caller decrefs); items are shared by
 * reference, not copied. MC_ENOMEM. */
int mc_api_list_encode(const mc_api_list *list, json_t **out, mc_err *err);

/* Frees list and everything it owns. Accepts NULL. */
void mc_api_list_free(mc_api_list *list);

typedef enum mc_api_watch_type {
    MC_WATCH_ADDED,
    MC_WATCH_MODIFIED,
    MC_WATCH_DELETED,
    MC_WATCH_BOOKMARK,
    MC_WATCH_ERROR,
} mc_api_watch_type;

typedef struct mc_api_watch_event {
    json_t *raw;
    mc_api_watch_type type;
    json_t *object; /* owned reference: the object, or a Status for ERROR */
} mc_api_watch_event;

/* Decodes one event from a JSON value. MC_EINVAL when type is missing or
 * unknown or object is not an object. The JSON reference is kept as raw. */
int mc_api_watch_event_decode(json_t *json, mc_api_watch_event **out, mc_err *err);

/* Parses one line of a watch stream (len bytes, trailing newline allowed) and
 * decodes it. */
int mc_api_watch_event_parse(const char *line, size_t len, mc_api_watch_event **out,
                             mc_err *err);

/* A new event holding a reference to object. NULL on allocation failure. */
mc_api_watch_event *mc_api_watch_event_new(mc_api_watch_type type, json_t *object);

/* Encodes into a new object (*out, caller decrefs). MC_ENOMEM. */
int mc_api_watch_event_encode(const mc_api_watch_event *event, json_t **out, mc_err *err);

/* Frees event. Accepts NULL. */
void mc_api_watch_event_free(mc_api_watch_event *event);

/* "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR". */
const char *mc_api_watch_type_name(mc_api_watch_type type);

/* Returns 0 and sets *type when name is one of the five; MC_EINVAL otherwise. */
int mc_api_watch_type_parse(const char *name, mc_api_watch_type *type);

#endif
