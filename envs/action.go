package envs

import (
	"fmt"
	"strings"
)

// ActionSpace is how an agent's action becomes replica counts. The same
// space drives training (the Env applies it) and evaluation (the agent's
// Controller applies it through an Actuator), so what an agent learns is
// what it is scored on.
type ActionSpace string

// The action spaces.
const (
	// ActionSeed is the seed's MultiDiscrete [deployment, move]: one
	// service moves per step by one of NumMoves moves; a move past a
	// replica bound is not applied and costs the goal's penalty
	// (seed-spec 1.4, 1.6). Kept for fidelity and comparison.
	ActionSeed ActionSpace = "seed"
	// ActionFactored lets every service choose its own replica change from
	// FactoredDeltas at every step. Moves that would leave the replica
	// bounds are masked out (Observation.Mask) rather than penalised.
	ActionFactored ActionSpace = "factored"
	// ActionHPAResidual lets every service choose, at every step, the CPU
	// target of a Kubernetes HPA that then decides its replicas: the base
	// HPA's targets scaled by one of ResidualScales. Choice 0 keeps the
	// base target, so an agent that always chooses it is the HPA, and
	// training starts from the HPA's behaviour.
	ActionHPAResidual ActionSpace = "hpa-residual"
)

// ActionSpaces lists the action spaces, for validation and help.
var ActionSpaces = []ActionSpace{ActionSeed, ActionFactored, ActionHPAResidual}

