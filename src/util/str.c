/* str.c - safe string helpers and secret wiping (see str.h). */
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

size_t mc_strlcpy(char *dst, const char *src, size_t dstsize)
{
    size_t len = strlen(src);
    if (dstsize) {
        size_t n = len < dstsize - 1 ? len : dstsize - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

char *mc_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mc_strdup(const char *s)
{
    return s ? mc_strndup(s, strlen(s)) : NULL;
}

bool mc_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool mc_str_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
            return true;
    }
    return false;
}

const char *mc_mem_find(const void *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    const char *h = hay;
    if (m == 0)
        return h;
    for (size_t i = 0; i + m <= n; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, m) == 0)
            return h + i;
    return NULL;
}

void mc_secure_zero(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void mc_secure_free(void *p, size_t n)
{
    mc_secure_zero(p, n);
    free(p);
}

void mc_secure_free_str(char *s)
{
    if (s)
        mc_secure_free(s, strlen(s));
}
