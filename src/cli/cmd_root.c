/* cmd_root.c - `meshcert root rotate|status`: starts, aborts and shows
 * RootRotations on the management cluster (docs/workflow.md "Root
 * rotation"). The issuer does the work; this command creates the object
 * (and with --generate the new root's Secret, in the format the issuer
 * generates its own root: issuer/root_secret.h), sets spec.abort, and reads
 * the status back, with each cluster's IssuedCertificates and the roots in
 * their output Secrets (status.rootFingerprints).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/issued_certificate.h"
#include "api/root_rotation.h"
#include "api/validate.h"
#include "cli/cli.h"
#include "cli/ops.h"
#include "issuer/root_secret.h"
#include "pki/verify.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/file.h"
#include "util/str.h"

#define WAIT_POLL_MS            500
#define WAIT_TIMEOUT_DEFAULT_MS (7LL * 24 * 3600 * 1000) /* three steps of the 24h default */

static const char help[] =
    "Usage: meshcert root rotate (--generate [--root-key-type T] [--root-validity D]\n"
    "           | --new-root-key FILE|URI --new-root-cert FILE\n"
    "           | --new-root-secret NS/NAME) [--root-secret NS/NAME] [--step-dwell D]\n"
    "           [--name N] [--wait [--timeout D]] [options]\n"
    "       meshcert root rotate --abort [--name N] [--wait [--timeout D]] [options]\n"
    "       meshcert root status [--name N] [options]\n"
    "\n"
    "Moves every registered cluster from the root CA in --root-secret (R1) to a new\n"
    "root R2 without a moment in which two clusters fail to trust each other, by\n"
    "creating a RootRotation that the issuer carries out in steps:\n"
    "  ADDING_NEW_ROOT               bundles hold R1 and R2, intermediates signed by R1\n"
    "  PROPAGATING_NEW_INTERMEDIATE  intermediates re-issued by R2, bundles keep both\n"
    "  DELETING_OLD_ROOT             bundles hold R2 alone; then --root-secret takes R2\n"
    "  COMPLETE\n"
    "Each step re-issues every IssuedCertificate naming --root-secret (new keys) and\n"
    "starts only when every cluster finished the previous one and --step-dwell passed.\n"
    "--abort rolls back (ROLLING_BACK_INTERMEDIATE, ROLLING_BACK, ABORTED) from the\n"
    "first two steps; from DELETING_OLD_ROOT on it is refused.\n"
    "R2 is generated (--generate: Secret NS/<root name>-<rotation name>), kept in a\n"
    "token or file the issuer was started with (--new-root-key: the same Secret name,\n"
    "holding --new-root-cert and the key's name as key-ref, never the key), or\n"
    "supplied (--new-root-secret: a Secret with root-cert.pem and key.pem or\n"
    "key-ref). At the end --root-secret takes R2's certificate and key.pem or key-ref\n"
    "(a token's key is never copied). The RootRotation CRD\n"
    "(deploy/crds/rootrotations.yaml) must be applied on the management cluster.\n"
    "status prints each rotation's phase, the timestamped steps, and per cluster its\n"
    "progress and the roots its output Secrets hold.\n"
    "\n"
    "Options:\n" MC_CLI_MGMT_FLAGS_HELP
    "  --namespace NS           the issuer's namespace (registrations, roots,\n"
    "                           RootRotations)                          [meshcert]\n"
    "  --root-secret NS/NAME    the root to rotate                [NS/root-ca]\n"
    "  --generate               generate R2 in a new Secret\n"
    "  --root-key-type T        --generate: rsa2048, rsa3072, rsa4096, ec-p256, ec-p384\n"
    "                                                                    [rsa4096]\n"
    "  --root-validity D        --generate: R2's lifetime (e.g. 3650d)      [365d]\n"
    "  --new-root-key FILE|URI  R2's key outside the API: a pkcs11: URI (made with\n"
    "                           meshcert ca create --pkcs11) or a key file's path,\n"
    "                           exactly as the issuer's --root-key names it\n"
    "  --new-root-cert FILE     --new-root-key: R2's certificate (PEM, a valid CA)\n"
    "  --new-root-secret NS/NAME  the Secret holding R2 (instead of --generate)\n"
    "  --step-dwell D           the minimum time of each step (e.g. 24h, 30s) [24h]\n"
    "  --name N                 the RootRotation         [rotate: root-rotation-<time>;\n"
    "                           --abort: the active one]\n"
    "  --abort                  roll the rotation back\n"
    "  --wait                   print each phase as it is entered until the rotation\n"
    "                           ends (exit 0 on COMPLETE, or ABORTED after --abort)\n"
    "  --timeout D              --wait: give up after D                       [7d]\n"
    "  -h, --help               show this help\n";

