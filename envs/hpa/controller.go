package hpa

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/grlscaler/grlscaler/envs"
)

// Status is what `kubectl describe hpa` would show for one service after its
// latest sync.
type Status struct {
	// CurrentReplicas is the scale's spec.replicas at the sync.
	CurrentReplicas int32
	// DesiredReplicas is the replica count the HPA set (or kept). When no
	// metric could be computed it keeps its previous value, as
	// setCurrentReplicasInStatus does.
	DesiredReplicas int32
	// CurrentUtilization holds, per Config.Metrics entry, the average
	// utilisation in percent of request before missing and unready pods are
	// rebalanced (what the HPA reports), or -1 when the metric is unknown
	// (kubectl's "<unknown>").
	CurrentUtilization []int32
	// ScalingActive is the ScalingActive condition: false when no metric can
	// be computed or the target has zero replicas.
	ScalingActive bool
	// AbleToScale is the AbleToScale condition; the simulated scale
	// subresource never fails, so it is true after the first sync.
	AbleToScale bool
	// LastScaleTime is when the HPA last changed the replicas; negative if it
	// never has.
	LastScaleTime time.Duration
	// Reason is "<ConditionReason>: <message>" of the condition that best
	// explains the latest decision, with Kubernetes' reason names.
	Reason string
}

// Condition reasons and messages from horizontal.go.
const (
	reasonScalingDisabled     = "ScalingDisabled: scaling is disabled since the replica count of the target is zero"
	reasonAboveMaxReplicas    = "TooManyReplicas: current number of replicas above Spec.MaxReplicas"
	reasonBelowMinReplicas    = "TooFewReplicas: current number of replicas below Spec.MinReplicas"
	reasonScaleDownStabilized = "ScaleDownStabilized: recent recommendations were higher than current one, applying the highest recent recommendation"
	reasonScaleUpStabilized   = "ScaleUpStabilized: recent recommendations were lower than current one, applying the lowest recent recommendation"
	reasonScaleUpLimit        = "ScaleUpLimit: the desired replica count is increasing faster than the maximum scale rate"
	reasonTooManyReplicas     = "TooManyReplicas: the desired replica count is more than the maximum replica count"
	reasonScaleDownLimit      = "ScaleDownLimit: the desired replica count is decreasing faster than the maximum scale rate"
	reasonTooFewReplicas      = "TooFewReplicas: the desired replica count is less than the minimum replica count"
	reasonSucceededRescale    = "SucceededRescale: the HPA controller was able to update the target scale"
	reasonReadyForNewScale    = "ReadyForNewScale: recommended size matches current size"
)

// timestampedRecommendation mirrors the type in horizontal.go, with
// simulated time.
type timestampedRecommendation struct {
	recommendation int32
	timestamp      time.Duration
}

// timestampedScaleEvent mirrors the type in horizontal.go; replicaChange is
// the absolute change.
type timestampedScaleEvent struct {
	replicaChange int32
	timestamp     time.Duration
	outdated      bool
}

// resolvedRules is HPAScalingRules after API defaulting
// (GenerateHPAScaleUpRules/GenerateHPAScaleDownRules) and
// maybeInitScaleDownStabilizationWindow.
type resolvedRules struct {
	stabilizationWindow time.Duration
	selectPolicy        string
	policies            []Policy
	// longestPeriod is getLongestPolicyPeriod, cached.
	longestPeriod time.Duration
}

type resolvedBehavior struct {
	scaleUp, scaleDown resolvedRules
}

// serviceState is the controller's memory for one HPA object: the
// per-key maps of HorizontalController plus the HPA status.
type serviceState struct {
	name        string
	maxReplicas int32
	synced      bool
	lastSync    time.Duration
	// targetScale multiplies every metric's target at the next sync (1 when
	// unset): the hpa-residual action space sets it per service.
	targetScale float64

	recommendations []timestampedRecommendation
	scaleUpEvents   []timestampedScaleEvent
	scaleDownEvents []timestampedScaleEvent

	status Status
}

