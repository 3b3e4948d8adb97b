/* client.c - REST verbs over libcurl easy handles (see client.h).
 *
 * Each call gets its own easy handle; a share handle (guarded by one mutex
 * per curl lock type) gives them one pool of connections, DNS entries and
 * TLS sessions, so worker threads call concurrently without a handshake per
 * request. Credentials come from the config (static token, token file
 * re-read when it changes, client certificate) or an exec plugin (exec.c)
 * whose result is cached until its expirationTimestamp and refreshed once
 * on 401.
 * A token bucket limits the request rate; 429, 5xx and connection errors are
 * retried with jittered exponential backoff, honouring Retry-After.
 */
#include "kube/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/status.h"
#include "kube/exec.h"
#include "kube/internal.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/str.h"

#define REPLY_MAX         (64u << 20) /* a reply body (a big list page) */
#define TOKEN_FILE_MAX    (1u << 20)
#define BACKOFF_BASE_MS   100
#define BACKOFF_MAX_MS    5000
#define RETRY_AFTER_MAX_S 30

/* The credential of the moment; every field guarded by client->cred_lock. */
typedef struct credential_cache {
    char *token;           /* bearer token (from file or exec), or NULL; wiped */
    char *cert_pem;        /* client certificate from exec, or NULL */
    char *key_pem;         /* its key, or NULL; wiped */
    int valid;             /* 1 when the fields hold a usable credential */
    int64_t expiry;        /* exec: unix seconds when it expires, 0 = never */
    struct timespec mtime; /* token file: mtime of what token holds */
    off_t size;            /* token file: size of what token holds */
} credential_cache;

struct mc_kube_client {
    mc_kube_config *config;                              /* immutable after new */
    double qps;                                          /* immutable */
    int burst;                                           /* immutable */
    long timeout_ms;                                     /* immutable; 0: none */
    long deadline_ms;                                    /* immutable; 0: none */
    mc_kube_client_options options;                      /* immutable; as made, defaults filled */
    int max_retries;                                     /* immutable; 0 means none */
    char *user_agent;                                    /* immutable */
    CURLSH *share;                                       /* verbs: connections, DNS, TLS sessions */
    CURLSH *watch_share;                                 /* watches: DNS, TLS; NULL: share */
    pthread_mutex_t share_locks[2][CURL_LOCK_DATA_LAST]; /* curl's own locking */
    pthread_mutex_t bucket_lock;                         /* guards tokens, bucket_time */
    double tokens;               /* bucket_lock: may go negative (reservations) */
    struct timespec bucket_time; /* bucket_lock: last refill */
    pthread_mutex_t cred_lock;   /* guards cred (held while an exec plugin runs) */
    credential_cache cred;       /* cred_lock */
};

/* ---- small helpers ---- */

long mc_kube_backoff_ms(unsigned attempt, long base_ms, long max_ms)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)mc_clock_now_ms() ^ (unsigned)(uintptr_t)&seed;
    long d = base_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    return d / 2 + (long)(rand_r(&seed) % (unsigned)(d / 2 + 1));
}

/* ---- resources ---- */

static mc_kube_resource known_resources[MC_API_RESOURCE_COUNT];
static pthread_once_t known_resources_once = PTHREAD_ONCE_INIT;

/* Copies api/'s table (the one place the names are spelled) into the shape
 * paths are built from. */
static void known_resources_fill(void)
{
    for (int id = 0; id < MC_API_RESOURCE_COUNT; id++) {
        const mc_api_resource *r = mc_api_resource_get((mc_api_resource_id)id);
        known_resources[id] = (mc_kube_resource){r->group, r->version, r->resource, r->namespaced};
    }
}

const mc_kube_resource *mc_kube_resource_of(mc_api_resource_id id)
{
    pthread_once(&known_resources_once, known_resources_fill);
    return &known_resources[id];
}

