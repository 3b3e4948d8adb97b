#!/usr/bin/env bash
# peer_openssl_test.sh - the openssl 3 CLI judges meshcert's roots, keys, CSRs
# and plug-in CA bundles: every key type and key format, every extension an
# intermediate must carry, validity clamping, CSRs made by openssl signed by
# meshcert and CSRs made by meshcert signed by openssl, the kubernetes.io/tls
# layout, key file modes, and no private key in meshcert's output.
# Usage: peer_openssl_test.sh /path/to/meshcert
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool openssl "apt-get install openssl"
peer_init "$@"
cd "$WORK"

SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel
HOSTS=("$SPIFFE" 10.1.2.3 fd00::1 istiod.istio-system.svc)
HOST_ARGS=()
for h in "${HOSTS[@]}"; do HOST_ARGS+=(--host "$h"); done

# The SAN list openssl prints for the hosts given, sorted, one per line.
expected_sans() {
    local h
    for h in "$@"; do
        if [[ "$h" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
            echo "IP Address:$h"
        elif [[ "$h" == fd00::1 ]]; then
            echo "IP Address:FD00:0:0:0:0:0:0:1"
        elif [[ "$h" =~ ^[a-zA-Z][a-zA-Z0-9+.-]*: ]]; then
            echo "URI:$h"
        else
            echo "DNS:$h"
        fi
    done | LC_ALL=C sort
}

# The SANs openssl finds in a certificate or CSR text, sorted, one per line.
actual_sans() { printf '%s\n' "$1" | sed 's/, /\n/g' | sed '/^$/d' | LC_ALL=C sort; }

# Expected first line of a key file.
key_header() {
    local type=$1 format=$2
    if [[ $format == pkcs8 ]]; then
        echo "-----BEGIN PRIVATE KEY-----"
    elif [[ $type == rsa* ]]; then
        echo "-----BEGIN RSA PRIVATE KEY-----"
    else
        echo "-----BEGIN EC PRIVATE KEY-----"
    fi
}

# What `openssl pkey -text` says about a key of this type.
key_description() {
    case $1 in
    rsa2048) echo "2048 bit" ;;
    rsa3072) echo "3072 bit" ;;
    rsa4096) echo "4096 bit" ;;
    ec-p256) echo "prime256v1" ;;
    ec-p384) echo "secp384r1" ;;
    esac
}

# check_key LABEL KEYFILE TYPE FORMAT
check_key() {
    local label=$1 key=$2 type=$3 format=$4
    assert_mode "$label: $key is mode 0600" "$key" 600
    assert_first_line "$label: $key PEM header for $format" "$key" "$(key_header "$type" "$format")"
    run openssl pkey -in "$key" -noout -text
    if [[ $RC -eq 0 ]]; then
        assert_contains "$label: openssl reads $key as $type" "$OUT" "$(key_description "$type")"
    else
        fail "$label: openssl reads $key as $type" "$ERR"
    fi
    if [[ $type == rsa* ]]; then
        assert_true "$label: openssl rsa -check accepts $key" openssl rsa -in "$key" -check -noout
    else
        assert_true "$label: openssl ec -check accepts $key" openssl ec -in "$key" -check -noout
    fi
}

# check_pub_match LABEL KEYFILE CERT|CSR (x509|req)
check_pub_match() {
    local label=$1 key=$2 obj=$3 kind=$4 a b
    a=$(openssl pkey -in "$key" -pubout 2>&1 || true)
    if [[ $kind == x509 ]]; then
        b=$(openssl x509 -in "$obj" -noout -pubkey 2>&1 || true)
    else
        b=$(openssl req -in "$obj" -noout -pubkey 2>&1 || true)
    fi
    if [[ -n "$a" && "$a" == "$b" && "$a" == *"PUBLIC KEY"* ]]; then
        pass "$label: $key is the key of $obj"
    else
        fail "$label: $key is the key of $obj" "key pub: $a" "$kind pub: $b"
    fi
}

