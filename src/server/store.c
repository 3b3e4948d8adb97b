/* store.c - the embedded server's storage: an append-only SQLite log per
 * logical cluster plus the current state and recent history in memory.
 *
 * Every write appends one row to `log` in its own (autocommit) transaction;
 * the in-memory state (per cluster, per resource, a jansson object keyed
 * "namespace/name") and a ring of the last `history` events are updated
 * after the row is committed. Rows that a later write superseded, and
 * tombstones, are queued and deleted once they leave the history window, so
 * the log holds the live objects plus the window. See docs/server.md.
 */
#include "server/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/validate.h"
#include "util/log.h"
#include "util/sorted.h"
#include "util/str.h"

/* Marks a database as ours (PRAGMA application_id), "mcsv". */
#define STORE_APPLICATION_ID 0x6d637376
/* PRAGMA user_version of the schema below. */
#define STORE_SCHEMA_VERSION 1
/* Superseded rows are deleted every this many writes (all clusters). */
#define STORE_COMPACT_EVERY 1000
/* Longest "namespace/name" key: a namespace (63) and a name (253) with room. */
#define STORE_KEY_MAX 512

static const char STORE_SCHEMA[] =
    "CREATE TABLE clusters(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " rev INTEGER NOT NULL);"
    "CREATE TABLE log(cluster_id INTEGER NOT NULL, rev INTEGER NOT NULL,"
    " type INTEGER NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL,"
    " name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY(cluster_id, rev)) WITHOUT ROWID;";

/* One event of the history ring. */
typedef struct store_entry {
    int64_t rev;              /* the cluster revision of the change */
    mc_store_event_type type; /* ADDED, MODIFIED or DELETED */
    char *strings;            /* owned: "resource\0namespace\0name\0" */
    const char *namespace;    /* into strings */
    const char *name;         /* into strings */
    json_t *obj;              /* owned reference: the object after the change */
    json_t *prev;             /* owned reference: the object before (NULL for ADDED) */
} store_entry;

/* A row that a later write made unnecessary once it leaves the window. */
typedef struct store_superseded {
    int64_t by_rev; /* the revision that superseded it (FIFO order) */
    int64_t rev;    /* the row to delete */
} store_superseded;

/* The current objects of one resource of one cluster. */
typedef struct store_resource {
    char *name;          /* owned: "<group>/<plural>" */
    json_t *objects;     /* owned: "namespace/name" -> current object */
    const char **sorted; /* owned array of keys of objects (borrowed strings)
                            in (namespace, name) order; NULL when stale */
    size_t sorted_len;   /* entries in sorted */
} store_resource;

/* One logical cluster. */
typedef struct store_cluster {
    char *name;                 /* owned DNS-1123 label */
    int64_t id;                 /* clusters.id */
    int64_t rev;                /* current revision */
    int64_t saved_rev;          /* clusters.rev when loaded (open only) */
    store_resource **resources; /* owned array of owned resources */
    size_t resources_len;       /* entries used */
    size_t resources_cap;       /* entries allocated */
    store_entry *ring;          /* owned circular array: the last events */
    size_t ring_cap;            /* entries allocated (grows up to history) */
    size_t ring_head;           /* index of the oldest entry */
    size_t ring_len;            /* entries used */
    store_superseded *fifo;     /* owned: rows waiting for compaction */
    size_t fifo_head;           /* index of the first pending entry */
    size_t fifo_len;            /* end of pending entries (fifo_len - fifo_head pending) */
    size_t fifo_cap;            /* entries allocated */
    size_t compacting;          /* entries the running compaction deletes */
} store_cluster;

struct mc_store {
    sqlite3 *db;                   /* the database connection */
    int64_t history;               /* revisions kept per cluster */
    store_cluster **clusters;      /* owned, sorted by name */
    size_t clusters_len;           /* entries used */
    size_t clusters_cap;           /* entries allocated */
    sqlite3_stmt *insert_row;      /* INSERT INTO log */
    sqlite3_stmt *delete_row;      /* DELETE one log row */
    sqlite3_stmt *insert_cluster;  /* INSERT INTO clusters */
    sqlite3_stmt *delete_cluster;  /* DELETE FROM clusters */
    sqlite3_stmt *delete_log;      /* DELETE every log row of a cluster */
    sqlite3_stmt *set_cluster_rev; /* UPDATE clusters SET rev */
    sqlite3_stmt *begin;           /* BEGIN IMMEDIATE */
    sqlite3_stmt *commit;          /* COMMIT */
    sqlite3_stmt *rollback;        /* ROLLBACK */
    sqlite3_stmt *data_version;    /* PRAGMA data_version (checked on every request) */
    unsigned writes;               /* writes since the last compaction */
    int64_t data_version_seen;     /* PRAGMA data_version at the last cluster refresh */
    mc_store_listener listener;    /* called after each committed write */
    void *listener_ctx;            /* its argument */
};

/* ---- keys ---------------------------------------------------------------- */

static int key_make(char *out, const char *ns, const char *name)
{
    int n = snprintf(out, STORE_KEY_MAX, "%s/%s", ns ? ns : "", name);
    return n > 0 && n < STORE_KEY_MAX ? 0 : -1;
}

/* Compares key "ns/name" with the pair (ns, name): namespace first, then
 * name. Neither part contains '/', which keeps the split unambiguous. */
static int key_cmp_pair(const char *key, const char *ns, const char *name)
{
    const char *slash = strchr(key, '/');
    size_t key_ns_len = slash ? (size_t)(slash - key) : strlen(key);
    size_t ns_len = strlen(ns);
    size_t common = key_ns_len < ns_len ? key_ns_len : ns_len;
    int c = memcmp(key, ns, common);
    if (c != 0)
        return c;
    if (key_ns_len != ns_len)
        return key_ns_len < ns_len ? -1 : 1;
    return strcmp(slash ? slash + 1 : "", name);
}

