#!/usr/bin/env bash
# pkcs11_test.sh - the root key in a PKCS#11 token (SoftHSM2, initialised here
# in a temporary directory through its own SOFTHSM2_CONF): `ca create
# --pkcs11` makes RSA and EC roots inside the token and writes only the
# certificate; `sign --root-key pkcs11:...` issues intermediates through the
# token, judged by openssl verify and certtool --verify-chain; the keys are
# sensitive and never extractable (the token, asked through the PKCS#11 API by
# p11_probe.c, refuses to show them); a wrong PIN,
# a missing token, object or module each give one clear line (exit 1); the
# PIN is never in argv (/proc/PID/cmdline while meshcert waits for it) nor in
# any output. A locked PIN, which SoftHSM2 never reports (it answers
# CKR_PIN_INCORRECT however many wrong logins), comes from p11_fault.c, a
# module in front of SoftHSM2.
# Usage: pkcs11_test.sh /path/to/meshcert /path/to/p11_probe /path/to/p11_fault.so
set -euo pipefail
# shellcheck source=tests/peer/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# SoftHSM2 is a test dependency (scripts/deps.sh): missing, this test fails
# (it never skips), naming the fix.
MODULE=${MC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
for need in softhsm2-util pkcs11-tool certtool openssl; do
    if ! command -v "$need" >/dev/null 2>&1; then
        echo "FAIL: $need is not installed: run 'make deps' (installs softhsm2, opensc, gnutls-bin)" >&2
        exit 1
    fi
done
if [[ ! -r "$MODULE" ]]; then
    echo "FAIL: the SoftHSM2 module $MODULE is missing: run 'make deps' (installs softhsm2)" >&2
    exit 1
fi
PROBE=$(cd "$(dirname "${2:?usage: $0 MESHCERT P11_PROBE P11_FAULT}")" && pwd)/$(basename "$2")
FAULT=$(cd "$(dirname "${3:?usage: $0 MESHCERT P11_PROBE P11_FAULT}")" && pwd)/$(basename "$3")
peer_init "$1"
cd "$WORK"

PIN=Pin-7Qx93-secret
SO_PIN=So-5521-secret
SPIFFE=spiffe://c1.local/ns/istio-system/sa/citadel
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$WORK" >softhsm2.conf
export SOFTHSM2_CONF=$WORK/softhsm2.conf
softhsm2-util --init-token --free --label mesh-root --pin "$PIN" --so-pin "$SO_PIN" >/dev/null
printf '%s\n' "$PIN" >pin
printf 'wrong-%s\n' "$PIN" >bad-pin
P11=(--pkcs11-module "$MODULE" --pin-file pin)

section "roots made inside the token; intermediates signed through it"
expect_ok "csr for c1" mc csr create --org Istio --host "$SPIFFE" --out-key c1.key --out-csr c1.csr
for kt in rsa2048 ec-p256 ec-p384; do
    uri="pkcs11:token=mesh-root;object=root-$kt"
    expect_ok "$kt: ca create --pkcs11" mc ca create --dir "$kt" --key-type "$kt" --pkcs11 "$uri" "${P11[@]}"
    assert_eq "$kt: only the certificate is written" "$(ls "$kt")" "root-cert.pem"
    assert_true "$kt: the root is self-signed (openssl)" \
        openssl verify -CAfile "$kt/root-cert.pem" "$kt/root-cert.pem"
    expect_ok "$kt: sign --root-key pkcs11:" mc sign --ca "$kt" --root-key "$uri" "${P11[@]}" \
        --csr c1.csr --host "$SPIFFE" --key c1.key --out-dir "out-$kt"
    assert_true "$kt: openssl verify" openssl verify -CAfile "$kt/root-cert.pem" "out-$kt/ca-cert.pem"
    assert_true "$kt: certtool --verify-chain" certtool --verify-chain --infile "out-$kt/cert-chain.pem"
    run openssl x509 -in "out-$kt/ca-cert.pem" -noout -text
    case $kt in
    rsa*) assert_contains "$kt: sha256WithRSAEncryption" "$OUT" "sha256WithRSAEncryption" ;;
    ec-p256) assert_contains "$kt: ecdsa-with-SHA256" "$OUT" "ecdsa-with-SHA256" ;;
    ec-p384) assert_contains "$kt: ecdsa-with-SHA384" "$OUT" "ecdsa-with-SHA384" ;;
    esac
done
# negative control: a chain to another root fails, so the checks above can fail
assert_false "openssl rejects the EC intermediate against the RSA root" \
    openssl verify -CAfile rsa2048/root-cert.pem out-ec-p256/ca-cert.pem
