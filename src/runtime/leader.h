/* leader.h - leader election on a coordination.k8s.io/v1 Lease, with
 * client-go's defaults (lease 15 s, renew deadline 10 s, retry 2 s), so that
 * two issuer replicas never act at once.
 *
 * A candidate acquires the Lease when it is absent or its holder's renewTime
 * + leaseDurationSeconds has passed (by the candidate's own clock), renews it
 * every retry period, and gives up leadership (on_stopped) when it could not
 * renew within the renew deadline; updates use resourceVersion, so two
 * candidates cannot both win a race.
 */
#ifndef MC_RUNTIME_LEADER_H
#define MC_RUNTIME_LEADER_H

#include <stdint.h>

#include "kube/client.h"
#include "util/err.h"

typedef struct mc_leader mc_leader;

typedef struct mc_leader_options {
    const char *namespace;      /* of the Lease */
    const char *name;           /* of the Lease */
    const char *identity;       /* holderIdentity (unique per process) */
    int64_t lease_ms;           /* 0: 15 000 */
    int64_t renew_deadline_ms;  /* 0: 10 000 */
    int64_t retry_ms;           /* 0: 2 000 */
    void (*on_started)(void *ctx); /* became leader (on the election thread) */
    void (*on_stopped)(void *ctx); /* lost leadership or stopped while leading */
    void *ctx;
} mc_leader_options;

/* Creates an elector (options copied); client must outlive it. */
int mc_leader_new(mc_kube_client *client, const mc_leader_options *options, mc_leader **out,
                  mc_err *err);

/* Starts campaigning on its own thread. */
int mc_leader_start(mc_leader *leader, mc_err *err);

/* 1 while leading. */
int mc_leader_is_leader(mc_leader *leader);

/* Stops; releases the Lease (holderIdentity cleared) when leading. */
void mc_leader_stop(mc_leader *leader);

/* Frees (stopping first). Accepts NULL. */
void mc_leader_free(mc_leader *leader);

#endif
