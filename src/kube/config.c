/* config.c - kubeconfig files and text, and the in-cluster service account,
 * turned into one mc_kube_config (see config.h).
 *
 * The YAML is converted to JSON by api/yaml.c and read as JSON. Every
 * credential is loaded into memory here (files read, *-data decoded), so the
 * client never writes key material to disk; only tokenFile stays a path,
 * because bound service account tokens rotate and must be re-read.
 */
#include "kube/config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/yaml.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"

#define KUBECONFIG_MAX (4u << 20) /* a kubeconfig file or text */
#define CREDENTIAL_MAX (1u << 20) /* a certificate, key or token file */
#define DEFAULT_MOUNT  "/var/run/secrets/kubernetes.io/serviceaccount"

/* What is being parsed: the source's name for messages and the directory
 * relative paths are resolved against (NULL: relative paths refused). */
typedef struct source {
    const char *what;
    const char *base_dir;
} source;

/* The member of a named-list entry ("clusters: [{name, cluster: {...}}]"). */
static json_t *find_named(json_t *root, const char *list, const char *name, const char *member)
{
    json_t *items = json_object_get(root, list);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *n = json_string_value(json_object_get(item, "name"));
        if (n && strcmp(n, name) == 0) {
            json_t *m = json_object_get(item, member);
            return json_is_object(m) ? m : NULL;
        }
    }
    return NULL;
}

/* The string value of key in obj, NULL when absent; MC_EINVAL when present
 * but not a string. */
static int get_string(const source *src, json_t *obj, const char *key, const char **out,
                      mc_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return MC_OK;
    if (!json_is_string(v))
        return mc_err_set(err, MC_EINVAL, "kubeconfig %s: field %s must be a string", src->what,
                          key);
    *out = json_string_value(v);
    return MC_OK;
}

