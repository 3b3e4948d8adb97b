/* host.h - classifying the hosts of an IssuedCertificate.
 *
 * A host becomes one subjectAltName entry: an IP address (IPv4 or IPv6), a URI
 * (anything with a scheme, such as spiffe://cluster.local/ns/x/sa/y), or a DNS
 * name, which must then be valid (RFC 1123 labels, optional leading "*.").
 * Pure string work, shared by pki/ (building SANs) and api/ (validation).
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

/* Classifies host into *out. MC_EINVAL naming the host when it is empty, longer
 * than MC_HOST_MAX_LEN, holds control characters or spaces, or is none of the
 * three kinds (e.g. "a..b", "-x.com", "http//x", "300.1.1.1"). */
int mc_host_classify(const char *host, mc_host *out, mc_err *err);

/* True when s is a valid DNS name: 1-253 characters, labels of 1-63 letters,
 * digits and hyphens not starting or ending with a hyphen; a leading "*." label
 * is allowed when wildcard is non-zero. */
int mc_host_is_dns_name(const char *s, int wildcard);

#endif
