/* log.c - levelled, redacting logger writing text or JSON lines (see log.h). */
#include "util/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"

static struct {
    mc_log_level level;
    mc_log_format format;
    FILE *out;
    pthread_mutex_t lock; /* serialises writes to out */
} g_log = {MC_LOG_INFO, MC_LOG_TEXT, NULL, PTHREAD_MUTEX_INITIALIZER};

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void mc_log_configure(mc_log_level level, mc_log_format format, FILE *out)
{
    pthread_mutex_lock(&g_log.lock);
    g_log.level = level;
    g_log.format = format;
    g_log.out = out;
    pthread_mutex_unlock(&g_log.lock);
}

int mc_log_level_parse(const char *name)
{
    for (int i = 0; i <= MC_LOG_OFF; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static const char redacted[] = "[REDACTED]";

/* Replaces s[start, end) with "[REDACTED]"; the region is never shorter. */
static void replace_span(char *s, size_t start, size_t end)
{
    size_t rlen = sizeof(redacted) - 1;
    memcpy(s + start, redacted, rlen);
    memmove(s + start + rlen, s + end, strlen(s + end) + 1);
}

/* PEM blocks whose label ends in "PRIVATE KEY" (RSA, EC, ENCRYPTED, plain). */
static int redact_pem_keys(char *s)
{
    char *begin = strstr(s, "-----BEGIN ");
    while (begin) {
        char *label_end = strstr(begin + 11, "-----");
        if (!label_end)
            return 0;
        size_t label_len = (size_t)(label_end - (begin + 11));
        bool is_key = label_len >= 11 && memcmp(label_end - 11, "PRIVATE KEY", 11) == 0;
        if (!is_key) {
            begin = strstr(label_end + 5, "-----BEGIN ");
            continue;
        }
        char *end = strstr(label_end + 5, "-----END ");
        char *stop = end ? strstr(end + 9, "-----") : NULL;
        size_t end_off = stop ? (size_t)(stop + 5 - s) : strlen(s);
        replace_span(s, (size_t)(begin - s), end_off);
        begin = strstr(begin + sizeof(redacted) - 1, "-----BEGIN ");
    }
    return 0;
}

static char *find_ci(char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* "Bearer <token>" (any case of the scheme): the token up to whitespace or a quote. */
static void redact_bearer(char *s)
{
    for (char *p = s; (p = find_ci(p, "bearer ")) != NULL;) {
        char *tok = p + 7;
        char *q = tok;
        while (*q && *q != ' ' && *q != '"' && *q != '\'' && *q != '\n' && *q != ',')
            q++;
        if (q - tok >= (long)sizeof(redacted) - 1) {
            replace_span(s, (size_t)(tok - s), (size_t)(q - s));
            p = tok + sizeof(redacted) - 1;
        } else {
            if (q > tok)
                memset(tok, '*', (size_t)(q - tok));
            p = q;
        }
    }
}

char *mc_log_redact(char *s)
{
    redact_pem_keys(s);
    redact_bearer(s);
    return s;
}

static void format_time(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000 % 1000));
}

static void append_json_string(mc_buf *b, const char *s)
{
    mc_buf_append_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            mc_buf_appendf(b, "\\%c", c);
        else if (c < 0x20)
            mc_buf_appendf(b, "\\u%04x", c);
        else
            mc_buf_append(b, s, 1);
    }
    mc_buf_append_str(b, "\"");
}

void mc_log(mc_log_level level, const char *component, const char *fmt, ...)
{
    if (level < g_log.level || level >= MC_LOG_OFF)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mc_log_redact(msg);
    for (char *p = msg; *p; p++)
        if (g_log.format == MC_LOG_TEXT && (*p == '\n' || *p == '\r'))
            *p = ' ';

    char ts[40];
    format_time(ts, sizeof(ts));
    mc_buf line;
    mc_buf_init(&line, 16384);
    if (g_log.format == MC_LOG_JSON) {
        mc_buf_appendf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
                       level_names[level]);
        append_json_string(&line, component ? component : "");
        mc_buf_append_str(&line, ",\"msg\":");
        append_json_string(&line, msg);
        mc_buf_append_str(&line, "}\n");
    } else {
        mc_buf_appendf(&line, "%s %-5s %s: %s\n", ts, level_names[level],
                       component ? component : "-", msg);
    }
    pthread_mutex_lock(&g_log.lock);
    FILE *out = g_log.out ? g_log.out : stderr;
    if (line.data) {
        fwrite(line.data, 1, line.len, out);
        fflush(out);
    }
    pthread_mutex_unlock(&g_log.lock);
    mc_buf_free(&line);
}
