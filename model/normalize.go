package model

import (
	"fmt"
	"math"
	"slices"
)

// Normalisation as Stable-Baselines3's VecNormalize does it
// (stable_baselines3/common/vec_env/vec_normalize.py, defaults clip_obs
// 10, clip_reward 10, epsilon 1e-8): observations are standardised with
// running statistics and clipped; rewards are divided by the running
// standard deviation of the discounted return (not centred) and clipped.
// The statistics are part of the checkpoint, so a resumed run normalises
// exactly as an uninterrupted one, and a trained policy reads
// observations with the statistics it was trained with.
const (
	normClip    = 10
	normEpsilon = 1e-8
)

// runningStat is a running mean and variance per column, merged batch by
// batch with Chan et al.'s parallel update as SB3's RunningMeanStd does,
// starting from mean 0, variance 1 and a count of 1e-4.
type runningStat struct {
	Mean  []float64 `json:"mean"`
	Var   []float64 `json:"var"`
	Count float64   `json:"count"`
}

func newRunningStat(n int) runningStat {
	r := runningStat{Mean: make([]float64, n), Var: make([]float64, n), Count: 1e-4}
	for i := range r.Var {
		r.Var[i] = 1
	}
	return r
}

func (r runningStat) clone() runningStat {
	return runningStat{Mean: slices.Clone(r.Mean), Var: slices.Clone(r.Var), Count: r.Count}
}

// update merges a batch of rows (rows x len(Mean), row-major) into the
// statistics.
func (r *runningStat) update(x []float64, rows int) {
	k := len(r.Mean)
	bc := float64(rows)
	tot := r.Count + bc
	for j := range k {
		var bm float64
		for i := range rows {
			bm += x[i*k+j]
		}
		bm /= bc
		var bv float64
		for i := range rows {
			d := x[i*k+j] - bm
			bv += d * d
		}
		bv /= bc
		delta := bm - r.Mean[j]
		m2 := r.Var[j]*r.Count + bv*bc + delta*delta*r.Count*bc/tot
		r.Mean[j] += delta * bc / tot
		r.Var[j] = m2 / tot
	}
	r.Count = tot
}

// apply standardises rows of x in place and clips them to ±normClip.
func (r *runningStat) apply(x []float64) {
	k := len(r.Mean)
	for i, v := range x {
		j := i % k
		x[i] = math.Max(-normClip, math.Min(normClip, (v-r.Mean[j])/math.Sqrt(r.Var[j]+normEpsilon)))
	}
}

// obsNorm holds the observation statistics: node features per column over
// every node (so a per-node policy's statistics do not depend on the
// app's size) and the prepared flat features per column.
type obsNorm struct {
	Nodes runningStat `json:"nodes"`
	Flat  runningStat `json:"flat"`
}

func newObsNorm(nodeFeatures, flat int) *obsNorm {
	return &obsNorm{Nodes: newRunningStat(nodeFeatures), Flat: newRunningStat(flat)}
}

func (o *obsNorm) clone() *obsNorm {
	if o == nil {
		return nil
	}
	return &obsNorm{Nodes: o.Nodes.clone(), Flat: o.Flat.clone()}
}

// rewardNorm scales rewards by the running standard deviation of the
// discounted return. The return restarts at every episode's start.
type rewardNorm struct {
	Ret   runningStat `json:"ret"`
	gamma float64
	ret   float64
}

func newRewardNorm(gamma float64) *rewardNorm {
	return &rewardNorm{Ret: newRunningStat(1), gamma: gamma}
}

// scale updates the return statistics with raw reward r and returns r
// scaled and clipped.
func (n *rewardNorm) scale(r float64) float64 {
	n.ret = n.ret*n.gamma + r
	x := [1]float64{n.ret}
	n.Ret.update(x[:], 1)
	return clipReward(r / n.std())
}

func clipReward(r float64) float64 { return math.Max(-normClip, math.Min(normClip, r)) }

// std is the current divisor of scale.
func (n *rewardNorm) std() float64 { return math.Sqrt(n.Ret.Var[0] + normEpsilon) }

// episodeStart restarts the discounted return.
func (n *rewardNorm) episodeStart() { n.ret = 0 }

// apply normalises prepared network inputs in place: the node features of
// every node, and the flat features unless the per-node head ignores them.
func (o *obsNorm) apply(spec NetSpec, nodes, flat []float64) {
	o.Nodes.apply(nodes)
	if spec.Head != PerNodeHead {
		o.Flat.apply(flat)
	}
}

// check verifies that checkpointed statistics fit the network.
func (o *obsNorm) check(spec NetSpec) error {
	ok := func(r runningStat, n int) bool { return len(r.Mean) == n && len(r.Var) == n && r.Count > 0 }
	if !ok(o.Nodes, spec.NodeFeatures) || !ok(o.Flat, spec.FlatSize) {
		return fmt.Errorf("%w: observation statistics for %d node and %d flat features, the network has %d and %d",
			ErrCorruptCheckpoint, len(o.Nodes.Mean), len(o.Flat.Mean), spec.NodeFeatures, spec.FlatSize)
	}
	return nil
}
