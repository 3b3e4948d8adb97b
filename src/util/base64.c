/* base64.c - strict standard base64 with padding (see base64.h). */
#include "util/base64.h"

#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int mc_base64_encode(const void *data, size_t n, char **out, size_t *out_len)
{
    const unsigned char *in = data;
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return MC_ELIMIT;
    size_t len = (n + 2) / 3 * 4;
    char *s = malloc(len + 1);
    if (!s)
        return MC_ENOMEM;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        s[o++] = alphabet[v >> 18];
        s[o++] = alphabet[(v >> 12) & 63];
        s[o++] = alphabet[(v >> 6) & 63];
        s[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        s[o++] = alphabet[v >> 18];
        s[o++] = alphabet[(v >> 12) & 63];
        s[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        s[o++] = '=';
    }
    s[o] = '\0';
    *out = s;
    if (out_len)
        *out_len = o;
    return MC_OK;
}

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int mc_base64_decode(const char *text, size_t n, unsigned char **out, size_t *out_len, mc_err *err)
{
    if (n % 4)
        return mc_err_set(err, MC_EINVAL, "base64 length %zu is not a multiple of 4", n);
    size_t pad = 0;
    if (n && text[n - 1] == '=')
        pad = (n >= 2 && text[n - 2] == '=') ? 2 : 1;
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return mc_err_set(err, MC_ENOMEM, "out of memory decoding base64");
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int last = (i + 4 == n);
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)text[i + k];
            if (last && c == '=' && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = value_of(c);
            if (v[k] < 0) {
                free(buf);
                return mc_err_set(err, MC_EINVAL, "invalid base64 character at offset %zu",
                                  i + (size_t)k);
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[o++] = (unsigned char)(w >> 16);
        if (!last || pad < 2)
            buf[o++] = (unsigned char)(w >> 8);
        if (!last || pad < 1)
            buf[o++] = (unsigned char)w;
        /* Canonical encoding: the bits under the padding must be zero. */
        if (last && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))) {
            free(buf);
            return mc_err_set(err, MC_EINVAL, "non-canonical base64 padding at offset %zu", i);
        }
    }
    buf[o] = '\0';
    *out = buf;
    if (out_len)
        *out_len = o;
    return MC_OK;
}
