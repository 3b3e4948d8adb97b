/* fuzz_server_dispatch.c - libFuzzer target: the embedded server's request
 * routing and dispatch (mc_server_dispatch: health, authentication,
 * discovery, the verbs, watches), below the HTTPS transport.
 *
 * A real server runs (clusters c1 and c2 in a scratch data directory, loopback,
 * port 0); each input is one request, handed to the dispatcher as the daemon
 * would:
 *     METHOD PATH[?QUERY]\n
 *     Header: value\n ...
 *     \n
 *     BODY
 * The right bearer token for the cluster is added unless the input carries
 * an Authorization header. A watch's stream is created and then dropped (the
 * client hung up).
 */
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http.h"
#include "server/internal.h"
#include "server/server.h"
#include "util/file.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_PAIRS 32

typedef struct pair {
    const char *key;
    const char *value;
} pair;

typedef struct fuzz_request {
    pair query[MAX_PAIRS];
    size_t query_len;
    pair headers[MAX_PAIRS];
    size_t headers_len;
} fuzz_request;

static mc_server *server;
static char data_dir[64];
static char bearer[128];

static const char *lookup(void *ctx, enum MHD_ValueKind kind, const char *key)
{
    const fuzz_request *r = ctx;
    const pair *pairs = kind == MHD_GET_ARGUMENT_KIND ? r->query : r->headers;
    size_t n = kind == MHD_GET_ARGUMENT_KIND ? r->query_len : r->headers_len;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(pairs[i].key, key) == 0)
            return pairs[i].value;
    return NULL;
}

static void stop_server(void)
{
    mc_server_stop(server);
    server = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
    if (data_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", data_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mc_log_configure(MC_LOG_OFF, MC_LOG_TEXT, NULL);
    snprintf(data_dir, sizeof(data_dir), "/tmp/mc-fuzz-server-XXXXXX");
    if (!mkdtemp(data_dir))
        abort();
    const char *clusters[] = {"c1", "c2"};
    mc_server_config config;
    memset(&config, 0, sizeof(config));
    config.data_dir = data_dir;
    config.listen_host = "127.0.0.1";
    config.clusters = clusters;
    config.cluster_count = 2;
    mc_err err = {0};
    if (mc_server_start(&config, &server, &err) != 0) {
        fprintf(stderr, "fuzz_server_dispatch: %s\n", err.msg);
        abort();
    }
    atexit(stop_server);
    char path[128], *token = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/tokens/c1", data_dir);
    if (mc_file_read(path, 256, &token, &len, &err) != 0)
        abort();
    snprintf(bearer, sizeof(bearer), "Bearer %.*s", (int)len, token);
    free(token);
    return 0;
}

/* Splits "k=v&k2=v2" in place into pairs (no percent-decoding: MHD's is
 * outside what this target covers). */
static void parse_query(char *query, fuzz_request *r)
{
    for (char *p = query; p && *p && r->query_len < MAX_PAIRS;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        r->query[r->query_len].key = p;
        r->query[r->query_len].value = eq ? eq + 1 : "";
        r->query_len++;
        p = amp ? amp + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MC_SERVER_BODY_MAX + 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_request r;
    memset(&r, 0, sizeof(r));
    /* request line */
    char *line_end = memchr(text, '\n', size);
    char *rest = line_end ? line_end + 1 : text + size;
    if (line_end)
        *line_end = '\0';
    char *space = strchr(text, ' ');
    const char *method = space ? text : "GET";
    char *url = space ? space + 1 : text;
    if (space)
        *space = '\0';
    char *question = strchr(url, '?');
    if (question) {
        *question = '\0';
        parse_query(question + 1, &r);
    }
    /* headers up to an empty line */
    int authorization = 0;
    while (rest < text + size && *rest != '\n' && r.headers_len < MAX_PAIRS) {
        char *end = strchr(rest, '\n');
        if (end)
            *end = '\0';
        char *colon = strchr(rest, ':');
        if (colon) {
            *colon = '\0';
            const char *value = colon + 1;
            while (*value == ' ')
                value++;
            r.headers[r.headers_len].key = rest;
            r.headers[r.headers_len].value = value;
            authorization |= strcasecmp(rest, "Authorization") == 0;
            r.headers_len++;
        }
        rest = end ? end + 1 : text + size;
    }
    if (rest < text + size && *rest == '\n')
        rest++;
    if (!authorization && r.headers_len < MAX_PAIRS) {
        r.headers[r.headers_len].key = "Authorization";
        r.headers[r.headers_len].value = bearer;
        r.headers_len++;
    }
    size_t body_len = (size_t)(text + size - rest);
    mc_server_input in = {NULL,     lookup,
                          &r,       url,
                          method,   body_len ? rest : NULL,
                          body_len, body_len > MC_SERVER_BODY_MAX};
    mc_server_reply reply = {500, NULL, "application/json", NULL, 0, 0};
    mc_server_dispatch(server, &in, &reply);
    /* Every reply is a body or a stream; a body is a Status or a document. */
    if (!reply.body && !reply.stream)
        abort();
    if (reply.status < 100 || reply.status > 599)
        abort();
    if (reply.stream)
        MHD_destroy_response(reply.stream);
    free(reply.body);
    free(text);
    return 0;
}
