/* workflow_test.c - the whole certificate workflow with real processes over
 * HTTPS on loopback (workflow_fixture.h): `meshcert server` with clusters
 * mgmt, east and west, one `meshcert issuer` (generated EC root in mgmt) and
 * one `meshcert agent` per managed cluster. Both clusters' cacerts end
 * FINISHED, verify with the openssl and certtool CLIs and share one root (a
 * leaf signed by east verifies against west's root); a spec change and a
 * deleted output Secret re-issue; a foreign output Secret is left alone
 * (FAILED) until the user labels it for adoption; an agent with
 * --output-format tls --adopt-existing-secret rewrites its cacerts in the
 * TLS layout and adopts a foreign Secret; a tampered CSR (broken signature, extra SAN) is
 * refused with the reason and replaced by the agent; no private key appears
 * outside its own cluster, in a log or in a Status body; without
 * --generate-root a missing root Secret ends FAILED naming it; deleting an
 * IssuedCertificate removes its key and request; `meshcert status` and
 * `meshcert verify --cluster` report on it all; SIGTERM exits 0 everywhere.
 * With east registered by `meshcert cluster register` without
 * --keep-kubeconfig (the issuer holds only the token of east's
 * ServiceAccount meshcert/meshcert-issuer), east is issued all the same.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "api/issued_certificate.h"
#include "kube/client.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "pki/verify.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/str.h"
#include "workflow_fixture.h"

#define HOST_ISTIOD "istiod.istio-system.svc"
#define IC_NAME     "mesh-ca"

/* A workload leaf signed with the openssl CLI by east's intermediate verifies
 * against west's root with east's cert-chain.pem: one trust domain. */
static void check_cross_cluster_leaf(const wf_fixture *f)
{
    char dir[160], key[256], csr[256], leaf[256], ext[256], ca[256], ca_key[256], root[256],
        chain[256];
    snprintf(dir, sizeof(dir), "%s/leaf", f->work);
    mkdir(dir, 0700);
    snprintf(key, sizeof(key), "%s/leaf-key.pem", dir);
    snprintf(csr, sizeof(csr), "%s/leaf.csr", dir);
    snprintf(leaf, sizeof(leaf), "%s/leaf.pem", dir);
    snprintf(ext, sizeof(ext), "%s/leaf.ext", dir);
    snprintf(ca, sizeof(ca), "%s/east/ca-cert.pem", f->work);
    snprintf(ca_key, sizeof(ca_key), "%s/east/ca-key.pem", f->work);
    snprintf(chain, sizeof(chain), "%s/east/cert-chain.pem", f->work);
    snprintf(root, sizeof(root), "%s/west/root-cert.pem", f->work);
    wf_write_text(ext, "basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n"
                       "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/workload\n");
    char *const genkey[] = {
        "openssl", "req",     "-new", "-newkey", "ec",       "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",  "-keyout", key,    "-subj",   "/O=Istio", "-out",     csr,
        NULL};
    char *const sign[] = {
        "openssl",         "x509",  "-req", "-in",      csr, "-CA",  ca,   "-CAkey", ca_key,
        "-CAcreateserial", "-days", "1",    "-extfile", ext, "-out", leaf, NULL};
    char *const verify[] = {"openssl", "verify", "-CAfile", root, "-untrusted", chain, leaf, NULL};
    if (wf_run_tool(f, genkey) != 0 || wf_run_tool(f, sign) != 0)
        wf_fail(f, "openssl could not sign a workload leaf with east's intermediate");
    if (wf_run_tool(f, verify) != 0)
        wf_fail(f, "a leaf signed by east does not verify against west's root-cert.pem");
    /* -CAcreateserial writes <ca>.srl next to ca-cert.pem */
    char srl[256];
    snprintf(srl, sizeof(srl), "%s/east/ca-cert.srl", f->work);
    unlink(srl);
}

static void assert_root_shared(const wf_fixture *f)
{
    char east[256], west[256];
    snprintf(east, sizeof(east), "%s/east/root-cert.pem", f->work);
    snprintf(west, sizeof(west), "%s/west/root-cert.pem", f->work);
    char *e = wf_read_text(east), *w = wf_read_text(west);
    assert_string_equal(e, w);
    free(e);
    free(w);
}

/* The cacerts' ca-cert.pem carries the hosts (and the org). */
static void assert_hosts(const wf_fixture *f, const char *subdir, const char *const *hosts,
                         size_t count)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/ca-cert.pem", f->work, subdir);
    char *pem = wf_read_text(path);
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    assert_int_equal(mc_pki_cert_from_pem(pem, strlen(pem), "ca-cert.pem", &cert, &err), MC_OK);
    if (mc_pki_cert_check_identity(cert, WF_ORG, hosts, count, &err) != MC_OK)
        fail_msg("%s ca-cert.pem: %s", subdir, err.msg);
    mc_pki_cert_free(cert);
    free(pem);
}

/* openssl reads work/<subdir>/ca-key.pem as a key of the given size. */
static void assert_key_type(const wf_fixture *f, const char *subdir, const char *bits)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/ca-key.pem", f->work, subdir);
    char *const pkey[] = {"openssl", "pkey", "-in", path, "-noout", "-text", NULL};
    char *out = NULL;
    if (wf_run_output(f, pkey, &out) != 0 || !strstr(out, bits))
        wf_fail(f, "%s's ca-key.pem is not a %s key", subdir, bits);
    /* the text dump holds the key: keep it out of the test's output */
    mc_secure_free_str(out);
}

