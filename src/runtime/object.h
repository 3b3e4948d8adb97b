/* object.h - controller plumbing around an object's identity: its key
 * ("ns/name", client-go's MetaNamespaceKeyFunc) and taking keys apart
 * (waiting for the cache to show a write: mc_informer_wait_for).
 * Shared by runtime/'s informers and controllers and by agent/ and issuer/,
 * which used to keep a copy each.
 */
#ifndef MC_RUNTIME_OBJECT_H
#define MC_RUNTIME_OBJECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>


/* "ns/name" of obj (just "name" when it has no namespace: cluster-scoped)
 * into key (key_size bytes). -1 when obj has no name or the key does not fit. */
int mc_object_key(const json_t *obj, char *key, size_t key_size);

/* The cache key of an object named name in ns: "ns/name", or "name" when
 * ns is NULL or "" (cluster-scoped); -1 when the key does not fit. */
int mc_object_key_for(const char *ns, const char *name, char *key, size_t key_size);

/* "ns/name" into key; -1 when ns or name is NULL or the key does not fit. */
int mc_object_key_join(const char *ns, const char *name, char *key, size_t key_size);

/* Splits key at its first '/': what precedes it is copied into first
 * (first_size bytes, NUL-terminated), *rest points just after it inside key.
 * -1 without a '/' or when the first part does not fit. Used for "ns/name"
 * and for prefixed keys such as the issuer's "<cluster>/<ns>/<name>". */
int mc_object_key_split(const char *key, char *first, size_t first_size, const char **rest);

#endif
