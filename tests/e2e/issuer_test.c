/* issuer_test.c - `meshcert issuer` as a real process against `meshcert
 * server` with two logical clusters: mgmt (registration Secret, generated
 * root, Lease) and east (CRDs, IssuedCertificates, CertificateRequests).
 * A request whose CSR asks for the IssuedCertificate's hosts and org ends
 * FINISHED with a certificate that chains to signingRootCa, carries the hosts
 * and holds the CSR's key; one asking for an extra SAN ends FAILED naming it;
 * the cluster is registered after the issuer started and, deregistered, is
 * no longer answered; SIGTERM stops the issuer with exit status 0 (under
 * ASan: nothing leaked). With two replicas, the Lease names one, a request
 * is answered once, and the other takes over when the leader is SIGKILLed.
 */
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/registration.h"
#include "api/yaml.h"
#include "kube/client.h"
#include "kube/config.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/verify.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/str.h"
#include "workflow_fixture.h"

extern char **environ;

#define NS_MGMT "meshcert"
#define NS_EAST "istio-system"
#define ORG     "Istio"

static const char *const hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/istio-citadel",
                                    "istiod.istio-system.svc"};

typedef struct fixture {
    server_process server;
    mc_kube_client *mgmt;
    mc_kube_client *east;
    pid_t issuer;
    pid_t standby; /* a second replica (test_two_replicas) */
} fixture;

/* Starts an issuer replica; its Lease lasts 2 s (renew deadline 1.5 s, retry
 * 250 ms) so that a killed leader is replaced quickly. */
static int start_issuer_with(fixture *f, pid_t *pid, const char *extra1, const char *extra2)
{
    char kubeconfig[512];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    char *argv[] = {MESHCERT_BIN,
                    "issuer",
                    "--kubeconfig",
                    kubeconfig,
                    "--namespace",
                    NS_MGMT,
                    "--generate-root",
                    "--root-key-type",
                    "ec-p256",
                    "--workers",
                    "2",
                    "--leader-elect-lease-duration",
                    "2s",
                    "--leader-elect-renew-deadline",
                    "1500ms",
                    "--leader-elect-retry-period",
                    "250ms",
                    "--log-level",
                    "info",
                    (char *)extra1,
                    (char *)extra2,
                    NULL};
    return posix_spawn(pid, MESHCERT_BIN, NULL, NULL, argv, environ) == 0 ? 0 : -1;
}

static int start_issuer_as(fixture *f, pid_t *pid)
{
    return start_issuer_with(f, pid, NULL, NULL);
}

static int start_issuer(fixture *f)
{
    return start_issuer_as(f, &f->issuer);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    const char *args[] = {"--cluster", "mgmt", "--cluster", "east", NULL};
    if (server_process_start(&f->server, args) != 0 ||
        wf_client_for(&f->server, "mgmt", &f->mgmt) != 0 ||
        wf_client_for(&f->server, "east", &f->east) != 0)
        return -1;
    if (wf_create_namespace(f->mgmt, NS_MGMT) != 0 || wf_create_namespace(f->east, NS_EAST) != 0 ||
        wf_apply_crds(f->east) != 0)
        return -1;
    /* registered after the issuer started: picked up without a restart */
    if (start_issuer(f) != 0)
        return -1;
    wf_sleep_ms(300);
    return wf_register_cluster(&f->server, f->mgmt, "east");
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    wf_kill(&f->issuer);
    wf_kill(&f->standby);
    mc_kube_client_free(f->mgmt);
    mc_kube_client_free(f->east);
    server_process_stop(&f->server);
    free(f);
    return 0;
}

/* Creates obj on east, waiting for its CRD to be served. */
static void create_on_east(fixture *f, const mc_kube_resource *res, json_t *obj)
{
    mc_err err = {0};
    int rc = MC_ENOTFOUND;
    for (int i = 0; i < 100 && rc == MC_ENOTFOUND; i++) {
        rc = mc_kube_create(f->east, res, NS_EAST, obj, NULL, &err);
        if (rc == MC_ENOTFOUND)
            wf_sleep_ms(100);
    }
    if (rc != MC_OK)
        fprintf(stderr, "create: %s\n", err.msg);
    assert_int_equal(rc, MC_OK);
}

/* An IssuedCertificate on east as its admin may write it: any hosts, org and
 * signingCertificateSecret. */
