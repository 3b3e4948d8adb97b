/* policy.h - what a registered cluster may be issued, checked as pure
 * functions: the signing root an IssuedCertificate names, its org and its
 * hosts against the cluster's issuance policy (api/registration.h), which
 * the management cluster alone sets.
 *
 * Messages name the offending value and the policy, never anything about
 * other Secrets of the management cluster: a root outside the policy is
 * refused before it is read, with the same words whether it exists or not.
 */
#ifndef MC_ISSUER_POLICY_H
#define MC_ISSUER_POLICY_H

#include <stddef.h>

#include "api/meta.h"
#include "api/registration.h"
#include "util/err.h"

/* The root Secret "ns/name" ref names (an empty namespace means
 * default_namespace, the issuer's) into key, when the policy lists it.
 * MC_EVERIFY naming the ref, the cluster and the allowed roots otherwise;
 * MC_EINVAL for an unset ref. */
int mc_issuer_policy_check_root(const mc_api_registration_policy *policy, const char *cluster,
                                const mc_api_object_ref *ref, const char *default_namespace,
                                char *key, size_t key_size, mc_err *err);

/* True (1) when one host is inside the policy: spiffe://<td>[/...] with td
 * among the trust domains, or a DNS name (a "*." wildcard too) equal to or
 * below one of the DNS suffixes, without case. Other URIs and IP addresses
 * are never inside. */
int mc_issuer_policy_allows_host(const mc_api_registration_policy *policy, const char *host);

/* The org (empty is always allowed: no O=) and every host inside the
 * policy. MC_EVERIFY naming the org when it is outside, the first host
 * outside, and the policy. */
int mc_issuer_policy_check_names(const mc_api_registration_policy *policy, const char *cluster,
                                 const char *org, const char *const *hosts, size_t host_count,
                                 mc_err *err);

#endif
