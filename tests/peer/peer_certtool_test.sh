#!/usr/bin/env bash
# peer_certtool_test.sh - GnuTLS certtool, a second verifier independent of
# OpenSSL (which meshcert itself uses), judges meshcert's CSRs, keys and
# plug-in CA bundles: chain verification, the extensions as GnuTLS parses
# them, key/certificate matching, and CSRs made by certtool signed by meshcert.
# Usage: peer_certtool_test.sh /path/to/meshcert
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool certtool "apt-get install gnutls-bin"
require_tool openssl "apt-get install openssl"
peer_init "$@"
cd "$WORK"

SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel

# certtool_ext FILE HEADER: the value lines certtool -i prints under one
# extension header (e.g. "Basic Constraints (critical):"), tabs stripped.
certtool_ext() {
    certtool -i --infile "$1" 2>/dev/null |
        awk -v want="$2" '
            index($0, "\t\t" want) == 1 { on = 1; next }
            on && /^\t\t\t/ { sub(/^\t+/, ""); print; next }
            { on = 0 }'
}

# certtool_field FILE PREFIX: the rest of the first certtool -i line that
# starts (after tabs) with PREFIX.
certtool_field() {
    certtool -i --infile "$1" 2>/dev/null |
        awk -v want="$2" '{ line = $0; sub(/^\t+/, "", line) }
            index(line, want) == 1 { print substr(line, length(want) + 1); exit }'
}

# The sha256 public key ID certtool computes for a key, a certificate or a CSR.
key_id_of_key() {
    certtool --key-info --infile "$1" 2>/dev/null | grep -A2 'Public Key ID:' | grep -m1 'sha256:' | tr -d '[:space:]'
}
key_id_of_cert() {
    certtool -i --infile "$1" 2>/dev/null | grep -A2 'Public Key ID:' | grep -m1 'sha256:' | tr -d '[:space:]'
}

# certtool_verify_chain LABEL CHAINFILE: certtool --verify-chain (the last
# certificate is the self-signed root, the first the one being checked).
certtool_verify_chain() {
    run certtool --verify-profile medium --verify-chain --infile "$2"
    if [[ $RC -eq 0 && "$OUT" == *"Chain verification output: Verified"* ]]; then
        pass "$1"
    else
        fail "$1" "exit $RC" "$OUT" "$ERR"
    fi
}

# certtool_verify LABEL ROOT CHAINFILE: certtool --verify against a loaded CA.
certtool_verify() {
    run certtool --verify-profile medium --verify --load-ca-certificate "$2" --infile "$3"
    if [[ $RC -eq 0 && "$OUT" == *"Chain verification output: Verified"* ]]; then
        pass "$1"
    else
        fail "$1" "exit $RC" "$OUT" "$ERR"
    fi
}

