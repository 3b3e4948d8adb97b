/* workflow_chaos_test.c - 20 issuances (10 on east, 10 on west, each with a
 * PodBounceDirective selecting two pods) while the issuer and the agents are
 * SIGKILLed at random moments and restarted (workflow_fixture.h). The test
 * plays a Deployment: a bounced pod is replaced at once, within the same
 * second; it also relabels IssuedCertificates all along, so that the
 * agents' status writes meet Conflicts. It must converge to: every IssuedCertificate FINISHED with
 * a chain the openssl and certtool CLIs accept and one root for all; one live key Secret and one
 * CertificateRequest per IssuedCertificate, the key the one in its output Secret; each original pod
 * bounced exactly once, no replacement bounced, and the directive recording exactly the originals
 * for the final issuance; no private key outside its cluster or in a log.
 *
 * The random schedule comes from MC_CHAOS_SEED when set (printed always).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/issued_certificate.h"
#include "kube/client.h"
#include "pki/cert.h"
#include "util/str.h"
#include "workflow_fixture.h"

#define ISSUANCES       20
#define PODS_PER_APP    2
#define NS_APPS         WF_NS_APPS
#define MAX_PODS        256
#define CHAOS_MS        60000 /* converge within this, kills included */
#define MIN_KILLS       3     /* of the issuer, and of the agents, each */
#define ISSUANCE_GAP_MS 250   /* between two IssuedCertificates created */

typedef struct pod_record {
    char uid[64];
    char name[64];
    int cluster;
    int app;
    int original; /* created before its IssuedCertificate */
    int gone;     /* deleted (by the agent: nobody else deletes pods) */
} pod_record;

typedef struct chaos {
    wf_fixture *f;
    pod_record pods[MAX_PODS];
    size_t pod_count;
    unsigned replacements;
    unsigned churns; /* label updates of IssuedCertificates that landed */
    wf_chaos kills;  /* the SIGKILL schedule; its seed drives every random choice */
} chaos;

static int cluster_of(int i)
{
    return i % WF_MANAGED;
}

static void ic_name(int i, char *out, size_t size)
{
    snprintf(out, size, "mesh-%02d", i);
}

static void create_pod(chaos *c, int app, const char *name, int original)
{
    char label[16];
    snprintf(label, sizeof(label), "w%02d", app);
    json_t *pod =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
                  "kind", "Pod", "metadata", "name", name, "namespace", NS_APPS, "labels", "app",
                  label, "spec", "containers", "name", "app", "image", "workload");
    json_t *created = NULL;
    mc_err err = {0};
    if (mc_kube_create(c->f->managed[cluster_of(app)], mc_kube_resource_of(MC_API_PODS), NS_APPS,
                       pod, &created, &err) != MC_OK)
        wf_fail(c->f, "create pod %s: %s", name, err.msg);
    assert_true(c->pod_count < MAX_PODS);
    pod_record *r = &c->pods[c->pod_count++];
    memset(r, 0, sizeof(*r));
    mc_strlcpy(r->uid, wf_str_at(created, "metadata", "uid"), sizeof(r->uid));
    mc_strlcpy(r->name, name, sizeof(r->name));
    r->cluster = cluster_of(app);
    r->app = app;
    r->original = original;
    json_decref(created);
    json_decref(pod);
}

/* The directive, two pods and then the IssuedCertificate of issuance i. */
static void create_issuance(chaos *c, int i)
{
    char name[32], label[16], directive[32], output[32], pod[64];
    ic_name(i, name, sizeof(name));
    snprintf(label, sizeof(label), "w%02d", i);
    snprintf(directive, sizeof(directive), "bounce-%02d", i);
    snprintf(output, sizeof(output), "cacerts-%02d", i);
    mc_kube_client *client = c->f->managed[cluster_of(i)];
    wf_create(client, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), WF_NS_MESHCERT,
              json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:{s:s}}]}}", "apiVersion",
                        MC_API_GROUP_VERSION, "kind", "PodBounceDirective", "metadata", "name",
                        directive, "namespace", WF_NS_MESHCERT, "spec", "podsToBounce", "namespace",
                        NS_APPS, "labels", "app", label));
    for (int p = 0; p < PODS_PER_APP; p++) {
        snprintf(pod, sizeof(pod), "w%02d-%c", i, 'a' + p);
        create_pod(c, i, pod, 1);
    }
    wf_create_issued_certificate(client, name, output, NULL, directive);
}

static pod_record *find_pod(chaos *c, const char *uid)
{
    for (size_t i = 0; i < c->pod_count; i++)
        if (strcmp(c->pods[i].uid, uid) == 0)
            return &c->pods[i];
    return NULL;
}

