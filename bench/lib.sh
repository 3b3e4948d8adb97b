# bench/lib.sh - sourced by the bench scripts that start their own
# `meshcert server`: every process put in PIDS is killed (and waited for) on
# exit, and the scratch directory DIR removed.
#   DIR=$(mktemp -d ...); . bench/lib.sh
#   bench_start_server MESHCERT --cluster a --cluster b   # sets $port, adds to PIDS
PIDS=()
bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap bench_cleanup EXIT

# Starts `meshcert server` on a free loopback port with its data in $DIR/srv
# and its log in $DIR/server.log; waits until it has written server.json.
bench_start_server() {
    local meshcert=$1
    shift
    "$meshcert" server --data-dir "$DIR/srv" --listen 127.0.0.1:0 --log-level warn "$@" \
        >"$DIR/server.log" 2>&1 &
    server=$!
    PIDS+=("$server")
    for _ in $(seq 300); do [[ -s "$DIR/srv/server.json" ]] && break; sleep 0.1; done
    port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$DIR/srv/server.json")
    [[ -n "$port" ]] || { echo "meshcert server did not start:" >&2; cat "$DIR/server.log" >&2; exit 1; }
}
