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
#include <yaml.h>

#include "api/codec.h"
#include "util/file.h"

/* YAML 1.2 core typing of plain scalars, enough for CRDs. */
static inline json_t *server_test_yaml_scalar(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    size_t n = node->data.scalar.length;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, n);
    if (!strcmp(v, "true"))
        return json_true();
    if (!strcmp(v, "false"))
        return json_false();
    if (!strcmp(v, "null") || !strcmp(v, "~") || n == 0)
        return json_null();
    char *end;
    long long i = strtoll(v, &end, 10);
    if (*end == '\0' && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
        return json_integer(i);
    return json_stringn(v, n);
}

static inline json_t *server_test_yaml_node(yaml_document_t *doc, yaml_node_t *node)
{
    if (node->type == YAML_SCALAR_NODE)
        return server_test_yaml_scalar(node);
    if (node->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++)
            json_array_append_new(a, server_test_yaml_node(doc, yaml_document_get_node(doc, *it)));
        return a;
    }
    if (node->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k->type != YAML_SCALAR_NODE)
                abort();
            json_object_set_new(o, (const char *)k->data.scalar.value,
                                server_test_yaml_node(doc, yaml_document_get_node(doc, p->value)));
        }
        return o;
    }
    return json_null();
}

/* deploy/crds/<file> as JSON (new reference). */
static inline json_t *server_test_load_crd(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "cannot parse %s\n", path);
        abort();
    }
    json_t *json = server_test_yaml_node(&doc, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
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
