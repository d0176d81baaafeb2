// Package emulator makes a local Kubernetes control plane behave as if an
// app ran on it. The e2e cluster (infra/localk8s) runs a real API server,
// controller manager and scheduler, but its nodes are kwok's fakes: pods
// run no container, so there is no app, no Linkerd and no Prometheus, and
// metrics-server reports whatever usage the pods' kwok annotations say.
//
// An Emulator drives the digital twin (envs/sim) with the cluster's
// Deployments: every tick it sets the twin's replicas to the Deployments'
// spec.replicas, steps the twin, and writes each running pod's share of
// its service's CPU and memory into the kwok usage annotations, so the
// real HPA and metrics-server see the twin's load. Its Handler serves, on
// one port, what the k8s backend reads besides the API server: the load
// agent's API (jobs replay a load scenario in the twin), the Prometheus
// instant queries of envs/k8s (Linkerd proxy and cAdvisor series from the
// twin's latest step) and the Linkerd viz edges.
package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/loadtest"
)

// kwok's fake kubelets report a pod's usage from these annotations (kwok's
// ClusterResourceUsage "usage-from-annotation", infra/localk8s); they are
// infra/k8stest's constants, repeated because that package is a test
// helper and must not end up in grlctl.
const (
	AnnotationUsageCPU    = "kwok.x-k8s.io/usage-cpu"
	AnnotationUsageMemory = "kwok.x-k8s.io/usage-memory"
)

// FieldManager owns the usage annotations the emulator patches.
const FieldManager = "grlscaler-emulator"

// idleDuration is the idle scenario's length; the twin wraps scenario time
// around it, and with no users every instant is the same.
const idleDuration = 24 * time.Hour

// Options configure an Emulator.
type Options struct {
	// Kube is the API client of the cluster the app is deployed on.
	Kube kubernetes.Interface
	// App is the deployed app (e.g. sim.LookupApp("onlineboutique", seed)).
	App *app.App
	// Namespace is where envs/k8s deployed it.
	Namespace string
	// Tick is the twin's step and the period of Run (default 1s).
	Tick time.Duration
	// Seed seeds the twin's randomness; each job reseeds it from Seed.
	Seed uint64
	// Token, when not empty, is the load agent's bearer token
	// (loadtest.TokenEnv): /jobs requests without it are refused, as the
	// real agent refuses them.
	Token string
	// Log receives transient errors, job events and one line per load
	// agent request; nil discards them.
	Log *slog.Logger
	// Now is the clock of job times and query results; nil means time.Now.
	Now func() time.Time
}

// Emulator is the app's emulated physics on one cluster. Its methods are
// safe for concurrent use: Run steps it while Handler serves it.
type Emulator struct {
	o        Options
	selector string
	entry    []bool // services users call: their inbound latency is end to end

	mu     sync.Mutex
	twin   *sim.Cluster
	resets uint64
	// last is the latest step, replaced (never changed) by each step, so
	// that handlers read it without holding mu.
	last *view
	// pods are the running pods of each service at the last step, replaced
	// by each step.
	pods [][]string
	// seen marks the twin's edges that have carried traffic: Linkerd viz
	// lists an edge once the proxies have a connection for it.
	seen []bool
	// jobs by ID and by Name, in start order; active is the running one.
	jobs   map[string]*job
	names  map[string]*job
	order  []*job
	active *job
}

// view is what one step of the twin published.
type view struct {
	snap  sim.Snapshot
	edges []sim.EdgeMetric
	at    time.Time
}

