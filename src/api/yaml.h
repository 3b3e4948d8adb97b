/* yaml.h - one YAML document converted to JSON (jansson), for the places
 * meshcert reads YAML: kubeconfig files (kube/), application/yaml request
 * bodies (server/) and CRD manifests. libyaml's event parser; bounded depth;
 * anchors and aliases refused ("billion laughs").
 */
#ifndef MC_API_YAML_H
#define MC_API_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Converts one YAML document into JSON (*out, new reference): mappings to
 * objects (string keys), sequences to arrays, plain scalars resolved as
 * YAML 1.2's core schema does (null, true/false, integers, floats, else
 * strings), quoted scalars as strings. MC_EINVAL with the line and column of
 * the problem for malformed YAML, anchors/aliases, non-string keys, several
 * documents or nesting deeper than 64; MC_ENOMEM. */
int mc_api_yaml_to_json(const char *text, size_t len, json_t **out, mc_err *err);

#endif
