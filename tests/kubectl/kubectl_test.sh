#!/usr/bin/env bash
# kubectl_test.sh - the real kubectl judges `meshcert server`.
#
# Usage: kubectl_test.sh MESHCERT_BINARY REPO_DIR [KUBECTL_VERSION]
# Starts a server on a free loopback port in a temporary directory (stopped
# and removed on exit, even on failure), points KUBECONFIG at its cluster c1
# and runs what users run: apply the CRDs, api-resources, auth can-i and
# whoami (and an invalid token), apply with validation, server-side dry run
# (create/apply/patch/delete --dry-run=server, diff), get (State column, -o
# wide), explain (field descriptions), -o yaml round trip, merge/JSON/status
# patches, status.conditions with kubectl wait, label, describe, watch, delete
# with and without finalizers, Secrets, server-side apply (IssuedCertificate,
# Secret, ConfigMap: create, update, removal of dropped fields, conflicts
# between managers, --force-conflicts, managedFields).
# KUBECTL_VERSION (e.g. 1.27) runs kubectl.<version> from the Google Cloud SDK
# beside /usr/bin/kubectl instead of the dispatcher. Each check prints one
# "ok"/"FAIL" line; the script exits 1 when any failed. kubectl missing: exit
# 77 (skipped) unless CI is set, when that is a failure.
set -uo pipefail

# shellcheck source=tests/kubectl/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
start_server c1
G=certificates.smh.solo.io
N=(-n istio-system)
SAMPLE=$REPO/tests/kubectl/issuedcertificate.yaml

# ---- discovery ----
expect "version reports the server's v1.32.4" '"gitVersion": "v1\.32\.4"' version -o json
expect "apply -f deploy/crds/ creates the three CRDs" \
    "issuedcertificates\.$G created" apply -f "$REPO/deploy/crds/"
expect "api-resources lists issuedcertificates with short name ic" \
    "^issuedcertificates +ic +$G/v1alpha2 +true +IssuedCertificate" api-resources --api-group=$G
expect "api-resources lists certificaterequests (cr) and podbouncedirectives (pbd)" \
    "^podbouncedirectives +pbd +$G/v1alpha2" api-resources --api-group=$G
expect "api-resources lists the built-ins with their short names" \
    "^namespaces +ns +v1 +false +Namespace" api-resources
expect "get crd shows the CRDs" "issuedcertificates\.$G" get crd

# ---- auth: every valid token is its cluster's admin ----
expect "auth can-i create issuedcertificates" "^yes$" auth can-i create "issuedcertificates.$G" \
    -n istio-system
expect "auth can-i '*' '*'" "^yes$" auth can-i '*' '*'
expect "auth whoami names the kubeconfig's user" "^Username +c1-admin$" auth whoami
expect "auth whoami lists the groups" "^Groups +\[system:masters system:authenticated\]$" auth whoami
sed 's/^    token: .*/    token: not-the-token/' "$KUBECONFIG" >"$WORK/bad-token.yaml"
expect_fail "auth whoami with an invalid token is Unauthorized" "Unauthorized" \
    --kubeconfig "$WORK/bad-token.yaml" auth whoami
expect_fail "auth can-i with an invalid token is Unauthorized" "Unauthorized" \
    --kubeconfig "$WORK/bad-token.yaml" auth can-i get secrets

# ---- namespaces ----
expect "create namespace (typed client)" "namespace/kubectl-ns created" create namespace kubectl-ns
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n' >"$WORK/ns.yaml"
expect "apply a Namespace with validation" "namespace/istio-system created" apply -f "$WORK/ns.yaml"
expect "get ns shows STATUS Active" "^istio-system +Active " get ns

# ---- apply with validation ----
expect "apply -f a sample IssuedCertificate (validation on)" \
    "issuedcertificate\.$G/mesh-1 created" apply -f "$SAMPLE"
sed 's/^  org: .*/  org: X\n  bogus: 1/; s/name: mesh-1/name: mesh-bogus/' "$SAMPLE" >"$WORK/unknown.yaml"
expect_fail "apply rejects an unknown field (fieldValidation=Strict)" \
    'unknown field "spec\.bogus"' apply -f "$WORK/unknown.yaml"
