/* fieldset.c - field sets (FieldsV1 trees) and the schema-aware walks of
 * server-side apply: the set an object names, the difference between two
 * objects, merge and removal. The rules follow structured-merge-diff, which
 * kube-apiserver uses (a value is owned at its leaves; items of set and map
 * lists and map entries are owned themselves; atomic values are leaves), for
 * the schemas meshcert serves: structural CRD schemas and deduced ones.
 */
#include "api/fieldset.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/str.h"

/* ObjectMeta's fields (any other key in metadata is unknown to kube). Its
 * labels and annotations are maps, finalizers a set and ownerReferences a
 * map list keyed by uid (see list_type): kept in code rather than as a
 * schema to parse, because every write walks metadata. */
static const char *const object_meta_fields[] = {
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
};

/* One walk over an object: the path from the root as path elements. */
typedef struct walk {
    const mc_fieldset_type *type;
    char *path[MC_FIELDSET_MAX_DEPTH]; /* owned path elements, root first */
    size_t depth;                      /* elements in path */
    mc_err *err;
} walk;

static int walk_init(walk *w, const mc_fieldset_type *type, mc_err *err)
{
    memset(w, 0, sizeof(*w));
    w->type = type;
    w->err = err;
    return MC_OK;
}

static void walk_done(walk *w)
{
    while (w->depth > 0)
        free(w->path[--w->depth]);
}

/* ---- path elements ---- */

static char *prefixed(const char *prefix, const char *text)
{
    size_t p = strlen(prefix), n = strlen(text);
    char *s = malloc(p + n + 1);
    if (!s)
        return NULL;
    memcpy(s, prefix, p);
    memcpy(s + p, text, n + 1);
    return s;
}

/* Appends one path element in kube's notation (".name", "[k=\"v\"]",
 * "[=\"v\"]", "[3]"). */
static void append_element(mc_buf *b, const char *elem)
{
    if (mc_str_has_prefix(elem, "f:")) {
        mc_buf_appendf(b, ".%s", elem + 2);
    } else if (mc_str_has_prefix(elem, "v:")) {
        mc_buf_appendf(b, "[=%s]", elem + 2);
    } else if (mc_str_has_prefix(elem, "i:")) {
        mc_buf_appendf(b, "[%s]", elem + 2);
    } else if (mc_str_has_prefix(elem, "k:")) {
        json_t *keys = json_loads(elem + 2, 0, NULL);
        const char *name;
        json_t *value;
        int first = 1;
        mc_buf_append_str(b, "[");
        json_object_foreach(keys, name, value)
        {
            char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
            mc_buf_appendf(b, "%s%s=%s", first ? "" : ",", name, text ? text : "?");
            free(text);
            first = 0;
        }
        mc_buf_append_str(b, "]");
        json_decref(keys);
    } else {
        mc_buf_append_str(b, "{{invalid path element}}");
    }
}

/* The walk's current path in kube's notation, for error messages. */
static void current_path(const walk *w, char *out, size_t size)
{
    mc_buf b;
    mc_buf_init(&b, 4096);
    for (size_t i = 0; i < w->depth; i++)
        append_element(&b, w->path[i]);
    mc_strlcpy(out, b.data ? b.data : "", size);
    mc_buf_free(&b);
}

static int push(walk *w, char *elem)
{
    if (!elem)
        return mc_err_set(w->err, MC_ENOMEM, "out of memory");
    if (w->depth >= MC_FIELDSET_MAX_DEPTH) {
        free(elem);
        return mc_err_set(w->err, MC_ELIMIT, "the object is nested deeper than %d levels",
                          MC_FIELDSET_MAX_DEPTH);
    }
    w->path[w->depth++] = elem;
    return MC_OK;
}

static void pop(walk *w)
{
    free(w->path[--w->depth]);
}

/* ---- schema ---- */

static int at_metadata(const walk *w)
{
    return w->depth == 1 && strcmp(w->path[0], "f:metadata") == 0;
}

/* metadata.managedFields is bookkeeping, never a field anyone owns. */
static int skipped(const walk *w, const char *key)
{
    return at_metadata(w) && strcmp(key, "managedFields") == 0;
}

/* A struct field (declared in properties, or one of ObjectMeta's), not a
 * map key. */
