/* pkcs11.c - the PKCS#11 key back end (see pkcs11.h).
 *
 * Layout: URI parsing, the PIN, the module and token (load, find, log in),
 * the session pool with its reconnect-and-retry, key generation, then the
 * signing back end. One mutex guards the pool and the login state; the
 * module itself is initialised with CKF_OS_LOCKING_OK so sessions may sign
 * in parallel.
 */
#include "pki/pkcs11.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki/internal.h"
#include "util/str.h"

#define POOL_MAX     8   /* idle sessions kept open */
#define PIN_MAX      256 /* bytes of a PIN file */
#define ID_MAX       64  /* bytes of a CKA_ID */
#define LABEL_MAX    256
#define PATH_MAX_LEN 4096

struct mc_pki_pkcs11 {
    void *module;         /* dlopen handle */
    CK_FUNCTION_LIST *fn; /* the module's entry points */
    int finalize;         /* 1: we initialised the module, so we finalize it */
    char module_path[PATH_MAX_LEN];
    char token[LABEL_MAX];       /* token= */
    char object[LABEL_MAX];      /* object= ("" when absent) */
    unsigned char id[ID_MAX];    /* id= */
    size_t id_len;               /* 0 when absent */
    char pin_file[PATH_MAX_LEN]; /* one of the two PIN sources */
    char pin_env[LABEL_MAX];
    char label[LABEL_MAX * 2 + 32]; /* "pkcs11:token=...;object=..." for messages */
    pthread_mutex_t lock;           /* guards everything below */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE login_session;  /* kept open: the login lasts while a session does */
    int login_open;                   /* login_session is open (logged in or not) */
    CK_SESSION_HANDLE idle[POOL_MAX]; /* the pool */
    size_t idle_count;
    CK_OBJECT_HANDLE key; /* the private key, once found */
    int key_found;
    mc_pki_sig_alg alg;
    size_t ec_size; /* bytes of r (and of s): 32 for P-256, 48 for P-384; 0 for RSA */
};

/* ---- names of return values, for messages ---- */

static const char *ckr_name(CK_RV rv)
{
    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: return "CKR_(other)";
    }
}

static int ckr_err(mc_err *err, CK_RV rv, const char *what, const mc_pki_pkcs11 *p11)
{
    return mc_err_set(err, MC_ECRYPTO, "%s on %s failed: %s (0x%lx)", what, p11->label,
                      ckr_name(rv), (unsigned long)rv);
}

/* A session or device error: the session (or the whole login) is gone, and
 * a reconnect may cure it. */