/* The same order for two keys: '/' sorts before every other character. */
static int key_cmp(const void *a, const void *b)
{
    const unsigned char *x = *(const unsigned char *const *)a;
    const unsigned char *y = *(const unsigned char *const *)b;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1u : *x;
        unsigned cy = *y == '/' ? 1u : *y;
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (*x == '\0')
            return 0;
    }
}

/* The revision in an object's metadata.resourceVersion, or 0. */
static int64_t object_rev(const json_t *obj)
{
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    return rv ? strtoll(rv, NULL, 10) : 0;
}

/* ---- in-memory structures ------------------------------------------------ */

static void resource_free(store_resource *res)
{
    if (!res)
        return;
    free(res->name);
    json_decref(res->objects);
    free(res->sorted);
    free(res);
}

static void entry_clear(store_entry *e)
{
    free(e->strings);
    json_decref(e->obj);
    json_decref(e->prev);
    memset(e, 0, sizeof(*e));
}

static void cluster_free(store_cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->resources_len; i++)
        resource_free(c->resources[i]);
    free(c->resources);
    for (size_t i = 0; i < c->ring_len; i++)
        entry_clear(&c->ring[(c->ring_head + i) % c->ring_cap]);
    free(c->ring);
    free(c->fifo);
    free(c->name);
    free(c);
}

static store_cluster *cluster_new(const char *name, int64_t id, int64_t rev)
{
    store_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->name = mc_strdup(name);
    if (!c->name) {
        free(c);
        return NULL;
    }
    c->id = id;
    c->rev = rev;
    return c;
}

static const char *store_cluster_name(const void *item)
{
    return ((const store_cluster *)item)->name;
}

/* Index of cluster name in store->clusters, or where it would go (*found 0). */
static size_t cluster_index(const mc_store *store, const char *name, int *found)
{
    return mc_sorted_index((void *const *)store->clusters, store->clusters_len,
                           store_cluster_name, name, found);
}

static store_cluster *cluster_find(const mc_store *store, const char *name)
{
    int found;
    if (!name)
        return NULL;
    size_t i = cluster_index(store, name, &found);
    return found ? store->clusters[i] : NULL;
}

static int cluster_insert(mc_store *store, store_cluster *c)
{
    int found;
    size_t at = cluster_index(store, c->name, &found);
    if (found)
        return MC_EINVAL;
    if (store->clusters_len == store->clusters_cap) {
        size_t cap = store->clusters_cap ? store->clusters_cap * 2 : 8;
        store_cluster **grown = realloc(store->clusters, cap * sizeof(*grown));
        if (!grown)
            return MC_ENOMEM;
        store->clusters = grown;
        store->clusters_cap = cap;
    }
    memmove(&store->clusters[at + 1], &store->clusters[at],
            (store->clusters_len - at) * sizeof(*store->clusters));
    store->clusters[at] = c;
    store->clusters_len++;
    return 0;
}

static store_resource *resource_find(const store_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->resources_len; i++)
        if (strcmp(c->resources[i]->name, name) == 0)
            return c->resources[i];
    return NULL;
}

