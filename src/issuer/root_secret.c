/* root_secret.c - generate, read and swap root CA Secrets (see
 * root_secret.h). Moved out of issuer.c so that the CLI generates the next
 * root exactly as the issuer generates the first.
 */
#include "issuer/root_secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"
#include "pki/root.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/str.h"

/* A root Secret's body: the certificate and key_name (key.pem or key-ref)
 * with value, encoded by api/'s Secret codec (which base64s the data; the
 * typed Secret's data map is wiped when freed). New reference in *out;
 * MC_ENOMEM. */
static int secret_body(const char *ns, const char *name, const char *cert_pem, size_t cert_len,
                       const char *key_name, const char *value, size_t value_len, json_t **out,
                       mc_err *err)
{
    mc_api_secret *secret = mc_api_secret_new(ns, name, MC_API_SECRET_TYPE_SIGNING);
    const char *managed_by = "app.kubernetes.io/managed-by";
    int filled =
        secret && !mc_api_str_map_set(&secret->metadata.labels, managed_by, "meshcert") &&
        !mc_api_bytes_map_set(&secret->data, MC_ROOT_SECRET_CERT_KEY, cert_pem, cert_len) &&
        !mc_api_bytes_map_set(&secret->data, key_name, value, value_len);
    int rc = filled ? mc_api_secret_encode(secret, out, err)
                    : mc_err_set(err, MC_ENOMEM, "out of memory");
    mc_api_secret_free(secret);
    return rc;
}

int mc_root_secret_generate(mc_kube_client *client, const char *ns, const char *name,
                            mc_key_type key_type, int64_t validity_seconds, int reuse_existing,
                            json_t **out, mc_err *err)
{
    mc_pki_key *key = NULL;
    mc_pki_cert *root = NULL;
    char *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len = 0, key_len = 0;
    json_t *secret = NULL;
    mc_pki_root_params params = {
        MC_ROOT_SECRET_ORG, MC_ROOT_SECRET_CN,
        validity_seconds > 0 ? validity_seconds : MC_ROOT_SECRET_DEFAULT_VALIDITY, 0};
    int rc = mc_pki_key_generate(key_type, &key, err);
    if (rc == MC_OK)
        rc = mc_pki_root_create(key, &params, &root, err);
    if (rc == MC_OK)
        rc = mc_pki_cert_to_pem(root, &cert_pem, &cert_len, err);
    if (rc == MC_OK)
        rc = mc_pki_key_to_pem(key, MC_KEY_PEM_TRADITIONAL, &key_pem, &key_len, err);
    if (rc == MC_OK)
        rc = secret_body(ns, name, cert_pem, cert_len, MC_ROOT_SECRET_KEY_KEY, key_pem, key_len,
                         &secret, err);
    if (rc != MC_OK) {
        mc_err_prefix(err, "generating root for secret %s/%s", ns, name);
        goto out;
    }
    json_t *created = NULL;
    rc = mc_kube_create(client, mc_kube_resource_of(MC_API_SECRETS), ns, secret, &created, err);
    if (rc == MC_EEXISTS && reuse_existing) {
        mc_err_clear(err);
        rc = mc_kube_get(client, mc_kube_resource_of(MC_API_SECRETS), ns, name, &created, err);
    } else if (rc == MC_EEXISTS) {
        mc_err_set(err, MC_EEXISTS, "secret %s/%s already exists; not replacing it with a new root",
                   ns, name);
    } else if (rc == MC_OK) {
        char description[64];
        mc_pki_key_describe(key, description, sizeof(description));
        mc_log_info("root", "generated root CA in secret %s/%s (%s, O=%s)", ns, name, description,
                    MC_ROOT_SECRET_ORG);
    }
    if (out && rc == MC_OK)
        *out = created;
    else
        json_decref(created);
out:
    json_decref(secret);
    mc_secure_free_str(key_pem);
    free(cert_pem);
    mc_pki_cert_free(root);
    mc_pki_key_free(key);
    return rc;
}

int mc_root_secret_create_ref(mc_kube_client *client, const char *ns, const char *name,
                              const char *cert_pem, size_t cert_len, const char *key_ref,
                              json_t **out, mc_err *err)
{
    json_t *secret = NULL;
    int rc = secret_body(ns, name, cert_pem, cert_len, MC_ROOT_SECRET_KEY_REF_KEY, key_ref,
                         strlen(key_ref), &secret, err);
    if (rc != MC_OK)
        mc_err_prefix(err, "secret %s/%s", ns, name);
    else
        rc = mc_kube_create(client, mc_kube_resource_of(MC_API_SECRETS), ns, secret, out, err);
    if (rc == MC_EEXISTS)
        mc_err_set(err, MC_EEXISTS, "secret %s/%s already exists; not replacing it", ns, name);
    else if (rc == MC_OK)
        mc_log_info("root", "secret %s/%s: root certificate with key-ref %s", ns, name, key_ref);
    json_decref(secret);
    return rc;
}

