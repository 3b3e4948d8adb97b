#!/usr/bin/env bash
# rootfs_test.sh - proves deploy/image/runtime-packages.txt complete: the
# built meshcert runs in a root filesystem made of nothing but that list and
# the packages it depends on (Debian bookworm).
#
# Usage: rootfs_test.sh MESHCERT_BINARY REPO_DIR CACHE_DIR
# mmdebstrap --variant=extract unpacks exactly the listed packages and their
# dependencies (about 35; no shell, no coreutils: less than
# debian:bookworm-slim, so what runs here runs there) into a tarball, cached
# in CACHE_DIR under a key of the package list, the suite, the variant and
# the mirror: only the first run downloads (about 15 s). The tree is
# unpacked in a temporary directory (removed on exit, even on failure) with
# the binary as /usr/local/bin/meshcert, then, through chroot in new mount,
# PID and network namespaces (no network: offline means offline) and as the
# image's user 65532, with no shell in between: the tree's dynamic loader
# resolves every library inside the tree (ld.so --list), `meshcert
# --version`, and the README's offline demo (ca create, csr create, sign,
# verify). A control removes libjansson from the tree and expects the binary
# to fail, so the tree's libraries, not the host's, are the ones tested.
# Needs root (chroot, unshare) and mmdebstrap (make deps): without them,
# exit 77 (skipped) unless CI is set, when it fails.
# MESHCERT_DEBIAN_MIRROR overrides the mirror (default deb.debian.org).
set -uo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/repo /path/to/cache-dir" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
REPO=$(cd "$2" && pwd)
CACHE=$3
LIST=$REPO/deploy/image/runtime-packages.txt
SUITE=bookworm
VARIANT=extract
MIRROR=${MESHCERT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
START=$SECONDS

unavailable() {
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL: $1; CI is set, so this is a failure" >&2
        exit 1
    fi
    echo "################################################################"
    echo "SKIPPED: $1"
    echo "################################################################"
    exit 77
}
[[ $(id -u) -eq 0 ]] || unavailable "the root filesystem test needs root (mmdebstrap, chroot, unshare)"
command -v mmdebstrap >/dev/null || unavailable "mmdebstrap is not installed (make deps)"
[[ -x "$MESHCERT" ]] || { echo "FAIL: $MESHCERT is not executable" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshcert-rootfs.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

CHECKS=0
FAILED=()
pass() { CHECKS=$((CHECKS + 1)); echo "ok $CHECKS - $1"; }
fail() {
    CHECKS=$((CHECKS + 1))
    FAILED+=("$1")
    echo "FAIL $CHECKS - $1"
    shift
    [[ $# -gt 0 ]] && printf '    %s\n' "$@" | head -40
}

# The list as the Containerfile reads it: comments and blank lines dropped.
PACKAGES=$(grep -Ev '^[[:space:]]*(#|$)' "$LIST" | tr -d '[:blank:]' | paste -sd, -)
if [[ -n "$PACKAGES" ]] && grep -qF "grep -Ev '^[[:space:]]*(#|\$)' /tmp/runtime-packages.txt" \
    "$REPO/Containerfile" && grep -q "^COPY deploy/image/runtime-packages.txt" "$REPO/Containerfile" &&
    grep -q "^FROM docker.io/library/debian:$SUITE-slim$" "$REPO/Containerfile"; then
    pass "the Containerfile's $SUITE-slim stage installs this list ($PACKAGES)"
else
    fail "the Containerfile's $SUITE-slim stage installs this list ($PACKAGES)"
fi

# ---- the root filesystem: cached tarball, else mmdebstrap ----
mkdir -p "$CACHE"
key=$(printf '%s\n' "$SUITE" "$VARIANT" "$MIRROR" "$PACKAGES" | sha256sum | cut -c1-16)
TARBALL=$CACHE/rootfs-$SUITE-$VARIANT-$key.tar
if [[ -s "$TARBALL" ]]; then
    echo "# cached root filesystem: $TARBALL"
else
    echo "# mmdebstrap --variant=$VARIANT --include=$PACKAGES $SUITE (once; cached in $CACHE)"
    t0=$SECONDS
    rm -f "$CACHE"/rootfs-"$SUITE"-"$VARIANT"-*.tar # an older list's
    if ! mmdebstrap --quiet --variant="$VARIANT" --aptopt='APT::Install-Recommends "false"' \
        --include="$PACKAGES" "$SUITE" "$WORK/rootfs.tar" "$MIRROR" >"$WORK/mmdebstrap.log" 2>&1; then
        echo "FAIL: mmdebstrap did not build the root filesystem:" >&2
        tail -30 "$WORK/mmdebstrap.log" >&2
        exit 1
    fi
    mv "$WORK/rootfs.tar" "$TARBALL"
    echo "# mmdebstrap took $((SECONDS - t0)) s"
fi
ROOT=$WORK/root
mkdir -p "$ROOT"
if ! tar -xf "$TARBALL" -C "$ROOT"; then
    echo "FAIL: cannot unpack $TARBALL" >&2
    exit 1
fi
install -D -m 0755 "$MESHCERT" "$ROOT/usr/local/bin/meshcert"

# inside ARGV...: run ARGV in the tree, as the image's user, without network
# and without a shell (the tree has none); the working directory is /work.
OUT=
inside() {
    OUT=$(cd / && timeout 120 unshare --mount --pid --net --fork \
        chroot --userspec=65532:65532 "$ROOT" "$@" 2>&1)
}
mkdir -p "$ROOT/work" "$ROOT/tmp"
chown 65532:65532 "$ROOT/work"
chmod 1777 "$ROOT/tmp"

# ---- the checks ----
if inside /lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/meshcert &&
    ! grep -q "not found" <<<"$OUT" && [[ $(grep -c "=> /" <<<"$OUT") -ge 7 ]]; then
    pass "the tree's loader resolves every library inside the tree ($(grep -c "=> /" <<<"$OUT") libraries)"
else
    fail "the tree's loader resolves every library inside the tree" "$OUT"
fi
want=$("$MESHCERT" --version 2>&1)
if inside /usr/local/bin/meshcert --version && [[ "$OUT" == "$want" ]]; then
    pass "meshcert --version: $OUT"
else
    fail "meshcert --version" "wanted: $want" "got:" "$OUT"
fi
m=/usr/local/bin/meshcert
demo_log=
demo_ok=1
for step in \
    "ca create --dir /work/root --key-type ec-p256 --org Acme --name Acme-mesh-root-CA" \
    "csr create --org Istio --host spiffe://cluster.local --key-type ec-p256 --out-key /work/ca-key.pem --out-csr /work/ca.csr" \
    "sign --ca /work/root --csr /work/ca.csr --host spiffe://cluster.local --org Istio --key /work/ca-key.pem --out-dir /work/cacerts" \
    "verify --root /work/root/root-cert.pem --dir /work/cacerts"; do
    # shellcheck disable=SC2086 # the steps are split on blanks on purpose
    inside $m $step || demo_ok=0
    demo_log+="$ meshcert $step"$'\n'"$OUT"$'\n'
done
if [[ $demo_ok == 1 ]] && grep -q "chain: OK (ca-cert.pem verifies against the root)" <<<"$demo_log" &&
    grep -qx "OK" <<<"$demo_log"; then
    pass "offline ca create, csr create, sign, verify: chain OK"
else
    fail "offline ca create, csr create, sign, verify" "$demo_log"
fi
# The control: the tree without libjansson must not run meshcert.
mkdir -p "$WORK/aside"
mv "$ROOT"/usr/lib/x86_64-linux-gnu/libjansson.so.4* "$WORK/aside/" 2>/dev/null
if ! inside /usr/local/bin/meshcert --version && grep -q "libjansson.so.4" <<<"$OUT"; then
    pass "control: without libjansson4's library the binary does not start in the tree"
else
    fail "control: without libjansson4's library the binary does not start in the tree" "$OUT"
fi

echo "# $CHECKS checks, ${#FAILED[@]} failed, $((SECONDS - START)) s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf '# failed: %s\n' "${FAILED[@]}"
    exit 1
fi
exit 0
