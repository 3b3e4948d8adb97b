/* agent_decide_test.c - mc_agent_decide for every state x observation, and
 * the builders of the objects the agent writes.
 *
 * Fixtures are real: an EC P-256 root and signer made once, key Secrets,
 * CertificateRequests and output Secrets made by the agent's own builders
 * and decoded back through api/, certificates signed by pki/. The clock is
 * fixed (NOW); nothing here touches a server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/decide.h"
#include "api/time.h"
#include "pki/bundle.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/root.h"
#include "pki/verify.h"
#include "util/str.h"

#define NOW    ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define NS     "istio-system"
#define NAME   "mesh-1"
#define IC_UID "ic-uid-1"

typedef struct root_ca {
    mc_pki_key *key;
    mc_pki_cert *cert;
    mc_pki_signer *signer;
    char *pem;
} root_ca;

static root_ca g_root, g_other_root;
/* The second run of every test decides through one shared cache (cache.h):
 * the decisions must be the same as without it. */
static mc_agent_cache *g_cache;

static void root_make(root_ca *r, const char *cn)
{
    mc_err err = {0};
    mc_pki_root_params params = {.org = "meshcert",
                                 .common_name = cn,
                                 .ttl_seconds = 10LL * 365 * 86400,
                                 .now = NOW - 86400};
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &r->key, &err), 0);
    assert_int_equal(mc_pki_root_create(r->key, &params, &r->cert, &err), 0);
    assert_int_equal(mc_pki_signer_new(r->cert, r->key, &r->signer, &err), 0);
    assert_int_equal(mc_pki_cert_to_pem(r->cert, &r->pem, NULL, &err), 0);
}

static void root_free(root_ca *r)
{
    mc_pki_signer_free(r->signer);
    mc_pki_cert_free(r->cert);
    mc_pki_key_free(r->key);
    free(r->pem);
}

static int group_setup(void **state)
{
    (void)state;
    root_make(&g_root, "root");
    root_make(&g_other_root, "other root");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    root_free(&g_root);
    root_free(&g_other_root);
    return 0;
}

/* Everything one decision sees; owned here, borrowed by obs. */
typedef struct world {
    mc_api_issued_certificate *ic;
    mc_api_secret *key_secret;
    mc_api_certificate_request *request;
    mc_api_secret *output;
    mc_api_pod_bounce_directive *directive;
    mc_agent_pod pods[8];
    size_t pod_count;
    mc_agent_observation obs;
    mc_agent_action action;
    mc_agent_cache *cache; /* what the decisions use (g_cache unless a test sets one) */
} world;

static void set_hosts(mc_api_issued_certificate *ic, const char *const *hosts, size_t n)
{
    for (size_t i = 0; i < ic->spec.hosts_len; i++)
        free(ic->spec.hosts[i]);
    free(ic->spec.hosts);
    ic->spec.hosts = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        ic->spec.hosts[i] = mc_strdup(hosts[i]);
    ic->spec.hosts_len = n;
}

static const char *const k_hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/istiod",
                                      "istiod.istio-system.svc"};

static void world_init(world *w, mc_ic_state state)
{
    memset(w, 0, sizeof(*w));
    w->ic = mc_api_issued_certificate_new(NS, NAME);
    assert_non_null(w->ic);
    w->ic->metadata.uid = mc_strdup(IC_UID);
    w->ic->metadata.generation = 1;
    w->ic->status.observed_generation = 1;
    w->ic->status.state = state;
    w->ic->spec.org = mc_strdup("Istio");
    set_hosts(w->ic, k_hosts, 2);
    mc_api_object_ref_set(&w->ic->spec.signing_certificate_secret, "meshcert", "root-ca");
    mc_api_object_ref_set(&w->ic->spec.issued_certificate_secret, NS, "cacerts");
    w->obs.agent_namespace = "meshcert";
    w->obs.output_format = MC_BUNDLE_ISTIO;
    w->obs.now = NOW;
    w->cache = g_cache;
}

static void world_free(world *w)
{
    mc_api_issued_certificate_free(w->ic);
    mc_api_secret_free(w->key_secret);
    mc_api_certificate_request_free(w->request);
    mc_api_secret_free(w->output);
    mc_api_pod_bounce_directive_free(w->directive);
}

static void world_sync(world *w)
{
    w->obs.ic = w->ic;
    w->obs.key_secret = w->key_secret;
    w->obs.request = w->request;
    w->obs.output = w->output;
    w->obs.directive = w->directive;
    w->obs.pods = w->pods;
    w->obs.pod_count = w->pod_count;
    w->obs.cache = w->cache;
}

/* Decides as the agent would on a status it wrote itself (so with its Ready
 * condition; test_ready_condition_follows_state covers one without). */
static const mc_agent_action *decide(world *w)
{
    world_sync(w);
    assert_int_equal(mc_api_issued_certificate_set_ready(w->ic, NOW - 60), MC_OK);
    mc_agent_decide(&w->obs, &w->action);
    assert_null(strstr(w->action.error, "PRIVATE KEY"));
    return &w->action;
}

static void add_key(world *w)
{
    mc_err err = {0};
    json_t *json = NULL;
    world_sync(w);
    mc_api_secret_free(w->key_secret);
    w->key_secret = NULL;
    assert_int_equal(mc_agent_build_key_secret(&w->obs, MC_KEY_EC_P256, &json, &err), 0);
    assert_int_equal(mc_api_secret_decode(json, &w->key_secret, &err), 0);
    json_decref(json);
}

static void add_request(world *w)
{
    mc_err err = {0};
    json_t *json = NULL;
    world_sync(w);
    mc_api_certificate_request_free(w->request);
    w->request = NULL;
    assert_int_equal(mc_agent_build_request(&w->obs, &json, &err), 0);
    assert_int_equal(mc_api_certificate_request_decode(json, &w->request, &err), 0);
    json_decref(json);
    w->request->metadata.generation = 1;
}

/* Signs the request's CSR with root for hosts (the IC's when NULL). */
static void finish_request_with(world *w, const root_ca *root, const char *const *hosts,
                                size_t host_count, int64_t ttl, time_t at)
{
    mc_err err = {0};
    mc_pki_csr *csr = NULL;
    mc_pki_cert *cert = NULL;
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(mc_pki_csr_parse(w->request->spec.certificate_signing_request,
                                      w->request->spec.certificate_signing_request_len, "csr", &csr,
                                      &err),
                     0);
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = w->ic->spec.org;
    params.hosts = hosts ? hosts : (const char *const *)w->ic->spec.hosts;
    params.host_count = hosts ? host_count : w->ic->spec.hosts_len;
    params.ttl_seconds = ttl;
    params.now = at;
    assert_int_equal(mc_pki_signer_issue(root->signer, csr, &params, &cert, &err), 0);
    assert_int_equal(mc_pki_cert_to_pem(cert, &pem, &len, &err), 0);
    assert_int_equal(
        mc_api_certificate_request_set_signed(w->request, pem, len, root->pem, strlen(root->pem)),
        0);
    w->request->status.state = MC_CR_STATE_FINISHED;
    w->request->status.observed_generation = w->request->metadata.generation;
    free(pem);
    mc_pki_cert_free(cert);
    mc_pki_csr_free(csr);
}

static void finish_request(world *w)
{
    finish_request_with(w, &g_root, NULL, 0, 0, NOW);
}

static void fail_request(world *w, const char *error)
{
    w->request->status.state = MC_CR_STATE_FAILED;
    w->request->status.observed_generation = w->request->metadata.generation;
    w->request->status.error = mc_strdup(error);
}

static void issuance_of(world *w, char *out, size_t n)
{
    mc_err err = {0};
    assert_int_equal(mc_agent_issuance_id((const char *)w->request->status.signed_certificate,
                                          w->ic->metadata.generation, out, n, &err),
                     0);
}

static void add_output_at(world *w, time_t at)
{
    mc_err err = {0};
    json_t *json = NULL;
    char issuance[128];
    issuance_of(w, issuance, sizeof(issuance));
    world_sync(w);
    w->obs.now = at;
    mc_api_secret_free(w->output);
    w->output = NULL;
    assert_int_equal(mc_agent_build_output(&w->obs, issuance, &json, &err), 0);
    w->obs.now = NOW;
    assert_int_equal(mc_api_secret_decode(json, &w->output, &err), 0);
    json_decref(json);
}

static void add_output(world *w)
{
    add_output_at(w, NOW);
}

/* A complete issuance: key, FINISHED request, output written. */
/* Applies a SET_STATUS as the agent writes it. */
static void apply_status(world *w, const mc_agent_action *a)
{
    assert_int_equal(a->type, MC_AGENT_SET_STATUS);
    assert_int_equal(mc_agent_apply_status(w->ic, a, NOW), MC_OK);
}

/* A world in state with a key and its request, signed by the issuer. */
static void world_signed(world *w, mc_ic_state state)
{
    world_init(w, state);
    add_key(w);
    add_request(w);
    finish_request(w);
}

/* As the agent's DELETE_REQUEST and DELETE_KEY leave the world. */
static void drop_request(world *w)
{
    mc_api_certificate_request_free(w->request);
    w->request = NULL;
}

static void drop_key(world *w)
{
    mc_api_secret_free(w->key_secret);
    w->key_secret = NULL;
}

static void world_issued(world *w, mc_ic_state state)
{
    world_signed(w, state);
    add_output(w);
    /* FINISHED as the agent left it: with the output's lifetime in the status */
    if (state == MC_IC_STATE_FINISHED) {
        const mc_agent_action *a = decide(w);
        assert_int_equal(a->state, MC_IC_STATE_FINISHED);
        apply_status(w, a);
    }
}

/* Writes token into the rotate annotation, as `meshcert rotate` does. */
static void request_rotation(world *w, const char *token)
{
    mc_api_str_map_set(&w->ic->metadata.annotations, MC_API_IC_ROTATE_ANNOTATION, token);
}

/* Sets spec.keyType (a name of pki/key.h, or any text). */
static void set_key_type(world *w, const char *name)
{
    free(w->ic->spec.key_type);
    w->ic->spec.key_type = mc_strdup(name);
}

/* The seconds of an RFC 3339 status time, which must parse. */
static int64_t time_of(const char *text)
{
    int64_t seconds = 0;
    assert_non_null(text);
    assert_int_equal(mc_time_parse(text, &seconds, NULL, NULL), 0);
    return seconds;
}

