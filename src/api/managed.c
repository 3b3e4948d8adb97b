/* managed.c - managedFields bookkeeping for every write and server-side
 * apply's merge, prune and conflicts, following kube-apiserver's field
 * manager chain (strip of server-owned metadata, reset fields per
 * subresource, before-first-apply, timestamps) over structured-merge-diff's
 * Updater.Update and Updater.Apply.
 */
#include "api/managed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "util/buf.h"
#include "util/str.h"

/* metadata fields nobody owns (kube's stripMetaManager; apiVersion, kind and
 * the metadata node itself too). */
static const char *const stripped_metadata[] = {
    "f:name",        "f:namespace",  "f:creationTimestamp", "f:selfLink",        "f:uid",
    "f:clusterName", "f:generation", "f:managedFields",     "f:resourceVersion",
};

static void entry_free(mc_managed_entry *e)
{
    free(e->manager);
    free(e->api_version);
    free(e->subresource);
    free(e->time);
    json_decref(e->set);
    memset(e, 0, sizeof(*e));
}

void mc_managed_clear(mc_managed *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        entry_free(&m->entries[i]);
    free(m->entries);
    m->entries = NULL;
    m->count = 0;
}

/* Appends an entry (strings copied, set consumed). Index or -1. */
static long entry_add(mc_managed *m, const char *manager, int apply, const char *api_version,
                      const char *subresource, const char *time, json_t *set)
{
    mc_managed_entry *grown = realloc(m->entries, (m->count + 1) * sizeof(*grown));
    if (!grown) {
        json_decref(set);
        return -1;
    }
    m->entries = grown;
    mc_managed_entry *e = &m->entries[m->count];
    e->manager = mc_strdup(manager);
    e->apply = apply;
    e->api_version = mc_strdup(api_version ? api_version : "");
    e->subresource = mc_strdup(subresource ? subresource : "");
    e->time = time ? mc_strdup(time) : NULL;
    e->set = set;
    if (!e->manager || !e->api_version || !e->subresource || !e->set || (time && !e->time)) {
        entry_free(e);
        return -1;
    }
    return (long)m->count++;
}

static void entry_remove(mc_managed *m, size_t i)
{
    entry_free(&m->entries[i]);
    memmove(&m->entries[i], &m->entries[i + 1], (m->count - i - 1) * sizeof(m->entries[0]));
    m->count--;
}

static long entry_find(const mc_managed *m, const char *manager, int apply, const char *subresource,
                       const char *api_version)
{
    for (size_t i = 0; i < m->count; i++) {
        const mc_managed_entry *e = &m->entries[i];
        if (e->apply == apply && strcmp(e->manager, manager) == 0 &&
            strcmp(e->subresource, subresource ? subresource : "") == 0 &&
            (apply || strcmp(e->api_version, api_version ? api_version : "") == 0))
            return (long)i;
    }
    return -1;
}

static void replace_set(mc_managed_entry *e, json_t *set)
{
    json_decref(e->set);
    e->set = set;
}

/* ---- decode, encode ---- */

static int decode_entry(const json_t *item, size_t index, mc_managed *m, mc_err *err)
{
    if (!json_is_object(item))
        return mc_err_set(err, MC_EINVAL, "managedFields[%zu]: must be an object", index);
    const char *manager = json_string_value(json_object_get(item, "manager"));
    const char *operation = json_string_value(json_object_get(item, "operation"));
    const char *api_version = json_string_value(json_object_get(item, "apiVersion"));
    const char *time = json_string_value(json_object_get(item, "time"));
    const char *fields_type = json_string_value(json_object_get(item, "fieldsType"));
    const char *subresource = json_string_value(json_object_get(item, "subresource"));
    const json_t *fields = json_object_get(item, "fieldsV1");
    if (!operation || (strcmp(operation, "Apply") != 0 && strcmp(operation, "Update") != 0))
        return mc_err_set(err, MC_EINVAL,
                          "managedFields[%zu].operation: must be \"Apply\" or \"Update\"", index);
    if (fields_type && strcmp(fields_type, "FieldsV1") != 0)
        return mc_err_set(err, MC_EINVAL, "managedFields[%zu].fieldsType: must be \"FieldsV1\"",
                          index);
    json_t *set = NULL;
    if (!fields || json_is_null(fields)) {
        set = json_object();
    } else {
        int rc = mc_fieldset_from_fields_v1(fields, &set, err);
        if (rc != MC_OK)
            return mc_err_prefix(err, "managedFields[%zu]", index);
    }
    int apply = strcmp(operation, "Apply") == 0;
    if (entry_find(m, manager ? manager : "", apply, subresource, api_version) >= 0) {
        json_decref(set);
        return mc_err_set(err, MC_EINVAL, "managedFields[%zu]: a duplicate of another entry",
                          index);
    }
    if (entry_add(m, manager ? manager : "", apply, api_version, subresource, time, set) < 0)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    return MC_OK;
}