/* ---- share handle locking ---- */

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userptr)
{
    (void)handle;
    (void)access;
    pthread_mutex_t *locks = userptr;
    pthread_mutex_lock(&locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userptr)
{
    (void)handle;
    pthread_mutex_t *locks = userptr;
    pthread_mutex_unlock(&locks[data]);
}

static CURLSH *share_new(pthread_mutex_t *locks, int connections)
{
    CURLSH *share = curl_share_init();
    if (!share)
        return NULL;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, locks);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (connections)
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return share;
}

/* Turns the failure in err into an authentication failure (the credential
 * could not be obtained), keeping its message. */
static int as_auth_failure(mc_err *err)
{
    if (err)
        err->code = MC_EAUTH;
    return MC_EAUTH;
}

/* ---- client lifecycle ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mc_kube_client_new(const mc_kube_config *config, const mc_kube_client_options *options,
                       mc_kube_client **out, mc_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    mc_kube_client *c = calloc(1, sizeof(*c));
    if (!c)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = mc_kube_config_copy(config, &c->config, err);
    if (rc) {
        free(c);
        return rc;
    }
    mc_kube_client_options defaults = {0};
    if (!options)
        options = &defaults;
    c->qps = options->qps > 0 ? options->qps : 50;
    c->burst = options->burst > 0 ? options->burst : 100;
    c->timeout_ms = options->timeout_ms > 0   ? options->timeout_ms
                    : options->timeout_ms < 0 ? 0
                                              : 30000;
    c->deadline_ms = options->deadline_ms > 0 ? options->deadline_ms : 0;
    c->max_retries = options->max_retries == 0  ? 5
                     : options->max_retries < 0 ? 0
                                                : options->max_retries;
    c->user_agent = mc_strdup(options->user_agent ? options->user_agent : "meshcert/" MC_VERSION);
    c->tokens = c->burst;
    clock_gettime(CLOCK_MONOTONIC, &c->bucket_time);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_init(&c->share_locks[s][i], NULL);
    pthread_mutex_init(&c->bucket_lock, NULL);
    pthread_mutex_init(&c->cred_lock, NULL);
    /* with no idle connection to keep, one share handle without a
     * connection cache (and its closure handle) serves calls and watches */
    int keep_idle = options->idle_connections >= 0;
    c->share = share_new(c->share_locks[0], keep_idle);
    c->watch_share = keep_idle ? share_new(c->share_locks[1], 0) : NULL;
    c->options = (mc_kube_client_options){
        .qps = c->qps,
        .burst = c->burst,
        .timeout_ms = c->timeout_ms > 0 ? (int)c->timeout_ms : -1,
        .deadline_ms = (int)c->deadline_ms,
        .max_retries = c->max_retries > 0 ? c->max_retries : -1,
        .user_agent = c->user_agent,
        .idle_connections = options->idle_connections,
    };
    if (!c->user_agent || !c->share || (keep_idle && !c->watch_share)) {
        mc_kube_client_free(c);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    *out = c;
    return MC_OK;
}

static void cred_clear(credential_cache *cred)
{
    mc_secure_free_str(cred->token);
    free(cred->cert_pem);
    mc_secure_free_str(cred->key_pem);
    memset(cred, 0, sizeof(*cred));
}

void mc_kube_client_free(mc_kube_client *client)
{
    if (!client)
        return;
    if (client->share)
        curl_share_cleanup(client->share);
    if (client->watch_share)
        curl_share_cleanup(client->watch_share);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&client->share_locks[s][i]);
    pthread_mutex_destroy(&client->bucket_lock);
    pthread_mutex_destroy(&client->cred_lock);
    cred_clear(&client->cred);
    free(client->user_agent);
    mc_kube_config_free(client->config);
    free(client);
}

const mc_kube_client_options *mc_kube_client_options_of(const mc_kube_client *client)
{
    return &client->options;
}

const char *mc_kube_client_namespace(const mc_kube_client *client)
{
    return client->config->namespace ? client->config->namespace : "default";
}

int mc_kube_error_http(const mc_err *err)
{
    return err ? err->http : 0;
}

int mc_kube_can_refresh(const mc_kube_client *client)
{
    return client->config->exec != NULL ||
           (client->config->token_file != NULL && client->config->token == NULL);
}

/* ---- rate limit ---- */