static void add_directive(world *w)
{
    w->directive = mc_api_pod_bounce_directive_new(NS, NAME);
    mc_api_object_ref_set(&w->ic->spec.pod_bounce_directive, NS, NAME);
    w->obs.directive_referenced = 1;
}

static void add_pod(world *w, const char *name, const char *uid, int64_t created, int deleting)
{
    assert_true(w->pod_count < sizeof(w->pods) / sizeof(w->pods[0]));
    w->pods[w->pod_count++] = (mc_agent_pod){
        .namespace = NS, .name = name, .uid = uid, .created = created, .deleting = deleting};
}

static void assert_status(const mc_agent_action *a, mc_ic_state state, int64_t gen,
                          const char *error_part)
{
    assert_int_equal(a->type, MC_AGENT_SET_STATUS);
    assert_int_equal(a->state, state);
    assert_int_equal(a->observed_generation, gen);
    if (error_part) {
        if (!strstr(a->error, error_part))
            fail_msg("error \"%s\" lacks \"%s\"", a->error, error_part);
    } else {
        assert_string_equal(a->error, "");
    }
}

/* ---- generation and unknown state ---------------------------------------- */

static void test_generation_changed_restarts_every_state(void **state)
{
    (void)state;
    const mc_ic_state states[] = {MC_IC_STATE_PENDING,  MC_IC_STATE_REQUESTED, MC_IC_STATE_ISSUED,
                                  MC_IC_STATE_FINISHED, MC_IC_STATE_FAILED,    MC_IC_STATE_UNKNOWN};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        world w;
        world_issued(&w, states[i]);
        w.ic->metadata.generation = 2;
        w.ic->status.error = mc_strdup("old error");
        assert_status(decide(&w), MC_IC_STATE_PENDING, 2, NULL);
        world_free(&w);
    }
}

static void test_unknown_state_restarts_at_pending(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_UNKNOWN);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

/* ---- PENDING -------------------------------------------------------------- */

static void test_pending_no_key_creates_key(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    world_free(&w);
}

static void test_pending_key_creates_request(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_REQUEST);
    world_free(&w);
}

static void test_pending_unparseable_key_is_deleted(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    mc_api_bytes_map_set(&w.key_secret->data, MC_AGENT_KEY_DATA, "not a key", 9);
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    mc_api_bytes_map_remove(&w.key_secret->data, MC_AGENT_KEY_DATA);
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    world_free(&w);
}

static void test_pending_key_not_owned(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    /* Ours, from an earlier IssuedCertificate of the same name: deleted. */
    free(w.key_secret->metadata.owner_references[0].uid);
    w.key_secret->metadata.owner_references[0].uid = mc_strdup("old-uid");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    /* Someone else's Secret: never touched, FAILED saying so. */
    mc_api_str_map_remove(&w.key_secret->metadata.labels, MC_AGENT_LABEL);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "not this issuedcertificate's key secret");
    world_free(&w);
}

static void test_pending_matching_request_goes_requested(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 1, NULL);
    finish_request(&w);
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 1, NULL);
    world_free(&w);
}

static void test_pending_request_from_other_key_is_deleted(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    add_key(&w); /* a new key: the request's CSR is for the old one */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    world_free(&w);
}

static void test_pending_request_for_old_hosts_is_deleted(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    set_hosts(w.ic, k_hosts, 1); /* the CSR asks for more than the spec */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    const char *more[] = {k_hosts[0], k_hosts[1], "extra.example.com"};
    set_hosts(w.ic, more, 3); /* the CSR lacks a host */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    set_hosts(w.ic, k_hosts, 2);
    free(w.ic->spec.org);
    w.ic->spec.org = mc_strdup("Other"); /* the CSR is for another org */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    world_free(&w);
}

/* A spec change the CSR does not show (a lifetime) still gets a new
 * request: the request names the generation it was made for. */
static void test_pending_request_for_old_generation_is_deleted(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    const char *made_for =
        mc_api_str_map_get(&w.request->metadata.annotations, MC_AGENT_GENERATION_ANNOTATION);
    assert_non_null(made_for);
    assert_string_equal(made_for, "1");
    finish_request(&w);
    w.ic->metadata.generation = 2; /* spec.duration changed (and PENDING written) */
    w.ic->status.observed_generation = 2;
    w.ic->spec.duration = mc_strdup("90m");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    add_request(&w); /* made for generation 2 */
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 2, NULL);
    /* a request of an older agent (no annotation) is taken as it is */
    mc_api_str_map_clear(&w.request->metadata.annotations);
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 2, NULL);
    world_free(&w);
}

static void test_pending_request_of_other_owner_is_deleted(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    free(w.request->metadata.owner_references[0].uid);
    w.request->metadata.owner_references[0].uid = mc_strdup("old-uid");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    world_free(&w);
}

static void test_pending_failed_or_bad_request_is_retried(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    add_request(&w);
    fail_request(&w, "root unavailable");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    /* FINISHED with a certificate expired by now: also made again. */
    add_request(&w);
    finish_request_with(&w, &g_root, NULL, 0, 3600, NOW - 7200);
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    /* FINISHED with a certificate lacking a host: also made again. */
    add_request(&w);
    finish_request_with(&w, &g_root, k_hosts, 1, 0, NOW);
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    /* FAILED, but for an older generation of the request: still waiting. */
    add_request(&w);
    fail_request(&w, "old");
    w.request->metadata.generation = 2;
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 1, NULL);
    world_free(&w);
}

static void test_pending_missing_directive_fails_once(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_directive(&w);
    mc_api_pod_bounce_directive_free(w.directive);
    w.directive = NULL;
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_FAILED, 1, "podbouncedirective istio-system/mesh-1 not found");
    /* Already FAILED with that reason: no rewrite. */
    w.ic->status.state = MC_IC_STATE_FAILED;
    w.ic->status.error = mc_strdup(a->error);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    world_free(&w);
}

static void test_pending_invalid_spec_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    set_hosts(w.ic, NULL, 0);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "hosts");
    world_free(&w);
}

static void test_pending_foreign_output(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    w.output = mc_api_secret_new(NS, "cacerts", "Opaque");
    mc_api_bytes_map_set(&w.output->data, "ca-cert.pem", "x", 1);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "not written by meshcert");
    w.obs.adopt_existing = 1;
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    w.obs.adopt_existing = 0;
    mc_api_str_map_set(&w.output->metadata.labels, MC_AGENT_ADOPT_LABEL, "true");
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    mc_api_str_map_set(&w.output->metadata.labels, MC_AGENT_ADOPT_LABEL, "false");
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "--adopt-existing-secret");
    world_free(&w);
}

/* An output Secret, or pods to bounce, outside the agent's watched
 * namespaces: FAILED naming the namespace and --watch-namespaces, before
 * anything is made (even a key). */
static void test_unwatched_namespace_fails(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    const char *only_own[] = {"meshcert"};
    w.obs.watched_namespaces = only_own;
    w.obs.watched_namespace_count = 1;
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_FAILED, 1,
                  "output secret istio-system/cacerts is in namespace istio-system, which this "
                  "agent does not watch (add it to the agent's --watch-namespaces)");
    /* Already FAILED with that reason: no rewrite. */
    w.ic->status.state = MC_IC_STATE_FAILED;
    w.ic->status.error = mc_strdup(a->error);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    const char *both[] = {"meshcert", NS};
    w.obs.watched_namespaces = both;
    w.obs.watched_namespace_count = 2;
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    add_directive(&w);
    assert_int_equal(mc_api_pod_bounce_directive_add_selector(w.directive, NS, NULL), MC_OK);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    assert_int_equal(mc_api_pod_bounce_directive_add_selector(w.directive, "gateways", NULL),
                     MC_OK);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1,
                  "podbouncedirective istio-system/mesh-1 selects pods in namespace gateways, "
                  "which this agent does not watch (add it to the agent's --watch-namespaces)");
    world_free(&w);
}

/* ---- FAILED: the PENDING path, keeping the key ---------------------------- */

static void test_failed_retries_without_new_key(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_FAILED);
    w.ic->status.error = mc_strdup("certificaterequest failed");
    add_key(&w);
    add_request(&w);
    fail_request(&w, "issuer down");
    /* refused for another reason than the error shown: the error first */
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "issuer down");
    free(w.ic->status.error);
    w.ic->status.error = mc_strdup(w.action.error);
    /* then the request is made again, the key kept */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    drop_request(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_REQUEST);
    add_request(&w);
    /* while the retry is unanswered the state stays FAILED with its error */
    assert_int_equal(decide(&w)->type, MC_AGENT_WAIT);
    /* refused again for the same reason: made again, no status write */
    fail_request(&w, "issuer down");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    drop_request(&w);
    add_request(&w);
    /* signed this time: REQUESTED, then on to the output and ISSUED */
    finish_request(&w);
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_REQUESTED, 1, NULL);
    apply_status(&w, a);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    world_free(&w);
}

static void test_failed_without_key_creates_one(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_FAILED);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    world_free(&w);
}

/* ---- REQUESTED ------------------------------------------------------------ */

static void test_requested_without_key_or_request_restarts(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_REQUESTED);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    add_key(&w);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    add_request(&w);
    drop_key(&w);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

static void test_requested_stale_request_restarts(void **state)
{
    (void)state;
    world w;
    world_signed(&w, MC_IC_STATE_REQUESTED);
    add_key(&w); /* the request's CSR is from another key */
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

static void test_requested_waits_for_issuer(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_REQUESTED);
    add_key(&w);
    add_request(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_WAIT);
    finish_request(&w);
    w.request->metadata.generation = 2; /* the answer is for an older spec */
    assert_int_equal(decide(&w)->type, MC_AGENT_WAIT);
    world_free(&w);
}

static void test_requested_request_failed(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_REQUESTED);
    add_key(&w);
    add_request(&w);
    fail_request(&w, "CSR asks for subjectAltName DNS:evil");
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "CSR asks for subjectAltName DNS:evil");
    assert_non_null(strstr(w.action.error, "certificaterequest istio-system/mesh-1"));
    world_free(&w);
}

