/* maps.c - flat ordered string and byte maps (see maps.h).
 *
 * Byte map entries may hold private keys (Secret data), so every path that
 * drops one wipes it first.
 */
#include "api/maps.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

const char *mc_api_str_map_get(const mc_api_str_map *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->items[i].key, key) == 0)
            return map->items[i].value;
    return NULL;
}

int mc_api_str_map_set(mc_api_str_map *map, const char *key, const char *value)
{
    char *v = mc_strdup(value);
    if (!v)
        return MC_ENOMEM;
    for (size_t i = 0; i < map->len; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            free(map->items[i].value);
            map->items[i].value = v;
            return 0;
        }
    }
    char *k = mc_strdup(key);
    mc_api_str_pair *grown = realloc(map->items, (map->len + 1) * sizeof(*grown));
    if (!k || !grown) {
        free(k);
        free(v);
        if (grown)
            map->items = grown;
        return MC_ENOMEM;
    }
    map->items = grown;
    map->items[map->len].key = k;
    map->items[map->len].value = v;
    map->len++;
    return 0;
}

bool mc_api_str_map_remove(mc_api_str_map *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            free(map->items[i].key);
            free(map->items[i].value);
            memmove(&map->items[i], &map->items[i + 1], (map->len - i - 1) * sizeof(map->items[0]));
            map->len--;
            return true;
        }
    }
    return false;
}

void mc_api_str_map_clear(mc_api_str_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->len; i++) {
        free(map->items[i].key);
        free(map->items[i].value);
    }
    free(map->items);
    map->items = NULL;
    map->len = 0;
}

const mc_api_bytes_entry *mc_api_bytes_map_get(const mc_api_bytes_map *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->items[i].key, key) == 0)
            return &map->items[i];
    return NULL;
}

static unsigned char *copy_bytes(const void *data, size_t len)
{
    unsigned char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    return copy;
}

int mc_api_bytes_map_set(mc_api_bytes_map *map, const char *key, const void *data, size_t len)
{
    unsigned char *copy = copy_bytes(data, len);
    if (!copy)
        return MC_ENOMEM;
    for (size_t i = 0; i < map->len; i++) {
        mc_api_bytes_entry *e = &map->items[i];
        if (strcmp(e->key, key) == 0) {
            mc_secure_free(e->data, e->len);
            e->data = copy;
            e->len = len;
            return 0;
        }
    }
    char *k = mc_strdup(key);
    mc_api_bytes_entry *grown = realloc(map->items, (map->len + 1) * sizeof(*grown));
    if (!k || !grown) {
        free(k);
        mc_secure_free(copy, len);
        if (grown)
            map->items = grown;
        return MC_ENOMEM;
    }
    map->items = grown;
    map->items[map->len].key = k;
    map->items[map->len].data = copy;
    map->items[map->len].len = len;
    map->len++;
    return 0;
}

bool mc_api_bytes_map_remove(mc_api_bytes_map *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++) {
        mc_api_bytes_entry *e = &map->items[i];
        if (strcmp(e->key, key) == 0) {
            free(e->key);
            mc_secure_free(e->data, e->len);
            memmove(e, e + 1, (map->len - i - 1) * sizeof(*e));
            map->len--;
            return true;
        }
    }
    return false;
}

void mc_api_bytes_map_clear(mc_api_bytes_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->len; i++) {
        free(map->items[i].key);
        mc_secure_free(map->items[i].data, map->items[i].len);
    }
    free(map->items);
    map->items = NULL;
    map->len = 0;
}
