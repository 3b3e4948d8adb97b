/* leader.c - leader election on a coordination.k8s.io/v1 Lease (see leader.h).
 *
 * One election thread per elector. Expiry is judged the way client-go does:
 * by this process's monotonic clock since it last saw the Lease's holder or
 * renewTime change, never by comparing its wall clock with the renewTime
 * another host wrote. Every write is an update carrying the resourceVersion
 * that was read, so of two candidates racing for one Lease exactly one wins
 * and the other gets 409 Conflict. A leader that cannot renew within the
 * renew deadline (shorter than the lease) steps down before others may act.
 */
#include "runtime/leader.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/core.h"
#include "api/time.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

static const char *log_component = "leader";

typedef enum {
    TRY_LEADING = 0, /* acquired or renewed */
    TRY_HELD = 1,    /* another holder's lease has not expired */
    TRY_FAILED = 2,  /* an API error or a lost race: try again later */
} try_result;

struct mc_leader {
    mc_kube_client *client;        /* immutable, not owned */
    char *namespace;               /* immutable, owned */
    char *name;                    /* immutable, owned */
    char *identity;                /* immutable, owned */
    int64_t lease_ms;              /* immutable */
    int64_t renew_deadline_ms;     /* immutable */
    int64_t retry_ms;              /* immutable */
    void (*on_started)(void *ctx); /* immutable */
    void (*on_stopped)(void *ctx); /* immutable */
    void *ctx;                     /* immutable */
    pthread_mutex_t lock;          /* guards the fields marked (lock) */
    pthread_cond_t cond;           /* signalled by stop */
    int stopping;                  /* (lock) */
    int started;                   /* thread running (lock) */
    pthread_t thread;              /* (lock) */
    atomic_int leading;            /* read by mc_leader_is_leader */
    char *observed_holder;         /* last holderIdentity seen; election thread only */
    char *observed_renew;          /* last renewTime seen; election thread only */
    int64_t observed_at_ms;        /* monotonic time it was first seen; election thread only */
    unsigned seed;                 /* jitter; election thread only */
};

static void now_micro(char *out, size_t out_size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (mc_time_format_micro((int64_t)ts.tv_sec, (int32_t)ts.tv_nsec, out, out_size) != 0)
        mc_strlcpy(out, "1970-01-01T00:00:00.000000Z", out_size);
}

/* Sleeps ms unless stop is asked; returns 1 when stopping. */
static int sleep_unless_stopping(mc_leader *leader, int64_t ms)
{
    struct timespec until = mc_clock_deadline_after(ms);
    pthread_mutex_lock(&leader->lock);
    while (!leader->stopping && pthread_cond_timedwait(&leader->cond, &leader->lock, &until) == 0) {
    }
    int stopping = leader->stopping;
    pthread_mutex_unlock(&leader->lock);
    return stopping;
}

static int is_stopping(mc_leader *leader)
{
    pthread_mutex_lock(&leader->lock);
    int stopping = leader->stopping;
    pthread_mutex_unlock(&leader->lock);
    return stopping;
}

/* Records what the Lease says and when this process first saw it. */
static void observe(mc_leader *leader, const char *holder, const char *renew)
{
    if (leader->observed_holder && leader->observed_renew &&
        strcmp(leader->observed_holder, holder) == 0 && strcmp(leader->observed_renew, renew) == 0)
        return;
    free(leader->observed_holder);
    free(leader->observed_renew);
    leader->observed_holder = mc_strdup(holder);
    leader->observed_renew = mc_strdup(renew);
    leader->observed_at_ms = mc_clock_now_ms();
}

static json_int_t lease_seconds(const mc_leader *leader)
{
    return (json_int_t)((leader->lease_ms + 999) / 1000);
}

static try_result create_lease(mc_leader *leader)
{
    char stamp[MC_TIME_RFC3339_MAX];
    now_micro(stamp, sizeof(stamp));
    json_t *lease = mc_api_lease_new(leader->namespace, leader->name, leader->identity,
                                     lease_seconds(leader), stamp, stamp, 0);
    if (!lease)
        return TRY_FAILED;
    mc_err err;
    mc_err_clear(&err);
    json_t *created = NULL;
    int rc = mc_kube_create(leader->client, mc_kube_resource_of(MC_API_LEASES), leader->namespace,
                            lease, &created, &err);
    json_decref(created);
    json_decref(lease);
    if (rc != MC_OK) {
        if (rc != MC_EEXISTS)
            mc_log_warn(log_component, "%s: %s", leader->identity, err.msg);
        return TRY_FAILED;
    }
    observe(leader, leader->identity, stamp);
    return TRY_LEADING;
}

