package hpa

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
)

// Sources cited below:
//   [doc]  kubernetes/website content/en/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale.md
//   [rc]   kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator.go
//   [hc]   kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go
//   [def]  kubernetes/kubernetes pkg/apis/autoscaling/v2/defaults.go
//   [seed] /work/shared/design/seed-spec.md §5.1

const calcNow = time.Hour

// steadyPod has been ready for far longer than the CPU initialisation period
// and has a fresh sample, so groupPods counts it for every resource.
func steadyPod(name string, now time.Duration, cpuMilli, memMiB float64) envs.PodMetrics {
	return envs.PodMetrics{
		Name:    name,
		Created: now - 10*time.Minute, Ready: now - 10*time.Minute + 5*time.Second, IsReady: true,
		HasMetrics: true, SampleTime: now - time.Second,
		CPUMilli: cpuMilli, MemMiB: memMiB,
	}
}

// cpuPods returns n steady pods each using cpuMilli.
func cpuPods(n int, cpuMilli float64) []envs.PodMetrics {
	pods := make([]envs.PodMetrics, n)
	for i := range pods {
		pods[i] = steadyPod(fmt.Sprintf("p%d", i), calcNow, cpuMilli, 0)
	}
	return pods
}

func missingPod(name string) envs.PodMetrics {
	p := steadyPod(name, calcNow, 0, 0)
	p.HasMetrics = false
	return p
}

// startingPod was created 10s ago and is not ready yet, but metrics-server
// already has a sample for it.
func startingPod(name string, cpuMilli, memMiB float64) envs.PodMetrics {
	return envs.PodMetrics{
		Name: name, Created: calcNow - 10*time.Second,
		HasMetrics: true, SampleTime: calcNow - time.Second,
		CPUMilli: cpuMilli, MemMiB: memMiB,
	}
}

