/* server_limits_test.c - `meshcert server` against hostile or careless
 * clients (issue 14): requests that crashed it, watches opened and dropped
 * by the thousand, connection caps, memory per watcher.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server_process.h"

typedef struct fixture {
    server_process sp;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    return f ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = server_process_stop(&f->sp);
    free(f);
    return rc;
}

static void assert_alive(const server_process *sp)
{
    http_reply reply;
    assert_int_equal(http_do(sp, NULL, "GET", "/healthz", NULL, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    http_reply_free(&reply);
}

/* Requests that took the server down: a GET whose path below /clusters/<c>
 * is 1 024 bytes or more (discovery's split_path left its first segment
 * unset), a YAML body that is empty (libyaml asserts on a NULL input). */
static void test_requests_that_crashed(void **state)
{
    fixture *f = *state;
    const char *args[] = {"--cluster", "c1", NULL};
    assert_int_equal(server_process_start(&f->sp, args), 0);
    char token[128];
    snprintf(token, sizeof(token), "%s", server_token(&f->sp, "c1"));
    const size_t lengths[] = {1023, 1024, 1500};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        char path[1700];
        size_t prefix = (size_t)snprintf(path, sizeof(path), "/clusters/c1/");
        memset(path + prefix, 'a', lengths[i] - 1);
        path[prefix + lengths[i] - 1] = '\0'; /* "/" + lengths[i]-1 bytes below /clusters/c1 */
        http_reply reply;
        assert_int_equal(http_do(&f->sp, token, "GET", path, NULL, NULL, &reply), 0);
        assert_int_equal(reply.status, 404);
        http_reply_free(&reply);
        assert_alive(&f->sp);
    }
    http_reply reply;
    assert_int_equal(http_do(&f->sp, token, "POST", "/clusters/c1/api/v1/namespaces/default/configmaps",
                             "", "application/yaml", &reply),
                     0);
    assert_int_equal(reply.status, 400);
    http_reply_free(&reply);
    assert_alive(&f->sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requests_that_crashed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
