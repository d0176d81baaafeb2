#!/usr/bin/env bash
# Builds pinned Kubernetes binaries from the Go module proxy into a bin
# directory, each named <tool>-<version> (the Makefile's k8s-tools target
# calls it once per pin, so a binary is rebuilt only when its pin changes).
#
#   build.sh etcd    v3.7.3 BIN   ->  BIN/etcd-v3.7.3
#   build.sh kube    v1.37.2 BIN  ->  BIN/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}-v1.37.2
#
# etcd and k8s.io/kubernetes cannot be built with `go install pkg@version`
# (their go.mod files carry replace directives), so each is built from a
# throwaway module made from the templates beside this script, in a
# temporary directory under $TMPDIR.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
go="${GO:-go}"

usage() {
  echo "usage: $0 etcd|kube VERSION BINDIR" >&2
  exit 2
}
[ $# -eq 3 ] || usage
what="$1" version="$2" bindir="$3"
mkdir -p "$bindir"
bindir="$(cd "$bindir" && pwd)"

# The repository's Makefile exports GOEXPERIMENT=simd; third-party tools
# build without experiments.
export GOEXPERIMENT=
export GOFLAGS="${GOFLAGS:-} -mod=mod"

work="$(mktemp -d "${TMPDIR:-/tmp}/grl-localk8s-$what.XXXXXX")"
trap 'rm -rf "$work"' EXIT

case "$what" in
etcd)
  sed "s/@ETCD_VERSION@/$version/g" "$here/etcd/go.mod.tmpl" >"$work/go.mod"
  cp "$here/etcd/tools.go.tmpl" "$work/tools.go"
  cd "$work"
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -o "$bindir/etcd-$version.tmp" go.etcd.io/etcd/server/v3
  mv "$bindir/etcd-$version.tmp" "$bindir/etcd-$version"
  ;;
kube)
  # Staging modules are published as v0.<minor>.<patch> for v1.<minor>.<patch>.
  staging="v0.${version#v1.}"
  sed -e "s/@KUBE_VERSION@/$version/g" -e "s/@STAGING_VERSION@/$staging/g" \
    "$here/kube/go.mod.tmpl" >"$work/go.mod"
  cp "$here/kube/tools.go.tmpl" "$work/tools.go"
  cd "$work"
  # The template must replace every staging module k8s.io/kubernetes at this
  # version replaces with a local path, or `go mod tidy` fails obscurely.
  upstream="$(GOFLAGS='' "$go" mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  missing=""
  while read -r m; do
    case "$m" in k8s.io/sample-cli-plugin | k8s.io/sample-controller) continue ;; esac
    grep -q "^[[:space:]]*$m => " "$work/go.mod" || missing="$missing $m"
  done < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$upstream")
  if [ -n "$missing" ]; then
    echo "build.sh: k8s.io/kubernetes $version replaces staging modules the template lacks:$missing" >&2
    echo "build.sh: add them to $here/kube/go.mod.tmpl" >&2
    exit 1
  fi
  "$go" mod tidy
  minor="${version#v1.}"
  minor="${minor%%.*}"
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  mkdir -p out
  "$go" build -trimpath -ldflags "$ldflags" -o out/ \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    mv "out/$b" "$bindir/$b-$version"
  done
  ;;
*)
  usage
  ;;
esac
