/* workflow_fixture.h - test helper for the end-to-end workflow tests: a
 * `meshcert server` with clusters mgmt, east and west (namespaces, CRDs, the
 * RootRotation CRD on mgmt, and the registrations of east and west made;
 * wf_setup_clusters adds north for tests that need three managed clusters),
 * the `meshcert issuer` and one `meshcert agent` per managed cluster as real
 * processes with their logs in a work directory, and the checks the tests
 * share (states, cacerts saved and verified by the openssl and certtool
 * CLIs, no private key outside its cluster). Every process started is
 * stopped by wf_teardown, also when a test fails.
 *
 * The wf_assert and wf_wait functions fail the running cmocka test (after
 * printing the processes' logs) instead of returning an error.
 */
#ifndef MC_TEST_WORKFLOW_FIXTURE_H
#define MC_TEST_WORKFLOW_FIXTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/registration.h"
#include "kube/client.h"
#include "server_process.h"

#define WF_NS_MESHCERT "meshcert"
#define WF_NS_ISTIO    "istio-system"
/* Watched by the agents too (--watch-namespaces): an output namespace
 * workflow_test creates late, and workflow_chaos's pods to bounce. */
#define WF_NS_LATER     "mesh-later"
#define WF_NS_APPS      "apps"
#define WF_ORG          "Istio"
#define WF_TRUST_DOMAIN "cluster.local"
#define WF_HOST_SPIFFE  "spiffe://" WF_TRUST_DOMAIN "/ns/istio-system/sa/citadel"
#define WF_ROOT_SECRET  "root-ca"
#define WF_WAIT_MS      30000

/* WF_MANAGED: the managed clusters wf_setup makes (east, west);
 * wf_setup_clusters makes up to WF_MAX_MANAGED (north too). */
enum { WF_EAST = 0, WF_WEST = 1, WF_NORTH = 2, WF_MANAGED = 2, WF_MAX_MANAGED = 3 };
extern const char *const wf_managed_names[WF_MAX_MANAGED];

typedef struct wf_fixture {
    server_process server;
    mc_kube_client *mgmt;
    mc_kube_client *managed[WF_MAX_MANAGED];
    int managed_count; /* managed clusters made (WF_MANAGED unless wf_setup_clusters) */
    pid_t issuer;
    pid_t agents[WF_MAX_MANAGED];
    char work[64];                              /* temporary directory: logs, PEM files */
    char issuer_log[128];                       /* the issuer's stdout and stderr */
    char agent_logs[WF_MAX_MANAGED][128];       /* each agent's stdout and stderr */
    const char *key_types[WF_MAX_MANAGED];      /* each agent's --key-type [ec-p256];
                                                   "" runs it without (the default, rsa4096) */
    int generate_root;                          /* the issuer runs with --generate-root [1] */
    const char *issuer_extra[20];               /* more issuer arguments, NULL-terminated */
    const char *agent_extra[WF_MAX_MANAGED][4]; /* more agent arguments, NULL-terminated */
} wf_fixture;

/* Starts the server, makes the namespaces, CRDs and registrations; starts no
 * meshcert issuer or agent (wf_start_issuer, wf_start_agent). 0 or -1. */
int wf_setup(wf_fixture **out);

/* wf_setup with managed_count (1 to WF_MAX_MANAGED) managed clusters, the
 * first of wf_managed_names, each registered with the default policy. */
int wf_setup_clusters(wf_fixture **out, int managed_count);

/* Kills every process started, stops the server, removes the work directory. */
void wf_teardown(wf_fixture *f);

/* The end of a cmocka setup: stores f in *state and returns rc; when rc is
 * not 0, tears f down first (cmocka runs no teardown after a failed setup,
 * and the processes started must not outlive the test). */
int wf_setup_done(void **state, wf_fixture *f, int rc);

/* A cmocka teardown: wf_teardown(*state). */
int wf_cmocka_teardown(void **state);

/* Building blocks (also for tests with their own fixture): a client for a
 * cluster of the server (its kubeconfig); a namespace (existing is fine);
 * the three CRDs of deploy/crds; the registration of cluster on mgmt
 * (Secret meshcert/<cluster> of type solo.io/kubeconfig). MC_OK or an
 * error code, printed to stderr. */
int wf_client_for(const server_process *server, const char *cluster, mc_kube_client **out);
int wf_create_namespace(mc_kube_client *client, const char *name);
int wf_apply_crds(mc_kube_client *client);
/* One CRD of deploy/crds by file name (wf_setup applies rootrotations.yaml
 * to mgmt with it). */
int wf_apply_crd(mc_kube_client *client, const char *file);
int wf_register_cluster(const server_process *server, mc_kube_client *mgmt, const char *cluster);
/* The policy wf_register_cluster registers with: root meshcert/root-ca,
 * trust domain cluster.local, DNS suffix istio-system.svc, org Istio. 0 or
 * -1; clear it with mc_api_registration_policy_clear. */
int wf_default_policy(mc_api_registration_policy *policy);
/* Registers cluster with the given issuance policy (api/registration.h). */
int wf_register_cluster_with(const server_process *server, mc_kube_client *mgmt,
                             const char *cluster, const mc_api_registration_policy *policy);

/* Spawns the issuer (f->generate_root, f->issuer_extra) or the agent of a
 * managed cluster; output appended to its log. 0 or -1. */
int wf_start_issuer(wf_fixture *f);
int wf_start_agent(wf_fixture *f, int which);

/* wf_start_issuer, then wf_start_agent for each of the f->managed_count
 * managed clusters. 0 or -1. */
