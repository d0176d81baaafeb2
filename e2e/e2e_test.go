package e2e

import (
	"os"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/infra/k8stest"
)

// cluster returns a client for the cluster in GRL_KUBECONFIG, skipping the
// test when there is none (make test) or under -short.
func cluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs a Kubernetes cluster (make e2e)")
	}
	if os.Getenv(k8stest.EnvKubeconfig) == "" {
		t.Skipf("%s not set: end-to-end tests run with make e2e", k8stest.EnvKubeconfig)
	}
	return k8stest.Clientset(t)
}
