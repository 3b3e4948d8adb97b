/* server.c - starting and stopping the embedded API server: the data
 * directory (serving certificate, tokens, kubeconfigs), the store, the
 * clusters and their registries, the watch hub and the HTTP daemon.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/validate.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/root.h"
#include "server/http.h"
#include "server/internal.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
    return snprintf(out, size, "%s/%s", dir, name) >= (int)size ? MC_ELIMIT : MC_OK;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- serving certificate ---- */

/* Loads DIR/ca-cert.pem and ca-key.pem, creating them on first start. */
static int load_or_create_ca(const char *dir, mc_pki_cert **ca, mc_pki_key **ca_key, mc_err *err)
{
    char cert_path[4096], key_path[4096];
    path_join(cert_path, sizeof(cert_path), dir, "ca-cert.pem");
    path_join(key_path, sizeof(key_path), dir, "ca-key.pem");
    char *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len = 0, key_len = 0;
    int rc;
    if (file_exists(cert_path)) {
        rc = mc_file_read(cert_path, MC_PKI_PEM_MAX, &cert_pem, &cert_len, err);
        if (rc == MC_OK)
            rc = mc_file_read(key_path, MC_PKI_KEY_PEM_MAX, &key_pem, &key_len, err);
        if (rc == MC_OK)
            rc = mc_pki_cert_from_pem(cert_pem, cert_len, cert_path, ca, err);
        if (rc == MC_OK)
            rc = mc_pki_key_from_pem(key_pem, key_len, key_path, ca_key, err);
        goto out;
    }
    mc_pki_root_params params = {"meshcert", "meshcert server CA", (int64_t)10 * 365 * 86400, 0};
    rc = mc_pki_key_generate(MC_KEY_EC_P256, ca_key, err);
    if (rc == MC_OK)
        rc = mc_pki_root_create(*ca_key, &params, ca, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(*ca_key, MC_KEY_PEM_PKCS8, &key_pem, &key_len, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(*ca, &cert_pem, &cert_len, err);
    if (rc == MC_OK) {
        mc_file_entry files[] = {{"ca-key.pem", key_pem, key_len, 0600},
                                 {"ca-cert.pem", cert_pem, cert_len, 0644}};
        rc = mc_file_write_all(dir, files, 2, err);
    }
out:
    free(cert_pem);
    mc_secure_free_str(key_pem);
    return rc;
}

/* A fresh serving certificate at every start (the listen address may have
 * changed): EC P-256, SANs 127.0.0.1, ::1, localhost and the listen host. */
static int make_serving_cert(struct mc_server *server, const char *dir, mc_err *err)
{
    mc_pki_cert *ca = NULL, *cert = NULL;
    mc_pki_key *ca_key = NULL, *key = NULL;
    mc_pki_signer *signer = NULL;
    mc_pki_csr *csr = NULL;
    const char *hosts[4] = {"127.0.0.1", "::1", "localhost", server->listen_host};
    size_t host_count = 3;
    if (strcmp(server->listen_host, "127.0.0.1") != 0 && strcmp(server->listen_host, "::1") != 0 &&
        strcmp(server->listen_host, "0.0.0.0") != 0 && strcmp(server->listen_host, "::") != 0)
        host_count = 4;
    int rc = load_or_create_ca(dir, &ca, &ca_key, err);
    if (rc == MC_OK)
        rc = mc_pki_signer_new(ca, ca_key, &signer, err);
    if (rc == MC_OK)
        rc = mc_pki_key_generate(MC_KEY_EC_P256, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_create(key, "meshcert", hosts, host_count, &csr, err);
    if (rc == MC_OK) {
        mc_pki_issue_params params;
        mc_pki_issue_params_init(&params);
        params.org = "meshcert";
        params.hosts = hosts;
        params.host_count = host_count;
        params.tls_server = 1;
        rc = mc_pki_signer_issue(signer, csr, &params, &cert, err);
    }
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(cert, &server->tls_cert, NULL, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, &server->tls_key, NULL, err);
    if (rc == MC_OK) {
        mc_file_entry files[] = {
            {"serving-key.pem", server->tls_key, strlen(server->tls_key), 0600},
            {"serving-cert.pem", server->tls_cert, strlen(server->tls_cert), 0644}};
        rc = mc_file_write_all(dir, files, 2, err);
    }
    mc_pki_csr_free(csr);
    mc_pki_signer_free(signer);
    mc_pki_key_free(key);
    mc_pki_key_free(ca_key);
    mc_pki_cert_free(cert);
    mc_pki_cert_free(ca);
    return rc;
}

/* ---- kubeconfigs ---- */

int mc_server_write_kubeconfig(const char *data_dir, const char *cluster, const char *host,
                               int port, mc_err *err)
{
    char token[65], ca_path[4096], dir[4096], path[4200];
    char *ca_pem = NULL, *ca_b64 = NULL;
    size_t ca_len = 0;
    int rc = mc_server_cluster_token(data_dir, cluster, token, err);
    path_join(ca_path, sizeof(ca_path), data_dir, "ca-cert.pem");
    if (rc == MC_OK)
        rc = mc_file_read(ca_path, MC_PKI_PEM_MAX, &ca_pem, &ca_len, err);
    if (rc == MC_OK && mc_base64_encode(ca_pem, ca_len, &ca_b64, NULL) != MC_OK)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_buf yaml;
    mc_buf_init(&yaml, 1 << 20);
    int v6 = strchr(host, ':') != NULL;
    if (rc == MC_OK &&
        mc_buf_appendf(&yaml,
                       "apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n"
                       "    server: https://%s%s%s:%d/clusters/%s\n"
                       "    certificate-authority-data: %s\nusers:\n- name: %s-admin\n  user:\n"
                       "    token: %s\ncontexts:\n- name: %s\n  context:\n    cluster: %s\n"
                       "    user: %s-admin\ncurrent-context: %s\n",
                       cluster, v6 ? "[" : "", host, v6 ? "]" : "", port, cluster, ca_b64,
                       cluster, token, cluster, cluster, cluster, cluster) != MC_OK)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    path_join(dir, sizeof(dir), data_dir, "kubeconfigs");
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, cluster);
    if (rc == MC_OK)
        rc = mc_file_mkdir_p(dir, 0700, err);
    if (rc == MC_OK)
        rc = mc_file_write_atomic(path, yaml.data, yaml.len, 0600, err);
    mc_buf_free_secure(&yaml);
    mc_secure_zero(token, sizeof(token));
    free(ca_b64);
    free(ca_pem);
    return rc;
}

/* ---- start, stop ---- */

static void on_store_event(void *ctx, const char *cluster, const mc_store_event *event)
{
    struct mc_server *server = ctx;
    mc_watch_hub_publish(server->hub, cluster, event);
}

/* Watches cost a file descriptor each: raise the soft limit to the hard one.
 * Returns the soft limit now in force. */
static size_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 30 ? (size_t)1 << 30
                                                                         : (size_t)rl.rlim_cur;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The caps on connections (see server.h). Soft caps answer 429: open
 * watches (a client that opens watches without end, or drops them faster
 * than they are noticed, gets 429s, not the last file descriptor that
 * /healthz needs) and requests in flight. The hard cap is libmicrohttpd's
 * connection limit: the fd limit less 64 for the store, the certificates and
 * the daemon's own descriptors, at most 60 000, kept
 * MC_SERVER_CONNECTION_HEADROOM above the soft caps so that the 429s and
 * health checks find a connection. Defaults shrink to fit; caps given that
 * do not fit are refused at start. */
typedef struct connection_limits {
    size_t watches, per_cluster;   /* open watches: in total, of one cluster */
    size_t inflight, per_identity; /* requests in flight: in total, of one identity */
    size_t hard;                   /* libmicrohttpd's connection limit */
} connection_limits;

static int compute_connection_limits(const mc_server_config *config, size_t fd_limit,
                                     connection_limits *out, mc_err *err)
{
    size_t hard = fd_limit > 128 ? fd_limit - 64 : 64;
    hard = min_size(hard, 60000);
    size_t room = hard > MC_SERVER_CONNECTION_HEADROOM + 16 ? hard - MC_SERVER_CONNECTION_HEADROOM
                                                            : 16;
    size_t watches = config->max_watches;
    size_t inflight = config->max_requests_inflight;
    if (inflight == 0) {
        inflight = min_size(MC_SERVER_MAX_INFLIGHT_DEFAULT, room / 4);
        if (watches && watches < room)
            inflight = min_size(inflight, room - watches);
    }
    if (watches == 0 && inflight < room)
        watches = min_size(MC_SERVER_MAX_WATCHES_DEFAULT, room - inflight);
    if (watches == 0 || inflight == 0 || watches + inflight > room)
        return mc_err_set(err, MC_EINVAL,
                          "--max-watches (%zu) plus --max-requests-inflight (%zu) must stay at "
                          "least %d below the connection limit %zu (the fd limit %zu less 64, at "
                          "most 60000), so that refused clients can be answered; lower them or "
                          "raise the fd limit (ulimit -n)",
                          watches, inflight, MC_SERVER_CONNECTION_HEADROOM, hard, fd_limit);
    size_t per_cluster = config->max_watches_per_cluster
                             ? config->max_watches_per_cluster
                             : MC_SERVER_MAX_WATCHES_PER_CLUSTER_DEFAULT;
    size_t per_identity = config->max_requests_inflight_per_identity;
    if (per_identity == 0)
        per_identity = min_size(MC_SERVER_MAX_INFLIGHT_PER_IDENTITY_DEFAULT,
                                inflight >= 4 ? inflight / 4 : 1);
    *out = (connection_limits){watches, per_cluster, inflight, per_identity, hard};
    mc_log_debug("server",
                 "caps: %zu watches (%zu per cluster), %zu requests in flight (%zu per identity), "
                 "%zu connections (fd limit %zu)",
                 watches, per_cluster, inflight, per_identity, hard, fd_limit);
    return MC_OK;
}

static int write_server_json(const struct mc_server *server, mc_err *err)
{
    char path[4096], text[512];
    path_join(path, sizeof(path), server->data_dir, "server.json");
    int n = snprintf(text, sizeof(text), "{\"host\":\"%s\",\"port\":%d}\n", server->listen_host,
                     server->port);
    return mc_file_write_atomic(path, text, (size_t)n, 0644, err);
}

/* Every argument is checked before the data directory is touched, so a typo
 * never leaves a half-made directory behind. */
static int validate_config(const mc_server_config *config, mc_err *err)
{
    if (!config->data_dir || !config->data_dir[0])
        return mc_err_set(err, MC_EINVAL, "a data directory is required");
    if (strlen(config->data_dir) > 3000)
        return mc_err_set(err, MC_ELIMIT, "data directory path is longer than 3000 bytes");
    const char *host = config->listen_host ? config->listen_host : "127.0.0.1";
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        return mc_err_set(err, MC_EINVAL, "listen address \"%s\" is not an IP address", host);
    if (config->port < 0 || config->port > 65535)
        return mc_err_set(err, MC_EINVAL, "port %d is out of range", config->port);
    for (size_t i = 0; i < config->cluster_count; i++) {
        mc_err verr = {0};
        if (mc_validate_dns1123_label(config->clusters[i], &verr) != 0)
            return mc_err_set(err, MC_EINVAL, "cluster name \"%s\": %s", config->clusters[i],
                              verr.msg);
    }
    return MC_OK;
}

/* One server per data directory: an exclusive flock on DIR/server.lock, held
 * for the life of the process and released by the kernel however it ends
 * (kill -9 included), so no stale lock is ever left. The holder's pid is
 * written into the file for the message of the next one. */
static int lock_data_dir(struct mc_server *server, const char *dir, mc_err *err)
{
    char path[4096];
    path_join(path, sizeof(path), dir, "server.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mc_err_set(err, MC_EIO, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid_text[32] = "";
        ssize_t n = pread(fd, pid_text, sizeof(pid_text) - 1, 0);
        close(fd);
        pid_text[n > 0 ? n : 0] = '\0';
        pid_text[strcspn(pid_text, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            return mc_err_set(err, MC_EIO,
                              "data directory %s is in use by another meshcert server%s%s%s", dir,
                              pid_text[0] ? " (pid " : "", pid_text, pid_text[0] ? ")" : "");
        return mc_err_set(err, MC_EIO, "%s: cannot lock: %s", path, strerror(e));
    }
    char text[32];
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len)
        mc_log_warn("server", "%s: cannot record the pid: %s", path, strerror(errno));
    server->lock_fd = fd;
    return MC_OK;
}

/* The API request families (docs/metrics.md), as kube-apiserver's
 * apiserver_request_total and apiserver_request_duration_seconds. */
static int register_metrics(struct mc_server *server, mc_metrics *metrics, mc_err *err)
{
    if (!metrics)
        return MC_OK;
    static const char *const verb_code[] = {"verb", "code"};
    static const char *const verb[] = {"verb"};
    server->requests = mc_metrics_counter(
        metrics, "meshcert_apiserver_requests_total",
        "API requests answered, by verb (HTTP method; WATCH for watches) and HTTP status code.",
        verb_code, 2);
    server->request_latency = mc_metrics_histogram(
        metrics, "meshcert_apiserver_request_duration_seconds",
        "From an API request's headers to its reply queued (a list: its stream started), by verb.",
        verb, 1, mc_metrics_latency_buckets, mc_metrics_latency_bucket_count);
    if (!server->requests || !server->request_latency)
        return mc_err_set(err, MC_EINVAL, "server metrics: cannot register (name taken?)");
    return MC_OK;
}

int mc_server_start(const mc_server_config *config, mc_server **out, mc_err *err)
{
    int rc = validate_config(config, err);
    if (rc)
        return rc;
    struct mc_server *server = calloc(1, sizeof(*server));
    if (!server)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    server->listen_fd = -1;
    server->lock_fd = -1;
    server->data_dir = mc_strdup(config->data_dir);
    server->listen_host = mc_strdup(config->listen_host ? config->listen_host : "127.0.0.1");
    rc = server->data_dir && server->listen_host ? MC_OK
                                                 : mc_err_set(err, MC_ENOMEM, "out of memory");
    char db_path[4096];
    path_join(db_path, sizeof(db_path), config->data_dir, "store.db");
    size_t fd_limit = raise_fd_limit();
    server->fd_limit = fd_limit;
    connection_limits limits = {0};
    if (rc == MC_OK)
        rc = compute_connection_limits(config, fd_limit, &limits, err);
    /* Order: the lock, then the port, before anything in the directory is
     * written: a second server (same directory, or same port) changes nothing. */
    if (rc == MC_OK)
        rc = mc_file_mkdir_p(config->data_dir, 0700, err);
    if (rc == MC_OK)
        rc = lock_data_dir(server, config->data_dir, err);
    if (rc == MC_OK)
        rc = mc_server_http_listen(server->listen_host, config->port, &server->listen_fd,
                                   &server->port, err);
    if (rc == MC_OK)
        rc = make_serving_cert(server, config->data_dir, err);
    if (rc == MC_OK)
        rc = mc_store_open(db_path, config->history, &server->store, err);
    for (size_t i = 0; rc == MC_OK && i < config->cluster_count; i++)
        if (!mc_store_cluster_exists(server->store, config->clusters[i]))
            rc = mc_store_cluster_add(server->store, config->clusters[i], err);
    if (rc == MC_OK) {
        server->hub = mc_watch_hub_new(server->store, config->bookmark_seconds);
        server->inflight = mc_inflight_new(limits.inflight, limits.per_identity);
        if (!server->hub || !server->inflight) {
            rc = mc_err_set(err, MC_ENOMEM, "cannot start the watch hub");
        } else {
            mc_watch_hub_set_limits(server->hub, limits.watches, limits.per_cluster);
            server->connection_limit = limits.hard;
            mc_store_set_listener(server->store, on_store_event, server);
        }
    }
    if (rc == MC_OK) {
        mc_server_cluster_table_init(&server->clusters, server->data_dir, server->store,
                                     server->hub);
        int changed = 0;
        mc_store_refresh_clusters(server->store, &changed, NULL);
        size_t count = 0;
        const char **names = mc_store_cluster_names(server->store, &count);
        for (size_t i = 0; rc == MC_OK && names && i < count; i++)
            rc = mc_server_cluster_table_load(&server->clusters, names[i], err);
        free(names);
    }
    if (rc == MC_OK)
        rc = register_metrics(server, config->metrics, err);
    if (rc == MC_OK)
        rc = mc_server_http_start(server, err);
    for (size_t i = 0; rc == MC_OK && i < server->clusters.count; i++)
        rc = mc_server_write_kubeconfig(server->data_dir, server->clusters.clusters[i].name,
                                        server->listen_host, server->port, err);
    if (rc == MC_OK)
        rc = write_server_json(server, err);
    if (rc) {
        mc_server_stop(server);
        return rc;
    }
    *out = server;
    return MC_OK;
}

int mc_server_port(const mc_server *server)
{
    return server->port;
}

void mc_server_stop(mc_server *server)
{
    if (!server)
        return;
    /* Watches end first, so that no suspended connection holds up the
     * daemon's stop; the hub itself goes only after the stop, because a write
     * still in flight publishes to it (freeing it first crashed such a write). */
    mc_watch_hub_end_all(server->hub);
    mc_server_http_stop(server);
    if (server->store)
        mc_store_set_listener(server->store, NULL, NULL);
    mc_watch_hub_free(server->hub);
    server->hub = NULL;
    mc_inflight_free(server->inflight);
    server->inflight = NULL;
    mc_store_close(server->store);
    mc_server_cluster_table_clear(&server->clusters);
    free(server->tls_cert);
    mc_secure_free_str(server->tls_key);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    /* Last: the directory is free only once the store is closed. */
    if (server->lock_fd >= 0)
        close(server->lock_fd);
    free(server->data_dir);
    free(server->listen_host);
    free(server);
}

/* ---- administration from another process ---- */

static int read_server_address(const char *data_dir, char *host, size_t host_size, int *port)
{
    char path[4096];
    path_join(path, sizeof(path), data_dir, "server.json");
    char *text = NULL;
    size_t len = 0;
    if (mc_file_read(path, 4096, &text, &len, NULL) != MC_OK)
        return -1;
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    const char *h = json_string_value(json_object_get(doc, "host"));
    int ok = h && json_is_integer(json_object_get(doc, "port"));
    if (ok) {
        mc_strlcpy(host, h, host_size);
        *port = (int)json_integer_value(json_object_get(doc, "port"));
    }
    json_decref(doc);
    return ok ? 0 : -1;
}

int mc_server_admin_cluster_add(const char *data_dir, const char *cluster, mc_err *err)
{
    char db_path[4096];
    path_join(db_path, sizeof(db_path), data_dir, "store.db");
    if (!file_exists(db_path))
        return mc_err_set(err, MC_ENOTFOUND,
                          "%s: no meshcert server data here (start `meshcert server --data-dir "
                          "%s` once first)",
                          data_dir, data_dir);
    mc_store *store = NULL;
    int rc = mc_store_open(db_path, 0, &store, err);
    if (rc == MC_OK)
        rc = mc_store_cluster_add(store, cluster, err);
    mc_store_close(store);
    char host[256];
    int port = 0;
    if (rc == MC_OK && read_server_address(data_dir, host, sizeof(host), &port) == 0)
        rc = mc_server_write_kubeconfig(data_dir, cluster, host, port, err);
    return rc;
}

int mc_server_admin_cluster_remove(const char *data_dir, const char *cluster, mc_err *err)
{
    char db_path[4096], path[4200];
    path_join(db_path, sizeof(db_path), data_dir, "store.db");
    mc_store *store = NULL;
    int rc = mc_store_open(db_path, 0, &store, err);
    if (rc == MC_OK)
        rc = mc_store_cluster_remove(store, cluster, err);
    mc_store_close(store);
    if (rc == MC_OK) {
        snprintf(path, sizeof(path), "%s/kubeconfigs/%s.yaml", data_dir, cluster);
        remove(path);
        snprintf(path, sizeof(path), "%s/tokens/%s", data_dir, cluster);
        remove(path);
        /* a cluster of the same name made later must not accept old tokens */
        snprintf(path, sizeof(path), "%s/tokens/%s" MC_SERVER_SA_KEY_SUFFIX, data_dir, cluster);
        remove(path);
    }
    return rc;
}
