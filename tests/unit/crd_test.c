/* crd_test.c - the CRDs in deploy/crds/ against the C codec and the resource table.
 *
 * Schema -> codec: a sample object generated from each CRD's openAPIV3Schema
 * (every property filled) is decoded and re-encoded with the raw JSON dropped,
 * so only what the codec models survives; it must equal the sample. Codec ->
 * schema: objects encoded from fully populated structs and from the golden
 * fixtures (raw dropped) must only contain properties the schema declares,
 * with the same JSON type, and `format: byte` exactly where the codec writes
 * base64. Plus names, scope, subresources, printer columns and categories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/certificate_request.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "api/resource.h"
#include "api/root_rotation.h"
#include "api/yaml.h"
#include "api_test_util.h"
#include "util/base64.h"
#include "util/file.h"

/* deploy/crds/<file> as JSON, through the converter the server and the
 * client use for YAML (api/yaml.h). */
static json_t *load_crd(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MC_CRD_DIR, file);
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_file_read(path, 1 << 20, &text, &len, &err) != MC_OK)
        fail_msg("%s", err.msg);
    json_t *json = NULL;
    if (mc_api_yaml_to_json(text, len, &json, &err) != MC_OK)
        fail_msg("%s: %s", path, err.msg);
    free(text);
    return json;
}

/* ---- schema walking ---- */

static const json_t *version_of(const json_t *crd)
{
    const json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    assert_int_equal(json_array_size(versions), 1);
    return json_array_get(versions, 0);
}

static const json_t *schema_of(const json_t *crd)
{
    return json_object_get(json_object_get(version_of(crd), "schema"), "openAPIV3Schema");
}

/* Every node declares a type; objects declare properties or additionalProperties. */
static void assert_structural(const json_t *schema, const char *path)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type)
        fprintf(stderr, "%s: no type\n", path);
    assert_non_null(type);
    char sub[256];
    if (!strcmp(type, "object")) {
        const json_t *props = json_object_get(schema, "properties");
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            assert_structural(v, sub);
        }
        const json_t *ap = json_object_get(schema, "additionalProperties");
        if (ap)
            assert_structural(ap, path);
        if (!props && !ap)
            assert_string_equal(path, ".metadata"); /* only metadata is left to the server */
    } else if (!strcmp(type, "array")) {
        snprintf(sub, sizeof(sub), "%s[]", path);
        assert_non_null(json_object_get(schema, "items"));
        assert_structural(json_object_get(schema, "items"), sub);
    }
}

/* Every property, array item of objects and the root carries a
 * description, so that `kubectl explain` documents every field. Returns the
 * number of nodes without one (printing their paths). */
static int count_undescribed(const json_t *schema, const char *path)
{
    int missing = 0;
    const char *d = json_string_value(json_object_get(schema, "description"));
    if (!d || !*d) {
        fprintf(stderr, "%s: no description\n", *path ? path : "(root)");
        missing++;
    }
    char sub[256];
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(schema, "properties"), k, v) {
        snprintf(sub, sizeof(sub), "%s.%s", path, k);
        missing += count_undescribed(v, sub);
    }
    const json_t *items = json_object_get(schema, "items");
    const char *item_type = json_string_value(json_object_get(items, "type"));
    if (items && item_type && !strcmp(item_type, "object")) {
        snprintf(sub, sizeof(sub), "%s[]", path);
        missing += count_undescribed(items, sub);
    }
    return missing;
}

/* The schema node a printer column's JSONPath (".a.b[0].c") points to, or NULL. */
static const json_t *schema_at(const json_t *schema, const char *json_path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", json_path);
    const json_t *cur = schema;
    char *p = buf;
    while (*p && cur) {
        if (*p == '.') {
            p++;
            size_t len = strcspn(p, ".[");
            char saved = p[len];
            p[len] = '\0';
            cur = json_object_get(json_object_get(cur, "properties"), p);
            p[len] = saved;
            p += len;
        } else if (*p == '[') {
            char *end = strchr(p, ']');
            if (!end)
                return NULL;
            cur = json_object_get(cur, "items");
            p = end + 1;
        } else {
            return NULL;
        }
    }
    return cur;
}