static store_resource *resource_get_or_add(store_cluster *c, const char *name)
{
    store_resource *res = resource_find(c, name);
    if (res)
        return res;
    if (c->resources_len == c->resources_cap) {
        size_t cap = c->resources_cap ? c->resources_cap * 2 : 8;
        store_resource **grown = realloc(c->resources, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        c->resources = grown;
        c->resources_cap = cap;
    }
    res = calloc(1, sizeof(*res));
    if (!res)
        return NULL;
    res->name = mc_strdup(name);
    res->objects = json_object();
    if (!res->name || !res->objects) {
        resource_free(res);
        return NULL;
    }
    c->resources[c->resources_len++] = res;
    return res;
}

/* Rebuilds the sorted key index when a key was added or removed. */
static int resource_sort(store_resource *res)
{
    if (res->sorted)
        return 0;
    size_t n = json_object_size(res->objects);
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!keys)
        return MC_ENOMEM;
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(res->objects, key, value)
    {
        (void)value;
        keys[i++] = key;
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    res->sorted = keys;
    res->sorted_len = n;
    return 0;
}

static void resource_unsort(store_resource *res)
{
    free(res->sorted);
    res->sorted = NULL;
    res->sorted_len = 0;
}

/* First index of res->sorted whose key is > (ns, name) (strict) or >= it. */
static size_t resource_bound(const store_resource *res, const char *ns, const char *name,
                             int strict)
{
    size_t lo = 0, hi = res->sorted_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp_pair(res->sorted[mid], ns, name);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int fifo_push(store_cluster *c, int64_t by_rev, int64_t rev)
{
    if (c->fifo_len == c->fifo_cap) {
        if (c->fifo_head > 0 && c->fifo_head >= c->fifo_cap / 2 && c->compacting == 0) {
            memmove(c->fifo, &c->fifo[c->fifo_head],
                    (c->fifo_len - c->fifo_head) * sizeof(*c->fifo));
            c->fifo_len -= c->fifo_head;
            c->fifo_head = 0;
        } else {
            size_t cap = c->fifo_cap ? c->fifo_cap * 2 : 64;
            store_superseded *grown = realloc(c->fifo, cap * sizeof(*grown));
            if (!grown)
                return MC_ENOMEM;
            c->fifo = grown;
            c->fifo_cap = cap;
        }
    }
    c->fifo[c->fifo_len].by_rev = by_rev;
    c->fifo[c->fifo_len].rev = rev;
    c->fifo_len++;
    return 0;
}

/* Appends an event to the ring, dropping the oldest beyond history. Takes
 * the references on obj and prev (also on failure). */
static int ring_push(store_cluster *c, int64_t history, int64_t rev, mc_store_event_type type,
                     const char *resource, const char *ns, const char *name, json_t *obj,
                     json_t *prev)
{
    size_t rlen = strlen(resource), nslen = strlen(ns), nlen = strlen(name);
    char *strings = malloc(rlen + nslen + nlen + 3);
    if (!strings) {
        json_decref(obj);
        json_decref(prev);
        return MC_ENOMEM;
    }
    memcpy(strings, resource, rlen + 1);
    memcpy(strings + rlen + 1, ns, nslen + 1);
    memcpy(strings + rlen + nslen + 2, name, nlen + 1);
    if ((int64_t)c->ring_len == history) {
        entry_clear(&c->ring[c->ring_head]);
        c->ring_head = (c->ring_head + 1) % c->ring_cap;
        c->ring_len--;
    } else if (c->ring_len == c->ring_cap) {
        size_t cap = c->ring_cap ? c->ring_cap * 2 : 16;
        if ((int64_t)cap > history)
            cap = (size_t)history;
        store_entry *grown = malloc(cap * sizeof(*grown));
        if (!grown) {
            free(strings);
            json_decref(obj);
            json_decref(prev);
            return MC_ENOMEM;
        }
        for (size_t i = 0; i < c->ring_len; i++)
            grown[i] = c->ring[(c->ring_head + i) % c->ring_cap];
        free(c->ring);
        c->ring = grown;
        c->ring_cap = cap;
        c->ring_head = 0;
    }
    store_entry *e = &c->ring[(c->ring_head + c->ring_len) % c->ring_cap];
    e->rev = rev;
    e->type = type;
    e->strings = strings;
    e->namespace = strings + rlen + 1;
    e->name = strings + rlen + nslen + 2;
    e->obj = obj;
    e->prev = prev;
    c->ring_len++;
    return 0;
}

/* Applies a committed change to the state and the history. obj: the object
 * after the change (for DELETED the tombstone), borrowed. */
static int cluster_apply(mc_store *store, store_cluster *c, int64_t rev, mc_store_event_type type,
                         const char *resource, const char *ns, const char *name, json_t *obj)
{
    char key[STORE_KEY_MAX];
    store_resource *res = resource_get_or_add(c, resource);
    if (!res || key_make(key, ns, name) != 0)
        return MC_ENOMEM;
    json_t *prev = json_incref(json_object_get(res->objects, key));
    c->rev = rev;
    int rc = 0;
    if (prev)
        rc = fifo_push(c, rev, object_rev(prev));
    if (rc == 0 && type == MC_STORE_DELETED) {
        rc = fifo_push(c, rev, rev);
        if (prev) {
            json_object_del(res->objects, key);
            resource_unsort(res);
        }
    } else if (rc == 0) {
        if (json_object_set(res->objects, key, obj) != 0)
            rc = MC_ENOMEM;
        else if (!prev)
            resource_unsort(res);
    }
    if (rc != 0) {
        json_decref(prev);
        return rc;
    }
    return ring_push(c, store->history, rev, type, resource, ns, name, json_incref(obj), prev);
}

/* ---- SQLite helpers ------------------------------------------------------ */

static int db_error(const mc_store *store, mc_err *err, int code, const char *what)
{
    return mc_err_set(err, code, "store: %s: %s", what, sqlite3_errmsg(store->db));
}

/* Steps a statement that returns no rows, then resets it. */
static int stmt_run(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? 0 : rc;
}

static int db_exec(mc_store *store, const char *sql, const char *what, mc_err *err)
{
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(store, err, MC_EIO, what);
    return 0;
}

/* Runs a one-value query and copies its first column as text (or "" ). */
static int db_query_text(mc_store *store, const char *sql, char *out, size_t out_size, mc_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(store, err, MC_EIO, sql);
        goto out;
    }
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        mc_strlcpy(out, text ? (const char *)text : "", out_size);
    } else if (step != SQLITE_DONE) {
        rc = db_error(store, err, MC_EIO, sql);
    }
out:
    sqlite3_finalize(stmt);
    return rc;
}

static int db_query_int(mc_store *store, const char *sql, int64_t *value, mc_err *err)
{
    char text[32];
    int rc = db_query_text(store, sql, text, sizeof(text), err);
    if (rc == 0)
        *value = strtoll(text, NULL, 10);
    return rc;
}

