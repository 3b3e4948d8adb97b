/* decide.c - the agent's pure reconcile decision (see decide.h for the state
 * machine) and the builders for the objects its actions write.
 *
 * Decisions the header leaves open (also in docs/workflow.md, "Decisions"):
 *  - FAILED for the current generation takes the PENDING path again, reusing
 *    a valid key Secret; a request the issuer FAILED (or FINISHED with an
 *    unusable certificate) is deleted and made again; the state stays FAILED
 *    with its error until a retry is signed (then REQUESTED, and on); a
 *    FAILED status that would be written unchanged is NOTHING, so a persistent problem
 *    (foreign output, missing directive) costs no writes; the I/O wrapper's
 *    per-key backoff paces the retries. An unknown state restarts at PENDING.
 *  - The output Secret matches when it carries the agent label, both
 *    annotations, the files of the configured layout, a ca-key byte-equal to
 *    the key Secret's private-key, and a CA certificate that chains to its
 *    root-cert, is valid at now and carries the spec's org and hosts.
 *  - The issuance time for the bounce plan is the output Secret's
 *    MC_AGENT_ISSUED_AT_ANNOTATION (RFC 3339, written from observation->now
 *    by mc_agent_build_output); a pod created in that very second is in the
 *    plan (it may have read the old Secret). A plan is only recorded when it
 *    holds at least one pod.
 *  - A key Secret named like the IssuedCertificate but not owned by it is
 *    deleted when it is one of ours (key type and agent label: left from an
 *    earlier IssuedCertificate of that name), otherwise FAILED, never touched.
 *  - A missing PodBounceDirective is FAILED before any key is made (and in
 *    ISSUED), so nothing is issued that cannot be rolled out.
 */
#include "agent/decide.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/time.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/verify.h"
#include "util/str.h"

/* What the reconcile needs, computed once per decision. */
typedef struct decide_ctx {
    const mc_agent_observation *obs;
    const mc_api_issued_certificate *ic;
    mc_agent_action *action;
    const char *const *hosts;
    size_t host_count;
    const char *org;
    int64_t generation;
    char what[320]; /* "issuedcertificate ns/name" */
} decide_ctx;

/* What mc_agent_decide found in the output Secret. */
typedef enum {
    OUTPUT_ABSENT,
    OUTPUT_FOREIGN, /* not written by meshcert, adoption not allowed */
    OUTPUT_STALE,   /* ours (or adoptable) but not matching: rewrite */
    OUTPUT_MATCHES,
} output_status;

typedef enum { REQUEST_WAITING, REQUEST_FAILED, REQUEST_FINISHED } request_phase;

static void set_status(decide_ctx *c, mc_ic_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *data_str(const mc_api_secret *s, const char *key);

/* The output Secret's certificate and root files in the configured layout. */
static const char *output_cert_file(const decide_ctx *c)
{
    return c->obs->output_format == MC_BUNDLE_TLS ? "tls.crt" : "ca-cert.pem";
}

static const char *output_roots_file(const decide_ctx *c)
{
    return c->obs->output_format == MC_BUNDLE_TLS ? "ca.crt" : "root-cert.pem";
}

/* The status facts of the output Secret's certificates (output_facts). */
typedef struct status_facts {
    int64_t not_before, not_after, renewal_time;
    char root_fingerprints[MC_AGENT_ROOTS_MAX][65];
    size_t root_fingerprint_count;
} status_facts;

/* Reads the status facts of the certificate in the output Secret s into f:
 * validity, renewal time (renew_before: the spec's), root fingerprints (all
 * zero when unreadable). */
static void read_output_facts(const decide_ctx *c, const mc_api_secret *s, int64_t renew_before,
                              status_facts *f)
{
    const char *cert_pem = data_str(s, output_cert_file(c));
    const char *roots_pem = data_str(s, output_roots_file(c));
    mc_pki_cert *cert = NULL, **roots = NULL;
    size_t root_count = 0;
    time_t not_before = 0, not_after = 0;
    if (!cert_pem ||
        mc_pki_cert_from_pem(cert_pem, strlen(cert_pem), "output", &cert, NULL) != MC_OK ||
        mc_pki_cert_validity(cert, &not_before, &not_after) != MC_OK)
        goto out;
    f->not_before = (int64_t)not_before;
    f->not_after = (int64_t)not_after;
    const char *issuance =
        mc_api_str_map_get(&s->metadata.annotations, MC_AGENT_ISSUANCE_ANNOTATION);
    /* The lifetime counts from when the certificate was written: issuers
     * back-date notBefore for clock skew (pki/: 5 minutes), which would make
     * a 1 minute certificate due at once. */
    const char *written =
        mc_api_str_map_get(&s->metadata.annotations, MC_AGENT_ISSUED_AT_ANNOTATION);
    int64_t start = f->not_before, written_at = 0;
    if (written && mc_time_parse(written, &written_at, NULL, NULL) == 0 && written_at > start &&
        written_at < f->not_after)
        start = written_at;
    f->renewal_time =
        mc_agent_renewal_time(start, f->not_after, renew_before, c->ic->metadata.uid, issuance);
    if (!roots_pem || mc_pki_cert_list_from_pem(roots_pem, strlen(roots_pem), "output roots",
                                                &roots, &root_count, NULL) != MC_OK)
        goto out;
    for (size_t i = 0; i < root_count && i < MC_AGENT_ROOTS_MAX; i++) {
        unsigned char digest[32];
        if (mc_pki_cert_sha256(roots[i], digest, NULL) != MC_OK)
            break;
        for (size_t j = 0; j < 32; j++)
            snprintf(f->root_fingerprints[i] + 2 * j, 3, "%02x", digest[j]);
        f->root_fingerprint_count = i + 1;
    }
out:
    mc_pki_cert_list_free(roots, root_count);
    mc_pki_cert_free(cert);
}

/* Fills the status facts of the output Secret into a (read_output_facts),
 * remembered in the observation's cache per output Secret version,
 * IssuedCertificate uid, renewBefore and layout: a FINISHED issuance is
 * reconciled at every event on its objects, and OpenSSL 3.0 sets up a key
 * decoder for each certificate it parses. */
static void output_facts(const decide_ctx *c, mc_agent_action *a)
{
    const mc_api_secret *s = c->obs->output;
    status_facts f;
    memset(&f, 0, sizeof(f));
    if (!s)
        return;
    int64_t renew_before = 0;
    mc_api_issued_certificate_renew_before(c->ic, &renew_before, NULL);
    const mc_api_str_map *ann = &s->metadata.annotations;
    const char *fields[] = {data_str(s, output_cert_file(c)), data_str(s, output_roots_file(c)),
                            mc_api_str_map_get(ann, MC_AGENT_ISSUANCE_ANNOTATION),
                            mc_api_str_map_get(ann, MC_AGENT_ISSUED_AT_ANNOTATION),
                            c->ic->metadata.uid};
    mc_pki_hash_part parts[7];
    size_t n = 0;
    for (; n < sizeof(fields) / sizeof(fields[0]); n++)
        parts[n] = (mc_pki_hash_part){fields[n], fields[n] ? strlen(fields[n]) : 0};
    parts[n++] = (mc_pki_hash_part){&renew_before, sizeof(renew_before)};
    parts[n++] = (mc_pki_hash_part){output_cert_file(c), strlen(output_cert_file(c))};
    mc_agent_cache_id id;
    int cacheable = c->obs->cache && mc_agent_cache_identify(&s->metadata, parts, n, &id) == MC_OK;
    if (!cacheable || !mc_agent_cache_facts(c->obs->cache, &s->metadata, &id, &f, sizeof(f))) {
        read_output_facts(c, s, renew_before, &f);
        if (cacheable)
            mc_agent_cache_facts_remember(c->obs->cache, &s->metadata, &id, &f, sizeof(f));
    }
    a->not_before = f.not_before;
    a->not_after = f.not_after;
    a->renewal_time = f.renewal_time;
    memcpy(a->root_fingerprints, f.root_fingerprints, sizeof(a->root_fingerprints));
    a->root_fingerprint_count = f.root_fingerprint_count;
}

/* Whether writing t (Unix seconds; 0 keeps) would change the status time. */
static int time_changes(const char *current_text, int64_t t)
{
    int64_t current = 0;
    if (t == 0)
        return 0;
    return !current_text || mc_time_parse(current_text, &current, NULL, NULL) != 0 || current != t;
}

/* Whether SET_STATUS a would change anything beside state, error and
 * observedGeneration. */
static int status_extras_change(const mc_api_issued_certificate_status *st,
                                const mc_agent_action *a)
{
    if (time_changes(st->not_before, a->not_before) || time_changes(st->not_after, a->not_after) ||
        time_changes(st->renewal_time, a->renewal_time))
        return 1;
    if (a->root_fingerprint_count > 0) {
        if (st->root_fingerprints_len != a->root_fingerprint_count)
            return 1;
        for (size_t i = 0; i < a->root_fingerprint_count; i++)
            if (strcmp(st->root_fingerprints[i], a->root_fingerprints[i]) != 0)
                return 1;
    }
    if (a->rotation && strcmp(a->rotation, st->rotation ? st->rotation : "") != 0)
        return 1;
    if (a->issuing == MC_AGENT_ISSUING_START)
        return 1;
    const mc_api_condition *issuing =
        mc_api_conditions_get(&st->conditions, MC_API_CONDITION_ISSUING);
    return a->issuing == MC_AGENT_ISSUING_END && issuing && issuing->status &&
           strcmp(issuing->status, "False") != 0;
}

/* SET_STATUS, or NOTHING when the status (and so its Ready condition)
 * already says exactly that (a persistent failure is written once). At
 * ISSUED and FINISHED the status describes the output; FINISHED ends a
 * renewal. */
static void set_status(decide_ctx *c, mc_ic_state state, const char *fmt, ...)
{
    mc_agent_action *a = c->action;
    a->type = MC_AGENT_SET_STATUS;
    a->state = state;
    a->observed_generation = c->generation;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof(a->error), fmt, ap);
    va_end(ap);
    if (state == MC_IC_STATE_ISSUED || state == MC_IC_STATE_FINISHED)
        output_facts(c, a);
    if (state == MC_IC_STATE_FINISHED)
        a->issuing = MC_AGENT_ISSUING_END;
    const mc_api_issued_certificate_status *st = &c->ic->status;
    if (st->state == state && st->observed_generation == c->generation &&
        strcmp(st->error ? st->error : "", a->error) == 0 && !status_extras_change(st, a))
        a->type = MC_AGENT_NOTHING;
}