static int ckr_is_reconnectable(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_ERROR ||
           rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
           rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_KEY_HANDLE_INVALID ||
           rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

/* ---- RFC 7512 URIs ---- */

int mc_pki_pkcs11_is_uri(const char *text)
{
    return text && strncmp(text, "pkcs11:", 7) == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes value[0..len) into out (cap bytes, NUL-terminated when text). */
static int pct_decode(const char *value, size_t len, unsigned char *out, size_t cap,
                      size_t *out_len, const char *name, mc_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)value[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(value[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(value[i + 2]) : -1;
            if (lo < 0)
                return mc_err_set(err, MC_EINVAL, "pkcs11 URI: bad %%-escape in %s=", name);
            c = hi * 16 + lo;
            i += 2;
        }
        if (n + 1 >= cap)
            return mc_err_set(err, MC_ELIMIT, "pkcs11 URI: %s= is longer than %zu bytes", name,
                              cap - 1);
        out[n++] = (unsigned char)c;
    }
    out[n] = 0;
    *out_len = n;
    return MC_OK;
}

/* One attribute "name=value" of the path (query 0) or the query (query 1). */
static int uri_attribute(mc_pki_pkcs11 *p11, const char *attr, size_t len, int query,
                         char *uri_pin_file, char *uri_module, mc_err *err)
{
    const char *eq = memchr(attr, '=', len);
    if (!eq)
        return mc_err_set(err, MC_EINVAL, "pkcs11 URI: \"%.*s\" is not name=value", (int)len, attr);
    size_t name_len = (size_t)(eq - attr), value_len = len - name_len - 1;
    char name[32];
    snprintf(name, sizeof(name), "%.*s", (int)(name_len < 31 ? name_len : 31), attr);
    unsigned char value[PATH_MAX_LEN];
    size_t n = 0;
    int rc = pct_decode(eq + 1, value_len, value, sizeof(value), &n, name, err);
    if (rc)
        return rc;
    if (!query && strcmp(name, "token") == 0 && n < sizeof(p11->token))
        memcpy(p11->token, value, n + 1);
    else if (!query && strcmp(name, "object") == 0 && n < sizeof(p11->object))
        memcpy(p11->object, value, n + 1);
    else if (!query && strcmp(name, "id") == 0 && n <= ID_MAX)
        memcpy(p11->id, value, p11->id_len = n);
    else if (!query && strcmp(name, "type") == 0)
        ; /* the private key is what we look for, whatever the URI's type= */
    else if (query && strcmp(name, "pin-source") == 0)
        snprintf(uri_pin_file, PATH_MAX_LEN, "%s",
                 strncmp((char *)value, "file:", 5) == 0 ? (char *)value + 5 : (char *)value);
    else if (query && strcmp(name, "module-path") == 0)
        snprintf(uri_module, PATH_MAX_LEN, "%s", (char *)value);
    else if (query && strcmp(name, "pin-value") == 0)
        rc = mc_err_set(err, MC_EINVAL,
                        "pkcs11 URI: pin-value= would put the PIN on the command line; use "
                        "--pin-file or --pin-env");
    else
        rc = mc_err_set(err, MC_EINVAL, "pkcs11 URI: unsupported or too long attribute %s=", name);
    OPENSSL_cleanse(value, sizeof(value));
    return rc;
}

/* Splits text[0..len) at sep and hands each attribute to uri_attribute. */
static int uri_attributes(mc_pki_pkcs11 *p11, const char *text, size_t len, char sep, int query,
                          char *uri_pin_file, char *uri_module, mc_err *err)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != sep)
            continue;
        if (i > start) {
            int rc =
                uri_attribute(p11, text + start, i - start, query, uri_pin_file, uri_module, err);
            if (rc)
                return rc;
        }
        start = i + 1;
    }
    return MC_OK;
}

/* "pkcs11:token=T;object=O" or "...;id=%0a%0b" (object= absent) for messages. */
static void set_label(mc_pki_pkcs11 *p11)
{
    int n = snprintf(p11->label, sizeof(p11->label), "pkcs11:token=%s;%s=%s", p11->token,
                     p11->object[0] ? "object" : "id", p11->object);
    for (size_t i = 0; !p11->object[0] && n > 0 && i < p11->id_len; i++)
        if ((size_t)n + 3 < sizeof(p11->label))
            n += snprintf(p11->label + n, sizeof(p11->label) - (size_t)n, "%%%02x", p11->id[i]);
}

