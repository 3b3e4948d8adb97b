/* workflow_fixture.c - see workflow_fixture.h. */
#define _XOPEN_SOURCE 700
#include "workflow_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/yaml.h"
#include "kube/config.h"
#include "pki/cert.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"

extern char **environ;

const char *const wf_managed_names[WF_MAX_MANAGED] = {"east", "west", "north"};

void wf_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int64_t wf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *wf_str_at(const json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

int wf_tool_on_path(const char *name)
{
    const char *path = getenv("PATH");
    char dir[1024], file[1100];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir)) {
            memcpy(dir, path, n);
            dir[n] = '\0';
            snprintf(file, sizeof(file), "%s/%s", dir, name);
            if (access(file, X_OK) == 0)
                return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

int wf_spawn_logged(pid_t *pid, char *const *argv, const char *log)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const char *out = log ? log : "/dev/null";
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        *pid = 0;
    return rc == 0 ? 0 : -1;
}

int wf_run_tool(const wf_fixture *f, char *const *argv)
{
    char log[128];
    snprintf(log, sizeof(log), "%s/tools.log", f->work);
    FILE *l = fopen(log, "a");
    if (l) {
        fputs("$", l);
        for (size_t i = 0; argv[i]; i++)
            fprintf(l, " %s", argv[i]);
        fputs("\n", l);
        fclose(l);
    }
    pid_t pid = 0;
    if (wf_spawn_logged(&pid, argv, log) != 0)
        return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int wf_run_output(const wf_fixture *f, char *const *argv, char **output)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/output.txt", f->work);
    unlink(path);
    pid_t pid = 0;
    *output = NULL;
    if (wf_spawn_logged(&pid, argv, path) != 0)
        return -1;
    int status = 0;
    int rc = waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *output = wf_read_text(path);
    unlink(path);
    return rc;
}

static void dump_file(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 24, &text, &len, &err) == MC_OK) {
        size_t from = len > 6000 ? len - 6000 : 0;
        fprintf(stderr, "---- %s (tail) ----\n%s\n----\n", path, text + from);
    }
    free(text);
}

void wf_fail(const wf_fixture *f, const char *fmt, ...)
{
    char what[2048], path[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    dump_file(f->issuer_log);
    for (int c = 0; c < f->managed_count; c++)
        dump_file(f->agent_logs[c]);
    snprintf(path, sizeof(path), "%s/tools.log", f->work);
    dump_file(path);
    fail_msg("%s", what);
}

int wf_client_for(const server_process *server, const char *cluster, mc_kube_client **out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeconfigs/%s.yaml", server->dir, cluster);
    mc_kube_config *config = NULL;
    mc_err err = {0};
    int rc = mc_kube_config_load_file(path, NULL, &config, &err);
    if (rc == MC_OK)
        rc = mc_kube_client_new(config, NULL, out, &err);
    mc_kube_config_free(config);
    if (rc != MC_OK)
        fprintf(stderr, "client %s: %s\n", cluster, err.msg);
    return rc;
}

int wf_create_namespace(mc_kube_client *client, const char *name)
{
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", name);
    mc_err err = {0};
    int rc = mc_kube_create(client, mc_kube_resource_of(MC_API_NAMESPACES), NULL, obj, NULL, &err);
    json_decref(obj);
    if (rc != MC_OK && rc != MC_EEXISTS)
        fprintf(stderr, "namespace %s: %s\n", name, err.msg);
    return rc == MC_EEXISTS ? MC_OK : rc;
}

int wf_apply_crd(mc_kube_client *client, const char *file)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_t *crd = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    int rc = mc_file_read(path, 1 << 20, &text, &len, &err);
    if (rc == MC_OK)
        rc = mc_api_yaml_to_json(text, len, &crd, &err);
    if (rc == MC_OK)
        rc = mc_kube_create(client, mc_kube_resource_of(MC_API_CUSTOM_RESOURCE_DEFINITIONS), NULL,
                            crd, NULL, &err);
    if (rc != MC_OK)
        fprintf(stderr, "crd %s: %s\n", file, err.msg);
    free(text);
    json_decref(crd);
    return rc;
}

