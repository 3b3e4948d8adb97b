/* maps.h - small ordered string maps (labels, annotations) and byte maps
 * (Secret data) used by the typed resource structs.
 *
 * Kubernetes maps are small (a handful of labels), so a flat array with linear
 * lookup is simpler and faster than hashing. Insertion order is kept so that
 * an encoded object lists keys in the order they were decoded.
 */
#ifndef MC_API_MAPS_H
#define MC_API_MAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef struct mc_api_str_pair {
    char *key;   /* owned */
    char *value; /* owned */
} mc_api_str_pair;

typedef struct mc_api_str_map {
    mc_api_str_pair *items; /* owned array of len pairs */
    size_t len;
} mc_api_str_map;

typedef struct mc_api_bytes_entry {
    char *key;           /* owned */
    unsigned char *data; /* owned, NUL-terminated for convenience (not counted) */
    size_t len;
} mc_api_bytes_entry;

typedef struct mc_api_bytes_map {
    mc_api_bytes_entry *items; /* owned array of len entries */
    size_t len;
} mc_api_bytes_map;

/* Returns the value stored under key (borrowed), or NULL. */
const char *mc_api_str_map_get(const mc_api_str_map *map, const char *key);

/* Stores a copy of key and value, replacing an existing value. MC_ENOMEM. */
int mc_api_str_map_set(mc_api_str_map *map, const char *key, const char *value);

/* Removes key; returns true when it was present. */
bool mc_api_str_map_remove(mc_api_str_map *map, const char *key);

/* Frees every pair and leaves the map empty. Accepts NULL. */
void mc_api_str_map_clear(mc_api_str_map *map);

/* Returns the entry stored under key (borrowed), or NULL. */
const mc_api_bytes_entry *mc_api_bytes_map_get(const mc_api_bytes_map *map, const char *key);

/* Stores a copy of key and of the len bytes at data, replacing an existing
 * entry (whose bytes are wiped). MC_ENOMEM. */
int mc_api_bytes_map_set(mc_api_bytes_map *map, const char *key, const void *data, size_t len);

/* Removes key (wiping its bytes); returns true when it was present. */
bool mc_api_bytes_map_remove(mc_api_bytes_map *map, const char *key);

/* Wipes and frees every entry (Secret data may be key material) and leaves the
 * map empty. Accepts NULL. */
void mc_api_bytes_map_clear(mc_api_bytes_map *map);

#endif
