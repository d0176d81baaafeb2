package model

import (
	"fmt"
	"io"
	"math"

	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// lossBatch is the non-differentiable data of one minibatch: the actions
// taken, their old log-probabilities and values, advantages and returns.
type lossBatch struct {
	dep, move             []int
	oldLogp, adv, returns []float64
	oldValues             []float64
	// weight, if not nil, weighs each sample (0 for the padding after a
	// recurrent policy's shorter episodes); the loss is the weighted mean.
	weight []float64
}

// w is sample s's weight.
func (bt *lossBatch) w(s int) float64 {
	if bt.weight == nil {
		return 1
	}
	return bt.weight[s]
}

// total is the sum of the weights of b samples.
func (bt *lossBatch) total(b int) float64 {
	if bt.weight == nil {
		return float64(b)
	}
	var t float64
	for _, w := range bt.weight {
		t += w
	}
	return t
}

// lossStats are the minibatch's diagnostics (SB3's train/* scalars).
type lossStats struct {
	Loss, PolicyLoss, ValueLoss, Entropy, ApproxKL, ClipFraction float64
}

// logitSlot locates one group of network outputs among the loss op's
// inputs: element j of row r of the group is
// in[in][off + r*rowStride + j*colStride].
type logitSlot struct{ in, off, rowStride, colStride int }

// gather copies row r (k values) of the group into dst.
func (sl logitSlot) gather(dst []float64, in [][]float64, r, k int) {
	src := in[sl.in]
	o := sl.off + r*sl.rowStride
	if sl.colStride == 1 {
		copy(dst[:k], src[o:o+k])
		return
	}
	for j := range k {
		dst[j] = src[o+j*sl.colStride]
	}
}

// scatter writes src (k values) into row r of the group.
func (sl logitSlot) scatter(gin [][]float64, r int, src []float64) {
	dst := gin[sl.in]
	o := sl.off + r*sl.rowStride
	if sl.colStride == 1 {
		copy(dst[o:o+len(src)], src)
		return
	}
	for j, v := range src {
		dst[o+j*sl.colStride] = v
	}
}

// lossLayout says where the loss finds the deployment logits, the move
// logits and the values, and the shapes of its inputs.
type lossLayout struct {
	shapes          []tensor.Shape
	dep, move, vals logitSlot
}

// separateLayout is three inputs: dep (B x n), move (B x M, or (n*B) x M
// for the per-node head) and values (B x 1).
func separateLayout(b, n, m int, perNode bool) lossLayout {
	rows := b
	if perNode {
		rows = n * b
	}
	return lossLayout{
		shapes: []tensor.Shape{{b, n}, {rows, m}, {b, 1}},
		dep:    logitSlot{0, 0, n, 1}, move: logitSlot{1, 0, m, 1}, vals: logitSlot{2, 0, 1, 1},
	}
}

// packedLayout is one B x (n+M+1) input holding [dep | move | value] per
// row: the output of one nn.Heads op (joint head).
func packedLayout(b, n, m int) lossLayout {
	w := n + m + 1
	return lossLayout{
		shapes: []tensor.Shape{{b, w}},
		dep:    logitSlot{0, 0, w, 1}, move: logitSlot{0, n, w, 1}, vals: logitSlot{0, n + m, w, 1},
	}
}

// actionValueLayout is two inputs: [dep | move] (B x (n+M), one nn.Heads
// op over the policy trunk) and values (B x 1), the MLP's separate critic.
func actionValueLayout(b, n, m int) lossLayout {
	w := n + m
	return lossLayout{
		shapes: []tensor.Shape{{b, w}, {b, 1}},
		dep:    logitSlot{0, 0, w, 1}, move: logitSlot{0, n, w, 1}, vals: logitSlot{1, 0, 1, 1},
	}
}

// perNodeLayout is two inputs: [score | move] per node ((n*B) x (1+M),
// node-major, one nn.Heads op over the node embeddings) and values
// (B x 1). Sample s's deployment logits are the scores of rows d*B+s.
func perNodeLayout(b, n, m int) lossLayout {
	w := 1 + m
	return lossLayout{
		shapes: []tensor.Shape{{n * b, w}, {b, 1}},
		dep:    logitSlot{0, 0, w, b * w}, move: logitSlot{0, 1, w, 1}, vals: logitSlot{1, 0, 1, 1},
	}
}

// policyLoss is the fused actor-critic loss over a minibatch of B samples,
// as an nn.Layer (a fused gorgonia op): its inputs hold the deployment
// logits (B x n), the move logits (B x M for the joint head; node-major
// (n*B) x M for the per-node head, where row d*B+b scores sample b's moves
// if it picks node d) and the values (B x 1), as a lossLayout places them;
// the output is the scalar loss as a 1-vector.
//
// PPO (Schulman et al. 2017, eq. 7 and 9, as SB3 computes it):
//
//	L = -mean(min(r*A, clip(r, 1-eps, 1+eps)*A)) + vf*mean((R - V')^2) - ent*mean(H)
//
// with r = exp(logp - oldLogp) and V' the value, clipped around the old
// value if clipVF > 0. A2C: L = -mean(A*logp) + vf*mean((R - V)^2) - ent*mean(H).
// The entropy of the per-node head is H(node) + sum_i p_i H(move | node i).
type policyLoss struct {
	algo            Algorithm
	perNode         bool
	b, n, m         int
	clip, clipVF    float64
	vfCoef, entCoef float64
	batch           *lossBatch
	stats           lossStats
	lay             lossLayout

	// scratch: the deployment (B x n) and move (rows x M) logits and the
	// values gathered from the inputs, their log-softmax and softmax
	// (filled by Forward, read by Backward), and their gradients.
	xDep, xMove, xVal []float64
	lsDep, lsMove     []float64
	pDep, pMove       []float64
	gDep, gMove, gVal []float64
	mx                []float64 // row maxima, softmaxRows' scratch
	out               []float64
}

func newPolicyLoss(algo Algorithm, perNode bool, b, n, m int, h Hyperparameters, batch *lossBatch) *policyLoss {
	return newPolicyLossLayout(algo, perNode, b, n, m, h, batch, separateLayout(b, n, m, perNode))
}

func newPolicyLossLayout(algo Algorithm, perNode bool, b, n, m int, h Hyperparameters, batch *lossBatch, lay lossLayout) *policyLoss {
	rows := b
	if perNode {
		rows = n * b
	}
	return &policyLoss{
		algo: algo, perNode: perNode, b: b, n: n, m: m,
		clip: h.ClipRange, clipVF: h.ClipRangeVF, vfCoef: h.VFCoef, entCoef: h.EntCoef,
		batch: batch, lay: lay,
		xDep: make([]float64, b*n), xMove: make([]float64, rows*m), xVal: make([]float64, b),
		lsDep: make([]float64, b*n), lsMove: make([]float64, rows*m),
		pDep: make([]float64, b*n), pMove: make([]float64, rows*m),
		gDep: make([]float64, b*n), gMove: make([]float64, rows*m), gVal: make([]float64, b),
		mx: make([]float64, rows), out: make([]float64, 1),
	}
}

func (l *policyLoss) moveRows() int {
	if l.perNode {
		return l.n * l.b
	}
	return l.b
}

// moveRow is the row of the move logits that sample s's chosen move came from.
func (l *policyLoss) moveRow(s, dep int) int {
	if l.perNode {
		return dep*l.b + s
	}
	return s
}

func (l *policyLoss) Kind() string { return "PolicyLoss" }

func (l *policyLoss) Describe(w io.Writer) {
	fmt.Fprintf(w, "%s,perNode=%v,b=%d,n=%d,m=%d,clip=%g,clipVF=%g,vf=%g,ent=%g,in=%v", l.algo, l.perNode, l.b, l.n, l.m, l.clip, l.clipVF, l.vfCoef, l.entCoef, l.lay.shapes)
}

func (l *policyLoss) InShapes() []tensor.Shape {
	s := make([]tensor.Shape, len(l.lay.shapes))
	for i, sh := range l.lay.shapes {
		s[i] = sh.Clone()
	}
	return s
}

func (l *policyLoss) OutShape() tensor.Shape { return tensor.Shape{1} }

// softmaxRows writes the row-wise log-softmax of x (rows x k) into ls and
// the softmax into p, each row shifted by its own max, with one
// (vectorised, kernel.Exp) exponential per element. mx is scratch for rows
// values. The exponential is element-wise, so a row gives the same bits
// alone (inference) as in a minibatch (the loss).
func softmaxRows(ls, p, x []float64, rows, k int, mx []float64) {
	for r := 0; r < rows; r++ {
		xr, pr := x[r*k:r*k+k], p[r*k:r*k+k]
		m := math.Inf(-1)
		for _, v := range xr {
			if v > m { // a NaN logit makes the row NaN below anyway
				m = v
			}
		}
		mx[r] = m
		for j, v := range xr {
			pr[j] = v - m
		}
	}
	kernel.Exp(p[:rows*k])
	for r := 0; r < rows; r++ {
		xr, pr, lr := x[r*k:r*k+k], p[r*k:r*k+k], ls[r*k:r*k+k]
		var s float64
		for _, e := range pr {
			s += e
		}
		lse := mx[r] + math.Log(s)
		for j, v := range xr {
			lr[j] = v - lse
		}
		inv := 1 / s
		for j := range pr {
			pr[j] *= inv
		}
	}
}

// entropyOf is -sum p log p given the probabilities and their logs.
func entropyOf(p, ls []float64) float64 {
	ls = ls[:len(p)]
	var h float64
	for j, v := range p {
		h -= v * ls[j]
	}
	return h
}

func (l *policyLoss) Forward(in [][]float64) []float64 {
	n, m := l.n, l.m
	for s := 0; s < l.b; s++ {
		l.lay.dep.gather(l.xDep[s*n:s*n+n], in, s, n)
		l.lay.vals.gather(l.xVal[s:s+1], in, s, 1)
	}
	for r := 0; r < l.moveRows(); r++ {
		l.lay.move.gather(l.xMove[r*m:r*m+m], in, r, m)
	}
	softmaxRows(l.lsDep, l.pDep, l.xDep, l.b, n, l.mx)
	softmaxRows(l.lsMove, l.pMove, l.xMove, l.moveRows(), m, l.mx)
	bt := l.batch
	inv := 1 / bt.total(l.b)
	var pg, vl, ent, kl, clipped float64
	for s := 0; s < l.b; s++ {
		w := bt.w(s)
		if w == 0 {
			continue
		}
		d, mv := bt.dep[s], bt.move[s]
		logp := l.lsDep[s*n+d] + l.lsMove[l.moveRow(s, d)*m+mv]
		a := bt.adv[s]
		if l.algo == A2C {
			pg -= w * a * logp
		} else {
			r := math.Exp(logp - bt.oldLogp[s])
			pg -= w * math.Min(r*a, clamp(r, 1-l.clip, 1+l.clip)*a)
			kl += w * ((r - 1) - (logp - bt.oldLogp[s]))
			if math.Abs(r-1) > l.clip {
				clipped += w
			}
		}
		v := l.valuePred(l.xVal[s], s)
		vl += w * (bt.returns[s] - v) * (bt.returns[s] - v)
		ent += w * l.entropy(s)
	}
	l.stats = lossStats{
		PolicyLoss: pg * inv, ValueLoss: vl * inv, Entropy: ent * inv,
		ApproxKL: kl * inv, ClipFraction: clipped * inv,
	}
	l.stats.Loss = l.stats.PolicyLoss + l.vfCoef*l.stats.ValueLoss - l.entCoef*l.stats.Entropy
	l.out[0] = l.stats.Loss
	return l.out
}

func (l *policyLoss) valuePred(v float64, s int) float64 {
	if l.clipVF > 0 && l.algo == PPO {
		old := l.batch.oldValues[s]
		return old + clamp(v-old, -l.clipVF, l.clipVF)
	}
	return v
}

// moveEntropy is the entropy of move row r.
func (l *policyLoss) moveEntropy(r int) float64 {
	return entropyOf(l.pMove[r*l.m:r*l.m+l.m], l.lsMove[r*l.m:r*l.m+l.m])
}

// entropy of sample s's joint action distribution.
func (l *policyLoss) entropy(s int) float64 {
	pd := l.pDep[s*l.n : s*l.n+l.n]
	h := entropyOf(pd, l.lsDep[s*l.n:s*l.n+l.n])
	if !l.perNode {
		return h + l.moveEntropy(s)
	}
	for i, p := range pd {
		h += p * l.moveEntropy(l.moveRow(s, i))
	}
	return h
}

// Backward writes dL/d(dep logits), dL/d(move logits), dL/d(values),
// scaled by gy[0], from the (log-)softmaxes of the last forward.
func (l *policyLoss) Backward(_ [][]float64, gy []float64, gin [][]float64) {
	clear(l.gDep)
	clear(l.gMove)
	n, m := l.n, l.m
	bt := l.batch
	inv := gy[0] / bt.total(l.b)
	for s := 0; s < l.b; s++ {
		scale := inv * bt.w(s)
		d, mv := bt.dep[s], bt.move[s]
		ld := l.lsDep[s*n : s*n+n]
		pd := l.pDep[s*n : s*n+n]
		gd := l.gDep[s*n : s*n+n]
		mrow := l.moveRow(s, d)
		logp := ld[d] + l.lsMove[mrow*m+mv]
		a := bt.adv[s]
		// g = dL/dlogp for this sample.
		var g float64
		if l.algo == A2C {
			g = -a
		} else {
			r := math.Exp(logp - bt.oldLogp[s])
			unclipped, clippedTerm := r*a, clamp(r, 1-l.clip, 1+l.clip)*a
			// min picks the unclipped term, or the clipped one, whose
			// gradient vanishes outside [1-eps, 1+eps].
			if unclipped <= clippedTerm || (r >= 1-l.clip && r <= 1+l.clip) {
				g = -a * r
			}
		}
		g *= scale
		// dlogp/dz = onehot - softmax, for both heads.
		for j, p := range pd {
			gd[j] -= g * p
		}
		gd[d] += g
		lm := l.lsMove[mrow*m : mrow*m+m]
		pm := l.pMove[mrow*m : mrow*m+m]
		gm := l.gMove[mrow*m : mrow*m+m]
		for j, p := range pm {
			gm[j] -= g * p
		}
		gm[mv] += g

		// Entropy bonus: L has -ent*H, and dH/dz_j = -p_j (log p_j + H).
		if l.entCoef != 0 {
			e := -l.entCoef * scale
			hd := entropyOf(pd, ld)
			if !l.perNode {
				for j, lp := range ld {
					gd[j] += e * -pd[j] * (lp + hd)
				}
				hm := entropyOf(pm, lm)
				for j, lp := range lm {
					gm[j] += e * -pm[j] * (lp + hm)
				}
			} else {
				// H = H(p) + sum_i p_i H_i: dH/ds_j = -p_j (log p_j + H(p)) + p_j (H_j - sum_i p_i H_i),
				// dH/dL_ij = p_i dH_i/dL_ij.
				var mix float64
				for i, p := range pd {
					mix += p * l.moveEntropy(l.moveRow(s, i))
				}
				for i, lp := range ld {
					p := pd[i]
					row := l.moveRow(s, i)
					li := l.lsMove[row*m : row*m+m]
					pi := l.pMove[row*m : row*m+m]
					hi := entropyOf(pi, li)
					gd[i] += e * (-p*(lp+hd) + p*(hi-mix))
					gi := l.gMove[row*m : row*m+m]
					for j, lq := range li {
						gi[j] += e * p * -pi[j] * (lq + hi)
					}
				}
			}
		}

		// Value loss vf*(R - V')^2: dV' = 2 vf (V' - R), passing through
		// the clip only inside its range.
		val := l.xVal[s]
		v := l.valuePred(val, s)
		dv := 2 * l.vfCoef * (v - bt.returns[s]) * scale
		if l.clipVF > 0 && l.algo == PPO && math.Abs(val-bt.oldValues[s]) > l.clipVF {
			dv = 0
		}
		l.gVal[s] = dv
	}
	// The slots tile the inputs, so every gradient value is written.
	for s := 0; s < l.b; s++ {
		l.lay.dep.scatter(gin, s, l.gDep[s*n:s*n+n])
		l.lay.vals.scatter(gin, s, l.gVal[s:s+1])
	}
	for r := 0; r < l.moveRows(); r++ {
		l.lay.move.scatter(gin, r, l.gMove[r*m:r*m+m])
	}
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