/* Resolves path against the source's directory into *out (caller frees). */
static int resolve_path(const source *src, const char *field, const char *path, char **out,
                        mc_err *err)
{
    if (path[0] == '/') {
        *out = mc_strdup(path);
        return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    if (!src->base_dir)
        return mc_err_set(err, MC_EINVAL,
                          "kubeconfig %s: field %s holds the relative path \"%.200s\", which "
                          "has no meaning outside a file",
                          src->what, field, path);
    mc_buf b;
    mc_buf_init(&b, 1 << 16);
    if (mc_buf_appendf(&b, "%s/%s", src->base_dir, path) != MC_OK) {
        mc_buf_free(&b);
        return mc_err_set(err, MC_ELIMIT, "kubeconfig %s: field %s: path too long", src->what,
                          field);
    }
    *out = mc_buf_steal(&b, NULL);
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

/* Loads a credential from "<field>-data" (base64) or "<field>" (a file) of
 * obj into *out (NUL-terminated, caller frees; NULL when neither is set). */
static int load_blob(const source *src, json_t *obj, const char *field, char **out, mc_err *err)
{
    char data_field[64];
    snprintf(data_field, sizeof(data_field), "%s-data", field);
    const char *data = NULL, *path = NULL;
    int rc = get_string(src, obj, data_field, &data, err);
    if (rc == MC_OK)
        rc = get_string(src, obj, field, &path, err);
    if (rc)
        return rc;
    *out = NULL;
    if (data && data[0]) {
        unsigned char *decoded = NULL;
        size_t len = 0;
        rc = mc_base64_decode(data, strlen(data), &decoded, &len, err);
        if (rc)
            return mc_err_prefix(err, "kubeconfig %s: field %s", src->what, data_field);
        *out = (char *)decoded;
        return MC_OK;
    }
    if (!path || !path[0])
        return MC_OK;
    char *full = NULL;
    if ((rc = resolve_path(src, field, path, &full, err)))
        return rc;
    rc = mc_file_read(full, CREDENTIAL_MAX, out, NULL, err);
    if (rc)
        mc_err_prefix(err, "kubeconfig %s: field %s", src->what, field);
    free(full);
    return rc;
}

/* Finds an executable named name on PATH (names with a '/' are used as they
 * are, relative ones resolved against the kubeconfig, as kubectl does). */
static int resolve_command(const source *src, const char *name, char **out, mc_err *err)
{
    if (strchr(name, '/'))
        return resolve_path(src, "exec.command", name, out, err);
    const char *path_env = getenv("PATH");
    if (!path_env || !path_env[0])
        path_env = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path_env; *p;) {
        const char *colon = strchr(p, ':');
        size_t dir_len = colon ? (size_t)(colon - p) : strlen(p);
        mc_buf b;
        mc_buf_init(&b, 1 << 16);
        if (dir_len > 0 && mc_buf_append(&b, p, dir_len) == MC_OK &&
            mc_buf_appendf(&b, "/%s", name) == MC_OK && access(b.data, X_OK) == 0) {
            *out = mc_buf_steal(&b, NULL);
            return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
        }
        mc_buf_free(&b);
        p += dir_len;
        if (*p == ':')
            p++;
    }
    return mc_err_set(err, MC_ENOTFOUND, "kubeconfig %s: exec plugin \"%.200s\" not found on PATH",
                      src->what, name);
}

static void exec_free(mc_kube_exec *exec)
{
    if (!exec)
        return;
    free(exec->api_version);
    free(exec->command);
    for (size_t i = 0; exec->args && i < exec->args_len; i++)
        free(exec->args[i]);
    free(exec->args);
    for (size_t i = 0; exec->env && i < exec->env_len; i++)
        mc_secure_free_str(exec->env[i]);
    free(exec->env);
    free(exec);
}

static int parse_exec(const source *src, json_t *obj, mc_kube_exec **out, mc_err *err)
{
    int rc = MC_ENOMEM;
    mc_kube_exec *exec = calloc(1, sizeof(*exec));
    const char *api_version = NULL, *command = NULL;
    if (!exec)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if ((rc = get_string(src, obj, "apiVersion", &api_version, err)) ||
        (rc = get_string(src, obj, "command", &command, err)))
        goto out;
    if (!command || !command[0] || !api_version || !api_version[0]) {
        rc = mc_err_set(err, MC_EINVAL, "kubeconfig %s: exec needs command and apiVersion",
                        src->what);
        goto out;
    }
    if (!(exec->api_version = mc_strdup(api_version))) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = resolve_command(src, command, &exec->command, err)))
        goto out;
    json_t *args = json_object_get(obj, "args");
    json_t *env = json_object_get(obj, "env");
    if ((args && !json_is_array(args) && !json_is_null(args)) ||
        (env && !json_is_array(env) && !json_is_null(env))) {
        rc =
            mc_err_set(err, MC_EINVAL, "kubeconfig %s: exec args and env must be lists", src->what);
        goto out;
    }
    size_t n_args = json_array_size(args), n_env = json_array_size(env);
    exec->args = calloc(n_args + 1, sizeof(char *));
    exec->env = calloc(n_env + 1, sizeof(char *));
    if (!exec->args || !exec->env) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_args; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        if (!a) {
            rc = mc_err_set(err, MC_EINVAL, "kubeconfig %s: exec args[%zu] must be a string",
                            src->what, i);
            goto out;
        }
        if (!(exec->args[exec->args_len] = mc_strdup(a))) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
        exec->args_len++;
    }
    for (size_t i = 0; i < n_env; i++) {
        json_t *e = json_array_get(env, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *value = json_string_value(json_object_get(e, "value"));
        if (!name || !name[0] || strchr(name, '=') || !value) {
            rc = mc_err_set(err, MC_EINVAL,
                            "kubeconfig %s: exec env[%zu] needs a name (without '=') and a value",
                            src->what, i);
            goto out;
        }
        mc_buf b;
        mc_buf_init(&b, 1 << 20);
        if (mc_buf_appendf(&b, "%s=%s", name, value) != MC_OK) {
            mc_buf_free_secure(&b);
            rc = mc_err_set(err, MC_ELIMIT, "kubeconfig %s: exec env[%zu] too long", src->what, i);
            goto out;
        }
        if (!(exec->env[exec->env_len] = mc_buf_steal(&b, NULL))) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
        exec->env_len++;
    }
    *out = exec;
    exec = NULL;
    rc = MC_OK;
out:
    exec_free(exec);
    return rc;
}

