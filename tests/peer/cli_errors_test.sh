#!/usr/bin/env bash
# cli_errors_test.sh - bad input to the meshcert CLI: each failure is one line
# on stderr naming the file and the problem, exit code 1 (2 for usage errors),
# and leaves no partial output: a failing `sign` neither creates its --out-dir
# nor changes an existing one; `ca create` and `csr create` never replace keys
# without --force; `verify` names the check that failed. Bad inputs are made
# with the openssl CLI (truncated DER, broken signatures, weak and unsupported
# keys, oversized CSRs).
# Usage: cli_errors_test.sh /path/to/meshcert
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool openssl "apt-get install openssl"
peer_init "$@"
cd "$WORK"

SPIFFE=spiffe://cluster.local/ns/istio-system/sa/citadel
HOSTS=(--host "$SPIFFE" --host 10.0.0.1 --host istiod.istio-system.svc)

# refuse_sign NAME CODE SUBSTRINGS SIGN_ARGS...: `meshcert sign SIGN_ARGS`
# fails with CODE and SUBSTRINGS, creates no new --out-dir, and leaves an
# existing --out-dir (a good earlier bundle) exactly as it was.
refuse_sign() {
    local name=$1 code=$2 substrings=$3
    shift 3
    rm -rf fresh-out
    expect_fail "$code" "$substrings" "$name" mc sign "$@" --out-dir fresh-out
    assert_eq "$name: --out-dir not created" "$(snapshot fresh-out)" ABSENT
    # A copy, so that a sign that wrongly succeeds cannot spoil later cases.
    local before
    rm -rf guard-out
    cp -a existing-out guard-out
    before=$(snapshot guard-out)
    run mc sign "$@" --out-dir guard-out
    assert_eq "$name: same exit code when --out-dir exists" "$RC" "$code"
    assert_unchanged "$name: existing --out-dir unchanged" guard-out "$before"
}

section "fixtures: two roots, two clusters' keys and CSRs, one good bundle"
expect_ok "ca create root" mc ca create --dir root --key-type ec-p256 --org "Acme Mesh"
expect_ok "ca create rootB" mc ca create --dir rootB --key-type ec-p256 --org "Other Mesh"
expect_ok "csr create c1 (EC)" mc csr create --org Istio "${HOSTS[@]}" --key-type ec-p256 \
    --out-key c1.key --out-csr c1.csr
expect_ok "csr create c2 (RSA 2048)" mc csr create --org Istio "${HOSTS[@]}" --key-type rsa2048 \
    --out-key c2.key --out-csr c2.csr
expect_ok "sign c1 into existing-out" mc sign --ca root --csr c1.csr "${HOSTS[@]}" --org Istio \
    --key c1.key --out-dir existing-out
expect_ok "sign c2 into c2-out" mc sign --ca root --csr c2.csr "${HOSTS[@]}" --org Istio \
    --key c2.key --out-dir c2-out
assert_eq "the good bundle has 4 files" "$(find existing-out -type f | wc -l)" 4

section "malformed CSRs"
printf 'hello\nthis is not a CSR\n' >garbage.csr
refuse_sign "garbage text as CSR" 1 "garbage.csr" --ca root --csr garbage.csr "${HOSTS[@]}"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nnot!!base64@@\n-----END CERTIFICATE REQUEST-----\n' >garbage-pem.csr
refuse_sign "garbage inside PEM armour" 1 "garbage-pem.csr" --ca root --csr garbage-pem.csr "${HOSTS[@]}"
expect_ok "openssl converts c1.csr to DER" openssl req -in c1.csr -outform DER -out c1.der
expect_ok "the DER CSR itself is signable (control for the cut one)" mc sign --ca root --csr c1.der \
    "${HOSTS[@]}" --org Istio --out-dir der-out