expect_ok "the PIN from --pin-env" env PINV="$PIN" "$MESHCERT" sign --ca ec-p256 \
    --root-key "pkcs11:token=mesh-root;object=root-ec-p256" --pkcs11-module "$MODULE" \
    --pin-env PINV --csr c1.csr --host "$SPIFFE" --out-dir out-env
assert_true "--pin-env issuance verifies" openssl verify -CAfile ec-p256/root-cert.pem out-env/ca-cert.pem

section "a file-mounted root key (--root-key FILE)"
expect_ok "ca create (key in a file)" mc ca create --dir file-root --key-type ec-p256
mkdir mounted
mv file-root/root-key.pem mounted/root.key
expect_ok "sign --root-key FILE" mc sign --ca file-root --root-key mounted/root.key --csr c1.csr \
    --host "$SPIFFE" --out-dir out-file
assert_true "file-mounted root: openssl verify" openssl verify -CAfile file-root/root-cert.pem out-file/ca-cert.pem
expect_fail 1 "mounted/other.key" "a missing --root-key file is named" \
    mc sign --ca file-root --root-key mounted/other.key --csr c1.csr --host "$SPIFFE" --out-dir out-file2
expect_fail 2 "go with a pkcs11: key URI" "PIN options without a pkcs11: key are a usage error" \
    mc sign --ca file-root --root-key mounted/root.key --pin-file pin --csr c1.csr --host "$SPIFFE" --out-dir out-file2
expect_fail 2 "--pkcs11: expected a pkcs11: URI" "ca create --pkcs11 needs a URI" \
    mc ca create --dir bad --pkcs11 /tmp/key.pem "${P11[@]}"

touch not-a-dir
expect_fail 1 "not-a-dir" "ca create --pkcs11 into an unwritable place fails" \
    mc ca create --dir not-a-dir/root --key-type ec-p256 --pkcs11 "pkcs11:token=mesh-root;object=retry" "${P11[@]}"
expect_ok "... and leaves no key in the token: the same label works next time" \
    mc ca create --dir retry --key-type ec-p256 --pkcs11 "pkcs11:token=mesh-root;object=retry" "${P11[@]}"

section "RFC 7512 URIs"
expect_ok "ca create with id= (percent-encoded)" mc ca create --dir with-id --key-type ec-p256 \
    --pkcs11 "pkcs11:token=mesh-root;object=with-id;id=%0a%0B%ff" "${P11[@]}"
expect_ok "sign names the key by id= alone" mc sign --ca with-id --root-key "pkcs11:token=mesh-root;id=%0A%0b%FF" \
    "${P11[@]}" --csr c1.csr --host "$SPIFFE" --out-dir out-id
assert_true "id= issuance verifies" openssl verify -CAfile with-id/root-cert.pem out-id/ca-cert.pem
expect_ok "module-path= and pin-source= in the URI's query instead of flags" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256?module-path=$MODULE&pin-source=file:$WORK/pin" \
    --csr c1.csr --host "$SPIFFE" --out-dir out-query
URI_SIGN=(--csr c1.csr --host "$SPIFFE" --out-dir out-err)
expect_fail 1 "names no token=" "a URI without token=" \
    mc sign --ca ec-p256 --root-key "pkcs11:object=root-ec-p256" "${P11[@]}" "${URI_SIGN[@]}"
expect_fail 1 "names no object= or id=" "a URI without object= or id=" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root" "${P11[@]}" "${URI_SIGN[@]}"
expect_fail 1 "unsupported or too long attribute slot-id=" "an attribute meshcert does not know" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=a;slot-id=1" "${P11[@]}" "${URI_SIGN[@]}"
expect_fail 1 "bad %-escape in object=" "a bad percent escape" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=%zz" "${P11[@]}" "${URI_SIGN[@]}"
expect_fail 1 "no PKCS#11 module|--pkcs11-module" "no module anywhere" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" --pin-file pin "${URI_SIGN[@]}"

section "the keys never leave the token"
run pkcs11-tool --module "$MODULE" --token-label mesh-root --login --pin "$PIN" --list-objects --type privkey
assert_eq "five private keys, each sensitive and never extractable" \
    "$(grep -c 'Access: *sensitive, always sensitive, never extractable' <<<"$OUT")" 5
for kt in rsa2048 ec-p256 ec-p384; do
    run "$PROBE" "$MODULE" mesh-root pin "root-$kt"
    assert_eq "$kt: the token refuses to show the private key (C_GetAttributeValue)" "$OUT" \
        "$(printf 'CKA_SENSITIVE=1\nCKA_EXTRACTABLE=0\nCKA_NEVER_EXTRACTABLE=1\nsecret: CKR_ATTRIBUTE_SENSITIVE')"