/* A value for every property of schema. Plain strings are not valid base64
 * ("s!") so that a codec treating one as bytes fails to decode it. */
static json_t *sample(const json_t *schema)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!strcmp(type, "string")) {
        const json_t *e = json_object_get(schema, "enum");
        if (e) /* the last state: PENDING, the first, is omitted on fresh objects */
            return json_deep_copy(json_array_get(e, json_array_size(e) - 1));
        const char *format = json_string_value(json_object_get(schema, "format"));
        if (format && !strcmp(format, "date-time"))
            return json_string("2026-01-02T03:04:05Z");
        return json_string(format && !strcmp(format, "byte") ? "AAEC/w==" : "s!");
    }
    if (!strcmp(type, "integer"))
        return json_integer(7);
    if (!strcmp(type, "boolean"))
        return json_true();
    if (!strcmp(type, "array")) {
        json_t *a = json_array();
        json_array_append_new(a, sample(json_object_get(schema, "items")));
        return a;
    }
    json_t *o = json_object();
    const json_t *ap = json_object_get(schema, "additionalProperties");
    if (ap)
        json_object_set_new(o, "key", sample(ap));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(schema, "properties"), k, v)
        json_object_set_new(o, k, sample(v));
    return o;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_REAL: return "number";
    default: return "null";
    }
}

static bool is_base64(const char *s)
{
    unsigned char *out = NULL;
    size_t n;
    if (mc_base64_decode(s, strlen(s), &out, &n, NULL) != 0)
        return false;
    free(out);
    return true;
}

/* True when every member of value is declared by schema with the same type
 * and enum values are allowed; when check_bytes, a string is base64 exactly
 * where the schema says format: byte. Prints the first mismatch. */
static bool conforms(const json_t *value, const json_t *schema, const char *path,
                     bool check_bytes)
{
    if (!schema) {
        fprintf(stderr, "%s: written by the codec but not in the CRD schema\n", path);
        return false;
    }
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type || strcmp(type, json_type_name(value)) != 0) {
        fprintf(stderr, "%s: codec writes %s, schema says %s\n", path, json_type_name(value),
                type ? type : "nothing");
        return false;
    }
    char sub[256];
    /* enum strings ("FINISHED") may happen to be valid base64: not free text */
    if (json_is_string(value) && check_bytes && !json_object_get(schema, "enum")) {
        const char *format = json_string_value(json_object_get(schema, "format"));
        bool byte = format && !strcmp(format, "byte");
        if (byte != is_base64(json_string_value(value))) {
            fprintf(stderr, "%s: format byte mismatch\n", path);
            return false;
        }
    }
    if (json_is_string(value) && json_object_get(schema, "enum")) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(schema, "enum"), i, e)
            found = found || json_equal(e, (json_t *)value);
        if (!found) {
            fprintf(stderr, "%s: value not in the schema's enum\n", path);
            return false;
        }
    }
    if (json_is_object(value) && strcmp(path, ".metadata") != 0) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)value, k, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            const json_t *s = json_object_get(json_object_get(schema, "properties"), k);
            if (!s)
                s = json_object_get(schema, "additionalProperties");
            if (!conforms(v, s, sub, check_bytes))
                return false;
        }
    }
    if (json_is_array(value)) {
        snprintf(sub, sizeof(sub), "%s[]", path);
        size_t i;
        json_t *v;
        json_array_foreach((json_t *)value, i, v)
            if (!conforms(v, json_object_get(schema, "items"), sub, check_bytes))
                return false;
    }
    return true;
}

/* ---- codec access with raw documents dropped ---- */

/* Drops an object's raw document and those of its conditions (NULL: none),
 * so that encoding shows only what the codec knows. */
static void drop_raw(json_t **raw, mc_api_conditions *conditions)
{
    json_decref(*raw);
    *raw = NULL;
    for (size_t i = 0; conditions && i < conditions->len; i++) {
        json_decref(conditions->items[i].raw);
        conditions->items[i].raw = NULL;
    }
}