static int declared(const walk *w, const json_t *schema, const char *key)
{
    if (at_metadata(w)) {
        for (size_t i = 0; i < sizeof(object_meta_fields) / sizeof(object_meta_fields[0]); i++)
            if (strcmp(key, object_meta_fields[i]) == 0)
                return 1;
        return 0;
    }
    return json_object_get(json_object_get(schema, "properties"), key) != NULL;
}

/* The schema of key's value. metadata and everything in it have none: the
 * walk knows ObjectMeta by its path. */
static const json_t *child_schema(const walk *w, const json_t *schema, const char *key)
{
    if ((w->depth == 0 && strcmp(key, "metadata") == 0) ||
        (w->depth > 0 && strcmp(w->path[0], "f:metadata") == 0))
        return NULL;
    const json_t *field = json_object_get(json_object_get(schema, "properties"), key);
    if (field)
        return field;
    const json_t *additional = json_object_get(schema, "additionalProperties");
    return json_is_object(additional) ? additional : NULL;
}

static int granular_object(const json_t *schema, const json_t *value)
{
    const char *map_type = json_string_value(json_object_get(schema, "x-kubernetes-map-type"));
    return json_is_object(value) && !(map_type && strcmp(map_type, "atomic") == 0);
}

enum { LIST_ATOMIC, LIST_SET, LIST_MAP };

/* "finalizers" or "ownerReferences" when the walk is at that list of
 * metadata, else NULL. */
static const char *metadata_list(const walk *w)
{
    if (w->depth != 2 || strcmp(w->path[0], "f:metadata") != 0)
        return NULL;
    if (strcmp(w->path[1], "f:finalizers") == 0 || strcmp(w->path[1], "f:ownerReferences") == 0)
        return w->path[1] + 2;
    return NULL;
}

/* The type of the list at the walk's path. */
static int list_type(const walk *w, const json_t *schema)
{
    const char *meta = metadata_list(w);
    if (meta)
        return strcmp(meta, "finalizers") == 0 ? LIST_SET : LIST_MAP;
    const char *t = json_string_value(json_object_get(schema, "x-kubernetes-list-type"));
    if (t && strcmp(t, "set") == 0)
        return LIST_SET;
    if (t && strcmp(t, "map") == 0 &&
        json_array_size(json_object_get(schema, "x-kubernetes-list-map-keys")) > 0)
        return LIST_MAP;
    return LIST_ATOMIC;
}

