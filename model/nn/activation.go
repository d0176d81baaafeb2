package nn

import (
	"fmt"
	"math"
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
		for i, z := range v {
			v[i] = math.Tanh(z)
		}
	case ReLU:
		for i, z := range v {
			if z < 0 {
				v[i] = 0
			}
		}
	case ELU:
		for i, z := range v {
			if z <= 0 {
				v[i] = math.Expm1(z)
			}
		}
	}
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
		for i, v := range y {
			dz[i] = gy[i] * (1 - v*v)
		}
	case ReLU:
		for i, v := range y {
			if v > 0 {
				dz[i] = gy[i]
			} else {
				dz[i] = 0
			}
		}
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
