/* meta.c - ObjectMeta, OwnerReference and ObjectRef codec and validation
 * (see meta.h).
 *
 * Each ownerReferences entry keeps its own raw JSON so that unknown fields of
 * one entry stay with that entry even when entries are added or removed.
 */
#include "api/meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "util/str.h"

static void owner_ref_clear(mc_api_owner_ref *ref)
{
    free(ref->api_version);
    free(ref->kind);
    free(ref->name);
    free(ref->uid);
    json_decref(ref->raw);
    memset(ref, 0, sizeof(*ref));
}

static int owner_ref_decode(const json_t *entry, mc_api_owner_ref *ref, const mc_codec_ctx *ctx,
                            size_t i, mc_err *err)
{
    char path[96];
    int rc = 0;
    if (!json_is_object(entry))
        return mc_err_set(err, MC_EINVAL, "%s: metadata.ownerReferences[%zu]: expected an object",
                          ctx->what, i);
    ref->raw = json_incref((json_t *)entry);
#define FIELD(json_name, call)                                                        \
    do {                                                                              \
        snprintf(path, sizeof(path), "metadata.ownerReferences[%zu].%s", i, json_name); \
        if ((rc = (call)) != 0)                                                       \
            return rc;                                                                \
    } while (0)
    FIELD("apiVersion", mc_codec_get_string(entry, "apiVersion", &ref->api_version, ctx, path, err));
    FIELD("kind", mc_codec_get_string(entry, "kind", &ref->kind, ctx, path, err));
    FIELD("name", mc_codec_get_string(entry, "name", &ref->name, ctx, path, err));
    FIELD("uid", mc_codec_get_string(entry, "uid", &ref->uid, ctx, path, err));
    FIELD("controller", mc_codec_get_bool(entry, "controller", &ref->controller, ctx, path, err));
    FIELD("blockOwnerDeletion", mc_codec_get_bool(entry, "blockOwnerDeletion",
                                                  &ref->block_owner_deletion, ctx, path, err));
#undef FIELD
    return 0;
}

