package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/workflows/api"
)

func evaluate(t *testing.T, e *env, in api.EvaluateRunInput) api.EvaluateRunResult {
	t.Helper()
	v, err := e.ExecuteActivity(api.EvaluateRunActivityName, in)
	if err != nil {
		t.Fatalf("evaluate %s: %v", in.Controller.Name, err)
	}
	var res api.EvaluateRunResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// Under the peak scenario the HPA at 50 % CPU must scale up, paying with
// replicas for fewer SLO violations than one static replica per service.
func TestHPAScalesUpAndViolatesTheSLOLessThanOneStaticReplica(t *testing.T) {
	spec := testSpec(t)
	spec.Spec.Load.Duration = api.Duration(10 * time.Minute)
	e := newEnv(t)
	hpaCtrl := api.Controller{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50", MinReplicas: 1, MaxReplicas: 8}
	static := api.Controller{Name: "static-1", Type: api.ControllerStatic, Replicas: 1}
	for _, seed := range []uint64{3, 4} {
		h := evaluate(t, e, api.EvaluateRunInput{ExperimentID: testID, Spec: spec, Controller: hpaCtrl, Scenario: "peak", Seed: seed})
		s := evaluate(t, e, api.EvaluateRunInput{ExperimentID: testID, Spec: spec, Controller: static, Scenario: "peak", Seed: seed})
		if !h.Valid || !s.Valid {
			t.Fatalf("seed %d: runs invalid: hpa %q, static %q", seed, h.InvalidReason, s.InvalidReason)
		}
		if h.Metrics.ReplicasMean <= s.Metrics.ReplicasMean || h.Metrics.CostReplicaSeconds <= s.Metrics.CostReplicaSeconds {
			t.Errorf("seed %d: HPA mean replicas %.2f (cost %.0f) not above static's %.2f (cost %.0f)", seed,
				h.Metrics.ReplicasMean, h.Metrics.CostReplicaSeconds, s.Metrics.ReplicasMean, s.Metrics.CostReplicaSeconds)
		}
		if h.Metrics.SLOViolationRate >= s.Metrics.SLOViolationRate {
			t.Errorf("seed %d: HPA SLO violation rate %.3f not below static's %.3f", seed, h.Metrics.SLOViolationRate, s.Metrics.SLOViolationRate)
		}
		if h.Metrics.ScalingActions == 0 {
			t.Errorf("seed %d: the HPA never scaled", seed)
		}
	}
}

// blindView hides every pod's metrics from the controller, as a cluster
// whose metrics-server is down does.
type blindView struct{ envs.Controller }

func (b blindView) Decide(view *envs.ClusterView, desired []int) {
	blind := envs.ClusterView{Now: view.Now, Services: make([]envs.ServiceView, len(view.Services))}
	for i, svc := range view.Services {
		svc.Pods = append([]envs.PodMetrics(nil), svc.Pods...)
		for j := range svc.Pods {
			svc.Pods[j].HasMetrics = false
		}
		blind.Services[i] = svc
	}
	b.Controller.Decide(&blind, desired)
}

func TestDeadHPAIsInvalid(t *testing.T) {
	spec := testSpec(t)
	opts, err := simOptions(&spec, "peak")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		blind   bool
		preset  string
		valid   bool
		message string
	}{
		{name: "live HPA is valid", preset: "cpu-50", valid: true},
		{name: "missing metrics make it invalid", blind: true, preset: "cpu-50", message: "had no usable metric for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sim.NewCluster(opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := hpa.ParsePreset(tc.preset, 1, 8)
			if err != nil {
				t.Fatal(err)
			}
			h, err := hpa.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			w := newHPAWatch(h)
			var ctrl envs.Controller = w
			if tc.blind {
				ctrl = blindView{w}
			}
			if _, err := sim.Run(c, ctrl, sim.RunOptions{Seed: 1, Duration: 5 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			valid, why := w.verdict(c.App().ServiceNames())
			if valid != tc.valid || !strings.Contains(why, tc.message) {
				t.Fatalf("verdict %v %q, want %v containing %q", valid, why, tc.valid, tc.message)
			}
		})
	}
}

func TestRecoveryTime(t *testing.T) {
	times := []float64{15, 30, 45, 60, 75, 90, 105, 120}
	for _, tc := range []struct {
		name      string
		p95       []float64
		increases []float64
		want      float64
	}{
		{"never above the SLO", []float64{1, 1, 1, 1, 1, 1, 1, 1}, []float64{0}, 0},
		{"recovers after two slow steps", []float64{9, 9, 1, 1, 1, 1, 1, 1}, []float64{0}, 30},
		{"a short dip does not count", []float64{9, 1, 1, 9, 1, 1, 1, 1}, []float64{0}, 60},
		{"never recovers: censored at the end", []float64{9, 9, 9, 9, 9, 9, 1, 1}, []float64{0}, 120},
		{"mean over two increases", []float64{9, 1, 1, 1, 9, 9, 1, 1}, []float64{0, 60}, (15 + 60) / 2.0},
		{"no increases", []float64{9, 9, 9, 9, 9, 9, 9, 9}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := recoveryTime(times, tc.p95, 5, tc.increases); got != tc.want {
				t.Fatalf("recovery time %v, want %v", got, tc.want)
			}
		})
	}
}
