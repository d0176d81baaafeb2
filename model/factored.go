package model

import (
	"fmt"
	"io"
	"math"

	"gorgonia.org/tensor"
)

// factoredBatch is the non-differentiable data of a minibatch in a
// factored action space: every service's choice (b x n, sample-major),
// the valid choices (b x n x m; all valid where hasMask is false), and
// the PPO data of lossBatch. With per-service credit, svc* hold each
// service's old log-probability, advantage, own return and old own value
// (b x n), and adv and returns are the shared part's.
type factoredBatch struct {
	choices                          []int
	mask                             []bool
	hasMask                          []bool
	oldLogp, adv, returns, oldValues []float64
	svcOldLogp, svcAdv               []float64
	svcReturns, svcOldValues         []float64
	// weight is lossBatch's (shared): nil, or each sample's weight.
	weight []float64
}

func (bt *factoredBatch) w(s int) float64 {
	if bt.weight == nil {
		return 1
	}
	return bt.weight[s]
}

// choiceSlot locates the logits of sample s's service i among the loss
// op's inputs: choice j is in[in][off + s*sampleStride + i*nodeStride + j].
// It also locates a service's own value (one number, j = 0).
type choiceSlot struct{ in, off, sampleStride, nodeStride int }

func (c choiceSlot) at(s, i int) int { return c.off + s*c.sampleStride + i*c.nodeStride }

// factoredLayout says where the factored loss finds the choice logits,
// the values and (with per-service credit) the services' own values, and
// the shapes of its inputs.
type factoredLayout struct {
	shapes  []tensor.Shape
	choices choiceSlot
	vals    logitSlot
	own     *choiceSlot
}

// factoredJointLayout is one b x (n*m+v) input, [choices | value | own
// values] per sample (v = 1, or 1+n with per-service credit): one
// nn.Heads op over the GNN trunk.
func factoredJointLayout(b, n, m int, sv bool) factoredLayout {
	v := 1
	if sv {
		v += n
	}
	w := n*m + v
	l := factoredLayout{shapes: []tensor.Shape{{b, w}}, choices: choiceSlot{0, 0, w, m}, vals: logitSlot{0, n * m, w, 1}}
	if sv {
		l.own = &choiceSlot{0, n*m + 1, w, 1}
	}
	return l
}

// factoredMLPLayout is two inputs: the choices (b x n*m, one nn.Heads op
// over the policy trunk) and the values (b x v, [value | own values]) of
// the separate critic.
func factoredMLPLayout(b, n, m int, sv bool) factoredLayout {
	v := 1
	if sv {
		v += n
	}
	l := factoredLayout{shapes: []tensor.Shape{{b, n * m}, {b, v}}, choices: choiceSlot{0, 0, n * m, m}, vals: logitSlot{1, 0, v, 1}}
	if sv {
		l.own = &choiceSlot{1, 1, v, 1}
	}
	return l
}

// factoredPerNodeLayout is two inputs: each node's choices ((n*b) x w,
// node-major: row i*b+s, one nn.Heads op over the node embeddings, with
// the node's own value in its last column under per-service credit:
// w = m or m+1) and the values (b x 1).
func factoredPerNodeLayout(b, n, m int, sv bool) factoredLayout {
	w := m
	if sv {
		w = m + 1
	}
	l := factoredLayout{shapes: []tensor.Shape{{n * b, w}, {b, 1}}, choices: choiceSlot{0, 0, w, b * w}, vals: logitSlot{1, 0, 1, 1}}
	if sv {
		l.own = &choiceSlot{0, m, w, b * w}
	}
	return l
}

// factoredLoss is the actor-critic loss of a factored action space, as a
// fused op (nn.Layer): each service's choice is an independent
// categorical given the state, so a sample's log-probability and entropy
// are sums over services (SB3's MultiCategoricalDistribution), and
// masked choices have probability 0 and no gradient. The objective is
// policyLoss's (PPO's clipped surrogate or A2C's), on the joint
// log-probability.
type factoredLoss struct {
	algo            Algorithm
	b, n, m         int
	clip, clipVF    float64
	vfCoef, entCoef float64
	batch           *factoredBatch
	stats           lossStats
	lay             factoredLayout

	// scratch, rows r = s*n+i: logits (masked), log-softmax, softmax,
	// their gradient, row maxima; values and their gradient; own values
	// (r) and their gradient.
	x, ls, p, g, mx []float64
	val, gVal       []float64
	own, gOwn       []float64
	out             []float64
}