func join(groups ...[]envs.PodMetrics) []envs.PodMetrics {
	var out []envs.PodMetrics
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func defaultCalculator() replicaCalculator {
	return replicaCalculator{
		cpuInitializationPeriod:       DefaultCPUInitializationPeriod,
		delayOfInitialReadinessStatus: DefaultInitialReadinessDelay,
		metricWindow:                  DefaultMetricWindow,
	}
}

var defaultTolerances = tolerances{scaleDown: DefaultTolerance, scaleUp: DefaultTolerance}

// TestResourceReplicas checks GetResourceReplicas rule by rule; every case
// names its source.
func TestResourceReplicas(t *testing.T) {
	recentlyReady := steadyPod("recent", calcNow, 1000, 0)
	recentlyReady.Created = calcNow - 40*time.Second
	recentlyReady.Ready = calcNow - 10*time.Second // sample at now-1s < Ready + 15s window

	neverReady := steadyPod("never", calcNow, 1000, 0)
	neverReady.Ready, neverReady.IsReady = 0, false
	wentUnready := steadyPod("flaky", calcNow, 1000, 0)
	wentUnready.Ready = wentUnready.Created + time.Minute // after the 30s delay
	wentUnready.IsReady = false

	cases := []struct {
		name, source string
		isCPU        bool
		target       int32
		cpuRequest   float64 // millicores
		memRequest   float64 // MiB
		pods         []envs.PodMetrics
		current      int32
		want         int32
		wantUtil     int32
		wantFail     metricFailure
	}{
		{
			name: "current 200m vs target 100m doubles the replicas", source: "[doc] Algorithm details",
			isCPU: true, target: 100, cpuRequest: 100, pods: cpuPods(3, 200), current: 3, want: 6, wantUtil: 200,
		},
		{
			name: "current 50m vs target 100m halves the replicas", source: "[doc] Algorithm details",
			isCPU: true, target: 100, cpuRequest: 100, pods: cpuPods(4, 50), current: 4, want: 2, wantUtil: 50,
		},
		{
			name: "ratio 1.1 is within the 0.1 tolerance", source: "[rc] Tolerances.isWithin, inclusive bounds",
			isCPU: true, target: 50, cpuRequest: 1000, pods: cpuPods(4, 550), current: 4, want: 4, wantUtil: 55,
		},
		{
			name: "ratio 0.9 is within the 0.1 tolerance", source: "[rc] Tolerances.isWithin, inclusive bounds",
			isCPU: true, target: 50, cpuRequest: 1000, pods: cpuPods(4, 450), current: 4, want: 4, wantUtil: 45,
		},
		{
			name: "ratio 1.12 is outside the tolerance", source: "[rc] GetResourceReplicas: ceil(usageRatio*readyPodCount)",
			isCPU: true, target: 50, cpuRequest: 1000, pods: cpuPods(4, 560), current: 4, want: 5, wantUtil: 56,
		},
		{
			name: "utilisation is truncated to a whole percent before the ratio", source: "[rc] metrics.GetResourceUtilizationRatio int32((metricsTotal*100)/requestsTotal)",
			// 55.9% would be a ratio of 1.118 and scale to 2; 55% is 1.1, within tolerance.
			isCPU: true, target: 50, cpuRequest: 1000, pods: cpuPods(1, 559), current: 1, want: 1, wantUtil: 55,
		},
		{
			name: "missing pods count as 100% of request on scale-down", source: "[doc] missing metrics; [rc] fallbackUtilization",
			// (3*100m + 1000m) / 4000m = 32% -> 0.64 -> ceil(0.64*4) = 3; ignoring the missing pod would give 1.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 100), []envs.PodMetrics{missingPod("m")}),
			current: 4, want: 3, wantUtil: 10,
		},
		{
			name: "missing pods on scale-down that flip the direction keep the replicas", source: "[doc] \"If the new ratio reverses the scale direction\"",
			// 0.8 alone; (2*400m + 2*1000m) / 4000m = 70% -> 1.4 is a scale-up.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(2, 400), []envs.PodMetrics{missingPod("m1"), missingPod("m2")}),
			current: 4, want: 4, wantUtil: 40,
		},
		{
			name: "missing pods count as 100% of a target above 100% on scale-down", source: "[rc] fallbackUtilization := max(100, targetUtilization)",
			// (30m + 3*150m) / 400m = 120% -> 0.8 -> ceil(3.2) = 4; with 100% it would be 3.
			isCPU: true, target: 150, cpuRequest: 100, pods: join(cpuPods(1, 30), []envs.PodMetrics{missingPod("m1"), missingPod("m2"), missingPod("m3")}),
			current: 4, want: 4, wantUtil: 30,
		},
		{
			name: "missing pods count as 0% on scale-up", source: "[doc] missing metrics; [rc] GetResourceReplicas",
			// 2.02 alone would give ceil(2.02*3) = 7; with the missing pod at 0%,
			// 3030m / 4000m = 75% -> 1.5 -> ceil(1.5*4) = 6.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 1010), []envs.PodMetrics{missingPod("m")}),
			current: 4, want: 6, wantUtil: 101,
		},
		{
			name: "missing pods at 0% that bring scale-up within tolerance keep the replicas", source: "[rc] tolerances.isWithin(newUsageRatio)",
			// 1.2 alone; 1800m / 4000m = 45% -> 0.9.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 600), []envs.PodMetrics{missingPod("m")}),
			current: 4, want: 4, wantUtil: 60,
		},
		{
			name: "unready pods count as 0% on a cpu scale-up", source: "[doc] not-yet-ready pods; [rc] scaleUpWithUnready",
			// 2.02 from the ready pods alone would give ceil(2.02*3) = 7 (8 if the
			// unready sample counted); with the unready pod at 0%,
			// 3030m / 4000m = 75% -> 1.5 -> ceil(1.5*4) = 6.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 1010), []envs.PodMetrics{startingPod("s", 1010, 0)}),
			current: 4, want: 6, wantUtil: 101,
		},
		{
			name: "unready pods are not set aside for memory", source: "[rc] groupPods: readiness only for v1.ResourceCPU",
			isCPU: false, target: 100, memRequest: 100,
			pods: []envs.PodMetrics{
				steadyPod("a", calcNow, 0, 200), steadyPod("b", calcNow, 0, 200), steadyPod("c", calcNow, 0, 200), startingPod("s", 0, 200),
			},
			current: 4, want: 8, wantUtil: 200,
		},
		{
			name: "unready pods are dropped on a cpu scale-down", source: "[rc] removeMetricsForPods(unreadyPods); rebalance only when scaleUpWithUnready",
			// Only the ready pods: 10% -> 0.2 -> ceil(0.2*3) = 1; the unready 900m sample is ignored.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 100), []envs.PodMetrics{startingPod("s", 900, 0)}),
			current: 4, want: 1, wantUtil: 10,
		},
		{
			name: "a cpu sample taken within one window of readiness is set aside", source: "[rc] groupPods: metric.Timestamp.Before(LastTransitionTime.Add(metric.Window))",
			// The recent pod's 1000m would make it (3*100m+1000m)/4000m; set aside it is 10% of 3 ready pods.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 100), []envs.PodMetrics{recentlyReady}),
			current: 4, want: 1, wantUtil: 10,
		},
		{
			name: "a never-ready pod past the cpu initialisation period is set aside", source: "[rc] groupPods: unready && StartTime+delayOfInitialReadinessStatus after LastTransitionTime",
			// Counted it would make (3*100m+1000m)/4000m = 32% -> 3; set aside, 10% of 3 pods -> 1.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 100), []envs.PodMetrics{neverReady}),
			current: 4, want: 1, wantUtil: 10,
		},
		{
			name: "a pod that went unready after the readiness delay keeps its cpu sample", source: "[doc] initial-readiness-delay; [rc] groupPods",
			// (3*100m + 1000m) / 4000m = 32% -> 0.64 -> ceil(2.56) = 3.
			isCPU: true, target: 50, cpuRequest: 1000, pods: join(cpuPods(3, 100), []envs.PodMetrics{wentUnready}),
			current: 4, want: 3, wantUtil: 32,
		},
		{
			name: "deleting and failed pods are ignored", source: "[doc] pods with a deletion timestamp are ignored, failed pods discarded",
			isCPU: true, target: 50, cpuRequest: 1000,
			pods: join(cpuPods(2, 1000), []envs.PodMetrics{
				func() envs.PodMetrics { p := steadyPod("d", calcNow, 0, 0); p.Deleting = true; return p }(),
				func() envs.PodMetrics { p := steadyPod("f", calcNow, 0, 0); p.Failed = true; return p }(),
			}),
			current: 4, want: 4, wantUtil: 100,
		},
		{
			name: "no samples at all fail the metric", source: "[rc] GetResourceReplicas: unable to get metrics",
			isCPU: true, target: 50, cpuRequest: 1000, pods: []envs.PodMetrics{missingPod("a"), missingPod("b")},
			current: 2, wantFail: failNoMetrics,
		},
		{
			name: "only unready samples fail the metric", source: "[rc] did not receive metrics for targeted pods",
			isCPU: true, target: 50, cpuRequest: 1000, pods: []envs.PodMetrics{startingPod("s", 500, 0)},
			current: 1, wantFail: failNoReadyMetrics,
		},
		{
			name: "a missing request fails the metric", source: "[doc] \"will not take any action for that metric\"; [rc] calculateRequests",
			isCPU: true, target: 50, cpuRequest: 0, pods: cpuPods(2, 100),
			current: 2, wantFail: failMissingRequest,
		},
	}
	calc := defaultCalculator()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := envs.ServiceView{Name: "svc", Replicas: int(tc.current), CPURequestMilli: tc.cpuRequest, MemRequestMiB: tc.memRequest, Pods: tc.pods}
			got, util, fail := calc.resourceReplicas(&svc, tc.current, resolvedMetric{isCPU: tc.isCPU, target: tc.target}, defaultTolerances, calcNow)
			if fail != tc.wantFail {
				t.Fatalf("%s: failure = %d, want %d", tc.source, fail, tc.wantFail)
			}
			if fail != metricOK {
				return
			}
			if got != tc.want || util != tc.wantUtil {
				t.Errorf("%s: replicas, utilisation = %d, %d%%; want %d, %d%%", tc.source, got, util, tc.want, tc.wantUtil)
			}
		})
	}
}

