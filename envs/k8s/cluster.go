package k8s

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

// ResourceSource says where per-pod CPU and memory come from.
type ResourceSource string

// The resource metric sources.
const (
	// FromMetricsServer reads metrics.k8s.io, what the HPA itself reads.
	FromMetricsServer ResourceSource = "metrics-server"
	// FromPrometheus reads cAdvisor's container_cpu_usage_seconds_total and
	// container_memory_working_set_bytes from Prometheus.
	FromPrometheus ResourceSource = "prometheus"
)

// Options configure a Cluster.
type Options struct {
	// Kube is the API client (a fake in tests). Required.
	Kube kubernetes.Interface
	// Metrics is the metrics.k8s.io client; required with FromMetricsServer.
	Metrics metricsclient.Interface
	// Prometheus answers the Linkerd proxy (and, with FromPrometheus,
	// cAdvisor) queries; see NewPrometheus. Required for Observe.
	Prometheus Prometheus
	// Viz lists the Linkerd viz edges; nil leaves the graph to the app's
	// static call graph and the edges Prometheus reports.
	Viz *Viz
	// App is the deployed app; Namespace where it runs. Required.
	App       *app.App
	Namespace string
	// Resources is the source of CPU and memory; default FromMetricsServer.
	Resources ResourceSource
	// Window is the PromQL rate window; default 1m (four 15s scrapes, the
	// shortest window rate() is reliable over).
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Origin is time zero of ClusterView and envs.Info times; default the
	// time NewCluster runs.
	Origin time.Time
	// Poll waits (HPA liveness, Reset); nil means real time.
	Poll Poller
	// PollInterval is the time between checks; default 5s.
	PollInterval time.Duration
}

// Cluster is one app in one namespace of a real cluster: what the k8s
// backend acts on and observes. Its methods are safe for concurrent use
// as far as the clients are.
type Cluster struct {
	o     Options
	edges []app.Edge
	entry []int // canonical indices of the services users call
}

// NewCluster checks the options and returns the cluster.
func NewCluster(o Options) (*Cluster, error) {
	switch {
	case o.Kube == nil:
		return nil, errors.New("k8s cluster: a kubernetes client is required")
	case o.App == nil:
		return nil, errors.New("k8s cluster: app is required")
	case o.Namespace == "":
		return nil, errors.New("k8s cluster: namespace is required")
	}
	if o.Resources == "" {
		o.Resources = FromMetricsServer
	}
	switch o.Resources {
	case FromMetricsServer:
		if o.Metrics == nil {
			return nil, errors.New("k8s cluster: resources from metrics-server need a metrics.k8s.io client")
		}
	case FromPrometheus:
		if o.Prometheus == nil {
			return nil, errors.New("k8s cluster: resources from prometheus need a Prometheus client")
		}
	default:
		return nil, fmt.Errorf("k8s cluster: unknown resource source %q (valid: metrics-server, prometheus)", o.Resources)
	}
	if o.Window == 0 {
		o.Window = time.Minute
	}
	if o.Window < time.Second || o.Window%time.Second != 0 {
		return nil, fmt.Errorf("k8s cluster: window %s must be whole seconds", o.Window)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Origin.IsZero() {
		o.Origin = o.Now()
	}
	if o.Poll == nil {
		o.Poll = realPoll
	}
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Second
	}
	c := &Cluster{o: o, edges: o.App.Edges()}
	for _, rt := range o.App.RequestTypes {
		if i := o.App.Index(rt.Entry.Service); !slices.Contains(c.entry, i) {
			c.entry = append(c.entry, i)
		}
	}
	slices.Sort(c.entry)
	return c, nil
}

// App returns the app; Namespace its namespace.
func (c *Cluster) App() *app.App     { return c.o.App }
func (c *Cluster) Namespace() string { return c.o.Namespace }

// Origin is time zero of the durations in views and observations.
func (c *Cluster) Origin() time.Time { return c.o.Origin }

// Deploy deploys the app (see the package function Deploy) with the
// cluster's poller.
func (c *Cluster) Deploy(ctx context.Context, linkerd LinkerdMode, progress func(string)) error {
	return Deploy(ctx, c.o.Kube, DeployOptions{
		App: c.o.App, Namespace: c.o.Namespace, Linkerd: linkerd, Progress: progress,
		Poll: c.o.Poll, PollInterval: c.o.PollInterval, Now: c.o.Now,
	})
}

// Scale sets a Deployment's replicas through the scale subresource, as
// kubectl scale and the HPA do; a conflicting concurrent write is retried.
func (c *Cluster) Scale(ctx context.Context, deployment string, replicas int) error {
	if c.o.App.Index(deployment) < 0 {
		return fmt.Errorf("scale %s/%s: not a service of app %s", c.o.Namespace, deployment, c.o.App.Name)
	}
	if replicas < 0 {
		return fmt.Errorf("scale %s/%s: replicas %d must not be negative", c.o.Namespace, deployment, replicas)
	}
	deps := c.o.Kube.AppsV1().Deployments(c.o.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := deps.GetScale(ctx, deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Spec.Replicas == int32(replicas) {
			return nil
		}
		s.Spec.Replicas = int32(replicas)
		_, err = deps.UpdateScale(ctx, deployment, s, metav1.UpdateOptions{FieldManager: manifests.FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("scale %s/%s to %d: %w", c.o.Namespace, deployment, replicas, err)
	}
	return nil
}

// ReplicaCount is one Deployment's spec.replicas and ready replicas.
type ReplicaCount struct {
	Name        string
	Spec, Ready int
}

// Replicas returns every service's replica counts in canonical order.
func (c *Cluster) Replicas(ctx context.Context) ([]ReplicaCount, error) {
	deps, err := c.deployments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ReplicaCount, len(deps))
	for i, d := range deps {
		out[i] = ReplicaCount{Name: d.Name, Spec: int(replicasOrDefault(d)), Ready: int(d.Status.ReadyReplicas)}
	}
	return out, nil
}

// deployments returns the app's Deployments in canonical order.
func (c *Cluster) deployments(ctx context.Context) ([]*appsv1.Deployment, error) {
	list, err := c.o.Kube.AppsV1().Deployments(c.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appSelector(c.o.App)})
	if err != nil {
		return nil, fmt.Errorf("list deployments in %s: %w", c.o.Namespace, err)
	}
	out := make([]*appsv1.Deployment, len(c.o.App.Services))
	for i := range list.Items {
		if k := c.o.App.Index(list.Items[i].Name); k >= 0 {
			out[k] = &list.Items[i]
		}
	}
	for k, d := range out {
		if d == nil {
			return nil, fmt.Errorf("deployment %s/%s not found: deploy app %s first", c.o.Namespace, c.o.App.Services[k].Name, c.o.App.Name)
		}
	}
	return out, nil
}

func replicasOrDefault(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1 // the API server's default
	}
	return *d.Spec.Replicas
}