int wf_apply_crds(mc_kube_client *client)
{
    static const char *const files[] = {"issuedcertificates.yaml", "certificaterequests.yaml",
                                        "podbouncedirectives.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (wf_apply_crd(client, files[i]) != MC_OK)
            return -1;
    return 0;
}

int wf_register_cluster_with(const server_process *server, mc_kube_client *mgmt,
                             const char *cluster, const mc_api_registration_policy *policy)
{
    char path[512], *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/kubeconfigs/%s.yaml", server->dir, cluster);
    int rc = mc_file_read(path, 1 << 20, &text, &len, &err);
    json_t *secret = NULL;
    if (rc == MC_OK)
        rc = mc_api_registration_build(WF_NS_MESHCERT, cluster, text, len, policy, &secret, &err);
    if (rc == MC_OK)
        rc = mc_kube_create(mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, secret, NULL,
                            &err);
    if (rc != MC_OK)
        fprintf(stderr, "register %s: %s\n", cluster, err.msg);
    json_decref(secret);
    free(text);
    return rc;
}

int wf_default_policy(mc_api_registration_policy *policy)
{
    mc_err err = {0};
    mc_api_registration_policy_init(policy);
    if (mc_api_registration_policy_add(policy, MC_POLICY_ROOT, WF_NS_MESHCERT "/" WF_ROOT_SECRET,
                                       &err) != MC_OK ||
        mc_api_registration_policy_add(policy, MC_POLICY_TRUST_DOMAIN, WF_TRUST_DOMAIN, &err) !=
            MC_OK ||
        mc_api_registration_policy_add(policy, MC_POLICY_DNS_SUFFIX, WF_NS_ISTIO ".svc", &err) !=
            MC_OK ||
        mc_api_registration_policy_add(policy, MC_POLICY_ORG, WF_ORG, &err) != MC_OK) {
        fprintf(stderr, "policy: %s\n", err.msg);
        mc_api_registration_policy_clear(policy);
        return -1;
    }
    return 0;
}

int wf_register_cluster(const server_process *server, mc_kube_client *mgmt, const char *cluster)
{
    mc_api_registration_policy policy;
    if (wf_default_policy(&policy) != 0)
        return -1;
    int rc = wf_register_cluster_with(server, mgmt, cluster, &policy);
    mc_api_registration_policy_clear(&policy);
    return rc;
}

int wf_start_issuer(wf_fixture *f)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    char *argv[32];
    size_t n = 0;
    argv[n++] = MESHCERT_BIN;
    argv[n++] = "issuer";
    argv[n++] = "--kubeconfig";
    argv[n++] = kubeconfig;
    argv[n++] = "--namespace";
    argv[n++] = WF_NS_MESHCERT;
    if (f->generate_root) {
        argv[n++] = "--generate-root";
        argv[n++] = "--root-key-type";
        argv[n++] = "ec-p256";
    }
    argv[n++] = "--log-level";
    argv[n++] = "info";
    for (size_t i = 0;
         i + 1 < sizeof(f->issuer_extra) / sizeof(*f->issuer_extra) && f->issuer_extra[i]; i++)
        argv[n++] = (char *)f->issuer_extra[i];
    argv[n] = NULL;
    return wf_spawn_logged(&f->issuer, argv, f->issuer_log);
}

int wf_start_agent(wf_fixture *f, int which)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/%s.yaml", f->server.dir,
             wf_managed_names[which]);
    char *argv[24];
    size_t n = 0;
    argv[n++] = MESHCERT_BIN;
    argv[n++] = "agent";
    argv[n++] = "--kubeconfig";
    argv[n++] = kubeconfig;
    argv[n++] = "--namespace";
    argv[n++] = WF_NS_MESHCERT;
    /* workflow_test writes one output Secret into mesh-later, a namespace it
     * creates only after the API server refused that write; workflow_chaos
     * bounces pods in apps */
    argv[n++] = "--watch-namespaces=" WF_NS_ISTIO "," WF_NS_LATER "," WF_NS_APPS;
    const char *key_type = f->key_types[which] ? f->key_types[which] : "ec-p256";
    if (*key_type) {
        argv[n++] = "--key-type";
        argv[n++] = (char *)key_type;
    }
    argv[n++] = "--log-level";
    argv[n++] = "info";
    for (size_t i = 0; i < 3 && f->agent_extra[which][i]; i++)
        argv[n++] = (char *)f->agent_extra[which][i];
    argv[n] = NULL;
    return wf_spawn_logged(&f->agents[which], argv, f->agent_logs[which]);
}

