#!/bin/sh
# make bench-server: the embedded server's store and watch fan-out against
# the raw SQLite ceiling, measured in one run on this machine.
#
# Prints bench_server's figures, then the ratios the targets are stated in:
# store creates/s >= 0.5 x raw SQLite inserts/s (same durability settings:
# WAL, synchronous=NORMAL, one transaction per write), and p99 watch delivery
# <= 50 ms with 1 000 concurrent watches.
# Usage: bench/server.sh <build dir> [objects] [watchers]
set -eu
build=${1:-build}
objects=${2:-20000}
watchers=${3:-1000}
bench="$build/bench/bench_server"
[ -x "$bench" ] || { echo "bench/server.sh: $bench not built (run make build)"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" "$objects" "$watchers" | tee "$out"
value() { awk -v k="$1" '$1 == k { print $2 }' "$out"; }
sqlite=$(value sqlite_inserts)
creates=$(value store_creates)
p99=$(value watch_delivery_p99)
echo
awk -v c="$creates" -v s="$sqlite" -v p="$p99" 'BEGIN {
  r = c / s
  printf "creates/s vs raw SQLite inserts/s: %.2f (target >= 0.50) %s\n", r, (r >= 0.5 ? "ok" : "MISSED")
  printf "p99 watch delivery: %.2f ms (target <= 50 ms) %s\n", p, (p <= 50 ? "ok" : "MISSED")
}'
