/* registry.c - the resources one logical cluster serves (see registry.h).
 *
 * A flat array of owned resources: the built-ins first, in a fixed order,
 * then the versions of every CustomResourceDefinition, sorted by CRD name and
 * in the CRD's own version order. Applying a CRD builds all its resources
 * first and swaps them in only when every check passed, so a rejected CRD
 * leaves the registry as it was.
 */
#include "server/registry.h"

#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "api/validate.h"
#include "server/schema.h"
#include "util/str.h"

struct mc_server_registry {
    mc_server_resource **items; /* owned array of owned resources */
    size_t len;
    size_t cap;
    size_t builtin_len; /* the first builtin_len items are the built-ins */
};

/* The built-in resources, in the order discovery lists them; their names,
 * scope and short names come from api/'s table (resource.h). */
typedef struct builtin {
    mc_api_resource_id id;
    int create_only; /* a review: answered by authz.c, never stored */
} builtin;

static const builtin builtins[] = {
    {MC_API_NAMESPACES, 0},
    {MC_API_SECRETS, 0},
    {MC_API_PODS, 0},
    {MC_API_CONFIG_MAPS, 0},
    {MC_API_EVENTS, 0},
    {MC_API_SERVICE_ACCOUNTS, 0},
    /* Stored for the shipped manifests (deploy/); nothing runs their pods. */
    {MC_API_DEPLOYMENTS, 0},
    {MC_API_POD_DISRUPTION_BUDGETS, 0},
    {MC_API_LEASES, 0},
    {MC_API_CUSTOM_RESOURCE_DEFINITIONS, 0},
    /* RBAC, enforced by authz.c for identities outside system:masters. */
    {MC_API_CLUSTER_ROLE_BINDINGS, 0},
    {MC_API_CLUSTER_ROLES, 0},
    {MC_API_ROLE_BINDINGS, 0},
    {MC_API_ROLES, 0},
    /* What `kubectl auth can-i` and `kubectl auth whoami` ask (kubectl 1.27
     * asks authentication.k8s.io/v1beta1 first). */
    {MC_API_SELF_SUBJECT_ACCESS_REVIEWS, 1},
    /* `kubectl auth can-i --list` */
    {MC_API_SELF_SUBJECT_RULES_REVIEWS, 1},
    {MC_API_SELF_SUBJECT_REVIEWS, 1},
    {MC_API_SELF_SUBJECT_REVIEWS_V1BETA1, 1},
};

void mc_server_resource_free(mc_server_resource *r)
{
    if (!r)
        return;
    free(r->group);
    free(r->version);
    free(r->plural);
    free(r->singular);
    free(r->kind);
    free(r->list_kind);
    free(r->store_name);
    for (size_t i = 0; i < r->short_names_len; i++)
        free(r->short_names[i]);
    free(r->short_names);
    for (size_t i = 0; i < r->categories_len; i++)
        free(r->categories[i]);
    free(r->categories);
    json_decref(r->schema);
    json_decref(r->columns);
    free(r->crd_name);
    free(r);
}

int mc_server_resource_is(const mc_server_resource *r, mc_api_resource_id id)
{
    const mc_api_resource *api = mc_api_resource_get(id);
    return strcmp(r->group, api->group) == 0 &&
           strcmp(r->version, api->version) == 0 && strcmp(r->plural, api->resource) == 0;
}

static int str_list_push(char ***list, size_t *len, const char *s, size_t n)
{
    char **grown = realloc(*list, (*len + 1) * sizeof(char *));
    if (!grown)
        return MC_ENOMEM;
    *list = grown;
    grown[*len] = mc_strndup(s, n);
    if (!grown[*len])
        return MC_ENOMEM;
    (*len)++;
    return 0;
}

/* Splits "a,b" into an owned list; "" gives an empty one. */
static int str_list_split(const char *csv, char ***list, size_t *len)
{
    const char *p = csv;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n > 0 && str_list_push(list, len, p, n) != 0)
            return MC_ENOMEM;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Fills the names every resource carries; list_kind = kind + "List". */