static json_t *reencode_without_raw(const char *kind, json_t *in)
{
    json_t *out = NULL;
    mc_err err = {0};
    int rc;
    if (!strcmp(kind, "IssuedCertificate")) {
        mc_api_issued_certificate *o = NULL;
        rc = mc_api_issued_certificate_decode(in, &o, &err);
        if (rc == 0) {
            drop_raw(&o->raw, &o->status.conditions);
            assert_int_equal(mc_api_issued_certificate_encode(o, &out, NULL), 0);
        }
        mc_api_issued_certificate_free(o);
    } else if (!strcmp(kind, "CertificateRequest")) {
        mc_api_certificate_request *o = NULL;
        rc = mc_api_certificate_request_decode(in, &o, &err);
        if (rc == 0) {
            drop_raw(&o->raw, &o->status.conditions);
            assert_int_equal(mc_api_certificate_request_encode(o, &out, NULL), 0);
        }
        mc_api_certificate_request_free(o);
    } else if (!strcmp(kind, "RootRotation")) {
        mc_api_root_rotation *o = NULL;
        rc = mc_api_root_rotation_decode(in, &o, &err);
        if (rc == 0) {
            drop_raw(&o->raw, &o->status.conditions);
            assert_int_equal(mc_api_root_rotation_encode(o, &out, NULL), 0);
        }
        mc_api_root_rotation_free(o);
    } else {
        mc_api_pod_bounce_directive *o = NULL;
        rc = mc_api_pod_bounce_directive_decode(in, &o, &err);
        if (rc == 0) {
            drop_raw(&o->raw, NULL);
            for (size_t i = 0; i < o->spec.pods_to_bounce_len; i++) {
                json_decref(o->spec.pods_to_bounce[i].raw);
                o->spec.pods_to_bounce[i].raw = NULL;
            }
            for (size_t i = 0; i < o->status.bounced_pods_len; i++) {
                json_decref(o->status.bounced_pods[i].raw);
                o->status.bounced_pods[i].raw = NULL;
            }
            assert_int_equal(mc_api_pod_bounce_directive_encode(o, &out, NULL), 0);
        }
        mc_api_pod_bounce_directive_free(o);
    }
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", kind, err.msg);
    assert_int_equal(rc, 0);
    return out;
}

/* Structs with every modelled field set, strings as non-base64 text and bytes
 * as binary, encoded. */