sed 's/^  org: .*/  org: 7/; s/name: mesh-1/name: mesh-int/' "$SAMPLE" >"$WORK/badtype.yaml"
expect_fail "apply rejects a wrong type, naming the field" \
    'spec\.org: Invalid value: "integer"' apply -f "$WORK/badtype.yaml"
expect "apply again is unchanged" "mesh-1 unchanged" apply -f "$SAMPLE"
# the lifetime fields (issue 12): Go durations by pattern, keyType by enum
sed 's/^  org: .*/  org: X\n  duration: 365d/; s/name: mesh-1/name: mesh-days/' "$SAMPLE" >"$WORK/days.yaml"
expect_fail "apply rejects a duration that is not a Go duration (pattern)" \
    'spec\.duration: Invalid value: "365d": spec\.duration in body should match' apply -f "$WORK/days.yaml"
sed 's/^  org: .*/  org: X\n  keyType: rsa1024/; s/name: mesh-1/name: mesh-rsa1024/' "$SAMPLE" >"$WORK/keytype.yaml"
expect_fail "apply rejects an unknown keyType (enum)" \
    'spec\.keyType: Unsupported value: "rsa1024"' apply -f "$WORK/keytype.yaml"
sed 's/^  org: .*/  org: X\n  duration: 2160h\n  renewBefore: 720h\n  keyType: ec-p384/; s/name: mesh-1/name: mesh-life/' \
    "$SAMPLE" >"$WORK/life.yaml"
expect "apply accepts duration, renewBefore and keyType" "mesh-life created" apply -f "$WORK/life.yaml"
expect "get -o wide shows DURATION and KEY-TYPE" "^mesh-life .* 2160h +ec-p384 " "${N[@]}" get ic mesh-life -o wide
k "${N[@]}" delete ic mesh-life

# ---- server-side dry run: answered, never written ----
rv_of_mesh1() { k "${N[@]}" get ic mesh-1 -o 'jsonpath={.metadata.resourceVersion} {.spec.org}'; echo "$OUT"; }
MESH1_BEFORE=$(rv_of_mesh1)
sed 's/name: mesh-1/name: mesh-dry/' "$SAMPLE" >"$WORK/dry-create.yaml"
expect "create --dry-run=server" "mesh-dry created \(server dry run\)" create -f "$WORK/dry-create.yaml" \
    --dry-run=server
expect_fail "a dry-run create writes nothing" '"mesh-dry" not found' "${N[@]}" get ic mesh-dry
sed 's/^  org: .*/  org: Dry Org/' "$SAMPLE" >"$WORK/modified.yaml"
expect "apply --dry-run=server" "mesh-1 configured \(server dry run\)" apply -f "$WORK/modified.yaml" \
    --dry-run=server
expect "patch --dry-run=server shows the would-be object" "^Dry Patch$" "${N[@]}" patch ic mesh-1 \
    --type merge -p '{"spec":{"org":"Dry Patch"}}' --dry-run=server -o 'jsonpath={.spec.org}'
expect "delete --dry-run=server" "mesh-1\" deleted \(server dry run\)" "${N[@]}" delete ic mesh-1 \
    --dry-run=server
k diff -f "$WORK/modified.yaml"
DIFF_RC=$?
if [[ $DIFF_RC -eq 1 ]] && grep -qE '^-  org: Example Mesh' <<<"$OUT" && grep -qE '^\+  org: Dry Org' <<<"$OUT"; then
    pass "diff -f a modified IssuedCertificate shows the change (exit 1)"
else
    fail "diff -f a modified IssuedCertificate shows the change (exit 1)" "exit $DIFF_RC" "$OUT"
fi
MESH1_AFTER=$(rv_of_mesh1)
if [[ "$MESH1_AFTER" == "$MESH1_BEFORE" && "$MESH1_AFTER" == *"Example Mesh" ]]; then
    pass "dry-run create/apply/patch/delete and diff changed nothing (resourceVersion, spec)"
else
    fail "dry-run create/apply/patch/delete and diff changed nothing (resourceVersion, spec)" \
        "before: $MESH1_BEFORE" "after: $MESH1_AFTER"
fi
expect_fail "an unsupported dryRun value is refused" "Unsupported value" delete --raw \
    "/clusters/c1/apis/$G/v1alpha2/namespaces/istio-system/issuedcertificates/mesh-1?dryRun=Maybe"

