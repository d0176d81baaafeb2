package model

import (
	"fmt"
	"io"
	"math"

	"gorgonia.org/tensor"
)

// lossBatch is the non-differentiable data of one minibatch: the actions
// taken, their old log-probabilities and values, advantages and returns.
type lossBatch struct {
	dep, move             []int
	oldLogp, adv, returns []float64
	oldValues             []float64
}

// lossStats are the minibatch's diagnostics (SB3's train/* scalars).
type lossStats struct {
	Loss, PolicyLoss, ValueLoss, Entropy, ApproxKL, ClipFraction float64
}

// policyLoss is the fused actor-critic loss over a minibatch of B samples,
// as an nn.Layer (a fused gorgonia op): inputs are the deployment logits (B x n),
// the move logits (B x M for the joint head; node-major (n*B) x M for the
// per-node head, where row d*B+b scores sample b's moves if it picks node
// d) and the values (B x 1); the output is the scalar loss as a 1-vector.
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

	// scratch: log-softmax of the deployment and move logits.
	lsDep, lsMove []float64
	out           []float64
}

func newPolicyLoss(algo Algorithm, perNode bool, b, n, m int, h Hyperparameters, batch *lossBatch) *policyLoss {
	rows := b
	if perNode {
		rows = n * b
	}
	return &policyLoss{
		algo: algo, perNode: perNode, b: b, n: n, m: m,
		clip: h.ClipRange, clipVF: h.ClipRangeVF, vfCoef: h.VFCoef, entCoef: h.EntCoef,
		batch: batch, lsDep: make([]float64, b*n), lsMove: make([]float64, rows*m), out: make([]float64, 1),
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
	fmt.Fprintf(w, "%s,perNode=%v,b=%d,n=%d,m=%d,clip=%g,clipVF=%g,vf=%g,ent=%g", l.algo, l.perNode, l.b, l.n, l.m, l.clip, l.clipVF, l.vfCoef, l.entCoef)
}

func (l *policyLoss) InShapes() []tensor.Shape {
	return []tensor.Shape{{l.b, l.n}, {l.moveRows(), l.m}, {l.b, 1}}
}

func (l *policyLoss) OutShape() tensor.Shape { return tensor.Shape{1} }

// logSoftmaxRows writes the row-wise log-softmax of x (rows x k) into dst,
// each row shifted by its own max.
func logSoftmaxRows(dst, x []float64, rows, k int) {
	for r := 0; r < rows; r++ {
		xr, dr := x[r*k:r*k+k], dst[r*k:r*k+k]
		mx := math.Inf(-1)
		for _, v := range xr {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range xr {
			s += math.Exp(v - mx)
		}
		lse := mx + math.Log(s)
		for j, v := range xr {
			dr[j] = v - lse
		}
	}
}

// entropyRow is -sum p log p of one log-softmax row.
func entropyRow(ls []float64) float64 {
	var h float64
	for _, v := range ls {
		h -= math.Exp(v) * v
	}
	return h
}

func (l *policyLoss) Forward(in [][]float64) []float64 {
	dep, move, val := in[0], in[1], in[2]
	logSoftmaxRows(l.lsDep, dep, l.b, l.n)
	logSoftmaxRows(l.lsMove, move, l.moveRows(), l.m)
	bt := l.batch
	inv := 1 / float64(l.b)
	var pg, vl, ent, kl, clipped float64
	for s := 0; s < l.b; s++ {
		d, mv := bt.dep[s], bt.move[s]
		logp := l.lsDep[s*l.n+d] + l.lsMove[l.moveRow(s, d)*l.m+mv]
		a := bt.adv[s]
		if l.algo == A2C {
			pg -= a * logp
		} else {
			r := math.Exp(logp - bt.oldLogp[s])
			pg -= math.Min(r*a, clamp(r, 1-l.clip, 1+l.clip)*a)
			kl += (r - 1) - (logp - bt.oldLogp[s])
			if math.Abs(r-1) > l.clip {
				clipped++
			}
		}
		v := l.valuePred(val[s], s)
		vl += (bt.returns[s] - v) * (bt.returns[s] - v)
		ent += l.entropy(s)
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

// entropy of sample s's joint action distribution.
func (l *policyLoss) entropy(s int) float64 {
	ld := l.lsDep[s*l.n : s*l.n+l.n]
	h := entropyRow(ld)
	if !l.perNode {
		return h + entropyRow(l.lsMove[s*l.m:s*l.m+l.m])
	}
	for i, lp := range ld {
		row := l.moveRow(s, i)
		h += math.Exp(lp) * entropyRow(l.lsMove[row*l.m:row*l.m+l.m])
	}
	return h
}

// backward writes dL/d(dep logits), dL/d(move logits), dL/d(values),
// scaled by gy[0], from the log-softmaxes of the last forward.
func (l *policyLoss) Backward(in [][]float64, gy []float64, gin [][]float64) {
	val := in[2]
	gDep, gMove, gVal := gin[0], gin[1], gin[2]
	clear(gDep)
	clear(gMove)
	clear(gVal)
	bt := l.batch
	scale := gy[0] / float64(l.b)
	for s := 0; s < l.b; s++ {
		d, mv := bt.dep[s], bt.move[s]
		ld := l.lsDep[s*l.n : s*l.n+l.n]
		gd := gDep[s*l.n : s*l.n+l.n]
		logp := ld[d] + l.lsMove[l.moveRow(s, d)*l.m+mv]
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
		for j, lp := range ld {
			gd[j] -= g * math.Exp(lp)
		}
		gd[d] += g
		mrow := l.moveRow(s, d)
		lm := l.lsMove[mrow*l.m : mrow*l.m+l.m]
		gm := gMove[mrow*l.m : mrow*l.m+l.m]
		for j, lp := range lm {
			gm[j] -= g * math.Exp(lp)
		}
		gm[mv] += g

		// Entropy bonus: L has -ent*H, and dH/dz_j = -p_j (log p_j + H).
		if l.entCoef != 0 {
			e := -l.entCoef * scale
			hd := entropyRow(ld)
			if !l.perNode {
				for j, lp := range ld {
					gd[j] += e * -math.Exp(lp) * (lp + hd)
				}
				hm := entropyRow(lm)
				for j, lp := range lm {
					gm[j] += e * -math.Exp(lp) * (lp + hm)
				}
			} else {
				// H = H(p) + sum_i p_i H_i: dH/ds_j = -p_j (log p_j + H(p)) + p_j (H_j - sum_i p_i H_i),
				// dH/dL_ij = p_i dH_i/dL_ij.
				var mix float64
				for i, lp := range ld {
					row := l.moveRow(s, i)
					mix += math.Exp(lp) * entropyRow(l.lsMove[row*l.m:row*l.m+l.m])
				}
				for i, lp := range ld {
					p := math.Exp(lp)
					row := l.moveRow(s, i)
					li := l.lsMove[row*l.m : row*l.m+l.m]
					hi := entropyRow(li)
					gd[i] += e * (-p*(lp+hd) + p*(hi-mix))
					gi := gMove[row*l.m : row*l.m+l.m]
					for j, lq := range li {
						gi[j] += e * p * -math.Exp(lq) * (lq + hi)
					}
				}
			}
		}

		// Value loss vf*(R - V')^2: dV' = 2 vf (V' - R), passing through
		// the clip only inside its range.
		v := l.valuePred(val[s], s)
		dv := 2 * l.vfCoef * (v - bt.returns[s]) * scale
		if l.clipVF > 0 && l.algo == PPO && math.Abs(val[s]-bt.oldValues[s]) > l.clipVF {
			dv = 0
		}
		gVal[s] = dv
	}
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