static json_t *full_object(const char *kind)
{
    json_t *out = NULL;
    if (!strcmp(kind, "IssuedCertificate")) {
        mc_api_issued_certificate *ic = mc_api_issued_certificate_new("ns", "full");
        char *hosts[] = {"a.example!"};
        mc_codec_str_array_copy(hosts, 1, &ic->spec.hosts);
        ic->spec.hosts_len = 1;
        ic->spec.org = strdup("Org!");
        mc_api_object_ref_set(&ic->spec.signing_certificate_secret, "ns!", "n!");
        mc_api_object_ref_set(&ic->spec.issued_certificate_secret, "ns!", "n!");
        mc_api_object_ref_set(&ic->spec.pod_bounce_directive, "ns!", "n!");
        ic->status.observed_generation = 3;
        ic->status.error = strdup("error!");
        ic->status.state = MC_IC_STATE_FAILED;
        ic->status.not_after = strdup("2027-01-01T00:00:00Z");
        /* the lifetime fields of issue 12 */
        ic->spec.duration = strdup("8760h");
        ic->spec.renew_before = strdup("719h0m"); /* not base64 */
        ic->spec.key_type = strdup("ec-p256");
        ic->status.not_before = strdup("2026-01-01T00:00:00Z");
        ic->status.renewal_time = strdup("2026-12-01T00:00:00Z");
        ic->status.rotation = strdup("2026-06-01T00:00:00Z-0a1b2c3d");
        ic->status.root_fingerprints = calloc(1, sizeof(char *));
        ic->status.root_fingerprints[0] = strdup("e3b0c44298fc1c149afbf4c8996fb924!");
        ic->status.root_fingerprints_len = 1;
        assert_int_equal(mc_api_issued_certificate_set_ready(ic, 1767225600), 0);
        /* free text that is not base64 ("Finished" happens to be) */
        free(ic->status.conditions.items[0].reason);
        ic->status.conditions.items[0].reason = strdup("Reason!");
        ic->status.conditions.items[0].observed_generation = 3;
        assert_int_equal(mc_api_issued_certificate_encode(ic, &out, NULL), 0);
        mc_api_issued_certificate_free(ic);
    } else if (!strcmp(kind, "CertificateRequest")) {
        mc_api_certificate_request *cr = mc_api_certificate_request_new("ns", "full");
        mc_api_certificate_request_set_csr(cr, "\x00\x01\x02", 3);
        mc_api_certificate_request_set_signed(cr, "\xff\xfe", 2, "\x10", 1);
        cr->status.observed_generation = 3;
        cr->status.error = strdup("error!");
        cr->status.state = MC_CR_STATE_FINISHED;
        assert_int_equal(mc_api_certificate_request_set_ready(cr, 1767225600), 0);
        /* free text that is not base64 ("Finished" happens to be) */
        free(cr->status.conditions.items[0].reason);
        cr->status.conditions.items[0].reason = strdup("Reason!");
        cr->status.conditions.items[0].observed_generation = 3;
        assert_int_equal(mc_api_certificate_request_encode(cr, &out, NULL), 0);
        mc_api_certificate_request_free(cr);
    } else if (!strcmp(kind, "RootRotation")) {
        mc_api_root_rotation *rr = mc_api_root_rotation_new("ns", "full");
        mc_api_object_ref_set(&rr->spec.root_secret, "ns!", "n!");
        mc_api_object_ref_set(&rr->spec.new_root_secret, "ns!", "m!");
        rr->spec.step_dwell = strdup("1s!");
        rr->spec.abort = true;
        rr->status.phase = strdup("COMPLETE");
        rr->status.step_started_at = strdup("2027-01-01T00:00:00Z");
        rr->status.old_root_fingerprint = strdup("old!");
        rr->status.new_root_fingerprint = strdup("new!");
        mc_api_root_rotation_cluster cluster = {"east!", "phase!", true, "message!"};
        assert_int_equal(mc_api_root_rotation_set_clusters(rr, &cluster, 1), 0);
        assert_int_equal(mc_api_conditions_set(&rr->status.conditions, "Phase!", "True",
                                               "Reason!", "message!", 1, 1767225600),
                         0);
        assert_int_equal(mc_api_root_rotation_encode(rr, &out, NULL), 0);
        mc_api_root_rotation_free(rr);
    } else {
        mc_api_pod_bounce_directive *pbd = mc_api_pod_bounce_directive_new("ns", "full");
        mc_api_str_map labels = {0};
        mc_api_str_map_set(&labels, "app", "x!");
        mc_api_pod_bounce_directive_add_selector(pbd, "ns!", &labels);
        mc_api_str_map_clear(&labels);
        mc_api_pod_bounce_directive_record(pbd, "issuance!", "ns!", "name!", "uid!");
        pbd->status.observed_generation = 3;
        assert_int_equal(mc_api_pod_bounce_directive_encode(pbd, &out, NULL), 0);
        mc_api_pod_bounce_directive_free(pbd);
    }
    return out;
}

