/* trust_probe.h - test helper: does cross-cluster mTLS still work? For each
 * managed cluster it holds the latest seen content of that cluster's output
 * Secret (Istio layout); a run makes, from each cluster's current
 * intermediate, a workload leaf (fresh EC P-256 key, 1 h, SAN URI
 * spiffe://<trust domain>/ns/default/sa/probe) whose chain is leaf +
 * cert-chain.pem, and completes a real TLS 1.3 mutual handshake with libssl
 * in-process (a BIO pair, no socket) for every ordered pair of clusters: the
 * client side trusts only its own cluster's root-cert.pem, the server side
 * its own, as an Istio workload does. Failures carry the reason (the X.509
 * verify error). Used by rotation_probe_test, trust_probe_test and the
 * trust_probe CLI (make demo-rotate).
 */
#ifndef MC_TEST_TRUST_PROBE_H
#define MC_TEST_TRUST_PROBE_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define TRUST_PROBE_MAX_CLUSTERS  8
#define TRUST_PROBE_KEEP_FAILURES 8

typedef struct trust_probe trust_probe;

typedef struct trust_probe_result {
    unsigned long runs;       /* trust_probe_run calls counted in */
    unsigned long handshakes; /* handshakes attempted */
    unsigned long failures;   /* of which failed */
    /* the first failures, "east -> west: west rejected east's certificate:
     * unable to get local issuer certificate (depth 1, O=Istio)" */
    char failure[TRUST_PROBE_KEEP_FAILURES][512];
} trust_probe_result;

/* A new probe with no clusters; NULL when out of memory. */
trust_probe *trust_probe_new(void);

/* Frees the probe, wiping the keys it holds. Accepts NULL. */
void trust_probe_free(trust_probe *probe);

/* Sets (adds or replaces) what cluster's output Secret holds: the four Istio
 * files as PEM (copied; ca_key wiped when replaced or freed). trust_domain
 * names the leaf's SPIFFE ID. MC_ELIMIT past TRUST_PROBE_MAX_CLUSTERS,
 * MC_EINVAL when a file is missing (named). */
int trust_probe_set(trust_probe *probe, const char *cluster, const char *trust_domain,
                    const char *ca_cert, const char *ca_key, const char *cert_chain,
                    const char *root_cert, mc_err *err);

/* trust_probe_set from a Secret object (its base64 data). */
int trust_probe_set_secret(trust_probe *probe, const char *cluster, const char *trust_domain,
                           const json_t *secret, mc_err *err);

/* Forgets a cluster (its Secret was deleted); no-op when unknown. */
void trust_probe_forget(trust_probe *probe, const char *cluster);

/* Number of clusters held. */
size_t trust_probe_count(const trust_probe *probe);

/* One handshake for every ordered pair of the clusters held (n * (n - 1)),
 * added to *result (runs, handshakes, failures and the first failures'
 * reasons). A cluster whose leaf cannot be made (its key does not match its
 * certificate, an expired intermediate) fails every handshake it takes part
 * in, with that reason. Returns the failures of this run. */
unsigned long trust_probe_run(trust_probe *probe, trust_probe_result *result);

/* Adds from's counts to into and keeps from's failure reasons while into
 * has room (TRUST_PROBE_KEEP_FAILURES). */
void trust_probe_result_add(trust_probe_result *into, const trust_probe_result *from);

/* Appends, one line per cluster, "  east: intermediate CN=... signed by
 * 3f2a9c1b; bundle 3f2a9c1b 77d01e2a" (the short SHA-256 fingerprints of
 * the roots) to out (capped, NUL-terminated). */
void trust_probe_describe(const trust_probe *probe, char *out, size_t out_size);

/* Test PKI building blocks (pki/ underneath), PEM in and out, PEM strings
 * owned by the caller (keys: mc_secure_free_str):
 * a self-signed EC P-256 root valid for a day; */
int trust_probe_make_root(const char *common_name, char **cert_pem, char **key_pem, mc_err *err);

/* a certificate for key_pem signed by the CA (signer_cert_pem,
 * signer_key_pem): an intermediate CA (ca = 1: O=org, pathlen 0, name
 * constraints permitting URI spiffe://<trust_domain> and nothing else) or a
 * TLS leaf (ca = 0), for one SAN host, valid ttl_seconds. */
int trust_probe_sign(const char *signer_cert_pem, const char *signer_key_pem, const char *key_pem,
                     int ca, const char *org, const char *host, const char *trust_domain,
                     long ttl_seconds, char **cert_pem, mc_err *err);

/* A fresh EC P-256 private key as PEM. */
int trust_probe_make_key(char **key_pem, mc_err *err);

/* first followed by second (a chain, or a bundle of roots), owned by the
 * caller; aborts when out of memory (a test helper). */
char *trust_probe_concat(const char *first, const char *second);

#endif
