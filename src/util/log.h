/* log.h - the logger: levels, text or JSON lines, UTC timestamps.
 *
 * The logger's configuration is the one piece of global mutable state meshcert
 * allows. Every line goes through a redaction pass: PEM private key blocks and
 * bearer tokens are replaced by "[REDACTED]" before anything is written, so a
 * careless caller cannot leak a secret through the log. Thread-safe: one line
 * is written with a single fwrite under a lock.
 */
#ifndef MC_UTIL_LOG_H
#define MC_UTIL_LOG_H

#include <stdio.h>

typedef enum {
    MC_LOG_DEBUG = 0,
    MC_LOG_INFO = 1,
    MC_LOG_WARN = 2,
    MC_LOG_ERROR = 3,
    MC_LOG_OFF = 4,
} mc_log_level;

typedef enum {
    MC_LOG_TEXT = 0, /* 2026-11-23T10:00:00.123Z INFO  component: message */
    MC_LOG_JSON = 1, /* {"ts":"...","level":"info","component":"...","msg":"..."} */
} mc_log_format;

/* Sets the minimum level, the line format and the stream (NULL = stderr). */
void mc_log_configure(mc_log_level level, mc_log_format format, FILE *out);

/* Parses "debug", "info", "warn", "error" or "off"; returns -1 when unknown. */
int mc_log_level_parse(const char *name);

/* Writes one line when level is at or above the configured minimum. */
void mc_log(mc_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replaces private-key PEM blocks and bearer tokens in s (in place, shrinking
 * it); returns s. Exposed for tests and for callers that print elsewhere. */
char *mc_log_redact(char *s);

#define mc_log_debug(comp, ...) mc_log(MC_LOG_DEBUG, comp, __VA_ARGS__)
#define mc_log_info(comp, ...)  mc_log(MC_LOG_INFO, comp, __VA_ARGS__)
#define mc_log_warn(comp, ...)  mc_log(MC_LOG_WARN, comp, __VA_ARGS__)
#define mc_log_error(comp, ...) mc_log(MC_LOG_ERROR, comp, __VA_ARGS__)

#endif
