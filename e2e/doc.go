// Package e2e holds the end-to-end tests that need a real Kubernetes
// control plane: `make e2e` builds and starts the local one
// (infra/localk8s: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok's fake nodes and metrics-server, all on loopback),
// runs these tests with GRL_KUBECONFIG set, and stops it.
//
// Without GRL_KUBECONFIG, or under `go test -short`, the tests skip, so
// `make test` (which runs ./...) needs no cluster.
package e2e
