/* schema.h - validating custom resources against their CRD's structural
 * openAPIV3Schema, and pruning unknown fields, as kube-apiserver does.
 *
 * Supported: type (object, array, string, integer, number, boolean),
 * properties, additionalProperties (maps), items, required, enum, format
 * (byte: valid base64; int32/int64), nullable, minimum/maximum, minLength/
 * maxLength, pattern (POSIX extended regular expressions, the subset of
 * RE2 CRDs use: no \d or \w; at most 1024 bytes, repetition bounds at most
 * 1000 as RE2's and 100000 multiplied together), minItems/maxItems, x-kubernetes-preserve-unknown-fields,
 * x-kubernetes-int-or-string. apiVersion, kind and metadata are never pruned.
 */
#ifndef MC_SERVER_SCHEMA_H
#define MC_SERVER_SCHEMA_H

#include <jansson.h>

#include "util/err.h"

/* What mc_server_schema_validate does with fields the schema does not
 * declare (and with nulls of non-nullable fields). */
#define MC_SERVER_SCHEMA_KEEP   0 /* keep them; a null where not nullable is an error */
#define MC_SERVER_SCHEMA_PRUNE  1 /* drop them, as kube does by default */
#define MC_SERVER_SCHEMA_STRICT 2 /* report them (fieldValidation=Strict); nulls dropped */

/* Validates obj against schema; prune is one of MC_SERVER_SCHEMA_*. Every
 * problem is reported, joined kube's way ("[a, b]" for several), naming the
 * field path and the rule in kube's words, e.g.
 * `spec.hosts[0]: Invalid value: "integer": spec.hosts[0] in body must be of
 * type string: "integer"`. MC_EINVAL for invalid values (kube: 422 Invalid);
 * in strict mode MC_EUNSUPPORTED when undeclared fields are present,
 * `strict decoding error: unknown field "spec.foo"` (kube: 400 BadRequest),
 * checked before the values. On failure obj may be partly pruned. */
int mc_server_schema_validate(const json_t *schema, json_t *obj, int prune, mc_err *err);

/* Like mc_server_schema_validate; on MC_EINVAL *causes (when causes is not
 * NULL) receives a new array of Status details.causes, one per invalid value,
 * e.g. {"reason":"FieldValueInvalid","field":"spec.org","message":"Invalid
 * value: \"integer\": spec.org in body must be of type string: \"integer\""}
 * (kubectl prints these for a 422); otherwise *causes is NULL. */
int mc_server_schema_validate_causes(const json_t *schema, json_t *obj, int prune, json_t **causes,
                                     mc_err *err);

/* Like mc_server_schema_validate_causes; in MC_SERVER_SCHEMA_PRUNE mode
 * *pruned (when pruned is not NULL) receives a new array of the paths of the
 * fields dropped ("spec.foo"), for kube's fieldValidation=Warn warnings, or
 * NULL when none were. */
int mc_server_schema_validate_full(const json_t *schema, json_t *obj, int prune, json_t **causes,
                                   json_t **pruned, mc_err *err);

/* The structural schema of a built-in kind, by store name ("core/secrets"):
 * its top-level fields (and for Secret, ConfigMap, Namespace and Lease the
 * fields below them), so that writes are checked and pruned as custom
 * resources are. New reference, or NULL for a kind without one. apiVersion,
 * kind and metadata are declared as strings and an object. */
json_t *mc_server_schema_builtin(const char *store_name);

/* Checks that a schema is structural enough to serve (a type at every level,
 * properties/items well-formed). MC_EINVAL naming the path. */
int mc_server_schema_check(const json_t *schema, mc_err *err);

#endif
