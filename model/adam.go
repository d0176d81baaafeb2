package model

import (
	"math"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// adam is Adam (Kingma & Ba 2015, arXiv:1412.6980) with PyTorch's update
// order, over the flat parameter vector. grlscaler keeps its own rather
// than gorgonia's AdamSolver because the moments and the step count must go
// into checkpoints for an exact resume, and gorgonia keeps them inside its
// nodes' dual values where they cannot be saved or restored.
type adam struct {
	beta1, beta2, eps float64
	step              int64
	m, v              []float64
}

func newAdam(n int, eps float64) *adam {
	return &adam{beta1: 0.9, beta2: 0.999, eps: eps, m: make([]float64, n), v: make([]float64, n)}
}

// update applies one step with learning rate lr to params given grads.
func (a *adam) update(params, grads []float64, lr float64) {
	a.updateScaled(params, grads, lr, 1)
}

// updateScaled is update with the gradients scaled by scale (gradient
// clipping folded into the step: the scaled gradient is formed as the
// clipping's in-place scaling would, so the result is the same).
func (a *adam) updateScaled(params, grads []float64, lr, scale float64) {
	a.step++
	b1c := 1 - math.Pow(a.beta1, float64(a.step))
	b2c := 1 - math.Pow(a.beta2, float64(a.step))
	k := kernel.Adam{Beta1: a.beta1, Beta2: a.beta2, Scale: scale, StepSize: lr / b1c, SqrtBias2: math.Sqrt(b2c), Eps: a.eps}
	k.Step(params, grads, a.m, a.v)
}

// clipCoef returns the factor by which gradient clipping to maxNorm
// (torch.nn.utils.clip_grad_norm_) scales grads, 1 if it does not, and
// their global L2 norm before clipping.
func clipCoef(grads []float64, maxNorm float64) (coef, norm float64) {
	norm = math.Sqrt(kernel.Dot(grads, grads))
	if c := maxNorm / (norm + 1e-6); c < 1 {
		return c, norm
	}
	return 1, norm
}

// clipGradNorm scales grads so their global L2 norm is at most maxNorm
// (torch.nn.utils.clip_grad_norm_) and returns the norm before clipping.
func clipGradNorm(grads []float64, maxNorm float64) float64 {
	coef, norm := clipCoef(grads, maxNorm)
	if coef != 1 {
		kernel.Scale(coef, grads)
	}
	return norm
}
