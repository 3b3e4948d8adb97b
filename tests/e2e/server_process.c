/* server_process.c - runs meshcert server for tests (see server_process.h). */
#include "server_process.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int read_port(const char *dir)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/server.json", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char text[256] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"port\":");
    return p ? atoi(p + 7) : 0;
}

int server_process_start(server_process *sp, const char *const *extra_args)
{
    if (!sp->dir[0]) {
        snprintf(sp->dir, sizeof(sp->dir), "/tmp/mc-server-test-XXXXXX");
        if (!mkdtemp(sp->dir))
            return -1;
    }
    char server_json[400];
    snprintf(server_json, sizeof(server_json), "%s/server.json", sp->dir);
    unlink(server_json);
    const char *argv[512];
    size_t argc = 0;
    argv[argc++] = MESHCERT_BIN;
    argv[argc++] = "server";
    argv[argc++] = "--data-dir";
    argv[argc++] = sp->dir;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--log-level";
    argv[argc++] = "warn";
    for (size_t i = 0; extra_args && extra_args[i] && argc < 510; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&sp->pid, MESHCERT_BIN, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        sp->pid = 0;
        return -1;
    }
    for (int i = 0; i < 300; i++) { /* up to 15 s */
        sp->port = read_port(sp->dir);
        if (sp->port > 0)
            break;
        int status;
        if (waitpid(sp->pid, &status, WNOHANG) == sp->pid) {
            sp->pid = 0;
            return -1;
        }
        sleep_ms(50);
    }
    if (sp->port <= 0)
        return -1;
    snprintf(sp->base, sizeof(sp->base), "https://127.0.0.1:%d", sp->port);
    snprintf(sp->ca_path, sizeof(sp->ca_path), "%s/ca-cert.pem", sp->dir);
    http_reply reply;
    for (int i = 0; i < 100; i++) {
        if (http_do(sp, NULL, "GET", "/healthz", NULL, NULL, &reply) == 0 && reply.status == 200) {
            http_reply_free(&reply);
            return 0;
        }
        http_reply_free(&reply);
        sleep_ms(50);
    }
    return -1;
}

int server_process_kill(server_process *sp, int hard)
{
    if (sp->pid <= 0)
        return 0;
    kill(sp->pid, hard ? SIGKILL : SIGTERM);
    int status = 0;
    waitpid(sp->pid, &status, 0);
    sp->pid = 0;
    if (hard)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "meshcert server did not stop cleanly: %s %d\n",
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return -1;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int server_process_stop(server_process *sp)
{
    int rc = server_process_kill(sp, 0);
    if (sp->dir[0])
        remove_tree(sp->dir);
    sp->dir[0] = '\0';
    return rc;
}

const char *server_token(const server_process *sp, const char *cluster)
{
    static char token[128];
    char path[400];
    snprintf(path, sizeof(path), "%s/tokens/%s", sp->dir, cluster);
    FILE *f = fopen(path, "r");
    token[0] = '\0';
    if (f) {
        size_t n = fread(token, 1, sizeof(token) - 1, f);
        token[n] = '\0';
        fclose(f);
    }
    return token;
}

typedef struct growbuf {
    char *data;
    size_t len;
} growbuf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    growbuf *b = userdata;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int http_do(const server_process *sp, const char *token, const char *method, const char *path,
            const char *body, const char *content_type, http_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    CURL *curl = curl_easy_init();
    if (!curl)
        return -1;
    char url[2048], auth[256], ctype[256];
    snprintf(url, sizeof(url), "%s%s", sp->base, path);
    struct curl_slist *headers = NULL;
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    snprintf(ctype, sizeof(ctype), "Content-Type: %s",
             content_type ? content_type : "application/json");
    headers = curl_slist_append(headers, ctype);
    headers = curl_slist_append(headers, "Accept: application/json");
    growbuf b = {NULL, 0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CAINFO, sp->ca_path);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    reply->body = b.data ? b.data : calloc(1, 1);
    if (rc != CURLE_OK)
        return -1;
    json_error_t jerr;
    reply->json = json_loads(reply->body, 0, &jerr);
    return 0;
}

void http_reply_free(http_reply *reply)
{
    free(reply->body);
    json_decref(reply->json);
    memset(reply, 0, sizeof(*reply));
}