/* Starts a renewal from FINISHED: PENDING with Issuing True (and the rotate
 * token) in one write; the output Secret is left as it is. */
static void start_renewal(decide_ctx *c, const char *reason, const char *token)
{
    set_status(c, MC_IC_STATE_PENDING, "%s", "");
    c->action->issuing = MC_AGENT_ISSUING_START;
    c->action->issuing_reason = reason;
    c->action->rotation = token;
}

static void set_type(decide_ctx *c, mc_agent_action_type type)
{
    c->action->type = type;
}

static int owned_by(const mc_api_object_meta *meta, const mc_api_issued_certificate *ic)
{
    if (!ic->metadata.uid)
        return 0;
    for (size_t i = 0; i < meta->owner_references_len; i++) {
        const char *uid = meta->owner_references[i].uid;
        if (uid && strcmp(uid, ic->metadata.uid) == 0)
            return 1;
    }
    return 0;
}

static int has_agent_label(const mc_api_object_meta *meta)
{
    return mc_api_str_map_get(&meta->labels, MC_AGENT_LABEL) != NULL;
}

static const mc_api_bytes_entry *key_entry(const mc_api_secret *secret)
{
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&secret->data, MC_AGENT_KEY_DATA);
    return e && e->len > 0 ? e : NULL;
}

/* Parses the key Secret's private key into *key (caller frees), or takes
 * it from cache (NULL: none) when that Secret version was parsed before. */
static int load_key(mc_agent_cache *cache, const mc_api_secret *secret, mc_pki_key **key,
                    mc_err *err)
{
    char what[320];
    mc_api_meta_describe(&secret->metadata, "secret", what, sizeof(what));
    if (!secret->type || strcmp(secret->type, MC_AGENT_KEY_SECRET_TYPE) != 0)
        return mc_err_set(err, MC_EINVAL, "%s: type is not %s", what, MC_AGENT_KEY_SECRET_TYPE);
    const mc_api_bytes_entry *e = key_entry(secret);
    if (!e)
        return mc_err_set(err, MC_EINVAL, "%s: no %s", what, MC_AGENT_KEY_DATA);
    return mc_agent_cache_key(cache, &secret->metadata, (const char *)e->data, e->len, what, key,
                              err);
}

/* The usable key of the observation: present, owned, parseable. */
static int usable_key(decide_ctx *c, mc_pki_key **key)
{
    const mc_api_secret *s = c->obs->key_secret;
    if (!s || !owned_by(&s->metadata, c->ic) || s->metadata.deletion_timestamp)
        return MC_ENOTFOUND;
    return load_key(c->obs->cache, s, key, NULL);
}

