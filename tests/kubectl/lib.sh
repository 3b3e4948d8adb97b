# lib.sh - what the kubectl tests share: sourced as
#   source "$(dirname "$0")/lib.sh" MESHCERT_BINARY REPO_DIR [KUBECTL_VERSION]
# it sets MESHCERT, REPO, KUBECTL (kubectl.<version> from the Google Cloud SDK
# when KUBECTL_VERSION is given), WORK (a temporary directory, removed on
# exit unless KUBECTL_KEEP is set) and a trap that stops the server and every
# background job on exit, even on failure. Checks: pass/fail, k (kubectl
# with a time limit, output in $OUT), expect, expect_fail; start_server
# CLUSTER... starts `meshcert server` on a free loopback port with those
# logical clusters (KUBECONFIG points at the first); finish prints the
# summary and exits 1 when a check failed. kubectl missing: exit 77
# (skipped) unless CI is set, when that is a failure.

if [[ $# -lt 2 ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/repo [kubectl-version]" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
REPO=$(cd "$2" && pwd)
VERSION=${3:-}

missing() {
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL: $1; CI is set, so a missing kubectl is a failure" >&2
        exit 1
    fi
    echo "################################################################"
    echo "SKIPPED: $1"
    echo "################################################################"
    exit 77
}

# kubectl 1.25 or newer, or one line saying how to get it (not in Debian).
if ! note=$(bash "$REPO/scripts/kubectl-check.sh"); then
    missing "$note"
fi
KUBECTL=$(command -v kubectl)
if [[ -n "$VERSION" ]]; then
    KUBECTL=$(dirname "$(readlink -f "$KUBECTL")")/kubectl.$VERSION
    [[ -x "$KUBECTL" ]] || missing "$KUBECTL not installed (the Google Cloud CLI's kubectl package provides kubectl.$VERSION beside kubectl)"
fi
[[ -x "$MESHCERT" ]] || { echo "FAIL: $MESHCERT is not executable" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-kubectl.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    jobs -p | xargs -r kill 2>/dev/null
    [[ -n "${KUBECTL_KEEP:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

CHECKS=0
FAILED=()
pass() { CHECKS=$((CHECKS + 1)); echo "ok $CHECKS - $1"; }
fail() {
    CHECKS=$((CHECKS + 1))
    FAILED+=("$1")
    echo "FAIL $CHECKS - $1"
    shift
    [[ $# -gt 0 ]] && printf '    %s\n' "$@" | head -40
}

# k ARGS...: kubectl with no stdin (a wrong kubeconfig must not prompt) and a
# time limit; stdout+stderr in $OUT, the exit code returned.
OUT=
k() {
    OUT=$(timeout 60 "$KUBECTL" "$@" </dev/null 2>&1)
}

# expect NAME PATTERN ARGS...: kubectl ARGS succeeds and its output matches
# the extended regular expression PATTERN.
expect() {
    local name=$1 pattern=$2
    shift 2
    if k "$@" && grep -qE -- "$pattern" <<<"$OUT"; then
        pass "$name"
    else
        fail "$name" "kubectl $*" "wanted /$pattern/, got:" "$OUT"
    fi
}

# expect_fail NAME PATTERN ARGS...: kubectl ARGS fails with PATTERN in its output.
expect_fail() {
    local name=$1 pattern=$2
    shift 2
    if ! k "$@" && grep -qE -- "$pattern" <<<"$OUT"; then
        pass "$name"
    else
        fail "$name" "kubectl $* (should fail)" "wanted /$pattern/, got:" "$OUT"
    fi
}

# start_server CLUSTER...: the server in $WORK/data (log $WORK/server.log),
# KUBECONFIG at the first cluster's admin kubeconfig; exits 1 when it does
# not start within 10 s.
start_server() {
    local args=() c
    for c in "$@"; do args+=(--cluster "$c"); done
    mkdir -p "$WORK/home"
    export HOME=$WORK/home # kubectl's discovery and OpenAPI caches stay in $WORK
    "$MESHCERT" server --data-dir "$WORK/data" --listen 127.0.0.1:0 "${args[@]}" \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    export KUBECONFIG=$WORK/data/kubeconfigs/$1.yaml
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/server.log" 2>/dev/null && [[ -s "$KUBECONFIG" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "listening on" "$WORK/server.log" || [[ ! -s "$KUBECONFIG" ]]; then
        echo "FAIL: meshcert server did not start:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    echo "# $(basename "$0"): kubectl=$KUBECTL server: $(head -1 "$WORK/server.log")"
}

# finish: the summary; exit 1 (with the server log's tail) when a check failed.
finish() {
    echo "# $CHECKS checks, ${#FAILED[@]} failed"
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        printf '# failed: %s\n' "${FAILED[@]}"
        echo "# server log:"
        tail -20 "$WORK/server.log" | sed 's/^/#   /'
        exit 1
    fi
    exit 0
}