# ---- get ----
expect "get ic has the State column" "^NAME +STATE +ERROR +NOT-AFTER +AGE" "${N[@]}" get ic
expect "get issuedcertificates by plural lists mesh-1" "^mesh-1 " "${N[@]}" get issuedcertificates
expect "get -A shows the namespace column" "^istio-system +mesh-1 " get ic -A
expect "get --show-labels" "app=meshcert" "${N[@]}" get ic --show-labels
expect "get category meshcert" "issuedcertificate\.$G/mesh-1" "${N[@]}" get meshcert -o name
expect_fail "get of a missing object is NotFound" '"nothing" not found' "${N[@]}" get ic nothing

# ---- -o wide and explain (issue 11) ----
expect "get -o wide adds the priority-1 columns" \
    "^NAME +STATE +ERROR +NOT-AFTER +AGE +RENEWAL +DURATION +KEY-TYPE +OUTPUT-NAMESPACE +OUTPUT +ROOT +BOUNCE +OBSERVED" \
    "${N[@]}" get ic -o wide
expect "get -o wide shows the output Secret and the root" \
    "^mesh-1 .* istio-system +cacerts +root-ca " "${N[@]}" get ic -o wide
expect "explain issuedcertificates.spec.hosts shows its description" \
    "hostnames, IP addresses and URIs" explain issuedcertificates.spec.hosts
if k explain issuedcertificate.spec; then
    # every field of spec is listed with a description line under it
    undocumented=$(awk '/^FIELDS:/{f=1; next} f && /^  [a-zA-Z]+\t/{name=$1; getline; if ($0 !~ /[a-zA-Z]/) print name}' <<<"$OUT")
    if grep -qE "^  (hosts|org|signingCertificateSecret|issuedCertificateSecret|podBounceDirective)\b" <<<"$OUT" &&
        grep -qE "^  (duration|renewBefore|keyType)\b" <<<"$OUT" &&
        [[ -z "$undocumented" ]]; then
        pass "explain issuedcertificate.spec describes every field"
    else
        fail "explain issuedcertificate.spec describes every field" "undocumented: $undocumented" "$OUT"
    fi
else
    fail "explain issuedcertificate.spec" "$OUT"
fi
expect "explain issuedcertificates.spec.duration shows its description" "Go duration" \
    explain issuedcertificates.spec.duration
expect "explain issuedcertificates.status.rootFingerprints shows its description" "SHA-256" \
    explain issuedcertificates.status.rootFingerprints
expect "explain the Ready condition's status" "True, False or Unknown" \
    explain issuedcertificates.status.conditions.status

# ---- -o yaml round trip ----
if k "${N[@]}" get ic mesh-1 -o yaml; then
    printf '%s\n' "$OUT" >"$WORK/mesh-1.yaml"
    before=$(grep -A20 '^spec:' "$WORK/mesh-1.yaml")
    if k replace -f "$WORK/mesh-1.yaml" && k "${N[@]}" get ic mesh-1 -o yaml &&
        [[ "$(grep -A20 '^spec:' <<<"$OUT")" == "$before" ]] && grep -q "^kind: IssuedCertificate" <<<"$OUT"; then
        pass "get -o yaml then replace -f round-trips"
    else
        fail "get -o yaml then replace -f round-trips" "$OUT"
    fi
    expect_fail "replace with a stale resourceVersion is a Conflict" \
        "the object has been modified|Conflict" replace -f "$WORK/mesh-1.yaml"
else
    fail "get -o yaml" "$OUT"
fi

# ---- patches ----
expect "patch --type merge" "mesh-1 patched" "${N[@]}" patch ic mesh-1 --type merge \
    -p '{"spec":{"org":"Merged Org"}}'
expect "merge patch applied and generation bumped" "^Merged Org [0-9]+$" "${N[@]}" get ic mesh-1 \
    -o 'jsonpath={.spec.org} {.metadata.generation}'
expect "patch --type json" "mesh-1 patched" "${N[@]}" patch ic mesh-1 --type json \
    -p '[{"op":"add","path":"/spec/hosts/-","value":"extra.example.com"}]'
expect "JSON patch appended a host" "extra\.example\.com" "${N[@]}" get ic mesh-1 \
    -o 'jsonpath={.spec.hosts[2]}'
expect_fail "JSON patch with a failing test op is rejected" "." "${N[@]}" patch ic mesh-1 \
    --type json -p '[{"op":"test","path":"/spec/org","value":"nope"}]'
