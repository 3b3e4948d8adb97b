/* codec.c - getters, omitempty setters and in-place child editing shared by
 * every typed codec in api/ (see codec.h for the unknown-field rule).
 *
 * Getters never modify the document; setters work on the deep copy that
 * mc_codec_begin made, so a failed encode leaves the caller's struct intact.
 */
#include "api/codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "util/base64.h"
#include "util/str.h"

int mc_api_json_parse(const char *text, size_t len, json_t **out, mc_err *err)
{
    json_error_t jerr;
    if (len > MC_API_JSON_MAX)
        return mc_err_set(err, MC_ELIMIT, "JSON document of %zu bytes exceeds the %u byte limit",
                          len, MC_API_JSON_MAX);
    json_t *json = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!json)
        return mc_err_set(err, MC_EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
                          jerr.column, jerr.text);
    *out = json;
    return 0;
}

void mc_codec_ctx_init(mc_codec_ctx *ctx, const char *kind, const json_t *obj)
{
    const json_t *meta = json_is_object(obj) ? json_object_get(obj, "metadata") : NULL;
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name)
        name = json_string_value(json_object_get(meta, "generateName"));
    if (ns && *ns)
        snprintf(ctx->what, sizeof(ctx->what), "%s %.100s/%.150s", kind, ns, name ? name : "");
    else
        snprintf(ctx->what, sizeof(ctx->what), "%s %.150s", kind, name ? name : "");
}

bool mc_codec_is_empty(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_NULL:
    case JSON_FALSE: return true;
    case JSON_STRING: return json_string_length(value) == 0;
    case JSON_INTEGER: return json_integer_value(value) == 0;
    case JSON_REAL: return json_real_value(value) == 0.0;
    case JSON_OBJECT: return json_object_size(value) == 0;
    case JSON_ARRAY: return json_array_size(value) == 0;
    default: return false;
    }
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int wrong_type(const json_t *v, const char *expected, const mc_codec_ctx *ctx,
                      const char *path, mc_err *err)
{
    return mc_err_set(err, MC_EINVAL, "%s: %s: expected %s, got %s", ctx->what, path, expected,
                      type_name(v));
}

/* The value at obj[key], or NULL when obj is not an object, key is absent or null. */
static const json_t *lookup(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

int mc_codec_get_string(const json_t *obj, const char *key, char **out, const mc_codec_ctx *ctx,
                        const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return wrong_type(v, "a string", ctx, path, err);
    char *copy = mc_strndup(json_string_value(v), json_string_length(v));
    if (!copy)
        return mc_err_set(err, MC_ENOMEM, "%s: %s: out of memory", ctx->what, path);
    free(*out);
    *out = copy;
    return 0;
}

int mc_codec_get_time(const json_t *obj, const char *key, char **out, const mc_codec_ctx *ctx,
                      const char *path, mc_err *err)
{
    int rc = mc_codec_get_string(obj, key, out, ctx, path, err);
    if (rc != 0 || !*out)
        return rc;
    int64_t seconds;
    rc = mc_time_parse(*out, &seconds, NULL, err);
    if (rc != 0)
        return mc_err_prefix(err, "%s: %s", ctx->what, path);
    return 0;
}

int mc_codec_get_int64(const json_t *obj, const char *key, int64_t *out,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (*s && (*s == '-' || (*s >= '0' && *s <= '9')) && *end == '\0' && errno == 0 &&
            json_string_length(v) == strlen(s)) {
            *out = n;
            return 0;
        }
    }
    return wrong_type(v, "an integer", ctx, path, err);
}

int mc_codec_get_bool(const json_t *obj, const char *key, bool *out, const mc_codec_ctx *ctx,
                      const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(v, "a boolean", ctx, path, err);
    *out = json_is_true(v);
    return 0;
}

int mc_codec_get_bytes(const json_t *obj, const char *key, unsigned char **out, size_t *out_len,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return wrong_type(v, "a base64 string", ctx, path, err);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = mc_base64_decode(json_string_value(v), json_string_length(v), &data, &len, err);
    if (rc != 0)
        return mc_err_prefix(err, "%s: %s", ctx->what, path);
    if (*out)
        mc_secure_free(*out, *out_len);
    *out = data;
    *out_len = len;
    return 0;
}

int mc_codec_get_object(const json_t *obj, const char *key, const json_t **out,
                        const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return wrong_type(v, "an object", ctx, path, err);
    *out = v;
    return 0;
}

