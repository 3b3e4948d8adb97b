/* err.h - the one error type of meshcert.
 *
 * Every function that can fail returns int: 0 on success, a negative MC_E*
 * code on failure, and fills an optional mc_err with a one-line message fit
 * for a Kubernetes status.error field or a CLI error line. Messages name the
 * object and the problem; they never contain key material.
 */
#ifndef MC_UTIL_ERR_H
#define MC_UTIL_ERR_H

#include <stddef.h>

enum {
    MC_OK = 0,
    MC_EINVAL = -1,       /* malformed or unacceptable input */
    MC_ENOMEM = -2,       /* allocation failed */
    MC_EIO = -3,          /* file or socket I/O failed */
    MC_ECRYPTO = -4,      /* the crypto library failed (not the input) */
    MC_EVERIFY = -5,      /* a signature, chain or key match check failed */
    MC_ENOTFOUND = -6,    /* a named thing does not exist */
    MC_ELIMIT = -7,       /* input exceeds a size or count limit */
    MC_EUNSUPPORTED = -8, /* well-formed but not supported (key type, ...) */
    MC_EEXPIRED = -9,     /* outside a validity window */
    MC_EUSAGE = -10,      /* wrong command-line usage */
    MC_EINTERNAL = -11,   /* a bug: an invariant did not hold */
    MC_ECONFLICT = -12,   /* a write lost a race (Kubernetes 409 Conflict) */
    MC_EEXISTS = -13,     /* the object already exists (409 AlreadyExists) */
    MC_EAUTH = -14,       /* not authenticated or not allowed (401, 403) */
    MC_EUNAVAILABLE = -15, /* the peer is overloaded or down (429, 5xx, connection) */
};

#define MC_ERR_MSG_MAX 512

typedef struct mc_err {
    int code;                 /* one of the MC_E* codes, MC_OK when unset */
    char msg[MC_ERR_MSG_MAX]; /* NUL-terminated, one line, truncated if long */
    int http;                 /* HTTP status behind the failure (kube/ sets it), else 0 */
} mc_err;

/* Sets err (when not NULL) to code and the printf-style message, http to 0;
 * returns code so that callers can write `return mc_err_set(err, MC_EINVAL, "...")`.
 * Newlines in the message are replaced by spaces. */
int mc_err_set(mc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to err's message (when err is not NULL and set);
 * returns err's code, or MC_EINTERNAL when err was never set. */
int mc_err_prefix(mc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to MC_OK with an empty message. Accepts NULL. */
void mc_err_clear(mc_err *err);

/* A short constant name for a code, e.g. "invalid input". Never NULL. */
const char *mc_err_code_str(int code);

#endif