expect "patch --subresource=status" "mesh-1 patched" "${N[@]}" patch ic mesh-1 \
    --subresource=status --type merge -p '{"status":{"state":"ISSUED","observedGeneration":1}}'
expect "get shows the State set through status" "^mesh-1 +ISSUED " "${N[@]}" get ic
k "${N[@]}" patch ic mesh-1 --type merge -p '{"status":{"state":"FAILED"}}'
expect "a patch of the main resource ignores status" "^ISSUED$" "${N[@]}" get ic mesh-1 \
    -o 'jsonpath={.status.state}'
expect_fail "status patch is validated against the schema" "status\.state" "${N[@]}" patch ic \
    mesh-1 --subresource=status --type merge -p '{"status":{"state":"BOGUS"}}'

# ---- status.conditions: kubectl wait (issue 11) ----
# kubectl wait ignores a condition whose observedGeneration is behind the
# object's generation (the patches above moved it on), as it should
k "${N[@]}" get ic mesh-1 -o 'jsonpath={.metadata.generation}'
GEN=${OUT:-1}
READY_FALSE='{"status":{"state":"REQUESTED","conditions":[{"type":"Ready","status":"False","reason":"Requested","message":"waiting for the issuer","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":'$GEN'}]}}'
READY_TRUE='{"status":{"state":"FINISHED","notAfter":"2027-01-01T00:00:00Z","conditions":[{"type":"Ready","status":"True","reason":"Finished","message":"issued","lastTransitionTime":"2026-01-01T00:00:01Z","observedGeneration":'$GEN'}]}}'
expect "status patch with a Ready=False condition" "mesh-1 patched" "${N[@]}" patch ic mesh-1 \
    --subresource=status --type merge -p "$READY_FALSE"
expect_fail "wait --for=condition=Ready times out while Ready is False" "timed out" "${N[@]}" \
    wait --for=condition=Ready issuedcertificate/mesh-1 --timeout=2s
expect "wait --for=condition=Ready=False is met" "condition met" "${N[@]}" \
    wait --for=condition=Ready=False issuedcertificate/mesh-1 --timeout=10s
expect "status patch with Ready=True" "mesh-1 patched" "${N[@]}" patch ic mesh-1 \
    --subresource=status --type merge -p "$READY_TRUE"
expect "wait --for=condition=Ready is met" "condition met" "${N[@]}" \
    wait --for=condition=Ready issuedcertificate/mesh-1 --timeout=10s
expect "get -o wide shows NOT-AFTER" "^mesh-1 +FINISHED .*2027-01-01T00:00:00Z" "${N[@]}" get ic -o wide
expect_fail "a condition status outside True/False/Unknown is refused" 'Unsupported value: "Maybe"' \
    "${N[@]}" patch ic mesh-1 --subresource=status --type merge \
    -p '{"status":{"conditions":[{"type":"Ready","status":"Maybe"}]}}'
k "${N[@]}" patch ic mesh-1 --subresource=status --type merge -p '{"status":{"state":"ISSUED","conditions":null}}'

# ---- label, describe ----
expect "label" "mesh-1 labeled" "${N[@]}" label ic mesh-1 tier=gold
expect "get -l selects by the new label" "^mesh-1 " "${N[@]}" get ic -l tier=gold
expect "get -l with a non-matching selector" "No resources found" "${N[@]}" get ic -l tier=silver
expect "label --overwrite and removal" "mesh-1 unlabeled|mesh-1 labeled" "${N[@]}" label ic mesh-1 tier-
expect "describe" "^Name: +mesh-1" "${N[@]}" describe ic mesh-1
expect "describe shows spec and status" "State: +ISSUED" "${N[@]}" describe ic mesh-1

# ---- watch: another client's change reaches `get -w` ----
timeout 15 "$KUBECTL" "${N[@]}" get ic -w </dev/null >"$WORK/watch-table.out" 2>&1 &
WATCH_TABLE=$!
timeout 15 "$KUBECTL" "${N[@]}" get ic -w -o 'jsonpath={.metadata.name} {.status.state}{"\n"}' \
    </dev/null >"$WORK/watch-path.out" 2>&1 &
