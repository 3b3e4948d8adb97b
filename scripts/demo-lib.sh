# demo-lib.sh - what the demos share (sourced by scripts/demo.sh,
# scripts/demo-rotate.sh and scripts/demo-offline.sh, never run): progress
# output and a fresh output directory; for the networked demos also cleanup
# that stops every process the demo started, by PID, on exit, failure or
# Ctrl-C, and the steps that bring up `meshcert server`, the clusters, the
# issuer and the agents, and issue an intermediate to each managed cluster.
# The caller sets MESHCERT (absolute path), CRDS, OUT (output directory) and
# MANAGED (array of managed cluster names) before calling demo_init.
# shellcheck shell=bash

SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel
PIDS=()  # the server, issuer and agents
CHILD=   # the short command running now (see fg)
STEP="start"
INTERRUPTED=

cleanup() {
    local rc=$?
    # stop everything even if Ctrl-C is pressed again meanwhile (bounded: 5 s a process)
    trap '' INT TERM
    trap - EXIT
    local pid
    [[ -n "$CHILD" ]] && kill -TERM "$CHILD" 2>/dev/null
    # the issuer and agents first (the issuer hands its Lease back through
    # the server), then the server (PIDS[0])
    local group
    for group in clients server; do
        local members=("${PIDS[@]:1}")
        [[ $group == server ]] && members=("${PIDS[@]:0:1}")
        for pid in "${members[@]}"; do
            kill -TERM "$pid" 2>/dev/null || true
        done
        for pid in "${members[@]}"; do
            # give each process 5 s to stop cleanly, then kill it
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
    done
    if [[ -n "$INTERRUPTED" ]]; then
        echo >&3
        echo "demo interrupted ($INTERRUPTED) in step: $STEP; stopped every process it started" >&3
        [[ $INTERRUPTED == SIGINT ]] && rc=130 || rc=143
    elif [[ $rc -ne 0 ]]; then
        echo >&3
        echo "demo FAILED (exit $rc) in step: $STEP" >&3
        [[ -d "${LOGS:-}" ]] && echo "logs: $LOGS/" >&3
    fi
    exit "$rc"
}

step() {
    STEP=$*
    printf '\n== %s\n' "$*"
}
# say TEXT: one line of progress under the current step.
say() { printf '   %s\n' "$*"; }
die() {
    echo "demo: $*" >&2
    exit 1
}
# fg CMD...: runs a command and waits for it. It runs in the background so that
# a Ctrl-C interrupts the wait at once (bash defers traps while a foreground
# command runs) and the cleanup can stop it by PID.
fg() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}
# run NAME CMD...: runs a command quietly, its output in $LOGS/NAME.log;
# on failure shows that log.
run() {
    local name=$1
    shift
    if ! fg "$@" >>"$LOGS/$name.log" 2>&1; then
        echo "demo: failed: $*" >&2
        tail -n 20 "$LOGS/$name.log" | sed 's/^/    /' >&2
        return 1
    fi
}
# api CLUSTER METHOD PATH [CURL ARGS...]: one request to the embedded API server.
api() {
    local cluster=$1 method=$2 path=$3
    shift 3
    curl -sS --fail-with-body --cacert "$SRV/ca-cert.pem" \
        -H "Authorization: Bearer $(cat "$SRV/tokens/$cluster")" \
        -X "$method" "$BASE/clusters/$cluster$path" "$@"
}

# demo_fresh_out: recreates $OUT, makes it absolute and cd's into it. A
# marker file keeps us from wiping a directory the demo did not make (say
# MESHCERT_DEMO_DIR=$HOME by mistake).
demo_fresh_out() {
    if [[ -d "$OUT" && -n "$(ls -A "$OUT")" && ! -e "$OUT/.meshcert-demo" ]]; then
        echo "demo: $OUT exists and was not made by this demo; refusing to delete it" >&2
        exit 1
    fi
    rm -rf "$OUT"
    mkdir -p "$OUT"
    touch "$OUT/.meshcert-demo"
    OUT=$(cd "$OUT" && pwd)
    cd "$OUT" || exit 1
}

# demo_init: the traps, the tools check, and a fresh $OUT (cd'd into).
demo_init() {
    exec 3>&2 # the terminal's stderr: the cleanup may run inside a redirection to a log
    trap cleanup EXIT
    trap 'INTERRUPTED=SIGINT; exit 130' INT
    trap 'INTERRUPTED=SIGTERM; exit 143' TERM
    local tool
    for tool in curl openssl; do
        command -v "$tool" >/dev/null || {
            echo "demo: $tool is needed (apt-get install $tool, or run 'make deps')" >&2
            exit 1
        }
    done
    demo_fresh_out
    SRV=$OUT/server
    LOGS=$OUT/logs
    MGMT=$SRV/kubeconfigs/mgmt.yaml
    mkdir -p "$LOGS"
}

