# pool.sh - sourced by bash scripts: pool_run JOBS FUNCTION ARG... runs
# `FUNCTION ARG` for every ARG in the background, at most JOBS at a time, and
# returns when all have ended. FUNCTION reports its own verdict (the callers
# write a status file each); a Ctrl-C or an exit of the caller ends the ones
# still running.
pool_pids=()
pool_cleanup() { [ "${#pool_pids[@]}" -gt 0 ] && kill "${pool_pids[@]}" 2>/dev/null; true; }

pool_run() {
  local jobs=$1 func=$2 arg
  shift 2
  trap pool_cleanup EXIT INT TERM
  for arg in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
      wait -n || true
    done
    "$func" "$arg" &
    pool_pids+=($!)
  done
  wait
  pool_pids=()
}
