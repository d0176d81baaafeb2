// Package hpa is the Kubernetes HorizontalPodAutoscaler (autoscaling/v2,
// ContainerResource metrics with Utilization targets) as an envs.Controller
// for the simulated cluster, so the baseline the agents are compared with is
// the algorithm a real cluster runs, not a paraphrase of it.
//
// The code mirrors, function by function and under the same names,
// kubernetes/kubernetes pkg/controller/podautoscaler:
//
//   - replica_calculator.go: GetResourceReplicas, groupPods, Tolerances.isWithin
//     and metrics.GetResourceUtilizationRatio (integer percent);
//   - horizontal.go: reconcileAutoscaler, computeReplicasForMetrics,
//     recordInitialRecommendation, the legacy normalizeDesiredReplicas /
//     stabilizeRecommendation / convertDesiredReplicasWithRules /
//     calculateScaleUpLimit, and the behavior path
//     normalizeDesiredReplicasWithBehaviors / stabilizeRecommendationWithBehaviors /
//     convertDesiredReplicasWithBehaviorRate / calculateScaleUpLimitWithScalingRules /
//     calculateScaleDownLimitWithBehaviors / storeScaleEvent;
//   - pkg/apis/autoscaling/v2/defaults.go for the behavior defaults,
//
// and the docs page kubernetes/website
// content/en/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale.md.
//
// # Behavior when the HPA has none
//
// The seed's manifests have no behavior field. SetDefaults_HorizontalPodAutoscalerBehavior
// only fills in a behavior that is present, so the controller sees nil and
// takes the legacy path: scale-down stabilisation over
// --horizontal-pod-autoscaler-downscale-stabilization (5m) and a scale-up
// cap of max(2*current, 4) per sync. The docs' "default behavior" (Percent
// 100 or Pods 4 per 15s) applies only to an HPA with a (possibly empty)
// behavior field; Config.Behavior = &Behavior{} selects it. The two differ:
// from 1 replica under heavy load the legacy path goes to 4, the behavior
// path to 5.
//
// # Where the simulation differs
//
//   - Pods have no phase in envs.PodMetrics, so a Pending pod cannot be told
//     from a Running one: a starting pod without a sample is "missing", not
//     "unready" as Kubernetes would file a Pending pod.
//   - Pod start time is PodMetrics.Created; a pod that is not ready is taken
//     to have gone unready when it was created (or at Ready, if set).
//   - All pods of a service share one request (the Deployment template), so
//     pod grouping keeps counts instead of per-pod maps.
//   - The sample window is Config.MetricWindow (15s, metrics-server's
//     --metric-resolution in the upstream manifests) rather than each
//     sample's own window.
//   - Syncs happen at the first Decide call at least SyncPeriod after the
//     previous one, so a simulator step longer than 15s stretches the period.
//   - When no metric can be computed, CurrentUtilization reports -1 for the
//     failed metrics (kubectl's "<unknown>").
//
// A Controller is deterministic, keeps no global state and starts no
// goroutines; once warmed up a sync does not allocate.
package hpa
