/* server_store_test.c - the embedded server's store: put/get/list/paging/
 * delete, per-cluster revisions, history replay and the exact 410 boundary,
 * compaction (rows deleted, live objects and the window kept), reopening
 * to an identical state, cluster add/remove, and damaged database files.
 * Each test works in its own temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "server/store.h"

typedef struct fixture {
    char dir[64];  /* mkdtemp directory */
    char path[96]; /* dir/store.db */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mc-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static mc_store *open_store(const fixture *f, int64_t history)
{
    mc_store *store = NULL;
    mc_err err = {0};
    int rc = mc_store_open(f->path, history, &store, &err);
    if (rc != 0)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(store);
    return store;
}

/* A new object with the given name, namespace and optional label app=. */
static json_t *object(const char *ns, const char *name, const char *app, int value)
{
    json_t *meta = json_pack("{s:s}", "name", name);
    if (ns && *ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    if (app)
        json_object_set_new(meta, "labels", json_pack("{s:s}", "app", app));
    return json_pack("{s:s, s:s, s:o, s:{s:i}}", "apiVersion", "v1", "kind", "ConfigMap",
                     "metadata", meta, "data", "value", value);
}

static int64_t put(mc_store *store, const char *cluster, const char *resource, const char *ns,
                   const char *name, int value)
{
    json_t *obj = object(ns, name, NULL, value);
    int64_t rev = 0;
    mc_err err = {0};
    int rc = mc_store_put(store, cluster, resource, ns, name, obj, &rev, &err);
    if (rc != 0)
        fprintf(stderr, "put: %s\n", err.msg);
    assert_int_equal(rc, 0);
    json_decref(obj);
    return rev;
}

static const char *rv_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void test_put_get_delete(void **state)
{
    mc_store *store = open_store(*state, 0);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    assert_int_equal(mc_store_revision(store, "c1"), 0);
    assert_int_equal(mc_store_revision(store, "nope"), -1);

    assert_int_equal(put(store, "c1", "core/configmaps", "default", "a", 1), 1);
    assert_int_equal(put(store, "c1", "core/configmaps", "default", "a", 2), 2);
    assert_int_equal(put(store, "c1", "core/namespaces", "", "default", 0), 3);

    const json_t *got = mc_store_get(store, "c1", "core/configmaps", "default", "a");
    assert_non_null(got);
    assert_string_equal(rv_of(got), "2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "data"), "value")), 2);
    assert_non_null(mc_store_get(store, "c1", "core/namespaces", "", "default"));
    assert_non_null(mc_store_get(store, "c1", "core/namespaces", NULL, "default"));
    assert_null(mc_store_get(store, "c1", "core/configmaps", "other", "a"));
    assert_null(mc_store_get(store, "c1", "core/secrets", "default", "a"));
    assert_null(mc_store_get(store, "c2", "core/configmaps", "default", "a"));

    int64_t rev = 0;
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "default", "a", &rev, &err),
                     0);
    assert_int_equal(rev, 4);
    assert_null(mc_store_get(store, "c1", "core/configmaps", "default", "a"));
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "default", "a", &rev, &err),
                     MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "default/a"));
    assert_non_null(strstr(err.msg, "c1"));
    assert_int_equal(mc_store_revision(store, "c1"), 4);

    /* Errors name the object; the state is unchanged. */
    json_t *obj = object("default", "x", NULL, 0);
    assert_int_equal(mc_store_put(store, "c9", "core/configmaps", "default", "x", obj, NULL, &err),
                     MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "c9"));
    assert_int_equal(mc_store_put(store, "c1", "core/configmaps", "a/b", "x", obj, NULL, &err),
                     MC_EINVAL);
    assert_int_equal(mc_store_put(store, "c1", "core/configmaps", "default", "", obj, NULL, &err),
                     MC_EINVAL);
    json_t *array = json_array();
    assert_int_equal(
        mc_store_put(store, "c1", "core/configmaps", "default", "x", array, NULL, &err), MC_EINVAL);
    json_decref(array);
    assert_int_equal(mc_store_revision(store, "c1"), 4);
    /* The stored object is shared with the history: putting it is refused. */
    assert_int_equal(mc_store_put(store, "c1", "core/configmaps", "default", "x", obj, NULL, &err),
                     0);
    json_t *stored = (json_t *)mc_store_get(store, "c1", "core/configmaps", "default", "x");
    assert_ptr_equal(stored, obj);
    assert_int_equal(
        mc_store_put(store, "c1", "core/configmaps", "default", "x", stored, NULL, &err),
        MC_EINVAL);
    json_decref(obj);
    mc_store_close(store);
}