// fakeService is a scaled target whose replicas follow the HPA at once and
// whose load spreads evenly over its steady pods.
type fakeService struct {
	name               string
	replicas           int
	cpuRequest, memReq float64
	totalCPU, totalMem float64
}

func (f *fakeService) view(now time.Duration) envs.ServiceView {
	pods := make([]envs.PodMetrics, f.replicas)
	for i := range pods {
		pods[i] = steadyPod(fmt.Sprintf("%s-%d", f.name, i), now, f.totalCPU/float64(f.replicas), f.totalMem/float64(f.replicas))
	}
	return envs.ServiceView{Name: f.name, Replicas: f.replicas, CPURequestMilli: f.cpuRequest, MemRequestMiB: f.memReq, Pods: pods}
}

// step runs one Decide at now and applies the decisions.
func step(c *Controller, now time.Duration, svcs ...*fakeService) []int {
	view := envs.ClusterView{Now: now}
	for _, s := range svcs {
		view.Services = append(view.Services, s.view(now))
	}
	desired := make([]int, len(svcs))
	c.Decide(&view, desired)
	for i, d := range desired {
		if d >= 0 {
			svcs[i].replicas = d
		}
	}
	return desired
}

func mustNew(t *testing.T, cfg Config) *Controller {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustStatus(t *testing.T, c *Controller, svc string) Status {
	t.Helper()
	s, ok := c.Status(svc)
	if !ok {
		t.Fatalf("no status for %s", svc)
	}
	return s
}

func cpuConfig(target, minR, maxR int32) Config {
	return Config{Metrics: []MetricSpec{{Resource: ResourceCPU, TargetUtilization: target, Container: "server"}}, MinReplicas: minR, MaxReplicas: maxR}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// TestMultipleMetricsTakeTheMax: [doc] "the largest of the desired replica
// counts is chosen"; [hc] computeReplicasForMetrics.
func TestMultipleMetricsTakeTheMax(t *testing.T) {
	cfg, err := ParsePreset("cpu-50-mem-50", 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, cfg)
	// cpu 75% -> 1.5 -> 6; memory 100% -> 2.0 -> 8 (within the legacy cap 2*4).
	svc := &fakeService{name: "cart", replicas: 4, cpuRequest: 100, memReq: 100, totalCPU: 4 * 75, totalMem: 4 * 100}
	if got := step(c, 0, svc); got[0] != 8 {
		t.Fatalf("desired = %d, want 8", got[0])
	}
	s := mustStatus(t, c, "cart")
	if s.CurrentUtilization[0] != 75 || s.CurrentUtilization[1] != 100 || !s.ScalingActive {
		t.Errorf("status = %+v, want utilisation [75 100] and ScalingActive", s)
	}
}

// TestFailedMetricBlocksScaleDown: [doc] "If any of these metrics cannot be
// converted ... and a scale down is suggested ..., scaling is skipped";
// [hc] computeReplicasForMetrics (invalidMetricsCount > 0 && replicas < specReplicas).
func TestFailedMetricBlocksScaleDown(t *testing.T) {
	cfg, _ := ParsePreset("cpu-50-mem-50", 1, 10)
	cfg.Behavior = &Behavior{ScaleDown: &Rules{StabilizationWindow: durationPtr(0)}}
	c := mustNew(t, cfg)
	svc := &fakeService{name: "cart", replicas: 4, cpuRequest: 100, memReq: 0, totalCPU: 4 * 10}
	if got := step(c, 0, svc); got[0] != -1 {
		t.Fatalf("desired = %d, want -1 (no scale-down with a failed metric)", got[0])
	}
	s := mustStatus(t, c, "cart")
	if s.ScalingActive || !strings.Contains(s.Reason, "missing request for memory") {
		t.Errorf("status = %+v, want ScalingActive false naming the missing memory request", s)
	}
}

// TestFailedMetricAllowsScaleUp: [doc] "the HPA is still capable of scaling
// up if one or more metrics give a desiredReplicas greater than the current
// value".
func TestFailedMetricAllowsScaleUp(t *testing.T) {
	cfg, _ := ParsePreset("cpu-50-mem-50", 1, 10)
	c := mustNew(t, cfg)
	svc := &fakeService{name: "cart", replicas: 2, cpuRequest: 100, memReq: 0, totalCPU: 2 * 100}
	if got := step(c, 0, svc); got[0] != 4 {
		t.Fatalf("desired = %d, want 4", got[0])
	}
	s := mustStatus(t, c, "cart")
	if !s.ScalingActive || s.CurrentUtilization[1] != -1 {
		t.Errorf("status = %+v, want ScalingActive with memory unknown", s)
	}
}

// TestMissingRequestDeactivatesScaling: [doc] "if some of the Pod's
// containers do not have the relevant resource request set, CPU utilization
// for the Pod will not be defined and the autoscaler will not take any
// action"; [rc] calculateRequests.
func TestMissingRequestDeactivatesScaling(t *testing.T) {
	c := mustNew(t, cpuConfig(50, 1, 10))
	svc := &fakeService{name: "frontend", replicas: 1, cpuRequest: 0, totalCPU: 5000}
	if got := step(c, 0, svc); got[0] != -1 {
		t.Fatalf("desired = %d, want -1", got[0])
	}
	s := mustStatus(t, c, "frontend")
	if s.ScalingActive || !strings.Contains(s.Reason, "missing request for cpu") || s.CurrentUtilization[0] != -1 {
		t.Errorf("status = %+v, want ScalingActive false, reason naming the cpu request, utilisation -1", s)
	}
}

// TestNoMetricsDeactivatesScaling: [rc] GetResourceReplicas fails without
// samples, and [hc] reconcileAutoscaler leaves the target alone.
func TestNoMetricsDeactivatesScaling(t *testing.T) {
	c := mustNew(t, cpuConfig(50, 1, 10))
	view := envs.ClusterView{Services: []envs.ServiceView{{
		Name: "frontend", Replicas: 2, CPURequestMilli: 100,
		Pods: []envs.PodMetrics{missingPod("a"), missingPod("b")},
	}}}
	desired := []int{0}
	c.Decide(&view, desired)
	s := mustStatus(t, c, "frontend")
	if desired[0] != -1 || s.ScalingActive || s.CurrentReplicas != 2 {
		t.Errorf("desired = %d, status = %+v; want -1 and ScalingActive false", desired[0], s)
	}
}

// TestScaleDownStabilization: [doc] "Stabilization window" and
// "--horizontal-pod-autoscaler-downscale-stabilization ... defaults to 5
// minutes". After the load drops at t=600s the replicas hold until every
// recommendation in the window is low. The legacy stabilizeRecommendation
// keeps a sample exactly 300s old (rec.timestamp.Before(cutoff) is false),
// stabilizeRecommendationWithBehaviors drops it (After(cutoff) is false), so
// with syncs every 15s the last high sample at 585s stops counting at 900s
// and 885s respectively.
func TestScaleDownStabilization(t *testing.T) {
	for _, tc := range []struct {
		name     string
		behavior *Behavior
		downAt   time.Duration
	}{
		{"no behavior (legacy path)", nil, 900 * time.Second},
		{"default behavior", &Behavior{}, 885 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cpuConfig(50, 1, 10)
			cfg.Behavior = tc.behavior
			c := mustNew(t, cfg)
			// 400m over 8 pods of 100m request is 50%: steady at 8.
			svc := &fakeService{name: "frontend", replicas: 8, cpuRequest: 100, totalCPU: 400}
			for now := time.Duration(0); now <= 1000*time.Second; now += 15 * time.Second {
				if now >= 600*time.Second {
					svc.totalCPU = 80 // 10% -> 0.2 -> ceil(0.2*8) = 2
				}
				got := step(c, now, svc)[0]
				switch {
				case now < tc.downAt && got != -1:
					t.Fatalf("t=%v: desired %d, want no change before %v", now, got, tc.downAt)
				case now == tc.downAt && got != 2:
					t.Fatalf("t=%v: desired %d, want 2", now, got)
				}
				if now == tc.downAt-15*time.Second {
					if s := mustStatus(t, c, "frontend"); !strings.HasPrefix(s.Reason, "ScaleDownStabilized") {
						t.Errorf("t=%v: reason %q, want ScaleDownStabilized", now, s.Reason)
					}
				}
			}
			if svc.replicas != 2 {
				t.Errorf("final replicas %d, want 2", svc.replicas)
			}
		})
	}
}

// TestDefaultScaleUpRate: from 1 replica under a huge load. Without a
// behavior field [def] adds nothing, so [hc] normalizeDesiredReplicas caps
// each sync at calculateScaleUpLimit = max(2*current, 4): 1 -> 4 -> 8. With
// the default behavior (Pods 4/15s, Percent 100/15s, selectPolicy Max)
// calculateScaleUpLimitWithScalingRules gives max(1+4, 2*1) = 5, then
// max(5+4, 2*5) = 10, because the previous event is exactly 15s old and
// getReplicasChangePerPeriod counts only events after the cutoff.
func TestDefaultScaleUpRate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		behavior *Behavior
		want     []int
	}{
		{"no behavior (legacy path)", nil, []int{4, 8, 16, 32}},
		{"default behavior", &Behavior{}, []int{5, 10, 20, 40}},
		{"explicit DefaultBehavior", DefaultBehavior(), []int{5, 10, 20, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cpuConfig(50, 1, 100)
			cfg.Behavior = tc.behavior
			c := mustNew(t, cfg)
			svc := &fakeService{name: "frontend", replicas: 1, cpuRequest: 100, totalCPU: 100_000}
			for i, want := range tc.want {
				if got := step(c, time.Duration(i)*15*time.Second, svc)[0]; got != want {
					t.Fatalf("sync %d: desired %d, want %d", i, got, want)
				}
			}
		})
	}
}

