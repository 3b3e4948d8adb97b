/* leader_candidate.c - test program: campaigns for a Lease with short
 * durations (lease 3 s, renew deadline 2 s, retry 0.5 s) and appends
 * "acquired <identity> <monotonic ms>" / "lost <identity> <monotonic ms>"
 * lines to a record file (one write(2) with O_APPEND per line, so lines of
 * several candidates never interleave). Stops, releasing the Lease, on
 * SIGTERM. Usage: leader_candidate KUBECONFIG IDENTITY RECORD_FILE
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/client.h"
#include "kube/config.h"
#include "runtime/leader.h"
#include "util/log.h"

typedef struct candidate {
    const char *identity;
    int record_fd;
} candidate;

static void record(candidate *c, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %s %lld\n", what, c->identity,
                     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (n > 0 && write(c->record_fd, line, (size_t)n) != n)
        fprintf(stderr, "leader_candidate: cannot write the record\n");
}

static void on_started(void *ctx)
{
    record(ctx, "acquired");
}

static void on_stopped(void *ctx)
{
    record(ctx, "lost");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: leader_candidate KUBECONFIG IDENTITY RECORD_FILE\n");
        return 2;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* threads inherit the mask */
    mc_log_configure(MC_LOG_WARN, MC_LOG_TEXT, NULL);
    candidate c = {argv[2], open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)};
    mc_kube_config *config = NULL;
    mc_kube_client *client = NULL;
    mc_leader *leader = NULL;
    mc_err err;
    mc_err_clear(&err);
    int status = 1;
    if (c.record_fd < 0) {
        fprintf(stderr, "leader_candidate: cannot open %s\n", argv[3]);
        return 1;
    }
    if (mc_kube_config_load_file(argv[1], NULL, &config, &err) != MC_OK ||
        mc_kube_client_new(config, NULL, &client, &err) != MC_OK)
        goto out;
    mc_leader_options options = {"default", "meshcert-test", c.identity, 3000, 2000,
                                 500,       on_started,      on_stopped, &c};
    if (mc_leader_new(client, &options, &leader, &err) != MC_OK ||
        mc_leader_start(leader, &err) != MC_OK)
        goto out;
    int sig = 0;
    sigwait(&signals, &sig);
    mc_leader_stop(leader);
    status = 0;
out:
    if (status != 0)
        fprintf(stderr, "leader_candidate %s: %s\n", c.identity, err.msg);
    mc_leader_free(leader);
    mc_kube_client_free(client);
    mc_kube_config_free(config);
    close(c.record_fd);
    return status;
}
