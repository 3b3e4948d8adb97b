#!/usr/bin/env bash
# deploy_test.sh - the shipped kustomize bases (deploy/) applied with the real
# kubectl (its built-in kustomize, `kubectl apply -k`) to `meshcert server`.
#
# Usage: deploy_test.sh MESHCERT_BINARY REPO_DIR [KUBECTL_VERSION]
# Cluster mgmt gets deploy/issuer, cluster east deploy/agent and then the
# example overlay deploy/overlays/example/east. Checked: a server-side dry run
# writes nothing (before and after the namespace exists; into a missing
# namespace it fails NotFound, as kube-apiserver's NamespaceLifecycle does),
# the real apply creates every object, `kubectl get` shows them with kube's
# columns, a second apply leaves everything unchanged (same resourceVersion),
# and the overlay changes the image and the cluster name. Each check prints
# one "ok"/"FAIL" line; exit 1 when any failed; kubectl missing: exit 77
# (skipped) unless CI is set, when that is a failure.
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 /path/to/meshcert /path/to/repo [kubectl-version]" >&2
    exit 2
fi
MESHCERT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
REPO=$(cd "$2" && pwd)
VERSION=${3:-}

source "$REPO/tests/kubectl/lib.sh"
kubectl_find
kubectl_start_server mgmt east
echo "# $(basename "$0"): kubectl=$KUBECTL server: $(head -1 "$WORK/server.log")"
MGMT=(--kubeconfig "$WORK/data/kubeconfigs/mgmt.yaml")
EAST=(--kubeconfig "$WORK/data/kubeconfigs/east.yaml")
ISSUER=$REPO/deploy/issuer
AGENT=$REPO/deploy/agent
OVERLAY=$REPO/deploy/overlays/example/east
M=(-n meshcert)
G=certificates.smh.solo.io

# expect_nothing NAME KUBECONFIG_ARGS...: no meshcert object (and no CRD of
# ours) exists in that cluster: what a dry run must leave.
expect_nothing() {
    local name=$1
    shift
    if k "$@" get sa,role,rolebinding,deploy,pdb,cm -n meshcert -o name &&
        [[ -z "$OUT" ]] && k "$@" get crd -o name && ! grep -q "$G" <<<"$OUT" &&
        k "$@" get clusterrole,clusterrolebinding -o name && ! grep -q meshcert <<<"$OUT"; then
        pass "$name"
    else
        fail "$name" "found:" "$OUT"
    fi
}

# all_unchanged NAME ARGS...: kubectl apply ARGS succeeds and says
# "unchanged" for every object (at least min_lines of them).
all_unchanged() {
    local name=$1 min_lines=$2
    shift 2
    if k apply "$@" && [[ $(grep -c " unchanged" <<<"$OUT") -ge $min_lines ]] &&
        ! grep -qv " unchanged" <<<"$OUT"; then
        pass "$name"
    else
        fail "$name" "kubectl apply $*" "$OUT"
    fi
}

# resource_versions KUBECONFIG_ARGS...: every meshcert object's kind/name=rv.
resource_versions() {
    k "$@" get sa,role,rolebinding,deploy,pdb,cm -n meshcert \
        -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
    echo "$OUT"
}

# ---- the issuer on the management cluster ----
expect_fail "dry run into a namespace that does not exist yet: NotFound, as kube-apiserver" \
    'namespaces "meshcert" not found' "${MGMT[@]}" apply -k "$ISSUER" --dry-run=server
if grep -q "customresourcedefinition.apiextensions.k8s.io/rootrotations.$G created (server dry run)" \
    <<<"$OUT"; then
    pass "... while the cluster-scoped objects pass the dry run"
else
    fail "... while the cluster-scoped objects pass the dry run" "$OUT"
fi
expect_fail "the dry run wrote no Namespace" 'namespaces "meshcert" not found' \
    "${MGMT[@]}" get namespace meshcert
expect_nothing "the dry run wrote nothing else" "${MGMT[@]}"
expect "create namespace meshcert" "created" "${MGMT[@]}" create namespace meshcert --save-config
expect "apply -k deploy/issuer --dry-run=server passes for every object" \
    "deployment.apps/meshcert-issuer created \(server dry run\)" \
    "${MGMT[@]}" apply -k "$ISSUER" --dry-run=server
