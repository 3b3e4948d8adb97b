/* protobuf.h - reading the Kubernetes protobuf encoding of the few built-in
 * objects kubectl creates with its typed clients (`kubectl create secret`,
 * `create configmap`, `create namespace`, `create serviceaccount`, `create
 * role|clusterrole|rolebinding|clusterrolebinding`, `create token`, and the
 * reviews of `auth can-i` and `auth whoami`): those
 * requests arrive as application/vnd.kubernetes.protobuf and client-go does
 * not fall back to JSON. The server converts them to the JSON it stores and
 * answers in JSON, which the clients accept.
 */
#ifndef MC_SERVER_PROTOBUF_H
#define MC_SERVER_PROTOBUF_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Content type of Kubernetes protobuf bodies. */
#define MC_PROTOBUF_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/* Decodes a "k8s\0"-prefixed runtime.Unknown envelope holding a v1 Secret,
 * ConfigMap, Namespace or ServiceAccount, an rbac.authorization.k8s.io/v1
 * Role, ClusterRole, RoleBinding or ClusterRoleBinding, a TokenRequest
 * (authentication.k8s.io/v1), or a SelfSubjectAccessReview
 * (authorization.k8s.io/v1) or SelfSubjectReview (authentication.k8s.io/v1,
 * v1beta1) as `kubectl auth can-i` and `whoami` send them, into its JSON
 * form (*out, new reference). MC_EUNSUPPORTED for other kinds, MC_EINVAL for malformed
 * input (truncated, wrong wire types, nesting over 16 levels). */
int mc_server_protobuf_to_json(const void *data, size_t len, json_t **out, mc_err *err);

#endif
