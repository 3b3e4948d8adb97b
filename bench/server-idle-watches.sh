#!/usr/bin/env bash
# bench/server-idle-watches.sh MESHCERT WATCHES [SECONDS]: the CPU `meshcert
# server` spends holding WATCHES idle watch streams (issue 13: the peer check
# of suspended watches). Starts a server with 10 clusters, opens WATCHES
# watches of namespaces (spread over the clusters, no bookmarks, timeout 1 h)
# from one Python process, waits 5 s, then prints the server's CPU over
# SECONDS (default 30) as a share of one core, and how long the server takes
# to release 500 watches whose clients hang up at once (its fd count back).
# Everything it starts is killed on exit; the data goes to a temporary dir.
set -euo pipefail
MESHCERT=$(realpath "$1")
WATCHES=$2
SECONDS_MEASURED=${3:-30}
DIR=$(mktemp -d /tmp/server-idle-watches.XXXXXX)
. "$(dirname "$0")/lib.sh"
args=()
for i in $(seq 10); do args+=(--cluster "c$i"); done
bench_start_server "$MESHCERT" "${args[@]}"
python3 - "$port" "$DIR/srv" "$WATCHES" "$server" "$SECONDS_MEASURED" <<'EOF'
import concurrent.futures, os, socket, ssl, sys, time
port, srv, n, pid, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))
ctx = ssl.create_default_context(cafile=f"{srv}/ca-cert.pem")
tokens = [open(f"{srv}/tokens/c{i}").read().strip() for i in range(1, 11)]
def open_watch(i):
    c = i % 10
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
    s.sendall((f"GET /clusters/c{c + 1}/api/v1/namespaces?watch=true&timeoutSeconds=3600 HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {tokens[c]}\r\n\r\n").encode())
    if not s.recv(4096).startswith(b"HTTP/1.1 200"):
        sys.exit(f"watch {i} refused")
    return s
t0 = time.time()
# each watch waits ~40 ms for its first bytes (delayed ACK): 32 at a time
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    socks = list(pool.map(open_watch, range(n)))
print(f"{n} watches open in {time.time() - t0:.1f} s; server fds {fds()}")
time.sleep(5)
c0, w0 = cpu(), time.time()
time.sleep(seconds)
c1, w1 = cpu(), time.time()
print(f"server CPU while idle: {c1 - c0:.2f} s in {w1 - w0:.1f} s = {100 * (c1 - c0) / (w1 - w0):.1f} % of a core")
before = fds()
gone = min(500, n)
t0 = time.time()
for s in socks[:gone]:
    s.close()
while fds() > before - gone and time.time() - t0 < 30:
    time.sleep(0.01)
print(f"{gone} hung-up watches released in {time.time() - t0:.2f} s (server fds {before} -> {fds()})")
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
