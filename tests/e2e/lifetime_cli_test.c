/* lifetime_cli_test.c - issue 12's operator side with real processes over
 * HTTPS on loopback (workflow_fixture.h): `meshcert server` (mgmt, east,
 * west), `meshcert issuer --ttl 2h --max-duration 3h` and east's agent.
 *
 * The issuer refuses --ttl longer than --max-duration, or outside 1m to
 * 87600h (exit 2).
 * `meshcert issue --wait` without --duration gets the issuer's --ttl, with
 * --duration 90m exactly that, with --duration 8760h the issuer's
 * --max-duration (read from the certificate in the output Secret); `meshcert
 * status` shows NOT-BEFORE, NOT-AFTER and RENEWAL and the trust-bundle root
 * as the first 8 hex digits of the SHA-256 the openssl CLI prints for
 * root-cert.pem; `meshcert rotate --cluster east --name N --wait` ends with a
 * new key in the output Secret and status.rotation equal to the annotation,
 * and `rotate --all --wait` gives every IssuedCertificate a new key.
 * Twenty IssuedCertificates with the same --duration renew at spread times
 * (status.renewalTime), each within the jitter window before notAfter.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/time.h"
#include "pki/cert.h"
#include "workflow_fixture.h"

#define NAMES 3
static const char *const k_names[NAMES] = {"ttl-default", "asked-90m", "asked-year"};
static const char *const k_outputs[NAMES] = {"cacerts", "ninety", "year"};

typedef struct issued {
    char *key;        /* ca-key.pem of the output Secret (owned) */
    time_t not_after; /* of ca-cert.pem */
} issued;

static void kubeconfig_of(const wf_fixture *f, const char *cluster, char *out, size_t size)
{
    snprintf(out, size, "%s/kubeconfigs/%s.yaml", f->server.dir, cluster);
}

/* Runs meshcert with args (NULL-terminated) to completion; its exit status,
 * its output in *out (owned). */
static int meshcert(const wf_fixture *f, char **out, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = MESHCERT_BIN;
    va_list ap;
    va_start(ap, out);
    for (char *arg; argc < 31 && (arg = va_arg(ap, char *)) != NULL;)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    int rc = wf_run_output(f, argv, out);
    fprintf(stderr, "$ meshcert %s -> %d\n%s", argv[1], rc, *out ? *out : "");
    return rc;
}

/* The key and notAfter of the output Secret istio-system/<secret> on east. */
static issued read_output(const wf_fixture *f, const char *secret_name)
{
    json_t *secret = NULL;
    mc_err err = {0};
    issued out = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    secret_name, &secret, &err))
        wf_fail(f, "output Secret %s: %s", secret_name, err.msg);
    char *cert_pem = wf_secret_value(secret, "ca-cert.pem", NULL);
    out.key = wf_secret_value(secret, "ca-key.pem", NULL);
    json_decref(secret);
    mc_pki_cert *cert = NULL;
    time_t not_before = 0;
    if (!cert_pem || !out.key ||
        mc_pki_cert_from_pem(cert_pem, strlen(cert_pem), "ca-cert.pem", &cert, &err) ||
        mc_pki_cert_validity(cert, &not_before, &out.not_after))
        wf_fail(f, "output Secret %s: no readable ca-cert.pem and ca-key.pem", secret_name);
    mc_pki_cert_free(cert);
    free(cert_pem);
    return out;
}

/* notAfter is the lifetime from the issuance (between before and after). */
static void assert_lifetime(const wf_fixture *f, const issued *got, const char *name, time_t before,
                            time_t after, long seconds)
{
    if (got->not_after < before + seconds || got->not_after > after + seconds)
        wf_fail(f, "%s: notAfter %lld is not %ld s after the issuance (between %lld and %lld)",
                name, (long long)got->not_after, seconds, (long long)before, (long long)after);
}

/* The first 8 hex digits of the SHA-256 of east's root-cert.pem, as the
 * openssl CLI prints the fingerprint ("sha256 Fingerprint=AB:CD:..."). */
