package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPolicyLossGradientMatchesFiniteDifferences checks the fused loss's
// backward against central differences of its forward, for every variant.
func TestPolicyLossGradientMatchesFiniteDifferences(t *testing.T) {
	const b, n, m = 4, 3, 5
	for _, algo := range []Algorithm{PPO, A2C} {
		for _, perNode := range []bool{false, true} {
			for _, clipVF := range []float64{0, 0.3} {
				name := fmt.Sprintf("%s/perNode=%v/clipVF=%v", algo, perNode, clipVF)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(1, 2))
					h := DefaultHyperparameters()
					h.EntCoef = 0.05
					h.ClipRangeVF = clipVF
					batch := &lossBatch{
						dep: make([]int, b), move: make([]int, b),
						oldLogp: make([]float64, b), adv: make([]float64, b),
						returns: make([]float64, b), oldValues: make([]float64, b),
					}
					rows := b
					if perNode {
						rows = n * b
					}
					in := [][]float64{make([]float64, b*n), make([]float64, rows*m), make([]float64, b)}
					for _, x := range in {
						for i := range x {
							x[i] = rng.NormFloat64()
						}
					}
					for s := range b {
						batch.dep[s], batch.move[s] = rng.IntN(n), rng.IntN(m)
						// Old log-probabilities near the current ones, so some
						// ratios fall inside and some outside the clip range.
						batch.oldLogp[s] = -math.Log(float64(n*m)) + 0.4*rng.NormFloat64()
						batch.adv[s] = rng.NormFloat64()
						batch.returns[s] = rng.NormFloat64()
						batch.oldValues[s] = in[2][s] + 0.5*rng.NormFloat64()
					}
					l := newPolicyLoss(algo, perNode, b, n, m, h, batch)
					gin := [][]float64{make([]float64, b*n), make([]float64, rows*m), make([]float64, b)}
					want := l.Forward(in)[0]
					l.Backward(in, []float64{1}, gin)
					checkLossFD(t, l, in, gin)

					// The layouts of the fused heads: the same loss, each
					// checked by finite differences too.
					layouts := map[string]lossLayout{}
					if perNode {
						layouts["perNode"] = perNodeLayout(b, n, m)
					} else {
						layouts["packed"] = packedLayout(b, n, m)
						layouts["actionValue"] = actionValueLayout(b, n, m)
					}
					for name, lay := range layouts {
						pl := newPolicyLossLayout(algo, perNode, b, n, m, h, batch, lay)
						pin := make([][]float64, len(lay.shapes))
						pgin := make([][]float64, len(lay.shapes))
						for i, sh := range lay.shapes {
							pin[i] = make([]float64, sh.TotalSize())
							pgin[i] = make([]float64, sh.TotalSize())
						}
						for s := range b {
							lay.dep.scatter(pin, s, in[0][s*n:s*n+n])
							lay.vals.scatter(pin, s, in[2][s:s+1])
						}
						for r := range rows {
							lay.move.scatter(pin, r, in[1][r*m:r*m+m])
						}
						if got := pl.Forward(pin)[0]; got != want {
							t.Errorf("%s layout: loss %v, separate inputs give %v", name, got, want)
						}
						pl.Backward(pin, []float64{1}, pgin)
						checkLossFD(t, pl, pin, pgin)
					}
				})
			}
		}
	}
}

// checkLossFD compares the loss's backward (gin) with central differences
// of its forward at in.
func checkLossFD(t *testing.T, l *policyLoss, in, gin [][]float64) {
	t.Helper()
	const eps = 1e-6
	for k, x := range in {
		for i := range x {
			orig := x[i]
			x[i] = orig + eps
			up := l.Forward(in)[0]
			x[i] = orig - eps
			down := l.Forward(in)[0]
			x[i] = orig
			fd := (up - down) / (2 * eps)
			if math.Abs(fd-gin[k][i]) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("input %d[%d]: backward %.9f, finite difference %.9f", k, i, gin[k][i], fd)
			}
		}
	}
}
