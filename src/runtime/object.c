/* object.c - object keys and waiting for a cache to show a write (see
 * object.h).
 */
#include "runtime/object.h"

#include <stdio.h>
#include <string.h>

#include "util/clock.h"

#define WAIT_STEP_MS 5

int mc_object_key(const json_t *obj, char *key, size_t key_size)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || !*name)
        return -1;
    int n = ns && *ns ? snprintf(key, key_size, "%s/%s", ns, name)
                      : snprintf(key, key_size, "%s", name);
    return n < 0 || (size_t)n >= key_size ? -1 : 0;
}

int mc_object_key_join(const char *ns, const char *name, char *key, size_t key_size)
{
    if (!ns || !name)
        return -1;
    int n = snprintf(key, key_size, "%s/%s", ns, name);
    return n < 0 || (size_t)n >= key_size ? -1 : 0;
}

int mc_object_key_split(const char *key, char *first, size_t first_size, const char **rest)
{
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= first_size)
        return -1;
    memcpy(first, key, (size_t)(slash - key));
    first[slash - key] = '\0';
    *rest = slash + 1;
    return 0;
}

int mc_object_wait_cache(mc_informer *informer, const char *ns, const char *name,
                         const char *old_rv, int gone_counts, int64_t timeout_ms)
{
    for (int64_t waited = 0; waited < timeout_ms; waited += WAIT_STEP_MS) {
        json_t *obj = mc_informer_get(informer, ns, name);
        const char *rv = obj ? json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                                 "resourceVersion"))
                             : NULL;
        int changed = !old_rv || !rv || strcmp(rv, old_rv) != 0;
        int moved = gone_counts ? !obj || changed : obj && changed;
        json_decref(obj);
        if (moved)
            return 1;
        mc_clock_sleep_ms(WAIT_STEP_MS);
    }
    return 0;
}