static void openssl_root_prefix(const wf_fixture *f, char out[9])
{
    json_t *secret = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_SECRETS), WF_NS_ISTIO,
                    "cacerts", &secret, &err))
        wf_fail(f, "cacerts: %s", err.msg);
    char *root = wf_secret_value(secret, "root-cert.pem", NULL);
    json_decref(secret);
    char path[256];
    snprintf(path, sizeof(path), "%s/root-cert.pem", f->work);
    wf_write_text(path, root ? root : "");
    free(root);
    char *text = NULL;
    char *const argv[] = {"openssl", "x509",         "-in",     path,
                          "-noout",  "-fingerprint", "-sha256", NULL};
    if (wf_run_output(f, argv, &text) != 0 || !strchr(text, '='))
        wf_fail(f, "openssl x509 -fingerprint: %s", text ? text : "");
    size_t n = 0;
    for (const char *p = strchr(text, '=') + 1; *p && n < 8; p++)
        if (isxdigit((unsigned char)*p))
            out[n++] = (char)tolower((unsigned char)*p);
    out[n] = '\0';
    free(text);
}

static void issue(const wf_fixture *f, const char *kubeconfig, int i, const char *duration)
{
    char output[64];
    snprintf(output, sizeof(output), "%s/%s", WF_NS_ISTIO, k_outputs[i]);
    char *out = NULL;
    int rc = duration ? meshcert(f, &out, "issue", "--kubeconfig", kubeconfig, "--cluster", "east",
                                 "--name", k_names[i], "--host", WF_HOST_SPIFFE, "--org", WF_ORG,
                                 "--output-secret", output, "--duration", duration, "--wait",
                                 "--timeout", "60s", NULL)
                      : meshcert(f, &out, "issue", "--kubeconfig", kubeconfig, "--cluster", "east",
                                 "--name", k_names[i], "--host", WF_HOST_SPIFFE, "--org", WF_ORG,
                                 "--output-secret", output, "--wait", "--timeout", "60s", NULL);
    if (rc != 0)
        wf_fail(f, "issue %s exited %d: %s", k_names[i], rc, out ? out : "");
    free(out);
}

/* The rotate annotation and status.rotation of meshcert/<name> on east. */
static void rotation_of(const wf_fixture *f, const char *name, char token[64], char taken[64])
{
    json_t *ic = NULL;
    mc_err err = {0};
    if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                    WF_NS_MESHCERT, name, &ic, &err))
        wf_fail(f, "issuedcertificate %s: %s", name, err.msg);
    const char *asked = json_string_value(
        json_object_get(json_object_get(json_object_get(ic, "metadata"), "annotations"),
                        "certificates.smh.solo.io/rotate"));
    const char *done = wf_str_at(ic, "status", "rotation");
    snprintf(token, 64, "%s", asked ? asked : "");
    snprintf(taken, 64, "%s", done ? done : "");
    json_decref(ic);
}

