/* exec.h - running a kubeconfig's exec credential plugin (users[].user.exec,
 * client-go's ExecCredential protocol) for the client's credential cache.
 * Internal to kube/: client.c runs it; other layers configure it through
 * the kubeconfig (config.h) and never call it.
 */
#ifndef MC_KUBE_EXEC_H
#define MC_KUBE_EXEC_H

#include <stdint.h>

#include "kube/config.h"
#include "util/err.h"

/* What a plugin answered (status of its ExecCredential). */
typedef struct mc_kube_exec_credential {
    char *token;    /* status.token, or NULL; wiped on clear */
    char *cert_pem; /* status.clientCertificateData, or NULL */
    char *key_pem;  /* status.clientKeyData, or NULL; wiped on clear */
    int64_t expiry; /* status.expirationTimestamp (Unix s), 0 = never */
} mc_kube_exec_credential;

/* Runs exec's command (no shell, stdin /dev/null, at most 60 s, stdout at
 * most 1 MiB) and reads the ExecCredential it prints into *cred (caller
 * clears). MC_EAUTH naming the command when it cannot run, fails, times out
 * or prints no usable credential (neither a token nor a certificate and
 * key); MC_ENOMEM. On failure *cred holds nothing. */
int mc_kube_exec_run(const mc_kube_exec *exec, mc_kube_exec_credential *cred, mc_err *err);

/* Wipes and frees the fields of cred (NULL fields are fine). */
void mc_kube_exec_credential_clear(mc_kube_exec_credential *cred);

#endif