static int resource_set_names(mc_server_resource *r, const char *group, const char *version,
                              const char *plural, const char *singular, const char *kind,
                              const char *list_kind)
{
    char store_name[512];
    int n = snprintf(store_name, sizeof(store_name), "%s/%s", *group ? group : "core", plural);
    if (n < 0 || (size_t)n >= sizeof(store_name))
        return MC_EINVAL;
    r->group = mc_strdup(group);
    r->version = mc_strdup(version);
    r->plural = mc_strdup(plural);
    r->singular = mc_strdup(singular);
    r->kind = mc_strdup(kind);
    r->store_name = mc_strdup(store_name);
    if (list_kind) {
        r->list_kind = mc_strdup(list_kind);
    } else {
        size_t kl = strlen(kind);
        r->list_kind = malloc(kl + 5);
        if (r->list_kind) {
            memcpy(r->list_kind, kind, kl);
            memcpy(r->list_kind + kl, "List", 5);
        }
    }
    if (!r->group || !r->version || !r->plural || !r->singular || !r->kind || !r->store_name ||
        !r->list_kind)
        return MC_ENOMEM;
    return 0;
}

static int registry_push(mc_server_registry *reg, mc_server_resource *r)
{
    if (reg->len == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        mc_server_resource **grown = realloc(reg->items, cap * sizeof(*grown));
        if (!grown)
            return MC_ENOMEM;
        reg->items = grown;
        reg->cap = cap;
    }
    reg->items[reg->len++] = r;
    return 0;
}

static int add_builtin(mc_server_registry *reg, const builtin *b)
{
    const mc_api_resource *api = mc_api_resource_get(b->id);
    mc_server_resource *r = calloc(1, sizeof(*r));
    if (!r)
        return MC_ENOMEM;
    r->namespaced = api->namespaced;
    r->has_status = api->has_status;
    r->create_only = b->create_only;
    if (resource_set_names(r, api->group, api->version, api->resource, api->singular, api->kind,
                           NULL) != 0 ||
        str_list_split(api->short_names, &r->short_names, &r->short_names_len) != 0 ||
        str_list_split(api->categories, &r->categories, &r->categories_len) != 0 ||
        registry_push(reg, r) != 0) {
        mc_server_resource_free(r);
        return MC_ENOMEM;
    }
    return 0;
}

mc_server_registry *mc_server_registry_new(void)
{
    mc_server_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (add_builtin(reg, &builtins[i]) != 0) {
            mc_server_registry_free(reg);
            return NULL;
        }
    }
    reg->builtin_len = reg->len;
    return reg;
}

void mc_server_registry_free(mc_server_registry *registry)
{
    if (!registry)
        return;
    for (size_t i = 0; i < registry->len; i++)
        mc_server_resource_free(registry->items[i]);
    free(registry->items);
    free(registry);
}

const mc_server_resource *mc_server_registry_find(const mc_server_registry *registry,
                                                  const char *group, const char *version,
                                                  const char *plural)
{
    if (!registry || !group || !version || !plural)
        return NULL;
    for (size_t i = 0; i < registry->len; i++) {
        const mc_server_resource *r = registry->items[i];
        if (!strcmp(r->group, group) && !strcmp(r->version, version) && !strcmp(r->plural, plural))
            return r;
    }
    return NULL;
}

size_t mc_server_registry_count(const mc_server_registry *registry)
{
    return registry ? registry->len : 0;
}

const mc_server_resource *mc_server_registry_at(const mc_server_registry *registry, size_t i)
{
    return registry && i < registry->len ? registry->items[i] : NULL;
}

/* ---- CustomResourceDefinitions ---- */

/* Every version of one CRD, built before the registry is touched. */
typedef struct crd_build {
    mc_server_resource **items;
    size_t len;
} crd_build;

static void crd_build_free(crd_build *b)
{
    for (size_t i = 0; i < b->len; i++)
        mc_server_resource_free(b->items[i]);
    free(b->items);
    b->items = NULL;
    b->len = 0;
}