int mc_managed_decode(const json_t *managed_fields, mc_managed *m, mc_err *err)
{
    m->entries = NULL;
    m->count = 0;
    if (!managed_fields || json_is_null(managed_fields))
        return MC_OK;
    if (!json_is_array(managed_fields))
        return mc_err_set(err, MC_EINVAL, "managedFields: must be a list");
    size_t i;
    const json_t *item;
    json_array_foreach(managed_fields, i, item)
    {
        int rc = decode_entry(item, i, m, err);
        if (rc != MC_OK) {
            mc_managed_clear(m);
            return rc;
        }
    }
    return MC_OK;
}

int mc_managed_is_reset(const json_t *managed_fields)
{
    if (!json_is_array(managed_fields))
        return 0;
    size_t n = json_array_size(managed_fields);
    if (n == 0)
        return 1;
    const json_t *first = json_array_get(managed_fields, 0);
    return n == 1 && json_is_object(first) && json_object_size(first) == 0;
}

static int64_t entry_seconds(const mc_managed_entry *e)
{
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (!e->time || mc_time_parse(e->time, &seconds, &nanos, NULL) != 0)
        return 0;
    return seconds;
}

static int compare_entries(const void *pa, const void *pb)
{
    const mc_managed_entry *a = *(const mc_managed_entry *const *)pa;
    const mc_managed_entry *b = *(const mc_managed_entry *const *)pb;
    if (a->apply != b->apply)
        return a->apply ? -1 : 1; /* "Apply" < "Update" */
    int64_t ta = entry_seconds(a), tb = entry_seconds(b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int c = strcmp(a->manager, b->manager);
    if (c == 0)
        c = strcmp(a->api_version, b->api_version);
    if (c == 0)
        c = strcmp(a->subresource, b->subresource);
    return c;
}

json_t *mc_managed_encode(const mc_managed *m)
{
    json_t *out = json_array();
    const mc_managed_entry **sorted = calloc(m->count ? m->count : 1, sizeof(*sorted));
    if (!out || !sorted) {
        free(sorted);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < m->count; i++)
        sorted[i] = &m->entries[i];
    qsort(sorted, m->count, sizeof(*sorted), compare_entries);
    for (size_t i = 0; i < m->count; i++) {
        const mc_managed_entry *e = sorted[i];
        json_t *fields = mc_fieldset_to_fields_v1(e->set);
        json_t *item = json_object();
        if (!fields || !item) {
            json_decref(fields);
            json_decref(item);
            json_decref(out);
            free(sorted);
            return NULL;
        }
        json_object_set_new(item, "manager", json_string(e->manager));
        json_object_set_new(item, "operation", json_string(e->apply ? "Apply" : "Update"));
        json_object_set_new(item, "apiVersion", json_string(e->api_version));
        if (e->time)
            json_object_set_new(item, "time", json_string(e->time));
        json_object_set_new(item, "fieldsType", json_string("FieldsV1"));
        json_object_set_new(item, "fieldsV1", fields);
        if (e->subresource[0])
            json_object_set_new(item, "subresource", json_string(e->subresource));
        json_array_append_new(out, item);
    }
    free(sorted);
    return out;
}

/* ---- scope ---- */

/* Removes path element key's membership from node (and the child when
 * nothing is left below it). */
static void drop_member(json_t *node, const char *key)
{
    json_t *child = json_object_get(node, key);
    if (!child)
        return;
    json_object_del(child, ".");
    if (json_object_size(child) == 0)
        json_object_del(node, key);
}

/* Restricts set, in place, to what op may own: its scope, less server-owned
 * metadata. */
static void restrict_set(const mc_managed_op *op, json_t *set)
{
    if (op->scope == MC_MANAGED_SCOPE_STATUS) {
        const char *key;
        json_t *value;
        void *tmp;
        json_object_foreach_safe(set, tmp, key, value)
        {
            if (strcmp(key, "f:status") != 0)
                json_object_del(set, key);
        }
    } else if (op->scope == MC_MANAGED_SCOPE_MAIN) {
        json_object_del(set, "f:status");
    }
    drop_member(set, "f:apiVersion");
    drop_member(set, "f:kind");
    json_t *meta = json_object_get(set, "f:metadata");
    if (!meta)
        return;
    json_object_del(meta, ".");
    for (size_t i = 0; i < sizeof(stripped_metadata) / sizeof(stripped_metadata[0]); i++)
        drop_member(meta, stripped_metadata[i]);
    if (json_object_size(meta) == 0)
        json_object_del(set, "f:metadata");
}

/* The fields next changed and removed relative to live, within op's scope. */
static int compare_scoped(const mc_managed_op *op, const json_t *live, const json_t *next,
                          json_t **changed, json_t **removed, mc_err *err)
{
    int rc = mc_fieldset_compare(&op->type, live, next, changed, removed, err);
    if (rc != MC_OK)
        return rc;
    restrict_set(op, *changed);
    restrict_set(op, *removed);
    return MC_OK;
}

/* Every entry but skip (-1: none) gives up the fields in both sets; entries
 * left empty go, skip excepted. Returns skip's index after removals. */
static long release_fields(mc_managed *m, long skip, const json_t *changed, const json_t *removed)
{
    for (size_t i = 0; i < m->count; i++) {
        if ((long)i == skip)
            continue;
        mc_fieldset_subtract(m->entries[i].set, changed);
        mc_fieldset_subtract(m->entries[i].set, removed);
    }
    for (size_t i = m->count; i > 0; i--) {
        if ((long)(i - 1) == skip || !mc_fieldset_is_empty(m->entries[i - 1].set))
            continue;
        entry_remove(m, i - 1);
        if (skip > (long)(i - 1))
            skip--;
    }
    return skip;
}

/* ---- update ---- */

int mc_managed_update(mc_managed *m, const mc_managed_op *op, const json_t *live,
                      const json_t *next, mc_err *err)
{
    json_t *changed = NULL, *removed = NULL;
    int rc = compare_scoped(op, live, next, &changed, &removed, err);
    if (rc != MC_OK)
        return rc;
    release_fields(m, -1, changed, removed);
    if (!mc_fieldset_is_empty(changed)) {
        long at = entry_find(m, op->manager, 0, op->subresource, op->api_version);
        if (at >= 0) {
            json_t *both = mc_fieldset_union(m->entries[at].set, changed);
            char *time = mc_strdup(op->now);
            if (!both || !time) {
                json_decref(both);
                free(time);
                rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            } else {
                replace_set(&m->entries[at], both);
                free(m->entries[at].time);
                m->entries[at].time = time;
            }
        } else if (entry_add(m, op->manager, 0, op->api_version, op->subresource, op->now,
                             json_incref(changed)) < 0) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        }
    }
    json_decref(changed);
    json_decref(removed);
    return rc;
}