/* Adds HOST_ISTIOD to east's IssuedCertificate; returns the new generation. */
static int64_t add_host_on_east(wf_fixture *f)
{
    mc_err err = {0};
    json_t *ic = NULL;
    assert_int_equal(mc_kube_get(f->managed[WF_EAST],
                                 mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT,
                                 IC_NAME, &ic, &err),
                     MC_OK);
    json_t *hosts = json_object_get(json_object_get(ic, "spec"), "hosts");
    assert_non_null(hosts);
    json_array_append_new(hosts, json_string(HOST_ISTIOD));
    json_t *updated = NULL;
    if (mc_kube_update(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                       WF_NS_MESHCERT, ic, &updated, &err) != MC_OK)
        fail_msg("update issuedcertificate: %s", err.msg);
    int64_t generation =
        json_integer_value(json_object_get(json_object_get(updated, "metadata"), "generation"));
    json_decref(updated);
    json_decref(ic);
    return generation;
}

/* Waits for IssuedCertificate meshcert/<name> on east to be REQUESTED for
 * its generation (its CertificateRequest made). */
static void wait_requested(const wf_fixture *f, const char *name)
{
    wf_ic_view view;
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    while (wf_now_ms() < deadline) {
        if (wf_ic_read(f->managed[WF_EAST], name, &view) == 0 &&
            strcmp(view.state, "REQUESTED") == 0 && view.observed == view.generation)
            return;
        wf_sleep_ms(50);
    }
    wf_fail(f, "issuedcertificate %s/%s on east not REQUESTED within 30 s (state \"%s\")",
            WF_NS_MESHCERT, name, view.state);
}

static json_t *get_request(const wf_fixture *f, const char *name)
{
    json_t *req = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                    WF_NS_MESHCERT, name, &req, &err) != MC_OK)
        wf_fail(f, "get certificaterequest %s/%s on east: %s", WF_NS_MESHCERT, name, err.msg);
    return req;
}

/* pem with the last byte of its DER (inside the signature) flipped (owned). */
static char *break_signature(const char *pem)
{
    const char *body = strchr(pem, '\n');
    assert_non_null(body);
    mc_buf b64;
    mc_buf_init(&b64, 1 << 20);
    for (const char *p = body + 1; *p && *p != '-'; p++)
        if (*p != '\n' && *p != '\r')
            assert_int_equal(mc_buf_append(&b64, p, 1), MC_OK);
    unsigned char *der = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode(b64.data, b64.len, &der, &len, &err), MC_OK);
    der[len - 1] ^= 0x01;
    char *encoded = NULL;
    assert_int_equal(mc_base64_encode(der, len, &encoded, NULL), MC_OK);
    mc_buf out;
    mc_buf_init(&out, 1 << 20);
    assert_int_equal(mc_buf_append_str(&out, "-----BEGIN CERTIFICATE REQUEST-----\n"), MC_OK);
    for (size_t i = 0, n = strlen(encoded); i < n; i += 64) {
        assert_int_equal(mc_buf_append(&out, encoded + i, n - i < 64 ? n - i : 64), MC_OK);
        assert_int_equal(mc_buf_append_str(&out, "\n"), MC_OK);
    }
    assert_int_equal(mc_buf_append_str(&out, "-----END CERTIFICATE REQUEST-----\n"), MC_OK);
    char *result = mc_strdup(out.data);
    mc_buf_free(&out);
    mc_buf_free(&b64);
    free(der);
    free(encoded);
    return result;
}

/* A CSR made by the openssl CLI with the agent's own key (from its key
 * Secret) that asks for one SAN more than the IssuedCertificate (owned). */
static char *csr_with_extra_san(const wf_fixture *f, const char *name)
{
    char dir[160], key_path[256], csr_path[256];
    snprintf(dir, sizeof(dir), "%s/tamper", f->work);
    mkdir(dir, 0700);
    snprintf(key_path, sizeof(key_path), "%s/%s-key.pem", dir, name);
    snprintf(csr_path, sizeof(csr_path), "%s/%s.csr", dir, name);
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, name,
                    &secret, &err) != MC_OK)
        wf_fail(f, "key secret %s/%s on east: %s", WF_NS_MESHCERT, name, err.msg);
    char *key = wf_secret_value(secret, "private-key", NULL);
    assert_non_null(key);
    wf_write_text(key_path, key);
    free(key);
    json_decref(secret);
    char *const req[] = {
        "openssl",    "req",     "-new",
        "-key",       key_path,  "-subj",
        "/O=" WF_ORG, "-addext", "subjectAltName=URI:" WF_HOST_SPIFFE ",DNS:evil.example.com",
        "-out",       csr_path,  NULL};
    if (wf_run_tool(f, req) != 0)
        wf_fail(f, "openssl req could not make the extra-SAN CSR");
    unlink(key_path);
    char *pem = wf_read_text(csr_path);
    unlink(csr_path);
    rmdir(dir);
    return pem;
}

/* Replaces the CSR of request meshcert/<name> on east with pem. */
static void replace_csr(const wf_fixture *f, const char *name, const char *pem)
{
    json_t *req = get_request(f, name);
    char *b64 = NULL;
    mc_err err = {0};
    assert_int_equal(mc_base64_encode(pem, strlen(pem), &b64, NULL), MC_OK);
    json_object_set_new(json_object_get(req, "spec"), "certificateSigningRequest",
                        json_string(b64));
    free(b64);
    if (mc_kube_update(f->managed[WF_EAST], mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                       WF_NS_MESHCERT, req, NULL, &err) != MC_OK)
        wf_fail(f, "update certificaterequest %s: %s", name, err.msg);
    json_decref(req);
}

/* The issuer's Ready condition on request meshcert/<name> on east (issue
 * 11): status, reason and, when given, the exact message; observedGeneration
 * is the request's generation. */