int mc_codec_get_array(const json_t *obj, const char *key, const json_t **out,
                       const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *v = lookup(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return wrong_type(v, "an array", ctx, path, err);
    *out = v;
    return 0;
}

int mc_codec_get_str_map(const json_t *obj, const char *key, mc_api_str_map *map,
                         const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *m;
    int rc = mc_codec_get_object(obj, key, &m, ctx, path, err);
    if (rc != 0 || !m)
        return rc;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v) {
        if (!json_is_string(v))
            return mc_err_set(err, MC_EINVAL, "%s: %s[\"%.100s\"]: expected a string, got %s",
                              ctx->what, path, k, type_name(v));
        if (mc_api_str_map_set(map, k, json_string_value(v)) != 0)
            return mc_err_set(err, MC_ENOMEM, "%s: %s: out of memory", ctx->what, path);
    }
    return 0;
}

int mc_codec_get_bytes_map(const json_t *obj, const char *key, mc_api_bytes_map *map,
                           const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *m;
    int rc = mc_codec_get_object(obj, key, &m, ctx, path, err);
    if (rc != 0 || !m)
        return rc;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v) {
        unsigned char *data = NULL;
        size_t len = 0;
        char sub[200];
        snprintf(sub, sizeof(sub), "%s[\"%.100s\"]", path, k);
        rc = mc_codec_get_bytes(m, k, &data, &len, ctx, sub, err);
        if (rc != 0)
            return rc;
        rc = mc_api_bytes_map_set(map, k, data ? data : (const unsigned char *)"", len);
        mc_secure_free(data, len);
        if (rc != 0)
            return mc_err_set(err, MC_ENOMEM, "%s: %s: out of memory", ctx->what, path);
    }
    return 0;
}

void mc_codec_str_array_free(char **items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

int mc_codec_str_array_copy(char *const *items, size_t n, char ***out)
{
    char **copy = calloc(n ? n : 1, sizeof(*copy));
    if (!copy)
        return MC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i] = mc_strdup(items[i]);
        if (!copy[i]) {
            mc_codec_str_array_free(copy, i);
            return MC_ENOMEM;
        }
    }
    *out = copy;
    return 0;
}

int mc_codec_get_str_array(const json_t *obj, const char *key, char ***out, size_t *n,
                           const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *a;
    int rc = mc_codec_get_array(obj, key, &a, ctx, path, err);
    if (rc != 0 || !a)
        return rc;
    size_t count = json_array_size(a);
    char **items = calloc(count ? count : 1, sizeof(*items));
    if (!items)
        return mc_err_set(err, MC_ENOMEM, "%s: %s: out of memory", ctx->what, path);
    for (size_t i = 0; i < count; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_string(v)) {
            mc_codec_str_array_free(items, i);
            return mc_err_set(err, MC_EINVAL, "%s: %s[%zu]: expected a string, got %s",
                              ctx->what, path, i, type_name(v));
        }
        items[i] = mc_strndup(json_string_value(v), json_string_length(v));
        if (!items[i]) {
            mc_codec_str_array_free(items, i);
            return mc_err_set(err, MC_ENOMEM, "%s: %s: out of memory", ctx->what, path);
        }
    }
    mc_codec_str_array_free(*out, *n);
    *out = items;
    *n = count;
    return 0;
}

int mc_codec_put(json_t *obj, const char *key, json_t *value)
{
    json_t *existing = json_object_get(obj, key);
    if (!value || mc_codec_is_empty(value)) {
        json_decref(value);
        if (existing && !mc_codec_is_empty(existing))
            json_object_del(obj, key);
        return 0;
    }
    if (existing && json_equal(existing, value)) {
        json_decref(value);
        return 0;
    }
    return json_object_set_new(obj, key, value) == 0 ? 0 : MC_ENOMEM;
}

static int put_checked(json_t *obj, const char *key, json_t *value)
{
    return value ? mc_codec_put(obj, key, value) : MC_ENOMEM;
}

int mc_codec_put_string(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return mc_codec_put(obj, key, NULL);
    return put_checked(obj, key, json_string(value));
}

int mc_codec_put_int64(json_t *obj, const char *key, int64_t value)
{
    const json_t *existing = json_object_get(obj, key);
    if (json_is_string(existing)) {
        const char *s = json_string_value(existing);
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (*s && *end == '\0' && errno == 0 && n == value)
            return 0;
    }
    return put_checked(obj, key, json_integer(value));
}