enum {
    OPT_NAMESPACE = 256,
    OPT_ROOT_SECRET,
    OPT_GENERATE,
    OPT_ROOT_KEY_TYPE,
    OPT_ROOT_VALIDITY,
    OPT_NEW_ROOT_SECRET,
    OPT_NEW_ROOT_KEY,
    OPT_NEW_ROOT_CERT,
    OPT_STEP_DWELL,
    OPT_NAME,
    OPT_ABORT,
    OPT_WAIT,
    OPT_TIMEOUT,
};

static const struct option options[] = {
    MC_CLI_MGMT_OPTIONS,
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"root-secret", required_argument, NULL, OPT_ROOT_SECRET},
    {"generate", no_argument, NULL, OPT_GENERATE},
    {"root-key-type", required_argument, NULL, OPT_ROOT_KEY_TYPE},
    {"root-validity", required_argument, NULL, OPT_ROOT_VALIDITY},
    {"new-root-secret", required_argument, NULL, OPT_NEW_ROOT_SECRET},
    {"new-root-key", required_argument, NULL, OPT_NEW_ROOT_KEY},
    {"new-root-cert", required_argument, NULL, OPT_NEW_ROOT_CERT},
    {"step-dwell", required_argument, NULL, OPT_STEP_DWELL},
    {"name", required_argument, NULL, OPT_NAME},
    {"abort", no_argument, NULL, OPT_ABORT},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct root_args {
    mc_cli_mgmt_flags flags;
    const char *ns;
    const char *root_secret, *new_root_secret, *name, *step_dwell;
    const char *new_root_key, *new_root_cert;
    int generate, abort, wait, timeout_given;
    mc_key_type key_type;
    int64_t validity_seconds;
    int64_t timeout_ms;
} root_args;

/* ---- reading rotations ---------------------------------------------------- */

/* Every RootRotation of ns, decoded (*out array, caller frees each and it).
 * A missing CRD is MC_ENOTFOUND saying how to install it. */
static int list_rotations(mc_kube_client *client, const char *ns, mc_api_root_rotation ***out,
                          size_t *count, mc_err *err)
{
    *out = NULL;
    *count = 0;
    json_t *list = NULL;
    int rc = mc_kube_list(client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), ns, NULL, &list, err);
    if (rc == MC_ENOTFOUND)
        return mc_err_set(err, MC_ENOTFOUND,
                          "the management cluster does not serve rootrotations.%s: apply "
                          "deploy/crds/rootrotations.yaml there first",
                          MC_API_GROUP);
    if (rc != MC_OK)
        return rc;
    json_t *items = json_object_get(list, "items");
    size_t n = json_array_size(items);
    mc_api_root_rotation **all = n ? calloc(n, sizeof(*all)) : NULL;
    if (n && !all) {
        json_decref(list);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        /* list items omit apiVersion and kind; the codec accepts that */
        if (mc_api_root_rotation_decode(json_array_get(items, i), &all[*count], err) == MC_OK)
            (*count)++;
    }
    json_decref(list);
    *out = all;
    return MC_OK;
}

static void free_rotations(mc_api_root_rotation **all, size_t count)
{
    for (size_t i = 0; i < count; i++)
        mc_api_root_rotation_free(all[i]);
    free(all);
}

static void ref_key(const mc_api_object_ref *ref, const char *ns, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", ref->namespace && *ref->namespace ? ref->namespace : ns,
             ref->name ? ref->name : "");
}

