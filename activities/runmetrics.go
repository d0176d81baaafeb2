package activities

import (
	"fmt"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// runTracker accumulates the metrics of an evaluation run that the twin's
// own summary does not have, step by step.
type runTracker struct {
	app    *app.App
	step   time.Duration
	reward envs.RewardConfig
	minR   []int
	maxR   []int

	prev         []int
	desired      []int
	steps        int
	actions      int // replica changes in the latest step
	replicaSum   float64
	replicasMax  int
	cpuCoreSec   float64
	latencySum   float64
	totalReward  float64
	times, p95Ms []float64
}

func newRunTracker(a *app.App, step time.Duration, reward envs.RewardConfig) *runTracker {
	t := &runTracker{app: a, step: step, reward: reward, desired: make([]int, len(a.Services))}
	for _, s := range a.Services {
		t.minR = append(t.minR, max(s.MinReplicas, 1))
		t.maxR = append(t.maxR, max(s.MaxReplicas, s.MinReplicas, 1))
	}
	return t
}

// observe records one step's snapshot.
func (t *runTracker) observe(s *sim.Snapshot) {
	t.steps++
	t.actions = 0
	total := 0
	for i, r := range s.Replicas {
		if t.prev != nil && r != t.prev[i] {
			t.actions++
		}
		total += r
		svc := t.app.Services[i]
		t.cpuCoreSec += float64(r) * svc.CPURequestMilli / 1000 * t.step.Seconds()
		t.desired[i] = envs.DesiredReplicas(s.CPUMilli[i], s.MemMiB[i], svc.CPURequestMilli, svc.MemRequestMiB, t.minR[i], t.maxR[i])
	}
	t.prev = append(t.prev[:0], s.Replicas...)
	t.replicaSum += float64(total)
	t.replicasMax = max(t.replicasMax, total)
	t.latencySum += finite(s.MeanMs)
	if t.reward.Goal != "" {
		t.totalReward += t.reward.Reward(envs.RewardInput{
			Replicas: s.Replicas, Desired: t.desired, MinReplicas: t.minR, MaxReplicas: t.maxR,
			LatencyMeanMs: finite(s.MeanMs), LatencyP95Ms: finite(s.P95Ms), ErrorRate: finite(s.ErrorRate),
		})
	}
	t.times = append(t.times, s.Time.Seconds())
	t.p95Ms = append(t.p95Ms, finite(s.P95Ms))
}

func (t *runTracker) replicasMean() float64 {
	if t.steps == 0 {
		return 0
	}
	return t.replicaSum / float64(t.steps)
}

func (t *runTracker) latencyMean() float64 {
	if t.steps == 0 {
		return 0
	}
	return t.latencySum / float64(t.steps)
}

// loadIncreases are the times at which the scenario's user count rises:
// the start of the load and every stage with more users than the one
// before.
func loadIncreases(sc load.Scenario) []float64 {
	var out []float64
	prevUsers, start := 0.0, time.Duration(0)
	for _, st := range sc.Stages {
		if st.Users > prevUsers {
			out = append(out, start.Seconds())
		}
		prevUsers, start = st.Users, st.End
	}
	return out
}

// recoverySteps is how many consecutive steps within the SLO count as
// recovered.
const recoverySteps = 3

// recoveryTime is the mean, over the load increases, of the time from an
// increase until p95 latency is within the SLO for recoverySteps steps in
// a row: 0 when the first step after the increase starts such a streak,
// else the end of the last step before the streak. A run that does not
// recover before the next increase (or the end) is censored there.
// times[i] is the end of step i, in seconds.
func recoveryTime(times, p95Ms []float64, sloMs float64, increases []float64) float64 {
	if len(increases) == 0 || len(times) == 0 {
		return 0
	}
	var sum float64
	for k, at := range increases {
		end := times[len(times)-1]
		if k+1 < len(increases) {
			end = increases[k+1]
		}
		rec := end - at
		first, run := -1, 0
		for i, t := range times {
			if t <= at || t > end {
				continue
			}
			if first < 0 {
				first = i
			}
			if p95Ms[i] > sloMs {
				run = 0
				continue
			}
			if run++; run == recoverySteps {
				j := i - recoverySteps + 1
				rec = 0
				if j > first {
					rec = times[j-1] - at
				}
				break
			}
		}
		sum += rec
	}
	return sum / float64(len(increases))
}

// hpaWatch wraps the simulated HPA and watches it for signs of a dead
// baseline: a service whose HPA never had a usable metric
// (ScalingActive=False at every sync), or an HPA that never changed
// replicas although a metric was above its target, beyond the tolerance,
// with room to scale. The seed's HPA baseline never scaled (seed-spec 8);
// a run like that is marked invalid instead of reported.
type hpaWatch struct {
	*hpa.Controller
	cfg     hpa.Config
	syncs   map[string]int // steps observed after the service's first sync
	active  map[string]bool
	reason  map[string]string
	scaled  bool
	crossed string // first evidence that a metric was above target
}

func newHPAWatch(h *hpa.Controller) *hpaWatch {
	w := &hpaWatch{Controller: h, cfg: h.Config()}
	w.Reset()
	return w
}

// Reset implements envs.Controller.
func (w *hpaWatch) Reset() {
	w.Controller.Reset()
	w.syncs, w.active, w.reason = map[string]int{}, map[string]bool{}, map[string]string{}
	w.scaled, w.crossed = false, ""
}

// Decide implements envs.Controller.
func (w *hpaWatch) Decide(view *envs.ClusterView, desired []int) {
	w.Controller.Decide(view, desired)
	for _, svc := range view.Services {
		// The status is the latest sync's; between syncs it repeats, which
		// only counts that sync again.
		st, ok := w.Controller.Status(svc.Name)
		if !ok {
			continue
		}
		w.syncs[svc.Name]++
		if st.ScalingActive {
			w.active[svc.Name] = true
		} else if w.reason[svc.Name] == "" {
			w.reason[svc.Name] = st.Reason
		}
		if st.LastScaleTime >= 0 {
			w.scaled = true
		}
		maxR := w.cfg.MaxReplicas
		if m, ok := w.cfg.MaxReplicasPerService[svc.Name]; ok {
			maxR = m
		}
		for k, u := range st.CurrentUtilization {
			if k >= len(w.cfg.Metrics) || u < 0 || w.crossed != "" || st.CurrentReplicas >= maxR {
				continue
			}
			m := w.cfg.Metrics[k]
			if float64(u) > float64(m.TargetUtilization)*(1+hpa.DefaultTolerance) {
				w.crossed = fmt.Sprintf("%s's %s utilisation reached %d %% of its request (target %d %%) at %s",
					svc.Name, m.Resource, u, m.TargetUtilization, view.Now)
			}
		}
	}
}

// verdict returns whether the run counts and, if not, why.
func (w *hpaWatch) verdict(services []string) (bool, string) {
	for _, s := range services {
		if w.syncs[s] > 0 && !w.active[s] {
			return false, fmt.Sprintf("HPA %s had no usable metric for %s during the whole run (%s)", w.Name(), s, w.reason[s])
		}
	}
	if !w.scaled && w.crossed != "" {
		return false, fmt.Sprintf("HPA %s never changed replicas although %s", w.Name(), w.crossed)
	}
	return true, ""
}