/* "true"/"false" or a YAML boolean. */
static int get_bool(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_true(v))
        return 1;
    const char *s = json_string_value(v);
    return s && strcmp(s, "true") == 0;
}

static int dup_into(char **dst, const char *s, mc_err *err)
{
    *dst = mc_strdup(s);
    return *dst || !s ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

static int parse_cluster(const source *src, json_t *cluster, mc_kube_config *config, mc_err *err)
{
    const char *server = NULL;
    int rc = get_string(src, cluster, "server", &server, err);
    if (rc)
        return rc;
    if (!server || !(mc_str_has_prefix(server, "https://") || mc_str_has_prefix(server, "http://")))
        return mc_err_set(err, MC_EINVAL, "kubeconfig %s: cluster server must be an https:// URL",
                          src->what);
    size_t len = strlen(server);
    while (len > 8 && server[len - 1] == '/')
        len--;
    if (!(config->server = mc_strndup(server, len)))
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if ((rc = load_blob(src, cluster, "certificate-authority", &config->ca_pem, err)))
        return rc;
    config->insecure_skip_tls_verify = get_bool(cluster, "insecure-skip-tls-verify");
    if (config->insecure_skip_tls_verify)
        mc_log_warn("kube",
                    "kubeconfig %s, context %s: insecure-skip-tls-verify is set: the API "
                    "server's certificate will NOT be verified and anyone on the path can "
                    "impersonate it and read every credential sent to it",
                    src->what, config->context);
    return MC_OK;
}

/* Notes in config->ca_origin where the cluster's CA comes from, for
 * messages about a server certificate that does not verify. */
static int describe_ca(const source *src, json_t *cluster, const char *cluster_name,
                       mc_kube_config *config, mc_err *err)
{
    const char *data = NULL, *path = NULL;
    int rc = get_string(src, cluster, "certificate-authority-data", &data, err);
    if (rc == MC_OK)
        rc = get_string(src, cluster, "certificate-authority", &path, err);
    if (rc)
        return rc;
    mc_buf b;
    mc_buf_init(&b, 4096);
    if (data && data[0])
        rc = mc_buf_appendf(&b, "certificate-authority-data of cluster \"%.100s\" in kubeconfig %s",
                            cluster_name, src->what);
    else if (path && path[0])
        rc = mc_buf_appendf(&b, "certificate-authority %s of cluster \"%.100s\" in kubeconfig %s",
                            path, cluster_name, src->what);
    else
        rc = mc_buf_appendf(&b,
                            "the system CA bundle (cluster \"%.100s\" in kubeconfig %s sets "
                            "no certificate-authority)",
                            cluster_name, src->what);
    free(config->ca_origin);
    config->ca_origin = rc == MC_OK ? mc_buf_steal(&b, NULL) : NULL;
    mc_buf_free(&b);
    return config->ca_origin ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

static int parse_user(const source *src, json_t *user, mc_kube_config *config, mc_err *err)
{
    const char *token = NULL, *token_file = NULL;
    int rc;
    if ((rc = load_blob(src, user, "client-certificate", &config->client_cert_pem, err)) ||
        (rc = load_blob(src, user, "client-key", &config->client_key_pem, err)) ||
        (rc = get_string(src, user, "token", &token, err)) ||
        (rc = get_string(src, user, "tokenFile", &token_file, err)))
        return rc;
    if (!config->client_cert_pem != !config->client_key_pem)
        return mc_err_set(err, MC_EINVAL,
                          "kubeconfig %s: user has a client certificate without a key, or a key "
                          "without a certificate",
                          src->what);
    if (token && token[0] && (rc = dup_into(&config->token, token, err)))
        return rc;
    if (token_file && token_file[0] &&
        (rc = resolve_path(src, "tokenFile", token_file, &config->token_file, err)))
        return rc;
    json_t *exec = json_object_get(user, "exec");
    if (json_is_object(exec) && (rc = parse_exec(src, exec, &config->exec, err)))
        return rc;
    return MC_OK;
}

/* One parsed kubeconfig document and where it came from. */
typedef struct document {
    json_t *root; /* an object (an empty file is an empty one) */
    source src;
} document;

/* 1 when text holds no YAML node: only blank lines and comments. */
static int is_blank(const char *text, size_t len)
{
    int in_comment = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == '\n')
            in_comment = 0;
        else if (ch == '#')
            in_comment = 1;
        else if (!in_comment && ch != ' ' && ch != '\t' && ch != '\r')
            return 0;
    }
    return 1;
}

