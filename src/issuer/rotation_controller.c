/* rotation_controller.c - RootRotations reconciled with mc_rotation_decide
 * (see rotation_controller.h).
 *
 * One worker, so that two rotations of one root are never decided at once
 * (the older wins, the other FAILs). A reconcile gathers the observation
 * from caches (RootRotations, each cluster's IssuedCertificates and
 * requests) and from the two root Secrets read now, decides, and executes
 * one action; token annotations are set in a loop (one decision each)
 * because each is independent and idempotent. The phase in status is
 * written before any token of that phase, and signing reads the phase from
 * the same cache the tokens are decided from, so an agent never holds a
 * step's token before the issuer signs for that step.
 */
#include "issuer/rotation_controller.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/certificate_request.h"
#include "api/issued_certificate.h"
#include "api/root_rotation.h"
#include "api/time.h"
#include "issuer/internal.h"
#include "issuer/root_secret.h"
#include "pki/verify.h"
#include "runtime/controller.h"
#include "runtime/informer.h"
#include "util/log.h"
#include "util/str.h"

#define LOG              "rotation"
#define KEY_MAX          600
#define POLL_MS          30000  /* a step in progress is looked at again at least this often */
#define MAX_TOKEN_WRITES 10000  /* per reconcile: bounds the token loop */
#define CRD_KEY          "@crd" /* not a valid ns/name: the CRD check */
#define CRD_RETRY_MS     10000

struct mc_rotation_controller {
    mc_issuer *issuer;         /* immutable, the owner */
    mc_kube_client *client;    /* borrowed: the management cluster */
    char *namespace;           /* immutable */
    mc_informer *rotations;    /* RootRotations in namespace */
    mc_controller *controller; /* one worker */
    atomic_int started;        /* pokes before start or after stop are dropped */
    atomic_int watching;       /* the informer runs (the CRD was found served) */
    atomic_int crd_absent;     /* the last check found no CRD: no rotation can run */
    int crd_missing_logged;    /* the worker's only */
};

/* ---- observation ---------------------------------------------------------- */

/* "ns/name" of a Secret reference (an empty namespace is the issuer's). */
static void secret_key(const mc_api_object_ref *ref, const char *default_ns, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", ref->namespace && *ref->namespace ? ref->namespace : default_ns,
             ref->name ? ref->name : "");
}

/* MC_OK when the issuer can sign for root Secret secret (certificate cert):
 * with its key.pem, or with the --root-key its key-ref names, which must be
 * the certificate's key (checked with a test signature for a token).
 * Otherwise the rotation waits, so that no phase signs with a root the
 * issuer cannot use. */
static int check_root_key(mc_rotation_controller *rc, const json_t *secret, const mc_pki_cert *cert,
                          const char *what, mc_err *err)
{
    char ref[MC_ROOT_SECRET_KEY_REF_MAX];
    int has_ref = mc_root_secret_key_ref(secret, what, ref, sizeof(ref), err);
    if (has_ref <= 0)
        return has_ref < 0 ? MC_EINVAL : MC_OK;
    const mc_issuer_root_key *key = mc_issuer_root_key_find(rc->issuer, ref);
    if (!key)
        return mc_err_set(err, MC_ENOTFOUND,
                          "%s: its %s %s is not one of the issuer's --root-key (restart the "
                          "issuer with it)",
                          what, MC_ROOT_SECRET_KEY_REF_KEY, ref);
    int result = key->backend ? mc_pki_backend_check(key->backend, cert, err)
                              : mc_pki_cert_matches_key(cert, key->key, err);
    if (result != MC_OK)
        mc_err_prefix(err, "%s: %s %s", what, MC_ROOT_SECRET_KEY_REF_KEY, ref);
    return result;
}

/* A root Secret's certificate and fingerprint, read now. A root backed by
 * the issuer's --root-key with --root-cert is unreadable here: its key is
 * not in the Secret the rotation would swap, so the rotation waits (logging
 * why) and never starts; a root Secret whose key-ref names a key the issuer
 * lacks waits too. */
