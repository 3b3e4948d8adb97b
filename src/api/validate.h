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

/* Every key a qualified name (lower-cased prefix rules as for labels) and keys
 * plus values at most 256 KiB in total (MC_ELIMIT). */
int mc_validate_annotations(const mc_api_str_map *annotations, mc_err *err);

/* A Secret data key: [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..". */
int mc_validate_secret_key(const char *value, mc_err *err);

/* The compact JSON encoding of obj is at most 1.5 MiB (MC_ELIMIT otherwise). */
int mc_validate_object_size(const json_t *obj, mc_err *err);

#endif
