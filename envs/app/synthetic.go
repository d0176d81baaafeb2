package app

import (
	"fmt"
	"math/rand/v2"
)

// SyntheticOptions shape a generated app.
type SyntheticOptions struct {
	// Services is the number of services, at least 2.
	Services int
	// ExtraEdgeProb is the chance that a service also calls a later service
	// outside its subtree, turning the call tree into a DAG (default 0.3).
	ExtraEdgeProb float64
	// RequestTypes is the number of request types (default 6, as Online
	// Boutique). It stays fixed as the app grows so that a step's cost grows
	// with the edges, not with types x services.
	RequestTypes int
	// NominalRPS is the request rate at which every service runs at 20-90 %
	// of one replica's CPU limit (default 100, the seed's offpeak level).
	NominalRPS float64
}

// Synthetic generates an app with a random call DAG: service 0 is the
// entry ("gateway"), every other service is called by a random earlier one
// (a random recursive tree, so depth grows like log n), and some services
// also call a later one. Each request type covers the services assigned to
// it plus the calls leading to them, so every service is reached and a
// request visits about n/types services. Service demands are set so that at
// NominalRPS each service uses 20-90 % of one replica's CPU limit, whatever
// n is, which keeps the app schedulable by an autoscaler at any size.
func Synthetic(seed uint64, opts SyntheticOptions) (*App, error) {
	n := opts.Services
	if n < 2 {
		return nil, fmt.Errorf("synthetic app: services must be at least 2, got %d", n)
	}
	if opts.ExtraEdgeProb == 0 {
		opts.ExtraEdgeProb = 0.3
	}
	if opts.RequestTypes == 0 {
		opts.RequestTypes = 6
	}
	if opts.NominalRPS == 0 {
		opts.NominalRPS = 100
	}
	if opts.ExtraEdgeProb < 0 || opts.ExtraEdgeProb > 1 || opts.RequestTypes < 1 || opts.NominalRPS < 0 {
		return nil, fmt.Errorf("synthetic app: extra edge probability %.2f must be in [0,1], request types %d at least 1", opts.ExtraEdgeProb, opts.RequestTypes)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed5a7))
	parent := make([]int, n)
	children := make([][]int, n)
	parent[0] = -1
	for i := 1; i < n; i++ {
		parent[i] = rng.IntN(i)
		children[parent[i]] = append(children[parent[i]], i)
	}
	// Extra DAG edges point from i to a later service, so no cycle can form.
	extra := make([][]int, n)
	for i := 0; i < n-1; i++ {
		if rng.Float64() < opts.ExtraEdgeProb {
			j := i + 1 + rng.IntN(n-i-1)
			if parent[j] != i {
				extra[i] = append(extra[i], j)
			}
		}
	}
	// Each service belongs to one request type; a type includes its
	// services and their ancestors.
	k := opts.RequestTypes
	in := make([][]bool, k)
	for t := range in {
		in[t] = make([]bool, n)
		in[t][0] = true
	}
	for i := 1; i < n; i++ {
		t := rng.IntN(k)
		for j := i; j >= 0 && !in[t][j]; j = parent[j] {
			in[t][j] = true
		}
	}
	a := &App{
		Name:                  fmt.Sprintf("synthetic-%d", n),
		Namespace:             fmt.Sprintf("synthetic-%d", n),
		LatencyCapMs:          3000,
		RequestTimeoutSeconds: 30,
	}
	for i := 0; i < n; i++ {
		a.Services = append(a.Services, Service{
			Name:            fmt.Sprintf("svc-%04d", i),
			Container:       "server",
			Image:           "registry.k8s.io/e2e-test-images/agnhost:2.52",
			Port:            8080,
			CPURequestMilli: 100,
			CPULimitMilli:   200,
			MemRequestMiB:   64,
			MemLimitMiB:     128,
			MinReplicas:     DefaultMinReplicas,
			MaxReplicas:     DefaultMaxReplicas,
			Twin: TwinParams{
				BaseLatencyMs:     0.5 + rng.Float64(),
				IdleCPUMilli:      2,
				MemBaseMiB:        10 + 30*rng.Float64(),
				MemPerInflightMiB: 0.1,
				RxKBPerCall:       0.01 + 0.1*rng.Float64(),
				TxKBPerCall:       0.01 + 0.1*rng.Float64(),
				StartupSeconds:    5 + 20*rng.Float64(),
				QueuePerReplica:   200,
			},
		})
	}
	var build func(t, s int) Call
	build = func(t, s int) Call {
		c := Call{Service: a.Services[s].Name, Count: 1}
		for _, ch := range children[s] {
			if in[t][ch] {
				c.Calls = append(c.Calls, build(t, ch))
			}
		}
		for _, j := range extra[s] {
			// An extra edge is a leaf call, so request trees stay small.
			if in[t][j] {
				c.Calls = append(c.Calls, Call{Service: a.Services[j].Name, Count: 1})
			}
		}
		return c
	}
	for t := 0; t < k; t++ {
		a.RequestTypes = append(a.RequestTypes, RequestType{
			Name:   fmt.Sprintf("type%d", t),
			Method: "GET",
			Path:   fmt.Sprintf("/type%d", t),
			Entry:  build(t, 0),
		})
	}
	// Demands: with equal weights, service s sees NominalRPS x V_s calls/s,
	// where V_s is its mean calls per request over the types.
	perRequest := make([]float64, n)
	for _, rt := range a.RequestTypes {
		for _, v := range a.Visits(rt) {
			perRequest[v.Service] += (v.Sync + v.Async + v.Broadcast) / float64(k)
		}
	}
	for i := range a.Services {
		s := &a.Services[i]
		util := 0.2 + 0.7*rng.Float64()
		s.Twin.CPUPerCallMs = util * s.CPULimitMilli / (opts.NominalRPS * perRequest[i])
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("synthetic app: %w", err)
	}
	return a, nil
}
