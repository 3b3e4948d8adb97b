/* completion.c - `meshcert completion bash|zsh`: prints a shell completion
 * script for the commands, their subcommands and the flags of each.
 *
 * The flags are read from each command's own --help (run in this process
 * with stdout captured), so the script lists exactly the options a user
 * reads there and cannot lag behind a new one. What --help does not say in
 * a form worth parsing stays here: the subcommands, and the fixed values of
 * a few flags. The metavariable of a flag tells what its value is: FILE a
 * file, DIR or OUT a directory, anything else a word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/buf.h"

#define HELP_MAX (1u << 16)

static const char help[] =
    "Usage: meshcert completion bash|zsh\n"
    "\n"
    "Prints a shell completion script: commands, subcommands, the flags of each\n"
    "command, file names for FILE and DIR flags and the values of flags with fixed\n"
    "choices. Load it into the running shell, or install it:\n"
    "\n"
    "  bash:  source <(meshcert completion bash)\n"
    "         meshcert completion bash > /etc/bash_completion.d/meshcert\n"
    "  zsh:   source <(meshcert completion zsh)       (after compinit)\n"
    "         meshcert completion zsh > \"${fpath[1]}/_meshcert\"\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n";

/* A command whose flags are completed: its words, and the argv that makes
 * it print its help. */
typedef struct completed_command {
    const char *path; /* "ca create" */
    int (*run)(int argc, char **argv);
    const char *help_argv[4]; /* NULL-terminated */
} completed_command;

static const completed_command commands[] = {
    {"ca create", mc_cmd_ca, {"ca", "create", "--help", NULL}},
    {"csr create", mc_cmd_csr, {"csr", "create", "--help", NULL}},
    {"sign", mc_cmd_sign, {"sign", "--help", NULL}},
    {"verify", mc_cmd_verify, {"verify", "--help", NULL}},
    {"cluster", mc_cmd_cluster, {"cluster", "--help", NULL}},
    {"issue", mc_cmd_issue, {"issue", "--help", NULL}},
    {"status", mc_cmd_status, {"status", "--help", NULL}},
    {"rotate", mc_cmd_rotate, {"rotate", "--help", NULL}},
    {"root", mc_cmd_root, {"root", "--help", NULL}},
    {"issuer", mc_cmd_issuer, {"issuer", "--help", NULL}},
    {"agent", mc_cmd_agent, {"agent", "--help", NULL}},
    {"server", mc_cmd_server, {"server", "--help", NULL}},
    {"server cluster", mc_cmd_server, {"server", "cluster", "--help", NULL}},
    {"completion", mc_cmd_completion, {"completion", "--help", NULL}},
};

/* The words that may follow a command path (shell case patterns). */
static const char subcommands[] = "    ca|csr) _meshcert_reply=create ;;\n"
                                  "    cluster) _meshcert_reply='register list deregister' ;;\n"
                                  "    root) _meshcert_reply='rotate status' ;;\n"
                                  "    server) _meshcert_reply=cluster ;;\n"
                                  "    'server cluster') _meshcert_reply='add remove' ;;\n"
                                  "    completion) _meshcert_reply='bash zsh' ;;\n";

static const char top_commands[] =
    "ca csr sign verify cluster issue status rotate root issuer agent server completion version help";

/* Flags whose values are a fixed list. */
static const struct {
    const char *flag;
    const char *values;
} fixed_values[] = {
    {"--key-type", "rsa4096 rsa3072 rsa2048 ec-p256 ec-p384"},
    {"--root-key-type", "rsa4096 rsa3072 rsa2048 ec-p256 ec-p384"},
    {"--key-format", "pkcs8 traditional"},
    {"--format", "istio tls"},
    {"--output-format", "istio tls"},
    {"--log-level", "debug info warn error"},
    {"--log-format", "text json"},
};