static void check_crd(const char *file, const char *plural, const char *fixture, bool has_state)
{
    json_t *crd = load_crd(file);
    const mc_api_resource *r = mc_api_resource_find(MC_API_GROUP, MC_API_VERSION, plural);
    assert_non_null(r);
    fprintf(stderr, "checking %s\n", file);

    /* identity */
    assert_string_equal(json_string_value(json_object_get(crd, "apiVersion")),
                        "apiextensions.k8s.io/v1");
    assert_string_equal(json_string_value(json_object_get(crd, "kind")), "CustomResourceDefinition");
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", r->resource, r->group);
    assert_string_equal(json_string_value(json_object_get(json_object_get(crd, "metadata"), "name")),
                        name);
    const json_t *spec = json_object_get(crd, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "group")), MC_API_GROUP);
    assert_string_equal(json_string_value(json_object_get(spec, "scope")),
                        r->namespaced ? "Namespaced" : "Cluster");
    const json_t *names = json_object_get(spec, "names");
    assert_string_equal(json_string_value(json_object_get(names, "kind")), r->kind);
    assert_string_equal(json_string_value(json_object_get(names, "plural")), r->resource);
    assert_string_equal(json_string_value(json_object_get(names, "singular")), r->singular);
    char list_kind[96];
    snprintf(list_kind, sizeof(list_kind), "%sList", r->kind);
    assert_string_equal(json_string_value(json_object_get(names, "listKind")), list_kind);
    assert_string_equal(json_string_value(json_array_get(json_object_get(names, "shortNames"), 0)),
                        r->short_names);
    assert_string_equal(json_string_value(json_array_get(json_object_get(names, "categories"), 0)),
                        "meshcert");

    /* version, status subresource, printer columns */
    const json_t *v = version_of(crd);
    assert_string_equal(json_string_value(json_object_get(v, "name")), MC_API_VERSION);
    assert_true(json_is_true(json_object_get(v, "served")));
    assert_true(json_is_true(json_object_get(v, "storage")));
    const json_t *status_sub = json_object_get(json_object_get(v, "subresources"), "status");
    assert_true(json_is_object(status_sub) && json_object_size(status_sub) == 0);
    assert_true(r->has_status);
    const json_t *cols = json_object_get(v, "additionalPrinterColumns");
    /* Age ends the default view; -o wide columns (priority 1) follow it, as
     * kubectl's own wide columns (a pod's IP, Node) do */
    const json_t *last = NULL;
    size_t ci;
    json_t *cv;
    json_array_foreach(cols, ci, cv)
        if (json_integer_value(json_object_get(cv, "priority")) == 0)
            last = cv;
        else
            assert_non_null(last); /* after the default columns */
    assert_string_equal(json_string_value(json_object_get(last, "name")), "Age");
    assert_string_equal(json_string_value(json_object_get(last, "type")), "date");
    assert_string_equal(json_string_value(json_object_get(last, "jsonPath")),
                        ".metadata.creationTimestamp");
    if (has_state) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "name")), "State");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "jsonPath")),
                            ".status.state");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 1), "name")), "Error");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 1), "jsonPath")),
                            ".status.error");
    }
    /* every printer column points into the schema with its type (dates at
     * date-time strings); the default view stays narrow, -o wide shows more */
    const json_t *schema = schema_of(crd);
    size_t i;
    json_t *col;
    int wide = 0;
    json_array_foreach(cols, i, col) {
        const char *jp = json_string_value(json_object_get(col, "jsonPath"));
        const char *type = json_string_value(json_object_get(col, "type"));
        json_int_t priority = json_integer_value(json_object_get(col, "priority"));
        assert_true(priority == 0 || priority == 1);
        wide += priority == 1;
        if (!strcmp(jp, ".metadata.creationTimestamp") || !strcmp(jp, ".metadata.generation"))
            continue;
        const json_t *s = schema_at(schema, jp);
        if (!s)
            fail_msg("%s: printer column %s: %s is not in the schema", file,
                     json_string_value(json_object_get(col, "name")), jp);
        const char *schema_type = json_string_value(json_object_get(s, "type"));
        if (!strcmp(type, "date")) {
            assert_string_equal(schema_type, "string");
            assert_string_equal(json_string_value(json_object_get(s, "format")), "date-time");
        } else {
            assert_string_equal(schema_type, type);
        }
        if (priority == 1)
            assert_non_null(json_string_value(json_object_get(col, "description")));
    }
    assert_true(wide >= 1);
    assert_true(json_array_size(cols) - (size_t)wide <= 4);

    /* every property documented */
    if (count_undescribed(schema, "") != 0)
        fail_msg("%s: properties without a description (listed above)", file);

    /* structural schema */
    assert_structural(schema, "");

    /* schema -> codec */
    json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", MC_API_GROUP_VERSION, "kind",
                            r->kind, "metadata", "name", "sample", "namespace", "ns");
    const json_t *props = json_object_get(schema, "properties");
    json_object_set_new(doc, "spec", sample(json_object_get(props, "spec")));
    json_object_set_new(doc, "status", sample(json_object_get(props, "status")));
    json_t *out = reencode_without_raw(r->kind, doc);
    assert_true(api_test_json_equal(json_object_get(out, "spec"), json_object_get(doc, "spec")));
    assert_true(api_test_json_equal(json_object_get(out, "status"), json_object_get(doc, "status")));
    json_decref(out);
    json_decref(doc);

    /* codec -> schema: a fully populated struct, and the golden fixture */
    out = full_object(r->kind);
    json_t *top = json_pack("{s:O, s:O}", "spec", json_object_get(out, "spec"), "status",
                            json_object_get(out, "status"));
    json_t *top_schema = json_pack("{s:s, s:{s:O, s:O}}", "type", "object", "properties", "spec",
                                   json_object_get(props, "spec"), "status",
                                   json_object_get(props, "status"));
    assert_true(conforms(top, top_schema, "", true));
    json_decref(top);
    json_decref(out);
    json_t *fix = api_test_load(fixture);
    out = reencode_without_raw(r->kind, fix);
    assert_true(conforms(out, schema, "", false));
    json_decref(out);
    json_decref(fix);
    json_decref(top_schema);
    json_decref(crd);
}

