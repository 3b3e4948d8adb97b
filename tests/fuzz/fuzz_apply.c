/* fuzz_apply.c - libFuzzer target: server-side apply's field sets and
 * managedFields (api/fieldset, api/managed).
 *
 * The input is "<live object>\n<applied configuration>" (split at the first
 * newline), merged under a schema with every list and map type. Whatever
 * the input, nothing crashes or leaks; live's managedFields, when they
 * decode, encode to FieldsV1 that decode to the same sets; an apply that
 * succeeds, repeated by the same manager, changes nothing (apply is
 * idempotent); and a conflict leaves the entries as they were.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "api/managed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{\"apiVersion\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\"},"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"org\":{\"type\":\"string\"},"
    "\"hosts\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"x-kubernetes-list-type\":\"set\"},"
    "\"ports\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"name\",\"protocol\"],\"items\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\"},\"protocol\":{\"type\":\"string\"},"
    "\"port\":{\"type\":\"integer\"},\"extra\":{\"type\":\"object\"}}}},"
    "\"settings\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"selector\":{\"type\":\"object\",\"x-kubernetes-map-type\":\"atomic\"}}},"
    "\"status\":{\"type\":\"object\"}}}";

static void check_round_trip(const mc_managed *m)
{
    for (size_t i = 0; i < m->count; i++) {
        json_t *v1 = mc_fieldset_to_fields_v1(m->entries[i].set);
        json_t *back = NULL;
        if (!v1 || mc_fieldset_from_fields_v1(v1, &back, NULL) != MC_OK ||
            !json_equal(back, m->entries[i].set))
            abort();
        json_decref(back);
        json_decref(v1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    json_t *live = NULL, *config = NULL;
    if (mc_api_json_parse((const char *)data, (size_t)(nl - data), &live, NULL) != 0)
        return 0;
    if (mc_api_json_parse((const char *)nl + 1, size - (size_t)(nl - data) - 1, &config, NULL) !=
            0 ||
        !json_is_object(live) || !json_is_object(config) ||
        json_object_get(json_object_get(config, "metadata"), "managedFields")) {
        json_decref(live);
        json_decref(config);
        return 0;
    }
    json_t *schema = json_loads(schema_text, 0, NULL);
    mc_managed m = {0};
    if (mc_managed_decode(json_object_get(json_object_get(live, "metadata"), "managedFields"), &m,
                          NULL) == MC_OK)
        check_round_trip(&m);
    mc_managed_op op = {
        "fuzz", "example.com/v1", "", "2026-01-01T00:00:00Z", MC_MANAGED_SCOPE_MAIN, {schema}};
    json_t *before = mc_managed_encode(&m);
    json_t *out = NULL, *conflicts = NULL;
    int changed = 0;
    int rc = mc_managed_apply(&m, &op, live, config, 0, &out, &changed, &conflicts, NULL);
    if (rc == MC_ECONFLICT) {
        json_t *after = mc_managed_encode(&m);
        if (!json_equal(before, after) || json_array_size(conflicts) == 0)
            abort();
        json_decref(after);
    } else if (rc == MC_OK) {
        check_round_trip(&m);
        json_t *again = NULL, *conflicts_again = NULL;
        int changed_again = 1;
        if (mc_managed_apply(&m, &op, out, config, 0, &again, &changed_again, &conflicts_again,
                             NULL) != MC_OK ||
            changed_again || !json_equal(again, out))
            abort();
        json_decref(again);
    }
    json_decref(before);
    json_decref(out);
    json_decref(conflicts);
    mc_managed_clear(&m);
    json_decref(schema);
    json_decref(live);
    json_decref(config);
    return 0;
}
