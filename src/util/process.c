/* process.c - no core dumps, no ptrace attach, for processes holding keys
 * (see process.h). A core file of the issuer holds the root key; an
 * attached debugger reads it from memory: both are closed at start.
 */
#include "util/process.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define MC_PROCESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define MC_PROCESS_SANITIZED 1
#endif
#endif

int mc_process_protect_secrets(mc_err *err)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return mc_err_set(err, MC_EIO, "cannot disable core dumps (RLIMIT_CORE): %s",
                          strerror(errno));
#ifndef MC_PROCESS_SANITIZED
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return mc_err_set(err, MC_EIO, "cannot disable ptrace attach (PR_SET_DUMPABLE): %s",
                          strerror(errno));
#endif
    return MC_OK;
}