/* A required non-empty string member; MC_EINVAL "path: Required value". */
static int get_required_string(const json_t *obj, const char *key, const char *path,
                               const char **out, mc_err *err)
{
    /* *out is set on every path and the failure code is a constant: the
     * callers' "!= 0" tests must let the compiler see that a 0 return
     * always set *out (mc_err_set's return value is opaque to it). */
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        mc_err_set(err, MC_EINVAL, "%s: Required value", path);
        return MC_EINVAL;
    }
    if (!json_is_string(v)) {
        mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be a string", path);
        return MC_EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}

/* An optional string (empty when absent). */
static int get_optional_string(const json_t *obj, const char *key, const char *path,
                               const char **out, mc_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = "";
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be a string", path);
    *out = json_string_value(v);
    return 0;
}

/* An optional array of DNS-1123 labels (shortNames, categories) into list. */
static int get_name_list(const json_t *obj, const char *key, const char *path, char ***list,
                         size_t *len, mc_err *err)
{
    const json_t *arr = json_object_get(obj, key);
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an array of strings", path);
    size_t i;
    const json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item))
            return mc_err_set(err, MC_EINVAL, "%s[%zu]: Invalid value: must be a string", path, i);
        mc_err sub = {0};
        if (mc_validate_dns1123_label(json_string_value(item), &sub) != 0)
            return mc_err_set(err, MC_EINVAL, "%s[%zu]: Invalid value: \"%s\": %s", path, i,
                              json_string_value(item), sub.msg);
        if (str_list_push(list, len, json_string_value(item), json_string_length(item)) != 0)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    return 0;
}

static int check_printer_columns(const json_t *columns, const char *path, mc_err *err)
{
    if (!json_is_array(columns))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an array", path);
    size_t i;
    const json_t *col;
    json_array_foreach(columns, i, col)
    {
        char sub[256];
        const char *s;
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!json_is_object(col))
            return mc_err_set(err, MC_EINVAL, "%s: Invalid value: must be an object", sub);
        char field[300];
        snprintf(field, sizeof(field), "%s.name", sub);
        if (get_required_string(col, "name", field, &s, err) != 0)
            return MC_EINVAL;
        snprintf(field, sizeof(field), "%s.type", sub);
        if (get_required_string(col, "type", field, &s, err) != 0)
            return MC_EINVAL;
        if (strcmp(s, "integer") && strcmp(s, "number") && strcmp(s, "string") &&
            strcmp(s, "boolean") && strcmp(s, "date"))
            return mc_err_set(err, MC_EINVAL,
                              "%s: Unsupported value: \"%s\": supported values: \"boolean\", "
                              "\"date\", \"integer\", \"number\", \"string\"",
                              field, s);
        snprintf(field, sizeof(field), "%s.jsonPath", sub);
        if (get_required_string(col, "jsonPath", field, &s, err) != 0)
            return MC_EINVAL;
        if (s[0] != '.')
            return mc_err_set(
                err, MC_EINVAL,
                "%s: Invalid value: \"%s\": must be a simple json path starting with .", field, s);
    }
    return 0;
}

/* The names a CRD gives all of its versions. */
typedef struct crd_names {
    const char *name, *group, *plural, *singular, *kind, *list_kind;
    int namespaced;
    char **short_names;
    size_t short_names_len;
    char **categories;
    size_t categories_len;
} crd_names;

static void crd_names_free(crd_names *n)
{
    mc_codec_str_array_free(n->short_names, n->short_names_len);
    mc_codec_str_array_free(n->categories, n->categories_len);
}

