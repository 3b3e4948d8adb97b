/* inflight.h - admission by requests in flight: a cap in total and one per
 * identity, answered with 429 TooManyRequests (kube-apiserver's
 * --max-requests-inflight, with a per-identity share so that one client
 * cannot take every place). Watches are long-running and have their own caps
 * (watch.h); /healthz, /livez and /readyz are never counted. Used by http.c
 * on the daemon's one thread only, so nothing here locks.
 */
#ifndef MC_SERVER_INFLIGHT_H
#define MC_SERVER_INFLIGHT_H

#include <stddef.h>

#include "util/err.h"

typedef struct mc_inflight mc_inflight;

/* A new limiter (owned by the caller, mc_inflight_free); max_total and
 * max_per_identity are the caps (0: no cap). NULL when out of memory. */
mc_inflight *mc_inflight_new(size_t max_total, size_t max_per_identity);

/* Frees the limiter. Accepts NULL. */
void mc_inflight_free(mc_inflight *limiter);

/* Takes one place for identity (a user name such as "c1-admin", or
 * "client 127.0.0.1" for an unauthenticated peer): 0, else MC_EUNAVAILABLE
 * with a message naming the cap that was hit and its flag, or MC_ENOMEM.
 * Every 0 is matched by one mc_inflight_release of the same identity. */
int mc_inflight_acquire(mc_inflight *limiter, const char *identity, mc_err *err);

/* Gives back one place of identity. */
void mc_inflight_release(mc_inflight *limiter, const char *identity);

/* Requests in flight of identity, or in total when identity is NULL. */
size_t mc_inflight_count(const mc_inflight *limiter, const char *identity);

#endif