/* MC_OK when the request's CSR comes from key and asks for exactly the spec. */
static int check_request_csr(decide_ctx *c, const mc_api_certificate_request *req,
                             const mc_pki_key *key, mc_err *err)
{
    mc_pki_csr *csr = NULL;
    if (!req->spec.certificate_signing_request)
        return mc_err_set(err, MC_EINVAL, "request has no CSR");
    int rc = mc_pki_csr_parse(req->spec.certificate_signing_request,
                              req->spec.certificate_signing_request_len, "request CSR", &csr, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_matches_key(csr, key, err);
    if (rc == MC_OK)
        rc = mc_pki_csr_check_exact(csr, c->org, c->hosts, c->host_count, err);
    mc_pki_csr_free(csr);
    return rc;
}

/* Whether req was made for another generation of the IssuedCertificate
 * (MC_AGENT_GENERATION_ANNOTATION; a request without it, made by an older
 * agent, counts as made for the current one). */
static int request_for_other_generation(const decide_ctx *c, const mc_api_certificate_request *req)
{
    const char *v = mc_api_str_map_get(&req->metadata.annotations, MC_AGENT_GENERATION_ANNOTATION);
    if (!v)
        return 0;
    char want[32];
    snprintf(want, sizeof(want), "%" PRId64, c->generation);
    return strcmp(v, want) != 0;
}

/* A request is answered only when the issuer saw its current generation. */
static request_phase phase_of(const mc_api_certificate_request *req)
{
    if (req->status.observed_generation < req->metadata.generation)
        return REQUEST_WAITING;
    if (req->status.state == MC_CR_STATE_FAILED)
        return REQUEST_FAILED;
    if (req->status.state == MC_CR_STATE_FINISHED)
        return REQUEST_FINISHED;
    return REQUEST_WAITING;
}

/* Checks a FINISHED request's certificate against key, its signingRootCa, the
 * spec and now; *cert_out (optional) receives the certificate. */
static int check_signed(decide_ctx *c, const mc_api_certificate_request *req, const mc_pki_key *key,
                        mc_pki_cert **cert_out, mc_err *err)
{
    mc_pki_cert *cert = NULL, **roots = NULL;
    size_t root_count = 0;
    int rc;
    if (!req->status.signed_certificate || !req->status.signing_root_ca) {
        rc = mc_err_set(err, MC_EINVAL, "FINISHED without %s",
                        req->status.signed_certificate ? "signingRootCa" : "signedCertificate");
        goto out;
    }
    if ((rc = mc_pki_cert_from_pem((const char *)req->status.signed_certificate,
                                   req->status.signed_certificate_len, "signedCertificate", &cert,
                                   err)) ||
        (rc = mc_pki_cert_list_from_pem((const char *)req->status.signing_root_ca,
                                        req->status.signing_root_ca_len, "signingRootCa", &roots,
                                        &root_count, err)))
        goto out;
    if ((rc = mc_pki_cert_matches_key(cert, key, err))) {
        mc_err_prefix(err, "signed certificate");
        goto out;
    }
    if ((rc = mc_pki_cert_check_validity(cert, c->obs->now, err)) ||
        (rc = mc_pki_verify_chain(cert, NULL, 0, roots, root_count, c->obs->now, err)) ||
        (rc = mc_pki_cert_check_identity(cert, c->org, c->hosts, c->host_count, err))) {
        mc_err_prefix(err, "signed certificate");
        goto out;
    }
    if (cert_out) {
        *cert_out = cert;
        cert = NULL;
    }
out:
    mc_pki_cert_free(cert);
    mc_pki_cert_list_free(roots, root_count);
    return rc;
}

static int adoption_allowed(const mc_agent_observation *obs)
{
    const char *v = mc_api_str_map_get(&obs->output->metadata.labels, MC_AGENT_ADOPT_LABEL);
    return obs->adopt_existing || (v && strcmp(v, "true") == 0);
}

static const char *data_str(const mc_api_secret *s, const char *key)
{
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&s->data, key);
    return e && e->len > 0 ? (const char *)e->data : NULL;
}

/* The identity of the output check's verdict (cache.h): the bundle's files,
 * the layout, the spec's org and hosts, and the key Secret's version. */
static int output_identity(const decide_ctx *c, const mc_api_secret *out_secret,
                           const mc_pki_bundle *bundle, mc_agent_cache_id *id)
{
    const mc_api_object_meta *key_meta = &c->obs->key_secret->metadata;
    const char *format = c->obs->output_format == MC_BUNDLE_TLS ? "tls" : "istio";
    const char *fields[] = {
        bundle->ca_cert, bundle->ca_key, bundle->cert_chain, bundle->root_cert,
        format,          c->org,         key_meta->uid,      key_meta->resource_version};
    enum { FIELDS = sizeof(fields) / sizeof(fields[0]), HOSTS_MAX = 32 - FIELDS };
    mc_pki_hash_part parts[FIELDS + HOSTS_MAX];
    if (c->host_count > HOSTS_MAX)
        return MC_ELIMIT; /* not cached: checked in full every time */
    for (size_t i = 0; i < FIELDS + c->host_count; i++) {
        const char *v = i < FIELDS ? fields[i] : c->hosts[i - FIELDS];
        parts[i] = (mc_pki_hash_part){v, v ? strlen(v) : 0};
    }
    return mc_agent_cache_identify(&out_secret->metadata, parts, FIELDS + c->host_count, id);
}

/* Whether the bundle verifies at now (pki/bundle.h: chain, validity, key)
 * and its certificate carries the spec's org and hosts. A success is
 * remembered in the observation's cache for this exact output Secret
 * version, key Secret version and spec, within the certificates' validity. */
static int bundle_verified(decide_ctx *c, const mc_api_secret *out_secret,
                           const mc_pki_bundle *bundle)
{
    mc_agent_cache *cache = c->obs->cache;
    mc_agent_cache_id id;
    int cacheable = cache && output_identity(c, out_secret, bundle, &id) == MC_OK;
    if (cacheable && mc_agent_cache_output_matches(cache, &out_secret->metadata, &id, c->obs->now))
        return 1;
    if (mc_pki_bundle_verify(bundle, NULL, NULL, c->obs->now, NULL, NULL) != MC_OK)
        return 0;
    mc_pki_cert *cert = NULL;
    int ok = mc_pki_cert_from_pem(bundle->ca_cert, strlen(bundle->ca_cert), "output", &cert,
                                  NULL) == MC_OK &&
             mc_pki_cert_check_identity(cert, c->org, c->hosts, c->host_count, NULL) == MC_OK;
    mc_pki_cert_free(cert);
    time_t from = 0, until = 0;
    if (ok && cacheable && mc_pki_bundle_validity(bundle, &from, &until, NULL) == MC_OK)
        mc_agent_cache_output_remember(cache, &out_secret->metadata, &id, from, until);
    return ok;
}

/* Checks the output Secret's contents against the key PEM and the spec (see
 * the file comment); *issuance and *issued_at (optional) receive its
 * annotations. */
static int output_contents_match(decide_ctx *c, const mc_api_secret *out_secret,
                                 const mc_api_bytes_entry *key_pem, const char **issuance,
                                 int64_t *issued_at)
{
    const mc_api_str_map *ann = &out_secret->metadata.annotations;
    const char *id = mc_api_str_map_get(ann, MC_AGENT_ISSUANCE_ANNOTATION);
    const char *at = mc_api_str_map_get(ann, MC_AGENT_ISSUED_AT_ANNOTATION);
    int64_t at_seconds = 0;
    if (!id || !*id || !at || mc_time_parse(at, &at_seconds, NULL, NULL) != 0)
        return 0;
    int tls = c->obs->output_format == MC_BUNDLE_TLS;
    mc_pki_bundle bundle = {
        .ca_cert = (char *)data_str(out_secret, tls ? "tls.crt" : "ca-cert.pem"),
        .ca_key = (char *)data_str(out_secret, tls ? "tls.key" : "ca-key.pem"),
        .cert_chain = tls ? NULL : (char *)data_str(out_secret, "cert-chain.pem"),
        .root_cert = (char *)data_str(out_secret, tls ? "ca.crt" : "root-cert.pem"),
    };
    if (!bundle.ca_cert || !bundle.ca_key || !bundle.root_cert || (!tls && !bundle.cert_chain))
        return 0;
    if (strlen(bundle.ca_key) != key_pem->len ||
        memcmp(bundle.ca_key, key_pem->data, key_pem->len) != 0)
        return 0;
    int ok = bundle_verified(c, out_secret, &bundle);
    if (ok && issuance)
        *issuance = id;
    if (ok && issued_at)
        *issued_at = at_seconds;
    return ok;
}

/* Classifies the output Secret. want_issuance (optional): it must carry that
 * issuance id to match. */
static output_status check_output(decide_ctx *c, const char *want_issuance, const char **issuance,
                                  int64_t *issued_at)
{
    const mc_api_secret *s = c->obs->output;
    if (!s)
        return OUTPUT_ABSENT;
    if (!has_agent_label(&s->metadata))
        return adoption_allowed(c->obs) ? OUTPUT_STALE : OUTPUT_FOREIGN;
    const mc_api_bytes_entry *key_pem = c->obs->key_secret ? key_entry(c->obs->key_secret) : NULL;
    const char *id = NULL;
    if (!key_pem || !output_contents_match(c, s, key_pem, &id, issued_at))
        return OUTPUT_STALE;
    if (want_issuance && strcmp(id, want_issuance) != 0)
        return OUTPUT_STALE;
    if (issuance)
        *issuance = id;
    return OUTPUT_MATCHES;
}

