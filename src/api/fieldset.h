/* fieldset.h - sets of field paths of a Kubernetes object, the unit of
 * ownership of server-side apply (structured-merge-diff's fieldpath.Set),
 * and the schema-aware walks over objects that server-side apply needs:
 * the set an applied configuration names, the fields two versions of an
 * object differ in, merging a configuration into a live object and removing
 * the fields an applier gave up. Pure functions over jansson values; the
 * managedFields bookkeeping built on them is in managed.h.
 */
#ifndef MC_API_FIELDSET_H
#define MC_API_FIELDSET_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* A field set is a JSON object tree. Its keys are path elements in the
 * FieldsV1 spelling: "f:<field>" (a field of an object or a map key),
 * "k:<json>" (an item of a list of type map, by its key fields, JSON with
 * sorted keys), "v:<json>" (an item of a list of type set, by value),
 * "i:<n>" (by index; read, never produced). A node holding the key "." is
 * itself a member; a node without it only leads to members. Invariant: no
 * node is empty. The root is never a member; an empty set is {}. */

/* Deepest path handled (objects nested deeper are refused, MC_ELIMIT). */
#define MC_FIELDSET_MAX_DEPTH 100

/* How the walks see an object: its structural schema, in the CRD's
 * openAPIV3Schema spelling, or NULL to deduce one from the value (objects are
 * maps whose every key is a member; lists are atomic). Either way the root's
 * metadata is ObjectMeta (labels and annotations maps, finalizers a set,
 * ownerReferences a map by uid) and metadata.managedFields is never walked.
 * Read from the schema: properties (struct fields), additionalProperties,
 * items, x-kubernetes-list-type (atomic, the default; set; map) with
 * x-kubernetes-list-map-keys, x-kubernetes-map-type (atomic or granular). */
typedef struct mc_fieldset_type {
    const json_t *schema; /* borrowed; NULL: deduced */
} mc_fieldset_type;

/* Reads a FieldsV1 value (as stored in managedFields[].fieldsV1) into a new
 * set (*out, new reference). MC_EINVAL naming the problem for anything else
 * than nested objects keyed by "." and valid path elements. */
int mc_fieldset_from_fields_v1(const json_t *fields_v1, json_t **out, mc_err *err);

/* The FieldsV1 value of a set, keys sorted as kube-apiserver writes them
 * ("." first); new reference, NULL on allocation failure. */
json_t *mc_fieldset_to_fields_v1(const json_t *set);

/* a ∪ b, a \ b (members of a that are not members of b; b's members do not
 * take their descendants with them) and a ∩ b; new references. */
json_t *mc_fieldset_union(const json_t *a, const json_t *b);
json_t *mc_fieldset_difference(const json_t *a, const json_t *b);
json_t *mc_fieldset_intersection(const json_t *a, const json_t *b);

/* set \= other, in place (the cheap form of mc_fieldset_difference). */
void mc_fieldset_subtract(json_t *set, const json_t *other);

/* 1 when the set has no member. */
int mc_fieldset_is_empty(const json_t *set);

/* Every member path in kube's notation (".spec.hosts", ".metadata.labels.app",
 * ".spec.ports[name=\"http\"]", ".spec.items[=\"a\"]"), in set order: a new
 * array of strings, NULL on allocation failure. */
json_t *mc_fieldset_paths(const json_t *set);

/* The set an applied configuration names (structured-merge-diff's
 * ToFieldSet): scalars, atomic lists and maps, items of set and map lists,
 * map entries, nulls and empty objects. *out: new reference. MC_EINVAL for
 * a list item without its key fields, a set item that is not a scalar or a
 * duplicate item; MC_ELIMIT past MC_FIELDSET_MAX_DEPTH. */
int mc_fieldset_of_object(const mc_fieldset_type *type, const json_t *obj, json_t **out,
                          mc_err *err);

/* How old and new differ: *changed (added or modified paths, with every path
 * inside an added value) and *removed (every path inside a removed value),
 * new references. old may be NULL (a create). Errors as mc_fieldset_of_object. */
int mc_fieldset_compare(const mc_fieldset_type *type, const json_t *old, const json_t *new_obj,
                        json_t **changed, json_t **removed, mc_err *err);

/* live with config merged into it, as apply merges (*out, new reference;
 * neither input changes): config's values win; objects merge key by key
 * unless atomic; lists of type set merge by value and of type map by key
 * fields (items merged key by key, new items where config has them); other
 * lists and scalars are replaced. live may be NULL. Errors as above. */
int mc_fieldset_merge(const mc_fieldset_type *type, const json_t *live, const json_t *config,
                      json_t **out, mc_err *err);

/* Removes from obj (in place) the values at the members of remove, except
 * where keep has members below that path (then only what keep does not
 * hold goes). An object or list this empties goes too (structured-merge-diff
 * leaves null there, which kube prunes). Paths obj does not have are ignored. */
int mc_fieldset_remove(const mc_fieldset_type *type, json_t *obj, const json_t *remove,
                       const json_t *keep, mc_err *err);

#endif