WATCH_PATH=$!
sleep 3
k "${N[@]}" patch ic mesh-1 --subresource=status --type merge -p '{"status":{"state":"FINISHED"}}'
for _ in $(seq 1 50); do
    grep -q FINISHED "$WORK/watch-path.out" && grep -q FINISHED "$WORK/watch-table.out" && break
    sleep 0.2
done
kill "$WATCH_TABLE" "$WATCH_PATH" 2>/dev/null
wait "$WATCH_TABLE" "$WATCH_PATH" 2>/dev/null
if grep -q "^mesh-1 FINISHED" "$WORK/watch-path.out"; then
    pass "get -w sees a change made by another client"
else
    fail "get -w sees a change made by another client" "$(cat "$WORK/watch-path.out")"
fi
if grep -qE "^mesh-1 +FINISHED" "$WORK/watch-table.out"; then
    pass "get -w prints the change with the State column (Table watch events)"
else
    fail "get -w prints the change with the State column (Table watch events)" \
        "$(cat "$WORK/watch-table.out")"
fi

# ---- delete ----
expect "delete without finalizers" "mesh-1\" deleted" "${N[@]}" delete ic mesh-1
expect_fail "deleted object is gone" "not found" "${N[@]}" get ic mesh-1
expect "re-create for the finalizer test" "mesh-1 created" apply -f "$SAMPLE"
expect "add a finalizer" "mesh-1 patched" "${N[@]}" patch ic mesh-1 --type merge \
    -p '{"metadata":{"finalizers":["example.com/hold"]}}'
expect "delete with a finalizer (no wait)" "mesh-1\" deleted" "${N[@]}" delete ic mesh-1 --wait=false
expect "the object stays, with a deletionTimestamp" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" "${N[@]}" get ic \
    mesh-1 -o 'jsonpath={.metadata.deletionTimestamp}'
expect "removing the finalizer" "mesh-1 patched" "${N[@]}" patch ic mesh-1 --type json \
    -p '[{"op":"remove","path":"/metadata/finalizers"}]'
expect_fail "then deletes the object" "not found" "${N[@]}" get ic mesh-1

# ---- Secrets ----
expect "create secret generic" "secret/s1 created" "${N[@]}" create secret generic s1 \
    --from-literal=user=admin --from-literal=password=s3cret
expect "get secret -o jsonpath returns the base64 data" "^YWRtaW4=$" "${N[@]}" get secret s1 \
    -o 'jsonpath={.data.user}'
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s2\n  namespace: istio-system\nstringData:\n  a: b\n' \
    >"$WORK/secret.yaml"
expect "apply a Secret with stringData" "secret/s2 created" apply -f "$WORK/secret.yaml"
expect "stringData is merged into data" "^Yg==$" "${N[@]}" get secret s2 -o 'jsonpath={.data.a}'
expect "get secret shows TYPE Opaque and DATA" "^s2 +Opaque +1 " "${N[@]}" get secret
expect "delete secret" "secret \"s2\" deleted" "${N[@]}" delete secret s2

# ---- server-side apply ----
# ssa_ic ORG [with-output]: an IssuedCertificate manifest (the output Secret
# reference only with with-output).
ssa_ic() {
    printf 'apiVersion: %s/v1alpha2\nkind: IssuedCertificate\nmetadata:\n  name: ssa-ic\n' "$G"
    printf '  namespace: istio-system\n  labels:\n    tier: gold\nspec:\n'
    printf '  hosts:\n    - istiod.istio-system.svc\n  org: %s\n' "$1"
    printf '  signingCertificateSecret:\n    name: root-ca\n    namespace: meshcert-system\n'
    if [[ ${2:-} == with-output ]]; then
        printf '  issuedCertificateSecret:\n    name: cacerts\n    namespace: istio-system\n'
    fi
}
# jsonpath printing each managedFields entry as "manager/operation/subresource ".
MANAGERS='jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{" "}{end}'
ssa_ic "First Org" with-output >"$WORK/ssa-ic.yaml"
expect "apply --server-side creates an IssuedCertificate" \
    "issuedcertificate\.$G/ssa-ic serverside-applied" apply --server-side -f "$WORK/ssa-ic.yaml"
expect "the applied IssuedCertificate has the file's spec" "^First Org cacerts$" "${N[@]}" get ic \
    ssa-ic -o 'jsonpath={.spec.org} {.spec.issuedCertificateSecret.name}'