# check_with_certtool LABEL OUTDIR ROOTDIR KEY HOSTS...: a bundle as GnuTLS sees it.
check_with_certtool() {
    local label=$1 out=$2 rootdir=$3 key=$4
    shift 4
    local cert=$out/ca-cert.pem root=$rootdir/root-cert.pem
    certtool_verify_chain "$label: certtool --verify-chain cert-chain.pem" "$out/cert-chain.pem"
    certtool_verify "$label: certtool --verify --load-ca-certificate root --infile cert-chain.pem" \
        "$root" "$out/cert-chain.pem"
    certtool_verify "$label: certtool --verify against the bundle's own root-cert.pem" \
        "$out/root-cert.pem" "$out/cert-chain.pem"
    assert_eq "$label: basicConstraints (critical) CA TRUE, path length 0" \
        "$(certtool_ext "$cert" "Basic Constraints (critical):" | tr '\n' '|')" \
        "Certificate Authority (CA): TRUE|Path Length Constraint: 0|"
    local ku
    ku=$(certtool_ext "$cert" "Key Usage (critical):" | tr '\n' '|')
    assert_contains "$label: keyUsage (critical) has certificate signing" "$ku" "Certificate signing."
    assert_contains "$label: keyUsage (critical) has CRL signing" "$ku" "CRL signing."
    assert_contains "$label: keyUsage (critical) has digital signature" "$ku" "Digital signature."
    local ski aki root_ski
    ski=$(certtool_ext "$cert" "Subject Key Identifier" | sed -n 1p)
    aki=$(certtool_ext "$cert" "Authority Key Identifier" | sed -n 1p)
    root_ski=$(certtool_ext "$root" "Subject Key Identifier" | sed -n 1p)
    assert_match "$label: subjectKeyIdentifier present" "$ski" '^[0-9a-f]{40}$'
    assert_match "$label: root has a subjectKeyIdentifier" "$root_ski" '^[0-9a-f]{40}$'
    assert_eq "$label: authorityKeyIdentifier is the root's SKI" "$aki" "$root_ski"
    local expected="" h
    for h in "$@"; do
        if [[ "$h" =~ ^[0-9.]+$ ]]; then
            expected+="IPAddress: $h"$'\n'
        elif [[ "$h" == *://* ]]; then
            expected+="URI: $h"$'\n'
        else
            expected+="DNSname: $h"$'\n'
        fi
    done
    assert_eq "$label: SANs as GnuTLS reads them are exactly the --host values" \
        "$(certtool_ext "$cert" "Subject Alternative Name" | LC_ALL=C sort)" \
        "$(printf '%s' "$expected" | LC_ALL=C sort)"
    assert_eq "$label: subject O=Istio" "$(certtool_field "$cert" "Subject: ")" "O=Istio"
    assert_eq "$label: issuer is the root" "$(certtool_field "$cert" "Issuer: ")" \
        "$(certtool_field "$root" "Subject: ")"
    assert_match "$label: serial is 128 bits" "$(certtool_field "$cert" "Serial Number (hex): ")" \
        '^(00)?[0-9a-f]{31,32}$'
    local kid
    kid=$(key_id_of_key "$out/ca-key.pem")
    assert_match "$label: certtool reads ca-key.pem" "$kid" '^sha256:[0-9a-f]{64}$'
    assert_eq "$label: ca-key.pem matches ca-cert.pem (certtool public key IDs)" \
        "$(key_id_of_cert "$cert")" "$kid"
    assert_eq "$label: ca-key.pem is the --key (certtool public key IDs)" "$(key_id_of_key "$key")" "$kid"
}

section "roots (certtool reads them)"
for spec in r-ec256:ec-p256:pkcs8 r-rsa2048:rsa2048:traditional r-ec384:ec-p384:traditional; do
    IFS=: read -r name type format <<<"$spec"
    expect_ok "ca create $name ($type, $format)" mc ca create --dir "$name" --key-type "$type" \
        --key-format "$format" --org "Acme Mesh"
    assert_eq "$name: certtool reads root-key.pem, same key as root-cert.pem" \
        "$(key_id_of_key "$name/root-key.pem")" "$(key_id_of_cert "$name/root-cert.pem")"
    assert_match "$name: the key ID is real" "$(key_id_of_cert "$name/root-cert.pem")" '^sha256:[0-9a-f]{64}$'
    assert_eq "$name: root basicConstraints critical, CA TRUE" \
        "$(certtool_ext "$name/root-cert.pem" "Basic Constraints (critical):" | sed -n 1p)" \
        "Certificate Authority (CA): TRUE"
    assert_contains "$name: root keyUsage critical with certificate signing" \
        "$(certtool_ext "$name/root-cert.pem" "Key Usage (critical):" | tr '\n' '|')" "Certificate signing."
    assert_true "$name: certtool --verify accepts the self-signed root" \
        certtool --verify --load-ca-certificate "$name/root-cert.pem" --infile "$name/root-cert.pem"
done

section "meshcert CSRs (certtool checks their self-signature), signed, verified by certtool"
HOSTS=("$SPIFFE" 10.20.30.40 istiod.istio-system.svc)
HOST_ARGS=()
for h in "${HOSTS[@]}"; do HOST_ARGS+=(--host "$h"); done
for spec in c-ec256:ec-p256:traditional:r-rsa2048 c-rsa2048:rsa2048:pkcs8:r-ec256 \
    c-ec384:ec-p384:pkcs8:r-ec384 c-rsa3072:rsa3072:traditional:r-ec384; do
    IFS=: read -r name type format root <<<"$spec"
    expect_ok "csr create $name ($type, $format)" mc csr create --org Istio "${HOST_ARGS[@]}" \
        --key-type "$type" --key-format "$format" --out-key "$name.key" --out-csr "$name.csr"
    run certtool --crq-info --infile "$name.csr"
    assert_contains "$name: certtool verifies the CSR's self-signature" "$OUT$ERR" "Self signature: verified"
    assert_eq "$name: certtool reads the key file, same key as the CSR" \
        "$(key_id_of_key "$name.key")" "$(certtool --crq-info --infile "$name.csr" 2>/dev/null |
            grep -A2 'Public Key ID:' | grep -m1 'sha256:' | tr -d '[:space:]')"
    expect_ok "sign $name with $root" mc sign --ca "$root" --csr "$name.csr" "${HOST_ARGS[@]}" \
        --org Istio --key "$name.key" --out-dir "out-$name"
    check_with_certtool "$name" "out-$name" "$root" "$name.key" "${HOSTS[@]}"
done

section "CSRs made by certtool, signed by meshcert"
cat >tmpl.cfg <<EOF
organization = "Istio"
uri = "$SPIFFE"
dns_name = "istiod.istio-system.svc"
EOF
expect_ok "certtool generates an ECDSA P-256 key" \
    certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile g-ec.key
expect_ok "certtool generates an RSA 2048 key" \
    certtool --generate-privkey --key-type rsa --bits 2048 --outfile g-rsa.key
for name in g-ec g-rsa; do
    expect_ok "certtool --generate-request from $name.key" certtool --generate-request \
        --load-privkey "$name.key" --template tmpl.cfg --outfile "$name.csr"
    expect_ok "meshcert signs the certtool CSR $name.csr" mc sign --ca r-ec256 --csr "$name.csr" \
        --host "$SPIFFE" --host istiod.istio-system.svc --org Istio --key "$name.key" \
        --out-dir "out-$name"
    check_with_certtool "$name" "out-$name" r-ec256 "$name.key" "$SPIFFE" istiod.istio-system.svc
done

section "certtool CSRs: no subject (RFC 5280 4.1.2.6), SHA-1 self-signature"
printf 'uri = "%s"\n' "$SPIFFE" >nosubject.cfg
expect_ok "certtool --generate-request without an organization (empty subject)" certtool \
    --generate-request --load-privkey g-ec.key --template nosubject.cfg --outfile g-nosubject.csr
expect_fail 1 "g-nosubject.csr|empty subject|--org" "sign refuses to issue a CA with an empty subject" \
    mc sign --ca r-ec256 --csr g-nosubject.csr --host "$SPIFFE" --out-dir out-g-nosubject
assert_true "... and writes nothing" test ! -e out-g-nosubject
expect_ok "sign --org gives it a subject" mc sign --ca r-ec256 --csr g-nosubject.csr \
    --host "$SPIFFE" --org Istio --out-dir out-g-nosubject
assert_eq "certtool sees the subject O=Istio" \
    "$(certtool -i --infile out-g-nosubject/ca-cert.pem | sed -n 's/^[[:space:]]*Subject: //p')" "O=Istio"
expect_ok "certtool --generate-request --hash SHA1" certtool --generate-request \
    --load-privkey g-ec.key --template tmpl.cfg --hash SHA1 --outfile g-sha1.csr
expect_fail 1 "g-sha1.csr|SHA-1|ecdsa-with-SHA1" "sign refuses a CSR self-signed with SHA-1" \
    mc sign --ca r-ec256 --csr g-sha1.csr --host "$SPIFFE" --org Istio --out-dir out-g-sha1
assert_true "... and writes nothing" test ! -e out-g-sha1

section "--format tls verified by certtool"
expect_ok "csr create for the tls layout" mc csr create --org Istio --host "$SPIFFE" \
    --key-type ec-p256 --out-key t.key --out-csr t.csr
expect_ok "sign --format tls" mc sign --ca r-rsa2048 --csr t.csr --host "$SPIFFE" --org Istio \
    --key t.key --format tls --out-dir out-tls
certtool_verify "tls layout: certtool --verify --load-ca-certificate ca.crt --infile tls.crt" \
    out-tls/ca.crt out-tls/tls.crt
assert_eq "tls layout: tls.key matches tls.crt (certtool public key IDs)" \
    "$(key_id_of_key out-tls/tls.key)" "$(key_id_of_cert out-tls/tls.crt)"

section "negative controls: certtool does reject what it must"
run certtool --verify --load-ca-certificate r-ec384/root-cert.pem --infile out-c-ec256/cert-chain.pem
assert_eq "certtool --verify rejects a bundle against another root" "$([[ $RC -ne 0 ]] && echo rejected || echo "accepted: $OUT")" rejected
awk '/BEGIN CERT/ { n++ } n == 1' out-c-ec256/cert-chain.pem >wrong-chain.pem
cat r-ec384/root-cert.pem >>wrong-chain.pem
run certtool --verify-chain --infile wrong-chain.pem
assert_eq "certtool --verify-chain rejects ca-cert followed by another root" \
    "$([[ $RC -ne 0 ]] && echo rejected || echo "accepted: $OUT")" rejected
assert_false "certtool key IDs differ for different keys" \
    test "$(key_id_of_key c-ec256.key)" == "$(key_id_of_key c-rsa2048.key)"

section "no private key material in meshcert's output"
assert_no_key_material "no PRIVATE KEY and no key line in any meshcert stdout/stderr"

peer_finish
