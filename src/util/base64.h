/* base64.h - standard base64 (RFC 4648 section 4, with padding).
 *
 * Kubernetes carries `bytes` fields and Secret data as standard base64 with
 * padding; decoding here is strict (no whitespace, correct padding, no bits
 * left over) so that garbage is rejected instead of silently mangled.
 */
#ifndef MC_UTIL_BASE64_H
#define MC_UTIL_BASE64_H

#include <stddef.h>

#include "util/err.h"

/* Encodes n bytes into a newly allocated NUL-terminated string (caller frees);
 * *out_len (optional) receives its length. MC_ENOMEM on failure. */
int mc_base64_encode(const void *data, size_t n, char **out, size_t *out_len);

/* Decodes n characters into a newly allocated buffer (caller frees; NUL-
 * terminated for convenience, the terminator not counted in *out_len).
 * MC_EINVAL, with the offset of the first bad character, on malformed input. */
int mc_base64_decode(const char *text, size_t n, unsigned char **out, size_t *out_len, mc_err *err);

#endif