int wf_start_all(wf_fixture *f)
{
    if (wf_start_issuer(f) != 0)
        return -1;
    for (int c = 0; c < f->managed_count; c++)
        if (wf_start_agent(f, c) != 0)
            return -1;
    return 0;
}

void wf_use_fast_lease(wf_fixture *f)
{
    static const char *const fast_lease[] = {"--leader-elect-lease-duration",
                                             "2s",
                                             "--leader-elect-renew-deadline",
                                             "1500ms",
                                             "--leader-elect-retry-period",
                                             "250ms",
                                             NULL};
    memcpy(f->issuer_extra, fast_lease, sizeof(fast_lease));
}

int wf_setup(wf_fixture **out)
{
    return wf_setup_clusters(out, WF_MANAGED);
}

int wf_setup_clusters(wf_fixture **out, int managed_count)
{
    wf_fixture *f = calloc(1, sizeof(*f));
    *out = f;
    if (!f || managed_count < 1 || managed_count > WF_MAX_MANAGED)
        return -1;
    f->managed_count = managed_count;
    f->generate_root = 1;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    snprintf(f->work, sizeof(f->work), "/tmp/mc-workflow-XXXXXX");
    if (!mkdtemp(f->work))
        return -1;
    snprintf(f->issuer_log, sizeof(f->issuer_log), "%s/issuer.log", f->work);
    for (int c = 0; c < f->managed_count; c++)
        snprintf(f->agent_logs[c], sizeof(f->agent_logs[c]), "%s/agent-%s.log", f->work,
                 wf_managed_names[c]);
    const char *args[2 + 2 * WF_MAX_MANAGED + 1] = {"--cluster", "mgmt"};
    for (int c = 0; c < f->managed_count; c++) {
        args[2 + 2 * c] = "--cluster";
        args[3 + 2 * c] = wf_managed_names[c];
    }
    if (server_process_start(&f->server, args) != 0 ||
        wf_client_for(&f->server, "mgmt", &f->mgmt) != 0)
        return -1;
    /* RootRotations live on the management cluster (the issuer watches them) */
    if (wf_create_namespace(f->mgmt, WF_NS_MESHCERT) != 0 ||
        wf_apply_crd(f->mgmt, "rootrotations.yaml") != MC_OK)
        return -1;
    for (int c = 0; c < f->managed_count; c++) {
        if (wf_client_for(&f->server, wf_managed_names[c], &f->managed[c]) != 0 ||
            wf_create_namespace(f->managed[c], WF_NS_MESHCERT) != 0 ||
            wf_create_namespace(f->managed[c], WF_NS_ISTIO) != 0 ||
            wf_apply_crds(f->managed[c]) != 0 ||
            wf_register_cluster(&f->server, f->mgmt, wf_managed_names[c]) != 0)
            return -1;
    }
    return 0;
}

