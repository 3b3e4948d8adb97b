/* discovery.c - /version, /api, /apis, APIResourceLists and /openapi/v3,
 * built from a cluster's registry on every request (see discovery.h).
 *
 * Aggregated discovery (apidiscovery.k8s.io/v2) is not served: kubectl asks
 * for it first and falls back to the legacy documents when the reply's
 * Content-Type is plain application/json. The OpenAPI v3 documents carry a
 * PATCH operation with the fieldValidation parameter for every kind, which is
 * how kubectl decides that the server validates (and so never needs the
 * OpenAPI v2 document this server does not have).
 */
#include "server/discovery.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "api/status.h"
#include "util/str.h"

static const char *const content_json = "application/json";

/* ---- helpers ---- */

static int set_reply(json_t *doc, int code, int *status, char **body, const char **content_type)
{
    if (!doc)
        return -1;
    *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*body)
        return -1;
    *status = code;
    *content_type = content_json;
    return 0;
}

static json_t *not_found_status(void)
{
    mc_api_status *st =
        mc_api_status_new(404, "NotFound", "the server could not find the requested resource");
    json_t *out = NULL;
    if (st && mc_api_status_encode(st, &out, NULL) != 0)
        out = NULL;
    mc_api_status_free(st);
    return out;
}

/* Reply for a failed allocation: a 500 with a fixed body. */
static void internal_error(int *status, char **body, const char **content_type)
{
    *status = 500;
    *body = mc_strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                      "\"status\":\"Failure\",\"message\":\"out of memory\","
                      "\"reason\":\"InternalError\",\"code\":500}");
    *content_type = content_json;
}

static json_t *str_array(char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

/* Parses "v<major>[alpha|beta<minor>]"; 0 when the string is not of that form. */
static int parse_kube_version(const char *v, long *major, int *level, long *minor)
{
    char *end;
    /* the outputs are set even when v is not of the form (callers compare
     * them only when it is, but Release builds' flow analysis cannot see it) */
    *major = 0;
    *level = 2; /* GA */
    *minor = 0;
    if (v[0] != 'v' || v[1] < '1' || v[1] > '9')
        return 0;
    *major = strtol(v + 1, &end, 10);
    if (*end == '\0')
        return 1;
    if (mc_str_has_prefix(end, "alpha"))
        *level = 0, end += 5;
    else if (mc_str_has_prefix(end, "beta"))
        *level = 1, end += 4;
    else
        return 0;
    if (*end < '1' || *end > '9')
        return 0;
    *minor = strtol(end, &end, 10);
    return *end == '\0';
}

/* kube's version priority: GA > beta > alpha, higher numbers first, then
 * anything else alphabetically. Negative when a sorts before b. */
static int kube_version_compare(const char *a, const char *b)
{
    long amaj, amin, bmaj, bmin;
    int alev, blev;
    int ka = parse_kube_version(a, &amaj, &alev, &amin);
    int kb = parse_kube_version(b, &bmaj, &blev, &bmin);
    if (ka && kb) {
        if (alev != blev)
            return blev - alev;
        if (amaj != bmaj)
            return amaj > bmaj ? -1 : 1;
        if (amin != bmin)
            return amin > bmin ? -1 : 1;
        return 0;
    }
    if (ka != kb)
        return ka ? -1 : 1;
    return strcmp(a, b);
}

/* The versions of a group, in kube's priority order (new array of strings). */
static json_t *group_versions(const mc_server_registry *reg, const char *group)
{
    json_t *versions = json_array();
    if (!versions)
        return NULL;
    for (size_t i = 0; i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        if (strcmp(r->group, group) != 0)
            continue;
        size_t at = 0, n = json_array_size(versions);
        int dup = 0;
        for (; at < n; at++) {
            int c =
                kube_version_compare(r->version, json_string_value(json_array_get(versions, at)));
            if (c == 0)
                dup = 1;
            if (c <= 0)
                break;
        }
        if (!dup)
            json_array_insert_new(versions, at, json_string(r->version));
    }
    return versions;
}

/* Group names in registry order (built-ins first), without the core group. */
static json_t *group_names(const mc_server_registry *reg)
{
    json_t *groups = json_array();
    for (size_t i = 0; groups && i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        if (!*r->group)
            continue;
        int seen = 0;
        size_t j;
        json_t *g;
        json_array_foreach(groups, j, g)
        {
            if (!strcmp(json_string_value(g), r->group))
                seen = 1;
        }
        if (!seen)
            json_array_append_new(groups, json_string(r->group));
    }
    return groups;
}

static json_t *group_version_entry(const char *group, const char *version)
{
    char gv[512];
    snprintf(gv, sizeof(gv), "%s/%s", group, version);
    return json_pack("{s:s, s:s}", "groupVersion", gv, "version", version);
}

/* An APIGroup (without kind/apiVersion when inner, as in APIGroupList). */
static json_t *api_group(const mc_server_registry *reg, const char *group, int top)
{
    json_t *versions = group_versions(reg, group);
    if (!versions || json_array_size(versions) == 0) {
        json_decref(versions);
        return NULL;
    }
    json_t *entries = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        json_array_append_new(entries, group_version_entry(group, json_string_value(v)));
    }
    json_t *out =
        json_pack("{s:s, s:o, s:o}", "name", group, "versions", entries, "preferredVersion",
                  group_version_entry(group, json_string_value(json_array_get(versions, 0))));
    json_decref(versions);
    if (out && top) {
        json_object_set_new(out, "kind", json_string("APIGroup"));
        json_object_set_new(out, "apiVersion", json_string("v1"));
    }
    return out;
}

