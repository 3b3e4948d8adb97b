/* exec.c - a kubeconfig's exec credential plugin (client-go's
 * ExecCredential protocol, see exec.h): the command runs with fork + execve,
 * no shell, stdin /dev/null, KUBERNETES_EXEC_INFO in its environment, and a
 * deadline; its stdout is an ExecCredential whose status carries a bearer
 * token or a client certificate and key. Caching the result and refreshing
 * it on 401 is the client's (client.c).
 */
#define _GNU_SOURCE    /* pipe2: the pipe is close-on-exec from birth, so a plugin run             \
                          by another thread cannot inherit it */
#include "kube/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "api/time.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/str.h"

#define EXEC_OUTPUT_MAX (1u << 20) /* an exec plugin's stdout */
#define EXEC_TIMEOUT_MS 60000      /* an exec plugin's run */

extern char **environ;

/* Builds the child's environment: ours, minus the names the plugin config
 * or KUBERNETES_EXEC_INFO override, plus those. Built before fork because
 * the child of a threaded process may not allocate. */
static char **exec_environment(const mc_kube_exec *exec, char *exec_info)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **envp = calloc(n + exec->env_len + 2, sizeof(char *));
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int overridden = name_len == strlen("KUBERNETES_EXEC_INFO") &&
                         strncmp(environ[i], "KUBERNETES_EXEC_INFO", name_len) == 0;
        for (size_t j = 0; !overridden && j < exec->env_len; j++)
            overridden = strncmp(environ[i], exec->env[j], name_len + 1) == 0;
        if (!overridden)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < exec->env_len; j++)
        envp[k++] = exec->env[j];
    envp[k++] = exec_info;
    envp[k] = NULL;
    return envp;
}

/* Reads the child's stdout into out (capped) until EOF or the deadline. */
static int read_child_output(int fd, mc_buf *out, const char *command, mc_err *err)
{
    int64_t deadline = mc_clock_now_ms() + EXEC_TIMEOUT_MS;
    char chunk[8192];
    for (;;) {
        int64_t left = deadline - mc_clock_now_ms();
        if (left <= 0)
            return mc_err_set(err, MC_EAUTH, "exec plugin %s: no answer within %d s", command,
                              EXEC_TIMEOUT_MS / 1000);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mc_err_set(err, MC_EAUTH, "exec plugin %s: poll: %s", command, strerror(errno));
        if (r == 0)
            continue;
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return mc_err_set(err, MC_EAUTH, "exec plugin %s: read: %s", command, strerror(errno));
        if (got == 0)
            return MC_OK;
        if (mc_buf_append(out, chunk, (size_t)got) != MC_OK)
            return mc_err_set(err, MC_EAUTH, "exec plugin %s: output larger than %u bytes", command,
                              EXEC_OUTPUT_MAX);
    }
}

/* Runs the plugin (fork + execve, no shell) and returns its stdout. */
static int run_plugin(const mc_kube_exec *exec, mc_buf *output, mc_err *err)
{
    char **argv = NULL, **envp = NULL;
    char *exec_info = NULL;
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    int rc = MC_ENOMEM;
    /* KUBERNETES_EXEC_INFO: an ExecCredential of the client authentication
     * exec protocol (client.authentication.k8s.io), which only kubeconfigs
     * and their plugins speak; it is no API resource, so it is built here,
     * beside the reader of the plugin's answer, not in api/'s table. */
    json_t *info = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion", exec->api_version, "kind",
                             "ExecCredential", "spec", "interactive", 0);
    char *info_text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_decref(info);
    mc_buf b;
    mc_buf_init(&b, 1 << 20);
    if (!info_text || mc_buf_appendf(&b, "KUBERNETES_EXEC_INFO=%s", info_text) ||
        !(exec_info = mc_buf_steal(&b, NULL)))
        goto nomem;
    argv = calloc(exec->args_len + 2, sizeof(char *));
    if (!argv || !(envp = exec_environment(exec, exec_info)))
        goto nomem;
    argv[0] = exec->command;
    for (size_t i = 0; i < exec->args_len; i++)
        argv[i + 1] = exec->args[i];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = mc_err_set(err, MC_EAUTH, "exec plugin %s: pipe: %s", exec->command, strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = mc_err_set(err, MC_EAUTH, "exec plugin %s: fork: %s", exec->command, strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only. stdin is /dev/null (never
         * interactive), stdout the pipe, stderr inherited. */
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(fds[1], 1) < 0)
            _exit(126);
        execve(exec->command, argv, envp);
        _exit(127);
    }
    close(fds[1]);
    fds[1] = -1;
    rc = read_child_output(fds[0], output, exec->command, err);
    close(fds[0]);
    fds[0] = -1;
    if (rc)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc == MC_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = mc_err_set(err, MC_EAUTH, "exec plugin %s %s %d", exec->command,
                        WIFEXITED(status) ? "exited with status" : "killed by signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    goto out;
nomem:
    rc = mc_err_set(err, MC_ENOMEM, "out of memory");
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(argv);
    free(envp);
    free(exec_info);
    free(info_text);
    return rc;
}

static int take_string(json_t *obj, const char *key, char **out)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s || !s[0])
        return MC_OK;
    *out = mc_strdup(s);
    return *out ? MC_OK : MC_ENOMEM;
}

int mc_kube_exec_run(const mc_kube_exec *exec, mc_kube_exec_credential *cred, mc_err *err)
{
    memset(cred, 0, sizeof(*cred));
    mc_buf output;
    mc_buf_init(&output, EXEC_OUTPUT_MAX);
    json_t *root = NULL;
    int rc = run_plugin(exec, &output, err);
    if (rc)
        goto out;
    json_error_t jerr;
    root = json_loadb(output.data ? output.data : "", output.len, 0, &jerr);
    json_t *status = json_object_get(root, "status");
    const char *kind = json_string_value(json_object_get(root, "kind"));
    if (!json_is_object(status) || !kind || strcmp(kind, "ExecCredential") != 0) {
        rc = mc_err_set(err, MC_EAUTH, "exec plugin %s: output is not an ExecCredential",
                        exec->command);
        goto out;
    }
    if (take_string(status, "token", &cred->token) ||
        take_string(status, "clientCertificateData", &cred->cert_pem) ||
        take_string(status, "clientKeyData", &cred->key_pem)) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    if (!cred->token && !(cred->cert_pem && cred->key_pem)) {
        rc = mc_err_set(err, MC_EAUTH,
                        "exec plugin %s: ExecCredential has neither status.token nor "
                        "clientCertificateData and clientKeyData",
                        exec->command);
        goto out;
    }
    const char *expiry = json_string_value(json_object_get(status, "expirationTimestamp"));
    if (expiry && mc_time_parse(expiry, &cred->expiry, NULL, err) != MC_OK) {
        mc_err_prefix(err, "exec plugin %s: status.expirationTimestamp", exec->command);
        if (err)
            err->code = MC_EAUTH; /* the credential could not be obtained */
        rc = MC_EAUTH;
        goto out;
    }
out:
    if (rc)
        mc_kube_exec_credential_clear(cred);
    json_decref(root);
    mc_buf_free_secure(&output);
    return rc;
}

void mc_kube_exec_credential_clear(mc_kube_exec_credential *cred)
{
    mc_secure_free_str(cred->token);
    free(cred->cert_pem);
    mc_secure_free_str(cred->key_pem);
    memset(cred, 0, sizeof(*cred));
}