static int read_root(mc_rotation_controller *rc, const char *key, mc_pki_cert **cert,
                     char fingerprint[MC_PKI_FINGERPRINT_SIZE], mc_err *err)
{
    if (mc_issuer_root_is_external(rc->issuer, key)) {
        mc_err_set(err, MC_EUNSUPPORTED,
                   "root %s signs with the issuer's --root-key and --root-cert, which cannot be "
                   "rotated: put its certificate and key-ref in the Secret instead and drop "
                   "--root-cert (docs/pki.md)",
                   key);
        mc_log_warn(LOG, "%s", err->msg); /* a WAIT's message is in no status */
        return MC_EUNSUPPORTED;
    }
    char buf[KEY_MAX];
    mc_strlcpy(buf, key, sizeof(buf));
    char *slash = strchr(buf, '/');
    if (!slash)
        return mc_err_set(err, MC_EINVAL, "root secret %s: not ns/name", key);
    *slash = '\0';
    json_t *obj = NULL;
    int rc_get =
        mc_kube_get(rc->client, mc_kube_resource_of(MC_API_SECRETS), buf, slash + 1, &obj, err);
    if (rc_get != MC_OK)
        return mc_err_prefix(err, "root secret %s", key);
    char what[KEY_MAX + 16];
    snprintf(what, sizeof(what), "secret %s", key);
    int result = mc_root_secret_cert(obj, what, cert, fingerprint, err);
    if (result == MC_OK && (result = check_root_key(rc, obj, *cert, what, err)) != MC_OK) {
        mc_log_warn(LOG, "%s", err->msg);
        mc_pki_cert_free(*cert);
        *cert = NULL;
    }
    json_decref(obj);
    return result;
}

/* The root (bit) whose key signed cert, 0 for none. */
static unsigned signed_by(const mc_pki_cert *cert, const mc_pki_cert *old_root,
                          const mc_pki_cert *new_root)
{
    if (old_root && mc_pki_cert_signed_by(cert, old_root))
        return MC_ROTATION_ROOT_OLD;
    if (new_root && mc_pki_cert_signed_by(cert, new_root))
        return MC_ROTATION_ROOT_NEW;
    return 0;
}

/* The roots of a signingRootCa bundle as bits. */
static unsigned bundle_bits(const unsigned char *pem, size_t len, const char *old_fp,
                            const char *new_fp)
{
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    mc_err err = {0};
    if (!pem || mc_pki_cert_list_from_pem((const char *)pem, len, "signingRootCa", &certs, &count,
                                          &err) != MC_OK)
        return 0;
    unsigned bits = 0;
    for (size_t i = 0; i < count; i++) {
        char fp[MC_PKI_FINGERPRINT_SIZE];
        if (mc_pki_cert_fingerprint(certs[i], fp, &err) != MC_OK)
            bits |= MC_ROTATION_ROOT_OTHER;
        else if (old_fp && strcmp(fp, old_fp) == 0)
            bits |= MC_ROTATION_ROOT_OLD;
        else if (new_fp && strcmp(fp, new_fp) == 0)
            bits |= MC_ROTATION_ROOT_NEW;
        else
            bits |= MC_ROTATION_ROOT_OTHER;
    }
    mc_pki_cert_list_free(certs, count);
    return bits;
}

/* What one cluster shows: its IssuedCertificates of root_key. */
typedef struct cluster_view {
    mc_api_issued_certificate **ics; /* owned */
    mc_rotation_ic *observed;        /* owned; strings borrowed from ics */
    size_t len;
} cluster_view;

static void cluster_view_clear(cluster_view *view)
{
    for (size_t i = 0; i < view->len; i++)
        mc_api_issued_certificate_free(view->ics[i]);
    free(view->ics);
    free(view->observed);
    memset(view, 0, sizeof(*view));
}

/* Fills one IssuedCertificate's observation from it and its request. */
static void observe_ic(const issuer_cluster *cluster, const mc_api_issued_certificate *ic,
                       const char *old_fp, const char *new_fp, mc_pki_cert *old_root,
                       mc_pki_cert *new_root, mc_rotation_ic *out)
{
    memset(out, 0, sizeof(*out));
    out->namespace = ic->metadata.namespace;
    out->name = ic->metadata.name;
    out->rotate_annotation = mc_api_issued_certificate_rotate_token(ic);
    out->status_rotation = ic->status.rotation;
    out->state = ic->status.state;
    out->current = ic->status.observed_generation == ic->metadata.generation;
    json_t *obj = mc_informer_get(mc_issuer_cluster_requests(cluster), ic->metadata.namespace,
                                  ic->metadata.name);
    mc_api_certificate_request *request = NULL;
    mc_err err = {0};
    if (obj && mc_api_certificate_request_decode(obj, &request, &err) == MC_OK) {
        out->request_finished = request->status.state == MC_CR_STATE_FINISHED &&
                                request->status.observed_generation == request->metadata.generation;
        out->request_bundle = bundle_bits(request->status.signing_root_ca,
                                          request->status.signing_root_ca_len, old_fp, new_fp);
        mc_pki_cert *cert = NULL;
        if (request->status.signed_certificate &&
            mc_pki_cert_from_pem((const char *)request->status.signed_certificate,
                                 request->status.signed_certificate_len, "signedCertificate", &cert,
                                 &err) == MC_OK)
            out->request_signer = signed_by(cert, old_root, new_root);
        mc_pki_cert_free(cert);
    }
    mc_api_certificate_request_free(request);
    json_decref(obj);
}