head -c $(($(stat -c %s c1.der) - 40)) c1.der >trunc.der
refuse_sign "truncated DER CSR" 1 "trunc.der" --ca root --csr trunc.der "${HOSTS[@]}"
head -c 150 c1.csr >trunc.csr
refuse_sign "truncated PEM CSR" 1 "trunc.csr" --ca root --csr trunc.csr "${HOSTS[@]}"
{
    cat c1.der
    printf 'XYZ'
} >trail.der
refuse_sign "DER CSR with trailing bytes" 1 "trail.der" --ca root --csr trail.der "${HOSTS[@]}"
cat c1.csr c2.csr >two.csr
refuse_sign "a file holding two CSRs (which one would be signed?)" 1 "two.csr" \
    --ca root --csr two.csr "${HOSTS[@]}"
refuse_sign "a certificate given as CSR" 1 "ca-cert.pem" --ca root --csr existing-out/ca-cert.pem "${HOSTS[@]}"
refuse_sign "a private key given as CSR" 1 "c1.key" --ca root --csr c1.key "${HOSTS[@]}"
refuse_sign "missing CSR file" 1 "no-such.csr" --ca root --csr no-such.csr "${HOSTS[@]}"

section "CSRs self-signed with MD5 or SHA-1 (made by openssl req -md5 / -sha1)"
for digest in md5 sha1; do
    expect_ok "openssl req -$digest makes a CSR" openssl req -new -key c2.key -subj /O=Istio \
        -addext "subjectAltName=URI:$SPIFFE" "-$digest" -out "c2-$digest.csr"
    expect_ok "openssl itself verifies the -$digest CSR's signature (control)" \
        openssl req -in "c2-$digest.csr" -noout -verify
done
refuse_sign "CSR self-signed with MD5" 1 "c2-md5.csr|MD5|md5WithRSAEncryption" \
    --ca root --csr c2-md5.csr --host "$SPIFFE" --org Istio
refuse_sign "CSR self-signed with SHA-1" 1 "c2-sha1.csr|SHA-1|sha1WithRSAEncryption" \
    --ca root --csr c2-sha1.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req -sha1 with an EC key" openssl req -new -key c1.key -subj /O=Istio -sha1 \
    -out c1-sha1.csr
refuse_sign "CSR self-signed with ECDSA over SHA-1" 1 "c1-sha1.csr|SHA-1|ecdsa-with-SHA1" \
    --ca root --csr c1-sha1.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req RSASSA-PSS over SHA-1" openssl req -new -key c2.key -subj /O=Istio \
    -sigopt rsa_padding_mode:pss -sha1 -out c2-pss-sha1.csr
refuse_sign "CSR self-signed with RSASSA-PSS over SHA-1" 1 "c2-pss-sha1.csr|SHA-1|rsassaPss" \
    --ca root --csr c2-pss-sha1.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req RSASSA-PSS over SHA-256 (control)" openssl req -new -key c2.key -subj /O=Istio \
    -sigopt rsa_padding_mode:pss -sha256 -out c2-pss-sha256.csr
expect_ok "a CSR self-signed with RSASSA-PSS over SHA-256 is signed" mc sign --ca root \
    --csr c2-pss-sha256.csr --host "$SPIFFE" --org Istio --out-dir pss-out

section "no CA with an empty subject (RFC 5280 4.1.2.6)"
expect_fail 2 "--org|RFC 5280" "csr create without --org" mc csr create --host "$SPIFFE" \
    --key-type ec-p256 --out-key no-org.key --out-csr no-org.csr
assert_true "csr create without --org writes nothing" test ! -e no-org.key -a ! -e no-org.csr
expect_fail 2 "--org|RFC 5280" "csr create --org ''" mc csr create --org "" --host "$SPIFFE" \
    --key-type ec-p256 --out-key no-org.key --out-csr no-org.csr
expect_ok "openssl makes a CSR with an empty subject" openssl req -new -key c1.key -subj / \
    -addext "subjectAltName=URI:$SPIFFE" -out empty-subject.csr
