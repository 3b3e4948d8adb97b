/* schema.c - structural schema validation and pruning of custom resources
 * (see schema.h), following kube-apiserver's apiextensions rules.
 *
 * One recursive walk does everything kube does in three passes: drop nulls
 * of non-nullable fields, prune (or, in strict mode, report) fields the schema
 * does not declare, and validate what remains. Every error is collected with
 * its field path, and the message joins them the way kube's aggregate errors
 * do ("[a, b]" for several).
 */
#include "server/schema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/buf.h"

#define PATH_MAX_LEN 512
#define ERRORS_MAX   16

typedef struct walk {
    int mode;       /* MC_SERVER_SCHEMA_* */
    mc_buf invalid; /* "a, b" of validation errors */
    size_t n_invalid;
    mc_buf unknown; /* strict mode: unknown field "x", ... */
    size_t n_unknown;
    json_t *pruned; /* prune mode: paths of the dropped fields, or NULL */
    json_t *causes; /* Status causes of the invalid values, or NULL */
    int nomem;
} walk;

/* A field path being built: "spec.hosts[0]". */
typedef struct path {
    char text[PATH_MAX_LEN];
    size_t len;
} path;

static size_t path_push_key(path *p, const char *key)
{
    size_t old = p->len;
    int n = snprintf(p->text + p->len, sizeof(p->text) - p->len, "%s%s", p->len ? "." : "", key);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->text) ? p->len + (size_t)n : sizeof(p->text) - 1;
    return old;
}

static size_t path_push_index(path *p, size_t i)
{
    size_t old = p->len;
    int n = snprintf(p->text + p->len, sizeof(p->text) - p->len, "[%zu]", i);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->text) ? p->len + (size_t)n : sizeof(p->text) - 1;
    return old;
}

static void path_pop(path *p, size_t old)
{
    p->len = old;
    p->text[old] = '\0';
}

static const char *path_name(const path *p)
{
    return p->len ? p->text : "body";
}

/* "field: Kind of problem: detail" as a Status cause {reason, message, field},
 * with kube's reason for each kind of field error. */
static void add_cause(walk *w, const char *msg)
{
    static const struct {
        const char *prefix, *reason;
    } reasons[] = {
        {"Invalid value", "FieldValueInvalid"},
        {"Required value", "FieldValueRequired"},
        {"Unsupported value", "FieldValueNotSupported"},
        {"Too long", "FieldValueTooLong"},
        {"Too many", "FieldValueTooMany"},
    };
    const char *sep = strstr(msg, ": ");
    if (!sep)
        return;
    const char *rest = sep + 2;
    const char *reason = "FieldValueInvalid";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (!strncmp(rest, reasons[i].prefix, strlen(reasons[i].prefix)))
            reason = reasons[i].reason;
    json_t *cause = json_pack("{s:s, s:s, s:s%}", "reason", reason, "message", rest, "field", msg,
                              (size_t)(sep - msg));
    if (!cause || json_array_append_new(w->causes, cause) != 0)
        w->nomem = 1;
}

static void add_error(walk *w, mc_buf *list, size_t *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(walk *w, mc_buf *list, size_t *count, const char *fmt, ...)
{
    char msg[MC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (*count)++;
    if (list == &w->invalid && w->causes)
        add_cause(w, msg);
    if (*count > ERRORS_MAX)
        return;
    if ((list->len && mc_buf_append_str(list, ", ") != 0) || mc_buf_append_str(list, msg) != 0)
        w->nomem = 1;
}

#define INVALID(w, ...) add_error((w), &(w)->invalid, &(w)->n_invalid, __VA_ARGS__)

/* kube's names of JSON types in messages. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* The value as kube quotes it in "Invalid value: <v>": strings quoted,
 * numbers bare, objects and arrays by type. */
static void value_text(const json_t *v, char *out, size_t size)
{
    if (json_is_string(v))
        snprintf(out, size, "\"%.*s\"", 200, json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, size, "%s", json_is_true(v) ? "true" : "false");
    else
        snprintf(out, size, "\"%s\"", type_name(v));
}

static int flag(const json_t *schema, const char *key)
{
    return json_is_true(json_object_get(schema, key));
}

static const char *schema_type(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "type"));
}

