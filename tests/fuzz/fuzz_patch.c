/* fuzz_patch.c - libFuzzer target: JSON merge patch and JSON patch.
 *
 * The input is "<document>\n<patch>" (split at the first newline). The merge
 * patch always applies and must leave the inputs untouched; the JSON patch
 * either applies or leaves the document exactly as it was. The merge-patch
 * diff of document and result, applied to the document, gives the result
 * when the result holds no null (nulls cannot be expressed in merge patches).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "api/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_null(const json_t *v)
{
    if (json_is_null(v))
        return 1;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) if (has_null(x)) return 1;
    if (json_is_array(v))
        json_array_foreach(v, i, x) if (has_null(x)) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    json_t *doc = NULL, *patch = NULL;
    if (mc_api_json_parse((const char *)data, (size_t)(nl - data), &doc, NULL) != 0)
        return 0;
    if (mc_api_json_parse((const char *)nl + 1, size - (size_t)(nl - data) - 1, &patch, NULL) != 0) {
        json_decref(doc);
        return 0;
    }
    json_t *doc_copy = json_deep_copy(doc), *patch_copy = json_deep_copy(patch);

    json_t *merged = json_incref(doc);
    if (mc_json_merge_patch(&merged, patch, NULL) != 0)
        abort();
    if (!json_equal(doc, doc_copy) || !json_equal(patch, patch_copy))
        abort();
    if (!has_null(merged)) {
        json_t *diff = NULL, *again = json_deep_copy(doc);
        if (mc_json_merge_patch_diff(doc, merged, &diff, NULL) != 0 ||
            mc_json_merge_patch(&again, diff, NULL) != 0 || !json_equal(again, merged))
            abort();
        json_decref(diff);
        json_decref(again);
    }
    json_decref(merged);

    json_t *patched = json_incref(doc);
    mc_err err = {0};
    if (mc_json_patch_apply(&patched, patch, &err) != 0) {
        if (patched != doc || err.msg[0] == '\0')
            abort();
    }
    if (!json_equal(doc, doc_copy))
        abort();
    json_decref(patched);

    json_decref(doc_copy);
    json_decref(patch_copy);
    json_decref(doc);
    json_decref(patch);
    return 0;
}