expect "--show-managed-fields shows kubectl's Apply entry" "^kubectl/Apply/ $" "${N[@]}" get ic \
    ssa-ic --show-managed-fields -o "$MANAGERS"
if k "${N[@]}" get ic ssa-ic -o yaml && grep -q "^  name: ssa-ic" <<<"$OUT" &&
    ! grep -q managedFields <<<"$OUT" &&
    k "${N[@]}" get ic ssa-ic -o yaml --show-managed-fields && grep -q "f:org: {}" <<<"$OUT"; then
    pass "managedFields are hidden by default, shown (FieldsV1) with --show-managed-fields"
else
    fail "managedFields are hidden by default, shown (FieldsV1) with --show-managed-fields" "$OUT"
fi
ssa_ic "Dry Org" with-output >"$WORK/ssa-dry.yaml"
expect "apply --server-side --dry-run=server" "ssa-ic serverside-applied \(server dry run\)" \
    apply --server-side --dry-run=server -f "$WORK/ssa-dry.yaml"
expect "a dry-run server-side apply writes nothing" "^First Org kubectl/Apply/ $" "${N[@]}" get ic \
    ssa-ic --show-managed-fields -o 'jsonpath={.spec.org} {range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{" "}{end}'
ssa_ic "Second Org" with-output >"$WORK/ssa-ic.yaml"
expect "re-apply with a changed field" "ssa-ic serverside-applied" apply --server-side \
    -f "$WORK/ssa-ic.yaml"
expect "re-apply updated the field" "^Second Org$" "${N[@]}" get ic ssa-ic -o 'jsonpath={.spec.org}'
ssa_ic "Second Org" >"$WORK/ssa-ic.yaml"
expect "re-apply without issuedCertificateSecret" "ssa-ic serverside-applied" apply --server-side \
    -f "$WORK/ssa-ic.yaml"
expect "a field dropped from the applied file is removed, the rest stays" "^Second Org/root-ca/$" \
    "${N[@]}" get ic ssa-ic \
    -o 'jsonpath={.spec.org}/{.spec.signingCertificateSecret.name}/{.spec.issuedCertificateSecret}'
ssa_ic "Other Org" >"$WORK/ssa-ic-other.yaml"
expect_fail "a second manager changing the field gets a conflict naming the owner" \
    'Apply failed with 1 conflict: conflict with "kubectl": \.spec\.org' \
    apply --server-side --field-manager other -f "$WORK/ssa-ic-other.yaml"
expect "the conflict changed nothing" "^Second Org$" "${N[@]}" get ic ssa-ic -o 'jsonpath={.spec.org}'
expect "--force-conflicts wins" "ssa-ic serverside-applied" apply --server-side \
    --field-manager other --force-conflicts -f "$WORK/ssa-ic-other.yaml"
expect "the forced value is stored" "^Other Org$" "${N[@]}" get ic ssa-ic -o 'jsonpath={.spec.org}'
expect "--show-managed-fields shows both managers" "kubectl/Apply/ other/Apply/" "${N[@]}" get ic \
    ssa-ic --show-managed-fields -o "$MANAGERS"
expect_fail "the first manager lost the field: its re-apply conflicts with other" \
    'conflict with "other": \.spec\.org' apply --server-side -f "$WORK/ssa-ic.yaml"
expect "patch the status of the applied IssuedCertificate" "ssa-ic patched" "${N[@]}" patch ic \
    ssa-ic --subresource=status --type merge -p '{"status":{"state":"PENDING"}}'
expect "a status patch is recorded as an Update of subresource status" \
    "kubectl/Apply/ other/Apply/ kubectl-patch/Update/status" "${N[@]}" get ic ssa-ic \
    --show-managed-fields -o "$MANAGERS"
expect "label the applied IssuedCertificate" "ssa-ic labeled" "${N[@]}" label ic ssa-ic extra=yes
expect "a label (an ordinary patch) is recorded as an Update by kubectl-label" \
    "kubectl-label/Update/ " "${N[@]}" get ic ssa-ic --show-managed-fields -o "$MANAGERS"

printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa-secret\n  namespace: istio-system\ndata:\n  a: %s\n  b: %s\n  k: %s\n' \
    "$(printf one | base64)" "$(printf two | base64)" "$(printf kept | base64)" >"$WORK/ssa-secret.yaml"
