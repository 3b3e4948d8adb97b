/* rotation.c - the pure decision for one RootRotation (see rotation.h).
 *
 * Order of checks: final phases do nothing; a second rotation of the same
 * root fails; roots that changed under the rotation fail it; an abort moves
 * to the rollback phases; then the step: tokens first (one IssuedCertificate
 * per action, so a crash between writes resumes with the next one), then
 * waiting for every cluster, then the dwell time, then the next phase.
 */
#include "issuer/rotation.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "api/time.h"
#include "util/str.h"

int mc_rotation_phase_plan(mc_rr_phase phase, unsigned *signer, unsigned *bundle)
{
    const unsigned old = MC_ROTATION_ROOT_OLD, new = MC_ROTATION_ROOT_NEW;
    switch (phase) {
    case MC_RR_PHASE_ADDING_NEW_ROOT:
    case MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE:
        *signer = old;
        *bundle = old | new;
        return 1;
    case MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE:
        *signer = new;
        *bundle = old | new;
        return 1;
    case MC_RR_PHASE_DELETING_OLD_ROOT:
        *signer = new;
        *bundle = new;
        return 1;
    case MC_RR_PHASE_ROLLING_BACK:
        *signer = old;
        *bundle = old;
        return 1;
    default:
        *signer = old;
        *bundle = old;
        return 0;
    }
}

void mc_rotation_token(const mc_api_root_rotation *rotation, mc_rr_phase phase, char *out,
                       size_t out_size)
{
    const char *uid = rotation->metadata.uid ? rotation->metadata.uid : "";
    snprintf(out, out_size, "%s/%s/%.8s", rotation->metadata.name ? rotation->metadata.name : "",
             mc_api_rr_phase_name(phase), uid);
}

static const char *bundle_words(unsigned bundle)
{
    switch (bundle) {
    case MC_ROTATION_ROOT_OLD: return "the old root";
    case MC_ROTATION_ROOT_NEW: return "the new root";
    case MC_ROTATION_ROOT_OLD | MC_ROTATION_ROOT_NEW: return "both roots";
    default: return "other roots";
    }
}

/* The condition message of a phase being entered. */
static void describe_phase(mc_rr_phase phase, char *out, size_t size)
{
    unsigned signer, bundle;
    switch (phase) {
    case MC_RR_PHASE_COMPLETE:
        snprintf(out, size, "the root secret holds the new root; the old root is retired");
        return;
    case MC_RR_PHASE_ABORTED:
        snprintf(out, size,
                 "rolled back: intermediates signed by the old root, bundles hold it "
                 "alone");
        return;
    default: break;
    }
    mc_rotation_phase_plan(phase, &signer, &bundle);
    snprintf(out, size, "intermediates signed by %s; trust bundles hold %s",
             signer == MC_ROTATION_ROOT_NEW ? "the new root" : "the old root",
             bundle_words(bundle));
}

static void set_phase(mc_rotation_action *action, mc_rr_phase phase, const char *reason)
{
    action->type = MC_ROTATION_SET_PHASE;
    action->phase = phase;
    action->condition_type = mc_api_rr_phase_name(phase);
    action->condition_status = "True";
    action->reason = reason;
    describe_phase(phase, action->message, sizeof(action->message));
}

static void fail(mc_rotation_action *action, const char *reason, const char *message)
{
    action->type = MC_ROTATION_FAIL;
    action->phase = MC_RR_PHASE_FAILED;
    action->condition_type = mc_api_rr_phase_name(MC_RR_PHASE_FAILED);
    action->condition_status = "False";
    action->reason = reason;
    mc_strlcpy(action->message, message, sizeof(action->message));
}

static int same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Why one IssuedCertificate has not finished the step (into why), or 0 when
 * it has. */
static int ic_pending(const mc_rotation_ic *ic, const char *token, unsigned signer, unsigned bundle,
                      char *why, size_t size)
{
    const char *ns = ic->namespace ? ic->namespace : "", *name = ic->name ? ic->name : "";
    if (!same(ic->rotate_annotation, token))
        snprintf(why, size, "%s/%s: the step's token is not set yet", ns, name);
    else if (ic->state == MC_IC_STATE_FAILED)
        snprintf(why, size, "%s/%s: FAILED (see its status.error)", ns, name);
    else if (!same(ic->status_rotation, token) || ic->state != MC_IC_STATE_FINISHED || !ic->current)
        snprintf(why, size, "%s/%s: waiting for the agent (state %s)", ns, name,
                 mc_api_ic_state_name(ic->state));
    else if (!ic->request_finished)
        snprintf(why, size, "%s/%s: its certificaterequest is not FINISHED", ns, name);
    else if (ic->request_bundle != bundle || ic->request_signer != signer)
        snprintf(why, size,
                 "%s/%s: answered with a bundle of %s, signed by %s; the step needs %s signed by "
                 "%s",
                 ns, name, bundle_words(ic->request_bundle),
                 ic->request_signer ? bundle_words(ic->request_signer) : "no known root",
                 bundle_words(bundle), bundle_words(signer));
    else
        return 0;
    return 1;
}

