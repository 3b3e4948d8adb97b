#!/usr/bin/env bash
# kubectl_rbac_test.sh - identities and RBAC of `meshcert server`, judged by
# the real kubectl.
#
# Usage: kubectl_rbac_test.sh MESHCERT_BINARY REPO_DIR [KUBECTL_VERSION]
# Starts a server with clusters c1 and c2 (see lib.sh). As c1's admin:
# creates a ServiceAccount, a Role and a RoleBinding (kubectl create, which
# sends protobuf, and apply), checks their printing and validation, and gets
# a token with `kubectl create token`. With that token: get, list and watch
# of what the Role allows work; `kubectl auth can-i` says yes and no as the
# rules do; everything else is refused with kube-apiserver's exact 403
# message (a watch too). The token survives a server restart, is refused
# (401) on c2, and stops working when its ServiceAccount is deleted, even
# once one of the same name is created again. A legacy token Secret is
# filled by the server, works, and stops working once deleted.
set -uo pipefail

# shellcheck source=tests/kubectl/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
start_server c1 c2
ADMIN=$KUBECONFIG
C2=$WORK/data/kubeconfigs/c2.yaml
SA_USER='system:serviceaccount:app:reader'

# as_token FILE TOKEN: FILE is a kubeconfig of c1 whose user is that token
# (the admin's server and CA, nothing of the admin's credentials).
as_token() {
    sed "s|^    token: .*|    token: $2|" "$ADMIN" >"$1"
}

# kubectl's words for a 401 (discovery fails first, with the second)
UNAUTHORIZED='Unauthorized|the server has asked for the client to provide credentials'

# ---- RBAC objects, as the admin ----
expect "create namespace app" "namespace/app created" create namespace app
expect "create serviceaccount reader" "serviceaccount/reader created" -n app create sa reader
expect "create role (protobuf body)" "role.rbac.authorization.k8s.io/cm-reader created" \
    -n app create role cm-reader --verb=get,list,watch --resource=configmaps
expect "create rolebinding to the ServiceAccount" \
    "rolebinding.rbac.authorization.k8s.io/cm-reader created" \
    -n app create rolebinding cm-reader --role=cm-reader --serviceaccount=app:reader
cat >"$WORK/apply.yaml" <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: lease-reader
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [leader]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: lease-reader
  namespace: app
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: lease-reader
subjects:
- kind: ServiceAccount
  name: reader
YAML
expect "apply a ClusterRole and a RoleBinding to it" \
    "rolebinding.rbac.authorization.k8s.io/lease-reader created" apply -f "$WORK/apply.yaml"
expect "get rolebindings -o wide prints role and subjects" \
    "^cm-reader +Role/cm-reader +[0-9]+s +app:reader$" -n app get rolebindings -o wide \
    --no-headers --sort-by=.metadata.name
expect "api-resources lists the RBAC kinds" \
    "^rolebindings +rbac\.authorization\.k8s\.io/v1 +true +RoleBinding" \
    api-resources --api-group=rbac.authorization.k8s.io
printf '%s\n' 'apiVersion: rbac.authorization.k8s.io/v1' 'kind: Role' \
    'metadata: {name: bad, namespace: app}' 'rules: [{verbs: [get], nonResourceURLs: [/metrics]}]' \
    >"$WORK/bad-role.yaml"
expect_fail "a Role with nonResourceURLs is refused as kube refuses it" \
    'rules\[0\]\.nonResourceURLs: Invalid value: .*namespaced rules cannot apply to non-resource URLs' \
    apply -f "$WORK/bad-role.yaml"
expect_fail "a TokenRequest under 10 minutes is refused" \
    'spec\.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes' \
    -n app create token reader --duration=1m
expect_fail "a token for a missing ServiceAccount is 404" 'serviceaccounts "nobody" not found' \
    -n app create token nobody
