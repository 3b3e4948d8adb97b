/* fuzz_csr.c - libFuzzer target for the parsers that read untrusted PEM/DER:
 * CSRs (what the issuer receives from every cluster), certificate lists and
 * private keys. A CSR that parses must survive the request check, re-encode,
 * and parse again to an equal request. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "util/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_csr(const uint8_t *data, size_t size)
{
    mc_pki_csr *csr = NULL;
    mc_err err = {0};
    if (mc_pki_csr_parse(data, size, "fuzz", &csr, &err) != MC_OK) {
        if (err.msg[0] == '\0')
            abort(); /* every failure must say why */
        return;
    }
    static const char *const hosts[] = {"spiffe://cluster.local/ns/istio-system/sa/citadel",
                                        "istiod.istio-system.svc", "10.0.0.1"};
    char org[128], desc[64];
    mc_pki_csr_check_request(csr, "Istio", hosts, 3, NULL);
    mc_pki_csr_org(csr, org, sizeof(org), NULL);
    mc_pki_csr_describe_key(csr, desc, sizeof(desc));
    char *pem = NULL;
    size_t len = 0;
    if (mc_pki_csr_to_pem(csr, &pem, &len, NULL) == MC_OK) {
        mc_pki_csr *again = NULL;
        if (mc_pki_csr_parse(pem, len, "re-encoded", &again, NULL) != MC_OK)
            abort(); /* what we accepted once we must accept again */
        mc_pki_csr_free(again);
        free(pem);
    }
    mc_pki_csr_free(csr);
}

static void fuzz_certs(const uint8_t *data, size_t size)
{
    mc_pki_cert **certs = NULL;
    size_t count = 0;
    if (mc_pki_cert_list_from_pem((const char *)data, size, "fuzz", &certs, &count, NULL))
        return;
    mc_buf out;
    mc_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < count; i++) {
        mc_pki_cert_describe(certs[i], &out);
        mc_pki_cert_is_ca(certs[i]);
    }
    mc_buf_free(&out);
    mc_pki_cert_list_free(certs, count);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
    mc_pki_key *key = NULL;
    if (mc_pki_key_from_pem((const char *)data, size, "fuzz", &key, NULL) == MC_OK)
        mc_pki_key_free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_csr(data, size);
    fuzz_certs(data, size);
    fuzz_key(data, size);
    return 0;
}