// New checks the options and returns an emulator whose twin is idle at
// each service's minimum replicas until the first Step reads the cluster.
func New(o Options) (*Emulator, error) {
	switch {
	case o.Kube == nil:
		return nil, errors.New("emulator: a kubernetes client is required")
	case o.App == nil:
		return nil, errors.New("emulator: app is required")
	case o.Namespace == "":
		return nil, errors.New("emulator: namespace is required")
	case o.Tick < 0:
		return nil, fmt.Errorf("emulator: tick %s must be positive", o.Tick)
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Emulator{
		o: o,
		// envs/k8s's appSelector: the labels manifests.Build puts on every
		// object of the app.
		selector: labels.SelectorFromSet(labels.Set{manifests.ManagedByLabel: manifests.ManagedBy, manifests.PartOfLabel: o.App.Name}).String(),
		entry:    make([]bool, len(o.App.Services)),
		pods:     make([][]string, len(o.App.Services)),
		seen:     make([]bool, len(o.App.Edges())),
		jobs:     map[string]*job{},
		names:    map[string]*job{},
	}
	for _, rt := range o.App.RequestTypes {
		e.entry[o.App.Index(rt.Entry.Service)] = true
	}
	replicas := make([]int, len(o.App.Services))
	for i, s := range o.App.Services {
		replicas[i] = s.MinReplicas
	}
	twin, err := e.newTwin(e.idleScenario(), replicas)
	if err != nil {
		return nil, err
	}
	e.twin = twin
	e.publish()
	return e, nil
}

// idleScenario is the app without users: zero users over every request
// type, which the twin runs as zero arrivals (idle CPU and base memory).
func (e *Emulator) idleScenario() load.Scenario {
	sc := load.Scenario{
		App: e.o.App.Name, Name: "idle", Duration: idleDuration,
		Stages: []load.Stage{{End: idleDuration, Users: 0}},
		Wait:   load.Wait{Kind: load.ConstantThroughput, TasksPerSecond: 1},
	}
	for _, rt := range e.o.App.RequestTypes {
		sc.Tasks = append(sc.Tasks, load.Task{RequestType: rt.Name, Weight: 1})
	}
	return sc
}

// newTwin returns a twin of scenario sc at scenario time zero with the
// given replicas, all ready (the pods already run on the cluster).
func (e *Emulator) newTwin(sc load.Scenario, replicas []int) (*sim.Cluster, error) {
	c, err := sim.NewCluster(sim.Options{
		App: e.o.App, Scenario: sc, StepPeriod: e.o.Tick,
		// Only Latest is read; one step of history is the least allowed.
		MetricsLag:      e.o.Tick,
		InitialReplicas: slices.Clone(replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("emulator: twin of %s/%s: %w", sc.App, sc.Name, err)
	}
	c.Reset(envs.MixSeed(e.o.Seed+e.resets), 0)
	e.resets++
	return c, nil
}

// replicas returns the twin's current replicas; e.mu is held.
func (e *Emulator) replicas() []int {
	out := make([]int, len(e.o.App.Services))
	for i := range out {
		out[i] = e.twin.Replicas(i)
	}
	return out
}

// switchTo replaces the twin by one running sc from its start with the
// current replicas; e.mu is held.
func (e *Emulator) switchTo(sc load.Scenario) error {
	twin, err := e.newTwin(sc, e.replicas())
	if err != nil {
		return err
	}
	e.twin = twin
	return nil
}

// publish copies the twin's latest step into a new view; e.mu is held.
func (e *Emulator) publish() {
	v := &view{at: e.o.Now()}
	latest := e.twin.Latest()
	v.snap = *latest
	v.snap.Replicas, v.snap.Pods, v.snap.Ready = slices.Clone(latest.Replicas), slices.Clone(latest.Pods), slices.Clone(latest.Ready)
	v.snap.CPUMilli, v.snap.MemMiB = slices.Clone(latest.CPUMilli), slices.Clone(latest.MemMiB)
	v.snap.RxKBps, v.snap.TxKBps = slices.Clone(latest.RxKBps), slices.Clone(latest.TxKBps)
	v.snap.RPS, v.snap.DropRate = slices.Clone(latest.RPS), slices.Clone(latest.DropRate)
	v.snap.LatMeanMs, v.snap.LatVarMs2 = slices.Clone(latest.LatMeanMs), slices.Clone(latest.LatVarMs2)
	v.snap.TypeMeanMs = slices.Clone(latest.TypeMeanMs)
	v.edges = e.twin.EdgeMetrics(latest, nil)
	for k, m := range v.edges {
		if m.RPS > 0 {
			e.seen[k] = true
		}
	}
	e.last = v
}

// current returns the last step and the pods it was shared over.
func (e *Emulator) current() (*view, [][]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last, e.pods
}

// Run steps the emulator every Tick until ctx ends, logging the errors of
// a step (an API server restarting, a pod deleted meanwhile) and carrying
// on; it returns nil when ctx ends.
func (e *Emulator) Run(ctx context.Context) error {
	t := time.NewTicker(e.o.Tick)
	defer t.Stop()
	for {
		if err := e.Step(ctx); err != nil && ctx.Err() == nil {
			e.o.Log.Warn("emulator step failed; retrying next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step advances the twin by one Tick under the Deployments' replicas and
// annotates the running pods with their usage. When the Deployments cannot
// be listed the twin keeps its replicas and still steps, so that jobs keep
// time; the errors are returned together.
func (e *Emulator) Step(ctx context.Context) error {
	var errs []error
	ns := e.o.Namespace
	var replicas []int
	deps, err := e.o.Kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: e.selector})
	if err != nil {
		errs = append(errs, fmt.Errorf("list deployments in %s: %w", ns, err))
	} else {
		// A service without a Deployment has no pods: the twin fails its calls.
		replicas = make([]int, len(e.o.App.Services))
		for i := range deps.Items {
			if k := e.o.App.Index(deps.Items[i].Name); k >= 0 {
				replicas[k] = int(specReplicas(&deps.Items[i]))
			}
		}
	}

	e.mu.Lock()
	err = e.advance(replicas)
	v := e.last
	e.mu.Unlock()
	if err != nil {
		errs = append(errs, err)
	}

	pods, err := e.o.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: e.selector})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list pods in %s: %w", ns, err))...)
	}
	running := make([][]*corev1.Pod, len(e.o.App.Services))
	names := make([][]string, len(e.o.App.Services))
	items := pods.Items
	slices.SortFunc(items, func(x, y corev1.Pod) int { return strings.Compare(x.Name, y.Name) })
	for i := range items {
		p := &items[i]
		k := e.o.App.Index(p.Labels[manifests.SelectorLabel])
		if k < 0 || !isRunning(p) {
			continue
		}
		running[k] = append(running[k], p)
		names[k] = append(names[k], p.Name)
	}
	e.mu.Lock()
	e.pods = names
	e.mu.Unlock()

	for k, ps := range running {
		cpu, mem := e.perPod(v, k, len(ps))
		want := map[string]string{AnnotationUsageCPU: cpuQuantity(cpu), AnnotationUsageMemory: memQuantity(mem)}
		for _, p := range ps {
			if err := e.annotate(ctx, p, want); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// advance steps the twin under replicas (nil keeps the twin's), records
// the active job's step and ends it when its duration has passed; e.mu is
// held.
func (e *Emulator) advance(replicas []int) error {
	for i, r := range replicas {
		if r != e.twin.Replicas(i) {
			e.twin.SetReplicas(i, r)
		}
	}
	e.twin.Step()
	e.publish()
	j := e.active
	if j == nil {
		return nil
	}
	j.record(e.twin.Now(), e.o.Tick, e.last)
	if e.twin.Now() < j.duration {
		return nil
	}
	e.finish(j, loadtest.StateSucceeded, "")
	return e.switchTo(e.idleScenario())
}

// perPod is one running pod's share of service k's CPU (millicores, at
// most the container's limit, which the twin's pods never exceed) and
// memory (MiB) in v.
func (e *Emulator) perPod(v *view, k, pods int) (cpuMilli, memMiB float64) {
	if pods == 0 {
		return 0, 0
	}
	n := float64(pods)
	return math.Min(v.snap.CPUMilli[k]/n, e.o.App.Services[k].CPULimitMilli), v.snap.MemMiB[k] / n
}

// cpuQuantity renders millicores for kwok; kwok's own default is 1m.
func cpuQuantity(milli float64) string {
	return fmt.Sprintf("%dm", max(int64(math.Round(milli)), 1))
}

// memQuantity renders MiB in Ki, fine enough that a few requests in
// flight show.
func memQuantity(mib float64) string {
	return fmt.Sprintf("%dKi", max(int64(math.Round(mib*1024)), 1024))
}

// annotate merge-patches the usage annotations of p that differ from want;
// a pod deleted meanwhile (a scale-down) is not an error.
func (e *Emulator) annotate(ctx context.Context, p *corev1.Pod, want map[string]string) error {
	changed := map[string]string{}
	for k, v := range want {
		if p.Annotations[k] != v {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		return nil
	}
	patch, err := mergePatch(changed)
	if err != nil {
		return err
	}
	_, err = e.o.Kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("annotate pod %s/%s with its usage: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// isRunning is a pod kwok reports usage for: scheduled, running, not
// being deleted.
func isRunning(p *corev1.Pod) bool {
	return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
}

func specReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1 // the API server's default
	}
	return *d.Spec.Replicas
}

// mergePatch is the JSON merge patch that sets annotations.
func mergePatch(annotations map[string]string) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return nil, fmt.Errorf("usage annotations patch: %w", err)
	}
	return b, nil
}
