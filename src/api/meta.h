/* meta.h - ObjectMeta, OwnerReference and ObjectRef: the identity every
 * Kubernetes object carries.
 *
 * ObjectMeta is embedded by value in each typed struct; it is decoded from and
 * encoded into the "metadata" member in place, so metadata fields meshcert does
 * not model (managedFields, selfLink, deletionGracePeriodSeconds, ...) survive.
 */
#ifndef MC_API_META_H
#define MC_API_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/codec.h"
#include "api/maps.h"
#include "api/resource.h"
#include "util/err.h"

/* An ownerReferences entry. */
typedef struct mc_api_owner_ref {
    char *api_version;         /* owned */
    char *kind;                /* owned */
    char *name;                /* owned */
    char *uid;                 /* owned */
    bool controller;           /* omitted when false */
    bool block_owner_deletion; /* omitted when false */
    json_t *raw;               /* the decoded entry (reference) or NULL */
} mc_api_owner_ref;

typedef struct mc_api_object_meta {
    char *name;                          /* owned, NULL when unset */
    char *generate_name;                 /* owned */
    char *namespace;                     /* owned; NULL for cluster-scoped objects */
    char *uid;                           /* owned */
    char *resource_version;              /* owned, opaque */
    int64_t generation;                  /* 0 when unset */
    char *creation_timestamp;            /* owned, RFC 3339 */
    char *deletion_timestamp;            /* owned, RFC 3339; set while finalizers run */
    mc_api_str_map labels;
    mc_api_str_map annotations;
    mc_api_owner_ref *owner_references;  /* owned array */
    size_t owner_references_len;
    char **finalizers;                   /* owned array of owned strings */
    size_t finalizers_len;
} mc_api_object_meta;

/* A reference to an object by name and namespace (skv2 core ObjectRef). */
typedef struct mc_api_object_ref {
    char *name;      /* owned, NULL when the reference is unset */
    char *namespace; /* owned */
} mc_api_object_ref;

/* Decodes obj["metadata"] into meta (zero-initialised by the caller). MC_EINVAL
 * naming the field and ctx's object when a field has the wrong type or a
 * timestamp is malformed; meta may then hold partial data: clear it. */
int mc_api_meta_decode(const json_t *obj, mc_api_object_meta *meta, const mc_codec_ctx *ctx,
                       mc_err *err);

/* Writes meta into obj["metadata"] (created if needed), keeping unknown
 * metadata fields and unknown ownerReference fields. MC_ENOMEM. */
int mc_api_meta_encode(const mc_api_object_meta *meta, json_t *obj);

/* Frees everything meta owns and zeroes it. Accepts NULL. */
void mc_api_meta_clear(mc_api_object_meta *meta);

/* Sets name and namespace (copies; namespace may be NULL). MC_ENOMEM. */
int mc_api_meta_set_name(mc_api_object_meta *meta, const char *namespace, const char *name);

/* True when finalizer is listed in meta. */
bool mc_api_meta_has_finalizer(const mc_api_object_meta *meta, const char *finalizer);

/* Validates meta as the API server would for a create: a name (or
 * generateName) that is a DNS-1123 subdomain (a DNS-1123 label when
 * name_is_label, as for Namespaces), a namespace that is a DNS-1123 label when
 * namespaced (none otherwise), label keys and values, annotation keys and their
 * 256 KiB total, finalizers as qualified names, complete ownerReferences.
 * MC_EINVAL "<what>: metadata.<field>: ..." where what names the object. */
int mc_api_meta_validate(const mc_api_object_meta *meta, bool namespaced, bool name_is_label,
                         const char *what, mc_err *err);

/* Decodes obj[key] as an ObjectRef ({name, namespace}); path names it in errors. */
int mc_api_object_ref_decode(const json_t *obj, const char *key, mc_api_object_ref *ref,
                             const mc_codec_ctx *ctx, const char *path, mc_err *err);

/* Writes ref into obj[key] in place (dropped when unset). MC_ENOMEM. */
int mc_api_object_ref_encode(const mc_api_object_ref *ref, json_t *obj, const char *key);

/* Sets both fields (copies; namespace may be NULL). MC_ENOMEM. */
int mc_api_object_ref_set(mc_api_object_ref *ref, const char *namespace, const char *name);

/* Frees the strings and zeroes ref. Accepts NULL. */
void mc_api_object_ref_clear(mc_api_object_ref *ref);

/* Checks a reference: name a DNS-1123 subdomain (required when required),
 * namespace a DNS-1123 label when set. Messages "<what>: <path>.name: ...". */
int mc_api_object_ref_validate(const mc_api_object_ref *ref, bool required, const char *what,
                               const char *path, mc_err *err);

/* A new object of resource id: {"apiVersion", "kind", "metadata": {"name",
 * "namespace"}} with apiVersion and kind from the resource table (namespace
 * left out when NULL). The typed builders below and in core.h and rbac.h
 * start from it; the caller adds the rest. New reference, NULL when out of
 * memory. */
json_t *mc_api_object_new(mc_api_resource_id id, const char *namespace, const char *name);

/* DeleteOptions (meta/v1) whose precondition is resourceVersion
 * resource_version (NULL: ""), so that a delete removes exactly the version
 * read. New reference, NULL when out of memory. */
json_t *mc_api_delete_options_new(const char *resource_version);

/* Builds "<kind> <namespace>/<name>" (or "<kind> <name>") into out. */
void mc_api_meta_describe(const mc_api_object_meta *meta, const char *kind, char *out,
                          size_t out_size);

#endif
