package hpa

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Controller-manager flag defaults, from kubernetes
// pkg/controller/podautoscaler/config/v1alpha1/defaults.go
// (RecommendedDefaultHPAControllerConfiguration) and the HPA docs.
const (
	// DefaultSyncPeriod is --horizontal-pod-autoscaler-sync-period.
	DefaultSyncPeriod = 15 * time.Second
	// DefaultTolerance is --horizontal-pod-autoscaler-tolerance.
	DefaultTolerance = 0.1
	// DefaultInitialReadinessDelay is --horizontal-pod-autoscaler-initial-readiness-delay.
	DefaultInitialReadinessDelay = 30 * time.Second
	// DefaultCPUInitializationPeriod is --horizontal-pod-autoscaler-cpu-initialization-period.
	DefaultCPUInitializationPeriod = 5 * time.Minute
	// DefaultDownscaleStabilizationWindow is --horizontal-pod-autoscaler-downscale-stabilization.
	DefaultDownscaleStabilizationWindow = 5 * time.Minute
	// DefaultMetricWindow is the window metrics-server reports with each pod
	// sample. The HPA reads it from the PodMetrics object (metrics/client.go
	// getContainerMetrics: Window: m.Window.Duration); metrics-server sets it
	// to the time between its last two scrapes (pkg/storage/pod.go), i.e. its
	// --metric-resolution, which the upstream manifests set to 15s.
	DefaultMetricWindow = 15 * time.Second
)

// API validation limits, from kubernetes pkg/apis/autoscaling/validation
// (MaxPeriodSeconds 1800, MaxStabilizationWindowSeconds 3600).
const (
	maxPolicyPeriod        = 1800 * time.Second
	maxStabilizationWindow = 3600 * time.Second
)

// Resource names accepted in MetricSpec.Resource.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "memory"
)

// Scaling policy types (autoscalingv2.HPAScalingPolicyType).
const (
	PodsPolicy    = "Pods"
	PercentPolicy = "Percent"
)

// Select policies (autoscalingv2.ScalingPolicySelect).
const (
	SelectMax      = "Max"
	SelectMin      = "Min"
	SelectDisabled = "Disabled"
)

// MetricSpec is one ContainerResource metric with a Utilization target.
type MetricSpec struct {
	// Resource is "cpu" or "memory".
	Resource string
	// TargetUtilization is the target average utilisation in percent of the
	// container's request.
	TargetUtilization int32
	// Container is the ContainerResource container name ("server" in Online
	// Boutique, "redis" for Redis). The simulated view already reports only
	// the app container, so it is informational.
	Container string
}

// Policy is one HPAScalingPolicy.
type Policy struct {
	// Type is "Pods" or "Percent".
	Type string
	// Value is the number of pods or the percentage of the replicas at the
	// start of the period that may change within Period.
	Value int32
	// Period is periodSeconds; whole seconds up to 1800s.
	Period time.Duration
}

// Rules is one direction of HorizontalPodAutoscalerBehavior
// (HPAScalingRules). Nil fields take the API server defaults.
type Rules struct {
	// StabilizationWindow is stabilizationWindowSeconds; nil means 0 for
	// scale-up and the controller's downscale stabilisation window (300s) for
	// scale-down.
	StabilizationWindow *time.Duration
	// SelectPolicy is "Max" (the default when empty), "Min" or "Disabled".
	SelectPolicy string
	// Policies nil means the defaults: scale-up Pods 4/15s and Percent
	// 100/15s, scale-down Percent 100/15s.
	Policies []Policy
	// Tolerance is the per-direction tolerance (HPAConfigurableTolerance,
	// beta and on by default since v1.35); nil means Config.Tolerance.
	Tolerance *float64
}

// Behavior is HorizontalPodAutoscalerBehavior. A nil direction takes the
// defaults of that direction.
type Behavior struct {
	ScaleUp, ScaleDown *Rules
}