assert_eq "openssl shows its subject empty" "$(openssl req -in empty-subject.csr -noout -subject)" "subject="
refuse_sign "sign without --org, the CSR without O=" 1 "empty-subject.csr|empty subject|--org" \
    --ca root --csr empty-subject.csr --host "$SPIFFE"
expect_fail 2 "--org" "sign --org ''" mc sign --ca root --csr empty-subject.csr --host "$SPIFFE" \
    --org "" --out-dir empty-org-out
expect_ok "sign --org gives the CA a subject" mc sign --ca root --csr empty-subject.csr \
    --host "$SPIFFE" --org Istio --out-dir subject-out
assert_eq "openssl sees subject O=Istio" \
    "$(openssl x509 -in subject-out/ca-cert.pem -noout -subject -nameopt RFC2253)" "subject=O=Istio"

section "CSRs whose signature does not verify (last bytes of the signature flipped)"
for name in c1 c2; do
    expect_ok "openssl converts $name.csr to DER" openssl req -in "$name.csr" -outform DER -out "$name-sig.der"
    flip_byte "$name-sig.der" 3
    pem_wrap "CERTIFICATE REQUEST" <"$name-sig.der" >"$name-badsig.csr"
    run openssl req -in "$name-badsig.csr" -noout -subject
    assert_eq "openssl still parses $name-badsig.csr (only the signature is broken)" "$RC" 0
    run openssl req -in "$name-badsig.csr" -noout -verify
    assert_contains "openssl req -verify finds the signature of $name-badsig.csr broken" "$OUT$ERR" "verify failure"
    refuse_sign "$name-badsig.csr: bad CSR signature" 1 "$name-badsig.csr|signature" \
        --ca root --csr "$name-badsig.csr" "${HOSTS[@]}" --org Istio
done

section "CSR keys meshcert must not accept"
expect_ok "openssl req makes an RSA-1024 CSR" openssl req -new -newkey rsa:1024 -nodes \
    -keyout r1024.key -subj /O=Istio -out r1024.csr
refuse_sign "RSA-1024 CSR (too small)" 1 "r1024.csr|1024" --ca root --csr r1024.csr "${HOSTS[@]}"
expect_ok "openssl req makes an Ed25519 CSR" openssl req -new -newkey ed25519 -nodes \
    -keyout ed.key -subj /O=Istio -out ed.csr
run openssl req -in ed.csr -noout -verify
assert_contains "openssl accepts the Ed25519 CSR (it is well formed)" "$OUT$ERR" "verify OK"
refuse_sign "Ed25519 CSR (unsupported key type)" 1 "ed.csr|nsupported" --ca root --csr ed.csr "${HOSTS[@]}"

section "a CSR over 64 KiB"
{
    printf '[req]\ndistinguished_name = dn\nreq_extensions = ext\nprompt = no\n'
    printf '[dn]\nO = Istio\n[ext]\nsubjectAltName = @alt\n[alt]\n'
    for i in $(seq 1 2600); do echo "DNS.$i = host-$i.example.com"; done
} >big.cnf
expect_ok "openssl req makes a valid CSR with 2600 SANs" openssl req -new -key c1.key -config big.cnf -out big.csr
assert_between "big.csr is over 64 KiB" "$(stat -c %s big.csr)" 65537 1000000
run openssl req -in big.csr -noout -verify
assert_contains "openssl accepts big.csr (only its size is wrong)" "$OUT$ERR" "verify OK"
refuse_sign "CSR over 64 KiB" 1 "big.csr" --ca root --csr big.csr "${HOSTS[@]}"
assert_match "the size error names the limit" "$ERR" '(limit|large|exceed|65536|64 ?Ki?B)'

section "the CA directory"
mkdir mixed-ca
cp root/root-cert.pem mixed-ca/
cp rootB/root-key.pem mixed-ca/
refuse_sign "CA key that does not match the CA certificate" 1 "mixed-ca/root-key.pem|match" \
    --ca mixed-ca --csr c1.csr "${HOSTS[@]}"