static int type_matches(const json_t *schema, const json_t *v)
{
    const char *type = schema_type(schema);
    if (flag(schema, "x-kubernetes-int-or-string"))
        return json_is_integer(v) || json_is_string(v);
    if (!type || !*type)
        return 1;
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    return 0;
}

static size_t utf8_length(const char *s, size_t n)
{
    size_t runes = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            runes++;
    return runes;
}

static void check_enum(walk *w, const json_t *schema, const json_t *v, const path *p)
{
    const json_t *values = json_object_get(schema, "enum");
    if (!json_is_array(values) || json_array_size(values) == 0)
        return;
    size_t i;
    const json_t *e;
    json_array_foreach(values, i, e)
    {
        if (json_equal((json_t *)e, (json_t *)v))
            return;
    }
    char list[256] = "";
    size_t used = 0;
    json_array_foreach(values, i, e)
    {
        char one[96];
        value_text(e, one, sizeof(one));
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", one);
        if (n < 0 || used + (size_t)n >= sizeof(list))
            break;
        used += (size_t)n;
    }
    char vt[256];
    value_text(v, vt, sizeof(vt));
    INVALID(w, "%s: Unsupported value: %s: supported values: %s", path_name(p), vt, list);
}

/* Whether a CRD's pattern is one this server will run: at most
 * PATTERN_MAX_LEN bytes, every repetition bound at most 1000 (RE2's limit,
 * which kube-apiserver inherits), and the product of all bounds at most
 * PATTERN_MAX_EXPANSION, since POSIX regcomp expands bounded repetitions
 * and nested ones multiply ("((a{1,1000}){1,1000}){1,1000}" would take
 * gigabytes), while RE2 refuses them. */
#define PATTERN_MAX_LEN       1024
#define PATTERN_MAX_REPEAT    1000
#define PATTERN_MAX_EXPANSION 100000

static int pattern_is_bounded(const char *pattern)
{
    if (strlen(pattern) > PATTERN_MAX_LEN)
        return 0;
    long long expansion = 1;
    for (const char *p = pattern; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        /* "{n}", "{n,}", "{m,n}": the largest number counts */
        long most = 1;
        for (const char *q = p + 1; *q && *q != '}';) {
            char *end = NULL;
            long n = *q >= '0' && *q <= '9' ? strtol(q, &end, 10) : 0;
            if (n > PATTERN_MAX_REPEAT)
                return 0;
            most = n > most ? n : most;
            q = end && end > q ? end : q + 1;
        }
        expansion *= most;
        if (expansion > PATTERN_MAX_EXPANSION)
            return 0;
    }
    return 1;
}

/* Whether s matches pattern, a POSIX extended regular expression (the part
 * of kube's RE2 syntax CRD patterns use: anchors, classes, groups,
 * alternation, repetition). A pattern that does not compile, or whose
 * repetitions are unbounded in cost, matches nothing;
 * mc_server_schema_check refuses such a CRD before it serves. */
static int matches_pattern(const char *pattern, const char *s)
{
    regex_t re;
    if (!pattern_is_bounded(pattern) || regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int match = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return match;
}

static void check_string(walk *w, const json_t *schema, const json_t *v, const path *p)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    char vt[256];
    value_text(v, vt, sizeof(vt));
    const json_t *min = json_object_get(schema, "minLength");
    const json_t *max = json_object_get(schema, "maxLength");
    size_t runes = utf8_length(s, len);
    if (json_is_integer(min) && (json_int_t)runes < json_integer_value(min))
        INVALID(w, "%s: Invalid value: %s: %s in body should be at least %lld chars long",
                path_name(p), vt, path_name(p), (long long)json_integer_value(min));
    if (json_is_integer(max) && (json_int_t)runes > json_integer_value(max))
        INVALID(w, "%s: Too long: may not be more than %lld bytes", path_name(p),
                (long long)json_integer_value(max));
    const char *pattern = json_string_value(json_object_get(schema, "pattern"));
    if (pattern && !matches_pattern(pattern, s))
        INVALID(w, "%s: Invalid value: %s: %s in body should match '%s'", path_name(p), vt,
                path_name(p), pattern);
    const char *format = json_string_value(json_object_get(schema, "format"));
    if (format && !strcmp(format, "byte")) {
        unsigned char *decoded = NULL;
        size_t decoded_len = 0;
        if (mc_base64_decode(s, len, &decoded, &decoded_len, NULL) != 0)
            INVALID(w, "%s: Invalid value: %s: %s in body must be of type byte: %s", path_name(p),
                    vt, path_name(p), vt);
        free(decoded);
    }
}