static void list_names(mc_store *store, const char *ns, const char *after_ns,
                       const char *after_name, size_t limit, const char *expect, int expect_more)
{
    const json_t **items = NULL;
    size_t count = 0;
    int more = -1;
    mc_err err = {0};
    assert_int_equal(mc_store_list(store, "c1", "core/configmaps", ns, after_ns, after_name, limit,
                                   &items, &count, &more, &err),
                     0);
    char got[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *meta = json_object_get(items[i], "metadata");
        const char *n = json_string_value(json_object_get(meta, "namespace"));
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s/%s", i ? " " : "", n ? n : "",
                                json_string_value(json_object_get(meta, "name")));
    }
    free(items);
    assert_string_equal(got, expect);
    assert_int_equal(more, expect_more);
}

static void test_list_paging(void **state)
{
    mc_store *store = open_store(*state, 0);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    /* Insertion order differs from the (namespace, name) order; "a" must sort
     * before "a-b" although '-' < '/' in ASCII. */
    const char *keys[][2] = {{"a-b", "x"}, {"a", "z"}, {"b", "a"}, {"a", "y"}, {"a", "y-1"}};
    for (size_t i = 0; i < 5; i++)
        put(store, "c1", "core/configmaps", keys[i][0], keys[i][1], (int)i);
    list_names(store, NULL, NULL, NULL, 0, "a/y a/y-1 a/z a-b/x b/a", 0);
    list_names(store, "a", NULL, NULL, 0, "a/y a/y-1 a/z", 0);
    list_names(store, "a-b", NULL, NULL, 0, "a-b/x", 0);
    list_names(store, "c", NULL, NULL, 0, "", 0);
    list_names(store, NULL, NULL, NULL, 2, "a/y a/y-1", 1);
    list_names(store, NULL, "a", "y-1", 2, "a/z a-b/x", 1);
    list_names(store, NULL, "a-b", "x", 2, "b/a", 0);
    list_names(store, NULL, NULL, NULL, 5, "a/y a/y-1 a/z a-b/x b/a", 0);
    list_names(store, "a", "a", "y", 1, "a/y-1", 1);
    list_names(store, "a", "a", "y-1", 1, "a/z", 0);
    /* A cursor at a deleted key still pages on from there. */
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "a", "y-1", NULL, &err), 0);
    list_names(store, NULL, "a", "y-1", 0, "a/z a-b/x b/a", 0);
    put(store, "c1", "core/configmaps", "a", "a", 9);
    list_names(store, "a", NULL, NULL, 0, "a/a a/y a/z", 0);

    const json_t **items = NULL;
    size_t count = 7;
    int more = 7;
    assert_int_equal(mc_store_list(store, "c1", "core/secrets", NULL, NULL, NULL, 0, &items, &count,
                                   &more, &err),
                     0);
    assert_int_equal(count, 0);
    assert_int_equal(more, 0);
    free(items);
    assert_int_equal(mc_store_list(store, "zz", "core/secrets", NULL, NULL, NULL, 0, &items, &count,
                                   &more, &err),
                     MC_ENOTFOUND);
    mc_store_close(store);
}

static void test_revisions_per_cluster(void **state)
{
    mc_store *store = open_store(*state, 0);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "c2", &err), 0);
    assert_int_equal(put(store, "c1", "core/configmaps", "ns", "a", 0), 1);
    assert_int_equal(put(store, "c1", "core/configmaps", "ns", "b", 0), 2);
    assert_int_equal(put(store, "c2", "core/configmaps", "ns", "a", 0), 1);
    assert_int_equal(put(store, "c1", "core/configmaps", "ns", "c", 0), 3);
    assert_int_equal(mc_store_revision(store, "c1"), 3);
    assert_int_equal(mc_store_revision(store, "c2"), 1);
    /* Same key, separate objects. */
    assert_string_equal(rv_of(mc_store_get(store, "c2", "core/configmaps", "ns", "a")), "1");
    assert_string_equal(rv_of(mc_store_get(store, "c1", "core/configmaps", "ns", "a")), "1");
    assert_ptr_not_equal(mc_store_get(store, "c2", "core/configmaps", "ns", "a"),
                         mc_store_get(store, "c1", "core/configmaps", "ns", "a"));
    mc_store_close(store);
}

