#!/usr/bin/env bash
# bench/issuer-threads.sh MESHCERT N...: threads and RSS of an issuer with N
# registered clusters (issue 13), for each N given. Starts `meshcert server`
# with mgmt and max(N) managed clusters (CRDs installed on each), registers
# the first N, starts the issuer, waits until its thread count has been
# steady for 5 s, prints "N threads rss_kib". Everything it starts is killed
# on exit; the data goes to a temporary directory.
# ISSUER_WRAP: words put before the issuer's command (e.g. "valgrind
# --tool=massif --massif-out-file=/tmp/ms.out"); ISSUER_AT_STEADY: a shell
# command run once the thread count is steady, before the issuer is stopped,
# with $ISSUER_PID set (e.g. 'vgdb --pid=$ISSUER_PID detailed_snapshot /tmp/s').
set -euo pipefail
MESHCERT=$(realpath "$1")
shift
MAX=0
for n in "$@"; do ((n > MAX)) && MAX=$n; done
CRDS=$(cd "$(dirname "$0")/../deploy/crds" && pwd)
DIR=$(mktemp -d /tmp/issuer-threads.XXXXXX)
. "$(dirname "$0")/lib.sh"
args=(--cluster mgmt)
for i in $(seq "$MAX"); do args+=(--cluster "c$i"); done
bench_start_server "$MESHCERT" "${args[@]}"
api() {
    local cluster=$1 method=$2 path=$3
    shift 3
    curl -sS --fail-with-body -o /dev/null --cacert "$DIR/srv/ca-cert.pem" \
        -H "Authorization: Bearer $(cat "$DIR/srv/tokens/$cluster")" \
        -X "$method" "https://127.0.0.1:$port/clusters/$cluster$path" "$@"
}
namespace() {
    api "$1" POST /api/v1/namespaces -H 'Content-Type: application/json' \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$2\"}}"
}
namespace mgmt meshcert
for i in $(seq "$MAX"); do
    for f in "$CRDS"/certificaterequests.yaml "$CRDS"/issuedcertificates.yaml; do
        api "c$i" POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions \
            -H 'Content-Type: application/yaml' --data-binary "@$f"
    done
done
registered=0
for n in "$@"; do
    for ((i = registered + 1; i <= n; i++)); do
        "$MESHCERT" cluster register "c$i" --kubeconfig "$DIR/srv/kubeconfigs/mgmt.yaml" \
            --namespace meshcert --trust-domain cluster.local --org Istio \
            --kubeconfig-file "$DIR/srv/kubeconfigs/c$i.yaml" >/dev/null
    done
    registered=$n
    # shellcheck disable=SC2086 # ISSUER_WRAP is words on purpose
    ${ISSUER_WRAP:-} "$MESHCERT" issuer --kubeconfig "$DIR/srv/kubeconfigs/mgmt.yaml" --namespace meshcert \
        --generate-root --root-key-type ec-p256 >"$DIR/issuer-$n.log" 2>&1 &
    issuer=$!
    PIDS+=("$issuer")
    last=-1 steady=0
    for _ in $(seq 600); do
        threads=$(ls "/proc/$issuer/task" | wc -l)
        if [[ $threads == "$last" ]]; then ((steady += 1)); else steady=0; fi
        last=$threads
        ((steady >= 50)) && break
        sleep 0.1
    done
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$issuer/status")
    echo "$n clusters: $threads threads, RSS $rss KiB"
    if [[ -n ${ISSUER_AT_STEADY:-} ]]; then ISSUER_PID=$issuer bash -c "$ISSUER_AT_STEADY"; fi
    kill "$issuer"
    wait "$issuer" || true
done