/* ---- apply ---- */

/* kube's printManager: how a conflict names the other manager. */
static void print_manager(const mc_managed_entry *e, mc_buf *b)
{
    json_t *name = json_string(e->manager);
    char *quoted = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    mc_buf_append_str(b, quoted ? quoted : "\"\"");
    free(quoted);
    json_decref(name);
    if (e->subresource[0])
        mc_buf_appendf(b, " with subresource \"%s\"", e->subresource);
    if (!e->apply)
        mc_buf_appendf(b, " using %s", e->api_version);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The conflicts of the apply (entry self excepted): {manager, field} in
 * manager order. New array, NULL on allocation failure. */
static json_t *find_conflicts(const mc_managed *m, long self, const json_t *changed)
{
    json_t *by_manager = json_object(); /* printed manager -> paths */
    json_t *out = json_array();
    for (size_t i = 0; by_manager && out && i < m->count; i++) {
        if ((long)i == self)
            continue;
        json_t *overlap = mc_fieldset_intersection(m->entries[i].set, changed);
        json_t *paths = overlap ? mc_fieldset_paths(overlap) : NULL;
        json_decref(overlap);
        if (json_array_size(paths) > 0) {
            mc_buf name;
            mc_buf_init(&name, 1024);
            print_manager(&m->entries[i], &name);
            json_t *list = json_object_get(by_manager, name.data ? name.data : "");
            if (list)
                json_array_extend(list, paths);
            else
                json_object_set(by_manager, name.data ? name.data : "", paths);
            mc_buf_free(&name);
        }
        json_decref(paths);
    }
    size_t n = json_object_size(by_manager);
    const char **names = calloc(n ? n : 1, sizeof(char *));
    if (!names || !by_manager || !out) {
        free(names);
        json_decref(by_manager);
        json_decref(out);
        return NULL;
    }
    size_t k = 0;
    const char *key;
    json_t *value;
    json_object_foreach(by_manager, key, value) names[k++] = key;
    qsort(names, n, sizeof(names[0]), compare_strings);
    for (k = 0; k < n; k++) {
        size_t i;
        json_t *path;
        json_array_foreach(json_object_get(by_manager, names[k]), i, path)
            json_array_append_new(out, json_pack("{s:s,s:O}", "manager", names[k], "field", path));
    }
    free(names);
    json_decref(by_manager);
    return out;
}

/* Removes from merged what the applier owned last time (last) and owns no
 * more, unless another manager owns it (structured-merge-diff's prune). */
static int prune_given_up(const mc_managed *m, long self, const mc_managed_op *op,
                          const json_t *applied, json_t *merged, mc_err *err)
{
    if (self < 0 || mc_fieldset_is_empty(m->entries[self].set))
        return MC_OK;
    json_t *keep = json_deep_copy(applied);
    for (size_t i = 0; keep && i < m->count; i++) {
        if ((long)i == self)
            continue;
        json_t *more = mc_fieldset_union(keep, m->entries[i].set);
        json_decref(keep);
        keep = more;
    }
    json_t *remove = keep ? mc_fieldset_difference(m->entries[self].set, keep) : NULL;
    int rc = remove ? MC_OK : mc_err_set(err, MC_ENOMEM, "out of memory");
    if (rc == MC_OK && !mc_fieldset_is_empty(remove))
        rc = mc_fieldset_remove(&op->type, merged, remove, keep, err);
    json_decref(remove);
    json_decref(keep);
    return rc;
}

int mc_managed_apply(mc_managed *m, const mc_managed_op *op, const json_t *live,
                     const json_t *config, int force, json_t **out, int *changed_out,
                     json_t **conflicts, mc_err *err)
{
    *out = NULL;
    *conflicts = NULL;
    *changed_out = 0;
    json_t *merged = NULL, *applied = NULL, *changed = NULL, *removed = NULL;
    mc_managed work = {0};
    int rc = MC_OK;
    /* Work on a copy: a conflict leaves m as it was. */
    for (size_t i = 0; i < m->count && rc == MC_OK; i++) {
        const mc_managed_entry *e = &m->entries[i];
        if (entry_add(&work, e->manager, e->apply, e->api_version, e->subresource, e->time,
                      json_deep_copy(e->set)) < 0)
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    if (rc == MC_OK && live && work.count == 0) {
        /* An object nobody tracked yet belongs to "before-first-apply". */
        mc_managed_op first = *op;
        first.manager = "before-first-apply";
        rc = mc_managed_update(&work, &first, NULL, live, err);
    }
    if (rc == MC_OK)
        rc = mc_fieldset_merge(&op->type, live, config, &merged, err);
    if (rc == MC_OK)
        rc = mc_fieldset_of_object(&op->type, config, &applied, err);
    if (rc == MC_OK)
        restrict_set(op, applied);
    long self = entry_find(&work, op->manager, 1, op->subresource, NULL);
    if (rc == MC_OK)
        rc = prune_given_up(&work, self, op, applied, merged, err);
    if (rc == MC_OK)
        rc = compare_scoped(op, live, merged, &changed, &removed, err);
    if (rc == MC_OK) {
        json_t *found = find_conflicts(&work, self, changed);
        if (!found) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        } else if (json_array_size(found) > 0 && !force) {
            char *message = mc_managed_conflict_message(found);
            rc = mc_err_set(err, MC_ECONFLICT, "%s", message ? message : "Apply failed");
            free(message);
            *conflicts = found;
            found = NULL;
        }
        json_decref(found);
    }
    if (rc == MC_OK) {
        int content_changed = !mc_fieldset_is_empty(changed) || !mc_fieldset_is_empty(removed);
        self = release_fields(&work, self, changed, removed);
        if (self < 0) {
            self = entry_add(&work, op->manager, 1, op->api_version, op->subresource, NULL,
                             json_incref(applied));
            if (self < 0)
                rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            content_changed = 1; /* a new manager's entry gets a time */
        } else {
            mc_managed_entry *e = &work.entries[self];
            replace_set(e, json_incref(applied));
            char *version = mc_strdup(op->api_version);
            if (version) {
                free(e->api_version);
                e->api_version = version;
            }
        }
        if (rc == MC_OK && content_changed) {
            char *time = mc_strdup(op->now);
            if (time) {
                free(work.entries[self].time);
                work.entries[self].time = time;
            }
        }
        *changed_out = !mc_fieldset_is_empty(changed) || !mc_fieldset_is_empty(removed);
    }
    if (rc == MC_OK) {
        mc_managed_clear(m);
        *m = work;
        work.entries = NULL;
        work.count = 0;
        *out = merged;
        merged = NULL;
    }
    mc_managed_clear(&work);
    json_decref(merged);
    json_decref(applied);
    json_decref(changed);
    json_decref(removed);
    return rc;
}

/* ---- conflicts, manager names ---- */

char *mc_managed_conflict_message(const json_t *conflicts)
{
    mc_buf b;
    size_t n = json_array_size(conflicts);
    mc_buf_init(&b, 256 * 1024);
    if (n == 1) {
        const json_t *c = json_array_get(conflicts, 0);
        mc_buf_appendf(&b, "Apply failed with 1 conflict: conflict with %s: %s",
                       json_string_value(json_object_get(c, "manager")),
                       json_string_value(json_object_get(c, "field")));
        return mc_buf_steal(&b, NULL);
    }
    mc_buf_appendf(&b, "Apply failed with %zu conflicts: ", n);
    const char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(conflicts, i);
        const char *manager = json_string_value(json_object_get(c, "manager"));
        if (!last || strcmp(last, manager) != 0)
            mc_buf_appendf(&b, "%sconflicts with %s:", last ? "\n" : "", manager);
        mc_buf_appendf(&b, "\n- %s", json_string_value(json_object_get(c, "field")));
        last = manager;
    }
    return mc_buf_steal(&b, NULL);
}