int mc_codec_put_bool(json_t *obj, const char *key, bool value)
{
    return put_checked(obj, key, json_boolean(value));
}

int mc_codec_put_bytes(json_t *obj, const char *key, const unsigned char *data, size_t len)
{
    if (!data)
        return mc_codec_put(obj, key, NULL);
    char *text = NULL;
    if (mc_base64_encode(data, len, &text, NULL) != 0)
        return MC_ENOMEM;
    json_t *v = json_string(text);
    mc_secure_free_str(text);
    return put_checked(obj, key, v);
}

int mc_codec_put_str_map(json_t *obj, const char *key, const mc_api_str_map *map)
{
    json_t *m = json_object();
    if (!m)
        return MC_ENOMEM;
    for (size_t i = 0; i < map->len; i++) {
        if (json_object_set_new(m, map->items[i].key, json_string(map->items[i].value)) != 0) {
            json_decref(m);
            return MC_ENOMEM;
        }
    }
    return mc_codec_put(obj, key, m);
}

int mc_codec_put_bytes_map(json_t *obj, const char *key, const mc_api_bytes_map *map)
{
    json_t *m = json_object();
    if (!m)
        return MC_ENOMEM;
    for (size_t i = 0; i < map->len; i++) {
        char *text = NULL;
        if (mc_base64_encode(map->items[i].data, map->items[i].len, &text, NULL) != 0) {
            json_decref(m);
            return MC_ENOMEM;
        }
        int rc = json_object_set_new(m, map->items[i].key, json_string(text));
        mc_secure_free_str(text);
        if (rc != 0) {
            json_decref(m);
            return MC_ENOMEM;
        }
    }
    return mc_codec_put(obj, key, m);
}

int mc_codec_put_str_array(json_t *obj, const char *key, char *const *items, size_t n)
{
    json_t *a = json_array();
    if (!a)
        return MC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(a, json_string(items[i])) != 0) {
            json_decref(a);
            return MC_ENOMEM;
        }
    }
    return mc_codec_put(obj, key, a);
}

json_t *mc_codec_child(json_t *obj, const char *key, json_t **saved)
{
    json_t *existing = json_object_get(obj, key);
    /* Only an originally empty value needs remembering: the child is edited
     * in place, so a non-empty original cannot be told apart afterwards. */
    *saved = existing && mc_codec_is_empty(existing) ? json_incref(existing) : NULL;
    if (json_is_object(existing))
        return existing;
    json_t *child = json_object();
    if (!child || json_object_set_new(obj, key, child) != 0) {
        json_decref(*saved);
        *saved = NULL;
        return NULL;
    }
    return child;
}

int mc_codec_child_done(json_t *obj, const char *key, json_t *saved)
{
    json_t *child = json_object_get(obj, key);
    int rc = 0;
    if (json_is_object(child) && json_object_size(child) == 0) {
        if (saved)
            rc = json_object_set(obj, key, saved) == 0 ? 0 : MC_ENOMEM;
        else
            json_object_del(obj, key);
    }
    json_decref(saved);
    return rc;
}

json_t *mc_codec_begin(const json_t *raw)
{
    return raw ? json_deep_copy(raw) : json_object();
}

int mc_codec_put_type_meta(json_t *obj, const json_t *raw, const char *api_version,
                           const char *kind)
{
    if (!raw || json_object_get(raw, "apiVersion"))
        if (json_object_set_new(obj, "apiVersion", json_string(api_version)) != 0)
            return MC_ENOMEM;
    if (!raw || json_object_get(raw, "kind"))
        if (json_object_set_new(obj, "kind", json_string(kind)) != 0)
            return MC_ENOMEM;
    return 0;
}

int mc_codec_check_type_meta(const json_t *obj, const char *api_version, const char *kind,
                             const mc_codec_ctx *ctx, mc_err *err)
{
    if (!json_is_object(obj))
        return mc_err_set(err, MC_EINVAL, "%s: expected a JSON object, got %s", kind,
                          type_name(obj));
    const json_t *av = lookup(obj, "apiVersion"), *k = lookup(obj, "kind");
    if (av && (!json_is_string(av) || strcmp(json_string_value(av), api_version) != 0))
        return mc_err_set(err, MC_EINVAL, "%s: apiVersion: expected \"%s\"", ctx->what,
                          api_version);
    if (k && (!json_is_string(k) || strcmp(json_string_value(k), kind) != 0))
        return mc_err_set(err, MC_EINVAL, "%s: kind: expected \"%s\"", ctx->what, kind);
    return 0;
}