static void test_requested_finished_writes_output(void **state)
{
    (void)state;
    world w;
    world_signed(&w, MC_IC_STATE_REQUESTED);
    char issuance[128];
    issuance_of(&w, issuance, sizeof(issuance));
    const mc_agent_action *a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_WRITE_OUTPUT);
    assert_string_equal(a->issuance, issuance);
    assert_true(mc_str_has_prefix(issuance, "1-"));
    assert_int_equal(strlen(issuance), 2 + 16);
    /* Once written, FINISHED in one write, with status.notAfter the
     * certificate's expiry: ISSUED is where pods are bounced, and without a
     * PodBounceDirective there are none (issue 13: one status write less). */
    add_output(&w);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    assert_int_equal(w.action.issuing, MC_AGENT_ISSUING_END);
    mc_pki_cert *cert = NULL;
    time_t not_before = 0, not_after = 0;
    const mc_api_bytes_entry *pem = mc_api_bytes_map_get(&w.output->data, "ca-cert.pem");
    assert_int_equal(mc_pki_cert_from_pem((const char *)pem->data, pem->len, "c", &cert, NULL), 0);
    assert_int_equal(mc_pki_cert_validity(cert, &not_before, &not_after), 0);
    mc_pki_cert_free(cert);
    assert_true(not_after > NOW);
    assert_int_equal(w.action.not_after, (int64_t)not_after);
    /* with a PodBounceDirective, ISSUED: its pods are bounced next */
    add_directive(&w);
    assert_status(decide(&w), MC_IC_STATE_ISSUED, 1, NULL);
    assert_int_equal(w.action.not_after, (int64_t)not_after);
    /* before any certificate is written there is none to report */
    world w2;
    world_init(&w2, MC_IC_STATE_PENDING);
    w2.ic->status.observed_generation = 0;
    assert_status(decide(&w2), MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(w2.action.not_after, 0);
    world_free(&w2);
    world_free(&w);
}

static void test_requested_stale_output_is_rewritten(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_REQUESTED);
    /* A new certificate for the same key: the output holds the old issuance. */
    finish_request(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    /* Ours but from another key. */
    add_output(&w);
    mc_api_bytes_map_set(&w.output->data, "ca-key.pem", "x", 1);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    /* In the other layout. */
    add_output(&w);
    w.obs.output_format = MC_BUNDLE_TLS;
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    world_free(&w);
}

static void test_requested_foreign_output(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_REQUESTED);
    mc_api_str_map_remove(&w.output->metadata.labels, MC_AGENT_LABEL);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "output secret istio-system/cacerts");
    w.obs.adopt_existing = 1;
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    w.obs.adopt_existing = 0;
    mc_api_str_map_set(&w.output->metadata.labels, MC_AGENT_ADOPT_LABEL, "true");
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    world_free(&w);
}

static void test_requested_bad_certificates_fail(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_REQUESTED);
    add_key(&w);
    add_request(&w);
    /* Not chaining to signingRootCa: signed by another root, root PEM of ours. */
    finish_request_with(&w, &g_other_root, NULL, 0, 0, NOW);
    mc_api_certificate_request_set_signed(w.request, w.request->status.signed_certificate,
                                          w.request->status.signed_certificate_len, g_root.pem,
                                          strlen(g_root.pem));
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "signed certificate");
    assert_non_null(strstr(w.action.error, "chain"));
    /* Lacking a host. */
    finish_request_with(&w, &g_root, k_hosts, 1, 0, NOW);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "lacks host istiod.istio-system.svc");
    /* Expired at now. */
    finish_request_with(&w, &g_root, NULL, 0, 3600, NOW - 7200);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "signed certificate");
    assert_int_equal(decide(&w)->type, MC_AGENT_SET_STATUS);
    /* Not matching the key: the certificate is for another CSR. */
    world w2;
    world_init(&w2, MC_IC_STATE_REQUESTED);
    add_key(&w2);
    add_request(&w2);
    finish_request(&w2);
    mc_api_certificate_request_set_signed(w.request, w2.request->status.signed_certificate,
                                          w2.request->status.signed_certificate_len, g_root.pem,
                                          strlen(g_root.pem));
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "does not match");
    /* FINISHED without the certificate. */
    mc_api_certificate_request_set_signed(w.request, NULL, 0, NULL, 0);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "FINISHED without signedCertificate");
    world_free(&w2);
    world_free(&w);
}

/* ---- ISSUED --------------------------------------------------------------- */

static void test_issued_without_directive_finishes(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    world_free(&w);
}

static void test_issued_directive_missing_fails(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    mc_api_pod_bounce_directive_free(w.directive);
    w.directive = NULL;
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "podbouncedirective");
    world_free(&w);
}

static void test_issued_no_pods_finishes(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    world_free(&w);
}

/* Records every pod of the plan (what the agent's executor does). */
static void record_plan(world *w, const mc_agent_action *a)
{
    for (size_t i = 0; i < w->pod_count; i++)
        if (mc_agent_pod_in_plan(a, &w->pods[i]))
            mc_api_pod_bounce_directive_record(w->directive, a->issuance, w->pods[i].namespace,
                                               w->pods[i].name, w->pods[i].uid);
}

static void test_issued_records_plan_then_deletes(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    char issuance[128];
    issuance_of(&w, issuance, sizeof(issuance));
    add_pod(&w, "istiod-a", "uid-a", NOW - 1000, 0);
    add_pod(&w, "istiod-b", "uid-b", NOW, 0); /* same second as the issuance: in the plan */
    add_pod(&w, "istiod-late", "uid-late", NOW + 1, 0);   /* has the new Secret already */
    add_pod(&w, "istiod-going", "uid-going", NOW - 5, 1); /* being deleted anyway */
    const mc_agent_action *a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_RECORD_BOUNCE);
    assert_string_equal(a->issuance, issuance);
    assert_int_equal(a->issued_at, NOW);
    assert_int_equal(a->planned, 2);
    assert_true(mc_agent_pod_in_plan(a, &w.pods[0]));
    assert_true(mc_agent_pod_in_plan(a, &w.pods[1]));
    assert_false(mc_agent_pod_in_plan(a, &w.pods[2]));
    assert_false(mc_agent_pod_in_plan(a, &w.pods[3]));
    record_plan(&w, a);
    assert_int_equal(w.directive->status.bounced_pods_len, 2);
    /* Recorded and still present: deleted one per action. */
    a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_DELETE_POD);
    assert_ptr_equal(a->pod, &w.pods[0]);
    assert_string_equal(a->issuance, issuance);
    w.pods[0].deleting = 1;
    a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_DELETE_POD);
    assert_ptr_equal(a->pod, &w.pods[1]);
    /* A replacement created in the issuance's second (a Deployment reacting
     * to the first delete) is not in the plan: never bounced. */
    w.pods[1].deleting = 1;
    add_pod(&w, "istiod-c", "uid-c", NOW, 0);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    /* Both gone and replaced: still FINISHED, nothing more recorded. */
    w.pod_count = 0;
    add_pod(&w, "istiod-c", "uid-c", NOW, 0);
    add_pod(&w, "istiod-d", "uid-d", NOW, 0);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    assert_int_equal(w.directive->status.bounced_pods_len, 2);
    world_free(&w);
}

static void test_issued_interrupted_bounce_deletes_again(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    char issuance[128];
    issuance_of(&w, issuance, sizeof(issuance));
    add_pod(&w, "p", "uid-p", NOW - 10, 0);
    mc_api_pod_bounce_directive_record(w.directive, issuance, NS, "p", "uid-p");
    /* the record landed, the delete did not (a crash): the pod is deleted */
    const mc_agent_action *a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_DELETE_POD);
    assert_ptr_equal(a->pod, &w.pods[0]);
    /* a pod recorded for this issuance under another uid (recreated with the
     * same name) is not the recorded pod */
    w.pods[0].uid = "uid-p2";
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    world_free(&w);
}

static void test_issued_recorded_for_other_issuance_is_bounced_again(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    mc_api_pod_bounce_directive_record(w.directive, "0-0000000000000000", NS, "p", "uid-p");
    add_pod(&w, "p", "uid-p", NOW - 10, 0);
    assert_int_equal(decide(&w)->type, MC_AGENT_RECORD_BOUNCE);
    world_free(&w);
}

static void test_issued_deleting_pod_is_skipped(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    add_directive(&w);
    add_pod(&w, "p", "uid-p", NOW - 10, 1);
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    world_free(&w);
}

static void test_issued_output_gone_or_stale_restarts(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_ISSUED);
    mc_api_str_map_remove(&w.output->metadata.annotations, MC_AGENT_ISSUED_AT_ANNOTATION);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    mc_api_secret_free(w.output);
    w.output = NULL;
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

/* ---- FINISHED ------------------------------------------------------------- */

