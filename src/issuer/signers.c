/* signers.c - the issuer's signers, one per root Secret ("ns/name") and
 * cached per resourceVersion of it, so that a root is parsed once and a
 * changed Secret is read again (a root whose Secret holds key-ref signs
 * with the --root-key of that name); the external root (--root-key with
 * --root-cert); and the signer and trust bundle a RootRotation's phase
 * asks for.
 */
#include "issuer/state.h"

#include <stdlib.h>
#include <string.h>

#include "issuer/root_secret.h"
#include "pki/cert.h"
#include "runtime/object.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define LOG "issuer"

#define ROOT_CERT_KEY MC_ROOT_SECRET_CERT_KEY
#define ROOT_KEY_KEY  MC_ROOT_SECRET_KEY_KEY

void signer_entry_free(signer_entry *entry)
{
    if (!entry)
        return;
    if (!entry->borrowed)
        mc_pki_signer_free(entry->signer);
    free(entry->root_pem);
    free(entry->secret);
    free(entry->resource_version);
    free(entry);
}

void signer_put(mc_issuer *issuer, signer_entry *entry)
{
    if (!entry)
        return;
    pthread_mutex_lock(&issuer->signers_lock);
    int last = --entry->refs == 0;
    pthread_mutex_unlock(&issuer->signers_lock);
    if (last)
        signer_entry_free(entry);
}

/* The signer of root for a root Secret whose key-ref is ref: with the
 * --root-key of that name (a token's back end checks with a test signature
 * that its key is root's). */
static int signer_from_ref(const mc_issuer *issuer, mc_pki_cert *root, const char *ref,
                           const char *secret_key, mc_pki_signer **signer, mc_err *err)
{
    const mc_issuer_root_key *key = mc_issuer_root_key_find(issuer, ref);
    if (!key)
        return mc_err_set(err, MC_ENOTFOUND,
                          "secret %s (management cluster): its %s %s is not one of the issuer's "
                          "--root-key",
                          secret_key, MC_ROOT_SECRET_KEY_REF_KEY, ref);
    int rc = key->backend ? mc_pki_signer_new_backend(root, key->backend, signer, err)
                          : mc_pki_signer_new(root, key->key, signer, err);
    if (rc != MC_OK)
        mc_err_prefix(err, "secret %s %s %s", secret_key, MC_ROOT_SECRET_KEY_REF_KEY, ref);
    else
        mc_log_info(LOG, "root secret %s signs with --root-key %s", secret_key, ref);
    return rc;
}

/* Builds an entry from a root Secret: a signer, or the reason there is none.
 * key_ref: the Secret's key-ref (its key is then not in key.pem), or NULL. */
static signer_entry *signer_entry_build(const mc_issuer *issuer, const char *secret_key,
                                        const mc_api_secret *secret, const char *key_ref)
{
    signer_entry *entry = calloc(1, sizeof(*entry));
    if (!entry)
        return NULL;
    entry->refs = 1;
    entry->secret = mc_strdup(secret_key);
    entry->resource_version =
        mc_strdup(secret->metadata.resource_version ? secret->metadata.resource_version : "");
    if (!entry->secret || !entry->resource_version) {
        signer_entry_free(entry);
        return NULL;
    }
    const mc_api_bytes_entry *cert_data = mc_api_bytes_map_get(&secret->data, ROOT_CERT_KEY);
    const mc_api_bytes_entry *key_data = mc_api_bytes_map_get(&secret->data, ROOT_KEY_KEY);
    mc_pki_cert *root = NULL;
    mc_pki_key *key = NULL;
    mc_err err = {0};
    char what[600];
    if (!cert_data || (!key_data && !key_ref)) {
        format_message(entry->error, sizeof(entry->error),
                       "secret %s (management cluster) lacks %s", secret_key,
                       !cert_data ? ROOT_CERT_KEY
                                  : ROOT_KEY_KEY " (or " MC_ROOT_SECRET_KEY_REF_KEY ")");
        return entry;
    }
    format_message(what, sizeof(what), "secret %s %s", secret_key, ROOT_CERT_KEY);
    int rc = mc_pki_cert_from_pem((const char *)cert_data->data, cert_data->len, what, &root, &err);
    format_message(what, sizeof(what), "secret %s %s", secret_key, ROOT_KEY_KEY);
    if (rc == MC_OK && !key_ref)
        rc = mc_pki_key_from_pem((const char *)key_data->data, key_data->len, what, &key, &err);
    time_t not_before = 0, not_after = 0;
    if (rc == MC_OK && mc_pki_cert_validity(root, &not_before, &not_after) == MC_OK)
        entry->root_not_after = (int64_t)not_after;
    if (rc == MC_OK)
        rc = key_ref ? signer_from_ref(issuer, root, key_ref, secret_key, &entry->signer, &err)
                     : mc_pki_signer_new(root, key, &entry->signer, &err);
    if (rc == MC_OK) {
        entry->root_pem = mc_strndup((const char *)cert_data->data, cert_data->len);
        if (!entry->root_pem)
            rc = mc_err_set(&err, MC_ENOMEM, "out of memory");
    }
    if (rc != MC_OK) {
        mc_pki_signer_free(entry->signer);
        entry->signer = NULL;
        mc_strlcpy(entry->error, err.msg, sizeof(entry->error));
    }
    mc_pki_cert_free(root);
    mc_pki_key_free(key);
    return entry;
}

