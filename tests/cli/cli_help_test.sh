#!/usr/bin/env bash
# cli_help_test.sh MESHCERT - the help a user reads: `meshcert --help` lists
# every command; every command and subcommand answers --help with exit 0;
# [required] marks only what the mode requires (verify; csr create's --org is required);
# issue, rotate and issuer document the lifetime flags (issue 12);
# `csr create` creates missing output directories (the key's 0700).
set -u
M="$1"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

usage="$("$M" --help)" || fail "meshcert --help exited $?"
for c in "ca create" "csr create" sign verify cluster issue status rotate root issuer agent server \
         completion version help; do
  grep -qE "^  $c( |$)" <<<"$usage" || fail "meshcert --help does not list '$c'"
done

for c in "ca create" "csr create" sign verify cluster issue status rotate root issuer agent server \
         "server cluster" completion; do
  # shellcheck disable=SC2086
  out="$("$M" $c --help 2>&1)"; rc=$?
  [ "$rc" -eq 0 ] || fail "meshcert $c --help exited $rc"
  grep -q "^Usage: meshcert $c" <<<"$out" || fail "meshcert $c --help: no usage line: $out"
done

verify="$("$M" verify --help)"
grep -E -- '^  --(root|dir) .*\[required\]$' <<<"$verify" &&
  fail "verify --help marks --root/--dir required although --cluster mode does not need them"
grep -q -- 'required without --cluster' <<<"$verify" || fail "verify --help: modes not explained"
# --org is required there: an intermediate CA may not have an empty subject.
"$M" csr create --help | grep -q '^Usage: meshcert csr create --org ORG' ||
  fail "csr create --help does not show --org as required"

# issue 12: the lifetime flags, rotate's two modes, the issuer's clamps
issue="$("$M" issue --help)"
for flag in --duration --renew-before --key-type; do
  grep -qE -- "^  $flag " <<<"$issue" || fail "issue --help does not document $flag"
done
rotate="$("$M" rotate --help)"
grep -q '^       meshcert rotate --all' <<<"$rotate" || fail "rotate --help: no --all usage line"
grep -q 'certificates.smh.solo.io/rotate' <<<"$rotate" || fail "rotate --help: annotation not named"
issuer="$("$M" issuer --help)"
grep -A1 -- '^  --ttl D ' <<<"$issuer" | grep -qF '[8760h]' ||
  fail "issuer --help: --ttl or its default missing"
grep -A1 -- '^  --max-duration D ' <<<"$issuer" | grep -qF '[17520h]' ||
  fail "issuer --help: --max-duration or its default missing"
# issue 16: the root key outside the API
grep -A8 -- '^  --root-key FILE|URI ' <<<"$issuer" | grep -qF 'key-ref' ||
  fail "issuer --help: --root-key or the key-ref it answers missing"
grep -A3 -- '^  --root-cert FILE ' <<<"$issuer" | grep -qF 'Not with --generate-root' ||
  fail "issuer --help: --root-cert or its exclusion of --generate-root missing"
root="$("$M" root --help)"
for flag in '--new-root-key FILE|URI' '--new-root-cert FILE'; do
  grep -qF -- "  $flag" <<<"$root" || fail "root --help: $flag missing"
done
for flag in '--pkcs11-module PATH' '--pin-file FILE' '--pin-env VAR'; do
  grep -qF -- "  $flag" <<<"$issuer" || fail "issuer --help: $flag missing"
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$M" csr create --org Istio --host a.example --key-type ec-p256 --out-key "$tmp/keys/new/ca-key.pem" \
  --out-csr "$tmp/csrs/ca.csr" >/dev/null || fail "csr create into missing directories exited $?"
[ "$(stat -c %a "$tmp/keys/new" 2>/dev/null)" = 700 ] || fail "key directory is not 0700"
[ "$(stat -c %a "$tmp/keys/new/ca-key.pem" 2>/dev/null)" = 600 ] || fail "key is not 0600"
[ -s "$tmp/csrs/ca.csr" ] || fail "no CSR written"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "cli_help: OK"
