#!/usr/bin/env bash
# name_constraints_test.sh - an intermediate signed with name constraints
# (what the issuer does for a cluster with an issuance policy; here `meshcert
# sign --permit-trust-domain --permit-dns-suffix`) bounds what it can sign,
# as judged by independent verifiers: a workload certificate inside the
# permitted subtrees is accepted by `openssl verify` and GnuTLS `certtool
# --verify-chain`; one outside (another cluster's trust domain, another DNS
# domain, an IP address) is refused. GnuTLS (3.7) does not enforce URI name
# constraints: that gap is checked and reported, not hidden (docs/pki.md).
# pyca/cryptography's verifier, where installed, is a third judge.
# Usage: name_constraints_test.sh /path/to/meshcert
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool openssl "apt-get install openssl"
require_tool certtool "apt-get install gnutls-bin"
require_pyca
PYCA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pyca_verify.py"
peer_init "$@"
cd "$WORK"

SPIFFE=spiffe://east.local/ns/istio-system/sa/citadel

# sign_leaf NAME SAN [CA_DIR]: a workload certificate signed by east's
# intermediate (or the one in CA_DIR) the way istiod issues one (EC P-256,
# empty subject, CA:FALSE), for one subjectAltName in openssl's syntax
# (URI:..., DNS:..., IP:...).
sign_leaf() {
    local name=$1 san=$2 ca=${3:-east}
    cat >"$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = critical, $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    expect_ok "$name: openssl makes a workload key and CSR" openssl req -new \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
        -subj "/" -out "$name.csr"
    expect_ok "$name: $ca's intermediate signs $san (openssl does as told)" openssl x509 -req \
        -in "$name.csr" -CA "$ca/ca-cert.pem" -CAkey "$ca/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -days 1 -extfile "$name.ext" -out "$name.pem"
    cat "$name.pem" "$ca/cert-chain.pem" >"$name.full"
}

# openssl_accepts NAME [CA_DIR]
openssl_accepts() {
    assert_true "$1: openssl verify accepts it" openssl verify -x509_strict \
        -CAfile root/root-cert.pem -untrusted "${2:-east}/cert-chain.pem" "$1.pem"
}

certtool_accepts() {
    run certtool --verify-profile medium --verify-chain --infile "$1.full"
    if [[ $RC -eq 0 && "$OUT" == *"Chain verification output: Verified"* ]]; then
        pass "$1: certtool --verify-chain accepts it"
    else
        fail "$1: certtool --verify-chain accepts it" "exit $RC" "$OUT" "$ERR"
    fi
}

# openssl_refuses NAME WHY [CA_DIR]: refused, with openssl's reason
# (permitted or excluded subtree violation), not for some other fault.
openssl_refuses() {
    run openssl verify -x509_strict -CAfile root/root-cert.pem \
        -untrusted "${3:-east}/cert-chain.pem" "$1.pem"
    if [[ $RC -ne 0 && "$OUT$ERR" == *"$2 subtree violation"* ]]; then
        pass "$1: openssl verify refuses it: $2 subtree violation"
    else
        fail "$1: openssl verify refuses it: $2 subtree violation" "exit $RC" "$OUT" "$ERR"
    fi
}

certtool_refuses() {
    run certtool --verify-profile medium --verify-chain --infile "$1.full"
    if [[ $RC -ne 0 && "$OUT$ERR" == *"violates the signer's constraints"* ]]; then
        pass "$1: certtool --verify-chain refuses it: the chain violates the signer's constraints"
    else
        fail "$1: certtool --verify-chain refuses it" "exit $RC" "$OUT" "$ERR"
    fi
}

section "east's intermediate: trust domain east.local, DNS suffix istio-system.svc"
expect_ok "ca create the root" mc ca create --dir root --key-type ec-p256 --org "Acme Mesh"
expect_ok "east: csr create" mc csr create --org Istio --host "$SPIFFE" --key-type ec-p256 \
    --out-key east.key --out-csr east.csr
expect_ok "east: sign with name constraints" mc sign --ca root --csr east.csr --host "$SPIFFE" \
    --org Istio --key east.key --out-dir east --permit-trust-domain east.local \
    --permit-dns-suffix istio-system.svc
assert_contains "the constraints are critical" "$(ext_text east/ca-cert.pem "Name Constraints")" \
    "Name Constraints: critical"
NC=$(ext_value east/ca-cert.pem "Name Constraints" | tr '\n' ' ')
assert_contains "permitted: URI east.local" "$NC" "Permitted: URI:east.local"
assert_contains "permitted: DNS istio-system.svc" "$NC" "DNS:istio-system.svc"
assert_contains "excluded: every IPv4 address" "$NC" "Excluded: IP:0.0.0.0/0.0.0.0"
assert_contains "excluded: every IPv6 address" "$NC" "IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0"
assert_true "the intermediate itself verifies (constraints bind what it signs)" \
    openssl verify -x509_strict -CAfile root/root-cert.pem east/ca-cert.pem

section "inside the permitted subtrees: accepted by both"
sign_leaf in-spiffe "URI:spiffe://east.local/ns/default/sa/sleep"
openssl_accepts in-spiffe
certtool_accepts in-spiffe
sign_leaf in-dns "DNS:istiod.istio-system.svc"
openssl_accepts in-dns
certtool_accepts in-dns

