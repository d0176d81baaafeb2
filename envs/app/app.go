// Package app declares the microservice apps grlscaler autoscales (Online
// Boutique and a Redis leader/follower cluster) as data: their deployments
// with requests and limits, their request types and the service calls each
// makes, and the digital twin's per-service parameters. It also generates
// synthetic apps with random call DAGs for scale benchmarks and policy
// transfer tests.
package app

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// App is one microservice application.
type App struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// LatencyCapMs is the seed's latency-goal cap and penalty (seed-spec 1.6).
	LatencyCapMs float64 `json:"latencyCapMs"`
	// RequestTimeoutSeconds is the client's timeout; requests slower than
	// this fail.
	RequestTimeoutSeconds float64       `json:"requestTimeoutSeconds"`
	Services              []Service     `json:"services"`
	RequestTypes          []RequestType `json:"requestTypes"`
}

// Service is one scalable deployment.
type Service struct {
	Name      string `json:"name"`
	Container string `json:"container"`
	Image     string `json:"image"`
	Port      int    `json:"port"`
	// Requests and limits of the app container (seed-spec 1.1).
	CPURequestMilli float64 `json:"cpuRequestMilli"`
	CPULimitMilli   float64 `json:"cpuLimitMilli"`
	MemRequestMiB   float64 `json:"memRequestMiB"`
	MemLimitMiB     float64 `json:"memLimitMiB"`
	// MinReplicas and MaxReplicas bound the agent's actions; zero takes the
	// app-wide defaults (1 and 8, gym-hpa's bounds).
	MinReplicas int        `json:"minReplicas,omitempty"`
	MaxReplicas int        `json:"maxReplicas,omitempty"`
	Twin        TwinParams `json:"twin"`
}

// TwinParams are the digital twin's per-service constants (docs/calibration.md).
type TwinParams struct {
	// CPUPerCallMs is CPU time per call in core-milliseconds: one call per
	// second costs this many millicores.
	CPUPerCallMs float64 `json:"cpuPerCallMs"`
	// BaseLatencyMs is the non-CPU time of a call: network, proxy, I/O.
	BaseLatencyMs float64 `json:"baseLatencyMs"`
	// IdleCPUMilli is a ready pod's CPU use without load.
	IdleCPUMilli float64 `json:"idleCPUMilli"`
	// MemBaseMiB is a pod's working set without load; MemPerInflightMiB is
	// added per request in flight (Little's law: rate x sojourn time).
	MemBaseMiB        float64 `json:"memBaseMiB"`
	MemPerInflightMiB float64 `json:"memPerInflightMiB"`
	// RxKBPerCall and TxKBPerCall are bytes received and sent per call, in kB.
	RxKBPerCall float64 `json:"rxKBPerCall"`
	TxKBPerCall float64 `json:"txKBPerCall"`
	// StartupSeconds is the time from pod creation to Ready.
	StartupSeconds float64 `json:"startupSeconds"`
	// QueuePerReplica is how many requests a replica holds queued before it
	// rejects more (the overflow becomes errors).
	QueuePerReplica float64 `json:"queuePerReplica"`
}

// Call is one service call in a request type's call tree. Calls of a node
// are made one after another, so their latencies add up.
type Call struct {
	Service string `json:"service"`
	// Count is calls per call of the parent (default 1); it may be fractional
	// for calls made only by some requests.
	Count float64 `json:"count,omitempty"`
	// Async calls cost the callee work but add nothing to the caller's
	// latency (e.g. Redis replication).
	Async bool `json:"async,omitempty"`
	// Broadcast calls reach every replica of the callee, not one of them
	// (e.g. a write replicated to each follower).
	Broadcast bool   `json:"broadcast,omitempty"`
	Calls     []Call `json:"calls,omitempty"`
}

// RequestType is one kind of user request, e.g. Online Boutique's home page.
type RequestType struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path,omitempty"`
	Entry  Call   `json:"entry"`
}

// Default replica bounds: gym-hpa's (seed-spec 1.2).
const (
	DefaultMinReplicas = 1
	DefaultMaxReplicas = 8
)

var (
	//go:embed onlineboutique.yaml
	onlineBoutiqueYAML []byte
	//go:embed redis.yaml
	redisYAML []byte
)

// Names lists the built-in apps.
func Names() []string { return []string{"onlineboutique", "redis"} }