static int associative_list(const walk *w, const json_t *schema, const json_t *value)
{
    return json_is_array(value) && list_type(w, schema) != LIST_ATOMIC;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The path element of a list item: "v:<json>" in a set, "k:<json of its key
 * fields, sorted>" in a map list. NULL with w->err set. */
static char *item_element(walk *w, const json_t *schema, const json_t *item)
{
    char where[1024];
    if (list_type(w, schema) == LIST_SET) {
        if (json_is_object(item) || json_is_array(item)) {
            current_path(w, where, sizeof(where));
            mc_err_set(w->err, MC_EINVAL, "%s: items of a list of type set must be scalars", where);
            return NULL;
        }
        char *text = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
        char *elem = text ? prefixed("v:", text) : NULL;
        free(text);
        if (!elem)
            mc_err_set(w->err, MC_ENOMEM, "out of memory");
        return elem;
    }
    const json_t *names = json_object_get(schema, "x-kubernetes-list-map-keys");
    int owner_refs = metadata_list(w) != NULL; /* keyed by uid */
    size_t n = owner_refs ? 1 : json_array_size(names);
    const char *sorted[16];
    if (!json_is_object(item) || n > 16) {
        current_path(w, where, sizeof(where));
        mc_err_set(w->err, MC_EINVAL, "%s: items of a list of type map must be objects", where);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = owner_refs ? "uid" : json_string_value(json_array_get(names, i));
        if (!sorted[i])
            sorted[i] = "";
    }
    qsort(sorted, n, sizeof(sorted[0]), compare_names);
    json_t *keys = json_object();
    for (size_t i = 0; keys && i < n; i++) {
        json_t *v = json_object_get(item, sorted[i]);
        if (v && !json_is_object(v) && !json_is_array(v))
            json_object_set(keys, sorted[i], v);
    }
    if (keys && json_object_size(keys) == 0) {
        json_decref(keys);
        current_path(w, where, sizeof(where));
        mc_err_set(w->err, MC_EINVAL,
                   "%s: an item of a list of type map has none of its key fields", where);
        return NULL;
    }
    char *text = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(keys);
    char *elem = text ? prefixed("k:", text) : NULL;
    free(text);
    if (!elem)
        mc_err_set(w->err, MC_ENOMEM, "out of memory");
    return elem;
}

/* The path elements of a list's items and where each is. */
typedef struct list_index {
    char **elems; /* owned, one per item */
    size_t count;
    json_t *at;     /* element -> index of its first item */
    int duplicates; /* 1 when two items share an element */
} list_index;

static void list_index_free(list_index *li)
{
    for (size_t i = 0; i < li->count; i++)
        free(li->elems[i]);
    free(li->elems);
    json_decref(li->at);
    memset(li, 0, sizeof(*li));
}

static int list_index_build(walk *w, const json_t *schema, const json_t *list, list_index *li)
{
    memset(li, 0, sizeof(*li));
    size_t n = json_array_size(list);
    li->elems = calloc(n ? n : 1, sizeof(char *));
    li->at = json_object();
    if (!li->elems || !li->at) {
        list_index_free(li);
        return mc_err_set(w->err, MC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *elem = item_element(w, schema, json_array_get(list, i));
        if (!elem) {
            list_index_free(li);
            return w->err ? w->err->code : MC_EINVAL;
        }
        li->elems[li->count++] = elem;
        if (json_object_get(li->at, elem))
            li->duplicates = 1;
        else
            json_object_set_new(li->at, elem, json_integer((json_int_t)i));
    }
    return MC_OK;
}

/* Index of elem in the list, or -1. */
static long list_index_find(const list_index *li, const char *elem)
{
    json_t *at = json_object_get(li->at, elem);
    return at ? (long)json_integer_value(at) : -1;
}

static int duplicate_error(walk *w, const json_t *schema)
{
    char where[1024];
    current_path(w, where, sizeof(where));
    return mc_err_set(w->err, MC_EINVAL, "%s: duplicate entries in a list of type %s", where,
                      list_type(w, schema) == LIST_SET ? "set" : "map");
}

/* ---- sets ---- */

static int is_member(const json_t *node)
{
    return json_object_get(node, ".") != NULL;
}

static int has_children(const json_t *node)
{
    return json_object_size(node) > (size_t)(is_member(node) ? 1 : 0);
}

/* Inserts the walk's current path (not the root) into set. */
static int insert_here(walk *w, json_t *set)
{
    json_t *node = set;
    if (w->depth == 0)
        return MC_OK;
    for (size_t i = 0; i < w->depth; i++) {
        json_t *child = json_object_get(node, w->path[i]);
        if (!child) {
            child = json_object();
            if (!child || json_object_set_new(node, w->path[i], child) != 0)
                return mc_err_set(w->err, MC_ENOMEM, "out of memory");
        }
        node = child;
    }
    if (json_object_set_new(node, ".", json_object()) != 0)
        return mc_err_set(w->err, MC_ENOMEM, "out of memory");
    return MC_OK;
}

static void union_into(json_t *dst, const json_t *src)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)src, key, value)
    {
        json_t *mine = json_object_get(dst, key);
        if (mine)
            union_into(mine, value);
        else
            json_object_set_new(dst, key, json_deep_copy(value));
    }
}

json_t *mc_fieldset_union(const json_t *a, const json_t *b)
{
    json_t *out = json_deep_copy(a);
    if (out && b)
        union_into(out, b);
    return out;
}

json_t *mc_fieldset_difference(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)a, key, value)
    {
        json_t *theirs = b ? json_object_get(b, key) : NULL;
        if (strcmp(key, ".") == 0) {
            if (!theirs)
                json_object_set_new(out, ".", json_object());
            continue;
        }
        json_t *rest = theirs ? mc_fieldset_difference(value, theirs) : json_deep_copy(value);
        if (json_object_size(rest) > 0)
            json_object_set_new(out, key, rest);
        else
            json_decref(rest);
    }
    return out;
}

