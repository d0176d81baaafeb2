package experiment

import (
	"fmt"
	"k8s.io/apimachinery/pkg/api/resource"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// Limits. They keep a typo from becoming a week-long run or an allocation
// the worker cannot make; none is a limit of the method.
const (
	maxTotalSteps     = 1_000_000_000
	maxNSteps         = 1_000_000
	maxEpochs         = 1_000
	maxEpisodeSteps   = 100_000
	maxRepetitions    = 1_000
	maxControllers    = 100
	maxReplicas       = 1_000
	maxSyntheticNodes = 10_000
	maxCostWeight     = 100
	maxScenarioWeight = 1e6
	minStepPeriod     = time.Second
	// minK8sStepPeriod is the seed's shortest wait after an action on a
	// cluster (0.3 s); the twin's physics want whole seconds.
	minK8sStepPeriod   = 300 * time.Millisecond
	maxStepPeriod      = time.Hour
	maxRunDuration     = 24 * time.Hour
	minSLO             = time.Millisecond
	maxSLO             = time.Minute
	syntheticAppPrefix = "synthetic-" // as envs/sim.SyntheticPrefix
)

// Validate checks a spec that did not come from Parse, e.g. a workflow
// input, and returns every problem as a *FieldError (without file
// positions), joined. A spec returned by Parse always passes. Validate does
// not apply defaults: a spec that relies on them fails.
func Validate(spec *api.ExperimentSpec) error {
	v := &validator{quiet: map[string]bool{}}
	v.validate(spec)
	return joinSorted(v.errs)
}

type validator struct {
	errs  []*FieldError
	quiet map[string]bool
	errAt map[string]bool // paths that have an error
	// residualAgent is set when an agent controller other than the
	// agent's own acts in the hpa-residual space (agent.baseHPA applies).
	residualAgent bool
}

// add reports a problem at path, unless path or one of its parents could
// not be decoded (that error already explains it) or path already has an
// error.
func (v *validator) add(path, format string, args ...any) {
	if !v.ok(path) || v.errAt[path] {
		return
	}
	if v.errAt == nil {
		v.errAt = map[string]bool{}
	}
	v.errAt[path] = true
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// ok reports whether none of the paths (or their parents) failed to decode:
// a cross-field check uses it to stay quiet when one of its inputs is bad.
func (v *validator) ok(paths ...string) bool {
	for _, p := range paths {
		for {
			if v.quiet[p] {
				return false
			}
			if p == "" {
				break
			}
			p = parentPath(p)
		}
	}
	return true
}

func (v *validator) has(path string) bool { return v.errAt[path] }

func (v *validator) validate(s *api.ExperimentSpec) {
	switch s.APIVersion {
	case api.APIVersion:
	case "":
		v.add("apiVersion", "required: %s", api.APIVersion)
	default:
		v.add("apiVersion", "unknown version %s; want %s", quote(s.APIVersion), api.APIVersion)
	}
	switch s.Kind {
	case api.ExperimentKind:
	case "":
		v.add("kind", "required: %s", api.ExperimentKind)
	default:
		v.add("kind", "unknown kind %s; want %s", quote(s.Kind), api.ExperimentKind)
	}
	v.metadata(&s.Metadata)
	v.spec(&s.Spec)
	if s.Spec.Matrix != nil {
		v.matrix(s)
	}
}

// maxSweepMembers bounds a sweep: beyond it the matrix is likely a mistake.
const maxSweepMembers = 1000

// matrix checks a sweep: its lists, its size, and every member experiment
// as a spec of its own.
func (v *validator) matrix(s *api.ExperimentSpec) {
	const p = "spec.matrix"
	m := s.Spec.Matrix
	if len(m.Seeds)+len(m.Policies)+len(m.Goals)+len(m.TrainingScenarios) == 0 {
		v.add(p, "lists nothing to sweep: give seeds, policies, goals or trainingScenarios")
		return
	}
	if m.Concurrency < 1 || m.Concurrency > 100 {
		v.add(p+".concurrency", "%d must be in [1, 100]", m.Concurrency)
	}
	dup := func(path string, n int, key func(int) string) {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			if k := key(i); seen[k] {
				v.add(itemPath(path, i), "%s is listed twice", quote(k))
			} else {
				seen[k] = true
			}
		}
	}
	dup(p+".seeds", len(m.Seeds), func(i int) string { return fmt.Sprint(m.Seeds[i]) })
	dup(p+".policies", len(m.Policies), func(i int) string { return m.Policies[i] })
	dup(p+".goals", len(m.Goals), func(i int) string { return m.Goals[i] })
	dup(p+".trainingScenarios", len(m.TrainingScenarios), func(i int) string { return m.TrainingScenarios[i] })
	n := max(1, len(m.Seeds)) * max(1, len(m.Policies)) * max(1, len(m.Goals)) * max(1, len(m.TrainingScenarios))
	if n > maxSweepMembers {
		v.add(p, "expands to %d experiments, more than %d", n, maxSweepMembers)
		return
	}
	members, err := api.ExpandMatrix(s)
	if err != nil {
		v.add(p, "%v", err)
		return
	}
	for _, mem := range members {
		if msg := checkLabel(mem.Name); msg != "" {
			v.add(p, "experiment name %s (the sweep's name plus its combination); shorten metadata.name", msg)
			return
		}
		if err := Validate(&mem.Spec); err != nil {
			v.add(p, "experiment %s of the sweep is invalid: %v", mem.Name, err)
			return
		}
	}
}

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelName    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketName   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	prefixChars  = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// checkLabel reports whether s is a DNS-1123 label (a Kubernetes name).
func checkLabel(s string) string {
	switch {
	case len(s) > 63:
		return fmt.Sprintf("%s is %d characters; a DNS-1123 label has at most 63", quote(s), len(s))
	case !dns1123Label.MatchString(s):
		return fmt.Sprintf("%s is not a DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit", quote(s))
	}
	return ""
}

func (v *validator) metadata(m *api.Metadata) {
	if m.Name == "" {
		v.add("metadata.name", "required: a DNS-1123 label such as ob-gcn-peak")
	} else if msg := checkLabel(m.Name); msg != "" {
		v.add("metadata.name", "%s", msg)
	}
	keys := make([]string, 0, len(m.Labels))
	for k := range m.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := childPath("metadata.labels", k)
		if msg := checkLabelKey(k); msg != "" {
			v.add(p, "%s", msg)
		} else if val := m.Labels[k]; val != "" && (len(val) > 63 || !labelName.MatchString(val)) {
			v.add(p, "label value %s is not valid: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", quote(val))
		}
	}
}

