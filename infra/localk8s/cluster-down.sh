#!/usr/bin/env bash
# Stops the local cluster cluster-up.sh started under $K8S_DIR: SIGTERM to
# each component (metrics-server and kwok first, etcd last), SIGKILL to
# what is still running after 20 s, then deletes the cluster's data (etcd/)
# so the next cluster-up starts empty. Certificates, kubeconfigs and logs
# stay. Safe to run when nothing runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
lock

stopped=() pids=()
for ((i = ${#K8S_COMPONENTS[@]} - 1; i >= 0; i--)); do
  c="${K8S_COMPONENTS[$i]}"
  if pid="$(component_pid "$c")"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while component_pid "$c" >/dev/null && [ $SECONDS -lt $deadline ]; do
      sleep 0.2
    done
    if component_pid "$c" >/dev/null; then
      log "$c (pid $pid) ignored SIGTERM for 20s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while component_pid "$c" >/dev/null; do sleep 0.1; done
    fi
    stopped+=("$c") pids+=("$pid")
  fi
  rm -f "$(pidfile "$c")"
done
rm -rf "$K8S_DIR/etcd" "$K8S_DIR/run"

# A stopped component stays a zombie until its parent (init, usually)
# reaps it; give that a moment so that ps shows nothing right after.
deadline=$((SECONDS + 5))
for pid in "${pids[@]}"; do
  while [ -e "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
done

if [ ${#stopped[@]} -gt 0 ]; then
  log "stopped ${stopped[*]}; logs in $K8S_DIR/logs"
else
  log "not running"
fi