void wf_kill(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

/* Starts the issuer (who < 0) or an agent again; the test fails when it
 * cannot. */
static void restart_process(wf_fixture *f, int who)
{
    int rc = who < 0 ? wf_start_issuer(f) : wf_start_agent(f, who);
    if (rc != 0)
        wf_fail(f, "could not restart %s", who < 0 ? "the issuer" : wf_managed_names[who]);
}

void wf_kill_restart(wf_fixture *f, int who, long down_ms)
{
    wf_kill(who < 0 ? &f->issuer : &f->agents[who]);
    wf_sleep_ms(down_ms);
    restart_process(f, who);
}

void wf_chaos_init(wf_chaos *c, long gap_from, long gap_to, long down_from, long down_to)
{
    memset(c, 0, sizeof(*c));
    const char *seed = getenv("MC_CHAOS_SEED");
    c->seed = seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
    c->seed0 = c->seed;
    fprintf(stderr, "chaos seed %u (set MC_CHAOS_SEED to repeat)\n", c->seed);
    c->kill_gap_ms[0] = gap_from;
    c->kill_gap_ms[1] = gap_to;
    c->down_ms[0] = down_from;
    c->down_ms[1] = down_to;
}

long wf_chaos_between(wf_chaos *c, long lo, long hi)
{
    return lo + (long)(rand_r(&c->seed) % (unsigned)(hi - lo + 1));
}

void wf_chaos_start(wf_chaos *c, int64_t now)
{
    c->next_kill = now + wf_chaos_between(c, c->kill_gap_ms[0], c->kill_gap_ms[1]);
}

void wf_chaos_restart_due(wf_fixture *f, wf_chaos *c, int64_t now)
{
    if (!c->down || now < c->restart_at)
        return;
    restart_process(f, c->down - 2);
    c->down = 0;
}

void wf_chaos_kill_due(wf_fixture *f, wf_chaos *c, int64_t now)
{
    if (c->down || now < c->next_kill)
        return;
    int who = (int)wf_chaos_between(c, -1, f->managed_count - 1);
    wf_kill(who < 0 ? &f->issuer : &f->agents[who]);
    if (who < 0)
        c->issuer_kills++;
    else
        c->agent_kills++;
    c->down = who + 2;
    c->restart_at = now + wf_chaos_between(c, c->down_ms[0], c->down_ms[1]);
    c->next_kill = now + wf_chaos_between(c, c->kill_gap_ms[0], c->kill_gap_ms[1]);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int wf_setup_done(void **state, wf_fixture *f, int rc)
{
    if (rc != 0) {
        wf_teardown(f);
        f = NULL;
    }
    *state = f;
    return rc;
}

int wf_cmocka_teardown(void **state)
{
    wf_teardown(*state);
    return 0;
}

void wf_teardown(wf_fixture *f)
{
    if (!f)
        return;
    wf_kill(&f->issuer);
    for (int c = 0; c < WF_MAX_MANAGED; c++) {
        wf_kill(&f->agents[c]);
        mc_kube_client_free(f->managed[c]);
    }
    mc_kube_client_free(f->mgmt);
    server_process_stop(&f->server);
    if (f->work[0])
        nftw(f->work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

void wf_stop_cleanly(const wf_fixture *f, pid_t *pid, const char *what)
{
    assert_int_equal(kill(*pid, SIGTERM), 0);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 150 && done == 0; i++) {
        done = waitpid(*pid, &status, WNOHANG);
        if (done == 0)
            wf_sleep_ms(100);
    }
    if (done != *pid)
        wf_fail(f, "%s did not exit within 15 s of SIGTERM", what);
    *pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        wf_fail(f, "%s after SIGTERM: %s %d", what, WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

char *wf_read_text(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 24, &text, &len, &err) != MC_OK)
        fail_msg("read %s: %s", path, err.msg);
    return text;
}

void wf_write_text(const char *path, const char *text)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
}

char *wf_secret_value(const json_t *secret, const char *key, size_t *len)
{
    const char *b64 = wf_str_at(secret, "data", key);
    if (!b64)
        return NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    mc_err err = {0};
    if (mc_base64_decode(b64, strlen(b64), &raw, &n, &err) != MC_OK)
        return NULL;
    char *text = mc_strndup((const char *)raw, n);
    free(raw);
    if (len)
        *len = n;
    return text;
}

void wf_create(mc_kube_client *client, const mc_kube_resource *res, const char *ns, json_t *obj)
{
    mc_err err = {0};
    int rc = MC_ENOTFOUND;
    for (int i = 0; i < 100 && rc == MC_ENOTFOUND; i++) {
        rc = mc_kube_create(client, res, ns, obj, NULL, &err);
        if (rc == MC_ENOTFOUND)
            wf_sleep_ms(100);
    }
    json_decref(obj);
    if (rc != MC_OK)
        fail_msg("create: %s", err.msg);
}

void wf_create_issued_certificate(mc_kube_client *client, const char *name,
                                  const char *output_secret, const char *root_secret,
                                  const char *directive)
{
    json_t *ic = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}", "apiVersion",
        MC_API_GROUP_VERSION, "kind", "IssuedCertificate", "metadata", "name", name, "namespace",
        WF_NS_MESHCERT, "spec", "hosts", WF_HOST_SPIFFE, "org", WF_ORG, "signingCertificateSecret",
        "name", root_secret ? root_secret : WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT,
        "issuedCertificateSecret", "name", output_secret, "namespace", WF_NS_ISTIO);
    assert_non_null(ic);
    if (directive)
        json_object_set_new(
            json_object_get(ic, "spec"), "podBounceDirective",
            json_pack("{s:s, s:s}", "name", directive, "namespace", WF_NS_MESHCERT));
    wf_create(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT, ic);
}

