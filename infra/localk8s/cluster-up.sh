#!/usr/bin/env bash
# Starts a real Kubernetes control plane on this machine, without Docker or
# a kubelet: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
# on loopback, kwok playing the kubelets of fake nodes (pods "run" and report
# the CPU and memory usage written in their annotations), and metrics-server
# serving metrics.k8s.io, so the real HPA controller scales on that usage.
#
# Everything lives under $K8S_DIR (default .grlscaler/k8s): pki/ (a CA, a
# front-proxy CA, serving and client certificates, the service-account key
# pair), kubeconfig (admin, for grlscaler and kubectl) and one kubeconfig
# per component, etcd/ (data), logs/<component>.log and run/<component>.pid.
#
# Returns once /readyz is ok, every node is Ready and metrics.k8s.io serves
# node metrics. Does nothing when the cluster is already up. On failure it
# prints the end of the logs and stops what it started (logs stay).
#
# Needs bash, openssl and the binaries the Makefile's k8s-tools builds,
# passed as ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER,
# KUBECTL, KWOK, KWOK_STAGES and METRICS_SERVER.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

for v in ETCD KUBE_APISERVER KUBE_CONTROLLER_MANAGER KUBE_SCHEDULER KUBECTL KWOK KWOK_STAGES METRICS_SERVER; do
  [ -n "${!v:-}" ] || die "$v is not set (run through make cluster-up)"
  [ -e "${!v}" ] || die "$v=${!v} does not exist (make k8s-tools builds it)"
done
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
lock

# metrics-server must listen on a non-loopback address: the API server
# reaches aggregated APIs through Service endpoints, which may not be
# loopback. The first global IPv4 address of this host, unless given.
if [ -z "${K8S_HOST_IP:-}" ]; then
  for ip in $(hostname -I 2>/dev/null || true); do
    case "$ip" in 127.* | *:*) ;; *)
      K8S_HOST_IP="$ip"
      break
      ;;
    esac
  done
fi
[ -n "${K8S_HOST_IP:-}" ] || die "no non-loopback IPv4 address found; set K8S_HOST_IP"

PKI="$K8S_DIR/pki"
KUBECONFIG_ADMIN="$K8S_DIR/kubeconfig"
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
# kwok hands out pod IPs from here; it must not overlap the service range.
POD_CIDR=10.244.0.0/16
started=()

kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

all_running() {
  local c
  for c in "${K8S_COMPONENTS[@]}"; do
    component_pid "$c" >/dev/null || return 1
  done
}

if all_running && kubectl get --raw /readyz >/dev/null 2>&1; then
  log "already up (kubeconfig $KUBECONFIG_ADMIN)"
  exit 0
fi
for c in "${K8S_COMPONENTS[@]}"; do
  if component_pid "$c" >/dev/null; then
    die "$c is running but the cluster is not healthy; run make cluster-down first (logs in $K8S_DIR/logs)"
  fi
done

# --- ports ---------------------------------------------------------------------
# The K8S_*_PORT given, or else the first free set among the defaults
# shifted by 0, 1000, ..., 9000 (API server 16443, 17443, ...), so that the
# clusters of several checkouts can run side by side. All stay clear of the
# local stack's (Temporal 7233, its web UI 8233, S3 7070) and of the usual
# Kubernetes ports. The choice is made under a machine-wide lock held until
# this script ends, when every component listens.
port_vars=(K8S_ETCD_PORT K8S_ETCD_PEER_PORT K8S_APISERVER_PORT K8S_CONTROLLER_MANAGER_PORT K8S_SCHEDULER_PORT K8S_KWOK_PORT K8S_METRICS_SERVER_PORT)
port_defaults=(16379 16380 16443 16257 16259 16247 16444)
port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# Prints the first port of the set that something listens on.
busy_port() {
  local v host
  for v in "${port_vars[@]}"; do
    host=127.0.0.1
    [ "$v" != K8S_METRICS_SERVER_PORT ] || host="$K8S_HOST_IP"
    if port_in_use "$host" "${!v}"; then
      echo "$host:${!v} ($v)"
      return 0
    fi
  done
  return 1
}
exec 8>/tmp/grlscaler-localk8s-ports.lock
if ! flock -n 8; then
  log "waiting for another cluster-up on this machine to choose its ports"
  flock 8