static void create_issued_certificate_as(fixture *f, const char *name, const char *org,
                                         const char *const *ic_hosts, size_t host_count,
                                         const char *root_ns, const char *root_name)
{
    json_t *host_array = json_array();
    for (size_t i = 0; i < host_count; i++)
        json_array_append_new(host_array, json_string(ic_hosts[i]));
    json_t *ic = json_pack("{s:s, s:s, s:{s:s}, s:{s:o, s:s, s:{s:s, s:s}, s:{s:s, s:s}}}",
                           "apiVersion", MC_API_GROUP_VERSION, "kind", "IssuedCertificate",
                           "metadata", "name", name, "spec", "hosts", host_array, "org", org,
                           "signingCertificateSecret", "name", root_name, "namespace", root_ns,
                           "issuedCertificateSecret", "name", "cacerts", "namespace", NS_EAST);
    assert_non_null(ic);
    create_on_east(f, mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), ic);
    json_decref(ic);
}

static void create_issued_certificate(fixture *f, const char *name)
{
    create_issued_certificate_as(f, name, ORG, hosts, 2, NS_MGMT, "root-ca");
}

/* Creates CertificateRequest name with a CSR of key for the given hosts. */
static void create_request_as(fixture *f, const char *name, const mc_pki_key *key, const char *org,
                              const char *const *csr_hosts, size_t host_count)
{
    mc_err err = {0};
    mc_pki_csr *csr = NULL;
    char *pem = NULL, *b64 = NULL;
    size_t len = 0;
    assert_int_equal(mc_pki_csr_create(key, org, csr_hosts, host_count, &csr, &err), MC_OK);
    assert_int_equal(mc_pki_csr_to_pem(csr, &pem, &len, &err), MC_OK);
    assert_int_equal(mc_base64_encode(pem, len, &b64, NULL), MC_OK);
    json_t *request = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", MC_API_GROUP_VERSION,
                                "kind", "CertificateRequest", "metadata", "name", name, "spec",
                                "certificateSigningRequest", b64);
    assert_non_null(request);
    create_on_east(f, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), request);
    json_decref(request);
    free(b64);
    free(pem);
    mc_pki_csr_free(csr);
}

static void create_request(fixture *f, const char *name, const mc_pki_key *key,
                           const char *const *csr_hosts, size_t host_count)
{
    create_request_as(f, name, key, ORG, csr_hosts, host_count);
}

/* Waits (at most 20 s) for the request's status to be FINISHED or FAILED;
 * returns its status (new reference). */
static json_t *wait_answered(fixture *f, const char *name)
{
    int64_t deadline = wf_now_ms() + 20000;
    while (wf_now_ms() < deadline) {
        json_t *obj = NULL;
        mc_err err = {0};
        if (mc_kube_get(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), NS_EAST, name,
                        &obj, &err) == MC_OK) {
            json_t *status = json_object_get(obj, "status");
            const char *state = json_string_value(json_object_get(status, "state"));
            if (state && (strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0)) {
                json_incref(status);
                json_decref(obj);
                return status;
            }
            json_decref(obj);
        }
        wf_sleep_ms(100);
    }
    fail_msg("certificaterequest %s/%s not answered within 20 s", NS_EAST, name);
    return NULL;
}

/* Decodes a base64 bytes field into a certificate. */
static mc_pki_cert *status_cert(const json_t *status, const char *field)
{
    const char *text = json_string_value(json_object_get(status, field));
    assert_non_null(text);
    unsigned char *pem = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode(text, strlen(text), &pem, &len, &err), MC_OK);
    mc_pki_cert *cert = NULL;
    assert_int_equal(mc_pki_cert_from_pem((const char *)pem, len, field, &cert, &err), MC_OK);
    free(pem);
    return cert;
}

/* The Ready condition in a request status (borrowed) or NULL. */
static const json_t *ready_in(const json_t *status)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, "Ready") == 0)
            return c;
    }
    return NULL;
}

static void assert_ready(const json_t *status, const char *want, const char *reason)
{
    const json_t *ready = ready_in(status);
    if (!ready)
        fail_msg("no Ready condition in the request's status");
    assert_string_equal(json_string_value(json_object_get(ready, "status")), want);
    assert_string_equal(json_string_value(json_object_get(ready, "reason")), reason);
    assert_int_equal(json_integer_value(json_object_get(ready, "observedGeneration")),
                     json_integer_value(json_object_get(status, "observedGeneration")));
    assert_non_null(json_string_value(json_object_get(ready, "lastTransitionTime")));
}

