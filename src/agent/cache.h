/* cache.h - what the agent's decisions derive from immutable inputs, kept
 * between reconciles: the parsed private key of each key Secret, the
 * verdict "matches" of the output-Secret check, and the status facts read
 * from the output's certificates (validity, renewal time, root
 * fingerprints) (decide.c). An issuance is
 * reconciled about ten times (once per event on any of its objects), and
 * OpenSSL 3.0 sets up a decoder for every PEM key it parses (bench/RESULTS.md).
 *
 * Never stale by construction: an entry is found by the Secret's
 * namespace/name and used only when a SHA-256 over everything the value
 * depends on (the Secret's uid and resourceVersion and the bytes themselves;
 * for a verdict also the key Secret, the spec's org and hosts and the
 * layout: the caller lists them) is the same; a verdict also holds only
 * inside the certificates' common validity window. Only successes are kept
 * (an unparseable key, a bundle that does not match, are checked again).
 * Bounded: at most `capacity` entries of each kind, the least recently used
 * evicted; a deleted Secret's entries dropped (mc_agent_cache_forget).
 * Thread-safe. Holds no PEM: keys as OpenSSL objects (wiped when freed), the
 * rest as digests.
 */
#ifndef MC_AGENT_CACHE_H
#define MC_AGENT_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api/meta.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/err.h"

typedef struct mc_agent_cache mc_agent_cache;

/* Counters since mc_agent_cache_new (tests, and what a reconcile costs). */
typedef struct mc_agent_cache_stats {
    uint64_t key_parses;    /* keys parsed from PEM (not found, or changed) */
    uint64_t key_hits;      /* keys served from the cache */
    uint64_t output_checks; /* output Secrets looked up and not found: checked in full */
    uint64_t output_hits;   /* "matches" verdicts served from the cache */
    uint64_t facts_reads;   /* output facts looked up and not found: read from the PEM */
    uint64_t facts_hits;    /* output facts served from the cache */
    uint64_t evictions;     /* entries dropped for room (not for a deleted Secret) */
} mc_agent_cache_stats;

/* Default room of each kind (keys, verdicts) per agent. */
#define MC_AGENT_CACHE_CAPACITY 64

/* A new empty cache with room for capacity keys and capacity verdicts
 * (0: MC_AGENT_CACHE_CAPACITY). *out freed with mc_agent_cache_free. MC_ENOMEM. */
int mc_agent_cache_new(size_t capacity, mc_agent_cache **out, mc_err *err);

/* Frees every entry (keys wiped by OpenSSL). Accepts NULL. */
void mc_agent_cache_free(mc_agent_cache *cache);

/* The private key held in pem (len bytes) of the Secret with metadata
 * secret: the cached one when the same Secret version with the same bytes
 * was parsed before, otherwise mc_pki_key_from_pem (what names the Secret in
 * errors), remembered on success. cache NULL: parses every time. *out is a
 * handle owned by the caller (mc_pki_key_free), usable after an eviction.
 * pki/'s codes for an unreadable key (not remembered). */
int mc_agent_cache_key(mc_agent_cache *cache, const mc_api_object_meta *secret, const char *pem,
                       size_t len, const char *what, mc_pki_key **out, mc_err *err);

/* The identity of a verdict: the SHA-256 of every input it depends on. */
typedef struct mc_agent_cache_id {
    unsigned char digest[32];
} mc_agent_cache_id;

/* Computes *id over the Secret's uid and resourceVersion followed by parts
 * (pki/cert.h). MC_ECRYPTO (then do not cache). */
int mc_agent_cache_identify(const mc_api_object_meta *secret, const mc_pki_hash_part *parts,
                            size_t count, mc_agent_cache_id *id);

/* 1 when the verdict "matches" was remembered for the Secret with exactly
 * the inputs id and now lies in its window [valid_from, valid_until); 0
 * otherwise (counted as output_checks: the caller checks in full). cache
 * NULL: 0. */
int mc_agent_cache_output_matches(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                  const mc_agent_cache_id *id, time_t now);

/* Remembers that the Secret with inputs id matched, for any time in
 * [valid_from, valid_until) (mc_pki_bundle_validity). cache NULL: nothing. */
void mc_agent_cache_output_remember(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                    const mc_agent_cache_id *id, time_t valid_from,
                                    time_t valid_until);

/* Copies into facts (size bytes) what mc_agent_cache_facts_remember kept
 * for the Secret under exactly the inputs id and size: 1; 0 when there is
 * none (counted as facts_reads: the caller reads them and remembers them).
 * cache NULL: 0. facts must hold no secret. */
int mc_agent_cache_facts(mc_agent_cache *cache, const mc_api_object_meta *secret,
                         const mc_agent_cache_id *id, void *facts, size_t size);

/* Keeps a copy of facts (size bytes, no secret) for the Secret under the
 * inputs id. cache NULL or no memory: nothing. */
void mc_agent_cache_facts_remember(mc_agent_cache *cache, const mc_api_object_meta *secret,
                                   const mc_agent_cache_id *id, const void *facts, size_t size);

/* Drops what is remembered for the Secret ns/name (it was deleted). */
void mc_agent_cache_forget(mc_agent_cache *cache, const char *ns, const char *name);

/* The counters so far. */
void mc_agent_cache_get_stats(mc_agent_cache *cache, mc_agent_cache_stats *out);

#endif