// TestScaleUpRateCountsEventsInPeriod: [hc] calculateScaleUpLimitWithScalingRules
// measures the policy from the replicas at the start of the period, so with
// a 5s sync the default Pods 4/15s policy allows no second step until the
// first event has left the 15s period.
func TestScaleUpRateCountsEventsInPeriod(t *testing.T) {
	cfg := cpuConfig(50, 1, 100)
	cfg.Behavior = &Behavior{}
	cfg.SyncPeriod = 5 * time.Second
	c := mustNew(t, cfg)
	svc := &fakeService{name: "frontend", replicas: 1, cpuRequest: 100, totalCPU: 100_000}
	want := map[time.Duration]int{0: 5, 5 * time.Second: -1, 10 * time.Second: -1, 15 * time.Second: 10}
	for _, now := range []time.Duration{0, 5 * time.Second, 10 * time.Second, 15 * time.Second} {
		if got := step(c, now, svc)[0]; got != want[now] {
			t.Fatalf("t=%v: desired %d, want %d", now, got, want[now])
		}
	}
	if s := mustStatus(t, c, "frontend"); s.LastScaleTime != 15*time.Second {
		t.Errorf("LastScaleTime = %v, want 15s", s.LastScaleTime)
	}
}

// TestScaleDownRate: [doc] default scale-down policy "Percent 100 / 15s"
// "means the scaling target can be scaled down to the minimum allowed
// replicas"; a Percent 50/60s policy halves per period measured from the
// period start ([hc] calculateScaleDownLimitWithBehaviors).
func TestScaleDownRate(t *testing.T) {
	t.Run("default Percent 100 per 15s reaches the minimum at once", func(t *testing.T) {
		cfg := cpuConfig(50, 1, 10)
		cfg.Behavior = &Behavior{ScaleDown: &Rules{StabilizationWindow: durationPtr(0)}}
		c := mustNew(t, cfg)
		svc := &fakeService{name: "frontend", replicas: 8, cpuRequest: 100, totalCPU: 8}
		if got := step(c, 0, svc)[0]; got != 1 {
			t.Fatalf("desired %d, want 1", got)
		}
	})
	t.Run("Percent 50 per 60s halves once per period", func(t *testing.T) {
		cfg := cpuConfig(50, 1, 10)
		cfg.Behavior = &Behavior{ScaleDown: &Rules{
			StabilizationWindow: durationPtr(0),
			Policies:            []Policy{{Type: PercentPolicy, Value: 50, Period: time.Minute}},
		}}
		c := mustNew(t, cfg)
		svc := &fakeService{name: "frontend", replicas: 8, cpuRequest: 100, totalCPU: 8}
		want := []int{4, -1, -1, -1, 2} // t = 0, 15, 30, 45, 60s
		for i, w := range want {
			now := time.Duration(i) * 15 * time.Second
			if got := step(c, now, svc)[0]; got != w {
				t.Fatalf("t=%v: desired %d, want %d", now, got, w)
			}
		}
		// The proposal at 60s is ceil(0.04*4) = 1; the policy holds it at 2.
		if s := mustStatus(t, c, "frontend"); !strings.HasPrefix(s.Reason, "ScaleDownLimit") {
			t.Errorf("reason %q, want ScaleDownLimit", s.Reason)
		}
	})
}

