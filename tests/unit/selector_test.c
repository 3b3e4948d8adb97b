/* selector_test.c - label selectors: the examples of the Kubernetes "Labels
 * and Selectors" documentation, matching semantics, canonical formatting, and
 * parse errors with the offset of the bad character.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/selector.h"
#include "api_test_util.h"

/* Builds a label map from "k=v" strings (NULL-terminated). */
static void labels_of(mc_api_str_map *m, const char *const *kv)
{
    for (; *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        char key[128];
        memcpy(key, *kv, (size_t)(eq - *kv));
        key[eq - *kv] = '\0';
        assert_int_equal(mc_api_str_map_set(m, key, eq + 1), 0);
    }
}

static bool matches(const char *selector, const char *const *kv)
{
    mc_selector *s = NULL;
    mc_err err = {0};
    int rc = mc_selector_parse(selector, &s, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    mc_api_str_map m = {0};
    labels_of(&m, kv);
    bool r = mc_selector_matches(s, &m);
    mc_api_str_map_clear(&m);
    mc_selector_free(s);
    return r;
}

static const char *const prod_front[] = {"environment=production", "tier=frontend", NULL};
static const char *const prod_back[] = {"environment=production", "tier=backend", NULL};
static const char *const qa_cache[] = {"environment=qa", "tier=cache", "partition=customerA", NULL};
static const char *const dev[] = {"environment=dev", NULL};
static const char *const none[] = {NULL};

static void test_docs_equality(void **state)
{
    (void)state;
    assert_true(matches("environment = production", prod_front));
    assert_false(matches("environment = production", qa_cache));
    assert_true(matches("environment == production", prod_back));
    assert_true(matches("tier != frontend", prod_back));
    assert_false(matches("tier != frontend", prod_front));
    assert_true(matches("tier != frontend", dev)); /* absent key satisfies != */
    assert_true(matches("environment=production,tier!=frontend", prod_back));
    assert_false(matches("environment=production,tier!=frontend", prod_front));
    assert_false(matches("environment=production,tier!=frontend", qa_cache));
}

static void test_docs_set_based(void **state)
{
    (void)state;
    assert_true(matches("environment in (production, qa)", prod_front));
    assert_true(matches("environment in (production, qa)", qa_cache));
    assert_false(matches("environment in (production, qa)", dev));
    assert_false(matches("environment in (production, qa)", none));
    assert_true(matches("tier notin (frontend, backend)", qa_cache));
    assert_true(matches("tier notin (frontend, backend)", dev)); /* absent key satisfies notin */
    assert_false(matches("tier notin (frontend, backend)", prod_back));
    assert_true(matches("partition", qa_cache));
    assert_false(matches("partition", prod_front));
    assert_true(matches("!partition", prod_front));
    assert_false(matches("!partition", qa_cache));
    assert_true(matches("partition in (customerA, customerB),environment!=qa", (const char *const[]){
                                "partition=customerA", "environment=prod", NULL}));
    assert_false(matches("partition in (customerA, customerB),environment!=qa", qa_cache));
    assert_true(matches("partition,environment notin (qa)", (const char *const[]){
                                "partition=x", NULL}));
    assert_true(matches("", prod_front));   /* empty selector: everything */
    assert_true(matches("  \t", none));
}

static void test_values_and_keys(void **state)
{
    (void)state;
    assert_true(matches("a=", (const char *const[]){"a=", NULL}));
    assert_false(matches("a=", (const char *const[]){"a=x", NULL}));
    assert_true(matches("x in (a,)", (const char *const[]){"x=", NULL}));
    assert_true(matches("app.kubernetes.io/name=istiod", (const char *const[]){
                                "app.kubernetes.io/name=istiod", NULL}));
    assert_true(matches("in=notin", (const char *const[]){"in=notin", NULL}));
    assert_true(matches("a in (x),a notin (y)", (const char *const[]){"a=x", NULL}));
}

static void assert_format(const char *in, const char *want)
{
    mc_selector *s = NULL;
    assert_int_equal(mc_selector_parse(in, &s, NULL), 0);
    char *text = mc_selector_format(s);
    assert_string_equal(text, want);
    mc_selector *again = NULL;
    assert_int_equal(mc_selector_parse(text, &again, NULL), 0);
    char *text2 = mc_selector_format(again);
    assert_string_equal(text2, want);
    free(text);
    free(text2);
    mc_selector_free(again);
    mc_selector_free(s);
}

static void test_format(void **state)
{
    (void)state;
    assert_format("tier notin (frontend, backend),environment in (qa, production)",
                  "environment in (production,qa),tier notin (backend,frontend)");
    assert_format("environment == production , tier!=frontend", "environment=production,tier!=frontend");
    assert_format("!partition, partition2", "!partition,partition2");
    assert_format("a in (x, x, y)", "a in (x,y)");
    assert_format("", "");
    assert_format("a=", "a=");
    /* found by fuzz_selector: the set {""} must not format as "()" */
    assert_format("x in (,)", "x in (,)");
    assert_format("x notin ( , b)", "x notin (,b)");
    assert_true(matches("x in (,)", (const char *const[]){"x=", NULL}));
    assert_false(matches("x in (,)", (const char *const[]){"x=y", NULL}));
}

static void assert_parse_error(const char *text, size_t offset, const char *what)
{
    mc_selector *s = NULL;
    mc_err err = {0};
    int rc = mc_selector_parse(text, &s, &err);
    assert_int_equal(rc, MC_EINVAL);
    assert_null(s);
    char want[64];
    snprintf(want, sizeof(want), "offset %zu: ", offset);
    if (!strstr(err.msg, want) || !strstr(err.msg, what))
        fprintf(stderr, "selector \"%s\": message \"%s\", want \"%s\" and \"%s\"\n", text,
                err.msg, want, what);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, what));
}

