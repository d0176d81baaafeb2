# shellcheck shell=bash
# Settings and helpers shared by cluster-up.sh and cluster-down.sh (sourced).
#
# Every setting can be overridden from the environment; the Makefile passes
# the pinned binaries. cluster-up.sh chooses the ports.

K8S_DIR="${K8S_DIR:-.grlscaler/k8s}"
mkdir -p "$K8S_DIR"
K8S_DIR="$(cd "$K8S_DIR" && pwd)"

# How many fake nodes kwok plays (kwok-node-0, kwok-node-1, ...).
K8S_NODES="${K8S_NODES:-1}"

# Components in start order; cluster-down stops them in reverse.
# shellcheck disable=SC2034 # used by the scripts that source this file
K8S_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok metrics-server)

pidfile() { echo "$K8S_DIR/run/$1.pid"; }
logfile() { echo "$K8S_DIR/logs/$1.log"; }

# The start time of a process in clock ticks since boot (field 22 of
# /proc/PID/stat, counted after the parenthesised command name). A pid file
# holds "PID STARTTIME", so a pid the kernel has reused for another process
# is never mistaken for ours. A zombie (exited, not yet reaped by its
# parent) does not count as running.
proc_start() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  # shellcheck disable=SC2086 # split the fields on purpose
  set -- $stat
  [ "$1" != Z ] || return 1
  echo "${20}"
}

# Prints the pid of a running component, or fails.
component_pid() {
  local f pid start
  f="$(pidfile "$1")"
  [ -f "$f" ] || return 1
  read -r pid start <"$f" || return 1
  [ -n "$pid" ] && [ "$(proc_start "$pid")" = "$start" ] || return 1
  echo "$pid"
}

# lock serialises cluster-up and cluster-down on one $K8S_DIR (two shells,
# or make e2e while someone runs make cluster-down). The processes a script
# starts must not inherit the lock's descriptor (start closes fd 9).
# cluster-up passes K8S_LOCK_HELD to the cluster-down it runs on failure.
lock() {
  [ -z "${K8S_LOCK_HELD:-}" ] || return 0
  exec 9>"$K8S_DIR/lock"
  if ! flock -n 9; then
    log "waiting for another cluster-up or cluster-down on $K8S_DIR"
    flock 9
  fi
  export K8S_LOCK_HELD=1
}

log() { echo "localk8s: $*" >&2; }
die() {
  log "$*"
  exit 1
}
