/* patch.c - RFC 7386 merge patch, RFC 6902 JSON patch, RFC 6901 pointers
 * (see patch.h).
 *
 * Both patch kinds work on a private deep copy and swap it in only when every
 * step succeeded, which gives JSON patch its required atomicity for free and
 * keeps callers' shared references (raw documents) untouched.
 */
#include "api/patch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int mc_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!mc_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (!w || !mc_json_equal(v, w))
                return 0;
        }
        return 1;
    }
    default: return 1; /* true, false, null: same type */
    }
}

/* ---- merge patch ---- */

/* Merges patch into target (stolen, exclusively owned, may be NULL); returns
 * the result (a new reference) or NULL on allocation failure. */
static json_t *merge(json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
        if (!target)
            return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value) {
        if (json_is_null(value)) {
            json_object_del(target, key);
            continue;
        }
        json_t *merged = merge(json_incref(json_object_get(target, key)), value);
        if (!merged || json_object_set_new(target, key, merged) != 0) {
            json_decref(target);
            return NULL;
        }
    }
    return target;
}

int mc_json_merge_patch(json_t **doc, const json_t *patch, mc_err *err)
{
    json_t *work = NULL;
    if (*doc && json_is_object(patch) && !(work = json_deep_copy(*doc)))
        return mc_err_set(err, MC_ENOMEM, "merge patch: out of memory");
    json_t *result = merge(work, patch);
    if (!result)
        return mc_err_set(err, MC_ENOMEM, "merge patch: out of memory");
    json_decref(*doc);
    *doc = result;
    return 0;
}

static json_t *diff(const json_t *from, const json_t *to)
{
    if (!json_is_object(from) || !json_is_object(to))
        return json_deep_copy(to);
    json_t *patch = json_object();
    const char *key;
    json_t *value;
    if (!patch)
        return NULL;
    json_object_foreach((json_t *)from, key, value) {
        if (!json_object_get(to, key) && json_object_set_new(patch, key, json_null()) != 0)
            goto fail;
    }
    json_object_foreach((json_t *)to, key, value) {
        const json_t *old = json_object_get(from, key);
        json_t *entry = NULL;
        if (json_is_null(value)) {
            if (!old || json_is_null(old))
                continue;
            entry = json_null();
        } else if (!old) {
            entry = json_deep_copy(value);
        } else if (mc_json_equal(old, value) && json_typeof(old) == json_typeof(value)) {
            continue;
        } else if (json_is_object(old) && json_is_object(value)) {
            entry = diff(old, value);
            if (entry && json_object_size(entry) == 0) {
                json_decref(entry);
                continue;
            }
        } else {
            entry = json_deep_copy(value);
        }
        if (!entry || json_object_set_new(patch, key, entry) != 0)
            goto fail;
    }
    return patch;
fail:
    json_decref(patch);
    return NULL;
}

int mc_json_merge_patch_diff(const json_t *from, const json_t *to, json_t **out, mc_err *err)
{
    json_t *patch = diff(from, to);
    if (!patch)
        return mc_err_set(err, MC_ENOMEM, "merge patch: out of memory");
    *out = patch;
    return 0;
}

/* ---- JSON pointer ---- */

typedef struct pointer {
    char **tok;
    size_t n;
} pointer;

static void pointer_free(pointer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->tok[i]);
    free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

/* Splits "/a/b~1c" into {"a", "b/c"}. MC_EINVAL or MC_ENOMEM; why is set on
 * MC_EINVAL. */
static int pointer_parse(const char *s, pointer *p, const char **why)
{
    p->tok = NULL;
    p->n = 0;
    if (*s == '\0')
        return 0;
    if (*s != '/') {
        *why = "a JSON pointer must be empty or start with '/'";
        return MC_EINVAL;
    }
    size_t count = 0;
    for (const char *c = s; *c; c++)
        count += *c == '/';
    p->tok = calloc(count, sizeof(char *));
    if (!p->tok)
        return MC_ENOMEM;
    const char *c = s + 1;
    for (;;) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        char *t = malloc(len + 1);
        if (!t) {
            pointer_free(p);
            return MC_ENOMEM;
        }
        p->tok[p->n++] = t;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (c[i] != '~') {
                t[o++] = c[i];
                continue;
            }
            if (i + 1 < len && (c[i + 1] == '0' || c[i + 1] == '1')) {
                t[o++] = c[i + 1] == '0' ? '~' : '/';
                i++;
                continue;
            }
            pointer_free(p);
            *why = "'~' must be followed by '0' or '1' in a JSON pointer";
            return MC_EINVAL;
        }
        t[o] = '\0';
        if (!end)
            return 0;
        c = end + 1;
    }
}