static int parse_uri(mc_pki_pkcs11 *p11, const mc_pki_pkcs11_config *config, mc_err *err)
{
    const char *uri = config->uri;
    if (!mc_pki_pkcs11_is_uri(uri))
        return mc_err_set(err, MC_EINVAL, "not a pkcs11: URI (RFC 7512): \"%.64s\"",
                          uri ? uri : "");
    const char *path = uri + 7, *q = strchr(path, '?');
    size_t path_len = q ? (size_t)(q - path) : strlen(path);
    char uri_pin_file[PATH_MAX_LEN] = "", uri_module[PATH_MAX_LEN] = "";
    int rc = uri_attributes(p11, path, path_len, ';', 0, uri_pin_file, uri_module, err);
    if (rc == MC_OK && q)
        rc = uri_attributes(p11, q + 1, strlen(q + 1), '&', 1, uri_pin_file, uri_module, err);
    if (rc)
        return rc;
    if (!p11->token[0])
        return mc_err_set(err, MC_EINVAL, "pkcs11 URI %.200s names no token= (the token label)",
                          uri);
    if (!p11->object[0] && !p11->id_len)
        return mc_err_set(err, MC_EINVAL, "pkcs11 URI %.200s names no object= or id= (the key)",
                          uri);
    /* the URI's own module and PIN source win over the flags: several keys
     * (issuer --root-key, repeated) may live behind different modules and PINs */
    snprintf(p11->module_path, sizeof(p11->module_path), "%s",
             uri_module[0] || !config->module_path ? uri_module : config->module_path);
    if (!p11->module_path[0])
        return mc_err_set(
            err, MC_EINVAL,
            "no PKCS#11 module: give --pkcs11-module PATH (or module-path= in the URI)");
    if (uri_pin_file[0] || !config->pin_env)
        snprintf(p11->pin_file, sizeof(p11->pin_file), "%s",
                 uri_pin_file[0] || !config->pin_file ? uri_pin_file : config->pin_file);
    else
        snprintf(p11->pin_env, sizeof(p11->pin_env), "%s", config->pin_env);
    if (!p11->pin_env[0] && !p11->pin_file[0])
        return mc_err_set(err, MC_EINVAL,
                          "no PIN source for %s: give --pin-file FILE or --pin-env VAR (or "
                          "pin-source= in the URI)",
                          p11->token);
    set_label(p11);
    return MC_OK;
}

/* ---- the PIN ---- */

/* Reads a PIN file straight into pin (PIN_MAX bytes): no other buffer ever
 * holds the PIN (mc_file_read would leave copies in its growing buffer). */
