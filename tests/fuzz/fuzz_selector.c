/* fuzz_selector.c - libFuzzer target: label selector parsing.
 *
 * Any text that parses must format to a canonical text that parses to the
 * same canonical text, and matching must not crash; a failed parse must
 * leave an error message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/selector.h"
#include "util/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = mc_strndup((const char *)data, size);
    if (!text)
        return 0;
    mc_selector *s = NULL;
    mc_err err = {0};
    if (mc_selector_parse(text, &s, &err) != 0) {
        if (err.msg[0] == '\0')
            abort();
        free(text);
        return 0;
    }
    char *canon = mc_selector_format(s);
    mc_selector *again = NULL;
    if (!canon || mc_selector_parse(canon, &again, NULL) != 0)
        abort();
    char *canon2 = mc_selector_format(again);
    if (!canon2 || strcmp(canon, canon2) != 0)
        abort();
    mc_api_str_map labels = {0};
    mc_api_str_map_set(&labels, "app", "istiod");
    mc_api_str_map_set(&labels, "env", "");
    if (mc_selector_matches(s, &labels) != mc_selector_matches(again, &labels))
        abort();
    mc_api_str_map_clear(&labels);
    free(canon);
    free(canon2);
    mc_selector_free(again);
    mc_selector_free(s);
    free(text);
    return 0;
}