// ParseActionSpace returns the action space named s or an error naming the
// valid choices.
func ParseActionSpace(s string) (ActionSpace, error) {
	for _, a := range ActionSpaces {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(ActionSpaces))
	for i, a := range ActionSpaces {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown action space %q (valid: %s)", s, strings.Join(names, ", "))
}

// FactoredDeltas are the replica changes of the factored action space;
// choice 0 is no change. Steps of 4 let a service follow an 8x surge
// within two steps (the HPA's default rate is max(2x, +4) per sync),
// while the small steps fine-tune.
var FactoredDeltas = []int{0, 1, 2, 4, -1, -2, -4}

// ResidualScales multiply the base HPA's utilisation targets in the
// hpa-residual action space; choice 0 keeps the base target. With a 50 %
// base they span 20 % (ready for a surge) to 175 % of the request (close
// to the limit where limits are twice the requests, as in Online
// Boutique).
var ResidualScales = []float64{1, 0.4, 0.6, 0.8, 1.25, 1.6, 2, 2.5, 3, 3.5}

// Factored reports whether the space has one choice per service (factored
// and hpa-residual) rather than the seed's single [deployment, move].
func (s ActionSpace) Factored() bool { return s == ActionFactored || s == ActionHPAResidual }

// Moves is the number of choices per decision: NumMoves for the seed's
// move head, or the choices per service.
func (s ActionSpace) Moves() int {
	switch s {
	case ActionFactored:
		return len(FactoredDeltas)
	case ActionHPAResidual:
		return len(ResidualScales)
	}
	return NumMoves
}

// ChoiceLabel names choice k of the space, for logs and reports.
func (s ActionSpace) ChoiceLabel(k int) string {
	switch s {
	case ActionFactored:
		if k < 0 || k >= len(FactoredDeltas) {
			return "?"
		}
		return fmt.Sprintf("%+d", FactoredDeltas[k])
	case ActionHPAResidual:
		if k < 0 || k >= len(ResidualScales) {
			return "?"
		}
		return fmt.Sprintf("target x%g", ResidualScales[k])
	}
	return MoveLabel(k)
}

// FillMask writes which choices are valid for each service in the given
// replica state into mask (services x Moves, row-major) and reports
// whether any choice is masked. Only the factored space masks: a change
// that would leave [minR, maxR] is invalid, and no change is always
// valid. The other spaces leave every choice valid.
func (s ActionSpace) FillMask(mask []bool, replicas, minR, maxR []int) bool {
	m := s.Moves()
	masked := false
	for i, r := range replicas {
		row := mask[i*m : (i+1)*m]
		for k := range row {
			ok := true
			if s == ActionFactored {
				t := r + FactoredDeltas[k]
				ok = t >= minR[i] && t <= maxR[i]
			}
			row[k] = ok
			masked = masked || !ok
		}
	}
	return masked
}

// Actuator turns an agent's action into desired replicas. An Env applies
// it in Step and the agent's Controller in Decide, so training and
// evaluation share one mapping. Implementations may keep state (the
// hpa-residual space's HPA keeps its recommendations); Reset clears it.
type Actuator interface {
	Space() ActionSpace
	Reset()
	// Apply writes into desired (len(view.Services)) the replicas action a
	// asks for in view, or -1 to leave a service unchanged. It reports a
	// seed move past a bound, which is then not applied.
	Apply(view *ClusterView, a Action, desired []int) (boundHit bool, err error)
	// NeedsPods reports whether Apply reads the pods' metrics in the view;
	// otherwise it reads only Replicas, and callers may skip the pods.
	NeedsPods() bool
}

// MoveActuator applies the seed and factored spaces, which need only the
// current replicas and the bounds.
type MoveActuator struct {
	space      ActionSpace
	minR, maxR []int
}

// NewMoveActuator returns the actuator of the seed or factored space over
// services with the given replica bounds.
func NewMoveActuator(space ActionSpace, minR, maxR []int) (*MoveActuator, error) {
	if space != ActionSeed && space != ActionFactored {
		return nil, fmt.Errorf("move actuator: action space %q is not seed or factored", space)
	}
	if len(minR) != len(maxR) {
		return nil, fmt.Errorf("move actuator: %d minimum and %d maximum replica bounds", len(minR), len(maxR))
	}
	return &MoveActuator{space: space, minR: minR, maxR: maxR}, nil
}

// Space implements Actuator.
func (m *MoveActuator) Space() ActionSpace { return m.space }

// Reset implements Actuator.
func (m *MoveActuator) Reset() {}

// NeedsPods implements Actuator.
func (m *MoveActuator) NeedsPods() bool { return false }

// Apply implements Actuator. A factored change past a bound (which the
// mask prevents a policy from choosing) is clamped to the bound.
func (m *MoveActuator) Apply(view *ClusterView, a Action, desired []int) (bool, error) {
	n := len(view.Services)
	if len(desired) != n || len(m.minR) != n {
		return false, fmt.Errorf("actuator: view has %d services, desired %d, bounds %d", n, len(desired), len(m.minR))
	}
	for i := range desired {
		desired[i] = -1
	}
	if m.space == ActionSeed {
		if err := a.Validate(n); err != nil {
			return false, err
		}
		d := a.Delta()
		if d == 0 {
			return false, nil
		}
		r := view.Services[a.Deployment].Replicas + d
		if r < m.minR[a.Deployment] || r > m.maxR[a.Deployment] {
			return true, nil
		}
		desired[a.Deployment] = r
		return false, nil
	}
	if len(a.Moves) != n {
		return false, fmt.Errorf("factored action has %d moves for %d services", len(a.Moves), n)
	}
	for i, k := range a.Moves {
		if k < 0 || k >= len(FactoredDeltas) {
			return false, fmt.Errorf("factored action: service %d choice %d out of range [0, %d)", i, k, len(FactoredDeltas))
		}
		if FactoredDeltas[k] == 0 {
			continue
		}
		r := view.Services[i].Replicas
		desired[i] = max(m.minR[i], min(m.maxR[i], r+FactoredDeltas[k]))
	}
	return false, nil
}

// MaskObservation sets obs.Mask for the replica state (nil when nothing
// is masked), using buf (services x Moves) as its storage.
func (s ActionSpace) MaskObservation(obs *Observation, buf []bool, replicas, minR, maxR []int) {
	obs.Mask = nil
	if s.FillMask(buf, replicas, minR, maxR) {
		obs.Mask = buf
	}
}