static void fail_foreign_output(decide_ctx *c)
{
    const mc_api_object_ref *ref = &c->ic->spec.issued_certificate_secret;
    set_status(c, MC_IC_STATE_FAILED,
               "%s: output secret %s/%s exists and was not written by meshcert; not "
               "overwriting it (allow with --adopt-existing-secret or the label %s=true)",
               c->what, ref->namespace ? ref->namespace : "", ref->name ? ref->name : "",
               MC_AGENT_ADOPT_LABEL);
}

static void fail_missing_directive(decide_ctx *c)
{
    const mc_api_object_ref *ref = &c->ic->spec.pod_bounce_directive;
    set_status(c, MC_IC_STATE_FAILED, "%s: podbouncedirective %s/%s not found", c->what,
               ref->namespace ? ref->namespace : "", ref->name ? ref->name : "");
}

static void decide_requested(decide_ctx *c);

/* The FAILED error for a request the issuer refused. */
static void request_failure(const decide_ctx *c, const mc_api_certificate_request *req, char *out,
                            size_t out_size)
{
    char req_what[320];
    mc_api_meta_describe(&req->metadata, "certificaterequest", req_what, sizeof(req_what));
    int n =
        snprintf(out, out_size, "%s: %s failed: %s", c->what, req_what,
                 req->status.error && *req->status.error ? req->status.error : "(no reason given)");
    if (n < 0)
        out[0] = '\0'; /* a long reason is cut, as set_status cuts it */
}

/* Whether the key Secret's key is the one in the output Secret (ours). */
static int key_in_output(const decide_ctx *c)
{
    const mc_api_secret *out_secret = c->obs->output;
    const mc_api_bytes_entry *key_pem = c->obs->key_secret ? key_entry(c->obs->key_secret) : NULL;
    if (!out_secret || !key_pem || !has_agent_label(&out_secret->metadata))
        return 0;
    const char *name = c->obs->output_format == MC_BUNDLE_TLS ? "tls.key" : "ca-key.pem";
    const mc_api_bytes_entry *e = mc_api_bytes_map_get(&out_secret->data, name);
    return e && e->len == key_pem->len && memcmp(e->data, key_pem->data, e->len) == 0;
}

/* Whether key is of spec.keyType (any type when the spec names none). */
static int key_fits_spec(const decide_ctx *c, const mc_pki_key *key)
{
    mc_key_type type;
    if (!c->ic->spec.key_type || mc_pki_key_type_parse(c->ic->spec.key_type, &type, NULL) != MC_OK)
        return 1;
    return mc_pki_key_is_type(key, type);
}

/* PENDING (and FAILED): key Secret, then a request for it, then REQUESTED.
 * In FAILED (a retry) the state stays FAILED, with its error, while the new
 * request is answered: a signed one goes on as in REQUESTED (to ISSUED), a
 * refused one is made again (paced by the wrapper's backoff), and a refusal
 * for another reason replaces the error first. */
static void decide_pending(decide_ctx *c)
{
    const mc_agent_observation *obs = c->obs;
    mc_err err = {0};
    mc_pki_key *key = NULL;
    if (mc_api_issued_certificate_validate(c->ic, &err) != MC_OK) {
        set_status(c, MC_IC_STATE_FAILED, "%s", err.msg);
        return;
    }
    if (obs->directive_referenced && !obs->directive) {
        fail_missing_directive(c);
        return;
    }
    if (check_output(c, NULL, NULL, NULL) == OUTPUT_FOREIGN) {
        fail_foreign_output(c);
        return;
    }
    const mc_api_secret *ks = obs->key_secret;
    if (!ks) {
        set_type(c, MC_AGENT_CREATE_KEY);
        return;
    }
    if (ks->metadata.deletion_timestamp) {
        set_type(c, MC_AGENT_WAIT);
        return;
    }
    if (!owned_by(&ks->metadata, c->ic)) {
        if (ks->type && strcmp(ks->type, MC_AGENT_KEY_SECRET_TYPE) == 0 &&
            has_agent_label(&ks->metadata))
            set_type(c, MC_AGENT_DELETE_KEY);
        else
            set_status(c, MC_IC_STATE_FAILED,
                       "%s: secret %s/%s exists and is not this issuedcertificate's key secret; "
                       "not touching it",
                       c->what, c->ic->metadata.namespace, c->ic->metadata.name);
        return;
    }
    if (load_key(obs->cache, ks, &key, NULL) != MC_OK || !key_fits_spec(c, key) ||
        (mc_api_issued_certificate_renewing(&c->ic->status) && key_in_output(c))) {
        /* unusable, of another spec.keyType, or during a renewal the key
         * being replaced */
        set_type(c, MC_AGENT_DELETE_KEY);
        goto out;
    }
    const mc_api_certificate_request *req = obs->request;
    if (!req) {
        set_type(c, MC_AGENT_CREATE_REQUEST);
        goto out;
    }
    if (req->metadata.deletion_timestamp) {
        set_type(c, MC_AGENT_WAIT);
        goto out;
    }
    /* A request of another IssuedCertificate incarnation, for another key or
     * spec, or answered with an error or an unusable certificate is made
     * again (the retry of a FAILED issuance). */
    request_phase phase = phase_of(req);
    int retrying = c->ic->status.state == MC_IC_STATE_FAILED;
    if (!owned_by(&req->metadata, c->ic) || request_for_other_generation(c, req) ||
        check_request_csr(c, req, key, NULL) != MC_OK ||
        (phase == REQUEST_FINISHED && check_signed(c, req, key, NULL, NULL) != MC_OK)) {
        set_type(c, MC_AGENT_DELETE_REQUEST);
        goto out;
    }
    if (phase == REQUEST_FAILED) {
        /* a retry that failed otherwise than the last time says so first */
        char failure[512];
        request_failure(c, req, failure, sizeof(failure));
        if (retrying && strcmp(failure, c->ic->status.error ? c->ic->status.error : "") != 0)
            set_status(c, MC_IC_STATE_FAILED, "%s", failure);
        else
            set_type(c, MC_AGENT_DELETE_REQUEST);
        goto out;
    }
    if (!retrying) {
        set_status(c, MC_IC_STATE_REQUESTED, "%s", "");
        goto out;
    }
    /* A retry stays FAILED, its error shown, until the issuer signs; then
     * REQUESTED first, and on from there: writing the output while still
     * FAILED would, during a renewal, make the next decision take the new
     * key (now in the output) for the one being replaced and delete it,
     * over and over. */
    if (phase == REQUEST_WAITING)
        set_type(c, MC_AGENT_WAIT);
    else
        set_status(c, MC_IC_STATE_REQUESTED, "%s", "");
out:
    mc_pki_key_free(key);
}

/* REQUESTED: wait for the issuer, check its answer, write the output, then
 * ISSUED (pods to bounce) or, with no PodBounceDirective, FINISHED. */