# check_serial LABEL CERT: a random positive serial of 128 bits (meshcert
# forces the low bit of the first byte, so 31 or 32 hex digits).
check_serial() {
    local serial
    serial=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
    assert_match "$1: serial of $2 is 128 bits ($serial)" "$serial" '^[0-9A-F]{31,32}$'
}

# check_ca_extensions LABEL CERT: basicConstraints and keyUsage as every CA here must have them.
check_ca_extensions() {
    local label=$1 cert=$2 bc ku ski
    bc=$(ext_text "$cert" "Basic Constraints")
    assert_contains "$label: basicConstraints is critical" "$(head -n 1 <<<"$bc")" "critical"
    assert_match "$label: basicConstraints CA:TRUE" "$(ext_value "$cert" "Basic Constraints")" '^CA:TRUE'
    ku=$(ext_text "$cert" "Key Usage")
    assert_contains "$label: keyUsage is critical" "$(head -n 1 <<<"$ku")" "critical"
    assert_contains "$label: keyUsage has Certificate Sign" "$(ext_value "$cert" "Key Usage")" "Certificate Sign"
    assert_contains "$label: keyUsage has CRL Sign" "$(ext_value "$cert" "Key Usage")" "CRL Sign"
    ski=$(ext_value "$cert" "Subject Key Identifier")
    assert_match "$label: subjectKeyIdentifier present" "$ski" '^([0-9A-F]{2}:)+[0-9A-F]{2}$'
}

