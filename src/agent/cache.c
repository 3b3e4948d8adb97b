/* cache.c - the agent's memo of parsed keys and output verdicts (cache.h).
 *
 * Three small tables (keys, verdicts, facts) of at most `capacity` entries each,
 * searched linearly: an agent holds a few IssuedCertificates, and a lookup
 * compares strings where the miss it saves costs an OpenSSL decoder set-up.
 */
#include "agent/cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* "namespace/name" of a Secret: both are DNS names of at most 253 bytes. */
#define SECRET_KEY_MAX 512

typedef struct cache_entry {
    char secret[SECRET_KEY_MAX]; /* "namespace/name" */
    mc_agent_cache_id id;        /* the inputs the value was derived from */
    mc_pki_key *key;             /* keys table: the parsed key (owned) */
    time_t valid_from;           /* verdicts table: when the verdict holds */
    time_t valid_until;
    void *facts; /* facts table: a copy of the caller's facts (owned) */
    size_t facts_size;
    uint64_t used; /* tick of the last lookup that found it (LRU) */
} cache_entry;

typedef struct cache_table {
    cache_entry *entries; /* capacity slots, the first len in use */
    size_t len;
    size_t capacity;
} cache_table;

struct mc_agent_cache {
    pthread_mutex_t lock; /* guards everything below */
    cache_table keys;
    cache_table verdicts;
    cache_table facts;
    uint64_t tick;
    mc_agent_cache_stats stats;
};

static void entry_clear(cache_entry *e)
{
    mc_pki_key_free(e->key);
    free(e->facts);
    memset(e, 0, sizeof(*e));
}

static int table_init(cache_table *t, size_t capacity)
{
    t->entries = calloc(capacity, sizeof(*t->entries));
    t->capacity = capacity;
    return t->entries ? MC_OK : MC_ENOMEM;
}

static void table_free(cache_table *t)
{
    for (size_t i = 0; i < t->len; i++)
        entry_clear(&t->entries[i]);
    free(t->entries);
}

/* Lock held: empties entry e, keeping the used slots first. */
static void table_remove(cache_table *t, cache_entry *e)
{
    entry_clear(e);
    cache_entry *last = &t->entries[--t->len];
    if (e != last) {
        *e = *last; /* moves the key handle too */
        memset(last, 0, sizeof(*last));
    }
}

/* "namespace/name" into out; -1 without a name or when too long. */
static int secret_key(const char *ns, const char *name, char out[SECRET_KEY_MAX])
{
    if (!name || !*name)
        return -1;
    int n = snprintf(out, SECRET_KEY_MAX, "%s/%s", ns ? ns : "", name);
    return n > 0 && n < SECRET_KEY_MAX ? 0 : -1;
}

/* Lock held: the entry of secret, or NULL. */
static cache_entry *table_find(cache_table *t, const char *secret)
{
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->entries[i].secret, secret) == 0)
            return &t->entries[i];
    return NULL;
}

/* Lock held: the slot for secret, emptied: its own entry, a free one, or the
 * least recently used (evicted). */
static cache_entry *table_slot(mc_agent_cache *cache, cache_table *t, const char *secret)
{
    cache_entry *slot = table_find(t, secret);
    if (!slot && t->len < t->capacity)
        slot = &t->entries[t->len++];
    if (!slot) {
        slot = &t->entries[0];
        for (size_t i = 1; i < t->capacity; i++)
            if (t->entries[i].used < slot->used)
                slot = &t->entries[i];
        cache->stats.evictions++;
    }
    entry_clear(slot);
    mc_strlcpy(slot->secret, secret, sizeof(slot->secret));
    slot->used = ++cache->tick;
    return slot;
}

int mc_agent_cache_new(size_t capacity, mc_agent_cache **out, mc_err *err)
{
    *out = NULL;
    mc_agent_cache *cache = calloc(1, sizeof(*cache));
    if (!capacity)
        capacity = MC_AGENT_CACHE_CAPACITY;
    if (!cache || table_init(&cache->keys, capacity) != MC_OK ||
        table_init(&cache->verdicts, capacity) != MC_OK ||
        table_init(&cache->facts, capacity) != MC_OK) {
        if (cache) {
            table_free(&cache->keys);
            table_free(&cache->verdicts);
            table_free(&cache->facts);
        }
        free(cache);
        return mc_err_set(err, MC_ENOMEM, "agent cache: out of memory");
    }
    pthread_mutex_init(&cache->lock, NULL);
    *out = cache;
    return MC_OK;
}