int wf_start_all(wf_fixture *f);

/* Sets f->issuer_extra to a Lease a SIGKILLed leader loses after 2 s, not
 * client-go's 15 s, for the tests that kill the issuer. */
void wf_use_fast_lease(wf_fixture *f);

/* SIGKILL and reap (no-op when *pid is 0); *pid becomes 0. */
void wf_kill(pid_t *pid);

/* SIGKILLs the issuer (who < 0) or the agent of managed cluster who, and
 * starts it again down_ms later; the test fails when it cannot. */
void wf_kill_restart(wf_fixture *f, int who, long down_ms);

/* SIGKILLs of the issuer and the agents at random moments, for the chaos
 * tests: the schedule comes from a seed (MC_CHAOS_SEED, else the time),
 * printed so that a failing run can be repeated. */
typedef struct wf_chaos {
    unsigned seed0;      /* the schedule's seed, as printed */
    unsigned seed;       /* rand_r state */
    long kill_gap_ms[2]; /* the time between two kills: from, to */
    long down_ms[2];     /* how long a killed process stays down: from, to */
    int issuer_kills, agent_kills;
    int down;           /* the process down: who + 2 (1: the issuer); 0: none */
    int64_t next_kill;  /* wf_now_ms() of the next kill */
    int64_t restart_at; /* wf_now_ms() of the restart of the process down */
} wf_chaos;

/* Seeds c (printing the seed) with the kill gap and down time ranges (ms). */
void wf_chaos_init(wf_chaos *c, long gap_from, long gap_to, long down_from, long down_to);

/* A number in [lo, hi] drawn from c's schedule. */
long wf_chaos_between(wf_chaos *c, long lo, long hi);

/* Schedules the first kill one kill gap after now. */
void wf_chaos_start(wf_chaos *c, int64_t now);

/* Starts the process that is down once its time has come; the test fails
 * when it cannot. */
void wf_chaos_restart_due(wf_fixture *f, wf_chaos *c, int64_t now);

/* When nothing is down and the time has come: SIGKILLs the issuer or one of
 * the f->managed_count agents at random, and schedules its restart and the
 * next kill. */
void wf_chaos_kill_due(wf_fixture *f, wf_chaos *c, int64_t now);

/* SIGTERM, then exit status 0 within 15 s, else the test fails. */
void wf_stop_cleanly(const wf_fixture *f, pid_t *pid, const char *what);

/* Fails the test with the message after printing the processes' logs. */
void wf_fail(const wf_fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void wf_sleep_ms(long ms);
int64_t wf_now_ms(void);
int wf_tool_on_path(const char *name);
/* Runs a command to completion, output to work/tools.log: its exit status,
 * -1 when it did not exit normally. */
int wf_run_tool(const wf_fixture *f, char *const *argv);

/* Spawns argv[0] (looked up on PATH) without waiting, stdout and stderr
 * appended to log (or /dev/null). 0, or -1 with *pid 0. */
int wf_spawn_logged(pid_t *pid, char *const *argv, const char *log);

/* Like wf_run_tool, with the command's stdout and stderr also returned in
 * *output (owned, NUL-terminated). */
int wf_run_output(const wf_fixture *f, char *const *argv, char **output);

const char *wf_str_at(const json_t *obj, const char *a, const char *b);
/* The decoded data[key] of a Secret (owned, NUL-terminated), or NULL. */
char *wf_secret_value(const json_t *secret, const char *key, size_t *len);
char *wf_read_text(const char *path);
void wf_write_text(const char *path, const char *text);

/* Creates obj (stolen) on a cluster, waiting for its CRD to be served. */
void wf_create(mc_kube_client *client, const mc_kube_resource *res, const char *ns, json_t *obj);

/* Creates IssuedCertificate meshcert/<name> (host WF_HOST_SPIFFE, org
 * WF_ORG, root WF_ROOT_SECRET or root_secret when not NULL) writing
 * istio-system/<output_secret>, bouncing per directive when not NULL. */
void wf_create_issued_certificate(mc_kube_client *client, const char *name,
                                  const char *output_secret, const char *root_secret,
                                  const char *directive);

typedef struct wf_ic_view {
    char state[32];
    char error[512];
    int64_t generation;
    int64_t observed;
} wf_ic_view;

int wf_ic_read(mc_kube_client *client, const char *name, wf_ic_view *view);

/* Waits (30 s) for IssuedCertificate meshcert/<name> to be in state for its
 * current generation (>= min_generation); the test fails otherwise. */
void wf_wait_ic_state(const wf_fixture *f, mc_kube_client *client, const char *cluster,
                      const char *name, const char *state, int64_t min_generation,
                      wf_ic_view *view);

/* Saves Secret istio-system/<secret> (Istio layout) to work/<subdir>/ with a
 * chain.pem for certtool; returns the Secret's uid (static buffer). */
const char *wf_save_cacerts(const wf_fixture *f, mc_kube_client *client, const char *secret,
                            const char *subdir);

/* openssl verify and certtool --verify-chain / --verify on work/<subdir>/. */
void wf_verify_with_tools(const wf_fixture *f, const char *subdir);

/* No private key generated by an agent (every Secret of type
 * generated_private_key on east and west) appears anywhere but in its own
 * cluster's key Secret and output Secrets: not in any object of any other
 * cluster, not in any other object of its own cluster (statuses, requests,
 * events), not in the issuer's or the agents' logs (which hold no "PRIVATE
 * KEY" at all). Returns how many keys were searched for. */
size_t wf_assert_no_key_leak(const wf_fixture *f);

#endif