static int read_pin_file(const char *path, char *pin, mc_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mc_err_set(err, errno == ENOENT ? MC_ENOTFOUND : MC_EIO, "PIN file %s: %s", path,
                          strerror(errno));
    size_t len = 0;
    ssize_t n = 0;
    while (len < PIN_MAX &&
           ((n = read(fd, pin + len, PIN_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    int read_errno = errno;
    close(fd);
    if (n < 0)
        return mc_err_set(err, MC_EIO, "PIN file %s: %s", path, strerror(read_errno));
    if (len >= PIN_MAX)
        return mc_err_set(err, MC_ELIMIT, "PIN file %s is longer than %d bytes", path, PIN_MAX - 1);
    pin[len] = 0;
    return MC_OK;
}

/* Reads the PIN into pin (PIN_MAX bytes, NUL-terminated): the first line of
 * the file, or the variable's value. The caller wipes pin. */
static int read_pin(const mc_pki_pkcs11 *p11, char *pin, mc_err *err)
{
    const char *source = NULL;
    int rc = MC_OK;
    if (p11->pin_env[0]) {
        source = getenv(p11->pin_env);
        if (!source)
            return mc_err_set(err, MC_EINVAL, "PIN variable %s is not set", p11->pin_env);
        if (strlen(source) >= PIN_MAX)
            return mc_err_set(err, MC_ELIMIT, "PIN variable %s is longer than %d bytes",
                              p11->pin_env, PIN_MAX - 1);
        snprintf(pin, PIN_MAX, "%s", source);
    } else if ((rc = read_pin_file(p11->pin_file, pin, err))) {
        return rc;
    }
    pin[strcspn(pin, "\r\n")] = 0; /* the first line */
    if (!pin[0])
        return mc_err_set(err, MC_EINVAL, "the PIN from %s %s is empty",
                          p11->pin_env[0] ? "variable" : "file",
                          p11->pin_env[0] ? p11->pin_env : p11->pin_file);
    return MC_OK;
}

/* ---- module, token, login ---- */

static int load_module(mc_pki_pkcs11 *p11, mc_err *err)
{
    p11->module = dlopen(p11->module_path, RTLD_NOW | RTLD_LOCAL);
    if (!p11->module) {
        const char *why = dlerror();
        return mc_err_set(err, MC_ENOTFOUND, "cannot load PKCS#11 module %s: %s", p11->module_path,
                          why ? why : "unknown reason");
    }
    CK_C_GetFunctionList get_list = NULL;
    void *sym = dlsym(p11->module, "C_GetFunctionList");
    memcpy(&get_list, &sym, sizeof(get_list)); /* object to function pointer, as POSIX allows */
    if (!get_list || get_list(&p11->fn) != CKR_OK || !p11->fn)
        return mc_err_set(err, MC_ENOTFOUND, "%s is not a PKCS#11 module (no C_GetFunctionList)",
                          p11->module_path);
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = p11->fn->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return mc_err_set(err, MC_ECRYPTO, "initialising PKCS#11 module %s failed: %s (0x%lx)",
                          p11->module_path, ckr_name(rv), (unsigned long)rv);
    p11->finalize = rv == CKR_OK;
    return MC_OK;
}

/* The label of a token, blank padding removed. */
static void token_label(const CK_TOKEN_INFO *info, char *out, size_t size)
{
    size_t n = sizeof(info->label);
    while (n > 0 && info->label[n - 1] == ' ')
        n--;
    snprintf(out, size, "%.*s", (int)n, (const char *)info->label);
}

static int find_slot(mc_pki_pkcs11 *p11, mc_err *err)
{
    CK_SLOT_ID slots[64];
    CK_ULONG count = 64;
    CK_RV rv = p11->fn->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "C_GetSlotList", p11);
    char seen[512] = "";
    size_t used = 0;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;
        char label[40];
        if (p11->fn->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
            !(info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        token_label(&info, label, sizeof(label));
        if (strcmp(label, p11->token) == 0) {
            p11->slot = slots[i];
            return MC_OK;
        }
        int w = snprintf(seen + used, sizeof(seen) - used, "%s\"%s\"", used ? ", " : "", label);
        if (w > 0 && (size_t)w < sizeof(seen) - used)
            used += (size_t)w;
    }
    return mc_err_set(err, MC_ENOTFOUND, "PKCS#11 token \"%s\" not found in %s (tokens: %s)",
                      p11->token, p11->module_path, used ? seen : "none");
}

static int login(mc_pki_pkcs11 *p11, mc_err *err)
{
    CK_RV rv = p11->fn->C_OpenSession(p11->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                      &p11->login_session);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "C_OpenSession", p11);
    char pin[PIN_MAX];
    int rc = read_pin(p11, pin, err);
    if (rc == MC_OK) {
        rv = p11->fn->C_Login(p11->login_session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
        if (rv == CKR_PIN_INCORRECT)
            rc = mc_err_set(err, MC_EAUTH, "wrong PIN for PKCS#11 token \"%s\" (CKR_PIN_INCORRECT)",
                            p11->token);
        else if (rv == CKR_PIN_LOCKED)
            rc = mc_err_set(err, MC_EAUTH,
                            "PKCS#11 token \"%s\" is locked after too many wrong PINs "
                            "(CKR_PIN_LOCKED): its security officer must reset the user PIN",
                            p11->token);
        else if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            rc = ckr_err(err, rv, "C_Login", p11);
    }
    OPENSSL_cleanse(pin, sizeof(pin));
    p11->login_open = 1;
    return rc;
}

/* Closes this handle's sessions (idle ones and the login session) and forgets
 * the key handle. Not C_CloseAllSessions nor C_Logout: both act on every
 * session of the process on that token, another handle's too; the login ends
 * by itself with the last session. Sessions out signing come back through
 * session_give and are closed there if broken. Locked. */
static void disconnect(mc_pki_pkcs11 *p11)
{
    for (size_t i = 0; i < p11->idle_count; i++)
        p11->fn->C_CloseSession(p11->idle[i]);
    if (p11->login_open)
        p11->fn->C_CloseSession(p11->login_session);
    p11->login_open = 0;
    p11->idle_count = 0;
    p11->key_found = 0;
}

static int find_key(mc_pki_pkcs11 *p11, mc_err *err);

/* Finds the token again and logs in again: after a device or session error. Locked. */
static int reconnect(mc_pki_pkcs11 *p11, mc_err *err)
{
    disconnect(p11);
    int rc = find_slot(p11, err);
    if (rc == MC_OK)
        rc = login(p11, err);
    if (rc == MC_OK)
        rc = find_key(p11, err);
    return rc;
}

int mc_pki_pkcs11_open(const mc_pki_pkcs11_config *config, mc_pki_pkcs11 **out, mc_err *err)
{
    mc_pki_pkcs11 *p11 = calloc(1, sizeof(*p11));
    if (!p11)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    pthread_mutex_init(&p11->lock, NULL);
    int rc = parse_uri(p11, config, err);
    if (rc == MC_OK)
        rc = load_module(p11, err);
    if (rc == MC_OK)
        rc = find_slot(p11, err);
    if (rc == MC_OK)
        rc = login(p11, err);
    if (rc) {
        mc_pki_pkcs11_free(p11);
        return rc;
    }
    *out = p11;
    return MC_OK;
}

void mc_pki_pkcs11_free(mc_pki_pkcs11 *p11)
{
    if (!p11)
        return;
    if (p11->fn) {
        disconnect(p11);
        if (p11->finalize)
            p11->fn->C_Finalize(NULL);
    }
    if (p11->module)
        dlclose(p11->module);
    pthread_mutex_destroy(&p11->lock);
    OPENSSL_cleanse(p11, sizeof(*p11));
    free(p11);
}

/* ---- the session pool ---- */

static CK_RV session_take(mc_pki_pkcs11 *p11, CK_SESSION_HANDLE *session)
{
    pthread_mutex_lock(&p11->lock);
    CK_RV rv = CKR_OK;
    if (p11->idle_count > 0)
        *session = p11->idle[--p11->idle_count];
    else
        rv = p11->fn->C_OpenSession(p11->slot, CKF_SERIAL_SESSION, NULL, NULL, session);
    pthread_mutex_unlock(&p11->lock);
    return rv;
}

/* Returns a healthy session to the pool, or closes it (broken, or pool full). */
static void session_give(mc_pki_pkcs11 *p11, CK_SESSION_HANDLE session, int healthy)
{
    pthread_mutex_lock(&p11->lock);
    if (healthy && p11->idle_count < POOL_MAX)
        p11->idle[p11->idle_count++] = session;
    else
        p11->fn->C_CloseSession(session);
    pthread_mutex_unlock(&p11->lock);
}

/* ---- objects ---- */

/* Finds the objects of class with the URI's label and id: up to max handles. */
static CK_RV find_objects(mc_pki_pkcs11 *p11, CK_SESSION_HANDLE session, CK_OBJECT_CLASS class,
                          CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count)
{
    CK_ATTRIBUTE query[3] = {{CKA_CLASS, &class, sizeof(class)}};
    CK_ULONG n = 1;
    if (p11->object[0])
        query[n++] = (CK_ATTRIBUTE){CKA_LABEL, p11->object, strlen(p11->object)};
    if (p11->id_len)
        query[n++] = (CK_ATTRIBUTE){CKA_ID, p11->id, p11->id_len};
    CK_RV rv = p11->fn->C_FindObjectsInit(session, query, n);
    if (rv != CKR_OK)
        return rv;
    rv = p11->fn->C_FindObjects(session, found, max, count);
    p11->fn->C_FindObjectsFinal(session);
    return rv;
}

/* The curve of an EC key from its CKA_EC_PARAMS (a DER OID): NID or NID_undef. */
static int ec_params_nid(const unsigned char *der, CK_ULONG len)
{
    const unsigned char *p = der;
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)len);
    int nid = oid ? OBJ_obj2nid(oid) : NID_undef;
    ASN1_OBJECT_free(oid);
    return nid;
}

/* Finds the private key and learns how to sign with it. Locked (or single-threaded). */
static int find_key(mc_pki_pkcs11 *p11, mc_err *err)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    CK_RV rv = find_objects(p11, p11->login_session, CKO_PRIVATE_KEY, found, 2, &count);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "C_FindObjects", p11);
    if (count == 0)
        return mc_err_set(err, MC_ENOTFOUND, "PKCS#11 token \"%s\" holds no private key %s",
                          p11->token, p11->label);
    if (count > 1)
        return mc_err_set(err, MC_EINVAL, "%s names several private keys; add id= to the URI",
                          p11->label);
    CK_KEY_TYPE key_type = 0;
    unsigned char params[64];
    CK_ATTRIBUTE attrs[] = {{CKA_KEY_TYPE, &key_type, sizeof(key_type)},
                            {CKA_EC_PARAMS, params, sizeof(params)}};
    rv = p11->fn->C_GetAttributeValue(p11->login_session, found[0], attrs, 1);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "reading the key type", p11);
    if (key_type == CKK_RSA) {
        p11->alg = MC_PKI_SIG_RSA_SHA256;
        p11->ec_size = 0;
    } else if (key_type == CKK_EC) {
        rv = p11->fn->C_GetAttributeValue(p11->login_session, found[0], attrs + 1, 1);
        int nid = rv == CKR_OK ? ec_params_nid(params, attrs[1].ulValueLen) : NID_undef;
        if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1)
            return mc_err_set(err, MC_EUNSUPPORTED,
                              "%s: only EC P-256 and P-384 keys are supported", p11->label);
        p11->alg = nid == NID_secp384r1 ? MC_PKI_SIG_ECDSA_SHA384 : MC_PKI_SIG_ECDSA_SHA256;
        p11->ec_size = nid == NID_secp384r1 ? 48 : 32;
    } else {
        return mc_err_set(err, MC_EUNSUPPORTED, "%s: key type 0x%lx is neither RSA nor EC",
                          p11->label, (unsigned long)key_type);
    }
    p11->key = found[0];
    p11->key_found = 1;
    return MC_OK;
}