static void decide_requested(decide_ctx *c)
{
    const mc_api_certificate_request *req = c->obs->request;
    mc_pki_key *key = NULL;
    mc_pki_cert *cert = NULL;
    mc_err err = {0};
    char req_what[320];
    if (usable_key(c, &key) != MC_OK || !req || req->metadata.deletion_timestamp ||
        !owned_by(&req->metadata, c->ic) || check_request_csr(c, req, key, NULL) != MC_OK) {
        set_status(c, MC_IC_STATE_PENDING, "%s", "");
        goto out;
    }
    mc_api_meta_describe(&req->metadata, "certificaterequest", req_what, sizeof(req_what));
    switch (phase_of(req)) {
    case REQUEST_WAITING: set_type(c, MC_AGENT_WAIT); goto out;
    case REQUEST_FAILED: {
        char failure[512];
        request_failure(c, req, failure, sizeof(failure));
        set_status(c, MC_IC_STATE_FAILED, "%s", failure);
        goto out;
    }
    case REQUEST_FINISHED: break;
    }
    if (check_signed(c, req, key, &cert, &err) != MC_OK) {
        set_status(c, MC_IC_STATE_FAILED, "%s: %s: %s", c->what, req_what, err.msg);
        goto out;
    }
    char issuance[128];
    if (mc_agent_issuance_id((const char *)req->status.signed_certificate, c->generation, issuance,
                             sizeof(issuance), &err) != MC_OK) {
        set_status(c, MC_IC_STATE_FAILED, "%s: %s: %s", c->what, req_what, err.msg);
        goto out;
    }
    switch (check_output(c, issuance, NULL, NULL)) {
    case OUTPUT_FOREIGN: fail_foreign_output(c); break;
    case OUTPUT_MATCHES:
        /* ISSUED is the state in which pods are bounced: with no
         * PodBounceDirective there are none, and ISSUED would be one more
         * status write that FINISHED replaces at once (issue 13) */
        set_status(c, c->obs->directive_referenced ? MC_IC_STATE_ISSUED : MC_IC_STATE_FINISHED,
                   "%s", "");
        break;
    case OUTPUT_ABSENT:
    case OUTPUT_STALE:
        set_type(c, MC_AGENT_WRITE_OUTPUT);
        mc_strlcpy(c->action->issuance, issuance, sizeof(c->action->issuance));
        break;
    }
out:
    mc_pki_cert_free(cert);
    mc_pki_key_free(key);
}

int mc_agent_pod_in_plan(const mc_agent_action *action, const mc_agent_pod *pod)
{
    return !pod->deleting && pod->uid && pod->created <= action->issued_at;
}

/* A recorded pod of the plan that still runs (the delete that follows the
 * record, or an interrupted bounce), or NULL. */
static const mc_agent_pod *next_recorded_pod(const mc_agent_observation *obs, const char *issuance)
{
    for (size_t i = 0; i < obs->pod_count; i++) {
        const mc_agent_pod *p = &obs->pods[i];
        if (!p->deleting && p->uid &&
            mc_api_pod_bounce_directive_was_bounced(obs->directive, issuance, p->uid))
            return p;
    }
    return NULL;
}

/* ISSUED: record the bounce plan once, then delete its pods one per action. */
static void decide_issued(decide_ctx *c)
{
    mc_pki_key *key = NULL;
    const char *issuance = NULL;
    int64_t issued_at = 0;
    if (usable_key(c, &key) != MC_OK ||
        check_output(c, NULL, &issuance, &issued_at) != OUTPUT_MATCHES) {
        set_status(c, MC_IC_STATE_PENDING, "%s", "");
        goto out;
    }
    if (!c->obs->directive_referenced) {
        set_status(c, MC_IC_STATE_FINISHED, "%s", "");
        goto out;
    }
    if (!c->obs->directive) {
        fail_missing_directive(c);
        goto out;
    }
    if (mc_api_pod_bounce_directive_has_issuance(c->obs->directive, issuance)) {
        const mc_agent_pod *pod = next_recorded_pod(c->obs, issuance);
        if (!pod) {
            set_status(c, MC_IC_STATE_FINISHED, "%s", "");
            goto out;
        }
        set_type(c, MC_AGENT_DELETE_POD);
        c->action->pod = pod;
        mc_strlcpy(c->action->issuance, issuance, sizeof(c->action->issuance));
        goto out;
    }
    c->action->issued_at = issued_at;
    size_t planned = 0;
    for (size_t i = 0; i < c->obs->pod_count; i++)
        planned += mc_agent_pod_in_plan(c->action, &c->obs->pods[i]) ? 1 : 0;
    if (planned == 0) {
        set_status(c, MC_IC_STATE_FINISHED, "%s", "");
        goto out;
    }
    set_type(c, MC_AGENT_RECORD_BOUNCE);
    c->action->planned = planned;
    mc_strlcpy(c->action->issuance, issuance, sizeof(c->action->issuance));
out:
    mc_pki_key_free(key);
}

/* FINISHED: steady while the output still matches the key and the spec,
 * until a rotate token or the renewal time starts a renewal. */
static void decide_finished(decide_ctx *c)
{
    mc_pki_key *key = NULL;
    if (usable_key(c, &key) != MC_OK || check_output(c, NULL, NULL, NULL) != OUTPUT_MATCHES) {
        set_status(c, MC_IC_STATE_PENDING, "%s", "");
        goto out;
    }
    const char *token = mc_api_issued_certificate_rotate_token(c->ic);
    const char *done = c->ic->status.rotation ? c->ic->status.rotation : "";
    if (token && strcmp(token, done) != 0) {
        start_renewal(c, "Rotation", token);
        goto out;
    }
    set_status(c, MC_IC_STATE_FINISHED, "%s", "");
    int64_t renewal = c->action->renewal_time;
    if (renewal && (int64_t)c->obs->now >= renewal)
        start_renewal(c, "Renewal", NULL);
    else if (renewal && c->action->type == MC_AGENT_NOTHING)
        c->action->requeue_after = renewal - (int64_t)c->obs->now;
out:
    mc_pki_key_free(key);
}

/* ---- one owner per object ---- */

/* The namespace a reference means (defaults to the IssuedCertificate's). */
static const char *ref_namespace(const mc_api_object_ref *ref, const mc_api_issued_certificate *ic)
{
    return ref->namespace && *ref->namespace ? ref->namespace : ic->metadata.namespace;
}

static int same_object(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
    return ns_a && name_a && ns_b && name_b && strcmp(ns_a, ns_b) == 0 &&
           strcmp(name_a, name_b) == 0;
}

/* Whether the output Secret ref of a names the object ns/name. */
static int output_is(const mc_api_issued_certificate *a, const char *ns, const char *name)
{
    const mc_api_object_ref *ref = &a->spec.issued_certificate_secret;
    return same_object(ref_namespace(ref, a), ref->name, ns, name);
}

static int same_ic(const mc_api_issued_certificate *a, const mc_api_issued_certificate *b)
{
    if (a->metadata.uid && b->metadata.uid)
        return strcmp(a->metadata.uid, b->metadata.uid) == 0;
    return same_object(a->metadata.namespace, a->metadata.name, b->metadata.namespace,
                       b->metadata.name);
}

/* Whether object says it belongs to ic: an owner annotation naming it, or an
 * ownerReference to its uid. */
static int object_names(const mc_api_object_meta *object, const mc_api_issued_certificate *ic)
{
    if (!object)
        return 0;
    const char *owner = mc_api_str_map_get(&object->annotations, MC_AGENT_OWNER_ANNOTATION);
    if (owner) {
        char want[320];
        snprintf(want, sizeof(want), "%s/%s", ic->metadata.namespace ? ic->metadata.namespace : "",
                 ic->metadata.name ? ic->metadata.name : "");
        return strcmp(owner, want) == 0;
    }
    return owned_by(object, ic);
}

