#!/usr/bin/env bash
# walkthrough_breakage_test.sh - walkthrough_test.sh fails when a README
# walk-through is broken: it runs it on copies of the README with one line
# spoiled, and on one with no marked block, and expects each run to fail
# naming what broke. Usage: walkthrough_breakage_test.sh MESHCERT REPO_DIR
# kubectl (1.25+) or openssl missing: exit 77 (skipped) unless CI is set.
set -uo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/repo" >&2
    exit 2
fi
MESHCERT=$1
REPO=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-readme-break.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

FAILED=0
# expect_broken NAME README NEEDLE: the walk-through test fails on README
# and its output contains NEEDLE.
expect_broken() {
    local name=$1 readme=$2 needle=$3 rc
    bash "$HERE/walkthrough_test.sh" "$MESHCERT" "$REPO" "$readme" >"$WORK/out" 2>&1
    rc=$?
    if [[ $rc -eq 77 ]]; then
        cat "$WORK/out"
        exit 77
    fi
    if [[ $rc -ne 0 ]] && grep -qF -- "$needle" "$WORK/out"; then
        echo "ok - $name (exit $rc: $(grep -F -- "$needle" "$WORK/out" | head -n 1))"
    else
        echo "FAIL - $name: exit $rc, output lacks \"$needle\""
        sed 's/^/    /' "$WORK/out" | tail -n 40
        FAILED=$((FAILED + 1))
    fi
}

# A flag misspelt in the first block: that block fails, at that line.
sed 's/--kubeconfig-file /--kubeconfig-files /' "$REPO/README.md" >"$WORK/bad-flag.md"
cmp -s "$REPO/README.md" "$WORK/bad-flag.md" && { echo "FAIL - the README has no --kubeconfig-file to spoil"; exit 1; }
expect_broken "a misspelt flag in a walk-through fails its block" "$WORK/bad-flag.md" "FAIL - block 1: exit 2"

# The offline block's verify pointed at a directory that does not exist.
sed 's|meshcert verify --root root/root-cert.pem --dir c1 |meshcert verify --root root/root-cert.pem --dir c9 |' \
    "$REPO/README.md" >"$WORK/bad-dir.md"
cmp -s "$REPO/README.md" "$WORK/bad-dir.md" && { echo "FAIL - the README has no offline verify to spoil"; exit 1; }
expect_broken "a wrong path in the offline walk-through fails its block" "$WORK/bad-dir.md" "c9: does not exist"

# No marker left: nothing to run is a failure, not a pass.
grep -v '^<!-- walkthrough' "$REPO/README.md" >"$WORK/no-marker.md"
expect_broken "a README without marked blocks fails" "$WORK/no-marker.md" "no \`\`\`sh block after a <!-- walkthrough --> marker"

[[ $FAILED -eq 0 ]] || exit 1
echo "# walkthrough_test.sh fails on each broken README"