static void test_issuedcertificates_crd(void **state)
{
    (void)state;
    check_crd("issuedcertificates.yaml", "issuedcertificates", "issuedcertificate.json", true);
}

static void test_certificaterequests_crd(void **state)
{
    (void)state;
    check_crd("certificaterequests.yaml", "certificaterequests", "certificaterequest.json", true);
}

static void test_podbouncedirectives_crd(void **state)
{
    (void)state;
    check_crd("podbouncedirectives.yaml", "podbouncedirectives", "podbouncedirective.json", false);
}

static void test_rootrotations_crd(void **state)
{
    (void)state;
    check_crd("rootrotations.yaml", "rootrotations", "rootrotation.json", false);
}

/* The checker itself must catch mismatches: a field the codec writes but the
 * schema lacks, a wrong type, bytes not declared as such, a state outside the
 * enum. */
static void test_checker_detects_mismatch(void **state)
{
    (void)state;
    json_t *crd = load_crd("certificaterequests.yaml");
    json_t *props = json_object_get(schema_of(crd), "properties");
    json_t *status = json_object_get(json_object_get(props, "status"), "properties");
    json_t *full = full_object("CertificateRequest");
    json_t *top = json_pack("{s:O, s:O}", "spec", json_object_get(full, "spec"), "status",
                            json_object_get(full, "status"));
    json_t *top_schema = json_pack("{s:s, s:{s:O, s:O}}", "type", "object", "properties", "spec",
                                   json_object_get(props, "spec"), "status",
                                   json_object_get(props, "status"));
    assert_true(conforms(top, top_schema, "", true));
    json_object_del(json_object_get(status, "signingRootCa"), "format");
    assert_false(conforms(top, top_schema, "", true));
    json_object_set_new(json_object_get(status, "signingRootCa"), "format", json_string("byte"));
    assert_true(conforms(top, top_schema, "", true));
    json_object_set_new(json_object_get(status, "observedGeneration"), "type", json_string("string"));
    assert_false(conforms(top, top_schema, "", true));
    json_object_set_new(json_object_get(status, "observedGeneration"), "type", json_string("integer"));
    json_array_remove(json_object_get(json_object_get(status, "state"), "enum"), 1); /* FINISHED */
    assert_false(conforms(top, top_schema, "", true));
    json_array_insert_new(json_object_get(json_object_get(status, "state"), "enum"), 1,
                          json_string("FINISHED"));
    json_object_del(status, "error");
    assert_false(conforms(top, top_schema, "", true));
    json_decref(top_schema);
    json_decref(top);
    json_decref(full);
    json_decref(crd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issuedcertificates_crd),
        cmocka_unit_test(test_certificaterequests_crd),
        cmocka_unit_test(test_podbouncedirectives_crd),
        cmocka_unit_test(test_rootrotations_crd),
        cmocka_unit_test(test_checker_detects_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