func newFactoredLoss(algo Algorithm, b, n, m int, h Hyperparameters, batch *factoredBatch, lay factoredLayout) *factoredLoss {
	rows := b * n
	return &factoredLoss{
		algo: algo, b: b, n: n, m: m,
		clip: h.ClipRange, clipVF: h.ClipRangeVF, vfCoef: h.VFCoef, entCoef: h.EntCoef,
		batch: batch, lay: lay,
		x: make([]float64, rows*m), ls: make([]float64, rows*m), p: make([]float64, rows*m), g: make([]float64, rows*m),
		mx: make([]float64, rows), val: make([]float64, b), gVal: make([]float64, b), out: make([]float64, 1),
		own: make([]float64, rows), gOwn: make([]float64, rows),
	}
}

// perService reports whether each service is credited separately.
func (l *factoredLoss) perService() bool { return l.lay.own != nil }

func (l *factoredLoss) Kind() string { return "FactoredPolicyLoss" }

func (l *factoredLoss) Describe(w io.Writer) {
	fmt.Fprintf(w, "%s,b=%d,n=%d,m=%d,clip=%g,clipVF=%g,vf=%g,ent=%g,in=%v", l.algo, l.b, l.n, l.m, l.clip, l.clipVF, l.vfCoef, l.entCoef, l.lay.shapes)
}

func (l *factoredLoss) InShapes() []tensor.Shape {
	s := make([]tensor.Shape, len(l.lay.shapes))
	for i, sh := range l.lay.shapes {
		s[i] = sh.Clone()
	}
	return s
}

func (l *factoredLoss) OutShape() tensor.Shape { return tensor.Shape{1} }

// logp is sample s's joint log-probability of its choices.
func (l *factoredLoss) logp(s int) float64 {
	var lp float64
	for i := range l.n {
		r := s*l.n + i
		lp += l.ls[r*l.m+l.batch.choices[r]]
	}
	return lp
}

func (l *factoredLoss) Forward(in [][]float64) []float64 {
	n, m := l.n, l.m
	bt := l.batch
	for s := 0; s < l.b; s++ {
		for i := range n {
			r := s*n + i
			o := l.lay.choices.at(s, i)
			copy(l.x[r*m:(r+1)*m], in[l.lay.choices.in][o:o+m])
			if l.perService() {
				l.own[r] = in[l.lay.own.in][l.lay.own.at(s, i)]
			}
		}
		if bt.hasMask[s] {
			applyMask(l.x[s*n*m:(s+1)*n*m], bt.mask[s*n*m:(s+1)*n*m])
		}
		l.lay.vals.gather(l.val[s:s+1], in, s, 1)
	}
	softmaxRows(l.ls, l.p, l.x, l.b*n, m, l.mx)
	var total float64
	var pg, vl, ent, kl, clipped float64
	for s := 0; s < l.b; s++ {
		w := bt.w(s)
		total += w
		if w == 0 {
			continue
		}
		var spg, svl, sent, skl, sclip float64
		if l.perService() {
			for i := range n {
				r := s*n + i
				logp := l.ls[r*m+bt.choices[r]]
				a := bt.svcAdv[r]
				spg += l.surrogate(logp, bt.svcOldLogp[r], a, &skl, &sclip)
				d := bt.svcReturns[r] - l.clipValue(l.own[r], bt.svcOldValues[r])
				svl += d * d
			}
		} else {
			spg += l.surrogate(l.logp(s), bt.oldLogp[s], bt.adv[s], &skl, &sclip)
		}
		d := bt.returns[s] - l.clipValue(l.val[s], bt.oldValues[s])
		svl += d * d
		for i := range n {
			r := (s*n + i) * m
			sent += entropyOf(l.p[r:r+m], l.ls[r:r+m])
		}
		pg, vl, ent, kl, clipped = pg+w*spg, vl+w*svl, ent+w*sent, kl+w*skl, clipped+w*sclip
	}
	inv := 1 / total
	if l.perService() {
		clipped /= float64(n)
	}
	l.stats = lossStats{
		PolicyLoss: pg * inv, ValueLoss: vl * inv, Entropy: ent * inv,
		ApproxKL: kl * inv, ClipFraction: clipped * inv,
	}
	l.stats.Loss = l.stats.PolicyLoss + l.vfCoef*l.stats.ValueLoss - l.entCoef*l.stats.Entropy
	l.out[0] = l.stats.Loss
	return l.out
}

