#!/bin/sh
# make bench-pki: intermediate CA issuance rate of meshcert vs the ceilings.
#
# On this machine, in one run, single-threaded (per core):
#   - meshcert issuances/s (bench_pki) with an RSA-4096 root and an EC P-256 root;
#   - the raw signature ceiling for the same root key: `openssl speed` sign/s;
#   - the per-process rate of `openssl x509 -req` (how users script it today);
#   - meshcert issuances/s with the root key inside a SoftHSM2 token (PKCS#11),
#     against the in-memory root (a token made here in a temporary directory).
# Prints each figure and the ratios the targets are stated in.
# Usage: bench/pki.sh <build dir> [seconds per measurement]
set -eu
build=${1:-build}
secs=${2:-5}
bench="$build/bench/bench_pki"
[ -x "$bench" ] || { echo "bench/pki.sh: $bench not built (run make build)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Raw signature ceiling: openssl speed, machine-readable (+F2 rsa, +F4 ecdsa:
# count:bits:sign/s:verify/s).
openssl speed -seconds "$secs" -mr rsa4096 ecdsap256 2>/dev/null > "$work/speed"
rsa_ceiling=$(awk -F: '/^\+F2:/ && $3 == 4096 { print $4 }' "$work/speed")
ec_ceiling=$(awk -F: '/^\+F4:/ && $3 == 256 { print $4 }' "$work/speed")

# A SoftHSM2 token for the issue-pkcs11 rows (scripts/deps.sh installs it).
module=/usr/lib/softhsm/libsofthsm2.so
if command -v softhsm2-util >/dev/null 2>&1 && [ -r "$module" ]; then
  mkdir "$work/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$work" > "$work/softhsm2.conf"
  export SOFTHSM2_CONF="$work/softhsm2.conf"
  softhsm2-util --init-token --free --label bench --pin 1111 --so-pin 2222 >/dev/null
  echo 1111 > "$work/pin"
  export MC_BENCH_PKCS11_MODULE="$module" MC_BENCH_PKCS11_TOKEN=bench \
    MC_BENCH_PKCS11_PIN_FILE="$work/pin"
else
  echo "bench/pki.sh: softhsm2 missing, no PKCS#11 rows (run make deps)" >&2
fi

# meshcert: issue (CSR already parsed and checked) and pipeline (parse, verify,
# check, issue, encode); issue-pkcs11 when the token is there.
"$bench" rsa4096 "$secs" > "$work/ours"
"$bench" ec-p256 "$secs" >> "$work/ours"
ours() { awk -v r="$1" -v m="$2" '$1 == r && $2 == m { print $3 }' "$work/ours"; }

# openssl x509 -req, one process per issuance, with the same extensions.
per_process() { # <key type args> <runs>
  dir="$work/$1"
  mkdir -p "$dir"
  case $1 in
    rsa4096) openssl genrsa -out "$dir/root.key" 4096 2>/dev/null ;;
    ec-p256) openssl ecparam -name prime256v1 -genkey -noout -out "$dir/root.key" ;;
  esac
  openssl req -x509 -new -key "$dir/root.key" -subj "/O=Acme/CN=root" -days 3650 \
    -out "$dir/root.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/csr.key"
  openssl req -new -key "$dir/csr.key" -subj "/O=Istio" -out "$dir/csr.pem"
  cat > "$dir/ext.cnf" <<EXT
[v3]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://cluster.local/ns/istio-system/sa/citadel
EXT
  runs=$2
  start=$(date +%s%N)
  i=0
  while [ $i -lt "$runs" ]; do
    openssl x509 -req -in "$dir/csr.pem" -CA "$dir/root.pem" -CAkey "$dir/root.key" \
      -CAcreateserial -days 365 -extfile "$dir/ext.cnf" -extensions v3 -out "$dir/out.pem" 2>/dev/null
    i=$((i + 1))
  done
  end=$(date +%s%N)
  awk -v n="$runs" -v ns=$((end - start)) 'BEGIN { printf "%.1f", n / (ns / 1e9) }'
}
rsa_proc=$(per_process rsa4096 100)
ec_proc=$(per_process ec-p256 200)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "meshcert bench-pki ($(nproc) cores, single-threaded, ${secs}s per figure, $(openssl version | cut -d' ' -f1-2))"
printf '%-10s %-40s %12s\n' "root" "measure" "per second"
printf '%-10s %-40s %12.1f\n' "rsa4096" "meshcert issue (parsed CSR)" "$(ours rsa4096 issue)"
printf '%-10s %-40s %12.1f\n' "rsa4096" "meshcert pipeline (parse+verify+issue)" "$(ours rsa4096 pipeline)"
[ -z "$(ours rsa4096 issue-pkcs11)" ] || printf '%-10s %-40s %12.1f\n' "rsa4096" "meshcert issue, root in SoftHSM2" "$(ours rsa4096 issue-pkcs11)"
printf '%-10s %-40s %12.1f\n' "rsa4096" "openssl speed sign (ceiling)" "$rsa_ceiling"
printf '%-10s %-40s %12.1f\n' "rsa4096" "openssl x509 -req, per process" "$rsa_proc"
printf '%-10s %-40s %12.1f\n' "ec-p256" "meshcert issue (parsed CSR)" "$(ours ec-p256 issue)"
printf '%-10s %-40s %12.1f\n' "ec-p256" "meshcert pipeline (parse+verify+issue)" "$(ours ec-p256 pipeline)"
[ -z "$(ours ec-p256 issue-pkcs11)" ] || printf '%-10s %-40s %12.1f\n' "ec-p256" "meshcert issue, root in SoftHSM2" "$(ours ec-p256 issue-pkcs11)"
printf '%-10s %-40s %12.1f\n' "ec-p256" "openssl speed sign (ceiling)" "$ec_ceiling"
printf '%-10s %-40s %12.1f\n' "ec-p256" "openssl x509 -req, per process" "$ec_proc"
echo
echo "ratios (target):"
echo "  rsa4096 issue / signature ceiling      $(ratio "$(ours rsa4096 issue)" "$rsa_ceiling")   (>= 0.9)"
echo "  ec-p256 issuances per second per core  $(ours ec-p256 issue)   (>= 10000)"
echo "  ec-p256 issue / signature ceiling      $(ratio "$(ours ec-p256 issue)" "$ec_ceiling")"
echo "  ec-p256 issue / openssl per process    $(ratio "$(ours ec-p256 issue)" "$ec_proc")   (>= 6)"
echo "  rsa4096 issue / openssl per process    $(ratio "$(ours rsa4096 issue)" "$rsa_proc")   (>= 6)"
if [ -n "$(ours ec-p256 issue-pkcs11)" ]; then
  echo "  rsa4096 SoftHSM2 / in-memory root      $(ratio "$(ours rsa4096 issue-pkcs11)" "$(ours rsa4096 issue)")"
  echo "  ec-p256 SoftHSM2 / in-memory root      $(ratio "$(ours ec-p256 issue-pkcs11)" "$(ours ec-p256 issue)")"
fi
