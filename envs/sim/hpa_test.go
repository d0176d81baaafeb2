package sim

import (
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs/hpa"
)

func newHPA(t *testing.T, preset string) *hpa.Controller {
	t.Helper()
	cfg, err := hpa.ParsePreset(preset, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hpa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// frontendReplicas runs a scenario under an HPA and returns the frontend's
// spec.replicas after every step, with the step's end time.
func frontendReplicas(t *testing.T, scenario, preset string) (times []time.Duration, replicas []int) {
	t.Helper()
	c := newCluster(t, "onlineboutique", scenario)
	fe := c.app.Index("frontend")
	_, err := Run(c, newHPA(t, preset), RunOptions{Seed: 1, Record: func(s *Snapshot) {
		times = append(times, s.Time)
		replicas = append(replicas, s.Replicas[fe])
	}})
	if err != nil {
		t.Fatal(err)
	}
	return times, replicas
}

func TestHPAScalesFrontendUpWithinTwoSyncPeriodsOfPeakLoad(t *testing.T) {
	// Peak load reaches the frontend from the first second. The HPA syncs
	// every 15 s and sees metrics up to 30 s old (a 15 s metrics-server
	// scrape on top of the 15 s window, anchors.md 2.11): the sync at 15 s
	// still sees the idle window before the load, the sync at 30 s sees it.
	// A step's replicas are those its starting sync set.
	times, replicas := frontendReplicas(t, "peak", "cpu-50")
	for k, r := range replicas {
		if r > 1 {
			if decided := times[k] - 15*time.Second; decided > 30*time.Second {
				t.Errorf("frontend first scaled above 1 replica at the sync at %v; want within two sync periods (30 s) of the load", decided)
			}
			return
		}
	}
	t.Fatalf("frontend never scaled above 1 replica under peak load: %v", replicas)
}

func TestHPAScalesDownNoSoonerThanTheStabilisationWindow(t *testing.T) {
	// rushsale drops from 800 to 100 users at 480 s. The default scale-down
	// stabilisation window is 300 s: the HPA uses the highest
	// recommendation of the last 300 s, so replicas must hold until
	// 480 s + 300 s.
	drop := 480 * time.Second
	times, replicas := frontendReplicas(t, "rushsale", "cpu-50")
	before := -1
	for k, at := range times {
		if at <= drop {
			before = replicas[k]
			continue
		}
		if replicas[k] < before && replicas[k] < replicas[k-1] {
			if at-15*time.Second < drop+300*time.Second {
				t.Errorf("frontend scaled down from %d to %d in the step ending at %v, %v after the load dropped; want no sooner than the 300 s window",
					replicas[k-1], replicas[k], at, at-15*time.Second-drop)
			}
			return
		}
	}
	t.Fatalf("frontend never scaled down after the rush (replicas %v)", replicas)
}

func TestHPAReachesTheSameCostForTheSameSeed(t *testing.T) {
	run := func() Result {
		c := newCluster(t, "onlineboutique", "fluctuating")
		res, err := Run(c, newHPA(t, "cpu-40-mem-80"), RunOptions{Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(), run()
	if a.CostReplicaSeconds != b.CostReplicaSeconds || a.ScalingActions != b.ScalingActions || a.ScalingActions == 0 {
		t.Errorf("cost %v/%v actions %d/%d", a.CostReplicaSeconds, b.CostReplicaSeconds, a.ScalingActions, b.ScalingActions)
	}
}
