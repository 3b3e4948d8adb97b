/* metrics_test.c - --metrics-addr of the issuer and the agent with the real
 * Prometheus tools (docs/metrics.md): server, issuer and the agent of east as
 * processes (workflow_fixture.h), each serving /metrics, /healthz and
 * /readyz on a free loopback port.
 *
 * - /healthz is 200; /readyz is 200 once synced, the issuer saying "leading",
 *   a second issuer replica "standby" (meshcert_issuer_leader 0);
 * - `promtool check metrics` passes on each process's /metrics;
 * - after one issuance the expiry gauge equals the notAfter that the openssl
 *   CLI reads from the written ca-cert.pem, and the issuer counted it signed;
 * - a real `prometheus` scraping both every second returns the expiry series
 *   of the certificate with that value from /api/v1/query;
 * - `meshcert server --metrics-addr` counts API requests by verb and code.
 *
 * promtool and prometheus come from Debian's `prometheus` package (make deps);
 * without them the test fails saying so. Every process started (Prometheus
 * included) is killed by PID in the teardown, also when a check fails.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "workflow_fixture.h"

#define IC_NAME     "mesh"
#define OUTPUT_NAME "cacerts"

typedef struct metrics_fixture {
    wf_fixture *wf;
    server_process api; /* a second `meshcert server`, with --metrics-addr */
    pid_t standby;      /* a second issuer, which does not lead */
    pid_t prometheus;
    char prometheus_log[160];
} metrics_fixture;

/* The port a process logged with "metrics on http://127.0.0.1:PORT/". */
static int logged_port(const wf_fixture *f, const char *log, const char *what)
{
    static const char marker[] = "metrics on http://127.0.0.1:";
    for (int64_t start = wf_now_ms(); wf_now_ms() - start < WF_WAIT_MS; wf_sleep_ms(100)) {
        char *text = wf_read_text(log);
        const char *at = text ? strstr(text, marker) : NULL;
        int port = at ? atoi(at + strlen(marker)) : 0;
        free(text);
        if (port > 0)
            return port;
    }
    wf_fail(f, "%s never logged its metrics address", what);
    return 0;
}

/* GET url with the curl CLI: the HTTP status (0 when curl failed: nothing
 * listens yet), the body or curl's message in *body (owned). */
static int http_get(const wf_fixture *f, const char *url, char **body)
{
    char *argv[] = {"curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", (char *)url, NULL};
    char *out = NULL;
    if (wf_run_output(f, argv, &out) != 0 || !out) {
        *body = out;
        return 0;
    }
    char *last = strrchr(out, '\n');
    int status = last ? atoi(last + 1) : 0;
    if (last)
        *last = '\0';
    *body = out;
    return status;
}

/* Waits until url answers status; returns the last body (owned). */
static char *wait_status(const wf_fixture *f, const char *url, int status)
{
    char *body = NULL;
    for (int64_t start = wf_now_ms(); wf_now_ms() - start < WF_WAIT_MS; wf_sleep_ms(200)) {
        free(body);
        if (http_get(f, url, &body) == status)
            return body;
    }
    wf_fail(f, "%s did not answer %d; last body: %s", url, status, body ? body : "(none)");
    return NULL;
}

/* promtool check metrics on what url serves. */
static char *check_with_promtool(const wf_fixture *f, const char *url, const char *name)
{
    char *text = wait_status(f, url, 200);
    char path[160], command[400];
    snprintf(path, sizeof(path), "%s/%s.prom", f->work, name);
    wf_write_text(path, text);
    snprintf(command, sizeof(command), "promtool check metrics < %s", path);
    char *argv[] = {"sh", "-c", command, NULL};
    char *out = NULL;
    int rc = wf_run_output(f, argv, &out);
    if (rc != 0)
        wf_fail(f, "promtool check metrics refused %s's /metrics (exit %d): %s\n%s", name, rc,
                out ? out : "", text);
    free(out);
    return text;
}

/* The notAfter of work/<subdir>/ca-cert.pem as the openssl CLI reads it. */
static int64_t openssl_not_after(const wf_fixture *f, const char *subdir)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s/ca-cert.pem", f->work, subdir);
    char *argv[] = {"openssl",  "x509",     "-in",      path, "-noout",
                    "-enddate", "-dateopt", "iso_8601", NULL};
    char *out = NULL;
    if (wf_run_output(f, argv, &out) != 0 || !out || strncmp(out, "notAfter=", 9) != 0)
        wf_fail(f, "openssl x509 -enddate failed on %s: %s", path, out ? out : "");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    /* "notAfter=2027-12-02 12:00:00Z" */
    if (!strptime(out + 9, "%Y-%m-%d %H:%M:%S", &tm))
        wf_fail(f, "cannot read openssl's date: %s", out);
    free(out);
    return (int64_t)timegm(&tm);
}