/* Parses kubeconfig text into doc->root. An empty file is an empty config,
 * as client-go reads it (a KUBECONFIG list may name one). */
static int parse_document(const char *text, size_t len, document *doc, mc_err *err)
{
    if (is_blank(text, len)) {
        doc->root = json_object();
        return doc->root ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    int rc = mc_api_yaml_to_json(text, len, &doc->root, err);
    if (rc)
        return mc_err_prefix(err, "kubeconfig %s", doc->src.what);
    if (!json_is_object(doc->root))
        return mc_err_set(err, MC_EINVAL, "kubeconfig %s: not a mapping", doc->src.what);
    return MC_OK;
}

/* The first document (in precedence order) holding the named entry of list:
 * client-go's merge rule, under which the first file to define a name wins
 * (the whole entry, not field by field). *member NULL when none does. */
static const document *find_first(const document *docs, size_t n, const char *list,
                                  const char *name, const char *member, json_t **out)
{
    for (size_t i = 0; i < n; i++)
        if ((*out = find_named(docs[i].root, list, name, member)))
            return &docs[i];
    *out = NULL;
    return NULL;
}

/* Resolves the named context (NULL: the first current-context set) across
 * the documents, merged as client-go merges a KUBECONFIG list; what names
 * them all in messages. Relative paths resolve against the file that
 * defined the entry holding them. */
static int resolve(const document *docs, size_t n, const char *context, const char *what,
                   mc_kube_config **out, mc_err *err)
{
    mc_kube_config *config = calloc(1, sizeof(*config));
    int rc = MC_OK;
    if (!config)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && (!context || !context[0]); i++)
        if ((rc = get_string(&docs[i].src, docs[i].root, "current-context", &context, err)))
            goto out;
    if (!context || !context[0]) {
        rc = mc_err_set(err, MC_ENOTFOUND, "kubeconfig %s: no context named and no current-context",
                        what);
        goto out;
    }
    json_t *ctx = NULL;
    const document *ctx_doc = find_first(docs, n, "contexts", context, "context", &ctx);
    if (!ctx_doc) {
        rc = mc_err_set(err, MC_ENOTFOUND, "kubeconfig %s: context \"%.200s\" not found", what,
                        context);
        goto out;
    }
    const char *cluster_name = NULL, *user_name = NULL, *ns = NULL;
    if ((rc = get_string(&ctx_doc->src, ctx, "cluster", &cluster_name, err)) ||
        (rc = get_string(&ctx_doc->src, ctx, "user", &user_name, err)) ||
        (rc = get_string(&ctx_doc->src, ctx, "namespace", &ns, err)))
        goto out;
    if ((rc = dup_into(&config->context, context, err)) ||
        (rc = dup_into(&config->namespace, ns && ns[0] ? ns : "default", err)))
        goto out;
    config->namespace_given = ns && ns[0];
    json_t *cluster = NULL;
    const document *cluster_doc =
        cluster_name ? find_first(docs, n, "clusters", cluster_name, "cluster", &cluster) : NULL;
    if (!cluster_doc) {
        rc = mc_err_set(err, MC_ENOTFOUND,
                        "kubeconfig %s: cluster \"%.200s\" of context \"%.200s\" not found", what,
                        cluster_name ? cluster_name : "", context);
        goto out;
    }
    if ((rc = parse_cluster(&cluster_doc->src, cluster, config, err)))
        goto out;
    if ((rc = describe_ca(&cluster_doc->src, cluster, cluster_name, config, err)))
        goto out;
    if (user_name && user_name[0]) {
        json_t *user = NULL;
        const document *user_doc = find_first(docs, n, "users", user_name, "user", &user);
        if (!user_doc) {
            rc = mc_err_set(err, MC_ENOTFOUND,
                            "kubeconfig %s: user \"%.200s\" of context \"%.200s\" not found", what,
                            user_name, context);
            goto out;
        }
        if ((rc = parse_user(&user_doc->src, user, config, err)))
            goto out;
    }
    *out = config;
    config = NULL;
out:
    mc_kube_config_free(config);
    return rc;
}