/* The IssuedCertificates of one cluster whose signingCertificateSecret is
 * root_key, observed. MC_ENOMEM. */
static int observe_cluster(mc_rotation_controller *rc, const issuer_cluster *cluster,
                           const char *root_key, const char *old_fp, const char *new_fp,
                           mc_pki_cert *old_root, mc_pki_cert *new_root, cluster_view *view)
{
    json_t **items = NULL;
    size_t count = mc_informer_list(mc_issuer_cluster_issued(cluster), NULL, &items);
    int result = MC_OK;
    view->ics = count ? calloc(count, sizeof(*view->ics)) : NULL;
    view->observed = count ? calloc(count, sizeof(*view->observed)) : NULL;
    if (count && (!view->ics || !view->observed))
        result = MC_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        mc_api_issued_certificate *ic = NULL;
        mc_err err = {0};
        char key[KEY_MAX];
        if (result == MC_OK && mc_api_issued_certificate_decode(items[i], &ic, &err) == MC_OK) {
            secret_key(&ic->spec.signing_certificate_secret, mc_issuer_namespace(rc->issuer), key,
                       sizeof(key));
            if (strcmp(key, root_key) == 0 && !ic->metadata.deletion_timestamp) {
                view->ics[view->len] = ic;
                observe_ic(cluster, ic, old_fp, new_fp, old_root, new_root,
                           &view->observed[view->len]);
                view->len++;
                ic = NULL;
            }
        }
        mc_api_issued_certificate_free(ic);
        json_decref(items[i]);
    }
    free(items);
    return result;
}

/* Says whether rr (whose root Secret is key, in phase) is the one sought,
 * filling ctx when it is. */
typedef int (*rotation_match)(mc_rotation_controller *rc, const mc_api_root_rotation *rr,
                              const char *key, mc_rr_phase phase, void *ctx);

/* Offers each cached RootRotation of the root Secret root_key, decoded, to
 * match until it says yes; 1 then, else 0. Undecodable ones are skipped. */
static int find_rotation(mc_rotation_controller *rc, const char *root_key, rotation_match match,
                         void *ctx)
{
    json_t **items = NULL;
    size_t count = mc_informer_list(rc->rotations, rc->namespace, &items);
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        mc_api_root_rotation *rr = NULL;
        mc_err err = {0};
        char key[KEY_MAX];
        if (!found && mc_api_root_rotation_decode(items[i], &rr, &err) == MC_OK) {
            secret_key(&rr->spec.root_secret, rc->namespace, key, sizeof(key));
            found = strcmp(key, root_key) == 0 &&
                    match(rc, rr, key, mc_api_rr_phase_parse(rr->status.phase), ctx);
        }
        mc_api_root_rotation_free(rr);
        json_decref(items[i]);
    }
    free(items);
    return found;
}

/* other_active's search: the rotation it is asked about, and the name found. */
typedef struct other_search {
    const mc_api_root_rotation *rr;
    char *out;
    size_t size;
} other_search;

static int goes_first(mc_rotation_controller *rc, const mc_api_root_rotation *other,
                      const char *key, mc_rr_phase phase, void *ctx)
{
    (void)rc;
    (void)key;
    other_search *search = ctx;
    const mc_api_root_rotation *rr = search->rr;
    if (!other->metadata.name || strcmp(other->metadata.name, rr->metadata.name) == 0)
        return 0;
    unsigned s, b;
    const char *mine = rr->metadata.creation_timestamp ? rr->metadata.creation_timestamp : "";
    const char *theirs =
        other->metadata.creation_timestamp ? other->metadata.creation_timestamp : "";
    int older = strcmp(theirs, mine) < 0 ||
                (strcmp(theirs, mine) == 0 && strcmp(other->metadata.name, rr->metadata.name) < 0);
    if (!mc_rotation_phase_plan(phase, &s, &b) &&
        !(phase == MC_RR_PHASE_NONE && !other->spec.abort && older))
        return 0;
    mc_strlcpy(search->out, other->metadata.name, search->size);
    return 1;
}

