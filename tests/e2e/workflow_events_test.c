/* workflow_events_test.c - Kubernetes Events of the workflow, read with the
 * real kubectl (workflow_fixture.h: `meshcert server`, the issuer and east's
 * agent as real processes over HTTPS):
 *  - an issuance with a PodBounceDirective and two pods: `kubectl describe`
 *    of the IssuedCertificate, its CertificateRequest and the directive
 *    shows an Events section (not <none>): exactly Requested and Finished
 *    on the IssuedCertificate (from meshcert-agent, naming the key type,
 *    the request, the output Secret and its expiry), exactly Signed on the
 *    CertificateRequest (from meshcert-issuer), the bounce on the
 *    directive; `kubectl get events` lists them; the field selectors
 *    kubectl describe uses select exactly the object's Events; no key
 *    material in any Event; a rotate token adds RotationRequested, and a
 *    second Finished;
 *  - an IssuedCertificate whose org the registration's policy refuses: the
 *    issuer's Warning on each CertificateRequest, and the agent's looping
 *    CSRRefused aggregated into one Event whose count grows past 1, and at
 *    most one Failed (the transition);
 *  - the refused requests of a new IssuedCertificate, counted by a watch
 *    over 10 s: 2 to 10 (the agent backs off), not hundreds.
 * Without kubectl the test exits 77 (skipped, said loudly) unless CI is set,
 * when that is a failure.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/issued_certificate.h"
#include "kube/client.h"
#include "kube/watch.h"
#include "workflow_fixture.h"

#define IC_NAME      "mesh-events"
#define IC_REFUSED   "mesh-refused"
#define IC_BACKOFF   "mesh-backoff"
#define DIRECTIVE    "bounce-events"
#define NS_APPS      "apps"
#define EVENT_WAIT_S 20

/* kubectl on east with args (NULL-terminated): exit status, output in *out. */
static int kubectl(const wf_fixture *f, char **out, ...)
{
    char kubeconfig[400], *argv[24] = {"kubectl", "--kubeconfig", kubeconfig};
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/east.yaml", f->server.dir);
    size_t argc = 3;
    va_list ap;
    va_start(ap, out);
    for (char *arg; argc < 23 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    setenv("HOME", f->work, 1); /* kubectl's discovery cache */
    return wf_run_output(f, argv, out);
}

/* Waits until `kubectl describe KIND NAME` shows every reason; fails the
 * test with the last output otherwise. Returns the output (owned). */
static char *wait_describe(const wf_fixture *f, const char *kind, const char *name,
                           const char *const *reasons)
{
    char *out = NULL;
    for (int i = 0; i < EVENT_WAIT_S * 4; i++) {
        free(out);
        int rc = kubectl(f, &out, "-n", WF_NS_MESHCERT, "describe", kind, name, NULL);
        int all = rc == 0 && out;
        for (size_t r = 0; all && reasons[r]; r++)
            all = strstr(out, reasons[r]) != NULL;
        if (all) {
            fprintf(stderr, "$ kubectl describe %s %s\n%s", kind, name, out);
            return out;
        }
        wf_sleep_ms(250);
    }
    wf_fail(f, "kubectl describe %s %s does not show every expected Event reason:\n%s", kind, name,
            out ? out : "(no output)");
    return NULL;
}

/* The Events section of a describe output (borrowed, from "Events:"). */
static const char *events_section(const wf_fixture *f, const char *describe)
{
    const char *events = strstr(describe, "\nEvents:");
    if (!events)
        wf_fail(f, "no Events section in:\n%s", describe);
    if (strstr(events, "<none>"))
        wf_fail(f, "Events: <none> in:\n%s", describe);
    return events;
}

/* Events of ns selected by field selector (a list, owned). */
static json_t *list_events(const wf_fixture *f, const char *selector)
{
    mc_kube_list_options options = {.field_selector = selector};
    json_t *list = NULL;
    mc_err err = {0};
    if (mc_kube_list(f->managed[WF_EAST], mc_kube_resource_of(MC_API_EVENTS), WF_NS_MESHCERT,
                     &options, &list, &err) != MC_OK)
        wf_fail(f, "list events (%s): %s", selector, err.msg);
    return list;
}

static void create_pod(const wf_fixture *f, const char *name)
{
    json_t *pod =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
                  "kind", "Pod", "metadata", "name", name, "namespace", NS_APPS, "labels", "app",
                  "events", "spec", "containers", "name", "app", "image", "workload");
    wf_create(f->managed[WF_EAST], mc_kube_resource_of(MC_API_PODS), NS_APPS, pod);
}

