#!/usr/bin/env bash
# demo-rotate.sh - a root rotation across three meshes, live, in under a minute
# (issue 12): `meshcert server` hosts mgmt, east, west and north; the issuer and
# one agent per cluster issue each mesh an intermediate from root R1; then
# `meshcert root rotate --generate` moves every cluster to a new root R2 in
# ordered steps (ADDING_NEW_ROOT: bundles hold R1+R2; PROPAGATING_NEW_INTERMEDIATE:
# intermediates re-signed by R2; DELETING_OLD_ROOT: bundles hold R2 only;
# COMPLETE). At each step it prints the rotation's status, each cluster's roots
# by short SHA-256 fingerprint, and the trust probe's result: a mutual-TLS
# handshake for every ordered pair of clusters with workload leaves from each
# cluster's current intermediate, each side trusting only its own bundle. The
# probe also runs between steps; any failed handshake fails the demo.
# Every process it starts is stopped on exit, failure or Ctrl-C.
# Usage: scripts/demo-rotate.sh /path/to/meshcert /path/to/trust-probe
#   (output: ./demo-out/rotate or $MESHCERT_DEMO_DIR)
set -euo pipefail

if [[ $# -ne 2 || ! -x "$1" || ! -x "$2" ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/trust-probe (both built by make build)" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PROBE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
CRDS=$(cd "$(dirname "$0")/../deploy/crds" && pwd)
OUT=${MESHCERT_DEMO_DIR:-./demo-out/rotate}
MANAGED=(east west north)
DWELL=${DWELL:-2s}
START=$SECONDS
# shellcheck source=scripts/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
demo_init
echo "meshcert demo-rotate: three meshes move from one root CA to a new one, trust never broken."
echo "Everything goes to $OUT (logs in $LOGS)."

step "1. Start the API server with clusters mgmt, ${MANAGED[*]}"
demo_start_server

step "2. Prepare the clusters, register them, start the issuer and the agents"
demo_prepare_clusters
demo_register_clusters
demo_start_processes

step "3. Issue an intermediate CA to each mesh from root R1"
demo_issue
demo_wait_finished
echo "$table" | sed 's/^/   /'

PROBES=0 HANDSHAKES=0
# probe [--describe]: the trust probe over every managed cluster's output
# Secret (read through its kubeconfig); prints its report when --describe is
# given or when a handshake failed, and counts the handshakes.
probe() {
    local args=() c rc=0
    for c in "${MANAGED[@]}"; do args+=("$c=$SRV/kubeconfigs/$c.yaml"); done
    fg "$PROBE" "$@" "${args[@]}" >"$LOGS/probe.txt" 2>&1 || rc=$?
    PROBES=$((PROBES + 1))
    local made
    made=$(sed -n 's/^probe: \([0-9]*\) mutual-TLS.*/\1/p' "$LOGS/probe.txt")
    HANDSHAKES=$((HANDSHAKES + ${made:-0}))
    if [[ $# -gt 0 || $rc -ne 0 ]]; then
        sed 's/^/   /' "$LOGS/probe.txt"
    fi
    [[ $rc -eq 0 ]] || die "the trust probe failed (see above): trust between clusters is broken"
}

step "4. Before: one root everywhere; the trust probe"
probe --describe

step "5. Rotate the root: meshcert root rotate --generate --step-dwell $DWELL"
run rotate "$MESHCERT" root rotate --kubeconfig "$MGMT" --generate --step-dwell "$DWELL"
say "the rotation is recorded on mgmt; the issuer drives it step by step"
deadline=$((SECONDS + 45))
last=
while :; do
    fg "$MESHCERT" root status --kubeconfig "$MGMT" >"$LOGS/root-status.txt" 2>&1 ||
        die "meshcert root status failed: $(head -n 3 "$LOGS/root-status.txt")"
    phase=$(grep -oE 'ADDING_NEW_ROOT|PROPAGATING_NEW_INTERMEDIATE|DELETING_OLD_ROOT|COMPLETE|ROLLING_BACK|ABORTED|FAILED' \
        "$LOGS/root-status.txt" | head -n 1 || true)
    if [[ -n "$phase" && "$phase" != "$last" ]]; then
        step "Rotation step $phase (at $((SECONDS - START)) s)"
        sed 's/^/   /' "$LOGS/root-status.txt"
        probe --describe
        last=$phase
    else
        probe # between steps too, quietly unless it fails
    fi
    case "$phase" in
    COMPLETE) break ;;
    ROLLING_BACK | ABORTED | FAILED) die "the rotation did not complete: $phase" ;;
    esac
    [[ $SECONDS -lt $deadline ]] || die "the rotation not COMPLETE after 45 s (last step: ${last:-none})"
    sleep 0.5
done

step "Done in $((SECONDS - START)) s"
say "$PROBES trust probes before and during the rotation: $HANDSHAKES mutual-TLS handshakes, 0 failed"
say "status:      $MESHCERT root status --kubeconfig $MGMT (while the server runs)"
say "logs:        $LOGS/"
say "kubeconfigs: $SRV/kubeconfigs/ (the server stops now; files stay)"
echo
echo "demo-rotate OK"