static void assert_request_ready(const wf_fixture *f, const char *name, const char *status,
                                 const char *reason, const char *message)
{
    json_t *req = get_request(f, name);
    const json_t *ready = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(req, "status"), "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, "Ready") == 0)
            ready = c;
    }
    const char *got_status = json_string_value(json_object_get(ready, "status"));
    const char *got_reason = json_string_value(json_object_get(ready, "reason"));
    const char *got_message = json_string_value(json_object_get(ready, "message"));
    int64_t gen =
        json_integer_value(json_object_get(json_object_get(req, "metadata"), "generation"));
    if (!ready || !got_status || strcmp(got_status, status) != 0 || !got_reason ||
        strcmp(got_reason, reason) != 0 ||
        (message && (!got_message || strcmp(got_message, message) != 0)) ||
        json_integer_value(json_object_get(ready, "observedGeneration")) != gen ||
        !json_string_value(json_object_get(ready, "lastTransitionTime")))
        wf_fail(f, "certificaterequest %s/%s on east: Ready condition %s/%s (\"%s\"), want %s/%s",
                WF_NS_MESHCERT, name, got_status ? got_status : "(none)",
                got_reason ? got_reason : "(none)", got_message ? got_message : "", status, reason);
    json_decref(req);
}

/* Waits for request meshcert/<name> on east to be FAILED for its generation
 * with an error containing reason; returns its uid (static buffer). */
static const char *wait_request_failed(const wf_fixture *f, const char *name, const char *reason)
{
    static char uid[128];
    char state[32] = "", error[512] = "";
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    while (wf_now_ms() < deadline) {
        json_t *req = get_request(f, name);
        const char *s = wf_str_at(req, "status", "state");
        const char *e = wf_str_at(req, "status", "error");
        int64_t gen =
            json_integer_value(json_object_get(json_object_get(req, "metadata"), "generation"));
        int64_t seen = json_integer_value(
            json_object_get(json_object_get(req, "status"), "observedGeneration"));
        mc_strlcpy(state, s ? s : "", sizeof(state));
        mc_strlcpy(error, e ? e : "", sizeof(error));
        mc_strlcpy(uid, wf_str_at(req, "metadata", "uid"), sizeof(uid));
        json_decref(req);
        if (strcmp(state, "FAILED") == 0 && seen == gen) {
            if (!strstr(error, reason))
                wf_fail(f, "certificaterequest %s FAILED without \"%s\" in its error: %s", name,
                        reason, error);
            assert_request_ready(f, name, "False", "Failed", error);
            return uid;
        }
        wf_sleep_ms(50);
    }
    wf_fail(f,
            "certificaterequest %s/%s on east not FAILED within 30 s: state \"%s\", error \"%s\"",
            WF_NS_MESHCERT, name, state, error);
    return NULL;
}

/* The user labels the foreign Secret certificates.smh.solo.io/adopt=true:
 * the agent overwrites it and the IssuedCertificate ends FINISHED. */
static void check_adopt_by_label(const wf_fixture *f)
{
    json_t *secret = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "othercerts", &secret, &err),
                     MC_OK);
    json_t *meta = json_object_get(secret, "metadata");
    json_object_set_new(meta, "labels",
                        json_pack("{s:s}", "certificates.smh.solo.io/adopt", "true"));
    if (mc_kube_update(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                       secret, NULL, &err) != MC_OK)
        wf_fail(f, "label othercerts: %s", err.msg);
    json_decref(secret);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", "mesh-foreign", "FINISHED", 1, &view);
    wf_save_cacerts(f, f->managed[WF_EAST], "othercerts", "adopted");
    wf_verify_with_tools(f, "adopted");
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "othercerts", &secret, &err),
                     MC_OK);
    if (!json_object_get(json_object_get(json_object_get(secret, "metadata"), "labels"),
                         "agent.certificates.smh.solo.io"))
        wf_fail(f, "the adopted Secret does not carry the agent label");
    json_decref(secret);
}

/* A Secret of west in the TLS layout: type kubernetes.io/tls, exactly
 * tls.crt (the intermediate first, then its chain), tls.key (its key) and
 * ca.crt (the root); `openssl verify` accepts tls.crt against ca.crt. */
static void check_tls_secret(const wf_fixture *f, const char *name)
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_WEST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO, name,
                    &secret, &err) != MC_OK)
        wf_fail(f, "get %s/%s on west: %s", WF_NS_ISTIO, name, err.msg);
    const char *type = json_string_value(json_object_get(secret, "type"));
    if (!type || strcmp(type, "kubernetes.io/tls") != 0)
        wf_fail(f, "%s on west has type %s, expected kubernetes.io/tls", name, type ? type : "-");
    json_t *data = json_object_get(secret, "data");
    if (json_object_size(data) != 3)
        wf_fail(f, "%s on west has %zu data keys, expected tls.crt, tls.key, ca.crt", name,
                json_object_size(data));
    static const char *const keys[] = {"tls.crt", "tls.key", "ca.crt"};
    char dir[160], paths[3][256];
    snprintf(dir, sizeof(dir), "%s/tls-%s", f->work, name);
    mkdir(dir, 0700);
    char *values[3];
    for (int i = 0; i < 3; i++) {
        values[i] = wf_secret_value(secret, keys[i], NULL);
        if (!values[i])
            wf_fail(f, "%s on west has no %s", name, keys[i]);
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, keys[i]);
        wf_write_text(paths[i], values[i]);
    }
    char *const verify[] = {"openssl",    "verify", "-CAfile", paths[2],
                            "-untrusted", paths[0], paths[0],  NULL};
    if (wf_run_tool(f, verify) != 0)
        wf_fail(f, "openssl verify rejects %s's tls.crt against its ca.crt", name);
    mc_pki_cert *cert = NULL;
    mc_pki_key *key = NULL;
    assert_int_equal(mc_pki_cert_from_pem(values[0], strlen(values[0]), "tls.crt", &cert, &err),
                     MC_OK);
    assert_int_equal(mc_pki_key_from_pem(values[1], strlen(values[1]), "tls.key", &key, &err),
                     MC_OK);
    if (mc_pki_cert_matches_key(cert, key, &err) != MC_OK)
        wf_fail(f, "%s: tls.key does not match tls.crt: %s", name, err.msg);
    const char *only_spiffe[] = {WF_HOST_SPIFFE};
    if (mc_pki_cert_check_identity(cert, WF_ORG, only_spiffe, 1, &err) != MC_OK)
        wf_fail(f, "%s tls.crt: %s", name, err.msg);
    mc_pki_cert_free(cert);
    mc_pki_key_free(key);
    for (int i = 0; i < 3; i++)
        free(values[i]);
    json_decref(secret);
}

