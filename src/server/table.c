/* table.c - meta.k8s.io/v1 Table responses (see table.h).
 *
 * Custom resources get a Name column and the CRD's additionalPrinterColumns
 * (or Age when the CRD declares none), evaluated as kube's CRD table
 * convertor does: string columns print any value, typed columns keep values
 * of their type only, date columns become a relative age ("5m", "3d4h") from
 * the server's clock. Built-in kinds get the columns kube-apiserver prints.
 */
#include "server/table.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "util/buf.h"
#include "util/str.h"

static const char name_description[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
static const char age_description[] =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.";

/* ---- Accept ---- */

/* Does one media range (no commas) ask for a meta.k8s.io/v1 Table? */
static int media_is_table(const char *s, size_t n)
{
    int as_table = 0, group = 0, version = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != ';')
            end++;
        size_t a = i, b = end;
        while (a < b && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        const char *p = s + a;
        size_t len = b - a;
        if (len == 8 && !strncmp(p, "as=Table", 8))
            as_table = 1;
        else if (len == 13 && !strncmp(p, "g=meta.k8s.io", 13))
            group = 1;
        else if (len == 4 && !strncmp(p, "v=v1", 4))
            version = 1;
        i = end + 1;
    }
    return as_table && group && version;
}

int mc_server_table_wanted(const char *accept)
{
    if (!accept)
        return 0;
    const char *p = accept;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (media_is_table(p, n))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- values ---- */

/* kube's duration.HumanDuration: short, rounded down, coarser as it grows. */
static void human_duration(int64_t seconds, char *out, size_t size)
{
    if (seconds < -1) {
        snprintf(out, size, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
    if (seconds < 120)
        snprintf(out, size, "%llds", (long long)seconds);
    else if (minutes < 10 && seconds % 60)
        snprintf(out, size, "%lldm%llds", (long long)minutes, (long long)(seconds % 60));
    else if (minutes < 180)
        snprintf(out, size, "%lldm", (long long)minutes);
    else if (hours < 8 && minutes % 60)
        snprintf(out, size, "%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    else if (hours < 48)
        snprintf(out, size, "%lldh", (long long)hours);
    else if (hours < 24 * 8 && hours % 24)
        snprintf(out, size, "%lldd%lldh", (long long)days, (long long)(hours % 24));
    else if (hours < 24 * 365 * 2)
        snprintf(out, size, "%lldd", (long long)days);
    else if (hours < 24 * 365 * 8 && days % 365)
        snprintf(out, size, "%lldy%lldd", (long long)(days / 365), (long long)(days % 365));
    else
        snprintf(out, size, "%lldy", (long long)(days / 365));
}

/* The age of an RFC 3339 timestamp as a new JSON string: "<unknown>" when
 * absent, "<invalid>" when malformed. */
static json_t *age_cell(const json_t *timestamp, time_t now)
{
    char text[64];
    int64_t t;
    if (!json_is_string(timestamp) || json_string_length(timestamp) == 0)
        return json_string("<unknown>");
    if (mc_time_parse(json_string_value(timestamp), &t, NULL, NULL) != 0)
        return json_string("<invalid>");
    human_duration((int64_t)now - t, text, sizeof(text));
    return json_string(text);
}

/* Follows a simple JSONPath (".a.b[0].c", optionally in braces). NULL when
 * any step is missing. */
static const json_t *eval_path(const json_t *obj, const char *path)
{
    char buf[512];
    size_t n = strlen(path);
    if (n >= 2 && path[0] == '{' && path[n - 1] == '}') {
        path++;
        n -= 2;
    }
    if (n >= sizeof(buf))
        return NULL;
    memcpy(buf, path, n);
    buf[n] = '\0';
    const json_t *cur = obj;
    char *p = buf;
    while (*p && cur) {
        if (*p == '.') {
            p++;
            size_t len = strcspn(p, ".[");
            if (len == 0)
                return NULL;
            char saved = p[len];
            p[len] = '\0';
            cur = json_is_object(cur) ? json_object_get(cur, p) : NULL;
            p[len] = saved;
            p += len;
        } else if (*p == '[') {
            char *end;
            long index = strtol(p + 1, &end, 10);
            if (*end != ']' || !json_is_array(cur))
                return NULL;
            if (index < 0)
                index += (long)json_array_size(cur);
            cur = index >= 0 ? json_array_get(cur, (size_t)index) : NULL;
            p = end + 1;
        } else {
            return NULL;
        }
    }
    return cur;
}

/* A cell of a CRD printer column, as kube's CRD table convertor makes it. */
static json_t *crd_cell(const char *type, const json_t *v, time_t now)
{
    if (!v || json_is_null(v))
        return json_null();
    if (!strcmp(type, "string")) {
        if (json_is_string(v))
            return json_copy((json_t *)v);
        if (json_is_boolean(v))
            return json_string(json_is_true(v) ? "true" : "false");
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_t *cell = text ? json_string(text) : json_null();
        free(text);
        return cell;
    }
    if (!strcmp(type, "integer")) {
        if (json_is_integer(v))
            return json_integer(json_integer_value(v));
        if (json_is_real(v))
            return json_integer((json_int_t)json_real_value(v));
    } else if (!strcmp(type, "number")) {
        if (json_is_number(v))
            return json_real(json_number_value(v));
    } else if (!strcmp(type, "boolean")) {
        if (json_is_boolean(v))
            return json_boolean(json_is_true(v));
    } else if (!strcmp(type, "date")) {
        if (json_is_string(v))
            return age_cell(v, now);
    }
    return json_null();
}

/* ---- columns ---- */

static json_t *column(const char *name, const char *type, const char *format,
                      const char *description, json_int_t priority)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", name, "type", type, "format", format,
                     "description", description, "priority", priority);
}

static json_t *name_column(void)
{
    return column("Name", "string", "name", name_description, 0);
}

static json_t *age_column(void)
{
    return column("Age", "string", "", age_description, 0);
}

/* The kinds kube prints with columns of their own. */
typedef enum {
    KIND_OTHER,
    KIND_CUSTOM,
    KIND_NAMESPACE,
    KIND_SECRET,
    KIND_POD,
    KIND_CONFIGMAP,
    KIND_SERVICEACCOUNT,
    KIND_LEASE,
    KIND_DEPLOYMENT,
    KIND_PDB,
    KIND_EVENT,
    KIND_CRD,
    KIND_ROLE,    /* Role, ClusterRole */
    KIND_BINDING, /* RoleBinding, ClusterRoleBinding */
} print_kind;

/* The built-ins with their own columns (the rest print Name and Age). */
static const struct {
    mc_api_resource_id id;
    print_kind kind;
} printed_kinds[] = {
    {MC_API_NAMESPACES, KIND_NAMESPACE},
    {MC_API_SECRETS, KIND_SECRET},
    {MC_API_PODS, KIND_POD},
    {MC_API_CONFIG_MAPS, KIND_CONFIGMAP},
    {MC_API_SERVICE_ACCOUNTS, KIND_SERVICEACCOUNT},
    {MC_API_EVENTS, KIND_EVENT},
    {MC_API_LEASES, KIND_LEASE},
    {MC_API_DEPLOYMENTS, KIND_DEPLOYMENT},
    {MC_API_POD_DISRUPTION_BUDGETS, KIND_PDB},
    {MC_API_CUSTOM_RESOURCE_DEFINITIONS, KIND_CRD},
    {MC_API_ROLES, KIND_ROLE},
    {MC_API_CLUSTER_ROLES, KIND_ROLE},
    {MC_API_ROLE_BINDINGS, KIND_BINDING},
    {MC_API_CLUSTER_ROLE_BINDINGS, KIND_BINDING},
};

static print_kind kind_of(const mc_server_resource *r)
{
    if (r->crd_name)
        return KIND_CUSTOM;
    for (size_t i = 0; i < sizeof(printed_kinds) / sizeof(printed_kinds[0]); i++)
        if (mc_server_resource_is(r, printed_kinds[i].id))
            return printed_kinds[i].kind;
    return KIND_OTHER;
}

/* The printer columns of a CRD version: its own, or Age when it has none. */
static int crd_has_columns(const mc_server_resource *r)
{
    return json_is_array(r->columns) && json_array_size(r->columns) > 0;
}

static json_t *crd_columns(const mc_server_resource *r)
{
    json_t *cols = json_array();
    json_array_append_new(cols, name_column());
    if (!crd_has_columns(r)) {
        json_array_append_new(cols, age_column());
        return cols;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(r->columns, i, c)
    {
        const char *jp = json_string_value(json_object_get(c, "jsonPath"));
        const char *desc = json_string_value(json_object_get(c, "description"));
        const char *format = json_string_value(json_object_get(c, "format"));
        json_int_t priority = json_integer_value(json_object_get(c, "priority"));
        char fallback[600];
        snprintf(fallback, sizeof(fallback),
                 "Custom resource definition column (in JSONPath format): %s", jp ? jp : "");
        json_array_append_new(cols, column(json_string_value(json_object_get(c, "name")),
                                           json_string_value(json_object_get(c, "type")),
                                           format ? format : "", desc && *desc ? desc : fallback,
                                           priority));
    }
    return cols;
}

static json_t *builtin_columns(print_kind kind)
{
    json_t *cols = json_array();
    switch (kind) {
    case KIND_EVENT:
        json_array_append_new(
            cols, column("Last Seen", "string", "", "The time since the event was last seen", 0));
        json_array_append_new(cols, column("Type", "string", "", "The type of the event", 0));
        json_array_append_new(cols, column("Reason", "string", "", "The reason of the event", 0));
        json_array_append_new(cols,
                              column("Object", "string", "", "The object the event is about", 0));
        json_array_append_new(cols,
                              column("Message", "string", "", "A description of the event", 0));
        json_array_append_new(cols, column("Name", "string", "name", name_description, 1));
        return cols;
    case KIND_CRD:
    case KIND_ROLE:
        json_array_append_new(cols, name_column());
        json_array_append_new(cols, column("Created At", "date", "", age_description, 0));
        return cols;
    case KIND_BINDING:
        json_array_append_new(cols, name_column());
        json_array_append_new(cols, column("Role", "string", "",
                                           "RoleRef can reference a Role in the current "
                                           "namespace or a ClusterRole in the global "
                                           "namespace. If the RoleRef cannot be resolved, the "
                                           "Authorizer must return an error. This field is "
                                           "immutable.",
                                           0));
        json_array_append_new(cols, age_column());
        json_array_append_new(cols, column("Users", "string", "", "Users in the roleBinding", 1));
        json_array_append_new(cols, column("Groups", "string", "", "Groups in the roleBinding", 1));
        json_array_append_new(
            cols, column("ServiceAccounts", "string", "", "ServiceAccounts in the roleBinding", 1));
        return cols;
    default: break;
    }
    json_array_append_new(cols, name_column());
    switch (kind) {
    case KIND_NAMESPACE:
        json_array_append_new(cols,
                              column("Status", "string", "", "The status of the namespace", 0));
        break;
    case KIND_SECRET:
        json_array_append_new(cols, column("Type", "string", "", "The type of the secret", 0));
        json_array_append_new(cols,
                              column("Data", "string", "", "The number of entries in the data", 0));
        break;
    case KIND_POD:
        json_array_append_new(
            cols, column("Ready", "string", "",
                         "The aggregate readiness state of this pod for accepting traffic.", 0));
        json_array_append_new(cols,
                              column("Status", "string", "",
                                     "The aggregate status of the containers in this pod.", 0));
        json_array_append_new(
            cols, column("Restarts", "string", "",
                         "The number of times the containers in this pod have been restarted.", 0));
        break;
    case KIND_CONFIGMAP:
        json_array_append_new(cols,
                              column("Data", "string", "", "The number of entries in the data", 0));
        break;
    case KIND_SERVICEACCOUNT:
        json_array_append_new(
            cols, column("Secrets", "string", "", "The number of secrets of the account", 0));
        break;
    case KIND_LEASE:
        json_array_append_new(cols, column("Holder", "string", "", "The holder of the lease", 0));
        break;
    case KIND_DEPLOYMENT:
        json_array_append_new(
            cols, column("Ready", "string", "", "Number of the pod with ready state", 0));
        json_array_append_new(
            cols, column("Up-to-date", "string", "",
                         "Total number of non-terminated pods targeted by this deployment that "
                         "have the desired template spec.",
                         0));
        json_array_append_new(
            cols, column("Available", "string", "",
                         "Total number of available pods (ready for at least minReadySeconds) "
                         "targeted by this deployment.",
                         0));
        break;
    case KIND_PDB:
        json_array_append_new(
            cols,
            column("Min Available", "string", "",
                   "The minimum number or percentage of available pods this budget requires.", 0));
        json_array_append_new(cols, column("Max Unavailable", "string", "",
                                           "The maximum number or percentage of unavailable pods "
                                           "this budget requires.",
                                           0));
        json_array_append_new(cols,
                              column("Allowed Disruptions", "integer", "",
                                     "Number of pod disruptions that are currently allowed.", 0));
        break;
    default: break;
    }
    json_array_append_new(cols, age_column());
    if (kind == KIND_POD) {
        json_array_append_new(cols, column("IP", "string", "", "The IP address of the pod", 1));
        json_array_append_new(cols, column("Node", "string", "", "The node the pod runs on", 1));
    }
    if (kind == KIND_DEPLOYMENT) {
        json_array_append_new(cols, column("Containers", "string", "",
                                           "Names of each container in the template.", 1));
        json_array_append_new(cols,
                              column("Images", "string", "",
                                     "Images referenced by each container in the template.", 1));
        json_array_append_new(
            cols, column("Selector", "string", "",
                         "Label selector for pods. Existing ReplicaSets whose pods are selected by "
                         "this will be the ones affected by this deployment. It must match the "
                         "pod template's labels.",
                         1));
    }
    return cols;
}

/* ---- cells ---- */

static const json_t *field(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    return b ? json_object_get(v, b) : v;
}

static json_t *string_or(const json_t *v, const char *fallback)
{
    return json_string(json_is_string(v) && json_string_length(v) ? json_string_value(v)
                                                                  : fallback);
}

static json_int_t count_members(const json_t *v)
{
    if (json_is_object(v))
        return (json_int_t)json_object_size(v);
    if (json_is_array(v))
        return (json_int_t)json_array_size(v);
    return 0;
}

/* READY and STATUS of a pod, simplified from kube's printer: a container's
 * waiting or terminated reason wins over the phase; Terminating while being
 * deleted. */
static void pod_cells(json_t *cells, const json_t *pod)
{
    const json_t *statuses = field(pod, "status", "containerStatuses");
    size_t total = json_array_size(field(pod, "spec", "containers"));
    size_t ready = 0, i;
    json_int_t restarts = 0;
    const char *reason = NULL;
    const json_t *cs;
    json_array_foreach(statuses, i, cs)
    {
        if (json_is_true(json_object_get(cs, "ready")))
            ready++;
        restarts += json_integer_value(json_object_get(cs, "restartCount"));
        const json_t *state = json_object_get(cs, "state");
        const char *r = json_string_value(field(state, "waiting", "reason"));
        if (!r)
            r = json_string_value(field(state, "terminated", "reason"));
        if (r && *r)
            reason = r;
    }
    char text[64];
    snprintf(text, sizeof(text), "%zu/%zu", ready, total);
    json_array_append_new(cells, json_string(text));
    if (field(pod, "metadata", "deletionTimestamp") &&
        !json_is_null(field(pod, "metadata", "deletionTimestamp")))
        reason = "Terminating";
    if (!reason)
        reason = json_string_value(field(pod, "status", "reason"));
    if (!reason)
        reason = json_string_value(field(pod, "status", "phase"));
    json_array_append_new(cells, json_string(reason ? reason : "Unknown"));
    snprintf(text, sizeof(text), "%lld", (long long)restarts);
    json_array_append_new(cells, json_string(text));
}

/* An int-or-string field (a PDB's minAvailable: 2 or "50%") as text, or
 * fallback when absent. */
static json_t *int_or_string(const json_t *v, const char *fallback)
{
    if (json_is_integer(v)) {
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
        return json_string(text);
    }
    return string_or(v, fallback);
}

/* The members' key (a container's "name", "image") joined by commas. */
static json_t *joined(const json_t *array, const char *key)
{
    mc_buf text;
    mc_buf_init(&text, 4096);
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        const char *v = json_string_value(json_object_get(item, key));
        if (mc_buf_appendf(&text, "%s%s", i ? "," : "", v ? v : "") != MC_OK)
            break;
    }
    json_t *cell = json_string(text.data ? text.data : "");
    mc_buf_free(&text);
    return cell;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Orders printed requirements ("app=x", "!canary", "zone in (a)") by their
 * label key, as kube's selector does (keys hold no '!', '=' or ' '). */
static int compare_requirements(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    x += *x == '!';
    y += *y == '!';
    size_t nx = strcspn(x, "= "), ny = strcspn(y, "= ");
    int c = strncmp(x, y, nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

/* The strings of a JSON array, sorted (borrowed; caller frees the array). */
static const char **sorted_strings(const json_t *array, size_t *len)
{
    size_t i;
    const json_t *v;
    const char **items = calloc(json_array_size(array) + 1, sizeof(char *));
    *len = 0;
    if (!items)
        return NULL;
    json_array_foreach(array, i, v) if (json_is_string(v)) items[(*len)++] = json_string_value(v);
    qsort(items, *len, sizeof(char *), compare_strings);
    return items;
}

/* One matchExpressions entry as kube's labels.Selector prints it (values
 * sorted, as kube's NewRequirement sorts them). */
static char *selector_expression(const json_t *e)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *op = json_string_value(json_object_get(e, "operator"));
    mc_buf text;
    mc_buf_init(&text, 4096);
    if (!key || !op)
        return NULL;
    if (!strcmp(op, "Exists")) {
        mc_buf_append_str(&text, key);
    } else if (!strcmp(op, "DoesNotExist")) {
        mc_buf_appendf(&text, "!%s", key);
    } else {
        mc_buf_appendf(&text, "%s %s (", key, !strcmp(op, "In") ? "in" : "notin");
        size_t n = 0;
        const char **values = sorted_strings(json_object_get(e, "values"), &n);
        for (size_t i = 0; values && i < n; i++)
            mc_buf_appendf(&text, "%s%s", i ? "," : "", values[i]);
        free(values);
        mc_buf_append_str(&text, ")");
    }
    return mc_buf_steal(&text, NULL);
}

/* A LabelSelector as kubectl's Selector column shows it: the requirements
 * sorted by key ("app=issuer,tier in (a,b)"), "<none>" when empty. */
static json_t *selector_cell(const json_t *selector)
{
    const json_t *labels = json_object_get(selector, "matchLabels");
    const json_t *expressions = json_object_get(selector, "matchExpressions");
    size_t n = json_object_size(labels) + json_array_size(expressions), len = 0;
    char **parts = calloc(n ? n : 1, sizeof(char *));
    json_t *cell = NULL;
    if (!parts)
        return NULL;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)labels, key, v)
    {
        mc_buf text;
        mc_buf_init(&text, 4096);
        mc_buf_appendf(&text, "%s=%s", key, json_string_value(v) ? json_string_value(v) : "");
        if ((parts[len] = mc_buf_steal(&text, NULL)))
            len++;
    }
    size_t i;
    json_array_foreach(expressions, i, v) if ((parts[len] = selector_expression(v))) len++;
    qsort(parts, len, sizeof(char *), compare_requirements);
    mc_buf text;
    mc_buf_init(&text, 8192);
    for (i = 0; i < len; i++)
        mc_buf_appendf(&text, "%s%s", i ? "," : "", parts[i]);
    cell = json_string(text.len ? text.data : "<none>");
    mc_buf_free(&text);
    for (i = 0; i < len; i++)
        free(parts[i]);
    free(parts);
    return cell;
}

/* READY ("ready/desired"), UP-TO-DATE and AVAILABLE of a Deployment. */
static void deployment_cells(json_t *cells, const json_t *deployment)
{
    const json_t *replicas = field(deployment, "spec", "replicas");
    char text[64];
    snprintf(text, sizeof(text), "%lld/%lld",
             (long long)json_integer_value(field(deployment, "status", "readyReplicas")),
             (long long)(json_is_integer(replicas) ? json_integer_value(replicas) : 1));
    json_array_append_new(cells, json_string(text));
    json_array_append_new(
        cells, json_integer(json_integer_value(field(deployment, "status", "updatedReplicas"))));
    json_array_append_new(
        cells, json_integer(json_integer_value(field(deployment, "status", "availableReplicas"))));
}

/* CONTAINERS, IMAGES and SELECTOR (kubectl -o wide) of a Deployment. */
static void deployment_wide_cells(json_t *cells, const json_t *deployment)
{
    const json_t *containers = field(field(deployment, "spec", "template"), "spec", "containers");
    json_array_append_new(cells, joined(containers, "name"));
    json_array_append_new(cells, joined(containers, "image"));
    json_array_append_new(cells, selector_cell(field(deployment, "spec", "selector")));
}

/* "<kind>/<name>" of an event's involvedObject, kube style (lower-case kind). */
static json_t *event_object(const json_t *ev)
{
    const json_t *io = json_object_get(ev, "involvedObject");
    if (!json_is_object(io))
        io = json_object_get(ev, "regarding");
    const char *kind = json_string_value(json_object_get(io, "kind"));
    const char *name = json_string_value(json_object_get(io, "name"));
    char text[600];
    size_t i = 0;
    for (const char *k = kind ? kind : ""; *k && i + 1 < 128; k++)
        text[i++] = (char)((*k >= 'A' && *k <= 'Z') ? *k - 'A' + 'a' : *k);
    snprintf(text + i, sizeof(text) - i, "/%s", name ? name : "");
    return json_string(text);
}

static void event_cells(json_t *cells, const json_t *ev, time_t now)
{
    const json_t *last = json_object_get(ev, "lastTimestamp");
    if (!json_is_string(last))
        last = json_object_get(ev, "eventTime");
    if (!json_is_string(last))
        last = field(ev, "metadata", "creationTimestamp");
    json_array_append_new(cells, age_cell(last, now));
    json_array_append_new(cells, string_or(json_object_get(ev, "type"), ""));
    json_array_append_new(cells, string_or(json_object_get(ev, "reason"), ""));
    json_array_append_new(cells, event_object(ev));
    json_array_append_new(cells, string_or(json_object_get(ev, "message"), ""));
    json_array_append_new(cells, string_or(field(ev, "metadata", "name"), ""));
}

/* The subjects of a binding of one kind, comma-separated as kube prints
 * them: "name" for users and groups, "namespace:name" for ServiceAccounts. */
static json_t *binding_subjects(const json_t *binding, const char *kind)
{
    char text[1024];
    size_t used = 0, i;
    const json_t *subject;
    text[0] = '\0';
    json_array_foreach(json_object_get(binding, "subjects"), i, subject)
    {
        const char *k = json_string_value(json_object_get(subject, "kind"));
        const char *name = json_string_value(json_object_get(subject, "name"));
        const char *ns = json_string_value(json_object_get(subject, "namespace"));
        if (!k || strcmp(k, kind) != 0 || !name || used >= sizeof(text))
            continue;
        int n = snprintf(text + used, sizeof(text) - used, "%s%s%s%s", used ? ", " : "",
                         ns && !strcmp(kind, "ServiceAccount") ? ns : "",
                         ns && !strcmp(kind, "ServiceAccount") ? ":" : "", name);
        used = n < 0 ? sizeof(text) : used + (size_t)n;
    }
    return json_string(text);
}

static void binding_cells(json_t *cells, const json_t *binding, time_t now)
{
    const json_t *ref = json_object_get(binding, "roleRef");
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    char role[600];
    snprintf(role, sizeof(role), "%s/%s", kind ? kind : "", name ? name : "");
    json_array_append_new(cells, json_string(role));
    json_array_append_new(cells, age_cell(field(binding, "metadata", "creationTimestamp"), now));
    json_array_append_new(cells, binding_subjects(binding, "User"));
    json_array_append_new(cells, binding_subjects(binding, "Group"));
    json_array_append_new(cells, binding_subjects(binding, "ServiceAccount"));
}

static json_t *row_cells(const mc_server_resource *r, print_kind kind, const json_t *obj,
                         time_t now)
{
    json_t *cells = json_array();
    if (!cells)
        return NULL;
    const json_t *created = field(obj, "metadata", "creationTimestamp");
    if (kind == KIND_EVENT) {
        event_cells(cells, obj, now);
        return cells;
    }
    json_array_append_new(cells, string_or(field(obj, "metadata", "name"), ""));
    switch (kind) {
    case KIND_CUSTOM:
        if (crd_has_columns(r)) {
            size_t i;
            const json_t *c;
            json_array_foreach(r->columns, i, c)
            {
                const char *jp = json_string_value(json_object_get(c, "jsonPath"));
                const char *type = json_string_value(json_object_get(c, "type"));
                json_array_append_new(
                    cells, crd_cell(type ? type : "string", jp ? eval_path(obj, jp) : NULL, now));
            }
            return cells;
        }
        break;
    case KIND_CRD:
    case KIND_ROLE:
        json_array_append_new(cells,
                              json_is_string(created) ? json_copy((json_t *)created) : json_null());
        return cells;
    case KIND_BINDING: binding_cells(cells, obj, now); return cells;
    case KIND_NAMESPACE:
        json_array_append_new(cells, string_or(field(obj, "status", "phase"), ""));
        break;
    case KIND_SECRET:
        json_array_append_new(cells, string_or(json_object_get(obj, "type"), ""));
        json_array_append_new(cells, json_integer(count_members(json_object_get(obj, "data"))));
        break;
    case KIND_POD: pod_cells(cells, obj); break;
    case KIND_CONFIGMAP:
        json_array_append_new(cells,
                              json_integer(count_members(json_object_get(obj, "data")) +
                                           count_members(json_object_get(obj, "binaryData"))));
        break;
    case KIND_SERVICEACCOUNT:
        json_array_append_new(cells, json_integer(count_members(json_object_get(obj, "secrets"))));
        break;
    case KIND_LEASE:
        json_array_append_new(cells, string_or(field(obj, "spec", "holderIdentity"), ""));
        break;
    case KIND_DEPLOYMENT: deployment_cells(cells, obj); break;
    case KIND_PDB:
        json_array_append_new(cells, int_or_string(field(obj, "spec", "minAvailable"), "N/A"));
        json_array_append_new(cells, int_or_string(field(obj, "spec", "maxUnavailable"), "N/A"));
        json_array_append_new(
            cells, json_integer(json_integer_value(field(obj, "status", "disruptionsAllowed"))));
        break;
    default: break;
    }
    json_array_append_new(cells, age_cell(created, now));
    if (kind == KIND_POD) {
        json_array_append_new(cells, string_or(field(obj, "status", "podIP"), "<none>"));
        json_array_append_new(cells, string_or(field(obj, "spec", "nodeName"), "<none>"));
    }
    if (kind == KIND_DEPLOYMENT)
        deployment_wide_cells(cells, obj);
    return cells;
}

static json_t *row_object(const json_t *obj, const char *include_object)
{
    if (include_object && !strcmp(include_object, "None"))
        return NULL;
    if (include_object && !strcmp(include_object, "Object"))
        return json_deep_copy(obj);
    const json_t *md = json_object_get(obj, "metadata");
    json_t *copy = json_is_object(md) ? json_deep_copy(md) : json_object();
    return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion",
                     "meta.k8s.io/v1", "metadata", copy);
}

json_t *mc_server_table_row(const mc_server_resource *r, const json_t *obj,
                            const char *include_object, time_t now)
{
    json_t *cells = row_cells(r, kind_of(r), obj, now);
    json_t *row = cells ? json_pack("{s:o}", "cells", cells) : NULL;
    json_t *object = row ? row_object(obj, include_object) : NULL;
    if (object)
        json_object_set_new(row, "object", object);
    return row;
}

json_t *mc_server_table_build(const mc_server_resource *r, const json_t *const *objs, size_t n,
                              const char *resource_version, const char *continue_token,
                              const char *include_object, time_t now)
{
    print_kind kind = kind_of(r);
    json_t *table = NULL;
    json_t *columns = kind == KIND_CUSTOM ? crd_columns(r) : builtin_columns(kind);
    json_t *rows = json_array();
    json_t *metadata = json_object();
    if (!columns || !rows || !metadata)
        goto fail;
    if (resource_version &&
        json_object_set_new(metadata, "resourceVersion", json_string(resource_version)) != 0)
        goto fail;
    if (continue_token && *continue_token &&
        json_object_set_new(metadata, "continue", json_string(continue_token)) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(rows, mc_server_table_row(r, objs[i], include_object, now)) != 0)
            goto fail;
    table = json_pack("{s:s, s:s, s:o, s:o, s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
                      "metadata", metadata, "columnDefinitions", columns, "rows", rows);
    return table;
fail:
    json_decref(columns);
    json_decref(rows);
    json_decref(metadata);
    return NULL;
}
