# lib.sh - helpers shared by the peer tests: the real openssl and GnuTLS
# certtool CLIs judge what the meshcert binary writes.
#
# Source it from a test script after `set -euo pipefail`, then call
# `peer_init "$@"` (first argument: the meshcert binary). Each check prints one
# line ("ok N - ..." or "FAIL N - ..." with the evidence); a failed check does
# not stop the script, so one run names every broken check. `peer_finish`
# prints the totals and exits 1 if any check failed. Every command run through
# `run mc ...` (every meshcert call) has its stdout and stderr kept in
# $TRANSCRIPT for the no-private-key-in-output check.

PEER_CHECKS=0
PEER_FAILED=0
PEER_FAILED_NAMES=()

# Tools the tests need. Missing tools fail the test under CI (the CI variable
# is set) and skip it elsewhere (exit 77, CTest's SKIP_RETURN_CODE).
require_tool() {
    local tool=$1 hint=$2
    if command -v "$tool" >/dev/null 2>&1; then
        return 0
    fi
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL: $tool not installed ($hint); CI is set, so a missing peer tool is a failure" >&2
        exit 1
    fi
    echo "################################################################"
    echo "SKIPPED: $tool not installed ($hint)"
    echo "################################################################"
    exit 77
}

# require_pyca: sets PYCA_PYTHON to a Python whose pyca/cryptography has
# X.509 path validation (scripts/pyca-python.sh); missing, it fails under CI
# and skips elsewhere, as require_tool.
require_pyca() {
    local finder note
    finder="$(dirname "${BASH_SOURCE[0]}")/../../scripts/pyca-python.sh"
    if PYCA_PYTHON=$("$finder" 2>/dev/null); then
        return 0
    fi
    note=$("$finder" 2>&1 || true)
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL: $note; CI is set, so a missing peer tool is a failure" >&2
        exit 1
    fi
    echo "################################################################"
    echo "SKIPPED: $note"
    echo "################################################################"
    exit 77
}