mkdir empty-ca
refuse_sign "CA directory without a root" 1 "empty-ca" --ca empty-ca --csr c1.csr "${HOSTS[@]}"
refuse_sign "--ca that does not exist" 1 "no-such-ca" --ca no-such-ca --csr c1.csr "${HOSTS[@]}"
mkdir key-as-cert
cp c1.key key-as-cert/root-cert.pem
cp c1.key key-as-cert/root-key.pem
refuse_sign "a private key where root-cert.pem should be" 1 "key-as-cert/root-cert.pem" \
    --ca key-as-cert --csr c1.csr "${HOSTS[@]}"

# 6 s, not 2: on a loaded machine `ca create` and `sign` together took longer
# than 2 s, and the sign meant to succeed met an expired root.
section "an expired root (--ttl 6s; notBefore is back-dated 5 minutes)"
expect_ok "ca create a root valid 6 seconds" mc ca create --dir exp-root --key-type ec-p256 --ttl 6s
expect_ok "sign while it is still valid" mc sign --ca exp-root --csr c1.csr "${HOSTS[@]}" \
    --org Istio --key c1.key --out-dir exp-out
assert_eq "the intermediate ends with the root" "$(cert_not_after exp-out/ca-cert.pem)" \
    "$(cert_not_after exp-root/root-cert.pem)"
sleep 7
refuse_sign "expired root" 1 "exp-root/root-cert.pem|expired" --ca exp-root --csr c1.csr "${HOSTS[@]}"
expect_fail 1 "expired" "verify of a bundle whose certificates expired" \
    mc verify --root exp-root/root-cert.pem --dir exp-out
assert_not_contains "verify of the expired bundle does not print chain: OK" "$OUT" "chain: OK"

section "CSRs asking for more than --host/--org allow"
refuse_sign "CSR asks for an extra SAN (not in --host)" 1 "c1.csr|refused" \
    --ca root --csr c1.csr --host "$SPIFFE" --host 10.0.0.1 --org Istio
assert_contains "the refusal names the extra SAN" "$ERR" "istiod.istio-system.svc"
refuse_sign "CSR asks for another SAN than --host" 1 "c1.csr|refused" \
    --ca root --csr c1.csr --host "$SPIFFE" --host 10.0.0.1 --host other.example.com --org Istio
refuse_sign "CSR asks for O=Istio, --org says Other" 1 "c1.csr|refused|O=" \
    --ca root --csr c1.csr "${HOSTS[@]}" --org Other
expect_ok "openssl req makes a CSR with two O= values" openssl req -new -key c1.key \
    -subj "/O=Istio/O=Evil" -out two-orgs.csr
refuse_sign "CSR asks for a second O=" 1 "two-orgs.csr|refused|Evil" \
    --ca root --csr two-orgs.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req makes a CSR with CN=evil.example.com" openssl req -new -key c1.key \
    -subj "/O=Istio/CN=evil.example.com" -out cn.csr
refuse_sign "CSR asks for a CN that is not a --host" 1 "cn.csr|refused" \
    --ca root --csr cn.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req makes a CSR asking for an email SAN" openssl req -new -key c1.key \
    -subj /O=Istio -addext "subjectAltName=URI:$SPIFFE,email:admin@example.com" -out email.csr
refuse_sign "CSR asks for an email SAN" 1 "email.csr|refused" --ca root --csr email.csr --host "$SPIFFE" --org Istio
expect_ok "openssl req makes a CSR asking for CA:TRUE, pathlen:5" openssl req -new -key c1.key \
    -subj /O=Istio -addext "basicConstraints=critical,CA:TRUE,pathlen:5" -out pathlen.csr
expect_ok "meshcert signs it (extensions come from meshcert, not the CSR)" mc sign --ca root \
    --csr pathlen.csr --host "$SPIFFE" --org Istio --out-dir pathlen-out
assert_eq "the certificate keeps pathlen:0 whatever the CSR asked" \
    "$(ext_value pathlen-out/ca-cert.pem "Basic Constraints")" "CA:TRUE, pathlen:0"