/* Whether a rotation still runs (not COMPLETE, ABORTED or FAILED). */
static int is_active(const mc_api_root_rotation *rr)
{
    mc_rr_phase phase = mc_api_rr_phase_parse(rr->status.phase);
    return !mc_api_rr_phase_is_final(phase) && phase != MC_RR_PHASE_UNKNOWN;
}

/* ---- --wait --------------------------------------------------------------- */

/* Reads RootRotation ns/name until a final phase, printing each phase as it
 * is entered. MC_OK when it ends in `success`; MC_EINVAL naming the phase
 * and its condition otherwise; MC_EUNAVAILABLE at the timeout. */
static int wait_for_rotation(mc_kube_client *client, const char *ns, const char *name,
                             mc_rr_phase success, int64_t timeout_ms, mc_err *err)
{
    int64_t deadline = mc_clock_now_ms() + timeout_ms;
    char last[64] = "";
    for (;;) {
        json_t *obj = NULL;
        mc_api_root_rotation *rr = NULL;
        mc_err read_err = {0};
        int rc = mc_kube_get(client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), ns, name, &obj,
                             &read_err);
        if (rc == MC_OK)
            rc = mc_api_root_rotation_decode(obj, &rr, &read_err);
        json_decref(obj);
        if (rc != MC_OK && rc != MC_EUNAVAILABLE) {
            *err = read_err;
            return rc;
        }
        if (rr && rr->status.phase && strcmp(rr->status.phase, last) != 0) {
            mc_strlcpy(last, rr->status.phase, sizeof(last));
            const mc_api_condition *c = mc_api_conditions_get(&rr->status.conditions, last);
            printf("rootrotation %s/%s: %s at %s%s%s\n", ns, name, last,
                   rr->status.step_started_at ? rr->status.step_started_at : "?",
                   c && c->message && *c->message ? ": " : "", c ? c->message : "");
            fflush(stdout);
        }
        mc_rr_phase phase = rr ? mc_api_rr_phase_parse(rr->status.phase) : MC_RR_PHASE_NONE;
        if (mc_api_rr_phase_is_final(phase)) {
            const mc_api_condition *c = mc_api_conditions_get(&rr->status.conditions, last);
            rc = phase == success
                     ? MC_OK
                     : mc_err_set(err, MC_EINVAL, "rootrotation %s/%s ended %s: %s", ns, name, last,
                                  c && c->message ? c->message : "(no message)");
            mc_api_root_rotation_free(rr);
            return rc;
        }
        mc_api_root_rotation_free(rr);
        if (mc_clock_now_ms() + WAIT_POLL_MS > deadline)
            return mc_err_set(err, MC_EUNAVAILABLE,
                              "rootrotation %s/%s not finished in time (phase %s); is the issuer "
                              "running? `meshcert root status` shows what each cluster waits for",
                              ns, name, last[0] ? last : "none yet");
        mc_clock_sleep_ms(WAIT_POLL_MS);
    }
}

/* ---- rotate --------------------------------------------------------------- */

static int create_rotation(mc_kube_client *client, const root_args *a, const char *name,
                           const char *root_ns, const char *root_name, const char *new_ns,
                           const char *new_name, mc_err *err)
{
    mc_api_root_rotation *rr = mc_api_root_rotation_new(a->ns, name);
    json_t *body = NULL;
    int rc = rr ? MC_OK : MC_ENOMEM;
    if (rc == MC_OK &&
        (mc_api_object_ref_set(&rr->spec.root_secret, root_ns, root_name) != MC_OK ||
         mc_api_object_ref_set(&rr->spec.new_root_secret, new_ns, new_name) != MC_OK ||
         (a->step_dwell && !(rr->spec.step_dwell = mc_strdup(a->step_dwell)))))
        rc = MC_ENOMEM;
    if (rc != MC_OK) {
        mc_api_root_rotation_free(rr);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    rc = mc_api_root_rotation_validate(rr, err);
    if (rc == MC_OK)
        rc = mc_api_root_rotation_encode(rr, &body, err);
    if (rc == MC_OK)
        rc = mc_kube_create(client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), a->ns, body, NULL,
                            err);
    if (rc == MC_EEXISTS)
        mc_err_set(err, MC_EEXISTS, "rootrotation %s/%s already exists; pick another --name", a->ns,
                   name);
    json_decref(body);
    mc_api_root_rotation_free(rr);
    return rc;
}