/* SIGTERM the issuer: exit status 0 within 15 s (under ASan: nothing
 * leaked, or the exit status says so). */
static void stop_cleanly(fixture *f)
{
    assert_int_equal(kill(f->issuer, SIGTERM), 0);
    int wstatus = 0;
    pid_t done = 0;
    for (int i = 0; i < 150 && done == 0; i++) {
        done = waitpid(f->issuer, &wstatus, WNOHANG);
        if (done == 0)
            wf_sleep_ms(100);
    }
    assert_int_equal(done, f->issuer);
    f->issuer = 0;
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
}

static void test_issue_refuse_and_stop(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &key, &err), MC_OK);

    /* 1. A request for exactly the IssuedCertificate's hosts and org. */
    create_issued_certificate(f, "mesh-1");
    create_request(f, "mesh-1", key, hosts, 2);
    json_t *status = wait_answered(f, "mesh-1");
    const char *error = json_string_value(json_object_get(status, "error"));
    if (error)
        fprintf(stderr, "mesh-1 error: %s\n", error);
    assert_string_equal(json_string_value(json_object_get(status, "state")), "FINISHED");
    assert_true(json_integer_value(json_object_get(status, "observedGeneration")) >= 1);
    mc_pki_cert *cert = status_cert(status, "signedCertificate");
    mc_pki_cert *root = status_cert(status, "signingRootCa");
    assert_int_equal(mc_pki_verify_chain(cert, NULL, 0, &root, 1, 0, &err), MC_OK);
    assert_int_equal(mc_pki_cert_check_identity(cert, ORG, hosts, 2, &err), MC_OK);
    assert_int_equal(mc_pki_cert_matches_key(cert, key, &err), MC_OK);
    assert_true(mc_pki_cert_is_ca(cert));
    assert_ready(status, "True", "Finished"); /* issue 11 */
    json_decref(status);

    /* An answer without its Ready condition (an older issuer's) gets one,
     * and nothing else changes. */
    json_t *answered = NULL;
    assert_int_equal(mc_kube_get(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), NS_EAST,
                                 "mesh-1", &answered, &err),
                     MC_OK);
    const char *signed_b64 = json_string_value(
        json_object_get(json_object_get(answered, "status"), "signedCertificate"));
    char *signed_before = signed_b64 ? strdup(signed_b64) : NULL;
    json_object_del(json_object_get(answered, "status"), "conditions");
    if (mc_kube_update_status(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), NS_EAST,
                              answered, NULL, &err) != MC_OK)
        fail_msg("drop the conditions: %s", err.msg);
    json_decref(answered);
    int64_t deadline = wf_now_ms() + 20000;
    const json_t *ready = NULL;
    for (;;) {
        answered = NULL;
        assert_int_equal(mc_kube_get(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                                     NS_EAST, "mesh-1", &answered, &err),
                         MC_OK);
        ready = ready_in(json_object_get(answered, "status"));
        if (ready || wf_now_ms() > deadline)
            break;
        json_decref(answered);
        wf_sleep_ms(100);
    }
    if (!ready)
        fail_msg("the issuer did not add the Ready condition to an answer without it");
    assert_ready(json_object_get(answered, "status"), "True", "Finished");
    assert_string_equal(json_string_value(json_object_get(json_object_get(answered, "status"),
                                                          "signedCertificate")),
                        signed_before);
    free(signed_before);
    json_decref(answered);

    /* The root was generated in the management cluster, as a signing Secret
     * holding the root handed out. */
    json_t *root_secret = NULL;
    assert_int_equal(mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), NS_MGMT, "root-ca",
                                 &root_secret, &err),
                     MC_OK);
    assert_string_equal(json_string_value(json_object_get(root_secret, "type")),
                        MC_API_SECRET_TYPE_SIGNING);
    mc_api_secret *decoded = NULL;
    assert_int_equal(mc_api_secret_decode(root_secret, &decoded, &err), MC_OK);
    const mc_api_bytes_entry *root_pem = mc_api_bytes_map_get(&decoded->data, "root-cert.pem");
    assert_non_null(root_pem);
    assert_non_null(mc_api_bytes_map_get(&decoded->data, "key.pem"));
    mc_pki_cert *stored = NULL;
    assert_int_equal(
        mc_pki_cert_from_pem((const char *)root_pem->data, root_pem->len, "root", &stored, &err),
        MC_OK);
    assert_true(mc_pki_cert_equal(stored, root));
    mc_pki_cert_free(stored);
    mc_api_secret_free(decoded);
    json_decref(root_secret);
    mc_pki_cert_free(cert);
    mc_pki_cert_free(root);

    /* 2. A request asking for one SAN more than the IssuedCertificate. */
    const char *greedy[] = {hosts[0], hosts[1], "evil.example.com"};
    create_issued_certificate(f, "mesh-2");
    create_request(f, "mesh-2", key, greedy, 3);
    status = wait_answered(f, "mesh-2");
    assert_string_equal(json_string_value(json_object_get(status, "state")), "FAILED");
    error = json_string_value(json_object_get(status, "error"));
    assert_non_null(error);
    if (!strstr(error, "evil.example.com"))
        fail_msg("error does not name the extra SAN: %s", error);
    assert_ready(status, "False", "Failed");
    assert_string_equal(json_string_value(json_object_get(ready_in(status), "message")), error);
    assert_null(json_object_get(status, "signedCertificate"));
    json_decref(status);
    mc_pki_key_free(key);

    /* 3. Deregistered: east's requests are no longer answered. */
    assert_int_equal(
        mc_kube_delete(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), NS_MGMT, "east", NULL, &err),
        MC_OK);
    wf_sleep_ms(1000);
    create_issued_certificate(f, "mesh-3");
    key = NULL;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &key, &err), MC_OK);
    create_request(f, "mesh-3", key, hosts, 2);
    mc_pki_key_free(key);
    wf_sleep_ms(2000);
    json_t *unanswered = NULL;
    assert_int_equal(mc_kube_get(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), NS_EAST,
                                 "mesh-3", &unanswered, &err),
                     MC_OK);
    assert_null(json_object_get(json_object_get(unanswered, "status"), "signedCertificate"));
    assert_null(json_object_get(json_object_get(unanswered, "status"), "error"));
    json_decref(unanswered);

    /* 4. SIGTERM: exit status 0 within 15 s, the Lease released. */
    stop_cleanly(f);
    json_t *lease = NULL;
    assert_int_equal(mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_LEASES), NS_MGMT,
                                 "meshcert-issuer", &lease, &err),
                     MC_OK);
    const char *holder =
        json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
    assert_true(!holder || !*holder);
    json_decref(lease);
}

