#!/bin/bash
# Runs every libFuzzer target in DIR for its time budget on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<name>/), JOBS targets at a time (default:
# the number of CPUs; each target is one process). Fails if any target finds a
# crash, leak or timeout, leaving the reproducer in build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh <dir with fuzz_* binaries> [default seconds] [jobs]
set -eu
. "$(dirname "$0")/pool.sh"
dir=$1
default=${2:-30}
jobs=${3:-$(nproc 2>/dev/null || echo 2)}
root=$(cd "$(dirname "$0")/.." && pwd)
artifacts=$(cd "$dir/../.." && pwd)/artifacts
mkdir -p "$artifacts"

# One target; its verdict goes to artifacts/<name>.status.
run_one() {
  local bin=$1 name secs work
  name=${bin##*/fuzz_}
  secs=$(awk -v n="$name" '$1 == n { print $2 }' "$root/tests/fuzz/seconds.txt")
  [ -n "$secs" ] || secs=$default
  work=$(mktemp -d)
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then
    cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
  fi
  echo "== fuzz_$name: ${secs}s"
  if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work" > "$artifacts/$name.log" 2>&1; then
    echo ok > "$artifacts/$name.status"
    echo "fuzz_$name: clean, $(grep -E "stat::number_of_executed_units" "$artifacts/$name.log" | awk '{print $2}') runs, peak RSS $(grep -E "stat::peak_rss_mb" "$artifacts/$name.log" | awk '{print $2}') MB"
  else
    echo failed > "$artifacts/$name.status"
    echo "fuzz_$name FAILED"
  fi
  rm -rf "$work"
}

bins=()
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] && bins+=("$bin")
done
[ "${#bins[@]}" -gt 0 ] || { echo "no fuzz targets in $dir"; exit 1; }

for bin in "${bins[@]}"; do rm -f "$artifacts/${bin##*/fuzz_}.status"; done
pool_run "$jobs" run_one "${bins[@]}"

failed=0
for bin in "${bins[@]}"; do
  name=${bin##*/fuzz_}
  if [ "$(cat "$artifacts/$name.status" 2>/dev/null)" != ok ]; then
    tail -n 60 "$artifacts/$name.log"
    echo "fuzz_$name FAILED (log and reproducer in $artifacts)"
    failed=1
  fi
done
[ "$failed" = 0 ] && echo "fuzz: all targets clean"
exit $failed