section "--key that does not belong to the CSR"
refuse_sign "--key does not match the CSR" 1 "c2.key|match" --ca root --csr c1.csr "${HOSTS[@]}" --key c2.key
refuse_sign "--key is not a key" 1 "c1.csr" --ca root --csr c1.csr "${HOSTS[@]}" --key c1.csr
refuse_sign "--key does not exist" 1 "no-such.key" --ca root --csr c1.csr "${HOSTS[@]}" --key no-such.key

section "--out-dir that cannot be a directory"
printf 'not a directory\n' >out-file
before=$(sha256sum out-file)
expect_fail 1 "out-file" "--out-dir is a regular file" mc sign --ca root --csr c1.csr "${HOSTS[@]}" \
    --key c1.key --out-dir out-file
assert_eq "the regular file is untouched" "$(sha256sum out-file)" "$before"

section "re-signing into an existing --out-dir leaves a consistent bundle"
# existing-out holds c1's bundle with c1's ca-key.pem. Signing c2's CSR there
# without --key must not leave c1's key next to c2's certificate: meshcert
# either refuses (and changes nothing) or writes a bundle `verify` accepts.
cp -r existing-out resign-out
before=$(snapshot resign-out)
run mc sign --ca root --csr c2.csr "${HOSTS[@]}" --org Istio --out-dir resign-out
if [[ $RC -ne 0 ]]; then
    assert_unchanged "sign refused to re-sign without --key; the dir is unchanged" resign-out "$before"
else
    pass "sign re-signed c2's CSR into c1's bundle dir without --key"
    expect_ok "the re-signed dir is consistent (meshcert verify; no stale ca-key.pem of c1)" \
        mc verify --root root/root-cert.pem --dir resign-out
fi

section "usage errors: exit 2, nothing written"
refuse_sign "unknown option" 2 "--bogus" --ca root --csr c1.csr "${HOSTS[@]}" --bogus
refuse_sign "missing --csr" 2 "--csr" --ca root "${HOSTS[@]}"
refuse_sign "missing --host" 2 "--host" --ca root --csr c1.csr
refuse_sign "bad --ttl 5x" 2 "--ttl|5x" --ca root --csr c1.csr "${HOSTS[@]}" --ttl 5x
refuse_sign "bad --ttl 0" 2 "--ttl" --ca root --csr c1.csr "${HOSTS[@]}" --ttl 0
refuse_sign "bad --ttl -1d" 2 "--ttl" --ca root --csr c1.csr "${HOSTS[@]}" --ttl -1d
refuse_sign "bad --format" 2 "--format|json" --ca root --csr c1.csr "${HOSTS[@]}" --format json
refuse_sign "bad --path-len" 2 "--path-len" --ca root --csr c1.csr "${HOSTS[@]}" --path-len 99
expect_fail 2 "--key-type|rsa1024" "ca create --key-type rsa1024" mc ca create --dir bad-kt --key-type rsa1024
assert_eq "ca create with a bad --key-type creates no dir" "$(snapshot bad-kt)" ABSENT
expect_fail 2 "--key-format|der" "ca create --key-format der" mc ca create --dir bad-kf --key-format der
assert_eq "ca create with a bad --key-format creates no dir" "$(snapshot bad-kf)" ABSENT
expect_fail 2 "--ttl|abc" "ca create --ttl abc" mc ca create --dir bad-ttl --ttl abc
assert_eq "ca create with a bad --ttl creates no dir" "$(snapshot bad-ttl)" ABSENT
expect_fail 2 "--dir" "ca create without --dir" mc ca create --key-type ec-p256
expect_fail 2 "--key-type|dsa" "csr create --key-type dsa" mc csr create --org Istio --host "$SPIFFE" \
    --key-type dsa --out-key bad.key --out-csr bad.csr