int wf_ic_read(mc_kube_client *client, const char *name, wf_ic_view *view)
{
    json_t *ic = NULL;
    mc_err err = {0};
    memset(view, 0, sizeof(*view));
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT, name,
                    &ic, &err) != MC_OK)
        return -1;
    const char *s = wf_str_at(ic, "status", "state");
    const char *e = wf_str_at(ic, "status", "error");
    mc_strlcpy(view->state, s ? s : "", sizeof(view->state));
    mc_strlcpy(view->error, e ? e : "", sizeof(view->error));
    view->generation =
        json_integer_value(json_object_get(json_object_get(ic, "metadata"), "generation"));
    view->observed =
        json_integer_value(json_object_get(json_object_get(ic, "status"), "observedGeneration"));
    json_decref(ic);
    return 0;
}

void wf_wait_ic_state(const wf_fixture *f, mc_kube_client *client, const char *cluster,
                      const char *name, const char *state, int64_t min_generation, wf_ic_view *view)
{
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    while (wf_now_ms() < deadline) {
        if (wf_ic_read(client, name, view) == 0 && strcmp(view->state, state) == 0 &&
            view->observed == view->generation && view->generation >= min_generation)
            return;
        wf_sleep_ms(50);
    }
    wf_fail(f,
            "issuedcertificate %s/%s on %s not %s (generation >= %lld) within 30 s: state "
            "\"%s\", generation %lld, observedGeneration %lld, error \"%s\"",
            WF_NS_MESHCERT, name, cluster, state, (long long)min_generation, view->state,
            (long long)view->generation, (long long)view->observed, view->error);
}

static int cert_same(const mc_pki_cert *a, const mc_pki_cert *b)
{
    unsigned char da[32], db[32];
    mc_err err = {0};
    return mc_pki_cert_sha256(a, da, &err) == MC_OK && mc_pki_cert_sha256(b, db, &err) == MC_OK &&
           memcmp(da, db, sizeof(da)) == 0;
}

const char *wf_save_cacerts(const wf_fixture *f, mc_kube_client *client, const char *secret_name,
                            const char *subdir)
{
    static char uid[128];
    static const char *const names[] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem",
                                        "root-cert.pem"};
    char dir[160], path[256];
    json_t *secret = NULL;
    mc_err err = {0};
    snprintf(dir, sizeof(dir), "%s/%s", f->work, subdir);
    mkdir(dir, 0700);
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO, secret_name, &secret,
                    &err) != MC_OK)
        wf_fail(f, "get %s/%s: %s", WF_NS_ISTIO, secret_name, err.msg);
    char *values[4] = {0};
    for (int i = 0; i < 4; i++) {
        values[i] = wf_secret_value(secret, names[i], NULL);
        if (!values[i])
            wf_fail(f, "%s/%s has no %s", WF_NS_ISTIO, secret_name, names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        wf_write_text(path, values[i]);
    }
    /* certtool wants the chain in order, leaf first, each certificate once */
    mc_buf chain;
    mc_buf_init(&chain, 1 << 20);
    assert_int_equal(mc_buf_append_str(&chain, values[0]), MC_OK);
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    if (mc_pki_cert_list_from_pem(values[2], strlen(values[2]), "cert-chain.pem", &certs, &count,
                                  &err) != MC_OK)
        wf_fail(f, "cert-chain.pem: %s", err.msg);
    mc_pki_cert *leaf = NULL, *root = NULL;
    assert_int_equal(mc_pki_cert_from_pem(values[0], strlen(values[0]), "ca", &leaf, &err), MC_OK);
    assert_int_equal(mc_pki_cert_from_pem(values[3], strlen(values[3]), "root", &root, &err),
                     MC_OK);
    for (size_t i = 0; i < count; i++) {
        if (cert_same(certs[i], leaf) || cert_same(certs[i], root))
            continue;
        char *pem = NULL;
        size_t len = 0;
        assert_int_equal(mc_pki_cert_to_pem(certs[i], &pem, &len, &err), MC_OK);
        assert_int_equal(mc_buf_append_str(&chain, pem), MC_OK);
        free(pem);
    }
    assert_int_equal(mc_buf_append_str(&chain, values[3]), MC_OK);
    snprintf(path, sizeof(path), "%s/chain.pem", dir);
    wf_write_text(path, chain.data);
    mc_buf_free(&chain);
    mc_pki_cert_free(leaf);
    mc_pki_cert_free(root);
    mc_pki_cert_list_free(certs, count);
    for (int i = 0; i < 4; i++)
        free(values[i]);
    const char *u = wf_str_at(secret, "metadata", "uid");
    mc_strlcpy(uid, u ? u : "", sizeof(uid));
    json_decref(secret);
    return uid;
}