static int64_t created_at(const mc_api_issued_certificate *ic)
{
    int64_t t = 0;
    if (!ic->metadata.creation_timestamp ||
        mc_time_parse(ic->metadata.creation_timestamp, &t, NULL, NULL) != 0)
        return INT64_MAX;
    return t;
}

static int compare_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

int mc_agent_claims_first(const mc_api_issued_certificate *a, const mc_api_issued_certificate *b,
                          const mc_api_object_meta *object)
{
    int a_named = object_names(object, a), b_named = object_names(object, b);
    if (a_named != b_named)
        return a_named;
    int64_t ta = created_at(a), tb = created_at(b);
    if (ta != tb)
        return ta < tb;
    int cmp = compare_str(a->metadata.namespace, b->metadata.namespace);
    if (cmp == 0)
        cmp = compare_str(a->metadata.name, b->metadata.name);
    if (cmp == 0)
        cmp = compare_str(a->metadata.uid, b->metadata.uid);
    return cmp < 0;
}

/* FAILED when another IssuedCertificate has one of ic's objects first (or
 * ic's output is its own key Secret); returns 1 when the action is set. */
static int decide_conflict(decide_ctx *c)
{
    const mc_api_issued_certificate *ic = c->ic;
    const mc_api_object_ref *out_ref = &ic->spec.issued_certificate_secret;
    const mc_api_object_ref *pbd_ref = &ic->spec.pod_bounce_directive;
    const char *out_ns = ref_namespace(out_ref, ic);
    const char *ns = ic->metadata.namespace, *name = ic->metadata.name;
    if (output_is(ic, ns, name)) {
        set_status(c, MC_IC_STATE_FAILED,
                   "%s: spec.issuedCertificateSecret %s/%s is this issuedcertificate's own key "
                   "secret; name another secret",
                   c->what, ns, name);
        return 1;
    }
    for (size_t i = 0; i < c->obs->peer_count; i++) {
        const mc_api_issued_certificate *peer = c->obs->peers[i];
        if (!peer || same_ic(peer, ic) || peer->metadata.deletion_timestamp)
            continue;
        const mc_api_object_ref *peer_pbd = &peer->spec.pod_bounce_directive;
        const mc_api_object_meta *object = NULL;
        char shared[400];
        if (out_ref->name && output_is(peer, out_ns, out_ref->name)) {
            object = c->obs->output ? &c->obs->output->metadata : NULL;
            snprintf(shared, sizeof(shared), "output secret %s/%s", out_ns, out_ref->name);
        } else if (out_ref->name && same_object(peer->metadata.namespace, peer->metadata.name,
                                                out_ns, out_ref->name)) {
            object = c->obs->output ? &c->obs->output->metadata : NULL;
            snprintf(shared, sizeof(shared), "output secret %s/%s (its key secret)", out_ns,
                     out_ref->name);
        } else if (output_is(peer, ns, name)) {
            object = c->obs->key_secret ? &c->obs->key_secret->metadata : NULL;
            snprintf(shared, sizeof(shared), "key secret %s/%s (its output secret)", ns, name);
        } else if (pbd_ref->name && peer_pbd->name &&
                   same_object(ref_namespace(pbd_ref, ic), pbd_ref->name,
                               ref_namespace(peer_pbd, peer), peer_pbd->name)) {
            snprintf(shared, sizeof(shared), "podbouncedirective %s/%s", ref_namespace(pbd_ref, ic),
                     pbd_ref->name);
        } else {
            continue;
        }
        if (mc_agent_claims_first(peer, ic, object)) {
            set_status(c, MC_IC_STATE_FAILED,
                       "%s: %s is also used by issuedcertificate %s/%s, which has it first; "
                       "not touching it (change or delete one of the two)",
                       c->what, shared, peer->metadata.namespace ? peer->metadata.namespace : "",
                       peer->metadata.name ? peer->metadata.name : "");
            return 1;
        }
    }
    return 0;
}

static int watched(const decide_ctx *c, const char *ns)
{
    if (!c->obs->watched_namespaces)
        return 1;
    for (size_t i = 0; i < c->obs->watched_namespace_count; i++)
        if (ns && strcmp(c->obs->watched_namespaces[i], ns) == 0)
            return 1;
    return 0;
}

/* FAILED (1) when the output Secret or the directive's pods lie in a
 * namespace the agent does not watch: it could not see what it writes. */
static int decide_unwatched(decide_ctx *c)
{
    const mc_api_object_ref *out_ref = &c->ic->spec.issued_certificate_secret;
    const char *out_ns = ref_namespace(out_ref, c->ic);
    if (out_ref->name && !watched(c, out_ns)) {
        set_status(c, MC_IC_STATE_FAILED,
                   "%s: output secret %s/%s is in namespace %s, which this agent does not "
                   "watch (add it to the agent's --watch-namespaces)",
                   c->what, out_ns, out_ref->name, out_ns);
        return 1;
    }
    const mc_api_pod_bounce_directive *pbd = c->obs->directive;
    for (size_t i = 0; pbd && i < pbd->spec.pods_to_bounce_len; i++) {
        const char *pod_ns = pbd->spec.pods_to_bounce[i].namespace;
        if (!watched(c, pod_ns)) {
            set_status(c, MC_IC_STATE_FAILED,
                       "%s: podbouncedirective %s/%s selects pods in namespace %s, which this "
                       "agent does not watch (add it to the agent's --watch-namespaces)",
                       c->what, pbd->metadata.namespace ? pbd->metadata.namespace : "",
                       pbd->metadata.name ? pbd->metadata.name : "", pod_ns ? pod_ns : "");
            return 1;
        }
    }
    return 0;
}

/* An IssuedCertificate being deleted: remove what the agent made for it. */
static void decide_cleanup(decide_ctx *c)
{
    const mc_api_secret *ks = c->obs->key_secret;
    const mc_api_certificate_request *req = c->obs->request;
    if (ks && !ks->metadata.deletion_timestamp && owned_by(&ks->metadata, c->ic))
        set_type(c, MC_AGENT_DELETE_KEY);
    else if (req && !req->metadata.deletion_timestamp &&
             (owned_by(&req->metadata, c->ic) || has_agent_label(&req->metadata)))
        set_type(c, MC_AGENT_DELETE_REQUEST);
}

/* A spec change (or a new object) restarts at PENDING; a renewal under way
 * ends (the new spec is a new issuance). A brand-new object's first key is
 * new, so its rotate token counts as honoured. */
static void restart_generation(decide_ctx *c)
{
    set_status(c, MC_IC_STATE_PENDING, "%s", "");
    if (mc_api_issued_certificate_renewing(&c->ic->status))
        c->action->issuing = MC_AGENT_ISSUING_END;
    if (c->ic->status.observed_generation == 0 && !c->ic->status.rotation)
        c->action->rotation = mc_api_issued_certificate_rotate_token(c->ic);
}

int64_t mc_agent_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before,
                              const char *uid, const char *issuance)
{
    int64_t lifetime = not_after - not_before;
    if (lifetime <= 0)
        return not_before;
    if (renew_before <= 0 || renew_before >= lifetime)
        renew_before = lifetime / 3;
    int64_t span = renew_before / 5, jitter = 0;
    if (span > 0) {
        char seed[512];
        unsigned char digest[32];
        int n = snprintf(seed, sizeof(seed), "%s%s", uid ? uid : "", issuance ? issuance : "");
        if (n > 0 && mc_pki_sha256(seed, strlen(seed), digest, NULL) == MC_OK) {
            uint64_t h = 0;
            for (int i = 0; i < 8; i++)
                h = (h << 8) | digest[i];
            jitter = (int64_t)(h % (uint64_t)span);
        }
    }
    int64_t t = not_after - renew_before - jitter;
    if (t > not_after - 1)
        t = not_after - 1;
    if (t < not_before)
        t = not_before;
    return t;
}