/* The Deployment: notes which pods are gone and replaces each at once. */
static void replace_bounced_pods(chaos *c)
{
    for (int cl = 0; cl < WF_MANAGED; cl++) {
        json_t *list = NULL;
        mc_err err = {0};
        if (mc_kube_list(c->f->managed[cl], mc_kube_resource_of(MC_API_PODS), NS_APPS, NULL, &list,
                         &err) != MC_OK)
            wf_fail(c->f, "list pods on %s: %s", wf_managed_names[cl], err.msg);
        json_t *items = json_object_get(list, "items");
        size_t known = c->pod_count; /* not the replacements made in this pass */
        for (size_t i = 0; i < known; i++) {
            pod_record *r = &c->pods[i];
            if (r->cluster != cl || r->gone)
                continue;
            int live = 0;
            size_t index;
            json_t *item;
            json_array_foreach(items, index, item)
            {
                const char *uid = wf_str_at(item, "metadata", "uid");
                if (uid && strcmp(uid, r->uid) == 0)
                    live = 1;
            }
            if (!live) {
                r->gone = 1;
                char name[64];
                snprintf(name, sizeof(name), "w%02d-r%u", r->app, ++c->replacements);
                create_pod(c, r->app, name, 0); /* appends; r stays valid (fixed array) */
            }
        }
        json_decref(list);
    }
}

/* How many IssuedCertificates are FINISHED for their generation. */
static int finished_count(chaos *c)
{
    int finished = 0;
    for (int cl = 0; cl < WF_MANAGED; cl++) {
        json_t *list = NULL;
        mc_err err = {0};
        if (mc_kube_list(c->f->managed[cl], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                         WF_NS_MESHCERT, NULL, &list, &err) != MC_OK)
            wf_fail(c->f, "list issuedcertificates on %s: %s", wf_managed_names[cl], err.msg);
        size_t index;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), index, item)
        {
            const char *state = wf_str_at(item, "status", "state");
            json_int_t gen = json_integer_value(
                json_object_get(json_object_get(item, "metadata"), "generation"));
            json_int_t seen = json_integer_value(
                json_object_get(json_object_get(item, "status"), "observedGeneration"));
            if (state && strcmp(state, "FINISHED") == 0 && gen == seen)
                finished++;
        }
        json_decref(list);
    }
    return finished;
}

/* Another writer: relabels issuance i's IssuedCertificate (a metadata change:
 * new resourceVersion, same generation), so that the agent's status writes
 * meet Conflicts and must be redone from a fresh read. */
static void churn_labels(chaos *c, int i)
{
    char name[32], value[16];
    ic_name(i, name, sizeof(name));
    snprintf(value, sizeof(value), "%u", c->churns);
    mc_kube_client *client = c->f->managed[cluster_of(i)];
    json_t *ic = NULL;
    mc_err err = {0};
    if (mc_kube_get(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT, name,
                    &ic, &err) != MC_OK)
        return; /* not created yet */
    json_t *meta = json_object_get(ic, "metadata");
    if (!json_is_object(json_object_get(meta, "labels")))
        json_object_set_new(meta, "labels", json_object());
    json_object_set_new(json_object_get(meta, "labels"), "churn", json_string(value));
    int rc = mc_kube_update(client, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT,
                            ic, NULL, &err);
    if (rc == MC_OK)
        c->churns++;
    else if (rc != MC_ECONFLICT)
        wf_fail(c->f, "relabel %s: %s", name, err.msg);
    json_decref(ic);
}

/* Creates the issuances one by one and SIGKILLs a random process (the
 * issuer, or one of the agents) every 200-900 ms, restarting it after up to
 * 300 ms, until every IssuedCertificate is FINISHED and each kind of process
 * was killed MIN_KILLS times. Pods are replaced as they are bounced. */
static void run_chaos(chaos *c)
{
    wf_fixture *f = c->f;
    int64_t start = wf_now_ms();
    wf_chaos *kills = &c->kills;
    int64_t next_issuance = start;
    int created = 0;
    wf_chaos_start(kills, start);
    for (;;) {
        int64_t now = wf_now_ms();
        if (now - start > CHAOS_MS)
            wf_fail(f,
                    "not converged within %d s: %d of %d FINISHED, %d issuer and %d agent "
                    "kills (seed %u)",
                    CHAOS_MS / 1000, finished_count(c), ISSUANCES, kills->issuer_kills,
                    kills->agent_kills, kills->seed0);
        if (created < ISSUANCES && now >= next_issuance) {
            create_issuance(c, created++);
            next_issuance = now + ISSUANCE_GAP_MS;
        }
        wf_chaos_restart_due(f, kills, now);
        int enough = kills->issuer_kills >= MIN_KILLS && kills->agent_kills >= MIN_KILLS;
        if (!enough)
            wf_chaos_kill_due(f, kills, now);
        replace_bounced_pods(c);
        if (created > 0)
            churn_labels(c, (int)wf_chaos_between(kills, 0, created - 1));
        if (created == ISSUANCES && enough && !kills->down && finished_count(c) == ISSUANCES)
            break;
        wf_sleep_ms(20);
    }
    fprintf(stderr,
            "chaos: %d issuances FINISHED in %.1f s with %d issuer and %d agent SIGKILLs and "
            "%u label updates racing the agents' status writes (seed %u)\n",
            ISSUANCES, (double)(wf_now_ms() - start) / 1000.0, kills->issuer_kills,
            kills->agent_kills, c->churns, kills->seed0);
}