// TestSelectPolicy: [doc] "Setting the value to Disabled completely disables
// scaling in that direction"; Min picks the policy with the smallest change
// ([hc] calculateScaleUpLimitWithScalingRules).
func TestSelectPolicy(t *testing.T) {
	t.Run("Disabled stops scale-up", func(t *testing.T) {
		cfg := cpuConfig(50, 1, 10)
		cfg.Behavior = &Behavior{ScaleUp: &Rules{SelectPolicy: SelectDisabled}}
		c := mustNew(t, cfg)
		svc := &fakeService{name: "frontend", replicas: 2, cpuRequest: 100, totalCPU: 10_000}
		if got := step(c, 0, svc)[0]; got != -1 {
			t.Fatalf("desired %d, want -1", got)
		}
		if s := mustStatus(t, c, "frontend"); !s.ScalingActive || !strings.HasPrefix(s.Reason, "ScaleUpLimit") {
			t.Errorf("status %+v, want ScalingActive and ScaleUpLimit", s)
		}
	})
	t.Run("Disabled stops scale-down", func(t *testing.T) {
		cfg := cpuConfig(50, 1, 10)
		cfg.Behavior = &Behavior{ScaleDown: &Rules{SelectPolicy: SelectDisabled, StabilizationWindow: durationPtr(0)}}
		c := mustNew(t, cfg)
		svc := &fakeService{name: "frontend", replicas: 8, cpuRequest: 100, totalCPU: 8}
		if got := step(c, 0, svc)[0]; got != -1 {
			t.Fatalf("desired %d, want -1", got)
		}
	})
	t.Run("Min picks the smaller default scale-up", func(t *testing.T) {
		cfg := cpuConfig(50, 1, 10)
		cfg.Behavior = &Behavior{ScaleUp: &Rules{SelectPolicy: SelectMin}}
		c := mustNew(t, cfg)
		svc := &fakeService{name: "frontend", replicas: 1, cpuRequest: 100, totalCPU: 10_000}
		if got := step(c, 0, svc)[0]; got != 2 { // min(1+4, 2*1)
			t.Fatalf("desired %d, want 2", got)
		}
	})
}