static int check_crd_names(const json_t *crd, crd_names *out, mc_err *err)
{
    const json_t *metadata = json_object_get(crd, "metadata");
    const json_t *spec = json_object_get(crd, "spec");
    if (!json_is_object(metadata) ||
        get_required_string(metadata, "name", "metadata.name", &out->name, err) != 0)
        return mc_err_set(err, MC_EINVAL, "metadata.name: Required value");
    if (!json_is_object(spec))
        return mc_err_set(err, MC_EINVAL, "spec: Required value");
    if (get_required_string(spec, "group", "spec.group", &out->group, err) != 0)
        return MC_EINVAL;
    mc_err sub = {0};
    if (mc_validate_dns1123_subdomain(out->group, &sub) != 0 || !strchr(out->group, '.'))
        return mc_err_set(
            err, MC_EINVAL,
            "spec.group: Invalid value: \"%s\": should be a domain with at least one dot",
            out->group);
    const json_t *names = json_object_get(spec, "names");
    if (!json_is_object(names))
        return mc_err_set(err, MC_EINVAL, "spec.names: Required value");
    if (get_required_string(names, "plural", "spec.names.plural", &out->plural, err) != 0 ||
        get_required_string(names, "kind", "spec.names.kind", &out->kind, err) != 0 ||
        get_optional_string(names, "singular", "spec.names.singular", &out->singular, err) != 0 ||
        get_optional_string(names, "listKind", "spec.names.listKind", &out->list_kind, err) != 0)
        return MC_EINVAL;
    if (mc_validate_dns1123_label(out->plural, &sub) != 0)
        return mc_err_set(err, MC_EINVAL, "spec.names.plural: Invalid value: \"%s\": %s",
                          out->plural, sub.msg);
    if (*out->singular && mc_validate_dns1123_label(out->singular, &sub) != 0)
        return mc_err_set(err, MC_EINVAL, "spec.names.singular: Invalid value: \"%s\": %s",
                          out->singular, sub.msg);
    if (get_name_list(names, "shortNames", "spec.names.shortNames", &out->short_names,
                      &out->short_names_len, err) != 0 ||
        get_name_list(names, "categories", "spec.names.categories", &out->categories,
                      &out->categories_len, err) != 0)
        return MC_EINVAL;
    size_t plen = strlen(out->plural), glen = strlen(out->group);
    if (strlen(out->name) != plen + 1 + glen || strncmp(out->name, out->plural, plen) != 0 ||
        out->name[plen] != '.' || strcmp(out->name + plen + 1, out->group) != 0)
        return mc_err_set(
            err, MC_EINVAL,
            "metadata.name: Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group",
            out->name);
    const char *scope;
    if (get_required_string(spec, "scope", "spec.scope", &scope, err) != 0)
        return MC_EINVAL;
    if (!strcmp(scope, "Namespaced"))
        out->namespaced = 1;
    else if (!strcmp(scope, "Cluster"))
        out->namespaced = 0;
    else
        return mc_err_set(
            err, MC_EINVAL,
            "spec.scope: Unsupported value: \"%s\": supported values: \"Cluster\", \"Namespaced\"",
            scope);
    return 0;
}