void mc_fieldset_subtract(json_t *set, const json_t *other)
{
    const char *key;
    json_t *theirs;
    json_object_foreach((json_t *)other, key, theirs)
    {
        json_t *mine = json_object_get(set, key);
        if (!mine)
            continue;
        if (strcmp(key, ".") != 0) {
            mc_fieldset_subtract(mine, theirs);
            if (json_object_size(mine) > 0)
                continue;
        }
        json_object_del(set, key);
    }
}

json_t *mc_fieldset_intersection(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)a, key, value)
    {
        json_t *theirs = b ? json_object_get(b, key) : NULL;
        if (!theirs)
            continue;
        if (strcmp(key, ".") == 0) {
            json_object_set_new(out, ".", json_object());
            continue;
        }
        json_t *both = mc_fieldset_intersection(value, theirs);
        if (json_object_size(both) > 0)
            json_object_set_new(out, key, both);
        else
            json_decref(both);
    }
    return out;
}

int mc_fieldset_is_empty(const json_t *set)
{
    return json_object_size(set) == 0;
}

/* The keys of an object, "." first, then sorted; a new array of borrowed
 * strings (NULL on allocation failure; *n receives the count). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    const char **keys = calloc(*n ? *n : 1, sizeof(char *));
    if (!keys)
        return NULL;
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) keys[i++] = key;
    qsort(keys, *n, sizeof(keys[0]), compare_names); /* "." sorts before letters */
    return keys;
}

static int fields_v1_read(const json_t *in, json_t *out, size_t depth, mc_err *err)
{
    if (!json_is_object(in))
        return mc_err_set(err, MC_EINVAL, "fieldsV1: every node must be an object");
    if (depth > MC_FIELDSET_MAX_DEPTH)
        return mc_err_set(err, MC_ELIMIT, "fieldsV1: nested deeper than %d levels",
                          MC_FIELDSET_MAX_DEPTH);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)in, key, value)
    {
        if (strcmp(key, ".") == 0) {
            if (!json_is_object(value) || json_object_size(value) != 0)
                return mc_err_set(err, MC_EINVAL, "fieldsV1: \".\" must be {}");
            json_object_set_new(out, ".", json_object());
            continue;
        }
        if (!mc_str_has_prefix(key, "f:") && !mc_str_has_prefix(key, "k:") &&
            !mc_str_has_prefix(key, "v:") && !mc_str_has_prefix(key, "i:"))
            return mc_err_set(err, MC_EINVAL, "fieldsV1: unknown path element \"%.100s\"", key);
        json_t *child = json_object();
        if (!child)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
        int rc = fields_v1_read(value, child, depth + 1, err);
        if (rc == MC_OK && json_object_size(child) == 0) /* {} is a leaf member */
            json_object_set_new(child, ".", json_object());
        if (rc != MC_OK) {
            json_decref(child);
            return rc;
        }
        json_object_set_new(out, key, child);
    }
    return MC_OK;
}

int mc_fieldset_from_fields_v1(const json_t *fields_v1, json_t **out, mc_err *err)
{
    *out = NULL;
    json_t *set = json_object();
    if (!set)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int rc = fields_v1_read(fields_v1, set, 0, err);
    if (rc != MC_OK) {
        json_decref(set);
        return rc;
    }
    json_object_del(set, "."); /* the root is never a member */
    *out = set;
    return MC_OK;
}

json_t *mc_fieldset_to_fields_v1(const json_t *set)
{
    json_t *out = json_object();
    size_t n;
    const char **keys = sorted_keys(set, &n);
    if (!out || !keys) {
        free(keys);
        json_decref(out);
        return NULL;
    }
    int leaf = is_member(set) && n == 1;
    for (size_t i = 0; !leaf && i < n; i++) {
        json_t *child = strcmp(keys[i], ".") == 0
                            ? json_object()
                            : mc_fieldset_to_fields_v1(json_object_get(set, keys[i]));
        if (!child || json_object_set_new(out, keys[i], child) != 0) {
            free(keys);
            json_decref(out);
            return NULL;
        }
    }
    free(keys);
    return out;
}

