/* args.c - helpers shared by the subcommands: errors, lists, file input. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/host.h"

int mc_cli_list_add(mc_cli_list *list, const char *value)
{
    const char **items = realloc(list->items, (list->count + 1) * sizeof(*items));
    if (!items)
        return -1;
    items[list->count++] = value;
    list->items = items;
    return 0;
}

int mc_cli_add_host(mc_cli_list *hosts, const char *host, mc_err *err)
{
    mc_host kind;
    int rc = mc_host_classify(host, &kind, err);
    if (rc)
        return rc;
    return mc_cli_list_add(hosts, host) ? mc_err_set(err, MC_ENOMEM, "out of memory") : MC_OK;
}

void mc_cli_list_free(mc_cli_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

int mc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "meshcert %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'meshcert %s --help' for usage.\n", cmd);
    return MC_EXIT_USAGE;
}

int mc_cli_fail(const char *cmd, const mc_err *err)
{
    fprintf(stderr, "meshcert %s: %s\n", cmd, err->msg[0] ? err->msg : mc_err_code_str(err->code));
    return err->code == MC_EUSAGE ? MC_EXIT_USAGE : MC_EXIT_FAIL;
}

int mc_cli_bad_option(const char *cmd, char **argv, int optopt_value)
{
    extern int optind;
    const char *arg = argv[optind - 1];
    if (optopt_value && optopt_value < 256 && optopt_value != '?')
        return mc_cli_usage_error(cmd, "option -%c needs a value", optopt_value);
    return mc_cli_usage_error(cmd, "unknown option or missing value: %s", arg);
}

int mc_cli_pkcs11_check(const char *cmd, const mc_pki_pkcs11_config *config)
{
    if (config->pin_file && config->pin_env)
        return mc_cli_usage_error(cmd, "give either --pin-file or --pin-env, not both");
    if (!mc_pki_pkcs11_is_uri(config->uri) &&
        (config->module_path || config->pin_file || config->pin_env))
        return mc_cli_usage_error(cmd, "--pkcs11-module, --pin-file and --pin-env go with a "
                                       "pkcs11: key URI");
    return MC_EXIT_OK;
}