/* Takes one token from the bucket, sleeping until it is there. A caller
 * that finds the bucket empty reserves its token (the count goes negative)
 * so that waiting callers are served in order without a condition variable. */
static void rate_limit(mc_kube_client *client)
{
    struct timespec now;
    pthread_mutex_lock(&client->bucket_lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - client->bucket_time.tv_sec) +
                     (double)(now.tv_nsec - client->bucket_time.tv_nsec) / 1e9;
    client->bucket_time = now;
    client->tokens += elapsed * client->qps;
    if (client->tokens > client->burst)
        client->tokens = client->burst;
    client->tokens -= 1;
    double wait_s = client->tokens < 0 ? -client->tokens / client->qps : 0;
    pthread_mutex_unlock(&client->bucket_lock);
    mc_clock_sleep_ms((long)(wait_s * 1000));
}

/* ---- URLs ---- */

static int append_escaped(mc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        int rc = plain ? mc_buf_append(b, s, 1) : mc_buf_append(b, enc, 3);
        if (rc)
            return rc;
    }
    return MC_OK;
}

int mc_kube_url(const mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                const char *name, const char *sub, const mc_kube_query *query, size_t n, char **out,
                mc_err *err)
{
    if (!res || !res->version || !res->plural || !res->plural[0])
        return mc_err_set(err, MC_EINVAL, "resource without version or plural");
    if (name && !name[0])
        return mc_err_set(err, MC_EINVAL, "%s: empty object name", res->plural);
    mc_buf b;
    mc_buf_init(&b, 1 << 20);
    int rc = mc_buf_append_str(&b, client->config->server);
    if (rc == MC_OK && res->group && res->group[0])
        rc = mc_buf_append_str(&b, "/apis/") || append_escaped(&b, res->group) ||
             mc_buf_append_str(&b, "/");
    else if (rc == MC_OK)
        rc = mc_buf_append_str(&b, "/api/");
    if (rc == MC_OK)
        rc = append_escaped(&b, res->version);
    if (rc == MC_OK && res->namespaced && ns && ns[0])
        rc = mc_buf_append_str(&b, "/namespaces/") || append_escaped(&b, ns);
    if (rc == MC_OK)
        rc = mc_buf_append_str(&b, "/") || append_escaped(&b, res->plural);
    if (rc == MC_OK && name)
        rc = mc_buf_append_str(&b, "/") || append_escaped(&b, name);
    if (rc == MC_OK && sub)
        rc = mc_buf_append_str(&b, "/") || append_escaped(&b, sub);
    char sep = '?';
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        if (!query[i].value)
            continue;
        rc = mc_buf_append(&b, &sep, 1) || append_escaped(&b, query[i].key) ||
             mc_buf_append_str(&b, "=") || append_escaped(&b, query[i].value);
        sep = '&';
    }
    if (rc) {
        mc_buf_free(&b);
        return mc_err_set(err, MC_ELIMIT, "%s: URL too long", res->plural);
    }
    *out = mc_buf_steal(&b, NULL);
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

/* ---- credentials ---- */

/* Re-reads the token file when its mtime or size changed (bound service
 * account tokens are rotated by the kubelet). cred_lock held. */