static void paths_of(const json_t *node, mc_buf *prefix, json_t *out)
{
    size_t n;
    const char **keys = sorted_keys(node, &n);
    if (!keys)
        return;
    /* A level's members first, then what lies below it (structured-merge-
     * diff's iteration order, which its conflict lists follow). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(keys[i], ".") == 0)
                continue;
            const json_t *child = json_object_get(node, keys[i]);
            if (pass == 0 ? !is_member(child) : !has_children(child))
                continue;
            size_t len = prefix->len;
            append_element(prefix, keys[i]);
            if (pass == 0)
                json_array_append_new(out, json_string(prefix->data));
            else
                paths_of(child, prefix, out);
            prefix->len = len;
            if (prefix->data)
                prefix->data[len] = '\0';
        }
    }
    free(keys);
}

json_t *mc_fieldset_paths(const json_t *set)
{
    json_t *out = json_array();
    mc_buf prefix;
    mc_buf_init(&prefix, 64 * 1024);
    if (out)
        paths_of(set, &prefix, out);
    mc_buf_free(&prefix);
    return out;
}

/* ---- the set an object names ---- */

static int owned_set(walk *w, const json_t *schema, const json_t *value, json_t *set)
{
    int rc = MC_OK;
    if (granular_object(schema, value)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)value, key, child)
        {
            if (skipped(w, key))
                continue;
            const json_t *cs = child_schema(w, schema, key);
            int member = json_is_null(child) ||
                         (json_is_object(child) && json_object_size(child) == 0) ||
                         !declared(w, schema, key);
            if ((rc = push(w, prefixed("f:", key))) != MC_OK)
                return rc;
            rc = owned_set(w, cs, child, set);
            if (rc == MC_OK && member)
                rc = insert_here(w, set);
            pop(w);
            if (rc != MC_OK)
                return rc;
        }
        return MC_OK;
    }
    if (associative_list(w, schema, value)) {
        list_index li;
        if ((rc = list_index_build(w, schema, value, &li)) != MC_OK)
            return rc;
        if (li.duplicates) {
            list_index_free(&li);
            return duplicate_error(w, schema);
        }
        const json_t *items = json_object_get(schema, "items");
        int map_list = list_type(w, schema) == LIST_MAP; /* at the list, not its items */
        for (size_t i = 0; rc == MC_OK && i < li.count; i++) {
            if ((rc = push(w, mc_strdup(li.elems[i]))) != MC_OK)
                break;
            if (map_list)
                rc = owned_set(w, items, json_array_get(value, i), set);
            if (rc == MC_OK)
                rc = insert_here(w, set);
            pop(w);
        }
        list_index_free(&li);
        return rc;
    }
    return insert_here(w, set);
}

int mc_fieldset_of_object(const mc_fieldset_type *type, const json_t *obj, json_t **out,
                          mc_err *err)
{
    walk w;
    *out = NULL;
    int rc = walk_init(&w, type, err);
    json_t *set = json_object();
    if (rc == MC_OK && !set)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK)
        rc = owned_set(&w, type->schema, obj, set);
    walk_done(&w);
    if (rc != MC_OK) {
        json_decref(set);
        return rc;
    }
    *out = set;
    return MC_OK;
}

/* ---- comparing two objects ---- */

/* Every path inside value, and value's own path. */
static int whole_value(walk *w, const json_t *schema, const json_t *value, json_t *set)
{
    int rc = insert_here(w, set);
    if (rc != MC_OK)
        return rc;
    if (granular_object(schema, value)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)value, key, child)
        {
            if (skipped(w, key))
                continue;
            const json_t *cs = child_schema(w, schema, key);
            if ((rc = push(w, prefixed("f:", key))) != MC_OK)
                return rc;
            rc = whole_value(w, cs, child, set);
            pop(w);
            if (rc != MC_OK)
                return rc;
        }
    } else if (associative_list(w, schema, value)) {
        list_index li;
        if ((rc = list_index_build(w, schema, value, &li)) != MC_OK)
            return rc;
        const json_t *items = json_object_get(schema, "items");
        for (size_t i = 0; rc == MC_OK && i < li.count; i++) {
            if ((rc = push(w, mc_strdup(li.elems[i]))) != MC_OK)
                break;
            rc = whole_value(w, items, json_array_get(value, i), set);
            pop(w);
        }
        list_index_free(&li);
    }
    return rc;
}

