package model

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/model/nn"
)

// Options configure a new trainer.
type Options struct {
	Policy PolicyKind
	Head   HeadKind
	Hyper  Hyperparameters
	// Seed determines everything random: initial weights, action sampling,
	// minibatch order and the environment's episode seeds.
	Seed uint64
	// ServiceValues turns on per-service credit (NetSpec.ServiceValues)
	// in a factored action space.
	ServiceValues bool
	// Net overrides the default architecture (SpecFor) if set.
	Net *NetSpec
}

// Progress is reported after every rollout, for heartbeats.
type Progress struct {
	Counters
	// MeanEpisodeReward is the mean return of the episodes completed in the
	// last rollout (NaN if none completed), in the environment's reward
	// units (before reward normalisation).
	MeanEpisodeReward float64
	Loss              lossStats
	// EvalScore is the evaluator's score of the policy after this
	// rollout's update (NaN when it did not run); BestScore and BestStep
	// the best so far (NaN and 0 before the first).
	EvalScore, BestScore float64
	BestStep             int64
}

// Evaluator scores a policy, acting greedily, on validation runs; higher
// is better. It must be deterministic: resumed training calls it again
// and must reach the same best policy.
type Evaluator func(p *Policy) (float64, error)

// best is the best policy the evaluator has seen: its weights and the
// observation statistics it read with.
type best struct {
	Score float64  `json:"score"`
	Step  int64    `json:"step"`
	Norm  *obsNorm `json:"obsNorm,omitempty"`
	theta []float64
}

// Report summarises a Train call.
type Report struct {
	Counters
	Episodes          int     `json:"episodes"`
	MeanEpisodeReward float64 `json:"meanEpisodeReward"`
	LastRollout       float64 `json:"lastRolloutMeanReward"`
	PolicyLoss        float64 `json:"policyLoss"`
	ValueLoss         float64 `json:"valueLoss"`
	Entropy           float64 `json:"entropy"`
	ApproxKL          float64 `json:"approxKL"`
	ClipFraction      float64 `json:"clipFraction"`
	LearningRate      float64 `json:"learningRate"`
	// EvalScore is the last evaluation's score; BestScore and BestStep the
	// best evaluation so far and the step it was made at (NaN, NaN and 0
	// without an evaluator).
	EvalScore float64 `json:"evalScore"`
	BestScore float64 `json:"bestScore"`
	BestStep  int64   `json:"bestStep"`
}

// Trainer trains an actor-critic against an environment, in chunks: Train
// runs whole rollouts, Save writes everything needed to continue exactly,
// and Load restores it in a fresh process. It is not safe for concurrent use.
type Trainer struct {
	env      envs.Env
	spec     NetSpec
	hyper    Hyperparameters
	lay      *layout
	theta    []float64
	grad     []float64
	opt      *adam
	pcg      *rand.PCG
	rng      *rand.Rand
	seed     uint64
	counters Counters
	graph    *nn.Graph
	inf      *inference
	graphs   map[int]*lossGraph
	roll     *rollout
	act      *actScratch
	flatBuf  []float64
	nodesBuf []float64
	choices  []int
	lastOwn  []float64
	in       *inputs
	seqLen   int // a recurrent policy's longest training sequence
	lastLoss lossStats
	norm     *obsNorm    // nil without observation normalisation
	rnorm    *rewardNorm // nil without reward normalisation
	best     *best
	eval     Evaluator
	every    int64
}

// NewTrainer builds a trainer with freshly initialised weights. Unless
// opts.Net is given, it resets env once to read the call graph's edges.
func NewTrainer(env envs.Env, opts Options) (*Trainer, error) {
	if err := opts.Hyper.Validate(); err != nil {
		return nil, err
	}
	var spec NetSpec
	if opts.Net != nil {
		spec = *opts.Net
	} else {
		obs, err := env.Reset(opts.Seed)
		if err != nil {
			return nil, fmt.Errorf("read the environment's graph: %w", err)
		}
		spec = SpecFor(env.Spec(), obs.Edges, opts.Policy, opts.Head)
		spec.ServiceValues = opts.ServiceValues
	}
	t, err := newTrainer(env, spec, opts.Hyper, opts.Seed)
	if err != nil {
		return nil, err
	}
	t.lay.init(t.theta, t.rng)
	t.lay.initKeepBias(t.spec, t.theta)
	t.lay.initLSTMForgetBias(t.spec, t.theta)
	return t, nil
}