/* Creates the schema in a new database, checks it is ours in an old one. */
static int db_init_schema(mc_store *store, mc_err *err)
{
    int64_t app_id = 0, version = 0, tables = 0;
    int rc = db_query_int(store, "PRAGMA application_id", &app_id, err);
    if (rc == 0)
        rc = db_query_int(store, "PRAGMA user_version", &version, err);
    if (rc == 0)
        rc = db_query_int(store, "SELECT count(*) FROM sqlite_master", &tables, err);
    if (rc != 0)
        return rc;
    if (app_id == STORE_APPLICATION_ID) {
        if (version != STORE_SCHEMA_VERSION)
            return mc_err_set(err, MC_EIO, "store: schema version %" PRId64 " is not supported",
                              version);
        return 0;
    }
    if (app_id != 0 || tables != 0)
        return mc_err_set(err, MC_EIO, "store: not a meshcert database");
    char sql[1024];
    int n = snprintf(sql, sizeof(sql),
                     "BEGIN IMMEDIATE;%sPRAGMA application_id=%d;"
                     "PRAGMA user_version=%d;COMMIT;",
                     STORE_SCHEMA, STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
    if (n < 0 || (size_t)n >= sizeof(sql))
        return mc_err_set(err, MC_EINTERNAL, "store: schema text too long");
    rc = db_exec(store, sql, "create schema", err);
    if (rc != 0)
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int db_prepare(mc_store *store, mc_err *err)
{
    static const struct {
        size_t offset;
        const char *sql;
    } stmts[] = {
        {offsetof(mc_store, insert_row),
         "INSERT INTO log(cluster_id, rev, type, resource, namespace, name, body)"
         " VALUES(?, ?, ?, ?, ?, ?, ?)"},
        {offsetof(mc_store, delete_row), "DELETE FROM log WHERE cluster_id = ? AND rev = ?"},
        {offsetof(mc_store, insert_cluster), "INSERT INTO clusters(name, rev) VALUES(?, 0)"},
        {offsetof(mc_store, delete_cluster), "DELETE FROM clusters WHERE id = ?"},
        {offsetof(mc_store, delete_log), "DELETE FROM log WHERE cluster_id = ?"},
        {offsetof(mc_store, set_cluster_rev), "UPDATE clusters SET rev = ? WHERE id = ?"},
        {offsetof(mc_store, begin), "BEGIN IMMEDIATE"},
        {offsetof(mc_store, commit), "COMMIT"},
        {offsetof(mc_store, rollback), "ROLLBACK"},
        {offsetof(mc_store, data_version), "PRAGMA data_version"},
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)store + stmts[i].offset);
        if (sqlite3_prepare_v3(store->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot,
                               NULL) != SQLITE_OK)
            return mc_err_set(err, MC_EIO, "store: not a meshcert database (%s): %s", stmts[i].sql,
                              sqlite3_errmsg(store->db));
    }
    return 0;
}

static int db_quick_check(mc_store *store, mc_err *err)
{
    char result[256];
    int rc = db_query_text(store, "PRAGMA quick_check", result, sizeof(result), err);
    if (rc != 0 && (sqlite3_errcode(store->db) & 0xff) == SQLITE_CORRUPT)
        return mc_err_set(err, MC_EINVAL, "store: integrity check failed: %s",
                          sqlite3_errmsg(store->db));
    if (rc != 0)
        return rc;
    if (strcmp(result, "ok") != 0)
        return mc_err_set(err, MC_EINVAL, "store: integrity check failed: %s", result);
    return 0;
}

/* ---- open: load clusters, replay the log ---------------------------------- */

static int load_clusters(mc_store *store, mc_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT id, name, rev FROM clusters", -1, &stmt, NULL) !=
        SQLITE_OK)
        return db_error(store, err, MC_EIO, "read clusters");
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        store_cluster *c = cluster_new(name ? name : "", sqlite3_column_int64(stmt, 0), 0);
        if (!c) {
            rc = mc_err_set(err, MC_ENOMEM, "store: out of memory loading clusters");
            goto out;
        }
        c->saved_rev = sqlite3_column_int64(stmt, 2);
        rc = cluster_insert(store, c);
        if (rc != 0) {
            cluster_free(c);
            rc = mc_err_set(err, rc, "store: cannot load cluster %s", name ? name : "");
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = db_error(store, err, MC_EIO, "read clusters");
out:
    sqlite3_finalize(stmt);
    return rc;
}

static store_cluster *cluster_by_id(const mc_store *store, int64_t id)
{
    for (size_t i = 0; i < store->clusters_len; i++)
        if (store->clusters[i]->id == id)
            return store->clusters[i];
    return NULL;
}

static int replay(mc_store *store, mc_err *err)
{
    sqlite3_stmt *stmt = NULL;
    store_cluster *c = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT cluster_id, rev, type, resource, namespace, name, body"
                           " FROM log ORDER BY cluster_id, rev",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_error(store, err, MC_EIO, "read log");
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(stmt, 0);
        int64_t rev = sqlite3_column_int64(stmt, 1);
        int type = sqlite3_column_int(stmt, 2);
        const char *resource = (const char *)sqlite3_column_text(stmt, 3);
        const char *ns = (const char *)sqlite3_column_text(stmt, 4);
        const char *name = (const char *)sqlite3_column_text(stmt, 5);
        const char *body = (const char *)sqlite3_column_text(stmt, 6);
        if (!c || c->id != id)
            c = cluster_by_id(store, id);
        if (!c) {
            /* A row of a removed cluster (another process removed it while a
             * server wrote): not part of any state. */
            mc_log_warn("store", "ignoring log row %" PRId64 " of unknown cluster %" PRId64, rev,
                        id);
            continue;
        }
        if (type < MC_STORE_ADDED || type > MC_STORE_DELETED || !resource || !ns || !name ||
            !body || rev <= c->rev) {
            rc = mc_err_set(err, MC_EINVAL, "store: cluster %s: malformed log row %" PRId64,
                            c->name, rev);
            goto out;
        }
        json_error_t jerr;
        json_t *obj = json_loads(body, 0, &jerr);
        if (!json_is_object(obj)) {
            json_decref(obj);
            rc =
                mc_err_set(err, MC_EINVAL,
                           "store: cluster %s: log row %" PRId64 " (%s %s/%s) is not a JSON object",
                           c->name, rev, resource, ns, name);
            goto out;
        }
        rc = cluster_apply(store, c, rev, (mc_store_event_type)type, resource, ns, name, obj);
        json_decref(obj);
        if (rc != 0) {
            rc = mc_err_set(err, rc, "store: cluster %s: out of memory replaying the log", c->name);
            goto out;
        }
    }
    if (step != SQLITE_DONE) {
        rc = db_error(store, err, MC_EIO, "read log");
        goto out;
    }
    /* clusters.rev covers a cluster whose log compaction emptied. */
    for (size_t i = 0; i < store->clusters_len; i++)
        if (store->clusters[i]->saved_rev > store->clusters[i]->rev)
            store->clusters[i]->rev = store->clusters[i]->saved_rev;
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- compaction ----------------------------------------------------------- */