void wf_verify_with_tools(const wf_fixture *f, const char *subdir)
{
    char root[256], untrusted[256], ca[256], chain[256];
    snprintf(root, sizeof(root), "%s/%s/root-cert.pem", f->work, subdir);
    snprintf(untrusted, sizeof(untrusted), "%s/%s/cert-chain.pem", f->work, subdir);
    snprintf(ca, sizeof(ca), "%s/%s/ca-cert.pem", f->work, subdir);
    snprintf(chain, sizeof(chain), "%s/%s/chain.pem", f->work, subdir);
    char *const openssl[] = {"openssl",    "verify",  "-CAfile", root,
                             "-untrusted", untrusted, ca,        NULL};
    if (wf_run_tool(f, openssl) != 0)
        wf_fail(f, "openssl verify of %s's cacerts failed", subdir);
    char *const certtool[] = {"certtool", "--verify-chain", "--infile", chain, NULL};
    if (wf_run_tool(f, certtool) != 0)
        wf_fail(f, "certtool --verify-chain of %s's cacerts failed", subdir);
    char *const certtool_trust[] = {
        "certtool", "--verify", "--load-ca-certificate", root, "--infile", chain, NULL};
    if (wf_run_tool(f, certtool_trust) != 0)
        wf_fail(f, "certtool --verify against %s's root failed", subdir);
}

/* A private key the agents made, and a probe for it: 32 base64 characters
 * of the PEM body from character 48 on (byte 36 of the DER: past the ASN.1
 * prefix every key of a type shares, into the private scalar), found even
 * when the key is re-wrapped into another PEM document. */
typedef struct key_probe {
    int cluster;
    char secret[256]; /* namespace/name of its key Secret */
    char *pem;        /* owned */
    char probe[40];
} key_probe;

static void make_probe(key_probe *k)
{
    const char *body = strchr(k->pem, '\n');
    assert_non_null(body);
    body++;
    char unwrapped[8192];
    size_t n = 0;
    for (const char *p = body; *p && *p != '-' && n + 1 < sizeof(unwrapped); p++)
        if (*p != '\n' && *p != '\r')
            unwrapped[n++] = *p;
    assert_true(n >= 48 + 32);
    memcpy(k->probe, unwrapped + 48, 32);
    k->probe[32] = '\0';
}

/* Whether an object of cluster may hold k: its own key Secret, or an output
 * Secret the agent wrote in its own cluster. */
static int may_hold(const key_probe *k, int cluster, const json_t *item)
{
    if (cluster != k->cluster)
        return 0;
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *label = json_string_value(
        json_object_get(json_object_get(json_object_get(item, "metadata"), "labels"),
                        "agent.certificates.smh.solo.io"));
    return type && label &&
           (strcmp(type, MC_API_SECRET_TYPE_PRIVATE_KEY) == 0 ||
            strcmp(type, MC_API_SECRET_TYPE_ISSUED) == 0 ||
            strcmp(type, MC_API_SECRET_TYPE_TLS) == 0);
}

