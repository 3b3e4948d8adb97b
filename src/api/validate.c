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
        /* The API server lower-cases nothing but checks keys as qualified names. */
        if (mc_validate_qualified_name(p->key, err) != 0)
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
        strcmp(value, "..") == 0)
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
