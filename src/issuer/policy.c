/* policy.c - a registered cluster's issuance policy applied to an
 * IssuedCertificate (see policy.h).
 *
 * DNS names are compared without case (RFC 4343) on label boundaries, so
 * that suffix "example.com" covers "a.example.com" but not
 * "badexample.com"; a SPIFFE ID's trust domain must match exactly (SPIFFE
 * trust domains are lower case), and anything after it (a port, user
 * info, a query) makes the host refused rather than parsed further.
 */
#include "issuer/policy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/host.h"
#include "util/str.h"

#define SPIFFE_PREFIX "spiffe://"

/* "a, b, c" or "none" for one field of the policy. */
static void describe_field(const mc_api_registration_policy *policy, mc_policy_field field,
                           mc_buf *out)
{
    if (policy->lens[field] == 0)
        mc_buf_appendf(out, "none");
    for (size_t i = 0; i < policy->lens[field]; i++)
        mc_buf_appendf(out, "%s%s", i ? ", " : "", policy->values[field][i]);
}

int mc_issuer_policy_check_root(const mc_api_registration_policy *policy, const char *cluster,
                                const mc_api_object_ref *ref, const char *default_namespace,
                                char *key, size_t key_size, mc_err *err)
{
    if (!ref->name || !ref->name[0])
        return mc_err_set(err, MC_EINVAL, "spec.signingCertificateSecret is not set");
    const char *ns = ref->namespace && ref->namespace[0] ? ref->namespace : default_namespace;
    int n = snprintf(key, key_size, "%s/%s", ns, ref->name);
    if (n > 0 && (size_t)n < key_size &&
        mc_api_registration_policy_has(policy, MC_POLICY_ROOT, key))
        return MC_OK;
    mc_buf allowed;
    mc_buf_init(&allowed, 4096);
    describe_field(policy, MC_POLICY_ROOT, &allowed);
    mc_err_set(err, MC_EVERIFY,
               "spec.signingCertificateSecret %.120s/%.120s is not a signing root of cluster %s "
               "(its registration allows: %s)",
               ns, ref->name, cluster ? cluster : "?", allowed.data ? allowed.data : "?");
    mc_buf_free(&allowed);
    key[0] = '\0';
    return MC_EVERIFY;
}

/* name (no wildcard) equal to suffix or below it, without case. */
static int dns_within(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n == s)
        return strcasecmp(name, suffix) == 0;
    return n > s && name[n - s - 1] == '.' && strcasecmp(name + n - s, suffix) == 0;
}

int mc_issuer_policy_allows_host(const mc_api_registration_policy *policy, const char *host)
{
    mc_host kind;
    mc_err err = {0};
    if (!host || mc_host_classify(host, &kind, &err) != MC_OK)
        return 0;
    if (kind.kind == MC_HOST_URI) {
        if (strncasecmp(host, SPIFFE_PREFIX, strlen(SPIFFE_PREFIX)) != 0)
            return 0;
        const char *td = host + strlen(SPIFFE_PREFIX);
        size_t td_len = strcspn(td, "/");
        for (size_t i = 0; i < policy->lens[MC_POLICY_TRUST_DOMAIN]; i++) {
            const char *allowed = policy->values[MC_POLICY_TRUST_DOMAIN][i];
            if (strlen(allowed) == td_len && strncmp(td, allowed, td_len) == 0)
                return 1;
        }
        return 0;
    }
    if (kind.kind != MC_HOST_DNS)
        return 0;
    const char *name = strncmp(host, "*.", 2) == 0 ? host + 2 : host;
    for (size_t i = 0; i < policy->lens[MC_POLICY_DNS_SUFFIX]; i++)
        if (dns_within(name, policy->values[MC_POLICY_DNS_SUFFIX][i]))
            return 1;
    return 0;
}

int mc_issuer_policy_check_names(const mc_api_registration_policy *policy, const char *cluster,
                                 const char *org, const char *const *hosts, size_t host_count,
                                 mc_err *err)
{
    mc_buf why;
    mc_buf_init(&why, 4096);
    int rc = MC_OK;
    if (org && org[0] && !mc_api_registration_policy_has(policy, MC_POLICY_ORG, org)) {
        mc_buf_appendf(&why, "org \"%.64s\" is outside cluster %s's issuance policy (orgs: ", org,
                       cluster ? cluster : "?");
        describe_field(policy, MC_POLICY_ORG, &why);
        mc_buf_appendf(&why, ")");
        rc = MC_EVERIFY;
    }
    for (size_t i = 0; i < host_count; i++) {
        if (mc_issuer_policy_allows_host(policy, hosts[i]))
            continue;
        if (rc != MC_OK)
            mc_buf_appendf(&why, "; ");
        mc_buf_appendf(&why,
                       "host \"%.120s\" is outside cluster %s's issuance policy (trust domains: ",
                       hosts[i], cluster ? cluster : "?");
        describe_field(policy, MC_POLICY_TRUST_DOMAIN, &why);
        mc_buf_appendf(&why, "; DNS suffixes: ");
        describe_field(policy, MC_POLICY_DNS_SUFFIX, &why);
        mc_buf_appendf(&why, "; no IP addresses or other URIs)");
        rc = MC_EVERIFY;
        break; /* the first host is enough: the policy is in the message */
    }
    if (rc != MC_OK)
        mc_err_set(err, rc, "%s", why.data ? why.data : "outside the issuance policy");
    mc_buf_free(&why);
    return rc;
}