json_t *mc_managed_conflict_causes(const json_t *conflicts)
{
    json_t *causes = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(conflicts, i, c)
    {
        mc_buf message;
        mc_buf_init(&message, 1024);
        mc_buf_appendf(&message, "conflict with %s",
                       json_string_value(json_object_get(c, "manager")));
        json_array_append_new(causes, json_pack("{s:s,s:s,s:O}", "reason", "FieldManagerConflict",
                                                "message", message.data ? message.data : "",
                                                "field", json_object_get(c, "field")));
        mc_buf_free(&message);
    }
    return causes;
}

int mc_managed_check_manager(const char *manager, mc_err *err)
{
    size_t n = strlen(manager);
    if (n > MC_MANAGED_MANAGER_MAX)
        return mc_err_set(err, MC_EINVAL, "Too long: may not be more than %d bytes",
                          MC_MANAGED_MANAGER_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)manager[i];
        if (c < 0x20 || c == 0x7f)
            return mc_err_set(err, MC_EINVAL,
                              "Invalid value: \"%.128s\": must only contain printable characters",
                              manager);
    }
    return MC_OK;
}

void mc_managed_manager_from_user_agent(const char *ua, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return;
    for (const char *p = ua ? ua : ""; *p && *p != '/'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            continue;
        if (o + 1 >= size || o >= MC_MANAGED_MANAGER_MAX)
            break;
        out[o++] = (char)c;
    }
    out[o] = '\0';
}
