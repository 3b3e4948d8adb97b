/* certificate_request.h - CertificateRequest (certificates.smh.solo.io/v1alpha2).
 *
 * Created by the agent next to its IssuedCertificate, carrying the PKCS#10 CSR
 * for a key that never leaves the managed cluster; the issuer answers in the
 * status: FINISHED with the signed certificate and the signing root, or FAILED
 * with an error. `bytes` fields are base64 in JSON and raw bytes (PEM text for
 * meshcert's own writers) in the struct.
 */
#ifndef MC_API_CERTIFICATE_REQUEST_H
#define MC_API_CERTIFICATE_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/condition.h"
#include "api/issued_certificate.h"
#include "api/meta.h"
#include "util/err.h"

typedef enum mc_cr_state {
    MC_CR_STATE_UNKNOWN = -1, /* a state string this version does not know (kept as is) */
    MC_CR_STATE_PENDING = 0,  /* also what an absent state means */
    MC_CR_STATE_FINISHED = 1,
    MC_CR_STATE_FAILED = 2,
} mc_cr_state;

/* Largest CSR accepted by validation (an RSA 8192 CSR in PEM is under 8 KiB). */
#define MC_API_CSR_MAX (64u * 1024)

typedef struct mc_api_certificate_request {
    json_t *raw; /* the decoded document (a reference) or NULL; see codec.h */
    mc_api_object_meta metadata;
    struct {
        unsigned char *certificate_signing_request; /* owned (NUL-terminated), NULL if unset */
        size_t certificate_signing_request_len;
    } spec;
    struct {
        int64_t observed_generation;
        char *error; /* owned */
        mc_cr_state state;
        unsigned char *signed_certificate; /* owned (NUL-terminated), NULL if unset */
        size_t signed_certificate_len;
        unsigned char *signing_root_ca; /* owned (NUL-terminated), NULL if unset */
        size_t signing_root_ca_len;
        mc_api_conditions conditions; /* Ready (mc_api_certificate_request_set_ready) */
    } status;
} mc_api_certificate_request;

/* Allocates an empty CertificateRequest named namespace/name. NULL on
 * allocation failure. */
mc_api_certificate_request *mc_api_certificate_request_new(const char *namespace, const char *name);

/* Decodes json (a new reference is kept as raw; do not modify json
 * afterwards) into *out (caller frees). MC_EINVAL naming the object and field
 * on a wrongly typed field, bad base64, or the wrong apiVersion/kind. */
int mc_api_certificate_request_decode(json_t *json, mc_api_certificate_request **out, mc_err *err);

/* Encodes into a new JSON object (*out, caller decrefs). MC_ENOMEM. */
int mc_api_certificate_request_encode(const mc_api_certificate_request *cr, json_t **out,
                                      mc_err *err);

/* Frees cr and everything it owns. Accepts NULL. */
void mc_api_certificate_request_free(mc_api_certificate_request *cr);

/* Replaces one bytes field with a copy of data (the spec CSR, or the status
 * certificate and root); data NULL clears it. MC_ENOMEM. */
int mc_api_certificate_request_set_csr(mc_api_certificate_request *cr, const void *data,
                                       size_t len);
int mc_api_certificate_request_set_signed(mc_api_certificate_request *cr, const void *cert,
                                          size_t cert_len, const void *root, size_t root_len);

/* Validates metadata, a non-empty CSR of at most MC_API_CSR_MAX bytes, and a
 * status consistent with its state (FINISHED carries signedCertificate and
 * signingRootCa). MC_EINVAL "certificaterequest <ns>/<name>: <field>: ...". */
int mc_api_certificate_request_validate(const mc_api_certificate_request *cr, mc_err *err);

/* "PENDING", "FINISHED", "FAILED" ("UNKNOWN" otherwise). */
const char *mc_api_cr_state_name(mc_cr_state state);

/* Parses a state string; MC_CR_STATE_UNKNOWN when not one of the three. */
mc_cr_state mc_api_cr_state_parse(const char *name);

/* Sets the Ready condition of cr->status.conditions from its state: True
 * "Finished" (signed); False "Failed" with status.error as message; False
 * "Pending" while the issuer has not answered; Unknown "UnknownState" for a
 * state this version does not know. observedGeneration is the status's;
 * lastTransitionTime becomes now (Unix seconds) only when Ready's status
 * changes. MC_ENOMEM. */
int mc_api_certificate_request_set_ready(mc_api_certificate_request *cr, int64_t now);

/* Whether cr's Ready condition already says what its status means. */
int mc_api_certificate_request_ready_current(const mc_api_certificate_request *cr);

#endif
