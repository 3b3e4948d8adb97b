/* host.c - IP / URI / DNS validation and classification of certificate hosts
 * (see host.h). Hand-written scanners: no locale or regex dialect involved,
 * and each can say what is wrong. */
#include "util/host.h"

#include <arpa/inet.h>
#include <string.h>

/* Hosts are quoted in messages, cut at 80 characters. */
#define Q "\"%.80s%s\""
#define QARG(v) (v), (strlen(v) > 80 ? "..." : "")

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int mc_host_check_dns(const char *name, mc_err *err)
{
    size_t n = strlen(name);
    if (n == 0)
        return mc_err_set(err, MC_EINVAL, "empty DNS name");
    if (n > 253)
        return mc_err_set(err, MC_EINVAL, Q " is longer than 253 characters", QARG(name));
    const char *start = strncmp(name, "*.", 2) == 0 ? name + 2 : name;
    for (;;) {
        const char *dot = strchr(start, '.');
        size_t len = dot ? (size_t)(dot - start) : strlen(start);
        if (!label_ok(start, len))
            return mc_err_set(err, MC_EINVAL, Q " is not a valid DNS name", QARG(name));
        if (!dot) {
            /* RFC 3696 section 2: top-level domains are never all-numeric. */
            if (start != name && strspn(start, "0123456789") == len)
                return mc_err_set(err, MC_EINVAL, Q " is not a valid DNS name", QARG(name));
            return MC_OK;
        }
        start = dot + 1;
    }
}

static int parse_ip(const char *text, mc_host *out)
{
    if (inet_pton(AF_INET, text, out->ip) == 1) {
        out->ip_len = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, text, out->ip) == 1) {
        out->ip_len = 16;
        return 1;
    }
    return 0;
}

int mc_host_check_ip(const char *text, mc_err *err)
{
    mc_host host;
    if (parse_ip(text, &host))
        return MC_OK;
    return mc_err_set(err, MC_EINVAL, Q " is not a valid IP address", QARG(text));
}

/* Length of an RFC 3986 scheme at the start of s followed by ':', or 0. */
static size_t scheme_len(const char *s)
{
    char c0 = s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')))
        return 0;
    size_t i = 1;
    while (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

int mc_host_check_uri(const char *uri, mc_err *err)
{
    size_t slen = scheme_len(uri);
    if (slen == 0)
        return mc_err_set(err, MC_EINVAL, Q " is not a valid URI (no scheme)", QARG(uri));
    const char *rest = uri + slen + 1;
    if (*rest == '\0')
        return mc_err_set(err, MC_EINVAL, Q " is not a valid URI (nothing after the scheme)",
                          QARG(uri));
    for (const char *p = rest; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return mc_err_set(err, MC_EINVAL,
                              Q " is not a valid URI (space or control character at offset %zu)",
                              QARG(uri), (size_t)(p - uri));
    int has_authority = strncmp(rest, "//", 2) == 0 && rest[2] != '\0' && rest[2] != '/';
    if (slen == 6 && strncmp(uri, "spiffe", 6) == 0 && !has_authority)
        return mc_err_set(err, MC_EINVAL,
                          Q " is not a valid SPIFFE ID (spiffe://<trust domain>/<path>)",
                          QARG(uri));
    if (strncmp(rest, "//", 2) == 0 && !has_authority)
        return mc_err_set(err, MC_EINVAL, Q " is not a valid URI (empty authority after //)",
                          QARG(uri));
    return MC_OK;
}

int mc_host_classify(const char *host, mc_host *out, mc_err *err)
{
    size_t len = strlen(host);
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return mc_err_set(err, MC_EINVAL, "empty host");
    if (len > MC_HOST_MAX_LEN)
        return mc_err_set(err, MC_EINVAL, "host of %zu characters is longer than %d", len,
                          MC_HOST_MAX_LEN);
    for (const char *p = host; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return mc_err_set(err, MC_EINVAL, Q " contains a space or control character",
                              QARG(host));
    if (parse_ip(host, out)) {
        out->kind = MC_HOST_IP;
        return MC_OK;
    }
    int rc;
    if (scheme_len(host) > 0) {
        out->kind = MC_HOST_URI;
        rc = mc_host_check_uri(host, err);
    } else {
        out->kind = MC_HOST_DNS;
        rc = mc_host_check_dns(host, err);
    }
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
