/* fuzz_api_decode.c - libFuzzer target: every api/ decoder on arbitrary JSON.
 *
 * Whatever parses as JSON is fed to each kind's decoder, the list and watch
 * event decoders; whatever decodes must encode, and the encoding must decode
 * and encode again to the same value (encode is a fixed point). Leaks are
 * caught by LeakSanitizer.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/certificate_request.h"
#include "api/codec.h"
#include "api/core.h"
#include "api/issued_certificate.h"
#include "api/pod_bounce.h"
#include "api/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(type, decode, encode, release)                               \
    do {                                                                   \
        type *a = NULL, *b = NULL;                                         \
        json_t *out1 = NULL, *out2 = NULL;                                 \
        if (decode(json, &a, NULL) == 0) {                                 \
            if (encode(a, &out1, NULL) != 0)                               \
                abort();                                                   \
            if (decode(out1, &b, NULL) != 0 || encode(b, &out2, NULL) != 0) \
                abort();                                                   \
            if (!json_equal(out1, out2))                                   \
                abort();                                                   \
        }                                                                  \
        release(a);                                                        \
        release(b);                                                        \
        json_decref(out1);                                                 \
        json_decref(out2);                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *json = NULL;
    if (mc_api_json_parse((const char *)data, size, &json, NULL) != 0)
        return 0;
    CHECK(mc_api_issued_certificate, mc_api_issued_certificate_decode,
          mc_api_issued_certificate_encode, mc_api_issued_certificate_free);
    CHECK(mc_api_certificate_request, mc_api_certificate_request_decode,
          mc_api_certificate_request_encode, mc_api_certificate_request_free);
    CHECK(mc_api_pod_bounce_directive, mc_api_pod_bounce_directive_decode,
          mc_api_pod_bounce_directive_encode, mc_api_pod_bounce_directive_free);
    CHECK(mc_api_secret, mc_api_secret_decode, mc_api_secret_encode, mc_api_secret_free);
    mc_api_pod *pod = NULL;
    (void)mc_api_pod_decode(json, &pod, NULL); /* decode only: no encoder */
    mc_api_pod_free(pod);
    CHECK(mc_api_status, mc_api_status_decode, mc_api_status_encode, mc_api_status_free);
    /* validation must not crash on anything that decodes */
    mc_api_issued_certificate *ic = NULL;
    if (mc_api_issued_certificate_decode(json, &ic, NULL) == 0)
        (void)mc_api_issued_certificate_validate(ic, NULL);
    mc_api_issued_certificate_free(ic);
    mc_api_pod_bounce_directive *pbd = NULL;
    if (mc_api_pod_bounce_directive_decode(json, &pbd, NULL) == 0)
        (void)mc_api_pod_bounce_directive_validate(pbd, NULL);
    mc_api_pod_bounce_directive_free(pbd);
    json_decref(json);
    return 0;
}
