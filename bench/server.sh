#!/bin/sh
# make bench-server: the embedded server against the raw SQLite ceiling,
# measured in one run on this machine, in two phases:
#  1. in-process (bench_server): raw SQLite inserts/s with the store's
#     durability (WAL, synchronous=NORMAL, one transaction per write), the
#     store's creates/s, gets/s, list time and RSS, and watch fan-out over
#     plain loopback HTTP with a test daemon;
#  2. end to end (bench_server_https): the real `meshcert server` process over
#     HTTPS, as users see it: creates/s and gets/s with 1 and 16 keep-alive
#     connections, list time, server RSS, watch delivery to 1 000 watches.
# Then the ratios the targets are stated in, for both phases: creates/s >=
# 0.5 x raw SQLite inserts/s, and p99 watch delivery <= 50 ms with 1 000
# concurrent watches. A missed target is printed as MISSED.
# Usage: bench/server.sh <build dir> [objects] [watchers]
set -eu
build=${1:-build}
objects=${2:-20000}
watchers=${3:-1000}
bench="$build/bench/bench_server"
https="$build/bench/bench_server_https"
meshcert="$build/src/cli/meshcert"
for f in "$bench" "$https" "$meshcert"; do
  [ -x "$f" ] || { echo "bench/server.sh: $f not built (run make build)"; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== phase 1: store in-process, watch over plain HTTP"
"$bench" "$objects" "$watchers" | tee "$out"
echo "== phase 2: meshcert server process over HTTPS"
"$https" "$meshcert" "$objects" "$watchers" | tee -a "$out"
value() { awk -v k="$1" '$1 == k { print $2 }' "$out"; }
echo
echo "== ratios (raw SQLite ceiling: $(value sqlite_inserts) inserts/s)"
awk -v s="$(value sqlite_inserts)" -v store="$(value store_creates)" \
    -v c1="$(value https_creates_c1)" -v c16="$(value https_creates_c16)" \
    -v p99="$(value watch_delivery_p99)" -v hp99="$(value https_watch_delivery_p99)" \
    -v w="$watchers" 'BEGIN {
  creates("store creates/s (in-process)", store)
  creates("HTTPS creates/s, 1 connection", c1)
  creates("HTTPS creates/s, 16 connections", c16)
  watch("p99 watch delivery, plain HTTP test daemon", p99)
  watch("p99 watch delivery, meshcert server over TLS", hp99)
}
function creates(what, c,   r) {
  r = c / s
  printf "%-46s %8.0f / %.0f = %.2f (target >= 0.50) %s\n", what, c, s, r, (r >= 0.5 ? "ok" : "MISSED")
}
function watch(what, p) {
  printf "%-46s %8.2f ms, %d watches (target <= 50 ms) %s\n", what, p, w, (p <= 50 ? "ok" : "MISSED")
}'
