/* server_process.h - test helper: runs `meshcert server` as a real process
 * on a free loopback port in a temporary data directory, and talks to it over
 * HTTPS with libcurl (verifying its certificate against the server's CA).
 * Every process started is stopped by server_process_stop, also when a test
 * fails (cmocka teardown).
 */
#ifndef MC_TEST_SERVER_PROCESS_H
#define MC_TEST_SERVER_PROCESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct server_process {
    char dir[256];       /* data directory (removed by stop) */
    char base[128];      /* https://127.0.0.1:<port> */
    int port;
    pid_t pid;           /* 0 when not running */
    char ca_path[300];   /* dir/ca-cert.pem */
} server_process;

/* Starts the server binary (MESHCERT_BIN) with the given extra arguments
 * (NULL-terminated) and waits until /healthz answers. dir: reuse this data
 * directory when not empty (a restart), else a new temporary one. */
int server_process_start(server_process *sp, const char *const *extra_args);

/* SIGKILLs (hard != 0) or SIGTERMs the server and waits for it. Returns 0
 * when it stopped cleanly (SIGKILL, or exit status 0 after SIGTERM: under
 * ASan a leak makes the exit status non-zero), -1 otherwise. */
int server_process_kill(server_process *sp, int hard);

/* Stops the server (SIGTERM) if running and removes the data directory;
 * returns server_process_kill's result. */
int server_process_stop(server_process *sp);

/* The admin token of a cluster (static buffer). */
const char *server_token(const server_process *sp, const char *cluster);

typedef struct http_reply {
    long status;
    char *body;     /* NUL-terminated, owned */
    json_t *json;   /* parsed body or NULL */
} http_reply;

/* One request. token may be NULL (no Authorization header); content_type
 * defaults to application/json. Returns 0 when the exchange happened. */
int http_do(const server_process *sp, const char *token, const char *method, const char *path,
            const char *body, const char *content_type, http_reply *reply);

void http_reply_free(http_reply *reply);

#endif
