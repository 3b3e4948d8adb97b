/* root_key.c - the root key a command names with --root-key: a PEM file
 * (read, parsed, its text wiped) or a pkcs11: URI whose token signs. One
 * place for `meshcert sign` and `meshcert issuer`, so both give the same
 * errors for a wrong PIN, a missing object or a key that is not the root's.
 */
#include "cli/cli.h"
#include "util/file.h"
#include "util/str.h"

/* A signer from the PEM key at path; the key text and key are wiped. */
static int open_file(mc_pki_cert *root, const char *path, mc_pki_signer **signer, mc_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    mc_pki_key *key = NULL;
    int rc = mc_file_read(path, MC_PKI_KEY_PEM_MAX, &pem, &len, err);
    if (rc == MC_OK)
        rc = mc_pki_key_from_pem(pem, len, path, &key, err);
    if (rc == MC_OK && (rc = mc_pki_signer_new(root, key, signer, err)) != MC_OK)
        mc_err_prefix(err, "%s", path);
    mc_pki_key_free(key);
    if (pem)
        mc_secure_free(pem, len);
    return rc;
}

/* A signer whose key stays in the token config->uri names. */
static int open_pkcs11(mc_pki_cert *root, const mc_pki_pkcs11_config *config,
                       mc_pki_pkcs11 **pkcs11, mc_pki_signer **signer, mc_err *err)
{
    mc_pki_key_backend backend;
    int rc = mc_pki_pkcs11_open(config, pkcs11, err);
    if (rc == MC_OK)
        rc = mc_pki_pkcs11_backend(*pkcs11, &backend, err);
    if (rc == MC_OK)
        rc = mc_pki_signer_new_backend(root, &backend, signer, err);
    if (rc != MC_OK) {
        mc_pki_pkcs11_free(*pkcs11);
        *pkcs11 = NULL;
    }
    return rc;
}

int mc_cli_root_signer_open(mc_pki_cert *root, const mc_pki_pkcs11_config *key,
                            mc_pki_pkcs11 **pkcs11, mc_pki_signer **signer, mc_err *err)
{
    *pkcs11 = NULL;
    *signer = NULL;
    if (mc_pki_pkcs11_is_uri(key->uri))
        return open_pkcs11(root, key, pkcs11, signer, err);
    return open_file(root, key->uri, signer, err);
}