static void scan_object(const wf_fixture *f, const key_probe *keys, size_t count, int cluster,
                        const char *cluster_name, const char *resource, const json_t *item)
{
    char *dump = json_dumps(item, 0);
    assert_non_null(dump);
    const char *ns = wf_str_at(item, "metadata", "namespace");
    const char *name = wf_str_at(item, "metadata", "name");
    for (size_t i = 0; i < count; i++) {
        if (may_hold(&keys[i], cluster, item))
            continue;
        int found = strstr(dump, keys[i].probe) != NULL;
        const char *data_key;
        json_t *value;
        json_object_foreach(json_object_get(item, "data"), data_key, value)
        {
            char *decoded = wf_secret_value(item, data_key, NULL);
            if (decoded && strstr(decoded, keys[i].probe))
                found = 1;
            free(decoded);
        }
        if (found) {
            free(dump);
            wf_fail(f, "%s %s/%s on %s holds the private key of %s's Secret %s", resource,
                    ns ? ns : "", name ? name : "", cluster_name, wf_managed_names[keys[i].cluster],
                    keys[i].secret);
        }
    }
    free(dump);
}

static void scan_log(const wf_fixture *f, const char *path, const key_probe *keys, size_t count)
{
    char *log = wf_read_text(path);
    if (strstr(log, "PRIVATE KEY")) {
        free(log);
        wf_fail(f, "%s contains \"PRIVATE KEY\"", path);
    }
    for (size_t i = 0; i < count; i++)
        if (strstr(log, keys[i].probe)) {
            free(log);
            wf_fail(f, "%s contains the private key of %s's Secret %s", path,
                    wf_managed_names[keys[i].cluster], keys[i].secret);
        }
    free(log);
}

size_t wf_assert_no_key_leak(const wf_fixture *f)
{
    key_probe keys[256];
    size_t count = 0;
    mc_err err = {0};
    for (int c = 0; c < WF_MANAGED; c++) {
        json_t *list = NULL;
        if (mc_kube_list(f->managed[c], mc_kube_resource_of(MC_API_SECRETS), NULL, NULL, &list,
                         &err) != MC_OK)
            wf_fail(f, "list secrets on %s: %s", wf_managed_names[c], err.msg);
        size_t index;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), index, item)
        {
            const char *type = json_string_value(json_object_get(item, "type"));
            if (!type || strcmp(type, MC_API_SECRET_TYPE_PRIVATE_KEY) != 0 || count == 256)
                continue;
            key_probe *k = &keys[count];
            k->cluster = c;
            snprintf(k->secret, sizeof(k->secret), "%s/%s",
                     wf_str_at(item, "metadata", "namespace"), wf_str_at(item, "metadata", "name"));
            k->pem = wf_secret_value(item, "private-key", NULL);
            if (!k->pem || !strstr(k->pem, "PRIVATE KEY"))
                wf_fail(f, "key Secret %s on %s has no private-key PEM", k->secret,
                        wf_managed_names[c]);
            make_probe(k);
            count++;
        }
        json_decref(list);
    }
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            assert_string_not_equal(keys[i].probe, keys[j].probe);
    static const mc_api_resource_id others[] = {
        MC_API_SECRETS,
        MC_API_PODS,
        MC_API_EVENTS,
        MC_API_CONFIG_MAPS,
        MC_API_LEASES,
        MC_API_ISSUED_CERTIFICATES,
        MC_API_CERTIFICATE_REQUESTS,
        MC_API_POD_BOUNCE_DIRECTIVES,
    };
    mc_kube_client *clients[3] = {f->managed[WF_EAST], f->managed[WF_WEST], f->mgmt};
    const char *names[3] = {"east", "west", "mgmt"};
    for (int c = 0; c < 3; c++) {
        for (size_t r = 0; r < sizeof(others) / sizeof(others[0]); r++) {
            json_t *list = NULL;
            int rc =
                mc_kube_list(clients[c], mc_kube_resource_of(others[r]), NULL, NULL, &list, &err);
            if (rc == MC_ENOTFOUND) /* the CRDs live on the managed clusters only */
                continue;
            if (rc != MC_OK)
                wf_fail(f, "list %s on %s: %s", mc_kube_resource_of(others[r])->plural, names[c],
                        err.msg);
            size_t index;
            json_t *item;
            json_array_foreach(json_object_get(list, "items"), index, item) scan_object(
                f, keys, count, c, names[c], mc_kube_resource_of(others[r])->plural, item);
            json_decref(list);
        }
    }
    scan_log(f, f->issuer_log, keys, count);
    for (int c = 0; c < WF_MANAGED; c++)
        scan_log(f, f->agent_logs[c], keys, count);
    for (size_t i = 0; i < count; i++)
        free(keys[i].pem);
    return count;
}