/* The Event of the IssuedCertificate with reason (a new reference), or NULL. */
static json_t *find_event(const wf_fixture *f, const char *name, const char *reason)
{
    char selector[256];
    snprintf(selector, sizeof(selector),
             "involvedObject.kind=IssuedCertificate,involvedObject.name=%s,reason=%s", name,
             reason);
    json_t *list = list_events(f, selector);
    json_t *items = json_object_get(list, "items");
    if (json_array_size(items) > 1)
        wf_fail(f, "%zu Events %s for %s: one expected, aggregated", json_array_size(items), reason,
                name);
    json_t *event = json_incref(json_array_get(items, 0));
    json_decref(list);
    return event;
}

static int setup(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    if (rc == 0)
        rc = wf_create_namespace(f->managed[WF_EAST], NS_APPS) == MC_OK ? 0 : -1;
    if (rc == 0)
        rc = wf_start_all(f); /* west's agent too: the key leak check reads its log */
    return wf_setup_done(state, f, rc);
}

static void test_describe_shows_the_workflow(void **state)
{
    wf_fixture *f = *state;
    mc_kube_client *east = f->managed[WF_EAST];
    wf_create(east, mc_kube_resource_of(MC_API_POD_BOUNCE_DIRECTIVES), WF_NS_MESHCERT,
              json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:{s:s}}]}}", "apiVersion",
                        MC_API_GROUP_VERSION, "kind", "PodBounceDirective", "metadata", "name",
                        DIRECTIVE, "namespace", WF_NS_MESHCERT, "spec", "podsToBounce", "namespace",
                        NS_APPS, "labels", "app", "events"));
    create_pod(f, "istiod-a");
    create_pod(f, "istiod-b");
    wf_create_issued_certificate(east, IC_NAME, "cacerts-events", NULL, DIRECTIVE);
    wf_ic_view view;
    wf_wait_ic_state(f, east, "east", IC_NAME, "FINISHED", 1, &view);

    static const char *const ic_reasons[] = {"Requested", "Finished", NULL};
    char *out = wait_describe(f, "issuedcertificate", IC_NAME, ic_reasons);
    const char *events = events_section(f, out);
    assert_non_null(strstr(events, "meshcert-agent"));
    assert_null(strstr(events, "Warning"));
    free(out);
    /* the issuer's answer only: the agent's creation is the IC's Requested */
    static const char *const request_reasons[] = {"Signed", "meshcert-issuer", NULL};
    out = wait_describe(f, "certificaterequest", IC_NAME, request_reasons);
    events = events_section(f, out);
    assert_null(strstr(events, "meshcert-agent"));
    free(out);
    static const char *const directive_reasons[] = {"BouncePlanned", "BouncedPods", "istiod-a",
                                                    "istiod-b", NULL};
    out = wait_describe(f, "podbouncedirective", DIRECTIVE, directive_reasons);
    events_section(f, out);
    free(out);

    /* kubectl get events lists them, with the object in kube's words */
    assert_int_equal(kubectl(f, &out, "-n", WF_NS_MESHCERT, "get", "events", NULL), 0);
    assert_non_null(strstr(out, "issuedcertificate/" IC_NAME));
    assert_non_null(strstr(out, "certificaterequest/" IC_NAME));
    assert_non_null(strstr(out, "Finished"));
    free(out);
    /* kubectl events --for: the object's Events only */
    assert_int_equal(kubectl(f, &out, "-n", WF_NS_MESHCERT, "events", "--for",
                             "podbouncedirective/" DIRECTIVE, NULL),
                     0);
    assert_non_null(strstr(out, "BouncedPods"));
    assert_null(strstr(out, "Requested")); /* the IssuedCertificate's */
    free(out);

    /* the selectors kubectl describe sends select exactly this object's Events */
    json_t *ic = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(east, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                 WF_NS_MESHCERT, IC_NAME, &ic, &err),
                     MC_OK);
    char selector[512];
    snprintf(selector, sizeof(selector),
             "involvedObject.name=%s,involvedObject.namespace=%s,"
             "involvedObject.kind=IssuedCertificate,involvedObject.uid=%s",
             IC_NAME, WF_NS_MESHCERT, wf_str_at(ic, "metadata", "uid"));
    json_decref(ic);
    json_t *list = list_events(f, selector);
    json_t *items = json_object_get(list, "items"), *item;
    size_t i;
    /* the success path is two Events (issue 13: few requests per issuance) */
    assert_int_equal(json_array_size(items), 2);
    json_array_foreach(items, i, item)
    {
        const char *reason = json_string_value(json_object_get(item, "reason"));
        const char *message = json_string_value(json_object_get(item, "message"));
        if (strcmp(reason, "Requested") == 0) {
            assert_non_null(strstr(message, "CertificateRequest " WF_NS_MESHCERT "/" IC_NAME));
            assert_non_null(strstr(message, "private key in Secret " WF_NS_MESHCERT "/" IC_NAME));
        } else {
            assert_string_equal(reason, "Finished");
            assert_non_null(strstr(message, "Secret " WF_NS_ISTIO "/cacerts-events"));
            assert_non_null(strstr(message, "valid until 20"));
            assert_non_null(strstr(message, "pods bounced"));
        }
        assert_string_equal(json_string_value(json_object_get(item, "type")), "Normal");
        assert_string_equal(wf_str_at(item, "involvedObject", "name"), IC_NAME);
        assert_string_equal(wf_str_at(item, "involvedObject", "kind"), "IssuedCertificate");
        assert_string_equal(wf_str_at(item, "source", "component"), "meshcert-agent");
        assert_string_equal(json_string_value(json_object_get(item, "reportingComponent")),
                            "meshcert-agent");
        assert_true(json_integer_value(json_object_get(item, "count")) >= 1);
        assert_non_null(json_string_value(json_object_get(item, "firstTimestamp")));
        assert_non_null(json_string_value(json_object_get(item, "lastTimestamp")));
        const char *name = wf_str_at(item, "metadata", "name");
        assert_true(strncmp(name, IC_NAME ".", strlen(IC_NAME) + 1) == 0);
    }
    json_decref(list);
    list = list_events(f, "involvedObject.kind=IssuedCertificate,involvedObject.name!=" IC_NAME);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    list = list_events(f, "involvedObject.uid=no-such-uid");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    assert_true(wf_assert_no_key_leak(f) >= 1); /* Events included */

    /* a new rotate token: RotationRequested, then Finished again (the new
     * expiry: another message, so another Event, or the same one counted
     * twice should the expiry be the same second) */
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations",
                              MC_API_IC_ROTATE_ANNOTATION, "events-1");
    assert_int_equal(mc_kube_patch(east, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                                   WF_NS_MESHCERT, IC_NAME, MC_KUBE_PATCH_MERGE, patch, 0, NULL,
                                   &err),
                     MC_OK);
    json_decref(patch);
    static const char *const rotation_reasons[] = {"RotationRequested", NULL};
    free(wait_describe(f, "issuedcertificate", IC_NAME, rotation_reasons));
    for (int tries = 0;; tries++) {
        list = list_events(f, "involvedObject.kind=IssuedCertificate,involvedObject.name=" IC_NAME
                              ",reason=Finished");
        int64_t n = 0;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            n += json_integer_value(json_object_get(item, "count"));
        }
        json_decref(list);
        if (n == 2)
            break;
        if (tries == EVENT_WAIT_S * 4)
            wf_fail(f, "the rotation's Finished Events do not count 2 (count %lld)", (long long)n);
        wf_sleep_ms(250);
    }
}