// TestPerDirectionTolerance: [doc] "Tolerance" (HPAConfigurableTolerance);
// [rc] Tolerances{scaleDown, scaleUp}.
func TestPerDirectionTolerance(t *testing.T) {
	loose := 0.5
	cfg := cpuConfig(50, 1, 10)
	cfg.Behavior = &Behavior{ScaleUp: &Rules{Tolerance: &loose}}
	c := mustNew(t, cfg)
	svc := &fakeService{name: "frontend", replicas: 2, cpuRequest: 100, totalCPU: 2 * 70} // ratio 1.4
	if got := step(c, 0, svc)[0]; got != -1 {
		t.Fatalf("desired %d, want -1 within a 0.5 scale-up tolerance", got)
	}
}

// TestReplicaBounds: [doc] minReplicas/maxReplicas, "Implicit
// maintenance-mode deactivation"; [hc] reconcileAutoscaler's first branches
// and convertDesiredReplicasWithRules.
func TestReplicaBounds(t *testing.T) {
	cases := []struct {
		name          string
		cfg           Config
		svc           fakeService
		want          int
		wantActive    bool
		reasonPrefix  string
		checkActivity bool
	}{
		{
			name: "desired above maxReplicas is clamped",
			cfg:  cpuConfig(50, 1, 3),
			svc:  fakeService{name: "s", replicas: 2, cpuRequest: 100, totalCPU: 1000},
			want: 3, reasonPrefix: "TooManyReplicas", wantActive: true, checkActivity: true,
		},
		{
			name: "desired below minReplicas is clamped",
			cfg: func() Config {
				c := cpuConfig(50, 3, 10)
				c.Behavior = &Behavior{ScaleDown: &Rules{StabilizationWindow: durationPtr(0)}}
				return c
			}(),
			svc:  fakeService{name: "s", replicas: 6, cpuRequest: 100, totalCPU: 6},
			want: 3, reasonPrefix: "TooFewReplicas", wantActive: true, checkActivity: true,
		},
		{
			name: "current above maxReplicas goes to maxReplicas without metrics",
			cfg:  cpuConfig(50, 1, 5),
			svc:  fakeService{name: "s", replicas: 9, cpuRequest: 0},
			want: 5, reasonPrefix: "TooManyReplicas",
		},
		{
			name: "current below minReplicas goes to minReplicas without metrics",
			cfg:  cpuConfig(50, 2, 5),
			svc:  fakeService{name: "s", replicas: 1, cpuRequest: 0},
			want: 2, reasonPrefix: "TooFewReplicas",
		},
		{
			name: "zero replicas with minReplicas > 0 deactivate the HPA",
			cfg:  cpuConfig(50, 1, 5),
			svc:  fakeService{name: "s", replicas: 0, cpuRequest: 100},
			want: -1, reasonPrefix: "ScalingDisabled", wantActive: false, checkActivity: true,
		},
		{
			name: "per-service maxReplicas overrides the global one",
			cfg: func() Config {
				c := cpuConfig(50, 1, 8)
				c.MaxReplicasPerService = map[string]int32{"s": 5}
				return c
			}(),
			svc:  fakeService{name: "s", replicas: 4, cpuRequest: 100, totalCPU: 4000},
			want: 5, reasonPrefix: "TooManyReplicas",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, tc.cfg)
			svc := tc.svc
			if got := step(c, 0, &svc)[0]; got != tc.want {
				t.Fatalf("desired %d, want %d", got, tc.want)
			}
			s := mustStatus(t, c, "s")
			if !strings.HasPrefix(s.Reason, tc.reasonPrefix) {
				t.Errorf("reason %q, want prefix %q", s.Reason, tc.reasonPrefix)
			}
			if tc.checkActivity && s.ScalingActive != tc.wantActive {
				t.Errorf("ScalingActive = %v, want %v", s.ScalingActive, tc.wantActive)
			}
		})
	}
}

// TestSyncPeriod: [doc] "the default interval is 15 seconds"; between syncs
// the controller leaves the target alone.
func TestSyncPeriod(t *testing.T) {
	c := mustNew(t, cpuConfig(50, 1, 10))
	svc := &fakeService{name: "frontend", replicas: 1, cpuRequest: 100, totalCPU: 100_000}
	calls := []struct {
		now  time.Duration
		want int
	}{
		{0, 4},
		{5 * time.Second, -1},
		{14*time.Second + 999*time.Millisecond, -1},
		{15 * time.Second, 8},
		{29 * time.Second, -1},
		{30 * time.Second, 10},
	}
	for _, call := range calls {
		if got := step(c, call.now, svc)[0]; got != call.want {
			t.Fatalf("t=%v: desired %d, want %d", call.now, got, call.want)
		}
	}
}