// checkLabelKey validates a Kubernetes label key: [prefix/]name.
func checkLabelKey(k string) string {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if len(name) > 63 || !labelName.MatchString(name) {
		return fmt.Sprintf("label key %s is not valid: a name of at most 63 letters, digits, '-', '_' or '.', optionally after a DNS prefix and '/'", quote(k))
	}
	if hasPrefix {
		if len(prefix) > 253 || prefix == "" {
			return fmt.Sprintf("label key prefix %s is not a DNS subdomain", quote(prefix))
		}
		for part := range strings.SplitSeq(prefix, ".") {
			if checkLabel(part) != "" {
				return fmt.Sprintf("label key prefix %s is not a DNS subdomain", quote(prefix))
			}
		}
	}
	return ""
}

// syntheticServices parses "synthetic-N" (canonical decimal, N >= 2).
func syntheticServices(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, syntheticAppPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

func (v *validator) spec(s *api.Spec) {
	appOK := v.app(s)
	v.cluster(s)
	if d := s.WarmUp.Duration.Std(); d < 0 || d > maxRunDuration {
		v.add("spec.warmUp.duration", "%v must be in [0s, %v]", d, maxRunDuration)
	}
	for _, c := range s.Evaluation.Controllers {
		v.residualAgent = v.residualAgent || (c.Type == api.ControllerAgent && c.Action == string(envs.ActionHPAResidual))
	}
	v.agent(&s.Agent)
	v.load(s, appOK)
	v.evaluation(s, appOK)
	v.storage(&s.Storage)
	if d := s.Execution.HeartbeatTimeout.Std(); d < minHeartbeatTimeout || d > maxHeartbeatTimeout {
		v.add("spec.execution.heartbeatTimeout", "%v must be in [%v, %v]", d, minHeartbeatTimeout, maxHeartbeatTimeout)
	}
	runners := []string{api.StageRunnerInProcess, api.StageRunnerSubprocess, api.StageRunnerKubernetes}
	if r := s.Execution.StageRunner; r != "" && !slices.Contains(runners, r) {
		v.add("spec.execution.stageRunner", "unknown runner %s (valid: %s)", quote(r), strings.Join(runners, ", "))
	}
	if j := s.Execution.Jobs; j != nil {
		for field, q := range map[string]string{"cpu": j.CPU, "memory": j.Memory} {
			if q == "" {
				continue
			}
			if _, err := resource.ParseQuantity(q); err != nil {
				v.add("spec.execution.jobs."+field, "%s is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)", quote(q))
			}
		}
		for i, t := range j.Tolerations {
			if op := t.Operator; op != "" && op != "Exists" && op != "Equal" {
				v.add(itemPath("spec.execution.jobs.tolerations", i)+".operator", "%s must be Exists or Equal", quote(op))
			}
		}
	}
	for stage, r := range s.Execution.StageRunners {
		p := "spec.execution.stageRunners." + stage
		switch {
		case !slices.Contains(api.StageNames, stage):
			v.add(p, "unknown stage %s (valid: %s)", quote(stage), strings.Join(api.StageNames, ", "))
		case !slices.Contains(runners, r):
			v.add(p, "unknown runner %s (valid: %s)", quote(r), strings.Join(runners, ", "))
		}
	}
	// The kubernetes runner runs the load stage as a Job of the Locust
	// image: there is no other place for Locust to run then.
	if l := s.Load.Locust; l != nil && l.Runner != api.LocustKubernetes && s.Execution.RunnerFor(api.StageNameLoad) == api.StageRunnerKubernetes {
		v.add("spec.load.locust.runner", "is %s, but the load stage's runner is kubernetes (a Job of the Locust image); use kubernetes, or set execution.stageRunners.load to inprocess or subprocess", quote(l.Runner))
	}
}

// Heartbeat timeouts below 5s would retry chunks whose worker is merely
// busy; above 1h a dead worker holds its chunk for too long.
const (
	minHeartbeatTimeout = 5 * time.Second
	maxHeartbeatTimeout = time.Hour
)

// app validates spec.app and reports whether scenarios can be checked
// against it.
func (v *validator) app(s *api.Spec) bool {
	const p = "spec.app"
	if !v.ok(p) {
		return false
	}
	valid := "valid: " + strings.Join(app.Names(), ", ") + ", or synthetic-N with N >= 2"
	if s.App == "" {
		v.add(p, "required (%s)", valid)
		return false
	}
	if slices.Contains(app.Names(), s.App) {
		return true
	}
	n, ok := syntheticServices(s.App)
	switch {
	case !ok:
		v.add(p, "unknown app %s (%s)", quote(s.App), valid)
		return false
	case n < 2 || n > maxSyntheticNodes:
		v.add(p, "a synthetic app has 2 to %d services, not %d", maxSyntheticNodes, n)
		return false
	case s.Cluster.Mode != api.ModeSim && v.ok("spec.cluster.mode"):
		v.add(p, "synthetic apps run only in sim mode (there are no manifests or datasets for them); mode is %s", s.Cluster.Mode)
	}
	return true
}

func (v *validator) cluster(s *api.Spec) {
	c := &s.Cluster
	switch c.Mode {
	case api.ModeSim, api.ModeReplay, api.ModeK8s:
	default:
		v.add("spec.cluster.mode", "unknown mode %s (valid: sim, replay, k8s)", quote(string(c.Mode)))
	}
	modeOK := v.ok("spec.cluster.mode")
	switch {
	case c.Mode == api.ModeReplay && c.Replay == nil:
		v.add("spec.cluster.replay", "required in replay mode: replay: {dataset: path/to/observations.csv}")
	case c.Mode != api.ModeReplay && c.Replay != nil && modeOK:
		v.add("spec.cluster.replay", "only used in replay mode; mode is %s", quote(string(c.Mode)))
	case c.Replay != nil && c.Replay.Dataset == "":
		v.add("spec.cluster.replay.dataset", "required: the path of a gym-hpa observation CSV")
	}
	switch {
	case c.Mode == api.ModeK8s && c.K8s == nil:
		v.add("spec.cluster.k8s", "required in k8s mode: at least namespace and prometheusURL")
	case c.Mode != api.ModeK8s && c.K8s != nil && modeOK:
		v.add("spec.cluster.k8s", "only used in k8s mode; mode is %s", quote(string(c.Mode)))
	case c.K8s != nil:
		v.k8s(c.K8s)
	}
	lo := minStepPeriod
	if c.Mode == api.ModeK8s {
		lo = minK8sStepPeriod
	}
	if d := c.StepPeriod.Std(); d < lo || d > maxStepPeriod {
		v.add("spec.cluster.stepPeriod", "%v must be in [%v, %v] in %s mode", d, lo, maxStepPeriod, c.Mode)
	}
	if c.Mode == api.ModeK8s && s.Agent.Validation.Every != 0 {
		v.add("spec.agent.validation.every", "validation during training runs the policy on the twin, and in k8s mode the agent trains on the cluster; set it to 0 (the final policy is evaluated)")
	}
}

func (v *validator) k8s(k *api.K8s) {
	const p = "spec.cluster.k8s"
	if k.Namespace == "" {
		v.add(p+".namespace", "required: the app's namespace, e.g. onlineboutique")
	} else if msg := checkLabel(k.Namespace); msg != "" {
		v.add(p+".namespace", "%s", msg)
	}
	if k.PrometheusURL == "" {
		v.add(p+".prometheusURL", "required: the Prometheus base URL, e.g. http://prometheus.linkerd-viz.svc.cluster.local:9090 (grlctl also takes it from %s)", EnvPrometheusURL)
	} else if msg := checkURL(k.PrometheusURL); msg != "" {
		v.add(p+".prometheusURL", "%s", msg)
	}
	if msg := checkURL(k.LinkerdVizURL); msg != "" {
		v.add(p+".linkerdVizURL", "%s", msg)
	}
	if k.Linkerd != "inject" && k.Linkerd != "disabled" {
		v.add(p+".linkerd", "unknown injection mode %s (valid: inject, disabled)", quote(k.Linkerd))
	}
	if k.Resources != "metrics-server" && k.Resources != "prometheus" {
		v.add(p+".resources", "unknown resource source %s (valid: metrics-server, prometheus)", quote(k.Resources))
	}
	if d := k.HPAReadyTimeout.Std(); d < 10*time.Second || d > time.Hour {
		v.add(p+".hpaReadyTimeout", "%v must be in [10s, 1h]", d)
	}
	for _, f := range []struct{ field, value string }{{"tokenEnv", k.TokenEnv}, {"apiHostEnv", k.APIHostEnv}} {
		if f.value != "" && !envName.MatchString(f.value) {
			v.add(p+"."+f.field, "%s is not an environment variable name (letters, digits and '_', e.g. K8S_TOKEN); it names the variable, it is not the value", quote(f.value))
		}
	}
	switch {
	case k.InCluster && (k.Kubeconfig != "" || k.Context != "" || k.TokenEnv != "" || k.APIHostEnv != ""):
		v.add(p+".inCluster", "uses the pod's service account and excludes kubeconfig, context, tokenEnv and apiHostEnv")
	case k.TokenEnv != "" && k.APIHostEnv == "":
		v.add(p+".apiHostEnv", "required with tokenEnv: the name of the variable holding the API server URL, e.g. K8S_API_HOST")
	case k.TokenEnv == "" && k.APIHostEnv != "":
		v.add(p+".tokenEnv", "required with apiHostEnv: the name of the variable holding the token, e.g. K8S_TOKEN")
	case k.TokenEnv != "" && (k.Kubeconfig != "" || k.Context != ""):
		v.add(p+".tokenEnv", "excludes kubeconfig and context: reach the cluster either through a kubeconfig or through a token and API host")
	}
}

// checkURL accepts an absolute http(s) URL without credentials.
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		if u != nil && u.User != nil {
			return "must not contain credentials; " + secretAdvice
		}
		return fmt.Sprintf("%s is not an http or https URL", quote(s))
	case u.User != nil:
		return "must not contain credentials; " + secretAdvice
	}
	return ""
}