/* The signer of root Secret secret_key ("ns/name", inside the cluster's
 * policy), read from the management cluster; generated when missing, asked
 * to, and it is the issuer's --root-secret; that root's external signer
 * (--root-key) without reading its Secret. *out is an entry with a signer
 * or an error; non-zero only for transient failures (the caller retries). */
static int signer_acquire(mc_issuer *issuer, const char *secret_key, signer_entry **out,
                          mc_err *err)
{
    *out = NULL;
    if (mc_issuer_root_is_external(issuer, secret_key)) {
        pthread_mutex_lock(&issuer->signers_lock);
        issuer->external_root->refs++;
        pthread_mutex_unlock(&issuer->signers_lock);
        *out = issuer->external_root;
        return MC_OK;
    }
    char ns[KEY_MAX];
    const char *name = NULL;
    if (mc_object_key_split(secret_key, ns, sizeof(ns), &name) != 0)
        return mc_err_set(err, MC_EINTERNAL, "root %s: not ns/name", secret_key);
    json_t *obj = NULL;
    mc_err local = {0};
    int rc =
        mc_kube_get(issuer->client, mc_kube_resource_of(MC_API_SECRETS), ns, name, &obj, &local);
    int ours = strcmp(secret_key, issuer->root_secret) == 0;
    if (rc == MC_ENOTFOUND && ours && issuer->generate_root) {
        rc = root_generate(issuer, ns, name, &obj, &local);
    }
    if (rc == MC_ENOTFOUND || rc == MC_EEXISTS) {
        signer_entry *entry = calloc(1, sizeof(*entry));
        if (!entry)
            return mc_err_set(err, MC_ENOMEM, "out of memory");
        entry->refs = 1;
        /* the details of a refused generation are in the issuer's log only */
        format_message(entry->error, sizeof(entry->error),
                       "root secret %s not found in the management cluster%s", secret_key,
                       rc == MC_EEXISTS ? " (generation refused; see the issuer's log)" : "");
        *out = entry;
        return MC_OK;
    }
    if (rc != MC_OK) {
        *err = local;
        return rc;
    }
    const char *version =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry *entry = issuer->signers; entry; entry = entry->next)
        if (strcmp(entry->secret, secret_key) == 0 && version &&
            strcmp(entry->resource_version, version) == 0) {
            entry->refs++;
            *out = entry;
            break;
        }
    pthread_mutex_unlock(&issuer->signers_lock);
    if (*out) {
        json_decref(obj);
        return MC_OK;
    }
    mc_api_secret *secret = NULL;
    char key_ref[MC_ROOT_SECRET_KEY_REF_MAX], what[KEY_MAX + 16];
    format_message(what, sizeof(what), "secret %s (management cluster)", secret_key);
    int has_ref = mc_root_secret_key_ref(obj, what, key_ref, sizeof(key_ref), &local);
    rc = has_ref < 0 ? MC_EINVAL : mc_api_secret_decode(obj, &secret, &local);
    json_decref(obj);
    signer_entry *entry = NULL;
    if (rc != MC_OK) {
        entry = calloc(1, sizeof(*entry));
        if (entry) {
            entry->refs = 1;
            mc_strlcpy(entry->error, local.msg, sizeof(entry->error));
        }
    } else {
        entry = signer_entry_build(issuer, secret_key, secret, has_ref ? key_ref : NULL);
    }
    mc_api_secret_free(secret);
    if (!entry)
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    if (!entry->secret) { /* an undecodable Secret: not cached */
        *out = entry;
        return MC_OK;
    }
    /* Cache it, replacing the entry of an older version of the Secret. */
    signer_entry *replaced = NULL;
    pthread_mutex_lock(&issuer->signers_lock);
    for (signer_entry **link = &issuer->signers; *link; link = &(*link)->next)
        if (strcmp((*link)->secret, secret_key) == 0) {
            replaced = *link;
            *link = replaced->next;
            replaced->cached = 0;
            break;
        }
    entry->refs++;
    entry->cached = 1;
    entry->next = issuer->signers;
    issuer->signers = entry;
    pthread_mutex_unlock(&issuer->signers_lock);
    signer_put(issuer, replaced);
    *out = entry;
    return MC_OK;
}

