/* runtime_object_test.c - object keys (runtime/object.h): the key of a
 * namespaced and of a cluster-scoped object, refusals, joining and splitting
 * keys as the agent's and the issuer's controllers do ("<cluster>/<ns>/<name>").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/object.h"

static json_t *object(const char *ns, const char *name)
{
    json_t *meta = json_object();
    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    if (name)
        json_object_set_new(meta, "name", json_string(name));
    return json_pack("{s:o}", "metadata", meta);
}

static void test_key_of_object(void **state)
{
    (void)state;
    char key[32];
    json_t *namespaced = object("istio-system", "cacerts");
    assert_int_equal(mc_object_key(namespaced, key, sizeof(key)), 0);
    assert_string_equal(key, "istio-system/cacerts");
    json_t *cluster_scoped = object(NULL, "kube-system");
    assert_int_equal(mc_object_key(cluster_scoped, key, sizeof(key)), 0);
    assert_string_equal(key, "kube-system");
    json_t *empty_ns = object("", "node-1");
    assert_int_equal(mc_object_key(empty_ns, key, sizeof(key)), 0);
    assert_string_equal(key, "node-1");
    json_t *nameless = object("default", NULL);
    assert_int_equal(mc_object_key(nameless, key, sizeof(key)), -1);
    assert_int_equal(mc_object_key(namespaced, key, strlen("istio-system/cacerts")), -1);
    assert_int_equal(mc_object_key(namespaced, key, strlen("istio-system/cacerts") + 1), 0);
    json_decref(namespaced);
    json_decref(cluster_scoped);
    json_decref(empty_ns);
    json_decref(nameless);
}

/* The informer's cache key: the same as mc_object_key's, from ns and name. */
static void test_key_for_names(void **state)
{
    (void)state;
    char key[32];
    assert_int_equal(mc_object_key_for("istio-system", "cacerts", key, sizeof(key)), 0);
    assert_string_equal(key, "istio-system/cacerts");
    assert_int_equal(mc_object_key_for(NULL, "kube-system", key, sizeof(key)), 0);
    assert_string_equal(key, "kube-system");
    assert_int_equal(mc_object_key_for("", "node-1", key, sizeof(key)), 0);
    assert_string_equal(key, "node-1");
    assert_int_equal(mc_object_key_for("ns", "name", key, strlen("ns/name")), -1);
}

static void test_join_and_split(void **state)
{
    (void)state;
    char object_key[64], key[64], cluster[16], ns[16];
    const char *rest = NULL, *name = NULL;
    assert_int_equal(mc_object_key_join("istio-system", "mesh-1", object_key, sizeof(object_key)),
                     0);
    assert_int_equal(mc_object_key_join("c1", object_key, key, sizeof(key)), 0);
    assert_string_equal(key, "c1/istio-system/mesh-1");
    assert_int_equal(mc_object_key_split(key, cluster, sizeof(cluster), &rest), 0);
    assert_string_equal(cluster, "c1");
    assert_int_equal(mc_object_key_split(rest, ns, sizeof(ns), &name), 0);
    assert_string_equal(ns, "istio-system");
    assert_string_equal(name, "mesh-1");
    /* refusals: a missing part, no '/', a first part that does not fit */
    assert_int_equal(mc_object_key_join(NULL, "x", key, sizeof(key)), -1);
    assert_int_equal(mc_object_key_join("ns", NULL, key, sizeof(key)), -1);
    assert_int_equal(mc_object_key_join("ns", "name", key, 7), -1);
    assert_int_equal(mc_object_key_split("no-slash", ns, sizeof(ns), &name), -1);
    assert_int_equal(mc_object_key_split("a-very-long-namespace/x", ns, sizeof(ns), &name), -1);
    assert_int_equal(mc_object_key_split("/x", ns, sizeof(ns), &name), 0);
    assert_string_equal(ns, "");
    assert_string_equal(name, "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_of_object),
        cmocka_unit_test(test_key_for_names),
        cmocka_unit_test(test_join_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
