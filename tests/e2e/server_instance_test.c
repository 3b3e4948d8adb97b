/* server_instance_test.c - one `meshcert server` per port and per data
 * directory (issue 11): a second server on a held port, or on a data
 * directory in use, exits at once with one clear line and rewrites nothing;
 * after a SIGKILL the next server takes both over; a bad argument leaves a new
 * data directory untouched.
 */
#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server_client.h"

extern char **environ;

/* Runs `meshcert server ARGS...` with stderr to err_path; returns its exit
 * status when it exits within 10 s, or -1 after killing it (it kept running:
 * what a second instance must not do). */
static int run_server_expecting_exit(const char *err_path, const char *const *args)
{
    const char *argv[32];
    size_t argc = 0;
    argv[argc++] = MESHCERT_BIN;
    argv[argc++] = "server";
    for (size_t i = 0; args[i] && argc < 30; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, MESHCERT_BIN, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -2;
    for (int i = 0; i < 200; i++) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        server_client_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

typedef struct fixture {
    server_process first;
    char scratch[128]; /* a second data directory and stderr files */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->scratch, sizeof(f->scratch), "/tmp/mc-instance-test-XXXXXX");
    if (!mkdtemp(f->scratch))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    server_process_stop(&f->first);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->scratch);
    free(f);
    return 0;
}

/* A second server on the first one's port, with another data directory. */
static void test_second_server_on_same_port_refused(void **state)
{
    fixture *f = *state;
    const char *first_args[] = {"--cluster", "c1", NULL};
    assert_int_equal(server_process_start(&f->first, first_args), 0);
    char listen[64], dir[300], err_path[300];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->first.port);
    snprintf(dir, sizeof(dir), "%s/other", f->scratch);
    snprintf(err_path, sizeof(err_path), "%s/second.err", f->scratch);
    const char *args[] = {"--data-dir", dir, "--listen", listen, "--cluster", "c1", NULL};
    int status = run_server_expecting_exit(err_path, args);
    char *text = read_text(err_path);
    fprintf(stderr, "second server: status %d: %s", status, text);
    assert_true(status > 0);
    assert_non_null(strstr(text, "address already in use"));
    assert_non_null(strstr(text, listen));
    /* nothing made in the second directory but its lock */
    char path[400];
    snprintf(path, sizeof(path), "%s/store.db", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/serving-cert.pem", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    free(text);
    /* the first still answers */
    server_client_assert_alive(&f->first);
}

/* A second server on the first one's data directory (any port): refused
 * before server.json or a kubeconfig is rewritten. */
static void test_second_server_on_same_dir_refused(void **state)
{
    fixture *f = *state;
    const char *first_args[] = {"--cluster", "c1", NULL};
    assert_int_equal(server_process_start(&f->first, first_args), 0);
    char server_json[400], kubeconfig[400], err_path[300];
    snprintf(server_json, sizeof(server_json), "%s/server.json", f->first.dir);
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfigs/c1.yaml", f->first.dir);
    snprintf(err_path, sizeof(err_path), "%s/second.err", f->scratch);
    char *json_before = read_text(server_json), *kube_before = read_text(kubeconfig);
    const char *args[] = {"--data-dir", f->first.dir, "--listen", "127.0.0.1:0",
                          "--cluster",  "c2",         NULL};
    int status = run_server_expecting_exit(err_path, args);
    char *text = read_text(err_path);
    fprintf(stderr, "second server: status %d: %s", status, text);
    assert_true(status > 0);
    assert_non_null(strstr(text, "in use by another meshcert server"));
    char pid_text[32];
    snprintf(pid_text, sizeof(pid_text), "pid %d", (int)f->first.pid);
    assert_non_null(strstr(text, pid_text));
    char *json_after = read_text(server_json), *kube_after = read_text(kubeconfig);
    assert_string_equal(json_before, json_after);
    assert_string_equal(kube_before, kube_after);
    char c2[400];
    snprintf(c2, sizeof(c2), "%s/kubeconfigs/c2.yaml", f->first.dir);
    assert_int_not_equal(access(c2, F_OK), 0);
    free(text);
    free(json_before);
    free(json_after);
    free(kube_before);
    free(kube_after);
}

/* SIGKILL releases both the lock and the port: the next server starts on
 * the same directory and the same port. */
static void test_after_sigkill_next_server_starts(void **state)
{
    fixture *f = *state;
    const char *first_args[] = {"--cluster", "c1", NULL};
    assert_int_equal(server_process_start(&f->first, first_args), 0);
    http_reply reply;
    const char *token = server_token(&f->first, "c1");
    char tok[128];
    snprintf(tok, sizeof(tok), "%s", token);
    assert_int_equal(
        http_do(&f->first, tok, "POST", "/clusters/c1/api/v1/namespaces/default/configmaps",
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kept\"}}",
                NULL, &reply),
        0);
    assert_int_equal(reply.status, 201);
    http_reply_free(&reply);
    int port = f->first.port;
    /* open connections leave TIME_WAIT sockets behind the kill */
    assert_int_equal(server_process_kill(&f->first, 1), 0);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    const char *again[] = {"--cluster", "c1", "--listen", listen, NULL};
    assert_int_equal(server_process_start(&f->first, again), 0);
    assert_int_equal(f->first.port, port);
    assert_int_equal(http_do(&f->first, tok, "GET",
                             "/clusters/c1/api/v1/namespaces/default/configmaps/kept", NULL, NULL,
                             &reply),
                     0);
    assert_int_equal(reply.status, 200);
    http_reply_free(&reply);
}