done
expect_fail 1 "already holds a private key|root-ec-p256" "ca create refuses to replace a key in the token" \
    mc ca create --dir again --key-type ec-p256 --pkcs11 "pkcs11:token=mesh-root;object=root-ec-p256" "${P11[@]}"

section "clear errors: one line, exit 1"
SIGN=(--csr c1.csr --host "$SPIFFE" --out-dir out-err)
expect_fail 1 'wrong PIN|"mesh-root"|CKR_PIN_INCORRECT' "wrong PIN" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$MODULE" --pin-file bad-pin "${SIGN[@]}"
expect_fail 1 'token "no-such-token" not found|mesh-root' "missing token" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=no-such-token;object=root-ec-p256" "${P11[@]}" "${SIGN[@]}"
expect_fail 1 'holds no private key|object=no-such-key' "missing object" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=no-such-key" "${P11[@]}" "${SIGN[@]}"
expect_fail 1 "cannot load PKCS#11 module $WORK/no-such-module.so" "missing module" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$WORK/no-such-module.so" --pin-file pin "${SIGN[@]}"
expect_fail 1 "does not match the root certificate|root-rsa2048" "a token key that is not the root's" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-rsa2048" "${P11[@]}" "${SIGN[@]}"
expect_fail 1 "PIN variable NO_SUCH_PIN_VAR is not set" "unset --pin-env variable" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$MODULE" --pin-env NO_SUCH_PIN_VAR "${SIGN[@]}"
expect_fail 1 "pin-value= would put the PIN on the command line" "pin-value in the URI is refused" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256?pin-value=1234" \
    --pkcs11-module "$MODULE" --pin-file pin "${SIGN[@]}"
expect_fail 2 "either --pin-file or --pin-env" "both PIN sources: usage error" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$MODULE" --pin-file pin --pin-env PINV "${SIGN[@]}"
expect_ok "pin-source= in the URI wins over --pin-file" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256?pin-source=file:$WORK/pin" \
    --pkcs11-module "$MODULE" --pin-file bad-pin --csr c1.csr --host "$SPIFFE" --out-dir out-uri-pin
# a locked PIN (p11_fault: SoftHSM2 itself never locks one)
export MC_P11_FAULT_MODULE=$MODULE MC_P11_FAULT_DIR=$WORK/faults
mkdir faults
touch faults/pin-locked
LOCKED='token "mesh-root" is locked after too many wrong PINs (CKR_PIN_LOCKED)'
expect_fail 1 "$LOCKED|security officer must reset the user PIN" "locked PIN: sign" \
    mc sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$FAULT" --pin-file pin "${SIGN[@]}"
expect_fail 1 "$LOCKED" "locked PIN: the issuer exits 1 at start, before any cluster" \
    mc issuer --kubeconfig "$WORK/no-such-kubeconfig" --log-level warn \
    --root-key "pkcs11:token=mesh-root;object=root-ec-p256" --pkcs11-module "$FAULT" --pin-file pin
rm faults/pin-locked
expect_fail 1 "no-such-kubeconfig" "unlocked: the issuer gets past the token" \
    mc issuer --kubeconfig "$WORK/no-such-kubeconfig" --log-level warn \
    --root-key "pkcs11:token=mesh-root;object=root-ec-p256" --pkcs11-module "$FAULT" --pin-file pin
unset MC_P11_FAULT_MODULE MC_P11_FAULT_DIR
assert_eq "no --out-dir after the failures" "$(snapshot out-err)" ABSENT

section "issuer --root-key: the token is opened at start, before any cluster"
# The kubeconfig does not exist: an issuer that got past its root key fails
# on it, so each error below proves the key was checked first.
ISSUER=(mc issuer --kubeconfig "$WORK/no-such-kubeconfig" --log-level warn --root-cert ec-p256/root-cert.pem)
EC_URI="pkcs11:token=mesh-root;object=root-ec-p256"
expect_fail 1 'wrong PIN|"mesh-root"' "issuer: wrong PIN, exit 1 before the kubeconfig" \
    "${ISSUER[@]}" --root-key "$EC_URI" --pkcs11-module "$MODULE" --pin-file bad-pin
expect_fail 1 'token "no-such-token" not found' "issuer: missing token" \
    "${ISSUER[@]}" --root-key "pkcs11:token=no-such-token;object=root-ec-p256" "${P11[@]}"
expect_fail 1 'holds no private key|object=no-such-key' "issuer: missing object" \
    "${ISSUER[@]}" --root-key "pkcs11:token=mesh-root;object=no-such-key" "${P11[@]}"
expect_fail 1 '--root-cert ec-p256/root-cert.pem|does not match the root certificate|root-rsa2048' \
    "issuer: a token key that is not --root-cert's" \
    "${ISSUER[@]}" --root-key "pkcs11:token=mesh-root;object=root-rsa2048" "${P11[@]}"