// SetEvaluator makes Train score the policy with eval after every rollout
// that ends on a multiple of every steps (a multiple of NSteps), and keep
// the best-scoring weights, as Stable-Baselines3's EvalCallback keeps its
// best model. The best policy is saved in checkpoints and is what
// LoadPolicy returns. every 0 or a nil eval turns evaluation off.
func (t *Trainer) SetEvaluator(every int, eval Evaluator) error {
	if every < 0 || (every > 0 && every%t.hyper.NSteps != 0) {
		return fmt.Errorf("evaluation every %d steps: must be a positive multiple of nSteps (%d)", every, t.hyper.NSteps)
	}
	t.every, t.eval = int64(every), eval
	if every == 0 {
		t.eval = nil
	}
	return nil
}

func newTrainer(env envs.Env, spec NetSpec, h Hyperparameters, seed uint64) (*Trainer, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	es := env.Spec()
	if len(es.Services) != spec.Nodes || es.FlatSize != spec.FlatSize || es.NodeFeatures != spec.NodeFeatures || es.Moves != spec.Moves {
		return nil, fmt.Errorf("network for %d nodes, %d flat, %d node features, %d moves does not fit environment %s (%d, %d, %d, %d)",
			spec.Nodes, spec.FlatSize, spec.NodeFeatures, spec.Moves, es.App, len(es.Services), es.FlatSize, es.NodeFeatures, es.Moves)
	}
	lay := newLayout(spec)
	t := &Trainer{
		env: env, spec: spec, hyper: h, lay: lay, seed: seed,
		theta: make([]float64, lay.total), grad: make([]float64, lay.total),
		opt:     newAdam(lay.total, h.AdamEpsilon),
		pcg:     rand.NewPCG(seed, 0xa3c59ac2b1f1d7e5),
		graphs:  map[int]*lossGraph{},
		roll:    newRollout(h.NSteps, spec.FlatSize, spec.Nodes*spec.inputFeatures(), spec.Nodes, spec.Moves, spec.factored(), spec.ServiceValues),
		act:     newActScratch(spec.Nodes, spec.Moves),
		flatBuf: make([]float64, spec.FlatSize), nodesBuf: make([]float64, spec.Nodes*spec.inputFeatures()),
		in:      newInputs(spec, spec.Nodes),
		choices: make([]int, spec.Nodes), lastOwn: make([]float64, spec.Nodes),
	}
	if h.NormalizeObservations {
		t.norm = newObsNorm(spec.NodeFeatures, spec.FlatSize)
	}
	if spec.recurrent() {
		t.seqLen = min(max(es.EpisodeSteps, 1), h.NSteps)
	}
	if h.NormalizeRewards {
		t.rnorm = newRewardNorm(h.Gamma)
	}
	t.rng = rand.New(t.pcg)
	inf, err := newInference(spec, lay, t.theta, spec.Nodes, spec.Edges)
	if err != nil {
		return nil, err
	}
	t.inf = inf
	t.graph = inf.graph
	return t, nil
}

// Spec returns the network's architecture.
func (t *Trainer) Spec() NetSpec { return t.spec }

// Counters returns the progress so far.
func (t *Trainer) Counters() Counters { return t.counters }

// Hyperparameters returns the training configuration.
func (t *Trainer) Hyperparameters() Hyperparameters { return t.hyper }

// episodeSeed derives episode i's environment seed from the trainer seed.
func (t *Trainer) episodeSeed(i int64) uint64 {
	return envs.MixSeed(t.seed ^ envs.MixSeed(uint64(i)+1))
}

