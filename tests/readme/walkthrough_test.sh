#!/usr/bin/env bash
# walkthrough_test.sh - the README's walk-throughs, run from the README's own
# text, so that what a newcomer pastes and what is tested cannot drift apart.
#
# Usage: walkthrough_test.sh MESHCERT_BINARY REPO_DIR [README]
# Every ```sh block that follows a line starting "<!-- walkthrough" in README
# (default REPO_DIR/README.md) is run, in order, as a user pasting it line by
# line into bash would: from a copy of the repository's top directory whose
# build/src/cli/meshcert is the binary under test, with `set -e` (a failing
# line fails the block) and TMPDIR inside this test's scratch directory.
# Processes a block starts in the background (`&`: the server, the issuer, the
# agents) are its shell's jobs; they are stopped by PID when the block ends,
# newest first, however it ends. Checks beyond "every line succeeded": the
# block ends in the directory it started in (the next block can be pasted
# into the same shell), a
# `meshcert status` table shows FINISHED on every row, `meshcert verify`
# reports "chain: OK", `openssl verify` prints ": OK".
# kubectl (1.25+) or openssl missing: exit 77 (skipped) unless CI is set.
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/repo [README.md]" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
REPO=$(cd "$2" && pwd)
README=${3:-$REPO/README.md}
[[ -x "$MESHCERT" ]] || { echo "FAIL: $MESHCERT is not executable" >&2; exit 1; }
[[ -r "$README" ]] || { echo "FAIL: cannot read $README" >&2; exit 1; }

