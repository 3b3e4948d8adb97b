/* tcp_proxy.c - the cutting, stalling loopback proxy (see tcp_proxy.h).
 *
 * One poll() loop over the listening socket, a wake-up pipe and each
 * connection pair. Commands (cut, stall) are flags under a mutex that the
 * loop applies when the pipe wakes it.
 */
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_MAX_PAIRS 256

typedef struct proxy_pair {
    int client;   /* accepted socket */
    int upstream; /* socket to the server, -1 while held */
} proxy_pair;

struct tcp_proxy {
    int listen_fd;                     /* immutable after start */
    int port;                          /* immutable after start */
    int upstream_port;                 /* immutable after start */
    int wake[2];                       /* pipe: commands wake the loop */
    pthread_t thread;                  /* the loop */
    pthread_mutex_t lock;              /* guards the command fields */
    int stop;                          /* (lock) */
    int cut;                           /* a cut is pending (lock) */
    int stalled;                       /* (lock) */
    unsigned accepted;                 /* (lock) */
    proxy_pair pairs[PROXY_MAX_PAIRS]; /* loop thread only */
    int pair_count;                    /* loop thread only */
};

static void reset_close(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {1, 0}; /* close with RST, as a dropped route looks to curl */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static int connect_upstream(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void drop_pair(tcp_proxy *proxy, int i)
{
    reset_close(proxy->pairs[i].client);
    reset_close(proxy->pairs[i].upstream);
    proxy->pairs[i] = proxy->pairs[--proxy->pair_count];
}

/* Copies what is readable on from to to; -1 when either side is done. */
static int pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *proxy_main(void *arg)
{
    tcp_proxy *proxy = arg;
    struct pollfd fds[2 + 2 * PROXY_MAX_PAIRS];
    for (;;) {
        pthread_mutex_lock(&proxy->lock);
        int stop = proxy->stop, cut = proxy->cut, stalled = proxy->stalled;
        proxy->cut = 0;
        pthread_mutex_unlock(&proxy->lock);
        if (stop)
            break;
        if (cut) {
            while (proxy->pair_count > 0)
                drop_pair(proxy, proxy->pair_count - 1);
        }
        if (!stalled) {
            for (int i = 0; i < proxy->pair_count; i++) {
                if (proxy->pairs[i].upstream < 0)
                    proxy->pairs[i].upstream = connect_upstream(proxy->upstream_port);
                if (proxy->pairs[i].upstream < 0)
                    drop_pair(proxy, i--);
            }
        }
        int nfds = 0;
        fds[nfds++] = (struct pollfd){proxy->wake[0], POLLIN, 0};
        fds[nfds++] = (struct pollfd){proxy->listen_fd, POLLIN, 0};
        if (!stalled) {
            for (int i = 0; i < proxy->pair_count; i++) {
                fds[nfds++] = (struct pollfd){proxy->pairs[i].client, POLLIN, 0};
                fds[nfds++] = (struct pollfd){proxy->pairs[i].upstream, POLLIN, 0};
            }
        }
        if (poll(fds, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents) {
            char drain[64];
            if (read(proxy->wake[0], drain, sizeof(drain)) < 0) {
            }
        }
        if (fds[1].revents & POLLIN) {
            int fd = accept(proxy->listen_fd, NULL, NULL);
            if (fd >= 0) {
                if (proxy->pair_count == PROXY_MAX_PAIRS) {
                    reset_close(fd);
                } else {
                    int upstream = stalled ? -1 : connect_upstream(proxy->upstream_port);
                    proxy->pairs[proxy->pair_count++] = (proxy_pair){fd, upstream};
                    pthread_mutex_lock(&proxy->lock);
                    proxy->accepted++;
                    pthread_mutex_unlock(&proxy->lock);
                }
            }
        }
        /* A stall asked for while poll waited holds from now on: bytes that
         * arrived together with the wake-up are not forwarded either. */
        pthread_mutex_lock(&proxy->lock);
        stalled |= proxy->stalled;
        pthread_mutex_unlock(&proxy->lock);
        if (stalled)
            continue;
        /* Pairs polled this round are the first (nfds - 2) / 2; any added by
         * the accept above are polled next round. */
        for (int i = (nfds - 2) / 2 - 1; i >= 0; i--) {
            struct pollfd *c = &fds[2 + 2 * i], *u = &fds[3 + 2 * i];
            int dead = 0;
            if (c->revents & (POLLIN | POLLHUP | POLLERR))
                dead |= pump(proxy->pairs[i].client, proxy->pairs[i].upstream) != 0;
            if (!dead && (u->revents & (POLLIN | POLLHUP | POLLERR)))
                dead |= pump(proxy->pairs[i].upstream, proxy->pairs[i].client) != 0;
            if (dead)
                drop_pair(proxy, i);
        }
    }
    while (proxy->pair_count > 0)
        drop_pair(proxy, proxy->pair_count - 1);
    return NULL;
}

static void wake(tcp_proxy *proxy)
{
    if (write(proxy->wake[1], "x", 1) < 0) {
    }
}

int tcp_proxy_start(int upstream_port, tcp_proxy **out)
{
    *out = NULL;
    tcp_proxy *proxy = calloc(1, sizeof(*proxy));
    if (!proxy)
        return -1;
    proxy->upstream_port = upstream_port;
    proxy->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (proxy->listen_fd < 0 || bind(proxy->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
        listen(proxy->listen_fd, 64) ||
        getsockname(proxy->listen_fd, (struct sockaddr *)&addr, &len) || pipe(proxy->wake) != 0) {
        if (proxy->listen_fd >= 0)
            close(proxy->listen_fd);
        free(proxy);
        return -1;
    }
    proxy->port = ntohs(addr.sin_port);
    pthread_mutex_init(&proxy->lock, NULL);
    if (pthread_create(&proxy->thread, NULL, proxy_main, proxy) != 0) {
        close(proxy->listen_fd);
        close(proxy->wake[0]);
        close(proxy->wake[1]);
        pthread_mutex_destroy(&proxy->lock);
        free(proxy);
        return -1;
    }
    *out = proxy;
    return 0;
}

int tcp_proxy_port(const tcp_proxy *proxy)
{
    return proxy->port;
}

void tcp_proxy_cut(tcp_proxy *proxy)
{
    pthread_mutex_lock(&proxy->lock);
    proxy->cut = 1;
    pthread_mutex_unlock(&proxy->lock);
    wake(proxy);
}

void tcp_proxy_stall(tcp_proxy *proxy, int stalled)
{
    pthread_mutex_lock(&proxy->lock);
    proxy->stalled = stalled;
    pthread_mutex_unlock(&proxy->lock);
    wake(proxy);
}

unsigned tcp_proxy_accepted(tcp_proxy *proxy)
{
    pthread_mutex_lock(&proxy->lock);
    unsigned n = proxy->accepted;
    pthread_mutex_unlock(&proxy->lock);
    return n;
}

void tcp_proxy_stop(tcp_proxy *proxy)
{
    if (!proxy)
        return;
    pthread_mutex_lock(&proxy->lock);
    proxy->stop = 1;
    pthread_mutex_unlock(&proxy->lock);
    wake(proxy);
    pthread_join(proxy->thread, NULL);
    close(proxy->listen_fd);
    close(proxy->wake[0]);
    close(proxy->wake[1]);
    pthread_mutex_destroy(&proxy->lock);
    free(proxy);
}