/* An RFC 6901 array index: "0" or a digit string without leading zeros. */
static bool parse_index(const char *tok, size_t *idx)
{
    size_t n = strlen(tok);
    if (n == 0 || n > 9 || (n > 1 && tok[0] == '0'))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return false;
        v = v * 10 + (size_t)(tok[i] - '0');
    }
    *idx = v;
    return true;
}

/* Follows the first depth tokens of p from root; NULL when a step is missing. */
static json_t *walk(json_t *root, const pointer *p, size_t depth)
{
    json_t *cur = root;
    for (size_t i = 0; cur && i < depth; i++) {
        if (json_is_object(cur)) {
            cur = json_object_get(cur, p->tok[i]);
        } else if (json_is_array(cur)) {
            size_t idx;
            cur = parse_index(p->tok[i], &idx) ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

int mc_json_pointer_get(const json_t *doc, const char *ptr, json_t **out, mc_err *err)
{
    pointer p;
    const char *why = NULL;
    int rc = pointer_parse(ptr, &p, &why);
    if (rc != 0)
        return mc_err_set(err, rc, "JSON pointer \"%.100s\": %s", ptr, why ? why : "out of memory");
    json_t *v = walk((json_t *)doc, &p, p.n);
    pointer_free(&p);
    if (!v)
        return mc_err_set(err, MC_ENOTFOUND, "JSON pointer \"%.100s\": no such location", ptr);
    *out = v;
    return 0;
}

/* ---- JSON patch ---- */

typedef struct op_ctx {
    size_t index;
    const char *op;
    const char *path;
    mc_err *err;
} op_ctx;

static int op_fail(const op_ctx *o, const char *why)
{
    return mc_err_set(o->err, MC_EINVAL, "json patch operation %zu (%s %.100s): %s", o->index,
                      o->op, o->path, why);
}

/* Adds value (stolen) at p in *root. */
static int do_add(json_t **root, const pointer *p, json_t *value, const op_ctx *o)
{
    if (!value)
        return mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
    if (p->n == 0) {
        json_decref(*root);
        *root = value;
        return 0;
    }
    json_t *parent = walk(*root, p, p->n - 1);
    const char *last = p->tok[p->n - 1];
    if (json_is_object(parent))
        return json_object_set_new(parent, last, value) == 0
                   ? 0
                   : mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
    if (json_is_array(parent)) {
        size_t idx;
        if (strcmp(last, "-") == 0)
            idx = json_array_size(parent);
        else if (!parse_index(last, &idx)) {
            json_decref(value);
            return op_fail(o, "not a valid array index");
        }
        if (idx > json_array_size(parent)) {
            json_decref(value);
            return op_fail(o, "array index out of bounds");
        }
        return json_array_insert_new(parent, idx, value) == 0
                   ? 0
                   : mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
    }
    json_decref(value);
    return op_fail(o, parent ? "the parent is not an object or array" : "the parent does not exist");
}

/* Removes the value at p; *removed (optional) receives it (a reference). */
static int do_remove(json_t *root, const pointer *p, json_t **removed, const op_ctx *o)
{
    if (p->n == 0)
        return op_fail(o, "cannot remove the whole document");
    json_t *parent = walk(root, p, p->n - 1);
    const char *last = p->tok[p->n - 1];
    json_t *target = walk(root, p, p->n);
    if (!target)
        return op_fail(o, "the target location does not exist");
    if (removed)
        *removed = json_incref(target);
    if (json_is_object(parent)) {
        json_object_del(parent, last);
    } else {
        size_t idx = 0;
        parse_index(last, &idx); /* walk succeeded, so the index is valid */
        json_array_remove(parent, idx);
    }
    return 0;
}

static int do_replace(json_t **root, const pointer *p, json_t *value, const op_ctx *o)
{
    if (!value)
        return mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
    json_t *target = walk(*root, p, p->n);
    if (!target) {
        json_decref(value);
        return op_fail(o, "the target location does not exist");
    }
    if (p->n == 0) {
        json_decref(*root);
        *root = value;
        return 0;
    }
    json_t *parent = walk(*root, p, p->n - 1);
    const char *last = p->tok[p->n - 1];
    int rc;
    if (json_is_object(parent)) {
        rc = json_object_set_new(parent, last, value);
    } else {
        size_t idx = 0;
        parse_index(last, &idx);
        rc = json_array_set_new(parent, idx, value);
    }
    return rc == 0 ? 0 : mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
}

static bool is_proper_prefix(const pointer *prefix, const pointer *p)
{
    if (prefix->n >= p->n)
        return false;
    for (size_t i = 0; i < prefix->n; i++)
        if (strcmp(prefix->tok[i], p->tok[i]) != 0)
            return false;
    return true;
}

static bool same_pointer(const pointer *a, const pointer *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->tok[i], b->tok[i]) != 0)
            return false;
    return true;
}

static int apply_one(json_t **root, const json_t *operation, op_ctx *o)
{
    if (!json_is_object(operation))
        return op_fail(o, "an operation must be a JSON object");
    const json_t *op_json = json_object_get(operation, "op");
    const json_t *path_json = json_object_get(operation, "path");
    const json_t *from_json = json_object_get(operation, "from");
    const json_t *value = json_object_get(operation, "value");
    if (!json_is_string(op_json))
        return op_fail(o, "\"op\" must be a string");
    o->op = json_string_value(op_json);
    if (!json_is_string(path_json))
        return op_fail(o, "\"path\" must be a string");
    o->path = json_string_value(path_json);
    const char *op = o->op;
    bool needs_value = !strcmp(op, "add") || !strcmp(op, "replace") || !strcmp(op, "test");
    bool needs_from = !strcmp(op, "move") || !strcmp(op, "copy");
    if (!needs_value && !needs_from && strcmp(op, "remove") != 0)
        return op_fail(o, "unknown operation (expected add, remove, replace, move, copy, test)");
    if (needs_value && !value)
        return op_fail(o, "\"value\" is required");
    if (needs_from && !json_is_string(from_json))
        return op_fail(o, "\"from\" must be a string");

    pointer path = {0}, from = {0};
    const char *why = NULL;
    int rc = pointer_parse(o->path, &path, &why);
    if (rc == 0 && needs_from)
        rc = pointer_parse(json_string_value(from_json), &from, &why);
    if (rc != 0) {
        pointer_free(&path);
        return rc == MC_EINVAL ? op_fail(o, why)
                               : mc_err_set(o->err, MC_ENOMEM, "json patch: out of memory");
    }

    if (!strcmp(op, "add")) {
        rc = do_add(root, &path, json_deep_copy(value), o);
    } else if (!strcmp(op, "remove")) {
        rc = do_remove(*root, &path, NULL, o);
    } else if (!strcmp(op, "replace")) {
        rc = do_replace(root, &path, json_deep_copy(value), o);
    } else if (!strcmp(op, "test")) {
        json_t *target = walk(*root, &path, path.n);
        if (!target)
            rc = op_fail(o, "the target location does not exist");
        else if (!mc_json_equal(target, value))
            rc = op_fail(o, "test failed: the value differs");
    } else if (!strcmp(op, "copy")) {
        json_t *source = walk(*root, &from, from.n);
        rc = source ? do_add(root, &path, json_deep_copy(source), o)
                    : op_fail(o, "the \"from\" location does not exist");
    } else { /* move */
        json_t *moved = NULL;
        if (is_proper_prefix(&from, &path))
            rc = op_fail(o, "cannot move a value into one of its own children");
        else if (!walk(*root, &from, from.n))
            rc = op_fail(o, "the \"from\" location does not exist");
        else if (same_pointer(&from, &path))
            rc = 0;
        else if (from.n == 0)
            rc = op_fail(o, "cannot move the whole document");
        else if ((rc = do_remove(*root, &from, &moved, o)) == 0)
            rc = do_add(root, &path, moved, o);
    }
    pointer_free(&path);
    pointer_free(&from);
    return rc;
}

int mc_json_patch_apply(json_t **doc, const json_t *patch, mc_err *err)
{
    if (!json_is_array(patch))
        return mc_err_set(err, MC_EINVAL, "json patch: expected an array of operations");
    json_t *work = *doc ? json_deep_copy(*doc) : json_null();
    if (!work)
        return mc_err_set(err, MC_ENOMEM, "json patch: out of memory");
    for (size_t i = 0; i < json_array_size(patch); i++) {
        op_ctx o = {.index = i, .op = "?", .path = "?", .err = err};
        int rc = apply_one(&work, json_array_get(patch, i), &o);
        if (rc != 0) {
            json_decref(work);
            return rc;
        }
    }
    json_decref(*doc);
    *doc = work;
    return 0;
}