/* Deletes, in one transaction, every queued row superseded at a revision
 * that has left the history window. A failure leaves the queue as it was
 * (the rows are retried at the next compaction). */
static void store_compact(mc_store *store)
{
    int any = 0, rc = 0;
    store->writes = 0;
    for (size_t i = 0; i < store->clusters_len; i++) {
        store_cluster *c = store->clusters[i];
        int64_t limit = c->rev - store->history;
        c->compacting = 0;
        while (c->fifo_head + c->compacting < c->fifo_len &&
               c->fifo[c->fifo_head + c->compacting].by_rev <= limit)
            c->compacting++;
        any |= c->compacting > 0;
    }
    if (!any)
        return;
    rc = stmt_run(store->begin);
    for (size_t i = 0; rc == 0 && i < store->clusters_len; i++) {
        store_cluster *c = store->clusters[i];
        for (size_t k = 0; rc == 0 && k < c->compacting; k++) {
            sqlite3_bind_int64(store->delete_row, 1, c->id);
            sqlite3_bind_int64(store->delete_row, 2, c->fifo[c->fifo_head + k].rev);
            rc = stmt_run(store->delete_row);
        }
        if (rc == 0 && c->compacting > 0) {
            /* Keeps the revision right even if the log of the cluster were empty. */
            sqlite3_bind_int64(store->set_cluster_rev, 1, c->rev);
            sqlite3_bind_int64(store->set_cluster_rev, 2, c->id);
            rc = stmt_run(store->set_cluster_rev);
        }
    }
    if (rc == 0)
        rc = stmt_run(store->commit);
    if (rc != 0) {
        mc_log_warn("store", "compaction failed (retried later): %s", sqlite3_errmsg(store->db));
        stmt_run(store->rollback);
    }
    for (size_t i = 0; i < store->clusters_len; i++) {
        store_cluster *c = store->clusters[i];
        if (rc == 0)
            c->fifo_head += c->compacting;
        c->compacting = 0;
        if (c->fifo_head == c->fifo_len)
            c->fifo_head = c->fifo_len = 0;
    }
}

/* ---- public API ----------------------------------------------------------- */

/* The database holds every Secret: it, its -wal and its -shm are 0600
 * whatever the umask or the directory's mode. SQLite creates -wal and -shm
 * with the mode of the database file, so the database is made (or fixed)
 * first; existing -wal and -shm files of an older run are fixed too. */
static int store_restrict_modes(const char *path, mc_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mc_err_set(err, MC_EIO, "store: cannot open %s: %s", path, strerror(errno));
    int rc = fchmod(fd, 0600) == 0
                 ? MC_OK
                 : mc_err_set(err, MC_EIO, "store: chmod 0600 %s: %s", path, strerror(errno));
    close(fd);
    const char *suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; rc == MC_OK && i < 2; i++) {
        char side[4200];
        if (snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= (int)sizeof(side))
            return mc_err_set(err, MC_ELIMIT, "store: path too long: %s", path);
        if (chmod(side, 0600) != 0 && errno != ENOENT)
            rc = mc_err_set(err, MC_EIO, "store: chmod 0600 %s: %s", side, strerror(errno));
    }
    return rc;
}