/* The directory of path (caller frees), "." for a bare name. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? mc_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : mc_strdup(".");
}

/* Reads and parses the file at path into doc (doc->src.what is path; the
 * caller frees doc->root and doc->src.base_dir). */
static int read_document(const char *path, document *doc, mc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    doc->src.what = path;
    int rc = mc_file_read(path, KUBECONFIG_MAX, &text, &len, err);
    if (rc) {
        mc_err_prefix(err, "kubeconfig");
        return rc;
    }
    char *dir = directory_of(path);
    doc->src.base_dir = dir;
    rc = dir ? parse_document(text, len, doc, err) : mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_secure_free(text, len);
    return rc;
}

static void documents_free(document *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(docs[i].root);
        free((char *)docs[i].src.base_dir);
    }
    free(docs);
}

int mc_kube_config_load_file(const char *path, const char *context, mc_kube_config **out,
                             mc_err *err)
{
    document doc = {0};
    int rc = read_document(path, &doc, err);
    if (rc == MC_OK)
        rc = resolve(&doc, 1, context, path, out, err);
    json_decref(doc.root);
    free((char *)doc.src.base_dir);
    return rc;
}

int mc_kube_config_load_text(const char *text, size_t len, const char *context, const char *what,
                             mc_kube_config **out, mc_err *err)
{
    document doc = {.src = {.what = what ? what : "(text)", .base_dir = NULL}};
    int rc = parse_document(text, len, &doc, err);
    if (rc == MC_OK)
        rc = resolve(&doc, 1, context, doc.src.what, out, err);
    json_decref(doc.root);
    return rc;
}

/* Loads every existing file of a KUBECONFIG list (list is modified: split
 * in place) and resolves the context across them. */
static int load_list(char *list, const char *env_value, const char *context, mc_kube_config **out,
                     mc_err *err)
{
    size_t capacity = 1;
    for (const char *p = list; *p; p++)
        capacity += *p == ':';
    document *docs = calloc(capacity, sizeof(*docs));
    size_t n = 0;
    int rc = MC_OK;
    if (!docs)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    for (char *entry = list, *next; entry; entry = next) {
        next = strchr(entry, ':');
        if (next)
            *next++ = '\0';
        int seen = !entry[0]; /* empty entries are skipped, as are repeated files */
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(docs[i].src.what, entry) == 0;
        struct stat st;
        if (seen || stat(entry, &st) != 0) /* client-go skips missing files */
            continue;
        if ((rc = read_document(entry, &docs[n], err))) {
            n++;
            goto out;
        }
        n++;
    }
    if (n == 0) {
        rc = mc_err_set(err, MC_ENOTFOUND,
                        "no kubeconfig: none of the files in KUBECONFIG=%.300s exists", env_value);
        goto out;
    }
    char what[MC_ERR_MSG_MAX];
    snprintf(what, sizeof(what), n == 1 ? "%s" : "KUBECONFIG=%s",
             n == 1 ? docs[0].src.what : env_value);
    rc = resolve(docs, n, context, what, out, err);
out:
    documents_free(docs, n);
    return rc;
}

