/* time.c - RFC 3339 parsing and formatting (see time.h).
 *
 * Calendar arithmetic uses the days-from-civil method over the proleptic
 * Gregorian calendar, so no timegm(), no TZ environment and no locale is
 * involved: the result does not depend on the machine's settings.
 */
#include "api/time.h"

#include <stdbool.h>
#include <stdio.h>

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits at text+*pos. */
static bool digits(const char *text, size_t *pos, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = text[*pos];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
        (*pos)++;
    }
    *out = v;
    return true;
}

static bool expect(const char *text, size_t *pos, char a, char b)
{
    if (text[*pos] != a && text[*pos] != b)
        return false;
    (*pos)++;
    return true;
}

int mc_time_parse(const char *text, int64_t *unix_seconds, int32_t *nanos, mc_err *err)
{
    size_t pos = 0;
    int year, month, day, hour, minute, second, frac = 0;
    if (!text)
        return mc_err_set(err, MC_EINVAL, "missing timestamp");
    if (!digits(text, &pos, 4, &year) || !expect(text, &pos, '-', '-') ||
        !digits(text, &pos, 2, &month) || !expect(text, &pos, '-', '-') ||
        !digits(text, &pos, 2, &day) || !expect(text, &pos, 'T', 't') ||
        !digits(text, &pos, 2, &hour) || !expect(text, &pos, ':', ':') ||
        !digits(text, &pos, 2, &minute) || !expect(text, &pos, ':', ':') ||
        !digits(text, &pos, 2, &second))
        goto syntax;
    if (text[pos] == '.') {
        pos++;
        int n = 0;
        while (text[pos] >= '0' && text[pos] <= '9') {
            if (n < 9)
                frac = frac * 10 + (text[pos] - '0');
            n++;
            pos++;
        }
        if (n == 0)
            goto syntax;
        for (int i = n; i < 9; i++)
            frac *= 10;
    }
    int offset_minutes = 0;
    if (text[pos] == 'Z' || text[pos] == 'z') {
        pos++;
    } else if (text[pos] == '+' || text[pos] == '-') {
        int sign = text[pos] == '-' ? -1 : 1;
        int oh, om;
        pos++;
        if (!digits(text, &pos, 2, &oh) || !expect(text, &pos, ':', ':') ||
            !digits(text, &pos, 2, &om))
            goto syntax;
        if (oh > 23 || om > 59)
            return mc_err_set(err, MC_EINVAL, "timestamp \"%s\": offset out of range", text);
        offset_minutes = sign * (oh * 60 + om);
    } else {
        goto syntax;
    }
    if (text[pos] != '\0')
        goto syntax;
    if (month < 1 || month > 12)
        return mc_err_set(err, MC_EINVAL, "timestamp \"%s\": month out of range", text);
    if (day < 1 || day > days_in_month(year, month))
        return mc_err_set(err, MC_EINVAL, "timestamp \"%s\": day out of range", text);
    if (hour > 23 || minute > 59 || second > 59)
        return mc_err_set(err, MC_EINVAL, "timestamp \"%s\": time of day out of range", text);
    *unix_seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                    second - (int64_t)offset_minutes * 60;
    if (nanos)
        *nanos = frac;
    return 0;
syntax:
    return mc_err_set(err, MC_EINVAL,
                      "timestamp \"%.64s\" is not RFC 3339 (bad character at offset %zu)", text,
                      pos);
}

static int format_common(int64_t unix_seconds, const char *frac, char *out, size_t out_size)
{
    /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
    if (unix_seconds < -62167219200LL || unix_seconds > 253402300799LL)
        return MC_EINVAL;
    int64_t days = unix_seconds / 86400, rem = unix_seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return MC_EINVAL;
    int n = snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", (int)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
    if (n < 0 || (size_t)n >= out_size)
        return MC_EINVAL;
    return 0;
}

int mc_time_format(int64_t unix_seconds, char *out, size_t out_size)
{
    return format_common(unix_seconds, "", out, out_size);
}

int mc_time_format_micro(int64_t unix_seconds, int32_t nanos, char *out, size_t out_size)
{
    char frac[16];
    if (nanos < 0 || nanos > 999999999)
        return MC_EINVAL;
    snprintf(frac, sizeof(frac), ".%06d", (int)(nanos / 1000));
    return format_common(unix_seconds, frac, out, out_size);
}