/* The value of the sample line "<series> <value>" in text, or -1. */
static double sample_value(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
    return -1;
}

/* Fails unless text has the sample series with a value in [low, high]. */
static void expect_sample(const wf_fixture *f, const char *text, const char *series, double low,
                          double high)
{
    double value = sample_value(text, series);
    if (!(value >= low && value <= high))
        wf_fail(f, "%s is %g (absent: -1), expected %g to %g", series, value, low, high);
}

/* A free TCP port on 127.0.0.1 (bound, then released for Prometheus). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void start_prometheus(metrics_fixture *m, int issuer_port, int agent_port, int port)
{
    wf_fixture *f = m->wf;
    char config[160], data[160], yaml[1024];
    snprintf(config, sizeof(config), "%s/prometheus.yml", f->work);
    snprintf(data, sizeof(data), "%s/prometheus-data", f->work);
    snprintf(yaml, sizeof(yaml),
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n"
             "  - job_name: meshcert-issuer\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n"
             "  - job_name: meshcert-agent\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             issuer_port, agent_port);
    wf_write_text(config, yaml);
    char config_arg[200], data_arg[200], listen_arg[80];
    snprintf(config_arg, sizeof(config_arg), "--config.file=%s", config);
    snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
    snprintf(listen_arg, sizeof(listen_arg), "--web.listen-address=127.0.0.1:%d", port);
    char *argv[] = {"prometheus", config_arg, data_arg, listen_arg, NULL};
    snprintf(m->prometheus_log, sizeof(m->prometheus_log), "%s/prometheus.log", f->work);
    if (wf_spawn_logged(&m->prometheus, argv, m->prometheus_log) != 0)
        wf_fail(f, "cannot start prometheus");
}

/* Waits until Prometheus returns the expiry series of east's certificate as
 * scraped from job with value not_after. */
static void wait_prometheus_series(metrics_fixture *m, int port, const char *job, int64_t not_after)
{
    wf_fixture *f = m->wf;
    char url[300];
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/api/v1/query?query="
             "meshcert_certificate_expiration_timestamp_seconds%%7Bjob%%3D%%22%s%%22%%7D",
             port, job);
    char *body = NULL;
    for (int64_t start = wf_now_ms(); wf_now_ms() - start < 60000; wf_sleep_ms(500)) {
        free(body);
        body = NULL;
        if (http_get(f, url, &body) != 200)
            continue;
        json_t *reply = json_loads(body, 0, NULL);
        json_t *results = json_object_get(json_object_get(reply, "data"), "result");
        size_t i;
        json_t *result;
        int found = 0;
        json_array_foreach(results, i, result)
        {
            const json_t *metric = json_object_get(result, "metric");
            const char *cluster = json_string_value(json_object_get(metric, "cluster"));
            const char *ns = json_string_value(json_object_get(metric, "namespace"));
            const char *name = json_string_value(json_object_get(metric, "name"));
            const char *value =
                json_string_value(json_array_get(json_object_get(result, "value"), 1));
            if (cluster && strcmp(cluster, "east") == 0 && ns && strcmp(ns, WF_NS_MESHCERT) == 0 &&
                name && strcmp(name, IC_NAME) == 0 && value) {
                if (strtod(value, NULL) != (double)not_after)
                    wf_fail(f, "prometheus (%s) has expiry %s, the certificate says %lld", job,
                            value, (long long)not_after);
                found = 1;
            }
        }
        json_decref(reply);
        if (found) {
            free(body);
            return;
        }
    }
    char *log = wf_read_text(m->prometheus_log);
    fprintf(stderr, "---- prometheus log ----\n%s\n", log ? log : "");
    free(log);
    wf_fail(f, "prometheus never returned east's expiry series from job %s; last reply: %s", job,
            body ? body : "(none)");
}

/* A second issuer replica is ready too, saying standby, and exports
 * meshcert_issuer_leader 0. */