static void check_number(walk *w, const json_t *schema, const json_t *v, const path *p)
{
    double x = json_number_value(v);
    char vt[64];
    value_text(v, vt, sizeof(vt));
    const json_t *min = json_object_get(schema, "minimum");
    const json_t *max = json_object_get(schema, "maximum");
    int exclusive_min = flag(schema, "exclusiveMinimum");
    int exclusive_max = flag(schema, "exclusiveMaximum");
    if (json_is_number(min)) {
        double m = json_number_value(min);
        if (exclusive_min ? x <= m : x < m)
            INVALID(w, "%s: Invalid value: %s: %s in body should be greater than %s%g",
                    path_name(p), vt, path_name(p), exclusive_min ? "" : "or equal to ", m);
    }
    if (json_is_number(max)) {
        double m = json_number_value(max);
        if (exclusive_max ? x >= m : x > m)
            INVALID(w, "%s: Invalid value: %s: %s in body should be less than %s%g", path_name(p),
                    vt, path_name(p), exclusive_max ? "" : "or equal to ", m);
    }
    const char *format = json_string_value(json_object_get(schema, "format"));
    if (format && !strcmp(format, "int32") && json_is_integer(v) &&
        (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX))
        INVALID(w, "%s: Invalid value: %s: %s in body must be of type int32: %s", path_name(p), vt,
                path_name(p), vt);
}

static void validate_node(walk *w, const json_t *schema, json_t *v, path *p, int root);

/* Whether a key of an object is kept without a schema: apiVersion, kind and
 * metadata of the root and of embedded resources. */
static int is_type_meta(const char *key)
{
    return !strcmp(key, "apiVersion") || !strcmp(key, "kind") || !strcmp(key, "metadata");
}

static void unknown_field(walk *w, json_t *obj, const char *key, path *p)
{
    if (w->mode == MC_SERVER_SCHEMA_PRUNE) {
        if (w->pruned && json_array_size(w->pruned) < ERRORS_MAX) {
            size_t old = path_push_key(p, key);
            json_array_append_new(w->pruned, json_string(p->text));
            path_pop(p, old);
        }
        json_object_del(obj, key);
    } else if (w->mode == MC_SERVER_SCHEMA_STRICT) {
        size_t old = path_push_key(p, key);
        add_error(w, &w->unknown, &w->n_unknown, "unknown field \"%s\"", p->text);
        path_pop(p, old);
    }
}

static void validate_object(walk *w, const json_t *schema, json_t *obj, path *p, int root)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *additional = json_object_get(schema, "additionalProperties");
    int preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    int embedded = root || flag(schema, "x-kubernetes-embedded-resource");
    const char *key;
    json_t *child, *tmp;
    json_object_foreach_safe(obj, tmp, key, child)
    {
        if (embedded && is_type_meta(key))
            continue;
        const json_t *sub = json_is_object(props) ? json_object_get(props, key) : NULL;
        if (!sub && json_is_object(additional))
            sub = additional;
        if (!sub) {
            if (!preserve && !json_is_true(additional))
                unknown_field(w, obj, key, p);
            continue;
        }
        size_t old = path_push_key(p, key);
        if (json_is_null(child) && !flag(sub, "nullable")) {
            /* kube drops nulls of non-nullable fields before validating */
            if (w->mode != MC_SERVER_SCHEMA_KEEP)
                json_object_del(obj, key);
            else
                INVALID(w, "%s: Invalid value: \"null\": %s in body must be of type %s: \"null\"",
                        p->text, p->text, schema_type(sub) ? schema_type(sub) : "object");
        } else {
            validate_node(w, sub, child, p, 0);
        }
        path_pop(p, old);
    }
    const json_t *required = json_object_get(schema, "required");
    size_t i;
    const json_t *name;
    json_array_foreach(required, i, name)
    {
        if (!json_is_string(name) || json_object_get(obj, json_string_value(name)))
            continue;
        size_t old = path_push_key(p, json_string_value(name));
        INVALID(w, "%s: Required value", p->text);
        path_pop(p, old);
    }
}