/* ---- key generation ---- */

/* An EVP_PKEY from the generated public key object's attributes. */
static int public_key_from_token(mc_pki_pkcs11 *p11, CK_OBJECT_HANDLE pub, int ec_nid,
                                 EVP_PKEY **out, mc_err *err)
{
    unsigned char a[1100], b[16];
    CK_ATTRIBUTE attrs[2] = {{ec_nid ? CKA_EC_POINT : CKA_MODULUS, a, sizeof(a)},
                             {CKA_PUBLIC_EXPONENT, b, sizeof(b)}};
    CK_RV rv = p11->fn->C_GetAttributeValue(p11->login_session, pub, attrs, ec_nid ? 1 : 2);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "reading the new public key", p11);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = NULL, *e = NULL;
    ASN1_OCTET_STRING *point = NULL;
    int ok = bld != NULL;
    if (ec_nid) {
        /* CKA_EC_POINT is the point wrapped in a DER OCTET STRING (PKCS#11 2.40) */
        const unsigned char *p = a;
        point = d2i_ASN1_OCTET_STRING(NULL, &p, (long)attrs[0].ulValueLen);
        ok = ok && point &&
             OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(ec_nid),
                                             0) &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                              ASN1_STRING_get0_data(point),
                                              (size_t)ASN1_STRING_length(point));
    } else {
        n = BN_bin2bn(a, (int)attrs[0].ulValueLen, NULL);
        e = BN_bin2bn(b, (int)attrs[1].ulValueLen, NULL);
        ok = ok && n && e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    }
    OSSL_PARAM *params = ok ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, ec_nid ? "EC" : "RSA", NULL);
    *out = NULL;
    ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
         EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    ASN1_OCTET_STRING_free(point);
    return ok ? MC_OK
              : mc_pki_ssl_err(err, MC_ECRYPTO, "decoding the public key from %s", p11->label);
}