int mc_store_open(const char *path, int64_t history, mc_store **out, mc_err *err)
{
    int rc = 0;
    *out = NULL;
    mc_store *store = calloc(1, sizeof(*store));
    if (!store)
        return mc_err_set(err, MC_ENOMEM, "store: out of memory");
    store->history = history > 0 ? history : MC_STORE_DEFAULT_HISTORY;
    if (strcmp(path, ":memory:") != 0 && (rc = store_restrict_modes(path, err)) != 0)
        goto out;
    if (sqlite3_open_v2(path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = mc_err_set(err, MC_EIO, "store: cannot open %s: %s", path,
                        store->db ? sqlite3_errmsg(store->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(store->db, 5000);
    char mode[16];
    rc = db_query_text(store, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err);
    if (rc == 0 && strcmp(mode, "wal") != 0)
        rc = mc_err_set(err, MC_EIO, "store: %s: cannot use WAL mode (got %s)", path, mode);
    if (rc == 0)
        rc = db_exec(store, "PRAGMA synchronous=NORMAL", "set synchronous", err);
    if (rc == 0)
        rc = db_quick_check(store, err);
    if (rc == 0)
        rc = db_init_schema(store, err);
    if (rc == 0)
        rc = db_prepare(store, err);
    if (rc == 0)
        rc = load_clusters(store, err);
    if (rc == 0)
        rc = replay(store, err);
    if (rc != 0) {
        mc_err_prefix(err, "%s", path);
        goto out;
    }
    store_compact(store);
    *out = store;
    store = NULL;
out:
    mc_store_close(store);
    return rc;
}

void mc_store_close(mc_store *store)
{
    if (!store)
        return;
    sqlite3_stmt *stmts[] = {store->insert_row,     store->delete_row, store->insert_cluster,
                             store->delete_cluster, store->delete_log, store->set_cluster_rev,
                             store->begin,          store->commit,     store->rollback,
                             store->data_version};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(store->db);
    for (size_t i = 0; i < store->clusters_len; i++)
        cluster_free(store->clusters[i]);
    free(store->clusters);
    free(store);
}

void mc_store_set_listener(mc_store *store, mc_store_listener fn, void *ctx)
{
    store->listener = fn;
    store->listener_ctx = ctx;
}

int mc_store_cluster_add(mc_store *store, const char *cluster, mc_err *err)
{
    mc_err verr = {0};
    if (!cluster || mc_validate_dns1123_label(cluster, &verr) != 0)
        return mc_err_set(err, MC_EINVAL, "cluster name \"%s\": %s", cluster ? cluster : "",
                          verr.msg);
    if (cluster_find(store, cluster))
        return mc_err_set(err, MC_EINVAL, "cluster %s already exists", cluster);
    sqlite3_bind_text(store->insert_cluster, 1, cluster, -1, SQLITE_STATIC);
    if (stmt_run(store->insert_cluster) != 0)
        return mc_err_set(err, MC_EIO, "store: cannot add cluster %s: %s", cluster,
                          sqlite3_errmsg(store->db));
    store_cluster *c = cluster_new(cluster, sqlite3_last_insert_rowid(store->db), 0);
    if (!c || cluster_insert(store, c) != 0) {
        cluster_free(c);
        /* The row stays; the next open loads it. Memory is what failed. */
        return mc_err_set(err, MC_ENOMEM, "store: out of memory adding cluster %s", cluster);
    }
    return 0;
}

int mc_store_cluster_remove(mc_store *store, const char *cluster, mc_err *err)
{
    int found;
    size_t i = cluster_index(store, cluster, &found);
    if (!found)
        return mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster);
    store_cluster *c = store->clusters[i];
    int rc = stmt_run(store->begin);
    if (rc == 0) {
        sqlite3_bind_int64(store->delete_log, 1, c->id);
        rc = stmt_run(store->delete_log);
    }
    if (rc == 0) {
        sqlite3_bind_int64(store->delete_cluster, 1, c->id);
        rc = stmt_run(store->delete_cluster);
    }
    if (rc == 0)
        rc = stmt_run(store->commit);
    if (rc != 0) {
        mc_err_set(err, MC_EIO, "store: cannot remove cluster %s: %s", cluster,
                   sqlite3_errmsg(store->db));
        stmt_run(store->rollback);
        return MC_EIO;
    }
    memmove(&store->clusters[i], &store->clusters[i + 1],
            (store->clusters_len - i - 1) * sizeof(*store->clusters));
    store->clusters_len--;
    cluster_free(c);
    return 0;
}

int mc_store_cluster_exists(const mc_store *store, const char *cluster)
{
    return cluster_find(store, cluster) != NULL;
}

const char **mc_store_cluster_names(const mc_store *store, size_t *count)
{
    const char **names = malloc((store->clusters_len ? store->clusters_len : 1) * sizeof(*names));
    *count = 0;
    if (!names)
        return NULL;
    for (size_t i = 0; i < store->clusters_len; i++)
        names[i] = store->clusters[i]->name;
    *count = store->clusters_len;
    return names;
}

int64_t mc_store_revision(const mc_store *store, const char *cluster)
{
    const store_cluster *c = cluster_find(store, cluster);
    return c ? c->rev : -1;
}

int64_t mc_store_oldest_resumable(const mc_store *store, const char *cluster)
{
    const store_cluster *c = cluster_find(store, cluster);
    if (!c)
        return -1;
    return c->rev > store->history ? c->rev - store->history : 0;
}

const json_t *mc_store_get(const mc_store *store, const char *cluster, const char *resource,
                           const char *namespace, const char *name)
{
    char key[STORE_KEY_MAX];
    const store_cluster *c = cluster_find(store, cluster);
    if (!c || !resource || !name)
        return NULL;
    const store_resource *res = resource_find(c, resource);
    if (!res || key_make(key, namespace, name) != 0)
        return NULL;
    return json_object_get(res->objects, key);
}

int mc_store_list(const mc_store *store, const char *cluster, const char *resource, const char *ns,
                  const char *after_ns, const char *after_name, size_t limit, const json_t ***out,
                  size_t *count, int *more, mc_err *err)
{
    *out = NULL;
    *count = 0;
    *more = 0;
    const store_cluster *c = cluster_find(store, cluster);
    if (!c)
        return mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster ? cluster : "");
    store_resource *res = resource_find(c, resource);
    size_t total = res ? json_object_size(res->objects) : 0;
    size_t cap = limit && limit < total ? limit : total;
    const json_t **items = malloc((cap ? cap : 1) * sizeof(*items));
    if (!items || (res && resource_sort(res) != 0)) {
        free(items);
        return mc_err_set(err, MC_ENOMEM, "store: out of memory listing %s in cluster %s", resource,
                          cluster);
    }
    size_t n = 0;
    if (res) {
        size_t start = 0;
        if (ns)
            start = resource_bound(res, ns, "", 0);
        if (after_name) {
            size_t after = resource_bound(res, after_ns ? after_ns : "", after_name, 1);
            if (after > start)
                start = after;
        }
        for (size_t i = start; i < res->sorted_len; i++) {
            const char *key = res->sorted[i];
            if (ns) {
                size_t ns_len = strlen(ns);
                if (strncmp(key, ns, ns_len) != 0 || key[ns_len] != '/')
                    break;
            }
            if (limit && n == limit) {
                *more = 1;
                break;
            }
            items[n++] = json_object_get(res->objects, key);
        }
    }
    *out = items;
    *count = n;
    return 0;
}

/* Appends one row; 0 or SQLite's result code. */
static int log_append(mc_store *store, const store_cluster *c, int64_t rev,
                      mc_store_event_type type, const char *resource, const char *ns,
                      const char *name, const char *body)
{
    sqlite3_stmt *s = store->insert_row;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, rev);
    sqlite3_bind_int(s, 3, (int)type);
    sqlite3_bind_text(s, 4, resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, body, -1, SQLITE_STATIC);
    return stmt_run(s);
}

static int check_key(const char *cluster, const char *resource, const char *ns, const char *name,
                     mc_err *err)
{
    char key[STORE_KEY_MAX];
    if (!resource || !*resource || !name || !*name || strchr(ns, '/') || strchr(name, '/') ||
        key_make(key, ns, name) != 0)
        return mc_err_set(err, MC_EINVAL, "store: invalid key %s %s/%s in cluster %s",
                          resource ? resource : "(null)", ns, name ? name : "(null)", cluster);
    return 0;
}

static void notify(mc_store *store, const char *cluster, int64_t rev, mc_store_event_type type,
                   const char *resource, const char *ns, const char *name, const json_t *obj,
                   const json_t *prev)
{
    if (!store->listener)
        return;
    mc_store_event event = {.rev = rev,
                            .type = type,
                            .resource = resource,
                            .namespace = ns,
                            .name = name,
                            .obj = obj,
                            .prev = prev};
    store->listener(store->listener_ctx, cluster, &event);
}

static void after_write(mc_store *store)
{
    if (++store->writes >= STORE_COMPACT_EVERY)
        store_compact(store);
}

static json_t *rev_string(int64_t rev)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, rev);
    return json_string(text);
}

