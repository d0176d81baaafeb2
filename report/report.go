// Package report turns an experiment's evaluation runs into what a reviewer
// reads: per-controller statistics with 95 % confidence intervals, the
// choice of the best HPA configuration on validation seeds, paired
// comparisons of every agent against it, and the report's JSON, CSV,
// Markdown and HTML (with PNG plots) renderings.
//
// The package is pure: it computes from values and writes to io.Writers;
// the activities read and store the objects.
package report

import "fmt"

// SchemaVersion is report.json's schema_version. Version 2 replaced
// version 1's per-group layout with controllers, best HPA choices and
// paired comparisons, in snake_case; version 3 leaves a comparison's
// interval and test out (null, with inferred false) when there are fewer
// than MinPairs pairs or their differences are identical.
const SchemaVersion = 3

// Controller kinds.
const (
	KindAgent  = "agent"
	KindHPA    = "hpa"
	KindStatic = "static"
)

// Run splits. Validation runs choose the best HPA configuration and are
// never part of the reported test statistics.
const (
	SplitTest       = "test"
	SplitValidation = "validation"
)

// Metric names, in table order; the keys of Metrics maps.
const (
	MetricCost            = "cost_replica_seconds"
	MetricCPUCost         = "cost_cpu_core_seconds"
	MetricSLOViolation    = "slo_violation_rate"
	MetricLatencyMean     = "latency_mean_ms"
	MetricLatencyP50      = "latency_p50_ms"
	MetricLatencyP95      = "latency_p95_ms"
	MetricLatencyP99      = "latency_p99_ms"
	MetricErrorRate       = "error_rate"
	MetricScalingActions  = "scaling_actions"
	MetricRecoveryTime    = "recovery_time_s"
	MetricTotalReward     = "total_reward"
	MetricReplicasMean    = "replicas_mean"
	MetricReplicasMaxUsed = "replicas_max"
)

// MetricNames lists every metric in table order.
var MetricNames = []string{
	MetricCost, MetricCPUCost, MetricSLOViolation, MetricLatencyMean, MetricLatencyP50, MetricLatencyP95,
	MetricLatencyP99, MetricErrorRate, MetricScalingActions, MetricRecoveryTime, MetricTotalReward,
	MetricReplicasMean, MetricReplicasMaxUsed,
}

// Stat summarises one metric over n runs: mean, sample standard deviation
// and the 95 % confidence interval of the mean (Student's t).
type Stat struct {
	Mean     float64 `json:"mean"`
	Std      float64 `json:"std"`
	CI95Low  float64 `json:"ci95_low"`
	CI95High float64 `json:"ci95_high"`
	N        int     `json:"n"`
}

// Run is one evaluation run as the report lists it.
type Run struct {
	Controller string `json:"controller"`
	Kind       string `json:"kind"`
	Scenario   string `json:"scenario"`
	Split      string `json:"split"`
	Repetition int    `json:"repetition"`
	Seed       uint64 `json:"seed"`
	Valid      bool   `json:"valid"`
	Invalid    string `json:"invalid_reason,omitempty"`
	// SeriesKey is the run's series, relative to the experiment's
	// directory in the store (evals/...).
	SeriesKey string             `json:"series_key"`
	SHA256    string             `json:"sha256"`
	Metrics   map[string]float64 `json:"metrics"`
}

// ScenarioStats are one controller's statistics on one scenario.
type ScenarioStats struct {
	Scenario string          `json:"scenario"`
	Valid    bool            `json:"valid"`
	Metrics  map[string]Stat `json:"metrics"`
}

// Controller is one controller's test results: Metrics pool every valid
// test run over all scenarios (each scenario has the same number of
// repetitions, so each weighs the same); Scenarios break them down.
// A controller with an invalid run is invalid, with the reasons listed,
// and its invalid runs are left out of its statistics.
type Controller struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Valid     bool            `json:"valid"`
	Invalid   []string        `json:"invalid_reasons,omitempty"`
	Metrics   map[string]Stat `json:"metrics"`
	Scenarios []ScenarioStats `json:"scenarios"`
}