/* West's agent restarted with --output-format tls --adopt-existing-secret:
 * its cacerts is rewritten in the TLS layout (another layout no longer
 * matches), and a foreign Secret is adopted without a label. */
static void check_tls_and_adopt_flag(wf_fixture *f)
{
    wf_stop_cleanly(f, &f->agents[WF_WEST], "meshcert agent (west)");
    f->agent_extra[WF_WEST][0] = "--output-format";
    f->agent_extra[WF_WEST][1] = "tls";
    f->agent_extra[WF_WEST][2] = "--adopt-existing-secret";
    assert_int_equal(wf_start_agent(f, WF_WEST), 0);
    json_t *foreign = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1",
                                "kind", "Secret", "metadata", "name", "west-foreign", "namespace",
                                WF_NS_ISTIO, "type", "Opaque", "data", "tls.crt", "Zm9yZWlnbg==");
    wf_create(f->managed[WF_WEST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO, foreign);
    wf_create_issued_certificate(f->managed[WF_WEST], "mesh-west-tls", "west-foreign", NULL, NULL);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_WEST], "west", "mesh-west-tls", "FINISHED", 1, &view);
    check_tls_secret(f, "west-foreign");
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    for (;;) {
        json_t *secret = NULL;
        mc_err err = {0};
        int tls = mc_kube_get(f->managed[WF_WEST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                              "cacerts", &secret, &err) == MC_OK &&
                  wf_str_at(secret, "data", "tls.crt") != NULL;
        json_decref(secret);
        if (tls && wf_ic_read(f->managed[WF_WEST], IC_NAME, &view) == 0 &&
            strcmp(view.state, "FINISHED") == 0)
            break;
        if (wf_now_ms() > deadline)
            wf_fail(f, "west's cacerts was not rewritten in the TLS layout within 30 s (state %s)",
                    view.state);
        wf_sleep_ms(50);
    }
    check_tls_secret(f, "cacerts");
}

/* The line of text holding needle (owned), or NULL. */
static char *line_with(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        return NULL;
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    size_t len = strcspn(start, "\n");
    return mc_strndup(start, len);
}

/* The operator commands against this workflow: `meshcert status` shows
 * east's mesh-ca FINISHED with its certificate's notAfter (as the openssl
 * CLI reads it), and west's mesh-noroot FAILED with "-" (no output Secret)
 * and the reason; `meshcert verify --cluster` accepts east's cacerts and
 * rejects a copy whose ca-key.pem is another key, naming the problem. */
static void check_operator_commands(const wf_fixture *f)
{
    char kubeconfig[512], cert[256];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
    snprintf(cert, sizeof(cert), "%s/east-3/ca-cert.pem", f->work);
    char *out = NULL;
    char *const enddate[] = {"openssl", "x509", "-in", cert, "-noout", "-enddate", NULL};
    if (wf_run_output(f, enddate, &out) != 0)
        wf_fail(f, "openssl x509 -enddate failed: %s", out ? out : "");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *eq = strchr(out, '=');
    if (!eq || !strptime(eq + 1, "%b %d %H:%M:%S %Y GMT", &tm))
        wf_fail(f, "cannot read openssl's notAfter: %s", out);
    free(out);
    char expected[64];
    strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%SZ", &tm);

    char *const status[] = {MESHCERT_BIN, "status", "--kubeconfig", kubeconfig, NULL};
    /* rows FAILED on purpose (mesh-noroot, mesh-hostile): status exits 1 */
    if (wf_run_output(f, status, &out) != 1)
        wf_fail(f, "meshcert status did not exit 1 with FAILED rows: %s", out ? out : "");
    if (!strstr(out, "NOT-AFTER"))
        wf_fail(f, "meshcert status has no NOT-AFTER column:\n%s", out);
    char *row = line_with(out, WF_NS_MESHCERT "/" IC_NAME " ");
    char *noroot = line_with(out, WF_NS_MESHCERT "/mesh-noroot ");
    if (!row || strncmp(row, "east", 4) != 0 || !strstr(row, "FINISHED") || !strstr(row, expected))
        wf_fail(f, "meshcert status: no east row for %s FINISHED with not-after %s:\n%s", IC_NAME,
                expected, out);
    if (!noroot || strncmp(noroot, "west", 4) != 0 || !strstr(noroot, "FAILED") ||
        !strstr(noroot, " - ") || !strstr(noroot, "no-such-root"))
        wf_fail(f,
                "meshcert status: no west row for mesh-noroot FAILED, \"-\", naming the root:"
                "\n%s",
                out);
    free(row);
    free(noroot);
    free(out);

    char *const verify[] = {MESHCERT_BIN, "verify", "--kubeconfig", kubeconfig, "--cluster",
                            "east",       NULL};
    if (wf_run_output(f, verify, &out) != 0)
        wf_fail(f, "meshcert verify --cluster east failed: %s", out ? out : "");
    free(out);

    /* a copy of east's cacerts whose ca-key.pem is another key */
    json_t *secret = NULL, *other = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "cacerts", &secret, &err),
                     MC_OK);
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "extrasan-certs", &other, &err),
                     MC_OK);
    json_t *data = json_deep_copy(json_object_get(secret, "data"));
    json_object_set(data, "ca-key.pem",
                    json_object_get(json_object_get(other, "data"), "ca-key.pem"));
    json_t *copy = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "apiVersion", "v1", "kind",
                             "Secret", "metadata", "name", "mixed-certs", "namespace", WF_NS_ISTIO,
                             "type", "Opaque", "data", data);
    wf_create(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO, copy);
    json_decref(secret);
    json_decref(other);
    char *const verify_mixed[] = {
        MESHCERT_BIN, "verify", "--kubeconfig", kubeconfig,
        "--cluster",  "east",   "--secret",     WF_NS_ISTIO "/mixed-certs",
        NULL};
    int rc = wf_run_output(f, verify_mixed, &out);
    if (rc != 1 || !strstr(out, "mixed-certs") || !strstr(out, "does not match"))
        wf_fail(f,
                "meshcert verify of a cacerts with another key: exit %d, expected 1 naming the "
                "Secret and the key mismatch: %s",
                rc, out);
    if (strstr(out, "PRIVATE KEY"))
        wf_fail(f, "meshcert verify printed key material");
    free(out);
}

