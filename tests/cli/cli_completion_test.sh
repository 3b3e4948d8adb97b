#!/usr/bin/env bash
# cli_completion_test.sh MESHCERT - `meshcert completion bash` sourced into
# bash: COMPREPLY for commands, subcommands, flags (read from each command's
# --help), fixed flag values and file names; `meshcert completion zsh`
# parses in zsh, defines _meshcert after compinit, and its driver offers the
# same words (compadd stubbed). Without zsh the zsh part is skipped, unless
# CI is set.
set -u
M="$1"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

script="$("$M" completion bash)" || { echo "FAIL: completion bash exited $?" >&2; exit 1; }
# shellcheck disable=SC1090
source <(printf '%s\n' "$script")
complete -p meshcert >/dev/null 2>&1 || fail "bash: no completion registered for meshcert"

# complete WORDS...: COMPREPLY (sorted, one line) for the command line whose
# last word is being completed
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _meshcert
  [ "${#COMPREPLY[@]}" -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
expect() { # expect "WANT" WORDS...: the completions are exactly WANT
  local want="$1"; shift
  local got; got="$(complete_line "$@")"
  [ "$got" = "$want" ] || fail "bash '$*<TAB>': got '$got', want '$want'"
}
expect_has() { # expect_has WORD WORDS...: WORD is among the completions
  local word="$1"; shift
  local got; got=" $(complete_line "$@")"
  case "$got" in *" $word "*) ;; *) fail "bash '$*<TAB>': '$word' not in '$got'" ;; esac
}

expect "cluster " meshcert cl
expect "ca cluster completion csr " meshcert c
expect "create " meshcert ca ""
expect "register " meshcert cluster r
expect "add remove " meshcert server cluster ""
expect "bash zsh " meshcert completion ""
expect "rotate status " meshcert root ""
expect_has --generate meshcert root --
expect "ec-p256 ec-p384 " meshcert root rotate --generate --root-key-type ec
expect_has --wait meshcert issue --
expect_has --timeout meshcert issue --wait --t
expect_has --request-timeout meshcert status --
expect_has --all meshcert rotate --
expect "rsa2048 rsa3072 rsa4096 " meshcert issue --key-type rs
expect "rotate " meshcert rot
expect "--kubeconfig --kubeconfig-file " meshcert cluster register east --kube
expect "--data-dir --help " meshcert server cluster add c1 --
expect_has --data-dir meshcert server --
expect "ec-p256 ec-p384 " meshcert ca create --key-type ec
expect "istio tls " meshcert sign --format ""
expect "debug " meshcert agent --log-level d
# --metrics-addr (docs/metrics.md) on the issuer, the agent and the server, read from their --help
expect "--metrics-addr " meshcert issuer --metr
expect "--metrics-addr " meshcert agent --metr
expect "--metrics-addr " meshcert server --metr
expect "--cluster-name " meshcert agent --cluster-n
expect "--watch-namespaces " meshcert agent --watch-n
expect "" meshcert issue --name ""
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/east.yaml"
mkdir "$tmp/pki"
expect "$tmp/east.yaml " meshcert status --kubeconfig "$tmp/ea"
expect "$tmp/pki " meshcert sign --out-dir "$tmp/p"
touch "$tmp/libsofthsm2.so"
expect "$tmp/libsofthsm2.so " meshcert sign --pkcs11-module "$tmp/libs"
expect "$tmp/east.yaml " meshcert sign --root-key "$tmp/ea"
expect "--pin-env --pin-file " meshcert ca create --pin-
expect "$tmp/east.yaml " meshcert issuer --root-cert "$tmp/ea"
expect "$tmp/libsofthsm2.so " meshcert issuer --pkcs11-module "$tmp/libs"
expect "--pin-env --pin-file " meshcert issuer --pin-
# issue 16: a new root whose key is in a token or a file
expect "--new-root-cert --new-root-key --new-root-secret " meshcert root rotate --new-root-
expect "$tmp/east.yaml " meshcert root rotate --new-root-key "$tmp/ea"
expect "$tmp/east.yaml " meshcert root rotate --new-root-cert "$tmp/ea"

# every flag a command's --help shows is completed, and nothing else
for c in "ca create" "csr create" sign verify cluster issue status rotate root issuer agent server \
         "server cluster"; do
  # shellcheck disable=SC2086
  want="$("$M" $c --help | grep -oE '^ +(-h, )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' |
    sort -u | tr '\n' ' ')"
  # shellcheck disable=SC2086
  expect "$want" meshcert $c --
done

if command -v zsh >/dev/null 2>&1; then
  "$M" completion zsh >"$tmp/_meshcert" || fail "completion zsh exited $?"
  head -1 "$tmp/_meshcert" | grep -q '^#compdef meshcert' || fail "zsh: no #compdef line"
  zsh -n "$tmp/_meshcert" || fail "zsh: the script does not parse"
  out="$(ZDOTDIR="$tmp" zsh -f -c '
    autoload -U compinit && compinit -u -d "'"$tmp"'/zcompdump"
    source "'"$tmp"'/_meshcert"
    [ "${_comps[meshcert]}" = _meshcert ] || echo "not registered"
    compadd() { [ "$1" = -- ] && shift; print -r -- "$@"; }
    _files() { print -r -- FILES "$@"; }
    words=(meshcert cl); CURRENT=2; _meshcert
    words=(meshcert issue --); CURRENT=3; _meshcert
    words=(meshcert server cluster ""); CURRENT=4; _meshcert
    words=(meshcert ca create --key-type ""); CURRENT=5; _meshcert
    words=(meshcert sign --out-dir ""); CURRENT=4; _meshcert
  ' 2>&1)"
  grep -q "not registered" <<<"$out" && fail "zsh: compdef did not register _meshcert"
  grep -qw cluster <<<"$out" || fail "zsh: no cluster among the commands: $out"
  grep -q -- "--wait" <<<"$out" || fail "zsh: issue flags lack --wait: $out"
  grep -q "^add remove$" <<<"$out" || fail "zsh: server cluster subcommands: $out"
  grep -q "ec-p256" <<<"$out" || fail "zsh: --key-type values: $out"
  grep -q "^FILES -/$" <<<"$out" || fail "zsh: --out-dir does not complete directories: $out"
elif [ -n "${CI:-}" ]; then
  fail "zsh not installed (scripts/deps.sh installs it)"
else
  echo "zsh not installed: zsh checks skipped"
fi

"$M" completion fish >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "completion fish exited $rc, want 2"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "cli_completion: OK"
