/* protobuf.c - Kubernetes protobuf bodies of core/v1 Secret, ConfigMap,
 * Namespace and ServiceAccount, rbac.authorization.k8s.io/v1 Role,
 * ClusterRole, RoleBinding and ClusterRoleBinding, TokenRequest and the self
 * reviews to JSON (see protobuf.h). A bounded reader of
 * the protobuf wire format; field numbers are those of k8s.io/api
 * generated.proto. Unknown fields are skipped, as protobuf readers do.
 */
#include "server/protobuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "util/base64.h"

typedef struct reader {
    const unsigned char *p;
    const unsigned char *end;
} reader;

typedef struct field {
    unsigned number;
    unsigned wire;            /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t varint;          /* wire 0 */
    const unsigned char *data; /* wire 2 */
    size_t len;               /* wire 2 */
} field;

static int read_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field; 1 when one was read, 0 at the end, -1 on bad input. */
static int next_field(reader *r, field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (read_varint(r, &key) || key >> 3 == 0 || key >> 3 > 536870911u)
        return -1;
    f->number = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    switch (f->wire) {
    case 0: return read_varint(r, &f->varint) ? -1 : 1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case 2: {
        uint64_t len;
        if (read_varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: return -1;
    }
}

static json_t *string_of(const field *f)
{
    return json_stringn((const char *)f->data, f->len);
}

/* map<string, string|bytes> entry {1: key, 2: value} into obj. */
static int map_entry(const field *f, json_t *obj, int bytes_value)
{
    reader r = {f->data, f->data + f->len};
    field e;
    json_t *key = NULL, *value = NULL;
    int rc, ok = 0;
    while ((rc = next_field(&r, &e)) == 1) {
        if (e.wire != 2)
            continue;
        if (e.number == 1) {
            json_decref(key);
            key = string_of(&e);
        } else if (e.number == 2) {
            json_decref(value);
            if (bytes_value) {
                char *b64 = NULL;
                if (mc_base64_encode(e.data, e.len, &b64, NULL) == MC_OK)
                    value = json_string(b64);
                free(b64);
            } else {
                value = string_of(&e);
            }
        }
    }
    if (rc == 0 && key && json_string_value(key)) {
        if (!value)
            value = json_string("");
        ok = json_object_set(obj, json_string_value(key), value) == 0;
    }
    json_decref(key);
    json_decref(value);
    return ok ? 0 : -1;
}

/* metav1.Time {1: seconds, 2: nanos} as RFC 3339; the zero time (which
 * gogo protobuf writes for an unset one) as null, as its JSON form is. */
static json_t *time_of(const field *f)
{
    reader r = {f->data, f->data + f->len};
    field e;
    int64_t seconds = 0;
    while (next_field(&r, &e) == 1)
        if (e.number == 1 && e.wire == 0)
            seconds = (int64_t)e.varint;
    if (seconds == 0)
        return json_null();
    char text[40];
    mc_time_format(seconds, text, sizeof(text));
    return json_string(text);
}

static json_t *object_or_new(json_t *parent, const char *key)
{
    json_t *child = json_object_get(parent, key);
    if (!child) {
        child = json_object();
        json_object_set_new(parent, key, child);
    }
    return child;
}

static json_t *array_or_new(json_t *parent, const char *key)
{
    json_t *child = json_object_get(parent, key);
    if (!child) {
        child = json_array();
        json_object_set_new(parent, key, child);
    }
    return child;
}

/* OwnerReference {1 kind, 3 name, 4 uid, 5 apiVersion, 6 controller, 7 blockOwnerDeletion}. */
static json_t *owner_ref_of(const field *f)
{
    reader r = {f->data, f->data + f->len};
    field e;
    json_t *ref = json_object();
    static const char *const names[] = {NULL, "kind", NULL, "name", "uid", "apiVersion"};
    while (next_field(&r, &e) == 1) {
        if (e.wire == 2 && e.number <= 5 && names[e.number])
            json_object_set_new(ref, names[e.number], string_of(&e));
        else if (e.wire == 0 && e.number == 6)
            json_object_set_new(ref, "controller", json_boolean(e.varint));
        else if (e.wire == 0 && e.number == 7)
            json_object_set_new(ref, "blockOwnerDeletion", json_boolean(e.varint));
    }
    return ref;
}

/* ObjectMeta: the fields a client sets on create. */
static int object_meta(const field *f, json_t *meta)
{
    reader r = {f->data, f->data + f->len};
    field e;
    int rc;
    static const char *const strings[] = {NULL, "name", "generateName", "namespace", "selfLink",
                                          "uid", "resourceVersion"};
    while ((rc = next_field(&r, &e)) == 1) {
        if (e.wire == 2 && e.number <= 6) {
            if (e.len) /* gogo protobuf writes empty strings; JSON omits them */
                json_object_set_new(meta, strings[e.number], string_of(&e));
        } else if (e.wire == 0 && e.number == 7) {
            if (e.varint)
                json_object_set_new(meta, "generation", json_integer((json_int_t)e.varint));
        }
        else if (e.wire == 2 && e.number == 8)
            json_object_set_new(meta, "creationTimestamp", time_of(&e));
        else if (e.wire == 2 && e.number == 11 && map_entry(&e, object_or_new(meta, "labels"), 0))
            return -1;
        else if (e.wire == 2 && e.number == 12 &&
                 map_entry(&e, object_or_new(meta, "annotations"), 0))
            return -1;
        else if (e.wire == 2 && e.number == 13)
            json_array_append_new(array_or_new(meta, "ownerReferences"), owner_ref_of(&e));
        else if (e.wire == 2 && e.number == 14)
            json_array_append_new(array_or_new(meta, "finalizers"), string_of(&e));
    }
    return rc;
}

/* A message of string fields, integers and nested messages (the review
 * specs, RBAC's rules, subjects and roleRef, TokenRequestSpec). */
enum { MSG_STRING, MSG_STRINGS, MSG_INT, MSG_MESSAGE, MSG_MESSAGES };

typedef struct msg_field {
    unsigned number;
    const char *name;
    int how;                    /* MSG_*; a repeated field becomes a JSON array */
    const struct msg_desc *sub; /* MSG_MESSAGE, MSG_MESSAGES */
} msg_field;

typedef struct msg_desc {
    msg_field fields[10];
} msg_desc;

static int decode_repeated(const msg_desc *desc, const field *f, json_t *array);

/* authorization.k8s.io/v1: FieldSelectorAttributes / LabelSelectorAttributes
 * {1 rawSelector}, ResourceAttributes, NonResourceAttributes, and
 * SelfSubjectAccessReviewSpec {1 resourceAttributes, 2 nonResourceAttributes}. */
static const msg_desc selector_attributes = {{{1, "rawSelector", MSG_STRING, NULL}}};
static const msg_desc resource_attributes = {
    {{1, "namespace", MSG_STRING, NULL},
     {2, "verb", MSG_STRING, NULL},
     {3, "group", MSG_STRING, NULL},
     {4, "version", MSG_STRING, NULL},
     {5, "resource", MSG_STRING, NULL},
     {6, "subresource", MSG_STRING, NULL},
     {7, "name", MSG_STRING, NULL},
     {8, "fieldSelector", MSG_MESSAGE, &selector_attributes},
     {9, "labelSelector", MSG_MESSAGE, &selector_attributes}}};
static const msg_desc non_resource_attributes = {
    {{1, "path", MSG_STRING, NULL}, {2, "verb", MSG_STRING, NULL}}};
static const msg_desc access_review_spec = {
    {{1, "resourceAttributes", MSG_MESSAGE, &resource_attributes},
     {2, "nonResourceAttributes", MSG_MESSAGE, &non_resource_attributes}}};

/* rbac.authorization.k8s.io/v1 PolicyRule, Subject, RoleRef. */
static const msg_desc policy_rule = {{{1, "verbs", MSG_STRINGS, NULL},
                                      {2, "apiGroups", MSG_STRINGS, NULL},
                                      {3, "resources", MSG_STRINGS, NULL},
                                      {4, "resourceNames", MSG_STRINGS, NULL},
                                      {5, "nonResourceURLs", MSG_STRINGS, NULL}}};
static const msg_desc subject = {{{1, "kind", MSG_STRING, NULL},
                                  {2, "apiGroup", MSG_STRING, NULL},
                                  {3, "name", MSG_STRING, NULL},
                                  {4, "namespace", MSG_STRING, NULL}}};
static const msg_desc role_ref = {{{1, "apiGroup", MSG_STRING, NULL},
                                   {2, "kind", MSG_STRING, NULL},
                                   {3, "name", MSG_STRING, NULL}}};

/* authentication.k8s.io/v1 TokenRequestSpec {1 audiences, 4
 * expirationSeconds, 3 boundObjectRef {1 kind, 2 apiVersion, 3 name, 4 uid}}. */
static const msg_desc bound_object_ref = {{{1, "kind", MSG_STRING, NULL},
                                           {2, "apiVersion", MSG_STRING, NULL},
                                           {3, "name", MSG_STRING, NULL},
                                           {4, "uid", MSG_STRING, NULL}}};
static const msg_desc token_request_spec = {
    {{1, "audiences", MSG_STRINGS, NULL},
     {4, "expirationSeconds", MSG_INT, NULL},
     {3, "boundObjectRef", MSG_MESSAGE, &bound_object_ref}}};

/* One kind's top-level fields: number -> (name, how). */
enum {
    AS_STRING,
    AS_STRING_MAP,
    AS_BYTES_MAP,
    AS_BOOL,
    AS_STRINGS_OBJECT,
    AS_MESSAGE,
    AS_MESSAGES /* repeated: a JSON array */
};

typedef struct kind_field {
    unsigned number;
    const char *name;
    int how;
    const msg_desc *sub; /* AS_MESSAGE */
} kind_field;

typedef struct kind_desc {
    const char *api_version;
    const char *kind;
    kind_field fields[6];
} kind_desc;

static const kind_desc kinds[] = {
    {"v1",
     "Secret",
     {{2, "data", AS_BYTES_MAP, NULL},
      {3, "type", AS_STRING, NULL},
      {4, "stringData", AS_STRING_MAP, NULL},
      {5, "immutable", AS_BOOL, NULL}}},
    {"v1",
     "ConfigMap",
     {{2, "data", AS_STRING_MAP, NULL},
      {3, "binaryData", AS_BYTES_MAP, NULL},
      {4, "immutable", AS_BOOL, NULL}}},
    {"v1", "Namespace", {{2, "spec", AS_STRINGS_OBJECT, NULL}}},
    {"v1", "ServiceAccount", {{4, "automountServiceAccountToken", AS_BOOL, NULL}}},
    /* kubectl auth can-i / whoami (status, field 3 / 2, is the server's) */
    {"authorization.k8s.io/v1",
     "SelfSubjectAccessReview",
     {{2, "spec", AS_MESSAGE, &access_review_spec}}},
    {"authentication.k8s.io/v1", "SelfSubjectReview", {{0, NULL, 0, NULL}}},
    /* kubectl create token (status, field 3, is the server's) */
    {"authentication.k8s.io/v1", "TokenRequest", {{2, "spec", AS_MESSAGE, &token_request_spec}}},
    /* kubectl create role / clusterrole / rolebinding / clusterrolebinding */
    {"rbac.authorization.k8s.io/v1", "Role", {{2, "rules", AS_MESSAGES, &policy_rule}}},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", {{2, "rules", AS_MESSAGES, &policy_rule}}},
    {"rbac.authorization.k8s.io/v1",
     "RoleBinding",
     {{2, "subjects", AS_MESSAGES, &subject}, {3, "roleRef", AS_MESSAGE, &role_ref}}},
    {"rbac.authorization.k8s.io/v1",
     "ClusterRoleBinding",
     {{2, "subjects", AS_MESSAGES, &subject}, {3, "roleRef", AS_MESSAGE, &role_ref}}},
    {"authentication.k8s.io/v1beta1", "SelfSubjectReview", {{0, NULL, 0, NULL}}},
};

/* Decodes a msg_desc message into obj (empty strings omitted, as JSON does). */
static int decode_message(const msg_desc *desc, const unsigned char *data, size_t len,
                          json_t *obj)
{
    reader r = {data, data + len};
    field f;
    int rc;
    while ((rc = next_field(&r, &f)) == 1) {
        for (size_t i = 0; i < 10 && desc->fields[i].name; i++) {
            const msg_field *m = &desc->fields[i];
            if (m->number != f.number || (f.wire != 2) != (m->how == MSG_INT))
                continue;
            if (m->how == MSG_INT) {
                json_object_set_new(obj, m->name, json_integer((json_int_t)f.varint));
            } else if (m->how == MSG_MESSAGE) {
                if (decode_message(m->sub, f.data, f.len, object_or_new(obj, m->name)) < 0)
                    return -1;
            } else if (m->how == MSG_MESSAGES) {
                if (decode_repeated(m->sub, &f, array_or_new(obj, m->name)) < 0)
                    return -1;
            } else if (m->how == MSG_STRINGS) {
                json_array_append_new(array_or_new(obj, m->name), string_of(&f));
            } else if (f.len) {
                json_object_set_new(obj, m->name, string_of(&f));
            }
        }
    }
    return rc;
}

/* One element of a repeated message field, appended to array. */
static int decode_repeated(const msg_desc *desc, const field *f, json_t *array)
{
    json_t *element = json_object();
    if (!element || json_array_append_new(array, element) != 0)
        return -1;
    return decode_message(desc, f->data, f->len, element);
}

static int decode_object(const kind_desc *desc, const unsigned char *data, size_t len,
                         json_t *obj)
{
    reader r = {data, data + len};
    field f;
    int rc;
    while ((rc = next_field(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == 2) {
            if (object_meta(&f, object_or_new(obj, "metadata")))
                return -1;
            continue;
        }
        for (size_t i = 0; i < 6 && desc->fields[i].name; i++) {
            const kind_field *k = &desc->fields[i];
            if (k->number != f.number)
                continue;
            if (k->how == AS_MESSAGE && f.wire == 2) {
                if (decode_message(k->sub, f.data, f.len, object_or_new(obj, k->name)) < 0)
                    return -1;
            } else if (k->how == AS_MESSAGES && f.wire == 2) {
                if (decode_repeated(k->sub, &f, array_or_new(obj, k->name)) < 0)
                    return -1;
            } else if (k->how == AS_BOOL && f.wire == 0)
                json_object_set_new(obj, k->name, json_boolean(f.varint));
            else if (k->how == AS_STRING && f.wire == 2) {
                if (f.len)
                    json_object_set_new(obj, k->name, string_of(&f));
            }
            else if ((k->how == AS_STRING_MAP || k->how == AS_BYTES_MAP) && f.wire == 2) {
                if (map_entry(&f, object_or_new(obj, k->name), k->how == AS_BYTES_MAP))
                    return -1;
            } else if (k->how == AS_STRINGS_OBJECT && f.wire == 2) {
                /* NamespaceSpec {1: repeated finalizers}. */
                reader s = {f.data, f.data + f.len};
                field e;
                json_t *spec = object_or_new(obj, k->name);
                while (next_field(&s, &e) == 1)
                    if (e.number == 1 && e.wire == 2)
                        json_array_append_new(array_or_new(spec, "finalizers"), string_of(&e));
            }
        }
    }
    return rc;
}

int mc_server_protobuf_to_json(const void *data, size_t len, json_t **out, mc_err *err)
{
    const unsigned char *bytes = data;
    if (len < 4 || memcmp(bytes, "k8s\0", 4) != 0)
        return mc_err_set(err, MC_EINVAL, "protobuf body lacks the k8s envelope");
    reader r = {bytes + 4, bytes + len};
    field f;
    int rc;
    char api_version[64] = "", kind[64] = "";
    const unsigned char *raw = NULL;
    size_t raw_len = 0;
    while ((rc = next_field(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == 2) { /* TypeMeta {1 apiVersion, 2 kind} */
            reader t = {f.data, f.data + f.len};
            field e;
            while (next_field(&t, &e) == 1) {
                if (e.wire != 2)
                    continue;
                char *target = e.number == 1 ? api_version : e.number == 2 ? kind : NULL;
                if (target)
                    snprintf(target, 64, "%.*s", (int)(e.len > 63 ? 63 : e.len), (const char *)e.data);
            }
        } else if (f.number == 2 && f.wire == 2) {
            raw = f.data;
            raw_len = f.len;
        }
    }
    if (rc < 0)
        return mc_err_set(err, MC_EINVAL, "malformed protobuf envelope");
    const kind_desc *desc = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].kind, kind) == 0 && strcmp(kinds[i].api_version, api_version) == 0)
            desc = &kinds[i];
    if (!desc)
        return mc_err_set(err, MC_EUNSUPPORTED,
                          "protobuf bodies are served for v1 Secret, ConfigMap, Namespace and "
                          "ServiceAccount, the RBAC kinds, TokenRequest and the self reviews "
                          "only (got %s %s); send JSON",
                          api_version, kind);
    json_t *obj = json_pack("{s:s,s:s}", "apiVersion", api_version, "kind", kind);
    if (!obj)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if (decode_object(desc, raw ? raw : bytes, raw ? raw_len : 0, obj) < 0) {
        json_decref(obj);
        return mc_err_set(err, MC_EINVAL, "malformed protobuf %s", kind);
    }
    *out = obj;
    return MC_OK;
}
