/* validate.c - Kubernetes name, label and size rules, certificate hosts
 * (see validate.h).
 *
 * Hand-written scanners rather than regex(3): the rules are small, the
 * behaviour must not depend on the C library's regex dialect or locale, and a
 * scanner can say which character is wrong.
 */
#include "api/validate.h"

#include <stdbool.h>
#include <string.h>

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* Values are quoted in messages, cut at 80 characters. */
#define Q "\"%.80s%s\""
#define QARG(v) (v), (strlen(v) > 80 ? "..." : "")

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > MC_VALIDATE_DNS1123_LABEL_MAX)
        return false;
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

int mc_validate_dns1123_label(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n > MC_VALIDATE_DNS1123_LABEL_MAX)
        return mc_err_set(err, MC_EINVAL, Q " is longer than %d characters", QARG(value),
                          MC_VALIDATE_DNS1123_LABEL_MAX);
    if (!label_ok(value, n))
        return mc_err_set(err, MC_EINVAL,
                          Q " is not a valid DNS-1123 label (lower-case letters, digits and '-', "
                            "starting and ending with a letter or digit)",
                          QARG(value));
    return 0;
}

int mc_validate_dns1123_subdomain(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n > MC_VALIDATE_DNS1123_SUBDOMAIN_MAX)
        return mc_err_set(err, MC_EINVAL, Q " is longer than %d characters", QARG(value),
                          MC_VALIDATE_DNS1123_SUBDOMAIN_MAX);
    const char *start = value;
    for (;;) {
        const char *dot = strchr(start, '.');
        size_t len = dot ? (size_t)(dot - start) : strlen(start);
        if (!label_ok(start, len))
            return mc_err_set(err, MC_EINVAL,
                              Q " is not a valid DNS-1123 subdomain (lower-case letters, digits, "
                                "'-' and '.', each part starting and ending with a letter or "
                                "digit)",
                              QARG(value));
        if (!dot)
            return 0;
        start = dot + 1;
    }
}

static bool name_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > MC_VALIDATE_QUALIFIED_NAME_MAX)
        return false;
    if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

int mc_validate_qualified_name(const char *value, mc_err *err)
{
    const char *slash = strchr(value, '/');
    const char *name = slash ? slash + 1 : value;
    if (slash) {
        size_t plen = (size_t)(slash - value);
        char prefix[MC_VALIDATE_DNS1123_SUBDOMAIN_MAX + 1];
        if (plen == 0 || plen > MC_VALIDATE_DNS1123_SUBDOMAIN_MAX)
            return mc_err_set(err, MC_EINVAL,
                              Q " is not a valid qualified name (the prefix before '/' must be "
                                "a DNS-1123 subdomain of 1 to 253 characters)",
                              QARG(value));
        memcpy(prefix, value, plen);
        prefix[plen] = '\0';
        if (mc_validate_dns1123_subdomain(prefix, NULL) != 0)
            return mc_err_set(err, MC_EINVAL,
                              Q " is not a valid qualified name (the prefix before '/' must be "
                                "a DNS-1123 subdomain)",
                              QARG(value));
    }
    size_t n = strlen(name);
    if (n > MC_VALIDATE_QUALIFIED_NAME_MAX)
        return mc_err_set(err, MC_EINVAL,
                          Q " is not a valid qualified name (the name part is longer than %d "
                            "characters)",
                          QARG(value), MC_VALIDATE_QUALIFIED_NAME_MAX);
    if (!name_part_ok(name, n))
        return mc_err_set(err, MC_EINVAL,
                          Q " is not a valid qualified name (letters, digits, '-', '_' and '.', "
                            "starting and ending with a letter or digit, with an optional "
                            "DNS subdomain prefix and '/')",
                          QARG(value));
    return 0;
}

int mc_validate_label_value(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n == 0)
        return 0;
    if (n > MC_VALIDATE_LABEL_VALUE_MAX)
        return mc_err_set(err, MC_EINVAL, "label value " Q " is longer than %d characters",
                          QARG(value), MC_VALIDATE_LABEL_VALUE_MAX);
    if (!name_part_ok(value, n))
        return mc_err_set(err, MC_EINVAL,
                          "label value " Q " is not valid (letters, digits, '-', '_' and '.', "
                          "starting and ending with a letter or digit)",
                          QARG(value));
    return 0;
}

int mc_validate_labels(const mc_api_str_map *labels, mc_err *err)
{
    for (size_t i = 0; i < labels->len; i++) {
        const mc_api_str_pair *p = &labels->items[i];
        if (mc_validate_qualified_name(p->key, err) != 0)
            return mc_err_prefix(err, "label key");
        if (mc_validate_label_value(p->value, err) != 0)
            return mc_err_prefix(err, "label \"%.80s\"", p->key);
    }
    return 0;
}

