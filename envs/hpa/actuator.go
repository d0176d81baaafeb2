package hpa

import (
	"fmt"

	"github.com/grlscaler/grlscaler/envs"
)

// ResidualActuator is the hpa-residual action space (envs.ActionHPAResidual):
// a Kubernetes HPA decides every service's replicas, and the agent's
// choice for a service scales that service's utilisation targets by
// envs.ResidualScales[choice] before each sync. Choice 0 keeps the base
// configuration, so an agent that always chooses it is exactly this HPA.
type ResidualActuator struct {
	c      *Controller
	scales []float64
}

var _ envs.Actuator = (*ResidualActuator)(nil)

// NewResidualActuator returns the hpa-residual actuator over the base HPA
// configuration.
func NewResidualActuator(base Config) (*ResidualActuator, error) {
	c, err := New(base)
	if err != nil {
		return nil, fmt.Errorf("hpa-residual: %w", err)
	}
	return &ResidualActuator{c: c}, nil
}

// Space implements envs.Actuator.
func (r *ResidualActuator) Space() envs.ActionSpace { return envs.ActionHPAResidual }

// Reset implements envs.Actuator: the HPA forgets its recommendations.
func (r *ResidualActuator) Reset() { r.c.Reset() }

// NeedsPods implements envs.Actuator: the HPA reads the pods' metrics.
func (r *ResidualActuator) NeedsPods() bool { return true }

// Base returns the base HPA's name, e.g. "hpa-cpu-50".
func (r *ResidualActuator) Base() string { return r.c.Name() }

// Apply implements envs.Actuator.
func (r *ResidualActuator) Apply(view *envs.ClusterView, a envs.Action, desired []int) (bool, error) {
	n := len(view.Services)
	if len(a.Moves) != n || len(desired) != n {
		return false, fmt.Errorf("hpa-residual action has %d choices for %d services", len(a.Moves), n)
	}
	if cap(r.scales) < n {
		r.scales = make([]float64, n)
	}
	r.scales = r.scales[:n]
	for i, k := range a.Moves {
		if k < 0 || k >= len(envs.ResidualScales) {
			return false, fmt.Errorf("hpa-residual action: service %d choice %d out of range [0, %d)", i, k, len(envs.ResidualScales))
		}
		r.scales[i] = envs.ResidualScales[k]
	}
	r.c.DecideScaled(view, r.scales, desired)
	return false, nil
}

// NewActuator returns the actuator of an action space for services with
// the given replica bounds; base is the HPA of the hpa-residual space
// (ignored by the others).
func NewActuator(space envs.ActionSpace, base Config, minR, maxR []int) (envs.Actuator, error) {
	if space == envs.ActionHPAResidual {
		return NewResidualActuator(base)
	}
	return envs.NewMoveActuator(space, minR, maxR)
}
