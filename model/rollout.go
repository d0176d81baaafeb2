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
	logp    []float64
	values  []float64
	rewards []float64
	dones   []bool // episode ended after this step
	adv     []float64
	returns []float64
	pos     int
}

func newRollout(n, flatDim, nodeDim int) *rollout {
	return &rollout{
		n: n, flatDim: flatDim, nodeDim: nodeDim,
		flat: make([]float64, n*flatDim), nodes: make([]float64, n*nodeDim),
		dep: make([]int, n), move: make([]int, n),
		logp: make([]float64, n), values: make([]float64, n), rewards: make([]float64, n),
		dones: make([]bool, n), adv: make([]float64, n), returns: make([]float64, n),
	}
}

// computeGAE fills advantages and returns with generalised advantage
// estimation (Schulman et al. 2016, arXiv:1506.02438), bootstrapping from
// lastValue unless the last step ended an episode. Episodes of the
// environments here end by time limit; like SB3 without its time-limit
// bootstrap, an episode end is treated as terminal.
func (r *rollout) computeGAE(lastValue float64, lastDone bool, gamma, lambda float64) {
	var gae float64
	for t := r.n - 1; t >= 0; t-- {
		nextValue, nextNonTerminal := lastValue, 1.0
		if t == r.n-1 {
			if lastDone {
				nextNonTerminal = 0
			}
		} else {
			nextValue = r.values[t+1]
		}
		if r.dones[t] {
			nextNonTerminal = 0
		}
		delta := r.rewards[t] + gamma*nextValue*nextNonTerminal - r.values[t]
		gae = delta + gamma*lambda*nextNonTerminal*gae
		r.adv[t] = gae
		r.returns[t] = gae + r.values[t]
	}
}