int mc_root_secret_is_root(const json_t *secret)
{
    const char *type = json_string_value(json_object_get(secret, "type"));
    const json_t *data = json_object_get(secret, "data");
    return (type && strcmp(type, MC_API_SECRET_TYPE_SIGNING) == 0) ||
           (json_object_get(data, MC_ROOT_SECRET_CERT_KEY) &&
            (json_object_get(data, MC_ROOT_SECRET_KEY_KEY) ||
             json_object_get(data, MC_ROOT_SECRET_KEY_REF_KEY)));
}

int mc_root_secret_key_ref(const json_t *secret, const char *what, char *out, size_t size,
                           mc_err *err)
{
    const json_t *data = json_object_get(secret, "data");
    const char *b64 = json_string_value(json_object_get(data, MC_ROOT_SECRET_KEY_REF_KEY));
    out[0] = '\0';
    if (!b64)
        return 0;
    if (json_object_get(data, MC_ROOT_SECRET_KEY_KEY)) {
        mc_err_set(err, MC_EINVAL, "%s holds both %s and %s: keep one", what,
                   MC_ROOT_SECRET_KEY_KEY, MC_ROOT_SECRET_KEY_REF_KEY);
        return -1;
    }
    unsigned char *ref = NULL;
    size_t len = 0;
    if (mc_base64_decode(b64, strlen(b64), &ref, &len, NULL) != MC_OK) {
        mc_err_set(err, MC_EINVAL, "%s: %s is not base64", what, MC_ROOT_SECRET_KEY_REF_KEY);
        return -1;
    }
    while (len > 0 && (ref[len - 1] == '\n' || ref[len - 1] == '\r'))
        len--; /* kubectl --from-file keeps a file's last newline */
    int ok = len > 0 && len < size && !memchr(ref, '\0', len);
    if (ok) {
        memcpy(out, ref, len);
        out[len] = '\0';
    } else {
        mc_err_set(err, MC_EINVAL, "%s: %s is empty or longer than %zu bytes", what,
                   MC_ROOT_SECRET_KEY_REF_KEY, size - 1);
    }
    free(ref);
    return ok ? 1 : -1;
}

int mc_root_secret_cert(const json_t *secret, const char *what, mc_pki_cert **cert,
                        char fingerprint[MC_PKI_FINGERPRINT_SIZE], mc_err *err)
{
    *cert = NULL;
    const char *b64 = json_string_value(
        json_object_get(json_object_get(secret, "data"), MC_ROOT_SECRET_CERT_KEY));
    if (!b64)
        return mc_err_set(err, MC_EINVAL, "%s lacks %s", what, MC_ROOT_SECRET_CERT_KEY);
    unsigned char *pem = NULL;
    size_t len = 0;
    if (mc_base64_decode(b64, strlen(b64), &pem, &len, NULL) != MC_OK)
        return mc_err_set(err, MC_EINVAL, "%s: %s is not base64", what, MC_ROOT_SECRET_CERT_KEY);
    char label[400];
    snprintf(label, sizeof(label), "%s %s", what, MC_ROOT_SECRET_CERT_KEY);
    int rc = mc_pki_cert_from_pem((const char *)pem, len, label, cert, err);
    free(pem);
    if (rc == MC_OK && fingerprint)
        rc = mc_pki_cert_fingerprint(*cert, fingerprint, err);
    if (rc != MC_OK) {
        mc_pki_cert_free(*cert);
        *cert = NULL;
    }
    return rc;
}

json_t *mc_root_secret_with_content_of(const json_t *secret, const json_t *from)
{
    const json_t *from_data = json_object_get(from, "data");
    json_t *cert = json_object_get(from_data, MC_ROOT_SECRET_CERT_KEY);
    const char *key_name = MC_ROOT_SECRET_KEY_KEY, *other_name = MC_ROOT_SECRET_KEY_REF_KEY;
    json_t *key = json_object_get(from_data, key_name);
    if (!key) { /* a key kept outside the API: its reference moves, not the key */
        key_name = MC_ROOT_SECRET_KEY_REF_KEY;
        other_name = MC_ROOT_SECRET_KEY_KEY;
        key = json_object_get(from_data, key_name);
    }
    if (!json_is_string(cert) || !json_is_string(key))
        return NULL;
    json_t *copy = json_deep_copy(secret);
    if (!copy)
        return NULL;
    json_t *data = json_object_get(copy, "data");
    if (!json_is_object(data)) {
        data = json_object();
        if (!data || json_object_set_new(copy, "data", data) != 0) {
            json_decref(copy);
            return NULL;
        }
    }
    json_object_del(data, other_name);
    if (json_object_set(data, MC_ROOT_SECRET_CERT_KEY, cert) != 0 ||
        json_object_set(data, key_name, key) != 0) {
        json_decref(copy);
        return NULL;
    }
    return copy;
}
