/* yaml.h - request bodies sent as application/yaml, as kube-apiserver
 * accepts them: one YAML document converted to the JSON the server stores.
 */
#ifndef MC_SERVER_YAML_H
#define MC_SERVER_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Converts one YAML document into JSON (*out, new reference): mappings to
 * objects (string keys), sequences to arrays, plain scalars resolved as
 * YAML 1.2's core schema does (null, true/false, integers, floats, else
 * strings), quoted scalars as strings. MC_EINVAL with the line and column of
 * the problem for malformed YAML, anchors/aliases, non-string keys, several
 * documents or nesting deeper than 64. */
int mc_server_yaml_to_json(const char *text, size_t len, json_t **out, mc_err *err);

#endif
