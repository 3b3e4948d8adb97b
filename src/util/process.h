/* process.h - process-wide protection of the secrets a process holds
 * (private keys, bearer tokens): no core dump, no ptrace attach by other
 * processes of the same user.
 */
#ifndef MC_UTIL_PROCESS_H
#define MC_UTIL_PROCESS_H

#include "util/err.h"

/* Sets RLIMIT_CORE to 0 (soft and hard: a child cannot raise it back) and
 * marks the process non-dumpable (prctl PR_SET_DUMPABLE 0): no core file,
 * /proc/<pid>/mem and ptrace attach refused to other unprivileged processes.
 * Call at the start of every command that holds keys, before the first key
 * is read or made. In sanitizer builds the dumpable flag stays set, because
 * LeakSanitizer attaches to its own process with ptrace at exit. MC_EIO
 * naming the step when one fails (the process should then refuse to run). */
int mc_process_protect_secrets(mc_err *err);

#endif