expect "a ConfigMap to read" "configmap/cfg created" -n app create configmap cfg --from-literal=a=1
expect "a Secret not to read" "secret/hidden created" -n app create secret generic hidden \
    --from-literal=k=v

# ---- the ServiceAccount's token ----
if k -n app create token reader --duration=20m && [[ "$OUT" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
    TOKEN=$OUT
    pass "kubectl create token prints a JWT"
else
    TOKEN=none
    fail "kubectl create token prints a JWT" "$OUT"
fi
if grep -qF -- "$TOKEN" "$WORK/server.log"; then
    fail "the token is not in the server's log"
else
    pass "the token is not in the server's log"
fi
as_token "$WORK/reader.yaml" "$TOKEN"
R=(--kubeconfig "$WORK/reader.yaml")
expect "whoami with the token is the ServiceAccount" "^Username +$SA_USER$" "${R[@]}" auth whoami
expect "whoami lists the ServiceAccount's groups" \
    "^Groups +\[system:serviceaccounts system:serviceaccounts:app system:authenticated\]$" \
    "${R[@]}" auth whoami
expect "allowed: list configmaps" "^cfg " "${R[@]}" -n app get configmaps --no-headers
expect "allowed: get a configmap" "^configmap/cfg$" "${R[@]}" -n app get configmap cfg -o name
k "${R[@]}" -n app get lease leader
if grep -q 'leases.coordination.k8s.io "leader" not found' <<<"$OUT"; then
    pass "resourceNames: get of the named lease passes authorization (then 404)"
else
    fail "resourceNames: get of the named lease passes authorization (then 404)" "$OUT"
fi
expect_fail "resourceNames: list of leases is forbidden" \
    'leases.coordination.k8s.io is forbidden: User "'"$SA_USER"'" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "app"' \
    "${R[@]}" -n app get leases
for check in "list configmaps -n app:yes" "watch configmaps -n app:yes" "get configmaps/cfg -n app:yes" \
    "delete configmaps -n app:no" "list secrets -n app:no" "list configmaps -n default:no" \
    "list configmaps -A:no" "get leases/leader -n app:yes" "get leases/other -n app:no" \
    "create selfsubjectaccessreviews.authorization.k8s.io:yes"; do
    question=${check%:*} answer=${check##*:}
    # shellcheck disable=SC2086
    k "${R[@]}" auth can-i $question
    if [[ "$(tail -1 <<<"$OUT")" == "$answer" ]]; then
        pass "auth can-i $question: $answer"
    else
        fail "auth can-i $question: $answer" "$OUT"
    fi
done
expect_fail "forbidden: list secrets, in kube-apiserver's words" \
    '^Error from server \(Forbidden\): secrets is forbidden: User "system:serviceaccount:app:reader" cannot list resource "secrets" in API group "" in the namespace "app"$' \
    "${R[@]}" -n app get secrets
expect_fail "forbidden: get a named secret names it" \
    '^Error from server \(Forbidden\): secrets "hidden" is forbidden: User "system:serviceaccount:app:reader" cannot get resource "secrets" in API group "" in the namespace "app"$' \
    "${R[@]}" -n app get secret hidden
expect_fail "forbidden: configmaps of another namespace" \
    'configmaps is forbidden: User "system:serviceaccount:app:reader" cannot list resource "configmaps" in API group "" in the namespace "default"' \
    "${R[@]}" -n default get configmaps
expect_fail "forbidden: configmaps of every namespace (cluster scope)" \
    'configmaps is forbidden: User "system:serviceaccount:app:reader" cannot list resource "configmaps" in API group "" at the cluster scope' \
    "${R[@]}" get configmaps -A
expect_fail "forbidden: delete an allowed kind with a verb not allowed" \
    'configmaps "cfg" is forbidden: User "system:serviceaccount:app:reader" cannot delete resource "configmaps" in API group "" in the namespace "app"' \
    "${R[@]}" -n app delete configmap cfg
expect_fail "forbidden: a watch of secrets is authorized as watch" \
    "^Error from server \\(Forbidden\\): secrets is forbidden: User \"$SA_USER\" cannot watch resource \"secrets\" in API group \"\" in the namespace \"app\"$" \
    "${R[@]}" get --raw '/clusters/c1/api/v1/namespaces/app/secrets?watch=true'
expect_fail "forbidden: the ServiceAccount cannot grant itself more" \
    'roles.rbac.authorization.k8s.io is forbidden' \
    "${R[@]}" -n app create role more --verb='*' --resource=secrets

# an allowed watch sees a change the admin makes
timeout 20 "$KUBECTL" "${R[@]}" -n app get configmaps --watch-only -o name \
    >"$WORK/watch.out" 2>&1 &
WATCH_PID=$!
sleep 2
k -n app create configmap cfg2 --from-literal=b=2
for _ in $(seq 1 50); do
    grep -q "configmap/cfg2" "$WORK/watch.out" && break
    sleep 0.2
done
kill "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
if grep -q "^configmap/cfg2$" "$WORK/watch.out"; then
    pass "allowed: a watch of configmaps sees a new one"
else
    fail "allowed: a watch of configmaps sees a new one" "$(cat "$WORK/watch.out")"
fi

# ---- survives a restart; refused on another cluster ----
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
start_server c1 c2
ADMIN=$KUBECONFIG
as_token "$WORK/reader.yaml" "$TOKEN"
expect "the token works after a server restart" "^configmap/cfg$" "${R[@]}" -n app get cm cfg -o name
sed "s|^    token: .*|    token: $TOKEN|" "$C2" >"$WORK/reader-c2.yaml"
expect_fail "the token of c1 is Unauthorized on c2" "$UNAUTHORIZED" \
    --kubeconfig "$WORK/reader-c2.yaml" -n app get configmaps
expect_fail "an altered token is Unauthorized" "$UNAUTHORIZED" \
    "${R[@]}" --token "${TOKEN%?}x" -n app get configmaps

# ---- legacy token Secret ----
cat >"$WORK/legacy.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: reader-token
  namespace: app
  annotations:
    kubernetes.io/service-account.name: reader
type: kubernetes.io/service-account-token
YAML
expect "create a legacy token Secret" "secret/reader-token created" apply -f "$WORK/legacy.yaml"
expect "the server fills data.token, data.ca.crt and data.namespace" "^ca\.crt namespace token ?$" \
    -n app get secret reader-token -o 'go-template={{range $k, $v := .data}}{{$k}} {{end}}'
k -n app get secret reader-token -o 'jsonpath={.data.token}'
LEGACY=$(base64 -d <<<"$OUT" 2>/dev/null)
as_token "$WORK/legacy-kc.yaml" "$LEGACY"
expect "the legacy token authenticates as the ServiceAccount" "^Username +$SA_USER$" \
    --kubeconfig "$WORK/legacy-kc.yaml" auth whoami
expect "the legacy token is allowed what the ServiceAccount is" "^configmap/cfg$" \
    --kubeconfig "$WORK/legacy-kc.yaml" -n app get cm cfg -o name
expect "delete the legacy token Secret" 'secret "reader-token" deleted' -n app delete secret reader-token
expect_fail "the deleted Secret's token is Unauthorized" "$UNAUTHORIZED" \
    --kubeconfig "$WORK/legacy-kc.yaml" -n app get cm cfg

# ---- deleting the ServiceAccount revokes its tokens ----
expect "delete the ServiceAccount" 'serviceaccount "reader" deleted' -n app delete sa reader
expect_fail "its token is Unauthorized" "$UNAUTHORIZED" "${R[@]}" -n app get configmaps
expect "a new ServiceAccount of the same name" "serviceaccount/reader created" -n app create sa reader
expect_fail "does not revive the old token" "$UNAUTHORIZED" "${R[@]}" -n app get configmaps

finish