static void validate_array(walk *w, const json_t *schema, json_t *arr, path *p)
{
    const json_t *items = json_object_get(schema, "items");
    const json_t *min = json_object_get(schema, "minItems");
    const json_t *max = json_object_get(schema, "maxItems");
    size_t n = json_array_size(arr);
    if (json_is_integer(min) && (json_int_t)n < json_integer_value(min))
        INVALID(w, "%s: Invalid value: %zu: %s in body should have at least %lld items",
                path_name(p), n, path_name(p), (long long)json_integer_value(min));
    if (json_is_integer(max) && (json_int_t)n > json_integer_value(max))
        INVALID(w, "%s: Too many: %zu: must have at most %lld items", path_name(p), n,
                (long long)json_integer_value(max));
    if (!json_is_object(items))
        return;
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        size_t old = path_push_index(p, i);
        if (json_is_null(item) && flag(items, "nullable")) {
            path_pop(p, old);
            continue;
        }
        validate_node(w, items, item, p, 0);
        path_pop(p, old);
    }
}

static void validate_node(walk *w, const json_t *schema, json_t *v, path *p, int root)
{
    if (json_is_null(v) && flag(schema, "nullable"))
        return;
    if (!type_matches(schema, v)) {
        const char *type = schema_type(schema);
        if (flag(schema, "x-kubernetes-int-or-string"))
            type = "integer,string";
        INVALID(w, "%s: Invalid value: \"%s\": %s in body must be of type %s: \"%s\"", path_name(p),
                type_name(v), path_name(p), type ? type : "object", type_name(v));
        return;
    }
    check_enum(w, schema, v, p);
    if (json_is_string(v))
        check_string(w, schema, v, p);
    else if (json_is_number(v))
        check_number(w, schema, v, p);
    else if (json_is_array(v))
        validate_array(w, schema, v, p);
    else if (json_is_object(v))
        validate_object(w, schema, v, p, root);
}

/* Writes "msg" or "[msg, msg]" (kube's aggregate form) into err. */
static int finish(const mc_buf *list, size_t count, int code, const char *prefix, mc_err *err)
{
    const char *text = list->data ? list->data : "";
    const char *more = count > ERRORS_MAX ? ", ..." : "";
    if (count == 1)
        return mc_err_set(err, code, "%s%s", prefix, text);
    return mc_err_set(err, code, "%s[%s%s]", prefix, text, more);
}

int mc_server_schema_validate(const json_t *schema, json_t *obj, int prune, mc_err *err)
{
    return mc_server_schema_validate_causes(schema, obj, prune, NULL, err);
}

int mc_server_schema_validate_causes(const json_t *schema, json_t *obj, int prune, json_t **causes,
                                     mc_err *err)
{
    return mc_server_schema_validate_full(schema, obj, prune, causes, NULL, err);
}

int mc_server_schema_validate_full(const json_t *schema, json_t *obj, int prune, json_t **causes,
                                   json_t **pruned, mc_err *err)
{
    walk w = {.mode = prune};
    if (pruned)
        *pruned = NULL;
    path p = {.text = "", .len = 0};
    int rc = 0;
    if (causes)
        *causes = NULL;
    if (!json_is_object(schema) || !obj)
        return mc_err_set(err, MC_EINVAL, "no schema to validate against");
    if (causes && !(w.causes = json_array()))
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if (pruned && prune == MC_SERVER_SCHEMA_PRUNE)
        w.pruned = json_array();
    mc_buf_init(&w.invalid, 64 * 1024);
    mc_buf_init(&w.unknown, 64 * 1024);
    validate_node(&w, schema, obj, &p, 1);
    if (w.nomem)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    else if (w.n_unknown)
        rc = finish(&w.unknown, w.n_unknown, MC_EUNSUPPORTED, "strict decoding error: ", err);
    else if (w.n_invalid)
        rc = finish(&w.invalid, w.n_invalid, MC_EINVAL, "", err);
    mc_buf_free(&w.invalid);
    mc_buf_free(&w.unknown);
    if (causes && rc == MC_EINVAL)
        *causes = w.causes;
    else
        json_decref(w.causes);
    if (pruned && rc == MC_OK && json_array_size(w.pruned) > 0)
        *pruned = w.pruned;
    else
        json_decref(w.pruned);
    return rc;
}