static void test_finished_steady(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    w.obs.output_format = MC_BUNDLE_TLS;
    add_output(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    world_free(&w);
}

static void test_finished_output_problems_reissue(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    /* Gone. */
    mc_api_secret *saved = w.output;
    w.output = NULL;
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    w.output = saved;
    /* Expired (the clock moved past notAfter). */
    w.obs.now = NOW + 2 * 365 * 86400;
    world_sync(&w);
    mc_agent_decide(&w.obs, &w.action);
    assert_int_equal(w.action.type, MC_AGENT_SET_STATUS);
    assert_int_equal(w.action.state, MC_IC_STATE_PENDING);
    w.obs.now = NOW;
    /* Foreign (label removed by someone). */
    mc_api_str_map_remove(&w.output->metadata.labels, MC_AGENT_LABEL);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    /* Ours, but the key Secret was replaced. */
    add_output(&w);
    add_key(&w);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    /* The key Secret disappeared. */
    drop_key(&w);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

static void test_finished_output_for_other_spec_reissues(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    const char *more[] = {k_hosts[0], k_hosts[1], "new.example.com"};
    set_hosts(w.ic, more, 3);
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    world_free(&w);
}

/* ---- the cache of keys and verdicts -------------------------------------- */

static void set_version(mc_api_secret *secret, const char *uid, const char *rv)
{
    free(secret->metadata.uid);
    free(secret->metadata.resource_version);
    secret->metadata.uid = mc_strdup(uid);
    secret->metadata.resource_version = mc_strdup(rv);
}

static mc_agent_cache_stats stats_of(mc_agent_cache *cache)
{
    mc_agent_cache_stats stats;
    mc_agent_cache_get_stats(cache, &stats);
    return stats;
}

/* Reconciles of an unchanged issuance parse its key and verify its output
 * once; a changed key Secret (new version, or even the same version with
 * other bytes), a deleted one, and the clock leaving the certificate's
 * validity are each checked afresh, and a key that does not match is still
 * refused. */
static void test_cache_parses_once_and_follows_changes(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_agent_cache *cache = NULL;
    assert_int_equal(mc_agent_cache_new(4, &cache, &err), MC_OK);
    world w;
    world_init(&w, MC_IC_STATE_FINISHED);
    w.cache = cache;
    add_key(&w);
    set_version(w.key_secret, "key-uid", "10");
    add_request(&w);
    finish_request(&w);
    add_output(&w);
    set_version(w.output, "out-uid", "11");
    apply_status(&w, decide(&w));
    for (int i = 0; i < 5; i++)
        assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    mc_agent_cache_stats st = stats_of(cache);
    assert_int_equal(st.key_parses, 1);
    assert_int_equal(st.output_checks, 1);
    assert_true(st.key_hits >= 5);
    assert_true(st.output_hits >= 5);
    assert_int_equal(st.facts_reads, 1);
    assert_true(st.facts_hits >= 5);
    /* the facts served from the cache are those read: nothing to write */
    assert_true(w.action.not_after > NOW);
    assert_int_equal(w.action.root_fingerprint_count, 1);

    /* The clock past notAfter: the verdict does not hold there. */
    w.obs.now = NOW + 2 * 365 * 86400;
    world_sync(&w);
    mc_agent_decide(&w.obs, &w.action);
    assert_int_equal(w.action.type, MC_AGENT_SET_STATUS);
    assert_int_equal(w.action.state, MC_IC_STATE_PENDING);
    assert_int_equal(stats_of(cache).output_checks, 2);
    w.obs.now = NOW;
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);

    /* Another key under the same uid and resourceVersion (a server that
     * breaks the rules): parsed again, the output no longer matches it. */
    add_key(&w);
    set_version(w.key_secret, "key-uid", "10");
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(stats_of(cache).key_parses, 2);

    /* REQUESTED with a key the signed request was not made from: refused. */
    w.ic->status.state = MC_IC_STATE_REQUESTED;
    assert_status(decide(&w), MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(stats_of(cache).key_parses, 2);
    /* ... and with its own key (new version) it goes on to the output. */
    add_request(&w);
    finish_request(&w);
    set_version(w.key_secret, "key-uid", "12");
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    assert_int_equal(stats_of(cache).key_parses, 3);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    assert_int_equal(stats_of(cache).key_parses, 3);

    /* A deleted Secret is forgotten: the next one of that name is parsed. */
    mc_agent_cache_forget(cache, NS, NAME);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    assert_int_equal(stats_of(cache).key_parses, 4);
    assert_int_equal(stats_of(cache).evictions, 0);
    world_free(&w);
    mc_agent_cache_free(cache);
}

/* More Secrets than room: the least recently used entry goes, the rest stay. */
static void test_cache_bounded(void **state)
{
    (void)state;
    mc_err err = {0};
    mc_agent_cache *cache = NULL;
    assert_int_equal(mc_agent_cache_new(2, &cache, &err), MC_OK);
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    const mc_api_bytes_entry *pem = mc_api_bytes_map_get(&w.key_secret->data, MC_AGENT_KEY_DATA);
    assert_non_null(pem);
    /* a parsed, b parsed, a hit, c evicts b (a was used last), a hit, b
     * evicts c; "-" forgets a (deleted): b hit, a parsed with no eviction */
    const char *names[] = {"a", "b", "a", "c", "a", "b", "-", "b", "a"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i], "-") == 0) {
            mc_agent_cache_forget(cache, NS, "a");
            continue;
        }
        mc_api_object_meta meta = {
            .name = (char *)names[i], .namespace = NS, .uid = "u", .resource_version = "1"};
        mc_pki_key *key = NULL;
        assert_int_equal(
            mc_agent_cache_key(cache, &meta, (const char *)pem->data, pem->len, "key", &key, &err),
            MC_OK);
        mc_pki_key_free(key);
    }
    mc_agent_cache_stats st = stats_of(cache);
    assert_int_equal(st.key_parses, 5);
    assert_int_equal(st.key_hits, 3);
    assert_int_equal(st.evictions, 2);
    world_free(&w);
    mc_agent_cache_free(cache);
}

/* ---- one owner per object ------------------------------------------------ */

/* An IssuedCertificate NS/name created at created, writing NS/output. */
static mc_api_issued_certificate *make_peer(const char *name, const char *uid, const char *created,
                                            const char *output)
{
    mc_api_issued_certificate *p = mc_api_issued_certificate_new(NS, name);
    assert_non_null(p);
    p->metadata.uid = mc_strdup(uid);
    p->metadata.creation_timestamp = created ? mc_strdup(created) : NULL;
    p->metadata.generation = 1;
    p->spec.org = mc_strdup("Istio");
    set_hosts(p, k_hosts, 2);
    mc_api_object_ref_set(&p->spec.signing_certificate_secret, "meshcert", "root-ca");
    mc_api_object_ref_set(&p->spec.issued_certificate_secret, NS, output);
    return p;
}

static void set_peers(world *w, const mc_api_issued_certificate *const *peers, size_t n)
{
    w->obs.peers = peers;
    w->obs.peer_count = n;
}

static void set_created(mc_api_issued_certificate *ic, const char *created)
{
    free(ic->metadata.creation_timestamp);
    ic->metadata.creation_timestamp = mc_strdup(created);
}

/* Two naming one output Secret that nobody wrote yet: the older works, the
 * newer is FAILED naming it, before any key is made; the same name tie is
 * broken by name. A FAILED loser is not written again. */
static void test_conflict_oldest_claims_output(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    set_created(w.ic, "2026-01-01T00:00:10Z");
    mc_api_issued_certificate *older =
        make_peer("mesh-0", "uid-0", "2026-01-01T00:00:05Z", "cacerts");
    const mc_api_issued_certificate *peers[] = {older};
    set_peers(&w, peers, 1);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1,
                  "output secret istio-system/cacerts is also used by issuedcertificate "
                  "istio-system/mesh-0");
    /* written once: the same FAILED again is NOTHING */
    w.ic->status.state = MC_IC_STATE_FAILED;
    w.ic->status.error = mc_strdup(w.action.error);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    /* a spec change (new generation) does not flip it either */
    w.ic->metadata.generation = 2;
    assert_status(decide(&w), MC_IC_STATE_FAILED, 2, "istio-system/mesh-0");
    w.ic->metadata.generation = 1;
    /* the other way round: the older one goes ahead */
    set_created(older, "2026-01-01T00:00:20Z");
    free(w.ic->status.error);
    w.ic->status.error = NULL;
    w.ic->status.state = MC_IC_STATE_PENDING;
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    /* same second: by name ("mesh-0" < "mesh-1") */
    set_created(older, "2026-01-01T00:00:10Z");
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "istio-system/mesh-0");
    /* no timestamp counts as newest */
    free(older->metadata.creation_timestamp);
    older->metadata.creation_timestamp = NULL;
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    /* a peer writing elsewhere is no conflict */
    set_created(older, "2026-01-01T00:00:05Z");
    mc_api_object_ref_set(&older->spec.issued_certificate_secret, NS, "other");
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    /* nor is one being deleted: the next one takes over */
    mc_api_object_ref_set(&older->spec.issued_certificate_secret, NS, "cacerts");
    older->metadata.deletion_timestamp = mc_strdup("2026-01-01T00:01:00Z");
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    /* nor is the object itself in the peer list */
    mc_api_issued_certificate *self = make_peer(NAME, IC_UID, "2026-01-01T00:00:01Z", "cacerts");
    const mc_api_issued_certificate *self_only[] = {self};
    set_peers(&w, self_only, 1);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    mc_api_issued_certificate_free(self);
    mc_api_issued_certificate_free(older);
    world_free(&w);
}

/* The output Secret says who wrote it: that one keeps it even when younger,
 * in every state, and the older one is FAILED (also when it was FINISHED). */
static void test_conflict_writer_keeps_output(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED); /* output annotated with NS/mesh-1 */
    assert_string_equal(
        mc_api_str_map_get(&w.output->metadata.annotations, MC_AGENT_OWNER_ANNOTATION),
        NS "/" NAME);
    set_created(w.ic, "2026-01-01T00:00:10Z");
    mc_api_issued_certificate *older =
        make_peer("mesh-0", "uid-0", "2026-01-01T00:00:05Z", "cacerts");
    const mc_api_issued_certificate *peers[] = {older};
    set_peers(&w, peers, 1);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    assert_true(mc_agent_claims_first(w.ic, older, &w.output->metadata));
    assert_false(mc_agent_claims_first(older, w.ic, &w.output->metadata));
    /* without the annotation (an output of an older meshcert) age decides */
    mc_api_str_map_remove(&w.output->metadata.annotations, MC_AGENT_OWNER_ANNOTATION);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "istio-system/mesh-0");
    assert_false(mc_agent_claims_first(w.ic, older, &w.output->metadata));
    assert_true(mc_agent_claims_first(older, w.ic, &w.output->metadata));
    /* annotated for the other one: FAILED whatever the age */
    mc_api_str_map_set(&w.output->metadata.annotations, MC_AGENT_OWNER_ANNOTATION, NS "/mesh-0");
    set_created(older, "2026-01-01T00:00:50Z");
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "which has it first");
    /* in the middle of an issuance too: REQUESTED, ISSUED */
    w.ic->status.state = MC_IC_STATE_REQUESTED;
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "istio-system/mesh-0");
    w.ic->status.state = MC_IC_STATE_ISSUED;
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "istio-system/mesh-0");
    mc_api_issued_certificate_free(older);
    world_free(&w);
}

/* An output Secret that is another IssuedCertificate's key Secret (or its
 * own) is refused; the key's owner keeps it. */
