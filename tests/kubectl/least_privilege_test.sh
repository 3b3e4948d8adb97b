#!/usr/bin/env bash
# least_privilege_test.sh - the whole workflow under the shipped
# ServiceAccounts (issue 15): no process but the operator's kubectl holds an
# admin token.
#
# Usage: least_privilege_test.sh MESHCERT_BINARY REPO_DIR
# `meshcert server` hosts mgmt and east. The RBAC objects are the shipped
# manifests (`kubectl apply -k deploy/issuer` on mgmt, `-k deploy/agent` on
# east); tokens for the ServiceAccounts meshcert-issuer (mgmt) and
# meshcert-agent (east) are minted with TokenRequest (`kubectl create
# token`); east is registered with `meshcert cluster register` (least
# privilege, the default). The issuer runs with a kubeconfig holding only its
# token on mgmt, the agent with only its token on east. Checked: an
# IssuedCertificate reaches FINISHED (istiod's pod bounced) and
# istio-system/cacerts verifies with openssl against the root on mgmt; an IssuedCertificate writing outside the
# agent's --watch-namespaces is FAILED naming the namespace and the flag;
# and the same tokens are refused outside their rules (403, 401). Each check
# prints one "ok"/"FAIL" line; exit 1 when any failed; kubectl missing:
# exit 77 (skipped) unless CI is set, when that is a failure.
set -uo pipefail

# shellcheck source=tests/kubectl/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
start_server mgmt east
MGMT_ADMIN=$WORK/data/kubeconfigs/mgmt.yaml
EAST_ADMIN=$WORK/data/kubeconfigs/east.yaml
MGMT=(--kubeconfig "$MGMT_ADMIN")
EAST=(--kubeconfig "$EAST_ADMIN")
M=(-n meshcert)