section "outside: refused"
sign_leaf out-dns "DNS:www.google.com"
openssl_refuses out-dns permitted
certtool_refuses out-dns
sign_leaf out-near "DNS:evilistio-system.svc"
openssl_refuses out-near permitted
certtool_refuses out-near
sign_leaf out-ip "IP:10.0.0.1"
openssl_refuses out-ip excluded
certtool_refuses out-ip
sign_leaf out-td "URI:spiffe://west.local/ns/default/sa/sleep"
openssl_refuses out-td permitted
sign_leaf out-td-suffix "URI:spiffe://east.local.evil.example/ns/default/sa/sleep"
openssl_refuses out-td-suffix permitted
# GnuTLS checks DNS, e-mail, IP and DN constraints but not URI ones: a URI
# SAN outside the permitted URI subtree passes there. Recorded, not hidden:
# if a GnuTLS release starts refusing it, this line says so.
run certtool --verify-profile medium --verify-chain --infile out-td.full
if [[ $RC -ne 0 ]]; then
    pass "out-td: certtool --verify-chain refuses it too (this GnuTLS enforces URI constraints)"
else
    echo "# note: $(certtool --version | head -n 1) does not enforce URI name constraints:" \
        "spiffe://west.local/... under east's intermediate passes certtool (docs/pki.md)"
fi

# pyca VERDICT NAME CA_DIR WHY: pyca/cryptography's client verifier (scripts/
# pyca-python.sh picks the interpreter) accepts NAME's leaf under CA_DIR's
# intermediate (VERDICT accepts), or refuses it with a reason containing WHY.
PYCA_VERSION=$("$PYCA_PYTHON" -c 'import cryptography; print(cryptography.__version__)')
pyca() {
    local verdict=$1 name=$2 ca=$3 why=${4:-}
    run "$PYCA_PYTHON" "$PYCA" root/root-cert.pem "$ca/ca-cert.pem" "$name.pem"
    if [[ $verdict == accepts && $RC -eq 0 && "$OUT" == OK ]]; then
        pass "$name: pyca/cryptography $PYCA_VERSION accepts it under $ca's intermediate"
    elif [[ $verdict == refuses && $RC -eq 1 && "$OUT" == REFUSED:*"$why"* ]]; then
        pass "$name: pyca/cryptography $PYCA_VERSION refuses it under $ca's intermediate (${OUT#REFUSED: })"
    else
        fail "$name: pyca/cryptography $PYCA_VERSION $verdict it under $ca's intermediate${why:+ ($why)}" \
            "exit $RC" "$OUT" "$ERR"
    fi
}

section "pyca/cryptography and URI constraints: every chain refused, inside or not"
# pyca implements DNS and IP name constraints but not URI ones, and refuses,
# fail-closed, any chain whose CA carries one, whatever the leaf: east's
# intermediate (URI and DNS constraints) is unusable there. Asserted as it
# is, so that a release that implements URI constraints fails this section
# and docs/pki.md gets updated. (A DNS name outside the DNS subtrees fails
# the DNS check first, before the URI constraint is reached.)
for leaf in in-spiffe in-dns out-td out-td-suffix; do
    pyca refuses "$leaf" east "unsupported name constraint"
done
pyca refuses out-dns east "no permitted name constraints matched"
pyca refuses out-ip east "excluded"

section "an intermediate constrained in DNS only (sign --no-uri-constraints)"
expect_ok "east-dns: sign with a DNS suffix and no URI constraint" mc sign --ca root \
    --csr east.csr --host "$SPIFFE" --org Istio --key east.key --out-dir east-dns \
    --permit-dns-suffix istio-system.svc --no-uri-constraints
NC=$(ext_value east-dns/ca-cert.pem "Name Constraints" | tr '\n' ' ')
assert_contains "east-dns: permitted DNS istio-system.svc" "$NC" "Permitted: DNS:istio-system.svc"
assert_contains "east-dns: excluded: every IPv4 address" "$NC" "Excluded: IP:0.0.0.0/0.0.0.0"
assert_not_contains "east-dns: no URI subtree at all" "$NC" "URI:"
expect_fail 2 "--no-uri-constraints" "--no-uri-constraints with a trust domain is a usage error" \
    mc sign --ca root --csr east.csr --host "$SPIFFE" --org Istio --out-dir bad \
    --permit-dns-suffix istio-system.svc --permit-trust-domain east.local --no-uri-constraints
sign_leaf dns-in "DNS:istiod.istio-system.svc" east-dns
sign_leaf dns-out "DNS:www.google.com" east-dns
sign_leaf dns-out-near "DNS:evilistio-system.svc" east-dns
sign_leaf dns-out-ip "IP:10.0.0.1" east-dns
openssl_accepts dns-in east-dns
openssl_refuses dns-out permitted east-dns
openssl_refuses dns-out-ip excluded east-dns
pyca accepts dns-in east-dns
pyca refuses dns-out east-dns "no permitted name constraints matched"
pyca refuses dns-out-near east-dns "no permitted name constraints matched"
pyca refuses dns-out-ip east-dns "excluded"

section "a kind the policy does not name permits nothing"
expect_ok "east-td-only: sign with a trust domain and no DNS suffix" mc sign --ca root \
    --csr east.csr --host "$SPIFFE" --org Istio --out-dir east-td-only \
    --permit-trust-domain east.local
NC=$(ext_value east-td-only/ca-cert.pem "Name Constraints" | tr '\n' ' ')
assert_contains "no DNS suffix: permitted DNS is only the reserved name 'invalid'" "$NC" \
    "DNS:invalid"
expect_fail 2 "--permit-trust-domain|spiffe" "a SPIFFE ID as trust domain is a usage error" \
    mc sign --ca root --csr east.csr --host "$SPIFFE" --org Istio --out-dir bad \
    --permit-trust-domain spiffe://east.local

section "no private key material in meshcert's output"
assert_no_key_material "no PRIVATE KEY and no key line in any meshcert stdout/stderr"

peer_finish