/* Collects history events as "rev:type:name" and checks obj/prev shapes. */
typedef struct collected {
    char text[4096]; /* the events, space separated */
    size_t len;      /* bytes used */
    int64_t last;    /* last revision seen */
} collected;

static void collect(void *ctx, const mc_store_event *e)
{
    collected *c = ctx;
    assert_true(e->rev > c->last);
    c->last = e->rev;
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)e->rev);
    assert_string_equal(rv_of(e->obj), rv);
    if (e->type == MC_STORE_ADDED)
        assert_null(e->prev);
    else
        assert_non_null(e->prev);
    c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s%lld:%d:%s",
                               c->len ? " " : "", (long long)e->rev, (int)e->type, e->name);
}

static void test_history_boundary(void **state)
{
    mc_store *store = open_store(*state, 5);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    collected all = {0};
    assert_int_equal(mc_store_history(store, "c1", 0, collect, &all, &err), 0);
    assert_string_equal(all.text, "");
    assert_int_equal(mc_store_oldest_resumable(store, "c1"), 0);
    for (int i = 1; i <= 4; i++)
        put(store, "c1", "core/configmaps", "ns", i % 2 ? "odd" : "even", i);
    /* rev 4 <= history: everything since 0 is there. */
    assert_int_equal(mc_store_oldest_resumable(store, "c1"), 0);
    all = (collected){0};
    assert_int_equal(mc_store_history(store, "c1", 0, collect, &all, &err), 0);
    assert_string_equal(all.text, "1:1:odd 2:1:even 3:2:odd 4:2:even");
    for (int i = 5; i <= 11; i++)
        put(store, "c1", "core/configmaps", "ns", i % 2 ? "odd" : "even", i);
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "ns", "odd", NULL, &err), 0);
    /* rev 12, history 5: oldest resumable 7; 6 is expired, 7 gives 8..12. */
    assert_int_equal(mc_store_revision(store, "c1"), 12);
    assert_int_equal(mc_store_oldest_resumable(store, "c1"), 7);
    collected c = {0};
    assert_int_equal(mc_store_history(store, "c1", 6, collect, &c, &err), MC_EEXPIRED);
    assert_string_equal(err.msg, "too old resource version: 6 (7)");
    assert_string_equal(c.text, "");
    assert_int_equal(mc_store_history(store, "c1", 7, collect, &c, &err), 0);
    assert_string_equal(c.text, "8:2:even 9:2:odd 10:2:even 11:2:odd 12:3:odd");
    c = (collected){.last = 11};
    assert_int_equal(mc_store_history(store, "c1", 11, collect, &c, &err), 0);
    assert_string_equal(c.text, "12:3:odd");
    c = (collected){0};
    assert_int_equal(mc_store_history(store, "c1", 12, collect, &c, &err), 0);
    assert_string_equal(c.text, "");
    /* A future revision: nothing yet. */
    assert_int_equal(mc_store_history(store, "c1", 99, collect, &c, &err), 0);
    assert_string_equal(c.text, "");
    assert_int_equal(mc_store_history(store, "nope", 0, collect, &c, &err), MC_ENOTFOUND);
    mc_store_close(store);

    /* The same boundary after a reopen. */
    store = open_store(*state, 5);
    assert_int_equal(mc_store_oldest_resumable(store, "c1"), 7);
    assert_int_equal(mc_store_history(store, "c1", 6, collect, &c, &err), MC_EEXPIRED);
    c = (collected){0};
    assert_int_equal(mc_store_history(store, "c1", 7, collect, &c, &err), 0);
    assert_string_equal(c.text, "8:2:even 9:2:odd 10:2:even 11:2:odd 12:3:odd");
    mc_store_close(store);
}

