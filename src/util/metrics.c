/* metrics.c - the Prometheus registry of metrics.h.
 *
 * A series is named by its rendered label set (`a="x",b="y"`, values
 * escaped), which is unique per value tuple and what the exposition prints,
 * so a family keeps its series in an array sorted by that text
 * (util/sorted.h): lookups are binary searches and the output is stable.
 */
#include "util/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sorted.h"
#include "util/str.h"

const double mc_metrics_latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600};
const size_t mc_metrics_latency_bucket_count =
    sizeof(mc_metrics_latency_buckets) / sizeof(mc_metrics_latency_buckets[0]);

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct series {
    char *labels;               /* rendered label set, "" without labels; the sort key */
    double value;               /* counter or gauge; a histogram's sum */
    unsigned long long count;   /* histogram: observations */
    unsigned long long *bucket; /* histogram: per bucket, not cumulative */
} series;

struct mc_metric {
    mc_metrics *registry;
    char *name;
    char *help;
    metric_kind kind;
    char **label_names; /* label_count */
    size_t label_count;
    double *buckets; /* histogram upper bounds */
    size_t bucket_count;
    series **series; /* registry->lock; sorted by labels */
    size_t series_count;
    size_t series_cap;
};

typedef struct collector {
    mc_metrics_collect_fn fn;
    void *ctx;
} collector;

struct mc_metrics {
    pthread_mutex_t lock;         /* every family's series */
    pthread_mutex_t collect_lock; /* collectors, and one render at a time */
    mc_metric **families;         /* lock; registration order */
    size_t family_count;
    collector *collectors; /* collect_lock */
    size_t collector_count;
};