static void check_standby(metrics_fixture *m)
{
    wf_fixture *f = m->wf;
    char kubeconfig[512], log[160], url[120];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    snprintf(log, sizeof(log), "%s/issuer-standby.log", f->work);
    char *argv[] = {MESHCERT_BIN,
                    "issuer",
                    "--kubeconfig",
                    kubeconfig,
                    "--namespace",
                    WF_NS_MESHCERT,
                    "--metrics-addr=127.0.0.1:0",
                    NULL};
    if (wf_spawn_logged(&m->standby, argv, log) != 0)
        wf_fail(f, "cannot start a second issuer");
    int port = logged_port(f, log, "the standby issuer");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    char *body = wait_status(f, url, 200);
    if (!strstr(body, "standby"))
        wf_fail(f, "the second issuer's /readyz does not say standby: %s", body);
    free(body);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    char *text = check_with_promtool(f, url, "standby");
    expect_sample(f, text, "meshcert_issuer_leader", 0, 0);
    free(text);
}

static void test_metrics_with_prometheus(void **state)
{
    metrics_fixture *m = *state;
    wf_fixture *f = m->wf;
    int issuer_port = logged_port(f, f->issuer_log, "the issuer");
    int agent_port = logged_port(f, f->agent_logs[WF_EAST], "east's agent");
    char issuer_url[120], agent_url[120];
    snprintf(issuer_url, sizeof(issuer_url), "http://127.0.0.1:%d", issuer_port);
    snprintf(agent_url, sizeof(agent_url), "http://127.0.0.1:%d", agent_port);
    char url[200];

    /* probes */
    char *body = NULL;
    snprintf(url, sizeof(url), "%s/healthz", issuer_url);
    assert_int_equal(http_get(f, url, &body), 200);
    free(body);
    snprintf(url, sizeof(url), "%s/readyz", issuer_url);
    body = wait_status(f, url, 200);
    if (!strstr(body, "leading"))
        wf_fail(f, "the only issuer's /readyz does not say leading: %s", body);
    free(body);
    snprintf(url, sizeof(url), "%s/readyz", agent_url);
    body = wait_status(f, url, 200);
    assert_non_null(strstr(body, "caches synced"));
    free(body);
    snprintf(url, sizeof(url), "%s/nothing", agent_url);
    assert_int_equal(http_get(f, url, &body), 404);
    free(body);

    check_standby(m);

    /* one issuance on east */
    wf_create_issued_certificate(f->managed[WF_EAST], IC_NAME, OUTPUT_NAME, NULL, NULL);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", 1, &view);
    wf_save_cacerts(f, f->managed[WF_EAST], OUTPUT_NAME, "east");
    int64_t not_after = openssl_not_after(f, "east");

    /* the text format, by promtool, and the values */
    snprintf(url, sizeof(url), "%s/metrics", issuer_url);
    char *issuer_text = check_with_promtool(f, url, "issuer");
    snprintf(url, sizeof(url), "%s/metrics", agent_url);
    char *agent_text = check_with_promtool(f, url, "agent");
    static const char expiry[] =
        "meshcert_certificate_expiration_timestamp_seconds{cluster=\"east\","
        "namespace=\"" WF_NS_MESHCERT "\",name=\"" IC_NAME "\"}";
    if (sample_value(issuer_text, expiry) != (double)not_after ||
        sample_value(agent_text, expiry) != (double)not_after)
        wf_fail(f, "expiry gauge is not the certificate's notAfter %lld:\n%s\n%s",
                (long long)not_after, issuer_text, agent_text);
    static const char renewal[] = "meshcert_certificate_renewal_timestamp_seconds{cluster=\"east\","
                                  "namespace=\"" WF_NS_MESHCERT "\",name=\"" IC_NAME "\"}";
    double renew_at = sample_value(agent_text, renewal);
    if (!(renew_at > (double)time(NULL) && renew_at < (double)not_after))
        wf_fail(f, "renewal gauge %.0f not between now and notAfter:\n%s", renew_at, agent_text);
    expect_sample(f, issuer_text, "meshcert_issuer_requests_signed_total{cluster=\"east\"}", 1, 1);
    expect_sample(f, issuer_text, "meshcert_issuer_leader", 1, 1);
    expect_sample(f, issuer_text,
                  "meshcert_issuer_issuance_duration_seconds_count{cluster=\"east\"}", 1, 1);
    expect_sample(f, issuer_text, "meshcert_issuer_registered_clusters", 2, 2);
    expect_sample(f, issuer_text,
                  "meshcert_root_expiration_timestamp_seconds{secret=\"" WF_NS_MESHCERT
                  "/" WF_ROOT_SECRET "\"}",
                  (double)not_after, 1e12);
    expect_sample(f, issuer_text, "meshcert_workqueue_depth{name=\"issuer\"}", 0, 1e6);
    expect_sample(f, issuer_text, "meshcert_workqueue_depth{name=\"informers\"}", 0, 1e6);
    expect_sample(f, agent_text, "meshcert_agent_issuances_completed_total", 1, 1);
    expect_sample(f, agent_text, "meshcert_agent_issuance_duration_seconds_count", 1, 1);
    expect_sample(f, agent_text, "meshcert_workqueue_depth{name=\"agent\"}", 0, 1e6);
    expect_sample(f, agent_text, "meshcert_workqueue_depth{name=\"informers\"}", 0, 1e6);
    expect_sample(f, agent_text, "meshcert_workqueue_retries_total{name=\"agent\"}", 0, 1e6);
    expect_sample(f, agent_text, "meshcert_watch_restarts_total{reason=\"reconnect\"}", 0, 1e6);
    free(issuer_text);
    free(agent_text);

    /* a real Prometheus scraping both */
    int port = free_port();
    assert_true(port > 0);
    start_prometheus(m, issuer_port, agent_port, port);
    wait_prometheus_series(m, port, "meshcert-issuer", not_after);
    wait_prometheus_series(m, port, "meshcert-agent", not_after);
}