var (
	algorithms = []model.Algorithm{model.PPO, model.A2C}
	policies   = []model.PolicyKind{model.MLP, model.GCN, model.GAT, model.TGN, model.MLPLSTM}
	heads      = []model.HeadKind{model.JointHead, model.PerNodeHead}
)

func joinNames[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// checkPolicy validates a policy and head pair at the given paths.
func (v *validator) checkPolicy(policyPath, policy, headPath, head string) {
	if !slices.Contains(policies, model.PolicyKind(policy)) {
		v.add(policyPath, "unknown policy %s (valid: %s)", quote(policy), joinNames(policies))
		return
	}
	switch {
	case !slices.Contains(heads, model.HeadKind(head)):
		v.add(headPath, "unknown head %s (valid: %s)", quote(head), joinNames(heads))
	case head == string(model.PerNodeHead) && (policy == string(model.MLP) || policy == string(model.MLPLSTM)) && v.ok(policyPath):
		v.add(headPath, "per-node needs a graph policy (gcn, gat or tgn), not %s", policy)
	}
}

func (v *validator) agent(a *api.Agent) {
	const p = "spec.agent"
	algOK := slices.Contains(algorithms, model.Algorithm(a.Algorithm))
	if !algOK {
		v.add(p+".algorithm", "unknown algorithm %s (valid: %s)", quote(a.Algorithm), joinNames(algorithms))
	}
	v.checkPolicy(p+".policy", a.Policy, p+".head", a.Head)
	if _, err := envs.ParseGoal(a.Goal); err != nil {
		v.add(p+".goal", "unknown goal %s (valid: %s)", quote(a.Goal), joinNames(envs.Goals))
	}
	if d := a.SLO.Std(); d < minSLO || d > maxSLO {
		v.add(p+".slo", "%v must be in [%v, %v]", d, minSLO, maxSLO)
	}
	if a.TotalSteps == 0 {
		v.add(p+".totalSteps", "required: the number of environment steps to train, e.g. 20000")
	} else if a.TotalSteps < 1 || a.TotalSteps > maxTotalSteps {
		v.add(p+".totalSteps", "%d must be in [1, %d]", a.TotalSteps, maxTotalSteps)
	}
	if a.EpisodeSteps < 1 || a.EpisodeSteps > maxEpisodeSteps {
		v.add(p+".episodeSteps", "%d must be in [1, %d]", a.EpisodeSteps, maxEpisodeSteps)
	}
	// An empty action is the seed's: specs recorded before action spaces
	// existed had no field.
	if a.Action != "" {
		if _, err := envs.ParseActionSpace(a.Action); err != nil {
			v.add(p+".action", "unknown action space %s (valid: %s)", quote(a.Action), joinNames(envs.ActionSpaces))
		}
	}
	switch {
	case a.BaseHPA == "":
		if a.Action == string(envs.ActionHPAResidual) {
			v.add(p+".baseHPA", "required with action hpa-residual: the HPA preset the agent adjusts, e.g. cpu-50")
		}
	case a.Action != string(envs.ActionHPAResidual) && !v.residualAgent:
		v.add(p+".baseHPA", "only used with action hpa-residual; action is %s", quote(a.Action))
	default:
		if _, err := hpa.ParsePreset(a.BaseHPA, 1, 2); err != nil {
			v.add(p+".baseHPA", "%v", err)
		}
	}
	switch a.Credit {
	case "", CreditShared:
	case CreditPerService:
		switch {
		case !envs.ActionSpace(a.Action).Factored():
			v.add(p+".credit", "per-service needs a factored action space (factored or hpa-residual); action is %s", quote(a.Action))
		case a.Goal != string(envs.GoalSLO):
			v.add(p+".credit", "per-service needs the slo goal, whose cost term is each service's own; goal is %s", quote(a.Goal))
		}
	default:
		v.add(p+".credit", "unknown credit %s (valid: %s, %s)", quote(a.Credit), CreditPerService, CreditShared)
	}
	if w := a.CostWeight; w < 0 || w > maxCostWeight {
		v.add(p+".costWeight", "%g must be in [0, %g]", w, float64(maxCostWeight))
	}
	if f := a.RandomStarts; f < 0 || f > 1 {
		v.add(p+".randomStarts", "%g must be in [0, 1]: the fraction of training episodes that start at a random state", f)
	}
	if sd := a.Validation.Seeds; a.Validation.Every != 0 && (sd < 1 || sd > maxRepetitions) {
		v.add(p+".validation.seeds", "%d must be in [1, %d]", sd, maxRepetitions)
	}
	h := &a.Hyperparameters
	hp := p + ".hyperparameters"
	if h.NSteps > maxNSteps {
		v.add(hp+".nSteps", "%d must be at most %d", h.NSteps, maxNSteps)
	}
	if h.Epochs > maxEpochs {
		v.add(hp+".epochs", "%d must be at most %d", h.Epochs, maxEpochs)
	}
	if h.EntCoef < 0 {
		v.add(hp+".entCoef", "%g must not be negative", h.EntCoef)
	}
	if h.VFCoef < 0 {
		v.add(hp+".vfCoef", "%g must not be negative", h.VFCoef)
	}
	// model.Hyperparameters.Validate is the authority on the rest; its
	// errors name fields as "hyperparameters.<field>". An unknown
	// algorithm is checked as PPO, whose defaults it got.
	mh := Hyperparameters(*a)
	if !algOK {
		mh.Algorithm = model.PPO
	}
	n := h.NSteps
	nOK := n >= 1 && n <= maxNSteps && v.ok(hp+".nSteps")
	v.modelErrors(mh.Validate(), nOK)
	// Training runs whole rollouts of nSteps, and a chunk is whole rollouts.
	if !nOK || v.has(hp+".nSteps") {
		return
	}
	if v.ok(p+".totalSteps") && !v.has(p+".totalSteps") && a.TotalSteps%n != 0 {
		v.add(p+".totalSteps", "%d is not a multiple of hyperparameters.nSteps (%d): training runs whole rollouts", a.TotalSteps, n)
	}
	switch every := a.Validation.Every; {
	case every < 0:
		v.add(p+".validation.every", "%d must not be negative (0 turns validation off)", every)
	case every == 0:
	case every%n != 0:
		v.add(p+".validation.every", "%d is not a multiple of hyperparameters.nSteps (%d): the policy is evaluated between rollouts", every, n)
	case every > a.TotalSteps && a.TotalSteps >= 1 && v.ok(p+".totalSteps"):
		v.add(p+".validation.every", "%d exceeds totalSteps (%d): the policy would never be evaluated; use 0 to turn validation off", every, a.TotalSteps)
	}
	switch {
	case !v.ok(p+".chunkSteps", p+".totalSteps"):
	case a.ChunkSteps < 1:
		v.add(p+".chunkSteps", "%d must be at least 1", a.ChunkSteps)
	case a.ChunkSteps%n != 0:
		v.add(p+".chunkSteps", "%d is not a multiple of hyperparameters.nSteps (%d)", a.ChunkSteps, n)
	case a.ChunkSteps > a.TotalSteps && a.TotalSteps >= 1:
		v.add(p+".chunkSteps", "%d must not exceed totalSteps (%d)", a.ChunkSteps, a.TotalSteps)
	}
}

// modelErrors maps model.Hyperparameters.Validate's errors to spec paths.
// Errors that compare with nSteps are dropped when nSteps itself is bad.
func (v *validator) modelErrors(err error, nOK bool) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		field, msg, ok := strings.Cut(strings.TrimPrefix(e.Error(), "hyperparameters."), ": ")
		if !ok {
			v.add("spec.agent.hyperparameters", "%s", e)
			continue
		}
		switch field {
		case "batchSize":
			if nOK {
				v.add("spec.agent.hyperparameters."+field, "%s", msg)
			}
		case "algorithm", "totalSteps":
			v.add("spec.agent."+field, "%s", msg)
		case "entCoef/vfCoef":
			// Reported per field above.
		default:
			v.add("spec.agent.hyperparameters."+field, "%s", msg)
		}
	}
}

