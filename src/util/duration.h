/* duration.h - parsing human durations for TTL flags ("10y", "365d", "12h").
 *
 * Units: s, m, h, d and y (365 days); several terms may be chained ("1y30d").
 * A bare number is seconds. Go-style durations such as "8760h" therefore work.
 */
#ifndef MC_UTIL_DURATION_H
#define MC_UTIL_DURATION_H

#include <stdint.h>

#include "util/err.h"

/* Parses text into *seconds (> 0). MC_EINVAL naming the text when malformed,
 * zero, or over 1000 years. */
int mc_duration_parse(const char *text, int64_t *seconds, mc_err *err);

/* Parses "<n>ms" or any duration mc_duration_parse accepts (e.g. 500ms,
 * 30s, 1m30s) into *ms (> 0). MC_EINVAL naming the text. */
int mc_duration_parse_ms(const char *text, int64_t *ms, mc_err *err);

/* Formats seconds as the largest exact unit, e.g. "365d", "10y", "90m".
 * out must hold at least 32 bytes. */
void mc_duration_format(int64_t seconds, char *out, unsigned long out_size);

/* Formats seconds as a Go duration in its largest exact unit of h, m and s
 * ("8760h", "90m", "61s"), the form Kubernetes API fields such as
 * IssuedCertificate spec.duration take. out must hold at least 32 bytes. */
void mc_duration_format_go(int64_t seconds, char *out, unsigned long out_size);

#endif
