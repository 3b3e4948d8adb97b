/* clock.h - the monotonic clock every layer measures timeouts, deadlines and
 * backoff with (never the wall clock, which jumps), and sleeping by it.
 * Each layer used to keep its own copy of these few lines.
 */
#ifndef MC_UTIL_CLOCK_H
#define MC_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (arbitrary origin; only differences mean
 * anything). */
int64_t mc_clock_now_ms(void);

/* The absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait
 * on a condition variable whose clock is CLOCK_MONOTONIC. */
struct timespec mc_clock_deadline_after(int64_t ms);

/* Seconds elapsed on CLOCK_MONOTONIC since start (taken with
 * clock_gettime(CLOCK_MONOTONIC)). */
double mc_clock_seconds_since(const struct timespec *start);

/* Sleeps ms milliseconds (nothing when ms <= 0), resuming after signals. */
void mc_clock_sleep_ms(int64_t ms);

#endif
