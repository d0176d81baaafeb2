package envs

import (
	"fmt"
	"math"
	"time"
)

// Goal selects the reward function.
type Goal string

// The reward goals. Cost and latency are the seed's (seed-spec 1.6); slo is ours.
const (
	GoalCost    Goal = "cost"
	GoalLatency Goal = "latency"
	GoalSLO     Goal = "slo"
)

// Goals lists the valid goals, for error messages and flag help.
var Goals = []Goal{GoalCost, GoalLatency, GoalSLO}

// ParseGoal returns the goal named s or an error naming the valid choices.
func ParseGoal(s string) (Goal, error) {
	for _, g := range Goals {
		if string(g) == s {
			return g, nil
		}
	}
	return "", fmt.Errorf("unknown goal %q (valid: cost, latency, slo)", s)
}

// RewardConfig parameterises the reward. Zero fields take the defaults of
// DefaultRewardConfig.
type RewardConfig struct {
	Goal Goal
	// LatencyCapMs caps the latency goal's per-step penalty; the seed used
	// 3000 ms for Online Boutique and 250 ms for Redis, and the same value as
	// its penalty for a move beyond the replica bounds.
	LatencyCapMs float64
	// SLO is the p95 end-to-end latency objective of the slo goal.
	SLO time.Duration
	// CostWeight weighs the replica cost against SLO violations in the slo goal.
	CostWeight float64
	// ErrorWeight weighs the failed-request fraction in the slo goal.
	ErrorWeight float64
}

// DefaultRewardConfig returns the defaults for a goal and an app's latency cap.
func DefaultRewardConfig(goal Goal, latencyCapMs float64) RewardConfig {
	return RewardConfig{
		Goal:         goal,
		LatencyCapMs: latencyCapMs,
		SLO:          500 * time.Millisecond,
		CostWeight:   0.5,
		ErrorWeight:  5,
	}
}

// RewardInput is the state a reward is computed from: the true end-to-end
// metrics of the step, never a proxy that may silently be zero (the seed's
// latency reward read a metric nobody exported, seed-spec 8 C1).
type RewardInput struct {
	Replicas, Desired        []int
	MinReplicas, MaxReplicas []int
	LatencyMeanMs            float64
	LatencyP95Ms             float64
	ErrorRate                float64
	BoundHit                 bool
}

// sloPenaltyMax is the slo goal's penalty for a seed move past a replica
// bound: as bad as a p95 of 16 times the SLO.
const sloPenaltyMax = 5

// Reward computes the step reward.
//
//   - cost: the number of services whose replicas equal the gym-hpa desired
//     replicas (0..n); -1 when the action hit a replica bound.
//   - latency: -min(mean end-to-end latency in ms, cap); -cap on a bound hit.
//   - slo: -(v + CostWeight*u + ErrorWeight*e), where v = 0 if p95 <= SLO and
//     1 + log2(p95/SLO) otherwise, u = sum(replicas-min)/sum(max-min)
//     in [0, 1], and e is the failed fraction; a bound hit gives
//     -(5 + CostWeight*u). Every violation costs more than any saving of
//     replicas can earn (CostWeight < 1), and the violation term keeps
//     growing with the latency: a linear term capped at 5 x SLO (this
//     goal's first form) was flat over every state of an under-provisioned
//     app, so no action looked better than another (docs/learning.md).
func (c RewardConfig) Reward(in RewardInput) float64 {
	switch c.Goal {
	case GoalLatency:
		if in.BoundHit {
			return -c.LatencyCapMs
		}
		return -math.Min(in.LatencyMeanMs, c.LatencyCapMs)
	case GoalSLO:
		var used, span float64
		for i, r := range in.Replicas {
			used += float64(r - in.MinReplicas[i])
			span += float64(in.MaxReplicas[i] - in.MinReplicas[i])
		}
		u := 0.0
		if span > 0 {
			u = used / span
		}
		if in.BoundHit {
			return -(sloPenaltyMax + c.CostWeight*u)
		}
		slo := float64(c.SLO) / float64(time.Millisecond)
		v := 0.0
		if in.LatencyP95Ms > slo {
			v = 1 + math.Log2(in.LatencyP95Ms/slo)
		}
		return -(v + c.CostWeight*u + c.ErrorWeight*in.ErrorRate)
	default: // GoalCost
		if in.BoundHit {
			return -1
		}
		n := 0
		for i, r := range in.Replicas {
			if r == in.Desired[i] {
				n++
			}
		}
		return float64(n)
	}
}

// ServiceRewards writes into out (one per service) the parts of the step
// reward that depend only on each service's own replicas, and reports
// whether the goal has such parts: the slo goal's cost term,
// -CostWeight*(replicas_i-min_i)/sum(max-min), whose sum over services is
// the reward's cost term. A seed move past a bound has none (the penalty
// is the agent's as a whole).
func (c RewardConfig) ServiceRewards(in RewardInput, out []float64) bool {
	if c.Goal != GoalSLO || in.BoundHit {
		return false
	}
	var span float64
	for i := range in.Replicas {
		span += float64(in.MaxReplicas[i] - in.MinReplicas[i])
	}
	for i, r := range in.Replicas {
		out[i] = 0
		if span > 0 {
			out[i] = -c.CostWeight * float64(r-in.MinReplicas[i]) / span
		}
	}
	return true
}

// DesiredThreshold is gym-hpa's target fraction of requests (seed-spec 1.1).
const DesiredThreshold = 0.75

// DesiredReplicas is gym-hpa's HPA-like estimate (seed-spec 1.1):
// ceil(0.7*ceil(cpu/cpuTarget) + 0.3*ceil(mem/memTarget)) with targets at 75 %
// of the requests, clamped to [minR, maxR]. Unlike the seed, mem is the
// working set in MiB, not the rate of change of it (seed-spec 8 S2), and the
// lower clamp is minR rather than only replacing 0 by 1.
func DesiredReplicas(cpuMilli, memMiB, cpuRequestMilli, memRequestMiB float64, minR, maxR int) int {
	cpuTarget := math.Floor(DesiredThreshold * cpuRequestMilli)
	memTarget := math.Floor(DesiredThreshold * memRequestMiB)
	var dc, dm float64
	if cpuTarget > 0 {
		dc = math.Ceil(cpuMilli / cpuTarget)
	}
	if memTarget > 0 {
		dm = math.Ceil(memMiB / memTarget)
	}
	// Integer arithmetic: 0.7*10 is 7.000000000000001 in floating point, and
	// its ceiling would be 8.
	d := (7*int(dc) + 3*int(dm) + 9) / 10
	return max(minR, min(d, maxR))
}