static void test_conflict_output_is_a_key_secret(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    set_created(w.ic, "2026-01-01T00:00:10Z");
    /* its own key Secret */
    mc_api_object_ref_set(&w.ic->spec.issued_certificate_secret, NS, NAME);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "own key secret");
    /* the key Secret of mesh-2 (younger, but the Secret names its owner) */
    mc_api_object_ref_set(&w.ic->spec.issued_certificate_secret, NS, "mesh-2");
    mc_api_issued_certificate *keyholder =
        make_peer("mesh-2", "uid-2", "2026-01-01T00:00:20Z", "elsewhere");
    const mc_api_issued_certificate *peers[] = {keyholder};
    set_peers(&w, peers, 1);
    w.output = mc_api_secret_new(NS, "mesh-2", MC_AGENT_KEY_SECRET_TYPE);
    mc_api_str_map_set(&w.output->metadata.labels, MC_AGENT_LABEL, "meshcert");
    w.output->metadata.owner_references = calloc(1, sizeof(mc_api_owner_ref));
    w.output->metadata.owner_references_len = 1;
    w.output->metadata.owner_references[0].uid = mc_strdup("uid-2");
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1,
                  "output secret istio-system/mesh-2 (its key secret) is also used by "
                  "issuedcertificate istio-system/mesh-2");
    /* seen from mesh-2: its key Secret is mesh-1's output; it owns it */
    world k;
    world_init(&k, MC_IC_STATE_PENDING);
    free(k.ic->metadata.name);
    k.ic->metadata.name = mc_strdup("mesh-2");
    free(k.ic->metadata.uid);
    k.ic->metadata.uid = mc_strdup("uid-2");
    set_created(k.ic, "2026-01-01T00:00:20Z");
    mc_api_object_ref_set(&k.ic->spec.issued_certificate_secret, NS, "elsewhere");
    const mc_api_issued_certificate *k_peers[] = {w.ic};
    set_peers(&k, k_peers, 1);
    set_created(w.ic, "2026-01-01T00:00:30Z");
    assert_int_equal(decide(&k)->type, MC_AGENT_CREATE_KEY);
    add_key(&k);
    assert_int_equal(decide(&k)->type, MC_AGENT_CREATE_REQUEST);
    /* its key Secret names it: kept even against an older claim */
    set_created(w.ic, "2026-01-01T00:00:01Z");
    assert_int_equal(decide(&k)->type, MC_AGENT_CREATE_REQUEST);
    /* no key Secret yet and mesh-1 older: mesh-1 has the name first */
    mc_api_secret_free(k.key_secret);
    k.key_secret = NULL;
    assert_status(decide(&k), MC_IC_STATE_FAILED, 1,
                  "key secret istio-system/mesh-2 (its output secret) is also used by "
                  "issuedcertificate istio-system/mesh-1");
    world_free(&k);
    mc_api_issued_certificate_free(keyholder);
    world_free(&w);
}

/* Two naming one PodBounceDirective: its bounce records belong to one
 * issuance at a time, so the younger one is FAILED. */
static void test_conflict_shared_directive(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_directive(&w);
    set_created(w.ic, "2026-01-01T00:00:10Z");
    mc_api_issued_certificate *older =
        make_peer("mesh-0", "uid-0", "2026-01-01T00:00:05Z", "other");
    const mc_api_issued_certificate *peers[] = {older};
    set_peers(&w, peers, 1);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    mc_api_object_ref_set(&older->spec.pod_bounce_directive, NS, NAME);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1,
                  "podbouncedirective istio-system/mesh-1 is also used by issuedcertificate "
                  "istio-system/mesh-0");
    /* the namespace of a reference defaults to the IssuedCertificate's */
    mc_api_object_ref_set(&older->spec.pod_bounce_directive, NULL, NAME);
    assert_status(decide(&w), MC_IC_STATE_FAILED, 1, "podbouncedirective istio-system/mesh-1");
    mc_api_issued_certificate_free(older);
    world_free(&w);
}

/* ---- status.conditions: Ready ------------------------------------------- */

static const mc_api_condition *ready_of(const mc_api_issued_certificate *ic)
{
    return mc_api_conditions_get(&ic->status.conditions, MC_API_CONDITION_READY);
}

/* What the agent writes with each SET_STATUS: Ready True only at FINISHED,
 * False with the state's reason in progress, False "Failed" with the error;
 * lastTransitionTime moves only when Ready's status changes. */
static void test_ready_condition_follows_state(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    /* a status without conditions (an older agent): written, not NOTHING */
    world_sync(&w);
    w.ic->status.state = MC_IC_STATE_FINISHED;
    add_key(&w);
    add_request(&w);
    finish_request(&w);
    add_output(&w);
    world_sync(&w);
    mc_agent_decide(&w.obs, &w.action);
    assert_status(&w.action, MC_IC_STATE_FINISHED, 1, NULL);
    /* the agent writes it so: then steady */
    apply_status(&w, &w.action);
    const mc_api_condition *c = ready_of(w.ic);
    assert_non_null(c);
    assert_string_equal(c->status, "True");
    assert_string_equal(c->reason, "Finished");
    assert_int_equal(c->observed_generation, 1);
    assert_string_equal(c->last_transition_time, "2026-01-01T00:00:00Z");
    mc_agent_decide(&w.obs, &w.action);
    assert_int_equal(w.action.type, MC_AGENT_NOTHING);
    assert_true(mc_api_issued_certificate_ready_current(w.ic));

    /* FAILED: False, reason Failed, the error as message, a new transition */
    w.ic->status.state = MC_IC_STATE_FAILED;
    w.ic->status.error = mc_strdup("certificaterequest istio-system/mesh-1 failed: no root");
    assert_false(mc_api_issued_certificate_ready_current(w.ic));
    assert_int_equal(mc_api_issued_certificate_set_ready(w.ic, NOW + 10), MC_OK);
    c = ready_of(w.ic);
    assert_string_equal(c->status, "False");
    assert_string_equal(c->reason, "Failed");
    assert_string_equal(c->message, "certificaterequest istio-system/mesh-1 failed: no root");
    assert_string_equal(c->last_transition_time, "2026-01-01T00:00:10Z");
    /* in progress: still False, so the time stays; reason names the state */
    static const struct {
        mc_ic_state state;
        const char *reason;
    } progress[] = {{MC_IC_STATE_PENDING, "Pending"},
                    {MC_IC_STATE_REQUESTED, "Requested"},
                    {MC_IC_STATE_ISSUED, "Issued"}};
    for (size_t i = 0; i < 3; i++) {
        w.ic->status.state = progress[i].state;
        assert_int_equal(mc_api_issued_certificate_set_ready(w.ic, NOW + 20 + (int64_t)i), MC_OK);
        c = ready_of(w.ic);
        assert_string_equal(c->status, "False");
        assert_string_equal(c->reason, progress[i].reason);
        assert_string_equal(c->last_transition_time, "2026-01-01T00:00:10Z");
    }
    /* a new generation is reported in the condition */
    w.ic->status.observed_generation = 2;
    assert_false(mc_api_issued_certificate_ready_current(w.ic));
    assert_int_equal(mc_api_issued_certificate_set_ready(w.ic, NOW + 30), MC_OK);
    assert_int_equal(ready_of(w.ic)->observed_generation, 2);
    assert_int_equal(w.ic->status.conditions.len, 1);
    /* an unknown state: Unknown */
    w.ic->status.state = MC_IC_STATE_UNKNOWN;
    assert_int_equal(mc_api_issued_certificate_set_ready(w.ic, NOW + 40), MC_OK);
    assert_string_equal(ready_of(w.ic)->status, "Unknown");
    assert_string_equal(ready_of(w.ic)->last_transition_time, "2026-01-01T00:00:40Z");
    world_free(&w);
}

/* ---- deletion ------------------------------------------------------------- */