static void test_lifetime_and_rotation(void **state)
{
    wf_fixture *f = *state;
    char kubeconfig[512];
    kubeconfig_of(f, "mgmt", kubeconfig, sizeof(kubeconfig));
    /* the issuer's lifetime flags are checked before it starts */
    char *out = NULL;
    assert_int_equal(meshcert(f, &out, "issuer", "--kubeconfig", kubeconfig, "--ttl", "3h",
                              "--max-duration", "2h", NULL),
                     2);
    assert_non_null(strstr(out, "--ttl 3h is longer than --max-duration 2h"));
    free(out);
    assert_int_equal(meshcert(f, &out, "issuer", "--kubeconfig", kubeconfig, "--ttl", "30s", NULL),
                     2);
    assert_non_null(strstr(out, "--ttl: \"30s\" is outside 1m to 87600h"));
    free(out);
    assert_int_equal(
        meshcert(f, &out, "issuer", "--kubeconfig", kubeconfig, "--max-duration", "87601h", NULL),
        2);
    free(out);

    const char *durations[NAMES] = {NULL, "90m", "8760h"};
    const long lifetimes[NAMES] = {2 * 3600, 90 * 60, 3 * 3600}; /* --ttl, asked, --max-duration */
    issued got[NAMES];
    for (int i = 0; i < NAMES; i++) {
        time_t before = time(NULL) - 2;
        issue(f, kubeconfig, i, durations[i]);
        got[i] = read_output(f, k_outputs[i]);
        assert_lifetime(f, &got[i], k_names[i], before, time(NULL) + 2, lifetimes[i]);
    }

    /* status: the validity, the renewal time, the root's short fingerprint */
    char root_prefix[9];
    openssl_root_prefix(f, root_prefix);
    assert_int_equal(strlen(root_prefix), 8);
    assert_int_equal(meshcert(f, &out, "status", "--kubeconfig", kubeconfig, NULL), 0);
    for (int i = 0; i < NAMES; i++) {
        char object[96], columns[9][128];
        snprintf(object, sizeof(object), "%s/%s", WF_NS_MESHCERT, k_names[i]);
        const char *row = strstr(out, object);
        if (!row)
            wf_fail(f, "status has no row for %s:\n%s", object, out);
        while (row > out && row[-1] != '\n')
            row--;
        if (sscanf(row, "%127s %127s %127s %127s %127s %127s %127s %127s %127s", columns[0],
                   columns[1], columns[2], columns[3], columns[4], columns[5], columns[6],
                   columns[7], columns[8]) != 9)
            wf_fail(f, "status row of %s has too few columns:\n%s", object, out);
        char not_after[32];
        mc_pki_format_time(got[i].not_after, not_after, sizeof(not_after));
        if (strcmp(columns[2], "FINISHED") || strcmp(columns[5], not_after) ||
            !strcmp(columns[4], "-") || strcmp(columns[4], columns[5]) >= 0 ||
            !strcmp(columns[6], "-") || strcmp(columns[6], columns[5]) >= 0 ||
            strcmp(columns[7], root_prefix) || strcmp(columns[8], "-"))
            wf_fail(f,
                    "status row of %s: want FINISHED, NOT-BEFORE < RENEWAL < NOT-AFTER %s, "
                    "ROOTS %s, ROTATION -:\n%s",
                    object, not_after, root_prefix, out);
    }
    free(out);

    /* rotate one: a new key, status.rotation = the annotation */
    assert_int_equal(meshcert(f, &out, "rotate", "--kubeconfig", kubeconfig, "--cluster", "east",
                              "--name", k_names[0], "--wait", "--timeout", "60s", NULL),
                     0);
    free(out);
    char token[64], taken[64];
    rotation_of(f, k_names[0], token, taken);
    if (!token[0] || strcmp(token, taken) != 0)
        wf_fail(f, "after rotate --wait: annotation \"%s\", status.rotation \"%s\"", token, taken);
    issued now = read_output(f, k_outputs[0]);
    if (!strcmp(now.key, got[0].key))
        wf_fail(f, "rotate --wait ended with the same key in %s", k_outputs[0]);
    free(got[0].key);
    got[0] = now;

    /* rotate --all: every one gets a new key */
    assert_int_equal(meshcert(f, &out, "rotate", "--kubeconfig", kubeconfig, "--all", "--wait",
                              "--timeout", "90s", NULL),
                     0);
    free(out);
    for (int i = 0; i < NAMES; i++) {
        char all_token[64];
        rotation_of(f, k_names[i], all_token, taken);
        if (!strcmp(all_token, token) || strcmp(all_token, taken) != 0)
            wf_fail(f, "%s after rotate --all: annotation \"%s\", status.rotation \"%s\"",
                    k_names[i], all_token, taken);
        now = read_output(f, k_outputs[i]);
        if (!strcmp(now.key, got[i].key))
            wf_fail(f, "rotate --all --wait ended with the same key in %s", k_outputs[i]);
        free(now.key);
        free(got[i].key);
    }
}

