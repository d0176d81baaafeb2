package nn

import (
	"fmt"
	"math"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// Activation is the element-wise non-linearity applied at the end of a layer.
type Activation uint8

// The supported activations.
const (
	// Identity leaves the pre-activation unchanged (value and policy heads).
	Identity Activation = iota
	// Tanh is the hyperbolic tangent.
	Tanh
	// ReLU is max(0, z).
	ReLU
	// ELU is z for z > 0 and exp(z)-1 otherwise (alpha = 1, Clevert et al.
	// 2016), the activation Veličković et al. (2018) use between GAT layers.
	ELU
)

// String returns the lower-case name of the activation.
func (a Activation) String() string {
	switch a {
	case Identity:
		return "identity"
	case Tanh:
		return "tanh"
	case ReLU:
		return "relu"
	case ELU:
		return "elu"
	}
	return fmt.Sprintf("Activation(%d)", uint8(a))
}

func (a Activation) check() error {
	if a > ELU {
		return fmt.Errorf("unknown activation %v", a)
	}
	return nil
}

// applyAct replaces every z in v by act(z).
func applyAct(a Activation, v []float64) {
	switch a {
	case Tanh:
		kernel.Tanh(v)
	case ReLU:
		kernel.AddBiasReLU(v, 1, len(v), nil)
	case ELU:
		for i, z := range v {
			if z <= 0 {
				v[i] = math.Expm1(z)
			}
		}
	}
}

// actGrad returns dZ = gy ⊙ act'(z) for the m x n output y: gy itself for
// Identity (no copy), otherwise dz filled as actBackward does. If db is
// not nil it is set to the column sums of dZ (a bias gradient), in the
// same pass where the kernels allow.
func actGrad(a Activation, dz, gy, y []float64, m, n int, db []float64) []float64 {
	if db != nil {
		clear(db[:n])
	}
	return actGradAcc(a, dz, gy, y, m, n, db)
}

// actGradAcc is actGrad adding the column sums into db instead of setting
// them.
func actGradAcc(a Activation, dz, gy, y []float64, m, n int, db []float64) []float64 {
	switch a {
	case Identity:
		if db != nil {
			kernel.SumRows(db, gy, m, n)
		}
		return gy[:m*n]
	case ReLU:
		kernel.ReLUGrad(dz, gy, y, m, n, db)
	case Tanh:
		kernel.TanhGrad(dz, gy, y, m, n, db)
	default:
		actBackward(a, dz, gy, y[:m*n])
		if db != nil {
			kernel.SumRows(db, dz, m, n)
		}
	}
	return dz[:m*n]
}

// actBackward sets dz = gy * act'(z) from the activation's output y alone,
// so backward needs no copy of the pre-activation: tanh' = 1 - y^2,
// relu' = [y > 0], elu' = 1 for y > 0 and exp(z) = y + 1 otherwise. At the
// kink z = 0 relu' is taken as 0 and elu' as 1 (y = 0 there).
func actBackward(a Activation, dz, gy, y []float64) {
	dz = dz[:len(y)]
	gy = gy[:len(y)]
	switch a {
	case Identity:
		copy(dz, gy)
	case Tanh:
		kernel.TanhGrad(dz, gy, y, 1, len(y), nil)
	case ReLU:
		kernel.ReLUGrad(dz, gy, y, 1, len(y), nil)
	case ELU:
		for i, v := range y {
			if v > 0 {
				dz[i] = gy[i]
			} else {
				dz[i] = gy[i] * (v + 1)
			}
		}
	}
}

// biasAct adds b (length n, or nil) to every row of the m x n matrix v and
// applies act.
func biasAct(a Activation, v []float64, m, n int, b []float64) {
	if a == ReLU {
		kernel.AddBiasReLU(v, m, n, b)
		return
	}
	if b != nil {
		kernel.AddRowVector(v, m, n, b)
	}
	applyAct(a, v[:m*n])
}
