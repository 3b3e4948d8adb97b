/* registration.h - a managed cluster's registration in the management
 * cluster: a Secret of type solo.io/kubeconfig whose data key <cluster>
 * holds the cluster's kubeconfig, and whose annotation
 * certificates.smh.solo.io/issuance-policy holds what the cluster may be
 * issued (signing roots, SPIFFE trust domains, DNS suffixes, orgs).
 *
 * The one place that reads and writes that policy: `meshcert cluster
 * register` builds the Secret here, the issuer and the tests read it here.
 * The policy is the management cluster's decision; nothing a managed
 * cluster writes can change it (see docs/workflow.md, "Trust boundary").
 */
#ifndef MC_API_REGISTRATION_H
#define MC_API_REGISTRATION_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define MC_API_REGISTRATION_POLICY_ANNOTATION "certificates.smh.solo.io/issuance-policy"
#define MC_API_REGISTRATION_LIST_MAX          64 /* entries per policy field */

typedef enum {
    MC_POLICY_ROOT = 0,     /* "ns/name" of a root Secret in the management cluster */
    MC_POLICY_TRUST_DOMAIN, /* SPIFFE trust domain: spiffe://<td>/... hosts */
    MC_POLICY_DNS_SUFFIX,   /* DNS names equal to it or below it */
    MC_POLICY_ORG,          /* an allowed subject O= (an empty org is always allowed) */
    MC_POLICY_FIELD_COUNT,
} mc_policy_field;

typedef struct mc_api_registration_policy {
    char **values[MC_POLICY_FIELD_COUNT]; /* owned arrays of owned strings, per field */
    size_t lens[MC_POLICY_FIELD_COUNT];
} mc_api_registration_policy;

/* An empty policy (nothing allowed). */
void mc_api_registration_policy_init(mc_api_registration_policy *policy);

/* Frees what the policy owns and empties it. Accepts NULL. */
void mc_api_registration_policy_clear(mc_api_registration_policy *policy);

/* The JSON name of a field ("roots", "trustDomains", "dnsSuffixes", "orgs"). */
const char *mc_api_registration_policy_field_name(mc_policy_field field);

/* Checks one value of a field: a root "ns/name" (DNS-1123 label and
 * subdomain), a trust domain (lower-case letters, digits, '.', '-', '_',
 * at most 255, no scheme), a DNS suffix (a DNS name without wildcard,
 * lower case), an org (1 to 64 characters, no control characters).
 * MC_EINVAL quoting the value. */
int mc_api_registration_policy_check(mc_policy_field field, const char *value, mc_err *err);

/* Adds a copy of value (checked) to a field; duplicates are kept once.
 * MC_EINVAL, MC_ELIMIT (more than MC_API_REGISTRATION_LIST_MAX), MC_ENOMEM. */
int mc_api_registration_policy_add(mc_api_registration_policy *policy, mc_policy_field field,
                                   const char *value, mc_err *err);

/* True (1) when value is listed in the field (exact match). */
int mc_api_registration_policy_has(const mc_api_registration_policy *policy, mc_policy_field field,
                                   const char *value);

/* Every value checked and at least one root. MC_EINVAL naming the field. */
int mc_api_registration_policy_validate(const mc_api_registration_policy *policy, mc_err *err);

/* The annotation value: compact JSON {"roots":[...],"trustDomains":[...],
 * "dnsSuffixes":[...],"orgs":[...]}. *out owned by the caller (free). */
int mc_api_registration_policy_encode(const mc_api_registration_policy *policy, char **out,
                                      mc_err *err);

/* Parses an annotation value into policy (which must be empty) and
 * validates it. Unknown fields are refused, so that a misspelt field never
 * passes as "not restricted". MC_EINVAL; policy is empty on failure. */
int mc_api_registration_policy_decode(const char *text, mc_api_registration_policy *policy,
                                      mc_err *err);

/* 1 when secret (JSON as from the API server) is a registration: a Secret
 * of type solo.io/kubeconfig (any other Secret, or NULL: 0). */
int mc_api_registration_is(const json_t *secret);

/* The kubeconfig a registration Secret holds for cluster (its data key of
 * that name, decoded) into *out (caller wipes and frees) and *len (may be
 * NULL). MC_EINVAL when secret is not a registration (naming its type),
 * MC_ENOTFOUND when it has no key cluster, MC_EINVAL for bad base64. */
int mc_api_registration_kubeconfig(const json_t *secret, const char *cluster, char **out,
                                   size_t *len, mc_err *err);

/* The policy annotation's text of a registration Secret (JSON as from the
 * API server), borrowed from secret, or NULL when it has none. */
const char *mc_api_registration_policy_text(const json_t *secret);

/* The policy of a registration Secret (JSON as from the API server).
 * MC_ENOTFOUND when it carries no policy annotation (a registration made
 * before policies existed: it may be issued nothing); MC_EINVAL when the
 * annotation does not decode. */
int mc_api_registration_policy_from_secret(const json_t *secret, mc_api_registration_policy *policy,
                                           mc_err *err);

/* Builds the registration Secret ns/name of type solo.io/kubeconfig with
 * data key name = kubeconfig and the policy annotation. *out is a new
 * reference. MC_EINVAL for an invalid policy, MC_ENOMEM. */
int mc_api_registration_build(const char *ns, const char *name, const char *kubeconfig,
                              size_t kubeconfig_len, const mc_api_registration_policy *policy,
                              json_t **out, mc_err *err);

#endif
