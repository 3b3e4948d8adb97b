#!/usr/bin/env bash
# demo-offline.sh - the offline meshcert walk-through, as a user would do it by hand:
# one root CA, two clusters (c1, c2) each with its own intermediate CA key and
# CSR, the root signs both, meshcert verifies both bundles, and a workload
# certificate from c1 is trusted by c2 - the shared trust the multi-cluster
# workflow exists for. The networked demo (server, issuer, agents) is scripts/demo.sh;
# the progress output and the fresh output directory come from scripts/demo-lib.sh.
# Usage: scripts/demo-offline.sh /path/to/meshcert   (output: ./demo-out/offline or
# $MESHCERT_DEMO_DIR; the networked demo writes ./demo-out/workflow;
# MESHCERT_DEMO_KEY_TYPE=rsa4096 for Service Mesh Hub's key type, ~1-3 s per key)
set -Eeuo pipefail
# shellcheck source=scripts/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"

if [[ $# -ne 1 || ! -x "$1" ]]; then
    echo "usage: $0 /path/to/meshcert" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
command -v openssl >/dev/null || {
    echo "demo: openssl is needed for the workload certificate step (apt-get install openssl)" >&2
    exit 1
}
OUT=${MESHCERT_DEMO_DIR:-./demo-out/offline}
KEY_TYPE=${MESHCERT_DEMO_KEY_TYPE:-ec-p256}

# show CMD...: prints the command as a user would type it, then runs it.
show() {
    local shown
    shown=$(printf ' %q' "$@")
    echo "\$${shown/"$MESHCERT"/meshcert}"
    "$@"
}
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; echo; echo "demo FAILED (exit $rc) in step: $STEP" >&2' ERR

demo_fresh_out # recreated on each run
step "0. A fresh demo directory: $OUT"

step "1. The mesh's root CA (kept by the platform team; its key never goes to a cluster)"
show "$MESHCERT" ca create --dir root --key-type "$KEY_TYPE" --org "Acme Mesh" --name "Acme mesh root CA"

for cluster in c1 c2; do
    step "2. Cluster $cluster: a private key and CSR for its intermediate CA (made in the cluster)"
    mkdir -p "$cluster"
    show "$MESHCERT" csr create --org Istio --host "$SPIFFE" --key-type "$KEY_TYPE" \
        --out-key "$cluster/ca-key.pem" --out-csr "$cluster/ca.csr"

    step "3. Cluster $cluster: the root signs the CSR (what the issuer does)"
    show "$MESHCERT" sign --ca root --csr "$cluster/ca.csr" --host "$SPIFFE" --org Istio \
        --key "$cluster/ca-key.pem" --out-dir "$cluster/cacerts"

    step "4. Cluster $cluster: check the Istio plug-in CA files against the root"
    show "$MESHCERT" verify --root root/root-cert.pem --dir "$cluster/cacerts"
done

step "5. Shared trust: a workload certificate from c1, trusted by c2"
cat >workload.ext <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:spiffe://cluster.local/ns/default/sa/sleep
EOF
echo "# istiod in c1 would do this; here the openssl CLI plays istiod"
show openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout workload-key.pem -subj "/O=cluster.local" -out workload.csr 2>/dev/null
show openssl x509 -req -in workload.csr -CA c1/cacerts/ca-cert.pem -CAkey c1/cacerts/ca-key.pem \
    -set_serial "0x$(openssl rand -hex 16)" -days 1 -extfile workload.ext -out workload-cert.pem 2>/dev/null
echo "# a peer in c2 knows only c2's root-cert.pem; the workload presents c1's cert-chain.pem"
show openssl verify -CAfile c2/cacerts/root-cert.pem -untrusted c1/cacerts/cert-chain.pem workload-cert.pem

step "6. Where the files are, and how each cluster gets them"
for cluster in c1 c2; do
    echo "$cluster: $OUT/$cluster/cacerts/"
    (cd "$cluster/cacerts" && ls -l | tail -n +2 | sed 's/^/    /')
done
echo "root CA (keep it out of the clusters): $OUT/root/"
echo
echo "To install in each cluster (not run here):"
for cluster in c1 c2; do
    d=$OUT/$cluster/cacerts
    echo "  kubectl --context $cluster create namespace istio-system"
    echo "  kubectl --context $cluster create secret generic cacerts -n istio-system \\"
    echo "      --from-file=$d/ca-cert.pem --from-file=$d/ca-key.pem \\"
    echo "      --from-file=$d/root-cert.pem --from-file=$d/cert-chain.pem"
done
echo
echo "demo OK"
