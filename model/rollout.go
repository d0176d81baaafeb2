package model

// rollout stores one rollout of n steps for the update. Observations are
// kept as the network's prepared inputs (one row per step), so a minibatch
// is gathered by copying rows.
type rollout struct {
	n       int
	flatDim int // prepared flat features per step
	nodeDim int // prepared node features per step (nodes x features)
	flat    []float64
	nodes   []float64
	dep     []int // chosen deployment (node) per step
	move    []int // chosen move per step
	// Factored spaces: every service's choice per step (n per step), the
	// valid choices (n x m per step) and whether any was masked.
	choices []int
	mask    []bool
	hasMask []bool
	// Per-service credit (n per step): each service's log-probability of
	// its choice, own reward, own value, own advantage and own return;
	// rewards, values, adv and returns then hold the shared part.
	svcLogp, ownRewards, ownValues, ownAdv, ownReturns []float64
	logp                                               []float64
	values                                             []float64
	rewards                                            []float64
	dones                                              []bool // episode ended after this step
	adv                                                []float64
	returns                                            []float64
	pos                                                int
}

func newRollout(n, flatDim, nodeDim, services, moves int, factored, perService bool) *rollout {
	r := &rollout{
		n: n, flatDim: flatDim, nodeDim: nodeDim,
		flat: make([]float64, n*flatDim), nodes: make([]float64, n*nodeDim),
		dep: make([]int, n), move: make([]int, n),
		logp: make([]float64, n), values: make([]float64, n), rewards: make([]float64, n),
		dones: make([]bool, n), adv: make([]float64, n), returns: make([]float64, n),
	}
	if factored {
		r.choices = make([]int, n*services)
		r.mask = make([]bool, n*services*moves)
		r.hasMask = make([]bool, n)
	}
	if perService {
		f := func() []float64 { return make([]float64, n*services) }
		r.svcLogp, r.ownRewards, r.ownValues, r.ownAdv, r.ownReturns = f(), f(), f(), f(), f()
	}
	return r
}

// computeGAE fills advantages and returns with generalised advantage
// estimation (Schulman et al. 2016, arXiv:1506.02438), bootstrapping from
// lastValue unless the last step ended an episode. An episode that ended
// by its time limit had its final state's discounted value added to its
// last reward when it was collected (SB3's handling of TimeLimit
// truncation), so every episode end is terminal here.
func (r *rollout) computeGAE(lastValue float64, lastDone bool, gamma, lambda float64) {
	gae(r.rewards, r.values, r.dones, lastValue, lastDone, gamma, lambda, r.adv, r.returns, 1, 0)
}

// computeOwnGAE is computeGAE for every service's own rewards and values
// (per-service credit), bootstrapping from lastOwn.
func (r *rollout) computeOwnGAE(lastOwn []float64, lastDone bool, gamma, lambda float64) {
	for k, v := range lastOwn {
		gae(r.ownRewards, r.ownValues, r.dones, v, lastDone, gamma, lambda, r.ownAdv, r.ownReturns, len(lastOwn), k)
	}
}

// gae runs GAE over the series of element k of each step's stride
// values: step t's reward is rewards[t*stride+k].
func gae(rewards, values []float64, dones []bool, lastValue float64, lastDone bool, gamma, lambda float64, adv, returns []float64, stride, k int) {
	n := len(dones)
	var acc float64
	for t := n - 1; t >= 0; t-- {
		i := t*stride + k
		nextValue, nextNonTerminal := lastValue, 1.0
		if t == n-1 {
			if lastDone {
				nextNonTerminal = 0
			}
		} else {
			nextValue = values[i+stride]
		}
		if dones[t] {
			nextNonTerminal = 0
		}
		delta := rewards[i] + gamma*nextValue*nextNonTerminal - values[i]
		acc = delta + gamma*lambda*nextNonTerminal*acc
		adv[i] = acc
		returns[i] = acc + values[i]
	}
}
