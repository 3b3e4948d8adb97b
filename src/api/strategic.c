/* strategic.c - strategic merge patch (see strategic.h).
 *
 * The patch is applied to a deep copy of the document, object by object:
 * members as in a JSON merge patch, lists with a merge key item by item
 * (found by that key, merged recursively, new ones appended, "$patch":
 * "delete" ones removed), then the object's directives. kube reads merge
 * keys from Go struct tags; the server holds a handful of built-ins, so the
 * table below names the fields of theirs that have one.
 */
#include "api/strategic.h"

#include <string.h>

#include "util/str.h"

#define DIRECTIVE_ORDER  "$setElementOrder/"
#define DIRECTIVE_DELETE "$deleteFromPrimitiveList/"

/* patchMergeKey of the list fields of core/v1 PodSpec (in Pods and in
 * Deployments' templates), Container, ObjectMeta and the status
 * conditions, as k8s.io/api declares them. */
static const struct {
    const char *field, *key;
} merge_keys[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"env", "name"},
    {"ports", "containerPort"},
    {"volumes", "name"},
    {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"},
    {"imagePullSecrets", "name"},
    {"hostAliases", "ip"},
    {"resourceClaims", "name"},
    {"readinessGates", "conditionType"},
    {"topologySpreadConstraints", "topologyKey"},
    {"ownerReferences", "uid"},
    {"conditions", "type"},
};

/* Lists of strings whose patchStrategy is merge: items are added, never
 * replaced (metadata.finalizers). */
static int is_primitive_merge_list(const char *field)
{
    return strcmp(field, "finalizers") == 0;
}

static const char *merge_key_of(const char *field)
{
    for (size_t i = 0; i < sizeof(merge_keys) / sizeof(merge_keys[0]); i++)
        if (strcmp(merge_keys[i].field, field) == 0)
            return merge_keys[i].key;
    return NULL;
}

static int merge_object(json_t *doc, const json_t *patch, int *deleted, mc_err *err);

/* A copy of value with every directive applied to nothing (new objects). */
static int fresh_value(const json_t *patch, json_t **out, mc_err *err)
{
    *out = NULL;
    if (json_is_object(patch)) {
        json_t *obj = json_object();
        int deleted = 0;
        int rc = obj ? merge_object(obj, patch, &deleted, err)
                     : mc_err_set(err, MC_ENOMEM, "out of memory");
        if (rc != MC_OK) {
            json_decref(obj);
            return rc;
        }
        *out = obj;
        return MC_OK;
    }
    if (json_is_array(patch)) {
        json_t *list = json_array();
        size_t i;
        const json_t *item;
        json_array_foreach(patch, i, item)
        {
            json_t *copy = NULL;
            int rc = fresh_value(item, &copy, err);
            if (rc != MC_OK || json_array_append_new(list, copy) != 0) {
                json_decref(list);
                return rc != MC_OK ? rc : mc_err_set(err, MC_ENOMEM, "out of memory");
            }
        }
        *out = list;
        return MC_OK;
    }
    *out = json_deep_copy(patch);
    return *out ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
}

/* The $patch directive of an object: NULL when absent. */
static const char *patch_directive(const json_t *obj)
{
    return json_string_value(json_object_get(obj, "$patch"));
}

static int find_by_key(const json_t *list, const char *key, const json_t *value)
{
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) if (json_equal((json_t *)json_object_get(item, key),
                                                     (json_t *)value)) return (int)i;
    return -1;
}

