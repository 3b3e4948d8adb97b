/* time.h - RFC 3339 timestamps as Kubernetes writes them.
 *
 * metav1.Time is second precision ("2024-05-01T10:00:00Z"); metav1.MicroTime
 * (Lease renewTime, Event eventTime) carries six fractional digits. Parsing
 * accepts the full RFC 3339 grammar (fractions of any length up to
 * nanoseconds, "Z" or a numeric offset, lower-case 't'/'z'); formatting
 * always writes UTC with a "Z", which is what the API server does.
 */
#ifndef MC_API_TIME_H
#define MC_API_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Bytes needed by mc_time_format (20 + NUL) and mc_time_format_micro (27 + NUL). */
#define MC_TIME_RFC3339_MAX 32

/* Parses an RFC 3339 date-time into seconds since the Unix epoch (UTC) and
 * nanoseconds (0..999999999); nanos may be NULL. Years 0000..9999. MC_EINVAL
 * naming the offset of the first bad character, or the out-of-range field. A
 * leap second (":60") is rejected, as Go and hence Kubernetes do. */
int mc_time_parse(const char *text, int64_t *unix_seconds, int32_t *nanos, mc_err *err);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" into out (at least MC_TIME_RFC3339_MAX bytes).
 * MC_EINVAL when the time is outside years 0000..9999 or out is too small. */
int mc_time_format(int64_t unix_seconds, char *out, size_t out_size);

/* Like mc_time_format with six fractional digits (MicroTime), from nanos
 * truncated to microseconds. */
int mc_time_format_micro(int64_t unix_seconds, int32_t nanos, char *out, size_t out_size);

#endif