dry_lines=$(grep -c "(server dry run)" <<<"$OUT")
if [[ $dry_lines -eq 7 ]] && ! grep -qv "(server dry run)" <<<"$OUT"; then
    pass "... each of the 7 objects says (server dry run)"
else
    fail "... each of the 7 objects says (server dry run)" "$OUT"
fi
expect_nothing "the dry run wrote nothing" "${MGMT[@]}"
expect "apply -k deploy/issuer creates the Deployment" \
    "deployment.apps/meshcert-issuer created" "${MGMT[@]}" apply -k "$ISSUER"
for object in "serviceaccount/meshcert-issuer" "role.rbac.authorization.k8s.io/meshcert-issuer" \
    "rolebinding.rbac.authorization.k8s.io/meshcert-issuer" \
    "poddisruptionbudget.policy/meshcert-issuer" \
    "customresourcedefinition.apiextensions.k8s.io/rootrotations.$G"; do
    if grep -q "^$object created$" <<<"$OUT"; then
        pass "... and $object"
    else
        fail "... and $object" "$OUT"
    fi
done
if ! grep -q "issuedcertificates.$G" <<<"$OUT"; then
    pass "... and not the managed clusters' CRDs"
else
    fail "... and not the managed clusters' CRDs" "$OUT"
fi
expect "get deploy: 2 replicas wanted, none ready (nothing runs pods)" \
    "^meshcert-issuer +0/2 +0 +0 " "${MGMT[@]}" "${M[@]}" get deploy
expect "get deploy -o wide: the container, the image and the selector" \
    "^meshcert-issuer .* issuer +meshcert:0\.1\.0 +app\.kubernetes\.io/name=meshcert-issuer$" \
    "${MGMT[@]}" "${M[@]}" get deploy -o wide
expect "get pdb: min available 1" "^meshcert-issuer +1 +N/A +0 " "${MGMT[@]}" "${M[@]}" get pdb
expect "get rolebinding: the issuer's ServiceAccount" \
    "^meshcert-issuer +Role/meshcert-issuer .*meshcert.meshcert-issuer" \
    "${MGMT[@]}" "${M[@]}" get rolebinding -o wide
expect "the Role allows what the issuer does, with leases limited to its Lease" \
    '"resourceNames":\["meshcert-issuer"\]' "${MGMT[@]}" "${M[@]}" get role meshcert-issuer \
    -o jsonpath='{.rules}'
expect "the Deployment keeps the security context" \
    '"allowPrivilegeEscalation":false.*"readOnlyRootFilesystem":true' \
    "${MGMT[@]}" "${M[@]}" get deploy meshcert-issuer \
    -o jsonpath='{.spec.template.spec.containers[0].securityContext}'
expect "the probes are /healthz and /readyz on the metrics port" \
    "^/healthz metrics /readyz metrics$" "${MGMT[@]}" "${M[@]}" get deploy meshcert-issuer \
    -o jsonpath='{.spec.template.spec.containers[0].livenessProbe.httpGet.path} {.spec.template.spec.containers[0].livenessProbe.httpGet.port} {.spec.template.spec.containers[0].readinessProbe.httpGet.path} {.spec.template.spec.containers[0].readinessProbe.httpGet.port}'
before=$(resource_versions "${MGMT[@]}")
all_unchanged "a second apply -k deploy/issuer changes nothing" 7 "${MGMT[@]}" -k "$ISSUER"
after=$(resource_versions "${MGMT[@]}")
if [[ -n "$before" && "$before" == "$after" ]]; then
    pass "... every resourceVersion is the same"
else
    fail "... every resourceVersion is the same" "before:" "$before" "after:" "$after"
fi

# ---- the agent on a managed cluster ----
expect "create namespace istio-system (Istio's; the agent writes cacerts there)" "created" \
    "${EAST[@]}" create namespace istio-system
expect "apply -k deploy/agent creates the agent" "deployment.apps/meshcert-agent created" \
    "${EAST[@]}" apply -k "$AGENT"
