#!/usr/bin/env bash
# scale.sh - make bench-scale: the whole workflow at N managed clusters (default
# 10, 100 and 1000 in one run, one table): meshcert server with N+1 logical
# clusters, the issuer, and one agent per cluster (all agents in one process,
# bench_scale_agents: each with only its own cluster's kubeconfig and client,
# sharing one watch I/O thread). See bench/scale.py for what is measured and
# bench/RESULTS.md for results. Every process started is stopped on exit,
# failure or Ctrl-C, by PID; 127.0.0.1 only; work directory under /tmp.
# Usage: bench/scale.sh <build dir> [sizes, e.g. 10,100,1000]
#   env: N (same as the second argument), SCALE_KEEP=1 keeps the work directory.
set -uo pipefail

build=${1:-build}
sizes=${2:-${N:-10,100,1000}}
sizes=${sizes// /,}
here=$(cd "$(dirname "$0")" && pwd)
for b in src/cli/meshcert bench/bench_scale_agents bench/bench_pki; do
    [[ -x "$build/$b" ]] || { echo "scale: $build/$b not built (make bench-scale builds it)" >&2; exit 2; }
done
for tool in python3 openssl; do
    command -v "$tool" >/dev/null || { echo "scale: $tool is needed" >&2; exit 2; }
done
build=$(cd "$build" && pwd)
# 1 000 clusters: ~11 000 TLS connections at the server
ulimit -n "$(ulimit -Hn)" 2>/dev/null
work=$(mktemp -d /tmp/mc-scale-XXXXXX)
driver_pid=

cleanup() {
    local rc=$?
    trap '' INT TERM
    if [[ -n "$driver_pid" ]]; then
        kill -TERM "$driver_pid" 2>/dev/null
        for _ in $(seq 600); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$driver_pid" 2>/dev/null
        wait "$driver_pid" 2>/dev/null
    fi
    # the driver's children, should it have died without stopping them
    if [[ -f "$work/pids" ]]; then
        while read -r pid; do
            [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
        done <"$work/pids"
    fi
    if [[ ${SCALE_KEEP:-0} == 1 || $rc -ne 0 ]]; then
        echo "scale: work directory kept: $work (n*/logs/)" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench-scale: sizes $sizes; machine $(nproc) cores; $(uptime)"
echo "bench-scale: $(openssl version); fd limit $(ulimit -n)"
python3 "$here/scale.py" --meshcert "$build/src/cli/meshcert" --agents "$build/bench/bench_scale_agents" \
    --pki-bench "$build/bench/bench_pki" --work "$work" --sizes "$sizes" &
driver_pid=$!
rc=0
wait "$driver_pid" || rc=$?
driver_pid=
echo "bench-scale: finished; $(uptime)"
exit "$rc"