mc_key_type mc_agent_key_type(const mc_api_issued_certificate *ic, mc_key_type fallback)
{
    mc_key_type type = fallback;
    if (ic->spec.key_type && mc_pki_key_type_parse(ic->spec.key_type, &type, NULL) != MC_OK)
        type = fallback;
    return type;
}

void mc_agent_decide(const mc_agent_observation *observation, mc_agent_action *action)
{
    assert(observation && observation->ic && action);
    memset(action, 0, sizeof(*action));
    decide_ctx c = {
        .obs = observation,
        .ic = observation->ic,
        .action = action,
        .hosts = (const char *const *)observation->ic->spec.hosts,
        .host_count = observation->ic->spec.hosts_len,
        .org = observation->ic->spec.org ? observation->ic->spec.org : "",
        .generation = observation->ic->metadata.generation,
    };
    mc_api_meta_describe(&c.ic->metadata, "issuedcertificate", c.what, sizeof(c.what));
    if (c.ic->metadata.deletion_timestamp) {
        decide_cleanup(&c);
        return;
    }
    if (decide_unwatched(&c) || decide_conflict(&c)) {
        /* nothing */
    } else if (c.ic->status.observed_generation != c.generation) {
        restart_generation(&c);
    } else {
        switch (c.ic->status.state) {
        case MC_IC_STATE_PENDING:
        case MC_IC_STATE_FAILED: decide_pending(&c); break;
        case MC_IC_STATE_REQUESTED: decide_requested(&c); break;
        case MC_IC_STATE_ISSUED: decide_issued(&c); break;
        case MC_IC_STATE_FINISHED: decide_finished(&c); break;
        case MC_IC_STATE_UNKNOWN:
        default: set_status(&c, MC_IC_STATE_PENDING, "%s", ""); break;
        }
    }
    /* A status without its Ready condition (written by an older meshcert or
     * another tool) gets one while the workflow rests. */
    if ((action->type == MC_AGENT_NOTHING || action->type == MC_AGENT_WAIT) &&
        !mc_api_issued_certificate_ready_current(c.ic)) {
        const mc_api_issued_certificate_status *st = &c.ic->status;
        memset(action, 0, sizeof(*action));
        action->type = MC_AGENT_SET_STATUS;
        action->state = st->state;
        action->observed_generation = st->observed_generation;
        mc_strlcpy(action->error, st->error ? st->error : "", sizeof(action->error));
    }
}

/* Replaces the owned string *field with a copy of value (NULL: none). MC_ENOMEM. */
static int replace_str(char **field, const char *value)
{
    char *copy = value ? mc_strdup(value) : NULL;
    if (value && !copy)
        return MC_ENOMEM;
    free(*field);
    *field = copy;
    return MC_OK;
}

/* Replaces *field with t as RFC 3339 (t 0: left as it is). MC_ENOMEM. */
static int set_status_time(char **field, int64_t t)
{
    char when[MC_TIME_RFC3339_MAX];
    if (t == 0)
        return MC_OK;
    if (mc_time_format(t, when, sizeof(when)) != 0)
        return MC_EINVAL;
    return replace_str(field, when);
}

static int set_root_fingerprints(mc_api_issued_certificate_status *st,
                                 const mc_agent_action *action)
{
    if (action->root_fingerprint_count == 0)
        return MC_OK;
    char *items[MC_AGENT_ROOTS_MAX];
    char **copy = NULL;
    for (size_t i = 0; i < action->root_fingerprint_count; i++)
        items[i] = (char *)action->root_fingerprints[i];
    if (mc_codec_str_array_copy(items, action->root_fingerprint_count, &copy) != 0)
        return MC_ENOMEM;
    mc_codec_str_array_free(st->root_fingerprints, st->root_fingerprints_len);
    st->root_fingerprints = copy;
    st->root_fingerprints_len = action->root_fingerprint_count;
    return MC_OK;
}

/* The Issuing condition a SET_STATUS asks for (before Ready, which reads it). */
static int set_issuing(mc_api_issued_certificate *ic, const mc_agent_action *action, int64_t now)
{
    mc_api_conditions *conditions = &ic->status.conditions;
    int64_t generation = action->observed_generation;
    switch (action->issuing) {
    case MC_AGENT_ISSUING_START:
        return mc_api_conditions_set(conditions, MC_API_CONDITION_ISSUING, "True",
                                     action->issuing_reason ? action->issuing_reason : "Renewal",
                                     "issuing a successor with a new key; the current certificate "
                                     "stays in place until it is written",
                                     generation, now);
    case MC_AGENT_ISSUING_END:
        if (!mc_api_conditions_get(conditions, MC_API_CONDITION_ISSUING))
            return MC_OK;
        return mc_api_conditions_set(conditions, MC_API_CONDITION_ISSUING, "False", "Issued",
                                     "no issuance under way", generation, now);
    case MC_AGENT_ISSUING_KEEP: break;
    }
    return MC_OK;
}

int mc_agent_apply_status(mc_api_issued_certificate *ic, const mc_agent_action *action, int64_t now)
{
    mc_api_issued_certificate_status *st = &ic->status;
    if (replace_str(&st->error, action->error[0] ? action->error : NULL) != MC_OK)
        return MC_ENOMEM;
    st->state = (mc_ic_state)action->state;
    st->observed_generation = action->observed_generation;
    if (set_status_time(&st->not_before, action->not_before) != MC_OK ||
        set_status_time(&st->not_after, action->not_after) != MC_OK ||
        set_status_time(&st->renewal_time, action->renewal_time) != MC_OK ||
        set_root_fingerprints(st, action) != MC_OK ||
        (action->rotation && replace_str(&st->rotation, action->rotation) != MC_OK) ||
        set_issuing(ic, action, now) != MC_OK ||
        mc_api_issued_certificate_set_ready(ic, now) != MC_OK)
        return MC_ENOMEM;
    return MC_OK;
}

int mc_agent_issuance_id(const char *cert_pem, int64_t generation, char *out, size_t out_size,
                         mc_err *err)
{
    mc_pki_cert *cert = NULL;
    unsigned char digest[32];
    if (!cert_pem)
        return mc_err_set(err, MC_EINVAL, "no certificate");
    int rc = mc_pki_cert_from_pem(cert_pem, strlen(cert_pem), "signed certificate", &cert, err);
    if (rc != MC_OK) {
        rc = MC_EINVAL;
        goto out;
    }
    if ((rc = mc_pki_cert_sha256(cert, digest, err)))
        goto out;
    int n = snprintf(out, out_size, "%" PRId64 "-%02x%02x%02x%02x%02x%02x%02x%02x", generation,
                     digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6],
                     digest[7]);
    if (n < 0 || (size_t)n >= out_size)
        rc = mc_err_set(err, MC_EINVAL, "issuance id buffer too small");
out:
    mc_pki_cert_free(cert);
    return rc;
}

