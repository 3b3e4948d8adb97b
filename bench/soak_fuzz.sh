#!/usr/bin/env bash
# soak_fuzz.sh - make soak-fuzz: the ASan/UBSan-built `meshcert server`
# (clusters c1 and c2, seeded objects) under mutated HTTPS requests for
# SOAK_SECONDS (default 3600), driven by bench/soak_fuzz.py, while a canary
# writer makes only valid writes in namespace "canary". Afterwards:
#   - the server was alive all along and /healthz answered every check;
#   - SIGTERM stops it with exit status 0 and its log holds no sanitizer
#     report (AddressSanitizer, LeakSanitizer, UBSan "runtime error");
#   - PRAGMA integrity_check on store.db says ok;
#   - restarted on the same data, every canary write acknowledged with
#     200/201 is there (and every acknowledged delete is gone).
# Prints a summary; exit 0 only when all hold. Not a CI test: a soak run.
# Usage: bench/soak_fuzz.sh <asan build dir> [seconds]
#   env: SOAK_SECONDS, SOAK_SEED, SOAK_WORKERS (2), SOAK_HEALTH_EVERY (10 s),
#        SOAK_KEEP=1 keeps the work directory, SOAK_AVOID_KNOWN=1 steps around
#        the crashes already found (see bench/RESULTS.md) to look for others.
set -uo pipefail

build=${1:-build-asan}
seconds=${2:-${SOAK_SECONDS:-3600}}
seed=${SOAK_SEED:-$(date +%s)}
bin=$build/src/cli/meshcert
here=$(cd "$(dirname "$0")" && pwd)
[[ -x "$bin" ]] || { echo "soak_fuzz: $bin not built (make soak-fuzz builds $build with -DMC_SANITIZE=ON)" >&2; exit 2; }
grep -q 'MC_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null ||
    echo "soak_fuzz: warning: $build is not a -DMC_SANITIZE=ON build; memory errors may go unseen" >&2
for tool in python3 sqlite3; do
    command -v "$tool" >/dev/null || { echo "soak_fuzz: $tool is needed" >&2; exit 2; }
done
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d /tmp/mc-soak-fuzz-XXXXXX)
data=$work/data
log=$work/server.log
server_pid=
driver_pid=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-}

cleanup() {
    local rc=$?
    trap '' INT TERM
    [[ -n "$driver_pid" ]] && kill "$driver_pid" 2>/dev/null && wait "$driver_pid" 2>/dev/null
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    if [[ ${SOAK_KEEP:-0} == 1 || $rc -ne 0 ]]; then
        echo "soak_fuzz: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# what a crash or a sanitizer leaves in the server's log
reports='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|Assertion .* failed|Segmentation fault'
port=
start_server() { # port 0 the first time, the same port on restart
    "$bin" server --data-dir "$data" --listen "127.0.0.1:${port:-0}" --cluster c1 --cluster c2 \
        --log-level warn >>"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        if [[ -s "$data/server.json" ]] && [[ -z "$port" || $(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$data/server.json") == "$port" ]]; then
            port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$data/server.json")
            curl -sf -o /dev/null --max-time 2 --cacert "$data/ca-cert.pem" "https://127.0.0.1:$port/healthz" && return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || { echo "soak_fuzz: the server exited at start:" >&2; tail -20 "$log" >&2; return 1; }
        sleep 0.1
    done
    echo "soak_fuzz: the server did not answer /healthz in 30 s" >&2
    return 1
}

# stop_server: SIGTERM, exit status within 60 s (ASan's leak check takes a while)
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 600); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "soak_fuzz: the server did not exit within 60 s of SIGTERM" >&2
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
        return 124
    fi
    local st=0
    wait "$server_pid" || st=$?
    server_pid=
    return "$st"
}

# driver: runs soak_fuzz.py in the background so that Ctrl-C reaches the trap
driver() {
    python3 "$here/soak_fuzz.py" "$@" --data-dir "$data" --base "https://127.0.0.1:$port" --clusters c1,c2 &
    driver_pid=$!
    local st=0
    wait "$driver_pid" || st=$?
    driver_pid=
    return "$st"
}

echo "soak-fuzz: $bin, $seconds s, seed $seed, work $work"
echo "soak-fuzz: machine $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_server || exit 1
echo "soak-fuzz: server pid $server_pid on 127.0.0.1:$port"
driver seed || { echo "soak_fuzz: seeding failed" >&2; exit 1; }
driver_rc=0
driver run --seconds "$seconds" --pid "$server_pid" --seed "$seed" --workers "${SOAK_WORKERS:-2}" \
    --health-every "${SOAK_HEALTH_EVERY:-10}" ${SOAK_AVOID_KNOWN:+--avoid-known-crashes} --state "$work/canary.json" --stats "$work/run.json" || driver_rc=$?

