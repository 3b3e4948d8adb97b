/* buf.c - growable byte buffers with a hard cap (see buf.h). */
#include "util/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

void mc_buf_init(mc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Ensures room for extra more bytes plus the terminator. */
static int reserve(mc_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return MC_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return MC_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return MC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return MC_OK;
}

int mc_buf_append(mc_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MC_OK;
}

int mc_buf_append_str(mc_buf *b, const char *s)
{
    return mc_buf_append(b, s, strlen(s));
}

int mc_buf_appendf(mc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MC_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MC_OK;
}

char *mc_buf_steal(mc_buf *b, size_t *len_out)
{
    char *data = b->data;
    size_t len = b->len;
    if (!data)
        data = calloc(1, 1);
    if (len_out)
        *len_out = len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}

void mc_buf_free(mc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void mc_buf_free_secure(mc_buf *b)
{
    mc_secure_free(b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
