package envs

import "time"

// PodMetrics is what the metrics pipeline reports for one pod of a service,
// as a controller sees it at a sync: the sample may be stale (metrics-server
// scrapes on its own period) or missing (a pod that just started).
type PodMetrics struct {
	Name string
	// Created is when the pod was created; Ready is when it became Ready
	// (zero and IsReady false if it is not yet ready).
	Created, Ready time.Duration
	IsReady        bool
	// Deleting marks a pod with a deletion timestamp; Failed a pod in phase Failed.
	Deleting, Failed bool
	// HasMetrics is false when metrics-server has no sample for the pod yet.
	HasMetrics bool
	// SampleTime is the end of the window the sample describes.
	SampleTime time.Duration
	// CPUMilli and MemMiB are the app container's usage (ContainerResource
	// semantics: sidecars are not included).
	CPUMilli, MemMiB float64
}

// ServiceView is one scalable deployment as a controller sees it.
type ServiceView struct {
	Name string
	// Replicas is spec.replicas of the deployment (the scale subresource).
	Replicas int
	// CPURequestMilli and MemRequestMiB are the app container's requests;
	// zero means unset, which makes utilisation undefined for that resource.
	CPURequestMilli, MemRequestMiB float64
	Pods                           []PodMetrics
}

// ClusterView is the state visible to controllers at one decision point.
type ClusterView struct {
	Now      time.Duration
	Services []ServiceView
}

// Controller decides replica counts. The Kubernetes HPA, a static
// configuration and the RL agent all implement it, so evaluation treats them
// alike.
type Controller interface {
	// Name identifies the controller and its configuration in reports, e.g. "hpa-cpu50".
	Name() string
	// Reset clears all state (recommendation history, RNG) before a run.
	Reset()
	// Decide writes the desired spec.replicas for every service into desired
	// (len(desired) == len(view.Services)); a negative entry leaves the
	// service unchanged. It must not retain view.
	Decide(view *ClusterView, desired []int)
}

// StaticController keeps every service at fixed replicas (a baseline that
// never scales after the first decision).
type StaticController struct {
	// Replicas per service; a single value applies to all services.
	Replicas []int
}

// Name implements Controller.
func (s *StaticController) Name() string { return "static" }

// Reset implements Controller.
func (s *StaticController) Reset() {}

// Decide implements Controller.
func (s *StaticController) Decide(view *ClusterView, desired []int) {
	for i := range desired {
		switch {
		case len(s.Replicas) == 1:
			desired[i] = s.Replicas[0]
		case i < len(s.Replicas):
			desired[i] = s.Replicas[i]
		default:
			desired[i] = -1
		}
	}
}
