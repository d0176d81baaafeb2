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
	// Net overrides the default architecture (SpecFor) if set.
	Net *NetSpec
}

// Progress is reported after every rollout, for heartbeats.
type Progress struct {
	Counters
	// MeanEpisodeReward is the mean return of the episodes completed in the
	// last rollout (NaN if none completed).
	MeanEpisodeReward float64
	Loss              lossStats
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
	lastLoss lossStats
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
	}
	t, err := newTrainer(env, spec, opts.Hyper, opts.Seed)
	if err != nil {
		return nil, err
	}
	t.lay.init(t.theta, t.rng)
	return t, nil
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
		roll:    newRollout(h.NSteps, spec.FlatSize, spec.Nodes*spec.NodeFeatures),
		act:     newActScratch(spec.Nodes, spec.Moves),
		flatBuf: make([]float64, spec.FlatSize), nodesBuf: make([]float64, spec.Nodes*spec.NodeFeatures),
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
	var rep Report
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
		rep.LastRollout = mean
		rep.LearningRate = lr
		if progress != nil {
			progress(Progress{Counters: t.counters, MeanEpisodeReward: mean, Loss: t.lastLoss})
		}
	}
	rep.Counters = t.counters
	rep.MeanEpisodeReward = math.NaN()
	if rep.Episodes > 0 {
		rep.MeanEpisodeReward = rewardSum / float64(rep.Episodes)
	}
	rep.PolicyLoss, rep.ValueLoss, rep.Entropy = t.lastLoss.PolicyLoss, t.lastLoss.ValueLoss, t.lastLoss.Entropy
	rep.ApproxKL, rep.ClipFraction = t.lastLoss.ApproxKL, t.lastLoss.ClipFraction
	return rep, nil
}

// collect fills the rollout and returns the returns of completed episodes.
func (t *Trainer) collect(ctx context.Context) ([]float64, error) {
	r := t.roll
	r.pos = 0
	obs, err := t.resetEnv()
	if err != nil {
		return nil, err
	}
	var done []float64
	var epReturn float64
	var lastDone bool
	for r.pos < r.n {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		i := r.pos
		if err := t.prepare(obs, r.nodes[i*r.nodeDim:(i+1)*r.nodeDim], r.flat[i*r.flatDim:(i+1)*r.flatDim]); err != nil {
			return nil, err
		}
		out, err := t.inf.forward(r.nodes[i*r.nodeDim:(i+1)*r.nodeDim], r.flat[i*r.flatDim:(i+1)*r.flatDim])
		if err != nil {
			return nil, err
		}
		a, logp := actionFrom(out, t.spec.Moves, t.spec.Head == PerNodeHead, false, t.rng, t.act)
		res, err := t.env.Step(a)
		if err != nil {
			return nil, fmt.Errorf("train: step %d: %w", t.counters.Steps, err)
		}
		r.dep[i], r.move[i], r.logp[i], r.values[i] = a.Deployment, a.Move, logp, out.value
		r.rewards[i], r.dones[i] = res.Reward, res.Done
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
	if !lastDone {
		if err := t.prepare(obs, t.nodesBuf, t.flatBuf); err != nil {
			return nil, err
		}
		out, err := t.inf.forward(t.nodesBuf, t.flatBuf)
		if err != nil {
			return nil, err
		}
		lastValue = out.value
	}
	r.computeGAE(lastValue, lastDone, t.hyper.Gamma, t.hyper.Lambda)
	return done, nil
}

func (t *Trainer) resetEnv() (envs.Observation, error) {
	obs, err := t.env.Reset(t.episodeSeed(t.counters.Episodes))
	if err != nil {
		return obs, fmt.Errorf("train: reset episode %d: %w", t.counters.Episodes, err)
	}
	t.counters.Episodes++
	return obs, nil
}

// prepare copies an observation into network inputs, checking its shape.
func (t *Trainer) prepare(obs envs.Observation, nodes, flat []float64) error {
	return prepareObs(t.spec, obs, nodes, flat)
}

func prepareObs(spec NetSpec, obs envs.Observation, nodes, flat []float64) error {
	if len(obs.Nodes) != len(nodes) || (spec.Head != PerNodeHead && len(obs.Flat) != len(flat)) {
		return fmt.Errorf("observation has %d node values and %d flat values; the network takes %d and %d",
			len(obs.Nodes), len(obs.Flat), len(nodes), len(flat))
	}
	copy(nodes, obs.Nodes)
	if spec.Head != PerNodeHead {
		prepareFlat(flat, obs.Flat)
	}
	return nil
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

// graphFor returns the training graph for minibatches of b samples.
func (t *Trainer) graphFor(b int) (*lossGraph, error) {
	if lg, ok := t.graphs[b]; ok {
		return lg, nil
	}
	lg, err := newLossGraph(t.spec, t.lay, t.theta, t.graph, b, t.hyper)
	if err != nil {
		return nil, err
	}
	t.graphs[b] = lg
	return lg, nil
}

// step is one gradient step on the rollout rows mb.
func (t *Trainer) step(mb []int, lr float64) error {
	lg, err := t.graphFor(len(mb))
	if err != nil {
		return err
	}
	r := t.roll
	t.gather(lg, mb)
	bt := &lg.batch
	for k, i := range mb {
		bt.dep[k], bt.move[k] = r.dep[i], r.move[i]
		bt.oldLogp[k], bt.adv[k], bt.returns[k], bt.oldValues[k] = r.logp[i], r.adv[i], r.returns[i], r.values[i]
	}
	if t.hyper.NormalizeAdvantage && len(mb) > 1 {
		normalize(bt.adv)
	}
	if err := lg.exec(); err != nil {
		return err
	}
	t.lastLoss = lg.loss.stats
	// Clip the gradient's norm and step, in one pass over the parameters.
	coef, _ := clipCoef(lg.grad, t.hyper.MaxGradNorm)
	t.opt.updateScaled(t.theta, lg.grad, lr, coef)
	t.counters.Updates++
	return nil
}

// gather copies rollout rows into the graph's inputs: node features
// node-major (row n*B+k is node n of sample k), flat features row-major.
func (t *Trainer) gather(lg *lossGraph, mb []int) {
	r := t.roll
	n, f, b := t.spec.Nodes, t.spec.NodeFeatures, len(mb)
	for k, i := range mb {
		src := r.nodes[i*r.nodeDim : (i+1)*r.nodeDim]
		for node := range n {
			copy(lg.nodesX[(node*b+k)*f:(node*b+k+1)*f], src[node*f:(node+1)*f])
		}
		copy(lg.flatX[k*r.flatDim:(k+1)*r.flatDim], r.flat[i*r.flatDim:(i+1)*r.flatDim])
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
		RNG: rng, AdamStep: t.opt.step,
	}
	for _, p := range t.lay.params {
		h.Params = append(h.Params, paramInfo{Name: p.name, Shape: p.shape})
	}
	return writeCheckpoint(w, h, t.theta, t.opt.m, t.opt.v)
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
	if len(vals) != 3*n {
		return nil, fmt.Errorf("%w: %d values, want %d", ErrCorruptCheckpoint, len(vals), 3*n)
	}
	copy(t.theta, vals[:n])
	copy(t.opt.m, vals[n:2*n])
	copy(t.opt.v, vals[2*n:])
	t.opt.step = h.AdamStep
	t.counters = h.Counters
	if err := t.pcg.UnmarshalBinary(h.RNG); err != nil {
		return nil, fmt.Errorf("%w: rng state: %v", ErrCorruptCheckpoint, err)
	}
	return t, nil
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
