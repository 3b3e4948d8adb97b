/* p11_fault.c - a PKCS#11 module for tests that passes every call to a real
 * module (SoftHSM2) and injects the token faults SoftHSM2 cannot show:
 * a locked user PIN (SoftHSM2 2.6 never locks one: 12 wrong logins in a row
 * all answer CKR_PIN_INCORRECT, and the right PIN still works) and a token
 * pulled out and put back.
 *
 * MC_P11_FAULT_MODULE names the real module; MC_P11_FAULT_DIR a directory
 * whose files switch the faults on while they exist:
 *   pin-locked  C_Login answers CKR_PIN_LOCKED;
 *   removed     the token is gone: C_GetSlotList lists no token, session and
 *               signing calls answer CKR_DEVICE_REMOVED or
 *               CKR_TOKEN_NOT_PRESENT, and every session of the process is
 *               closed (as a real removal ends them), so after the file is
 *               deleted old session handles are invalid and the login gone.
 * Written for the tests only, apart from pki/pkcs11.c.
 */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST *real; /* the real module's entry points */
static CK_FUNCTION_LIST shim;  /* what callers get: real's, some replaced */
static int removal_seen;       /* the sessions were closed for the current removal */

static int fault_on(const char *name)
{
    const char *dir = getenv("MC_P11_FAULT_DIR");
    char path[512];
    struct stat st;
    if (!dir)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* 1 while the token is out; the first call that sees a removal closes
 * every session of every slot. */
static int removed(void)
{
    int out = fault_on("removed");
    pthread_mutex_lock(&lock);
    if (out && !removal_seen) {
        CK_SLOT_ID slots[16];
        CK_ULONG n = 16;
        if (real->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK)
            for (CK_ULONG i = 0; i < n; i++)
                real->C_CloseAllSessions(slots[i]);
    }
    removal_seen = out;
    pthread_mutex_unlock(&lock);
    return out;
}

static CK_RV fault_get_slot_list(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    if (token_present && removed()) {
        *count = 0;
        return CKR_OK;
    }
    return real->C_GetSlotList(token_present, list, count);
}

static CK_RV fault_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    return removed() ? CKR_TOKEN_NOT_PRESENT : real->C_GetTokenInfo(slot, info);
}

static CK_RV fault_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                                CK_SESSION_HANDLE_PTR session)
{
    return removed() ? CKR_TOKEN_NOT_PRESENT
                     : real->C_OpenSession(slot, flags, app, notify, session);
}

static CK_RV fault_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                         CK_ULONG len)
{
    if (removed())
        return CKR_DEVICE_REMOVED;
    if (fault_on("pin-locked"))
        return CKR_PIN_LOCKED;
    return real->C_Login(session, user, pin, len);
}

static CK_RV fault_sign_init(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return removed() ? CKR_DEVICE_REMOVED : real->C_SignInit(session, mech, key);
}

static CK_RV fault_sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                        CK_ULONG_PTR sig_len)
{
    return removed() ? CKR_DEVICE_REMOVED : real->C_Sign(session, data, len, sig, sig_len);
}

static CK_RV fault_find_objects_init(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR tmpl,
                                     CK_ULONG count)
{
    return removed() ? CKR_DEVICE_REMOVED : real->C_FindObjectsInit(session, tmpl, count);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    pthread_mutex_lock(&lock);
    CK_RV rv = CKR_OK;
    if (!real) {
        const char *path = getenv("MC_P11_FAULT_MODULE");
        void *module = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        CK_C_GetFunctionList get = NULL;
        void *sym = module ? dlsym(module, "C_GetFunctionList") : NULL;
        memcpy(&get, &sym, sizeof(get));
        if (!get || get(&real) != CKR_OK || !real) {
            fprintf(stderr, "p11_fault: cannot load MC_P11_FAULT_MODULE %s\n",
                    path ? path : "(unset)");
            real = NULL;
            rv = CKR_GENERAL_ERROR;
        } else {
            shim = *real;
            shim.C_GetSlotList = fault_get_slot_list;
            shim.C_GetTokenInfo = fault_get_token_info;
            shim.C_OpenSession = fault_open_session;
            shim.C_Login = fault_login;
            shim.C_SignInit = fault_sign_init;
            shim.C_Sign = fault_sign;
            shim.C_FindObjectsInit = fault_find_objects_init;
        }
    }
    pthread_mutex_unlock(&lock);
    if (rv == CKR_OK)
        *out = &shim;
    return rv;
}