static json_t *resource_entry(const mc_server_resource *r)
{
    json_t *verbs;
    if (r->create_only) /* a review: kube serves create only */
        verbs = json_pack("[s]", "create");
    else if (r->namespaced || r->crd_name)
        verbs = json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get",
                          "list", "patch", "update", "watch");
    else /* kube serves no deletecollection for namespaces and CRDs */
        verbs = json_pack("[s,s,s,s,s,s,s]", "create", "delete", "get", "list", "patch", "update",
                          "watch");
    json_t *e =
        json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->plural, "singularName", r->singular,
                  "namespaced", r->namespaced, "kind", r->kind, "verbs", verbs);
    if (!e)
        return NULL;
    if (r->short_names_len)
        json_object_set_new(e, "shortNames", str_array(r->short_names, r->short_names_len));
    if (r->categories_len)
        json_object_set_new(e, "categories", str_array(r->categories, r->categories_len));
    return e;
}

static json_t *status_entry(const mc_server_resource *r)
{
    char name[300];
    snprintf(name, sizeof(name), "%s/status", r->plural);
    return json_pack("{s:s, s:s, s:b, s:s, s:[s,s,s]}", "name", name, "singularName", "",
                     "namespaced", r->namespaced, "kind", r->kind, "verbs", "get", "patch",
                     "update");
}

/* serviceaccounts/token: TokenRequest, create only (serviceaccounts.c). */
static json_t *token_entry(void)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:[s]}", "name", "serviceaccounts/token",
                     "singularName", "", "namespaced", 1, "group", "authentication.k8s.io",
                     "version", "v1", "kind", "TokenRequest", "verbs", "create");
}

/* APIResourceList of group/version; NULL when nothing is served there. */
static json_t *resource_list(const mc_server_registry *reg, const char *group, const char *version)
{
    json_t *resources = json_array();
    if (!resources)
        return NULL;
    for (size_t i = 0; i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
            continue;
        json_array_append_new(resources, resource_entry(r));
        if (r->has_status)
            json_array_append_new(resources, status_entry(r));
        if (mc_server_resource_is(r, MC_API_SERVICE_ACCOUNTS))
            json_array_append_new(resources, token_entry());
    }
    if (json_array_size(resources) == 0) {
        json_decref(resources);
        return NULL;
    }
    char gv[512];
    snprintf(gv, sizeof(gv), "%s%s%s", group, *group ? "/" : "", version);
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", resources);
}

static json_t *version_doc(void)
{
    /* "v1.32.4" -> major "1", minor "32" */
    char major[8] = "1", minor[8] = "0";
    const char *v = &MC_SERVER_KUBE_VERSION[1];
    const char *dot = strchr(v, '.');
    if (dot) {
        snprintf(major, sizeof(major), "%.*s", (int)(dot - v), v);
        const char *dot2 = strchr(dot + 1, '.');
        snprintf(minor, sizeof(minor), "%.*s", dot2 ? (int)(dot2 - dot - 1) : 7, dot + 1);
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", major, "minor",
                     minor, "gitVersion", MC_SERVER_KUBE_VERSION, "gitCommit",
                     "meshcert-" MC_VERSION, "gitTreeState", "clean", "buildDate",
                     "1970-01-01T00:00:00Z", "goVersion", "go1.23.0", "compiler", "gc", "platform",
                     "linux/amd64");
}

