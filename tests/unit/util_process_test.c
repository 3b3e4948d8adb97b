/* util_process_test.c - mc_process_protect_secrets: in a child process (the
 * changes cannot be undone), core dumps are off for good and, outside
 * sanitizer builds, the process is no longer dumpable (no ptrace attach).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/process.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SANITIZED 1
#endif
#endif

/* Exit code of the child: 0 ok, else the number of the failed check. */
static int child_checks(void)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_CORE, &rl); /* may fail without privilege: fine */
    mc_err err = {0};
    if (mc_process_protect_secrets(&err) != MC_OK)
        return 1;
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
        return 2;
    rl.rlim_cur = 1 << 20;
    rl.rlim_max = 1 << 20;
    if (geteuid() != 0 && setrlimit(RLIMIT_CORE, &rl) == 0)
        return 3; /* an unprivileged process cannot raise the hard limit again */
#ifndef SANITIZED
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 4;
#endif
    return 0;
}

static void test_protect_secrets(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_checks());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protect_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