/* Issue 12: several clusters with the same TTL must not renew in the same
 * second. SPREAD IssuedCertificates with the same --duration 2h: each
 * status.renewalTime lies within notAfter - renewBefore - renewBefore/5 and
 * notAfter - renewBefore (renewBefore: a third of the 2 h, 40 min), and the
 * renewal times are spread (printed; at least SPREAD - 2 distinct seconds). */
#define SPREAD 20
static void test_renewal_spread(void **state)
{
    wf_fixture *f = *state;
    char kubeconfig[512];
    kubeconfig_of(f, "mgmt", kubeconfig, sizeof(kubeconfig));
    int64_t renewal[SPREAD];
    for (int i = 0; i < SPREAD; i++) {
        char name[32], output[64];
        snprintf(name, sizeof(name), "spread-%02d", i);
        snprintf(output, sizeof(output), "%s/%s", WF_NS_ISTIO, name);
        char *out = NULL;
        if (meshcert(f, &out, "issue", "--kubeconfig", kubeconfig, "--cluster", "east", "--name",
                     name, "--host", WF_HOST_SPIFFE, "--org", WF_ORG, "--output-secret", output,
                     "--duration", "2h", "--wait", "--timeout", "60s", NULL) != 0)
            wf_fail(f, "issue %s: %s", name, out ? out : "");
        free(out);
        json_t *ic = NULL;
        mc_err err = {0};
        if (mc_kube_get(f->managed[WF_EAST], mc_kube_resource_of(MC_API_ISSUED_CERTIFICATES),
                        WF_NS_MESHCERT, name, &ic, &err))
            wf_fail(f, "issuedcertificate %s: %s", name, err.msg);
        const char *at = wf_str_at(ic, "status", "renewalTime");
        const char *end = wf_str_at(ic, "status", "notAfter");
        int64_t not_after = 0;
        if (!at || !end || mc_time_parse(at, &renewal[i], NULL, NULL) != 0 ||
            mc_time_parse(end, &not_after, NULL, NULL) != 0)
            wf_fail(f, "%s: status.renewalTime \"%s\", notAfter \"%s\"", name, at ? at : "",
                    end ? end : "");
        json_decref(ic);
        /* renewBefore 40 min (+1 s for whole seconds), jitter below 8 min */
        int64_t before = not_after - renewal[i];
        if (before < 40 * 60 - 60 || before > 48 * 60 + 60)
            wf_fail(f, "%s renews %lld s before notAfter; want 40 to 48 min", name,
                    (long long)before);
    }
    int64_t lo = renewal[0], hi = renewal[0];
    int distinct = 0;
    for (int i = 0; i < SPREAD; i++) {
        lo = renewal[i] < lo ? renewal[i] : lo;
        hi = renewal[i] > hi ? renewal[i] : hi;
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= renewal[j] == renewal[i];
        distinct += !seen;
    }
    printf("renewal spread of %d IssuedCertificates with the same 2h duration: %lld s "
           "(%d distinct seconds)\n",
           SPREAD, (long long)(hi - lo), distinct);
    assert_true(distinct >= SPREAD - 2);
    assert_true(hi - lo >= 60);
}

static int setup(void **state)
{
    wf_fixture *f = NULL;
    int rc = wf_setup(&f);
    if (rc == 0) {
        f->issuer_extra[0] = "--ttl";
        f->issuer_extra[1] = "2h";
        f->issuer_extra[2] = "--max-duration";
        f->issuer_extra[3] = "3h";
        f->issuer_extra[4] = NULL;
        rc = wf_start_issuer(f);
    }
    if (rc == 0)
        rc = wf_start_agent(f, WF_EAST);
    return wf_setup_done(state, f, rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifetime_and_rotation, setup, wf_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_renewal_spread, setup, wf_cmocka_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