/* ---- structural checks of a CRD schema ---- */

static int is_known_type(const char *t)
{
    return !strcmp(t, "object") || !strcmp(t, "array") || !strcmp(t, "string") ||
           !strcmp(t, "integer") || !strcmp(t, "number") || !strcmp(t, "boolean");
}

static int check_node(const json_t *schema, path *p, int root, mc_err *err);

static const char *at(const path *p, const char *field, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s", p->text, p->len ? "." : "", field);
    return out;
}

static int check_properties(const json_t *props, path *p, mc_err *err)
{
    char buf[PATH_MAX_LEN + 32];
    if (!json_is_object(props))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an object of schemas",
                          at(p, "properties", buf, sizeof(buf)));
    const char *key;
    const json_t *sub;
    json_object_foreach((json_t *)props, key, sub)
    {
        size_t old = p->len;
        int n = snprintf(p->text + p->len, sizeof(p->text) - p->len, "%sproperties[%s]",
                         p->len ? "." : "", key);
        if (n < 0 || p->len + (size_t)n >= sizeof(p->text))
            return mc_err_set(err, MC_EINVAL, "schema nested too deeply");
        p->len += (size_t)n;
        int rc = check_node(sub, p, 0, err);
        path_pop(p, old);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_child(const json_t *sub, const char *name, path *p, mc_err *err)
{
    size_t old = p->len;
    int n = snprintf(p->text + p->len, sizeof(p->text) - p->len, "%s%s", p->len ? "." : "", name);
    if (n < 0 || p->len + (size_t)n >= sizeof(p->text))
        return mc_err_set(err, MC_EINVAL, "schema nested too deeply");
    p->len += (size_t)n;
    int rc = check_node(sub, p, 0, err);
    path_pop(p, old);
    return rc;
}

static int check_node(const json_t *schema, path *p, int root, mc_err *err)
{
    char buf[PATH_MAX_LEN + 32];
    if (!json_is_object(schema))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be a schema object",
                          p->len ? p->text : "openAPIV3Schema");
    const json_t *type = json_object_get(schema, "type");
    int preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    int int_or_string = flag(schema, "x-kubernetes-int-or-string");
    if (type && !json_is_string(type))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be a string",
                          at(p, "type", buf, sizeof(buf)));
    const char *t = type ? json_string_value(type) : "";
    if (!*t && !preserve && !int_or_string)
        return mc_err_set(err, MC_EINVAL, "%s: Required value: must not be empty %s",
                          at(p, "type", buf, sizeof(buf)),
                          root ? "at the root" : "for specified object fields");
    if (*t && !is_known_type(t))
        return mc_err_set(
            err, MC_EINVAL,
            "%s: Unsupported value: \"%s\": supported values: \"array\", \"boolean\", "
            "\"integer\", \"number\", \"object\", \"string\"",
            at(p, "type", buf, sizeof(buf)), t);
    if (root && strcmp(t, "object") != 0)
        return mc_err_set(err, MC_EINVAL, "type: Invalid value: \"%s\": must be object at the root",
                          t);
    if (int_or_string && *t)
        return mc_err_set(
            err, MC_EINVAL,
            "%s: Invalid value: \"%s\": must be empty if x-kubernetes-int-or-string is true",
            at(p, "type", buf, sizeof(buf)), t);
    const json_t *props = json_object_get(schema, "properties");
    const json_t *additional = json_object_get(schema, "additionalProperties");
    const json_t *items = json_object_get(schema, "items");
    if (props && strcmp(t, "object") != 0)
        return mc_err_set(err, MC_EINVAL, "%s: Forbidden: only allowed for type object",
                          at(p, "properties", buf, sizeof(buf)));
    if (props && additional)
        return mc_err_set(err, MC_EINVAL,
                          "%s: Forbidden: additionalProperties and properties are mutual exclusive",
                          at(p, "additionalProperties", buf, sizeof(buf)));
    if (additional && !json_is_object(additional) && !json_is_boolean(additional))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be a schema or a boolean",
                          at(p, "additionalProperties", buf, sizeof(buf)));
    if (json_is_false(additional))
        return mc_err_set(err, MC_EINVAL,
                          "%s: Forbidden: additionalProperties: false is not allowed",
                          at(p, "additionalProperties", buf, sizeof(buf)));
    if (!strcmp(t, "array") && !items)
        return mc_err_set(err, MC_EINVAL, "%s: Required value: must be specified",
                          at(p, "items", buf, sizeof(buf)));
    if (items && strcmp(t, "array") != 0)
        return mc_err_set(err, MC_EINVAL, "%s: Forbidden: only allowed for type array",
                          at(p, "items", buf, sizeof(buf)));
    const json_t *required = json_object_get(schema, "required");
    if (required) {
        size_t i;
        const json_t *r;
        if (!json_is_array(required))
            return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an array of strings",
                              at(p, "required", buf, sizeof(buf)));
        json_array_foreach(required, i, r)
        {
            if (!json_is_string(r))
                return mc_err_set(err, MC_EINVAL, "%s[%zu]: Invalid value: must be a string",
                                  at(p, "required", buf, sizeof(buf)), i);
        }
    }
    const json_t *pattern = json_object_get(schema, "pattern");
    if (pattern) {
        regex_t re;
        if (!json_is_string(pattern) || !pattern_is_bounded(json_string_value(pattern)))
            return mc_err_set(err, MC_EINVAL,
                              "%s: Invalid value: must be at most %d bytes with repetition bounds "
                              "of at most %d (together at most %d)",
                              at(p, "pattern", buf, sizeof(buf)), PATTERN_MAX_LEN,
                              PATTERN_MAX_REPEAT, PATTERN_MAX_EXPANSION);
        if (regcomp(&re, json_string_value(pattern), REG_EXTENDED | REG_NOSUB) != 0)
            return mc_err_set(err, MC_EINVAL,
                              "%s: Invalid value: must be a valid regular expression (POSIX "
                              "extended syntax)",
                              at(p, "pattern", buf, sizeof(buf)));
        regfree(&re);
    }
    const json_t *values = json_object_get(schema, "enum");
    if (values && !json_is_array(values))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an array",
                          at(p, "enum", buf, sizeof(buf)));
    if (props && check_properties(props, p, err) != 0)
        return MC_EINVAL;
    if (json_is_object(additional) && check_child(additional, "additionalProperties", p, err) != 0)
        return MC_EINVAL;
    if (items && check_child(items, "items", p, err) != 0)
        return MC_EINVAL;
    return 0;
}