/* Writes in flight when SIGTERM arrives finish and the server exits 0: the
 * watch hub was freed before the HTTP stop, and a create committing in between
 * published to it (soak-fuzz found it; ASan: member access within null
 * pointer in mc_watch_hub_publish). Racy by nature: three rounds of eight
 * writers each. */
typedef struct writer {
    const server_process *server;
    char token[128];
    int index;
    volatile int *stop;
    int acknowledged;
} writer;

static void *write_until_stopped(void *arg)
{
    writer *w = arg;
    for (int i = 0; !*w->stop && i < 100000; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                 "\"w%d-%d\"}}",
                 w->index, i);
        http_reply reply;
        if (http_do(w->server, w->token, "POST",
                    "/clusters/c1/api/v1/namespaces/default/configmaps", body, NULL, &reply) != 0) {
            http_reply_free(&reply); /* http_do leaves a body even when it fails */
            break;                   /* the server went away */
        }
        w->acknowledged += reply.status == 201;
        http_reply_free(&reply);
    }
    return NULL;
}

static void test_sigterm_during_writes_exits_cleanly(void **state)
{
    fixture *f = *state;
    for (int round = 0; round < 3; round++) {
        const char *args[] = {"--cluster", "c1", NULL};
        assert_int_equal(server_process_start(&f->first, args), 0);
        volatile int stop = 0;
        writer writers[8];
        pthread_t threads[8];
        for (int i = 0; i < 8; i++) {
            writers[i] = (writer){&f->first, "", i + 8 * round, &stop, 0};
            snprintf(writers[i].token, sizeof(writers[i].token), "%s",
                     server_token(&f->first, "c1"));
            assert_int_equal(pthread_create(&threads[i], NULL, write_until_stopped, &writers[i]),
                             0);
        }
        server_client_sleep_ms(700);
        int rc = server_process_kill(&f->first, 0); /* SIGTERM while writes arrive */
        stop = 1;
        int acknowledged = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(threads[i], NULL);
            acknowledged += writers[i].acknowledged;
        }
        assert_true(acknowledged > 0); /* writes were really in flight */
        assert_int_equal(rc, 0);       /* exit status 0, no crash */
    }
}

/* A bad argument is refused before the new data directory is touched. */
static void test_bad_cluster_name_creates_nothing(void **state)
{
    fixture *f = *state;
    char dir[300], empty[300], err_path[300];
    snprintf(dir, sizeof(dir), "%s/new", f->scratch);
    snprintf(empty, sizeof(empty), "%s/empty", f->scratch);
    snprintf(err_path, sizeof(err_path), "%s/bad.err", f->scratch);
    assert_int_equal(mkdir(empty, 0700), 0);
    const char *bad_names[] = {"Bad_Name", "../escape", "a/b", ""};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        const char *args[] = {"--data-dir", dir,         "--listen",   "127.0.0.1:0", "--cluster",
                              "good",       "--cluster", bad_names[i], NULL};
        int status = run_server_expecting_exit(err_path, args);
        char *text = read_text(err_path);
        fprintf(stderr, "bad name \"%s\": status %d: %s", bad_names[i], status, text);
        assert_true(status > 0);
        assert_int_equal(count_entries(dir), -1); /* not even created */
        free(text);
        const char *args2[] = {"--data-dir", empty,       "--listen",   "127.0.0.1:0", "--cluster",
                               "good",       "--cluster", bad_names[i], NULL};
        status = run_server_expecting_exit(err_path, args2);
        assert_true(status > 0);
        assert_int_equal(count_entries(empty), 0);
    }
    const char *bad_listen[] = {"--data-dir", dir, "--listen", "example.invalid:0", NULL};
    assert_true(run_server_expecting_exit(err_path, bad_listen) > 0);
    assert_int_equal(count_entries(dir), -1);
}

/* With umask 0 and a world-writable data directory, the database and its
 * -wal and -shm are still 0600, and the server cannot dump core. */
static void test_store_files_private_and_no_core(void **state)
{
    fixture *f = *state;
    snprintf(f->first.dir, sizeof(f->first.dir), "%s/open", f->scratch);
    assert_int_equal(mkdir(f->first.dir, 0777), 0);
    assert_int_equal(chmod(f->first.dir, 0777), 0);
    mode_t old = umask(0);
    const char *args[] = {"--cluster", "c1", NULL};
    int rc = server_process_start(&f->first, args);
    umask(old);
    assert_int_equal(rc, 0);
    http_reply reply; /* a write, so that the WAL exists */
    char tok[128];
    snprintf(tok, sizeof(tok), "%s", server_token(&f->first, "c1"));
    assert_int_equal(
        http_do(&f->first, tok, "POST", "/clusters/c1/api/v1/namespaces/default/secrets",
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"}}", NULL,
                &reply),
        0);
    assert_int_equal(reply.status, 201);
    http_reply_free(&reply);
    const char *names[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[400];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", f->first.dir, names[i]);
        assert_int_equal(stat(path, &st), 0);
        fprintf(stderr, "%s: %o\n", names[i], (unsigned)(st.st_mode & 0777));
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    char limits_path[64];
    snprintf(limits_path, sizeof(limits_path), "/proc/%d/limits", (int)f->first.pid);
    char *limits = read_text(limits_path);
    const char *core = strstr(limits, "Max core file size");
    assert_non_null(core);
    int soft = -1, hard = -1;
    assert_int_equal(sscanf(core + strlen("Max core file size"), " %d %d", &soft, &hard), 2);
    assert_int_equal(soft, 0);
    assert_int_equal(hard, 0);
    free(limits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_server_on_same_port_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_server_on_same_dir_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_sigkill_next_server_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_during_writes_exits_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cluster_name_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_files_private_and_no_core, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