assert_true "csr create with a bad --key-type writes no files" test ! -e bad.key -a ! -e bad.csr
expect_fail 2 "--out-csr" "csr create without --out-csr" mc csr create --org Istio --host "$SPIFFE" \
    --key-type ec-p256 --out-key lone.key
assert_true "csr create without --out-csr writes no key" test ! -e lone.key
expect_fail 2 "--host" "csr create without --host" mc csr create --org Istio --key-type ec-p256 \
    --out-key lone.key --out-csr lone.csr
assert_true "csr create without --host writes nothing" test ! -e lone.key -a ! -e lone.csr
expect_fail 2 "--root" "verify without --root" mc verify --dir existing-out
run mc frobnicate
assert_eq "unknown command exits 2" "$RC" 2
assert_contains "unknown command is named on stderr" "$ERR" "frobnicate"

section "ca create never replaces a root without --force"
before=$(snapshot root)
expect_fail 1 "root|--force" "ca create into a dir that already has a root" mc ca create --dir root --key-type ec-p256
assert_unchanged "the existing root is unchanged" root "$before"
mkdir key-only
cp rootB/root-key.pem key-only/
before=$(snapshot key-only)
expect_fail 1 "key-only|--force" "ca create into a dir holding only root-key.pem" mc ca create --dir key-only --key-type ec-p256
assert_unchanged "the lone root-key.pem is unchanged" key-only "$before"
cp -r root root-copy
expect_ok "ca create --force replaces the root" mc ca create --dir root-copy --key-type ec-p256 --force
assert_false "the replaced root-cert.pem differs" cmp -s root/root-cert.pem root-copy/root-cert.pem
assert_false "the replaced root-key.pem differs" cmp -s root/root-key.pem root-copy/root-key.pem
assert_mode "the new root-key.pem is mode 0600" root-copy/root-key.pem 600
assert_false "the old intermediate does not verify against the replaced root" \
    openssl verify -CAfile root-copy/root-cert.pem -untrusted existing-out/cert-chain.pem existing-out/ca-cert.pem

section "csr create never replaces a key without --force, and leaves nothing half-written"
mkdir keys
cp c1.key c1.csr keys/
before=$(snapshot keys)
expect_fail 1 "keys/c1.key|--force" "csr create over an existing key" mc csr create --org Istio \
    --host "$SPIFFE" --key-type ec-p256 --out-key keys/c1.key --out-csr keys/c1.csr
assert_unchanged "the existing key and CSR are unchanged" keys "$before"
expect_ok "csr create --force replaces the key" mc csr create --org Istio --host "$SPIFFE" \
    --key-type ec-p256 --out-key keys/c1.key --out-csr keys/c1.csr --force
assert_false "the key was replaced" cmp -s c1.key keys/c1.key
assert_mode "the new key is mode 0600" keys/c1.key 600
assert_eq "the new CSR belongs to the new key" "$(openssl req -in keys/c1.csr -noout -pubkey)" \
    "$(openssl pkey -in keys/c1.key -pubout)"
run mc csr create --org Istio --host "$SPIFFE" --key-type ec-p256 --out-key new-keys/c2/c2.key \
    --out-csr new-csrs/c2.csr
assert_eq "csr create creates missing output directories (as sign does)" "$RC" 0
assert_mode "the key's new directory is mode 0700" new-keys/c2 700
printf 'a file, not a directory\n' > not-a-dir
expect_fail 1 "not-a-dir" "csr create with --out-csr under a file" mc csr create \
    --org Istio --host "$SPIFFE" --key-type ec-p256 --out-key orphan.key --out-csr not-a-dir/x.csr
assert_true "no orphan key is left behind" test ! -e orphan.key
expect_fail 1 "not-a-dir" "csr create with --out-key under a file" mc csr create \
    --org Istio --host "$SPIFFE" --key-type ec-p256 --out-key not-a-dir/x.key --out-csr orphan.csr
assert_true "no orphan CSR is left behind" test ! -e orphan.csr

