// Package k8s is the real-cluster backend of grlscaler.
//
//   - Connect builds the REST config: a kubeconfig and context, the pod's
//     service account, or a bearer token and API host read from environment
//     variables the experiment spec names (or a .env file). The token never
//     reaches errors, logs or printed values.
//   - Deploy applies an app's manifests (package manifests: pinned upstream
//     releases, images, requests and limits from envs/app) with server-side
//     apply, optionally with Linkerd injection, and waits for the rollout.
//   - Cluster acts on and observes one deployed app: Scale (the scale
//     subresource), Replicas, Observe (replicas and pods from the API server,
//     CPU and memory from metrics.k8s.io or cAdvisor, traffic, latency and
//     success per service and per edge from the Linkerd proxy metrics in
//     Prometheus, the graph from the Linkerd viz dashboard), and the HPA
//     baseline as real autoscaling/v2 objects (CreateHPA, DeleteHPAs,
//     WaitHPALive).
//   - An Observation gives controllers their envs.ClusterView (View), so the
//     HPA algorithm of envs/hpa and the agent run against the cluster as
//     against the twin, and gives the agent its envs.Observation (Build),
//     built by the twin's own envs.FillService.
//   - Env is the cluster as an RL environment with the twin's Spec.
//
// Everything takes kubernetes.Interface, the metrics.k8s.io clientset and a
// small Prometheus interface, and waits through an injectable Poller, so the
// tests run the code a real cluster runs against client-go's fake
// clientsets and httptest servers speaking the real Prometheus and Linkerd
// viz JSON, without sleeping. infra/k8s/rbac.yaml grants exactly the verbs
// this package uses (rbac_test.go checks it).
package k8s