# token_kubeconfig ADMIN_KUBECONFIG TOKEN OUT: a kubeconfig of the same
# cluster (server, CA) whose only credential is TOKEN, namespace meshcert.
token_kubeconfig() {
    local server ca
    server=$("$KUBECTL" --kubeconfig "$1" config view --raw --minify --flatten \
        -o jsonpath='{.clusters[0].cluster.server}')
    ca=$("$KUBECTL" --kubeconfig "$1" config view --raw --minify --flatten \
        -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
    cat >"$3" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: serviceaccount
    user:
      token: $2
contexts:
  - name: serviceaccount
    context:
      cluster: cluster
      user: serviceaccount
      namespace: meshcert
current-context: serviceaccount
EOF
    chmod 600 "$3"
}

# wait_state NAME STATE: waits up to 30 s for IssuedCertificate meshcert/NAME
# on east to reach STATE; its status in $OUT.
wait_state() {
    for _ in $(seq 1 150); do
        k "${EAST[@]}" "${M[@]}" get issuedcertificate "$1" \
            -o jsonpath='{.status.state} {.status.error}'
        [[ "$OUT" == "$2"* ]] && return 0
        sleep 0.2
    done
    return 1
}

# ---- the shipped manifests, tokens through TokenRequest ----
expect "create namespace meshcert on mgmt" "created" "${MGMT[@]}" create namespace meshcert
expect "apply -k deploy/issuer on mgmt" "rolebinding.rbac.authorization.k8s.io/meshcert-issuer created" \
    "${MGMT[@]}" apply -k "$REPO/deploy/issuer"
expect "create namespace istio-system on east" "created" "${EAST[@]}" create namespace istio-system
expect "apply -k deploy/agent on east" "role.rbac.authorization.k8s.io/meshcert-agent-output created" \
    "${EAST[@]}" apply -k "$REPO/deploy/agent"
ISSUER_TOKEN=none AGENT_TOKEN=none
if k "${MGMT[@]}" "${M[@]}" create token meshcert-issuer && [[ -n "$OUT" ]]; then
    ISSUER_TOKEN=$OUT
    pass "TokenRequest: a token for mgmt's meshcert/meshcert-issuer"
else
    fail "TokenRequest: a token for mgmt's meshcert/meshcert-issuer" "$OUT"
fi
if k "${EAST[@]}" "${M[@]}" create token meshcert-agent && [[ -n "$OUT" ]]; then
    AGENT_TOKEN=$OUT
    pass "TokenRequest: a token for east's meshcert/meshcert-agent"
else
    fail "TokenRequest: a token for east's meshcert/meshcert-agent" "$OUT"
fi
ISSUER_KUBECONFIG=$WORK/issuer.yaml
AGENT_KUBECONFIG=$WORK/agent.yaml
token_kubeconfig "$MGMT_ADMIN" "$ISSUER_TOKEN" "$ISSUER_KUBECONFIG"
token_kubeconfig "$EAST_ADMIN" "$AGENT_TOKEN" "$AGENT_KUBECONFIG"
expect "the issuer's kubeconfig is its ServiceAccount" "^system:serviceaccount:meshcert:meshcert-issuer$" \
    --kubeconfig "$ISSUER_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username}'
expect "the agent's kubeconfig is its ServiceAccount" "^system:serviceaccount:meshcert:meshcert-agent$" \
    --kubeconfig "$AGENT_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username}'

# ---- register east (least privilege: the default) ----
if OUT=$("$MESHCERT" cluster register east --kubeconfig "$MGMT_ADMIN" --namespace meshcert \
    --kubeconfig-file "$EAST_ADMIN" --trust-domain cluster.local --org "Example Mesh" 2>&1); then
    pass "meshcert cluster register east"
else
    fail "meshcert cluster register east" "$OUT"
fi
REGISTRATION=$WORK/east-registration.yaml
k "${MGMT[@]}" "${M[@]}" get secret east -o jsonpath='{.data.east}'
base64 -d <<<"$OUT" >"$REGISTRATION" 2>/dev/null
expect "the stored registration is east's meshcert-issuer ServiceAccount, not its admin" \
    "^system:serviceaccount:meshcert:meshcert-issuer$" \
    --kubeconfig "$REGISTRATION" auth whoami -o jsonpath='{.status.userInfo.username}'

# ---- the issuer and the agent, each with only its token ----
"$MESHCERT" issuer --kubeconfig "$ISSUER_KUBECONFIG" --namespace meshcert --generate-root \
    --root-key-type ec-p256 >"$WORK/issuer.log" 2>&1 &
"$MESHCERT" agent --kubeconfig "$AGENT_KUBECONFIG" --namespace meshcert --key-type ec-p256 \
    >"$WORK/agent.log" 2>&1 &
cat >"$WORK/istiod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: istiod-1
  namespace: istio-system
  labels:
    app: istiod
spec:
  containers:
    - name: discovery
      image: istio/pilot
---
apiVersion: certificates.smh.solo.io/v1alpha2
kind: PodBounceDirective
metadata:
  name: istiod
  namespace: meshcert
spec:
  podsToBounce:
    - namespace: istio-system
      labels:
        app: istiod
---
apiVersion: certificates.smh.solo.io/v1alpha2
kind: IssuedCertificate
metadata:
  name: istiod
  namespace: meshcert
spec:
  hosts:
    - spiffe://cluster.local/ns/istio-system/sa/istiod
  org: Example Mesh
  signingCertificateSecret:
    name: root-ca
    namespace: meshcert
  issuedCertificateSecret:
    name: cacerts
    namespace: istio-system
  podBounceDirective:
    name: istiod
    namespace: meshcert
EOF
expect "istiod's pod, a PodBounceDirective for it, an IssuedCertificate for istiod (output istio-system/cacerts)" \
    "issuedcertificate.certificates.smh.solo.io/istiod created" \
    "${EAST[@]}" create -f "$WORK/istiod.yaml"
if wait_state istiod FINISHED; then
    pass "it reaches FINISHED under the ServiceAccounts"
else
    fail "it reaches FINISHED under the ServiceAccounts" "status: $OUT" "issuer log:" \
        "$(tail -15 "$WORK/issuer.log")" "agent log:" "$(tail -15 "$WORK/agent.log")"
fi
expect_fail "the agent bounced istiod's pod with its token (pods delete in istio-system)" \
    'pods "istiod-1" not found' "${EAST[@]}" -n istio-system get pod istiod-1
expect "... and recorded it in the PodBounceDirective's status" "istiod-1" \
    "${EAST[@]}" "${M[@]}" get podbouncedirective istiod -o jsonpath='{.status}'
if grep -q "secrets and pods in meshcert, istio-system" "$WORK/agent.log"; then
    pass "the agent watches Secrets and Pods in meshcert and istio-system only (the default)"
else
    fail "the agent watches Secrets and Pods in meshcert and istio-system only (the default)" \
        "$(head -5 "$WORK/agent.log")"
fi
mkdir -p "$WORK/cacerts"
for file in root-cert.pem ca-cert.pem cert-chain.pem; do
    k "${EAST[@]}" -n istio-system get secret cacerts -o jsonpath="{.data.${file//./\\.}}"
    base64 -d <<<"$OUT" >"$WORK/cacerts/$file" 2>/dev/null
done
k "${MGMT[@]}" "${M[@]}" get secret root-ca -o jsonpath='{.data.root-cert\.pem}'
base64 -d <<<"$OUT" >"$WORK/mgmt-root.pem" 2>/dev/null
if OUT=$(openssl verify -CAfile "$WORK/mgmt-root.pem" "$WORK/cacerts/ca-cert.pem" 2>&1) &&
    [[ "$OUT" == *": OK" ]]; then
    pass "openssl: cacerts' intermediate verifies against the root on mgmt"
else
    fail "openssl: cacerts' intermediate verifies against the root on mgmt" "$OUT"
fi
if cmp -s "$WORK/mgmt-root.pem" "$WORK/cacerts/root-cert.pem"; then
    pass "cacerts' root-cert.pem is mgmt's root"
else
    fail "cacerts' root-cert.pem is mgmt's root" "$(head -3 "$WORK/cacerts/root-cert.pem")"
fi
if OUT=$(openssl x509 -in "$WORK/cacerts/ca-cert.pem" -noout -ext basicConstraints 2>&1) &&
    grep -q "CA:TRUE" <<<"$OUT"; then
    pass "openssl: the intermediate is a CA"
else
    fail "openssl: the intermediate is a CA" "$OUT"
fi

# ---- outside --watch-namespaces: refused, nothing written ----
cat >"$WORK/elsewhere.yaml" <<'EOF'
apiVersion: certificates.smh.solo.io/v1alpha2
kind: IssuedCertificate
metadata:
  name: elsewhere
  namespace: meshcert
spec:
  hosts:
    - spiffe://cluster.local/ns/default/sa/gateway
  signingCertificateSecret:
    name: root-ca
    namespace: meshcert
  issuedCertificateSecret:
    name: cacerts
    namespace: default
EOF
expect "an IssuedCertificate whose output Secret is in default" "created" \
    "${EAST[@]}" create -f "$WORK/elsewhere.yaml"
if wait_state elsewhere FAILED && grep -q "namespace default" <<<"$OUT" &&
    grep -q -- "--watch-namespaces" <<<"$OUT"; then
    pass "... is FAILED naming the namespace and --watch-namespaces"
else
    fail "... is FAILED naming the namespace and --watch-namespaces" "status: $OUT"
fi
expect_fail "... and no Secret was written there" 'secrets "cacerts" not found' \
    "${EAST[@]}" -n default get secret cacerts
expect "... and no key Secret, no request made for it" "^$" \
    "${EAST[@]}" "${M[@]}" get secret,certificaterequest --field-selector metadata.name=elsewhere -o name

# ---- the same tokens outside their rules ----
for ns in kube-system default; do
    expect_fail "the agent's token reading Secrets in $ns: 403" \
        "secrets is forbidden: User \"system:serviceaccount:meshcert:meshcert-agent\" cannot list resource \"secrets\" in API group \"\" in the namespace \"$ns\"" \
        --kubeconfig "$AGENT_KUBECONFIG" -n "$ns" get secrets
done
expect_fail "the agent's token reading Secrets in every namespace: 403" \
    'User "system:serviceaccount:meshcert:meshcert-agent" cannot list resource "secrets" in API group "" at the cluster scope' \
    --kubeconfig "$AGENT_KUBECONFIG" get secrets --all-namespaces
expect_fail "the agent's token on mgmt: 401" "Unauthorized|must be logged in" \
    "${MGMT[@]}" --token "$AGENT_TOKEN" -n meshcert get issuedcertificates,secrets
expect_fail "the issuer's token on east (its registration): 403 on Secrets" \
    'secrets is forbidden: User "system:serviceaccount:meshcert:meshcert-issuer" cannot list resource "secrets" in API group "" in the namespace "meshcert"' \
    --kubeconfig "$REGISTRATION" -n meshcert get secrets
expect_fail "... nor the output Secret istio-system/cacerts" \
    'secrets "cacerts" is forbidden: User "system:serviceaccount:meshcert:meshcert-issuer" cannot get resource "secrets"' \
    --kubeconfig "$REGISTRATION" -n istio-system get secret cacerts
expect_fail "the issuer's token on mgmt: 403 on Secrets in kube-system" \
    'secrets is forbidden: User "system:serviceaccount:meshcert:meshcert-issuer" cannot list resource "secrets" in API group "" in the namespace "kube-system"' \
    --kubeconfig "$ISSUER_KUBECONFIG" -n kube-system get secrets
expect_fail "the issuer's token on mgmt: 403 deleting its own root Secret" \
    'secrets "root-ca" is forbidden: User "system:serviceaccount:meshcert:meshcert-issuer" cannot delete resource "secrets"' \
    --kubeconfig "$ISSUER_KUBECONFIG" -n meshcert delete secret root-ca
expect "... which is still there" "^secret/root-ca$" "${MGMT[@]}" "${M[@]}" get secret root-ca -o name

finish