missing() {
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL: $1; CI is set, so a missing tool is a failure" >&2
        exit 1
    fi
    echo "################################################################"
    echo "SKIPPED: $1"
    echo "################################################################"
    exit 77
}
note=$(bash "$REPO/scripts/kubectl-check.sh") || missing "$note"
command -v openssl >/dev/null || missing "openssl not installed (apt-get install openssl, or make deps)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-readme.XXXXXX")
RUNNER_PID=
cleanup() {
    # a runner still going (this script was interrupted) stops its own jobs
    # on TERM (its EXIT trap)
    if [[ -n "$RUNNER_PID" ]]; then
        kill -TERM "$RUNNER_PID" 2>/dev/null
        wait "$RUNNER_PID" 2>/dev/null
    fi
    [[ -n "${README_KEEP:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The repository as the README's reader has it after `make build`: every
# top-level entry linked, and build/src/cli/meshcert the binary under test.
mkdir -p "$WORK/repo/build/src/cli"
for entry in "$REPO"/*; do
    case $(basename "$entry") in build | build-*) continue ;; esac
    ln -s "$entry" "$WORK/repo/$(basename "$entry")"
done
ln -s "$MESHCERT" "$WORK/repo/build/src/cli/meshcert"

# Splits the README's marked blocks into $WORK/block-N.sh; prints N.
count=$(awk -v dir="$WORK" '
    /^<!-- walkthrough/ { marked = 1; next }
    marked && /^```sh[[:space:]]*$/ { n++; file = dir "/block-" n ".sh"; printf "" > file; inside = 1; marked = 0; next }
    marked && !/^[[:space:]]*$/ { marked = 0 }
    inside && /^```/ { inside = 0; close(file); next }
    inside { print >> file }
    END { if (inside) exit 1; print n + 0 }' "$README") ||
    { echo "FAIL: $README: a walkthrough block has no closing \`\`\`" >&2; exit 1; }
if [[ $count -eq 0 ]]; then
    echo "FAIL: $README has no \`\`\`sh block after a <!-- walkthrough --> marker" >&2
    exit 1
fi

# The shell a block runs in: its jobs are stopped on exit (newest first, so
# the agents and the issuer go before the server they talk to); 5 s each to
# stop on SIGTERM, then SIGKILL.
cat >"$WORK/prelude.sh" <<'EOF'
stop_jobs() {
    local rc=$? pid pids watchdog
    set +ev
    pids=$(jobs -p | tac)
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null
        (sleep 5 && kill -KILL "$pid" 2>/dev/null) &
        watchdog=$!
        wait "$pid" 2>/dev/null
        kill "$watchdog" 2>/dev/null
        wait "$watchdog" 2>/dev/null
    done
    echo "# walkthrough: stopped jobs: ${pids//$'\n'/ }"
    exit "$rc"
}
trap stop_jobs EXIT
trap 'exit 143' TERM INT
WALKTHROUGH_START=$PWD
set -e
set -v
EOF
# After a block: it ends where it started (the repository), so that a reader
# can paste the next block into the same shell.
cat >"$WORK/epilogue.sh" <<'EOF'

set +v
if [ "$PWD" != "$WALKTHROUGH_START" ]; then
    echo "# walkthrough: the block ends in $PWD, not in the repository it started in"
    exit 1
fi
EOF

FAILED=()
fail() {
    FAILED+=("$1")
    echo "FAIL - $1"
}

# check_transcript N LOG BLOCK: the checks beyond exit codes.
check_transcript() {
    local n=$1 log=$2 block=$3
    if grep -q '^meshcert status' "$block"; then
        local rows finished
        rows=$(awk '/^CLUSTER +NAMESPACE\/NAME/ { on = 1; next } on && NF >= 3 && $3 ~ /^[A-Z]+$/ { print; next } { on = 0 }' "$log")
        finished=$(grep -c ' FINISHED ' <<<"$rows")
        if [[ -z "$rows" ]]; then
            fail "block $n: no meshcert status table in its output"
        elif [[ $finished -lt 2 || $finished -ne $(wc -l <<<"$rows") ]]; then
            fail "block $n: meshcert status is not FINISHED on every cluster: $rows"
        else
            echo "ok - block $n: meshcert status shows FINISHED on $finished clusters"
        fi
    fi
    if grep -q '^\(for .*; do \)\?meshcert verify' "$block"; then
        local want got
        want=$(grep -o 'meshcert verify' "$block" | wc -l)
        got=$(grep -c '^chain: OK' "$log")
        if [[ $got -lt $want ]]; then
            fail "block $n: meshcert verify printed \"chain: OK\" $got times"
        else
            echo "ok - block $n: meshcert verify: chain: OK ($got)"
        fi
    fi
    if grep -q '^openssl verify' "$block"; then
        if grep -q ': OK$' "$log"; then
            echo "ok - block $n: openssl verify: $(grep ': OK$' "$log" | tail -n 1)"
        else
            fail "block $n: openssl verify did not print OK"
        fi
    fi
}

for n in $(seq "$count"); do
    block=$WORK/block-$n.sh
    log=$WORK/block-$n.log
    mkdir -p "$WORK/tmp-$n"
    cat "$WORK/prelude.sh" "$block" "$WORK/epilogue.sh" >"$WORK/run-$n.sh"
    echo "# --- README walkthrough block $n ($(wc -l <"$block") lines, first: $(head -n 1 "$block"))"
    start=$SECONDS
    (cd "$WORK/repo" && exec env TMPDIR="$WORK/tmp-$n" timeout -s TERM 240 bash "$WORK/run-$n.sh" \
        </dev/null >"$log" 2>&1) &
    RUNNER_PID=$!
    wait "$RUNNER_PID"
    rc=$?
    RUNNER_PID=
    sed 's/^/    /' "$log"
    if [[ $rc -ne 0 ]]; then
        fail "block $n: exit $rc after $((SECONDS - start)) s (the failing line is the last README line echoed above)"
        # the logs the block's background processes wrote in its scratch directory
        for f in "$WORK/tmp-$n"/*/*.log; do
            [[ -f "$f" ]] || continue
            echo "    --- ${f#"$WORK/tmp-$n/"} (last 10 lines)"
            tail -n 10 "$f" | sed 's/^/    /'
        done
        continue
    fi
    echo "ok - block $n ran to the end in $((SECONDS - start)) s"
    check_transcript "$n" "$log" "$block"
done

if [[ ${#FAILED[@]} -ne 0 ]]; then
    echo "# ${#FAILED[@]} failed:"
    printf '#   %s\n' "${FAILED[@]}"
    exit 1
fi
echo "# $count README walkthrough blocks passed"
exit 0