/* ---- OpenAPI v3 ---- */

/* The components.schemas name kube gives a kind: reversed group domain for
 * custom resources ("io.solo.smh.certificates.v1alpha2.IssuedCertificate"),
 * io.k8s.api.<group>.<version>.<Kind> for the built-ins. */
static void schema_name(const mc_server_resource *r, char *out, size_t size)
{
    if (!*r->group) {
        snprintf(out, size, "io.k8s.api.core.%s.%s", r->version, r->kind);
        return;
    }
    if (!r->crd_name) {
        if (mc_server_resource_is(r, MC_API_CUSTOM_RESOURCE_DEFINITIONS))
            snprintf(out, size, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.%s.%s",
                     r->version, r->kind);
        else
            snprintf(out, size, "io.k8s.api.%.*s.%s.%s", (int)strcspn(r->group, "."), r->group,
                     r->version, r->kind);
        return;
    }
    size_t used = 0;
    const char *end = r->group + strlen(r->group);
    out[0] = '\0';
    while (end > r->group && used + 1 < size) {
        const char *start = end;
        while (start > r->group && start[-1] != '.')
            start--;
        int n = snprintf(out + used, size - used, "%.*s.", (int)(end - start), start);
        if (n < 0 || used + (size_t)n >= size)
            break;
        used += (size_t)n;
        end = start > r->group ? start - 1 : r->group;
    }
    snprintf(out + used, size - used, "%s.%s", r->version, r->kind);
}

static json_t *gvk_object(const mc_server_resource *r)
{
    return json_pack("{s:s, s:s, s:s}", "group", r->group, "kind", r->kind, "version", r->version);
}

#define OBJECT_META "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

static json_t *object_meta_schema(void)
{
    return json_pack(
        "{s:s, s:s, s:b, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s, "
        "s:s},"
        " s:{s:s, s:s}, s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}},"
        " s:{s:s, s:{s:s, s:b}}}}",
        "description", "ObjectMeta is metadata that all persisted resources must have.", "type",
        "object", "x-kubernetes-preserve-unknown-fields", 1, "properties", "name", "type", "string",
        "generateName", "type", "string", "namespace", "type", "string", "uid", "type", "string",
        "resourceVersion", "type", "string", "generation", "type", "integer", "format", "int64",
        "creationTimestamp", "type", "string", "format", "date-time", "deletionTimestamp", "type",
        "string", "format", "date-time", "labels", "type", "object", "additionalProperties", "type",
        "string", "annotations", "type", "object", "additionalProperties", "type", "string",
        "finalizers", "type", "array", "items", "type", "string", "ownerReferences", "type",
        "array", "items", "type", "object", "x-kubernetes-preserve-unknown-fields", 1);
}

/* The published schema of one kind: the CRD's openAPIV3Schema (or a
 * permissive object for built-ins) with apiVersion, kind and metadata. */
static json_t *kind_schema(const mc_server_resource *r)
{
    json_t *s = r->schema ? json_deep_copy(r->schema)
                          : json_pack("{s:s, s:b}", "type", "object",
                                      "x-kubernetes-preserve-unknown-fields", 1);
    if (!s)
        return NULL;
    json_t *props = json_object_get(s, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(s, "properties", props);
    }
    json_object_set_new(props, "apiVersion",
                        json_pack("{s:s, s:s}", "description",
                                  "APIVersion defines the versioned schema of this representation "
                                  "of an object.",
                                  "type", "string"));
    json_object_set_new(props, "kind",
                        json_pack("{s:s, s:s}", "description",
                                  "Kind is a string value representing the REST resource this "
                                  "object represents.",
                                  "type", "string"));
    json_object_set_new(props, "metadata",
                        json_pack("{s:[{s:s}], s:s}", "allOf", "$ref",
                                  "#/components/schemas/" OBJECT_META, "description",
                                  "Standard object's metadata."));
    json_object_set_new(s, "x-kubernetes-group-version-kind", json_pack("[o]", gvk_object(r)));
    return s;
}

static json_t *string_param(const char *name, const char *in, int required)
{
    json_t *p = json_pack("{s:s, s:s, s:{s:s, s:b}}", "name", name, "in", in, "schema", "type",
                          "string", "uniqueItems", 1);
    if (p && required)
        json_object_set_new(p, "required", json_true());
    return p;
}

