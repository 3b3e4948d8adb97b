/* object.c - object keys (see object.h). */
#include "runtime/object.h"

#include <stdio.h>
#include <string.h>

int mc_object_key(const json_t *obj, char *key, size_t key_size)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || !*name)
        return -1;
    return mc_object_key_for(ns, name, key, key_size);
}

int mc_object_key_for(const char *ns, const char *name, char *key, size_t key_size)
{
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