/* The name of another rotation of the same root that goes first: one in a
 * signing phase, or one not started yet but older (then by name). */
static int other_active(mc_rotation_controller *rc, const mc_api_root_rotation *rr,
                        const char *root_key, char *out, size_t size)
{
    other_search search = {rr, out, size};
    return find_rotation(rc, root_key, goes_first, &search);
}

/* ---- actions -------------------------------------------------------------- */

/* Writes rr's status (conditional on the resourceVersion it was read at). */
static int put_status(mc_rotation_controller *rc, mc_api_root_rotation *rr, mc_err *err)
{
    json_t *body = NULL;
    int result = mc_api_root_rotation_encode(rr, &body, err);
    if (result == MC_OK)
        result = mc_kube_update_status(rc->client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS),
                                       rr->metadata.namespace, body, NULL, err);
    json_decref(body);
    return result;
}

static int replace(char **field, const char *value)
{
    char *copy = value ? mc_strdup(value) : NULL;
    if (value && !copy)
        return MC_ENOMEM;
    free(*field);
    *field = copy;
    return MC_OK;
}

/* SET_PHASE, SET_NOTE, FAIL: the status with the action's condition (and
 * phase, stepStartedAt, fingerprints) and the clusters' progress. */
static int write_phase(mc_rotation_controller *rc, mc_api_root_rotation *rr,
                       const mc_rotation_observation *obs, const mc_rotation_action *action,
                       mc_err *err)
{
    int64_t now = obs->now;
    /* stepStartedAt in microseconds: the dwell counts from the instant */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[MC_TIME_RFC3339_MAX];
    mc_time_format_micro((int64_t)ts.tv_sec, (int32_t)ts.tv_nsec, when, sizeof(when));
    int result = MC_OK;
    if (action->type != MC_ROTATION_SET_NOTE)
        if (replace(&rr->status.phase, mc_api_rr_phase_name(action->phase)) != MC_OK ||
            replace(&rr->status.step_started_at, when) != MC_OK)
            result = MC_ENOMEM;
    if (result == MC_OK && action->record_fingerprints &&
        (replace(&rr->status.old_root_fingerprint, obs->root_fingerprint) != MC_OK ||
         replace(&rr->status.new_root_fingerprint, obs->new_root_fingerprint) != MC_OK))
        result = MC_ENOMEM;
    if (result == MC_OK)
        result = mc_api_conditions_set(&rr->status.conditions, action->condition_type,
                                       action->condition_status, action->reason, action->message,
                                       rr->metadata.generation, now);
    if (result != MC_OK)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    /* progress restarts with the phase: nobody is done with a new step */
    if (action->type == MC_ROTATION_SET_PHASE || action->type == MC_ROTATION_FAIL)
        mc_api_root_rotation_set_clusters(rr, NULL, 0);
    return put_status(rc, rr, err);
}