int mc_pki_pkcs11_generate(mc_pki_pkcs11 *p11, mc_key_type type, mc_pki_key **public_key,
                           mc_err *err)
{
    static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    static const unsigned char exponent[] = {0x01, 0x00, 0x01};
    CK_OBJECT_HANDLE existing[1];
    CK_ULONG count = 0;
    CK_RV rv = find_objects(p11, p11->login_session, CKO_PRIVATE_KEY, existing, 1, &count);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "C_FindObjects", p11);
    if (count)
        return mc_err_set(err, MC_EEXISTS,
                          "PKCS#11 token \"%s\" already holds a private key %s; name another "
                          "object= or delete it",
                          p11->token, p11->label);
    /* Without id= the pair gets a random one: it ties the two halves together. */
    if (!p11->id_len && RAND_bytes(p11->id, 16) == 1)
        p11->id_len = 16;
    int ec_nid = type == MC_KEY_EC_P256   ? NID_X9_62_prime256v1
                 : type == MC_KEY_EC_P384 ? NID_secp384r1
                                          : 0;
    CK_ULONG bits = type == MC_KEY_RSA2048 ? 2048 : type == MC_KEY_RSA3072 ? 3072 : 4096;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = {ec_nid ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub_tmpl[8] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_LABEL, p11->object, strlen(p11->object)},
        {CKA_ID, p11->id, p11->id_len},
    };
    CK_ULONG pub_n = 6;
    if (ec_nid == NID_X9_62_prime256v1)
        pub_tmpl[pub_n++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256, sizeof(p256)};
    else if (ec_nid)
        pub_tmpl[pub_n++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p384, sizeof(p384)};
    else {
        pub_tmpl[pub_n++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub_tmpl[pub_n++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)exponent, sizeof(exponent)};
    }
    /* The point of the token: the private key can sign (only sign) and never
     * leave it. */
    CK_ATTRIBUTE priv_tmpl[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},      {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},      {CKA_LABEL, p11->object, strlen(p11->object)},
        {CKA_ID, p11->id, p11->id_len},
    };
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    rv = p11->fn->C_GenerateKeyPair(p11->login_session, &mech, pub_tmpl, pub_n, priv_tmpl,
                                    sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &pub, &priv);
    if (rv != CKR_OK)
        return ckr_err(err, rv, "generating a key pair (C_GenerateKeyPair)", p11);
    EVP_PKEY *pkey = NULL;
    int rc = public_key_from_token(p11, pub, ec_nid, &pkey, err);
    if (rc)
        return rc;
    *public_key = calloc(1, sizeof(**public_key));
    if (!*public_key) {
        EVP_PKEY_free(pkey);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    (*public_key)->pkey = pkey;
    return MC_OK;
}

