#!/bin/sh
# Runs every libFuzzer target in DIR for its time budget on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<name>/); fails on the first crash, leak
# or timeout, leaving the reproducer in build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh <dir with fuzz_* binaries> [default seconds]
set -eu
dir=$1
default=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
artifacts=$(cd "$dir/../.." && pwd)/artifacts
mkdir -p "$artifacts"
found=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  found=1
  name=${bin##*/fuzz_}
  secs=$(awk -v n="$name" '$1 == n { print $2 }' "$root/tests/fuzz/seconds.txt")
  [ -n "$secs" ] || secs=$default
  work=$(mktemp -d)
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then
    cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
  fi
  echo "== fuzz_$name: ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work" > "$artifacts/$name.log" 2>&1; then
    tail -n 60 "$artifacts/$name.log"
    echo "fuzz_$name FAILED (log and reproducer in $artifacts)"
    rm -rf "$work"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$artifacts/$name.log" | sed "s/^/  /"
  rm -rf "$work"
done
[ "$found" = 1 ] || { echo "no fuzz targets in $dir"; exit 1; }
echo "fuzz: all targets clean"
