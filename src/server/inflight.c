/* inflight.c - caps on requests in flight, in total and per identity (see
 * inflight.h). An identity has an entry only while it has requests in
 * flight, so the table never holds more entries than the total in flight;
 * a linear scan of it costs less than one TLS record.
 */
#include "server/inflight.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

typedef struct inflight_entry {
    char *identity; /* owned */
    size_t count;   /* its requests in flight (> 0) */
} inflight_entry;

struct mc_inflight {
    size_t max_total;        /* cap in total (0: none) */
    size_t max_per_identity; /* cap per identity (0: none) */
    size_t total;            /* requests in flight */
    inflight_entry *entries; /* owned; identities with requests in flight */
    size_t len, cap;         /* entries used, allocated */
};

mc_inflight *mc_inflight_new(size_t max_total, size_t max_per_identity)
{
    mc_inflight *limiter = calloc(1, sizeof(*limiter));
    if (limiter) {
        limiter->max_total = max_total;
        limiter->max_per_identity = max_per_identity;
    }
    return limiter;
}

void mc_inflight_free(mc_inflight *limiter)
{
    if (!limiter)
        return;
    for (size_t i = 0; i < limiter->len; i++)
        free(limiter->entries[i].identity);
    free(limiter->entries);
    free(limiter);
}

static inflight_entry *entry_find(const mc_inflight *limiter, const char *identity)
{
    for (size_t i = 0; i < limiter->len; i++)
        if (strcmp(limiter->entries[i].identity, identity) == 0)
            return &limiter->entries[i];
    return NULL;
}

static inflight_entry *entry_add(mc_inflight *limiter, const char *identity)
{
    if (limiter->len == limiter->cap) {
        size_t cap = limiter->cap ? limiter->cap * 2 : 16;
        inflight_entry *grown = realloc(limiter->entries, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        limiter->entries = grown;
        limiter->cap = cap;
    }
    char *copy = mc_strdup(identity);
    if (!copy)
        return NULL;
    inflight_entry *e = &limiter->entries[limiter->len++];
    e->identity = copy;
    e->count = 0;
    return e;
}

int mc_inflight_acquire(mc_inflight *limiter, const char *identity, mc_err *err)
{
    if (limiter->max_total && limiter->total >= limiter->max_total)
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "too many requests in flight on this server (limit %zu, "
                          "--max-requests-inflight); retry later",
                          limiter->max_total);
    inflight_entry *e = entry_find(limiter, identity);
    if (e && limiter->max_per_identity && e->count >= limiter->max_per_identity)
        return mc_err_set(err, MC_EUNAVAILABLE,
                          "too many requests in flight for %s (limit %zu, "
                          "--max-requests-inflight-per-identity); retry later",
                          identity, limiter->max_per_identity);
    if (!e)
        e = entry_add(limiter, identity);
    if (!e)
        return mc_err_set(err, MC_ENOMEM, "out of memory admitting a request of %s", identity);
    e->count++;
    limiter->total++;
    return MC_OK;
}

void mc_inflight_release(mc_inflight *limiter, const char *identity)
{
    inflight_entry *e = entry_find(limiter, identity);
    if (!e)
        return;
    limiter->total--;
    if (--e->count > 0)
        return;
    free(e->identity);
    *e = limiter->entries[--limiter->len]; /* order does not matter */
}

size_t mc_inflight_count(const mc_inflight *limiter, const char *identity)
{
    if (!identity)
        return limiter->total;
    const inflight_entry *e = entry_find(limiter, identity);
    return e ? e->count : 0;
}
