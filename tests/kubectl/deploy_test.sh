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
# the ServiceAccounts' tokens get from the server's RBAC exactly what
# docs/deploy.md lists (kubectl auth can-i, yes and no, and a 403), and the
# overlay changes the image and the cluster name. Each check prints
# one "ok"/"FAIL" line; exit 1 when any failed; kubectl missing: exit 77
# (skipped) unless CI is set, when that is a failure.
set -uo pipefail

# shellcheck source=tests/kubectl/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
start_server mgmt east
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

# can_i WHO KUBECONFIG TOKEN < TABLE: each line "yes|no ARGS..." is what
# `kubectl auth can-i ARGS` must answer for that ServiceAccount token (the
# server's RBAC evaluating the shipped Roles and bindings).
can_i() {
    local who=$1 kubeconfig=$2 token=$3 want rest args
    while read -r want rest; do
        [[ -z "$want" || "$want" == \#* ]] && continue
        read -ra args <<<"$rest"
        k --kubeconfig "$kubeconfig" --token "$token" auth can-i "${args[@]}"
        if [[ "$(tail -1 <<<"$OUT")" == "$want" ]]; then
            pass "$who: can-i ${args[*]}: $want"
        else
            fail "$who: can-i ${args[*]}: wanted $want" "$OUT"
        fi
    done
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
    "^meshcert-issuer +Role/meshcert-issuer .*meshcert:meshcert-issuer$" \
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

# ---- the issuer's ServiceAccount: what its Role allows, and no more ----
if k "${MGMT[@]}" "${M[@]}" create token meshcert-issuer && [[ -n "$OUT" ]]; then
    ISSUER_TOKEN=$OUT
    pass "a token for ServiceAccount meshcert/meshcert-issuer"
else
    ISSUER_TOKEN=none
    fail "a token for ServiceAccount meshcert/meshcert-issuer" "$OUT"
fi
can_i issuer "$WORK/data/kubeconfigs/mgmt.yaml" "$ISSUER_TOKEN" <<'TABLE'
yes list secrets -n meshcert
yes watch secrets -n meshcert
yes get secrets -n meshcert
yes create secrets -n meshcert
yes update secrets -n meshcert
no delete secrets -n meshcert
no patch secrets -n meshcert
no get secrets -n kube-system
no list secrets --all-namespaces
yes create leases.coordination.k8s.io -n meshcert
yes get leases.coordination.k8s.io/meshcert-issuer -n meshcert
yes update leases.coordination.k8s.io/meshcert-issuer -n meshcert
no update leases.coordination.k8s.io/another -n meshcert
no delete leases.coordination.k8s.io/meshcert-issuer -n meshcert
yes list rootrotations.certificates.smh.solo.io -n meshcert
yes watch rootrotations.certificates.smh.solo.io -n meshcert
yes update rootrotations.certificates.smh.solo.io --subresource=status -n meshcert
no update rootrotations.certificates.smh.solo.io -n meshcert
no create rootrotations.certificates.smh.solo.io -n meshcert
yes create events -n meshcert
yes patch events -n meshcert
no list pods -n meshcert
no create roles.rbac.authorization.k8s.io -n meshcert
TABLE
expect_fail "the issuer's token reading kube-system's Secrets: kube-apiserver's 403" \
    'secrets is forbidden: User "system:serviceaccount:meshcert:meshcert-issuer" cannot list resource "secrets" in API group "" in the namespace "kube-system"' \
    "${MGMT[@]}" --token "$ISSUER_TOKEN" -n kube-system get secrets

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

# ---- the agent's ServiceAccount: what its roles allow, and no more ----
if k "${EAST[@]}" "${M[@]}" create token meshcert-agent && [[ -n "$OUT" ]]; then
    AGENT_TOKEN=$OUT
    pass "a token for ServiceAccount meshcert/meshcert-agent"
else
    AGENT_TOKEN=none
    fail "a token for ServiceAccount meshcert/meshcert-agent" "$OUT"
fi
can_i agent "$WORK/data/kubeconfigs/east.yaml" "$AGENT_TOKEN" <<'TABLE'
no list secrets --all-namespaces
no watch secrets --all-namespaces
no list secrets -n default
no list secrets -n kube-system
yes list secrets -n meshcert
yes watch secrets -n meshcert
no get secrets -n meshcert
no update secrets -n meshcert
yes create secrets -n meshcert
yes delete secrets -n meshcert
yes list secrets -n istio-system
yes watch secrets -n istio-system
no get secrets -n istio-system
yes create secrets -n istio-system
yes update secrets/cacerts -n istio-system
yes delete secrets/cacerts -n istio-system
no update secrets/istio-ca-secret -n istio-system
no create secrets -n default
no list pods --all-namespaces
no list pods -n default
no delete pods -n default
yes list pods -n istio-system
yes watch pods -n istio-system
yes delete pods -n istio-system
yes list pods -n meshcert
no delete pods -n meshcert
no create pods -n istio-system
yes list podbouncedirectives.certificates.smh.solo.io --all-namespaces
yes update podbouncedirectives.certificates.smh.solo.io --subresource=status -n istio-system
no update podbouncedirectives.certificates.smh.solo.io -n istio-system
yes list issuedcertificates.certificates.smh.solo.io -n meshcert
yes watch issuedcertificates.certificates.smh.solo.io -n meshcert
yes update issuedcertificates.certificates.smh.solo.io --subresource=status -n meshcert
no update issuedcertificates.certificates.smh.solo.io -n meshcert
no create issuedcertificates.certificates.smh.solo.io -n meshcert
no list issuedcertificates.certificates.smh.solo.io -n default
yes create certificaterequests.certificates.smh.solo.io -n meshcert
yes delete certificaterequests.certificates.smh.solo.io -n meshcert
no update certificaterequests.certificates.smh.solo.io --subresource=status -n meshcert
yes create events -n meshcert
no create events -n default
no list leases.coordination.k8s.io -n meshcert
TABLE
expect_fail "the agent's token reading Secrets in default: kube-apiserver's 403" \
    'secrets is forbidden: User "system:serviceaccount:meshcert:meshcert-agent" cannot list resource "secrets" in API group "" in the namespace "default"' \
    "${EAST[@]}" --token "$AGENT_TOKEN" -n default get secrets
expect_fail "the agent's token on the management cluster: 401, another cluster's token" \
    "Unauthorized|must be logged in" "${MGMT[@]}" --token "$AGENT_TOKEN" -n meshcert get secrets

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

finish
