/* root_key.c - the root key a command names with --root-key: a PEM file
 * (read, parsed, its text wiped) or a pkcs11: URI whose token signs. One
 * place for `meshcert sign` and `meshcert issuer`, so both give the same
 * errors for a wrong PIN, a missing object or a key that is not the root's.
 */
#include <string.h>

#include "cli/cli.h"
#include "util/file.h"
#include "util/str.h"

/* The PEM key at path; the key text is wiped. */
static int open_file(const char *path, mc_pki_key **key, mc_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = mc_file_read(path, MC_PKI_KEY_PEM_MAX, &pem, &len, err);
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem(pem, len, path, key, err);
    if (pem)
        mc_secure_free(pem, len);
    return rc;
}

int mc_cli_root_key_open(const mc_pki_pkcs11_config *config, mc_cli_root_key *out, mc_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!mc_pki_pkcs11_is_uri(config->uri))
        return open_file(config->uri, &out->key, err);
    int rc = mc_pki_pkcs11_open(config, &out->pkcs11, err);
    if (rc == MC_OK)
        rc = mc_pki_pkcs11_backend(out->pkcs11, &out->backend, err);
    if (rc != MC_OK)
        mc_cli_root_key_close(out);
    return rc;
}

void mc_cli_root_key_close(mc_cli_root_key *key)
{
    mc_pki_pkcs11_free(key->pkcs11);
    mc_pki_key_free(key->key);
    memset(key, 0, sizeof(*key));
}

int mc_cli_root_signer_open(mc_pki_cert *root, const mc_pki_pkcs11_config *key,
                            mc_pki_pkcs11 **pkcs11, mc_pki_signer **signer, mc_err *err)
{
    *pkcs11 = NULL;
    *signer = NULL;
    mc_cli_root_key opened;
    int rc = mc_cli_root_key_open(key, &opened, err);
    if (rc == MC_OK && opened.key && (rc = mc_pki_signer_new(root, opened.key, signer, err)))
        mc_err_prefix(err, "%s", key->uri);
    else if (rc == MC_OK && opened.pkcs11)
        rc = mc_pki_signer_new_backend(root, &opened.backend, signer, err);
    mc_pki_key_free(opened.key); /* the signer keeps its own reference */
    opened.key = NULL;
    if (rc == MC_OK) {
        *pkcs11 = opened.pkcs11;
        return MC_OK;
    }
    mc_cli_root_key_close(&opened);
    return rc;
}