void mc_rotation_progress(const mc_rotation_observation *obs, mc_api_root_rotation_cluster *out,
                          char (*messages)[256])
{
    mc_rr_phase phase = mc_api_rr_phase_parse(obs->rotation->status.phase);
    unsigned signer, bundle;
    mc_rotation_phase_plan(phase, &signer, &bundle);
    char token[320];
    mc_rotation_token(obs->rotation, phase, token, sizeof(token));
    for (size_t c = 0; c < obs->clusters_len; c++) {
        const mc_rotation_cluster *cluster = &obs->clusters[c];
        out[c].name = (char *)cluster->name;
        out[c].phase = (char *)mc_api_rr_phase_name(phase);
        out[c].done = true;
        out[c].message = NULL;
        messages[c][0] = '\0';
        for (size_t i = 0; i < cluster->ics_len; i++)
            if (ic_pending(&cluster->ics[i], token, signer, bundle, messages[c], 256)) {
                out[c].done = false;
                out[c].message = messages[c];
                break;
            }
    }
}

/* The roots as read now against those recorded when the rotation began.
 * 0 when consistent; otherwise FAIL (or WAIT when a root is unreadable). */
static int check_roots(const mc_rotation_observation *obs, mc_rr_phase phase,
                       mc_rotation_action *action)
{
    const mc_api_root_rotation_status *st = &obs->rotation->status;
    char msg[sizeof(action->message)];
    if (!obs->root_fingerprint || !obs->new_root_fingerprint) {
        action->type = MC_ROTATION_WAIT;
        action->requeue_at = obs->now + 10;
        snprintf(action->message, sizeof(action->message), "a root secret is unreadable: %s",
                 obs->root_error ? obs->root_error : "unknown reason");
        return -1;
    }
    if (phase == MC_RR_PHASE_NONE) {
        if (same(obs->root_fingerprint, obs->new_root_fingerprint)) {
            fail(action, "SameRoot", "spec.newRootSecret holds the same root as spec.rootSecret");
            return -1;
        }
        return 0;
    }
    /* After the swap (DELETING_OLD_ROOT only) the root Secret holds R2. */
    int old_ok = same(obs->root_fingerprint, st->old_root_fingerprint) ||
                 (phase == MC_RR_PHASE_DELETING_OLD_ROOT &&
                  same(obs->root_fingerprint, st->new_root_fingerprint));
    if (!old_ok || !same(obs->new_root_fingerprint, st->new_root_fingerprint)) {
        snprintf(msg, sizeof(msg),
                 "the %s changed during the rotation (now %.16s..., recorded %.16s...); nothing "
                 "more is signed by this rotation",
                 !old_ok ? "root in spec.rootSecret" : "root in spec.newRootSecret",
                 !old_ok ? obs->root_fingerprint : obs->new_root_fingerprint,
                 !old_ok ? (st->old_root_fingerprint ? st->old_root_fingerprint : "")
                         : (st->new_root_fingerprint ? st->new_root_fingerprint : ""));
        fail(action, "RootChanged", msg);
        return -1;
    }
    return 0;
}

/* spec.abort: the rollback phase to enter, or a note that it is too late
 * (once), or 0 to go on. */
static int handle_abort(const mc_rotation_observation *obs, mc_rr_phase phase,
                        mc_rotation_action *action)
{
    const mc_api_root_rotation *rr = obs->rotation;
    if (!rr->spec.abort)
        return 0;
    switch (phase) {
    case MC_RR_PHASE_ADDING_NEW_ROOT:
        set_phase(action, MC_RR_PHASE_ROLLING_BACK, "AbortRequested");
        return 1;
    case MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE:
        set_phase(action, MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE, "AbortRequested");
        return 1;
    case MC_RR_PHASE_DELETING_OLD_ROOT:
        if (mc_api_conditions_get(&rr->status.conditions, "AbortRefused"))
            return 0;
        action->type = MC_ROTATION_SET_NOTE;
        action->condition_type = "AbortRefused";
        action->condition_status = "True";
        action->reason = "TooLate";
        snprintf(action->message, sizeof(action->message),
                 "spec.abort ignored: in DELETING_OLD_ROOT the bundles no longer hold the old "
                 "root, so rolling back would break trust; the rotation completes");
        return 1;
    default: return 0; /* rolling back already */
    }
}

static mc_rr_phase next_phase(mc_rr_phase phase)
{
    switch (phase) {
    case MC_RR_PHASE_ADDING_NEW_ROOT: return MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE;
    case MC_RR_PHASE_PROPAGATING_NEW_INTERMEDIATE: return MC_RR_PHASE_DELETING_OLD_ROOT;
    case MC_RR_PHASE_DELETING_OLD_ROOT: return MC_RR_PHASE_COMPLETE;
    case MC_RR_PHASE_ROLLING_BACK_INTERMEDIATE: return MC_RR_PHASE_ROLLING_BACK;
    default: return MC_RR_PHASE_ABORTED;
    }
}