/* Exactly one key Secret and one CertificateRequest per IssuedCertificate on
 * each cluster, each owned by it; the output Secret holds that key. */
static void check_one_key_each(chaos *c)
{
    wf_fixture *f = c->f;
    for (int cl = 0; cl < WF_MANAGED; cl++) {
        json_t *keys = NULL, *requests = NULL, *ics = NULL;
        mc_err err = {0};
        assert_int_equal(mc_kube_list(f->managed[cl], mc_kube_resource_of(MC_API_SECRETS),
                                      WF_NS_MESHCERT, NULL, &keys, &err),
                         MC_OK);
        assert_int_equal(mc_kube_list(f->managed[cl],
                                      mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                                      WF_NS_MESHCERT, NULL, &requests, &err),
                         MC_OK);
        assert_int_equal(mc_kube_list(f->managed[cl],
                                      mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                      WF_NS_MESHCERT, NULL, &ics, &err),
                         MC_OK);
        size_t key_count = 0, index;
        json_t *item;
        json_array_foreach(json_object_get(keys, "items"), index, item)
        {
            const char *type = json_string_value(json_object_get(item, "type"));
            if (type && strcmp(type, MC_API_SECRET_TYPE_PRIVATE_KEY) == 0)
                key_count++;
        }
        size_t ic_count = json_array_size(json_object_get(ics, "items"));
        assert_int_equal(ic_count, ISSUANCES / WF_MANAGED);
        if (key_count != ic_count)
            wf_fail(f, "%s holds %zu key Secrets for %zu IssuedCertificates", wf_managed_names[cl],
                    key_count, ic_count);
        if (json_array_size(json_object_get(requests, "items")) != ic_count)
            wf_fail(f, "%s holds %zu CertificateRequests for %zu IssuedCertificates",
                    wf_managed_names[cl], json_array_size(json_object_get(requests, "items")),
                    ic_count);
        json_array_foreach(json_object_get(ics, "items"), index, item)
        {
            const char *name = wf_str_at(item, "metadata", "name");
            const char *uid = wf_str_at(item, "metadata", "uid");
            const char *output =
                wf_str_at(json_object_get(item, "spec"), "issuedCertificateSecret", "name");
            json_t *key = NULL, *out = NULL;
            if (mc_kube_get(f->managed[cl], mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT,
                            name, &key, &err) != MC_OK ||
                mc_kube_get(f->managed[cl], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                            output, &out, &err) != MC_OK)
                wf_fail(f, "%s: key or output Secret of %s missing: %s", wf_managed_names[cl], name,
                        err.msg);
            json_t *owner = json_array_get(
                json_object_get(json_object_get(key, "metadata"), "ownerReferences"), 0);
            const char *owner_uid = json_string_value(json_object_get(owner, "uid"));
            if (!owner_uid || strcmp(owner_uid, uid) != 0)
                wf_fail(f, "key Secret %s on %s is not owned by its IssuedCertificate", name,
                        wf_managed_names[cl]);
            char *k = wf_secret_value(key, "private-key", NULL);
            char *ok = wf_secret_value(out, "ca-key.pem", NULL);
            if (!k || !ok || strcmp(k, ok) != 0)
                wf_fail(f, "output Secret %s on %s does not hold the live key of %s", output,
                        wf_managed_names[cl], name);
            free(k);
            free(ok);
            json_decref(key);
            json_decref(out);
        }
        json_decref(keys);
        json_decref(requests);
        json_decref(ics);
    }
}

/* Every original pod bounced exactly once and recorded for the output's
 * issuance; no replacement bounced; each app back to its two pods. */
