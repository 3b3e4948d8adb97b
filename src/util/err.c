/* err.c - the error type: code plus a one-line human message. */
#include "util/err.h"

#include "util/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void flatten_newlines(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

int mc_err_set(mc_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    flatten_newlines(err->msg);
    err->code = code;
    err->http = 0;
    return code;
}

int mc_err_prefix(mc_err *err, const char *fmt, ...)
{
    if (!err)
        return MC_EINTERNAL;
    if (err->code == MC_OK)
        err->code = MC_EINTERNAL;
    char prefix[MC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char joined[2 * MC_ERR_MSG_MAX + 2];
    snprintf(joined, sizeof(joined), "%s: %s", prefix, err->msg);
    mc_strlcpy(err->msg, joined, sizeof(err->msg));
    flatten_newlines(err->msg);
    return err->code;
}

void mc_err_clear(mc_err *err)
{
    if (!err)
        return;
    err->code = MC_OK;
    err->msg[0] = '\0';
    err->http = 0;
}

const char *mc_err_code_str(int code)
{
    switch (code) {
    case MC_OK: return "ok";
    case MC_EINVAL: return "invalid input";
    case MC_ENOMEM: return "out of memory";
    case MC_EIO: return "I/O error";
    case MC_ECRYPTO: return "crypto library error";
    case MC_EVERIFY: return "verification failed";
    case MC_ENOTFOUND: return "not found";
    case MC_ELIMIT: return "limit exceeded";
    case MC_EUNSUPPORTED: return "unsupported";
    case MC_EEXPIRED: return "expired or not yet valid";
    case MC_EUSAGE: return "usage error";
    case MC_EINTERNAL: return "internal error";
    case MC_ECONFLICT: return "conflict";
    case MC_EEXISTS: return "already exists";
    case MC_EAUTH: return "unauthorized";
    case MC_EUNAVAILABLE: return "unavailable";
    default: return "unknown error";
    }
}
