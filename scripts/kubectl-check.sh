#!/bin/sh
# kubectl-check.sh - is a kubectl the tests can use on PATH? kubectl is the one
# tool the tests need that Debian bookworm cannot provide: its
# kubernetes-client package is kubectl 1.20, older than the tests need (1.25:
# --subresource, server-side field validation), so `make deps` cannot install
# it. Used by scripts/deps.sh and by every test that runs kubectl, so that all
# of them say the same thing.
# Usage: scripts/kubectl-check.sh  -> exit 0 when `kubectl` is 1.25 or newer;
# otherwise prints one line (what is wrong, and how to get kubectl) and exits 1.
MIN_MINOR=25
how="install kubectl >= 1.$MIN_MINOR from the Kubernetes project's apt repository (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/) or the Google Cloud CLI's kubectl package (which also brings the kubectl.1.27 and kubectl.1.33 the kubectl_1_27/kubectl_1_33 tests run); Debian bookworm's kubernetes-client (1.20) is too old"
if ! command -v kubectl >/dev/null 2>&1; then
    echo "kubectl not found: $how"
    exit 1
fi
version=$(kubectl version --client -o json 2>/dev/null |
    sed -n 's/.*"gitVersion": *"v\([0-9]*\)\.\([0-9]*\)\..*/\1 \2/p' | head -n 1)
major=${version% *}
minor=${version#* }
if [ -z "$version" ] || [ "$major" -ne 1 ] || [ "$minor" -lt "$MIN_MINOR" ]; then
    echo "kubectl $(command -v kubectl) is version ${major:-?}.${minor:-?}, too old: $how"
    exit 1
fi
exit 0
