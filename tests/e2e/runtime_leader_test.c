/* runtime_leader_test.c - leader election between two real processes
 * (leader_candidate) on one Lease of a real `meshcert server`: one leads
 * while both live; after the leader is SIGKILLed the other takes over within
 * lease duration + retry period (plus 300 ms of scheduling slack); the
 * record never shows two leaders at once; a candidate stopped with SIGTERM
 * releases the Lease.
 */
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server_process.h"

extern char **environ;

#define LEASE_MS 3000
#define RETRY_MS 500

typedef struct fixture {
    server_process server;
    pid_t pids[2];
    char record[300];
} fixture;

static const char *identities[2] = {"candidate-a", "candidate-b"};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct record_line {
    char what[16];
    char identity[32];
    long long ms;
} record_line;

/* Reads the record file; returns the number of lines (at most max). */
static int read_record(const fixture *f, record_line *lines, int max)
{
    FILE *file = fopen(f->record, "r");
    if (!file)
        return 0;
    int n = 0;
    while (n < max &&
           fscanf(file, "%15s %31s %lld", lines[n].what, lines[n].identity, &lines[n].ms) == 3)
        n++;
    fclose(file);
    return n;
}

static int count_acquired(const fixture *f, record_line *last)
{
    record_line lines[64];
    int n = read_record(f, lines, 64), acquired = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(lines[i].what, "acquired") == 0) {
            acquired++;
            if (last)
                *last = lines[i];
        }
    }
    return acquired;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f)
        return -1;
    const char *args[] = {"--cluster", "c1", NULL};
    if (server_process_start(&f->server, args) != 0)
        return -1;
    snprintf(f->record, sizeof(f->record), "%s/leader-record.txt", f->server.dir);
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    for (int i = 0; i < 2; i++) {
        if (f->pids[i] > 0) {
            kill(f->pids[i], SIGKILL);
            waitpid(f->pids[i], NULL, 0);
        }
    }
    int rc = f->server.pid ? server_process_stop(&f->server) : 0;
    free(f);
    return rc;
}

static pid_t spawn_candidate(fixture *f, const char *identity)
{
    char kubeconfig[400];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/c1.yaml", f->server.dir);
    char *argv[] = {(char *)LEADER_CANDIDATE_BIN, kubeconfig, (char *)identity, f->record, NULL};
    pid_t pid = 0;
    if (posix_spawn(&pid, LEADER_CANDIDATE_BIN, NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

/* The record never shows two leaders: each "acquired" comes when nobody
 * leads, i.e. after the previous leader's "lost" or after it was killed. */
static void assert_one_leader_at_a_time(const fixture *f, const char *killed, int64_t killed_at)
{
    record_line lines[64];
    int n = read_record(f, lines, 64);
    const char *leader = NULL;
    for (int i = 0; i < n; i++) {
        if (strcmp(lines[i].what, "acquired") == 0) {
            if (leader) {
                assert_non_null(killed);
                assert_string_equal(leader, killed);
                assert_true(lines[i].ms > killed_at);
            }
            leader = lines[i].identity;
        } else {
            assert_string_equal(lines[i].what, "lost");
            assert_non_null(leader);
            assert_string_equal(lines[i].identity, leader);
            leader = NULL;
        }
    }
}

static void test_takeover_after_kill(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 2; i++) {
        f->pids[i] = spawn_candidate(f, identities[i]);
        assert_true(f->pids[i] > 0);
    }
    record_line first;
    int64_t until = now_ms() + 15000;
    while (count_acquired(f, &first) == 0 && now_ms() < until)
        sleep_ms(50);
    assert_int_equal(count_acquired(f, &first), 1);
    /* Both alive for several lease durations: the leader keeps it. */
    sleep_ms(2 * LEASE_MS);
    assert_int_equal(count_acquired(f, NULL), 1);
    assert_one_leader_at_a_time(f, NULL, 0);

    int leader_index = strcmp(first.identity, identities[0]) == 0 ? 0 : 1;
    int other = 1 - leader_index;
    int64_t killed_at = now_ms();
    kill(f->pids[leader_index], SIGKILL);
    waitpid(f->pids[leader_index], NULL, 0);
    f->pids[leader_index] = 0;

    record_line second;
    until = now_ms() + 20000;
    while (count_acquired(f, &second) < 2 && now_ms() < until)
        sleep_ms(20);
    assert_int_equal(count_acquired(f, &second), 2);
    assert_string_equal(second.identity, identities[other]);
    long long takeover = second.ms - killed_at;
    /* The bound: lease duration + retry period (the survivor polls at
     * most one retry period apart and wakes when the observed lease runs out),
     * plus 300 ms for process scheduling and requests on a loaded machine. */
    long long bound = LEASE_MS + RETRY_MS + 300;
    fprintf(stderr, "takeover after %lld ms (bound %lld ms)\n", takeover, bound);
    assert_true(takeover > 0);
    assert_true(takeover <= bound);
    assert_one_leader_at_a_time(f, identities[leader_index], killed_at);

    /* SIGTERM: the survivor stops leading and releases the Lease. */
    kill(f->pids[other], SIGTERM);
    int status = 0;
    waitpid(f->pids[other], &status, 0);
    f->pids[other] = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    record_line lines[64];
    int n = read_record(f, lines, 64);
    assert_true(n >= 3);
    assert_string_equal(lines[n - 1].what, "lost");
    assert_string_equal(lines[n - 1].identity, identities[other]);
    http_reply reply;
    assert_int_equal(http_do(&f->server, server_token(&f->server, "c1"), "GET",
                             "/clusters/c1/apis/coordination.k8s.io/v1/namespaces/default/"
                             "leases/meshcert-test",
                             NULL, NULL, &reply),
                     0);
    assert_int_equal(reply.status, 200);
    json_t *spec = json_object_get(reply.json, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    assert_true(!holder || !*holder);
    assert_true(json_integer_value(json_object_get(spec, "leaseTransitions")) >= 1);
    const char *renew = json_string_value(json_object_get(spec, "renewTime"));
    assert_non_null(renew);
    assert_int_equal(strlen(renew), 27); /* MicroTime: six fractional digits */
    http_reply_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_takeover_after_kill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
