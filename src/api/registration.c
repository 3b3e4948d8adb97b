/* registration.c - the registration Secret of a managed cluster and its
 * issuance policy annotation (see registration.h).
 *
 * The policy is one annotation holding compact JSON so that it is written
 * in one step (no half-updated policy is ever observed) and so that orgs
 * may hold commas. Decoding is strict: an unknown field or a bad value makes
 * the whole policy unusable, and the issuer then issues nothing for the
 * cluster, rather than guessing.
 */
#include "api/registration.h"

#include <stdlib.h>
#include <string.h>

#include "api/core.h"
#include "api/validate.h"
#include "util/base64.h"
#include "util/host.h"
#include "util/str.h"

static const char *const field_names[MC_POLICY_FIELD_COUNT] = {"roots", "trustDomains",
                                                               "dnsSuffixes", "orgs"};

void mc_api_registration_policy_init(mc_api_registration_policy *policy)
{
    memset(policy, 0, sizeof(*policy));
}

void mc_api_registration_policy_clear(mc_api_registration_policy *policy)
{
    if (!policy)
        return;
    for (int f = 0; f < MC_POLICY_FIELD_COUNT; f++) {
        for (size_t i = 0; i < policy->lens[f]; i++)
            free(policy->values[f][i]);
        free(policy->values[f]);
    }
    memset(policy, 0, sizeof(*policy));
}

const char *mc_api_registration_policy_field_name(mc_policy_field field)
{
    return field >= 0 && field < MC_POLICY_FIELD_COUNT ? field_names[field] : "?";
}

static int check_root(const char *value, mc_err *err)
{
    const char *slash = strchr(value, '/');
    char ns[MC_VALIDATE_DNS1123_LABEL_MAX + 2];
    size_t ns_len = slash ? (size_t)(slash - value) : 0;
    if (!slash || ns_len == 0 || ns_len >= sizeof(ns) || strchr(slash + 1, '/'))
        return mc_err_set(err, MC_EINVAL, "root \"%.80s\": expected NAMESPACE/NAME", value);
    memcpy(ns, value, ns_len);
    ns[ns_len] = '\0';
    if (mc_validate_dns1123_label(ns, err) || mc_validate_dns1123_subdomain(slash + 1, err))
        return mc_err_prefix(err, "root \"%.80s\"", value);
    return MC_OK;
}

/* SPIFFE trust domain names: lower-case letters, digits, '.', '-', '_'. */
static int check_trust_domain(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n == 0 || n > 255)
        return mc_err_set(err, MC_EINVAL, "trust domain \"%.80s\": 1 to 255 characters", value);
    if (strstr(value, "://"))
        return mc_err_set(err, MC_EINVAL,
                          "trust domain \"%.80s\": give the name only (east.example), "
                          "not a SPIFFE ID",
                          value);
    for (size_t i = 0; i < n; i++) {
        char c = value[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return mc_err_set(err, MC_EINVAL,
                              "trust domain \"%.80s\": only lower-case letters, digits, '.', "
                              "'-' and '_' are allowed (SPIFFE)",
                              value);
    }
    if (value[0] == '.' || value[n - 1] == '.' || strstr(value, ".."))
        return mc_err_set(err, MC_EINVAL, "trust domain \"%.80s\": empty label", value);
    return MC_OK;
}

static int check_dns_suffix(const char *value, mc_err *err)
{
    if (value[0] == '*' || value[0] == '.')
        return mc_err_set(err, MC_EINVAL,
                          "DNS suffix \"%.80s\": give the domain itself (example.com covers "
                          "example.com and every name below it)",
                          value);
    for (const char *p = value; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return mc_err_set(err, MC_EINVAL, "DNS suffix \"%.80s\": use lower case", value);
    mc_host host;
    if (mc_host_classify(value, &host, err) != MC_OK)
        return mc_err_prefix(err, "DNS suffix");
    if (host.kind != MC_HOST_DNS)
        return mc_err_set(err, MC_EINVAL, "DNS suffix \"%.80s\": not a DNS name", value);
    return MC_OK;
}

static int check_org(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n == 0 || n > MC_VALIDATE_ORG_MAX || mc_str_has_control(value, n))
        return mc_err_set(err, MC_EINVAL,
                          "org \"%.80s\": 1 to %d characters without control characters", value,
                          MC_VALIDATE_ORG_MAX);
    return MC_OK;
}

int mc_api_registration_policy_check(mc_policy_field field, const char *value, mc_err *err)
{
    if (!value)
        return mc_err_set(err, MC_EINVAL, "%s: a value is required",
                          mc_api_registration_policy_field_name(field));
    switch (field) {
    case MC_POLICY_ROOT: return check_root(value, err);
    case MC_POLICY_TRUST_DOMAIN: return check_trust_domain(value, err);
    case MC_POLICY_DNS_SUFFIX: return check_dns_suffix(value, err);
    case MC_POLICY_ORG: return check_org(value, err);
    default: return mc_err_set(err, MC_EINVAL, "unknown policy field %d", (int)field);
    }
}

int mc_api_registration_policy_has(const mc_api_registration_policy *policy, mc_policy_field field,
                                   const char *value)
{
    for (size_t i = 0; value && i < policy->lens[field]; i++)
        if (strcmp(policy->values[field][i], value) == 0)
            return 1;
    return 0;
}

