#!/usr/bin/env bash
# Prints, as one multi-document YAML for kwok's --config, the Stages and
# metrics kwok needs to act as the kubelet of fake nodes, taken from kwok's
# own kustomize folder in the pinned module:
#   stage/node/fast              node-initialize: a new node becomes Ready
#   stage/node/heartbeat-with-lease   keeps node status fresh (kwok renews
#                                the node lease; see kwok.yaml in cluster-up)
#   stage/pod/fast               pods become Ready at once, complete, delete
#   metrics/resource             Metric "metrics-resource": the kubelet's
#                                /metrics/resource endpoint metrics-server reads
#   metrics/usage                ClusterResourceUsage "usage-from-annotation":
#                                usage from kwok.x-k8s.io/usage-{cpu,memory}
# Without stages kwok does nothing useful (nodes never Ready, pods Pending).
#
#   kwok-stages.sh v0.8.0 > stages.yaml
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 KWOK_VERSION" >&2; exit 2; }
go="${GO:-go}"
# Outside any module, so the repository's go.mod is neither read nor touched.
dir="$(cd / && GOFLAGS='' GOEXPERIMENT='' "$go" mod download -json "sigs.k8s.io/kwok@$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir/kustomize" ] || { echo "kwok-stages.sh: no kustomize folder in sigs.k8s.io/kwok@$1 ($dir)" >&2; exit 1; }
first=1
for f in \
  stage/node/fast/node-initialize.yaml \
  stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  stage/pod/fast/pod-ready.yaml \
  stage/pod/fast/pod-complete.yaml \
  stage/pod/fast/pod-delete.yaml \
  metrics/resource/metrics-resource.yaml \
  metrics/usage/usage-from-annotation.yaml; do
  [ $first -eq 1 ] || echo "---"
  first=0
  echo "# sigs.k8s.io/kwok@$1/kustomize/$f"
  cat "$dir/kustomize/$f"
done
