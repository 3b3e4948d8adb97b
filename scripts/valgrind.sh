#!/bin/bash
# Runs every unit test binary in DIR under valgrind memcheck, JOBS at a time
# (default: the number of CPUs); fails on any memory error or definite/indirect
# leak. The slowest binaries start first, so the run takes about as long as
# the slowest one. Usage: scripts/valgrind.sh <dir> [jobs]
set -eu
. "$(dirname "$0")/pool.sh"
dir=$1
jobs=${2:-$(nproc 2>/dev/null || echo 2)}
# Slowest first (RSA key generation under memcheck): then the rest by name.
slow="pki_test agent_decide_test server_watch_test"
tests=()
for name in $slow; do
  [ -x "$dir/$name" ] && tests+=("$dir/$name")
done
for t in "$dir"/*_test; do
  [ -x "$t" ] || continue
  case " $slow " in *" ${t##*/} "*) continue ;; esac
  tests+=("$t")
done
[ "${#tests[@]}" -gt 0 ] || { echo "valgrind: no unit test binaries in $dir"; exit 1; }

# One test under memcheck; its verdict goes to <binary>.valgrind.status.
run_one() {
  local t=$1 start
  start=$(date +%s)
  if valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect --error-exitcode=99 -q "$t" > "$t.valgrind.log" 2>&1; then
    echo "valgrind ${t##*/}: clean ($(($(date +%s) - start))s)"
    echo ok > "$t.valgrind.status"
  else
    echo "valgrind ${t##*/}: FAILED"
    echo failed > "$t.valgrind.status"
  fi
}

for t in "${tests[@]}"; do rm -f "$t.valgrind.status"; done
pool_run "$jobs" run_one "${tests[@]}"

failed=0
for t in "${tests[@]}"; do
  if [ "$(cat "$t.valgrind.status" 2>/dev/null)" != ok ]; then
    echo "=== ${t##*/} under valgrind:"
    grep -v '^\[' "$t.valgrind.log" | head -60
    failed=1
  fi
done
exit $failed
