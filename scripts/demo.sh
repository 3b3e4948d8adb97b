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
# The offline walk-through (no server) is scripts/demo-offline.sh; a root rotation,
# scripts/demo-rotate.sh. The shared steps and the cleanup are in scripts/demo-lib.sh.
set -euo pipefail

if [[ $# -ne 1 || ! -x "$1" ]]; then
    echo "usage: $0 /path/to/meshcert" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CRDS=$(cd "$(dirname "$0")/../deploy/crds" && pwd)
OUT=${MESHCERT_DEMO_DIR:-./demo-out/workflow}
MANAGED=(east west)
START=$SECONDS
# shellcheck source=scripts/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
demo_init
echo "meshcert demo: one root CA, three clusters on one embedded API server, shared trust."
echo "Everything goes to $OUT (logs in $LOGS)."

step "1. Start the API server with clusters mgmt, east and west"
demo_start_server

step "2. Prepare the clusters: namespaces, and the CRDs on east and west"
demo_prepare_clusters

step "3. Register east and west on the management cluster"
demo_register_clusters

step "4. Start the issuer (mgmt) and one agent per managed cluster"
demo_start_processes

step "5. Issue an intermediate CA to each mesh, from the one root"
demo_issue

step "6. Wait for both to be FINISHED"
demo_wait_finished
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
