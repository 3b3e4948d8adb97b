/* key.h - private keys: generation, PEM encoding and parsing.
 *
 * RSA 2048/3072/4096 and ECDSA P-256/P-384. PEM output is PKCS#8 ("PRIVATE
 * KEY") by default, PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY") on
 * request; all three are parsed. Every buffer that held key material is wiped
 * before it is freed; PEM strings handed to callers must be released with
 * mc_secure_free_str (util/str.h).
 */
#ifndef MC_PKI_KEY_H
#define MC_PKI_KEY_H

#include <stddef.h>

#include "util/err.h"

typedef enum {
    MC_KEY_RSA2048 = 0,
    MC_KEY_RSA3072,
    MC_KEY_RSA4096,
    MC_KEY_EC_P256,
    MC_KEY_EC_P384,
} mc_key_type;

typedef enum {
    MC_KEY_PEM_PKCS8 = 0,       /* -----BEGIN PRIVATE KEY----- */
    MC_KEY_PEM_TRADITIONAL = 1, /* PKCS#1 for RSA, SEC1 for EC */
} mc_key_pem_format;

/* Opaque private (or public) key. */
typedef struct mc_pki_key mc_pki_key;

/* Largest private key PEM accepted. */
#define MC_PKI_KEY_PEM_MAX (64 * 1024)

/* Parses "rsa2048", "rsa3072", "rsa4096", "ec-p256" or "ec-p384". MC_EINVAL
 * listing the accepted names otherwise. */
int mc_pki_key_type_parse(const char *name, mc_key_type *out, mc_err *err);

/* The flag spelling of a key type, e.g. "ec-p256". */
const char *mc_pki_key_type_name(mc_key_type type);

/* The size of the secure heap mc_pki_secure_heap_init sets up: room for
 * hundreds of RSA-4096 private keys at once. */
#define MC_PKI_SECURE_HEAP_SIZE (4u * 1024 * 1024)

/* Puts the private parts of every key OpenSSL holds in this process (the
 * private BIGNUMs of RSA and EC keys) in OpenSSL's secure heap: pages locked
 * in memory (never swapped), fenced by guard pages, excluded from core
 * dumps, wiped on free (CRYPTO_secure_malloc_init). Call once, at the start
 * of a process that holds keys (server, issuer, agent, sign), before any
 * key exists. Returns 0 when the heap is in use (also when the kernel's
 * RLIMIT_MEMLOCK left it unlocked: *locked is then 0); MC_EUNSUPPORTED in
 * sanitizer builds, which leave it off because AddressSanitizer and
 * LeakSanitizer cannot see into it (and valgrind cannot either: run it on a
 * normal build knowing the heap is opaque to it); MC_ENOMEM when OpenSSL
 * could not map it (keys then live on the ordinary heap, wiped on free as
 * always). locked may be NULL. */
int mc_pki_secure_heap_init(int *locked, mc_err *err);

/* Bytes of the secure heap in use (0 when it is off). */
size_t mc_pki_secure_heap_used(void);

/* Generates a new key pair; *out is owned by the caller (mc_pki_key_free). */
int mc_pki_key_generate(mc_key_type type, mc_pki_key **out, mc_err *err);

/* Encodes the private key as PEM into a new NUL-terminated string (*pem, caller
 * releases it with mc_secure_free_str); *len (optional) receives its length. */
int mc_pki_key_to_pem(const mc_pki_key *key, mc_key_pem_format format, char **pem, size_t *len,
                      mc_err *err);

/* Parses a PEM private key (PKCS#8, PKCS#1 or SEC1; no passphrase). what names
 * the source in error messages (a file name, a Secret). Refuses key types and
 * sizes meshcert does not support. *out is owned by the caller. */
int mc_pki_key_from_pem(const char *pem, size_t len, const char *what, mc_pki_key **out,
                        mc_err *err);

/* A second handle on the same key (reference counted, not copied): the
 * holders may use it from several threads at once and free their handles
 * in any order. *out is owned by the caller. MC_ENOMEM. */
int mc_pki_key_share(const mc_pki_key *key, mc_pki_key **out, mc_err *err);

/* True (1) when key is of that type (algorithm and size or curve). */
int mc_pki_key_is_type(const mc_pki_key *key, mc_key_type type);

/* Writes a short description such as "RSA 4096" or "EC P-256" into out. */
void mc_pki_key_describe(const mc_pki_key *key, char *out, size_t out_size);

/* Frees the key (wiping its secret parts). Accepts NULL. */
void mc_pki_key_free(mc_pki_key *key);

#endif