int mc_store_put(mc_store *store, const char *cluster, const char *resource, const char *namespace,
                 const char *name, json_t *obj, int64_t *rev, mc_err *err)
{
    const char *ns = namespace ? namespace : "";
    char *body = NULL;
    json_t *old_rv = NULL;
    json_t *metadata;
    int rc;
    store_cluster *c = cluster_find(store, cluster);
    if (!c)
        return mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster ? cluster : "");
    rc = check_key(cluster, resource, ns, name, err);
    if (rc != 0)
        return rc;
    if (!json_is_object(obj))
        return mc_err_set(err, MC_EINVAL, "store: %s %s/%s in cluster %s is not a JSON object",
                          resource, ns, name, cluster);
    const json_t *prev = mc_store_get(store, cluster, resource, ns, name);
    if (prev == obj)
        /* The stored object is shared with the history; it must not change. */
        return mc_err_set(err, MC_EINVAL,
                          "store: %s %s/%s in cluster %s: put of the stored"
                          " object itself (pass a copy)",
                          resource, ns, name, cluster);
    int64_t next = c->rev + 1;
    mc_store_event_type type = prev ? MC_STORE_MODIFIED : MC_STORE_ADDED;
    metadata = json_object_get(obj, "metadata");
    if (!json_is_object(metadata)) {
        metadata = json_object();
        if (!metadata || json_object_set_new(obj, "metadata", metadata) != 0) {
            rc = mc_err_set(err, MC_ENOMEM, "store: out of memory");
            goto out;
        }
    }
    old_rv = json_incref(json_object_get(metadata, "resourceVersion"));
    if (json_object_set_new(metadata, "resourceVersion", rev_string(next)) != 0 ||
        !(body = json_dumps(obj, JSON_COMPACT))) {
        rc = mc_err_set(err, MC_ENOMEM, "store: out of memory encoding %s %s/%s", resource, ns,
                        name);
        goto restore;
    }
    if (log_append(store, c, next, type, resource, ns, name, body) != 0) {
        rc = mc_err_set(err, MC_EIO, "store: cannot write %s %s/%s in cluster %s: %s", resource, ns,
                        name, cluster, sqlite3_errmsg(store->db));
        goto restore;
    }
    json_t *kept_prev = json_incref((json_t *)prev);
    rc = cluster_apply(store, c, next, type, resource, ns, name, obj);
    if (rc != 0) {
        /* The row is durable; memory is what failed. A restart replays it. */
        json_decref(kept_prev);
        rc = mc_err_set(err, rc, "store: out of memory applying %s %s/%s in cluster %s", resource,
                        ns, name, cluster);
        goto out;
    }
    if (rev)
        *rev = next;
    notify(store, cluster, next, type, resource, ns, name, obj, kept_prev);
    json_decref(kept_prev);
    after_write(store);
    goto out;
restore:
    if (old_rv)
        json_object_set(metadata, "resourceVersion", old_rv);
    else
        json_object_del(metadata, "resourceVersion");
out:
    json_decref(old_rv);
    free(body);
    return rc;
}

int mc_store_delete(mc_store *store, const char *cluster, const char *resource,
                    const char *namespace, const char *name, int64_t *rev, mc_err *err)
{
    const char *ns = namespace ? namespace : "";
    char *body = NULL;
    json_t *tombstone = NULL, *prev = NULL;
    int rc;
    store_cluster *c = cluster_find(store, cluster);
    if (!c)
        return mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster ? cluster : "");
    rc = check_key(cluster, resource, ns, name, err);
    if (rc != 0)
        return rc;
    prev = json_incref((json_t *)mc_store_get(store, cluster, resource, ns, name));
    if (!prev)
        return mc_err_set(err, MC_ENOTFOUND, "%s %s/%s not found in cluster %s", resource, ns, name,
                          cluster);
    int64_t next = c->rev + 1;
    /* The tombstone is the last state with the deletion's revision; copies
     * are shallow: only the top level and metadata differ. */
    tombstone = json_copy(prev);
    json_t *metadata = json_copy(json_object_get(prev, "metadata"));
    if (!metadata)
        metadata = json_object();
    if (!tombstone || !metadata || json_object_set_new(tombstone, "metadata", metadata) != 0 ||
        json_object_set_new(metadata, "resourceVersion", rev_string(next)) != 0 ||
        !(body = json_dumps(tombstone, JSON_COMPACT))) {
        rc = mc_err_set(err, MC_ENOMEM, "store: out of memory deleting %s %s/%s", resource, ns,
                        name);
        goto out;
    }
    if (log_append(store, c, next, MC_STORE_DELETED, resource, ns, name, body) != 0) {
        rc = mc_err_set(err, MC_EIO, "store: cannot delete %s %s/%s in cluster %s: %s", resource,
                        ns, name, cluster, sqlite3_errmsg(store->db));
        goto out;
    }
    rc = cluster_apply(store, c, next, MC_STORE_DELETED, resource, ns, name, tombstone);
    if (rc != 0) {
        rc = mc_err_set(err, rc,
                        "store: out of memory applying the deletion of %s %s/%s in"
                        " cluster %s",
                        resource, ns, name, cluster);
        goto out;
    }
    if (rev)
        *rev = next;
    notify(store, cluster, next, MC_STORE_DELETED, resource, ns, name, tombstone, prev);
    after_write(store);