/* The Lease's holderIdentity ends in "-<pid>" (issuer.c: <host>-<pid>). */
static int lease_held_by(fixture *f, pid_t pid)
{
    json_t *lease = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_LEASES), NS_MGMT, "meshcert-issuer", &lease,
                    &err) != MC_OK)
        return 0;
    const char *holder =
        json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "-%ld", (long)pid);
    size_t n = holder ? strlen(holder) : 0, m = strlen(suffix);
    int held = n > m && strcmp(holder + n - m, suffix) == 0;
    json_decref(lease);
    return held;
}

/* Signs a fresh request on east and returns its signed certificate's PEM
 * (base64, owned) once answered FINISHED. */
static char *signed_request(fixture *f, const char *name)
{
    mc_err err = {0};
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &key, &err), MC_OK);
    create_issued_certificate(f, name);
    create_request(f, name, key, hosts, 2);
    mc_pki_key_free(key);
    json_t *status = wait_answered(f, name);
    assert_string_equal(json_string_value(json_object_get(status, "state")), "FINISHED");
    char *cert = mc_strdup(json_string_value(json_object_get(status, "signedCertificate")));
    json_decref(status);
    return cert;
}

/* Two replicas: one leads (the Lease names it) and signs, the other stands
 * by; a request is answered once, not overwritten by the standby; after a
 * SIGKILL of the leader the standby takes the Lease within a few seconds
 * and answers the next request. */