# peer_init MESHCERT_BINARY: checks the binary, creates $WORK (removed on exit).
peer_init() {
    if [[ $# -lt 1 || -z "$1" ]]; then
        echo "usage: $0 /path/to/meshcert" >&2
        exit 2
    fi
    MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    if [[ ! -x "$MESHCERT" ]]; then
        echo "FAIL: $MESHCERT is not an executable meshcert binary" >&2
        exit 1
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-peer.XXXXXX")
    trap '[[ -n "${PEER_KEEP:-}" ]] || rm -rf "$WORK"' EXIT
    TRANSCRIPT=$WORK/transcript.log
    : >"$TRANSCRIPT"
    PEER_START=$SECONDS
    echo "# $(basename "$0"): meshcert=$MESHCERT work=$WORK"
}

# mc ARGS...: the meshcert binary under test.
mc() { "$MESHCERT" "$@"; }

section() { echo "# --- $*"; }

pass() {
    PEER_CHECKS=$((PEER_CHECKS + 1))
    echo "ok $PEER_CHECKS - $1"
}

# fail NAME [EVIDENCE...]
fail() {
    PEER_CHECKS=$((PEER_CHECKS + 1))
    PEER_FAILED=$((PEER_FAILED + 1))
    PEER_FAILED_NAMES+=("$1")
    echo "FAIL $PEER_CHECKS - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#     /'
    done
}

# run CMD...: runs CMD, never aborts. Sets RC, OUT (stdout) and ERR (stderr);
# for meshcert (CMD is `mc`) appends both to the transcript.
run() {
    local out=$WORK/.run.out err=$WORK/.run.err
    set +e
    "$@" >"$out" 2>"$err"
    RC=$?
    set -e
    OUT=$(cat "$out")
    ERR=$(cat "$err")
    if [[ "$1" == mc ]]; then
        {
            echo "\$ $*"
            cat "$out" "$err"
        } >>"$TRANSCRIPT"
    fi
}

# expect_ok NAME CMD...: CMD exits 0.
expect_ok() {
    local name=$1
    shift
    run "$@"
    if [[ $RC -eq 0 ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit code $RC, expected 0" "stdout: $OUT" "stderr: $ERR"
    fi
}

# expect_fail CODE SUBSTRINGS NAME CMD...: CMD exits CODE and its stderr
# contains every one of SUBSTRINGS ("|"-separated, e.g. "big.csr|limit":
# the file and the problem). Runtime failures (code 1) must be exactly one
# line starting "meshcert "; usage errors (code 2) start with that line.
expect_fail() {
    local code=$1 substrings=$2 name=$3
    shift 3
    run "$@"
    local first lines needle missing=""
    local -a needles
    # not `printf | head -n 1`: under pipefail and set -e, printf's SIGPIPE when
    # head has closed the pipe ended the whole script now and then
    first=${ERR%%$'\n'*}
    lines=$(printf '%s' "$ERR" | grep -c '' || true)
    IFS='|' read -ra needles <<<"$substrings"
    for needle in "${needles[@]}"; do
        [[ "$ERR" == *"$needle"* ]] || missing+=" \"$needle\""
    done
    if [[ $RC -ne $code ]]; then
        fail "$name" "command: $*" "exit code $RC, expected $code" "stdout: $OUT" "stderr: $ERR"
    elif [[ -n "$missing" ]]; then
        fail "$name" "command: $*" "stderr does not contain$missing" "stderr: $ERR"
    elif [[ "$first" != "meshcert "* ]]; then
        fail "$name" "command: $*" "stderr does not start with \"meshcert <cmd>: \"" "stderr: $ERR"
    elif [[ $code -eq 1 && $lines -ne 1 ]]; then
        fail "$name" "command: $*" "expected a one-line error, got $lines lines" "stderr: $ERR"
    else
        pass "$name (exit $code: $first)"
    fi
}

# assert_true NAME CMD...: CMD exits 0 (a peer tool's judgement).
assert_true() { expect_ok "$@"; }

# assert_false NAME CMD...: CMD exits non-zero (negative controls: the peer
# tool does reject what it must reject, so the positive checks mean something).
assert_false() {
    local name=$1
    shift
    run "$@"
    if [[ $RC -ne 0 ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit code 0, expected a failure" "stdout: $OUT" "stderr: $ERR"
    fi
}

# assert_eq NAME ACTUAL EXPECTED
assert_eq() {
    if [[ "$2" == "$3" ]]; then
        pass "$1"
    else
        fail "$1" "expected: $3" "actual:   $2"
    fi
}

# assert_contains NAME HAYSTACK NEEDLE
assert_contains() {
    if [[ "$2" == *"$3"* ]]; then
        pass "$1"
    else
        fail "$1" "expected to contain: $3" "in: $2"
    fi
}

# assert_not_contains NAME HAYSTACK NEEDLE
assert_not_contains() {
    if [[ "$2" != *"$3"* ]]; then
        pass "$1"
    else
        fail "$1" "expected NOT to contain: $3" "in: $2"
    fi
}

# assert_match NAME STRING EXTENDED_REGEX
assert_match() {
    if [[ "$2" =~ $3 ]]; then
        pass "$1"
    else
        fail "$1" "expected to match /$3/" "actual: $2"
    fi
}

# assert_between NAME VALUE LOW HIGH (integers, inclusive)
assert_between() {
    if [[ "$2" =~ ^-?[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)); then
        pass "$1"
    else
        fail "$1" "expected $3 <= value <= $4" "actual: $2"
    fi
}

# assert_mode NAME FILE OCTAL
assert_mode() {
    local mode
    mode=$(stat -c %a "$2" 2>/dev/null || echo missing)
    assert_eq "$1" "$mode" "$3"
}

# assert_first_line NAME FILE LINE: the PEM header of a key file.
assert_first_line() {
    local first
    first=$(head -n 1 "$2" 2>/dev/null || echo "(unreadable $2)")
    assert_eq "$1" "$first" "$3"
}

# snapshot PATH: prints a listing (names, modes, checksums) of PATH or
# "ABSENT", to compare before and after a failing command.
snapshot() {
    if [[ ! -e "$1" ]]; then
        echo ABSENT
        return
    fi
    (cd "$1" && find . -printf '%p %m %y\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# assert_unchanged NAME PATH BEFORE: PATH's snapshot still equals BEFORE.
assert_unchanged() {
    local after
    after=$(snapshot "$2")
    if [[ "$after" == "$3" ]]; then
        pass "$1"
    else
        fail "$1" "$2 changed" "before:" "$3" "after:" "$after"
    fi
}

# flip_byte FILE N: inverts the N-th byte from the end of FILE in place.
flip_byte() {
    local size pos byte
    size=$(stat -c %s "$1")
    pos=$((size - $2))
    byte=$(od -An -tu1 -j "$pos" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((byte ^ 0xff)))" |
        dd of="$1" bs=1 seek="$pos" conv=notrunc status=none
}

# pem_wrap LABEL < DER: PEM-encodes DER bytes.
pem_wrap() {
    echo "-----BEGIN $1-----"
    base64 -w 64
    echo "-----END $1-----"
}

# epoch_of DATE_STRING: seconds since the epoch (GNU date).
epoch_of() { date -u -d "$1" +%s; }

# cert_not_before / cert_not_after FILE: epoch seconds.
cert_not_before() { epoch_of "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)"; }
cert_not_after() { epoch_of "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)"; }

# ext_text FILE NAME: the text openssl prints for one X509v3 extension (the
# header line and its value lines), e.g. ext_text ca.pem "Key Usage".
ext_text() {
    openssl x509 -in "$1" -noout -text |
        awk -v want="X509v3 $2" '
            index($0, want) { on = 1; print; next }
            on && substr($0, 1, 16) == "                " { print; next }
            { on = 0 }'
}

# ext_value FILE NAME: the value line(s) of an extension, trimmed.
ext_value() { ext_text "$1" "$2" | tail -n +2 | sed 's/^ *//; s/ *$//'; }

# assert_no_key_material NAME: no meshcert output so far
# contains a PEM private key header or any base64 line of any private key
# file under $WORK.
assert_no_key_material() {
    local name=$1 key line hits="" nkeys=0
    if grep -q "PRIVATE KEY" "$TRANSCRIPT"; then
        hits="the transcript contains \"PRIVATE KEY\""
    fi
    while IFS= read -r -d '' key; do
        [[ "$key" == "$TRANSCRIPT" || "$key" == "$WORK"/.run.* ]] && continue
        grep -q "PRIVATE KEY" "$key" 2>/dev/null || continue
        nkeys=$((nkeys + 1))
        # Every base64 body line (64 characters) of the key.
        while IFS= read -r line; do
            if grep -qF -- "$line" "$TRANSCRIPT"; then
                hits="$hits; a line of $key appears in the output"
                break
            fi
        done < <(grep -v -- '-----' "$key" | grep -E '^.{40,}$' || true)
    done < <(find "$WORK" -type f -print0)
    if [[ $nkeys -eq 0 ]]; then
        fail "$name" "no private key files found under $WORK to compare with"
    elif [[ -z "$hits" ]]; then
        pass "$name ($nkeys key files, $(wc -l <"$TRANSCRIPT") output lines)"
    else
        fail "$name" "$hits"
    fi
}

peer_finish() {
    local elapsed=$((SECONDS - PEER_START))
    echo "# $(basename "$0"): $PEER_CHECKS checks, $PEER_FAILED failed, ${elapsed}s"
    if [[ $PEER_FAILED -ne 0 ]]; then
        local name
        for name in "${PEER_FAILED_NAMES[@]}"; do
            echo "# FAILED: $name"
        done
        exit 1
    fi
    exit 0
}