// BestHPA records which HPA configuration (or, in Report.BestAgents,
// which agent) was chosen for a scenario, on the validation seeds, and
// why.
type BestHPA struct {
	Scenario  string `json:"scenario"`
	Name      string `json:"name"`
	Criterion string `json:"criterion"`
	// Candidates are the valid HPA configurations' validation means of the
	// two criteria, in spec order.
	Candidates []Candidate `json:"candidates"`
}

// Candidate is an HPA configuration's validation score.
type Candidate struct {
	Name             string  `json:"name"`
	Valid            bool    `json:"valid"`
	SLOViolationRate float64 `json:"slo_violation_rate"`
	CostReplicaSecs  float64 `json:"cost_replica_seconds"`
}

// Comparison is a paired comparison of an agent against a baseline on one
// scenario and metric: the differences agent - baseline over the test runs
// that share a seed.
type Comparison struct {
	Agent    string  `json:"agent"`
	Baseline string  `json:"baseline"`
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	N        int     `json:"n"`
	MeanDiff float64 `json:"mean_diff"`
	StdDiff  float64 `json:"std_diff"`
	// Inferred says whether the interval and the test exist: at least
	// MinPairs pairs whose differences vary (see Paired). Without them
	// the four fields below are absent (null), and reports print n/a.
	Inferred bool     `json:"inferred"`
	CI95Low  *float64 `json:"ci95_low"`
	CI95High *float64 `json:"ci95_high"`
	// T and PValue are the paired t statistic and its two-sided p-value.
	T      *float64 `json:"t"`
	PValue *float64 `json:"p_value"`
}

// Interval formats the mean difference's 95 % interval as "[lo, hi]",
// or "n/a" when there is none.
func (c Comparison) Interval() string {
	if !c.Inferred {
		return "n/a"
	}
	return fmt.Sprintf("[%.4g, %.4g]", *c.CI95Low, *c.CI95High)
}

// P formats the p-value, or "n/a" when there is none.
func (c Comparison) P() string {
	if !c.Inferred {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", *c.PValue)
}

// TrainingChunk is one chunk of an agent's training curve.
type TrainingChunk struct {
	Chunk             int     `json:"chunk"`
	Step              int64   `json:"step"`
	MeanEpisodeReward float64 `json:"mean_episode_reward"`
	PolicyLoss        float64 `json:"policy_loss"`
	ValueLoss         float64 `json:"value_loss"`
	Entropy           float64 `json:"entropy"`
	// ValidationScore is the chunk's last greedy validation (mean total
	// reward), BestScore and BestStep the best so far and its step: the
	// policy the evaluation uses is the best one (0 without validation).
	ValidationScore float64 `json:"validation_score,omitempty"`
	BestScore       float64 `json:"best_score,omitempty"`
	BestStep        int64   `json:"best_step,omitempty"`
}

// Training is an agent's training curve.
type Training struct {
	Agent  string          `json:"agent"`
	Chunks []TrainingChunk `json:"chunks"`
}

// Report is report.json.
type Report struct {
	SchemaVersion int          `json:"schema_version"`
	ExperimentID  string       `json:"experiment_id"`
	Name          string       `json:"name"`
	SpecHash      string       `json:"spec_hash"`
	App           string       `json:"app"`
	SLOMs         float64      `json:"slo_ms"`
	Summary       string       `json:"summary"`
	Controllers   []Controller `json:"controllers"`
	BestHPA       []BestHPA    `json:"best_hpa"`
	// BestAgents are the agents chosen per scenario on the validation
	// seeds, by the same criterion as the HPA (empty for experiments
	// recorded before agents had validation runs).
	BestAgents []BestHPA `json:"best_agent"`
	// Verdicts say per scenario whether the best agent beats each
	// baseline; Outcome sums up the verdicts against the best HPA.
	Verdicts    []Verdict    `json:"verdicts"`
	Outcome     Outcome      `json:"outcome"`
	Comparisons []Comparison `json:"comparisons"`
	Training    []Training   `json:"training"`
	Runs        []Run        `json:"runs"`
	// Plots are the PNGs' keys relative to the experiment's reports/.
	Plots []string `json:"plots,omitempty"`
}