static int refresh_token_file(mc_kube_client *client, int force, mc_err *err)
{
    const char *path = client->config->token_file;
    struct stat st;
    if (stat(path, &st) != 0)
        return mc_err_set(err, MC_EAUTH, "token file %s: %s", path, strerror(errno));
    credential_cache *cred = &client->cred;
    if (!force && cred->valid && cred->mtime.tv_sec == st.st_mtim.tv_sec &&
        cred->mtime.tv_nsec == st.st_mtim.tv_nsec && cred->size == st.st_size)
        return MC_OK;
    char *text = NULL;
    size_t len = 0;
    int rc = mc_file_read(path, TOKEN_FILE_MAX, &text, &len, err);
    if (rc) {
        mc_err_prefix(err, "token file");
        return as_auth_failure(err);
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (len == 0) {
        mc_secure_free_str(text);
        return mc_err_set(err, MC_EAUTH, "token file %s is empty", path);
    }
    cred_clear(cred);
    cred->token = text;
    cred->valid = 1;
    cred->mtime = st.st_mtim;
    cred->size = st.st_size;
    return MC_OK;
}

/* Runs the exec plugin (exec.c) and caches its ExecCredential. cred_lock held. */
static int refresh_exec(mc_kube_client *client, int force, mc_err *err)
{
    credential_cache *cred = &client->cred;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    if (!force && cred->valid && (cred->expiry == 0 || wall.tv_sec < cred->expiry))
        return MC_OK;
    cred_clear(cred);
    mc_kube_exec_credential got;
    int rc = mc_kube_exec_run(client->config->exec, &got, err);
    if (rc)
        return rc;
    cred->token = got.token;
    cred->cert_pem = got.cert_pem;
    cred->key_pem = got.key_pem;
    cred->expiry = got.expiry;
    cred->valid = 1;
    return MC_OK;
}

/* Copies of the current credential (caller wipes and frees). */
static int credential_get(mc_kube_client *client, int refresh, char **token, char **cert,
                          char **key, mc_err *err)
{
    const mc_kube_config *cfg = client->config;
    int rc = MC_OK;
    *token = *cert = *key = NULL;
    if (cfg->token) {
        *token = mc_strdup(cfg->token);
        return *token ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    if (!cfg->exec && !cfg->token_file)
        return MC_OK;
    pthread_mutex_lock(&client->cred_lock);
    rc = cfg->exec ? refresh_exec(client, refresh, err) : refresh_token_file(client, refresh, err);
    if (rc == MC_OK && ((client->cred.token && !(*token = mc_strdup(client->cred.token))) ||
                        (client->cred.cert_pem && !(*cert = mc_strdup(client->cred.cert_pem))) ||
                        (client->cred.key_pem && !(*key = mc_strdup(client->cred.key_pem)))))
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    pthread_mutex_unlock(&client->cred_lock);
    return rc;
}

static void set_blob(CURL *easy, CURLoption option, const char *pem)
{
    struct curl_blob blob = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
    curl_easy_setopt(easy, option, &blob);
}

int mc_kube_prepare(mc_kube_client *client, CURL *easy, int watch, int refresh,
                    struct curl_slist **headers, mc_err *err)
{
    const mc_kube_config *cfg = client->config;
    char *token = NULL, *cert = NULL, *key = NULL;
    int rc = credential_get(client, refresh, &token, &cert, &key, err);
    if (rc)
        return rc;
    curl_easy_setopt(easy, CURLOPT_SHARE,
                     watch && client->watch_share ? client->watch_share : client->share);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, client->user_agent);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (cfg->ca_pem)
        set_blob(easy, CURLOPT_CAINFO_BLOB, cfg->ca_pem);
    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const char *cert_pem = cert ? cert : cfg->client_cert_pem;
    const char *key_pem = cert ? key : cfg->client_key_pem;
    if (cert_pem && key_pem) {
        set_blob(easy, CURLOPT_SSLCERT_BLOB, cert_pem);
        curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(easy, CURLOPT_SSLKEY_BLOB, key_pem);
        curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    struct curl_slist *h = *headers;
    mc_buf auth;
    mc_buf_init(&auth, TOKEN_FILE_MAX + 64);
    if (token && (mc_buf_appendf(&auth, "Authorization: Bearer %s", token) != MC_OK ||
                  !(h = curl_slist_append(h, auth.data))))
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_buf_free_secure(&auth);
    if (rc == MC_OK) {
        struct curl_slist *next = curl_slist_append(h, "Accept: application/json");
        if (next)
            h = next;
        else
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    *headers = h;
    mc_secure_free_str(token);
    free(cert);
    mc_secure_free_str(key);
    return rc;
}

/* ---- errors ---- */

static int code_for(long http, const char *reason)
{
    switch (http) {
    case 400:
    case 422: return MC_EINVAL;
    case 401:
    case 403: return MC_EAUTH;
    case 404: return MC_ENOTFOUND;
    case 405:
    case 415: return MC_EUNSUPPORTED;
    case 409: return reason && strcmp(reason, "AlreadyExists") == 0 ? MC_EEXISTS : MC_ECONFLICT;
    case 410: return MC_EEXPIRED;
    case 413: return MC_ELIMIT;
    case 429: return MC_EUNAVAILABLE;
    default: return http >= 500 ? MC_EUNAVAILABLE : MC_EIO;
    }
}

int mc_kube_http_error(const mc_kube_client *client, long http, const char *body, size_t len,
                       const char *what, mc_err *err)
{
    json_error_t jerr;
    json_t *json = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    mc_api_status *status = NULL;
    mc_err ignored = {0};
    if (json && mc_api_status_decode(json, &status, &ignored) != MC_OK)
        status = NULL;
    const char *reason = status && status->reason ? status->reason : NULL;
    const char *message = status && status->message ? status->message : NULL;
    int code = code_for(http, reason);
    mc_err_set(err, code, "%s (context %s): %s (HTTP %ld%s%s)", what,
               client->config->context ? client->config->context : "-",
               message ? message : "no Status in the reply", http, reason ? " " : "",
               reason ? reason : "");
    if (err)
        err->http = (int)http;
    mc_api_status_free(status);
    json_decref(json);
    return code;
}

/* ---- one request with retries ---- */

typedef struct request {
    const char *method;       /* GET, POST, ... */
    char *url;                /* owned */
    const char *content_type; /* of body, or NULL */
    char *body;               /* owned, or NULL */
    char what[512];           /* "get secrets default/x" for messages */
    long deadline_ms;         /* this call's, if shorter than the client's (0: none) */
} request;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mc_buf *b = userdata;
    return mc_buf_append(b, ptr, size * nmemb) == MC_OK ? size * nmemb : 0;
}

/* Retry-After in seconds (delta form only), or -1. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    long *retry_after = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        char value[32];
        size_t len = n - (sizeof(name) - 1);
        if (len >= sizeof(value))
            len = sizeof(value) - 1;
        memcpy(value, ptr + sizeof(name) - 1, len);
        value[len] = '\0';
        char *end = NULL;
        long v = strtol(value, &end, 10);
        if (end != value && v >= 0)
            *retry_after = v;
    }
    return n;
}

/* Transport errors after which the request may not have reached the
 * server: safe to retry for every verb. */
static int not_sent(CURLcode code)
{
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
           code == CURLE_COULDNT_RESOLVE_PROXY;
}

/* "2 s", "1500 ms": a timeout for messages. */
static void format_ms(long ms, char *out, size_t size)
{
    if (ms % 1000 == 0)
        snprintf(out, size, "%ld s", ms / 1000);
    else
        snprintf(out, size, "%ld ms", ms);
}

/* Fills err for a transport failure: the verb and context, the server URL,
 * what happened and what to check. detail is curl's error buffer (never
 * holds headers, so never a token); os_errno the socket's errno. */
static int transport_error(const mc_kube_client *client, const request *req, CURLcode code,
                           const char *detail, long os_errno, long timeout_ms, mc_err *err)
{
    const char *server = client->config->server;
    const char *context = client->config->context ? client->config->context : "-";
    char reason[160], limit[32];
    /* the socket's errno says it best for socket failures ("connection
     * refused"); curl's buffer for the rest (TLS, DNS) */
    int socket_failure =
        code == CURLE_COULDNT_CONNECT || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR;
    if (socket_failure && os_errno > 0)
        snprintf(reason, sizeof(reason), "%s", strerror((int)os_errno));
    else
        snprintf(reason, sizeof(reason), "%.150s", detail[0] ? detail : curl_easy_strerror(code));
    if (reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] >= 'a' && reason[1] <= 'z')
        reason[0] = (char)(reason[0] - 'A' + 'a');
    format_ms(timeout_ms, limit, sizeof(limit));
    switch (code) {
    case CURLE_COULDNT_CONNECT:
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "%s (context %s): cannot connect to %s (%s): is the API server running, "
                          "is the kubeconfig's server address right?",
                          req->what, context, server, reason);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "%s (context %s): cannot resolve the host of %s (%s): is the "
                          "kubeconfig's server address right?",
                          req->what, context, server, reason);
    case CURLE_OPERATION_TIMEDOUT:
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "%s (context %s): no reply from %s within %s (the request timeout): is "
                          "the API server up and reachable from here, is the address right?",
                          req->what, context, server, limit);
    case CURLE_PEER_FAILED_VERIFICATION:
        return mc_err_set(err, MC_EVERIFY,
                          "%s (context %s): the server certificate of %s does not verify (%s): "
                          "check %s: is it the CA of this API server, and does the certificate "
                          "name the server address?",
                          req->what, context, server, reason,
                          client->config->ca_origin ? client->config->ca_origin
                          : client->config->ca_pem  ? "the kubeconfig's certificate-authority"
                                                    : "the system CA bundle");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "%s (context %s): TLS handshake with %s failed (%s): is it an HTTPS API "
                          "server, are the kubeconfig's client certificate and key right?",
                          req->what, context, server, reason);
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "%s (context %s): the connection to %s broke before a reply (%s): is the "
                          "API server restarting, or a proxy in between cutting it?",
                          req->what, context, server, reason);
    default:
        return mc_err_set(err, MC_EUNAVAILABLE, "%s (context %s): request to %s failed (%s)",
                          req->what, context, server, reason);
    }
}