/* An output Secret in a namespace that does not exist: the server refuses
 * the write, and the IssuedCertificate says so (FAILED naming the namespace)
 * instead of hiding it in the agent's log; once the namespace exists the
 * retry goes through. */
static void check_refused_write_reported(const wf_fixture *f)
{
    json_t *ic = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}",
                           "apiVersion", MC_API_GROUP_VERSION, "kind", "IssuedCertificate",
                           "metadata", "name", "mesh-nons", "namespace", WF_NS_MESHCERT, "spec",
                           "hosts", WF_HOST_SPIFFE, "org", WF_ORG, "signingCertificateSecret",
                           "name", WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT,
                           "issuedCertificateSecret", "name", "cacerts", "namespace", WF_NS_LATER);
    wf_create(f->managed[WF_WEST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT,
              ic);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_WEST], "west", "mesh-nons", "FAILED", 1, &view);
    if (!strstr(view.error, WF_NS_LATER) || !strstr(view.error, "write output secret"))
        wf_fail(f, "the refused write is not reported with its reason: %s", view.error);
    assert_int_equal(wf_create_namespace(f->managed[WF_WEST], WF_NS_LATER), MC_OK);
    wf_wait_ic_state(f, f->managed[WF_WEST], "west", "mesh-nons", "FINISHED", 1, &view);
}

/* Deleting an IssuedCertificate removes its key Secret and its request (they
 * are owned by it); its output Secret stays, the mesh is using it. */
static void check_delete_cleans_up(const wf_fixture *f, const char *name, const char *output)
{
    mc_err err = {0};
    if (mc_kube_delete(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                       WF_NS_MESHCERT, name, NULL, &err) != MC_OK)
        wf_fail(f, "delete issuedcertificate %s: %s", name, err.msg);
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    int key_gone = 0, request_gone = 0;
    while ((!key_gone || !request_gone) && wf_now_ms() < deadline) {
        json_t *obj = NULL;
        key_gone = mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                               WF_NS_MESHCERT, name, &obj, &err) == MC_ENOTFOUND;
        json_decref(obj);
        obj = NULL;
        request_gone =
            mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                        WF_NS_MESHCERT, name, &obj, &err) == MC_ENOTFOUND;
        json_decref(obj);
        if (!key_gone || !request_gone)
            wf_sleep_ms(50);
    }
    if (!key_gone || !request_gone)
        wf_fail(f, "after deleting issuedcertificate %s its %s still exists", name,
                key_gone ? "certificaterequest" : "key Secret");
    json_t *out = NULL;
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO, output,
                    &out, &err) != MC_OK)
        wf_fail(f, "deleting issuedcertificate %s removed its output Secret %s", name, output);
    json_decref(out);
}

/* The issuer refuses a CSR whose signature is broken and one that asks for
 * an extra SAN (the agents are paused so that the tampered requests stay),
 * writing the reason into the request; nothing is written from them; the
 * agent, resumed, replaces them and ends FINISHED with a proper certificate. */
