/* p11_probe.c - an independent look into a PKCS#11 token for pkcs11_test.sh:
 * logs in, finds the private key with a label, and prints what the token says
 * about it: its protection flags, and what C_GetAttributeValue answers for
 * the secret part (CKA_VALUE for EC, CKA_PRIVATE_EXPONENT for RSA).
 * Usage: p11_probe MODULE TOKEN_LABEL PIN_FILE KEY_LABEL
 * Written apart from pki/pkcs11.c on purpose: the code under test does not
 * judge itself. */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <string.h>

static CK_FUNCTION_LIST *fn;

static int die(const char *what, CK_RV rv)
{
    fprintf(stderr, "p11_probe: %s: 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

static int find_slot(const char *token, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[32];
    CK_ULONG n = 32;
    if (fn->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return -1;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        size_t len = strlen(token);
        if (fn->C_GetTokenInfo(slots[i], &info) == CKR_OK && len <= sizeof(info.label) &&
            memcmp(info.label, token, len) == 0 &&
            (len == sizeof(info.label) || info.label[len] == ' ')) {
            *slot = slots[i];
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: p11_probe MODULE TOKEN_LABEL PIN_FILE KEY_LABEL\n");
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList get = NULL;
    void *sym = module ? dlsym(module, "C_GetFunctionList") : NULL;
    memcpy(&get, &sym, sizeof(get));
    if (!get || get(&fn) != CKR_OK || fn->C_Initialize(NULL) != CKR_OK)
        return die("loading the module", 0);
    char pin[256] = "";
    FILE *f = fopen(argv[3], "r");
    if (!f || !fgets(pin, sizeof(pin), f))
        return die("reading the PIN file", 0);
    fclose(f);
    pin[strcspn(pin, "\r\n")] = 0;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
    CK_RV rv;
    if (find_slot(argv[2], &slot))
        return die("token not found", 0);
    if ((rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session)) != CKR_OK)
        return die("C_OpenSession", rv);
    if ((rv = fn->C_Login(session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin))) != CKR_OK)
        return die("C_Login", rv);
    CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE query[] = {{CKA_CLASS, &class, sizeof(class)},
                            {CKA_LABEL, argv[4], strlen(argv[4])}};
    CK_OBJECT_HANDLE key;
    CK_ULONG found = 0;
    if (fn->C_FindObjectsInit(session, query, 2) != CKR_OK ||
        fn->C_FindObjects(session, &key, 1, &found) != CKR_OK || found != 1)
        return die("private key not found", 0);
    fn->C_FindObjectsFinal(session);
    CK_BBOOL sensitive = 0, extractable = 1, never = 0;
    CK_KEY_TYPE type = 0;
    CK_ATTRIBUTE flags[] = {{CKA_SENSITIVE, &sensitive, 1},
                            {CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_NEVER_EXTRACTABLE, &never, 1},
                            {CKA_KEY_TYPE, &type, sizeof(type)}};
    if ((rv = fn->C_GetAttributeValue(session, key, flags, 4)) != CKR_OK)
        return die("C_GetAttributeValue (flags)", rv);
    printf("CKA_SENSITIVE=%d\nCKA_EXTRACTABLE=%d\nCKA_NEVER_EXTRACTABLE=%d\n", sensitive,
           extractable, never);
    unsigned char secret[2048];
    CK_ATTRIBUTE value = {type == CKK_RSA ? CKA_PRIVATE_EXPONENT : CKA_VALUE, secret,
                          sizeof(secret)};
    rv = fn->C_GetAttributeValue(session, key, &value, 1);
    printf("secret: %s\n", rv == CKR_ATTRIBUTE_SENSITIVE ? "CKR_ATTRIBUTE_SENSITIVE"
                           : rv == CKR_OK                ? "READABLE"
                                                         : "other error");
    fn->C_Logout(session);
    fn->C_CloseSession(session);
    fn->C_Finalize(NULL);
    return 0;
}
