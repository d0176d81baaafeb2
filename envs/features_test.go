package envs

import (
	"math"
	"testing"
)

func TestFillServiceWritesFlatAndNormalisedNodeFeatures(t *testing.T) {
	obs := Observation{Flat: make([]float64, 2*FlatPerService), Nodes: make([]float64, 2*len(NodeFeatureNames))}
	// Service 1 of 2: 2 replicas, 1 ready, 300m CPU over 2 pods of 100m
	// requests (150 %), 96 MiB over 2 pods of 64 MiB (75 %).
	s := ServiceSample{
		Replicas: 2, Ready: 1, MetricPods: 2,
		CPUMilli: 300, MemMiB: 96, RxKBps: 5, TxKBps: 7,
		RPS: 99, LatencyP95Ms: 100, ErrorRate: 0.25,
		CPURequestMilli: 100, MemRequestMiB: 64, MinReplicas: 1, MaxReplicas: 8,
	}
	d := FillService(&obs, 1, &s)
	// gym-hpa: ceil(0.7*ceil(300/75) + 0.3*ceil(96/48)) = ceil(2.8+0.6) = 4.
	if d != 4 {
		t.Fatalf("desired %d, want 4", d)
	}
	wantFlat := []float64{2, 4, 300, 96, 5, 7}
	for k, w := range wantFlat {
		if got := obs.Flat[FlatPerService+k]; got != w {
			t.Errorf("flat[%d] = %v, want %v", k, got, w)
		}
	}
	for k := 0; k < FlatPerService; k++ {
		if obs.Flat[k] != 0 {
			t.Errorf("service 0 flat[%d] written", k)
		}
	}
	nf := len(NodeFeatureNames)
	want := []float64{2.0 / 8, 0.5, 1.5 / 4, 0.75 / 4, math.Log1p(99) / math.Log1p(10000), 0.5, 0.25, 2.0 / 8}
	for k, w := range want {
		if got := obs.Nodes[nf+k]; math.Abs(got-w) > 1e-12 {
			t.Errorf("%s = %v, want %v", NodeFeatureNames[k], got, w)
		}
	}
}

func TestFillServiceWithoutMetricsHasZeroUtilisation(t *testing.T) {
	obs := Observation{Flat: make([]float64, FlatPerService), Nodes: make([]float64, len(NodeFeatureNames))}
	s := ServiceSample{Replicas: 0, CPUMilli: 50, CPURequestMilli: 100, MemRequestMiB: 64, MinReplicas: 1, MaxReplicas: 4}
	FillService(&obs, 0, &s)
	if obs.Nodes[1] != 0 || obs.Nodes[2] != 0 || obs.Nodes[3] != 0 {
		t.Errorf("ready and utilisation features %v, want zeros without replicas or metric pods", obs.Nodes[1:4])
	}
}