fi
explicit=""
for v in "${port_vars[@]}"; do [ -z "${!v:-}" ] || explicit=1; done
for slot in 0 1 2 3 4 5 6 7 8 9; do
  for i in "${!port_vars[@]}"; do
    v="${port_vars[$i]}"
    if [ -n "$explicit" ]; then
      printf -v "$v" '%s' "${!v:-${port_defaults[$i]}}"
    else
      printf -v "$v" '%s' $((port_defaults[i] + slot * 1000))
    fi
  done
  busy="$(busy_port)" || break
  [ -z "$explicit" ] || die "$busy is in use (another local cluster? make cluster-down, or choose K8S_*_PORT)"
  [ $slot -lt 9 ] || die "no free set of ports: $busy is in use (set K8S_*_PORT)"
done
for v in "${port_vars[@]}"; do echo "$v=${!v}"; done >"$K8S_DIR/ports"

t0=$SECONDS
mkdir -p "$PKI" "$K8S_DIR/logs" "$K8S_DIR/run"

# --- PKI (made once; kept by cluster-down) ----------------------------------

# cert NAME CA "SUBJECT" EXTENSIONS: a 2048-bit RSA key and a certificate
# signed by CA (pki/CA.crt, pki/CA.key), valid one year.
cert() {
  local name="$1" ca="$2" subj="$3" ext="$4"
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
ca() {
  [ -f "$PKI/$1.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.crt" \
    -days 3650 -sha256 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
client_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
server_ext() {
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=$1"
}

# Certificates name the host address, so a new address means new ones.
if [ -f "$PKI/host-ip" ] && [ "$(cat "$PKI/host-ip")" != "$K8S_HOST_IP" ]; then
  log "host address changed ($(cat "$PKI/host-ip") -> $K8S_HOST_IP): new certificates"
  rm -f "$PKI"/*
fi
# They are valid for a year; renew them all a day before any expires.
for crt in "$PKI"/*.crt; do
  [ -e "$crt" ] || break
  if ! openssl x509 -checkend 86400 -noout -in "$crt" >/dev/null; then
    log "$(basename "$crt") expires within a day: new certificates"
    rm -f "$PKI"/*
    break
  fi
done
echo "$K8S_HOST_IP" >"$PKI/host-ip"

ca ca grlscaler-local-ca
ca front-proxy-ca grlscaler-local-front-proxy-ca
cert etcd ca /CN=etcd "$(server_ext "IP:127.0.0.1,DNS:localhost")"
cert apiserver ca /CN=kube-apiserver "$(server_ext "IP:127.0.0.1,IP:$SERVICE_IP,IP:$K8S_HOST_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
cert apiserver-etcd-client ca /CN=kube-apiserver-etcd-client "$client_ext"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
cert front-proxy-client front-proxy-ca /CN=front-proxy-client "$client_ext"
cert admin ca "/O=system:masters/CN=grlscaler-admin" "$client_ext"
cert kube-controller-manager ca /CN=system:kube-controller-manager "$client_ext"
cert kube-scheduler ca /CN=system:kube-scheduler "$client_ext"
# kwok plays the kubelet of every fake node (node status, leases, pod
# status, events), so it gets the admin group like kwokctl gives it.
cert kwok-client ca "/O=system:masters/CN=kwok" "$client_ext"
cert kwok ca /CN=kwok "$(server_ext "IP:127.0.0.1,DNS:localhost")"
cert metrics-server-client ca /CN=system:metrics-server "$client_ext"
# The aggregator checks the serving cert against <service>.<namespace>.svc.
cert metrics-server ca /CN=metrics-server "$(server_ext "DNS:metrics-server.kube-system.svc,IP:$K8S_HOST_IP")"
if [ ! -f "$PKI/sa.key" ]; then
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
chmod 600 "$PKI"/*.key
log "certificates ready after $((SECONDS - t0))s"

# kubeconfig FILE CERTNAME: talks to the API server on loopback as the
# certificate's subject, with the data embedded.
kubeconfig() {
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: grlscaler-local
  cluster:
    server: https://127.0.0.1:$K8S_APISERVER_PORT
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$PKI/$2.crt")
    client-key-data: $($b64 <"$PKI/$2.key")
contexts:
- name: grlscaler-local
  context:
    cluster: grlscaler-local
    user: $2
current-context: grlscaler-local
EOF
  chmod 600 "$1"
}
kubeconfig "$KUBECONFIG_ADMIN" admin
kubeconfig "$K8S_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
kubeconfig "$K8S_DIR/kube-scheduler.kubeconfig" kube-scheduler
kubeconfig "$K8S_DIR/kwok.kubeconfig" kwok-client
kubeconfig "$K8S_DIR/metrics-server.kubeconfig" metrics-server-client

# --- processes ----------------------------------------------------------------

# fail MESSAGE [COMPONENT]: shows the end of COMPONENT's log (of every
# started component's without one), stops everything and exits.
fail() {
  log "$1"
  local c show=("${started[@]}") lines=8
  if [ -n "${2:-}" ]; then show=("$2") lines=30; fi
  for c in "${show[@]}"; do
    log "--- last lines of $(logfile "$c")"
    tail -n "$lines" "$(logfile "$c")" >&2 || true
  done
  log "stopping what was started; logs stay in $K8S_DIR/logs"
  bash "$here/cluster-down.sh" >&2 || true
  wait # reap what this shell started
  exit 1
}
trap 'fail "interrupted"' INT TERM

# start NAME COMMAND...: runs COMMAND in its own session (so that Ctrl-C in
# the shell that ran make does not reach it), logging to logs/NAME.log.
start() {
  local name="$1" pid
  shift
  : >"$(logfile "$name")"
  setsid "$@" >>"$(logfile "$name")" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid $(proc_start "$pid")" >"$(pidfile "$name")"
  started+=("$name")
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds, failing
# when a started component has exited or the deadline has passed.
wait_for() {
  local what="$1" secs="$2" deadline c
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    for c in "${started[@]}"; do
      component_pid "$c" >/dev/null || fail "$c exited while waiting for $what" "$c"
    done
    [ $SECONDS -lt $deadline ] || fail "still waiting after ${secs}s for: $what"
    sleep 0.5
  done
  log "$what after $((SECONDS - t0))s"
}

rm -rf "$K8S_DIR/etcd"
# The cluster is thrown away by cluster-down, so etcd need not fsync.
start etcd "$ETCD" --name grlscaler --data-dir "$K8S_DIR/etcd" \
  --listen-client-urls "https://127.0.0.1:$K8S_ETCD_PORT" \
  --advertise-client-urls "https://127.0.0.1:$K8S_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
  --initial-cluster "grlscaler=http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
  --cert-file "$PKI/etcd.crt" --key-file "$PKI/etcd.key" \
  --client-cert-auth --trusted-ca-file "$PKI/ca.crt" \
  --unsafe-no-fsync --log-level warn
wait_for "etcd listening" 30 port_in_use 127.0.0.1 "$K8S_ETCD_PORT"

# --endpoint-reconciler-type=none: 1.37 refuses a loopback advertise address
# with the default reconciler. The requestheader and proxy-client flags let
# the aggregator front metrics-server; aggregator routing sends its requests
# to the Service's endpoint (the host address) rather than its cluster IP,
# which nothing routes here.
start kube-apiserver "$KUBE_APISERVER" \
  --bind-address 127.0.0.1 --secure-port "$K8S_APISERVER_PORT" --advertise-address 127.0.0.1 \
  --endpoint-reconciler-type none \
  --etcd-servers "https://127.0.0.1:$K8S_ETCD_PORT" --etcd-cafile "$PKI/ca.crt" \
  --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --authorization-mode RBAC --allow-privileged \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User \
  --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
  --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --enable-aggregator-routing \
  --profiling=false
wait_for "kube-apiserver ready (/readyz)" 90 kubectl get --raw /readyz

# HPA sync every 5 s and 15 s downscale stabilisation (defaults 15 s and
# 5 min) so that tests see scaling within a minute or two.
start kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
  --kubeconfig "$K8S_DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$K8S_DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$K8S_DIR/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$K8S_CONTROLLER_MANAGER_PORT" \
  --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --horizontal-pod-autoscaler-sync-period 5s \
  --horizontal-pod-autoscaler-downscale-stabilization 15s \
  --profiling=false

start kube-scheduler "$KUBE_SCHEDULER" \
  --kubeconfig "$K8S_DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$K8S_DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$K8S_DIR/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$K8S_SCHEDULER_PORT" \
  --leader-elect=false --profiling=false

# The fake nodes and the metrics API's plumbing.
nodes=()
for ((i = 0; i < K8S_NODES; i++)); do nodes+=("kwok-node-$i"); done
for n in "${nodes[@]}"; do
  sed "s/@NAME@/$n/g" "$here/manifests/node.yaml"
done | kubectl apply -f - >/dev/null
kubectl apply -f "$here/manifests/node-baseline.yaml" >/dev/null
sed -e "s/@HOST_IP@/$K8S_HOST_IP/g" -e "s/@PORT@/$K8S_METRICS_SERVER_PORT/g" \
  -e "s/@CA_BUNDLE@/$(base64 -w0 <"$PKI/ca.crt")/g" \
  "$here/manifests/metrics-server.yaml" | kubectl apply -f - >/dev/null

{
  cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
# kwok applies its defaults only when it finds no configuration, so these
# are kwok's defaults (and kustomize/kwok/kwok.yaml's lease settings), spelt out.
options:
  cidr: $POD_CIDR
  nodeIP: 127.0.0.1
  nodePort: $K8S_KWOK_PORT
  manageAllNodes: true
  enableDebuggingHandlers: true
  enableProfilingHandler: false
  enableContentionProfiling: false
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  nodeLeaseDurationSeconds: 40
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
---
EOF
  cat "$KWOK_STAGES"
} >"$K8S_DIR/kwok.yaml"
# HOME: kwok also loads ~/.kwok/kwok.yaml when it exists; not ours.
start kwok env HOME="$K8S_DIR" "$KWOK" --kubeconfig "$K8S_DIR/kwok.kubeconfig" --config "$K8S_DIR/kwok.yaml" \
  --manage-all-nodes=true --node-ip 127.0.0.1 --node-port "$K8S_KWOK_PORT" \
  --server-address "127.0.0.1:$K8S_KWOK_PORT" \
  --tls-cert-file "$PKI/kwok.crt" --tls-private-key-file "$PKI/kwok.key"

# metrics-server scrapes kwok at each node's InternalIP and status port
# (127.0.0.1 and kwok's port); kwok's certificate is not for the node names,
# hence --kubelet-insecure-tls.
start metrics-server "$METRICS_SERVER" \
  --kubeconfig "$K8S_DIR/metrics-server.kubeconfig" \
  --authentication-kubeconfig "$K8S_DIR/metrics-server.kubeconfig" \
  --authorization-kubeconfig "$K8S_DIR/metrics-server.kubeconfig" \
  --bind-address "$K8S_HOST_IP" --secure-port "$K8S_METRICS_SERVER_PORT" \
  --tls-cert-file "$PKI/metrics-server.crt" --tls-private-key-file "$PKI/metrics-server.key" \
  --kubelet-use-node-status-port --kubelet-preferred-address-types InternalIP \
  --kubelet-insecure-tls --metric-resolution 10s --kubelet-request-timeout 5s

nodes_ready() {
  local n
  for n in "${nodes[@]}"; do
    [ "$(kubectl get node "$n" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ] || return 1
  done
}
wait_for "nodes Ready" 90 nodes_ready

node_metrics() {
  local out n
  out="$(kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes)" || return 1
  for n in "${nodes[@]}"; do
    [[ "$out" == *"\"name\":\"$n\""* ]] || return 1
  done
}
wait_for "metrics.k8s.io serving node metrics" 180 node_metrics

trap - INT TERM
log "up in $((SECONDS - t0))s: API server https://127.0.0.1:$K8S_APISERVER_PORT, kubeconfig $KUBECONFIG_ADMIN (kubectl: $KUBECTL --kubeconfig $KUBECONFIG_ADMIN)"