int mc_server_schema_check(const json_t *schema, mc_err *err)
{
    path p = {.text = "", .len = 0};
    return check_node(schema, &p, 1, err);
}

/* ---- built-in kinds ---- */

#define TYPE_META "\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"}," \
                  "\"metadata\":{\"type\":\"object\"},"
#define STRING_MAP "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}"
#define BYTES_MAP                                                                              \
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"format\":\"byte\"}}"
#define ANY_OBJECT "{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}"
#define ANY_ARRAY                                                                              \
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}"
#define STR "{\"type\":\"string\"}"
#define INT "{\"type\":\"integer\"}"
#define BOOL "{\"type\":\"boolean\"}"

#define STRINGS "{\"type\":\"array\",\"items\":" STR "}"
/* rbac.authorization.k8s.io/v1 PolicyRule, RoleRef and Subject; their rules
 * beyond types are validation.c's. */
#define RBAC_RULES                                                                                 \
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"verbs\":" STRINGS        \
    ",\"apiGroups\":" STRINGS ",\"resources\":" STRINGS ",\"resourceNames\":" STRINGS              \
    ",\"nonResourceURLs\":" STRINGS "}}}"
#define RBAC_ROLE_REF                                                                              \
    "{\"type\":\"object\",\"properties\":{"                                                        \
    "\"apiGroup\":" STR ",\"kind\":" STR ",\"name\":" STR "}}"
#define RBAC_SUBJECTS                                                                              \
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"kind\":" STR             \
    ",\"apiGroup\":" STR ",\"name\":" STR ",\"namespace\":" STR "}}}"

/* Top-level fields as in k8s.io/api core/v1, apps/v1, policy/v1,
 * coordination/v1 and rbac/v1; nested structures the server does not model
 * are kept as they come. */
