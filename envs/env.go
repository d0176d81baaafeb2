// Package envs defines the reinforcement-learning environment that grlscaler
// trains and evaluates against: a gym-style Env with one interface and several
// backends (sim: the digital twin; replay: gym-hpa's dataset-driven mode; k8s:
// a real cluster), the action and observation encodings of gym-hpa, the reward
// goals, and the Controller interface that the HPA, static replicas and the RL
// agent all implement.
package envs

import (
	"fmt"
	"time"
)

// Env is a gym-style environment. It is not safe for concurrent use.
type Env interface {
	// Reset starts a new episode whose randomness derives only from seed.
	Reset(seed uint64) (Observation, error)
	// Step applies one action and advances the environment by one step.
	Step(a Action) (StepResult, error)
	// Spec describes the shapes of observations and actions.
	Spec() Spec
}

// Spec describes an environment's spaces so a policy can be sized for it.
type Spec struct {
	App          string
	Services     []string // canonical node order: observations, actions, CSV columns
	FlatSize     int      // len(Observation.Flat): FlatPerService per service
	NodeFeatures int      // columns of Observation.Nodes
	// Action is the action space; Moves is its number of choices per
	// decision (Action.Moves()).
	Action       ActionSpace
	Moves        int
	MinReplicas  []int
	MaxReplicas  []int
	EpisodeSteps int
	StepPeriod   time.Duration
}

// Edge is a weighted, directed service-call edge in canonical node indices.
type Edge struct {
	Src, Dst int
	// Weight is the edge's share of the busiest edge's request rate in this
	// observation, in [0, 1]; a static topology uses 1.
	Weight float64
}

// FlatPerService is the number of values per service in the gym-hpa flat
// observation: pods, desired replicas, cpu (m), memory (MiB), rx and tx (kB/s).
const FlatPerService = 6

// NodeFeatureNames names the columns of Observation.Nodes. Every feature is
// normalised to roughly [0, 1] so that graph encoders see comparable scales
// (the seed fed raw values of 0..20000, seed-spec 8 S2).
var NodeFeatureNames = []string{
	"replicas_frac",    // replicas / max replicas
	"ready_frac",       // ready replicas / replicas
	"cpu_util",         // cpu usage / (replicas x cpu request), capped at 4, divided by 4
	"mem_util",         // memory / (replicas x memory request), capped at 4, divided by 4
	"rps_norm",         // log1p(incoming rps) / log1p(10000)
	"latency_norm",     // service p95 latency / (p95 + 100 ms)
	"error_rate",       // failed fraction of incoming requests
	"desired_gap_frac", // (desired - replicas) / max replicas, in [-1, 1]
	"e2e_latency",      // the app's end-to-end p95: log1p(ms) / log1p(30000), the same on every node
}

// Observation carries the flat gym-hpa vector and the graph form.
type Observation struct {
	// Flat is the gym-hpa vector in raw units (seed-spec 1.3), FlatPerService
	// values per service in canonical order: 66 for Online Boutique, 12 for Redis.
	Flat []float64
	// Nodes is the node feature matrix, row-major, len = services x NodeFeatures.
	Nodes []float64
	// Edges is the weighted call graph.
	Edges []Edge
	// Mask, when not nil, says which choices are valid now (services x
	// Spec.Moves, row-major): the factored space masks replica changes
	// past the bounds (ActionSpace.FillMask).
	Mask []bool
}

// Clone returns a deep copy, for callers that keep observations across steps
// (backends reuse their buffers).
func (o Observation) Clone() Observation {
	return Observation{
		Flat:  append([]float64(nil), o.Flat...),
		Nodes: append([]float64(nil), o.Nodes...),
		Edges: append([]Edge(nil), o.Edges...),
		Mask:  append([]bool(nil), o.Mask...),
	}
}

// StepResult is what Step returns.
type StepResult struct {
	Obs    Observation
	Reward float64
	Done   bool
	// Truncated marks an episode ended by its time limit rather than by a
	// terminal state: the return goes on beyond it, so a learner should
	// bootstrap from Obs (every episode of the twin and of a cluster ends
	// this way; the seed treated it as terminal).
	Truncated bool
	// ServiceRewards, when the goal has per-service terms, are the parts
	// of Reward that only service i's own replicas earn (the slo goal's
	// cost of each service's replicas; Reward is their sum plus a shared
	// part). A learner may credit them to each service's own choices
	// (model's per-service credit); nil otherwise. Reused by the next step.
	ServiceRewards []float64
	Info           Info
}

// Info holds what happened in a step beyond the observation: the true (not
// lagged) state of the app, for evaluation and logging.
type Info struct {
	Time          time.Duration // simulated time at the end of the step
	Replicas      []int         // spec.replicas per service
	Ready         []int         // ready replicas per service
	CPUMilli      []float64     // cpu usage per service, summed over pods
	MemMiB        []float64     // memory working set per service, summed over pods
	OfferedRPS    float64       // requests per second the users tried to send
	RPS           float64       // requests per second actually served (incl. failed)
	LatencyP50Ms  float64       // end-to-end, over all request types
	LatencyP95Ms  float64
	LatencyP99Ms  float64
	LatencyMeanMs float64
	ErrorRate     float64 // failed fraction of end-to-end requests
	// BoundHit is set when the action asked for replicas outside
	// [min, max]; the action was then not applied and the reward is the
	// goal's penalty.
	BoundHit bool
}

// Moves: 0 = none, 1..7 = add k, 8..14 = remove k-7 (seed-spec 1.4).
const (
	NumMoves = 15
	MaxDelta = 7
)

// Action is an agent's decision: the seed's MultiDiscrete [deployment,
// move] (ActionSeed), or one choice per service in Moves (the factored
// spaces, see ActionSpace).
type Action struct {
	Deployment int
	Move       int
	Moves      []int
}

// Delta returns the replica change the action asks for.
func (a Action) Delta() int {
	switch {
	case a.Move >= 1 && a.Move <= MaxDelta:
		return a.Move
	case a.Move > MaxDelta && a.Move < NumMoves:
		return -(a.Move - MaxDelta)
	}
	return 0
}

// Validate checks the action against an environment with n services.
func (a Action) Validate(n int) error {
	if a.Deployment < 0 || a.Deployment >= n {
		return fmt.Errorf("action deployment %d out of range [0, %d)", a.Deployment, n)
	}
	if a.Move < 0 || a.Move >= NumMoves {
		return fmt.Errorf("action move %d out of range [0, %d)", a.Move, NumMoves)
	}
	return nil
}

// MoveFor returns the move code that changes replicas by delta, clamped to
// the representable range [-7, 7].
func MoveFor(delta int) int {
	switch {
	case delta > 0:
		return min(delta, MaxDelta)
	case delta < 0:
		return MaxDelta + min(-delta, MaxDelta)
	}
	return 0
}

// MoveLabel is the seed's label for a move code.
func MoveLabel(move int) string {
	d := Action{Move: move}.Delta()
	switch {
	case d > 0:
		return fmt.Sprintf("Add-%d", d)
	case d < 0:
		return fmt.Sprintf("Stop-%d", -d)
	}
	return "None"
}