int mc_validate_annotations(const mc_api_str_map *annotations, mc_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < annotations->len; i++) {
        const mc_api_str_pair *p = &annotations->items[i];
        /* The API server checks keys as qualified names once lower-cased. */
        if (mc_validate_annotation_key_reason(p->key) && mc_validate_qualified_name(p->key, err) != 0)
            return mc_err_prefix(err, "annotation key");
        total += strlen(p->key) + strlen(p->value);
    }
    if (total > MC_VALIDATE_ANNOTATIONS_MAX)
        return mc_err_set(err, MC_ELIMIT, "annotations total %zu bytes, more than the %u allowed",
                          total, MC_VALIDATE_ANNOTATIONS_MAX);
    return 0;
}

int mc_validate_secret_key(const char *value, mc_err *err)
{
    size_t n = strlen(value);
    if (n == 0 || n > MC_VALIDATE_DNS1123_SUBDOMAIN_MAX || strcmp(value, ".") == 0 ||
        strncmp(value, "..", 2) == 0)
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(value[i]) && value[i] != '-' && value[i] != '_' && value[i] != '.')
            goto bad;
    return 0;
bad:
    return mc_err_set(err, MC_EINVAL,
                      "Secret key " Q " is not valid (1 to 253 letters, digits, '-', '_' or '.')",
                      QARG(value));
}

int mc_validate_object_size(const json_t *obj, mc_err *err)
{
    size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > MC_VALIDATE_OBJECT_MAX)
        return mc_err_set(err, MC_ELIMIT, "object is %zu bytes, more than the %u allowed", n,
                          MC_VALIDATE_OBJECT_MAX);
    return 0;
}

/* ---- kube-apiserver's wording ---- */

#define LABEL_KEY_RULE                                                                            \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "   \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "       \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

static const char *qualified_name_reason(const char *value, int lower_prefix_only)
{
    const char *slash = strchr(value, '/');
    const char *name = slash ? slash + 1 : value;
    if (slash && strchr(name, '/'))
        return "a valid label key " LABEL_KEY_RULE
               " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
    if (slash) {
        size_t plen = (size_t)(slash - value);
        char prefix[MC_VALIDATE_DNS1123_SUBDOMAIN_MAX + 1];
        if (plen == 0)
            return "prefix part must be non-empty";
        if (plen > MC_VALIDATE_DNS1123_SUBDOMAIN_MAX)
            return "prefix part must be no more than 253 characters";
        for (size_t i = 0; i < plen; i++) {
            char c = value[i];
            prefix[i] = (lower_prefix_only && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        prefix[plen] = '\0';
        if (mc_validate_dns1123_subdomain(prefix, NULL) != 0)
            return "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                   "alphanumeric characters, '-' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    }
    size_t n = strlen(name);
    if (n == 0)
        return "name part must be non-empty";
    if (n > MC_VALIDATE_QUALIFIED_NAME_MAX)
        return "name part must be no more than 63 characters";
    if (!name_part_ok(name, n))
        return "name part " LABEL_KEY_RULE;
    return NULL;
}

const char *mc_validate_qualified_name_reason(const char *value)
{
    return qualified_name_reason(value, 0);
}

/* Annotation keys: the same rule after lower-casing (only the prefix can
 * fail on case). */
const char *mc_validate_annotation_key_reason(const char *value)
{
    return qualified_name_reason(value, 1);
}

const char *mc_validate_label_value_reason(const char *value)
{
    size_t n = strlen(value);
    if (n > MC_VALIDATE_LABEL_VALUE_MAX)
        return "must be no more than 63 characters";
    if (n && !name_part_ok(value, n))
        return "a valid label must be an empty string or consist of alphanumeric characters, "
               "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
               "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
               "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    return NULL;
}

const char *mc_validate_config_key_reason(const char *value)
{
    size_t n = strlen(value);
    if (n > MC_VALIDATE_DNS1123_SUBDOMAIN_MAX)
        return "must be no more than 253 characters";
    int ok = n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum(value[i]) || value[i] == '-' || value[i] == '_' || value[i] == '.';
    if (!ok)
        return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
               "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
               "'[-._a-zA-Z0-9]+')";
    if (strcmp(value, ".") == 0)
        return "must not be '.'";
    if (strcmp(value, "..") == 0)
        return "must not be '..'";
    if (strncmp(value, "..", 2) == 0)
        return "must not start with '..'";
    return NULL;
}

static int depth_exceeds(const json_t *value, int left)
{
    if (!json_is_object(value) && !json_is_array(value))
        return 0;
    if (left == 0)
        return 1;
    if (json_is_object(value)) {
        const char *key;
        const json_t *child;
        json_object_foreach((json_t *)value, key, child) if (depth_exceeds(child, left - 1)) return 1;
    } else {
        size_t i;
        const json_t *child;
        json_array_foreach(value, i, child) if (depth_exceeds(child, left - 1)) return 1;
    }
    return 0;
}

int mc_validate_depth(const json_t *value, int max, mc_err *err)
{
    if (depth_exceeds(value, max))
        return mc_err_set(err, MC_ELIMIT, "nested deeper than %d levels (exceeded max depth)", max);
    return 0;
}