/* Builds the resource of one served version (*out NULL when not served). */
static int build_version(const crd_names *names, const json_t *version, size_t index,
                         const char *crd_name, mc_server_resource **out, int *storage, mc_err *err)
{
    char path[128];
    const char *vname;
    *out = NULL;
    snprintf(path, sizeof(path), "spec.versions[%zu].name", index);
    if (!json_is_object(version))
        return mc_err_set(err, MC_EINVAL, "spec.versions[%zu]: Invalid value: must be an object",
                          index);
    if (get_required_string(version, "name", path, &vname, err) != 0)
        return MC_EINVAL;
    mc_err sub = {0};
    if (mc_validate_dns1123_label(vname, &sub) != 0 || !(vname[0] >= 'a' && vname[0] <= 'z'))
        return mc_err_set(err, MC_EINVAL, "%s: Invalid value: \"%s\": a DNS-1035 label is required",
                          path, vname);
    const json_t *served = json_object_get(version, "served");
    const json_t *stored = json_object_get(version, "storage");
    if ((served && !json_is_boolean(served)) || (stored && !json_is_boolean(stored)))
        return mc_err_set(err, MC_EINVAL, "spec.versions[%zu]: served and storage must be booleans",
                          index);
    *storage = json_is_true(stored);
    const json_t *schema = json_object_get(version, "schema");
    const json_t *oapi = json_is_object(schema) ? json_object_get(schema, "openAPIV3Schema") : NULL;
    if (!json_is_object(oapi))
        return mc_err_set(
            err, MC_EINVAL,
            "spec.versions[%zu].schema.openAPIV3Schema: Required value: schemas are required",
            index);
    if (mc_server_schema_check(oapi, &sub) != 0)
        return mc_err_set(err, MC_EINVAL, "spec.versions[%zu].schema.openAPIV3Schema.%s", index,
                          sub.msg);
    const json_t *columns = json_object_get(version, "additionalPrinterColumns");
    if (columns && !json_is_null(columns)) {
        snprintf(path, sizeof(path), "spec.versions[%zu].additionalPrinterColumns", index);
        if (check_printer_columns(columns, path, err) != 0)
            return MC_EINVAL;
    } else {
        columns = NULL;
    }
    const json_t *subresources = json_object_get(version, "subresources");
    if (!json_is_true(served))
        return 0;

    mc_server_resource *r = calloc(1, sizeof(*r));
    if (!r)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    char singular[256];
    if (*names->singular) {
        mc_strlcpy(singular, names->singular, sizeof(singular));
    } else {
        /* kube defaults the singular to the lower-cased kind */
        size_t i = 0;
        for (; names->kind[i] && i + 1 < sizeof(singular); i++)
            singular[i] =
                (char)((names->kind[i] >= 'A' && names->kind[i] <= 'Z') ? names->kind[i] - 'A' + 'a'
                                                                        : names->kind[i]);
        singular[i] = '\0';
    }
    r->namespaced = names->namespaced;
    r->has_status = json_is_object(subresources) &&
                    json_object_get(subresources, "status") != NULL &&
                    !json_is_null(json_object_get(subresources, "status"));
    r->schema = json_deep_copy(oapi);
    r->columns = columns ? json_deep_copy(columns) : NULL;
    r->crd_name = mc_strdup(crd_name);
    if (resource_set_names(r, names->group, vname, names->plural, singular, names->kind,
                           *names->list_kind ? names->list_kind : NULL) != 0 ||
        !r->schema || (columns && !r->columns) || !r->crd_name ||
        mc_codec_str_array_copy(names->short_names, names->short_names_len, &r->short_names) != 0 ||
        mc_codec_str_array_copy(names->categories, names->categories_len, &r->categories) != 0) {
        mc_server_resource_free(r);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    r->short_names_len = names->short_names_len;
    r->categories_len = names->categories_len;
    *out = r;
    return 0;
}

static int build_crd(const mc_server_registry *reg, const json_t *crd, crd_build *out, mc_err *err)
{
    crd_names names = {0};
    int rc = check_crd_names(crd, &names, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < reg->builtin_len; i++) {
        if (!strcmp(reg->items[i]->group, names.group)) {
            rc = mc_err_set(
                err, MC_EINVAL,
                "spec.group: Invalid value: \"%s\": group is served by the server itself",
                names.group);
            goto out;
        }
    }
    const json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    if (!json_is_array(versions) || json_array_size(versions) == 0) {
        rc = mc_err_set(err, MC_EINVAL,
                        "spec.versions: Invalid value: must have exactly one version marked as "
                        "storage version");
        goto out;
    }
    out->items = calloc(json_array_size(versions), sizeof(*out->items));
    if (!out->items) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    size_t storage_count = 0, i;
    const json_t *version;
    json_array_foreach(versions, i, version)
    {
        int storage = 0;
        mc_server_resource *r = NULL;
        rc = build_version(&names, version, i, names.name, &r, &storage, err);
        if (rc != 0)
            goto out;
        storage_count += storage ? 1 : 0;
        for (size_t j = 0; j < out->len && r; j++) {
            if (!strcmp(out->items[j]->version, r->version)) {
                mc_server_resource_free(r);
                rc = mc_err_set(err, MC_EINVAL, "spec.versions[%zu].name: Duplicate value", i);
                goto out;
            }
        }
        if (r)
            out->items[out->len++] = r;
    }
    if (storage_count != 1) {
        rc = mc_err_set(err, MC_EINVAL,
                        "spec.versions: Invalid value: must have exactly one version marked as "
                        "storage version");
        goto out;
    }
out:
    if (rc != 0)
        crd_build_free(out);
    crd_names_free(&names);
    return rc;
}

/* Another CRD of the same group already serving this plural or kind? */
static int check_conflicts(const mc_server_registry *reg, const crd_build *b, mc_err *err)
{
    for (size_t i = 0; i < b->len; i++) {
        const mc_server_resource *n = b->items[i];
        for (size_t j = 0; j < reg->len; j++) {
            const mc_server_resource *o = reg->items[j];
            if (o->crd_name && !strcmp(o->crd_name, n->crd_name))
                continue;
            if (!strcmp(o->group, n->group) && !strcmp(o->version, n->version) &&
                !strcmp(o->kind, n->kind))
                return mc_err_set(err, MC_EINVAL,
                                  "spec.names.kind: Invalid value: \"%s\": is already in use",
                                  n->kind);
        }
    }
    return 0;
}

int mc_server_registry_apply_crd(mc_server_registry *registry, const json_t *crd, mc_err *err)
{
    crd_build b = {0};
    if (!registry || !json_is_object(crd))
        return mc_err_set(err, MC_EINVAL, "a CustomResourceDefinition must be a JSON object");
    int rc = build_crd(registry, crd, &b, err);
    if (rc != 0)
        return rc;
    rc = check_conflicts(registry, &b, err);
    if (rc != 0)
        goto out;
    /* Make room first so that nothing can fail once the old entries go. */
    size_t need = registry->len + b.len;
    if (need > registry->cap) {
        mc_server_resource **grown = realloc(registry->items, need * sizeof(*grown));
        if (!grown) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
        registry->items = grown;
        registry->cap = need;
    }
    const char *crd_name = b.len ? b.items[0]->crd_name : NULL;
    if (!crd_name) {
        /* no version served: the CRD only removes what it served before */
        const json_t *md = json_object_get(crd, "metadata");
        mc_server_registry_remove_crd(registry, json_string_value(json_object_get(md, "name")));
        goto out;
    }
    mc_server_registry_remove_crd(registry, crd_name);
    size_t at = registry->builtin_len;
    while (at < registry->len && strcmp(registry->items[at]->crd_name, crd_name) < 0)
        at++;
    memmove(&registry->items[at + b.len], &registry->items[at],
            (registry->len - at) * sizeof(*registry->items));
    memcpy(&registry->items[at], b.items, b.len * sizeof(*b.items));
    registry->len += b.len;
    b.len = 0; /* moved into the registry */
out:
    crd_build_free(&b);
    return rc;
}

void mc_server_registry_remove_crd(mc_server_registry *registry, const char *crd_name)
{
    if (!registry || !crd_name)
        return;
    size_t kept = registry->builtin_len;
    for (size_t i = registry->builtin_len; i < registry->len; i++) {
        if (!strcmp(registry->items[i]->crd_name, crd_name))
            mc_server_resource_free(registry->items[i]);
        else
            registry->items[kept++] = registry->items[i];
    }
    registry->len = kept;
}

static char **strings_dup(char *const *items, size_t n)
{
    char **copy = calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; copy && i < n; i++)
        copy[i] = mc_strdup(items[i]);
    return copy;
}

mc_server_resource *mc_server_resource_dup(const mc_server_resource *r)
{
    mc_server_resource *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->group = mc_strdup(r->group);
    c->version = mc_strdup(r->version);
    c->plural = mc_strdup(r->plural);
    c->singular = mc_strdup(r->singular);
    c->kind = mc_strdup(r->kind);
    c->list_kind = mc_strdup(r->list_kind);
    c->store_name = mc_strdup(r->store_name);
    c->namespaced = r->namespaced;
    c->has_status = r->has_status;
    c->create_only = r->create_only;
    c->short_names = strings_dup(r->short_names, r->short_names_len);
    c->short_names_len = c->short_names ? r->short_names_len : 0;
    c->categories = strings_dup(r->categories, r->categories_len);
    c->categories_len = c->categories ? r->categories_len : 0;
    c->schema = r->schema ? json_deep_copy(r->schema) : NULL;
    c->columns = r->columns ? json_deep_copy(r->columns) : NULL;
    c->crd_name = r->crd_name ? mc_strdup(r->crd_name) : NULL;
    if (!c->group || !c->version || !c->plural || !c->kind || !c->store_name) {
        mc_server_resource_free(c);
        return NULL;
    }
    return c;
}