// Train runs rollouts and updates until at least steps more environment
// steps are done (whole rollouts of NSteps). Every rollout starts a fresh
// episode, so a chunk boundary never splits an episode and a resumed run
// continues exactly as an uninterrupted one. progress, if set, is called
// after every rollout; ctx cancels between steps.
func (t *Trainer) Train(ctx context.Context, steps int, progress func(Progress)) (Report, error) {
	if steps < 1 {
		return Report{}, fmt.Errorf("train: steps %d must be positive", steps)
	}
	rollouts := (steps + t.hyper.NSteps - 1) / t.hyper.NSteps
	rep := Report{EvalScore: math.NaN()}
	var rewardSum float64
	for range rollouts {
		epRewards, err := t.collect(ctx)
		if err != nil {
			return rep, err
		}
		lr, err := t.update()
		if err != nil {
			return rep, err
		}
		t.counters.Rollouts++
		mean := math.NaN()
		if len(epRewards) > 0 {
			var s float64
			for _, r := range epRewards {
				s += r
			}
			mean = s / float64(len(epRewards))
			rewardSum += s
			rep.Episodes += len(epRewards)
		}
		score := math.NaN()
		if t.eval != nil && t.counters.Steps%t.every == 0 {
			if score, err = t.evaluate(); err != nil {
				return rep, err
			}
			rep.EvalScore = score
		}
		rep.LastRollout = mean
		rep.LearningRate = lr
		if progress != nil {
			p := Progress{Counters: t.counters, MeanEpisodeReward: mean, Loss: t.lastLoss, EvalScore: score, BestScore: math.NaN()}
			if t.best != nil {
				p.BestScore, p.BestStep = t.best.Score, t.best.Step
			}
			progress(p)
		}
	}
	rep.Counters = t.counters
	rep.MeanEpisodeReward = math.NaN()
	if rep.Episodes > 0 {
		rep.MeanEpisodeReward = rewardSum / float64(rep.Episodes)
	}
	rep.BestScore = math.NaN()
	if t.best != nil {
		rep.BestScore, rep.BestStep = t.best.Score, t.best.Step
	}
	rep.PolicyLoss, rep.ValueLoss, rep.Entropy = t.lastLoss.PolicyLoss, t.lastLoss.ValueLoss, t.lastLoss.Entropy
	rep.ApproxKL, rep.ClipFraction = t.lastLoss.ApproxKL, t.lastLoss.ClipFraction
	return rep, nil
}

// evaluate scores the current policy and keeps it if it is the best yet.
func (t *Trainer) evaluate() (float64, error) {
	p := t.Policy()
	p.norm = t.norm.clone()
	score, err := t.eval(p)
	if err != nil {
		return 0, fmt.Errorf("train: evaluate at step %d: %w", t.counters.Steps, err)
	}
	if math.IsNaN(score) {
		return 0, fmt.Errorf("train: evaluate at step %d: score is NaN", t.counters.Steps)
	}
	if t.best == nil || score > t.best.Score {
		t.best = &best{Score: score, Step: t.counters.Steps, Norm: p.norm, theta: slices.Clone(t.theta)}
	}
	return score, nil
}