/* One attempt to acquire or renew the Lease. */
static try_result try_acquire_or_renew(mc_leader *leader)
{
    json_t *lease = NULL;
    json_t *updated = NULL;
    mc_err err;
    mc_err_clear(&err);
    try_result result = TRY_FAILED;
    int rc = mc_kube_get(leader->client, mc_kube_resource_of(MC_API_LEASES), leader->namespace,
                         leader->name, &lease, &err);
    if (rc == MC_ENOTFOUND)
        return create_lease(leader);
    if (rc != MC_OK) {
        mc_log_warn(log_component, "%s: %s", leader->identity, err.msg);
        return TRY_FAILED;
    }
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *renew = json_string_value(json_object_get(spec, "renewTime"));
    json_int_t duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    holder = holder ? holder : "";
    renew = renew ? renew : "";
    if (duration <= 0)
        duration = lease_seconds(leader);
    observe(leader, holder, renew);
    int ours = strcmp(holder, leader->identity) == 0;
    if (*holder && !ours && leader->observed_at_ms + (int64_t)duration * 1000 > mc_clock_now_ms()) {
        result = TRY_HELD;
        goto out;
    }

    char stamp[MC_TIME_RFC3339_MAX];
    now_micro(stamp, sizeof(stamp));
    if (!json_is_object(spec)) {
        spec = json_object();
        if (!spec || json_object_set_new(lease, "spec", spec) != 0)
            goto out;
    }
    json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    json_object_set_new(spec, "holderIdentity", json_string(leader->identity));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(lease_seconds(leader)));
    json_object_set_new(spec, "renewTime", json_string(stamp));
    if (!ours) {
        json_object_set_new(spec, "acquireTime", json_string(stamp));
        json_object_set_new(spec, "leaseTransitions", json_integer(transitions + 1));
    }
    /* lease still carries the resourceVersion read above: a concurrent
     * writer makes this a 409 Conflict, and this candidate lost the race. */
    rc = mc_kube_update(leader->client, mc_kube_resource_of(MC_API_LEASES), leader->namespace,
                        lease, &updated, &err);
    if (rc != MC_OK) {
        if (rc != MC_ECONFLICT)
            mc_log_warn(log_component, "%s: %s", leader->identity, err.msg);
        goto out;
    }
    observe(leader, leader->identity, stamp);
    result = TRY_LEADING;
out:
    json_decref(updated);
    json_decref(lease);
    return result;
}

/* Clears holderIdentity when this process still holds the Lease, so that
 * another candidate need not wait for it to expire. */
static void release(mc_leader *leader)
{
    json_t *lease = NULL;
    mc_err err;
    mc_err_clear(&err);
    if (mc_kube_get(leader->client, mc_kube_resource_of(MC_API_LEASES), leader->namespace,
                    leader->name, &lease, &err) != MC_OK) {
        mc_log_warn(log_component, "%s: release: %s", leader->identity, err.msg);
        return;
    }
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder && strcmp(holder, leader->identity) == 0) {
        char stamp[MC_TIME_RFC3339_MAX];
        now_micro(stamp, sizeof(stamp));
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "renewTime", json_string(stamp));
        json_t *updated = NULL;
        if (mc_kube_update(leader->client, mc_kube_resource_of(MC_API_LEASES), leader->namespace,
                           lease, &updated, &err) != MC_OK)
            mc_log_warn(log_component, "%s: release: %s", leader->identity, err.msg);
        json_decref(updated);
    }
    json_decref(lease);
}

/* How long a candidate waits before its next attempt: the retry period less
 * up to 20 % (jitter spreads candidates without ever stretching the period, so
 * a renewal is seen at most one retry period late), and no later than just
 * after the moment the observed holder's lease runs out. Together: a dead
 * leader is replaced within lease duration + retry period. */
static int64_t next_attempt_ms(mc_leader *leader)
{
    int64_t wait = leader->retry_ms -
                   (int64_t)(rand_r(&leader->seed) % (unsigned)(leader->retry_ms / 5 + 1));
    if (leader->observed_holder && leader->observed_holder[0]) {
        int64_t expiry = leader->observed_at_ms + leader->lease_ms + 20 - mc_clock_now_ms();
        if (expiry > 0 && expiry < wait)
            wait = expiry;
    }
    return wait;
}

/* Campaigns until leading (1) or stopping (0). */
static int acquire(mc_leader *leader)
{
    for (;;) {
        if (is_stopping(leader))
            return 0;
        if (try_acquire_or_renew(leader) == TRY_LEADING)
            return 1;
        if (sleep_unless_stopping(leader, next_attempt_ms(leader)))
            return 0;
    }
}

/* Renews every retry period while leading; returns when leadership is lost
 * (renew deadline passed, or the Lease shows another live holder) or on stop. */
static void renew(mc_leader *leader)
{
    int64_t last_renew = mc_clock_now_ms();
    for (;;) {
        if (sleep_unless_stopping(leader, leader->retry_ms))
            return;
        try_result result = try_acquire_or_renew(leader);
        if (result == TRY_LEADING) {
            last_renew = mc_clock_now_ms();
            continue;
        }
        if (result == TRY_HELD) {
            mc_log_warn(log_component, "%s: the lease %s/%s is held by %s", leader->identity,
                        leader->namespace, leader->name, leader->observed_holder);
            return;
        }
        if (mc_clock_now_ms() - last_renew >= leader->renew_deadline_ms) {
            mc_log_warn(log_component, "%s: could not renew the lease %s/%s within %lld ms",
                        leader->identity, leader->namespace, leader->name,
                        (long long)leader->renew_deadline_ms);
            return;
        }
    }
}