/* How many idle connections the client's pool keeps after this call
 * (options.idle_connections): curl closes the oldest idle ones beyond the
 * easy handle's MAXCONNECTS when the call ends; none at all is FORBID_REUSE
 * (the TLS session stays in the share handle, so the next handshake is a
 * resumption). */
static void keep_connections(const mc_kube_client *client, CURL *easy)
{
    int idle = client->options.idle_connections;
    if (idle < 0)
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    else if (idle > 0)
        curl_easy_setopt(easy, CURLOPT_MAXCONNECTS, (long)idle);
}

/* One attempt, at most timeout_ms (0: none). Returns 0 with *http and the
 * body filled, or a transport error (*curl_code set). */
static int attempt_once(mc_kube_client *client, const request *req, int refresh, long timeout_ms,
                        long *http, long *retry_after, mc_buf *reply, CURLcode *curl_code,
                        mc_err *err)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    int rc = MC_OK;
    char ctype[128], detail[CURL_ERROR_SIZE] = "";
    if (!easy)
        return mc_err_set(err, MC_ENOMEM, "%s: cannot create a curl handle", req->what);
    if (req->content_type) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->content_type);
        headers = curl_slist_append(headers, ctype);
        headers = curl_slist_append(headers, "Expect:");
    }
    if ((rc = mc_kube_prepare(client, easy, 0, refresh, &headers, err))) {
        mc_err_prefix(err, "%s", req->what);
        goto out;
    }
    curl_easy_setopt(easy, CURLOPT_URL, req->url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, retry_after);
    if (req->body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    keep_connections(client, easy);
    *curl_code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, http);
    if (*curl_code == CURLE_WRITE_ERROR)
        rc = mc_err_set(err, MC_ELIMIT, "%s: reply larger than %u bytes", req->what, REPLY_MAX);
    else if (*curl_code != CURLE_OK) {
        long os_errno = 0;
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        rc = transport_error(client, req, *curl_code, detail, os_errno, timeout_ms, err);
    }
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    return rc;
}

