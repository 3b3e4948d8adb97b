#!/usr/bin/env bash
# soak_kill.sh - make soak-kill: ROUNDS (default 200) rounds of kill -9 of a
# random one of `meshcert server`, the issuer and the two agents during
# issuances, then convergence and the checks of bench/soak_kill.py: 0 lost
# acknowledged writes, 0 IssuedCertificates with two live keys, 0 pods bounced
# twice for one issuance, 0 broken chains (openssl verify of every output).
# Not a CI test: a soak run. Every process started is stopped on exit,
# failure or Ctrl-C, by PID.
# Usage: bench/soak_kill.sh <build dir> [rounds]
#   env: ROUNDS, SOAK_SEED, SOAK_KEEP=1 keeps the work directory (logs, outputs).
set -uo pipefail

build=${1:-build}
rounds=${2:-${ROUNDS:-200}}
seed=${SOAK_SEED:-$(date +%s)}
bin=$build/src/cli/meshcert
here=$(cd "$(dirname "$0")" && pwd)
[[ -x "$bin" ]] || { echo "soak_kill: $bin not built (run make build)" >&2; exit 2; }
for tool in python3 openssl; do
    command -v "$tool" >/dev/null || { echo "soak_kill: $tool is needed" >&2; exit 2; }
done
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(mktemp -d /tmp/mc-soak-kill-XXXXXX)
driver_pid=

cleanup() {
    local rc=$?
    trap '' INT TERM
    if [[ -n "$driver_pid" ]]; then
        kill -TERM "$driver_pid" 2>/dev/null
        for _ in $(seq 300); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$driver_pid" 2>/dev/null
        wait "$driver_pid" 2>/dev/null
    fi
    # the driver's children, should it have died without stopping them
    if [[ -f "$work/pids" ]]; then
        while read -r pid; do
            [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
        done <"$work/pids"
    fi
    if [[ ${SOAK_KEEP:-0} == 1 || $rc -ne 0 ]]; then
        echo "soak_kill: work directory kept: $work (logs/, out/)" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "soak-kill: machine $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/soak_kill.py" --meshcert "$bin" --work "$work" --rounds "$rounds" --seed "$seed" &
driver_pid=$!
rc=0
wait "$driver_pid" || rc=$?
driver_pid=
exit "$rc"