static void test_errors(void **state)
{
    (void)state;
    assert_parse_error("environment in (production", 26, "expected ',' or ')'");
    assert_parse_error("environment in (production,", 27, "expected ')' to close the '(' at offset 15");
    assert_parse_error("environment in production", 15, "expected '('");
    assert_parse_error("a in ()", 6, "empty");
    assert_parse_error("a notin", 7, "expected '('");
    assert_parse_error("a=b,", 4, "expected a requirement after ','");
    assert_parse_error(",a", 0, "expected a label key");
    assert_parse_error("a b", 2, "expected '=', '==', '!=', 'in', 'notin' or ','");
    assert_parse_error("a=b c", 4, "expected ',' or the end");
    assert_parse_error("a>1", 1, "not supported");
    assert_parse_error("a<1", 1, "not supported");
    assert_parse_error("!a=b", 2, "expected ',' or the end");
    assert_parse_error("!", 1, "expected a label key");
    assert_parse_error("-a=b", 0, "not a valid qualified name");
    assert_parse_error("a=b,Bad_/x=1", 4, "not a valid qualified name");
    assert_true(matches("a==", (const char *const[]){"a=", NULL})); /* empty value is valid */
}

static void test_errors_values(void **state)
{
    (void)state;
    char longv[80];
    memset(longv, 'v', 64);
    longv[64] = '\0';
    char text[100];
    snprintf(text, sizeof(text), "a=%s", longv);
    assert_parse_error(text, 2, "longer than 63");
    assert_parse_error("a in (ok, -bad)", 10, "label value \"-bad\" is not valid");
    assert_parse_error("a=(", 2, "expected a value");
    assert_parse_error("a in (b c)", 8, "expected ',' or ')'");
    char *big = malloc(MC_SELECTOR_MAX + 2);
    memset(big, 'a', MC_SELECTOR_MAX + 1);
    big[MC_SELECTOR_MAX + 1] = '\0';
    mc_selector *s = NULL;
    assert_int_equal(mc_selector_parse(big, &s, NULL), MC_ELIMIT);
    free(big);
}

static void test_from_map_and_json(void **state)
{
    (void)state;
    mc_api_str_map m = {0};
    mc_api_str_map_set(&m, "istio", "ingressgateway");
    mc_api_str_map_set(&m, "app", "istio-ingressgateway");
    mc_selector *s = NULL;
    assert_int_equal(mc_selector_from_map(&m, &s, NULL), 0);
    char *text = mc_selector_format(s);
    assert_string_equal(text, "app=istio-ingressgateway,istio=ingressgateway");
    free(text);
    json_t *labels = api_test_json("{\"app\":\"istio-ingressgateway\",\"istio\":\"ingressgateway\",\"x\":\"y\"}");
    assert_true(mc_selector_matches_json(s, labels));
    json_object_set_new(labels, "istio", json_string("other"));
    assert_false(mc_selector_matches_json(s, labels));
    assert_false(mc_selector_matches_json(s, NULL));
    json_decref(labels);
    mc_selector_free(s);

    mc_api_str_map_set(&m, "bad key", "x");
    mc_err err = {0};
    assert_int_equal(mc_selector_from_map(&m, &s, &err), MC_EINVAL);
    mc_api_str_map_clear(&m);

    assert_int_equal(mc_selector_parse("!gone", &s, NULL), 0);
    assert_true(mc_selector_matches_json(s, NULL));
    mc_selector_free(s);
    mc_selector_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_equality),
        cmocka_unit_test(test_docs_set_based),
        cmocka_unit_test(test_values_and_keys),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_from_map_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