static void test_deleting_ic_cleans_up(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    w.ic->metadata.deletion_timestamp = mc_strdup("2026-01-01T00:00:00Z");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    drop_key(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    drop_request(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    world_free(&w);
}

/* ---- builders ------------------------------------------------------------- */

static void test_build_key_secret(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    add_key(&w);
    assert_string_equal(w.key_secret->type, MC_AGENT_KEY_SECRET_TYPE);
    assert_string_equal(mc_api_str_map_get(&w.key_secret->metadata.labels, MC_AGENT_LABEL),
                        "meshcert");
    assert_int_equal(w.key_secret->metadata.owner_references_len, 1);
    assert_string_equal(w.key_secret->metadata.owner_references[0].uid, IC_UID);
    assert_string_equal(w.key_secret->metadata.owner_references[0].kind, "IssuedCertificate");
    assert_non_null(mc_api_bytes_map_get(&w.key_secret->data, MC_AGENT_KEY_DATA));
    world_free(&w);
}

static void test_build_request(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    mc_err err = {0};
    json_t *json = NULL;
    world_sync(&w);
    assert_int_equal(mc_agent_build_request(&w.obs, &json, &err), MC_EINVAL);
    assert_null(json);
    add_key(&w);
    add_request(&w);
    assert_string_equal(w.request->metadata.name, NAME);
    assert_string_equal(w.request->metadata.namespace, NS);
    assert_string_equal(mc_api_str_map_get(&w.request->metadata.labels, MC_AGENT_LABEL),
                        "meshcert");
    assert_int_equal(w.request->metadata.owner_references_len, 1);
    assert_string_equal(w.request->metadata.owner_references[0].uid, IC_UID);
    assert_true(w.request->metadata.owner_references[0].controller);
    mc_pki_csr *csr = NULL;
    mc_pki_key *key = NULL;
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&w.key_secret->data, MC_AGENT_KEY_DATA);
    assert_int_equal(mc_pki_key_from_pem((const char *)e->data, e->len, "k", &key, &err), 0);
    assert_int_equal(mc_pki_csr_parse(w.request->spec.certificate_signing_request,
                                      w.request->spec.certificate_signing_request_len, "csr", &csr,
                                      &err),
                     0);
    assert_int_equal(mc_pki_csr_matches_key(csr, key, &err), 0);
    assert_int_equal(mc_pki_csr_check_exact(csr, "Istio", k_hosts, 2, &err), 0);
    mc_pki_csr_free(csr);
    mc_pki_key_free(key);
    /* An unusable key: an error without key material. */
    mc_api_bytes_map_set(&w.key_secret->data, MC_AGENT_KEY_DATA,
                         "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
    world_sync(&w);
    assert_int_not_equal(mc_agent_build_request(&w.obs, &json, &err), 0);
    assert_null(strstr(err.msg, "PRIVATE KEY"));
    assert_null(strstr(err.msg, "AAAA"));
    world_free(&w);
}

static void test_build_output_istio(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_REQUESTED);
    mc_api_secret *o = w.output;
    char issuance[128];
    issuance_of(&w, issuance, sizeof(issuance));
    assert_string_equal(o->metadata.name, "cacerts");
    assert_string_equal(o->metadata.namespace, NS);
    assert_string_equal(o->type, MC_AGENT_OUTPUT_SECRET_TYPE);
    assert_string_equal(mc_api_str_map_get(&o->metadata.labels, MC_AGENT_LABEL), "meshcert");
    assert_string_equal(mc_api_str_map_get(&o->metadata.annotations, MC_AGENT_ISSUANCE_ANNOTATION),
                        issuance);
    assert_string_equal(mc_api_str_map_get(&o->metadata.annotations, MC_AGENT_ISSUED_AT_ANNOTATION),
                        "2026-01-01T00:00:00Z");
    assert_string_equal(mc_api_str_map_get(&o->metadata.annotations, MC_AGENT_OWNER_ANNOTATION),
                        NS "/" NAME);
    assert_int_equal(o->data.len, 4);
    const mc_api_bytes_entry *key = mc_api_bytes_map_get(&o->data, "ca-key.pem");
    const mc_api_bytes_entry *want = mc_api_bytes_map_get(&w.key_secret->data, MC_AGENT_KEY_DATA);
    assert_int_equal(key->len, want->len);
    assert_memory_equal(key->data, want->data, want->len);
    assert_string_equal((const char *)mc_api_bytes_map_get(&o->data, "root-cert.pem")->data,
                        g_root.pem);
    assert_string_equal((const char *)mc_api_bytes_map_get(&o->data, "ca-cert.pem")->data,
                        (const char *)w.request->status.signed_certificate);
    /* The bundle verifies against the root the way Istio's docs check it. */
    mc_pki_bundle b = {
        .ca_cert = (char *)mc_api_bytes_map_get(&o->data, "ca-cert.pem")->data,
        .ca_key = (char *)key->data,
        .cert_chain = (char *)mc_api_bytes_map_get(&o->data, "cert-chain.pem")->data,
        .root_cert = (char *)mc_api_bytes_map_get(&o->data, "root-cert.pem")->data,
    };
    mc_err err = {0};
    assert_int_equal(mc_pki_bundle_verify(&b, g_root.pem, "root", NOW, NULL, &err), 0);
    world_free(&w);
}

static void test_build_output_tls_and_errors(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_REQUESTED);
    w.obs.output_format = MC_BUNDLE_TLS;
    add_output(&w);
    assert_string_equal(w.output->type, "kubernetes.io/tls");
    assert_int_equal(w.output->data.len, 3);
    assert_non_null(mc_api_bytes_map_get(&w.output->data, "tls.crt"));
    assert_non_null(mc_api_bytes_map_get(&w.output->data, "tls.key"));
    assert_non_null(mc_api_bytes_map_get(&w.output->data, "ca.crt"));
    mc_err err = {0};
    json_t *json = NULL;
    mc_api_certificate_request_set_signed(w.request, "garbage", 7, g_root.pem, strlen(g_root.pem));
    world_sync(&w);
    assert_int_not_equal(mc_agent_build_output(&w.obs, "1-x", &json, &err), 0);
    assert_null(json);
    assert_null(strstr(err.msg, "PRIVATE KEY"));
    w.obs.key_secret = NULL;
    assert_int_equal(mc_agent_build_output(&w.obs, "1-x", &json, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "without a key"));
    world_free(&w);
}

static void test_issuance_id(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_REQUESTED);
    char a[128], b[128];
    mc_err err = {0};
    const char *pem = (const char *)w.request->status.signed_certificate;
    assert_int_equal(mc_agent_issuance_id(pem, 7, a, sizeof(a), &err), 0);
    assert_int_equal(mc_agent_issuance_id(pem, 7, b, sizeof(b), &err), 0);
    assert_string_equal(a, b);
    assert_true(mc_str_has_prefix(a, "7-"));
    assert_int_equal(strlen(a), 18);
    assert_int_equal(mc_agent_issuance_id("nope", 7, a, sizeof(a), &err), MC_EINVAL);
    assert_int_not_equal(mc_agent_issuance_id(pem, 7, a, 8, &err), 0);
    world_free(&w);
}

/* ---- convergence: a tiny executor runs the actions, with a restart -------- */

/* Executes one action against the world as the I/O wrapper would. */
static void execute(world *w, const mc_agent_action *a, int *deleted)
{
    mc_err err = {0};
    json_t *json = NULL;
    switch (a->type) {
    case MC_AGENT_SET_STATUS: apply_status(w, a); break;
    case MC_AGENT_CREATE_KEY: add_key(w); break;
    case MC_AGENT_DELETE_KEY:
        mc_api_secret_free(w->key_secret);
        w->key_secret = NULL;
        break;
    case MC_AGENT_CREATE_REQUEST: add_request(w); break;
    case MC_AGENT_DELETE_REQUEST:
        mc_api_certificate_request_free(w->request);
        w->request = NULL;
        break;
    case MC_AGENT_WAIT: /* the issuer answers */
        finish_request_with(w, &g_root, NULL, 0, 0, w->obs.now);
        break;
    case MC_AGENT_WRITE_OUTPUT:
        assert_int_equal(mc_agent_build_output(&w->obs, a->issuance, &json, &err), 0);
        mc_api_secret_free(w->output);
        w->output = NULL;
        assert_int_equal(mc_api_secret_decode(json, &w->output, &err), 0);
        json_decref(json);
        break;
    case MC_AGENT_RECORD_BOUNCE: record_plan(w, a); break;
    case MC_AGENT_DELETE_POD: {
        size_t i = (size_t)(a->pod - w->pods);
        deleted[i]++;
        w->pods[i].deleting = 1;
        /* a Deployment replaces it at once, within the issuance's second */
        add_pod(w, i == 0 ? "a-2" : "b-2", i == 0 ? "uid-a-2" : "uid-b-2", NOW, 0);
        break;
    }
    case MC_AGENT_NOTHING: break;
    }
}

static void test_converges_and_bounces_each_pod_once(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    w.ic->status.observed_generation = 0;
    add_directive(&w);
    add_pod(&w, "a", "uid-a", NOW - 100, 0);
    add_pod(&w, "b", "uid-b", NOW - 50, 0);
    add_pod(&w, "late", "uid-late", NOW + 100, 0);
    int deleted[8] = {0};
    int steps = 0, interrupted = 0;
    for (; steps < 40; steps++) {
        const mc_agent_action *a = decide(&w);
        if (a->type == MC_AGENT_NOTHING)
            break;
        /* An interrupted bounce: the first delete is lost after its record
         * was written; the next decision (a restarted agent) deletes the pod
         * again, and it is still deleted once. */
        if (a->type == MC_AGENT_DELETE_POD && !interrupted) {
            interrupted = 1;
            continue;
        }
        execute(&w, a, deleted);
    }
    assert_true(steps < 40);
    assert_int_equal(w.ic->status.state, MC_IC_STATE_FINISHED);
    assert_int_equal(w.ic->status.observed_generation, 1);
    assert_int_equal(deleted[0], 1);
    assert_int_equal(deleted[1], 1);
    for (size_t i = 2; i < w.pod_count; i++)
        assert_int_equal(deleted[i], 0); /* neither the late pod nor a replacement */
    assert_int_equal(w.pod_count, 5);
    assert_int_equal(w.directive->status.bounced_pods_len, 2);
    assert_true(interrupted);
    world_free(&w);
}

/* ---- lifetimes, renewal and rotation (issue 12) ---------------------------- */

static int output_verifies(const world *w)
{
    const mc_api_secret *o = w->output;
    if (!o)
        return 0;
#define FILE_OF(NAME)                                                                              \
    (char *)(mc_api_bytes_map_get(&o->data, NAME) ? mc_api_bytes_map_get(&o->data, NAME)->data     \
                                                  : NULL)
    mc_pki_bundle bundle = {.ca_cert = FILE_OF("ca-cert.pem"),
                            .ca_key = FILE_OF("ca-key.pem"),
                            .cert_chain = FILE_OF("cert-chain.pem"),
                            .root_cert = FILE_OF("root-cert.pem")};
#undef FILE_OF
    mc_err err = {0};
    int rc = mc_pki_bundle_verify(&bundle, NULL, NULL, w->obs.now, NULL, &err);
    if (rc != MC_OK)
        fprintf(stderr, "output does not verify: %s\n", err.msg);
    return rc == MC_OK;
}

static char *output_key_copy(const world *w)
{
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&w->output->data, "ca-key.pem");
    assert_non_null(e);
    return mc_strdup((const char *)e->data);
}

/* Runs decide/execute until NOTHING; every decision is made twice where
 * restart is set (a restarted agent decides again from the same state before
 * the action runs). The output Secret must verify after every step. Counts
 * the keys made. (An output there at the start must stay there.) */
static int run_until_steady(world *w, int restart, int *keys_made)
{
    int deleted[8] = {0};
    int steps = 0, had_output = w->output != NULL;
    for (; steps < 60; steps++) {
        const mc_agent_action *a = decide(w);
        if (restart) {
            mc_agent_action first = *a;
            a = decide(w);
            assert_int_equal(a->type, first.type);
            assert_int_equal(a->issuing, first.issuing);
        }
        if (a->type == MC_AGENT_NOTHING)
            break;
        if (a->type == MC_AGENT_CREATE_KEY)
            (*keys_made)++;
        execute(w, a, deleted);
        if (had_output)
            assert_true(output_verifies(w));
    }
    assert_true(steps < 60);
    return steps;
}

static const mc_api_condition *issuing_of(const mc_api_issued_certificate *ic)
{
    return mc_api_conditions_get(&ic->status.conditions, MC_API_CONDITION_ISSUING);
}

/* A renewal (or a rotation) whose first request the issuer refuses (its
 * root's token pulled out) and whose retry it signs: one new key, then
 * FINISHED. Writing the retry's output while still FAILED once made the
 * next decision delete the new key as "the key being replaced", forever. */
