#!/bin/sh
# Runs every unit test binary in DIR under valgrind memcheck; fails on any
# memory error or definite/indirect leak. Usage: scripts/valgrind.sh <dir>
set -eu
dir=$1
failed=0
for t in "$dir"/*_test; do
  [ -x "$t" ] || continue
  name=${t##*/}
  start=$(date +%s)
  if valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect --error-exitcode=99 -q "$t" > "$t.valgrind.log" 2>&1; then
    echo "valgrind $name: clean ($(($(date +%s) - start))s)"
  else
    echo "valgrind $name: FAILED"
    grep -v '^\[' "$t.valgrind.log" | head -60
    failed=1
  fi
done
exit $failed