# demo_start_server: meshcert server with mgmt and $MANAGED; sets BASE.
demo_start_server() {
    local args=(--cluster mgmt) c
    for c in "${MANAGED[@]}"; do args+=(--cluster "$c"); done
    "$MESHCERT" server --data-dir "$SRV" --listen 127.0.0.1:0 "${args[@]}" \
        >"$LOGS/server.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        [[ -s "$SRV/server.json" ]] && break
        kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$LOGS/server.log" >&2; die "the server exited"; }
        sleep 0.1
    done
    [[ -s "$SRV/server.json" ]] || die "the server did not write $SRV/server.json in 10 s"
    local port
    port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$SRV/server.json")
    [[ -n "$port" ]] || die "no port in $SRV/server.json"
    BASE=https://127.0.0.1:$port
    for _ in $(seq 50); do
        api mgmt GET /api/v1/namespaces -o /dev/null 2>/dev/null && break
        sleep 0.1
    done
    say "server pid ${PIDS[0]} on $BASE; kubeconfigs in $SRV/kubeconfigs/"
}

# demo_prepare_clusters: namespaces, and the CRDs on every managed cluster.
demo_prepare_clusters() {
    namespace() {
        run curl api "$1" POST /api/v1/namespaces -H 'Content-Type: application/json' \
            -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$2\"}}"
    }
    namespace mgmt meshcert
    run curl api mgmt POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions \
        -H 'Content-Type: application/yaml' --data-binary "@$CRDS/rootrotations.yaml"
    say "mgmt: namespace meshcert, CRD rootrotations.yaml (root rotations are recorded there)"
    local c f
    for c in "${MANAGED[@]}"; do
        namespace "$c" meshcert
        namespace "$c" istio-system
        for f in "$CRDS"/*.yaml; do
            run curl api "$c" POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions \
                -H 'Content-Type: application/yaml' --data-binary "@$f"
        done
        say "$c: namespaces meshcert and istio-system, CRDs $(cd "$CRDS" && echo *.yaml)"
    done
}

demo_register_clusters() {
    local c
    for c in "${MANAGED[@]}"; do
        # --keep-kubeconfig: issue and verify reach the cluster through it
        run cluster "$MESHCERT" cluster register "$c" --kubeconfig "$MGMT" \
            --trust-domain cluster.local --org Istio --keep-kubeconfig \
            --kubeconfig-file "$SRV/kubeconfigs/$c.yaml"
        say "meshcert cluster register $c --kubeconfig mgmt.yaml --kubeconfig-file $c.yaml --keep-kubeconfig --trust-domain cluster.local --org Istio"
    done
}

# demo_start_processes: the issuer and one agent per cluster.
demo_start_processes() {
    "$MESHCERT" issuer --kubeconfig "$MGMT" --namespace meshcert \
        --generate-root --root-key-type ec-p256 >"$LOGS/issuer.log" 2>&1 &
    PIDS+=($!)
    say "issuer pid $!: generates the root CA meshcert/root-ca on mgmt (its key stays there)"
    local c
    for c in "${MANAGED[@]}"; do
        "$MESHCERT" agent --kubeconfig "$SRV/kubeconfigs/$c.yaml" --namespace meshcert \
            --key-type ec-p256 >"$LOGS/agent-$c.log" 2>&1 &
        PIDS+=($!)
        say "agent $c pid $!"
    done
    say "(keys are EC P-256 here for speed; the production default is rsa4096)"
}

demo_issue() {
    local c
    for c in "${MANAGED[@]}"; do
        run issue "$MESHCERT" issue --kubeconfig "$MGMT" --cluster "$c" --name istio-ca \
            --host "$SPIFFE" --org Istio
        say "meshcert issue --cluster $c --name istio-ca --host $SPIFFE --org Istio"
    done
}

# demo_wait_finished: every managed cluster FINISHED (45 s); the status table in $table.
demo_wait_finished() {
    local deadline=$((SECONDS + 45)) finished log
    while :; do
        fg "$MESHCERT" status --kubeconfig "$MGMT" >"$LOGS/status.txt" 2>&1 || true
        table=$(<"$LOGS/status.txt")
        finished=$(grep -c FINISHED <<<"$table" || true)
        [[ $finished -ge ${#MANAGED[@]} ]] && break
        if [[ $SECONDS -ge $deadline ]]; then
            echo "$table" >&2
            for log in "$LOGS"/issuer.log "$LOGS"/agent-*.log; do
                echo "--- $log (last 20 lines)" >&2
                tail -n 20 "$log" >&2
            done
            die "not FINISHED after 45 s"
        fi
        sleep 0.5
    done
}