/* [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':' and no "__" prefix). */
static int valid_name(const char *name, int label)
{
    if (!name || !*name || (label && strncmp(name, "__", 2) == 0))
        return 0;
    for (const char *p = name; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                    (!label && *p == ':');
        if (!alpha && !(p > name && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

mc_metrics *mc_metrics_new(void)
{
    mc_metrics *metrics = calloc(1, sizeof(*metrics));
    if (!metrics)
        return NULL;
    pthread_mutex_init(&metrics->lock, NULL);
    pthread_mutex_init(&metrics->collect_lock, NULL);
    return metrics;
}

static void series_free(series *s)
{
    if (!s)
        return;
    free(s->labels);
    free(s->bucket);
    free(s);
}

static void metric_free(mc_metric *metric)
{
    for (size_t i = 0; i < metric->series_count; i++)
        series_free(metric->series[i]);
    for (size_t i = 0; i < metric->label_count; i++)
        free(metric->label_names[i]);
    free(metric->label_names);
    free(metric->series);
    free(metric->buckets);
    free(metric->name);
    free(metric->help);
    free(metric);
}

void mc_metrics_free(mc_metrics *metrics)
{
    if (!metrics)
        return;
    for (size_t i = 0; i < metrics->family_count; i++)
        metric_free(metrics->families[i]);
    free(metrics->families);
    free(metrics->collectors);
    pthread_mutex_destroy(&metrics->lock);
    pthread_mutex_destroy(&metrics->collect_lock);
    free(metrics);
}

/* Appends a label value escaped as the format wants: \\, \" and \n. */
static int append_escaped(mc_buf *out, const char *text, int quote)
{
    int rc = MC_OK;
    for (const char *p = text ? text : ""; *p && rc == MC_OK; p++) {
        if (*p == '\\')
            rc = mc_buf_append_str(out, "\\\\");
        else if (*p == '\n')
            rc = mc_buf_append_str(out, "\\n");
        else if (*p == '"' && quote)
            rc = mc_buf_append_str(out, "\\\"");
        else
            rc = mc_buf_append(out, p, 1);
    }
    return rc;
}

/* The rendered label set of values (owned), or NULL out of memory. */
static char *label_text(const mc_metric *metric, const char *const *values)
{
    mc_buf text;
    mc_buf_init(&text, 1 << 20);
    int rc = mc_buf_append_str(&text, "");
    for (size_t i = 0; i < metric->label_count && rc == MC_OK; i++) {
        rc = mc_buf_appendf(&text, "%s%s=\"", i ? "," : "", metric->label_names[i]);
        if (rc == MC_OK)
            rc = append_escaped(&text, values ? values[i] : "", 1);
        if (rc == MC_OK)
            rc = mc_buf_append_str(&text, "\"");
    }
    if (rc != MC_OK) {
        mc_buf_free(&text);
        return NULL;
    }
    return mc_buf_steal(&text, NULL);
}

static const char *series_labels(const void *item)
{
    return ((const series *)item)->labels;
}

/* The series of values (created when create is set); lock held. NULL when
 * absent or out of memory. */
static series *series_find(mc_metric *metric, const char *const *values, int create, size_t *index)
{
    char *labels = label_text(metric, values);
    if (!labels)
        return NULL;
    int found = 0;
    size_t at = mc_sorted_index((void *const *)metric->series, metric->series_count, series_labels,
                                labels, &found);
    *index = at;
    if (found || !create) {
        free(labels);
        return found ? metric->series[at] : NULL;
    }
    if (metric->series_count == metric->series_cap) {
        size_t cap = metric->series_cap ? metric->series_cap * 2 : 8;
        series **grown = realloc(metric->series, cap * sizeof(*grown));
        if (!grown) {
            free(labels);
            return NULL;
        }
        metric->series = grown;
        metric->series_cap = cap;
    }
    series *s = calloc(1, sizeof(*s));
    if (s && metric->kind == KIND_HISTOGRAM)
        s->bucket = calloc(metric->bucket_count ? metric->bucket_count : 1, sizeof(*s->bucket));
    if (!s || (metric->kind == KIND_HISTOGRAM && !s->bucket)) {
        series_free(s);
        free(labels);
        return NULL;
    }
    s->labels = labels;
    memmove(&metric->series[at + 1], &metric->series[at],
            (metric->series_count - at) * sizeof(*metric->series));
    metric->series[at] = s;
    metric->series_count++;
    return s;
}

static mc_metric *metric_register(mc_metrics *metrics, metric_kind kind, const char *name,
                                  const char *help, const char *const *label_names,
                                  size_t label_count, const double *buckets, size_t bucket_count)
{
    if (!metrics || !valid_name(name, 0))
        return NULL;
    for (size_t i = 0; i < label_count; i++)
        if (!valid_name(label_names[i], 1) ||
            (kind == KIND_HISTOGRAM && !strcmp(label_names[i], "le")))
            return NULL;
    for (size_t i = 1; i < bucket_count; i++)
        if (!(buckets[i] > buckets[i - 1]))
            return NULL;
    mc_metric *metric = calloc(1, sizeof(*metric));
    if (!metric)
        return NULL;
    metric->registry = metrics;
    metric->kind = kind;
    metric->name = mc_strdup(name);
    metric->help = mc_strdup(help ? help : "");
    metric->label_names = label_count ? calloc(label_count, sizeof(char *)) : NULL;
    metric->buckets = bucket_count ? malloc(bucket_count * sizeof(double)) : NULL;
    int ok = metric->name && metric->help && (!label_count || metric->label_names) &&
             (!bucket_count || metric->buckets);
    for (size_t i = 0; ok && i < label_count; i++) {
        metric->label_names[i] = mc_strdup(label_names[i]);
        ok = metric->label_names[i] != NULL;
        metric->label_count = i + 1;
    }
    if (ok && bucket_count) {
        memcpy(metric->buckets, buckets, bucket_count * sizeof(double));
        metric->bucket_count = bucket_count;
    }
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; ok && i < metrics->family_count; i++)
        ok = strcmp(metrics->families[i]->name, name) != 0;
    size_t index;
    if (ok && label_count == 0)
        ok = series_find(metric, NULL, 1, &index) != NULL;
    mc_metric **grown =
        ok ? realloc(metrics->families, (metrics->family_count + 1) * sizeof(*grown)) : NULL;
    if (grown) {
        metrics->families = grown;
        metrics->families[metrics->family_count++] = metric;
    }
    pthread_mutex_unlock(&metrics->lock);
    if (!grown) {
        metric_free(metric);
        return NULL;
    }
    return metric;
}

mc_metric *mc_metrics_counter(mc_metrics *metrics, const char *name, const char *help,
                              const char *const *label_names, size_t label_count)
{
    return metric_register(metrics, KIND_COUNTER, name, help, label_names, label_count, NULL, 0);
}

mc_metric *mc_metrics_gauge(mc_metrics *metrics, const char *name, const char *help,
                            const char *const *label_names, size_t label_count)
{
    return metric_register(metrics, KIND_GAUGE, name, help, label_names, label_count, NULL, 0);
}

mc_metric *mc_metrics_histogram(mc_metrics *metrics, const char *name, const char *help,
                                const char *const *label_names, size_t label_count,
                                const double *buckets, size_t bucket_count)
{
    return metric_register(metrics, KIND_HISTOGRAM, name, help, label_names, label_count, buckets,
                           bucket_count);
}

/* Runs op on the series of values under the registry's lock. */
typedef enum { OP_ADD, OP_SET, OP_OBSERVE } series_op;

static void series_update(mc_metric *metric, const char *const *values, series_op op, double value)
{
    if (!metric)
        return;
    if (op == OP_ADD && metric->kind == KIND_COUNTER && !(value >= 0))
        return; /* a counter never goes down */
    pthread_mutex_lock(&metric->registry->lock);
    size_t index;
    series *s = series_find(metric, values, 1, &index);
    if (s) {
        switch (op) {
        case OP_ADD: s->value += value; break;
        case OP_SET:
            if (metric->kind == KIND_GAUGE || value > s->value)
                s->value = value; /* a counter copied from elsewhere never goes down */
            break;
        case OP_OBSERVE: {
            size_t b = 0;
            while (b < metric->bucket_count && value > metric->buckets[b])
                b++;
            if (b < metric->bucket_count)
                s->bucket[b]++;
            s->count++;
            s->value += value;
            break;
        }
        }
    }
    pthread_mutex_unlock(&metric->registry->lock);
}

void mc_metric_add(mc_metric *metric, const char *const *label_values, double value)
{
    if (metric && metric->kind != KIND_HISTOGRAM)
        series_update(metric, label_values, OP_ADD, value);
}

void mc_metric_set(mc_metric *metric, const char *const *label_values, double value)
{
    if (metric && metric->kind != KIND_HISTOGRAM)
        series_update(metric, label_values, OP_SET, value);
}

void mc_metric_observe(mc_metric *metric, const char *const *label_values, double value)
{
    if (metric && metric->kind == KIND_HISTOGRAM)
        series_update(metric, label_values, OP_OBSERVE, value);
}

void mc_metric_remove(mc_metric *metric, const char *const *label_values)
{
    if (!metric || metric->label_count == 0)
        return;
    pthread_mutex_lock(&metric->registry->lock);
    size_t index;
    series *s = series_find(metric, label_values, 0, &index);
    if (s) {
        series_free(s);
        memmove(&metric->series[index], &metric->series[index + 1],
                (metric->series_count - index - 1) * sizeof(*metric->series));
        metric->series_count--;
    }
    pthread_mutex_unlock(&metric->registry->lock);
}

void mc_metric_reset(mc_metric *metric)
{
    if (!metric || metric->label_count == 0)
        return;
    pthread_mutex_lock(&metric->registry->lock);
    for (size_t i = 0; i < metric->series_count; i++)
        series_free(metric->series[i]);
    metric->series_count = 0;
    pthread_mutex_unlock(&metric->registry->lock);
}

double mc_metric_value(mc_metric *metric, const char *const *label_values)
{
    if (!metric)
        return 0;
    pthread_mutex_lock(&metric->registry->lock);
    size_t index;
    series *s = series_find(metric, label_values, 0, &index);
    double value = !s ? 0 : metric->kind == KIND_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&metric->registry->lock);
    return value;
}

int mc_metrics_add_collector(mc_metrics *metrics, mc_metrics_collect_fn fn, void *ctx)
{
    if (!metrics)
        return MC_OK;
    pthread_mutex_lock(&metrics->collect_lock);
    collector *grown =
        realloc(metrics->collectors, (metrics->collector_count + 1) * sizeof(*grown));
    if (grown) {
        metrics->collectors = grown;
        metrics->collectors[metrics->collector_count++] = (collector){fn, ctx};
    }
    pthread_mutex_unlock(&metrics->collect_lock);
    return grown ? MC_OK : MC_ENOMEM;
}

void mc_metrics_remove_collector(mc_metrics *metrics, mc_metrics_collect_fn fn, void *ctx)
{
    if (!metrics)
        return;
    pthread_mutex_lock(&metrics->collect_lock);
    for (size_t i = 0; i < metrics->collector_count; i++)
        if (metrics->collectors[i].fn == fn && metrics->collectors[i].ctx == ctx) {
            memmove(&metrics->collectors[i], &metrics->collectors[i + 1],
                    (metrics->collector_count - i - 1) * sizeof(collector));
            metrics->collector_count--;
            break;
        }
    pthread_mutex_unlock(&metrics->collect_lock);
}

/* A sample value: integers (timestamps, counts) in full, others as the
 * shortest text that reads back the same; NaN, +Inf, -Inf. */
static void format_value(double value, char *out, size_t size)
{
    if (isnan(value)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(out, size, "%sInf", value > 0 ? "+" : "-");
        return;
    }
    if (value == floor(value) && fabs(value) < 9007199254740992.0) { /* 2^53: exact */
        snprintf(out, size, "%.0f", value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, size, "%.*g", precision, value);
        if (strtod(out, NULL) == value)
            return;
    }
}

/* name{labels[,extra]} value */
static int append_sample(mc_buf *out, const char *name, const char *suffix, const char *labels,
                         const char *extra, double value)
{
    char number[40];
    format_value(value, number, sizeof(number));
    int braces = (labels && *labels) || extra;
    return mc_buf_appendf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, braces ? "{" : "",
                          labels ? labels : "", labels && *labels && extra ? "," : "",
                          extra ? extra : "", braces ? "}" : "", number);
}

static int render_family(const mc_metric *metric, mc_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc = mc_buf_appendf(out, "# HELP %s ", metric->name);
    if (rc == MC_OK)
        rc = append_escaped(out, metric->help, 0);
    if (rc == MC_OK)
        rc = mc_buf_appendf(out, "\n# TYPE %s %s\n", metric->name, types[metric->kind]);
    for (size_t i = 0; i < metric->series_count && rc == MC_OK; i++) {
        const series *s = metric->series[i];
        if (metric->kind != KIND_HISTOGRAM) {
            rc = append_sample(out, metric->name, "", s->labels, NULL, s->value);
            continue;
        }
        unsigned long long cumulative = 0;
        for (size_t b = 0; b <= metric->bucket_count && rc == MC_OK; b++) {
            char le[64], bound[40];
            if (b < metric->bucket_count) {
                cumulative += s->bucket[b];
                format_value(metric->buckets[b], bound, sizeof(bound));
            } else {
                cumulative = s->count;
                snprintf(bound, sizeof(bound), "+Inf");
            }
            snprintf(le, sizeof(le), "le=\"%s\"", bound);
            rc = append_sample(out, metric->name, "_bucket", s->labels, le, (double)cumulative);
        }
        if (rc == MC_OK)
            rc = append_sample(out, metric->name, "_sum", s->labels, NULL, s->value);
        if (rc == MC_OK)
            rc = append_sample(out, metric->name, "_count", s->labels, NULL, (double)s->count);
    }
    return rc;
}

int mc_metrics_render(mc_metrics *metrics, mc_buf *out)
{
    /* collect_lock: collectors are not removed (their owner freed) while
     * called, and two scrapes do not interleave their resets and sets */
    pthread_mutex_lock(&metrics->collect_lock);
    for (size_t i = 0; i < metrics->collector_count; i++)
        metrics->collectors[i].fn(metrics->collectors[i].ctx);
    pthread_mutex_lock(&metrics->lock);
    int rc = MC_OK;
    for (size_t i = 0; i < metrics->family_count && rc == MC_OK; i++)
        rc = render_family(metrics->families[i], out);
    pthread_mutex_unlock(&metrics->lock);
    pthread_mutex_unlock(&metrics->collect_lock);
    return rc;
}