expect_fail 1 'does not match|mounted/root.key' "issuer: a key file that is not --root-cert's" \
    "${ISSUER[@]}" --root-key mounted/root.key
expect_fail 1 "no-such-kubeconfig" "issuer: the right token key gets as far as the kubeconfig" \
    "${ISSUER[@]}" --root-key "$EC_URI" "${P11[@]}"
expect_fail 2 "--root-cert and --generate-root exclude each other" "issuer: --generate-root with --root-cert" \
    "${ISSUER[@]}" --root-key "$EC_URI" "${P11[@]}" --generate-root
# without --root-cert: keys for the root Secrets whose key-ref names them,
# each opened at start all the same
KEYS=(mc issuer --kubeconfig "$WORK/no-such-kubeconfig" --log-level warn)
expect_fail 1 "no-such-kubeconfig" "issuer: two token keys without --root-cert get as far as the kubeconfig" \
    "${KEYS[@]}" --root-key "$EC_URI" --root-key "pkcs11:token=mesh-root;object=root-rsa2048" "${P11[@]}"
expect_fail 1 '--root-key pkcs11:token=mesh-root;object=no-such-key: |holds no private key' \
    "issuer: a missing second key is named, exit 1 before the kubeconfig" \
    "${KEYS[@]}" --root-key "$EC_URI" --root-key "pkcs11:token=mesh-root;object=no-such-key" "${P11[@]}"
expect_fail 1 'wrong PIN for PKCS#11 token "mesh-root"' "issuer: wrong PIN without --root-cert" \
    "${KEYS[@]}" --root-key "$EC_URI" --pkcs11-module "$MODULE" --pin-file bad-pin
expect_fail 2 "--root-cert goes with one --root-key" "issuer: --root-cert with two --root-key" \
    "${ISSUER[@]}" --root-key "$EC_URI" --root-key mounted/root.key "${P11[@]}"
expect_fail 2 "given twice" "issuer: the same --root-key twice" \
    "${KEYS[@]}" --root-key "$EC_URI" --root-key "$EC_URI" "${P11[@]}"
expect_fail 1 "no-such-kubeconfig" "issuer: a token key and a key file together" \
    "${KEYS[@]}" --root-key mounted/root.key --root-key "$EC_URI" "${P11[@]}"
expect_fail 2 "go with a pkcs11: key URI" "issuer: PKCS#11 flags with key files only" \
    "${KEYS[@]}" --root-key mounted/root.key "${P11[@]}"

section "the PIN is never in argv or in any output"
# The PIN file is a FIFO: meshcert blocks opening it, so its /proc/PID/cmdline
# can be read while it runs; then the PIN is written and the signing finishes.
mkfifo pin.fifo
"$MESHCERT" sign --ca ec-p256 --root-key "pkcs11:token=mesh-root;object=root-ec-p256" \
    --pkcs11-module "$MODULE" --pin-file pin.fifo "${SIGN[@]/out-err/out-fifo}" \
    >fifo.out 2>fifo.err &
SIGN_PID=$!
trap 'kill "$SIGN_PID" 2>/dev/null || true; [[ -n "${PEER_KEEP:-}" ]] || rm -rf "$WORK"' EXIT
CMDLINE=""
for _ in $(seq 1 100); do
    CMDLINE=$(tr '\0' ' ' <"/proc/$SIGN_PID/cmdline" 2>/dev/null || true)
    [[ "$CMDLINE" == *pin.fifo* ]] && break
    sleep 0.05
done
assert_contains "meshcert is running, waiting for the PIN" "$CMDLINE" "--pin-file pin.fifo"
assert_not_contains "the PIN is not in /proc/PID/cmdline" "$CMDLINE" "$PIN"
assert_not_contains "the PIN is not in /proc/PID/environ" \
    "$(tr '\0' '\n' <"/proc/$SIGN_PID/environ" 2>/dev/null || true)" "$PIN"
printf '%s\n' "$PIN" >pin.fifo
set +e
wait "$SIGN_PID"
RC=$?
set -e
assert_eq "signing with the PIN from the FIFO succeeds" "$RC" 0
cat fifo.out fifo.err >>"$TRANSCRIPT"
assert_not_contains "no output of any meshcert run holds the PIN" "$(cat "$TRANSCRIPT")" "$PIN"
assert_not_contains "no output holds the wrong PIN either" "$(cat "$TRANSCRIPT")" "wrong-$PIN"
assert_not_contains "no output holds a private key" "$(grep -v 'ca-key.pem' "$TRANSCRIPT")" "PRIVATE KEY"

peer_finish
