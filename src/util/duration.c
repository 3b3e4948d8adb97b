/* duration.c - human durations for TTL flags (see duration.h). */
#include "util/duration.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECONDS ((int64_t)1000 * 365 * 86400)

static int64_t unit_seconds(char unit)
{
    switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    case 'y': return 365 * 86400;
    default: return 0;
    }
}

int mc_duration_parse(const char *text, int64_t *seconds, mc_err *err)
{
    const char *p = text;
    int64_t total = 0;
    if (!*p)
        return mc_err_set(err, MC_EINVAL, "empty duration (expected e.g. 365d, 10y, 12h)");
    while (*p) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p - '0');
            if (n > MAX_SECONDS)
                goto range;
            p++;
        }
        int64_t unit = 1;
        if (*p) {
            unit = unit_seconds(*p);
            if (!unit)
                goto bad;
            p++;
        }
        if (n > (MAX_SECONDS - total) / unit)
            goto range;
        total += n * unit;
    }
    if (total <= 0)
        return mc_err_set(err, MC_EINVAL, "duration \"%s\" must be greater than zero", text);
    *seconds = total;
    return MC_OK;
bad:
    return mc_err_set(err, MC_EINVAL,
                      "invalid duration \"%s\" (expected a number with unit s, m, h, d or y, "
                      "e.g. 365d or 10y)",
                      text);
range:
    return mc_err_set(err, MC_EINVAL, "duration \"%s\" is longer than 1000 years", text);
}

int mc_duration_parse_ms(const char *text, int64_t *ms, mc_err *err)
{
    size_t n = strlen(text);
    if (n > 2 && strcmp(text + n - 2, "ms") == 0) {
        char *end = NULL;
        long long v = isdigit((unsigned char)text[0]) ? strtoll(text, &end, 10) : 0;
        if (end != text + n - 2 || v <= 0 || v > MAX_SECONDS)
            return mc_err_set(err, MC_EINVAL,
                              "invalid duration \"%s\" (expected e.g. 500ms, 30s, 1m)", text);
        *ms = v;
        return MC_OK;
    }
    int64_t seconds = 0;
    int rc = mc_duration_parse(text, &seconds, err);
    if (rc == MC_OK)
        *ms = seconds * 1000;
    return rc;
}

/* Formats seconds in the largest unit of units (largest first) that divides
 * it exactly; seconds when none does. */
static void format_in_units(int64_t seconds, const char *units, char *out, unsigned long out_size)
{
    for (const char *u = units; *u; u++) {
        int64_t s = unit_seconds(*u);
        if (seconds >= s && seconds % s == 0) {
            snprintf(out, out_size, "%lld%c", (long long)(seconds / s), *u);
            return;
        }
    }
    snprintf(out, out_size, "%llds", (long long)seconds);
}

void mc_duration_format(int64_t seconds, char *out, unsigned long out_size)
{
    format_in_units(seconds, "ydhm", out, out_size);
}

void mc_duration_format_go(int64_t seconds, char *out, unsigned long out_size)
{
    format_in_units(seconds, "hm", out, out_size);
}