/* --new-root-key: Secret new_ns/new_name with --new-root-cert (a CA,
 * currently valid) and the key's name as key-ref. */
static int create_ref_secret(mc_kube_client *client, const root_args *a, const char *new_ns,
                             const char *new_name, mc_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    mc_pki_cert *cert = NULL;
    int rc = mc_file_read(a->new_root_cert, MC_PKI_PEM_MAX, &pem, &len, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_from_pem(pem, len, a->new_root_cert, &cert, err);
    if (rc == MC_OK && (rc = mc_pki_cert_check_validity(cert, 0, err)) != MC_OK)
        mc_err_prefix(err, "--new-root-cert %s", a->new_root_cert);
    if (rc == MC_OK && !mc_pki_cert_is_ca(cert))
        rc = mc_err_set(err, MC_EINVAL, "--new-root-cert %s is not a CA certificate",
                        a->new_root_cert);
    if (rc == MC_OK && strlen(a->new_root_key) >= MC_ROOT_SECRET_KEY_REF_MAX)
        rc = mc_err_set(err, MC_ELIMIT, "--new-root-key is longer than %d bytes",
                        MC_ROOT_SECRET_KEY_REF_MAX - 1);
    if (rc == MC_OK)
        rc = mc_root_secret_create_ref(client, new_ns, new_name, pem, len, a->new_root_key, NULL,
                                       err);
    mc_pki_cert_free(cert);
    free(pem);
    return rc;
}

static int cmd_rotate(mc_kube_client *client, const root_args *a, mc_err *err)
{
    char root_ns[254], root_name[254], new_ns[254], new_name[254], root_key[520], name[254];
    mc_cli_parse_ref(a->root_secret, a->ns, root_ns, root_name);
    snprintf(root_key, sizeof(root_key), "%s/%s", root_ns, root_name);
    if (a->name) {
        mc_strlcpy(name, a->name, sizeof(name));
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(name, sizeof(name), "root-rotation-%Y%m%d%H%M%S", &tm);
    }
    /* one rotation of a root at a time (the issuer FAILs a second one too) */
    mc_api_root_rotation **all = NULL;
    size_t count = 0;
    int rc = list_rotations(client, a->ns, &all, &count, err);
    /* checked before anything is written: a refused name must not leave a
     * generated root behind */
    if (mc_validate_dns1123_subdomain(name, err) != MC_OK)
        rc = mc_err_prefix(err, "--name \"%s\"", name);
    for (size_t i = 0; rc == MC_OK && i < count; i++) {
        char key[520];
        ref_key(&all[i]->spec.root_secret, a->ns, key, sizeof(key));
        if (strcmp(all[i]->metadata.name, name) == 0)
            rc = mc_err_set(err, MC_EEXISTS,
                            "rootrotation %s/%s already exists; pick another --name", a->ns, name);
        else if (strcmp(key, root_key) == 0 && is_active(all[i]))
            rc = mc_err_set(err, MC_EEXISTS,
                            "rootrotation %s/%s is already rotating root %s (phase %s); wait for "
                            "it, or abort it with meshcert root rotate --abort --name %s",
                            a->ns, all[i]->metadata.name, root_key,
                            all[i]->status.phase ? all[i]->status.phase : "not started",
                            all[i]->metadata.name);
    }
    free_rotations(all, count);
    if (rc != MC_OK)
        return rc;
    json_t *root = NULL;
    rc = mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), root_ns, root_name, &root, err);
    json_decref(root);
    if (rc == MC_ENOTFOUND)
        return mc_err_set(err, MC_ENOTFOUND,
                          "root secret %s not found on the management cluster (--root-secret)",
                          root_key);
    if (rc != MC_OK)
        return rc;
    if (a->generate || a->new_root_key) {
        mc_strlcpy(new_ns, root_ns, sizeof(new_ns));
        if ((size_t)snprintf(new_name, sizeof(new_name), "%s-%s", root_name, name) > 253)
            return mc_err_set(err, MC_EINVAL,
                              "the new root's Secret name %s-%s is over 253 characters; use a "
                              "shorter --name",
                              root_name, name);
    }
    if (a->generate) {
        rc = mc_root_secret_generate(client, new_ns, new_name, a->key_type, a->validity_seconds, 0,
                                     NULL, err);
        if (rc != MC_OK)
            return rc;
        printf("secret %s/%s: new root generated (%s)\n", new_ns, new_name,
               mc_pki_key_type_name(a->key_type));
    } else if (a->new_root_key) {
        rc = create_ref_secret(client, a, new_ns, new_name, err);
        if (rc != MC_OK)
            return rc;
        printf("secret %s/%s: new root %s with key-ref %s\n", new_ns, new_name, a->new_root_cert,
               a->new_root_key);
    } else {
        mc_cli_parse_ref(a->new_root_secret, a->ns, new_ns, new_name);
        json_t *next = NULL;
        rc = mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), new_ns, new_name, &next, err);
        if (rc == MC_OK && !mc_root_secret_is_root(next))
            rc = mc_err_set(err, MC_EINVAL, "secret %s/%s does not hold a root (%s and %s or %s)",
                            new_ns, new_name, MC_ROOT_SECRET_CERT_KEY, MC_ROOT_SECRET_KEY_KEY,
                            MC_ROOT_SECRET_KEY_REF_KEY);
        else if (rc == MC_ENOTFOUND)
            mc_err_set(err, MC_ENOTFOUND, "secret %s/%s not found (--new-root-secret)", new_ns,
                       new_name);
        json_decref(next);
        if (rc != MC_OK)
            return rc;
    }
    rc = create_rotation(client, a, name, root_ns, root_name, new_ns, new_name, err);
    if (rc != MC_OK)
        return rc;
    printf("rootrotation %s/%s created: root %s -> %s/%s, each step at least %s\n", a->ns, name,
           root_key, new_ns, new_name,
           a->step_dwell ? a->step_dwell : MC_API_ROOT_ROTATION_DEFAULT_DWELL);
    fflush(stdout);
    if (!a->wait)
        return MC_OK;
    return wait_for_rotation(client, a->ns, name, MC_RR_PHASE_COMPLETE, a->timeout_ms, err);
}