int mc_kube_config_load_default(const char *path, const char *context, mc_kube_config **out,
                                mc_err *err)
{
    if (path && path[0])
        return mc_kube_config_load_file(path, context, out, err);
    const char *env = getenv("KUBECONFIG");
    if (env && env[0]) {
        char *list = mc_strdup(env);
        if (!list)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
        int rc = load_list(list, env, context, out, err);
        free(list);
        return rc;
    }
    const char *home = getenv("HOME");
    mc_buf b;
    mc_buf_init(&b, 1 << 16);
    struct stat st;
    int rc = home && home[0] ? mc_buf_appendf(&b, "%s/.kube/config", home) : MC_ENOTFOUND;
    if (rc == MC_OK && stat(b.data, &st) == 0)
        rc = mc_kube_config_load_file(b.data, context, out, err);
    else
        rc = mc_err_set(err, MC_ENOTFOUND,
                        "no kubeconfig: no --kubeconfig, KUBECONFIG is not set and %s does not "
                        "exist",
                        rc == MC_OK ? b.data : "~/.kube/config");
    mc_buf_free(&b);
    return rc;
}

/* Reads mount_dir/name into *out (caller frees); MC_ENOTFOUND names it. */
static int read_mount_file(const char *mount_dir, const char *name, char **out, mc_err *err)
{
    mc_buf b;
    mc_buf_init(&b, 1 << 16);
    int rc = mc_buf_appendf(&b, "%s/%s", mount_dir, name);
    if (rc == MC_OK)
        rc = mc_file_read(b.data, CREDENTIAL_MAX, out, NULL, err);
    else
        mc_err_set(err, rc, "in-cluster config: mount path too long");
    mc_buf_free(&b);
    return rc;
}

int mc_kube_config_in_cluster(const char *mount_dir, mc_kube_config **out, mc_err *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char *ns_text = NULL, *token = NULL;
    int rc = MC_OK;
    if (!mount_dir)
        mount_dir = DEFAULT_MOUNT;
    if (!host || !host[0] || !port || !port[0])
        return mc_err_set(err, MC_ENOTFOUND,
                          "in-cluster config: KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT are not set (not running in a pod?)");
    mc_kube_config *config = calloc(1, sizeof(*config));
    if (!config)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_buf b;
    mc_buf_init(&b, 1 << 12);
    int v6 = strchr(host, ':') != NULL;
    if (mc_buf_appendf(&b, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) ||
        !(config->server = mc_buf_steal(&b, NULL))) {
        mc_buf_free(&b);
        rc = mc_err_set(err, MC_EINVAL, "in-cluster config: bad KUBERNETES_SERVICE_HOST/PORT");
        goto out;
    }
    /* The token is read now only to fail early when it is missing; the
     * client re-reads token_file whenever it changes. */
    if ((rc = read_mount_file(mount_dir, "token", &token, err)) ||
        (rc = read_mount_file(mount_dir, "ca.crt", &config->ca_pem, err))) {
        mc_err_prefix(err, "in-cluster config");
        goto out;
    }
    mc_buf_init(&b, 1 << 16);
    if (mc_buf_appendf(&b, "%s/token", mount_dir) ||
        !(config->token_file = mc_buf_steal(&b, NULL))) {
        mc_buf_free(&b);
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    rc = read_mount_file(mount_dir, "namespace", &ns_text, err);
    if (rc == MC_ENOTFOUND) {
        rc = MC_OK;
    } else if (rc) {
        mc_err_prefix(err, "in-cluster config");
        goto out;
    }
    size_t ns_len = ns_text ? strcspn(ns_text, " \t\r\n") : 0;
    config->namespace = ns_len ? mc_strndup(ns_text, ns_len) : mc_strdup("default");
    config->namespace_given = ns_len > 0;
    config->context = mc_strdup("in-cluster");
    mc_buf_init(&b, 1 << 16);
    if (mc_buf_appendf(&b, "the service account's CA %s/ca.crt", mount_dir) == MC_OK)
        config->ca_origin = mc_buf_steal(&b, NULL);
    mc_buf_free(&b);
    if (!config->namespace || !config->context || !config->ca_origin) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    *out = config;
    config = NULL;
out:
    free(ns_text);
    mc_secure_free_str(token);
    mc_kube_config_free(config);
    return rc;
}

void mc_kube_config_free(mc_kube_config *config)
{
    if (!config)
        return;
    free(config->server);
    free(config->ca_pem);
    free(config->client_cert_pem);
    mc_secure_free_str(config->client_key_pem);
    mc_secure_free_str(config->token);
    free(config->token_file);
    exec_free(config->exec);
    free(config->namespace);
    free(config->context);
    free(config->ca_origin);
    free(config);
}

static int copy_strings(char **src, size_t n, char ***out)
{
    *out = calloc(n + 1, sizeof(char *));
    if (!*out)
        return MC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = mc_strdup(src[i])))
            return MC_ENOMEM;
    return MC_OK;
}

