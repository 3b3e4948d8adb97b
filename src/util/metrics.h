/* metrics.h - a small Prometheus metrics registry: counters, gauges and
 * histograms with labels, rendered in the text exposition format 0.0.4
 * (# HELP and # TYPE lines, label values escaped, histogram buckets
 * cumulative with _bucket{le=...}, _sum and _count).
 *
 * Thread-safe: one mutex per registry guards every series. Values that are
 * cheaper to read when scraped (queue depths, cached objects) come from
 * collectors, called before each render, on the rendering thread.
 * docs/metrics.md lists the metrics meshcert exports.
 */
#ifndef MC_UTIL_METRICS_H
#define MC_UTIL_METRICS_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

typedef struct mc_metrics mc_metrics; /* a registry */
typedef struct mc_metric mc_metric;   /* one family: a name, its labels, its series */

/* Label values in the order of the family's label names (as many). */
#define MC_LABELS(...) ((const char *const[]){__VA_ARGS__})

/* Default latency buckets, in seconds (0.05 s to 10 min). */
extern const double mc_metrics_latency_buckets[];
extern const size_t mc_metrics_latency_bucket_count;

/* A new empty registry; NULL on allocation failure. Every function below
 * accepts a NULL registry or family and then does nothing, so a process
 * without --metrics-addr runs the same code. */
mc_metrics *mc_metrics_new(void);

/* Frees the registry and every family. Accepts NULL. */
void mc_metrics_free(mc_metrics *metrics);

/* Registers a family (name and help copied; label_names: label_count names,
 * copied). A family without labels has its one series, at 0, at once.
 * Returns the family, owned by the registry, or NULL when name or a label
 * name is not a valid Prometheus name, the name is taken, or memory ran out.
 * Histogram buckets: upper bounds, strictly increasing, +Inf implied. */
mc_metric *mc_metrics_counter(mc_metrics *metrics, const char *name, const char *help,
                              const char *const *label_names, size_t label_count);
mc_metric *mc_metrics_gauge(mc_metrics *metrics, const char *name, const char *help,
                            const char *const *label_names, size_t label_count);
mc_metric *mc_metrics_histogram(mc_metrics *metrics, const char *name, const char *help,
                                const char *const *label_names, size_t label_count,
                                const double *buckets, size_t bucket_count);

/* Adds value (>= 0 for a counter) to the series of label_values (created at
 * 0). A NULL metric is ignored, so that optional metrics need no checks. */
void mc_metric_add(mc_metric *metric, const char *const *label_values, double value);

/* Sets a gauge's series; or a counter's, from a count kept elsewhere (a
 * collector copying it), where a lower value is ignored. */
void mc_metric_set(mc_metric *metric, const char *const *label_values, double value);

/* Counts one observation of a histogram. */
void mc_metric_observe(mc_metric *metric, const char *const *label_values, double value);

/* Removes one series (an object that went away). */
void mc_metric_remove(mc_metric *metric, const char *const *label_values);

/* Removes every series of a family with labels (a collector that fills it
 * again from a cache, so that series of deleted objects disappear). */
void mc_metric_reset(mc_metric *metric);

/* The value of a counter's or gauge's series (a histogram's count); 0 when
 * absent. For tests and readiness. */
double mc_metric_value(mc_metric *metric, const char *const *label_values);

/* Called before every render, on the rendering thread: sets gauges. */
typedef void (*mc_metrics_collect_fn)(void *ctx);

/* Adds a collector (nothing with a NULL registry); MC_ENOMEM. */
int mc_metrics_add_collector(mc_metrics *metrics, mc_metrics_collect_fn fn, void *ctx);

/* Removes the collector (waits for a render calling it to finish). */
void mc_metrics_remove_collector(mc_metrics *metrics, mc_metrics_collect_fn fn, void *ctx);

/* Runs the collectors, then appends the exposition text of every family,
 * in registration order, to out. MC_ELIMIT/MC_ENOMEM from out. */
int mc_metrics_render(mc_metrics *metrics, mc_buf *out);

#endif