static int cmd_abort(mc_kube_client *client, const root_args *a, mc_err *err)
{
    mc_api_root_rotation **all = NULL;
    size_t count = 0;
    int rc = list_rotations(client, a->ns, &all, &count, err);
    const mc_api_root_rotation *target = NULL;
    for (size_t i = 0; rc == MC_OK && i < count; i++) {
        if (a->name ? strcmp(all[i]->metadata.name, a->name) == 0 : is_active(all[i])) {
            if (target && !a->name) {
                rc = mc_err_set(err, MC_EINVAL,
                                "several rotations are active (%s, %s); name one with --name",
                                target->metadata.name, all[i]->metadata.name);
                break;
            }
            target = all[i];
        }
    }
    char name[254] = "";
    if (rc == MC_OK && !target)
        rc = a->name
                 ? mc_err_set(err, MC_ENOTFOUND, "rootrotation %s/%s not found", a->ns, a->name)
                 : mc_err_set(err, MC_ENOTFOUND, "no active rootrotation in namespace %s", a->ns);
    if (rc == MC_OK) {
        mc_strlcpy(name, target->metadata.name, sizeof(name));
        mc_rr_phase phase = mc_api_rr_phase_parse(target->status.phase);
        if (!is_active(target))
            rc = mc_err_set(err, MC_EINVAL, "rootrotation %s/%s has already ended (%s)", a->ns,
                            name, target->status.phase);
        else if (phase == MC_RR_PHASE_DELETING_OLD_ROOT)
            rc = mc_err_set(err, MC_EINVAL,
                            "rootrotation %s/%s is in DELETING_OLD_ROOT: the bundles no longer "
                            "hold the old root, so it can no longer be rolled back; it completes",
                            a->ns, name);
    }
    free_rotations(all, count);
    if (rc != MC_OK)
        return rc;
    json_t *patch = mc_api_root_rotation_abort_patch();
    rc = patch ? mc_kube_patch(client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), a->ns, name,
                               MC_KUBE_PATCH_MERGE, patch, 0, NULL, err)
               : mc_err_set(err, MC_ENOMEM, "out of memory");
    json_decref(patch);
    if (rc != MC_OK)
        return rc;
    printf("rootrotation %s/%s: abort requested\n", a->ns, name);
    fflush(stdout);
    if (!a->wait)
        return MC_OK;
    return wait_for_rotation(client, a->ns, name, MC_RR_PHASE_ABORTED, a->timeout_ms, err);
}