func (v *validator) load(s *api.Spec, appOK bool) {
	const p = "spec.load"
	l := &s.Load
	switch l.Runner {
	case api.RunnerSim:
		if s.Cluster.Mode == api.ModeK8s && v.ok("spec.cluster.mode") {
			v.add(p+".runner", "sim load cannot drive a real cluster; use locust in k8s mode")
		}
	case api.RunnerLocust:
		if s.Cluster.Mode != api.ModeK8s && v.ok("spec.cluster.mode") {
			v.add(p+".runner", "locust needs a real cluster (mode k8s); mode is %s, use runner sim", s.Cluster.Mode)
		}
		switch lc := l.Locust; {
		case s.Cluster.Mode != api.ModeK8s:
		case lc == nil:
			v.add(p+".locust", "required with the locust runner")
		case lc.Runner != api.LocustLocal && lc.Runner != api.LocustKubernetes && lc.Runner != api.LocustRemote:
			v.add(p+".locust.runner", "unknown Locust runner %s (valid: local, kubernetes, remote)", quote(lc.Runner))
		case lc.Host == "":
			v.add(p+".locust.host", "required: the target, e.g. http://frontend.onlineboutique.svc.cluster.local:80")
		}
	default:
		v.add(p+".runner", "unknown runner %s (valid: sim, locust)", quote(string(l.Runner)))
	}
	if l.Locust != nil && l.Runner != api.RunnerLocust && v.ok(p+".runner") {
		v.add(p+".locust", "only used with runner locust; runner is %s", quote(string(l.Runner)))
	}
	// Scenario names can only be checked against a known app.
	appOK = appOK && v.ok("spec.app")
	valid := load.Names(scenarioApp(s.App))
	check := func(path, name string) {
		if appOK && !slices.Contains(valid, name) {
			v.add(path, "unknown scenario %s for %s (valid: %s)", quote(name), s.App, strings.Join(valid, ", "))
		}
	}
	if l.TrainingScenario != "" {
		check(p+".trainingScenario", l.TrainingScenario)
		if ts := l.TrainingScenarios; len(ts) > 0 && (len(ts) != 1 || ts[0].Name != l.TrainingScenario) {
			v.add(p+".trainingScenario", "is the one-scenario shorthand of trainingScenarios; give one of them")
		}
	}
	if len(l.TrainingMix()) == 0 {
		v.add(p+".trainingScenarios", "list at least one scenario to train on, e.g. [{name: peak, weight: 1}]")
	}
	seen := map[string]int{}
	for i, ws := range l.TrainingScenarios {
		ip := itemPath(p+".trainingScenarios", i)
		if j, dup := seen[ws.Name]; dup {
			v.add(ip+".name", "%s is listed twice (also at [%d]); give it one weight", quote(ws.Name), j)
			continue
		}
		seen[ws.Name] = i
		switch {
		case ws.Name == "":
			v.add(ip+".name", "required: a scenario of %s", s.App)
		case ws.Name == l.TrainingScenario && len(l.TrainingScenarios) == 1:
			// The shorthand's expansion: checked as trainingScenario.
		default:
			check(ip+".name", ws.Name)
		}
		if !(ws.Weight > 0) || ws.Weight > maxScenarioWeight {
			v.add(ip+".weight", "%g must be in (0, %g]", ws.Weight, float64(maxScenarioWeight))
		}
	}
	if len(l.EvaluationScenarios) == 0 {
		v.add(p+".evaluationScenarios", "list at least one scenario, e.g. [offpeak, peak, rushsale, fluctuating]")
	}
	first := map[string]int{}
	for i, name := range l.EvaluationScenarios {
		ip := itemPath(p+".evaluationScenarios", i)
		if j, dup := first[name]; dup {
			v.add(ip, "%s is listed twice (also at [%d])", quote(name), j)
			continue
		}
		first[name] = i
		check(ip, name)
	}
	step := s.Cluster.StepPeriod.Std()
	if d := l.Duration.Std(); d > maxRunDuration {
		v.add(p+".duration", "%v must be at most %v", d, maxRunDuration)
	} else if d < step && v.ok("spec.cluster.stepPeriod") {
		v.add(p+".duration", "%v must be at least one step (cluster.stepPeriod %v)", d, step)
	} else if d <= 0 {
		v.add(p+".duration", "%v must be positive", d)
	}
}

