#!/usr/bin/env bash
# leaf_chain_test.sh - what the plug-in CA files are for: istiod signs workload
# certificates with ca-cert.pem/ca-key.pem, and peers verify them with
# root-cert.pem and cert-chain.pem. Here the openssl CLI plays istiod, and
# openssl and certtool verify the workload certificates, within one cluster
# and across two clusters whose intermediates come from one root. Also checks
# that pathlen:0 is honoured (no sub-CA under an intermediate).
# Usage: leaf_chain_test.sh /path/to/meshcert
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool openssl "apt-get install openssl"
require_tool certtool "apt-get install gnutls-bin"
peer_init "$@"
cd "$WORK"

SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel

# sign_leaf NAME CA_CERT CA_KEY SPIFFE_ID: a workload certificate the way
# istiod issues one (EC P-256, URI SAN, CA:FALSE, server+client auth).
sign_leaf() {
    local name=$1 ca_cert=$2 ca_key=$3 id=$4
    cat >"$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:$id
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    expect_ok "$name: openssl makes a workload key and CSR" openssl req -new \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
        -subj "/O=cluster.local" -out "$name.csr"
    expect_ok "$name: openssl x509 -req signs it with $ca_cert" openssl x509 -req -in "$name.csr" \
        -CA "$ca_cert" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" -days 1 \
        -extfile "$name.ext" -out "$name.pem"
}

# openssl_verify_leaf LABEL ROOT CHAIN LEAF
openssl_verify_leaf() {
    assert_true "$1" openssl verify -x509_strict -purpose sslclient -CAfile "$2" -untrusted "$3" "$4"
}

# certtool_verify_leaf LABEL ROOT CHAIN LEAF: certtool both ways: --verify
# with the root loaded, and --verify-chain on leaf + chain (root last).
certtool_verify_leaf() {
    local label=$1 root=$2 chain=$3 leaf=$4
    cat "$leaf" "$chain" >"$leaf.full"
    run certtool --verify-profile medium --verify --load-ca-certificate "$root" --infile "$leaf.full"
    if [[ $RC -eq 0 && "$OUT" == *"Chain verification output: Verified"* ]]; then
        pass "$label: certtool --verify --load-ca-certificate"
    else
        fail "$label: certtool --verify --load-ca-certificate" "exit $RC" "$OUT" "$ERR"
    fi
    run certtool --verify-profile medium --verify-chain --infile "$leaf.full"
    if [[ $RC -eq 0 && "$OUT" == *"Chain verification output: Verified"* ]]; then
        pass "$label: certtool --verify-chain (leaf first)"
    else
        fail "$label: certtool --verify-chain (leaf first)" "exit $RC" "$OUT" "$ERR"
    fi
}

section "one root, two clusters (c1: EC P-256, c2: RSA 2048, traditional key)"
expect_ok "ca create the shared root" mc ca create --dir root --key-type ec-p256 --org "Acme Mesh"
expect_ok "c1: csr create" mc csr create --org Istio --host "$SPIFFE" --key-type ec-p256 \
    --out-key c1.key --out-csr c1.csr
expect_ok "c2: csr create" mc csr create --org Istio --host "$SPIFFE" --key-type rsa2048 \
    --key-format traditional --out-key c2.key --out-csr c2.csr
expect_ok "c1: sign" mc sign --ca root --csr c1.csr --host "$SPIFFE" --org Istio --key c1.key \
    --out-dir c1
expect_ok "c2: sign" mc sign --ca root --csr c2.csr --host "$SPIFFE" --org Istio --key c2.key \
    --out-dir c2
run mc verify --root root/root-cert.pem --dir c1
assert_contains "c1: meshcert verify prints chain: OK" "$OUT" "chain: OK"
run mc verify --root c1/root-cert.pem --dir c2
assert_contains "c2: meshcert verify against c1's root-cert.pem prints chain: OK" "$OUT" "chain: OK"

section "workload certificates inside one cluster"
sign_leaf w1 c1/ca-cert.pem c1/ca-key.pem spiffe://cluster.local/ns/default/sa/sleep
openssl_verify_leaf "w1 (c1): openssl verify -CAfile root -untrusted c1/cert-chain.pem" \
    c1/root-cert.pem c1/cert-chain.pem w1.pem
certtool_verify_leaf "w1 (c1)" c1/root-cert.pem c1/cert-chain.pem w1.pem
sign_leaf w2 c2/ca-cert.pem c2/ca-key.pem spiffe://cluster.local/ns/default/sa/httpbin
openssl_verify_leaf "w2 (c2): openssl verify -CAfile root -untrusted c2/cert-chain.pem" \
    c2/root-cert.pem c2/cert-chain.pem w2.pem
certtool_verify_leaf "w2 (c2)" c2/root-cert.pem c2/cert-chain.pem w2.pem
assert_true "w1: openssl verify -purpose sslserver too" \
    openssl verify -purpose sslserver -CAfile c1/root-cert.pem -untrusted c1/cert-chain.pem w1.pem