static void check_tampered_requests(wf_fixture *f)
{
    static const char *const names[] = {"mesh-badsig", "mesh-extrasan"};
    static const char *const outputs[] = {"badsig-certs", "extrasan-certs"};
    assert_int_equal(kill(f->issuer, SIGSTOP), 0);
    for (int i = 0; i < 2; i++)
        wf_create_issued_certificate(f->managed[WF_EAST], names[i], outputs[i], NULL, NULL);
    for (int i = 0; i < 2; i++)
        wait_requested(f, names[i]);
    assert_int_equal(kill(f->agents[WF_EAST], SIGSTOP), 0);
    json_t *req = get_request(f, names[0]);
    const char *b64 = wf_str_at(req, "spec", "certificateSigningRequest");
    unsigned char *raw = NULL;
    size_t len = 0;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode(b64, strlen(b64), &raw, &len, &err), MC_OK);
    char *pem = mc_strndup((const char *)raw, len);
    free(raw);
    json_decref(req);
    char *broken = break_signature(pem);
    free(pem);
    replace_csr(f, names[0], broken);
    free(broken);
    char *extra = csr_with_extra_san(f, names[1]);
    replace_csr(f, names[1], extra);
    free(extra);
    assert_int_equal(kill(f->issuer, SIGCONT), 0);
    char uids[2][128];
    mc_strlcpy(uids[0], wait_request_failed(f, names[0], "signature"), sizeof(uids[0]));
    mc_strlcpy(uids[1], wait_request_failed(f, names[1], "evil.example.com"), sizeof(uids[1]));
    for (int i = 0; i < 2; i++) {
        json_t *secret = NULL;
        if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                        outputs[i], &secret, &err) != MC_ENOTFOUND)
            wf_fail(f, "an output Secret %s was written from a tampered request", outputs[i]);
    }
    assert_int_equal(kill(f->agents[WF_EAST], SIGCONT), 0);
    const char *only_spiffe[] = {WF_HOST_SPIFFE};
    for (int i = 0; i < 2; i++) {
        wf_ic_view view;
        wf_wait_ic_state(f, f->managed[WF_EAST], "east", names[i], "FINISHED", 1, &view);
        json_t *replaced = get_request(f, names[i]);
        if (strcmp(wf_str_at(replaced, "metadata", "uid"), uids[i]) == 0 &&
            json_integer_value(
                json_object_get(json_object_get(replaced, "metadata"), "generation")) < 3)
            wf_fail(f, "the tampered request %s was neither replaced nor corrected", names[i]);
        json_decref(replaced);
        wf_save_cacerts(f, f->managed[WF_EAST], outputs[i], outputs[i]);
        wf_verify_with_tools(f, outputs[i]);
        assert_hosts(f, outputs[i], only_spiffe, 1); /* exactly: no evil.example.com */
    }
}

/* A Status body never echoes key material: a Secret holding east's key with
 * an invalid name, with the key PEM where base64 belongs, and a truncated
 * JSON body cut inside the key, each get an error without the key. */
static void check_status_body_has_no_key(const wf_fixture *f)
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT,
                    IC_NAME, &secret, &err) != MC_OK)
        wf_fail(f, "key secret %s/%s on east: %s", WF_NS_MESHCERT, IC_NAME, err.msg);
    const char *key_b64 = wf_str_at(secret, "data", "private-key");
    char *key = wf_secret_value(secret, "private-key", NULL);
    assert_non_null(key_b64);
    assert_non_null(key);
    /* the key's PEM body on one line, as JSON would carry it */
    mc_buf flat;
    mc_buf_init(&flat, 1 << 20);
    const char *body = strchr(key, '\n') + 1;
    for (const char *p = body; *p && *p != '-'; p++)
        if (*p != '\n')
            assert_int_equal(mc_buf_append(&flat, p, 1), MC_OK);
    char probe[40];
    assert_true(flat.len > 80);
    memcpy(probe, flat.data + 48, 32);
    probe[32] = '\0';
    char *bodies[3];
    size_t n = (size_t)snprintf(NULL, 0, "%s", key_b64) + 512 + flat.len;
    for (int i = 0; i < 3; i++)
        bodies[i] = malloc(n);
    snprintf(bodies[0], n,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"Bad_Name\"},"
             "\"data\":{\"private-key\":\"%s\"}}",
             key_b64);
    snprintf(bodies[1], n,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"raw\"},"
             "\"data\":{\"private-key\":\"-----BEGIN PRIVATE KEY-----%s\"}}",
             flat.data);
    snprintf(bodies[2], n,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"cut\"},"
             "\"stringData\":{\"private-key\":\"%.*s",
             (int)(flat.len / 2 + 40), flat.data);
    for (int i = 0; i < 3; i++) {
        http_reply reply;
        assert_int_equal(http_do(&f->server, server_token(&f->server, "east"), "POST",
                                 "/clusters/east/api/v1/namespaces/" WF_NS_MESHCERT "/secrets",
                                 bodies[i], NULL, &reply),
                         0);
        if (reply.status < 400 || reply.status >= 500)
            wf_fail(f, "bad Secret body %d: HTTP %ld, expected a 4xx", i, reply.status);
        if (!reply.body || strstr(reply.body, probe) || strstr(reply.body, key_b64 + 40) ||
            strstr(reply.body, "PRIVATE KEY"))
            wf_fail(f, "the Status body for bad Secret body %d echoes the key: %.300s", i,
                    reply.body ? reply.body : "(none)");
        http_reply_free(&reply);
        free(bodies[i]);
    }
    mc_buf_free(&flat);
    free(key);
    json_decref(secret);
}

/* The issuer restarted without --generate-root. West names a root its
 * registration does not allow: FAILED naming it, and nothing creates it.
 * East asks for Google's names, west's trust domain and Google's org: the
 * issuer refuses (the agent shows why on the IssuedCertificate), nothing is
 * signed and no output Secret is written (issue 14). */