func (v *validator) evaluation(s *api.Spec, appOK bool) {
	const p = "spec.evaluation"
	e := &s.Evaluation
	switch {
	case len(e.Controllers) == 0:
		v.add(p+".controllers", "list at least one controller, e.g. {name: agent, type: agent}")
	case len(e.Controllers) > maxControllers:
		v.add(p+".controllers", "%d controllers; at most %d", len(e.Controllers), maxControllers)
	}
	presetApp := load.OnlineBoutique
	if appOK && slices.Contains(app.Names(), s.App) {
		presetApp = s.App
	}
	names := map[string]int{}   // name -> first controller with it
	contest := map[string]int{} // what a controller runs -> first controller running it
	for i := range e.Controllers {
		c := &e.Controllers[i]
		cp := itemPath(p+".controllers", i)
		if c.Name == "" {
			v.add(cp+".name", "required: a DNS-1123 label such as hpa-cpu-50")
		} else if msg := checkLabel(c.Name); msg != "" {
			v.add(cp+".name", "%s", msg)
		} else if j, dup := names[c.Name]; dup {
			v.add(cp+".name", "%s is also the name of controllers[%d]; names must be unique", quote(c.Name), j)
		} else {
			names[c.Name] = i
		}
		notFor := func(field string, set bool, only string) {
			if set {
				v.add(cp+"."+field, "only for type %s; this controller is type %s", only, c.Type)
			}
		}
		switch c.Type {
		case api.ControllerAgent:
			// A controller that inherits a bad policy or head from the
			// agent would only repeat the agent's error.
			if !(c.Policy == s.Agent.Policy && v.has("spec.agent.policy")) && !(c.Head == s.Agent.Head && v.has("spec.agent.head")) {
				v.checkPolicy(cp+".policy", c.Policy, cp+".head", c.Head)
			}
			if c.Action != "" && c.Action != s.Agent.Action {
				if _, err := envs.ParseActionSpace(c.Action); err != nil {
					v.add(cp+".action", "unknown action space %s (valid: %s)", quote(c.Action), joinNames(envs.ActionSpaces))
				} else if c.Action == string(envs.ActionHPAResidual) && s.Agent.BaseHPA == "" {
					v.add(cp+".action", "hpa-residual needs agent.baseHPA, the HPA it adjusts, e.g. cpu-50")
				}
			}
			// An inherited bad weight is the agent's error, reported there.
			if w := c.CostWeight; w != nil && *w != s.Agent.CostWeight && (*w < 0 || *w > maxCostWeight) {
				v.add(cp+".costWeight", "%g must be in [0, %g]", *w, float64(maxCostWeight))
			}
			notFor("hpa", c.HPA != "", "hpa")
			notFor("minReplicas", c.MinReplicas != 0, "hpa")
			notFor("maxReplicas", c.MaxReplicas != 0, "hpa")
			notFor("replicas", c.Replicas != 0, "static")
		case api.ControllerHPA:
			notFor("policy", c.Policy != "", "agent")
			notFor("head", c.Head != "", "agent")
			notFor("action", c.Action != "", "agent")
			notFor("costWeight", c.CostWeight != nil, "agent")
			notFor("replicas", c.Replicas != 0, "static")
			if c.HPA == "" {
				v.add(cp+".hpa", "required: a preset such as cpu-50, mem-40 or cpu-60-mem-80")
			} else if _, err := hpa.ParsePreset(c.HPA, 1, 1); err != nil {
				v.add(cp+".hpa", "%s is not an HPA preset: want cpu-<pct>, mem-<pct> or cpu-<pct>-mem-<pct> with <pct> in 1..1000 (the seed's grid for %s: %s)",
					quote(c.HPA), presetApp, strings.Join(hpa.SeedPresets(presetApp), ", "))
			}
			if c.MinReplicas < 1 || c.MinReplicas > maxReplicas {
				v.add(cp+".minReplicas", "%d must be in [1, %d]", c.MinReplicas, maxReplicas)
			} else if c.MaxReplicas < c.MinReplicas || c.MaxReplicas > maxReplicas {
				if v.ok(cp + ".minReplicas") {
					v.add(cp+".maxReplicas", "%d must be in [minReplicas=%d, %d]", c.MaxReplicas, c.MinReplicas, maxReplicas)
				}
			}
		case api.ControllerStatic:
			notFor("policy", c.Policy != "", "agent")
			notFor("head", c.Head != "", "agent")
			notFor("action", c.Action != "", "agent")
			notFor("costWeight", c.CostWeight != nil, "agent")
			notFor("hpa", c.HPA != "", "hpa")
			notFor("minReplicas", c.MinReplicas != 0, "hpa")
			notFor("maxReplicas", c.MaxReplicas != 0, "hpa")
			if c.Replicas == 0 {
				v.add(cp+".replicas", "required: the replicas of every service")
			} else if c.Replicas < 1 || c.Replicas > maxReplicas {
				v.add(cp+".replicas", "%d must be in [1, %d]", c.Replicas, maxReplicas)
			}
		case "":
			v.add(cp+".type", "required: agent, hpa or static")
		default:
			v.add(cp+".type", "unknown controller type %s (valid: agent, hpa, static)", quote(string(c.Type)))
		}
		// The same contestant twice would only repeat the runs. The
		// fields of other types are empty (or reported above).
		if c.Type == api.ControllerAgent || c.Type == api.ControllerHPA || c.Type == api.ControllerStatic {
			weight := ""
			if c.CostWeight != nil {
				weight = fmt.Sprint(*c.CostWeight)
			}
			key := fmt.Sprintf("%s|%s|%s|%s|%s|%s|%d|%d|%d", c.Type, c.Policy, c.Head, c.Action, weight, c.HPA, c.MinReplicas, c.MaxReplicas, c.Replicas)
			if j, dup := contest[key]; dup && v.ok(cp) {
				v.add(cp, "the same controller as controllers[%d] (%s)", j, e.Controllers[j].Name)
			} else if !dup {
				contest[key] = i
			}
		}
	}
	if e.Repetitions < 1 || e.Repetitions > maxRepetitions {
		v.add(p+".repetitions", "%d must be in [1, %d]", e.Repetitions, maxRepetitions)
	}
	if e.ValidationSeeds < 1 || e.ValidationSeeds > maxRepetitions {
		v.add(p+".validationSeeds", "%d must be in [1, %d]", e.ValidationSeeds, maxRepetitions)
	}
	if d := e.SLO.Std(); d < minSLO || d > maxSLO {
		v.add(p+".slo", "%v must be in [%v, %v]", d, minSLO, maxSLO)
	}
}

func (v *validator) storage(st *api.Storage) {
	const p = "spec.storage"
	if !bucketName.MatchString(st.Bucket) || strings.Contains(st.Bucket, "..") {
		v.add(p+".bucket", "%s is not an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'", quote(st.Bucket))
	}
	switch pre := st.Prefix; {
	case len(pre) > 256 || !prefixChars.MatchString(pre):
		v.add(p+".prefix", "%s: use at most 256 letters, digits, '.', '_', '-' and '/'", quote(pre))
	case strings.HasPrefix(pre, "/") || strings.HasSuffix(pre, "/") || strings.Contains(pre, "//"):
		v.add(p+".prefix", "%s must not start or end with '/' or contain '//'", quote(pre))
	case slices.ContainsFunc(strings.Split(pre, "/"), func(seg string) bool { return seg == "." || seg == ".." }):
		v.add(p+".prefix", "%s must not contain . or .. segments", quote(pre))
	}
}