// Config is one HPA configuration, applied to every service (one HPA object
// per service, as the seed's generate_hpa.sh does).
type Config struct {
	// Name identifies the configuration, e.g. "cpu-50"; Controller.Name()
	// returns "hpa-<Name>". Empty means the canonical preset name of Metrics.
	Name    string
	Metrics []MetricSpec
	// MinReplicas and MaxReplicas bound every service's replicas.
	MinReplicas, MaxReplicas int32
	// Behavior nil is an HPA object without a behavior field, which is what
	// the seed's manifests have. Kubernetes does NOT default a nil behavior
	// (SetDefaults_HorizontalPodAutoscalerBehavior only fills in a non-nil
	// one), so the controller takes its legacy path (normalizeDesiredReplicas):
	// scale-down stabilisation over DownscaleStabilizationWindow and a
	// scale-up cap of max(2*current, 4) per sync. A non-nil Behavior, even
	// &Behavior{}, takes the behavior path with the API defaults.
	Behavior *Behavior
	// SyncPeriod is the HPA loop period; 0 means 15s.
	SyncPeriod time.Duration
	// Tolerance is the global tolerance; 0 means 0.1. (A tolerance of exactly
	// zero is not expressible here; use Rules.Tolerance for that.)
	Tolerance float64
	// InitialReadinessDelay is --horizontal-pod-autoscaler-initial-readiness-delay; 0 means 30s.
	InitialReadinessDelay time.Duration
	// CPUInitializationPeriod is --horizontal-pod-autoscaler-cpu-initialization-period; 0 means 5m.
	CPUInitializationPeriod time.Duration
	// DownscaleStabilizationWindow is --horizontal-pod-autoscaler-downscale-stabilization;
	// 0 means 5m. It is used by the legacy path and by a behavior whose
	// scale-down StabilizationWindow is nil.
	DownscaleStabilizationWindow time.Duration
	// MetricWindow is the window of each metrics-server sample, used to decide
	// whether a CPU sample was taken entirely after the pod became ready; 0
	// means DefaultMetricWindow.
	MetricWindow time.Duration
	// MaxReplicasPerService overrides MaxReplicas for the named services (the
	// seed's Redis HPAs use 5 for the master and 8 for the slave).
	MaxReplicasPerService map[string]int32
}

// DefaultBehavior returns the behavior the API server fills in for an HPA
// whose behavior field is present but empty (pkg/apis/autoscaling/v2
// defaults.go, defaultHPAScaleUpRules/defaultHPAScaleDownRules). Scale-down
// stabilisation stays nil so that the controller flag applies.
func DefaultBehavior() *Behavior {
	zero := time.Duration(0)
	return &Behavior{
		ScaleUp: &Rules{
			StabilizationWindow: &zero,
			SelectPolicy:        SelectMax,
			Policies: []Policy{
				{Type: PodsPolicy, Value: 4, Period: 15 * time.Second},
				{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
			},
		},
		ScaleDown: &Rules{
			SelectPolicy: SelectMax,
			Policies:     []Policy{{Type: PercentPolicy, Value: 100, Period: 15 * time.Second}},
		},
	}
}

// Validate reports every invalid field, each error naming the field.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Metrics) == 0 {
		add("metrics: at least one metric is required")
	}
	for i, m := range c.Metrics {
		if m.Resource != ResourceCPU && m.Resource != ResourceMemory {
			add("metrics[%d].resource: unknown resource %q, want %q or %q", i, m.Resource, ResourceCPU, ResourceMemory)
		}
		if m.TargetUtilization <= 0 {
			add("metrics[%d].targetUtilization: %d must be greater than 0", i, m.TargetUtilization)
		}
	}
	if c.MinReplicas < 1 {
		add("minReplicas: %d must be at least 1", c.MinReplicas)
	}
	if c.MaxReplicas < c.MinReplicas {
		add("maxReplicas: %d must not be less than minReplicas %d", c.MaxReplicas, c.MinReplicas)
	}
	for svc, maxR := range c.MaxReplicasPerService {
		if maxR < c.MinReplicas {
			add("maxReplicasPerService[%q]: %d must not be less than minReplicas %d", svc, maxR, c.MinReplicas)
		}
	}
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"syncPeriod", c.SyncPeriod},
		{"initialReadinessDelay", c.InitialReadinessDelay},
		{"cpuInitializationPeriod", c.CPUInitializationPeriod},
		{"downscaleStabilizationWindow", c.DownscaleStabilizationWindow},
		{"metricWindow", c.MetricWindow},
	} {
		if d.value < 0 {
			add("%s: %v must not be negative", d.field, d.value)
		}
	}
	if c.Tolerance < 0 {
		add("tolerance: %v must not be negative", c.Tolerance)
	}
	if c.Behavior != nil {
		errs = append(errs, validateRules("behavior.scaleUp", c.Behavior.ScaleUp)...)
		errs = append(errs, validateRules("behavior.scaleDown", c.Behavior.ScaleDown)...)
	}
	if len(errs) == 0 {
		return nil
	}
	name := c.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Errorf("invalid hpa config %s: %w", name, errors.Join(errs...))
}