alive=yes
kill -0 "$server_pid" 2>/dev/null || alive=no
rss=$(awk '/VmRSS/ { print $2 " " $3 }' "/proc/$server_pid/status" 2>/dev/null)
stop_rc=0
if [[ $alive == yes ]]; then stop_server || stop_rc=$?; else wait "$server_pid"; stop_rc=$?; server_pid=; fi
sanitizer=$(grep -cE "$reports" "$log")
integrity=$(sqlite3 "$data/store.db" 'PRAGMA integrity_check' 2>&1 | tr '\n' ' ' | sed 's/ $//')

verify_rc=1
restart_rc=0
if start_server; then
    driver verify --state "$work/canary.json" --stats "$work/verify.json" && verify_rc=0
    stop_server || restart_rc=$?
else
    restart_rc=1
fi
sanitizer_after=$(grep -cE "$reports" "$log")

python3 - "$work/run.json" "$work/verify.json" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
try:
    ver = json.load(open(sys.argv[2]))
except Exception:
    ver = {}
print("soak-fuzz summary (seed %s, %s s):" % (run["seed"], run["seconds"]))
answered = run["requests"] - run["by_status"].get("0", 0)
print("  requests sent        %d (%.0f/s), %d answered; watches opened %d, slow readers %d" % (
    run["requests"], run["requests"] / max(run["seconds"], 1), answered, run["watches"], run["slow_readers"]))
print("  by status            " + ", ".join("%s: %s" % (k if k not in ("0", "-1") else {"0": "no reply", "-1": "garbled"}[k], v)
                                        for k, v in run["by_status"].items()))
print("  by method            " + ", ".join("%s: %s" % kv for kv in run["by_method"].items()))
print("  replies that took the 5 s timeout: %d %s" % (run["stalled"], run["stalled_sample"][:3]))
print("  connection errors    " + (", ".join("%s: %s" % kv for kv in run["connection_errors"].items()) or "none"))
print("  writes aimed at canary turned into GETs: %d" % run["guarded_writes_turned_into_gets"])
print("  /healthz checks      %d ok, %d failed %s" % (run["health_ok"], len(run["health_failed"]), run["health_failed"][:5]))
print("  canary writes        %d acknowledged, %d not (%d without an answer)" % (
    run["canary_acknowledged"], run["canary_unacknowledged"], run["canary_uncertain"]))
for e in run["canary_errors"][:5]:
    print("    canary error: " + e)
if ver:
    print("  canary after restart %d objects checked, %d missing, %d wrong value, %d deleted but present" % (
        ver["canary_checked"], len(ver["canary_missing"]), len(ver["canary_wrong_value"]), len(ver["canary_deleted_but_present"])))
    for k in ("canary_missing", "canary_wrong_value", "canary_deleted_but_present"):
        for x in ver[k][:5]:
            print("    %s: %s" % (k, x))
rss = run.get("rss_kb") or []
if rss:
    third = max(1, len(rss) // 3)
    print("  server VmRSS         %d kB at %d s, %d kB at %d s, max %d kB (first third avg %d, last third avg %d)" % (
        rss[0][1], rss[0][0], rss[-1][1], rss[-1][0], max(r for _, r in rss),
        sum(r for _, r in rss[:third]) / third, sum(r for _, r in rss[-third:]) / third))
if run["replies_5xx_sample"]:
    print("  5xx replies (sample):")
    for x in run["replies_5xx_sample"][:10]:
        print("    " + x.replace("\n", " ")[:300])
EOF
echo "  server alive at end  $alive (RSS then: ${rss:-?})"
echo "  exit after SIGTERM   $stop_rc (restart for the canary check: $restart_rc)"
echo "  crash/sanitizer reports $sanitizer during the soak, $((sanitizer_after - sanitizer)) after the restart (log: $log)"
echo "  integrity_check      $integrity"

fail=0
[[ $alive == yes ]] || { echo "FAIL: the server died during the soak" >&2; fail=1; }
[[ $driver_rc -eq 0 ]] || { echo "FAIL: the driver saw the server gone or a /healthz check fail" >&2; fail=1; }
[[ $stop_rc -eq 0 ]] || { echo "FAIL: exit status $stop_rc after SIGTERM" >&2; fail=1; }
[[ $sanitizer_after -eq 0 ]] || { echo "FAIL: sanitizer reports in $log:" >&2; grep -m5 -A12 -E "$reports" "$log" >&2; fail=1; }
[[ $integrity == ok ]] || { echo "FAIL: integrity check: $integrity" >&2; fail=1; }
[[ $verify_rc -eq 0 ]] || { echo "FAIL: acknowledged canary writes lost or wrong after restart" >&2; fail=1; }
[[ $restart_rc -eq 0 ]] || { echo "FAIL: the restarted server did not stop cleanly" >&2; fail=1; }
if [[ $fail -eq 0 ]]; then echo "soak-fuzz OK"; else echo "soak-fuzz FAILED"; fi
exit $fail