// Lookup returns a fresh copy of a built-in app, or an error naming the valid choices.
func Lookup(name string) (*App, error) {
	switch name {
	case "onlineboutique":
		return Parse("onlineboutique.yaml", onlineBoutiqueYAML)
	case "redis":
		return Parse("redis.yaml", redisYAML)
	}
	return nil, fmt.Errorf("unknown app %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// OnlineBoutique returns the built-in Online Boutique declaration.
func OnlineBoutique() *App { return mustLookup("onlineboutique") }

// Redis returns the built-in Redis leader/follower declaration.
func Redis() *App { return mustLookup("redis") }

func mustLookup(name string) *App {
	a, err := Lookup(name)
	if err != nil {
		// The declarations are embedded and covered by tests; failing here
		// is a build defect, not an input error.
		panic(err)
	}
	return a
}

// Parse reads an app declaration strictly: unknown fields are errors that
// name the file, and so are inconsistent declarations.
func Parse(file string, data []byte) (*App, error) {
	var a App
	if err := yaml.UnmarshalStrict(data, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	a.applyDefaults()
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &a, nil
}

func (a *App) applyDefaults() {
	for i := range a.Services {
		s := &a.Services[i]
		if s.MinReplicas == 0 {
			s.MinReplicas = DefaultMinReplicas
		}
		if s.MaxReplicas == 0 {
			s.MaxReplicas = DefaultMaxReplicas
		}
	}
	for i := range a.RequestTypes {
		defaultCounts(&a.RequestTypes[i].Entry)
	}
}

func defaultCounts(c *Call) {
	if c.Count == 0 {
		c.Count = 1
	}
	for i := range c.Calls {
		defaultCounts(&c.Calls[i])
	}
}

// Validate checks the declaration and names the offending field.
func (a *App) Validate() error {
	var errs []error
	if a.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if len(a.Services) == 0 {
		errs = append(errs, errors.New("services: must not be empty"))
	}
	if a.RequestTimeoutSeconds <= 0 {
		errs = append(errs, errors.New("requestTimeoutSeconds: must be positive"))
	}
	seen := map[string]bool{}
	for i, s := range a.Services {
		p := fmt.Sprintf("services[%d]", i)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", p))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: duplicate service %q", p, s.Name))
		}
		seen[s.Name] = true
		if s.CPURequestMilli <= 0 || s.CPULimitMilli < s.CPURequestMilli {
			errs = append(errs, fmt.Errorf("%s: cpu request %.0fm and limit %.0fm must satisfy 0 < request <= limit", p, s.CPURequestMilli, s.CPULimitMilli))
		}
		if s.MemRequestMiB <= 0 || s.MemLimitMiB < s.MemRequestMiB {
			errs = append(errs, fmt.Errorf("%s: memory request %.0fMi and limit %.0fMi must satisfy 0 < request <= limit", p, s.MemRequestMiB, s.MemLimitMiB))
		}
		if s.MinReplicas < 1 || s.MaxReplicas < s.MinReplicas {
			errs = append(errs, fmt.Errorf("%s: replicas min %d and max %d must satisfy 1 <= min <= max", p, s.MinReplicas, s.MaxReplicas))
		}
		t := s.Twin
		if t.CPUPerCallMs <= 0 || t.QueuePerReplica <= 0 || t.BaseLatencyMs < 0 || t.StartupSeconds < 0 ||
			t.IdleCPUMilli < 0 || t.MemBaseMiB < 0 || t.MemPerInflightMiB < 0 || t.RxKBPerCall < 0 || t.TxKBPerCall < 0 {
			errs = append(errs, fmt.Errorf("%s.twin: cpuPerCallMs and queuePerReplica must be positive, the rest non-negative", p))
		}
	}
	if len(a.RequestTypes) == 0 {
		errs = append(errs, errors.New("requestTypes: must not be empty"))
	}
	names := map[string]bool{}
	for i, rt := range a.RequestTypes {
		p := fmt.Sprintf("requestTypes[%d]", i)
		if rt.Name == "" || names[rt.Name] {
			errs = append(errs, fmt.Errorf("%s.name: empty or duplicate %q", p, rt.Name))
		}
		names[rt.Name] = true
		errs = append(errs, a.validateCall(p+".entry", rt.Entry, "")...)
	}
	return errors.Join(errs...)
}

