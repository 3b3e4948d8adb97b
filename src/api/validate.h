/* validate.h - the syntax rules of Kubernetes names, labels and sizes, and of
 * certificate hosts.
 *
 * The rules are those of k8s.io/apimachinery/pkg/util/validation (the API
 * server rejects what fails them) plus the host forms an IssuedCertificate
 * accepts. Each check returns 0 or MC_EINVAL (MC_ELIMIT for sizes) with a
 * message that quotes the value; callers prefix it with the object and field,
 * e.g. `issuedcertificate istio-system/mesh-1: spec.hosts[2]: "a..b" is not a
 * valid DNS name`.
 */
#ifndef MC_API_VALIDATE_H
#define MC_API_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

#include "api/maps.h"
#include "util/err.h"

#define MC_VALIDATE_DNS1123_LABEL_MAX 63
#define MC_VALIDATE_DNS1123_SUBDOMAIN_MAX 253
#define MC_VALIDATE_LABEL_VALUE_MAX 63
#define MC_VALIDATE_QUALIFIED_NAME_MAX 63
#define MC_VALIDATE_ANNOTATIONS_MAX (256u * 1024)     /* total bytes of keys + values */
#define MC_VALIDATE_OBJECT_MAX (1536u * 1024)         /* 1.5 MiB, etcd's default request limit */
#define MC_VALIDATE_SECRET_DATA_MAX (1024u * 1024)    /* 1 MiB, the API server's Secret limit */
#define MC_VALIDATE_ORG_MAX 64                        /* X.520 ub-organization-name */

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters (namespace names). */
int mc_validate_dns1123_label(const char *value, mc_err *err);

/* DNS-1123 labels joined by dots, at most 253 characters (most object names). */
int mc_validate_dns1123_subdomain(const char *value, mc_err *err);

/* A label key, annotation key or finalizer: [prefix/]name where the prefix is
 * a DNS-1123 subdomain and the name is at most 63 characters of
 * ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. */
int mc_validate_qualified_name(const char *value, mc_err *err);

/* Empty, or at most 63 characters of ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. */
int mc_validate_label_value(const char *value, mc_err *err);

/* Every key a qualified name and every value a label value; the message names
 * the offending key. */
int mc_validate_labels(const mc_api_str_map *labels, mc_err *err);

/* Every key a qualified name once lower-cased (kube: case does not matter in
 * annotation keys) and keys plus values at most 256 KiB in total (MC_ELIMIT). */
int mc_validate_annotations(const mc_api_str_map *annotations, mc_err *err);

/* A Secret or ConfigMap data key: [-._a-zA-Z0-9]+, at most 253 characters,
 * not "." or "..", not starting with "..". */
int mc_validate_secret_key(const char *value, mc_err *err);

/* kube-apiserver's words for the same rules, for the embedded server's 422
 * messages (`metadata.labels: Invalid value: "x": <reason>`): the first
 * message k8s.io/apimachinery's IsQualifiedName, IsValidLabelValue and
 * IsConfigMapKey return for value, or NULL when value passes. The string is
 * static. An annotation key is a qualified name once lower-cased. */
const char *mc_validate_qualified_name_reason(const char *value);
const char *mc_validate_annotation_key_reason(const char *value);
const char *mc_validate_label_value_reason(const char *value);
const char *mc_validate_config_key_reason(const char *value);

/* Deepest nesting of objects and arrays a written object may have (kube's
 * JSON decoder allows 10 000; jansson parses at most 2048, and lists and
 * watch events wrap an object in two more levels). */
#define MC_VALIDATE_DEPTH_MAX 1000

/* 0 when value nests objects and arrays at most max levels deep (a scalar
 * is 0, {} is 1); MC_ELIMIT otherwise. Recursion stops at max + 1. */
int mc_validate_depth(const json_t *value, int max, mc_err *err);

/* The compact JSON encoding of obj is at most 1.5 MiB (MC_ELIMIT otherwise). */
int mc_validate_object_size(const json_t *obj, mc_err *err);

#endif