/* Creates on east an IssuedCertificate the issuer refuses: the
 * registration's policy allows org Istio only. */
static void create_refused_ic(wf_fixture *f, const char *name, const char *secret)
{
    json_t *ic = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}",
                           "apiVersion", MC_API_GROUP_VERSION, "kind", "IssuedCertificate",
                           "metadata", "name", name, "namespace", WF_NS_MESHCERT, "spec", "hosts",
                           WF_HOST_SPIFFE, "org", "Not Istio", "signingCertificateSecret", "name",
                           WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT, "issuedCertificateSecret",
                           "name", secret, "namespace", WF_NS_ISTIO);
    wf_create(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT,
              ic);
}

static void test_repeated_refusal_aggregates(void **state)
{
    wf_fixture *f = *state;
    mc_kube_client *east = f->managed[WF_EAST];
    create_refused_ic(f, IC_REFUSED, "cacerts-refused");
    wf_ic_view view;
    wf_wait_ic_state(f, east, "east", IC_REFUSED, "FAILED", 1, &view);

    json_t *event = NULL;
    int64_t count = 0;
    for (int i = 0; i < EVENT_WAIT_S * 4 && count < 3; i++) {
        json_decref(event);
        event = find_event(f, IC_REFUSED, "CSRRefused");
        count = event ? json_integer_value(json_object_get(event, "count")) : 0;
        if (count < 3)
            wf_sleep_ms(250);
    }
    if (count < 3)
        wf_fail(f, "no CSRRefused Event with count >= 3 for %s (count %lld)", IC_REFUSED,
                (long long)count);
    assert_string_equal(json_string_value(json_object_get(event, "type")), "Warning");
    assert_non_null(strstr(json_string_value(json_object_get(event, "message")), "org"));
    const char *first = json_string_value(json_object_get(event, "firstTimestamp"));
    const char *last = json_string_value(json_object_get(event, "lastTimestamp"));
    assert_true(strcmp(first, last) <= 0);
    json_decref(event);
    /* the transition to FAILED: once. A fast enough refusal loop spends the
     * object's burst of 25 before the agent wins the race to REQUESTED (the
     * spam filter then takes it), so it may be absent, never repeated. */
    event = find_event(f, IC_REFUSED, "Failed");
    if (event)
        assert_int_equal(json_integer_value(json_object_get(event, "count")), 1);
    json_decref(event);

    /* the issuer's Warnings on the requests, by refusal class: one Event per
     * request (each a new object), at most the spam filter's burst of 25 for
     * the name however long the agent's loop of new requests runs (backing
     * off: a few in the first seconds) */
    wf_sleep_ms(3000);
    json_t *list = list_events(f, "involvedObject.kind=CertificateRequest,"
                                  "involvedObject.name=" IC_REFUSED ",type=Warning");
    json_t *items = json_object_get(list, "items"), *item;
    size_t i;
    assert_true(json_array_size(items) >= 1);
    assert_true(json_array_size(items) <= 25);
    json_array_foreach(items, i, item)
    {
        assert_string_equal(wf_str_at(item, "source", "component"), "meshcert-issuer");
        assert_string_equal(json_string_value(json_object_get(item, "reason")), "PolicyDenied");
    }
    json_decref(list);

    /* kubectl describe shows the aggregate as kube does: "(xN over ...)" */
    static const char *const reasons[] = {"CSRRefused", "Requested", NULL};
    char *out = wait_describe(f, "issuedcertificate", IC_REFUSED, reasons);
    const char *events = events_section(f, out);
    const char *line = strstr(events, "CSRRefused");
    const char *eol = line ? strchr(line, '\n') : NULL;
    const char *times = line ? strstr(line, "(x") : NULL;
    if (!times || (eol && times > eol))
        wf_fail(f, "kubectl describe shows no count on the CSRRefused line:\n%s", out);
    free(out);
}

