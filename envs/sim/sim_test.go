package sim

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

func appAndScenario(t testing.TB, appName, scenario string) (*app.App, load.Scenario) {
	t.Helper()
	a, err := LookupApp(appName, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ScenarioFor(a, scenario)
	if err != nil {
		t.Fatal(err)
	}
	return a, sc
}

func newCluster(t testing.TB, appName, scenario string, replicas ...int) *Cluster {
	t.Helper()
	a, sc := appAndScenario(t, appName, scenario)
	c, err := NewCluster(Options{App: a, Scenario: sc, InitialReplicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErlangCMatchesClosedForms(t *testing.T) {
	// M/M/1: P(wait) = rho. M/M/2 at a = 1 Erlang (rho 0.5): 1/3.
	// M/M/3 at a = 2 (rho 2/3): 4/9, from C = (a^c/c!)/(1-rho) / (sum_{k<c} a^k/k! + (a^c/c!)/(1-rho)).
	tests := []struct {
		name string
		c    int
		rho  float64
		want float64
	}{
		{"one server waits with probability rho", 1, 0.7, 0.7},
		{"two servers at half load", 2, 0.5, 1.0 / 3},
		{"three servers at two Erlangs", 3, 2.0 / 3, 4.0 / 9},
		{"no load never waits", 4, 0, 0},
		{"saturated always waits", 2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erlangC(tt.c, tt.rho); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("erlangC(%d, %v) = %v, want %v", tt.c, tt.rho, got, tt.want)
			}
		})
	}
}

func TestSameSeedGivesIdenticalRunAndAnotherSeedDiffers(t *testing.T) {
	run := func(seed uint64) string {
		c := newCluster(t, "onlineboutique", "fluctuating")
		res, err := Run(c, &envs.StaticController{Replicas: []int{2}}, RunOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b, other := run(7), run(7), run(8)
	if a != b {
		t.Errorf("seed 7 gave two different results:\n%s\n%s", a, b)
	}
	if a == other {
		t.Errorf("seeds 7 and 8 gave the same result: %s", a)
	}
}

// Observed ranges of the seed's Online Boutique observations
// (shared/datasets/online_boutique_gym_observation_sim_slypex_d5292f2.csv,
// 1822 rows; derivation in docs/calibration.md): per service the 5th and
// 95th percentile and the min and max of cpu (m), and min/max of rx and tx
// (kB/s). The mean latency of GET /cart ranges over 961.8-1428.1 ms.
var observedOB = map[string]struct {
	cpuP5, cpuP95, cpuMin, cpuMax float64
	rxMin, rxMax, txMin, txMax    float64
}{
	"recommendationservice": {290, 457, 62, 567, 0, 58, 0, 20},
	"productcatalogservice": {282, 369, 95, 404, 5, 50, 8, 128},
	"cartservice":           {165, 380, 12, 744, 0, 16, 0, 18},
	"adservice":             {61, 1649, 30, 4260, 0, 8, 0, 9},
	"paymentservice":        {26, 148, 10, 346, 0, 3, 0, 3},
	"shippingservice":       {52, 161, 24, 190, 0, 8, 0, 5},
	"currencyservice":       {234, 357, 118, 553, 6, 26, 6, 23},
	"redis-cart":            {11, 33, 3, 35, 0, 7, 0, 5},
	"checkoutservice":       {102, 203, 49, 254, 3, 34, 3, 35},
	"frontend":              {392, 405, 138, 415, 39, 130, 129, 500},
	"emailservice":          {21, 181, 14, 247, 0, 2, 0, 1},
}

// TestTwinMatchesSeedObservationsAtReferenceLoad runs the calibration's
// reference point (docs/calibration.md): the seed's peak load, two replicas
// per service, where the frontend saturates at its CPU limit as it does in
// the seed's observations.
func TestTwinMatchesSeedObservationsAtReferenceLoad(t *testing.T) {
	c := newCluster(t, "onlineboutique", "peak", 2)
	n := len(c.app.Services)
	sumCPU := make([]float64, n)
	cartType := -1
	for i, name := range c.RequestTypes() {
		if name == "view_cart" {
			cartType = i
		}
	}
	var cartLat []float64
	steps := 0
	_, err := Run(c, &envs.StaticController{Replicas: []int{2}}, RunOptions{Seed: 3, Record: func(s *Snapshot) {
		if s.Time <= 2*time.Minute { // warm-up: backlogs fill
			return
		}
		steps++
		cartLat = append(cartLat, s.TypeMeanMs[cartType])
		for i, svc := range c.app.Services {
			o := observedOB[svc.Name]
			sumCPU[i] += s.CPUMilli[i]
			if s.CPUMilli[i] < o.cpuMin || s.CPUMilli[i] > o.cpuMax {
				t.Errorf("%v %s cpu %.0fm outside observed [%.0f, %.0f]", s.Time, svc.Name, s.CPUMilli[i], o.cpuMin, o.cpuMax)
			}
			if s.RxKBps[i] < o.rxMin || s.RxKBps[i] > o.rxMax || s.TxKBps[i] < o.txMin || s.TxKBps[i] > o.txMax {
				t.Errorf("%v %s rx %.1f tx %.1f kB/s outside observed rx [%.0f, %.0f] tx [%.0f, %.0f]",
					s.Time, svc.Name, s.RxKBps[i], s.TxKBps[i], o.rxMin, o.rxMax, o.txMin, o.txMax)
			}
			perPod := s.MemMiB[i] / float64(s.Pods[i])
			if perPod <= 0 || perPod > svc.MemLimitMiB {
				t.Errorf("%v %s memory %.0f MiB per pod outside (0, limit %.0f]", s.Time, svc.Name, perPod, svc.MemLimitMiB)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, svc := range c.app.Services {
		o := observedOB[svc.Name]
		if avg := sumCPU[i] / float64(steps); avg < o.cpuP5 || avg > o.cpuP95 {
			t.Errorf("%s mean cpu %.0fm outside the observed 5-95th percentiles [%.0f, %.0f]", svc.Name, avg, o.cpuP5, o.cpuP95)
		}
	}
	var mean float64
	for _, l := range cartLat {
		mean += l / float64(len(cartLat))
	}
	if mean < 961.8 || mean > 1428.1 {
		t.Errorf("mean view_cart latency %.0f ms outside the observed GET /cart range [961.8, 1428.1]", mean)
	}
}

func TestCPUNeverExceedsReplicaLimits(t *testing.T) {
	c := newCluster(t, "onlineboutique", "rushsale", 1)
	_, err := Run(c, &envs.StaticController{Replicas: []int{1}}, RunOptions{Seed: 1, Record: func(s *Snapshot) {
		for i, svc := range c.app.Services {
			if limit := float64(s.Pods[i]) * svc.CPULimitMilli; s.CPUMilli[i] > limit+1e-9 {
				t.Errorf("%v %s cpu %.1fm above %d x limit = %.0fm", s.Time, svc.Name, s.CPUMilli[i], s.Pods[i], limit)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOverloadFailsRequestsAndReplicasRecoverThem(t *testing.T) {
	errorRate := func(replicas int) float64 {
		c := newCluster(t, "onlineboutique", "rushsale", replicas)
		res, err := Run(c, &envs.StaticController{Replicas: []int{replicas}}, RunOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.ErrorRate
	}
	one, eight := errorRate(1), errorRate(8)
	if one < 0.01 {
		t.Errorf("rushsale (800 users) on one replica each failed %.4f of requests; want queue overflow errors", one)
	}
	if eight > 0.001 {
		t.Errorf("rushsale on eight replicas each failed %.4f of requests; want almost none", eight)
	}
}

func TestLatencyFallsAsReplicasGrow(t *testing.T) {
	p95 := func(replicas int) float64 {
		c := newCluster(t, "onlineboutique", "peak", replicas)
		res, err := Run(c, &envs.StaticController{Replicas: []int{replicas}}, RunOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.LatencyP95Ms
	}
	prev := math.Inf(1)
	for _, r := range []int{1, 2, 4, 8} {
		got := p95(r)
		if got >= prev {
			t.Errorf("p95 with %d replicas = %.1f ms, not below the %.1f ms of fewer replicas", r, got, prev)
		}
		prev = got
	}
}

func TestNewReplicasBecomeReadyAfterStartupDelay(t *testing.T) {
	c := newCluster(t, "onlineboutique", "peak")
	c.Reset(1, 0)
	fe := c.app.Index("frontend")
	startup := c.startup[fe] // 10 s for the frontend
	c.SetReplicas(fe, 3)
	if got := c.readyAt(fe, c.Now()); got != 1 {
		t.Fatalf("ready right after scaling to 3 = %d, want the 1 old pod", got)
	}
	if got := c.readyAt(fe, c.Now()+startup-time.Nanosecond); got != 1 {
		t.Errorf("ready just before the %s start-up delay = %d, want 1", startup, got)
	}
	if got := c.readyAt(fe, c.Now()+startup); got != 3 {
		t.Errorf("ready after the start-up delay = %d, want 3", got)
	}
	var view envs.ClusterView
	c.View(&view)
	for _, p := range view.Services[fe].Pods[1:] {
		if p.IsReady || p.HasMetrics {
			t.Errorf("new pod %s ready=%v metrics=%v; want neither", p.Name, p.IsReady, p.HasMetrics)
		}
	}
}

func TestControllersSeeMetricsOneScrapeLate(t *testing.T) {
	c := newCluster(t, "onlineboutique", "rushsale")
	c.Reset(1, 165*time.Second) // one step before the rush starts at 180 s
	c.Step()                    // 165-180 s: base load
	base := c.Latest().CPUMilli[c.app.Index("frontend")]
	c.Step() // 180-195 s: the rush
	if c.Observed().Time != c.Now()-15*time.Second {
		t.Fatalf("observed snapshot at %v, want %v", c.Observed().Time, c.Now()-15*time.Second)
	}
	fe := c.app.Index("frontend")
	if got := c.Observed().CPUMilli[fe]; got != base {
		t.Errorf("observed frontend cpu %.0f, want the previous step's %.0f", got, base)
	}
	if c.Latest().CPUMilli[fe] <= base {
		t.Errorf("true frontend cpu %.0f did not rise above %.0f in the rush", c.Latest().CPUMilli[fe], base)
	}
}

func TestRedisFollowersReplicateEveryWrite(t *testing.T) {
	// Scaling followers adds work (each replica applies every write)
	// without taking load off the leader (seed-spec 7).
	cpu := func(followers int) (leader, follower float64) {
		c := newCluster(t, "redis", "peak", 1, followers)
		res, err := Run(c, &envs.StaticController{Replicas: []int{1, followers}}, RunOptions{Seed: 1, Duration: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res.Services[0].AvgCPUMillicores, res.Services[1].AvgCPUMillicores
	}
	l1, f1 := cpu(1)
	l4, f4 := cpu(4)
	if math.Abs(l4-l1)/l1 > 0.05 {
		t.Errorf("leader cpu %.1f with 1 follower, %.1f with 4: want the same", l1, l4)
	}
	if f4 < 3.5*f1 {
		t.Errorf("follower cpu %.1f with 1 replica, %.1f with 4: want about 4x", f1, f4)
	}
}

func TestSyntheticAppsReachEveryServiceAndStayAcyclic(t *testing.T) {
	for _, n := range []int{2, 11, 100, 1000} {
		a, err := app.Synthetic(uint64(n), app.SyntheticOptions{Services: n})
		if err != nil {
			t.Fatal(err)
		}
		visited := make([]bool, n)
		for _, rt := range a.RequestTypes {
			for _, v := range a.Visits(rt) {
				visited[v.Service] = true
			}
		}
		for i, ok := range visited {
			if !ok {
				t.Errorf("synthetic-%d: service %d is never called", n, i)
			}
		}
		for _, e := range a.Edges() {
			if e.Dst <= e.Src {
				t.Errorf("synthetic-%d: edge %d -> %d points backwards; the call graph must be a DAG", n, e.Src, e.Dst)
			}
		}
		if got := len(a.Edges()); got < n-1 {
			t.Errorf("synthetic-%d has %d edges, want at least the %d of a spanning tree", n, got, n-1)
		}
	}
}

func TestScenarioForUnknownNamesTheChoices(t *testing.T) {
	_, err := ScenarioFor(app.OnlineBoutique(), "pk")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`"pk"`, "peak", "stable_fluctuating"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := LookupApp("boutique", 1); err == nil || !strings.Contains(err.Error(), "onlineboutique") {
		t.Errorf("LookupApp(boutique) error %v does not name the valid apps", err)
	}
}

func TestSlowRequestsTimeOut(t *testing.T) {
	// With room for a long queue, overload shows up as latency until the
	// client's 30 s timeout fails requests, instead of as rejected calls.
	a, sc := appAndScenario(t, "onlineboutique", "rushsale")
	a.Services[a.Index("frontend")].Twin.QueuePerReplica = 1e7
	c, err := NewCluster(Options{App: a, Scenario: sc})
	if err != nil {
		t.Fatal(err)
	}
	var worst Snapshot
	_, err = Run(c, &envs.StaticController{Replicas: []int{1}}, RunOptions{Seed: 1, Record: func(s *Snapshot) {
		if s.ErrorRate > worst.ErrorRate {
			worst = *s
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	fe := a.Index("frontend")
	if worst.ErrorRate < 0.01 || worst.DropRate[fe] != 0 {
		t.Errorf("worst step failed %.4f of requests with %.4f of frontend calls rejected; want timeouts, no rejections", worst.ErrorRate, worst.DropRate[fe])
	}
}

func TestEdgeMetricsFollowTheCallGraph(t *testing.T) {
	c := newCluster(t, "onlineboutique", "peak", 4)
	c.Reset(1, 0)
	c.Step()
	s := c.Latest()
	got := c.EdgeMetrics(s, nil)
	if len(got) != 15 {
		t.Fatalf("%d edges, want 15", len(got))
	}
	// Calls into a service over all its in-edges add up to its incoming rate.
	in := make([]float64, len(c.app.Services))
	for _, e := range got {
		in[e.Dst] += e.RPS
		if e.SuccessRate < 0 || e.SuccessRate > 1 || e.LatencyP95 < e.LatencyP50 || e.LatencyP50 <= 0 {
			t.Errorf("edge %d->%d: success %v p50 %v p95 %v", e.Src, e.Dst, e.SuccessRate, e.LatencyP50, e.LatencyP95)
		}
	}
	for i, svc := range c.app.Services {
		if svc.Name == "frontend" {
			continue // users call it, not a service
		}
		if math.Abs(in[i]-s.RPS[i]) > 1e-6*s.RPS[i] {
			t.Errorf("%s: edges carry %.2f calls/s, the service receives %.2f", svc.Name, in[i], s.RPS[i])
		}
	}
}