static void check_bounces(chaos *c)
{
    wf_fixture *f = c->f;
    replace_bounced_pods(c);
    for (size_t i = 0; i < c->pod_count; i++) {
        const pod_record *r = &c->pods[i];
        if (r->original && !r->gone)
            wf_fail(f, "pod %s/%s on %s was never bounced", NS_APPS, r->name,
                    wf_managed_names[r->cluster]);
        if (!r->original && r->gone)
            wf_fail(f,
                    "replacement pod %s/%s on %s was bounced: a second restart for one "
                    "issuance",
                    NS_APPS, r->name, wf_managed_names[r->cluster]);
    }
    assert_int_equal(c->replacements, ISSUANCES * PODS_PER_APP);
    for (int i = 0; i < ISSUANCES; i++) {
        char directive[32], output[32];
        snprintf(directive, sizeof(directive), "bounce-%02d", i);
        snprintf(output, sizeof(output), "cacerts-%02d", i);
        json_t *pbd = NULL, *out = NULL;
        mc_err err = {0};
        mc_kube_client *client = f->managed[cluster_of(i)];
        assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES),
                                     WF_NS_MESHCERT, directive, &pbd, &err),
                         MC_OK);
        assert_int_equal(mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                                     output, &out, &err),
                         MC_OK);
        const char *issuance = json_string_value(
            json_object_get(json_object_get(json_object_get(out, "metadata"), "annotations"),
                            "certificates.smh.solo.io/issuance"));
        assert_non_null(issuance);
        json_t *records = json_object_get(json_object_get(pbd, "status"), "bouncedPods");
        if (json_array_size(records) != PODS_PER_APP)
            wf_fail(f, "directive %s records %zu bounces, expected %d", directive,
                    json_array_size(records), PODS_PER_APP);
        size_t index;
        json_t *rec;
        json_array_foreach(records, index, rec)
        {
            const char *uid = json_string_value(json_object_get(rec, "uid"));
            const char *for_issuance = json_string_value(json_object_get(rec, "issuance"));
            const pod_record *r = uid ? find_pod(c, uid) : NULL;
            if (!r || !r->original || r->app != i)
                wf_fail(f, "directive %s records a pod that is not one of its originals: %s",
                        directive, uid ? uid : "(no uid)");
            if (!for_issuance || strcmp(for_issuance, issuance) != 0)
                wf_fail(f, "directive %s records issuance %s, the output Secret carries %s",
                        directive, for_issuance ? for_issuance : "(none)", issuance);
        }
        json_decref(pbd);
        json_decref(out);
    }
}

/* Every output Secret verifies with openssl and certtool; one root for all. */
static void check_chains(chaos *c)
{
    char first_root[256] = "", dir[32], path[256];
    for (int i = 0; i < ISSUANCES; i++) {
        char output[32];
        snprintf(output, sizeof(output), "cacerts-%02d", i);
        snprintf(dir, sizeof(dir), "out-%02d", i);
        wf_save_cacerts(c->f, c->f->managed[cluster_of(i)], output, dir);
        wf_verify_with_tools(c->f, dir);
        snprintf(path, sizeof(path), "%s/%s/root-cert.pem", c->f->work, dir);
        if (!first_root[0]) {
            mc_strlcpy(first_root, path, sizeof(first_root));
            continue;
        }
        char *a = wf_read_text(first_root), *b = wf_read_text(path);
        if (strcmp(a, b) != 0)
            wf_fail(c->f, "%s carries another root than cacerts-00", output);
        free(a);
        free(b);
    }
}

static void test_chaos(void **state)
{
    chaos *c = *state;
    if (!wf_tool_on_path("openssl") || !wf_tool_on_path("certtool"))
        fail_msg("workflow_chaos_test needs the openssl and certtool (GnuTLS) command-line tools "
                 "on PATH (packages openssl and gnutls-bin)");
    run_chaos(c);
    check_chains(c);
    check_one_key_each(c);
    check_bounces(c);
    size_t keys = wf_assert_no_key_leak(c->f);
    assert_int_equal(keys, ISSUANCES);
    for (int cl = 0; cl < WF_MANAGED; cl++)
        wf_stop_cleanly(c->f, &c->f->agents[cl], "meshcert agent");
    wf_stop_cleanly(c->f, &c->f->issuer, "meshcert issuer");
}

static int teardown(void **state)
{
    chaos *c = *state;
    if (c)
        wf_teardown(c->f);
    free(c);
    return 0;
}

static int setup(void **state)
{
    chaos *c = calloc(1, sizeof(*c));
    *state = c;
    if (!c)
        return -1;
    wf_chaos_init(&c->kills, 200, 900, 0, 300);
    int rc = wf_setup(&c->f);
    if (rc == 0)
        wf_use_fast_lease(c->f);
    for (int cl = 0; cl < WF_MANAGED && rc == 0; cl++)
        rc = wf_create_namespace(c->f->managed[cl], NS_APPS);
    if (rc == 0)
        rc = wf_start_all(c->f);
    if (rc != 0) { /* cmocka runs no teardown after a failed setup */
        teardown(state);
        *state = NULL;
    }
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chaos, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
