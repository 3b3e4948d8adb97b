/* pki_bench.c - issuance throughput of pki/ on one core.
 *
 * For a root key type (rsa4096, ec-p256, ...) it measures, single-threaded:
 *   issue    - mc_pki_signer_issue from an already parsed CSR, plus PEM
 *              encoding of the result (what the issuer does per request once
 *              the CSR is checked);
 *   pipeline - the whole request path: parse the CSR PEM, verify its signature,
 *              check it against the hosts/org, issue, encode.
 *   issue-pkcs11 - issue, with the root key made inside a PKCS#11 token
 *              (SoftHSM2), when MC_BENCH_PKCS11_MODULE, MC_BENCH_PKCS11_TOKEN
 *              and MC_BENCH_PKCS11_PIN_FILE name one (bench/pki.sh sets them).
 * Prints "<root type> <mode> <issuances/s> <count> <seconds>" per line; the
 * comparison against openssl is bench/pki.sh's job.
 *   ceiling N - the crypto of N issuances alone, as make bench-scale counts
 *              it: N times an EC P-256 key generation, a CSR signed with it,
 *              and an intermediate issued from it by an EC P-256 root (built,
 *              signed, PEM-encoded). Prints "ceiling <N> <CPU seconds>"
 *              (user + system of this process, getrusage).
 * Usage: bench_pki <root key type> [seconds per mode] [csr key type]
 *        bench_pki ceiling N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/pkcs11.h"
#include "pki/root.h"

static const char *const hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/citadel"};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const mc_err *err)
{
    fprintf(stderr, "bench_pki: %s: %s\n", what, err->msg);
    exit(1);
}

/* One issuance; when csr_pem is given, the CSR is parsed and checked first. */
static void issue_once(const mc_pki_signer *signer, const mc_pki_csr *csr, const char *csr_pem,
                       size_t csr_len)
{
    mc_err err = {0};
    mc_pki_csr *parsed = NULL;
    if (csr_pem) {
        if (mc_pki_csr_parse(csr_pem, csr_len, "csr", &parsed, &err) ||
            mc_pki_csr_check_request(parsed, "Istio", hosts, 1, &err))
            die("csr", &err);
        csr = parsed;
    }
    mc_pki_issue_params params;
    mc_pki_issue_params_init(&params);
    params.org = "Istio";
    params.hosts = hosts;
    params.host_count = 1;
    mc_pki_cert *cert = NULL;
    char *pem = NULL;
    if (mc_pki_signer_issue(signer, csr, &params, &cert, &err) ||
        mc_pki_cert_to_pem(cert, &pem, NULL, &err))
        die("issue", &err);
    free(pem);
    mc_pki_cert_free(cert);
    mc_pki_csr_free(parsed);
}