# check_root LABEL DIR TYPE FORMAT ORG NAME
check_root() {
    local label=$1 dir=$2 type=$3 format=$4 org=$5 name=$6
    local cert=$dir/root-cert.pem key=$dir/root-key.pem
    assert_mode "$label: root-cert.pem is mode 0644" "$cert" 644
    check_key "$label" "$key" "$type" "$format"
    check_pub_match "$label" "$key" "$cert" x509
    check_ca_extensions "$label root" "$cert"
    local subject issuer
    subject=$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    issuer=$(openssl x509 -in "$cert" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
    assert_contains "$label: root subject has O=$org" ",$subject," ",O=$org,"
    assert_contains "$label: root subject has CN=$name" ",$subject," ",CN=$name,"
    assert_eq "$label: root is self-issued" "$issuer" "$subject"
    assert_true "$label: openssl verify accepts the self-signed root" \
        openssl verify -x509_strict -CAfile "$cert" "$cert"
    check_serial "$label" "$cert"
}

# check_csr LABEL CSR KEY TYPE FORMAT ORG HOSTS...
check_csr() {
    local label=$1 csr=$2 key=$3 type=$4 format=$5 org=$6
    shift 6
    check_key "$label" "$key" "$type" "$format"
    run openssl req -in "$csr" -noout -verify
    # openssl 3.0 exits 0 on a bad signature too: require its "verify OK".
    if [[ $RC -eq 0 && "$OUT$ERR" == *"verify OK"* && "$OUT$ERR" != *"failure"* ]]; then
        pass "$label: openssl req -verify accepts $csr"
    else
        fail "$label: openssl req -verify accepts $csr" "exit $RC" "$OUT" "$ERR"
    fi
    check_pub_match "$label" "$key" "$csr" req
    local subject text sans
    subject=$(openssl req -in "$csr" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    assert_eq "$label: CSR subject is O=$org" "$subject" "O=$org"
    text=$(openssl req -in "$csr" -noout -text)
    sans=$(printf '%s\n' "$text" | grep -A1 'X509v3 Subject Alternative Name' | tail -n 1 | sed 's/^ *//')
    assert_eq "$label: CSR requests exactly the SANs" "$(actual_sans "$sans")" "$(expected_sans "$@")"
}

# check_intermediate LABEL CERT ROOT CHAIN ORG T0 T1 HOSTS...: T0..T1 brackets
# the time `meshcert sign` ran.
check_intermediate() {
    local label=$1 cert=$2 root=$3 chain=$4 org=$5 t0=$6 t1=$7
    shift 7
    check_ca_extensions "$label" "$cert"
    assert_eq "$label: basicConstraints CA:TRUE, pathlen:0" \
        "$(ext_value "$cert" "Basic Constraints")" "CA:TRUE, pathlen:0"
    assert_contains "$label: keyUsage has Digital Signature" \
        "$(ext_value "$cert" "Key Usage")" "Digital Signature"
    local aki root_ski
    aki=$(ext_value "$cert" "Authority Key Identifier" | sed 's/^keyid://' | sed -n 1p)
    root_ski=$(ext_value "$root" "Subject Key Identifier")
    if [[ -n "$root_ski" ]]; then
        assert_eq "$label: authorityKeyIdentifier equals the root's SKI" "$aki" "$root_ski"
    else
        fail "$label: authorityKeyIdentifier equals the root's SKI" "root has no SKI"
    fi
    assert_eq "$label: SANs are exactly the --host values" \
        "$(actual_sans "$(ext_value "$cert" "Subject Alternative Name")")" "$(expected_sans "$@")"
    assert_eq "$label: subject is O=$org" \
        "$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" "O=$org"
    assert_eq "$label: issuer is the root's subject" \
        "$(openssl x509 -in "$cert" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')" \
        "$(openssl x509 -in "$root" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
    check_serial "$label" "$cert"
    local nb
    nb=$(cert_not_before "$cert")
    assert_between "$label: notBefore is about now-5min" "$nb" $((t0 - 300 - 5)) $((t1 - 300 + 5))
    assert_true "$label: openssl verify -CAfile root -untrusted cert-chain ca-cert" \
        openssl verify -x509_strict -CAfile "$root" -untrusted "$chain" "$cert"
    assert_true "$label: openssl verify -purpose any with the chain's own order" \
        openssl verify -purpose any -CAfile "$root" -untrusted "$chain" "$chain"
}

# check_bundle LABEL OUT ROOTDIR KEY ORG T0 T1 HOSTS...: an Istio layout from meshcert sign.
check_bundle() {
    local label=$1 out=$2 rootdir=$3 key=$4 org=$5 t0=$6 t1=$7
    shift 7
    local f
    for f in ca-cert.pem cert-chain.pem root-cert.pem; do
        assert_mode "$label: $f is mode 0644" "$out/$f" 644
    done
    assert_mode "$label: ca-key.pem is mode 0600" "$out/ca-key.pem" 600
    assert_eq "$label: ca-key.pem keeps the --key file's PEM format" \
        "$(head -n 1 "$out/ca-key.pem")" "$(head -n 1 "$key")"
    assert_true "$label: root-cert.pem is the root" cmp "$rootdir/root-cert.pem" "$out/root-cert.pem"
    check_pub_match "$label" "$out/ca-key.pem" "$out/ca-cert.pem" x509
    # cert-chain.pem: ca-cert.pem then the root, as Istio's tooling writes it.
    local n first second
    n=$(grep -c 'BEGIN CERTIFICATE' "$out/cert-chain.pem" || true)
    assert_eq "$label: cert-chain.pem holds 2 certificates" "$n" 2
    first=$(openssl x509 -in "$out/cert-chain.pem" -outform DER 2>/dev/null | sha256sum)
    assert_eq "$label: cert-chain.pem starts with ca-cert.pem" "$first" \
        "$(openssl x509 -in "$out/ca-cert.pem" -outform DER | sha256sum)"
    second=$(awk '/BEGIN CERT/ { n++ } n == 2' "$out/cert-chain.pem" |
        openssl x509 -outform DER 2>/dev/null | sha256sum)
    assert_eq "$label: cert-chain.pem ends with the root" "$second" \
        "$(openssl x509 -in "$rootdir/root-cert.pem" -outform DER | sha256sum)"
    check_intermediate "$label" "$out/ca-cert.pem" "$rootdir/root-cert.pem" "$out/cert-chain.pem" \
        "$org" "$t0" "$t1" "$@"
    run mc verify --root "$rootdir/root-cert.pem" --dir "$out"
    if [[ $RC -ne 0 ]]; then
        fail "$label: meshcert verify accepts the bundle" "exit $RC" "$OUT" "$ERR"
        return
    fi
    pass "$label: meshcert verify accepts the bundle"
    assert_contains "$label: verify prints chain: OK" "$OUT" "chain: OK"
    assert_contains "$label: verify prints the subject" "$OUT" "O=$org"
    local h
    for h in "$@"; do
        [[ $h == fd00::1 ]] && continue # printed in the library's IPv6 notation
        assert_contains "$label: verify prints the SAN $h" "$OUT" "$h"
    done
    local na
    na=$(date -u -d "@$(cert_not_after "$out/ca-cert.pem")" +%Y-%m-%dT%H:%M:%SZ)
    assert_contains "$label: verify prints the not-after ($na)" "$OUT" "$na"
}

section "roots: every key type, both key formats"
# name:type:format
ROOTS=(r-ec256:ec-p256:pkcs8 r-ec384:ec-p384:traditional r-rsa2048:rsa2048:traditional
    r-rsa3072:rsa3072:pkcs8 r-rsa4096:rsa4096:pkcs8)
for spec in "${ROOTS[@]}"; do
    IFS=: read -r name type format <<<"$spec"
    expect_ok "ca create $name ($type, $format)" mc ca create --dir "$name" --key-type "$type" \
        --key-format "$format" --org "Acme Mesh" --name "Root $type"
    assert_not_contains "ca create $name: stdout has no key material" "$OUT" "PRIVATE KEY"
    check_root "$name" "$name" "$type" "$format" "Acme Mesh" "Root $type"
done

section "intermediate CSRs: every key type, both key formats, signed across root types"
# csrname:type:format:signing root
CSRS=(c-ec256:ec-p256:traditional:r-rsa4096 c-ec384:ec-p384:pkcs8:r-ec256
    c-rsa2048:rsa2048:traditional:r-ec384 c-rsa3072:rsa3072:pkcs8:r-rsa2048
    c-rsa4096:rsa4096:traditional:r-rsa3072)
for spec in "${CSRS[@]}"; do
    IFS=: read -r name type format root <<<"$spec"
    expect_ok "csr create $name ($type, $format)" mc csr create --org Istio "${HOST_ARGS[@]}" \
        --key-type "$type" --key-format "$format" --out-key "$name.key" --out-csr "$name.csr"
    check_csr "$name" "$name.csr" "$name.key" "$type" "$format" Istio "${HOSTS[@]}"
    t0=$(date +%s)
    expect_ok "sign $name with $root" mc sign --ca "$root" --csr "$name.csr" "${HOST_ARGS[@]}" \
        --org Istio --key "$name.key" --out-dir "out-$name"
    t1=$(date +%s)
    check_bundle "$name" "out-$name" "$root" "$name.key" Istio "$t0" "$t1" "${HOSTS[@]}"
done

section "openssl signs meshcert's CSRs with meshcert's root keys (pkcs8 and traditional)"
for pair in c-ec256:r-ec256 c-rsa2048:r-ec384 c-ec384:r-rsa2048; do
    IFS=: read -r csr root <<<"$pair"
    expect_ok "openssl x509 -req signs $csr.csr with $root/root-key.pem" \
        openssl x509 -req -in "$csr.csr" -CA "$root/root-cert.pem" -CAkey "$root/root-key.pem" \
        -set_serial 0x1234 -days 30 -copy_extensions copy -out "ossl-$csr-$root.pem"
    assert_true "openssl verify accepts that certificate" \
        openssl verify -CAfile "$root/root-cert.pem" "ossl-$csr-$root.pem"
    check_pub_match "openssl-signed $csr" "$csr.key" "ossl-$csr-$root.pem" x509
done

section "CSRs made by openssl req, signed by meshcert"
# RSA 2048, PKCS#8 key written by openssl req, CSR carrying the SANs.
expect_ok "openssl req makes an RSA-2048 CSR with SANs" \
    openssl req -new -newkey rsa:2048 -nodes -keyout o-rsa.key -out o-rsa.csr -subj /O=Istio \
    -addext "subjectAltName=URI:$SPIFFE,IP:10.1.2.3,IP:fd00::1,DNS:istiod.istio-system.svc"
t0=$(date +%s)
expect_ok "meshcert signs the openssl RSA CSR" mc sign --ca r-ec256 --csr o-rsa.csr \
    "${HOST_ARGS[@]}" --org Istio --key o-rsa.key --out-dir out-o-rsa
t1=$(date +%s)
check_bundle o-rsa out-o-rsa r-ec256 o-rsa.key Istio "$t0" "$t1" "${HOSTS[@]}"

# EC P-256, SEC1 key from openssl ecparam, CSR without SANs and O= taken from the CSR.
expect_ok "openssl ecparam makes a SEC1 P-256 key" \
    openssl ecparam -name prime256v1 -genkey -noout -out o-ec.key
expect_ok "openssl req makes an EC CSR without SANs" \
    openssl req -new -key o-ec.key -out o-ec.csr -subj /O=Istio
t0=$(date +%s)
expect_ok "meshcert signs the openssl EC CSR (O= from the CSR)" mc sign --ca r-rsa2048 \
    --csr o-ec.csr --host "$SPIFFE" --key o-ec.key --out-dir out-o-ec
t1=$(date +%s)
check_bundle o-ec out-o-ec r-rsa2048 o-ec.key Istio "$t0" "$t1" "$SPIFFE"

# EC P-384 CSR in DER, PKCS#8 key from openssl genpkey.
expect_ok "openssl genpkey makes a P-384 key" \
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out o-ec384.key
expect_ok "openssl req makes a DER P-384 CSR" \
    openssl req -new -key o-ec384.key -outform DER -out o-ec384.der -subj /O=Istio \
    -addext "subjectAltName=DNS:istiod.istio-system.svc"
t0=$(date +%s)
expect_ok "meshcert signs the DER CSR" mc sign --ca r-ec256 --csr o-ec384.der \
    --host istiod.istio-system.svc --org Istio --key o-ec384.key --out-dir out-o-ec384
t1=$(date +%s)
check_bundle o-ec384 out-o-ec384 r-ec256 o-ec384.key Istio "$t0" "$t1" istiod.istio-system.svc

# RSA 3072 PKCS#1 key from openssl genrsa -traditional.
expect_ok "openssl genrsa -traditional makes a PKCS#1 key" \
    openssl genrsa -traditional -out o-pkcs1.key 2048
assert_first_line "openssl wrote a PKCS#1 key" o-pkcs1.key "-----BEGIN RSA PRIVATE KEY-----"
expect_ok "openssl req makes a CSR from the PKCS#1 key" \
    openssl req -new -key o-pkcs1.key -out o-pkcs1.csr -subj /O=Istio -addext "subjectAltName=IP:10.1.2.3"
t0=$(date +%s)
expect_ok "meshcert signs it, --key in PKCS#1" mc sign --ca r-ec384 --csr o-pkcs1.csr \
    --host 10.1.2.3 --org Istio --key o-pkcs1.key --out-dir out-o-pkcs1
t1=$(date +%s)
check_bundle o-pkcs1 out-o-pkcs1 r-ec384 o-pkcs1.key Istio "$t0" "$t1" 10.1.2.3

section "validity: default TTL, short TTL, clamped to the root's notAfter"
expect_ok "csr create for the validity checks" mc csr create --org Istio --host "$SPIFFE" \
    --key-type ec-p256 --out-key v.key --out-csr v.csr
t0=$(date +%s)
expect_ok "sign with the default TTL" mc sign --ca r-ec256 --csr v.csr --host "$SPIFFE" \
    --out-dir out-v-default
t1=$(date +%s)
na=$(cert_not_after out-v-default/ca-cert.pem)
assert_between "default TTL: notAfter is about now+365d" "$na" $((t0 + 365 * 86400 - 300 - 5)) \
    $((t1 + 365 * 86400 + 5))
t0=$(date +%s)
expect_ok "sign with --ttl 10d" mc sign --ca r-ec256 --csr v.csr --host "$SPIFFE" --ttl 10d \
    --out-dir out-v-10d
t1=$(date +%s)
na=$(cert_not_after out-v-10d/ca-cert.pem)
assert_between "--ttl 10d: notAfter is about now+10d" "$na" $((t0 + 10 * 86400 - 300 - 5)) \
    $((t1 + 10 * 86400 + 5))
assert_true "without --key, no ca-key.pem is written" test ! -e out-v-10d/ca-key.pem
expect_ok "ca create a root valid 30 days" mc ca create --dir r-short --key-type ec-p256 --ttl 30d
expect_ok "sign with --ttl 2y under the 30-day root" mc sign --ca r-short --csr v.csr \
    --host "$SPIFFE" --ttl 2y --key v.key --out-dir out-v-clamped
assert_eq "--ttl beyond the root: notAfter clamped to the root's notAfter" \
    "$(cert_not_after out-v-clamped/ca-cert.pem)" "$(cert_not_after r-short/root-cert.pem)"
assert_true "the clamped intermediate verifies" openssl verify -CAfile r-short/root-cert.pem \
    -untrusted out-v-clamped/cert-chain.pem out-v-clamped/ca-cert.pem
assert_false "negative control: openssl verify -attime after the root's notAfter fails" \
    openssl verify -attime $(($(cert_not_after r-short/root-cert.pem) + 86400)) \
    -CAfile r-short/root-cert.pem -untrusted out-v-clamped/cert-chain.pem out-v-clamped/ca-cert.pem

section "--format tls: tls.crt, tls.key, ca.crt"
expect_ok "csr create for the tls layout" mc csr create --org Istio "${HOST_ARGS[@]}" \
    --key-type ec-p256 --out-key t.key --out-csr t.csr
expect_ok "sign --format tls" mc sign --ca r-rsa2048 --csr t.csr "${HOST_ARGS[@]}" --org Istio \
    --key t.key --format tls --out-dir out-tls
assert_eq "tls layout: exactly tls.crt, tls.key, ca.crt" "$(find out-tls -type f -printf "%f " | tr " " "\n" | LC_ALL=C sort | tr "\n" " ")" \
    "ca.crt tls.crt tls.key "
assert_mode "tls.key is mode 0600" out-tls/tls.key 600
assert_mode "tls.crt is mode 0644" out-tls/tls.crt 644
assert_true "tls.key is the --key file" cmp t.key out-tls/tls.key
assert_true "ca.crt is the root" cmp r-rsa2048/root-cert.pem out-tls/ca.crt
check_pub_match "tls layout" out-tls/tls.key out-tls/tls.crt x509
assert_true "openssl verify -CAfile ca.crt tls.crt" openssl verify -x509_strict -CAfile out-tls/ca.crt out-tls/tls.crt
assert_eq "tls.crt: basicConstraints CA:TRUE, pathlen:0" \
    "$(ext_value out-tls/tls.crt "Basic Constraints")" "CA:TRUE, pathlen:0"
run mc verify --root r-rsa2048/root-cert.pem --dir out-tls
assert_eq "meshcert verify accepts the tls layout" "$RC" 0
assert_contains "meshcert verify on the tls layout prints chain: OK" "$OUT" "chain: OK"

section "negative controls: openssl does reject what it must"
assert_false "openssl verify rejects an intermediate against another root" \
    openssl verify -CAfile r-ec384/root-cert.pem -untrusted out-c-ec384/cert-chain.pem out-c-ec384/ca-cert.pem
run openssl req -in c-ec256.csr -outform DER -out bad.der
cp bad.der bad2.der
flip_byte bad2.der 2
# openssl 3.0 `req -verify` exits 0 even when the signature is bad; judge by its words.
run openssl req -inform DER -in bad2.der -noout -verify
assert_contains "openssl req -verify rejects a CSR with a broken signature" "$OUT$ERR" "verify failure"

section "no private key material in meshcert's output"
assert_no_key_material "no PRIVATE KEY and no key line in any meshcert stdout/stderr"

peer_finish