// collect fills the rollout and returns the returns of completed episodes
// (in the environment's units).
func (t *Trainer) collect(ctx context.Context) ([]float64, error) {
	r := t.roll
	r.pos = 0
	obs, err := t.resetEnv()
	if err != nil {
		return nil, err
	}
	n, m := t.spec.Nodes, t.spec.Moves
	fac, sv := t.spec.factored(), t.spec.ServiceValues
	var done []float64
	var epReturn float64
	var lastDone bool
	for r.pos < r.n {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		i := r.pos
		nodes, flat := r.nodes[i*r.nodeDim:(i+1)*r.nodeDim], r.flat[i*r.flatDim:(i+1)*r.flatDim]
		if err := t.prepare(obs, nodes, flat, true); err != nil {
			return nil, err
		}
		out, err := t.inf.forward(nodes, flat)
		if err != nil {
			return nil, err
		}
		var a envs.Action
		var logp float64
		if fac {
			r.hasMask[i] = obs.Mask != nil
			if obs.Mask != nil {
				if len(obs.Mask) != n*m {
					return nil, fmt.Errorf("train: observation mask has %d entries, want %d", len(obs.Mask), n*m)
				}
				copy(r.mask[i*n*m:(i+1)*n*m], obs.Mask)
			}
			var svcLogp []float64
			if sv {
				svcLogp = r.svcLogp[i*n : (i+1)*n]
				copy(r.ownValues[i*n:(i+1)*n], out.own)
			}
			logp = factoredActionFrom(out, n, m, obs.Mask, false, t.rng, t.act, t.choices, svcLogp)
			copy(r.choices[i*n:(i+1)*n], t.choices)
			a = envs.Action{Moves: t.choices}
		} else {
			a, logp = actionFrom(out, m, t.spec.Head == PerNodeHead, false, t.rng, t.act)
			r.dep[i], r.move[i] = a.Deployment, a.Move
		}
		value := out.value
		res, err := t.env.Step(a)
		if err != nil {
			return nil, fmt.Errorf("train: step %d: %w", t.counters.Steps, err)
		}
		reward := res.Reward
		scale := 1.0
		if t.rnorm != nil {
			reward = t.rnorm.scale(reward)
			scale = 1 / t.rnorm.std()
		}
		var own []float64
		if sv {
			if len(res.ServiceRewards) != n {
				return nil, fmt.Errorf("train: per-service credit needs the environment's per-service rewards (the slo goal's); step %d has %d for %d services", t.counters.Steps, len(res.ServiceRewards), n)
			}
			// The shared part is what the services' own parts leave of the
			// reward, all scaled alike.
			own = r.ownRewards[i*n : (i+1)*n]
			shared := res.Reward
			for k, p := range res.ServiceRewards {
				own[k] = clipReward(p * scale)
				shared -= p
			}
			reward = clipReward(shared * scale)
		}
		if res.Done && res.Truncated {
			// The episode was cut by its time limit, not ended: its return
			// goes on, so bootstrap from the value of the state it was cut
			// in (as SB3 does for TimeLimit.truncated).
			if err := t.prepare(res.Obs, t.nodesBuf, t.flatBuf, false); err != nil {
				return nil, err
			}
			tail, err := t.inf.forward(t.nodesBuf, t.flatBuf)
			if err != nil {
				return nil, err
			}
			reward += t.hyper.Gamma * tail.value
			for k := range own {
				own[k] += t.hyper.Gamma * tail.own[k]
			}
		}
		r.logp[i], r.values[i] = logp, value
		r.rewards[i], r.dones[i] = reward, res.Done
		epReturn += res.Reward
		r.pos++
		t.counters.Steps++
		obs = res.Obs
		lastDone = res.Done
		if res.Done {
			done = append(done, epReturn)
			epReturn = 0
			if r.pos < r.n {
				if obs, err = t.resetEnv(); err != nil {
					return nil, err
				}
			}
		}
	}
	lastValue := 0.0
	clear(t.lastOwn)
	if !lastDone {
		if err := t.prepare(obs, t.nodesBuf, t.flatBuf, false); err != nil {
			return nil, err
		}
		out, err := t.inf.forward(t.nodesBuf, t.flatBuf)
		if err != nil {
			return nil, err
		}
		lastValue = out.value
		copy(t.lastOwn, out.own)
	}
	r.computeGAE(lastValue, lastDone, t.hyper.Gamma, t.hyper.Lambda)
	if sv {
		r.computeOwnGAE(t.lastOwn, lastDone, t.hyper.Gamma, t.hyper.Lambda)
	}
	return done, nil
}

func (t *Trainer) resetEnv() (envs.Observation, error) {
	obs, err := t.env.Reset(t.episodeSeed(t.counters.Episodes))
	if err != nil {
		return obs, fmt.Errorf("train: reset episode %d: %w", t.counters.Episodes, err)
	}
	t.counters.Episodes++
	t.in.reset()
	t.inf.resetState()
	if t.rnorm != nil {
		t.rnorm.episodeStart()
	}
	return obs, nil
}

// prepare writes an observation's network inputs, normalised; learn
// first adds it to the running statistics (while collecting, as
// VecNormalize does in training mode). Every observation of an episode
// is prepared once, in order (a TGN's window advances).
func (t *Trainer) prepare(obs envs.Observation, nodes, flat []float64, learn bool) error {
	return t.in.prepare(obs, t.norm, learn, nodes, flat)
}