/* Counts rows in the log table with SQLite directly (the store is closed). */
static int64_t count_rows(const fixture *f, const char *where)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM log %s", where);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static void test_compaction(void **state)
{
    const fixture *f = *state;
    mc_store *store = open_store(f, 100);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "c2", &err), 0);
    /* Five live objects written once, long before the window. */
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "live-%d", i);
        put(store, "c1", "core/configmaps", "ns", name, i);
    }
    put(store, "c2", "core/configmaps", "ns", "other", 0);
    /* 2500 overwrites of one key and create+delete pairs. */
    for (int i = 0; i < 2500; i++) {
        if (i % 5 == 4) {
            put(store, "c1", "core/secrets", "ns", "tmp", i);
            assert_int_equal(mc_store_delete(store, "c1", "core/secrets", "ns", "tmp", NULL, &err),
                             0);
        } else {
            put(store, "c1", "core/configmaps", "ns", "hot", i);
        }
    }
    int64_t rev = mc_store_revision(store, "c1");
    assert_int_equal(rev, 5 + 2000 + 2 * 500);
    collected window = {0};
    mc_store_close(store);

    /* Compaction ran at least twice; the log holds the live objects plus at
     * most the window plus what the last 1000 writes superseded. */
    int64_t rows = count_rows(f, "WHERE cluster_id = (SELECT id FROM clusters WHERE name = 'c1')");
    assert_true(rows >= 6 + 100);
    assert_true(rows <= 6 + 100 + 1000 + 100);
    assert_int_equal(
        count_rows(f, "WHERE cluster_id = (SELECT id FROM clusters WHERE name = 'c2')"), 1);

    store = open_store(f, 100);
    /* Open compacts too: now exactly the live rows outside the window remain,
     * plus the window (rows superseded inside it are kept for history). */
    assert_int_equal(mc_store_revision(store, "c1"), rev);
    assert_int_equal(mc_store_oldest_resumable(store, "c1"), rev - 100);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "live-%d", i);
        const json_t *obj = mc_store_get(store, "c1", "core/configmaps", "ns", name);
        assert_non_null(obj);
        char rv[8];
        snprintf(rv, sizeof(rv), "%d", i + 1);
        assert_string_equal(rv_of(obj), rv);
    }
    assert_non_null(mc_store_get(store, "c1", "core/configmaps", "ns", "hot"));
    assert_null(mc_store_get(store, "c1", "core/secrets", "ns", "tmp"));
    assert_non_null(mc_store_get(store, "c2", "core/configmaps", "ns", "other"));
    window.last = rev - 100;
    assert_int_equal(mc_store_history(store, "c1", rev - 100, collect, &window, &err), 0);
    assert_int_equal(window.last, rev);
    assert_int_equal(mc_store_history(store, "c1", rev - 101, collect, &window, &err), MC_EEXPIRED);
    mc_store_close(store);
    int64_t after = count_rows(f, "WHERE cluster_id = (SELECT id FROM clusters WHERE name = 'c1')");
    assert_true(after >= 5 + 100);
    assert_true(after <= 5 + 100 + 2);
    assert_true(after <= rows);
}

/* The whole visible state of a store: objects by resource and the history. */
static json_t *snapshot(mc_store *store)
{
    static const char *resources[] = {"core/configmaps", "core/secrets", "x.io/widgets"};
    json_t *snap = json_object();
    size_t n = 0;
    const char **names = mc_store_cluster_names(store, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *cl = json_object();
        json_object_set_new(cl, "rev", json_integer(mc_store_revision(store, names[i])));
        json_object_set_new(cl, "oldest", json_integer(mc_store_oldest_resumable(store, names[i])));
        for (size_t r = 0; r < 3; r++) {
            const json_t **items = NULL;
            size_t count = 0;
            int more = 0;
            mc_err err = {0};
            assert_int_equal(mc_store_list(store, names[i], resources[r], NULL, NULL, NULL, 0,
                                           &items, &count, &more, &err),
                             0);
            json_t *arr = json_array();
            for (size_t k = 0; k < count; k++)
                json_array_append(arr, (json_t *)items[k]);
            free(items);
            json_object_set_new(cl, resources[r], arr);
        }
        json_object_set_new(snap, names[i], cl);
    }
    free(names);
    return snap;
}

static void history_to_json(void *ctx, const mc_store_event *e)
{
    json_array_append_new(ctx, json_pack("{s:I, s:i, s:s, s:s, s:s, s:O, s:O?}", "rev",
                                         (json_int_t)e->rev, "type", (int)e->type, "resource",
                                         e->resource, "ns", e->namespace, "name", e->name, "obj",
                                         e->obj, "prev", e->prev));
}

static json_t *history_of(mc_store *store, const char *cluster)
{
    json_t *arr = json_array();
    mc_err err = {0};
    assert_int_equal(mc_store_history(store, cluster, mc_store_oldest_resumable(store, cluster),
                                      history_to_json, arr, &err),
                     0);
    return arr;
}

