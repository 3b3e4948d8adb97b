/* tcp_proxy.h - test helper: a loopback TCP proxy in front of a server that
 * can cut every connection (RST) and stall traffic on command, so that tests
 * can break watch streams mid-flight and partition a client from the server.
 * One thread; every socket it opened is closed by tcp_proxy_stop.
 */
#ifndef MC_TEST_TCP_PROXY_H
#define MC_TEST_TCP_PROXY_H

typedef struct tcp_proxy tcp_proxy;

/* Listens on 127.0.0.1:<free port>, forwarding to 127.0.0.1:upstream_port.
 * 0 on success. */
int tcp_proxy_start(int upstream_port, tcp_proxy **out);

/* The port it listens on. */
int tcp_proxy_port(const tcp_proxy *proxy);

/* Resets every open connection (both sides). */
void tcp_proxy_cut(tcp_proxy *proxy);

/* stalled = 1: stop moving bytes on open connections and hold new ones
 * unconnected; 0: resume (held connections then reach the server). */
void tcp_proxy_stall(tcp_proxy *proxy, int stalled);

/* Connections accepted so far. */
unsigned tcp_proxy_accepted(tcp_proxy *proxy);

/* Stops the thread and closes every socket. Accepts NULL. */
void tcp_proxy_stop(tcp_proxy *proxy);

#endif