// learningRate is the step size now: constant, or SB3's linear schedule
// from LearningRate to 0 over TotalSteps.
func (t *Trainer) learningRate() float64 {
	h := t.hyper
	if !h.LinearSchedule {
		return h.LearningRate
	}
	remaining := 1 - float64(t.counters.Steps)/float64(h.TotalSteps)
	return h.LearningRate * math.Max(remaining, 0)
}

// update runs the algorithm's epochs of minibatch updates on the rollout.
func (t *Trainer) update() (float64, error) {
	h := t.hyper
	r := t.roll
	lr := t.learningRate()
	if t.spec.recurrent() {
		return lr, t.updateSequences(lr)
	}
	batch, epochs := h.BatchSize, h.Epochs
	if h.Algorithm == A2C {
		batch, epochs = r.n, 1
	}
	idx := make([]int, r.n)
	for i := range idx {
		idx[i] = i
	}
	for range epochs {
		if h.Algorithm == PPO {
			t.rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		}
		for start := 0; start < r.n; start += batch {
			mb := idx[start:min(start+batch, r.n)]
			if err := t.step(mb, lr); err != nil {
				return lr, err
			}
		}
	}
	return lr, nil
}

// padRow marks a minibatch row that is padding after a sequence's end.
const padRow = -1

// updateSequences is update for a recurrent policy: its minibatches are
// whole sequences (the rollout's episodes, or their parts inside the
// rollout), each padded to seqLen rows, so that the LSTM runs through them
// from their first step as it did while acting; a minibatch has about
// BatchSize real rows (at least one sequence).
func (t *Trainer) updateSequences(lr float64) error {
	h, r := t.hyper, t.roll
	var starts, lens []int
	for i := 0; i < r.n; {
		j := i
		for j < r.n-1 && !r.dones[j] && j-i+1 < t.seqLen {
			j++
		}
		starts, lens = append(starts, i), append(lens, j-i+1)
		i = j + 1
	}
	order := make([]int, len(starts))
	for i := range order {
		order[i] = i
	}
	per, epochs := max(1, h.BatchSize/t.seqLen), h.Epochs
	if h.Algorithm == A2C {
		per, epochs = len(order), 1
	}
	mb := make([]int, 0, per*t.seqLen)
	for range epochs {
		if h.Algorithm == PPO {
			t.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for g := 0; g < len(order); g += per {
			mb = mb[:0]
			for _, q := range order[g:min(g+per, len(order))] {
				for k := range t.seqLen {
					if k < lens[q] {
						mb = append(mb, starts[q]+k)
					} else {
						mb = append(mb, padRow)
					}
				}
			}
			if err := t.step(mb, lr); err != nil {
				return err
			}
		}
	}
	return nil
}

// graphFor returns the training graph for minibatches of b samples.
func (t *Trainer) graphFor(b int) (*lossGraph, error) {
	if lg, ok := t.graphs[b]; ok {
		return lg, nil
	}
	steps := 1
	if t.spec.recurrent() {
		steps = t.seqLen
	}
	lg, err := newLossGraph(t.spec, t.lay, t.theta, t.graph, b, steps, t.hyper)
	if err != nil {
		return nil, err
	}
	t.graphs[b] = lg
	return lg, nil
}

// step is one gradient step on the rollout rows mb (padRow for padding).
func (t *Trainer) step(mb []int, lr float64) error {
	lg, err := t.graphFor(len(mb))
	if err != nil {
		return err
	}
	t.fillBatch(lg, mb)
	bt := &lg.batch
	if t.hyper.NormalizeAdvantage && len(mb) > 1 {
		if t.spec.ServiceValues {
			normalizeWeighted(lg.fbatch.svcAdv, bt.weight, t.spec.Nodes)
		} else {
			normalizeWeighted(bt.adv, bt.weight, 1)
		}
	}
	if err := lg.exec(); err != nil {
		return err
	}
	t.lastLoss = lg.stats()
	// Clip the gradient's norm and step, in one pass over the parameters.
	coef, _ := clipCoef(lg.grad, t.hyper.MaxGradNorm)
	t.opt.updateScaled(t.theta, lg.grad, lr, coef)
	t.counters.Updates++
	return nil
}

// fillBatch copies rollout rows mb into the graph's inputs and batch; a
// padRow gets zero inputs and weight 0.
func (t *Trainer) fillBatch(lg *lossGraph, mb []int) {
	r := t.roll
	t.gather(lg, mb)
	bt := &lg.batch
	n, m := t.spec.Nodes, t.spec.Moves
	if t.spec.recurrent() {
		if bt.weight == nil {
			bt.weight = make([]float64, len(bt.adv))
			lg.fbatch.weight = bt.weight
		}
	}
	for k, i := range mb {
		if bt.weight != nil {
			bt.weight[k] = 1
		}
		if i == padRow {
			bt.weight[k] = 0
			bt.oldLogp[k], bt.adv[k], bt.returns[k], bt.oldValues[k] = 0, 0, 0, 0
			if t.spec.factored() {
				fb := &lg.fbatch
				clear(fb.choices[k*n : (k+1)*n])
				fb.hasMask[k] = false
				if t.spec.ServiceValues {
					for _, a := range [][]float64{fb.svcOldLogp, fb.svcAdv, fb.svcReturns, fb.svcOldValues} {
						clear(a[k*n : (k+1)*n])
					}
				}
			} else {
				bt.dep[k], bt.move[k] = 0, 0
			}
			continue
		}
		if t.spec.factored() {
			fb := &lg.fbatch
			copy(fb.choices[k*n:(k+1)*n], r.choices[i*n:(i+1)*n])
			fb.hasMask[k] = r.hasMask[i]
			if r.hasMask[i] {
				copy(fb.mask[k*n*m:(k+1)*n*m], r.mask[i*n*m:(i+1)*n*m])
			}
			if t.spec.ServiceValues {
				// A service's advantage is the shared part's plus its own.
				for j := range n {
					fb.svcOldLogp[k*n+j] = r.svcLogp[i*n+j]
					fb.svcAdv[k*n+j] = r.adv[i] + r.ownAdv[i*n+j]
					fb.svcReturns[k*n+j] = r.ownReturns[i*n+j]
					fb.svcOldValues[k*n+j] = r.ownValues[i*n+j]
				}
			}
		} else {
			bt.dep[k], bt.move[k] = r.dep[i], r.move[i]
		}
		bt.oldLogp[k], bt.adv[k], bt.returns[k], bt.oldValues[k] = r.logp[i], r.adv[i], r.returns[i], r.values[i]
	}
}

// gather copies rollout rows into the graph's inputs: node features
// node-major (row n*B+k is node n of sample k), flat features row-major;
// zeros for a padRow.
func (t *Trainer) gather(lg *lossGraph, mb []int) {
	r := t.roll
	n, f, b := t.spec.Nodes, t.spec.inputFeatures(), len(mb)
	for k, i := range mb {
		if i == padRow {
			for node := range n {
				clear(lg.nodesX[(node*b+k)*f : (node*b+k+1)*f])
			}
			clear(lg.flatX[k*r.flatDim : (k+1)*r.flatDim])
			continue
		}
		src := r.nodes[i*r.nodeDim : (i+1)*r.nodeDim]
		for node := range n {
			copy(lg.nodesX[(node*b+k)*f:(node*b+k+1)*f], src[node*f:(node+1)*f])
		}
		copy(lg.flatX[k*r.flatDim:(k+1)*r.flatDim], r.flat[i*r.flatDim:(i+1)*r.flatDim])
	}
}

// normalizeWeighted is normalize over the entries whose sample has a
// nonzero weight (all if weight is nil), per entries per sample; the
// others are left alone.
func normalizeWeighted(x, weight []float64, per int) {
	if weight == nil {
		normalize(x)
		return
	}
	var vals []float64
	for s, w := range weight {
		if w != 0 {
			vals = append(vals, x[s*per:(s+1)*per]...)
		}
	}
	if len(vals) < 2 {
		return
	}
	normalize(vals)
	k := 0
	for s, w := range weight {
		if w != 0 {
			copy(x[s*per:(s+1)*per], vals[k:k+per])
			k += per
		}
	}
}

// normalize standardises x in place as SB3 does: (x - mean) / (std + 1e-8)
// with torch.std's unbiased standard deviation.
func normalize(x []float64) {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(len(x)-1))
	for i := range x {
		x[i] = (x[i] - mean) / (std + 1e-8)
	}
}