/* The step's tokens and completion across clusters: SET_TOKEN for the first
 * IssuedCertificate without it, WAIT naming the first one pending, or 0
 * when every cluster is done. */
static int check_step(const mc_rotation_observation *obs, mc_rr_phase phase,
                      mc_rotation_action *action)
{
    unsigned signer, bundle;
    mc_rotation_phase_plan(phase, &signer, &bundle);
    char token[sizeof(action->token)];
    mc_rotation_token(obs->rotation, phase, token, sizeof(token));
    for (size_t c = 0; c < obs->clusters_len; c++)
        for (size_t i = 0; i < obs->clusters[c].ics_len; i++)
            if (!same(obs->clusters[c].ics[i].rotate_annotation, token)) {
                action->type = MC_ROTATION_SET_TOKEN;
                action->cluster = c;
                action->ic = i;
                mc_strlcpy(action->token, token, sizeof(action->token));
                return 1;
            }
    for (size_t c = 0; c < obs->clusters_len; c++)
        for (size_t i = 0; i < obs->clusters[c].ics_len; i++) {
            char why[256];
            if (ic_pending(&obs->clusters[c].ics[i], token, signer, bundle, why, sizeof(why))) {
                action->type = MC_ROTATION_WAIT;
                action->requeue_at = 0;
                snprintf(action->message, sizeof(action->message), "cluster %s: %s",
                         obs->clusters[c].name ? obs->clusters[c].name : "?", why);
                return 1;
            }
        }
    return 0;
}

void mc_rotation_decide(const mc_rotation_observation *obs, mc_rotation_action *action)
{
    assert(obs && obs->rotation && action);
    memset(action, 0, sizeof(*action));
    const mc_api_root_rotation *rr = obs->rotation;
    mc_rr_phase phase = mc_api_rr_phase_parse(rr->status.phase);
    if (phase == MC_RR_PHASE_UNKNOWN || mc_api_rr_phase_is_final(phase))
        return; /* NOTHING */
    if (phase == MC_RR_PHASE_NONE && obs->active_elsewhere) {
        char msg[sizeof(action->message)];
        snprintf(msg, sizeof(msg),
                 "rootrotation %s is already rotating this root; one rotation at a time",
                 obs->active_elsewhere);
        fail(action, "AnotherRotationActive", msg);
        return;
    }
    if (check_roots(obs, phase, action) != 0)
        return;
    if (phase == MC_RR_PHASE_NONE) {
        if (rr->spec.abort)
            set_phase(action, MC_RR_PHASE_ABORTED, "AbortRequested");
        else
            set_phase(action, MC_RR_PHASE_ADDING_NEW_ROOT, "StepStarted");
        action->record_fingerprints = 1;
        return;
    }
    if (handle_abort(obs, phase, action) || check_step(obs, phase, action))
        return;
    int64_t dwell = 0, started = 0;
    int32_t nanos = 0;
    mc_err err = {0};
    if (mc_api_root_rotation_dwell(rr, &dwell, &err) != MC_OK) {
        fail(action, "InvalidSpec", err.msg);
        return;
    }
    /* stepStartedAt is written with the phase; by hand-edited objects
     * without it, the phase's condition tells when it began */
    const mc_api_condition *entered =
        mc_api_conditions_get(&rr->status.conditions, mc_api_rr_phase_name(phase));
    const char *since = rr->status.step_started_at
                            ? rr->status.step_started_at
                            : (entered ? entered->last_transition_time : NULL);
    if (!since || mc_time_parse(since, &started, &nanos, NULL) != MC_OK)
        started = 0;
    /* now is whole seconds (rounded down): a start within a second counts
     * from the next one, so that no step is shorter than its dwell */
    if (nanos > 0)
        started++;
    if (obs->now < started + dwell) {
        action->type = MC_ROTATION_WAIT;
        action->requeue_at = started + dwell;
        snprintf(action->message, sizeof(action->message),
                 "every cluster finished %s; the step lasts at least %s (until %lld)",
                 mc_api_rr_phase_name(phase), rr->spec.step_dwell ? rr->spec.step_dwell : "24h",
                 (long long)(started + dwell));
        return;
    }
    if (phase == MC_RR_PHASE_DELETING_OLD_ROOT &&
        !same(obs->root_fingerprint, rr->status.new_root_fingerprint)) {
        action->type = MC_ROTATION_SWAP_ROOT;
        snprintf(action->message, sizeof(action->message),
                 "every cluster trusts the new root alone: the root secret takes the new root");
        return;
    }
    mc_rr_phase next = next_phase(phase);
    set_phase(action, next,
              next == MC_RR_PHASE_COMPLETE  ? "Completed"
              : next == MC_RR_PHASE_ABORTED ? "RolledBack"
                                            : "StepStarted");
}
