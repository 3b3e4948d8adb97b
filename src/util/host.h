/* host.h - validating and classifying the hosts of an IssuedCertificate.
 *
 * A host becomes one subjectAltName entry: an IP address (IPv4 or IPv6), a URI
 * (anything with a scheme, such as spiffe://cluster.local/ns/x/sa/y), or a DNS
 * name, which must then be valid. The single source of truth for what api/
 * accepts in spec.hosts and what pki/ puts into certificates.
 */
#ifndef MC_UTIL_HOST_H
#define MC_UTIL_HOST_H

#include <stddef.h>

#include "util/err.h"

typedef enum {
    MC_HOST_DNS = 1,
    MC_HOST_IP = 2,
    MC_HOST_URI = 3,
} mc_host_kind;

typedef struct mc_host {
    mc_host_kind kind;
    unsigned char ip[16]; /* network order, for MC_HOST_IP */
    size_t ip_len;        /* 4 or 16 for MC_HOST_IP, else 0 */
} mc_host;

#define MC_HOST_MAX_LEN 2048

/* Classifies host into *out: an IP address, else a URI when it starts with a
 * scheme (mc_host_check_uri), else a DNS name (mc_host_check_dns). MC_EINVAL
 * with a message quoting the host (cut at 80 characters) when it is empty,
 * longer than MC_HOST_MAX_LEN, holds spaces or control characters, or is not
 * valid as the kind it looks like (e.g. "a..b", "-x.com", "spiffe://"). */
int mc_host_classify(const char *host, mc_host *out, mc_err *err);

/* A certificate DNS name: labels of letters, digits and inner hyphens, 1-63
 * characters each, at most 253 in total; a leading "*." wildcard label is
 * allowed. A name of several labels whose last label is all digits
 * ("300.1.1.1") is refused as a mistyped IP address. MC_EINVAL otherwise. */
int mc_host_check_dns(const char *name, mc_err *err);

/* An IPv4 dotted quad or an IPv6 address in any RFC 4291 text form. */
int mc_host_check_ip(const char *text, mc_err *err);

/* An absolute URI: an RFC 3986 scheme, ':', then a non-empty rest without
 * spaces or control characters; "scheme://" needs an authority, so a SPIFFE ID
 * needs its trust domain (spiffe://<trust domain>/<path>). */
int mc_host_check_uri(const char *uri, mc_err *err);

#endif