func (a *App) validateCall(path string, c Call, parent string) []error {
	var errs []error
	if a.Index(c.Service) < 0 {
		errs = append(errs, fmt.Errorf("%s.service: unknown service %q", path, c.Service))
	}
	if c.Service == parent {
		errs = append(errs, fmt.Errorf("%s.service: %q calls itself", path, c.Service))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("%s.count: must not be negative", path))
	}
	for i, ch := range c.Calls {
		errs = append(errs, a.validateCall(fmt.Sprintf("%s.calls[%d]", path, i), ch, c.Service)...)
	}
	return errs
}

// Index returns the canonical index of a service, or -1.
func (a *App) Index(service string) int {
	return slices.IndexFunc(a.Services, func(s Service) bool { return s.Name == service })
}

// ServiceNames returns the services in canonical order.
func (a *App) ServiceNames() []string {
	out := make([]string, len(a.Services))
	for i, s := range a.Services {
		out[i] = s.Name
	}
	return out
}

// RequestTypeIndex returns the index of a request type, or -1.
func (a *App) RequestTypeIndex(name string) int {
	return slices.IndexFunc(a.RequestTypes, func(r RequestType) bool { return r.Name == name })
}

// Edge is a directed caller -> callee pair in canonical indices.
type Edge struct{ Src, Dst int }

// Edges returns the app's static call graph: every caller -> callee pair
// that some request type uses, sorted, without duplicates.
func (a *App) Edges() []Edge {
	set := map[Edge]bool{}
	var walk func(c Call)
	walk = func(c Call) {
		for _, ch := range c.Calls {
			set[Edge{a.Index(c.Service), a.Index(ch.Service)}] = true
			walk(ch)
		}
	}
	for _, rt := range a.RequestTypes {
		walk(rt.Entry)
	}
	out := make([]Edge, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y Edge) int {
		if x.Src != y.Src {
			return x.Src - y.Src
		}
		return x.Dst - y.Dst
	})
	return out
}

// Visit is a service's expected calls per request of one type.
type Visit struct {
	Service int
	// Sync is calls whose latency the user waits for; Async calls only cost
	// work. Broadcast calls reach every replica.
	Sync, Async, Broadcast float64
}

// EdgeVisit is an edge's expected calls per request of one type.
type EdgeVisit struct {
	Edge  int // index into Edges()
	Calls float64
}

// Visits returns, for one request type, the expected calls per request on
// each service it touches, in canonical order.
func (a *App) Visits(rt RequestType) []Visit {
	acc := make([]Visit, len(a.Services))
	var walk func(c Call, mult float64, async, broadcast bool)
	walk = func(c Call, mult float64, async, broadcast bool) {
		m := mult * c.Count
		async = async || c.Async
		broadcast = broadcast || c.Broadcast
		v := &acc[a.Index(c.Service)]
		switch {
		case broadcast:
			v.Broadcast += m
		case async:
			v.Async += m
		default:
			v.Sync += m
		}
		for _, ch := range c.Calls {
			walk(ch, m, async, broadcast)
		}
	}
	walk(rt.Entry, 1, false, false)
	var out []Visit
	for i, v := range acc {
		if v.Sync+v.Async+v.Broadcast > 0 {
			v.Service = i
			out = append(out, v)
		}
	}
	return out
}

// EdgeVisits returns, for one request type, the expected calls per request
// on each edge of Edges() it uses.
func (a *App) EdgeVisits(rt RequestType, edges []Edge) []EdgeVisit {
	index := make(map[Edge]int, len(edges))
	for i, e := range edges {
		index[e] = i
	}
	acc := map[int]float64{}
	var walk func(c Call, mult float64)
	walk = func(c Call, mult float64) {
		m := mult * c.Count
		for _, ch := range c.Calls {
			acc[index[Edge{a.Index(c.Service), a.Index(ch.Service)}]] += m * ch.Count
			walk(ch, m)
		}
	}
	walk(rt.Entry, 1)
	out := make([]EdgeVisit, 0, len(acc))
	for e, n := range acc {
		out = append(out, EdgeVisit{Edge: e, Calls: n})
	}
	slices.SortFunc(out, func(x, y EdgeVisit) int { return x.Edge - y.Edge })
	return out
}