static void test_two_replicas(void **state)
{
    fixture *f = *state;
    /* the first replica leads before the second starts: two started
     * together race for the Lease */
    int64_t deadline = wf_now_ms() + 10000;
    while (!lease_held_by(f, f->issuer) && wf_now_ms() < deadline)
        wf_sleep_ms(50);
    assert_true(lease_held_by(f, f->issuer));
    assert_int_equal(start_issuer_as(f, &f->standby), 0);
    wf_sleep_ms(500);
    assert_true(lease_held_by(f, f->issuer));
    assert_false(lease_held_by(f, f->standby));

    char *first = signed_request(f, "mesh-a");
    wf_sleep_ms(1000); /* a second signer would overwrite the status now */
    json_t *again = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(f->east, mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS), NS_EAST,
                                 "mesh-a", &again, &err),
                     MC_OK);
    assert_string_equal(wf_str_at(again, "status", "signedCertificate"), first);
    json_decref(again);
    free(first);

    int64_t killed = wf_now_ms();
    wf_kill(&f->issuer);
    deadline = killed + 15000;
    while (!lease_held_by(f, f->standby) && wf_now_ms() < deadline)
        wf_sleep_ms(50);
    if (!lease_held_by(f, f->standby))
        fail_msg("the standby issuer did not take the Lease within 15 s of the leader's SIGKILL");
    fprintf(stderr, "standby took the Lease %.1f s after the leader's SIGKILL (lease 2 s)\n",
            (double)(wf_now_ms() - killed) / 1000.0);
    char *second = signed_request(f, "mesh-b");
    free(second);
}

/* A request east's admin makes for its own IssuedCertificate (the CSR
 * asks for exactly its org and hosts): the request's error once FAILED
 * (owned), after checking that nothing was signed. */
static char *refused(fixture *f, const char *name, const char *org, const char *const *ic_hosts,
                     size_t host_count, const char *root_ns, const char *root_name)
{
    mc_err err = {0};
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &key, &err), MC_OK);
    create_issued_certificate_as(f, name, org, ic_hosts, host_count, root_ns, root_name);
    create_request_as(f, name, key, org, ic_hosts, host_count);
    mc_pki_key_free(key);
    json_t *status = wait_answered(f, name);
    const char *state = json_string_value(json_object_get(status, "state"));
    if (strcmp(state, "FAILED") != 0)
        fail_msg("%s: east's hostile IssuedCertificate was answered %s", name, state);
    assert_null(json_object_get(status, "signedCertificate"));
    assert_null(json_object_get(status, "signingRootCa"));
    char *error = mc_strdup(json_string_value(json_object_get(status, "error")));
    assert_non_null(error);
    json_decref(status);
    return error;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" lacks \"%s\"", text, part);
}

static int secret_exists(fixture *f, const char *ns, const char *name)
{
    json_t *obj = NULL;
    mc_err err = {0};
    int rc = mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), ns, name, &obj, &err);
    json_decref(obj);
    assert_true(rc == MC_OK || rc == MC_ENOTFOUND);
    return rc == MC_OK;
}

/* Replaces east's registration with one whose policy also allows root. */
static void allow_root(fixture *f, const char *root)
{
    mc_err err = {0};
    mc_api_registration_policy policy;
    assert_int_equal(wf_default_policy(&policy), 0);
    assert_int_equal(mc_api_registration_policy_add(&policy, MC_POLICY_ROOT, root, &err), MC_OK);
    assert_int_equal(
        mc_kube_delete(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), NS_MGMT, "east", NULL, &err),
        MC_OK);
    wf_sleep_ms(500);
    assert_int_equal(wf_register_cluster_with(&f->server, f->mgmt, "east", &policy), MC_OK);
    mc_api_registration_policy_clear(&policy);
    wf_sleep_ms(1000);
}

/* Issues 14 and 11: east's admin writes what it likes into its own
 * IssuedCertificates; the management cluster's policy for east (root
 * meshcert/root-ca, trust domain cluster.local, DNS suffix
 * istio-system.svc, org Istio) decides. Names outside it, another cluster's
 * trust domain, or a management Secret of its choosing as root: FAILED,
 * nothing signed, no Secret created, and the same words whether the Secret
 * named exists. --generate-root makes only --root-secret, and not while
 * another root is in the namespace unless --allow-another-root. */
