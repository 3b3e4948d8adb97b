/* cli.h - what the meshcert subcommands share: exit codes, error printing,
 * option lists, reading input files.
 *
 * Exit codes: 0 success, 1 failure (bad input, failed check), 2 usage error.
 * Every error is one line on stderr: "meshcert <command>: <what>: <problem>".
 */
#ifndef MC_CLI_CLI_H
#define MC_CLI_CLI_H

#include <stddef.h>

#include "pki/issue.h"
#include "pki/key.h"
#include "pki/pkcs11.h"
#include "util/err.h"

enum { MC_EXIT_OK = 0, MC_EXIT_FAIL = 1, MC_EXIT_USAGE = 2 };

/* A repeated option's values (e.g. every --host); items borrowed from argv. */
typedef struct mc_cli_list {
    const char **items; /* owned array */
    size_t count;
} mc_cli_list;

/* Appends value; returns 0, or -1 when out of memory. */
int mc_cli_list_add(mc_cli_list *list, const char *value);
void mc_cli_list_free(mc_cli_list *list);

/* Validates a --host value (IP, URI with a scheme, or DNS name) and appends it;
 * MC_EINVAL with the reason otherwise. */
int mc_cli_add_host(mc_cli_list *hosts, const char *host, mc_err *err);

/* Prints "meshcert <cmd>: <message>" and a pointer to --help; returns 2. */
int mc_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "meshcert <cmd>: <err message>"; returns 1 (2 for MC_EUSAGE). */
int mc_cli_fail(const char *cmd, const mc_err *err);

/* Reports an option getopt_long refused (unknown, or missing its value);
 * returns 2. */
int mc_cli_bad_option(const char *cmd, char **argv, int optopt_value);

/* Parses --key-format: "pkcs8", "traditional" (also "pkcs1", "sec1"); 0 or -1. */
int mc_cli_parse_key_format(const char *text, mc_key_pem_format *out);

/* The PKCS#11 options ca create and sign share (--pkcs11-module, --pin-file,
 * --pin-env), for their --help texts. */
#define MC_CLI_PKCS11_HELP                                                                         \
    "  --pkcs11-module PATH  the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so);\n"         \
    "                     or module-path= in the URI\n"                                            \
    "  --pin-file FILE    the token's user PIN: the first line of FILE\n"                          \
    "  --pin-env VAR      ... or the environment variable VAR (never a PIN on the\n"               \
    "                     command line, where ps and /proc/PID/cmdline show it)\n"

/* Usage checks for a PKCS#11 key in config (uri set): one PIN source at most.
 * Returns 0, or prints the usage error and returns 2. */
int mc_cli_pkcs11_check(const char *cmd, const mc_pki_pkcs11_config *config);

/* A root key opened without its certificate (root_key.c): a token's handle
 * and back end, or a PEM file's key. */
typedef struct mc_cli_root_key {
    mc_pki_pkcs11 *pkcs11;      /* the token's handle (a pkcs11: URI), or NULL */
    mc_pki_key_backend backend; /* signs through pkcs11 (when set) */
    mc_pki_key *key;            /* or the key of a PEM file (text wiped once parsed) */
} mc_cli_root_key;

/* Opens the key config->uri names (module and PIN as in pkcs11.h): errors as
 * mc_cli_root_signer_open's, without MC_EVERIFY. *out closed with
 * mc_cli_root_key_close (zeroed on failure). */
int mc_cli_root_key_open(const mc_pki_pkcs11_config *config, mc_cli_root_key *out, mc_err *err);

/* Frees what mc_cli_root_key_open opened; the key is wiped. */
void mc_cli_root_key_close(mc_cli_root_key *key);

/* A signer for root with the key key->uri names (root_key.c): a pkcs11: URI
 * (module, PIN source and URI as in pkcs11.h; *pkcs11 is then the open
 * handle, to free after the signer) or a PEM file (*pkcs11 NULL; the key
 * text is wiped once parsed). *signer owned by the caller. Errors name the
 * key, never its content: MC_EAUTH for a wrong or locked PIN, MC_ENOTFOUND
 * for a missing module, token, object or file, MC_EVERIFY when the key is
 * not root's. On failure both outputs are NULL. */
int mc_cli_root_signer_open(mc_pki_cert *root, const mc_pki_pkcs11_config *key,
                            mc_pki_pkcs11 **pkcs11, mc_pki_signer **signer, mc_err *err);

/* Parses the options of one subcommand with getopt_long; defined per command. */
int mc_cmd_ca(int argc, char **argv);
int mc_cmd_csr(int argc, char **argv);
int mc_cmd_sign(int argc, char **argv);
int mc_cmd_verify(int argc, char **argv);
int mc_cmd_server(int argc, char **argv);
int mc_cmd_agent(int argc, char **argv);
int mc_cmd_issuer(int argc, char **argv);
int mc_cmd_cluster(int argc, char **argv);
int mc_cmd_issue(int argc, char **argv);
int mc_cmd_status(int argc, char **argv);
int mc_cmd_rotate(int argc, char **argv);
int mc_cmd_root(int argc, char **argv);
int mc_cmd_completion(int argc, char **argv);

#endif