static void test_reopen_identical(void **state)
{
    const fixture *f = *state;
    mc_store *store = open_store(f, 300);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "alpha", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "beta", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "empty", &err), 0);
    static const char *resources[] = {"core/configmaps", "core/secrets", "x.io/widgets"};
    static const char *namespaces[] = {"", "default", "kube-system"};
    unsigned seed = 12345;
    for (int i = 0; i < 4000; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *cluster = (seed >> 8) % 3 ? "alpha" : "beta";
        const char *resource = resources[(seed >> 12) % 3];
        const char *ns = namespaces[(seed >> 16) % 3];
        char name[16];
        snprintf(name, sizeof(name), "obj-%u", (seed >> 20) % 40);
        if ((seed >> 4) % 4 == 0 && mc_store_get(store, cluster, resource, ns, name)) {
            assert_int_equal(mc_store_delete(store, cluster, resource, ns, name, NULL, &err), 0);
        } else {
            json_t *obj = object(ns, name, (seed >> 6) % 2 ? "web" : NULL, i);
            assert_int_equal(mc_store_put(store, cluster, resource, ns, name, obj, NULL, &err), 0);
            json_decref(obj);
        }
    }
    json_t *before = snapshot(store);
    json_t *hist_alpha = history_of(store, "alpha");
    json_t *hist_beta = history_of(store, "beta");
    assert_int_equal(json_array_size(hist_alpha), 300);
    mc_store_close(store);

    store = open_store(f, 300);
    json_t *after = snapshot(store);
    json_t *hist_alpha2 = history_of(store, "alpha");
    json_t *hist_beta2 = history_of(store, "beta");
    assert_true(json_equal(before, after));
    assert_true(json_equal(hist_alpha, hist_alpha2));
    assert_true(json_equal(hist_beta, hist_beta2));
    assert_int_equal(mc_store_revision(store, "empty"), 0);
    /* Writes continue from the replayed revision. */
    int64_t rev = mc_store_revision(store, "alpha");
    assert_int_equal(put(store, "alpha", "core/configmaps", "default", "new", 0), rev + 1);
    mc_store_close(store);
    json_decref(before);
    json_decref(after);
    json_decref(hist_alpha);
    json_decref(hist_alpha2);
    json_decref(hist_beta);
    json_decref(hist_beta2);
}

static void test_clusters(void **state)
{
    const fixture *f = *state;
    mc_store *store = open_store(f, 0);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "zeta", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "alpha", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "mid-1", &err), 0);
    assert_int_equal(mc_store_cluster_add(store, "alpha", &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "alpha"));
    assert_int_equal(mc_store_cluster_add(store, "Bad_Name", &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "Bad_Name"));
    assert_int_equal(mc_store_cluster_add(store, "", &err), MC_EINVAL);
    assert_int_equal(mc_store_cluster_add(store, "a.b", &err), MC_EINVAL);
    assert_true(mc_store_cluster_exists(store, "alpha"));
    assert_false(mc_store_cluster_exists(store, "beta"));
    size_t n = 0;
    const char **names = mc_store_cluster_names(store, &n);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "mid-1");
    assert_string_equal(names[2], "zeta");
    free(names);
    put(store, "alpha", "core/configmaps", "ns", "a", 0);
    put(store, "zeta", "core/configmaps", "ns", "a", 0);
    assert_int_equal(mc_store_cluster_remove(store, "alpha", &err), 0);
    assert_int_equal(mc_store_cluster_remove(store, "alpha", &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "alpha"));
    assert_false(mc_store_cluster_exists(store, "alpha"));
    assert_null(mc_store_get(store, "alpha", "core/configmaps", "ns", "a"));
    mc_store_close(store);

    store = open_store(f, 0);
    names = mc_store_cluster_names(store, &n);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "mid-1");
    assert_string_equal(names[1], "zeta");
    free(names);
    assert_non_null(mc_store_get(store, "zeta", "core/configmaps", "ns", "a"));
    /* Re-adding a removed name starts a new, empty cluster. */
    assert_int_equal(mc_store_cluster_add(store, "alpha", &err), 0);
    assert_int_equal(mc_store_revision(store, "alpha"), 0);
    assert_null(mc_store_get(store, "alpha", "core/configmaps", "ns", "a"));
    mc_store_close(store);
    assert_int_equal(count_rows(f, ""), 1);
}

