package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/grlscaler/grlscaler/infra/k8stest"
)

// A two-service app in the shape of Online Boutique's manifests
// (Deployment + Service per service, one multi-document YAML, no
// namespace): the hook later tests deploy the real manifests with.
const twoServiceApp = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
      - name: server
        image: registry.k8s.io/pause:3.10
        ports: [{containerPort: 8080}]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: frontend
spec:
  selector: {app: frontend}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cartservice
spec:
  replicas: 2
  selector:
    matchLabels: {app: cartservice}
  template:
    metadata:
      labels: {app: cartservice}
    spec:
      containers:
      - name: server
        image: registry.k8s.io/pause:3.10
        resources:
          requests: {cpu: 200m, memory: 64Mi}
`

func TestApplyDeploysAManifestOnTheFakeNodes(t *testing.T) {
	cs := cluster(t)
	ns := k8stest.NewNamespace(t, "apply")

	k8stest.Apply(t, ns, []byte(twoServiceApp))
	k8stest.WaitForDeployments(t, cs, ns, 2*time.Minute)

	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("got %d pods, want 3 (frontend 1, cartservice 2)", len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q, phase %s; want running on a fake node", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
	if _, err := cs.CoreV1().Services(ns).Get(t.Context(), "frontend", metav1.GetOptions{}); err != nil {
		t.Errorf("service frontend: %v", err)
	}

	// Applying again is a no-op: server-side apply with the same manager.
	k8stest.Apply(t, ns, []byte(twoServiceApp))
	k8stest.WaitForDeployments(t, cs, ns, time.Minute)
}