static void check_missing_root(wf_fixture *f)
{
    f->generate_root = 0;
    assert_int_equal(wf_start_issuer(f), 0);
    wf_create_issued_certificate(f->managed[WF_WEST], "mesh-noroot", "noroot-certs", "no-such-root",
                                 NULL);
    wf_ic_view view;
    wf_wait_ic_state(f, f->managed[WF_WEST], "west", "mesh-noroot", "FAILED", 1, &view);
    if (!strstr(view.error, WF_NS_MESHCERT "/no-such-root is not a signing root of cluster west"))
        wf_fail(f, "the FAILED error does not name the refused root Secret: %s", view.error);
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->mgmt, mc_kube_resource_of(MC_API_SECRETS), WF_NS_MESHCERT, "no-such-root",
                    &secret, &err) != MC_ENOTFOUND)
        wf_fail(f, "an issuer without --generate-root created %s/no-such-root", WF_NS_MESHCERT);
    if (mc_kube_get(f->managed[WF_WEST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    "noroot-certs", &secret, &err) != MC_ENOTFOUND)
        wf_fail(f, "an output Secret was written without a root");

    json_t *hostile = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:[s,s], s:s, s:{s:s, s:s}, s:{s:s, s:s}}}", "apiVersion",
        MC_API_GROUP_VERSION, "kind", "IssuedCertificate", "metadata", "name", "mesh-hostile",
        "namespace", WF_NS_MESHCERT, "spec", "hosts", "www.google.com",
        "spiffe://west.local/ns/istio-system/sa/istiod", "org", "Google LLC",
        "signingCertificateSecret", "name", WF_ROOT_SECRET, "namespace", WF_NS_MESHCERT,
        "issuedCertificateSecret", "name", "hostile-certs", "namespace", WF_NS_ISTIO);
    wf_create(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES), WF_NS_MESHCERT,
              hostile);
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", "mesh-hostile", "FAILED", 1, &view);
    if (!strstr(view.error, "org \"Google LLC\" is outside cluster east's issuance policy") ||
        !strstr(view.error, "www.google.com"))
        wf_fail(f, "the FAILED error does not name the refused org and host: %s", view.error);
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    "hostile-certs", &secret, &err) != MC_ENOTFOUND)
        wf_fail(f, "an output Secret was written for east's hostile IssuedCertificate");
    json_t *request = NULL;
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_CERTIFICATE_REQUESTS),
                    WF_NS_MESHCERT, "mesh-hostile", &request, &err) == MC_OK &&
        wf_str_at(request, "status", "signedCertificate"))
        wf_fail(f, "east's hostile request was signed");
    json_decref(request);
}

static void test_workflow(void **state)
{
    wf_fixture *f = *state;
    mc_err err = {0};
    wf_ic_view view;
    if (!wf_tool_on_path("openssl") || !wf_tool_on_path("certtool"))
        fail_msg("workflow_test needs the openssl and certtool (GnuTLS) command-line tools on "
                 "PATH (packages openssl and gnutls-bin)%s",
                 getenv("CI") ? " - they must be installed in CI" : "");

    /* 1. Both clusters issued, verified by two toolkits, one trust domain. */
    for (int c = 0; c < WF_MANAGED; c++)
        wf_create_issued_certificate(f->managed[c], IC_NAME, "cacerts", NULL, NULL);
    for (int c = 0; c < WF_MANAGED; c++)
        wf_wait_ic_state(f, f->managed[c], wf_managed_names[c], IC_NAME, "FINISHED", 1, &view);
    const char *only_spiffe[] = {WF_HOST_SPIFFE};
    for (int c = 0; c < WF_MANAGED; c++) {
        wf_save_cacerts(f, f->managed[c], "cacerts", wf_managed_names[c]);
        wf_verify_with_tools(f, wf_managed_names[c]);
        assert_hosts(f, wf_managed_names[c], only_spiffe, 1);
    }
    assert_root_shared(f);
    check_cross_cluster_leaf(f);
    assert_request_ready(f, IC_NAME, "True", "Finished", NULL);
    assert_key_type(f, "east", "4096 bit"); /* the agent's default, as the original's */
    assert_key_type(f, "west", "256 bit");  /* --key-type ec-p256 */

    /* 2. A spec change re-issues: REQUESTED, then FINISHED for the new
     * generation. The issuer is paused so that REQUESTED is observable. */
    assert_int_equal(kill(f->issuer, SIGSTOP), 0);
    int64_t generation = add_host_on_east(f);
    assert_true(generation >= 2);
    int seen_requested = 0;
    int64_t deadline = wf_now_ms() + WF_WAIT_MS;
    while (!seen_requested && wf_now_ms() < deadline) {
        if (wf_ic_read(f->managed[WF_EAST], IC_NAME, &view) == 0 &&
            strcmp(view.state, "REQUESTED") == 0 && view.observed == generation)
            seen_requested = 1;
        else
            wf_sleep_ms(50);
    }
    assert_int_equal(kill(f->issuer, SIGCONT), 0);
    if (!seen_requested)
        wf_fail(f, "east's issuedcertificate did not reach REQUESTED for the new "
                   "generation within 30 s");
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", generation, &view);
    wf_save_cacerts(f, f->managed[WF_EAST], "cacerts", "east-2");
    wf_verify_with_tools(f, "east-2");
    const char *both[] = {WF_HOST_SPIFFE, HOST_ISTIOD};
    assert_hosts(f, "east-2", both, 2);

    /* 3. A deleted output Secret is written again. */
    const char *old_uid = wf_save_cacerts(f, f->managed[WF_EAST], "cacerts", "east-3");
    char uid_before[128];
    mc_strlcpy(uid_before, old_uid, sizeof(uid_before));
    assert_int_equal(mc_kube_delete(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                    WF_NS_ISTIO, "cacerts", NULL, &err),
                     MC_OK);
    deadline = wf_now_ms() + WF_WAIT_MS;
    int back = 0;
    while (!back && wf_now_ms() < deadline) {
        json_t *secret = NULL;
        mc_err get_err = {0};
        if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                        "cacerts", &secret, &get_err) == MC_OK &&
            wf_str_at(secret, "metadata", "uid") &&
            strcmp(wf_str_at(secret, "metadata", "uid"), uid_before) != 0 &&
            wf_ic_read(f->managed[WF_EAST], IC_NAME, &view) == 0 &&
            strcmp(view.state, "FINISHED") == 0)
            back = 1;
        json_decref(secret);
        if (!back)
            wf_sleep_ms(50);
    }
    if (!back)
        wf_fail(f, "east's deleted cacerts Secret was not written again within 30 s");
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", IC_NAME, "FINISHED", generation, &view);
    wf_save_cacerts(f, f->managed[WF_EAST], "cacerts", "east-3");
    wf_verify_with_tools(f, "east-3");
    assert_hosts(f, "east-3", both, 2);

    /* 4. A foreign output Secret is never overwritten. */
    json_t *foreign =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                  "metadata", "name", "othercerts", "namespace", WF_NS_ISTIO, "type", "Opaque",
                  "data", "ca-cert.pem", "Zm9yZWlnbg==");
    json_t *created = NULL;
    assert_int_equal(mc_kube_create(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                    WF_NS_ISTIO, foreign, &created, &err),
                     MC_OK);
    char foreign_version[64];
    mc_strlcpy(foreign_version, wf_str_at(created, "metadata", "resourceVersion"),
               sizeof(foreign_version));
    json_decref(created);
    json_decref(foreign);
    wf_create_issued_certificate(f->managed[WF_EAST], "mesh-foreign", "othercerts", NULL, NULL);
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", "mesh-foreign", "FAILED", 1, &view);
    if (!strstr(view.error, "adopt"))
        fail_msg("the FAILED error does not mention adoption: %s", view.error);
    wf_sleep_ms(1000); /* a late write would show now */
    json_t *after = NULL;
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "othercerts", &after, &err),
                     MC_OK);
    assert_string_equal(wf_str_at(after, "metadata", "resourceVersion"), foreign_version);
    assert_string_equal(wf_str_at(after, "data", "ca-cert.pem"), "Zm9yZWlnbg==");
    assert_null(json_object_get(json_object_get(json_object_get(after, "metadata"), "labels"),
                                "agent.certificates.smh.solo.io"));
    json_decref(after);

    /* 5. A tampered CSR is refused by the issuer with the reason. */
    check_tampered_requests(f);

    /* 6. The managed clusters' keys stayed home; no Status body echoes one. */
    check_status_body_has_no_key(f);
    size_t keys = wf_assert_no_key_leak(f);
    assert_true(keys >= 2 * WF_MANAGED); /* mesh-ca on both, badsig and extrasan on east */

    /* 7. Deleting an IssuedCertificate cleans up after it; a write the
     * server refuses is reported in the status. */
    check_refused_write_reported(f);
    check_delete_cleans_up(f, "mesh-badsig", "badsig-certs");

    /* 8. Adoption: by the label on east, by the flag on west (whose agent now
     * writes the TLS layout). */
    check_adopt_by_label(f);
    check_tls_and_adopt_flag(f);

    /* 9. SIGTERM stops the issuer with exit status 0; restarted without
     * --generate-root, a request naming a root outside west's policy ends
     * FAILED naming it, and nothing creates that Secret; east's request for
     * names outside its policy ends FAILED and nothing is signed. */
    wf_stop_cleanly(f, &f->issuer, "meshcert issuer");
    check_missing_root(f);

    /* 10. The operator's view: status table, verify --cluster. */
    check_operator_commands(f);

    /* 11. SIGTERM stops every process with exit status 0. */
    wf_stop_cleanly(f, &f->issuer, "meshcert issuer (without --generate-root)");
    for (int c = 0; c < WF_MANAGED; c++) {
        char what[64];
        snprintf(what, sizeof(what), "meshcert agent (%s)", wf_managed_names[c]);
        wf_stop_cleanly(f, &f->agents[c], what);
    }
}