static void *election_main(void *arg)
{
    mc_leader *leader = arg;
    while (acquire(leader)) {
        atomic_store(&leader->leading, 1);
        mc_log_info(log_component, "%s: became leader (lease %s/%s)", leader->identity,
                    leader->namespace, leader->name);
        if (leader->on_started)
            leader->on_started(leader->ctx);
        renew(leader);
        /* Stop acting first, then (on stop) hand the Lease over. */
        atomic_store(&leader->leading, 0);
        mc_log_info(log_component, "%s: stopped leading (lease %s/%s)", leader->identity,
                    leader->namespace, leader->name);
        if (leader->on_stopped)
            leader->on_stopped(leader->ctx);
        if (is_stopping(leader)) {
            release(leader);
            break;
        }
    }
    return NULL;
}

int mc_leader_new(mc_kube_client *client, const mc_leader_options *options, mc_leader **out,
                  mc_err *err)
{
    *out = NULL;
    if (!client || !options || !options->namespace || !options->name || !options->identity ||
        !*options->identity)
        return mc_err_set(err, MC_EINVAL,
                          "leader election: client, lease namespace, name and identity required");
    mc_leader *leader = calloc(1, sizeof(*leader));
    if (!leader)
        return mc_err_set(err, MC_ENOMEM, "leader election: out of memory");
    leader->client = client;
    leader->namespace = mc_strdup(options->namespace);
    leader->name = mc_strdup(options->name);
    leader->identity = mc_strdup(options->identity);
    leader->lease_ms = options->lease_ms > 0 ? options->lease_ms : 15000;
    leader->renew_deadline_ms = options->renew_deadline_ms > 0 ? options->renew_deadline_ms : 10000;
    leader->retry_ms = options->retry_ms > 0 ? options->retry_ms : 2000;
    leader->on_started = options->on_started;
    leader->on_stopped = options->on_stopped;
    leader->ctx = options->ctx;
    int rc = MC_OK;
    if (leader->renew_deadline_ms >= leader->lease_ms ||
        leader->retry_ms >= leader->renew_deadline_ms) {
        /* client-go's own checks: otherwise two leaders could overlap. */
        rc = mc_err_set(err, MC_EINVAL,
                        "leader election: need retry (%lld ms) < renew deadline "
                        "(%lld ms) < lease (%lld ms)",
                        (long long)leader->retry_ms, (long long)leader->renew_deadline_ms,
                        (long long)leader->lease_ms);
        goto fail;
    }
    for (const char *p = leader->identity ? leader->identity : ""; *p; p++)
        leader->seed = leader->seed * 31u + (unsigned char)*p;
    leader->seed ^= (unsigned)mc_clock_now_ms();
    pthread_condattr_t attr;
    if (!leader->namespace || !leader->name || !leader->identity ||
        pthread_condattr_init(&attr) != 0) {
        rc = mc_err_set(err, MC_ENOMEM, "leader election: out of memory");
        goto fail;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int cond_ok = pthread_cond_init(&leader->cond, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!cond_ok || pthread_mutex_init(&leader->lock, NULL) != 0) {
        if (cond_ok)
            pthread_cond_destroy(&leader->cond);
        rc = mc_err_set(err, MC_ENOMEM, "leader election: out of memory");
        goto fail;
    }
    *out = leader;
    return MC_OK;
fail:
    free(leader->identity);
    free(leader->name);
    free(leader->namespace);
    free(leader);
    return rc;
}

int mc_leader_start(mc_leader *leader, mc_err *err)
{
    int rc = MC_OK;
    pthread_mutex_lock(&leader->lock);
    if (!leader->started && !leader->stopping) {
        if (pthread_create(&leader->thread, NULL, election_main, leader) != 0)
            rc = mc_err_set(err, MC_ENOMEM, "leader election: cannot start its thread");
        else
            leader->started = 1;
    }
    pthread_mutex_unlock(&leader->lock);
    return rc;
}

int mc_leader_is_leader(mc_leader *leader)
{
    return atomic_load(&leader->leading);
}

void mc_leader_stop(mc_leader *leader)
{
    pthread_mutex_lock(&leader->lock);
    leader->stopping = 1;
    pthread_cond_broadcast(&leader->cond);
    int started = leader->started;
    leader->started = 0;
    pthread_mutex_unlock(&leader->lock);
    if (started)
        pthread_join(leader->thread, NULL);
}

void mc_leader_free(mc_leader *leader)
{
    if (!leader)
        return;
    mc_leader_stop(leader);
    pthread_cond_destroy(&leader->cond);
    pthread_mutex_destroy(&leader->lock);
    free(leader->observed_holder);
    free(leader->observed_renew);
    free(leader->identity);
    free(leader->name);
    free(leader->namespace);
    free(leader);
}