int mc_pki_pkcs11_delete_key(mc_pki_pkcs11 *p11, mc_err *err)
{
    static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    for (size_t c = 0; c < 2; c++) {
        CK_OBJECT_HANDLE found[4];
        CK_ULONG count = 0;
        CK_RV rv = find_objects(p11, p11->login_session, classes[c], found, 4, &count);
        for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++)
            rv = p11->fn->C_DestroyObject(p11->login_session, found[i]);
        if (rv != CKR_OK)
            return ckr_err(err, rv, "deleting the key pair (C_DestroyObject)", p11);
    }
    p11->key_found = 0;
    return MC_OK;
}

/* ---- signing ---- */

/* CKM_ECDSA gives r||s, each ec_size bytes; X.509 wants ECDSA-Sig-Value DER. */
static int ecdsa_to_der(const unsigned char *raw, size_t ec_size, unsigned char *sig,
                        size_t *sig_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)ec_size, NULL),
           *s = BN_bin2bn(raw + ec_size, (int)ec_size, NULL);
    int ok = es && r && s && ECDSA_SIG_set0(es, r, s);
    if (!ok) {
        BN_free(r);
        BN_free(s);
    }
    int len = ok ? i2d_ECDSA_SIG(es, NULL) : 0;
    if (len > 0 && (size_t)len <= MC_PKI_SIG_MAX) {
        unsigned char *p = sig;
        len = i2d_ECDSA_SIG(es, &p);
    } else {
        len = 0;
    }
    ECDSA_SIG_free(es);
    *sig_len = len > 0 ? (size_t)len : 0;
    return len > 0;
}