int mc_api_registration_policy_add(mc_api_registration_policy *policy, mc_policy_field field,
                                   const char *value, mc_err *err)
{
    int rc = mc_api_registration_policy_check(field, value, err);
    if (rc != MC_OK)
        return rc;
    if (mc_api_registration_policy_has(policy, field, value))
        return MC_OK;
    if (policy->lens[field] >= MC_API_REGISTRATION_LIST_MAX)
        return mc_err_set(err, MC_ELIMIT, "%s: more than %d entries", field_names[field],
                          MC_API_REGISTRATION_LIST_MAX);
    char **grown = realloc(policy->values[field], (policy->lens[field] + 1) * sizeof(char *));
    if (!grown)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    policy->values[field] = grown;
    if (!(grown[policy->lens[field]] = mc_strdup(value)))
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    policy->lens[field]++;
    return MC_OK;
}

int mc_api_registration_policy_validate(const mc_api_registration_policy *policy, mc_err *err)
{
    for (int f = 0; f < MC_POLICY_FIELD_COUNT; f++)
        for (size_t i = 0; i < policy->lens[f]; i++)
            if (mc_api_registration_policy_check(f, policy->values[f][i], err) != MC_OK)
                return mc_err_prefix(err, "%s", field_names[f]);
    if (policy->lens[MC_POLICY_ROOT] == 0)
        return mc_err_set(err, MC_EINVAL, "roots: at least one signing root is required");
    return MC_OK;
}

int mc_api_registration_policy_encode(const mc_api_registration_policy *policy, char **out,
                                      mc_err *err)
{
    *out = NULL;
    int rc = mc_api_registration_policy_validate(policy, err);
    if (rc != MC_OK)
        return rc;
    json_t *obj = json_object();
    for (int f = 0; obj && f < MC_POLICY_FIELD_COUNT; f++) {
        json_t *array = json_array();
        for (size_t i = 0; array && i < policy->lens[f]; i++)
            if (json_array_append_new(array, json_string(policy->values[f][i])) != 0) {
                json_decref(array);
                array = NULL;
            }
        if (!array || json_object_set_new(obj, field_names[f], array) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    *out = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

int mc_api_registration_policy_decode(const char *text, mc_api_registration_policy *policy,
                                      mc_err *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    int rc = MC_OK;
    if (!obj || !json_is_object(obj)) {
        rc = mc_err_set(err, MC_EINVAL, "not a JSON object%s%.200s", obj ? "" : ": ",
                        obj ? "" : jerr.text);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        int field = 0;
        while (field < MC_POLICY_FIELD_COUNT && strcmp(field_names[field], key) != 0)
            field++;
        if (field == MC_POLICY_FIELD_COUNT) {
            rc = mc_err_set(err, MC_EINVAL, "unknown field \"%.64s\"", key);
            goto out;
        }
        if (!json_is_array(value)) {
            rc = mc_err_set(err, MC_EINVAL, "%s: expected an array of strings", key);
            goto out;
        }
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            if (!json_is_string(item)) {
                rc = mc_err_set(err, MC_EINVAL, "%s: expected an array of strings", key);
                goto out;
            }
            if ((rc = mc_api_registration_policy_add(policy, field, json_string_value(item),
                                                     err)) != MC_OK) {
                mc_err_prefix(err, "%s", key);
                goto out;
            }
        }
    }
    rc = mc_api_registration_policy_validate(policy, err);
out:
    json_decref(obj);
    if (rc != MC_OK)
        mc_api_registration_policy_clear(policy);
    return rc;
}

const char *mc_api_registration_policy_text(const json_t *secret)
{
    const json_t *annotations = json_object_get(json_object_get(secret, "metadata"), "annotations");
    return json_string_value(json_object_get(annotations, MC_API_REGISTRATION_POLICY_ANNOTATION));
}

int mc_api_registration_policy_from_secret(const json_t *secret, mc_api_registration_policy *policy,
                                           mc_err *err)
{
    const char *text = mc_api_registration_policy_text(secret);
    if (!text)
        return mc_err_set(err, MC_ENOTFOUND, "no annotation %s",
                          MC_API_REGISTRATION_POLICY_ANNOTATION);
    int rc = mc_api_registration_policy_decode(text, policy, err);
    return rc == MC_OK ? MC_OK
                       : mc_err_prefix(err, "annotation %s", MC_API_REGISTRATION_POLICY_ANNOTATION);
}

int mc_api_registration_build(const char *ns, const char *name, const char *kubeconfig,
                              size_t kubeconfig_len, const mc_api_registration_policy *policy,
                              json_t **out, mc_err *err)
{
    *out = NULL;
    char *policy_text = NULL, *b64 = NULL;
    size_t b64_len = 0;
    int rc = mc_api_registration_policy_encode(policy, &policy_text, err);
    if (rc != MC_OK)
        return mc_err_prefix(err, "issuance policy");
    if (mc_base64_encode(kubeconfig, kubeconfig_len, &b64, &b64_len) != MC_OK) {
        free(policy_text);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    *out = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                     "Secret", "metadata", "name", name, "namespace", ns, "annotations",
                     MC_API_REGISTRATION_POLICY_ANNOTATION, policy_text, "type",
                     MC_API_SECRET_TYPE_KUBECONFIG, "data", name, b64);
    free(policy_text);
    mc_secure_free(b64, b64_len); /* a kubeconfig may hold a token */
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

int mc_api_registration_is(const json_t *secret)
{
    const char *type = json_string_value(json_object_get(secret, "type"));
    return type && strcmp(type, MC_API_SECRET_TYPE_KUBECONFIG) == 0;
}

int mc_api_registration_kubeconfig(const json_t *secret, const char *cluster, char **out,
                                   size_t *len, mc_err *err)
{
    *out = NULL;
    if (!mc_api_registration_is(secret)) {
        const char *type = json_string_value(json_object_get(secret, "type"));
        return mc_err_set(err, MC_EINVAL, "not a registration: type %s, not %s",
                          type ? type : "Opaque", MC_API_SECRET_TYPE_KUBECONFIG);
    }
    return mc_api_secret_value(secret, cluster, out, len, err);
}