expect "apply --server-side creates a Secret" "secret/ssa-secret serverside-applied" \
    apply --server-side -f "$WORK/ssa-secret.yaml"
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa-secret\n  namespace: istio-system\ndata:\n  b: %s\n  k: %s\n' \
    "$(printf TWO | base64)" "$(printf kept | base64)" >"$WORK/ssa-secret.yaml"
expect "re-apply: key a dropped, b changed" "secret/ssa-secret serverside-applied" \
    apply --server-side -f "$WORK/ssa-secret.yaml"
expect "the dropped key is removed, the changed one updated, type defaulted" \
    "^/$(printf TWO | base64)/Opaque$" "${N[@]}" get secret ssa-secret \
    -o 'jsonpath={.data.a}/{.data.b}/{.type}'
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa-secret\n  namespace: istio-system\ndata:\n  b: %s\n  c: %s\n' \
    "$(printf mine | base64)" "$(printf three | base64)" >"$WORK/ssa-secret-other.yaml"
expect_fail "another manager changing a Secret key gets a conflict" \
    'conflict with "kubectl": \.data\.b' \
    apply --server-side --field-manager other -f "$WORK/ssa-secret-other.yaml"
expect "--force-conflicts on the Secret" "secret/ssa-secret serverside-applied" \
    apply --server-side --field-manager other --force-conflicts -f "$WORK/ssa-secret-other.yaml"
expect "data is merged key by key (both managers' keys)" \
    "^$(printf mine | base64)/$(printf three | base64)/$(printf kept | base64)$" \
    "${N[@]}" get secret ssa-secret -o 'jsonpath={.data.b}/{.data.c}/{.data.k}'
expect "--show-managed-fields shows both managers of the Secret" "kubectl/Apply/ other/Apply/" \
    "${N[@]}" get secret ssa-secret --show-managed-fields -o "$MANAGERS"

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-cm\n  namespace: istio-system\ndata:\n  x: "1"\n  y: "2"\n' \
    >"$WORK/ssa-cm.yaml"
expect "apply --server-side creates a ConfigMap" "configmap/ssa-cm serverside-applied" \
    apply --server-side -f "$WORK/ssa-cm.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-cm\n  namespace: istio-system\ndata:\n  x: "10"\n' \
    >"$WORK/ssa-cm.yaml"
expect "re-apply: x changed, y dropped" "configmap/ssa-cm serverside-applied" \
    apply --server-side -f "$WORK/ssa-cm.yaml"
expect "the ConfigMap has x=10 and no y" "^10/$" "${N[@]}" get cm ssa-cm \
    -o 'jsonpath={.data.x}/{.data.y}'
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-cm\n  namespace: istio-system\ndata:\n  x: "20"\n' \
    >"$WORK/ssa-cm-other.yaml"
expect_fail "another manager changing x gets a conflict naming kubectl" \
    'Apply failed with 1 conflict: conflict with "kubectl": \.data\.x' \
    apply --server-side --field-manager other -f "$WORK/ssa-cm-other.yaml"
expect "--force-conflicts on the ConfigMap" "configmap/ssa-cm serverside-applied" \
    apply --server-side --field-manager other --force-conflicts -f "$WORK/ssa-cm-other.yaml"
expect "the ConfigMap has the forced value" "^20$" "${N[@]}" get cm ssa-cm -o 'jsonpath={.data.x}'
k "${N[@]}" get cm ssa-cm -o 'jsonpath={.metadata.resourceVersion}'
rv_before=$OUT
if k apply --server-side --field-manager other -f "$WORK/ssa-cm-other.yaml" &&
    grep -q "configmap/ssa-cm serverside-applied" <<<"$OUT" &&
    k "${N[@]}" get cm ssa-cm -o 'jsonpath={.metadata.resourceVersion}' &&
    [[ -n "$rv_before" && "$OUT" == "$rv_before" ]]; then
    pass "re-applying the same file is accepted and writes nothing (same resourceVersion)"
else
    fail "re-applying the same file is accepted and writes nothing (same resourceVersion)" \
        "before: $rv_before" "$OUT"
fi
expect "--show-managed-fields shows the ConfigMap's managers" "^other/Apply/ $" "${N[@]}" get cm \
    ssa-cm --show-managed-fields -o "$MANAGERS"
expect "delete the applied objects" "deleted" "${N[@]}" delete ic/ssa-ic secret/ssa-secret cm/ssa-cm

finish
