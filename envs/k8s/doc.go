// Package k8s is the real-cluster backend of grlscaler: it connects to a
// Kubernetes API server (kubeconfig, in-cluster service account, or a bearer
// token named by the experiment spec), deploys an app's manifests with
// server-side apply and optional Linkerd injection, scales Deployments
// through the scale subresource, observes replicas, per-pod CPU and memory
// (metrics.k8s.io or Prometheus), per-service traffic and latency (Linkerd
// proxy metrics in Prometheus) and the service graph (Linkerd viz), and
// runs the Kubernetes HPA baseline as real autoscaling/v2 objects.
//
// Everything takes kubernetes.Interface and small interfaces for the
// metrics sources, so tests run the same code against client-go's fake
// clientset and httptest servers speaking the real Prometheus and Linkerd
// viz JSON.
package k8s
