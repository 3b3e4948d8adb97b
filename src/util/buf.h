/* buf.h - growable byte buffers with a hard size cap.
 *
 * A buffer never grows past its cap (a hostile peer cannot make us allocate
 * without bound); an append that would exceed it fails with MC_ELIMIT and
 * leaves the buffer unchanged. data is always NUL-terminated for convenience.
 * Buffers that held secrets are released with mc_buf_free_secure.
 */
#ifndef MC_UTIL_BUF_H
#define MC_UTIL_BUF_H

#include <stddef.h>

#include "util/err.h"

typedef struct mc_buf {
    char *data; /* owned; NULL until the first append; NUL-terminated */
    size_t len; /* bytes used, not counting the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
} mc_buf;

/* Initialises an empty buffer that may hold up to max bytes. */
void mc_buf_init(mc_buf *b, size_t max);

/* Appends n bytes; MC_ELIMIT past the cap, MC_ENOMEM on allocation failure. */
int mc_buf_append(mc_buf *b, const void *data, size_t n);

/* Appends a NUL-terminated string. */
int mc_buf_append_str(mc_buf *b, const char *s);

/* Appends printf-style formatted text. */
int mc_buf_appendf(mc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Gives the caller ownership of the data (NUL-terminated, never NULL on success)
 * and resets the buffer; *len_out (optional) receives the length. Returns NULL
 * only if allocation of an empty string fails. */
char *mc_buf_steal(mc_buf *b, size_t *len_out);

/* Frees the data. */
void mc_buf_free(mc_buf *b);

/* Overwrites the whole allocation with zeros, then frees it. */
void mc_buf_free_secure(mc_buf *b);

#endif