/* Appends a PEM text to a bundle, ending it with a newline. */
static int bundle_append(mc_buf *bundle, const char *pem)
{
    size_t len = strlen(pem);
    if (mc_buf_append(bundle, pem, len) != MC_OK)
        return MC_ENOMEM;
    return len && pem[len - 1] != '\n' ? mc_buf_append_str(bundle, "\n") : MC_OK;
}

/* The signer and signingRootCa for requests whose IssuedCertificate names
 * root_key: that root and its certificate, or, while a RootRotation of it
 * is in a signing phase, the phase's signer and trust bundle (*bundle,
 * caller frees; NULL when not rotating). A root of the bundle that cannot
 * be read hands back its entry (no signer, an error) so that nothing is
 * signed with a bundle lacking a root. */
int signing_acquire(mc_issuer *issuer, const char *root_key, signer_entry **signer, char **bundle,
                    mc_err *err)
{
    *bundle = NULL;
    mc_rotation_signing plan;
    if (!mc_rotation_controller_plan(issuer->rotations, root_key, &plan))
        return signer_acquire(issuer, root_key, signer, err);
    signer_entry *old_root = NULL, *new_root = NULL;
    int rc = signer_acquire(issuer, plan.old_secret, &old_root, err);
    if (rc == MC_OK)
        rc = signer_acquire(issuer, plan.new_secret, &new_root, err);
    if (rc != MC_OK) {
        signer_put(issuer, old_root);
        signer_put(issuer, new_root);
        return rc;
    }
    signer_entry *chosen = plan.signer == MC_ROTATION_ROOT_NEW ? new_root : old_root;
    signer_entry *other = chosen == new_root ? old_root : new_root;
    mc_buf buf;
    mc_buf_init(&buf, 1 << 20);
    int missing = 0;
    if (plan.bundle & MC_ROTATION_ROOT_OLD) {
        missing |= !old_root->root_pem;
        if (old_root->root_pem && bundle_append(&buf, old_root->root_pem) != MC_OK)
            rc = MC_ENOMEM;
    }
    if (plan.bundle & MC_ROTATION_ROOT_NEW) {
        missing |= !new_root->root_pem;
        if (new_root->root_pem && bundle_append(&buf, new_root->root_pem) != MC_OK)
            rc = MC_ENOMEM;
    }
    if (rc != MC_OK) {
        mc_buf_free(&buf);
        signer_put(issuer, old_root);
        signer_put(issuer, new_root);
        return mc_err_set(err, MC_ENOMEM, "out of memory");
    }
    if (missing && chosen->signer && !other->signer) {
        signer_entry *swap = chosen; /* the unusable root answers */
        chosen = other;
        other = swap;
    }
    signer_put(issuer, other);
    *signer = chosen;
    *bundle = mc_buf_steal(&buf, NULL);
    return MC_OK;
}

/* The entry of the root whose key is outside the API (--root-key): held by
 * the issuer for its whole life, never cached by resourceVersion. */
int external_root_new(const char *secret_key, mc_pki_signer *signer, signer_entry **out,
                      mc_err *err)
{
    signer_entry *entry = calloc(1, sizeof(*entry));
    if (!entry)
        return mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    entry->refs = 1;
    entry->signer = signer;
    entry->borrowed = 1;
    entry->secret = mc_strdup(secret_key);
    entry->resource_version = mc_strdup("");
    int rc = entry->secret && entry->resource_version
                 ? mc_pki_cert_to_pem(mc_pki_signer_root(signer), &entry->root_pem, NULL, err)
                 : mc_err_set(err, MC_ENOMEM, "issuer: out of memory");
    if (rc != MC_OK) {
        signer_entry_free(entry);
        return rc;
    }
    *out = entry;
    return MC_OK;
}
