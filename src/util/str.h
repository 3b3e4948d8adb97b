/* str.h - safe string helpers and secret wiping.
 *
 * meshcert bans strcpy, strcat, sprintf and strtok; these helpers are what
 * to use instead. mc_secure_* wipe memory that held key material or tokens
 * in a way the compiler may not optimise away.
 */
#ifndef MC_UTIL_STR_H
#define MC_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size dstsize, always NUL-terminated when dstsize > 0).
 * Returns strlen(src); a result >= dstsize means the copy was truncated. */
size_t mc_strlcpy(char *dst, const char *src, size_t dstsize);

/* Returns a newly allocated copy of the first n bytes of s, NUL-terminated;
 * NULL on allocation failure. Caller frees. */
char *mc_strndup(const char *s, size_t n);

/* Returns a newly allocated copy of s (NULL in, NULL out). Caller frees. */
char *mc_strdup(const char *s);

/* True when s begins with prefix. */
bool mc_str_has_prefix(const char *s, const char *prefix);

/* True when the first n bytes of s contain a NUL byte or a control character
 * other than tab, CR and LF (text that should not be printed as is). */
bool mc_str_has_control(const char *s, size_t n);

/* Returns the first occurrence of the NUL-terminated needle in the n bytes at
 * hay, or NULL. */
const char *mc_mem_find(const void *hay, size_t n, const char *needle);

/* Zeroes n bytes at p; never optimised away. Accepts NULL. */
void mc_secure_zero(void *p, size_t n);

/* Zeroes n bytes at p, then frees p. Accepts NULL. */
void mc_secure_free(void *p, size_t n);

/* Zeroes a NUL-terminated string, then frees it. Accepts NULL. */
void mc_secure_free_str(char *s);

#endif