section "verify names the check that failed"
run mc verify --root root/root-cert.pem --dir existing-out
assert_eq "verify of the good bundle exits 0" "$RC" 0
assert_contains "verify prints chain: OK" "$OUT" "chain: OK"
assert_contains "verify prints the intermediate's subject" "$OUT" "O=Istio"
assert_contains "verify prints the root's subject" "$OUT" "O=Acme Mesh"
assert_contains "verify prints the SPIFFE SAN" "$OUT" "$SPIFFE"
assert_contains "verify prints the IP SAN" "$OUT" "10.0.0.1"
assert_contains "verify prints the DNS SAN" "$OUT" "istiod.istio-system.svc"
assert_contains "verify prints the intermediate's not-after" "$OUT" \
    "$(date -u -d "@$(cert_not_after existing-out/ca-cert.pem)" +%Y-%m-%dT%H:%M:%SZ)"

cp -r existing-out t-cacert
cp c2-out/ca-cert.pem t-cacert/
expect_fail 1 "t-cacert|ca-cert.pem" "verify: ca-cert.pem swapped from another cluster" \
    mc verify --root root/root-cert.pem --dir t-cacert
assert_not_contains "... and does not print chain: OK" "$OUT" "chain: OK"
cp -r existing-out t-key
cp c2-out/ca-cert.pem c2-out/cert-chain.pem t-key/
expect_fail 1 "t-key|ca-key.pem|match" "verify: ca-cert.pem and cert-chain.pem of another cluster (key mismatch)" \
    mc verify --root root/root-cert.pem --dir t-key
cp -r existing-out t-root
cp rootB/root-cert.pem t-root/
expect_fail 1 "t-root|root-cert.pem" "verify: root-cert.pem of another root" \
    mc verify --root root/root-cert.pem --dir t-root
expect_fail 1 "t-root|ca-cert.pem|chain" "verify: root-cert.pem of another root, trusted that root (chain failure)" \
    mc verify --root rootB/root-cert.pem --dir t-root
expect_fail 1 "root-cert.pem" "verify: a good bundle against another trusted root" \
    mc verify --root rootB/root-cert.pem --dir existing-out
cp -r existing-out t-chain
cp rootB/root-cert.pem t-chain/cert-chain.pem
expect_fail 1 "t-chain|cert-chain.pem" "verify: cert-chain.pem replaced" mc verify --root root/root-cert.pem --dir t-chain
cp -r existing-out t-garbage-key
printf 'garbage\n' >t-garbage-key/ca-key.pem
expect_fail 1 "ca-key.pem" "verify: garbage ca-key.pem" mc verify --root root/root-cert.pem --dir t-garbage-key
cp -r existing-out t-no-root
rm t-no-root/root-cert.pem
expect_fail 1 "root-cert.pem" "verify: root-cert.pem missing" mc verify --root root/root-cert.pem --dir t-no-root

# What istiod needs (../shared/reference/istio-cacerts.md, and Istio's own
# check: every file read, Go's x509 Verify for serverAuth, key parse and match).
cp -r existing-out t-no-key
rm t-no-key/ca-key.pem
expect_fail 1 "t-no-key/ca-key.pem|missing|self-signed" \
    "verify: ca-key.pem missing (istiod would fall back to its own self-signed root)" \
    mc verify --root root/root-cert.pem --dir t-no-key
cp -r existing-out t-no-chain
rm t-no-chain/cert-chain.pem
expect_fail 1 "t-no-chain/cert-chain.pem|missing" "verify: cert-chain.pem missing" \
    mc verify --root root/root-cert.pem --dir t-no-chain
expect_ok "sign --format tls for the tls.key check" mc sign --ca root --csr c1.csr "${HOSTS[@]}" \
    --org Istio --key c1.key --format tls --out-dir t-tls
expect_ok "verify: the complete tls layout (control)" mc verify --root root/root-cert.pem --dir t-tls
rm t-tls/tls.key
expect_fail 1 "t-tls/tls.key|missing" "verify: tls.key missing" \
    mc verify --root root/root-cert.pem --dir t-tls