/* Adds the agent label and, when ic is set, a controller ownerReference to ic. */
static int stamp_meta(mc_api_object_meta *meta, const mc_agent_observation *obs,
                      const mc_api_issued_certificate *ic)
{
    if (mc_api_str_map_set(&meta->labels, MC_AGENT_LABEL,
                           obs->agent_namespace ? obs->agent_namespace : "") != 0)
        return MC_ENOMEM;
    if (!ic)
        return MC_OK;
    mc_api_owner_ref *ref = calloc(1, sizeof(*ref));
    if (!ref)
        return MC_ENOMEM;
    meta->owner_references = ref;
    meta->owner_references_len = 1;
    ref->api_version = mc_strdup(MC_API_GROUP_VERSION);
    ref->kind = mc_strdup("IssuedCertificate");
    ref->name = mc_strdup(ic->metadata.name ? ic->metadata.name : "");
    ref->uid = mc_strdup(ic->metadata.uid ? ic->metadata.uid : "");
    ref->controller = true;
    ref->block_owner_deletion = true;
    return ref->api_version && ref->kind && ref->name && ref->uid ? MC_OK : MC_ENOMEM;
}

int mc_agent_build_key_secret(const mc_agent_observation *obs, mc_key_type key_type,
                              json_t **secret_out, mc_err *err)
{
    const mc_api_issued_certificate *ic = obs->ic;
    mc_pki_key *key = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    mc_api_secret *secret = NULL;
    int rc;
    if ((rc = mc_pki_key_generate(key_type, &key, err)) ||
        (rc = mc_pki_key_to_pem(key, MC_KEY_PEM_PKCS8, &pem, &pem_len, err)))
        goto out;
    secret = mc_api_secret_new(ic->metadata.namespace, ic->metadata.name, MC_AGENT_KEY_SECRET_TYPE);
    if (!secret || mc_api_bytes_map_set(&secret->data, MC_AGENT_KEY_DATA, pem, pem_len) != 0 ||
        stamp_meta(&secret->metadata, obs, ic) != MC_OK) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    rc = mc_api_secret_encode(secret, secret_out, err);
out:
    mc_api_secret_free(secret);
    mc_secure_free_str(pem);
    mc_pki_key_free(key);
    return rc;
}

int mc_agent_build_request(const mc_agent_observation *obs, json_t **request_out, mc_err *err)
{
    const mc_api_issued_certificate *ic = obs->ic;
    mc_pki_key *key = NULL;
    mc_pki_csr *csr = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    mc_api_certificate_request *cr = NULL;
    int rc;
    if (!obs->key_secret) {
        rc = mc_err_set(err, MC_EINVAL, "no key secret for issuedcertificate %s/%s",
                        ic->metadata.namespace, ic->metadata.name);
        goto out;
    }
    if ((rc = load_key(obs->cache, obs->key_secret, &key, err)) ||
        (rc = mc_pki_csr_create(key, ic->spec.org ? ic->spec.org : "",
                                (const char *const *)ic->spec.hosts, ic->spec.hosts_len, &csr,
                                err)) ||
        (rc = mc_pki_csr_to_pem(csr, &pem, &pem_len, err)))
        goto out;
    char generation[32];
    snprintf(generation, sizeof(generation), "%" PRId64, ic->metadata.generation);
    cr = mc_api_certificate_request_new(ic->metadata.namespace, ic->metadata.name);
    if (!cr || mc_api_certificate_request_set_csr(cr, pem, pem_len) != 0 ||
        stamp_meta(&cr->metadata, obs, ic) != MC_OK ||
        mc_api_str_map_set(&cr->metadata.annotations, MC_AGENT_GENERATION_ANNOTATION, generation) !=
            0) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    rc = mc_api_certificate_request_encode(cr, request_out, err);
out:
    mc_api_certificate_request_free(cr);
    free(pem);
    mc_pki_csr_free(csr);
    mc_pki_key_free(key);
    return rc;
}

int mc_agent_build_output(const mc_agent_observation *obs, const char *issuance,
                          json_t **secret_out, mc_err *err)
{
    const mc_api_issued_certificate *ic = obs->ic;
    const mc_api_certificate_request *req = obs->request;
    const mc_api_object_ref *ref = &ic->spec.issued_certificate_secret;
    mc_pki_cert *cert = NULL, **roots = NULL;
    size_t root_count = 0;
    mc_pki_bundle bundle = {0};
    mc_api_secret *secret = NULL;
    char issued_at[MC_TIME_RFC3339_MAX];
    const mc_api_bytes_entry *key_pem = obs->key_secret ? key_entry(obs->key_secret) : NULL;
    int rc;
    if (!key_pem || !req || !req->status.signed_certificate || !req->status.signing_root_ca ||
        !ref->name || !issuance) {
        rc = mc_err_set(err, MC_EINVAL,
                        "issuedcertificate %s/%s: cannot build the output secret without %s",
                        ic->metadata.namespace, ic->metadata.name,
                        !key_pem     ? "a key"
                        : !ref->name ? "spec.issuedCertificateSecret"
                        : !issuance  ? "an issuance id"
                                     : "a signed certificate");
        goto out;
    }
    if ((rc = mc_pki_cert_from_pem((const char *)req->status.signed_certificate,
                                   req->status.signed_certificate_len, "signedCertificate", &cert,
                                   err)) ||
        (rc = mc_pki_cert_list_from_pem((const char *)req->status.signing_root_ca,
                                        req->status.signing_root_ca_len, "signingRootCa", &roots,
                                        &root_count, err)) ||
        (rc = mc_pki_bundle_build_trust(cert, (const char *)key_pem->data, roots, root_count,
                                        &bundle, err)))
        goto out;
    char owner[320];
    snprintf(owner, sizeof(owner), "%s/%s", ic->metadata.namespace ? ic->metadata.namespace : "",
             ic->metadata.name ? ic->metadata.name : "");
    if ((rc = mc_time_format((int64_t)obs->now, issued_at, sizeof(issued_at)))) {
        mc_err_set(err, rc, "cannot format the issuance time");
        goto out;
    }
    int tls = obs->output_format == MC_BUNDLE_TLS;
    secret = mc_api_secret_new(ref->namespace ? ref->namespace : ic->metadata.namespace, ref->name,
                               tls ? MC_API_SECRET_TYPE_TLS : MC_AGENT_OUTPUT_SECRET_TYPE);
    if (!secret || stamp_meta(&secret->metadata, obs, NULL) != MC_OK ||
        mc_api_str_map_set(&secret->metadata.annotations, MC_AGENT_ISSUANCE_ANNOTATION, issuance) !=
            0 ||
        mc_api_str_map_set(&secret->metadata.annotations, MC_AGENT_ISSUED_AT_ANNOTATION,
                           issued_at) != 0 ||
        mc_api_str_map_set(&secret->metadata.annotations, MC_AGENT_OWNER_ANNOTATION, owner) != 0) {
        rc = mc_err_set(err, MC_ENOMEM, "out of memory");
        goto out;
    }
    mc_pki_bundle_entry entries[4];
    size_t n = mc_pki_bundle_entries(&bundle, obs->output_format, entries);
    for (size_t i = 0; i < n; i++)
        if (mc_api_bytes_map_set(&secret->data, entries[i].name, entries[i].data, entries[i].len) !=
            0) {
            rc = mc_err_set(err, MC_ENOMEM, "out of memory");
            goto out;
        }
    rc = mc_api_secret_encode(secret, secret_out, err);
out:
    mc_api_secret_free(secret);
    mc_pki_bundle_clear(&bundle);
    mc_pki_cert_list_free(roots, root_count);
    mc_pki_cert_free(cert);
    return rc;
}