/* One signature in one session: the token's return value. */
static CK_RV sign_once(mc_pki_pkcs11 *p11, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                       const unsigned char *data, size_t len, unsigned char *sig, size_t *sig_len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    CK_MECHANISM mech = {p11->ec_size ? CKM_ECDSA : CKM_SHA256_RSA_PKCS, NULL, 0};
    const unsigned char *input = data;
    CK_ULONG input_len = len;
    if (p11->ec_size) {
        if (!EVP_Digest(data, len, digest, &digest_len,
                        p11->ec_size == 48 ? EVP_sha384() : EVP_sha256(), NULL))
            return CKR_FUNCTION_FAILED;
        input = digest;
        input_len = digest_len;
    }
    CK_RV rv = p11->fn->C_SignInit(session, &mech, key);
    if (rv != CKR_OK)
        return rv;
    unsigned char raw[MC_PKI_SIG_MAX];
    CK_ULONG raw_len = sizeof(raw);
    rv = p11->fn->C_Sign(session, (CK_BYTE *)input, input_len, raw, &raw_len);
    if (rv != CKR_OK)
        return rv;
    if (!p11->ec_size) {
        memcpy(sig, raw, raw_len);
        *sig_len = raw_len;
        return CKR_OK;
    }
    if (raw_len != 2 * p11->ec_size || !ecdsa_to_der(raw, p11->ec_size, sig, sig_len))
        return CKR_FUNCTION_FAILED;
    return CKR_OK;
}

/* The back end's sign: a pooled session; after a session or device error
 * one reconnect and one retry. */
static int pkcs11_sign(void *impl, const unsigned char *data, size_t len, unsigned char *sig,
                       size_t *sig_len, mc_err *err)
{
    mc_pki_pkcs11 *p11 = impl;
    CK_RV rv = CKR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&p11->lock);
        int rc = p11->key_found ? MC_OK : reconnect(p11, err);
        CK_OBJECT_HANDLE key = p11->key;
        pthread_mutex_unlock(&p11->lock);
        if (rc)
            return rc;
        CK_SESSION_HANDLE session = 0;
        rv = session_take(p11, &session);
        if (rv == CKR_OK) {
            rv = sign_once(p11, session, key, data, len, sig, sig_len);
            session_give(p11, session, rv == CKR_OK);
        }
        if (rv == CKR_OK)
            return MC_OK;
        if (!ckr_is_reconnectable(rv))
            break;
        pthread_mutex_lock(&p11->lock);
        p11->key_found = 0; /* the next attempt reconnects */
        pthread_mutex_unlock(&p11->lock);
    }
    return ckr_err(err, rv, "C_Sign", p11);
}

int mc_pki_pkcs11_backend(mc_pki_pkcs11 *p11, mc_pki_key_backend *out, mc_err *err)
{
    pthread_mutex_lock(&p11->lock);
    int rc = p11->key_found ? MC_OK : find_key(p11, err);
    pthread_mutex_unlock(&p11->lock);
    if (rc)
        return rc;
    *out = (mc_pki_key_backend){p11->alg, pkcs11_sign, p11, p11->label};
    return MC_OK;
}