# ca-cert.pem made by openssl from c1's CSR, with the root's key: signed with
# SHA-1, or with an extendedKeyUsage without serverAuth; the same with SHA-256
# and serverAuth is the control.
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
printf 'extendedKeyUsage=clientAuth\n' >client-only.ext
printf 'extendedKeyUsage=serverAuth,clientAuth\n' >server-too.ext
# openssl_bundle DIR DIGEST EXTRA_EXT: an Istio layout in DIR around an
# openssl-signed ca-cert.pem for c1.key.
openssl_bundle() {
    mkdir -p "$1"
    cat ca.ext ${3:+"$3"} >"$1.ext"
    expect_ok "openssl x509 -req -$2 ${3:-} into $1" openssl x509 -req -in c1.csr \
        -CA root/root-cert.pem -CAkey root/root-key.pem -set_serial 0x$(openssl rand -hex 8) \
        -days 30 "-$2" -extfile "$1.ext" -out "$1/ca-cert.pem"
    cp c1.key "$1/ca-key.pem"
    cp root/root-cert.pem "$1/root-cert.pem"
    cat "$1/ca-cert.pem" root/root-cert.pem >"$1/cert-chain.pem"
}
openssl_bundle t-sha256 sha256 server-too.ext
expect_ok "verify: an openssl-made SHA-256 ca-cert with serverAuth (control)" \
    mc verify --root root/root-cert.pem --dir t-sha256
openssl_bundle t-sha1 sha1
assert_true "openssl verify accepts the SHA-1 ca-cert (OpenSSL does not judge it; Go does)" \
    openssl verify -CAfile root/root-cert.pem t-sha1/ca-cert.pem
expect_fail 1 "t-sha1|ca-cert.pem|SHA-1" "verify: ca-cert.pem signed with SHA-1 (Go's x509 refuses it)" \
    mc verify --root root/root-cert.pem --dir t-sha1
openssl_bundle t-client-eku sha256 client-only.ext
expect_fail 1 "t-client-eku|ca-cert.pem|serverAuth" \
    "verify: ca-cert.pem whose extendedKeyUsage lacks serverAuth (istiod verifies for serverAuth)" \
    mc verify --root root/root-cert.pem --dir t-client-eku
expect_fail 1 "no-such-dir" "verify: --dir does not exist" mc verify --root root/root-cert.pem --dir no-such-dir
expect_fail 1 "no-such-root.pem" "verify: --root does not exist" mc verify --root no-such-root.pem --dir existing-out
expect_fail 1 "c1.key" "verify: --root is not a certificate (error names the --root file)" \
    mc verify --root c1.key --dir existing-out

section "meshcert root: usage errors name the flag (no cluster reached)"
expect_fail 2 "--generate|--new-root-secret" "root rotate without a new root" mc root rotate
expect_fail 2 "--generate|--new-root-secret" "root rotate with both new-root options" \
    mc root rotate --generate --new-root-secret meshcert/next
expect_fail 2 "--abort" "root rotate --abort with --generate" mc root rotate --abort --generate
expect_fail 2 "--step-dwell|soon" "root rotate --step-dwell soon" \
    mc root rotate --generate --step-dwell soon
expect_fail 2 "--root-key-type|dsa" "root rotate --root-key-type dsa" \
    mc root rotate --generate --root-key-type dsa
expect_fail 2 "--root-secret|a/b/c" "root rotate --root-secret a/b/c" \
    mc root rotate --generate --root-secret a/b/c
expect_fail 2 "--timeout" "root rotate --timeout without --wait" \
    mc root rotate --generate --timeout 1m
expect_fail 2 "bogus" "root bogus" mc root bogus

section "no private key material in meshcert's output (keys were passed where CSRs and certs belong)"
assert_no_key_material "no PRIVATE KEY and no key line in any meshcert stdout/stderr"

peer_finish