static int setup(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    if (rc == 0) {
        f->key_types[WF_EAST] = ""; /* east's agent runs with the default key type, rsa4096 */
        rc = wf_start_all(f);
    }
    return wf_setup_done(state, f, rc);
}

/* east registered the way `meshcert cluster register` does it without
 * --keep-kubeconfig: the issuer reaches east only as ServiceAccount
 * meshcert/meshcert-issuer of east, allowed what its Role allows in
 * namespace meshcert, and serves that namespace only. */
static int setup_least_privilege(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    if (rc == 0) {
        char mgmt[320], east[320];
        snprintf(mgmt, sizeof(mgmt), "%s/kubeconfigs/mgmt.yaml", f->server.dir);
        snprintf(east, sizeof(east), "%s/kubeconfigs/east.yaml", f->server.dir);
        char *const argv[] = {MESHCERT_BIN,
                              "cluster",
                              "register",
                              "east",
                              "--force",
                              "--kubeconfig",
                              mgmt,
                              "--kubeconfig-file",
                              east,
                              "--trust-domain",
                              WF_TRUST_DOMAIN,
                              "--dns-suffix",
                              "istio-system.svc",
                              "--org",
                              WF_ORG,
                              NULL};
        rc = wf_run_tool(f, argv) == 0 ? 0 : -1;
        if (rc)
            fprintf(stderr, "meshcert cluster register east failed (%s/tools.log)\n", f->work);
    }
    if (rc == 0)
        rc = wf_start_all(f);
    return wf_setup_done(state, f, rc);
}

static void test_least_privilege_registration(void **state)
{
    wf_fixture *f = *state;
    wf_ic_view view;
    wf_create_issued_certificate(f->managed[WF_EAST], "mesh-lp", "cacerts", NULL, NULL);
    wf_wait_ic_state(f, f->managed[WF_EAST], "east", "mesh-lp", "FINISHED", 1, &view);
    json_t *secret = NULL;
    mc_err err = {0};
    assert_int_equal(mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS),
                                 WF_NS_ISTIO, "cacerts", &secret, &err),
                     MC_OK);
    assert_non_null(json_object_get(json_object_get(secret, "data"), "ca-cert.pem"));
    json_decref(secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workflow, setup, wf_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_least_privilege_registration, setup_least_privilege,
                                        wf_cmocka_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