/* Merges the patch's items into list by merge key (in place). */
static int merge_list(json_t *list, const json_t *patch, const char *key, mc_err *err)
{
    size_t i;
    const json_t *item;
    json_array_foreach(patch, i, item)
    {
        const char *directive = json_is_object(item) ? patch_directive(item) : NULL;
        if (directive && strcmp(directive, "replace") == 0) {
            /* {"$patch": "replace"} in a list: the other items are the list */
            json_array_clear(list);
            size_t j;
            const json_t *other;
            json_array_foreach(patch, j, other)
            {
                json_t *copy = NULL;
                if (j == i)
                    continue;
                int rc = fresh_value(other, &copy, err);
                if (rc != MC_OK)
                    return rc;
                json_array_append_new(list, copy);
            }
            return MC_OK;
        }
    }
    json_array_foreach(patch, i, item)
    {
        const json_t *value = json_is_object(item) ? json_object_get(item, key) : NULL;
        int at = value ? find_by_key(list, key, value) : -1;
        const char *directive = json_is_object(item) ? patch_directive(item) : NULL;
        if (directive && strcmp(directive, "delete") == 0) {
            if (at >= 0)
                json_array_remove(list, (size_t)at);
            continue;
        }
        int rc;
        if (at >= 0) {
            int deleted = 0;
            rc = merge_object(json_array_get(list, (size_t)at), item, &deleted, err);
            if (rc == MC_OK && deleted)
                json_array_remove(list, (size_t)at);
        } else {
            json_t *copy = NULL;
            rc = fresh_value(item, &copy, err);
            if (rc == MC_OK && json_array_append_new(list, copy) != 0)
                rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        }
        if (rc != MC_OK)
            return rc;
    }
    return MC_OK;
}

