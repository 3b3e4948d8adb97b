#!/usr/bin/env bash
# demo.sh - the networked meshcert workflow, end to end on one machine:
# `meshcert server` hosts three logical Kubernetes clusters (mgmt, east, west);
# the issuer runs against mgmt with one root CA, one agent runs per managed
# cluster; each agent makes its cluster's intermediate CA key and CSR, the
# issuer signs, and a workload certificate from east is then trusted by west;
# then both clusters move to a new root in steps (meshcert root rotate).
# Every process it starts is stopped on exit, failure or Ctrl-C.
# Usage: scripts/demo.sh /path/to/meshcert   (output: ./demo-out/workflow or $MESHCERT_DEMO_DIR;
# the offline demo writes ./demo-out/offline, so neither run wipes the other's files)
# The offline walk-through (no server) is scripts/demo-offline.sh.
set -euo pipefail

if [[ $# -ne 1 || ! -x "$1" ]]; then
    echo "usage: $0 /path/to/meshcert" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CRDS=$(cd "$(dirname "$0")/../deploy/crds" && pwd)
for tool in curl openssl; do
    command -v "$tool" >/dev/null || {
        echo "demo: $tool is needed (apt-get install $tool, or run 'make deps')" >&2
        exit 1
    }
done
OUT=${MESHCERT_DEMO_DIR:-./demo-out/workflow}
SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel
MANAGED=(east west)
START=$SECONDS

exec 3>&2 # the terminal's stderr: the cleanup may run inside a redirection to a log
PIDS=()  # the server, issuer and agents
CHILD=   # the short command running now (see fg)
STEP="start"
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
trap cleanup EXIT
INTERRUPTED=
trap 'INTERRUPTED=SIGINT; exit 130' INT
trap 'INTERRUPTED=SIGTERM; exit 143' TERM

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

# Recreated on each run; a marker file keeps us from wiping a directory the
# demo did not make (say MESHCERT_DEMO_DIR=$HOME by mistake).
if [[ -d "$OUT" && -n "$(ls -A "$OUT")" && ! -e "$OUT/.meshcert-demo" ]]; then
    echo "demo: $OUT exists and was not made by this demo; refusing to delete it" >&2
    exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
touch "$OUT/.meshcert-demo"
OUT=$(cd "$OUT" && pwd)
SRV=$OUT/server
LOGS=$OUT/logs
mkdir -p "$LOGS"
cd "$OUT"
echo "meshcert demo: one root CA, three clusters on one embedded API server, shared trust."
echo "Everything goes to $OUT (logs in $LOGS)."

step "1. Start the API server with clusters mgmt, east and west"
"$MESHCERT" server --data-dir "$SRV" --listen 127.0.0.1:0 \
    --cluster mgmt --cluster east --cluster west >"$LOGS/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    [[ -s "$SRV/server.json" ]] && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$LOGS/server.log" >&2; die "the server exited"; }
    sleep 0.1
done
[[ -s "$SRV/server.json" ]] || die "the server did not write $SRV/server.json in 10 s"
PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$SRV/server.json")
[[ -n "$PORT" ]] || die "no port in $SRV/server.json"
BASE=https://127.0.0.1:$PORT
for _ in $(seq 50); do
    api mgmt GET /api/v1/namespaces -o /dev/null 2>/dev/null && break
    sleep 0.1
done
say "server pid ${PIDS[0]} on $BASE; kubeconfigs in $SRV/kubeconfigs/"

step "2. Prepare the clusters: namespaces, and the CRDs on east and west"
namespace() {
    run curl api "$1" POST /api/v1/namespaces -H 'Content-Type: application/json' \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$2\"}}"
}
namespace mgmt meshcert
run curl api mgmt POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions \
    -H 'Content-Type: application/yaml' --data-binary "@$CRDS/rootrotations.yaml"
say "mgmt: namespace meshcert, CRD rootrotations.yaml (root rotations are recorded there)"
for c in "${MANAGED[@]}"; do
    namespace "$c" meshcert
    namespace "$c" istio-system
    for f in "$CRDS"/*.yaml; do
        run curl api "$c" POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions \
            -H 'Content-Type: application/yaml' --data-binary "@$f"
    done
    say "$c: namespaces meshcert and istio-system, CRDs $(cd "$CRDS" && echo *.yaml)"
done

step "3. Register east and west on the management cluster"
MGMT=$SRV/kubeconfigs/mgmt.yaml
for c in "${MANAGED[@]}"; do
    run cluster "$MESHCERT" cluster register "$c" --kubeconfig "$MGMT" \
        --trust-domain cluster.local --org Istio \
        --kubeconfig-file "$SRV/kubeconfigs/$c.yaml"
    say "meshcert cluster register $c --kubeconfig mgmt.yaml --kubeconfig-file $c.yaml --trust-domain cluster.local --org Istio"
done

step "4. Start the issuer (mgmt) and one agent per managed cluster"
"$MESHCERT" issuer --kubeconfig "$MGMT" --namespace meshcert \
    --generate-root --root-key-type ec-p256 >"$LOGS/issuer.log" 2>&1 &
PIDS+=($!)
say "issuer pid $!: generates the root CA meshcert/root-ca on mgmt (its key stays there)"
for c in "${MANAGED[@]}"; do
    "$MESHCERT" agent --kubeconfig "$SRV/kubeconfigs/$c.yaml" --namespace meshcert \
        --key-type ec-p256 >"$LOGS/agent-$c.log" 2>&1 &
    PIDS+=($!)
    say "agent $c pid $!"
done
say "(keys are EC P-256 here for speed; the production default is rsa4096)"

step "5. Issue an intermediate CA to each mesh, from the one root"
for c in "${MANAGED[@]}"; do
    run issue "$MESHCERT" issue --kubeconfig "$MGMT" --cluster "$c" --name istio-ca \
        --host "$SPIFFE" --org Istio
    say "meshcert issue --cluster $c --name istio-ca --host $SPIFFE --org Istio"
done

step "6. Wait for both to be FINISHED"
deadline=$((SECONDS + 45))
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
say "FINISHED on east and west"
echo
echo "$table" | sed 's/^/   /'

step "7. Fetch and verify each cluster's istio-system/cacerts Secret"
for c in "${MANAGED[@]}"; do
    run verify "$MESHCERT" verify --kubeconfig "$MGMT" --cluster "$c" --write-dir "$OUT/$c"
    say "$c: chain and key check out; files in $OUT/$c/"
done
cmp -s east/root-cert.pem west/root-cert.pem || die "east and west have different roots"
say "east and west carry the same root-cert.pem"

step "8. Shared trust: a workload certificate signed by east, verified with west's root"
cat >workload.ext <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:spiffe://cluster.local/ns/default/sa/sleep
EOF
run openssl openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout workload-key.pem -subj "/O=cluster.local" -out workload.csr
run openssl openssl x509 -req -in workload.csr -CA east/ca-cert.pem -CAkey east/ca-key.pem \
    -set_serial "0x$(openssl rand -hex 16)" -days 1 -extfile workload.ext -out workload-cert.pem
say "east's intermediate signed workload-cert.pem (spiffe://cluster.local/ns/default/sa/sleep)"
say "\$ openssl verify -CAfile west/root-cert.pem -untrusted east/cert-chain.pem workload-cert.pem"
fg openssl verify -CAfile west/root-cert.pem -untrusted east/cert-chain.pem workload-cert.pem \
    >"$LOGS/openssl-verify.log" 2>&1 || { cat "$LOGS/openssl-verify.log" >&2; die "west does not trust east's workload"; }
sed 's/^/   /' "$LOGS/openssl-verify.log"

step "9. Rotate the root of both clusters in steps (each step at least 1 s here; 24h by default)"
R1=$(openssl x509 -in east/root-cert.pem -noout -fingerprint -sha256)
say "\$ meshcert root rotate --generate --root-key-type ec-p256 --step-dwell 1s --wait"
fg "$MESHCERT" root rotate --kubeconfig "$MGMT" --generate --root-key-type ec-p256 \
    --step-dwell 1s --name demo-rotation --wait --timeout 2m >"$LOGS/root-rotate.log" 2>&1 ||
    { cat "$LOGS/root-rotate.log" >&2; die "the root rotation did not complete"; }
grep '^rootrotation' "$LOGS/root-rotate.log" | sed 's/^/   /'
for c in "${MANAGED[@]}"; do
    run verify "$MESHCERT" verify --kubeconfig "$MGMT" --cluster "$c" --write-dir "$OUT/$c-rotated"
done
R2=$(openssl x509 -in east-rotated/root-cert.pem -noout -fingerprint -sha256)
[[ "$R1" != "$R2" ]] || die "east still carries the old root"
cmp -s east-rotated/root-cert.pem west-rotated/root-cert.pem || die "east and west have different roots"
say "east and west now carry only the new root; their new intermediates verify against it"
fg "$MESHCERT" root status --kubeconfig "$MGMT" >"$LOGS/root-status.txt" 2>&1 || true
say "meshcert root status: $LOGS/root-status.txt"

step "Done in $((SECONDS - START)) s"
say "clusters' files: $OUT/east/ $OUT/west/ (workload: $OUT/workload-cert.pem)"
say "logs:            $LOGS/"
say "kubeconfigs:     $SRV/kubeconfigs/ (the server stops now; files stay)"
say "the offline walk-through without a server: make demo-offline"
echo
echo "demo OK"