/* ---- status --------------------------------------------------------------- */

/* "R1", "R2" or the first 12 hex digits of a fingerprint. */
static const char *root_label(const mc_api_root_rotation *rr, const char *fp, char *buf,
                              size_t size)
{
    if (rr->status.old_root_fingerprint && strcmp(fp, rr->status.old_root_fingerprint) == 0)
        return "R1";
    if (rr->status.new_root_fingerprint && strcmp(fp, rr->status.new_root_fingerprint) == 0)
        return "R2";
    snprintf(buf, size, "%.12s", fp);
    return buf;
}

/* Per registered cluster: its IssuedCertificates of the rotated root, with
 * state, token and the roots of their output Secrets. Best effort: an
 * unreachable cluster is reported and skipped. */
static void print_cluster_roots(mc_kube_client *client, const char *ns,
                                const mc_api_root_rotation *rr)
{
    char root_key[520];
    ref_key(&rr->spec.root_secret, ns, root_key, sizeof(root_key));
    json_t *list = NULL;
    mc_err err = {0};
    if (mc_kube_list(client, mc_kube_resource_of(MC_API_SECRETS), ns, NULL, &list, &err) != MC_OK) {
        printf("  (registered clusters unreadable: %s)\n", err.msg);
        return;
    }
    size_t i;
    json_t *secret;
    json_array_foreach(json_object_get(list, "items"), i, secret)
    {
        const char *cluster = mc_cli_registration_name(secret);
        if (!cluster)
            continue;
        mc_kube_client *managed = NULL;
        json_t *ics = NULL;
        mc_err local = {0};
        if (mc_cli_cluster_client(client, ns, cluster, &managed, NULL, 0, &local) != MC_OK ||
            mc_kube_list(managed, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), NULL, NULL, &ics,
                         &local) != MC_OK) {
            printf("  %-12s unreachable: %s\n", cluster, local.msg);
            mc_kube_client_free(managed);
            continue;
        }
        size_t j;
        json_t *item;
        json_array_foreach(json_object_get(ics, "items"), j, item)
        {
            mc_api_issued_certificate *ic = NULL;
            char key[520];
            if (mc_api_issued_certificate_decode(item, &ic, &local) != MC_OK)
                continue;
            ref_key(&ic->spec.signing_certificate_secret, ns, key, sizeof(key));
            if (strcmp(key, root_key) == 0) {
                char roots[200] = "";
                for (size_t k = 0; k < ic->status.root_fingerprints_len; k++) {
                    char buf[16];
                    const char *label =
                        root_label(rr, ic->status.root_fingerprints[k], buf, sizeof(buf));
                    size_t used = strlen(roots);
                    snprintf(roots + used, sizeof(roots) - used, "%s%s", k ? "," : "", label);
                }
                const char *token = mc_api_issued_certificate_rotate_token(ic);
                printf("  %-12s %s/%s %s roots [%s] expires %s token %s\n", cluster,
                       ic->metadata.namespace, ic->metadata.name,
                       mc_api_ic_state_name(ic->status.state), roots,
                       ic->status.not_after ? ic->status.not_after : "-",
                       token && ic->status.rotation && strcmp(token, ic->status.rotation) == 0
                           ? token
                       : token ? "(pending)"
                               : "-");
            }
            mc_api_issued_certificate_free(ic);
        }
        json_decref(ics);
        mc_kube_client_free(managed);
    }
    json_decref(list);
}