out:
    json_decref(tombstone);
    json_decref(prev);
    free(body);
    return rc;
}

int mc_store_history(const mc_store *store, const char *cluster, int64_t since,
                     void (*fn)(void *ctx, const mc_store_event *event), void *ctx, mc_err *err)
{
    const store_cluster *c = cluster_find(store, cluster);
    if (!c)
        return mc_err_set(err, MC_ENOTFOUND, "cluster %s not found", cluster ? cluster : "");
    int64_t oldest = mc_store_oldest_resumable(store, cluster);
    if (since < oldest)
        return mc_err_set(err, MC_EEXPIRED, "too old resource version: %" PRId64 " (%" PRId64 ")",
                          since, oldest);
    /* The ring holds revisions (rev - ring_len, rev], contiguous, and
     * ring_len = rev - oldest: every change after `since` is there. */
    assert(c->ring_len == 0 ||
           c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap].rev == c->rev);
    assert((int64_t)c->ring_len >= c->rev - oldest);
    size_t skip = 0;
    if (c->ring_len > 0) {
        int64_t first = c->ring[c->ring_head].rev;
        if (since >= first)
            skip = (size_t)(since - first + 1);
    }
    for (size_t i = skip; i < c->ring_len; i++) {
        const store_entry *e = &c->ring[(c->ring_head + i) % c->ring_cap];
        mc_store_event event = {.rev = e->rev,
                                .type = e->type,
                                .resource = e->strings,
                                .namespace = e->namespace,
                                .name = e->name,
                                .obj = e->obj,
                                .prev = e->prev};
        fn(ctx, &event);
    }
    return 0;
}

/* ---- clusters changed by another process --------------------------------- */

int mc_store_refresh_clusters(mc_store *store, int *changed, mc_err *err)
{
    *changed = 0;
    int64_t version = 0;
    /* Prepared once: this runs for every HTTP request. */
    int rc = 0;
    if (sqlite3_step(store->data_version) == SQLITE_ROW)
        version = sqlite3_column_int64(store->data_version, 0);
    else
        rc = db_error(store, err, MC_EIO, "PRAGMA data_version");
    sqlite3_reset(store->data_version);
    if (rc != 0 || version == store->data_version_seen)
        return rc;
    store->data_version_seen = version;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT id, name, rev FROM clusters", -1, &stmt, NULL) !=
        SQLITE_OK)
        return db_error(store, err, MC_EIO, "read clusters");
    /* Mark what the table holds; add what memory lacks. */
    char *seen = calloc(store->clusters_len + 1, 1);
    int step;
    while (seen && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        int found = 0;
        size_t i = name ? cluster_index(store, name, &found) : 0;
        if (!name)
            continue;
        if (found && store->clusters[i]->id != sqlite3_column_int64(stmt, 0)) {
            /* Removed and added again by the other process: a new, empty
             * cluster (its rows carry the new id). */
            store_cluster *fresh =
                cluster_new(name, sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 2));
            if (!fresh) {
                rc = mc_err_set(err, MC_ENOMEM, "store: out of memory loading cluster %s", name);
                break;
            }
            cluster_free(store->clusters[i]);
            store->clusters[i] = fresh;
            *changed = 1;
        }
        if (found) {
            /* cluster_index's position is in the array as it was when seen was sized. */
            if (i < store->clusters_len)
                seen[i] = 1;
            continue;
        }
        store_cluster *c =
            cluster_new(name, sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 2));
        if (!c || cluster_insert(store, c) != 0) {
            cluster_free(c);
            rc = mc_err_set(err, MC_ENOMEM, "store: out of memory loading cluster %s", name);
            break;
        }
        /* Keep seen aligned with the array: the new cluster was inserted at i. */
        char *grown = realloc(seen, store->clusters_len + 1);
        if (!grown) {
            rc = mc_err_set(err, MC_ENOMEM, "store: out of memory");
            break;
        }
        seen = grown;
        memmove(seen + i + 1, seen + i, store->clusters_len - 1 - i);
        seen[i] = 1;
        *changed = 1;
    }
    sqlite3_finalize(stmt);
    if (!seen)
        return mc_err_set(err, MC_ENOMEM, "store: out of memory");
    /* Drop from memory the clusters another process removed. */
    for (size_t i = store->clusters_len; rc == 0 && i-- > 0;) {
        if (seen[i])
            continue;
        cluster_free(store->clusters[i]);
        memmove(&store->clusters[i], &store->clusters[i + 1],
                (store->clusters_len - i - 1) * sizeof(*store->clusters));
        store->clusters_len--;
        *changed = 1;
    }
    free(seen);
    return rc;
}