/* Records events given to the listener. */
static void on_event(void *ctx, const char *cluster, const mc_store_event *e)
{
    json_array_append_new(ctx, json_pack("{s:s, s:I, s:i, s:s, s:O, s:O?}", "cluster", cluster,
                                         "rev", (json_int_t)e->rev, "type", (int)e->type, "name",
                                         e->name, "obj", e->obj, "prev", e->prev));
}

static void test_listener_events(void **state)
{
    mc_store *store = open_store(*state, 0);
    mc_err err = {0};
    json_t *seen = json_array();
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    mc_store_set_listener(store, on_event, seen);
    put(store, "c1", "core/configmaps", "ns", "a", 1);
    put(store, "c1", "core/configmaps", "ns", "a", 2);
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "ns", "a", NULL, &err), 0);
    /* A failed write tells nobody. */
    assert_int_equal(mc_store_delete(store, "c1", "core/configmaps", "ns", "a", NULL, &err),
                     MC_ENOTFOUND);
    assert_int_equal(json_array_size(seen), 3);
    json_t *e0 = json_array_get(seen, 0), *e1 = json_array_get(seen, 1),
           *e2 = json_array_get(seen, 2);
    assert_int_equal(json_integer_value(json_object_get(e0, "type")), MC_STORE_ADDED);
    assert_true(json_is_null(json_object_get(e0, "prev")));
    assert_int_equal(json_integer_value(json_object_get(e1, "type")), MC_STORE_MODIFIED);
    assert_true(json_equal(json_object_get(e1, "prev"), json_object_get(e0, "obj")));
    assert_int_equal(json_integer_value(json_object_get(e2, "type")), MC_STORE_DELETED);
    assert_int_equal(json_integer_value(json_object_get(e2, "rev")), 3);
    /* The tombstone: the last state with the deletion's revision. */
    assert_string_equal(rv_of(json_object_get(e2, "obj")), "3");
    assert_string_equal(rv_of(json_object_get(e2, "prev")), "2");
    json_t *data = json_object_get(json_object_get(e2, "obj"), "data");
    assert_int_equal(json_integer_value(json_object_get(data, "value")), 2);
    mc_store_close(store);
    json_decref(seen);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void test_garbage_file(void **state)
{
    const fixture *f = *state;
    char garbage[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)(i * 7 + 3);
    write_file(f->path, garbage, sizeof(garbage));
    mc_store *store = (mc_store *)0x1;
    mc_err err = {0};
    assert_int_equal(mc_store_open(f->path, 0, &store, &err), MC_EIO);
    assert_null(store);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "not a database"));
    unlink(f->path);

    /* A valid SQLite database that is someone else's. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(mc_store_open(f->path, 0, &store, &err), MC_EIO);
    assert_non_null(strstr(err.msg, "not a meshcert database"));
    unlink(f->path);

    /* A directory where the file should be. */
    char dir_path[128];
    snprintf(dir_path, sizeof(dir_path), "%s/sub", f->dir);
    assert_int_equal(mkdir(dir_path, 0700), 0);
    assert_int_equal(mc_store_open(dir_path, 0, &store, &err), MC_EIO);
    rmdir(dir_path);
}

static void test_corrupt_pages(void **state)
{
    const fixture *f = *state;
    mc_store *store = open_store(f, 0);
    mc_err err = {0};
    assert_int_equal(mc_store_cluster_add(store, "c1", &err), 0);
    for (int i = 0; i < 400; i++) {
        char name[16];
        snprintf(name, sizeof(name), "o-%d", i);
        put(store, "c1", "core/configmaps", "ns", name, i);
    }
    mc_store_close(store); /* checkpoints the WAL into the file */
    FILE *fp = fopen(f->path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_true(size > 8 * 4096);
    /* Overwrite a few interior pages (not the header page) with noise. */
    char noise[4096];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (char)(i * 31 + 17);
    for (long page = 2; page < 6; page++) {
        assert_int_equal(fseek(fp, page * 4096, SEEK_SET), 0);
        assert_int_equal(fwrite(noise, 1, sizeof(noise), fp), sizeof(noise));
    }
    fclose(fp);
    store = NULL;
    int rc = mc_store_open(f->path, 0, &store, &err);
    assert_int_equal(rc, MC_EINVAL);
    assert_null(store);
    assert_non_null(strstr(err.msg, "integrity"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revisions_per_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