static int compare_values(walk *w, const json_t *schema, const json_t *a, const json_t *b,
                          json_t *changed, json_t *removed)
{
    int rc = MC_OK;
    if (!a && !b)
        return MC_OK;
    if (!a)
        return whole_value(w, schema, b, changed);
    if (!b)
        return whole_value(w, schema, a, removed);
    if (granular_object(schema, a) && granular_object(schema, b)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)a, key, child)
        {
            if (skipped(w, key))
                continue;
            const json_t *cs = child_schema(w, schema, key);
            if ((rc = push(w, prefixed("f:", key))) != MC_OK)
                return rc;
            rc = compare_values(w, cs, child, json_object_get(b, key), changed, removed);
            pop(w);
            if (rc != MC_OK)
                return rc;
        }
        json_object_foreach((json_t *)b, key, child)
        {
            if (skipped(w, key) || json_object_get(a, key))
                continue;
            const json_t *cs = child_schema(w, schema, key);
            if ((rc = push(w, prefixed("f:", key))) != MC_OK)
                return rc;
            rc = compare_values(w, cs, NULL, child, changed, removed);
            pop(w);
            if (rc != MC_OK)
                return rc;
        }
        return MC_OK;
    }
    if (associative_list(w, schema, a) && json_is_array(b)) {
        list_index la, lb;
        if ((rc = list_index_build(w, schema, a, &la)) != MC_OK)
            return rc;
        if ((rc = list_index_build(w, schema, b, &lb)) != MC_OK) {
            list_index_free(&la);
            return rc;
        }
        if (la.duplicates || lb.duplicates) {
            /* kube keeps such lists as they are; compare them whole */
            list_index_free(&la);
            list_index_free(&lb);
            return json_equal((json_t *)a, (json_t *)b) ? MC_OK : insert_here(w, changed);
        }
        const json_t *items = json_object_get(schema, "items");
        for (size_t i = 0; rc == MC_OK && i < la.count; i++) {
            long j = list_index_find(&lb, la.elems[i]);
            if ((rc = push(w, mc_strdup(la.elems[i]))) != MC_OK)
                break;
            rc = compare_values(w, items, json_array_get(a, i),
                                j >= 0 ? json_array_get(b, (size_t)j) : NULL, changed, removed);
            pop(w);
        }
        for (size_t j = 0; rc == MC_OK && j < lb.count; j++) {
            if (list_index_find(&la, lb.elems[j]) >= 0)
                continue;
            if ((rc = push(w, mc_strdup(lb.elems[j]))) != MC_OK)
                break;
            rc = compare_values(w, items, NULL, json_array_get(b, j), changed, removed);
            pop(w);
        }
        list_index_free(&la);
        list_index_free(&lb);
        return rc;
    }
    if (!json_equal((json_t *)a, (json_t *)b))
        return insert_here(w, changed);
    return MC_OK;
}

int mc_fieldset_compare(const mc_fieldset_type *type, const json_t *old, const json_t *new_obj,
                        json_t **changed, json_t **removed, mc_err *err)
{
    walk w;
    *changed = *removed = NULL;
    json_t *c = json_object(), *r = json_object();
    json_t *empty = json_object();
    int rc = walk_init(&w, type, err);
    if (rc == MC_OK && (!c || !r || !empty))
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK)
        rc = compare_values(&w, type->schema, old ? old : empty, new_obj ? new_obj : empty, c, r);
    walk_done(&w);
    json_decref(empty);
    if (rc != MC_OK) {
        json_decref(c);
        json_decref(r);
        return rc;
    }
    *changed = c;
    *removed = r;
    return MC_OK;
}

/* ---- merging a configuration into a live object ---- */

static int merge_values(walk *w, const json_t *schema, const json_t *a, const json_t *b,
                        json_t **out);

/* Merges two lists of type set or map in structured-merge-diff's order: the
 * configuration's order for the items it names, live items it does not name
 * kept where they were relative to the shared ones. */