/* WAIT: status.clusters updated when the progress changed. */
static int write_progress(mc_rotation_controller *rc, mc_api_root_rotation *rr,
                          const mc_rotation_observation *obs, mc_err *err)
{
    size_t n = obs->clusters_len;
    mc_api_root_rotation_cluster *progress = n ? calloc(n, sizeof(*progress)) : NULL;
    char(*messages)[256] = n ? calloc(n, sizeof(*messages)) : NULL;
    if (n && (!progress || !messages)) {
        free(progress);
        free(messages);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    mc_rotation_progress(obs, progress, messages);
    int changed = n != rr->status.clusters_len;
    for (size_t i = 0; !changed && i < n; i++) {
        const mc_api_root_rotation_cluster *a = &progress[i], *b = &rr->status.clusters[i];
        changed = strcmp(a->name, b->name ? b->name : "") != 0 ||
                  strcmp(a->phase, b->phase ? b->phase : "") != 0 || a->done != b->done ||
                  strcmp(a->message ? a->message : "", b->message ? b->message : "") != 0;
    }
    int result = MC_OK;
    if (changed) {
        result = mc_api_root_rotation_set_clusters(rr, progress, n);
        if (result == MC_OK)
            result = put_status(rc, rr, err);
        else
            mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    free(progress);
    free(messages);
    return result;
}

/* SET_TOKEN: the step's token as the IssuedCertificate's rotate annotation. */
static int write_token(const issuer_cluster *cluster, const mc_rotation_ic *ic, const char *token,
                       mc_err *err)
{
    json_t *patch =
        mc_api_issued_certificate_rotate_patch(token);
    if (!patch)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    int result = mc_kube_patch(mc_issuer_cluster_client(cluster),
                               mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), ic->namespace,
                               ic->name, MC_KUBE_PATCH_MERGE, patch, 0, NULL, err);
    json_decref(patch);
    if (result == MC_ENOTFOUND) {
        mc_err_clear(err);
        return MC_OK; /* deleted meanwhile: no longer part of the step */
    }
    if (result != MC_OK)
        return mc_err_prefix(err, "issuedcertificate %s/%s on cluster %s", ic->namespace, ic->name,
                             mc_issuer_cluster_name(cluster));
    mc_log_info(LOG, "issuedcertificate %s/%s on cluster %s: rotate token %s", ic->namespace,
                ic->name, mc_issuer_cluster_name(cluster), token);
    return MC_OK;
}

/* SWAP_ROOT: rootSecret takes newRootSecret's certificate and key, in one
 * conditional write (a conflict retries the whole reconcile). */
static int swap_root(mc_rotation_controller *rc, const char *root_key, const char *new_key,
                     mc_err *err)
{
    char old_buf[KEY_MAX], new_buf[KEY_MAX];
    mc_strlcpy(old_buf, root_key, sizeof(old_buf));
    mc_strlcpy(new_buf, new_key, sizeof(new_buf));
    char *old_name = strchr(old_buf, '/'), *new_name = strchr(new_buf, '/');
    if (!old_name || !new_name)
        return mc_err_set(err, MC_EINVAL, "root secrets %s, %s: not ns/name", root_key, new_key);
    *old_name++ = '\0';
    *new_name++ = '\0';
    json_t *current = NULL, *next = NULL, *body = NULL;
    int result = mc_kube_get(rc->client, mc_kube_resource_of(MC_API_SECRETS), old_buf, old_name,
                             &current, err);
    if (result == MC_OK)
        result = mc_kube_get(rc->client, mc_kube_resource_of(MC_API_SECRETS), new_buf, new_name,
                             &next, err);
    if (result == MC_OK && !(body = mc_root_secret_with_content_of(current, next)))
        result =
            mc_err_set(err, MC_EINVAL, "secret %s lacks %s, or both %s and %s", new_key,
                       MC_ROOT_SECRET_CERT_KEY, MC_ROOT_SECRET_KEY_KEY, MC_ROOT_SECRET_KEY_REF_KEY);
    if (result == MC_OK)
        result = mc_kube_update(rc->client, mc_kube_resource_of(MC_API_SECRETS), old_buf, body,
                                NULL, err);
    if (result == MC_OK)
        mc_log_info(LOG, "root secret %s now holds the new root of secret %s", root_key, new_key);
    json_decref(body);
    json_decref(next);
    json_decref(current);
    return result;
}

/* ---- reconcile ------------------------------------------------------------ */

typedef struct reconcile_state {
    mc_api_root_rotation *rr;
    issuer_cluster **clusters;
    size_t clusters_len;
    cluster_view *views;
    mc_rotation_cluster *observed;
    mc_pki_cert *old_root, *new_root;
    char old_fp[MC_PKI_FINGERPRINT_SIZE], new_fp[MC_PKI_FINGERPRINT_SIZE];
    char root_error[MC_ERR_MSG_MAX];
    char other[256];
    char root_key[KEY_MAX], new_key[KEY_MAX];
    mc_rotation_observation obs;
} reconcile_state;

static void state_clear(reconcile_state *st)
{
    for (size_t i = 0; st->views && i < st->clusters_len; i++)
        cluster_view_clear(&st->views[i]);
    free(st->views);
    free(st->observed);
    mc_issuer_clusters_release(st->clusters, st->clusters_len);
    mc_pki_cert_free(st->old_root);
    mc_pki_cert_free(st->new_root);
    mc_api_root_rotation_free(st->rr);
}

/* Everything mc_rotation_decide needs. MC_ENOMEM. */
static int gather(mc_rotation_controller *rc, reconcile_state *st)
{
    mc_api_root_rotation *rr = st->rr;
    secret_key(&rr->spec.root_secret, rc->namespace, st->root_key, sizeof(st->root_key));
    secret_key(&rr->spec.new_root_secret, rc->namespace, st->new_key, sizeof(st->new_key));
    mc_err err = {0};
    int have_old = read_root(rc, st->root_key, &st->old_root, st->old_fp, &err) == MC_OK;
    if (!have_old)
        mc_strlcpy(st->root_error, err.msg, sizeof(st->root_error));
    mc_err_clear(&err);
    int have_new = read_root(rc, st->new_key, &st->new_root, st->new_fp, &err) == MC_OK;
    if (!have_new)
        mc_strlcpy(st->root_error, err.msg, sizeof(st->root_error));
    /* status fingerprints name R1 and R2; after the swap both Secrets hold R2 */
    const char *recorded_old = rr->status.old_root_fingerprint;
    const char *recorded_new = rr->status.new_root_fingerprint;
    mc_pki_cert *r1 = st->old_root, *r2 = st->new_root;
    if (recorded_new && have_old && strcmp(st->old_fp, recorded_new) == 0)
        r1 = NULL; /* R1 is gone from the root Secret: nothing verifies against it any more */
    st->clusters_len = mc_issuer_clusters_acquire(rc->issuer, &st->clusters);
    st->views = st->clusters_len ? calloc(st->clusters_len, sizeof(*st->views)) : NULL;
    st->observed = st->clusters_len ? calloc(st->clusters_len, sizeof(*st->observed)) : NULL;
    if (st->clusters_len && (!st->views || !st->observed))
        return MC_ENOMEM;
    for (size_t i = 0; i < st->clusters_len; i++) {
        if (observe_cluster(rc, st->clusters[i], st->root_key,
                            recorded_old ? recorded_old : (have_old ? st->old_fp : NULL),
                            recorded_new ? recorded_new : (have_new ? st->new_fp : NULL), r1, r2,
                            &st->views[i]) != MC_OK)
            return MC_ENOMEM;
        st->observed[i].name = mc_issuer_cluster_name(st->clusters[i]);
        st->observed[i].synced =
            mc_informer_has_synced(mc_issuer_cluster_issued(st->clusters[i])) &&
            mc_informer_has_synced(mc_issuer_cluster_requests(st->clusters[i]));
        st->observed[i].ics = st->views[i].observed;
        st->observed[i].ics_len = st->views[i].len;
    }
    st->obs.rotation = rr;
    st->obs.clusters = st->observed;
    st->obs.clusters_len = st->clusters_len;
    st->obs.root_fingerprint = have_old ? st->old_fp : NULL;
    st->obs.new_root_fingerprint = have_new ? st->new_fp : NULL;
    st->obs.root_error = st->root_error[0] ? st->root_error : NULL;
    st->obs.active_elsewhere =
        other_active(rc, rr, st->root_key, st->other, sizeof(st->other)) ? st->other : NULL;
    st->obs.now = (int64_t)time(NULL);
    return MC_OK;
}

/* Starts the informer once the management cluster serves RootRotations;
 * until then looks again every CRD_RETRY_MS, saying so once in the log (an
 * issuer without root rotation is a valid setup). */
static int check_crd(mc_rotation_controller *rc, mc_reconcile_result *result)
{
    if (atomic_load(&rc->watching))
        return 0;
    json_t *list = NULL;
    mc_err local = {0};
    mc_kube_list_options options = {0};
    options.limit = 1;
    int found = mc_kube_list(rc->client, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), rc->namespace,
                             &options, &list, &local);
    json_decref(list);
    atomic_store(&rc->crd_absent, found == MC_ENOTFOUND);
    if (found == MC_OK) {
        if (mc_informer_start(rc->rotations, &local) != MC_OK) {
            mc_log_error(LOG, "rootrotations: %s", local.msg);
            result->requeue_after_ms = CRD_RETRY_MS;
            return 0;
        }
        atomic_store(&rc->watching, 1);
        mc_log_info(LOG, "watching rootrotations in namespace %s", rc->namespace);
        return 0;
    }
    if (found == MC_ENOTFOUND && !rc->crd_missing_logged) {
        rc->crd_missing_logged = 1;
        mc_log_warn(LOG,
                    "the management cluster does not serve rootrotations.%s: root rotation is "
                    "off until deploy/crds/rootrotations.yaml is applied (looked for every %d s)",
                    MC_API_GROUP, CRD_RETRY_MS / 1000);
    } else if (found != MC_ENOTFOUND) {
        mc_log_warn(LOG, "rootrotations: %s (retrying)", local.msg);
    }
    result->requeue_after_ms = found == MC_ENOTFOUND ? CRD_RETRY_MS : 5000;
    return 0;
}

