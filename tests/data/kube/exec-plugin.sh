#!/bin/sh
# Test exec credential plugin (kubeconfig exec.command). Environment, set by
# the test through the kubeconfig's exec.env:
#   MC_PLUGIN_TOKEN_FILE  file holding the token to hand out
#   MC_PLUGIN_COUNT_FILE  file counting invocations (one line per run)
#   MC_PLUGIN_TTL         seconds until expirationTimestamp (default 3)
#   MC_PLUGIN_BAD_FIRST   "1": the first run hands out a wrong token (401 path)
# Fails unless KUBERNETES_EXEC_INFO says the run is not interactive.
set -eu
case "${KUBERNETES_EXEC_INFO:-}" in
  *'"interactive":false'*) ;;
  *) echo "KUBERNETES_EXEC_INFO missing or interactive" >&2; exit 3 ;;
esac
echo run >> "$MC_PLUGIN_COUNT_FILE"
runs=$(wc -l < "$MC_PLUGIN_COUNT_FILE")
token=$(cat "$MC_PLUGIN_TOKEN_FILE")
if [ "${MC_PLUGIN_BAD_FIRST:-0}" = 1 ] && [ "$runs" -eq 1 ]; then
  token=wrong-token
fi
expiry=$(date -u -d "+${MC_PLUGIN_TTL:-3} seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%s","expirationTimestamp":"%s"}}\n' "$token" "$expiry"