static json_t *ok_response(const char *ref)
{
    return json_pack("{s:{s:s, s:{s:{s:{s:s}}}}}", "200", "description", "OK", "content",
                     "application/json", "schema", "$ref", ref);
}

/* The object path of a resource with get and patch operations. */
static json_t *object_path_item(const mc_server_resource *r, const char *ref)
{
    json_t *params = json_array();
    json_array_append_new(params, string_param("name", "path", 1));
    if (r->namespaced)
        json_array_append_new(params, string_param("namespace", "path", 1));
    json_t *get = json_pack("{s:s, s:o, s:s, s:o}", "description", "read the specified object",
                            "responses", ok_response(ref), "x-kubernetes-action", "get",
                            "x-kubernetes-group-version-kind", gvk_object(r));
    json_t *patch_params = json_array();
    json_array_append_new(patch_params, string_param("dryRun", "query", 0));
    json_array_append_new(patch_params, string_param("fieldManager", "query", 0));
    json_array_append_new(patch_params, string_param("fieldValidation", "query", 0));
    json_t *body_schema = json_pack("{s:s}", "type", "object");
    json_t *patch =
        json_pack("{s:s, s:o, s:{s:{s:{s:O}, s:{s:O}, s:{s:O}}, s:b}, s:o, s:s, s:o}",
                  "description", "partially update the specified object", "parameters",
                  patch_params, "requestBody", "content", "application/json-patch+json", "schema",
                  body_schema, "application/merge-patch+json", "schema", body_schema,
                  "application/strategic-merge-patch+json", "schema", body_schema, "required", 1,
                  "responses", ok_response(ref), "x-kubernetes-action", "patch",
                  "x-kubernetes-group-version-kind", gvk_object(r));
    json_decref(body_schema);
    return json_pack("{s:o, s:o, s:o}", "get", get, "patch", patch, "parameters", params);
}

static int gv_matches(const mc_server_resource *r, const char *group, const char *version)
{
    return !strcmp(r->group, group) && !strcmp(r->version, version);
}

/* The OpenAPI document of a group-version; NULL when it is not served. */
static json_t *openapi_doc(const mc_server_registry *reg, const char *group, const char *version)
{
    json_t *paths = json_object(), *schemas = json_object();
    size_t served = 0;
    for (size_t i = 0; paths && schemas && i < mc_server_registry_count(reg); i++) {
        const mc_server_resource *r = mc_server_registry_at(reg, i);
        if (!gv_matches(r, group, version))
            continue;
        char name[512], ref[600], path[700];
        schema_name(r, name, sizeof(name));
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", name);
        if (*group)
            snprintf(path, sizeof(path), "/apis/%s/%s%s/%s/{name}", group, version,
                     r->namespaced ? "/namespaces/{namespace}" : "", r->plural);
        else
            snprintf(path, sizeof(path), "/api/%s%s/%s/{name}", version,
                     r->namespaced ? "/namespaces/{namespace}" : "", r->plural);
        json_object_set_new(schemas, name, kind_schema(r));
        json_object_set_new(paths, path, object_path_item(r, ref));
        served++;
    }
    if (!served || !paths || !schemas) {
        json_decref(paths);
        json_decref(schemas);
        return NULL;
    }
    json_object_set_new(schemas, OBJECT_META, object_meta_schema());
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info", "title",
                     "Kubernetes", "version", MC_SERVER_KUBE_VERSION, "paths", paths, "components",
                     "schemas", schemas);
}

/* 64-bit FNV-1a of the document, as 16 upper-case hex digits: clients cache
 * a document by the hash in its URL, so it changes whenever the content does. */
static void doc_hash(const json_t *doc, char out[17])
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text ? text : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    free(text);
    snprintf(out, 17, "%016llX", (unsigned long long)h);
}

static int add_index_entry(json_t *paths, const mc_server_registry *reg, const char *group,
                           const char *version)
{
    char key[512], url[600], hash[17];
    json_t *doc = openapi_doc(reg, group, version);
    if (!doc)
        return MC_ENOMEM;
    doc_hash(doc, hash);
    json_decref(doc);
    if (*group)
        snprintf(key, sizeof(key), "apis/%s/%s", group, version);
    else
        snprintf(key, sizeof(key), "api/%s", version);
    /* Rooted at /openapi/v3 so that client-go keeps the kubeconfig's path
     * prefix (/clusters/<name>) when it follows the URL. */
    snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", key, hash);
    return json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
}