static void print_rotation(mc_kube_client *client, const char *ns, const mc_api_root_rotation *rr)
{
    char root_key[520], new_key[520];
    ref_key(&rr->spec.root_secret, ns, root_key, sizeof(root_key));
    ref_key(&rr->spec.new_root_secret, ns, new_key, sizeof(new_key));
    printf("rootrotation %s/%s: %s%s%s%s\n", ns, rr->metadata.name,
           rr->status.phase ? rr->status.phase : "not started",
           rr->status.step_started_at ? " since " : "",
           rr->status.step_started_at ? rr->status.step_started_at : "",
           rr->spec.abort ? " (abort requested)" : "");
    printf("  R1 %s sha256 %s\n", root_key,
           rr->status.old_root_fingerprint ? rr->status.old_root_fingerprint : "-");
    printf("  R2 %s sha256 %s\n", new_key,
           rr->status.new_root_fingerprint ? rr->status.new_root_fingerprint : "-");
    printf("  step dwell %s\n",
           rr->spec.step_dwell ? rr->spec.step_dwell : MC_API_ROOT_ROTATION_DEFAULT_DWELL);
    printf("  steps:\n");
    for (size_t i = 0; i < rr->status.conditions.len; i++) {
        const mc_api_condition *c = &rr->status.conditions.items[i];
        printf("    %s  %-28s %-5s %s: %s\n",
               c->last_transition_time ? c->last_transition_time : "-", c->type, c->status,
               c->reason ? c->reason : "", c->message ? c->message : "");
    }
    printf("  clusters (current step):%s\n", rr->status.clusters_len ? ""
                                             : is_active(rr)         ? " none observed yet"
                                                             : " none (the rotation has ended)");
    for (size_t i = 0; i < rr->status.clusters_len; i++) {
        const mc_api_root_rotation_cluster *c = &rr->status.clusters[i];
        printf("    %-12s %s %s%s%s\n", c->name, c->phase, c->done ? "done" : "in progress",
               c->message ? ": " : "", c->message ? c->message : "");
    }
    printf("  output secrets:\n");
    print_cluster_roots(client, ns, rr);
}

static int cmd_status(mc_kube_client *client, const root_args *a, mc_err *err)
{
    mc_api_root_rotation **all = NULL;
    size_t count = 0;
    int rc = list_rotations(client, a->ns, &all, &count, err);
    size_t shown = 0;
    for (size_t i = 0; rc == MC_OK && i < count; i++)
        if (!a->name || strcmp(all[i]->metadata.name, a->name) == 0) {
            print_rotation(client, a->ns, all[i]);
            shown++;
        }
    free_rotations(all, count);
    if (rc == MC_OK && !shown)
        printf(a->name ? "no rootrotation %s/%s\n" : "no rootrotation in namespace %s\n", a->ns,
               a->name ? a->name : "");
    return rc;
}

/* ---- options -------------------------------------------------------------- */

