/* server_test_util.h - fixtures shared by the server/ unit tests: the CRDs of
 * deploy/crds/ (YAML, MC_CRD_DIR) and JSON files under tests/data/server/ as
 * jansson values. Helpers fail the running cmocka test instead of returning
 * errors.
 */
#ifndef MC_TEST_SERVER_TEST_UTIL_H
#define MC_TEST_SERVER_TEST_UTIL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "api/yaml.h"
#include "util/file.h"

/* deploy/crds/<file> as JSON (new reference), through api/yaml.h. */
static inline json_t *server_test_load_crd(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    char *text = NULL;
    size_t len = 0;
    json_t *json = NULL;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 20, &text, &len, &err) != MC_OK ||
        mc_api_yaml_to_json(text, len, &json, &err) != MC_OK) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        abort();
    }
    free(text);
    return json;
}

/* tests/data/server/<name> (new reference). */
static inline json_t *server_test_load(const char *name)
{
    char path[512];
    char *text = NULL;
    size_t len = 0;
    json_t *json = NULL;
    mc_err err = {0};
    snprintf(path, sizeof(path), "%s/server/%s", MC_TEST_DATA, name);
    if (mc_file_read(path, 8u << 20, &text, &len, &err) != 0 ||
        mc_api_json_parse(text, len, &json, &err) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
        abort();
    }
    free(text);
    return json;
}

/* A JSON literal written in a test (new reference). */
static inline json_t *server_test_json(const char *text)
{
    json_error_t jerr;
    json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!json) {
        fprintf(stderr, "bad JSON literal in test: %s: %s\n", text, jerr.text);
        abort();
    }
    return json;
}

#endif