static void test_renewal_refused_then_signed_settles(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    char *old_key = output_key_copy(&w);
    w.obs.now = (time_t)time_of(w.ic->status.renewal_time);
    int deleted[8] = {0};
    int keys = 0, refused = 0, steps = 0;
    for (; steps < 60; steps++) {
        const mc_agent_action *a = decide(&w);
        if (a->type == MC_AGENT_NOTHING)
            break;
        keys += a->type == MC_AGENT_CREATE_KEY;
        if (a->type == MC_AGENT_WAIT && !refused) {
            refused = 1;
            fail_request(&w, "PKCS#11 token \"mesh-root\" not found");
            continue;
        }
        execute(&w, a, deleted);
    }
    assert_true(refused);
    assert_true(steps < 60);
    assert_int_equal(keys, 1);
    assert_int_equal(w.ic->status.state, MC_IC_STATE_FINISHED);
    char *new_key = output_key_copy(&w);
    assert_string_not_equal(new_key, old_key);
    assert_string_equal(issuing_of(w.ic)->status, "False");
    free(new_key);
    free(old_key);
    world_free(&w);
}

/* Not due: NOTHING, and the action says when to come back; the status holds
 * the output's lifetime and the root's fingerprint. */
static void test_renewal_not_due_requeues(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    const mc_api_issued_certificate_status *st = &w.ic->status;
    int64_t not_before = time_of(st->not_before), not_after = time_of(st->not_after),
            renewal = time_of(st->renewal_time);
    /* the default: a third of the lifetime, counted from when the output
     * was written (NOW), not from the back-dated notBefore */
    assert_int_equal(not_before, NOW - MC_PKI_BACKDATE_SECONDS);
    int64_t renew_before = (not_after - NOW) / 3;
    assert_true(renewal <= not_after - renew_before);
    assert_true(renewal > not_after - renew_before - renew_before / 5);
    /* the fingerprint is that of the root */
    unsigned char digest[32];
    char hex[65];
    assert_int_equal(mc_pki_cert_sha256(g_root.cert, digest, NULL), 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    assert_int_equal(st->root_fingerprints_len, 1);
    assert_string_equal(st->root_fingerprints[0], hex);
    assert_int_equal(mc_api_issued_certificate_validate(w.ic, NULL), 0);

    const mc_agent_action *a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_NOTHING);
    assert_int_equal(a->requeue_after, renewal - NOW);
    w.obs.now = (time_t)renewal - 1;
    a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_NOTHING);
    assert_int_equal(a->requeue_after, 1);
    world_free(&w);

    /* a 1 minute certificate (back-dated 5 minutes) is not due at once */
    world_init(&w, MC_IC_STATE_FINISHED);
    add_key(&w);
    add_request(&w);
    finish_request_with(&w, &g_root, NULL, 0, 60, NOW);
    add_output(&w);
    a = decide(&w);
    assert_int_equal(a->state, MC_IC_STATE_FINISHED);
    assert_true(a->renewal_time > NOW + 35 && a->renewal_time <= NOW + 40);
    apply_status(&w, a);
    a = decide(&w);
    assert_int_equal(a->type, MC_AGENT_NOTHING);
    assert_true(a->requeue_after > 35 && a->requeue_after <= 40);
    world_free(&w);
}

/* Due: a renewal with a new key; the output stays in place and valid at
 * every step until the successor replaces it; Ready stays True. */
static void test_renewal_due_new_key_output_kept(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    int64_t renewal = time_of(w.ic->status.renewal_time);
    char *old_key = output_key_copy(&w);
    char *old_not_after = mc_strdup(w.ic->status.not_after);
    w.obs.now = (time_t)renewal;
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(a->issuing, MC_AGENT_ISSUING_START);
    assert_string_equal(a->issuing_reason, "Renewal");
    assert_null(a->rotation);
    apply_status(&w, a);
    assert_string_equal(issuing_of(w.ic)->status, "True");
    assert_string_equal(ready_of(w.ic)->status, "True");
    assert_string_equal(ready_of(w.ic)->reason, "Renewing");
    assert_true(mc_api_issued_certificate_ready_current(w.ic));
    /* the key in the key Secret is the output's: replaced, never reused */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);

    int keys = 0;
    run_until_steady(&w, 1, &keys);
    assert_int_equal(keys, 1);
    assert_int_equal(w.ic->status.state, MC_IC_STATE_FINISHED);
    char *new_key = output_key_copy(&w);
    assert_string_not_equal(new_key, old_key);
    free(new_key);
    assert_string_equal(issuing_of(w.ic)->status, "False");
    assert_string_equal(ready_of(w.ic)->reason, "Finished");
    assert_string_not_equal(w.ic->status.not_after, old_not_after);
    assert_true(time_of(w.ic->status.renewal_time) > renewal);
    free(old_key);
    free(old_not_after);
    world_free(&w);
}

/* The rotate token: one new key, exactly once, recorded in the write that
 * starts it; an issuance in flight completes first. */
static void test_rotation_token_once(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    request_rotation(&w, "t-1");
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(a->issuing, MC_AGENT_ISSUING_START);
    assert_string_equal(a->issuing_reason, "Rotation");
    assert_string_equal(a->rotation, "t-1");
    int keys = 0;
    run_until_steady(&w, 1, &keys);
    assert_int_equal(keys, 1);
    assert_string_equal(w.ic->status.rotation, "t-1");
    assert_int_equal(w.ic->status.state, MC_IC_STATE_FINISHED);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING); /* not twice */

    /* a new token while an issuance is in flight waits for FINISHED */
    request_rotation(&w, "t-2");
    w.ic->status.state = MC_IC_STATE_REQUESTED;
    a = decide(&w);
    assert_int_not_equal(a->issuing, MC_AGENT_ISSUING_START);
    assert_null(a->rotation);
    keys = 0;
    run_until_steady(&w, 0, &keys);
    assert_int_equal(keys, 1);
    assert_string_equal(w.ic->status.rotation, "t-2");
    world_free(&w);
}

/* SIGKILL at every point of a rotation: each intermediate state decides the
 * same next step, and the key is replaced exactly once. */
static void test_rotation_crash_points(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    request_rotation(&w, "t-1");
    char *old_key = output_key_copy(&w);
    apply_status(&w, decide(&w));
    /* status written, key not yet replaced */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    drop_key(&w);
    /* key deleted, none made yet */
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_KEY);
    add_key(&w);
    /* key replaced, the request still the old one (FINISHED, for the old key) */
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_REQUEST);
    drop_request(&w);
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_REQUEST);
    add_request(&w);
    assert_status(decide(&w), MC_IC_STATE_REQUESTED, 1, NULL);
    apply_status(&w, &w.action);
    assert_string_equal(ready_of(w.ic)->status, "True"); /* still Renewing */
    /* waiting for the issuer: the output is untouched */
    assert_int_equal(decide(&w)->type, MC_AGENT_WAIT);
    char *kept_key = output_key_copy(&w);
    assert_string_equal(kept_key, old_key);
    free(kept_key);
    finish_request(&w);
    /* signed, output not yet written */
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    int deleted[8] = {0};
    execute(&w, &w.action, deleted);
    /* output written, status not yet written: the new key is kept, and
     * (no PodBounceDirective) FINISHED ends the renewal */
    assert_status(decide(&w), MC_IC_STATE_FINISHED, 1, NULL);
    assert_int_equal(w.action.issuing, MC_AGENT_ISSUING_END);
    apply_status(&w, &w.action);
    assert_int_equal(decide(&w)->type, MC_AGENT_NOTHING);
    char *new_key = output_key_copy(&w);
    assert_string_not_equal(new_key, old_key);
    free(new_key);
    free(old_key);
    world_free(&w);
}

/* Renewal never after expiry: an expired output re-issues as before (no
 * renewal marker); a renewal in progress that outlives the output goes on. */
static void test_renewal_never_after_expiry(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    int64_t not_after = time_of(w.ic->status.not_after);
    w.obs.now = (time_t)not_after - 1;
    const mc_agent_action *a = decide(&w);
    assert_int_equal(a->issuing, MC_AGENT_ISSUING_START); /* still a renewal */
    w.obs.now = (time_t)not_after + 1;
    a = decide(&w);
    assert_status(a, MC_IC_STATE_PENDING, 1, NULL);
    assert_int_equal(a->issuing, MC_AGENT_ISSUING_KEEP); /* a re-issue, not a renewal */
    world_free(&w);
}

/* A spec change ends a renewal; a brand-new object records its token. */
static void test_generation_and_first_token(void **state)
{
    (void)state;
    world w;
    world_issued(&w, MC_IC_STATE_FINISHED);
    request_rotation(&w, "t-1");
    apply_status(&w, decide(&w));
    assert_true(mc_api_issued_certificate_renewing(&w.ic->status));
    w.ic->metadata.generation = 2;
    const mc_agent_action *a = decide(&w);
    assert_status(a, MC_IC_STATE_PENDING, 2, NULL);
    assert_int_equal(a->issuing, MC_AGENT_ISSUING_END);
    apply_status(&w, a);
    assert_false(mc_api_issued_certificate_renewing(&w.ic->status));
    assert_string_equal(ready_of(w.ic)->status, "False");
    world_free(&w);

    world_init(&w, MC_IC_STATE_PENDING);
    w.ic->status.observed_generation = 0;
    request_rotation(&w, "t-0");
    a = decide(&w);
    assert_status(a, MC_IC_STATE_PENDING, 1, NULL);
    assert_string_equal(a->rotation, "t-0");
    int keys = 0;
    run_until_steady(&w, 0, &keys);
    assert_int_equal(keys, 1);
    assert_string_equal(w.ic->status.rotation, "t-0");
    world_free(&w);
}

/* Jitter: deterministic, in [notAfter-rb-rb/5, notAfter-rb], spread over
 * 20 IssuedCertificates with the same lifetime; the clamps. */