static int merge_lists(walk *w, const json_t *schema, const json_t *a, const json_t *b,
                       json_t **out)
{
    list_index la, lb;
    int rc = list_index_build(w, schema, a, &la);
    if (rc != MC_OK)
        return rc;
    if ((rc = list_index_build(w, schema, b, &lb)) != MC_OK) {
        list_index_free(&la);
        return rc;
    }
    if (lb.duplicates) {
        list_index_free(&la);
        list_index_free(&lb);
        return duplicate_error(w, schema);
    }
    if (la.duplicates) { /* a live list kube would not merge: replaced */
        list_index_free(&la);
        list_index_free(&lb);
        *out = json_deep_copy(b);
        return *out ? MC_OK : mc_err_set(w->err, MC_ENOMEM, "out of memory");
    }
    const json_t *items = json_object_get(schema, "items");
    json_t *result = json_array();
    json_t *merged = json_object(); /* elements of b already emitted */
    size_t *shared = calloc(lb.count ? lb.count : 1, sizeof(size_t));
    size_t shared_count = 0, shared_next = 0;
    if (!result || !merged || !shared)
        rc = mc_err_set(w->err, MC_ENOMEM, "out of memory");
    for (size_t j = 0; rc == MC_OK && j < lb.count; j++)
        if (list_index_find(&la, lb.elems[j]) >= 0)
            shared[shared_count++] = j;
    const char *next_shared = shared_count ? lb.elems[shared[shared_next++]] : NULL;
    size_t li = 0, ri = 0;
    while (rc == MC_OK && (li < la.count || ri < lb.count)) {
        const json_t *emit_a = NULL, *emit_b = NULL;
        const char *elem = NULL;
        if (li < la.count && ri < lb.count) {
            if (strcmp(la.elems[li], lb.elems[ri]) == 0) {
                elem = la.elems[li];
                emit_a = json_array_get(a, li++);
                emit_b = json_array_get(b, ri++);
                next_shared = shared_next < shared_count ? lb.elems[shared[shared_next++]] : NULL;
                goto emit;
            }
            if (list_index_find(&lb, la.elems[li]) >= 0 && next_shared &&
                strcmp(next_shared, la.elems[li]) != 0) {
                li++; /* shared, but not the one this round wants */
                continue;
            }
        }
        if (li < la.count) {
            if (list_index_find(&lb, la.elems[li]) < 0) {
                elem = la.elems[li];
                emit_a = json_array_get(a, li++);
                goto emit;
            }
            if (json_object_get(merged, la.elems[li])) {
                li++;
                continue;
            }
        }
        if (ri < lb.count) {
            elem = lb.elems[ri];
            long at = list_index_find(&la, elem);
            emit_a = at >= 0 ? json_array_get(a, (size_t)at) : NULL;
            emit_b = json_array_get(b, ri++);
            if (next_shared && strcmp(next_shared, elem) == 0)
                next_shared = shared_next < shared_count ? lb.elems[shared[shared_next++]] : NULL;
            goto emit;
        }
        li++; /* unreachable: a shared live item is emitted with b's */
        continue;
    emit:
        if (emit_b)
            json_object_set_new(merged, elem, json_true());
        json_t *item = NULL;
        if ((rc = push(w, mc_strdup(elem))) != MC_OK)
            break;
        rc = merge_values(w, items, emit_a, emit_b, &item);
        pop(w);
        if (rc == MC_OK)
            json_array_append_new(result, item);
    }
    free(shared);
    json_decref(merged);
    list_index_free(&la);
    list_index_free(&lb);
    if (rc != MC_OK) {
        json_decref(result);
        return rc;
    }
    *out = result;
    return MC_OK;
}

static int merge_values(walk *w, const json_t *schema, const json_t *a, const json_t *b,
                        json_t **out)
{
    *out = NULL;
    if (!b || !a) {
        *out = json_deep_copy(b ? b : a);
        return *out ? MC_OK : mc_err_set(w->err, MC_ENOMEM, "out of memory");
    }
    if (granular_object(schema, a) && granular_object(schema, b)) {
        json_t *result = json_deep_copy(a);
        if (!result)
            return mc_err_set(w->err, MC_ENOMEM, "out of memory");
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)b, key, child)
        {
            if (skipped(w, key))
                continue;
            const json_t *cs = child_schema(w, schema, key);
            json_t *merged = NULL;
            int rc = push(w, prefixed("f:", key));
            if (rc == MC_OK) {
                rc = merge_values(w, cs, json_object_get(a, key), child, &merged);
                pop(w);
            }
            if (rc != MC_OK) {
                json_decref(result);
                return rc;
            }
            json_object_set_new(result, key, merged);
        }
        *out = result;
        return MC_OK;
    }
    if (associative_list(w, schema, a) && json_is_array(b))
        return merge_lists(w, schema, a, b, out);
    *out = json_deep_copy(b);
    return *out ? MC_OK : mc_err_set(w->err, MC_ENOMEM, "out of memory");
}