static int reconcile_rotation(void *ctx, const char *key, mc_reconcile_result *result, mc_err *err)
{
    mc_rotation_controller *rc = ctx;
    if (strcmp(key, CRD_KEY) == 0)
        return check_crd(rc, result);
    if (!mc_issuer_is_leading(rc->issuer))
        return 0; /* gaining leadership pokes every rotation */
    char buf[KEY_MAX];
    mc_strlcpy(buf, key, sizeof(buf));
    char *name = strchr(buf, '/');
    if (!name)
        return 0;
    *name++ = '\0';
    json_t *obj = mc_informer_get(rc->rotations, buf, name);
    if (!obj)
        return 0; /* deleted */
    reconcile_state st;
    memset(&st, 0, sizeof(st));
    mc_err local = {0};
    int decoded = mc_api_root_rotation_decode(obj, &st.rr, &local);
    json_decref(obj);
    if (decoded != MC_OK) {
        mc_log_warn(LOG, "%s", local.msg);
        return 0; /* looked at again when it changes */
    }
    int rcode = MC_OK;
    mc_rotation_action action;
    memset(&action, 0, sizeof(action));
    mc_rr_phase phase = mc_api_rr_phase_parse(st.rr->status.phase);
    if (mc_api_rr_phase_is_final(phase) || phase == MC_RR_PHASE_UNKNOWN)
        goto out;
    if (mc_api_root_rotation_validate(st.rr, &local) != MC_OK) {
        action.type = MC_ROTATION_FAIL;
        action.phase = MC_RR_PHASE_FAILED;
        action.condition_type = mc_api_rr_phase_name(MC_RR_PHASE_FAILED);
        action.condition_status = "False";
        action.reason = "InvalidSpec";
        mc_strlcpy(action.message, local.msg, sizeof(action.message));
        st.obs.now = (int64_t)time(NULL);
        rcode = write_phase(rc, st.rr, &st.obs, &action, err);
        goto out;
    }
    if (gather(rc, &st) != MC_OK) {
        rcode = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    for (int writes = 0;; writes++) {
        mc_rotation_decide(&st.obs, &action);
        if (action.type != MC_ROTATION_SET_TOKEN || writes >= MAX_TOKEN_WRITES)
            break;
        cluster_view *view = &st.views[action.cluster];
        mc_rotation_ic *ic = &view->observed[action.ic];
        rcode = write_token(st.clusters[action.cluster], ic, action.token, err);
        if (rcode != MC_OK)
            goto out;
        /* what the cache will show: the decision goes on from there */
        if (mc_api_str_map_set(&view->ics[action.ic]->metadata.annotations,
                               MC_API_IC_ROTATE_ANNOTATION, action.token) != MC_OK) {
            rcode = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
        ic->rotate_annotation = mc_api_issued_certificate_rotate_token(view->ics[action.ic]);
    }
    switch (action.type) {
    case MC_ROTATION_SET_PHASE:
    case MC_ROTATION_SET_NOTE:
    case MC_ROTATION_FAIL:
        rcode = write_phase(rc, st.rr, &st.obs, &action, err);
        if (rcode == MC_OK)
            mc_log_info(LOG, "rootrotation %s/%s: %s%s (%s)", buf, name,
                        action.type == MC_ROTATION_SET_NOTE ? "note " : "", action.condition_type,
                        action.message);
        break;
    case MC_ROTATION_SWAP_ROOT:
        rcode = swap_root(rc, st.root_key, st.new_key, err);
        if (rcode == MC_OK)
            result->requeue_after_ms = 1;
        break;
    case MC_ROTATION_WAIT: {
        rcode = write_progress(rc, st.rr, &st.obs, err);
        int64_t delay_ms = POLL_MS;
        if (action.requeue_at > 0) {
            int64_t until = (action.requeue_at - st.obs.now) * 1000;
            delay_ms = until < 1 ? 1 : until < POLL_MS ? until : POLL_MS;
        }
        result->requeue_after_ms = delay_ms;
        break;
    }
    default: break;
    }
out:
    if (rcode == MC_ECONFLICT) {
        mc_err_clear(err);
        rcode = MC_OK;                   /* a newer version is on its way to the cache */
        result->requeue_after_ms = 1000; /* a root Secret has no informer here */
    }
    if (rcode != MC_OK)
        mc_err_prefix(err, "rootrotation %s/%s", buf, name);
    state_clear(&st);
    return rcode;
}

/* ---- signing plan --------------------------------------------------------- */

/* mc_rotation_controller_plan's search: a rotation in a signing phase. */
static int signing(mc_rotation_controller *rc, const mc_api_root_rotation *rr, const char *key,
                   mc_rr_phase phase, void *ctx)
{
    mc_rotation_signing *plan = ctx;
    if (!mc_rotation_phase_plan(phase, &plan->signer, &plan->bundle))
        return 0;
    mc_strlcpy(plan->rotation, rr->metadata.name ? rr->metadata.name : "", sizeof(plan->rotation));
    mc_strlcpy(plan->old_secret, key, sizeof(plan->old_secret));
    secret_key(&rr->spec.new_root_secret, rc->namespace, plan->new_secret,
               sizeof(plan->new_secret));
    return 1;
}

int mc_rotation_controller_plan(mc_rotation_controller *rc, const char *root_key,
                                mc_rotation_signing *plan)
{
    return rc ? find_rotation(rc, root_key, signing, plan) : 0;
}

int mc_rotation_controller_ready(mc_rotation_controller *rc)
{
    if (!rc || atomic_load(&rc->crd_absent))
        return 1;
    return atomic_load(&rc->watching) && mc_informer_has_synced(rc->rotations);
}

/* ---- lifecycle ------------------------------------------------------------ */

void mc_rotation_controller_poke(mc_rotation_controller *rc)
{
    if (!rc || !atomic_load(&rc->started))
        return;
    json_t **items = NULL;
    size_t count = mc_informer_list(rc->rotations, rc->namespace, &items);
    for (size_t i = 0; i < count; i++) {
        const char *name =
            json_string_value(json_object_get(json_object_get(items[i], "metadata"), "name"));
        char key[KEY_MAX];
        if (name && (size_t)snprintf(key, sizeof(key), "%s/%s", rc->namespace, name) < sizeof(key))
            mc_workqueue_add(mc_controller_queue(rc->controller), key);
        json_decref(items[i]);
    }
    free(items);
}

int mc_rotation_controller_new(mc_issuer *issuer, mc_kube_client *management,
                               mc_informer_runner *informers, const char *namespace,
                               mc_rotation_controller **out, mc_err *err)
{
    *out = NULL;
    mc_rotation_controller *rc = calloc(1, sizeof(*rc));
    if (!rc || !(rc->namespace = mc_strdup(namespace))) {
        free(rc);
        return mc_err_set(err, MC_ENOMEM, "rotation controller: out of memory");
    }
    rc->issuer = issuer;
    rc->client = management;
    int result =
        mc_controller_new("issuer-rotations", 1, reconcile_rotation, rc, &rc->controller, err);
    if (result == MC_OK) {
        mc_informer_handlers handlers;
        mc_controller_watch(rc->controller, &handlers, NULL);
        mc_informer_options options = {rc->namespace, NULL, NULL, 0};
        result = mc_informer_new(management, informers, mc_kube_resource_of(MC_API_ROOT_ROTATIONS), &options, &handlers,
                                 &rc->rotations, err);
    }
    if (result != MC_OK) {
        mc_rotation_controller_free(rc);
        return result;
    }
    *out = rc;
    return MC_OK;
}

int mc_rotation_controller_start(mc_rotation_controller *rc, mc_err *err)
{
    int result = mc_controller_start(rc->controller, err);
    if (result == MC_OK) {
        atomic_store(&rc->started, 1);
        mc_workqueue_add(mc_controller_queue(rc->controller), CRD_KEY);
    }
    return result;
}

void mc_rotation_controller_stop(mc_rotation_controller *rc)
{
    if (!rc)
        return;
    atomic_store(&rc->started, 0);
    /* the worker first: it may be starting the informer */
    mc_controller_stop(rc->controller);
    if (rc->rotations && atomic_load(&rc->watching))
        mc_informer_stop(rc->rotations);
}

void mc_rotation_controller_free(mc_rotation_controller *rc)
{
    if (!rc)
        return;
    mc_rotation_controller_stop(rc);
    mc_informer_free(rc->rotations);
    mc_controller_free(rc->controller);
    free(rc->namespace);
    free(rc);
}
