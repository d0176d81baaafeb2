package model

import (
	"errors"
	"fmt"
)

// Algorithm names the training algorithm.
type Algorithm string

// The algorithms.
const (
	// PPO is proximal policy optimisation (Schulman et al. 2017,
	// arXiv:1707.06347) as Stable-Baselines3 implements it.
	PPO Algorithm = "ppo"
	// A2C is advantage actor-critic (Mnih et al. 2016, arXiv:1602.01783):
	// one gradient step per rollout, no clipping.
	A2C Algorithm = "a2c"
)

// Hyperparameters configure training. Defaults come from DefaultHyperparameters
// and are Stable-Baselines3's PPO defaults (stable_baselines3/ppo/ppo.py);
// the seed ran PPO with NSteps 500 (gym-hpa) or 256 and EntCoef 0.01
// (GRLScaler's GNN runs), and A2C with NSteps 5, VFCoef 0.25, EntCoef 0.01.
type Hyperparameters struct {
	Algorithm Algorithm `json:"algorithm"`
	// LearningRate is Adam's step size at the start of training.
	LearningRate float64 `json:"learningRate"`
	// LinearSchedule decays the learning rate linearly to 0 over
	// TotalSteps (SB3's linear_schedule); off means constant.
	LinearSchedule bool `json:"linearSchedule"`
	// TotalSteps is the planned training length, used by the schedule.
	TotalSteps int `json:"totalSteps"`
	// NSteps is the rollout length: environment steps between updates.
	NSteps int `json:"nSteps"`
	// BatchSize is the minibatch size (PPO); A2C uses the whole rollout.
	BatchSize int `json:"batchSize"`
	// Epochs is the number of passes over a rollout (PPO).
	Epochs int `json:"epochs"`
	// Gamma is the discount factor.
	Gamma float64 `json:"gamma"`
	// Lambda is GAE's lambda (Schulman et al. 2016, arXiv:1506.02438).
	Lambda float64 `json:"lambda"`
	// ClipRange is PPO's surrogate clip epsilon.
	ClipRange float64 `json:"clipRange"`
	// ClipRangeVF clips the value update around the old value (PPO);
	// 0 disables it, as in SB3.
	ClipRangeVF float64 `json:"clipRangeVF"`
	// EntCoef weighs the entropy bonus.
	EntCoef float64 `json:"entCoef"`
	// VFCoef weighs the value loss.
	VFCoef float64 `json:"vfCoef"`
	// MaxGradNorm clips the global gradient norm.
	MaxGradNorm float64 `json:"maxGradNorm"`
	// NormalizeAdvantage standardises advantages per minibatch.
	NormalizeAdvantage bool `json:"normalizeAdvantage"`
	// AdamEpsilon is Adam's epsilon (PyTorch's default 1e-8 in SB3 PPO).
	AdamEpsilon float64 `json:"adamEpsilon"`
	// NormalizeObservations standardises the network's inputs with running
	// statistics and clips them to ±10; NormalizeRewards divides rewards by
	// the running standard deviation of the discounted return and clips
	// them to ±10. Both as SB3's VecNormalize, whose use its docs
	// recommend for PPO and A2C; the statistics are checkpointed.
	NormalizeObservations bool `json:"normalizeObservations"`
	NormalizeRewards      bool `json:"normalizeRewards"`
}

// DefaultHyperparameters returns Stable-Baselines3's PPO defaults, with
// VecNormalize's observation and reward normalisation on.
func DefaultHyperparameters() Hyperparameters {
	return Hyperparameters{
		Algorithm:          PPO,
		LearningRate:       3e-4,
		LinearSchedule:     false,
		TotalSteps:         100_000,
		NSteps:             2048,
		BatchSize:          64,
		Epochs:             10,
		Gamma:              0.99,
		Lambda:             0.95,
		ClipRange:          0.2,
		ClipRangeVF:        0,
		EntCoef:            0,
		VFCoef:             0.5,
		MaxGradNorm:        0.5,
		NormalizeAdvantage: true,
		AdamEpsilon:        1e-8,

		NormalizeObservations: true,
		NormalizeRewards:      true,
	}
}

// DefaultA2CHyperparameters returns Stable-Baselines3's A2C defaults
// (stable_baselines3/a2c/a2c.py) except the optimiser: SB3 uses RMSprop,
// grlscaler uses Adam for both algorithms.
func DefaultA2CHyperparameters() Hyperparameters {
	h := DefaultHyperparameters()
	h.Algorithm = A2C
	h.LearningRate = 7e-4
	h.NSteps = 5
	h.BatchSize = 5
	h.Epochs = 1
	h.Lambda = 1
	h.NormalizeAdvantage = false
	return h
}

// Validate checks every field and names the bad ones.
func (h Hyperparameters) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("hyperparameters.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if h.Algorithm != PPO && h.Algorithm != A2C {
		bad("algorithm", "unknown %q (valid: ppo, a2c)", h.Algorithm)
	}
	if h.LearningRate <= 0 || h.LearningRate > 1 {
		bad("learningRate", "%g must be in (0, 1]", h.LearningRate)
	}
	if h.NSteps < 1 {
		bad("nSteps", "%d must be at least 1", h.NSteps)
	}
	if h.BatchSize < 1 || h.BatchSize > h.NSteps {
		bad("batchSize", "%d must be in [1, nSteps=%d]", h.BatchSize, h.NSteps)
	}
	if h.Epochs < 1 {
		bad("epochs", "%d must be at least 1", h.Epochs)
	}
	if h.TotalSteps < 1 {
		bad("totalSteps", "%d must be at least 1", h.TotalSteps)
	}
	if h.Gamma < 0 || h.Gamma > 1 {
		bad("gamma", "%g must be in [0, 1]", h.Gamma)
	}
	if h.Lambda < 0 || h.Lambda > 1 {
		bad("lambda", "%g must be in [0, 1]", h.Lambda)
	}
	if h.ClipRange <= 0 && h.Algorithm == PPO {
		bad("clipRange", "%g must be positive", h.ClipRange)
	}
	if h.ClipRangeVF < 0 {
		bad("clipRangeVF", "%g must not be negative", h.ClipRangeVF)
	}
	if h.EntCoef < 0 || h.VFCoef < 0 {
		bad("entCoef/vfCoef", "%g and %g must not be negative", h.EntCoef, h.VFCoef)
	}
	if h.MaxGradNorm <= 0 {
		bad("maxGradNorm", "%g must be positive", h.MaxGradNorm)
	}
	if h.AdamEpsilon <= 0 {
		bad("adamEpsilon", "%g must be positive", h.AdamEpsilon)
	}
	return errors.Join(errs...)
}
