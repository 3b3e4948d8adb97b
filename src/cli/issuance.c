/* issuance.c - the decisions of `meshcert issue` and `meshcert rotate` as
 * pure functions over the IssuedCertificates of a cluster (see
 * issuance.h): which existing one a new one would fight, whether --wait is
 * over, whether a rotation is pending, and the rotate token.
 */
#include "cli/issuance.h"

#include <stdio.h>
#include <string.h>

#include "api/issued_certificate.h"

/* 1 when ref ({name, namespace}) names ns/name. */
static int ref_is(const json_t *ref, const char *ns, const char *name)
{
    const char *ref_ns = json_string_value(json_object_get(ref, "namespace"));
    const char *ref_name = json_string_value(json_object_get(ref, "name"));
    return ref_ns && ref_name && strcmp(ref_ns, ns) == 0 && strcmp(ref_name, name) == 0;
}

int mc_cli_issue_conflicts(const json_t *items, const mc_cli_issue_names *new, mc_err *err)
{
    int rc = MC_OK;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (rc)
            break;
        const json_t *meta = json_object_get(item, "metadata");
        const json_t *spec = json_object_get(item, "spec");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (!ns || !name)
            continue;
        const json_t *out = json_object_get(spec, "issuedCertificateSecret");
        if (strcmp(ns, new->ns) == 0 && strcmp(name, new->name) == 0)
            rc = mc_err_set(err, MC_EEXISTS, "issuedcertificate %s/%s already exists", ns, name);
        else if (ref_is(out, new->out_ns, new->out_name))
            rc = mc_err_set(err, MC_EEXISTS,
                            "issuedcertificate %s/%s already writes its certificate to Secret "
                            "%s/%s; choose another --output-secret",
                            ns, name, new->out_ns, new->out_name);
        else if (strcmp(ns, new->out_ns) == 0 && strcmp(name, new->out_name) == 0)
            rc = mc_err_set(err, MC_EEXISTS,
                            "Secret %s/%s is the private key Secret of issuedcertificate %s/%s; "
                            "choose another --output-secret",
                            new->out_ns, new->out_name, ns, name);
        else if (ref_is(out, new->ns, new->name))
            rc = mc_err_set(err, MC_EEXISTS,
                            "issuedcertificate %s/%s writes its certificate to Secret %s/%s, "
                            "which would be this one's private key Secret; choose another --name",
                            ns, name, new->ns, new->name);
        else if (new->bounce &&
                 ref_is(json_object_get(spec, "podBounceDirective"), new->ns, new->name))
            rc = mc_err_set(err, MC_EEXISTS,
                            "podbouncedirective %s/%s is already used by issuedcertificate %s/%s; "
                            "choose another --name",
                            new->ns, new->name, ns, name);
    }
    return rc;
}

mc_cli_issuance mc_cli_issuance_progress(const json_t *ic, const char **state)
{
    const json_t *status = json_object_get(ic, "status");
    json_int_t generation =
        json_integer_value(json_object_get(json_object_get(ic, "metadata"), "generation"));
    const json_t *observed = json_object_get(status, "observedGeneration");
    *state = json_string_value(json_object_get(status, "state"));
    if (!*state || !**state)
        *state = "PENDING";
    if (json_is_integer(observed) && json_integer_value(observed) != generation)
        return MC_CLI_ISSUANCE_WAITING; /* a status from before the spec we wrote */
    if (strcmp(*state, "FAILED") == 0)
        return MC_CLI_ISSUANCE_FAILED;
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(status, "conditions"), i, condition)
    {
        const char *type = json_string_value(json_object_get(condition, "type"));
        const char *value = json_string_value(json_object_get(condition, "status"));
        if (type && strcmp(type, "Ready") == 0)
            return value && strcmp(value, "True") == 0 ? MC_CLI_ISSUANCE_DONE
                                                       : MC_CLI_ISSUANCE_WAITING;
    }
    return strcmp(*state, "FINISHED") == 0 ? MC_CLI_ISSUANCE_DONE : MC_CLI_ISSUANCE_WAITING;
}

/* The value of key under status, or NULL. */
static const char *status_string(const json_t *ic, const char *key)
{
    return json_string_value(json_object_get(json_object_get(ic, "status"), key));
}

static const char *rotate_annotation(const json_t *ic)
{
    const json_t *annotations = json_object_get(json_object_get(ic, "metadata"), "annotations");
    return json_string_value(json_object_get(annotations, MC_API_IC_ROTATE_ANNOTATION));
}

/* Whether status.conditions has type with status True. */
static int condition_true(const json_t *ic, const char *type)
{
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(json_object_get(ic, "status"), "conditions"), i, condition)
    {
        const char *t = json_string_value(json_object_get(condition, "type"));
        const char *value = json_string_value(json_object_get(condition, "status"));
        if (t && value && strcmp(t, type) == 0)
            return strcmp(value, "True") == 0;
    }
    return 0;
}

mc_cli_issuance mc_cli_rotation_progress(const json_t *ic, const char *token, const char **state)
{
    const char *rotation = status_string(ic, "rotation");
    int taken = rotation && strcmp(rotation, token) == 0;
    json_int_t generation =
        json_integer_value(json_object_get(json_object_get(ic, "metadata"), "generation"));
    const json_t *observed = json_object_get(json_object_get(ic, "status"), "observedGeneration");
    *state = status_string(ic, "state");
    if (!*state || !**state)
        *state = "PENDING";
    if (strcmp(*state, "FAILED") == 0)
        return MC_CLI_ISSUANCE_FAILED;
    if (!taken) {
        if (strcmp(*state, "FINISHED") == 0)
            *state = "FINISHED (rotation not started)";
        return MC_CLI_ISSUANCE_WAITING;
    }
    if (json_is_integer(observed) && json_integer_value(observed) != generation)
        return MC_CLI_ISSUANCE_WAITING;
    if (condition_true(ic, "Issuing")) /* the agent's renewal still in flight */
        return MC_CLI_ISSUANCE_WAITING;
    return strcmp(*state, "FINISHED") == 0 ? MC_CLI_ISSUANCE_DONE : MC_CLI_ISSUANCE_WAITING;
}

int mc_cli_rotation_pending(const json_t *ic)
{
    const char *asked = rotate_annotation(ic);
    const char *done = status_string(ic, "rotation");
    return asked && *asked && (!done || strcmp(asked, done) != 0);
}

void mc_cli_rotation_token(time_t now, const unsigned char random[4], char *out, size_t out_size)
{
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, out_size, "%s-%02x%02x%02x%02x", when, random[0], random[1], random[2],
             random[3]);
}
