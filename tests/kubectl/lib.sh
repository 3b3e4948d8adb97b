# shellcheck shell=bash
# lib.sh - what the kubectl tests share (sourced, not run): finding kubectl,
# a `meshcert server` of their own, one "ok"/"FAIL" line per check and the
# summary. The sourcing script sets MESHCERT, REPO and VERSION first.
#
# After kubectl_start_server CLUSTER...: WORK (a temporary directory,
# removed on exit with the server stopped, even on failure; KUBECTL_KEEP=1
# keeps it), HOME inside it (kubectl's caches), SERVER_PID, and
# $WORK/data/kubeconfigs/<cluster>.yaml for each cluster.

# missing MESSAGE: kubectl is not there: a skip (exit 77), or a failure under CI.
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

# kubectl_find: KUBECTL = kubectl 1.25 or newer (kubectl.VERSION beside it
# when VERSION is set), or one line saying how to get it (not in Debian).
kubectl_find() {
    local note
    if ! note=$(bash "$REPO/scripts/kubectl-check.sh"); then
        missing "$note"
    fi
    KUBECTL=$(command -v kubectl)
    if [[ -n "${VERSION:-}" ]]; then
        KUBECTL=$(dirname "$(readlink -f "$KUBECTL")")/kubectl.$VERSION
        [[ -x "$KUBECTL" ]] || missing "$KUBECTL not installed (the Google Cloud CLI's kubectl package provides kubectl.$VERSION beside kubectl)"
    fi
    [[ -x "$MESHCERT" ]] || { echo "FAIL: $MESHCERT is not executable" >&2; exit 1; }
}

SERVER_PID=
kubectl_cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    jobs -p | xargs -r kill 2>/dev/null
    [[ -n "${KUBECTL_KEEP:-}" ]] || rm -rf "$WORK"
}

# kubectl_start_server CLUSTER...: a server on a free loopback port with
# these logical clusters; exits 1 with its log when it does not start.
kubectl_start_server() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-kubectl.XXXXXX")
    trap kubectl_cleanup EXIT
    mkdir -p "$WORK/home"
    export HOME=$WORK/home # kubectl's discovery and OpenAPI caches stay in $WORK
    local args=() c
    for c in "$@"; do args+=(--cluster "$c"); done
    "$MESHCERT" server --data-dir "$WORK/data" --listen 127.0.0.1:0 "${args[@]}" \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local last=$WORK/data/kubeconfigs/${*: -1}.yaml
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/server.log" 2>/dev/null && [[ -s "$last" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "listening on" "$WORK/server.log" || [[ ! -s "$last" ]]; then
        echo "FAIL: meshcert server did not start:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
}

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

# kubectl_summary: the count, the failures and the server log's tail; exit 1
# when a check failed, else 0.
kubectl_summary() {
    echo "# $CHECKS checks, ${#FAILED[@]} failed"
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        printf '# failed: %s\n' "${FAILED[@]}"
        echo "# server log:"
        tail -20 "$WORK/server.log" | sed 's/^/#   /'
        exit 1
    fi
    exit 0
}
