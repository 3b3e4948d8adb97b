/* api_test_util.h - fixture loading shared by the api/ unit tests.
 *
 * Fixtures live in tests/data/api/ (MC_TEST_DATA is defined by mc_unit_test);
 * every helper fails the running cmocka test instead of returning an error.
 */
#ifndef MC_TEST_API_TEST_UTIL_H
#define MC_TEST_API_TEST_UTIL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/codec.h"
#include "util/file.h"

/* Reads tests/data/api/<name> into a new buffer (caller frees). */
static inline char *api_test_read(const char *name, size_t *len)
{
    char path[512];
    char *text = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/api/%s", MC_TEST_DATA, name);
    if (mc_file_read(path, 8u << 20, &text, len, &err) != 0) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
        abort();
    }
    return text;
}

/* Parses tests/data/api/<name> (new reference). */
static inline json_t *api_test_load(const char *name)
{
    size_t len;
    char *text = api_test_read(name, &len);
    json_t *json = NULL;
    mc_err err = {0};
    if (mc_api_json_parse(text, len, &json, &err) != 0) {
        fprintf(stderr, "cannot parse %s: %s\n", name, err.msg);
        abort();
    }
    free(text);
    return json;
}

/* Parses a JSON literal written in a test (new reference). */
static inline json_t *api_test_json(const char *text)
{
    json_error_t jerr;
    json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!json) {
        fprintf(stderr, "bad JSON literal in test: %s: %s\n", text, jerr.text);
        abort();
    }
    return json;
}

/* Prints both values when they differ, to make failures readable. */
static inline int api_test_json_equal(const json_t *a, const json_t *b)
{
    if (json_equal((json_t *)a, (json_t *)b))
        return 1;
    char *x = json_dumps(a, JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_INDENT(1));
    char *y = json_dumps(b, JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_INDENT(1));
    fprintf(stderr, "JSON values differ:\n--- got\n%s\n--- want\n%s\n", x, y);
    free(x);
    free(y);
    return 0;
}

#endif