// Controller runs one Kubernetes HPA per service of the view, all with the
// same Config. It implements envs.Controller. It is not safe for concurrent
// use; the simulator calls it from one goroutine.
type Controller struct {
	cfg        Config
	name       string
	metrics    []resolvedMetric
	calc       replicaCalculator
	syncPeriod time.Duration
	// downscaleStabilisationWindow is the controller flag, used by the
	// legacy path and by a behavior without a scale-down window.
	downscaleStabilisationWindow time.Duration
	tolerances                   tolerances
	// behavior is nil when Config.Behavior is nil: Kubernetes then takes the
	// legacy normalizeDesiredReplicas path.
	behavior *resolvedBehavior
	// failureReasons[i][f] is the precomputed status reason for metric i
	// failing with f, so that a failing sync does not format strings.
	failureReasons [][failMissingRequest + 1]string

	states map[string]*serviceState
	// order is states aligned with the last view's Services, so that a sync
	// needs no map lookup while the service list is unchanged.
	order []*serviceState
}

var _ envs.Controller = (*Controller)(nil)

// New validates cfg and returns a controller with all defaults resolved.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new hpa controller: %w", err)
	}
	// Copy what the caller could mutate later.
	cfg.Metrics = slices.Clone(cfg.Metrics)
	if cfg.MaxReplicasPerService != nil {
		m := make(map[string]int32, len(cfg.MaxReplicasPerService))
		for k, v := range cfg.MaxReplicasPerService {
			m[k] = v
		}
		cfg.MaxReplicasPerService = m
	}
	if cfg.Name == "" {
		cfg.Name = PresetName(cfg.Metrics)
	}
	c := &Controller{
		cfg:                          cfg,
		name:                         "hpa-" + cfg.Name,
		syncPeriod:                   orDefault(cfg.SyncPeriod, DefaultSyncPeriod),
		downscaleStabilisationWindow: orDefault(cfg.DownscaleStabilizationWindow, DefaultDownscaleStabilizationWindow),
		calc: replicaCalculator{
			cpuInitializationPeriod:       orDefault(cfg.CPUInitializationPeriod, DefaultCPUInitializationPeriod),
			delayOfInitialReadinessStatus: orDefault(cfg.InitialReadinessDelay, DefaultInitialReadinessDelay),
			metricWindow:                  orDefault(cfg.MetricWindow, DefaultMetricWindow),
		},
		states: make(map[string]*serviceState),
	}
	tolerance := cfg.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	c.tolerances = tolerances{scaleDown: tolerance, scaleUp: tolerance}
	if cfg.Behavior != nil {
		defaults := DefaultBehavior()
		c.behavior = &resolvedBehavior{
			scaleUp:   resolveRules(cfg.Behavior.ScaleUp, defaults.ScaleUp, 0),
			scaleDown: resolveRules(cfg.Behavior.ScaleDown, defaults.ScaleDown, c.downscaleStabilisationWindow),
		}
		// tolerancesForHpa: per-direction tolerances only exist with a behavior.
		if r := cfg.Behavior.ScaleUp; r != nil && r.Tolerance != nil {
			c.tolerances.scaleUp = *r.Tolerance
		}
		if r := cfg.Behavior.ScaleDown; r != nil && r.Tolerance != nil {
			c.tolerances.scaleDown = *r.Tolerance
		}
	}
	for _, m := range cfg.Metrics {
		c.metrics = append(c.metrics, resolvedMetric{isCPU: m.Resource == ResourceCPU, target: m.TargetUtilization})
		c.failureReasons = append(c.failureReasons, metricFailureReasons(m))
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// resolveRules mirrors copyHPAScalingRules over the defaults, then
// maybeInitScaleDownStabilizationWindow (flagWindow) for a nil window.
func resolveRules(r, defaults *Rules, flagWindow time.Duration) resolvedRules {
	out := resolvedRules{
		stabilizationWindow: flagWindow,
		selectPolicy:        defaults.SelectPolicy,
		policies:            defaults.Policies,
	}
	if defaults.StabilizationWindow != nil {
		out.stabilizationWindow = *defaults.StabilizationWindow
	}
	if r != nil {
		if r.StabilizationWindow != nil {
			out.stabilizationWindow = *r.StabilizationWindow
		}
		if r.SelectPolicy != "" {
			out.selectPolicy = r.SelectPolicy
		}
		if r.Policies != nil {
			out.policies = slices.Clone(r.Policies)
		}
	}
	for _, p := range out.policies {
		out.longestPeriod = max(out.longestPeriod, p.Period)
	}
	return out
}

// metricFailureReasons builds the ScalingActive=False reasons a metric can
// produce, worded as getUnableComputeReplicaCountCondition wraps the errors
// of computeStatusForContainerResourceMetric / computeStatusForResourceMetric.
func metricFailureReasons(m MetricSpec) [failMissingRequest + 1]string {
	reason, wrap := "FailedGetResourceMetric", fmt.Sprintf("failed to get %s resource metric value", m.Resource)
	where := ""
	if m.Container != "" {
		reason, wrap = "FailedGetContainerResourceMetric", fmt.Sprintf("failed to get %s container metric value", m.Container)
		where = " in container " + m.Container
	}
	prefix := fmt.Sprintf("%s: the HPA was unable to compute the replica count: %s: failed to get %s utilization: ", reason, wrap, m.Resource)
	var out [failMissingRequest + 1]string
	out[failNoMetrics] = prefix + "unable to get metrics for resource " + m.Resource + ": no metrics returned from resource metrics API"
	out[failNoReadyMetrics] = prefix + "did not receive metrics for targeted pods (pods might be unready)"
	out[failMissingRequest] = prefix + "missing request for " + m.Resource + where
	return out
}

// Name implements envs.Controller.
func (c *Controller) Name() string { return c.name }

// Config returns the configuration with defaults resolved (Name filled in).
func (c *Controller) Config() Config { return c.cfg }

// Reset implements envs.Controller: it forgets every HPA's recommendations,
// scale events, sync times and status.
func (c *Controller) Reset() {
	c.states = make(map[string]*serviceState)
	c.order = nil
}

// Status returns the status of the HPA for service after its latest sync;
// false if it has not synced since New or Reset.
func (c *Controller) Status(service string) (Status, bool) {
	st, ok := c.states[service]
	if !ok || !st.synced {
		return Status{}, false
	}
	out := st.status
	out.CurrentUtilization = slices.Clone(st.status.CurrentUtilization)
	return out, true
}

// Decide implements envs.Controller. Each HPA syncs on its first call and
// then whenever at least the sync period has passed since its last sync (the
// work queue re-adds every HPA with the resync period); between syncs it
// leaves the service unchanged (-1).
func (c *Controller) Decide(view *envs.ClusterView, desired []int) {
	c.DecideScaled(view, nil, desired)
}

// DecideScaled is Decide with each service's utilisation targets
// multiplied by scales[i] (nil: unscaled), as if the HPA object's targets
// had been edited before the sync. Everything else, recommendations and
// their stabilisation window included, is the controller's as usual, so
// the HPA remembers the replicas it recommended under earlier targets.
func (c *Controller) DecideScaled(view *envs.ClusterView, scales []float64, desired []int) {
	c.alignStates(view.Services)
	for i := range view.Services {
		st := c.order[i]
		st.targetScale = 1
		if scales != nil {
			st.targetScale = scales[i]
		}
		if st.synced && view.Now-st.lastSync < c.syncPeriod {
			desired[i] = -1
			continue
		}
		st.synced = true
		st.lastSync = view.Now
		desired[i] = c.reconcileAutoscaler(st, &view.Services[i], view.Now)
	}
}

// alignStates makes c.order[i] the state of services[i], creating states for
// new services.
func (c *Controller) alignStates(services []envs.ServiceView) {
	if len(c.order) == len(services) {
		aligned := true
		for i := range services {
			if c.order[i].name != services[i].Name {
				aligned = false
				break
			}
		}
		if aligned {
			return
		}
	}
	c.order = c.order[:0]
	for i := range services {
		name := services[i].Name
		st := c.states[name]
		if st == nil {
			st = c.newServiceState(name)
			c.states[name] = st
		}
		c.order = append(c.order, st)
	}
}

func (c *Controller) newServiceState(name string) *serviceState {
	maxReplicas := c.cfg.MaxReplicas
	if v, ok := c.cfg.MaxReplicasPerService[name]; ok {
		maxReplicas = v
	}
	util := make([]int32, len(c.metrics))
	for i := range util {
		util[i] = -1
	}
	return &serviceState{
		name:        name,
		maxReplicas: maxReplicas,
		status:      Status{CurrentUtilization: util, LastScaleTime: -1},
	}
}

// reconcileAutoscaler mirrors HorizontalController.reconcileAutoscaler from
// the point the scale has been read. It returns the replicas to set, or -1
// to leave the target alone.
func (c *Controller) reconcileAutoscaler(st *serviceState, svc *envs.ServiceView, now time.Duration) int {
	currentReplicas := int32(min(svc.Replicas, math.MaxInt32))
	minReplicas, maxReplicas := c.cfg.MinReplicas, st.maxReplicas
	s := &st.status
	s.AbleToScale = true // SucceededGetScale: the view always carries the scale.
	s.CurrentReplicas = currentReplicas
	c.recordInitialRecommendation(st, currentReplicas, now)

	var desiredReplicas int32
	rescale := true
	reason := ""
	switch {
	case currentReplicas == 0 && minReplicas != 0:
		// Autoscaling is disabled for this target (implicit maintenance mode).
		desiredReplicas, rescale = 0, false
		s.ScalingActive = false
		reason = reasonScalingDisabled
		c.forgetUtilization(st)
	case currentReplicas > maxReplicas:
		desiredReplicas = maxReplicas
		reason = reasonAboveMaxReplicas
		c.forgetUtilization(st)
	case currentReplicas < minReplicas:
		desiredReplicas = minReplicas
		reason = reasonBelowMinReplicas
		c.forgetUtilization(st)
	default:
		metricDesiredReplicas, failReason := c.computeReplicasForMetrics(st, svc, currentReplicas, now)
		if metricDesiredReplicas == -1 {
			// reconcileAutoscaler returns here: no recommendation is recorded
			// and the target is left alone.
			s.ScalingActive = false
			s.Reason = failReason
			return -1
		}
		s.ScalingActive = true // ValidMetricFound
		desiredReplicas = max(metricDesiredReplicas, 0)
		if c.behavior == nil {
			desiredReplicas, reason = c.normalizeDesiredReplicas(st, currentReplicas, desiredReplicas, minReplicas, maxReplicas, now)
		} else {
			desiredReplicas, reason = c.normalizeDesiredReplicasWithBehaviors(st, currentReplicas, desiredReplicas, minReplicas, maxReplicas, now)
		}
		rescale = desiredReplicas != currentReplicas
	}

	if !rescale {
		s.DesiredReplicas = currentReplicas
		if reason == "" {
			reason = reasonReadyForNewScale
		}
		s.Reason = reason
		return -1
	}
	if reason == "" {
		reason = reasonSucceededRescale
	}
	s.Reason = reason
	s.DesiredReplicas = desiredReplicas
	s.LastScaleTime = now
	c.storeScaleEvent(st, currentReplicas, desiredReplicas, now)
	return int(desiredReplicas)
}

// forgetUtilization marks every metric unknown, as setStatus does with nil
// metric statuses on the paths that skip metric computation.
func (c *Controller) forgetUtilization(st *serviceState) {
	for i := range st.status.CurrentUtilization {
		st.status.CurrentUtilization[i] = -1
	}
}

// computeReplicasForMetrics mirrors HorizontalController.computeReplicasForMetrics:
// the maximum proposal over the valid metrics, or -1 (with the first invalid
// metric's reason) when every metric is invalid, or when some are invalid
// and the valid ones would scale down.
func (c *Controller) computeReplicasForMetrics(st *serviceState, svc *envs.ServiceView, specReplicas int32, now time.Duration) (replicas int32, failReason string) {
	invalidMetricsCount := 0
	for i, m := range c.metrics {
		if st.targetScale > 0 && st.targetScale != 1 {
			m.target = max(1, int32(math.Round(float64(m.target)*st.targetScale)))
		}
		proposal, utilization, fail := c.calc.resourceReplicas(svc, specReplicas, m, c.tolerances, now)
		if fail != metricOK {
			st.status.CurrentUtilization[i] = -1
			if invalidMetricsCount == 0 {
				failReason = c.failureReasons[i][fail]
			}
			invalidMetricsCount++
			continue
		}
		st.status.CurrentUtilization[i] = utilization
		if replicas == 0 || proposal > replicas {
			replicas = proposal
		}
	}
	if invalidMetricsCount >= len(c.metrics) || (invalidMetricsCount > 0 && replicas < specReplicas) {
		return -1, failReason
	}
	return replicas, ""
}

// recordInitialRecommendation mirrors the function of the same name: the
// first sync seeds the window with the current replicas, which is why a
// fresh HPA cannot scale down for one stabilisation window.
func (c *Controller) recordInitialRecommendation(st *serviceState, currentReplicas int32, now time.Duration) {
	if len(st.recommendations) == 0 {
		st.recommendations = append(st.recommendations, timestampedRecommendation{currentReplicas, now})
	}
}

// normalizeDesiredReplicas mirrors the legacy path taken when the HPA has no
// behavior: stabilise, then clamp with convertDesiredReplicasWithRules.
func (c *Controller) normalizeDesiredReplicas(st *serviceState, currentReplicas, prenormalizedDesiredReplicas, minReplicas, maxReplicas int32, now time.Duration) (int32, string) {
	stabilizedRecommendation := c.stabilizeRecommendation(st, prenormalizedDesiredReplicas, now)
	reason := ""
	if stabilizedRecommendation != prenormalizedDesiredReplicas {
		reason = reasonScaleDownStabilized
	}
	desiredReplicas, limitReason := convertDesiredReplicasWithRules(currentReplicas, stabilizedRecommendation, minReplicas, maxReplicas)
	if desiredReplicas != stabilizedRecommendation {
		reason = limitReason
	}
	return desiredReplicas, reason
}

// stabilizeRecommendation mirrors the legacy function: it records the new
// recommendation (reusing a slot older than the window) and returns the
// highest recommendation not older than the window. Note the inclusive
// cutoff (a sample exactly one window old still counts), unlike the behavior
// path.
func (c *Controller) stabilizeRecommendation(st *serviceState, prenormalizedDesiredReplicas int32, now time.Duration) int32 {
	maxRecommendation := prenormalizedDesiredReplicas
	foundOldSample := false
	oldSampleIndex := 0
	cutoff := now - c.downscaleStabilisationWindow
	for i, rec := range st.recommendations {
		if rec.timestamp < cutoff {
			foundOldSample = true
			oldSampleIndex = i
		} else if rec.recommendation > maxRecommendation {
			maxRecommendation = rec.recommendation
		}
	}
	c.storeRecommendation(st, foundOldSample, oldSampleIndex, prenormalizedDesiredReplicas, now)
	return maxRecommendation
}

func (c *Controller) storeRecommendation(st *serviceState, reuse bool, index int, recommendation int32, now time.Duration) {
	rec := timestampedRecommendation{recommendation, now}
	if reuse {
		st.recommendations[index] = rec
	} else {
		st.recommendations = append(st.recommendations, rec)
	}
}

// convertDesiredReplicasWithRules mirrors the legacy clamp: at least
// minReplicas, at most maxReplicas and at most calculateScaleUpLimit.
func convertDesiredReplicasWithRules(currentReplicas, desiredReplicas, hpaMinReplicas, hpaMaxReplicas int32) (int32, string) {
	scaleUpLimit := calculateScaleUpLimit(currentReplicas)
	maximumAllowedReplicas, limitReason := hpaMaxReplicas, reasonTooManyReplicas
	if hpaMaxReplicas > scaleUpLimit {
		maximumAllowedReplicas, limitReason = scaleUpLimit, reasonScaleUpLimit
	}
	if desiredReplicas < hpaMinReplicas {
		return hpaMinReplicas, reasonTooFewReplicas
	}
	if desiredReplicas > maximumAllowedReplicas {
		return maximumAllowedReplicas, limitReason
	}
	return desiredReplicas, ""
}

// Legacy scale-up cap factors (horizontal.go scaleUpLimitFactor,
// scaleUpLimitMinimum), which guard against bogus usage spikes (#32304).
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

// calculateScaleUpLimit mirrors the legacy function.
func calculateScaleUpLimit(currentReplicas int32) int32 {
	return int32(math.Max(scaleUpLimitFactor*float64(currentReplicas), scaleUpLimitMinimum))
}

// normalizeDesiredReplicasWithBehaviors mirrors the function of the same
// name: stabilise over both windows, then limit the rate with the policies.
func (c *Controller) normalizeDesiredReplicasWithBehaviors(st *serviceState, currentReplicas, prenormalizedDesiredReplicas, minReplicas, maxReplicas int32, now time.Duration) (int32, string) {
	stabilizedRecommendation, stabilizedReason := c.stabilizeRecommendationWithBehaviors(st, currentReplicas, prenormalizedDesiredReplicas, now)
	reason := ""
	if stabilizedRecommendation != prenormalizedDesiredReplicas {
		reason = stabilizedReason
	}
	desiredReplicas, limitReason := c.convertDesiredReplicasWithBehaviorRate(st, currentReplicas, stabilizedRecommendation, minReplicas, maxReplicas, now)
	if desiredReplicas != stabilizedRecommendation {
		reason = limitReason
	}
	return desiredReplicas, reason
}

// stabilizeRecommendationWithBehaviors mirrors the function of the same
// name: the recommendation is the current replicas brought within
// [min of the scale-up window, max of the scale-down window], both windows
// including the new unstabilised recommendation, which is then recorded.
func (c *Controller) stabilizeRecommendationWithBehaviors(st *serviceState, currentReplicas, desiredReplicas int32, now time.Duration) (int32, string) {
	upRecommendation := desiredReplicas
	upCutoff := now - c.behavior.scaleUp.stabilizationWindow
	downRecommendation := desiredReplicas
	downCutoff := now - c.behavior.scaleDown.stabilizationWindow

	foundOldSample := false
	oldSampleIndex := 0
	for i, rec := range st.recommendations {
		if rec.timestamp > upCutoff {
			upRecommendation = min(rec.recommendation, upRecommendation)
		}
		if rec.timestamp > downCutoff {
			downRecommendation = max(rec.recommendation, downRecommendation)
		}
		if rec.timestamp < upCutoff && rec.timestamp < downCutoff {
			foundOldSample = true
			oldSampleIndex = i
		}
	}

	recommendation := currentReplicas
	if recommendation < upRecommendation {
		recommendation = upRecommendation
	}
	if recommendation > downRecommendation {
		recommendation = downRecommendation
	}
	c.storeRecommendation(st, foundOldSample, oldSampleIndex, desiredReplicas, now)

	if desiredReplicas >= currentReplicas {
		return recommendation, reasonScaleUpStabilized
	}
	return recommendation, reasonScaleDownStabilized
}

// convertDesiredReplicasWithBehaviorRate mirrors the function of the same
// name: the policies bound how far one period may move the replicas.
func (c *Controller) convertDesiredReplicasWithBehaviorRate(st *serviceState, currentReplicas, desiredReplicas, minReplicas, maxReplicas int32, now time.Duration) (int32, string) {
	switch {
	case desiredReplicas > currentReplicas:
		scaleUpLimit := calculateScaleUpLimitWithScalingRules(currentReplicas, st.scaleUpEvents, st.scaleDownEvents, &c.behavior.scaleUp, now)
		if scaleUpLimit < currentReplicas {
			// Do not scale up further until the old events leave the period.
			scaleUpLimit = currentReplicas
		}
		maximumAllowedReplicas, reason := maxReplicas, reasonTooManyReplicas
		if maximumAllowedReplicas > scaleUpLimit {
			maximumAllowedReplicas, reason = scaleUpLimit, reasonScaleUpLimit
		}
		if desiredReplicas > maximumAllowedReplicas {
			return maximumAllowedReplicas, reason
		}
	case desiredReplicas < currentReplicas:
		scaleDownLimit := calculateScaleDownLimitWithBehaviors(currentReplicas, st.scaleUpEvents, st.scaleDownEvents, &c.behavior.scaleDown, now)
		if scaleDownLimit > currentReplicas {
			// Do not scale down further until the old events leave the period.
			scaleDownLimit = currentReplicas
		}
		minimumAllowedReplicas, reason := minReplicas, reasonTooFewReplicas
		if minimumAllowedReplicas < scaleDownLimit {
			minimumAllowedReplicas, reason = scaleDownLimit, reasonScaleDownLimit
		}
		if desiredReplicas < minimumAllowedReplicas {
			return minimumAllowedReplicas, reason
		}
	}
	return desiredReplicas, ""
}

// getReplicasChangePerPeriod mirrors the function of the same name: the
// replicas changed by events strictly within the last period.
func getReplicasChangePerPeriod(period time.Duration, scaleEvents []timestampedScaleEvent, now time.Duration) int32 {
	cutoff := now - period
	var replicas int32
	for _, rec := range scaleEvents {
		if rec.timestamp > cutoff {
			replicas += rec.replicaChange
		}
	}
	return replicas
}

// calculateScaleUpLimitWithScalingRules mirrors the function of the same
// name (the version that nets scale-downs against scale-ups in the period).
func calculateScaleUpLimitWithScalingRules(currentReplicas int32, scaleUpEvents, scaleDownEvents []timestampedScaleEvent, rules *resolvedRules, now time.Duration) int32 {
	var result int32
	var selectPolicyFn func(a, b int32) int32
	switch rules.selectPolicy {
	case SelectDisabled:
		return currentReplicas
	case SelectMin:
		// For scaling up, the lowest change produces the minimum value.
		result, selectPolicyFn = math.MaxInt32, minInt32
	default:
		result, selectPolicyFn = math.MinInt32, maxInt32
	}
	for _, policy := range rules.policies {
		replicasAddedInCurrentPeriod := getReplicasChangePerPeriod(policy.Period, scaleUpEvents, now)
		replicasDeletedInCurrentPeriod := getReplicasChangePerPeriod(policy.Period, scaleDownEvents, now)
		periodStartReplicas := currentReplicas - replicasAddedInCurrentPeriod + replicasDeletedInCurrentPeriod
		var proposed int32
		switch policy.Type {
		case PodsPolicy:
			proposed = periodStartReplicas + policy.Value
		case PercentPolicy:
			// Rounded up, or a small percentage could never add a pod.
			proposed = int32(math.Ceil(float64(periodStartReplicas) * (1 + float64(policy.Value)/100)))
		}
		result = selectPolicyFn(result, proposed)
	}
	return result
}

// calculateScaleDownLimitWithBehaviors mirrors the function of the same name.
func calculateScaleDownLimitWithBehaviors(currentReplicas int32, scaleUpEvents, scaleDownEvents []timestampedScaleEvent, rules *resolvedRules, now time.Duration) int32 {
	var result int32
	var selectPolicyFn func(a, b int32) int32
	switch rules.selectPolicy {
	case SelectDisabled:
		return currentReplicas
	case SelectMin:
		// For scaling down, the lowest change produces the maximum value.
		result, selectPolicyFn = math.MinInt32, maxInt32
	default:
		result, selectPolicyFn = math.MaxInt32, minInt32
	}
	for _, policy := range rules.policies {
		replicasAddedInCurrentPeriod := getReplicasChangePerPeriod(policy.Period, scaleUpEvents, now)
		replicasDeletedInCurrentPeriod := getReplicasChangePerPeriod(policy.Period, scaleDownEvents, now)
		periodStartReplicas := currentReplicas - replicasAddedInCurrentPeriod + replicasDeletedInCurrentPeriod
		var proposed int32
		switch policy.Type {
		case PodsPolicy:
			proposed = periodStartReplicas - policy.Value
		case PercentPolicy:
			proposed = int32(float64(periodStartReplicas) * (1 - float64(policy.Value)/100))
		}
		result = selectPolicyFn(result, proposed)
	}
	return result
}

func minInt32(a, b int32) int32 { return min(a, b) }
func maxInt32(a, b int32) int32 { return max(a, b) }

// storeScaleEvent mirrors the function of the same name: only the behavior
// path keeps events, replacing one that is older than the longest policy
// period.
func (c *Controller) storeScaleEvent(st *serviceState, prevReplicas, newReplicas int32, now time.Duration) {
	if c.behavior == nil {
		return
	}
	if newReplicas > prevReplicas {
		st.scaleUpEvents = storeEvent(st.scaleUpEvents, newReplicas-prevReplicas, c.behavior.scaleUp.longestPeriod, now)
	} else {
		st.scaleDownEvents = storeEvent(st.scaleDownEvents, prevReplicas-newReplicas, c.behavior.scaleDown.longestPeriod, now)
	}
}

// storeEvent is markScaleEventsOutdated plus the slot reuse of storeScaleEvent.
func storeEvent(events []timestampedScaleEvent, replicaChange int32, longestPolicyPeriod, now time.Duration) []timestampedScaleEvent {
	cutoff := now - longestPolicyPeriod
	oldSampleIndex := -1
	for i := range events {
		if events[i].timestamp < cutoff {
			events[i].outdated = true
		}
		if events[i].outdated {
			oldSampleIndex = i
		}
	}
	ev := timestampedScaleEvent{replicaChange: replicaChange, timestamp: now}
	if oldSampleIndex >= 0 {
		events[oldSampleIndex] = ev
		return events
	}
	return append(events, ev)
}