int mc_fieldset_merge(const mc_fieldset_type *type, const json_t *live, const json_t *config,
                      json_t **out, mc_err *err)
{
    walk w;
    *out = NULL;
    int rc = walk_init(&w, type, err);
    if (rc == MC_OK)
        rc = merge_values(&w, type->schema, live, config, out);
    walk_done(&w);
    return rc;
}

/* ---- removing what an applier gave up ---- */

/* Removes from value (an object or list at the walk's path) what node names,
 * keep's members excepted; *emptied: value had items and has none now. */
static int remove_values(walk *w, const json_t *schema, json_t *value, const json_t *node,
                         const json_t *keep, int *emptied)
{
    int rc = MC_OK;
    *emptied = 0;
    const char *key;
    json_t *child_node;
    if (granular_object(schema, value)) {
        size_t before = json_object_size(value);
        json_object_foreach((json_t *)node, key, child_node)
        {
            if (!mc_str_has_prefix(key, "f:") || skipped(w, key + 2))
                continue;
            json_t *child = json_object_get(value, key + 2);
            if (!child)
                continue;
            const json_t *kept = keep ? json_object_get(keep, key) : NULL;
            if (is_member(child_node) && !(kept && has_children(kept))) {
                json_object_del(value, key + 2);
                continue;
            }
            if (!json_is_object(child) && !json_is_array(child))
                continue;
            int child_emptied = 0;
            if ((rc = push(w, mc_strdup(key))) != MC_OK)
                return rc;
            rc = remove_values(w, child_schema(w, schema, key + 2), child, child_node, kept,
                               &child_emptied);
            pop(w);
            if (rc != MC_OK)
                return rc;
            /* structured-merge-diff leaves null where it empties a map, and
             * null fields are pruned before storage: the map goes */
            if (child_emptied)
                json_object_del(value, key + 2);
        }
        *emptied = before > 0 && json_object_size(value) == 0;
        return MC_OK;
    }
    if (!associative_list(w, schema, value))
        return MC_OK;
    list_index li;
    if ((rc = list_index_build(w, schema, value, &li)) != MC_OK)
        return rc;
    size_t before = li.count;
    unsigned char *drop = calloc(li.count ? li.count : 1, 1);
    if (!drop) {
        list_index_free(&li);
        return mc_err_set(w->err, MC_ENOMEM, "out of memory");
    }
    const json_t *items = json_object_get(schema, "items");
    json_object_foreach((json_t *)node, key, child_node)
    {
        long at = list_index_find(&li, key);
        if (strcmp(key, ".") == 0 || at < 0 || li.duplicates)
            continue;
        const json_t *kept = keep ? json_object_get(keep, key) : NULL;
        if (is_member(child_node) && !(kept && has_children(kept))) {
            drop[at] = 1;
            continue;
        }
        if (list_type(w, schema) != LIST_MAP)
            continue;
        int item_emptied = 0;
        if ((rc = push(w, mc_strdup(key))) != MC_OK)
            break;
        rc = remove_values(w, items, json_array_get(value, (size_t)at), child_node, kept,
                           &item_emptied);
        pop(w);
        if (rc != MC_OK)
            break;
    }
    for (size_t i = li.count; rc == MC_OK && i > 0; i--)
        if (drop[i - 1])
            json_array_remove(value, i - 1);
    free(drop);
    list_index_free(&li);
    *emptied = before > 0 && json_array_size(value) == 0;
    return rc;
}

int mc_fieldset_remove(const mc_fieldset_type *type, json_t *obj, const json_t *remove,
                       const json_t *keep, mc_err *err)
{
    walk w;
    int emptied = 0;
    int rc = walk_init(&w, type, err);
    if (rc == MC_OK && json_is_object(obj))
        rc = remove_values(&w, type->schema, obj, remove, keep, &emptied);
    walk_done(&w);
    return rc;
}
