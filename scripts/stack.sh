#!/usr/bin/env bash
# Sourced by run.sh and bench-quality.sh: start_stack DIR [grlctl dev flags]
# starts the local stack (grlctl dev) with its state in DIR, stops it when
# the calling script exits, waits until it is ready and loads DIR/env.
start_stack() {
  local dir=$1
  shift
  bin/grlctl dev --dir "$dir" "$@" &
  local dev=$!
  # shellcheck disable=SC2064 # the pid is fixed now
  trap "kill -INT $dev 2>/dev/null || true; wait $dev 2>/dev/null || true" EXIT
  for _ in $(seq 1 300); do
    [ -f "$dir/ready" ] && break
    kill -0 "$dev" 2>/dev/null || { echo "$(basename "$0"): grlctl dev stopped; see $dir/*.log" >&2; exit 1; }
    sleep 0.2
  done
  [ -f "$dir/ready" ] || { echo "$(basename "$0"): the local stack was not ready after 60 s; see $dir/*.log" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$dir/env"
}