static void test_renewal_time_jitter(void **state)
{
    (void)state;
    const int64_t nb = NOW, na = NOW + 90 * 86400, rb = 15 * 86400;
    int64_t lo = INT64_MAX, hi = INT64_MIN, times[20];
    for (int i = 0; i < 20; i++) {
        char uid[64];
        snprintf(uid, sizeof(uid), "5f0c7e4e-3c2b-4e59-9a8e-%012d", i);
        times[i] = mc_agent_renewal_time(nb, na, rb, uid, "1-0123456789abcdef");
        assert_int_equal(times[i], mc_agent_renewal_time(nb, na, rb, uid, "1-0123456789abcdef"));
        assert_true(times[i] >= na - rb - rb / 5 && times[i] <= na - rb);
        lo = times[i] < lo ? times[i] : lo;
        hi = times[i] > hi ? times[i] : hi;
    }
    int distinct = 0;
    for (int i = 0; i < 20; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= times[j] == times[i];
        distinct += !seen;
    }
    printf("renewal jitter, 20 uids, 90d lifetime, renewBefore 15d: spread %lld s of a possible "
           "%lld s, %d distinct seconds\n",
           (long long)(hi - lo), (long long)(rb / 5), distinct);
    assert_true(hi > lo);
    assert_true(distinct >= 18);
    /* a new issuance of the same object moves its time */
    assert_int_not_equal(mc_agent_renewal_time(nb, na, rb, "u", "1-a"),
                         mc_agent_renewal_time(nb, na, rb, "u", "2-b"));
    /* defaults and clamps: a third of the lifetime; renewBefore >= lifetime;
     * a 1 minute certificate; a degenerate one */
    int64_t t = mc_agent_renewal_time(nb, nb + 3000, 0, "u", "i");
    assert_true(t <= nb + 2000 && t > nb + 2000 - 200);
    t = mc_agent_renewal_time(nb, nb + 3000, 3000, "u", "i");
    assert_true(t <= nb + 2000 && t > nb + 2000 - 200);
    t = mc_agent_renewal_time(nb, nb + 60, 0, "u", "i");
    assert_true(t <= nb + 40 && t > nb + 36);
    assert_int_equal(mc_agent_renewal_time(nb, nb + 2, 0, "u", "i"), nb + 1);
    assert_int_equal(mc_agent_renewal_time(nb, nb + 1, 0, "u", "i"), nb);
    assert_int_equal(mc_agent_renewal_time(nb, nb, 0, "u", "i"), nb);
}

/* A trust bundle of two roots (rotation step 1): both go to root-cert.pem,
 * cert-chain.pem ends with the root that signed; both fingerprints in the
 * status; the output verifies and the workflow rests. */
static void test_multi_root_bundle(void **state)
{
    (void)state;
    world w;
    world_signed(&w, MC_IC_STATE_REQUESTED);
    size_t len = strlen(g_other_root.pem) + strlen(g_root.pem);
    char *trust = malloc(len + 1);
    snprintf(trust, len + 1, "%s%s", g_other_root.pem, g_root.pem);
    const mc_api_certificate_request *r = w.request;
    char *signed_pem = mc_strdup((const char *)r->status.signed_certificate);
    assert_int_equal(mc_api_certificate_request_set_signed(w.request, signed_pem,
                                                           strlen(signed_pem), trust, len),
                     0);
    assert_int_equal(decide(&w)->type, MC_AGENT_WRITE_OUTPUT);
    int deleted[8] = {0};
    execute(&w, &w.action, deleted);
    const mc_api_bytes_entry *roots = mc_api_bytes_map_get(&w.output->data, "root-cert.pem");
    const mc_api_bytes_entry *chain = mc_api_bytes_map_get(&w.output->data, "cert-chain.pem");
    assert_string_equal((const char *)roots->data, trust);
    assert_non_null(strstr((const char *)chain->data, g_root.pem));
    assert_null(strstr((const char *)chain->data, g_other_root.pem));
    assert_true(output_verifies(&w));
    int keys = 0;
    run_until_steady(&w, 0, &keys);
    assert_int_equal(keys, 0);
    assert_int_equal(w.ic->status.state, MC_IC_STATE_FINISHED);
    assert_int_equal(w.ic->status.root_fingerprints_len, 2);
    assert_string_not_equal(w.ic->status.root_fingerprints[0], w.ic->status.root_fingerprints[1]);
    /* signed by neither root: refused before anything is written */
    mc_api_certificate_request_set_signed(w.request, signed_pem, strlen(signed_pem),
                                          g_other_root.pem, strlen(g_other_root.pem));
    json_t *json = NULL;
    mc_err err = {0};
    world_sync(&w);
    assert_int_equal(mc_agent_build_output(&w.obs, "1-x", &json, &err), MC_EVERIFY);
    assert_non_null(strstr(err.msg, "signed by none of the 1 root"));
    free(signed_pem);
    free(trust);
    world_free(&w);
}

/* spec.keyType picks the key type; api/ and pki/ agree on the names. */
static void test_key_type_from_spec(void **state)
{
    (void)state;
    world w;
    world_init(&w, MC_IC_STATE_PENDING);
    assert_int_equal(mc_agent_key_type(w.ic, MC_KEY_RSA2048), MC_KEY_RSA2048);
    for (int t = MC_KEY_RSA2048; t <= MC_KEY_EC_P384; t++) {
        set_key_type(&w, mc_pki_key_type_name((mc_key_type)t));
        assert_int_equal(mc_api_issued_certificate_validate(w.ic, NULL), 0);
        assert_int_equal(mc_agent_key_type(w.ic, MC_KEY_RSA2048), t);
    }
    set_key_type(&w, "dsa");
    assert_int_not_equal(mc_api_issued_certificate_validate(w.ic, NULL), 0);
    assert_int_equal(mc_agent_key_type(w.ic, MC_KEY_EC_P256), MC_KEY_EC_P256);
    /* a key Secret of another type than spec.keyType is made again */
    add_key(&w); /* EC P-256 */
    set_key_type(&w, "ec-p384");
    assert_int_equal(decide(&w)->type, MC_AGENT_DELETE_KEY);
    set_key_type(&w, "ec-p256");
    assert_int_equal(decide(&w)->type, MC_AGENT_CREATE_REQUEST);
    world_free(&w);

    static const mc_key_type kinds[] = {MC_KEY_RSA2048, MC_KEY_EC_P256, MC_KEY_EC_P384};
    for (size_t i = 0; i < 3; i++) {
        mc_pki_key *key = NULL;
        assert_int_equal(mc_pki_key_generate(kinds[i], &key, NULL), 0);
        for (int t = MC_KEY_RSA2048; t <= MC_KEY_EC_P384; t++)
            assert_int_equal(mc_pki_key_is_type(key, (mc_key_type)t), t == (int)kinds[i]);
        mc_pki_key_free(key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_changed_restarts_every_state),
        cmocka_unit_test(test_unknown_state_restarts_at_pending),
        cmocka_unit_test(test_pending_no_key_creates_key),
        cmocka_unit_test(test_pending_key_creates_request),
        cmocka_unit_test(test_pending_unparseable_key_is_deleted),
        cmocka_unit_test(test_pending_key_not_owned),
        cmocka_unit_test(test_pending_matching_request_goes_requested),
        cmocka_unit_test(test_pending_request_from_other_key_is_deleted),
        cmocka_unit_test(test_pending_request_for_old_hosts_is_deleted),
        cmocka_unit_test(test_pending_request_for_old_generation_is_deleted),
        cmocka_unit_test(test_pending_request_of_other_owner_is_deleted),
        cmocka_unit_test(test_pending_failed_or_bad_request_is_retried),
        cmocka_unit_test(test_pending_missing_directive_fails_once),
        cmocka_unit_test(test_pending_invalid_spec_fails),
        cmocka_unit_test(test_pending_foreign_output),
        cmocka_unit_test(test_unwatched_namespace_fails),
        cmocka_unit_test(test_failed_retries_without_new_key),
        cmocka_unit_test(test_failed_without_key_creates_one),
        cmocka_unit_test(test_requested_without_key_or_request_restarts),
        cmocka_unit_test(test_requested_stale_request_restarts),
        cmocka_unit_test(test_requested_waits_for_issuer),
        cmocka_unit_test(test_requested_request_failed),
        cmocka_unit_test(test_requested_finished_writes_output),
        cmocka_unit_test(test_requested_stale_output_is_rewritten),
        cmocka_unit_test(test_requested_foreign_output),
        cmocka_unit_test(test_requested_bad_certificates_fail),
        cmocka_unit_test(test_issued_without_directive_finishes),
        cmocka_unit_test(test_issued_directive_missing_fails),
        cmocka_unit_test(test_issued_no_pods_finishes),
        cmocka_unit_test(test_issued_records_plan_then_deletes),
        cmocka_unit_test(test_issued_interrupted_bounce_deletes_again),
        cmocka_unit_test(test_issued_recorded_for_other_issuance_is_bounced_again),
        cmocka_unit_test(test_issued_deleting_pod_is_skipped),
        cmocka_unit_test(test_issued_output_gone_or_stale_restarts),
        cmocka_unit_test(test_finished_steady),
        cmocka_unit_test(test_finished_output_problems_reissue),
        cmocka_unit_test(test_finished_output_for_other_spec_reissues),
        cmocka_unit_test(test_conflict_oldest_claims_output),
        cmocka_unit_test(test_conflict_writer_keeps_output),
        cmocka_unit_test(test_conflict_output_is_a_key_secret),
        cmocka_unit_test(test_conflict_shared_directive),
        cmocka_unit_test(test_ready_condition_follows_state),
        cmocka_unit_test(test_deleting_ic_cleans_up),
        cmocka_unit_test(test_build_key_secret),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_build_output_istio),
        cmocka_unit_test(test_build_output_tls_and_errors),
        cmocka_unit_test(test_issuance_id),
        cmocka_unit_test(test_converges_and_bounces_each_pod_once),
        cmocka_unit_test(test_renewal_not_due_requeues),
        cmocka_unit_test(test_renewal_due_new_key_output_kept),
        cmocka_unit_test(test_renewal_refused_then_signed_settles),
        cmocka_unit_test(test_rotation_token_once),
        cmocka_unit_test(test_rotation_crash_points),
        cmocka_unit_test(test_renewal_never_after_expiry),
        cmocka_unit_test(test_generation_and_first_token),
        cmocka_unit_test(test_renewal_time_jitter),
        cmocka_unit_test(test_multi_root_bundle),
        cmocka_unit_test(test_key_type_from_spec),
        cmocka_unit_test(test_cache_parses_once_and_follows_changes),
        cmocka_unit_test(test_cache_bounded),
    };
    int failed = cmocka_run_group_tests_name("without cache", tests, group_setup, group_teardown);
    mc_err err = {0};
    if (mc_agent_cache_new(0, &g_cache, &err) != MC_OK)
        return 1;
    failed += cmocka_run_group_tests_name("with one cache", tests, group_setup, group_teardown);
    mc_agent_cache_free(g_cache);
    return failed;
}