static const struct {
    const char *store_name;
    const char *schema;
} builtin_schemas[] = {
    {"core/configmaps", "{\"type\":\"object\",\"properties\":{" TYPE_META
                        "\"immutable\":" BOOL ",\"data\":" STRING_MAP ",\"binaryData\":" BYTES_MAP
                        "}}"},
    {"core/secrets", "{\"type\":\"object\",\"properties\":{" TYPE_META "\"type\":" STR
                     ",\"immutable\":" BOOL ",\"data\":" BYTES_MAP ",\"stringData\":" STRING_MAP
                     "}}"},
    {"core/namespaces",
     "{\"type\":\"object\",\"properties\":{" TYPE_META
     "\"spec\":{\"type\":\"object\",\"properties\":{\"finalizers\":{\"type\":\"array\",\"items\":" STR
     "}}},\"status\":{\"type\":\"object\",\"properties\":{\"phase\":" STR
     ",\"conditions\":" ANY_ARRAY "}}}}"},
    {"core/serviceaccounts", "{\"type\":\"object\",\"properties\":{" TYPE_META
                             "\"secrets\":" ANY_ARRAY ",\"imagePullSecrets\":" ANY_ARRAY
                             ",\"automountServiceAccountToken\":" BOOL "}}"},
    {"core/pods", "{\"type\":\"object\",\"properties\":{" TYPE_META "\"spec\":" ANY_OBJECT
                  ",\"status\":" ANY_OBJECT "}}"},
    {"core/events",
     "{\"type\":\"object\",\"properties\":{" TYPE_META "\"involvedObject\":" ANY_OBJECT
     ",\"reason\":" STR ",\"message\":" STR ",\"source\":" ANY_OBJECT ",\"firstTimestamp\":" STR
     ",\"lastTimestamp\":" STR ",\"count\":" INT ",\"type\":" STR ",\"eventTime\":" STR
     ",\"series\":" ANY_OBJECT ",\"action\":" STR ",\"related\":" ANY_OBJECT
     ",\"reportingComponent\":" STR ",\"reportingInstance\":" STR "}}"},
    {"coordination.k8s.io/leases",
     "{\"type\":\"object\",\"properties\":{" TYPE_META
     "\"spec\":{\"type\":\"object\",\"properties\":{\"holderIdentity\":" STR
     ",\"leaseDurationSeconds\":" INT ",\"acquireTime\":" STR ",\"renewTime\":" STR
     ",\"leaseTransitions\":" INT ",\"strategy\":" STR ",\"preferredHolder\":" STR "}}}}"},
    {"apps/deployments", "{\"type\":\"object\",\"properties\":{" TYPE_META
                         "\"spec\":" ANY_OBJECT ",\"status\":" ANY_OBJECT "}}"},
    {"policy/poddisruptionbudgets", "{\"type\":\"object\",\"properties\":{" TYPE_META
                                    "\"spec\":" ANY_OBJECT ",\"status\":" ANY_OBJECT "}}"},
    {"rbac.authorization.k8s.io/roles",
     "{\"type\":\"object\",\"properties\":{" TYPE_META "\"rules\":" RBAC_RULES "}}"},
    {"rbac.authorization.k8s.io/clusterroles",
     "{\"type\":\"object\",\"properties\":{" TYPE_META "\"rules\":" RBAC_RULES
     ",\"aggregationRule\":" ANY_OBJECT "}}"},
    {"rbac.authorization.k8s.io/rolebindings",
     "{\"type\":\"object\",\"properties\":{" TYPE_META
     "\"roleRef\":" RBAC_ROLE_REF ",\"subjects\":" RBAC_SUBJECTS "}}"},
    {"rbac.authorization.k8s.io/clusterrolebindings",
     "{\"type\":\"object\",\"properties\":{" TYPE_META
     "\"roleRef\":" RBAC_ROLE_REF ",\"subjects\":" RBAC_SUBJECTS "}}"},
    {"apiextensions.k8s.io/customresourcedefinitions",
     "{\"type\":\"object\",\"properties\":{" TYPE_META "\"spec\":" ANY_OBJECT
     ",\"status\":" ANY_OBJECT "}}"},
};

json_t *mc_server_schema_builtin(const char *store_name)
{
    for (size_t i = 0; i < sizeof(builtin_schemas) / sizeof(builtin_schemas[0]); i++)
        if (strcmp(builtin_schemas[i].store_name, store_name) == 0)
            return json_loads(builtin_schemas[i].schema, 0, NULL);
    return NULL;
}