/* Runs command's --help with stdout going to a temporary file, into out. */
static int capture_help(const completed_command *command, mc_buf *out)
{
    char *argv[4] = {NULL, NULL, NULL, NULL};
    int argc = 0;
    for (; command->help_argv[argc]; argc++)
        argv[argc] = (char *)command->help_argv[argc];
    FILE *tmp = tmpfile();
    if (!tmp)
        return -1;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int rc = -1;
    if (saved >= 0 && dup2(fileno(tmp), STDOUT_FILENO) >= 0) {
        rc = command->run(argc, argv) == MC_EXIT_OK ? 0 : -1;
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
    }
    if (saved >= 0)
        close(saved);
    char chunk[4096];
    size_t n;
    rewind(tmp);
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), tmp)) > 0)
        if (mc_buf_append(out, chunk, n) != MC_OK)
            rc = -1;
    fclose(tmp);
    return rc == 0 && out->data ? 0 : -1;
}

/* What a flag's value is, from its metavariable. */
static const char *value_kind(const char *flag, const char *metavar, size_t metavar_len)
{
    if (metavar_len == 0)
        return NULL; /* takes no value */
    for (size_t i = 0; i < sizeof(fixed_values) / sizeof(fixed_values[0]); i++)
        if (strcmp(flag, fixed_values[i].flag) == 0)
            return fixed_values[i].values;
    if (metavar_len >= 4 && (strncmp(metavar, "FILE", 4) == 0 || strncmp(metavar, "PATH", 4) == 0))
        return "file";
    if ((metavar_len >= 3 && strncmp(metavar, "DIR", 3) == 0) ||
        (metavar_len >= 3 && strncmp(metavar, "OUT", 3) == 0))
        return "dir";
    return "value";
}

/* Appends to flags (space-separated) and kinds (shell case arms) what the
 * option lines of help say: a line whose first word is --flag (or
 * "-h, --flag"), followed by an upper-case metavariable when it takes a
 * value. */
static int parse_help(const char *path, const char *help_text, mc_buf *flags, mc_buf *kinds)
{
    int rc = MC_OK;
    for (const char *line = help_text; rc == MC_OK && line && *line;) {
        const char *end = strchr(line, '\n');
        const char *p = line;
        while (*p == ' ')
            p++;
        if (strncmp(p, "-h, ", 4) == 0)
            p += 4;
        if (p[0] == '-' && p[1] == '-' && p[2] >= 'a' && p[2] <= 'z') {
            char flag[64];
            size_t len = strspn(p, "-abcdefghijklmnopqrstuvwxyz0123456789");
            const char *metavar = p + len + 1;
            size_t metavar_len = 0;
            if (p[len] == ' ' && *metavar >= 'A' && *metavar <= 'Z')
                metavar_len = strcspn(metavar, " \n");
            snprintf(flag, sizeof(flag), "%.*s", (int)len, p);
            char padded[70];
            snprintf(padded, sizeof(padded), " %s ", flag);
            int seen = flags->data && (strstr(flags->data, padded) != NULL);
            if (!seen) {
                rc = mc_buf_appendf(flags, "%s ", flag);
                const char *kind = value_kind(flag, metavar, metavar_len);
                if (rc == MC_OK && kind)
                    rc = mc_buf_appendf(kinds, "    '%s %s') _meshcert_reply='%s' ;;\n", path, flag,
                                        kind);
            }
        }
        line = end ? end + 1 : NULL;
    }
    return rc;
}

/* The parts both shells share: the command list, subcommands, each
 * command's flags, and what each flag's value is. */