static int parse_args(const char *cmd, int argc, char **argv, root_args *a)
{
    mc_err err = {0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
        case MC_CLI_OPT_KUBECONFIG:
        case MC_CLI_OPT_CONTEXT:
        case MC_CLI_OPT_REQUEST_TIMEOUT:
            if (mc_cli_mgmt_flag_parse(cmd, opt, optarg, &a->flags))
                return MC_EXIT_USAGE;
            break;
        case OPT_NAMESPACE: a->ns = optarg; break;
        case OPT_ROOT_SECRET: a->root_secret = optarg; break;
        case OPT_GENERATE: a->generate = 1; break;
        case OPT_ROOT_KEY_TYPE:
            if (mc_pki_key_type_parse(optarg, &a->key_type, &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--root-key-type: %s", err.msg);
            break;
        case OPT_ROOT_VALIDITY:
            if (mc_duration_parse(optarg, &a->validity_seconds, &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--root-validity: %s", err.msg);
            break;
        case OPT_NEW_ROOT_SECRET: a->new_root_secret = optarg; break;
        case OPT_NEW_ROOT_KEY: a->new_root_key = optarg; break;
        case OPT_NEW_ROOT_CERT: a->new_root_cert = optarg; break;
        case OPT_STEP_DWELL: {
            int64_t seconds;
            if (mc_duration_parse(optarg, &seconds, &err) != MC_OK)
                return mc_cli_usage_error(cmd, "--step-dwell: %s", err.msg);
            a->step_dwell = optarg;
            break;
        }
        case OPT_NAME: a->name = optarg; break;
        case OPT_ABORT: a->abort = 1; break;
        case OPT_WAIT: a->wait = 1; break;
        case OPT_TIMEOUT:
            if (mc_cli_wait_timeout_parse(cmd, optarg, &a->timeout_ms))
                return MC_EXIT_USAGE;
            a->timeout_given = 1;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return mc_cli_bad_option(cmd, argv, optopt);
        }
    }
    char ns[254], name[254];
    if (optind < argc)
        return mc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (a->timeout_given && !a->wait)
        return mc_cli_usage_error(cmd, "--timeout is for --wait");
    if (a->root_secret && mc_cli_parse_ref(a->root_secret, a->ns, ns, name))
        return mc_cli_usage_error(cmd, "--root-secret: expected NS/NAME, got \"%s\"",
                                  a->root_secret);
    if (a->new_root_secret && mc_cli_parse_ref(a->new_root_secret, a->ns, ns, name))
        return mc_cli_usage_error(cmd, "--new-root-secret: expected NS/NAME, got \"%s\"",
                                  a->new_root_secret);
    return MC_EXIT_OK;
}

int mc_cmd_root(int argc, char **argv)
{
    static const char cmd[] = "root";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? MC_EXIT_USAGE : MC_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "rotate") != 0 && strcmp(sub, "status") != 0)
        return mc_cli_usage_error(cmd, "unknown subcommand \"%s\" (rotate or status)", sub);
    root_args a = {.flags = MC_CLI_MGMT_FLAGS_DEFAULT,
                   .ns = MC_CLI_OPS_NAMESPACE,
                   .key_type = MC_KEY_RSA4096,
                   .timeout_ms = WAIT_TIMEOUT_DEFAULT_MS};
    int parsed = parse_args(cmd, argc - 1, argv + 1, &a);
    if (parsed != MC_EXIT_OK)
        return parsed < 0 ? MC_EXIT_OK : parsed;
    char default_root[300];
    snprintf(default_root, sizeof(default_root), "%s/%s", a.ns, MC_CLI_DEFAULT_ROOT_NAME);
    if (!a.root_secret)
        a.root_secret = default_root;
    int is_rotate = strcmp(sub, "rotate") == 0;
    int sources = a.generate + !!a.new_root_secret + !!a.new_root_key;
    if (!is_rotate && (sources || a.new_root_cert || a.abort || a.wait || a.step_dwell))
        return mc_cli_usage_error(cmd, "status takes no rotate options");
    if (is_rotate && a.abort && (sources || a.new_root_cert || a.step_dwell))
        return mc_cli_usage_error(
            cmd, "--abort takes only --name, --wait and --timeout (and the cluster options)");
    if (is_rotate && !a.abort && sources != 1)
        return mc_cli_usage_error(cmd, "rotate needs exactly one of --generate, --new-root-key "
                                       "and --new-root-secret");
    if (!!a.new_root_key != !!a.new_root_cert)
        return mc_cli_usage_error(cmd, "--new-root-key and --new-root-cert go together");
    mc_kube_client *client = NULL;
    mc_err err = {0};
    int rc = mc_cli_mgmt_client(&a.flags, &client, &err);
    if (rc == MC_OK)
        rc = !is_rotate ? cmd_status(client, &a, &err)
             : a.abort  ? cmd_abort(client, &a, &err)
                        : cmd_rotate(client, &a, &err);
    mc_kube_client_free(client);
    return rc == MC_OK ? MC_EXIT_OK : mc_cli_fail(cmd, &err);
}