static json_t *openapi_index(const mc_server_registry *reg)
{
    json_t *paths = json_object();
    json_t *groups = group_names(reg);
    if (!paths || !groups)
        goto fail;
    if (add_index_entry(paths, reg, "", "v1") != 0)
        goto fail;
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        json_t *versions = group_versions(reg, json_string_value(g));
        size_t j;
        json_t *v;
        json_array_foreach(versions, j, v)
        {
            if (add_index_entry(paths, reg, json_string_value(g), json_string_value(v)) != 0) {
                json_decref(versions);
                goto fail;
            }
        }
        json_decref(versions);
    }
    json_decref(groups);
    return json_pack("{s:o}", "paths", paths);
fail:
    json_decref(paths);
    json_decref(groups);
    return NULL;
}

static json_t *api_versions(void)
{
    return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                     "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress", "");
}

static json_t *api_group_list(const mc_server_registry *reg)
{
    json_t *groups = group_names(reg);
    json_t *list = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        json_array_append_new(list, api_group(reg, json_string_value(g), 0));
    }
    json_decref(groups);
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", list);
}

/* Splits "a/b/c" into at most max segments (copies into buf). Returns the
 * count, or 0 when the path is longer than buf, has more than max segments
 * or an empty one: no discovery path looks like that, so the caller declines
 * it (the resource router answers 404). Before, such a path returned max + 1
 * with segs[0] unset when it was too long, and a GET of 1 024 bytes below
 * /clusters/<c> made the caller read that pointer (issue 14). */
static size_t split_path(const char *path, char *buf, size_t buf_size, char **segs, size_t max)
{
    size_t n = 0;
    if (mc_strlcpy(buf, path, buf_size) >= buf_size)
        return 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p) {
        if (n == max)
            return 0;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        if (*p == '\0')
            break; /* one trailing slash */
        if (*p == '/')
            return 0; /* an empty segment */
    }
    return n;
}

int mc_server_discovery_serve(const mc_server_registry *registry, const char *path,
                              const char *accept, int *status, char **body,
                              const char **content_type)
{
    (void)accept; /* aggregated discovery is declined by answering plain JSON */
    char buf[1024];
    char *s[6];
    size_t n = split_path(path, buf, sizeof(buf), s, 5);
    json_t *doc = NULL;
    int code = 200;
    *body = NULL;
    if (n == 1 && !strcmp(s[0], "version")) {
        doc = version_doc();
    } else if (n == 1 && !strcmp(s[0], "api")) {
        doc = api_versions();
    } else if (n == 2 && !strcmp(s[0], "api")) {
        doc = resource_list(registry, "", s[1]);
    } else if (n == 1 && !strcmp(s[0], "apis")) {
        doc = api_group_list(registry);
    } else if (n == 2 && !strcmp(s[0], "apis")) {
        doc = api_group(registry, s[1], 1);
    } else if (n == 3 && !strcmp(s[0], "apis")) {
        doc = resource_list(registry, s[1], s[2]);
    } else if ((n == 2 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v2")) ||
               (n == 1 && !strcmp(s[0], "swagger-2.0.0.pb-v1"))) {
        /* Clients before kubectl 1.28 validate with OpenAPI v2 only and refuse
         * to apply when it is missing. An empty v2 document (protobuf
         * Document{swagger: "2.0"}) has no schemas: they skip validation and
         * the server's own validation (schema.c) still applies. */
        static const char empty_v2[] = "\x0a\x03" "2.0";
        *status = 200;
        *body = malloc(sizeof(empty_v2));
        if (!*body)
            goto nomem;
        memcpy(*body, empty_v2, sizeof(empty_v2));
        *content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
        return 1;
    } else if (n == 2 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v3")) {
        doc = openapi_index(registry);
        if (!doc)
            goto nomem;
    } else if (n == 4 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v3") && !strcmp(s[2], "api")) {
        doc = openapi_doc(registry, "", s[3]);
    } else if (n == 5 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v3") && !strcmp(s[2], "apis")) {
        doc = openapi_doc(registry, s[3], s[4]);
    } else if (n >= 1 && !strcmp(s[0], "openapi")) {
        doc = NULL; /* any other OpenAPI path: 404 */
    } else {
        return 0;
    }
    if (!doc) {
        code = 404;
        doc = not_found_status();
    }
    if (set_reply(doc, code, status, body, content_type) != 0)
        goto nomem;
    return 1;
nomem:
    internal_error(status, body, content_type);
    return 1;
}