static int print_data(void)
{
    mc_buf flag_arms, kinds, help_text, flags;
    mc_buf_init(&flag_arms, 1 << 20);
    mc_buf_init(&kinds, 1 << 20);
    int rc = MC_OK;
    for (size_t i = 0; rc == MC_OK && i < sizeof(commands) / sizeof(commands[0]); i++) {
        mc_buf_init(&help_text, HELP_MAX);
        mc_buf_init(&flags, 1 << 16);
        if (capture_help(&commands[i], &help_text) != 0 || mc_buf_append_str(&flags, " ") != MC_OK)
            rc = MC_EIO;
        if (rc == MC_OK)
            rc = parse_help(commands[i].path, help_text.data, &flags, &kinds);
        if (rc == MC_OK)
            rc = mc_buf_appendf(&flag_arms, "    '%s') _meshcert_reply='%s' ;;\n", commands[i].path,
                                flags.data + 1);
        mc_buf_free(&help_text);
        mc_buf_free(&flags);
    }
    if (rc == MC_OK)
        printf("# Each function answers in _meshcert_reply (no subshell per call).\n"
               "_meshcert_commands='%s'\n"
               "\n"
               "# the words that may follow a command path\n"
               "_meshcert_subcommands() {\n"
               "    _meshcert_reply=''\n"
               "    case \"$1\" in\n%s    esac\n}\n"
               "\n"
               "# the flags of a command path (from its --help)\n"
               "_meshcert_flags() {\n"
               "    _meshcert_reply=''\n"
               "    case \"$1\" in\n%s    esac\n}\n"
               "\n"
               "# the value of flag $2 of command path $1: file, dir, value, or the\n"
               "# list of choices; nothing when the flag takes no value\n"
               "_meshcert_flag_value() {\n"
               "    _meshcert_reply=''\n"
               "    case \"$1 $2\" in\n%s    esac\n}\n"
               "\n"
               "# the longest prefix of command path $1 that has flags\n"
               "_meshcert_key() {\n"
               "    local key=\"$1\"\n"
               "    while [ -n \"$key\" ]; do\n"
               "        _meshcert_flags \"$key\"\n"
               "        [ -n \"$_meshcert_reply\" ] && break\n"
               "        case \"$key\" in *' '*) key=\"${key%% *}\" ;; *) key='' ;; esac\n"
               "    done\n"
               "    _meshcert_reply=\"$key\"\n"
               "}\n",
               top_commands, subcommands, flag_arms.data ? flag_arms.data : "",
               kinds.data ? kinds.data : "");
    mc_buf_free(&flag_arms);
    mc_buf_free(&kinds);
    return rc;
}

static const char bash_driver[] =
    "\n"
    "_meshcert() {\n"
    "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
    "    local path i key _meshcert_reply\n"
    "    COMPREPLY=()\n"
    "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
    "        COMPREPLY=($(compgen -W \"$_meshcert_commands\" -- \"$cur\"))\n"
    "        return 0\n"
    "    fi\n"
    "    path=\"${COMP_WORDS[1]}\"\n"
    "    i=2\n"
    "    while [ \"$i\" -lt \"$COMP_CWORD\" ]; do\n"
    "        _meshcert_subcommands \"$path\"\n"
    "        case \" $_meshcert_reply \" in *\" ${COMP_WORDS[i]} \"*) ;; *) break ;; esac\n"
    "        path=\"$path ${COMP_WORDS[i]}\"\n"
    "        i=$((i + 1))\n"
    "    done\n"
    "    _meshcert_subcommands \"$path\"\n"
    "    if [ \"$i\" -eq \"$COMP_CWORD\" ] && [ -n \"$_meshcert_reply\" ] && "
    "[ \"${cur#-}\" = \"$cur\" ]; then\n"
    "        COMPREPLY=($(compgen -W \"$_meshcert_reply\" -- \"$cur\"))\n"
    "        return 0\n"
    "    fi\n"
    "    _meshcert_key \"$path\"\n"
    "    key=\"$_meshcert_reply\"\n"
    "    case \"$prev\" in\n"
    "    --*)\n"
    "        _meshcert_flag_value \"$key\" \"$prev\"\n"
    "        case \"$_meshcert_reply\" in\n"
    "        '') ;;\n"
    "        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); "
    "return 0 ;;\n"
    "        dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")); "
    "return 0 ;;\n"
    "        value) return 0 ;;\n"
    "        *) COMPREPLY=($(compgen -W \"$_meshcert_reply\" -- \"$cur\")); return 0 ;;\n"
    "        esac\n"
    "        ;;\n"
    "    esac\n"
    "    case \"$cur\" in\n"
    "    -*)\n"
    "        _meshcert_flags \"$key\"\n"
    "        COMPREPLY=($(compgen -W \"$_meshcert_reply\" -- \"$cur\"))\n"
    "        ;;\n"
    "    esac\n"
    "    return 0\n"
    "}\n"
    "\n"
    "complete -F _meshcert meshcert\n";