int mc_kube_config_copy(const mc_kube_config *config, mc_kube_config **out, mc_err *err)
{
    mc_kube_config *copy = calloc(1, sizeof(*copy));
    int rc = MC_ENOMEM;
    if (!copy)
        goto out;
    copy->insecure_skip_tls_verify = config->insecure_skip_tls_verify;
    copy->namespace_given = config->namespace_given;
    if (dup_into(&copy->server, config->server, NULL) ||
        dup_into(&copy->ca_pem, config->ca_pem, NULL) ||
        dup_into(&copy->client_cert_pem, config->client_cert_pem, NULL) ||
        dup_into(&copy->client_key_pem, config->client_key_pem, NULL) ||
        dup_into(&copy->token, config->token, NULL) ||
        dup_into(&copy->token_file, config->token_file, NULL) ||
        dup_into(&copy->namespace, config->namespace ? config->namespace : "default", NULL) ||
        dup_into(&copy->context, config->context, NULL) ||
        dup_into(&copy->ca_origin, config->ca_origin, NULL))
        goto out;
    if (config->exec) {
        if (!(copy->exec = calloc(1, sizeof(*copy->exec))))
            goto out;
        copy->exec->args_len = config->exec->args_len;
        copy->exec->env_len = config->exec->env_len;
        if (dup_into(&copy->exec->api_version, config->exec->api_version, NULL) ||
            dup_into(&copy->exec->command, config->exec->command, NULL) ||
            copy_strings(config->exec->args, config->exec->args_len, &copy->exec->args) ||
            copy_strings(config->exec->env, config->exec->env_len, &copy->exec->env))
            goto out;
    }
    *out = copy;
    copy = NULL;
    rc = MC_OK;
out:
    mc_kube_config_free(copy);
    return rc ? mc_err_set(err, rc, "out of memory") : MC_OK;
}

char *mc_kube_config_token_kubeconfig(const mc_kube_config *admin, const char *user,
                                      const char *token, const char *ns)
{
    char *ca_b64 = NULL;
    if (admin->ca_pem && mc_base64_encode(admin->ca_pem, strlen(admin->ca_pem), &ca_b64, NULL))
        return NULL;
    json_t *cluster = json_pack("{s:s}", "server", admin->server);
    if (cluster && ca_b64)
        json_object_set_new(cluster, "certificate-authority-data", json_string(ca_b64));
    if (cluster && admin->insecure_skip_tls_verify)
        json_object_set_new(cluster, "insecure-skip-tls-verify", json_true());
    free(ca_b64);
    json_t *doc = json_pack(
        "{s:s,s:s,s:[{s:s,s:o}],s:[{s:s,s:{s:s}}],s:[{s:s,s:{s:s,s:s,s:s}}],s:s}", "apiVersion",
        "v1", "kind", "Config", "clusters", "name", "managed", "cluster", cluster, "users", "name",
        user, "user", "token", token, "contexts", "name", "managed", "context", "cluster",
        "managed", "user", user, "namespace", ns, "current-context", "managed");
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    /* the token is inside doc's strings: wipe it before jansson frees them */
    json_t *users = json_object_get(doc, "users");
    json_t *user_token =
        json_object_get(json_object_get(json_array_get(users, 0), "user"), "token");
    if (user_token)
        mc_secure_zero((char *)json_string_value(user_token), json_string_length(user_token));
    json_decref(doc);
    return text;
}