// TestFreshHPAHoldsScaleDownForOneWindow: [hc] recordInitialRecommendation
// seeds the window with the current replicas, so a new HPA (legacy path,
// inclusive cutoff) keeps 8 replicas under low load until the seed at t=0 is
// more than 300s old; Reset (envs.Controller) forgets the window, so the
// next sync is seeded again.
func TestFreshHPAHoldsScaleDownForOneWindow(t *testing.T) {
	c := mustNew(t, cpuConfig(50, 1, 10))
	svc := &fakeService{name: "frontend", replicas: 8, cpuRequest: 100, totalCPU: 80} // proposal 2
	for now := time.Duration(0); now <= 315*time.Second; now += 15 * time.Second {
		want := -1
		if now == 315*time.Second {
			want = 2
		}
		if got := step(c, now, svc)[0]; got != want {
			t.Fatalf("t=%v: desired %d, want %d", now, got, want)
		}
	}

	c.Reset()
	if _, ok := c.Status("frontend"); ok {
		t.Fatal("status survived Reset")
	}
	svc.replicas = 8
	// Same instant as the last sync: only a reset HPA syncs again.
	if got := step(c, 315*time.Second, svc)[0]; got != -1 {
		t.Fatalf("after Reset: desired %d, want -1 (window seeded with 8 again)", got)
	}
	if s := mustStatus(t, c, "frontend"); !strings.HasPrefix(s.Reason, "ScaleDownStabilized") || s.LastScaleTime >= 0 {
		t.Errorf("after Reset: status %+v, want ScaleDownStabilized and no scale yet", s)
	}
}

// TestStatusReportsOriginalUtilization: [doc] "the original value for the
// average utilization is reported back via the HorizontalPodAutoscaler
// status, without factoring in the not-yet-ready pods or missing metrics".
func TestStatusReportsOriginalUtilization(t *testing.T) {
	c := mustNew(t, cpuConfig(50, 1, 10))
	view := envs.ClusterView{Now: calcNow, Services: []envs.ServiceView{{
		Name: "frontend", Replicas: 4, CPURequestMilli: 1000,
		Pods: join(cpuPods(3, 1000), []envs.PodMetrics{missingPod("m")}),
	}}}
	desired := []int{0}
	c.Decide(&view, desired)
	s := mustStatus(t, c, "frontend")
	if desired[0] != 6 || s.CurrentUtilization[0] != 100 || s.DesiredReplicas != 6 || s.CurrentReplicas != 4 {
		t.Errorf("desired %d, status %+v; want 6 with utilisation 100", desired[0], s)
	}
}

// TestDecideDoesNotAllocate guards the benchmark hot path.
func TestDecideDoesNotAllocate(t *testing.T) {
	cfg, _ := ParsePreset("cpu-50-mem-80", 1, 10)
	cfg.Behavior = &Behavior{}
	c := mustNew(t, cfg)
	svcs := []*fakeService{
		{name: "a", replicas: 3, cpuRequest: 100, memReq: 64, totalCPU: 400, totalMem: 100},
		{name: "b", replicas: 5, cpuRequest: 100, memReq: 64, totalCPU: 50, totalMem: 100},
	}
	view := envs.ClusterView{}
	for _, s := range svcs {
		view.Services = append(view.Services, s.view(0))
	}
	desired := make([]int, len(svcs))
	now := time.Duration(0)
	run := func() {
		now += 15 * time.Second
		view.Now = now
		c.Decide(&view, desired)
	}
	for range 100 { // warm up: fill the recommendation and event slices
		run()
	}
	if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
		t.Errorf("Decide allocates %v times per call, want 0", allocs)
	}
}