static const char zsh_driver[] =
    "\n"
    "_meshcert() {\n"
    "    local cur=\"${words[CURRENT]}\" prev=\"${words[CURRENT-1]}\"\n"
    "    local path i key _meshcert_reply\n"
    "    if (( CURRENT == 2 )); then\n"
    "        compadd -- ${=_meshcert_commands}\n"
    "        return\n"
    "    fi\n"
    "    path=\"${words[2]}\"\n"
    "    i=3\n"
    "    while (( i < CURRENT )); do\n"
    "        _meshcert_subcommands \"$path\"\n"
    "        case \" $_meshcert_reply \" in *\" ${words[i]} \"*) ;; *) break ;; esac\n"
    "        path=\"$path ${words[i]}\"\n"
    "        i=$((i + 1))\n"
    "    done\n"
    "    _meshcert_subcommands \"$path\"\n"
    "    if (( i == CURRENT )) && [ -n \"$_meshcert_reply\" ] && [ \"${cur#-}\" = \"$cur\" ]; "
    "then\n"
    "        compadd -- ${=_meshcert_reply}\n"
    "        return\n"
    "    fi\n"
    "    _meshcert_key \"$path\"\n"
    "    key=\"$_meshcert_reply\"\n"
    "    case \"$prev\" in\n"
    "    --*)\n"
    "        _meshcert_flag_value \"$key\" \"$prev\"\n"
    "        case \"$_meshcert_reply\" in\n"
    "        '') ;;\n"
    "        file) _files; return ;;\n"
    "        dir) _files -/; return ;;\n"
    "        value) return ;;\n"
    "        *) compadd -- ${=_meshcert_reply}; return ;;\n"
    "        esac\n"
    "        ;;\n"
    "    esac\n"
    "    case \"$cur\" in\n"
    "    -*) _meshcert_flags \"$key\"; compadd -- ${=_meshcert_reply} ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "if [ \"$funcstack[1]\" = \"_meshcert\" ]; then\n"
    "    _meshcert \"$@\"\n"
    "else\n"
    "    compdef _meshcert meshcert\n"
    "fi\n";

int mc_cmd_completion(int argc, char **argv)
{
    static const char cmd[] = "completion";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return MC_EXIT_OK;
    }
    if (argc != 2 || (strcmp(argv[1], "bash") != 0 && strcmp(argv[1], "zsh") != 0))
        return mc_cli_usage_error(cmd, "expected the shell: bash or zsh");
    int zsh = strcmp(argv[1], "zsh") == 0;
    if (zsh)
        fputs("#compdef meshcert\n", stdout);
    printf("# %s completion for meshcert %s (meshcert completion %s)\n\n", argv[1], MC_VERSION,
           argv[1]);
    if (print_data() != MC_OK) {
        mc_err err = {0};
        mc_err_set(&err, MC_EIO, "cannot read the commands' --help");
        return mc_cli_fail(cmd, &err);
    }
    fputs(zsh ? zsh_driver : bash_driver, stdout);
    return fflush(stdout) == 0 ? MC_EXIT_OK : MC_EXIT_FAIL;
}
