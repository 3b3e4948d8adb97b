/* host.c - IP / URI / DNS classification of certificate hosts (see host.h). */
#include "util/host.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int mc_host_is_dns_name(const char *s, int wildcard)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return 0;
    if (wildcard && s[0] == '*' && s[1] == '.')
        s += 2;
    const char *label = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (n == 0 || n > 63 || label[0] == '-' || p[-1] == '-')
                return 0;
            if (*p == '\0')
                return !all_digits(label, n); /* "300.1.1.1" is a bad IP, not a name */
            label = p + 1;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
    }
}

/* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" followed by
 * something. Returns 1 when host starts with such a scheme. */
static int has_uri_scheme(const char *host)
{
    if (!isalpha((unsigned char)host[0]))
        return 0;
    const char *p = host + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || p[1] == '\0')
        return 0;
    /* "scheme://" must name an authority (spiffe://<trust domain>/...). */
    if (p[1] == '/' && p[2] == '/')
        return p[3] != '\0' && p[3] != '/';
    return 1;
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
            return mc_err_set(err, MC_EINVAL,
                              "host \"%.64s\" contains a space or control character", host);
    if (inet_pton(AF_INET, host, out->ip) == 1) {
        out->kind = MC_HOST_IP;
        out->ip_len = 4;
        return MC_OK;
    }
    if (inet_pton(AF_INET6, host, out->ip) == 1) {
        out->kind = MC_HOST_IP;
        out->ip_len = 16;
        return MC_OK;
    }
    if (has_uri_scheme(host)) {
        out->kind = MC_HOST_URI;
        return MC_OK;
    }
    if (mc_host_is_dns_name(host, 1)) {
        out->kind = MC_HOST_DNS;
        return MC_OK;
    }
    return mc_err_set(err, MC_EINVAL,
                      "host \"%.128s\" is not an IP address, a URI with a scheme, or a valid "
                      "DNS name",
                      host);
}