// surrogate is one policy term of the loss for log-probability logp of an
// action with old log-probability old and advantage a (PPO's clipped
// surrogate, or A2C's), and accumulates the diagnostics.
func (l *factoredLoss) surrogate(logp, old, a float64, kl, clipped *float64) float64 {
	if l.algo == A2C {
		return -a * logp
	}
	r := math.Exp(logp - old)
	*kl += (r - 1) - (logp - old)
	if math.Abs(r-1) > l.clip {
		*clipped++
	}
	return -math.Min(r*a, clamp(r, 1-l.clip, 1+l.clip)*a)
}

// surrogateGrad is d(surrogate)/d(logp).
func (l *factoredLoss) surrogateGrad(logp, old, a float64) float64 {
	if l.algo == A2C {
		return -a
	}
	r := math.Exp(logp - old)
	unclipped, clippedTerm := r*a, clamp(r, 1-l.clip, 1+l.clip)*a
	// min picks the unclipped term, or the clipped one, whose gradient
	// vanishes outside [1-eps, 1+eps].
	if unclipped <= clippedTerm || (r >= 1-l.clip && r <= 1+l.clip) {
		return -a * r
	}
	return 0
}

// clipValue is PPO's clipped value prediction (v itself without clipVF).
func (l *factoredLoss) clipValue(v, old float64) float64 {
	if l.clipVF > 0 && l.algo == PPO {
		return old + clamp(v-old, -l.clipVF, l.clipVF)
	}
	return v
}

// valueGrad is d(vf*(R - V')^2)/dv for prediction v, old value old and
// return ret, scaled.
func (l *factoredLoss) valueGrad(v, old, ret, scale float64) float64 {
	if l.clipVF > 0 && l.algo == PPO && math.Abs(v-old) > l.clipVF {
		return 0
	}
	return 2 * l.vfCoef * (l.clipValue(v, old) - ret) * scale
}

// Backward writes the gradients of the choice logits and the values,
// scaled by gy[0]. A masked logit was replaced in Forward, so its
// gradient is 0; the softmax gives it probability 0, so every term
// below vanishes for it.
func (l *factoredLoss) Backward(_ [][]float64, gy []float64, gin [][]float64) {
	n, m := l.n, l.m
	bt := l.batch
	var total float64
	for s := 0; s < l.b; s++ {
		total += bt.w(s)
	}
	inv := gy[0] / total
	for s := 0; s < l.b; s++ {
		scale := inv * bt.w(s)
		e := -l.entCoef * scale
		var g float64
		if !l.perService() {
			g = l.surrogateGrad(l.logp(s), bt.oldLogp[s], bt.adv[s]) * scale
		}
		for i := range n {
			row := s*n + i
			p, ls, gr := l.p[row*m:(row+1)*m], l.ls[row*m:(row+1)*m], l.g[row*m:(row+1)*m]
			if l.perService() {
				g = l.surrogateGrad(ls[bt.choices[row]], bt.svcOldLogp[row], bt.svcAdv[row]) * scale
				l.gOwn[row] = l.valueGrad(l.own[row], bt.svcOldValues[row], bt.svcReturns[row], scale)
			}
			// dlogp/dz = onehot - softmax; the entropy bonus -ent*H has
			// dH/dz_j = -p_j (log p_j + H).
			h := 0.0
			if e != 0 {
				h = entropyOf(p, ls)
			}
			for j, pj := range p {
				gr[j] = -g * pj
				if e != 0 && pj > 0 {
					gr[j] += e * -pj * (ls[j] + h)
				}
			}
			gr[bt.choices[row]] += g
			if bt.hasMask[s] {
				for j, ok := range bt.mask[row*m : (row+1)*m] {
					if !ok {
						gr[j] = 0
					}
				}
			}
		}
		l.gVal[s] = l.valueGrad(l.val[s], bt.oldValues[s], bt.returns[s], scale)
	}
	dst := gin[l.lay.choices.in]
	for s := 0; s < l.b; s++ {
		for i := range n {
			o := l.lay.choices.at(s, i)
			r := s*n + i
			copy(dst[o:o+m], l.g[r*m:(r+1)*m])
			if l.perService() {
				gin[l.lay.own.in][l.lay.own.at(s, i)] = l.gOwn[r]
			}
		}
		l.lay.vals.scatter(gin, s, l.gVal[s:s+1])
	}
}