static json_t *owner_ref_encode(const mc_api_owner_ref *ref)
{
    json_t *o = mc_codec_begin(ref->raw);
    if (!o)
        return NULL;
    if (mc_codec_put_string(o, "apiVersion", ref->api_version) != 0 ||
        mc_codec_put_string(o, "kind", ref->kind) != 0 ||
        mc_codec_put_string(o, "name", ref->name) != 0 ||
        mc_codec_put_string(o, "uid", ref->uid) != 0 ||
        mc_codec_put_bool(o, "controller", ref->controller) != 0 ||
        mc_codec_put_bool(o, "blockOwnerDeletion", ref->block_owner_deletion) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int mc_api_meta_decode(const json_t *obj, mc_api_object_meta *meta, const mc_codec_ctx *ctx,
                       mc_err *err)
{
    const json_t *m;
    int rc = mc_codec_get_object(obj, "metadata", &m, ctx, "metadata", err);
    if (rc != 0 || !m)
        return rc;
    if ((rc = mc_codec_get_string(m, "name", &meta->name, ctx, "metadata.name", err)) != 0 ||
        (rc = mc_codec_get_string(m, "generateName", &meta->generate_name, ctx,
                                  "metadata.generateName", err)) != 0 ||
        (rc = mc_codec_get_string(m, "namespace", &meta->namespace, ctx, "metadata.namespace",
                                  err)) != 0 ||
        (rc = mc_codec_get_string(m, "uid", &meta->uid, ctx, "metadata.uid", err)) != 0 ||
        (rc = mc_codec_get_string(m, "resourceVersion", &meta->resource_version, ctx,
                                  "metadata.resourceVersion", err)) != 0 ||
        (rc = mc_codec_get_int64(m, "generation", &meta->generation, ctx, "metadata.generation",
                                 err)) != 0 ||
        (rc = mc_codec_get_time(m, "creationTimestamp", &meta->creation_timestamp, ctx,
                                "metadata.creationTimestamp", err)) != 0 ||
        (rc = mc_codec_get_time(m, "deletionTimestamp", &meta->deletion_timestamp, ctx,
                                "metadata.deletionTimestamp", err)) != 0 ||
        (rc = mc_codec_get_str_map(m, "labels", &meta->labels, ctx, "metadata.labels", err)) !=
            0 ||
        (rc = mc_codec_get_str_map(m, "annotations", &meta->annotations, ctx,
                                   "metadata.annotations", err)) != 0 ||
        (rc = mc_codec_get_str_array(m, "finalizers", &meta->finalizers, &meta->finalizers_len,
                                     ctx, "metadata.finalizers", err)) != 0)
        return rc;
    const json_t *owners;
    rc = mc_codec_get_array(m, "ownerReferences", &owners, ctx, "metadata.ownerReferences", err);
    if (rc != 0 || !owners || json_array_size(owners) == 0)
        return rc;
    size_t n = json_array_size(owners);
    meta->owner_references = calloc(n, sizeof(*meta->owner_references));
    if (!meta->owner_references)
        return mc_err_set(err, MC_ENOMEM, "%s: metadata: out of memory", ctx->what);
    meta->owner_references_len = n;
    for (size_t i = 0; i < n; i++)
        if ((rc = owner_ref_decode(json_array_get(owners, i), &meta->owner_references[i], ctx, i,
                                   err)) != 0)
            return rc;
    return 0;
}

static int owner_refs_encode(const mc_api_object_meta *meta, json_t *m)
{
    json_t *a = json_array();
    if (!a)
        return MC_ENOMEM;
    for (size_t i = 0; i < meta->owner_references_len; i++) {
        if (json_array_append_new(a, owner_ref_encode(&meta->owner_references[i])) != 0) {
            json_decref(a);
            return MC_ENOMEM;
        }
    }
    return mc_codec_put(m, "ownerReferences", a);
}

int mc_api_meta_encode(const mc_api_object_meta *meta, json_t *obj)
{
    json_t *saved;
    json_t *m = mc_codec_child(obj, "metadata", &saved);
    if (!m)
        return MC_ENOMEM;
    int rc = 0;
    if ((rc = mc_codec_put_string(m, "name", meta->name)) != 0 ||
        (rc = mc_codec_put_string(m, "generateName", meta->generate_name)) != 0 ||
        (rc = mc_codec_put_string(m, "namespace", meta->namespace)) != 0 ||
        (rc = mc_codec_put_string(m, "uid", meta->uid)) != 0 ||
        (rc = mc_codec_put_string(m, "resourceVersion", meta->resource_version)) != 0 ||
        (rc = mc_codec_put_int64(m, "generation", meta->generation)) != 0 ||
        (rc = mc_codec_put_string(m, "creationTimestamp", meta->creation_timestamp)) != 0 ||
        (rc = mc_codec_put_string(m, "deletionTimestamp", meta->deletion_timestamp)) != 0 ||
        (rc = mc_codec_put_str_map(m, "labels", &meta->labels)) != 0 ||
        (rc = mc_codec_put_str_map(m, "annotations", &meta->annotations)) != 0 ||
        (rc = owner_refs_encode(meta, m)) != 0 ||
        (rc = mc_codec_put_str_array(m, "finalizers", meta->finalizers, meta->finalizers_len)) !=
            0) {
        json_decref(saved);
        return rc;
    }
    return mc_codec_child_done(obj, "metadata", saved);
}

void mc_api_meta_clear(mc_api_object_meta *meta)
{
    if (!meta)
        return;
    free(meta->name);
    free(meta->generate_name);
    free(meta->namespace);
    free(meta->uid);
    free(meta->resource_version);
    free(meta->creation_timestamp);
    free(meta->deletion_timestamp);
    mc_api_str_map_clear(&meta->labels);
    mc_api_str_map_clear(&meta->annotations);
    for (size_t i = 0; i < meta->owner_references_len; i++)
        owner_ref_clear(&meta->owner_references[i]);
    free(meta->owner_references);
    mc_codec_str_array_free(meta->finalizers, meta->finalizers_len);
    memset(meta, 0, sizeof(*meta));
}

static int dup_field(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = mc_strdup(src);
    return *dst ? 0 : MC_ENOMEM;
}

int mc_api_meta_set_name(mc_api_object_meta *meta, const char *namespace, const char *name)
{
    char *n = NULL, *ns = NULL;
    if (dup_field(&n, name) != 0 || dup_field(&ns, namespace) != 0) {
        free(n);
        return MC_ENOMEM;
    }
    free(meta->name);
    free(meta->namespace);
    meta->name = n;
    meta->namespace = ns;
    return 0;
}

bool mc_api_meta_has_finalizer(const mc_api_object_meta *meta, const char *finalizer)
{
    for (size_t i = 0; i < meta->finalizers_len; i++)
        if (strcmp(meta->finalizers[i], finalizer) == 0)
            return true;
    return false;
}

int mc_api_meta_validate(const mc_api_object_meta *meta, bool namespaced, bool name_is_label,
                         const char *what, mc_err *err)
{
    int rc;
    if (!meta->name && !meta->generate_name)
        return mc_err_set(err, MC_EINVAL, "%s: metadata.name: required (or generateName)", what);
    if (meta->name) {
        rc = name_is_label ? mc_validate_dns1123_label(meta->name, err)
                           : mc_validate_dns1123_subdomain(meta->name, err);
        if (rc != 0)
            return mc_err_prefix(err, "%s: metadata.name", what);
    }
    if (meta->generate_name && !meta->name) {
        /* The server appends 5 random characters; validate a sample name. */
        char sample[300];
        snprintf(sample, sizeof(sample), "%sxxxxx", meta->generate_name);
        rc = name_is_label ? mc_validate_dns1123_label(sample, err)
                           : mc_validate_dns1123_subdomain(sample, err);
        if (rc != 0)
            return mc_err_prefix(err, "%s: metadata.generateName", what);
    }
    if (namespaced) {
        if (!meta->namespace || !*meta->namespace)
            return mc_err_set(err, MC_EINVAL, "%s: metadata.namespace: required", what);
        if (mc_validate_dns1123_label(meta->namespace, err) != 0)
            return mc_err_prefix(err, "%s: metadata.namespace", what);
    } else if (meta->namespace && *meta->namespace) {
        return mc_err_set(err, MC_EINVAL,
                          "%s: metadata.namespace: not allowed on a cluster-scoped object", what);
    }
    if (mc_validate_labels(&meta->labels, err) != 0)
        return mc_err_prefix(err, "%s: metadata.labels", what);
    if (mc_validate_annotations(&meta->annotations, err) != 0)
        return mc_err_prefix(err, "%s: metadata.annotations", what);
    for (size_t i = 0; i < meta->finalizers_len; i++)
        if (mc_validate_qualified_name(meta->finalizers[i], err) != 0)
            return mc_err_prefix(err, "%s: metadata.finalizers[%zu]", what, i);
    for (size_t i = 0; i < meta->owner_references_len; i++) {
        const mc_api_owner_ref *o = &meta->owner_references[i];
        const char *missing = !o->api_version || !*o->api_version ? "apiVersion"
                              : !o->kind || !*o->kind             ? "kind"
                              : !o->name || !*o->name             ? "name"
                              : !o->uid || !*o->uid               ? "uid"
                                                                  : NULL;
        if (missing)
            return mc_err_set(err, MC_EINVAL, "%s: metadata.ownerReferences[%zu].%s: required",
                              what, i, missing);
    }
    return 0;
}

int mc_api_object_ref_decode(const json_t *obj, const char *key, mc_api_object_ref *ref,
                             const mc_codec_ctx *ctx, const char *path, mc_err *err)
{
    const json_t *r;
    char sub[128];
    int rc = mc_codec_get_object(obj, key, &r, ctx, path, err);
    if (rc != 0 || !r)
        return rc;
    snprintf(sub, sizeof(sub), "%s.name", path);
    if ((rc = mc_codec_get_string(r, "name", &ref->name, ctx, sub, err)) != 0)
        return rc;
    snprintf(sub, sizeof(sub), "%s.namespace", path);
    return mc_codec_get_string(r, "namespace", &ref->namespace, ctx, sub, err);
}

int mc_api_object_ref_encode(const mc_api_object_ref *ref, json_t *obj, const char *key)
{
    json_t *saved;
    json_t *r = mc_codec_child(obj, key, &saved);
    if (!r)
        return MC_ENOMEM;
    if (mc_codec_put_string(r, "name", ref->name) != 0 ||
        mc_codec_put_string(r, "namespace", ref->namespace) != 0) {
        json_decref(saved);
        return MC_ENOMEM;
    }
    return mc_codec_child_done(obj, key, saved);
}

int mc_api_object_ref_set(mc_api_object_ref *ref, const char *namespace, const char *name)
{
    char *n = NULL, *ns = NULL;
    if (dup_field(&n, name) != 0 || dup_field(&ns, namespace) != 0) {
        free(n);
        return MC_ENOMEM;
    }
    mc_api_object_ref_clear(ref);
    ref->name = n;
    ref->namespace = ns;
    return 0;
}

void mc_api_object_ref_clear(mc_api_object_ref *ref)
{
    if (!ref)
        return;
    free(ref->name);
    free(ref->namespace);
    ref->name = NULL;
    ref->namespace = NULL;
}

int mc_api_object_ref_validate(const mc_api_object_ref *ref, bool required, const char *what,
                               const char *path, mc_err *err)
{
    if (!ref->name || !*ref->name) {
        if (required)
            return mc_err_set(err, MC_EINVAL, "%s: %s.name: required", what, path);
        if (ref->namespace && *ref->namespace)
            return mc_err_set(err, MC_EINVAL, "%s: %s.name: required when namespace is set",
                              what, path);
        return 0;
    }
    if (mc_validate_dns1123_subdomain(ref->name, err) != 0)
        return mc_err_prefix(err, "%s: %s.name", what, path);
    if (ref->namespace && *ref->namespace &&
        mc_validate_dns1123_label(ref->namespace, err) != 0)
        return mc_err_prefix(err, "%s: %s.namespace", what, path);
    return 0;
}

void mc_api_meta_describe(const mc_api_object_meta *meta, const char *kind, char *out,
                          size_t out_size)
{
    const char *name = meta->name ? meta->name : meta->generate_name ? meta->generate_name : "";
    if (meta->namespace && *meta->namespace)
        snprintf(out, out_size, "%s %s/%s", kind, meta->namespace, name);
    else
        snprintf(out, out_size, "%s %s", kind, name);
}

json_t *mc_api_object_new(mc_api_resource_id id, const char *namespace, const char *name)
{
    const mc_api_resource *r = mc_api_resource_get(id);
    char api_version[128];
    mc_api_resource_api_version(r, api_version, sizeof(api_version));
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", api_version, "kind", r->kind,
                            "metadata", "name", name);
    if (obj && namespace &&
        json_object_set_new(json_object_get(obj, "metadata"), "namespace",
                            json_string(namespace)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *mc_api_delete_options_new(const char *resource_version)
{
    return json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
                     "preconditions", "resourceVersion", resource_version ? resource_version : "");
}