// TestParsePreset: [seed] §5.1 names; bad names are rejected with the value
// and the valid form.
func TestParsePreset(t *testing.T) {
	for _, app := range []string{"onlineboutique", "redis"} {
		for _, name := range SeedPresets(app) {
			cfg, err := ParsePreset(name, 1, 7)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if PresetName(cfg.Metrics) != name {
				t.Errorf("%s: round-trips to %q", name, PresetName(cfg.Metrics))
			}
			c := mustNew(t, cfg)
			if c.Name() != "hpa-"+name {
				t.Errorf("%s: Name() = %q", name, c.Name())
			}
		}
	}
	cfg, err := ParsePreset("cpu-60-mem-80", 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []MetricSpec{{Resource: ResourceCPU, TargetUtilization: 60}, {Resource: ResourceMemory, TargetUtilization: 80}}
	if len(cfg.Metrics) != 2 || cfg.Metrics[0] != want[0] || cfg.Metrics[1] != want[1] || cfg.MinReplicas != 1 || cfg.MaxReplicas != 7 {
		t.Errorf("cfg = %+v", cfg)
	}
	if _, err := ParsePreset("cpu-1000", 1, 7); err != nil {
		t.Errorf("cpu-1000: %v", err)
	}

	for _, tc := range []struct{ name, mention string }{
		{"cpu", "cpu"},
		{"cpu-", `""`},
		{"cpu-0", `"0"`},
		{"cpu-1001", `"1001"`},
		{"cpu-050", `"050"`},
		{"cpu-5x", `"5x"`},
		{"gpu-50", "gpu-50"},
		{"mem-40-cpu-60", "mem-40-cpu-60"},
		{"cpu-50-cpu-60", "cpu-50-cpu-60"},
		{"CPU-50", "CPU-50"},
	} {
		_, err := ParsePreset(tc.name, 1, 7)
		if err == nil {
			t.Errorf("%q: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "cpu-<pct>-mem-<pct>") {
			t.Errorf("%q: error %q should name %s and the valid form", tc.name, err, tc.mention)
		}
	}
	if _, err := ParsePreset("cpu-50", 0, 7); err == nil || !strings.Contains(err.Error(), "minReplicas") {
		t.Errorf("min 0: error %v, want one naming minReplicas", err)
	}
}

// TestSeedPresets: [seed] §5.1: OB has 14 folders, Redis 16.
func TestSeedPresets(t *testing.T) {
	ob := SeedPresets("onlineboutique")
	redis := SeedPresets("redis")
	if len(ob) != 14 || len(redis) != 16 {
		t.Fatalf("len = %d, %d; want 14, 16", len(ob), len(redis))
	}
	has := func(list []string, name string) bool {
		for _, n := range list {
			if n == name {
				return true
			}
		}
		return false
	}
	for _, n := range []string{"cpu-20", "cpu-80", "mem-40", "mem-80", "cpu-20-mem-40", "cpu-80-mem-80"} {
		if !has(ob, n) || !has(redis, n) {
			t.Errorf("%s missing", n)
		}
	}
	if has(ob, "mem-20") || !has(redis, "mem-20") || !has(redis, "mem-60") || has(redis, "cpu-20-mem-20") {
		t.Error("mem-20/mem-60 must be Redis-only and hybrids only pair mem 40 and 80")
	}
	if SeedPresets("unknown") != nil {
		t.Error("unknown app should give nil")
	}
}

// TestValidate: each invalid field is named in the error.
func TestValidate(t *testing.T) {
	valid := cpuConfig(50, 1, 7)
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"no metrics", func(c *Config) { c.Metrics = nil }, "metrics"},
		{"zero target", func(c *Config) { c.Metrics[0].TargetUtilization = 0 }, "metrics[0].targetUtilization"},
		{"unknown resource", func(c *Config) { c.Metrics[0].Resource = "gpu" }, `metrics[0].resource: unknown resource "gpu"`},
		{"min below 1", func(c *Config) { c.MinReplicas = 0 }, "minReplicas"},
		{"max below min", func(c *Config) { c.MaxReplicas = 0 }, "maxReplicas"},
		{"per-service max below min", func(c *Config) { c.MaxReplicasPerService = map[string]int32{"x": 0} }, `maxReplicasPerService["x"]`},
		{"negative tolerance", func(c *Config) { c.Tolerance = -1 }, "tolerance"},
		{"negative sync period", func(c *Config) { c.SyncPeriod = -time.Second }, "syncPeriod"},
		{"unknown policy type", func(c *Config) {
			c.Behavior = &Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: "Replicas", Value: 1, Period: time.Second}}}}
		}, `behavior.scaleUp.policies[0].type: unknown type "Replicas"`},
		{"zero policy value", func(c *Config) {
			c.Behavior = &Behavior{ScaleDown: &Rules{Policies: []Policy{{Type: PodsPolicy, Value: 0, Period: time.Second}}}}
		}, "behavior.scaleDown.policies[0].value"},
		{"policy period too long", func(c *Config) {
			c.Behavior = &Behavior{ScaleDown: &Rules{Policies: []Policy{{Type: PodsPolicy, Value: 1, Period: time.Hour}}}}
		}, "behavior.scaleDown.policies[0].period"},
		{"empty policy list", func(c *Config) { c.Behavior = &Behavior{ScaleUp: &Rules{Policies: []Policy{}}} }, "behavior.scaleUp.policies"},
		{"unknown select policy", func(c *Config) { c.Behavior = &Behavior{ScaleUp: &Rules{SelectPolicy: "Avg"}} }, `behavior.scaleUp.selectPolicy: unknown policy "Avg"`},
		{"window too long", func(c *Config) {
			c.Behavior = &Behavior{ScaleDown: &Rules{StabilizationWindow: durationPtr(2 * time.Hour)}}
		}, "behavior.scaleDown.stabilizationWindow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cpuConfig(50, 1, 7)
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %v, want one naming %s", err, tc.field)
			}
			if _, err := New(cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// BenchmarkDecide measures one Decide over Online Boutique's 11 services
// when every call is a sync (the worst case) and at a 1s simulator step.
func BenchmarkDecide(b *testing.B) {
	for _, tc := range []struct {
		name string
		step time.Duration
	}{{"every call syncs", 15 * time.Second}, {"1s steps", time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, _ := ParsePreset("cpu-60-mem-80", 1, 7)
			c, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			view := envs.ClusterView{}
			for i := range 11 {
				s := fakeService{name: fmt.Sprintf("svc%d", i), replicas: 3, cpuRequest: 100, memReq: 64, totalCPU: float64(50 * (i + 1)), totalMem: 100}
				view.Services = append(view.Services, s.view(0))
			}
			desired := make([]int, len(view.Services))
			b.ReportAllocs()
			for b.Loop() {
				view.Now += tc.step
				c.Decide(&view, desired)
			}
		})
	}
}
