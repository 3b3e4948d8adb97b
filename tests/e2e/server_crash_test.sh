#!/bin/bash
# server_crash_test.sh - durability of `meshcert server` against kill -9.
#
# A client makes N creates (ConfigMaps cm-1..cm-N) with curl over HTTPS while
# a killer sends SIGKILL to the server at random moments (every 0.1-0.6 s)
# and restarts it on the same port. Afterwards every create that was answered
# 2xx must be present, and SQLite's integrity check of D/store.db must say ok.
# Usage: tests/e2e/server_crash_test.sh [path/to/meshcert] [N]
set -u

bin=${1:-build/src/cli/meshcert}
total=${2:-1000}
[ -x "$bin" ] || { echo "server_crash_test: no meshcert binary at $bin" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

dir=$(mktemp -d /tmp/mc-crash-XXXXXX)
# A fixed port (the restarts reuse it), below the kernel's ephemeral range so
# that no client connection of a test running alongside can hold it.
pick_port() {
    local low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 11000 ] 2>/dev/null || low=32768
    port=$((10000 + RANDOM % (low - 10000)))
    listen=127.0.0.1:$port
}
pick_port
acked=$dir/acked.txt
: >"$acked"
server_pid=
killer_pid=

cleanup() {
    [ -n "$killer_pid" ] && kill "$killer_pid" 2>/dev/null && wait "$killer_pid" 2>/dev/null
    [ -f "$dir/server.pid" ] && kill -9 "$(cat "$dir/server.pid")" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# Starts the server in the background and waits until it answers.
start_server() {
    "$bin" server --data-dir "$dir/data" --listen "$listen" --cluster c1 \
        >>"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 200); do
        if [ -f "$dir/data/tokens/c1" ] &&
            curl -s -o /dev/null --max-time 1 --cacert "$dir/data/ca-cert.pem" \
                -H "Authorization: Bearer $(cat "$dir/data/tokens/c1")" \
                "https://$listen/clusters/c1/version"; then
            return 0
        fi
        if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
            echo "server_crash_test: server exited at start:" >&2
            tail -5 "$dir/server.log" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "server_crash_test: server did not answer" >&2
    return 1
}

# The first start may meet a port another program holds: try another one.
for attempt in 1 2 3 4 5; do
    start_server && break
    [ "$attempt" -eq 5 ] && exit 1
    grep -q "cannot listen" "$dir/server.log" || exit 1
    pick_port
    echo "server_crash_test: retrying on $listen" >&2
done
token=$(cat "$dir/data/tokens/c1")
ca=$dir/data/ca-cert.pem

# The killer: SIGKILL at a random moment, restart, repeat until told to stop.
(
    trap 'exit 0' TERM
    kills=0
    while :; do
        sleep "0.$((1 + RANDOM % 6))"
        kill -9 "$(cat "$dir/server.pid")" 2>/dev/null
        wait "$(cat "$dir/server.pid")" 2>/dev/null
        kills=$((kills + 1))
        echo "$kills" >"$dir/kills"
        start_server || exit 1
    done
) &
killer_pid=$!

# The client: each create is retried until it gets an answer (the server may
# be down); 201 = acknowledged; 409 = an earlier attempt committed but its
# answer was lost in the kill (present, not counted as acknowledged).
created=0
conflicts=0
for i in $(seq 1 "$total"); do
    body="{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-$i\"},\"data\":{\"i\":\"$i\"}}"
    for attempt in $(seq 1 400); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ca" \
            -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -X POST "https://$listen/clusters/c1/api/v1/namespaces/default/configmaps" \
            -d "$body")
        case $code in
        2??) echo "cm-$i" >>"$acked"; created=$((created + 1)); break ;;
        409) conflicts=$((conflicts + 1)); break ;;
        000 | 5??) sleep 0.02 ;; # down or restarting
        *) echo "server_crash_test: create cm-$i answered $code" >&2; exit 1 ;;
        esac
    done
    [ "$attempt" -lt 400 ] || { echo "server_crash_test: cm-$i never answered" >&2; exit 1; }
done

kill "$killer_pid" 2>/dev/null
wait "$killer_pid" 2>/dev/null
killer_pid=
kills=$(cat "$dir/kills" 2>/dev/null || echo 0)

# One last kill -9, then a clean start: what survives is what is on disk.
kill -9 "$(cat "$dir/server.pid")" 2>/dev/null
wait "$(cat "$dir/server.pid")" 2>/dev/null
start_server || exit 1
curl -s --cacert "$ca" -H "Authorization: Bearer $token" \
    "https://$listen/clusters/c1/api/v1/namespaces/default/configmaps" |
    jq -r '.items[].metadata.name' | sort >"$dir/present.txt"
kill "$(cat "$dir/server.pid")"
wait "$(cat "$dir/server.pid")" 2>/dev/null

missing=$(sort "$acked" | comm -23 - "$dir/present.txt" | wc -l)
present=$(wc -l <"$dir/present.txt")
integrity=$(sqlite3 "$dir/data/store.db" 'PRAGMA integrity_check' 2>&1)

echo "server_crash_test: $total creates, $created acknowledged, $conflicts answered 409 after a lost answer, $kills kills, $present present, $missing acknowledged but missing, integrity: $integrity"
fail=0
[ "$missing" -eq 0 ] || { echo "FAIL: acknowledged creates lost:" >&2; sort "$acked" | comm -23 - "$dir/present.txt" | head >&2; fail=1; }
[ "$present" -eq "$total" ] || { echo "FAIL: $present objects present, $total expected" >&2; fail=1; }
[ "$integrity" = ok ] || { echo "FAIL: integrity check: $integrity" >&2; fail=1; }
[ "$kills" -gt 0 ] || { echo "FAIL: the server was never killed" >&2; fail=1; }
exit $fail