// Save writes a checkpoint: weights, Adam's moments and step, the RNG
// state, counters, hyperparameters and architecture, with a checksum.
func (t *Trainer) Save(w io.Writer) error {
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save rng: %w", err)
	}
	h := checkpointHeader{
		Net: t.spec, Hyper: t.hyper, Counters: t.counters, Seed: t.seed,
		RNG: rng, AdamStep: t.opt.step, ObsNorm: t.norm, Best: t.best,
	}
	if t.rnorm != nil {
		h.RewardNorm = &t.rnorm.Ret
	}
	for _, p := range t.lay.params {
		h.Params = append(h.Params, paramInfo{Name: p.name, Shape: p.shape})
	}
	blocks := [][]float64{t.theta, t.opt.m, t.opt.v}
	if t.best != nil {
		blocks = append(blocks, t.best.theta)
	}
	return writeCheckpoint(w, h, blocks...)
}

// Load restores a trainer from a checkpoint to continue training on env.
// A damaged checkpoint, or one whose network does not fit env, is an
// error wrapping ErrCorruptCheckpoint or naming the mismatch.
func Load(r io.Reader, env envs.Env) (*Trainer, error) {
	h, vals, err := readCheckpoint(r)
	if err != nil {
		return nil, err
	}
	t, err := newTrainer(env, h.Net, h.Hyper, h.Seed)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	if err := t.checkLayout(h.Params); err != nil {
		return nil, err
	}
	n := t.lay.total
	want := 3 * n
	if h.Best != nil {
		want += n
	}
	if len(vals) != want {
		return nil, fmt.Errorf("%w: %d values, want %d", ErrCorruptCheckpoint, len(vals), want)
	}
	copy(t.theta, vals[:n])
	copy(t.opt.m, vals[n:2*n])
	copy(t.opt.v, vals[2*n:3*n])
	if err := t.restoreNorms(h); err != nil {
		return nil, err
	}
	if h.Best != nil {
		t.best = h.Best
		t.best.theta = slices.Clone(vals[3*n:])
	}
	t.opt.step = h.AdamStep
	t.counters = h.Counters
	if err := t.pcg.UnmarshalBinary(h.RNG); err != nil {
		return nil, fmt.Errorf("%w: rng state: %v", ErrCorruptCheckpoint, err)
	}
	return t, nil
}