for object in "namespace/meshcert" "serviceaccount/meshcert-agent" \
    "clusterrole.rbac.authorization.k8s.io/meshcert-agent" \
    "clusterrolebinding.rbac.authorization.k8s.io/meshcert-agent" \
    "role.rbac.authorization.k8s.io/meshcert-agent" \
    "role.rbac.authorization.k8s.io/meshcert-agent-output" \
    "rolebinding.rbac.authorization.k8s.io/meshcert-agent-output" \
    "poddisruptionbudget.policy/meshcert-agent" \
    "customresourcedefinition.apiextensions.k8s.io/issuedcertificates.$G" \
    "customresourcedefinition.apiextensions.k8s.io/certificaterequests.$G" \
    "customresourcedefinition.apiextensions.k8s.io/podbouncedirectives.$G"; do
    if grep -q "^$object created$" <<<"$OUT"; then
        pass "... and $object"
    else
        fail "... and $object" "$OUT"
    fi
done
if ! grep -q "rootrotations" <<<"$OUT"; then
    pass "... and not the RootRotation CRD"
else
    fail "... and not the RootRotation CRD" "$OUT"
fi
expect "get deploy: one agent" "^meshcert-agent +0/1 +0 +0 " "${EAST[@]}" "${M[@]}" get deploy
expect "get pdb: max unavailable 1" "^meshcert-agent +N/A +1 +0 " "${EAST[@]}" "${M[@]}" get pdb
expect "the agent is replaced, not rolled (one agent at a time)" "^Recreate$" \
    "${EAST[@]}" "${M[@]}" get deploy meshcert-agent -o jsonpath='{.spec.strategy.type}'
expect "the output Role in istio-system updates only cacerts" '"resourceNames":\["cacerts"\]' \
    "${EAST[@]}" -n istio-system get role meshcert-agent-output -o jsonpath='{.rules}'
expect "api-resources: deploy and pdb short names" "^deployments +deploy +apps/v1 +true +Deployment" \
    "${EAST[@]}" api-resources --api-group=apps
before=$(resource_versions "${EAST[@]}")
all_unchanged "a second apply -k deploy/agent changes nothing" 13 "${EAST[@]}" -k "$AGENT"
after=$(resource_versions "${EAST[@]}")
if [[ -n "$before" && "$before" == "$after" ]]; then
    pass "... every resourceVersion is the same"
else
    fail "... every resourceVersion is the same" "before:" "$before" "after:" "$after"
fi

# ---- the example overlay: image and cluster name ----
expect "the overlay's dry run would change the Deployment" \
    "deployment.apps/meshcert-agent configured \(server dry run\)" \
    "${EAST[@]}" apply -k "$OVERLAY" --dry-run=server
after_dry=$(resource_versions "${EAST[@]}")
if [[ "$after" == "$after_dry" ]]; then
    pass "... and wrote nothing (same objects, same resourceVersions)"
else
    fail "... and wrote nothing (same objects, same resourceVersions)" "$after" "$after_dry"
fi
expect "apply -k deploy/overlays/example/east" "deployment.apps/meshcert-agent configured" \
    "${EAST[@]}" apply -k "$OVERLAY"
expect "the Deployment runs the overlay's image" "^registry\.example\.com/platform/meshcert:0\.1\.0$" \
    "${EAST[@]}" "${M[@]}" get deploy meshcert-agent \
    -o jsonpath='{.spec.template.spec.containers[0].image}'
cm=$("$KUBECTL" "${EAST[@]}" "${M[@]}" get deploy meshcert-agent \
    -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="CLUSTER_NAME")].valueFrom.configMapKeyRef.name}' 2>&1)
expect "its ConfigMap ($cm) names the cluster east" "^east$" "${EAST[@]}" "${M[@]}" get cm "$cm" \
    -o jsonpath='{.data.cluster-name}'
expect "... which changed only that: the probes, the security context and the other args stay" \
    "^--cluster-name=\\\$\\(CLUSTER_NAME\\) /readyz true$" "${EAST[@]}" "${M[@]}" get deploy meshcert-agent \
    -o jsonpath='{.spec.template.spec.containers[0].args[3]} {.spec.template.spec.containers[0].readinessProbe.httpGet.path} {.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}'
all_unchanged "a second apply of the overlay changes nothing" 13 "${EAST[@]}" -k "$OVERLAY"

kubectl_summary
