#!/usr/bin/env bash
# trust_probe_cli_test.sh - the trust-probe command (make demo-rotate uses it)
# on Istio files made offline by the real meshcert CLI: two clusters from one
# root shake hands (exit 0), a cluster from another root fails with the X.509
# reason (exit 1), a bad argument is a usage error (exit 2).
# Usage: trust_probe_cli_test.sh /path/to/meshcert /path/to/trust-probe
set -euo pipefail
MESHCERT=$1 PROBE=$2
WORK=$(mktemp -d /tmp/mc-trust-probe-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel
fail() { echo "FAIL: $*" >&2; exit 1; }

for root in r1 r2; do
    "$MESHCERT" ca create --dir "$root" --key-type ec-p256 --org Istio --name "$root" >/dev/null
done
# cluster root: a key and CSR, signed by root into cluster/cacerts
make_cluster() {
    mkdir -p "$1"
    "$MESHCERT" csr create --org Istio --host "$SPIFFE" --key-type ec-p256 \
        --out-key "$1/ca-key.pem" --out-csr "$1/ca.csr" >/dev/null
    "$MESHCERT" sign --ca "$2" --csr "$1/ca.csr" --host "$SPIFFE" --org Istio \
        --key "$1/ca-key.pem" --out-dir "$1/cacerts" >/dev/null
}
make_cluster east r1
make_cluster west r1
make_cluster north r2

rc=0
"$PROBE" --describe east=east/cacerts west=west/cacerts >good.txt 2>&1 || rc=$?
cat good.txt
[[ $rc -eq 0 ]] || fail "east and west (one root) did not pass: exit $rc"
grep -q '^probe: 2 mutual-TLS handshakes between 2 clusters, 0 failed$' good.txt ||
    fail "no count of 2 handshakes, 0 failed"
[[ $(grep -c 'bundle \[' good.txt) -eq 2 ]] || fail "--describe did not describe both clusters"

rc=0
"$PROBE" east=east/cacerts west=west/cacerts north=north/cacerts >bad.txt 2>&1 || rc=$?
cat bad.txt
[[ $rc -eq 1 ]] || fail "north (another root) did not fail the probe: exit $rc"
grep -q '^probe: 6 mutual-TLS handshakes between 3 clusters, 4 failed$' bad.txt ||
    fail "expected 4 of 6 handshakes failed"
grep -q 'FAILED east -> north: east rejected north.s certificate: ' bad.txt ||
    fail "the failure does not name who rejected whom and why"

rc=0
"$PROBE" east=east/cacerts >usage.txt 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "one cluster: exit $rc, expected 2"
grep -q 'at least two clusters' usage.txt || fail "no clear usage error"
echo "ok - trust-probe: pass, fail with reasons, usage"