static void test_trust_boundary(void **state)
{
    fixture *f = *state;
    mc_err err = {0};
    assert_int_equal(wf_create_namespace(f->mgmt, "kube-system"), 0);
    json_t *existing = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                                 "Secret", "metadata", "name", "existing", "namespace",
                                 "kube-system", "data", "token", "c2VjcmV0");
    assert_int_equal(mc_kube_create(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), "kube-system",
                                    existing, NULL, &err),
                     MC_OK);
    json_decref(existing);
    /* inside the policy: signed (root-ca generated), the policy as critical
     * name constraints in the intermediate */
    char *good = signed_request(f, "good");
    json_t *good_status = json_pack("{s:s}", "signedCertificate", good);
    mc_pki_cert *good_cert = status_cert(good_status, "signedCertificate");
    mc_buf constraints;
    mc_buf_init(&constraints, 4096);
    assert_int_equal(mc_pki_cert_name_constraints(good_cert, &constraints), 1);
    assert_string_equal(constraints.data, "permitted: URI:cluster.local, DNS:istio-system.svc; "
                                          "excluded: IP:0.0.0.0/0, IP:0:0:0:0:0:0:0:0/0");
    mc_buf_free(&constraints);
    mc_pki_cert_free(good_cert);
    json_decref(good_status);
    free(good);

    /* Names east may not have: Google's, west's trust domain, Google's org. */
    const char *const hostile[] = {"www.google.com",
                                   "spiffe://west.local/ns/istio-system/sa/istiod"};
    char *error = refused(f, "names", "Google LLC", hostile, 2, NS_MGMT, "root-ca");
    assert_contains(error, "org \"Google LLC\" is outside cluster east's issuance policy "
                           "(orgs: Istio)");
    assert_contains(error, "host \"www.google.com\" is outside cluster east's issuance policy "
                           "(trust domains: cluster.local; DNS suffixes: istio-system.svc");
    free(error);
    const char *const west[] = {"spiffe://west.local/ns/istio-system/sa/istiod"};
    error = refused(f, "west-td", ORG, west, 1, NS_MGMT, "root-ca");
    assert_contains(error, "spiffe://west.local/ns/istio-system/sa/istiod");
    free(error);

    /* A root of east's choosing: never created, never read; the same words
     * for a Secret that exists and one that does not. */
    char *missing = refused(f, "attacker", ORG, hosts, 2, "kube-system", "attacker-root");
    assert_false(secret_exists(f, "kube-system", "attacker-root"));
    char *present = refused(f, "snoop", ORG, hosts, 2, "kube-system", "existing");
    assert_contains(missing, "spec.signingCertificateSecret kube-system/attacker-root is not a "
                             "signing root of cluster east (its registration allows: "
                             "meshcert/root-ca)");
    char expected[1024];
    mc_strlcpy(expected, missing, sizeof(expected));
    char *at = strstr(expected, "attacker-root");
    assert_non_null(at);
    char tail[512];
    mc_strlcpy(tail, at + strlen("attacker-root"), sizeof(tail));
    snprintf(at, sizeof(expected) - (size_t)(at - expected), "existing%s", tail);
    at = strstr(expected, "attacker");
    assert_non_null(at); /* the request's name */
    mc_strlcpy(tail, at + strlen("attacker"), sizeof(tail));
    snprintf(at, sizeof(expected) - (size_t)(at - expected), "snoop%s", tail);
    assert_string_equal(present, expected);
    free(missing);
    free(present);

    /* Issue 11: a mistyped --root-secret makes no second root. */
    stop_cleanly(f);
    allow_root(f, NS_MGMT "/root-typo");
    assert_int_equal(start_issuer_with(f, &f->issuer, "--root-secret", NS_MGMT "/root-typo"), 0);
    error = refused(f, "typo", ORG, hosts, 2, NS_MGMT, "root-typo");
    assert_contains(error, "root secret meshcert/root-typo not found in the management cluster "
                           "(generation refused; see the issuer's log)");
    assert_false(secret_exists(f, NS_MGMT, "root-typo"));
    free(error);
    /* ... unless told to */
    stop_cleanly(f);
    assert_int_equal(start_issuer_with(f, &f->issuer, "--root-secret=" NS_MGMT "/root-typo",
                                       "--allow-another-root"),
                     0);
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_key_generate(MC_KEY_EC_P256, &key, &err), MC_OK);
    create_issued_certificate_as(f, "typo-2", ORG, hosts, 2, NS_MGMT, "root-typo");
    create_request(f, "typo-2", key, hosts, 2);
    mc_pki_key_free(key);
    json_t *status = wait_answered(f, "typo-2");
    assert_string_equal(json_string_value(json_object_get(status, "state")), "FINISHED");
    json_decref(status);
    assert_true(secret_exists(f, NS_MGMT, "root-typo"));
    stop_cleanly(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_refuse_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_boundary, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
