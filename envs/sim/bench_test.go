package sim

import (
	"testing"

	"github.com/grlscaler/grlscaler/envs"
)

// BenchmarkStep measures one environment step (apply an action, advance
// the twin 15 simulated seconds, observe, reward). Target: at least
// 100,000 Online Boutique steps per second on one core, and a cost per
// step that grows no faster than linearly in the call graph's edges; the
// ns/edge metric makes that comparable across sizes.
func BenchmarkStep(b *testing.B) {
	for _, name := range []string{"onlineboutique", "redis", "synthetic-100", "synthetic-1000"} {
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, name, "fluctuating", envs.GoalSLO)
			if _, err := e.Reset(1); err != nil {
				b.Fatal(err)
			}
			n := len(e.Spec().Services)
			edges := len(e.Cluster().Edges())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				res, err := e.Step(envs.Action{Deployment: i % n, Move: i % envs.NumMoves})
				if err != nil {
					b.Fatal(err)
				}
				if res.Done {
					if _, err := e.Reset(uint64(i)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(edges+n), "ns/(edge+service)")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// BenchmarkRunScenario measures a whole 15-minute scenario under a static
// controller, as grlctl sim runs it.
func BenchmarkRunScenario(b *testing.B) {
	c := newCluster(b, "onlineboutique", "peak")
	ctrl := &envs.StaticController{Replicas: []int{2}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(c, ctrl, RunOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