/* `meshcert server --metrics-addr`: API requests counted by verb and code,
 * their latency, in a text promtool accepts. */
static void test_server_metrics(void **state)
{
    metrics_fixture *m = *state;
    wf_fixture *f = m->wf;
    int port = free_port();
    char flag[64], url[120];
    snprintf(flag, sizeof(flag), "--metrics-addr=127.0.0.1:%d", port);
    const char *args[] = {"--cluster", "c1", flag, NULL};
    if (server_process_start(&m->api, args) != 0)
        wf_fail(f, "cannot start meshcert server %s", flag);
    http_reply reply;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_do(&m->api, server_token(&m->api, "c1"), "GET",
                                 "/clusters/c1/api/v1/namespaces", NULL, NULL, &reply),
                         0);
        assert_int_equal(reply.status, 200);
        http_reply_free(&reply);
    }
    assert_int_equal(
        http_do(&m->api, "wrong", "GET", "/clusters/c1/api/v1/namespaces", NULL, NULL, &reply), 0);
    assert_int_equal(reply.status, 401);
    http_reply_free(&reply);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    char *text = check_with_promtool(f, url, "server");
    /* the server_process helper's own /healthz polls are not counted */
    expect_sample(f, text, "meshcert_apiserver_requests_total{verb=\"GET\",code=\"200\"}", 3, 3);
    expect_sample(f, text, "meshcert_apiserver_requests_total{verb=\"GET\",code=\"401\"}", 1, 1);
    expect_sample(f, text, "meshcert_apiserver_request_duration_seconds_count{verb=\"GET\"}", 4, 4);
    free(text);
}

static int teardown(void **state)
{
    metrics_fixture *m = *state;
    if (!m)
        return 0;
    wf_kill(&m->prometheus);
    wf_kill(&m->standby);
    server_process_stop(&m->api);
    if (m->wf)
        wf_teardown(m->wf);
    free(m);
    return 0;
}

static int setup(void **state)
{
    metrics_fixture *m = calloc(1, sizeof(*m));
    *state = m;
    if (!m)
        return -1;
    int missing = 0;
    static const char *const tools[] = {"promtool", "prometheus", "curl", "openssl"};
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (!wf_tool_on_path(tools[i])) {
            fprintf(stderr,
                    "metrics_test: %s is not installed; run `make deps` (Debian package %s)\n",
                    tools[i], i < 2 ? "prometheus" : tools[i]);
            missing = 1;
        }
    if (missing) {
        free(m);
        *state = NULL;
        return -1;
    }
    int rc = wf_setup(&m->wf);
    wf_fixture *f = m->wf;
    if (rc == 0) {
        f->issuer_extra[0] = "--metrics-addr=127.0.0.1:0";
        f->issuer_extra[1] = NULL;
        f->agent_extra[WF_EAST][0] = "--metrics-addr=127.0.0.1:0";
        f->agent_extra[WF_EAST][1] = "--cluster-name=east";
        f->agent_extra[WF_EAST][2] = NULL;
        rc = wf_start_issuer(f);
    }
    if (rc == 0)
        rc = wf_start_agent(f, WF_EAST);
    if (rc != 0) {
        /* cmocka runs no teardown after a failed setup */
        teardown(state);
        *state = NULL;
    }
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_with_prometheus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