/* Refusals of one CertificateRequest name seen by a watch: each request
 * the issuer FAILED, counted once by uid (on the watcher's thread). */
typedef struct refusal_count {
    pthread_mutex_t lock;
    const char *name;
    char last_uid[64]; /* (lock) */
    int count;         /* (lock) */
} refusal_count;

static void count_refusal(void *ctx, mc_kube_event_type type, const json_t *obj)
{
    refusal_count *c = ctx;
    const char *name = wf_str_at(obj, "metadata", "name");
    const char *uid = wf_str_at(obj, "metadata", "uid");
    const char *state = wf_str_at(obj, "status", "state");
    if ((type != MC_KUBE_ADDED && type != MC_KUBE_MODIFIED) || !name || !uid || !state ||
        strcmp(name, c->name) != 0 || strcmp(state, "FAILED") != 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (strcmp(uid, c->last_uid) != 0) {
        snprintf(c->last_uid, sizeof(c->last_uid), "%s", uid);
        c->count++;
    }
    pthread_mutex_unlock(&c->lock);
}

/* A refused request is made again only with the FAILED issuance's
 * exponential backoff: the issuer's refusals of one IssuedCertificate over
 * its first 10 s stay few (about 6 at 5 ms doubling), not the ~230 of a
 * loop at the issuer's pace; and retries still happen. */
static void test_refusal_retries_back_off(void **state)
{
    wf_fixture *f = *state;
    refusal_count counted = {.lock = PTHREAD_MUTEX_INITIALIZER, .name = IC_BACKOFF};
    mc_kube_watcher *watcher = NULL;
    mc_kube_watch *watch = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_watcher_new(&watcher, &err), MC_OK);
    if (mc_kube_watch_start(watcher, f->managed[WF_EAST],
                            mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), WF_NS_MESHCERT, NULL,
                            count_refusal, &counted, &watch, &err) != MC_OK) {
        mc_kube_watcher_free(watcher);
        wf_fail(f, "watch of certificaterequests: %s", err.msg);
    }
    wf_sleep_ms(500); /* the watch connects */
    create_refused_ic(f, IC_BACKOFF, "cacerts-backoff");
    wf_sleep_ms(10000);
    pthread_mutex_lock(&counted.lock);
    int refusals = counted.count;
    pthread_mutex_unlock(&counted.lock);
    mc_kube_watcher_free(watcher);
    print_message("refusals of %s in 10 s: %d\n", IC_BACKOFF, refusals);
    if (refusals < 2 || refusals > 10)
        wf_fail(f, "%d refusals of %s in 10 s: want 2 to 10 (retried with backoff)", refusals,
                IC_BACKOFF);
}

int main(void)
{
    if (!wf_tool_on_path("kubectl")) {
        if (getenv("CI")) {
            fprintf(stderr, "FAIL: kubectl is not installed; CI is set, so that is a failure\n");
            return 1;
        }
        fprintf(stderr, "################################################################\n"
                        "SKIPPED: kubectl is not installed: the Events test needs it\n"
                        "################################################################\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_shows_the_workflow),
        cmocka_unit_test(test_repeated_refusal_aggregates),
        cmocka_unit_test(test_refusal_retries_back_off),
    };
    return cmocka_run_group_tests(tests, setup, wf_cmocka_teardown);
}