// validateRules mirrors validateScalingRules in
// pkg/apis/autoscaling/validation/validation.go.
func validateRules(path string, r *Rules) []error {
	if r == nil {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(path+"."+format, args...))
	}
	if w := r.StabilizationWindow; w != nil && (*w < 0 || *w > maxStabilizationWindow || *w%time.Second != 0) {
		add("stabilizationWindow: %v must be whole seconds in [0s, %v]", *w, maxStabilizationWindow)
	}
	switch r.SelectPolicy {
	case "", SelectMax, SelectMin, SelectDisabled:
	default:
		add("selectPolicy: unknown policy %q, want %q, %q or %q", r.SelectPolicy, SelectMax, SelectMin, SelectDisabled)
	}
	if r.Policies != nil && len(r.Policies) == 0 {
		add("policies: must specify at least one policy (or leave nil for the defaults)")
	}
	for i, p := range r.Policies {
		if p.Type != PodsPolicy && p.Type != PercentPolicy {
			add("policies[%d].type: unknown type %q, want %q or %q", i, p.Type, PodsPolicy, PercentPolicy)
		}
		if p.Value <= 0 {
			add("policies[%d].value: %d must be greater than 0", i, p.Value)
		}
		if p.Period <= 0 || p.Period > maxPolicyPeriod || p.Period%time.Second != 0 {
			add("policies[%d].period: %v must be whole seconds in (0s, %v]", i, p.Period, maxPolicyPeriod)
		}
	}
	if t := r.Tolerance; t != nil && !(*t >= 0) {
		add("tolerance: %v must not be negative", *t)
	}
	return errs
}

// presetForm is the grammar ParsePreset accepts, quoted in its errors.
const presetForm = "cpu-<pct>, mem-<pct> or cpu-<pct>-mem-<pct> with <pct> an integer in 1..1000"

// ParsePreset turns a seed-style configuration name ("cpu-50", "mem-40",
// "cpu-60-mem-80") into a validated Config with Kubernetes defaults.
func ParsePreset(name string, minReplicas, maxReplicas int32) (Config, error) {
	parts := strings.Split(name, "-")
	var metrics []MetricSpec
	switch {
	case len(parts) == 2 && (parts[0] == "cpu" || parts[0] == "mem"):
	case len(parts) == 4 && parts[0] == "cpu" && parts[2] == "mem":
	default:
		return Config{}, fmt.Errorf("parse hpa preset %q: want %s", name, presetForm)
	}
	for i := 0; i < len(parts); i += 2 {
		pct, err := parsePercent(parts[i+1])
		if err != nil {
			return Config{}, fmt.Errorf("parse hpa preset %q: target %q: %w (want %s)", name, parts[i+1], err, presetForm)
		}
		resource := ResourceCPU
		if parts[i] == "mem" {
			resource = ResourceMemory
		}
		metrics = append(metrics, MetricSpec{Resource: resource, TargetUtilization: pct})
	}
	cfg := Config{Name: name, Metrics: metrics, MinReplicas: minReplicas, MaxReplicas: maxReplicas}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("parse hpa preset %q: %w", name, err)
	}
	return cfg, nil
}

// parsePercent accepts canonical decimal integers only, so that a preset name
// round-trips ("cpu-050" and "cpu-+50" are rejected).
func parsePercent(s string) (int32, error) {
	if s == "" || s[0] == '0' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a positive integer")
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 1000 {
		return 0, errors.New("out of range 1..1000")
	}
	return int32(v), nil
}

// PresetName is the canonical preset name of a metric list, e.g.
// "cpu-60-mem-80"; metrics of the same resource are listed in order.
func PresetName(metrics []MetricSpec) string {
	var b strings.Builder
	for _, res := range []string{ResourceCPU, ResourceMemory} {
		for _, m := range metrics {
			if m.Resource != res {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('-')
			}
			if res == ResourceCPU {
				b.WriteString("cpu-")
			} else {
				b.WriteString("mem-")
			}
			b.WriteString(strconv.Itoa(int(m.TargetUtilization)))
		}
	}
	return b.String()
}

// SeedPresets lists the seed's HPA grid for an app (seed-spec §5.1:
// macK8S/HPA/ folders): "onlineboutique" has 14 configurations, "redis" 16.
// An unknown app yields nil.
func SeedPresets(app string) []string {
	cpu := []int{20, 40, 60, 80}
	var mem []int
	switch app {
	case "onlineboutique":
		mem = []int{40, 80}
	case "redis":
		mem = []int{20, 40, 60, 80}
	default:
		return nil
	}
	var out []string
	for _, c := range cpu {
		out = append(out, "cpu-"+strconv.Itoa(c))
	}
	for _, m := range mem {
		out = append(out, "mem-"+strconv.Itoa(m))
	}
	// Both apps' hybrid folders only pair cpu with mem 40 and 80
	// (generate_redis_hpa.py covers only those two).
	for _, c := range cpu {
		for _, m := range []int{40, 80} {
			out = append(out, "cpu-"+strconv.Itoa(c)+"-mem-"+strconv.Itoa(m))
		}
	}
	return out
}
