package model

import "math"

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
	a.step++
	b1c := 1 - math.Pow(a.beta1, float64(a.step))
	b2c := 1 - math.Pow(a.beta2, float64(a.step))
	stepSize := lr / b1c
	sqrtB2c := math.Sqrt(b2c)
	for i, g := range grads {
		m := a.beta1*a.m[i] + (1-a.beta1)*g
		v := a.beta2*a.v[i] + (1-a.beta2)*g*g
		a.m[i], a.v[i] = m, v
		params[i] -= stepSize * m / (math.Sqrt(v)/sqrtB2c + a.eps)
	}
}

// clipGradNorm scales grads so their global L2 norm is at most maxNorm
// (torch.nn.utils.clip_grad_norm_) and returns the norm before clipping.
func clipGradNorm(grads []float64, maxNorm float64) float64 {
	var sum float64
	for _, g := range grads {
		sum += g * g
	}
	norm := math.Sqrt(sum)
	if coef := maxNorm / (norm + 1e-6); coef < 1 {
		for i := range grads {
			grads[i] *= coef
		}
	}
	return norm
}
