#!/bin/sh
# Installs the Debian packages meshcert needs to build, test, fuzz and benchmark.
# A no-op when everything is present; otherwise one apt-get update, one install.
# kubectl (for the kubectl and README walk-through tests) and pyca/cryptography
# >= 42 (a peer test's third verifier) are not among them:
# Debian bookworm has none recent enough, so this only says how to get it
# (scripts/kubectl-check.sh, scripts/pyca-python.sh) and those tests skip
# without it, or fail under CI.
# prometheus gives promtool and the Prometheus server that the metrics e2e
# test starts itself (tests/e2e/metrics_test.c; it fails naming `make deps`
# without them); the package's own service, where systemd starts it, is not used.
# mmdebstrap builds the root filesystem of the container image test
# (tests/image/rootfs_test.sh, from the Debian archive; cached in the build dir).
set -eu
cd "$(dirname "$0")/.."

# tool_notes: one line on stderr when kubectl is missing or too old, and
# one when no Python has pyca/cryptography's verifier (>= 42, which Debian
# bookworm does not package) for the name-constraint peer test.
tool_notes() {
  note=$(scripts/kubectl-check.sh) || echo "meshcert: note: $note" >&2
  scripts/pyca-python.sh >/dev/null 2>&1 ||
    echo "meshcert: note: $(scripts/pyca-python.sh 2>&1)" >&2
}
PKGS="build-essential cmake pkg-config git ca-certificates
libssl-dev openssl libcurl4-openssl-dev libjansson-dev libyaml-dev libsqlite3-dev
libmicrohttpd-dev libcmocka-dev clang libclang-rt-14-dev gnutls-bin
clang-format clang-tidy valgrind hyperfine sqlite3 curl zsh prometheus
libp11-kit-dev softhsm2 opensc mmdebstrap"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  tool_notes
  exit 0
fi

echo "meshcert: installing missing packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "meshcert: need root or sudo to install:$missing" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
tool_notes
