/* object.h - controller plumbing around an object's identity: its key
 * ("ns/name", client-go's MetaNamespaceKeyFunc), taking keys apart, and
 * waiting until an informer's cache shows a write the controller made.
 * Shared by runtime/'s informers and controllers and by agent/ and issuer/,
 * which used to keep a copy each.
 */
#ifndef MC_RUNTIME_OBJECT_H
#define MC_RUNTIME_OBJECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/informer.h"

/* "ns/name" of obj (just "name" when it has no namespace: cluster-scoped)
 * into key (key_size bytes). -1 when obj has no name or the key does not fit. */
int mc_object_key(const json_t *obj, char *key, size_t key_size);

/* "ns/name" into key; -1 when ns or name is NULL or the key does not fit. */
int mc_object_key_join(const char *ns, const char *name, char *key, size_t key_size);

/* Splits key at its first '/': what precedes it is copied into first
 * (first_size bytes, NUL-terminated), *rest points just after it inside key.
 * -1 without a '/' or when the first part does not fit. Used for "ns/name"
 * and for prefixed keys such as the issuer's "<cluster>/<ns>/<name>". */
int mc_object_key_split(const char *key, char *first, size_t first_size, const char **rest);

/* Waits (polling every 5 ms, at most timeout_ms) until informer's cache has
 * moved past the state a decision read, so that a reconcile queued meanwhile
 * does not act on the state before our write: the object ns/name present
 * with a resourceVersion other than old_rv (old_rv NULL: it was absent); with
 * gone_counts, its absence counts as moved too (after a delete, or when the
 * object may have been deleted meanwhile), and so does old_rv NULL. Returns 1
 * when the cache moved, 0 when it gave up (the next reconcile is then merely
 * a repeat that the server refuses harmlessly). */
int mc_object_wait_cache(mc_informer *informer, const char *ns, const char *name,
                         const char *old_rv, int gone_counts, int64_t timeout_ms);

#endif