// restoreNorms sets the normalisation statistics from a checkpoint, which
// must carry exactly those its hyperparameters call for.
func (t *Trainer) restoreNorms(h checkpointHeader) error {
	if (h.ObsNorm != nil) != (t.norm != nil) || (h.RewardNorm != nil) != (t.rnorm != nil) {
		return fmt.Errorf("%w: normalisation statistics do not match the hyperparameters", ErrCorruptCheckpoint)
	}
	if t.norm != nil {
		if err := h.ObsNorm.check(t.spec); err != nil {
			return err
		}
		t.norm = h.ObsNorm
	}
	if t.rnorm != nil {
		if len(h.RewardNorm.Mean) != 1 || len(h.RewardNorm.Var) != 1 {
			return fmt.Errorf("%w: reward statistics have %d values", ErrCorruptCheckpoint, len(h.RewardNorm.Mean))
		}
		t.rnorm.Ret = *h.RewardNorm
	}
	if h.Best != nil && h.Best.Norm != nil {
		if err := h.Best.Norm.check(t.spec); err != nil {
			return err
		}
	}
	return nil
}

func (t *Trainer) checkLayout(ps []paramInfo) error {
	if len(ps) != len(t.lay.params) {
		return fmt.Errorf("%w: %d parameters, the architecture has %d", ErrCorruptCheckpoint, len(ps), len(t.lay.params))
	}
	for i, p := range t.lay.params {
		if ps[i].Name != p.name || !slices.Equal(ps[i].Shape, p.shape) {
			return fmt.Errorf("%w: parameter %d is %s%v, the architecture has %s%v", ErrCorruptCheckpoint, i, ps[i].Name, ps[i].Shape, p.name, p.shape)
		}
	}
	return nil
}

// Weights returns a copy of the flat parameter vector (for tests and
// diagnostics).
func (t *Trainer) Weights() []float64 { return slices.Clone(t.theta) }