static void run(const char *root_type, const char *mode, double seconds,
                const mc_pki_signer *signer, const mc_pki_csr *csr, const char *csr_pem,
                size_t csr_len)
{
    for (int i = 0; i < 3; i++) /* warm-up */
        issue_once(signer, csr, csr_pem, csr_len);
    long count = 0;
    double start = now_seconds(), elapsed = 0;
    do {
        for (int i = 0; i < 8; i++)
            issue_once(signer, csr, csr_pem, csr_len);
        count += 8;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    printf("%s %s %.1f %ld %.3f\n", root_type, mode, (double)count / elapsed, count, elapsed);
    fflush(stdout);
}

/* The issue mode again with the root key generated in a PKCS#11 token. */
static void run_pkcs11(const char *root_name, mc_key_type root_type, double seconds,
                       const mc_pki_csr *csr)
{
    const char *module = getenv("MC_BENCH_PKCS11_MODULE");
    const char *token = getenv("MC_BENCH_PKCS11_TOKEN");
    const char *pin_file = getenv("MC_BENCH_PKCS11_PIN_FILE");
    if (!module || !token || !pin_file)
        return;
    char uri[256];
    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=bench-%s", token, root_name);
    mc_pki_pkcs11_config config = {uri, module, pin_file, NULL};
    mc_pki_root_params root_params = {"Acme", "bench token root", (int64_t)10 * 365 * 86400, 0};
    mc_pki_pkcs11 *p11 = NULL;
    mc_pki_key *public_key = NULL;
    mc_pki_key_backend backend;
    mc_pki_cert *root = NULL;
    mc_pki_signer *signer = NULL;
    mc_err err = {0};
    if (mc_pki_pkcs11_open(&config, &p11, &err) ||
        mc_pki_pkcs11_generate(p11, root_type, &public_key, &err) ||
        mc_pki_pkcs11_backend(p11, &backend, &err) ||
        mc_pki_root_create_backend(public_key, &backend, &root_params, &root, &err) ||
        mc_pki_signer_new_backend(root, &backend, &signer, &err))
        die("pkcs11 setup", &err);
    run(root_name, "issue-pkcs11", seconds, signer, csr, NULL, 0);
    mc_pki_signer_free(signer);
    mc_pki_cert_free(root);
    mc_pki_key_free(public_key);
    mc_pki_pkcs11_free(p11);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* bench_pki ceiling N (make bench-scale): the CPU of N issuances' crypto. */
static int ceiling(long n)
{
    mc_err err = {0};
    mc_pki_key *root_key = NULL;
    mc_pki_cert *root = NULL;
    mc_pki_signer *signer = NULL;
    mc_pki_root_params root_params = {"Acme", "bench root", (int64_t)10 * 365 * 86400, 0};
    if (mc_pki_key_generate(MC_KEY_EC_P256, &root_key, &err) ||
        mc_pki_root_create(root_key, &root_params, &root, &err) ||
        mc_pki_signer_new(root, root_key, &signer, &err))
        die("setup", &err);
    double start = cpu_seconds();
    for (long i = 0; i < n; i++) {
        mc_pki_key *key = NULL;
        mc_pki_csr *csr = NULL;
        if (mc_pki_key_generate(MC_KEY_EC_P256, &key, &err) ||
            mc_pki_csr_create(key, "Istio", hosts, 1, &csr, &err))
            die("key and csr", &err);
        issue_once(signer, csr, NULL, 0);
        mc_pki_csr_free(csr);
        mc_pki_key_free(key);
    }
    printf("ceiling %ld %.4f\n", n, cpu_seconds() - start);
    mc_pki_signer_free(signer);
    mc_pki_cert_free(root);
    mc_pki_key_free(root_key);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "ceiling") == 0)
        return ceiling(atol(argv[2]));
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pki <root key type> [seconds] [csr key type]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    mc_key_type root_type, csr_type = MC_KEY_EC_P256;
    mc_err err = {0};
    if (mc_pki_key_type_parse(argv[1], &root_type, &err) ||
        (argc > 3 && mc_pki_key_type_parse(argv[3], &csr_type, &err)))
        die("key type", &err);
    mc_pki_key *root_key = NULL, *csr_key = NULL;
    mc_pki_cert *root = NULL;
    mc_pki_signer *signer = NULL;
    mc_pki_csr *csr = NULL;
    mc_pki_root_params root_params = {"Acme", "bench root", (int64_t)10 * 365 * 86400, 0};
    char *csr_pem = NULL;
    size_t csr_len = 0;
    if (mc_pki_key_generate(root_type, &root_key, &err) ||
        mc_pki_root_create(root_key, &root_params, &root, &err) ||
        mc_pki_signer_new(root, root_key, &signer, &err) ||
        mc_pki_key_generate(csr_type, &csr_key, &err) ||
        mc_pki_csr_create(csr_key, "Istio", hosts, 1, &csr, &err) ||
        mc_pki_csr_to_pem(csr, &csr_pem, &csr_len, &err))
        die("setup", &err);
    run(argv[1], "issue", seconds, signer, csr, NULL, 0);
    run(argv[1], "pipeline", seconds, signer, NULL, csr_pem, csr_len);
    run_pkcs11(argv[1], root_type, seconds, csr);
    free(csr_pem);
    mc_pki_csr_free(csr);
    mc_pki_signer_free(signer);
    mc_pki_cert_free(root);
    mc_pki_key_free(csr_key);
    mc_pki_key_free(root_key);
    return 0;
}
