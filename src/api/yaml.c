/* yaml.c - one YAML document to JSON with libyaml's event parser (see
 * yaml.h). Bounded depth; aliases refused (they make "billion laughs"
 * bodies possible). */
#include "api/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

typedef struct converter {
    yaml_parser_t parser;
    mc_err *err;
} converter;

static int fail_at(converter *c, const yaml_event_t *event, const char *what)
{
    return mc_err_set(c->err, MC_EINVAL, "YAML, line %zu column %zu: %s",
                      event ? event->start_mark.line + 1 : c->parser.problem_mark.line + 1,
                      event ? event->start_mark.column + 1 : c->parser.problem_mark.column + 1,
                      what);
}

static int next_event(converter *c, yaml_event_t *event)
{
    if (!yaml_parser_parse(&c->parser, event))
        return fail_at(c, NULL, c->parser.problem ? c->parser.problem : "malformed YAML");
    return MC_OK;
}

/* A plain scalar, resolved by the YAML 1.2 core schema. */
static json_t *plain_scalar(const char *text, size_t len)
{
    if (len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0 ||
        strcmp(text, "Null") == 0 || strcmp(text, "NULL") == 0)
        return json_null();
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 || strcmp(text, "TRUE") == 0)
        return json_true();
    if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 || strcmp(text, "FALSE") == 0)
        return json_false();
    char *end = NULL;
    errno = 0;
    long long i = strtoll(text, &end, 10);
    if (*end == '\0' && errno == 0 &&
        (text[0] == '-' || text[0] == '+' || (text[0] >= '0' && text[0] <= '9')))
        return json_integer((json_int_t)i);
    double d = strtod(text, &end);
    if (*end == '\0' && isfinite(d) && strchr("-+.0123456789", text[0]))
        return json_real(d);
    return json_stringn(text, len);
}

static int convert_node(converter *c, yaml_event_t *event, int depth, json_t **out);

static int convert_children(converter *c, json_t *container, int is_map, int depth)
{
    for (;;) {
        yaml_event_t event;
        int rc = next_event(c, &event);
        if (rc)
            return rc;
        yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
        if (event.type == end) {
            yaml_event_delete(&event);
            return MC_OK;
        }
        json_t *key = NULL, *value = NULL;
        if (is_map) {
            if (event.type != YAML_SCALAR_EVENT) {
                rc = fail_at(c, &event, "mapping keys must be strings");
                yaml_event_delete(&event);
                return rc;
            }
            key = json_stringn((const char *)event.data.scalar.value, event.data.scalar.length);
            yaml_event_delete(&event);
            if ((rc = next_event(c, &event))) {
                json_decref(key);
                return rc;
            }
        }
        rc = convert_node(c, &event, depth + 1, &value);
        yaml_event_delete(&event);
        if (rc == MC_OK) {
            if (is_map)
                json_object_set_new(container, json_string_value(key), value);
            else
                json_array_append_new(container, value);
        }
        json_decref(key);
        if (rc)
            return rc;
    }
}

static int convert_node(converter *c, yaml_event_t *event, int depth, json_t **out)
{
    if (depth > MAX_DEPTH)
        return fail_at(c, event, "nested deeper than 64 levels");
    switch (event->type) {
    case YAML_ALIAS_EVENT: return fail_at(c, event, "aliases are not accepted");
    case YAML_SCALAR_EVENT: {
        if (event->data.scalar.anchor)
            return fail_at(c, event, "anchors are not accepted");
        const char *text = (const char *)event->data.scalar.value;
        size_t len = event->data.scalar.length;
        *out = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(text, len)
                                                                   : json_stringn(text, len);
        return *out ? MC_OK : mc_err_set(c->err, MC_ENOMEM, "out of memory");
    }
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
        int is_map = event->type == YAML_MAPPING_START_EVENT;
        json_t *container = is_map ? json_object() : json_array();
        int rc = convert_children(c, container, is_map, depth);
        if (rc) {
            json_decref(container);
            return rc;
        }
        *out = container;
        return MC_OK;
    }
    default: return fail_at(c, event, "unexpected YAML event");
    }
}

int mc_api_yaml_to_json(const char *text, size_t len, json_t **out, mc_err *err)
{
    converter c = {.err = err};
    /* libyaml asserts on a NULL input (an empty request body): read "" */
    if (!text) {
        text = "";
        len = 0;
    }
    if (!yaml_parser_initialize(&c.parser))
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    json_t *doc = NULL;
    int rc = MC_OK;
    int documents = 0;
    for (int done = 0; !done && rc == MC_OK;) {
        yaml_event_t event;
        if ((rc = next_event(&c, &event)))
            break;
        switch (event.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                rc = fail_at(&c, &event, "only one YAML document is accepted");
            break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default:
            if (doc)
                rc = fail_at(&c, &event, "unexpected content after the document");
            else
                rc = convert_node(&c, &event, 0, &doc);
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&c.parser);
    if (rc == MC_OK && !doc)
        rc = mc_err_set(err, MC_EINVAL, "YAML document is empty");
    if (rc) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return MC_OK;
}