void mc_agent_cache_free(mc_agent_cache *cache)
{
    if (!cache)
        return;
    table_free(&cache->keys);
    table_free(&cache->verdicts);
    table_free(&cache->facts);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

int mc_agent_cache_identify(const mc_api_object_meta *secret, const mc_pki_hash_part *parts,
                            size_t count, mc_agent_cache_id *id)
{
    /* the Secret's version first, then the caller's inputs, hashed as one list */
    mc_pki_hash_part all[2 + 32];
    if (count > 32)
        return MC_ELIMIT;
    all[0] = (mc_pki_hash_part){secret->uid, secret->uid ? strlen(secret->uid) : 0};
    all[1] = (mc_pki_hash_part){secret->resource_version,
                                secret->resource_version ? strlen(secret->resource_version) : 0};
    memcpy(all + 2, parts, count * sizeof(*parts));
    return mc_pki_sha256_parts(all, count + 2, id->digest, NULL);
}

int mc_agent_cache_key(mc_agent_cache *cache, const mc_api_object_meta *secret, const char *pem,
                       size_t len, const char *what, mc_pki_key **out, mc_err *err)
{
    char name[SECRET_KEY_MAX];
    mc_agent_cache_id id;
    mc_pki_hash_part part = {pem, len};
    *out = NULL;
    if (!cache || secret_key(secret->namespace, secret->name, name) != 0 ||
        mc_agent_cache_identify(secret, &part, 1, &id) != MC_OK)
        return mc_pki_key_from_pem(pem, len, what, out, err);
    pthread_mutex_lock(&cache->lock);
    cache_entry *e = table_find(&cache->keys, name);
    int rc = MC_ENOTFOUND;
    if (e && e->key && memcmp(e->id.digest, id.digest, sizeof(id.digest)) == 0 &&
        (rc = mc_pki_key_share(e->key, out, err)) == MC_OK) {
        e->used = ++cache->tick;
        cache->stats.key_hits++;
    }
    pthread_mutex_unlock(&cache->lock);
    if (rc == MC_OK)
        return MC_OK;
    /* parsed outside the lock: other workers' lookups go on meanwhile */
    mc_pki_key *key = NULL;
    if ((rc = mc_pki_key_from_pem(pem, len, what, &key, err)) != MC_OK)
        return rc;
    mc_pki_key *kept = NULL;
    int shared = mc_pki_key_share(key, &kept, NULL) == MC_OK;
    pthread_mutex_lock(&cache->lock);
    cache->stats.key_parses++;
    if (shared) {
        cache_entry *slot = table_slot(cache, &cache->keys, name);
        slot->id = id;
        slot->key = kept;
    }
    pthread_mutex_unlock(&cache->lock);
    *out = key;
    return MC_OK;
}

int mc_agent_cache_output_matches(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                  const mc_agent_cache_id *id, time_t now)
{
    char name[SECRET_KEY_MAX];
    if (!cache || secret_key(secret->namespace, secret->name, name) != 0)
        return 0;
    pthread_mutex_lock(&cache->lock);
    cache_entry *e = table_find(&cache->verdicts, name);
    int hit = e && memcmp(e->id.digest, id->digest, sizeof(id->digest)) == 0 &&
              now >= e->valid_from && now < e->valid_until;
    if (hit) {
        e->used = ++cache->tick;
        cache->stats.output_hits++;
    } else {
        cache->stats.output_checks++;
    }
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

void mc_agent_cache_output_remember(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                    const mc_agent_cache_id *id, time_t valid_from,
                                    time_t valid_until)
{
    char name[SECRET_KEY_MAX];
    if (!cache || secret_key(secret->namespace, secret->name, name) != 0)
        return;
    pthread_mutex_lock(&cache->lock);
    cache_entry *slot = table_slot(cache, &cache->verdicts, name);
    slot->id = *id;
    slot->valid_from = valid_from;
    slot->valid_until = valid_until;
    pthread_mutex_unlock(&cache->lock);
}

int mc_agent_cache_facts(mc_agent_cache *cache, const mc_api_object_meta *secret,
                         const mc_agent_cache_id *id, void *facts, size_t size)
{
    char name[SECRET_KEY_MAX];
    if (!cache || secret_key(secret->namespace, secret->name, name) != 0)
        return 0;
    pthread_mutex_lock(&cache->lock);
    cache_entry *e = table_find(&cache->facts, name);
    int hit = e && e->facts && e->facts_size == size &&
              memcmp(e->id.digest, id->digest, sizeof(id->digest)) == 0;
    if (hit) {
        memcpy(facts, e->facts, size);
        e->used = ++cache->tick;
        cache->stats.facts_hits++;
    } else {
        cache->stats.facts_reads++;
    }
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

void mc_agent_cache_facts_remember(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                   const mc_agent_cache_id *id, const void *facts, size_t size)
{
    char name[SECRET_KEY_MAX];
    void *copy = NULL;
    if (!cache || secret_key(secret->namespace, secret->name, name) != 0 || !(copy = malloc(size)))
        return;
    memcpy(copy, facts, size);
    pthread_mutex_lock(&cache->lock);
    cache_entry *slot = table_slot(cache, &cache->facts, name);
    slot->id = *id;
    slot->facts = copy;
    slot->facts_size = size;
    pthread_mutex_unlock(&cache->lock);
}

void mc_agent_cache_forget(mc_agent_cache *cache, const char *ns, const char *name)
{
    char key[SECRET_KEY_MAX];
    if (!cache || secret_key(ns, name, key) != 0)
        return;
    pthread_mutex_lock(&cache->lock);
    cache_entry *e = table_find(&cache->keys, key);
    if (e)
        table_remove(&cache->keys, e);
    if ((e = table_find(&cache->verdicts, key)))
        table_remove(&cache->verdicts, e);
    if ((e = table_find(&cache->facts, key)))
        table_remove(&cache->facts, e);
    pthread_mutex_unlock(&cache->lock);
}

void mc_agent_cache_get_stats(mc_agent_cache *cache, mc_agent_cache_stats *out)
{
    pthread_mutex_lock(&cache->lock);
    *out = cache->stats;
    pthread_mutex_unlock(&cache->lock);
}
