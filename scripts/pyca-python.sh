#!/bin/sh
# pyca-python.sh - prints the path of a Python interpreter whose
# pyca/cryptography has X.509 path validation (cryptography.x509.verification,
# cryptography >= 42), for the name-constraint peer test
# (tests/peer/name_constraints_test.sh); exits 1 with a note on stderr when
# there is none. Looks at $MESHCERT_PYTHON, every python3 on PATH, then
# pyenv's interpreters (the CI machines' image ships Python 3.11 with
# cryptography 48 there). Debian bookworm's python3-cryptography is 38,
# which has no verifier; Debian trixie's is 43.
set -eu
has_verifier() {
  "$1" -c 'from cryptography.x509 import verification' >/dev/null 2>&1
}
candidates="${MESHCERT_PYTHON:-}"
IFS_SAVE=$IFS
IFS=:
for dir in $PATH; do
  [ -x "$dir/python3" ] && candidates="$candidates
$dir/python3"
done
IFS=$IFS_SAVE
for root in "${PYENV_ROOT:-}" "${HOME:-/root}/.pyenv"; do
  [ -n "$root" ] || continue
  for py in "$root"/versions/*/bin/python3; do
    [ -x "$py" ] && candidates="$candidates
$py"
  done
done
IFS='
'
for py in $candidates; do
  if has_verifier "$py"; then
    echo "$py"
    exit 0
  fi
done
echo "no Python with pyca/cryptography >= 42 (cryptography.x509.verification) found;" \
  "set MESHCERT_PYTHON to one (pip install 'cryptography>=42' where PyPI is reachable," \
  "or Debian trixie's python3-cryptography)" >&2
exit 1