section "shared trust across clusters"
openssl_verify_leaf "w1 from c1 verifies against c2's root-cert.pem with c1's cert-chain.pem" \
    c2/root-cert.pem c1/cert-chain.pem w1.pem
certtool_verify_leaf "w1 from c1 against c2's root-cert.pem" c2/root-cert.pem c1/cert-chain.pem w1.pem
openssl_verify_leaf "w2 from c2 verifies against c1's root-cert.pem with c2's cert-chain.pem" \
    c1/root-cert.pem c2/cert-chain.pem w2.pem
certtool_verify_leaf "w2 from c2 against c1's root-cert.pem" c1/root-cert.pem c2/cert-chain.pem w2.pem
# A peer in c2 holding both chains (what a multi-cluster mesh distributes).
cat c1/cert-chain.pem c2/cert-chain.pem >both-chains.pem
openssl_verify_leaf "w1 verifies with both clusters' chains as the untrusted pool" \
    c2/root-cert.pem both-chains.pem w1.pem

section "the kubernetes.io/tls layout signs workloads too"
expect_ok "c3: csr create" mc csr create --org Istio --host "$SPIFFE" --key-type ec-p256 \
    --out-key c3.key --out-csr c3.csr
expect_ok "c3: sign --format tls" mc sign --ca root --csr c3.csr --host "$SPIFFE" --org Istio \
    --key c3.key --format tls --out-dir c3
sign_leaf w3 c3/tls.crt c3/tls.key spiffe://cluster.local/ns/default/sa/reviews
cat c3/tls.crt c3/ca.crt >c3-chain.pem
openssl_verify_leaf "w3 (tls layout): openssl verify against c1's root-cert.pem" \
    c1/root-cert.pem c3/tls.crt w3.pem
certtool_verify_leaf "w3 (tls layout)" c3/ca.crt c3-chain.pem w3.pem

section "negative controls: the same verifiers reject what they must"
expect_ok "ca create an unrelated root" mc ca create --dir other --key-type ec-p256 --org Other
assert_false "openssl rejects w1 against an unrelated root" \
    openssl verify -CAfile other/root-cert.pem -untrusted c1/cert-chain.pem w1.pem
cat w1.pem c1/ca-cert.pem other/root-cert.pem >w1-other.pem
assert_false "certtool rejects w1 against an unrelated root" \
    certtool --verify --load-ca-certificate other/root-cert.pem --infile w1-other.pem
assert_false "openssl rejects w1 with c2's chain (wrong intermediate)" \
    openssl verify -CAfile root/root-cert.pem -untrusted c2/cert-chain.pem w1.pem
cat w1.pem c2/cert-chain.pem >w1-wrong.pem
assert_false "certtool rejects w1 with c2's chain (wrong intermediate)" \
    certtool --verify-chain --infile w1-wrong.pem
assert_false "openssl rejects w1 with no chain (intermediate needed)" \
    openssl verify -CAfile root/root-cert.pem w1.pem

section "pathlen:0 holds: a sub-CA under an intermediate is refused by the peers"
cat >subca.ext <<EOF
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
expect_ok "openssl makes a sub-CA key and CSR" openssl req -new -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout subca.key -subj "/O=Rogue sub-CA" -out subca.csr
expect_ok "c1's intermediate signs the sub-CA (openssl does as told)" openssl x509 -req \
    -in subca.csr -CA c1/ca-cert.pem -CAkey c1/ca-key.pem -set_serial 0x77 -days 1 \
    -extfile subca.ext -out subca.pem
sign_leaf w4 subca.pem subca.key spiffe://cluster.local/ns/default/sa/rogue
cat subca.pem c1/cert-chain.pem >subca-chain.pem
run openssl verify -CAfile root/root-cert.pem -untrusted subca-chain.pem w4.pem
if [[ $RC -ne 0 && "$OUT$ERR" == *"path length"* ]]; then
    pass "openssl rejects a leaf under a sub-CA of the intermediate: path length exceeded"
else
    fail "openssl rejects a leaf under a sub-CA of the intermediate: path length exceeded" \
        "exit $RC" "$OUT" "$ERR"
fi
cat w4.pem subca-chain.pem >w4-full.pem
run certtool --verify --load-ca-certificate root/root-cert.pem --infile w4-full.pem
if [[ $RC -ne 0 && "$OUT$ERR" == *"violates the signer's constraints"* ]]; then
    pass "certtool rejects the leaf under the sub-CA: the chain violates the signer's constraints"
else
    fail "certtool rejects the leaf under the sub-CA: the chain violates the signer's constraints" \
        "exit $RC" "$OUT" "$ERR"
fi

section "no private key material in meshcert's output"
assert_no_key_material "no PRIVATE KEY and no key line in any meshcert stdout/stderr"

peer_finish
