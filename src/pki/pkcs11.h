/* pkcs11.h - a root key inside a PKCS#11 token (an HSM; SoftHSM2 in tests).
 *
 * The module (a shared library such as /usr/lib/softhsm/libsofthsm2.so) is
 * loaded with dlopen and driven through the PKCS#11 API; the private key never
 * leaves the token: the token signs (RSA PKCS#1 v1.5 with SHA-256, ECDSA
 * P-256/P-384 over a digest computed here). The key is named by an RFC 7512
 * URI: pkcs11:token=LABEL;object=LABEL[;id=%01%02][?pin-source=file:F&module-path=M].
 * The PIN comes from a file or an environment variable, never from a command
 * line; it is read for each login and wiped right after. Sessions are pooled;
 * one that fails with a session or device error (CKR_SESSION_HANDLE_INVALID,
 * CKR_DEVICE_ERROR, ...) is dropped, the token re-found, logged in again and
 * the operation retried once.
 * Several handles (several keys, in one token or several, behind one module
 * or several) may be open at once: handles on one module share its
 * initialisation (C_Initialize is process-wide), which the first handle
 * opened on it finalizes when freed, so free them in the reverse order of
 * opening. Handles on one token share its login.
 */
#ifndef MC_PKI_PKCS11_H
#define MC_PKI_PKCS11_H

#include "pki/key.h"
#include "pki/signer.h"
#include "util/err.h"

typedef struct mc_pki_pkcs11 mc_pki_pkcs11;

typedef struct mc_pki_pkcs11_config {
    const char *uri;         /* pkcs11:token=...;object=...; required */
    const char *module_path; /* the module, unless the URI has a module-path= */
    const char *pin_file;    /* a file holding the user PIN (one line), unless the
                                URI has a pin-source= (a file) */
    const char *pin_env;     /* or an environment variable holding it */
} mc_pki_pkcs11_config;

/* True (1) when text starts with "pkcs11:" (a key named by a URI, not a file). */
int mc_pki_pkcs11_is_uri(const char *text);

/* Loads the module, finds the token and logs in. Errors, each naming what:
 * MC_EINVAL for a bad URI or no PIN source; MC_ENOTFOUND when the module
 * cannot be loaded or no token has the label; MC_EAUTH for a wrong PIN
 * (CKR_PIN_INCORRECT) or a locked one (CKR_PIN_LOCKED). *out freed with
 * mc_pki_pkcs11_free. */
int mc_pki_pkcs11_open(const mc_pki_pkcs11_config *config, mc_pki_pkcs11 **out, mc_err *err);

/* Generates the URI's key pair inside the token: private key sensitive, not
 * extractable, a token object; public key as a token object beside it (same
 * label and id). *public_key (public half only) owned by the caller.
 * MC_EEXISTS when the token already holds a private key with that label. */
int mc_pki_pkcs11_generate(mc_pki_pkcs11 *p11, mc_key_type type, mc_pki_key **public_key,
                           mc_err *err);

/* Deletes the URI's key pair (private and public objects with its label and
 * id) from the token: ca create undoing a generation whose certificate could
 * not be written. */
int mc_pki_pkcs11_delete_key(mc_pki_pkcs11 *p11, mc_err *err);

/* Finds the URI's private key and fills *out to sign with it (signer.h);
 * out->impl is p11, which must outlive every use. MC_ENOTFOUND when the token
 * has no such private key, MC_EUNSUPPORTED for key types other than RSA and
 * EC P-256/P-384. */
int mc_pki_pkcs11_backend(mc_pki_pkcs11 *p11, mc_pki_key_backend *out, mc_err *err);

/* Closes the sessions, logs out, finalizes and unloads the module. Accepts NULL. */
void mc_pki_pkcs11_free(mc_pki_pkcs11 *p11);

#endif