/* Adds the patch's strings that list lacks (a primitive list merged). */
static int union_list(json_t *list, const json_t *patch, mc_err *err)
{
    size_t i, j;
    const json_t *item, *have;
    json_array_foreach(patch, i, item)
    {
        int found = 0;
        json_array_foreach(list, j, have) found |= json_equal((json_t *)have, (json_t *)item);
        if (!found && json_array_append_new(list, json_deep_copy(item)) != 0)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    return MC_OK;
}

/* One member of a patch, merged into doc[name]. */
static int merge_member(json_t *doc, const char *name, const json_t *value, mc_err *err)
{
    json_t *current = json_object_get(doc, name);
    if (json_is_null(value)) {
        json_object_del(doc, name);
        return MC_OK;
    }
    if (json_is_object(value) && json_is_object(current)) {
        int deleted = 0;
        int rc = merge_object(current, value, &deleted, err);
        if (rc == MC_OK && deleted)
            json_object_del(doc, name);
        return rc;
    }
    const char *key = merge_key_of(name);
    if (json_is_array(value) && json_is_array(current) && key)
        return merge_list(current, value, key, err);
    if (json_is_array(value) && json_is_array(current) && is_primitive_merge_list(name))
        return union_list(current, value, err);
    json_t *copy = NULL;
    int rc = fresh_value(value, &copy, err);
    if (rc == MC_OK && json_object_set_new(doc, name, copy) != 0)
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    return rc;
}

/* $deleteFromPrimitiveList/<list>: the strings listed leave doc[list]. */
static int delete_from_list(json_t *doc, const char *name, const json_t *values, mc_err *err)
{
    if (!json_is_array(values))
        return mc_err_set(err, MC_EINVAL, "%s%s: not a list", DIRECTIVE_DELETE, name);
    json_t *list = json_object_get(doc, name);
    size_t i = 0;
    while (i < json_array_size(list)) {
        size_t j;
        const json_t *gone;
        int drop = 0;
        json_array_foreach(values, j, gone) drop |=
            json_equal(json_array_get(list, i), (json_t *)gone);
        if (drop)
            json_array_remove(list, i);
        else
            i++;
    }
    return MC_OK;
}

/* Does item stand for the entry of a $setElementOrder list? */
static int order_matches(const json_t *item, const json_t *entry, const char *key)
{
    if (key && json_is_object(entry))
        return json_is_object(item) &&
               json_equal(json_object_get(item, key), json_object_get(entry, key));
    return json_equal((json_t *)item, (json_t *)entry);
}

/* $setElementOrder/<list>: the items the order names come first, in its
 * order; the others follow in the order they had. */
static int set_order(json_t *doc, const char *name, const json_t *order, mc_err *err)
{
    if (!json_is_array(order))
        return mc_err_set(err, MC_EINVAL, "%s%s: not a list", DIRECTIVE_ORDER, name);
    json_t *list = json_object_get(doc, name);
    if (!json_is_array(list))
        return MC_OK;
    const char *key = merge_key_of(name);
    json_t *sorted = json_array();
    if (!sorted)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    size_t i, j;
    const json_t *entry;
    json_array_foreach(order, i, entry)
    {
        for (j = 0; j < json_array_size(list); j++) {
            json_t *item = json_array_get(list, j);
            if (order_matches(item, entry, key)) {
                json_array_append(sorted, item);
                json_array_remove(list, j);
                break;
            }
        }
    }
    json_array_extend(sorted, list);
    json_array_clear(list);
    json_array_extend(list, sorted);
    json_decref(sorted);
    return MC_OK;
}

/* $retainKeys: members not listed are dropped. */
static int retain_keys(json_t *doc, const json_t *keys, mc_err *err)
{
    if (!json_is_array(keys))
        return mc_err_set(err, MC_EINVAL, "$retainKeys: not a list");
    const char *name;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(doc, tmp, name, value)
    {
        size_t i;
        const json_t *keep;
        int kept = 0;
        json_array_foreach(keys, i, keep) kept |=
            json_is_string(keep) && strcmp(json_string_value(keep), name) == 0;
        if (!kept)
            json_object_del(doc, name);
    }
    return MC_OK;
}

/* Merges patch into the object doc in place; *deleted when the patch says
 * "$patch": "delete" (the caller removes doc). */
static int merge_object(json_t *doc, const json_t *patch, int *deleted, mc_err *err)
{
    const char *directive = patch_directive(patch);
    if (json_object_get(patch, "$patch") && !directive)
        return mc_err_set(err, MC_EINVAL, "$patch: not a string");
    if (directive && strcmp(directive, "delete") == 0) {
        *deleted = 1;
        return MC_OK;
    }
    if (directive && strcmp(directive, "replace") == 0)
        json_object_clear(doc);
    else if (directive && strcmp(directive, "merge") != 0)
        return mc_err_set(err, MC_EINVAL,
                          "$patch: unknown value \"%.40s\" (replace, delete or merge)", directive);
    const char *name;
    const json_t *value;
    int rc = MC_OK;
    json_object_foreach((json_t *)patch, name, value)
    {
        if (name[0] != '$')
            rc = merge_member(doc, name, value, err);
        else if (mc_str_has_prefix(name, DIRECTIVE_DELETE))
            rc = delete_from_list(doc, name + strlen(DIRECTIVE_DELETE), value, err);
        if (rc != MC_OK)
            return rc;
    }
    json_object_foreach((json_t *)patch, name, value)
    {
        if (mc_str_has_prefix(name, DIRECTIVE_ORDER))
            rc = set_order(doc, name + strlen(DIRECTIVE_ORDER), value, err);
        else if (strcmp(name, "$retainKeys") == 0)
            rc = retain_keys(doc, value, err);
        if (rc != MC_OK)
            return rc;
    }
    return MC_OK;
}

int mc_json_strategic_merge_patch(json_t **doc, const json_t *patch, mc_err *err)
{
    if (!json_is_object(patch))
        return mc_err_set(err, MC_EINVAL, "a strategic merge patch must be an object");
    json_t *result = json_is_object(*doc) ? json_deep_copy(*doc) : json_object();
    if (!result)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int deleted = 0;
    int rc = merge_object(result, patch, &deleted, err);
    if (rc == MC_OK && deleted)
        rc = mc_err_set(err, MC_EINVAL, "$patch: delete of the whole object");
    if (rc != MC_OK) {
        json_decref(result);
        return rc;
    }
    json_decref(*doc);
    *doc = result;
    return MC_OK;
}