/* Performs req with rate limiting, retries and one credential refresh on
 * 401; on success *out (may be NULL) receives the parsed reply. */
static int perform(mc_kube_client *client, request *req, json_t **out, mc_err *err)
{
    int refreshed = 0;
    int rc = MC_OK;
    mc_buf reply;
    long deadline_ms = client->deadline_ms;
    if (req->deadline_ms > 0 && (deadline_ms <= 0 || req->deadline_ms < deadline_ms))
        deadline_ms = req->deadline_ms;
    int64_t deadline = deadline_ms > 0 ? mc_clock_now_ms() + deadline_ms : 0;
    for (int attempt = 0;; attempt++) {
        long http = 0, retry_after = -1;
        CURLcode curl_code = CURLE_OK;
        mc_buf_init(&reply, REPLY_MAX);
        rate_limit(client);
        /* the attempt gets what is left of the call's deadline */
        long timeout_ms = client->timeout_ms;
        if (deadline) {
            long left = (long)(deadline - mc_clock_now_ms());
            if (left < 1)
                left = 1;
            if (timeout_ms == 0 || left < timeout_ms)
                timeout_ms = left;
        }
        rc = attempt_once(client, req, refreshed == 1, timeout_ms, &http, &retry_after, &reply,
                          &curl_code, err);
        if (rc == MC_EUNAVAILABLE && curl_code == CURLE_OPERATION_TIMEDOUT && deadline)
            transport_error(client, req, curl_code, "", 0, deadline_ms, err);
        if (refreshed == 1)
            refreshed = 2;
        int retry = 0;
        if (rc == MC_EUNAVAILABLE) {
            retry = not_sent(curl_code) || strcmp(req->method, "GET") == 0;
        } else if (rc == MC_OK && http == 401 && refreshed == 0 && mc_kube_can_refresh(client)) {
            refreshed = 1;
            mc_buf_free(&reply);
            attempt--;
            continue;
        } else if (rc == MC_OK && (http < 200 || http >= 300)) {
            rc = mc_kube_http_error(client, http, reply.data, reply.len, req->what, err);
            retry = http == 429 || http >= 500;
        }
        if (!retry || attempt >= client->max_retries)
            break;
        mc_buf_free(&reply);
        long delay = mc_kube_backoff_ms((unsigned)attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
        if (retry_after > 0)
            delay = (retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after) * 1000L;
        if (deadline && mc_clock_now_ms() + delay >= deadline)
            break; /* no time left for another attempt: the last failure stands */
        mc_clock_sleep_ms(delay);
    }
    if (rc == MC_OK && out) {
        json_error_t jerr;
        *out = json_loadb(reply.data ? reply.data : "", reply.len, 0, &jerr);
        if (!*out)
            rc = mc_err_set(err, MC_EINVAL, "%s: reply is not JSON: %s", req->what, jerr.text);
    }
    mc_buf_free(&reply);
    return rc;
}

static void request_free(request *req)
{
    free(req->url);
    free(req->body);
}

/* The namespace a verb uses: the argument, else the object's, else the
 * client's default (namespaced resources only). */
static const char *pick_namespace(const mc_kube_client *client, const mc_kube_resource *res,
                                  const char *ns, const json_t *obj)
{
    if (!res->namespaced)
        return NULL;
    if (ns && ns[0])
        return ns;
    const char *from_obj =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    return from_obj && from_obj[0] ? from_obj : mc_kube_client_namespace(client);
}

static void describe(request *req, const char *verb, const mc_kube_resource *res, const char *ns,
                     const char *name)
{
    snprintf(req->what, sizeof(req->what), "%s %s%s%s%s%.260s", verb, res->plural,
             (ns || name) ? " " : "", ns ? ns : "", ns && name ? "/" : "", name ? name : "");
}

static int body_of(const json_t *obj, request *req, mc_err *err)
{
    if (!json_is_object(obj) && !json_is_array(obj))
        return mc_err_set(err, MC_EINVAL, "%s: the body must be a JSON object", req->what);
    req->body = json_dumps(obj, JSON_COMPACT);
    return req->body ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

/* ---- verbs ---- */

int mc_kube_get(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                const char *name, json_t **out, mc_err *err)
{
    request req = {.method = "GET"};
    ns = pick_namespace(client, res, ns, NULL);
    describe(&req, "get", res, ns, name);
    int rc = name ? mc_kube_url(client, res, ns, name, NULL, NULL, 0, &req.url, err)
                  : mc_err_set(err, MC_EINVAL, "%s: no name", req.what);
    if (rc == MC_OK)
        rc = perform(client, &req, out, err);
    request_free(&req);
    return rc;
}

int mc_kube_list(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                 const mc_kube_list_options *options, json_t **out, mc_err *err)
{
    request req = {.method = "GET"};
    char limit[32] = "";
    mc_kube_list_options none = {0};
    if (!options)
        options = &none;
    req.deadline_ms = options->deadline_ms;
    if (options->limit > 0)
        snprintf(limit, sizeof(limit), "%ld", options->limit);
    mc_kube_query query[] = {
        {"labelSelector", options->label_selector},
        {"fieldSelector", options->field_selector},
        {"limit", limit[0] ? limit : NULL},
        {"continue",
         options->continue_token && options->continue_token[0] ? options->continue_token : NULL},
    };
    if (!res->namespaced || (ns && !ns[0]))
        ns = NULL;
    describe(&req, "list", res, ns, NULL);
    int rc = mc_kube_url(client, res, ns, NULL, NULL, query, 4, &req.url, err);
    if (rc == MC_OK)
        rc = perform(client, &req, out, err);
    request_free(&req);
    return rc;
}

int mc_kube_create(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const json_t *obj, json_t **out, mc_err *err)
{
    request req = {.method = "POST", .content_type = "application/json"};
    ns = pick_namespace(client, res, ns, obj);
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name)
        name = json_string_value(json_object_get(meta, "generateName"));
    describe(&req, "create", res, ns, name);
    int rc = body_of(obj, &req, err);
    if (rc == MC_OK)
        rc = mc_kube_url(client, res, ns, NULL, NULL, NULL, 0, &req.url, err);
    if (rc == MC_OK)
        rc = perform(client, &req, out, err);
    request_free(&req);
    return rc;
}

static int put(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
               const json_t *obj, const char *sub, json_t **out, mc_err *err)
{
    request req = {.method = "PUT", .content_type = "application/json"};
    ns = pick_namespace(client, res, ns, obj);
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    describe(&req, sub ? "update status of" : "update", res, ns, name);
    int rc = name && name[0] ? body_of(obj, &req, err)
                             : mc_err_set(err, MC_EINVAL, "%s: metadata.name missing", req.what);
    if (rc == MC_OK)
        rc = mc_kube_url(client, res, ns, name, sub, NULL, 0, &req.url, err);
    if (rc == MC_OK)
        rc = perform(client, &req, out, err);
    request_free(&req);
    return rc;
}

int mc_kube_update(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const json_t *obj, json_t **out, mc_err *err)
{
    return put(client, res, ns, obj, NULL, out, err);
}

int mc_kube_update_status(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                          const json_t *obj, json_t **out, mc_err *err)
{
    return put(client, res, ns, obj, "status", out, err);
}

int mc_kube_patch(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                  const char *name, mc_kube_patch_type type, const json_t *patch,
                  int status_subresource, json_t **out, mc_err *err)
{
    request req = {.method = "PATCH",
                   .content_type = type == MC_KUBE_PATCH_JSON ? "application/json-patch+json"
                                                              : "application/merge-patch+json"};
    ns = pick_namespace(client, res, ns, NULL);
    describe(&req, status_subresource ? "patch status of" : "patch", res, ns, name);
    int rc = name && name[0] ? body_of(patch, &req, err)
                             : mc_err_set(err, MC_EINVAL, "%s: no name", req.what);
    if (rc == MC_OK)
        rc = mc_kube_url(client, res, ns, name, status_subresource ? "status" : NULL, NULL, 0,
                         &req.url, err);
    if (rc == MC_OK)
        rc = perform(client, &req, out, err);
    request_free(&req);
    return rc;
}

int mc_kube_delete(mc_kube_client *client, const mc_kube_resource *res, const char *ns,
                   const char *name, const json_t *options, mc_err *err)
{
    request req = {.method = "DELETE", .content_type = options ? "application/json" : NULL};
    ns = pick_namespace(client, res, ns, NULL);
    describe(&req, "delete", res, ns, name);
    int rc = name && name[0] ? MC_OK : mc_err_set(err, MC_EINVAL, "%s: no name", req.what);
    if (rc == MC_OK && options)
        rc = body_of(options, &req, err);
    if (rc == MC_OK)
        rc = mc_kube_url(client, res, ns, name, NULL, NULL, 0, &req.url, err);
    if (rc == MC_OK)
        rc = perform(client, &req, NULL, err);
    request_free(&req);
    return rc;
}
