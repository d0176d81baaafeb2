package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

var examples = []string{"../examples/quickstart.yaml", "../examples/seed-full.yaml", "../examples/k8s-local.yaml", "../examples/beat-hpa.yaml", "../examples/beat-hpa-redis.yaml"}

// base is a small valid document the malformed cases edit.
const base = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: t
spec:
  app: onlineboutique
  cluster: {mode: sim, stepPeriod: 15s}
  agent:
    policy: gcn
    totalSteps: 2000
    chunkSteps: 500
    hyperparameters: {nSteps: 250, batchSize: 50}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak, rushsale]
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
  storage: {bucket: grlscaler}
`

// edit replaces the one occurrence of old in base.
func edit(t testing.TB, old, new string) string {
	t.Helper()
	if strings.Count(base, old) != 1 {
		t.Fatalf("edit: %q occurs %d times in base", old, strings.Count(base, old))
	}
	return strings.Replace(base, old, new, 1)
}

// loc returns the line:column of the one occurrence of needle in doc,
// computed from the text, independently of the YAML parser.
func loc(t testing.TB, doc, needle string) string {
	t.Helper()
	if strings.Count(doc, needle) != 1 {
		t.Fatalf("loc: %q occurs %d times in the document", needle, strings.Count(doc, needle))
	}
	i := strings.Index(doc, needle)
	line := strings.Count(doc[:i], "\n") + 1
	col := i - (strings.LastIndex(doc[:i], "\n") + 1) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

// fieldErrors unpacks Parse's joined errors.
func fieldErrors(t testing.TB, err error) []*FieldError {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*FieldError, len(errs))
	for i, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is a %T, not a *FieldError", e, e)
		}
		out[i] = fe
	}
	return out
}

func mustLoad(t testing.TB, path string) *api.ExperimentSpec {
	t.Helper()
	s, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	return s
}

func TestExamplesParse(t *testing.T) {
	for _, path := range examples {
		s := mustLoad(t, path)
		if err := Validate(s); err != nil {
			t.Errorf("%s: Validate after Parse: %v", path, err)
		}
	}
}

func TestBaseParses(t *testing.T) {
	if _, err := Parse("t.yaml", []byte(base)); err != nil {
		t.Fatalf("base document: %v", err)
	}
}

// TestQuickstartIsSmall keeps make run's experiment within a few minutes
// on two cores: training of the order of a minute, an evaluation of a
// few dozen runs.
func TestQuickstartIsSmall(t *testing.T) {
	s := mustLoad(t, examples[0])
	a, e := s.Spec.Agent, s.Spec.Evaluation
	runs := len(e.Controllers) * len(s.Spec.Load.EvaluationScenarios) * (e.Repetitions + e.ValidationSeeds)
	if a.TotalSteps > 300_000 || runs > 40 || s.Spec.Load.Duration.Std() > 15*time.Minute {
		t.Errorf("quickstart grew: %d training steps, %d evaluation runs of %v", a.TotalSteps, runs, s.Spec.Load.Duration)
	}
}

func TestSeedFullUsesTheSeedsSettings(t *testing.T) {
	s := mustLoad(t, examples[1])
	a := s.Spec.Agent
	h := a.Hyperparameters
	// seed-spec 2.7 and 3.1: PPO with n_steps 500 and 5000 total steps,
	// SB3's other defaults, ent 0.01 from the GNN runs.
	if a.Algorithm != "ppo" || a.TotalSteps != 5000 || h.NSteps != 500 || h.BatchSize != 64 || h.Epochs != 10 || h.EntCoef != 0.01 || a.EpisodeSteps != 25 || a.Seed != 42 {
		t.Errorf("agent = %+v", a)
	}
	// seed-spec 5.1 and 5.3: the CPU grid with bounds 1..7.
	var presets []string
	for _, c := range s.Spec.Evaluation.Controllers {
		if c.Type == api.ControllerHPA {
			presets = append(presets, c.HPA)
			if c.MinReplicas != 1 || c.MaxReplicas != 7 {
				t.Errorf("%s: bounds %d..%d, want the seed's 1..7", c.Name, c.MinReplicas, c.MaxReplicas)
			}
			if !slices.Contains(hpa.SeedPresets(s.Spec.App), c.HPA) {
				t.Errorf("%s: %s is not in the seed's grid", c.Name, c.HPA)
			}
		}
	}
	if want := []string{"cpu-20", "cpu-40", "cpu-60", "cpu-80"}; !slices.Equal(presets, want) {
		t.Errorf("hpa presets = %v, want %v", presets, want)
	}
	if got := s.Spec.Load.EvaluationScenarios; len(got) != 4 || s.Spec.Evaluation.Repetitions != 5 {
		t.Errorf("scenarios %v, repetitions %d; want the seed's 4 and 5", got, s.Spec.Evaluation.Repetitions)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, path := range examples {
		s := mustLoad(t, path)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back api.ExperimentSpec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: unmarshal: %v", path, err)
		}
		if !reflect.DeepEqual(s, &back) {
			t.Errorf("%s: JSON round trip changed the spec:\n got %+v\nwant %+v", path, back, *s)
		}
		if api.SpecHash(s) != api.SpecHash(&back) {
			t.Errorf("%s: hash changed over the round trip", path)
		}
	}
}

func TestCanonicalJSONParsesBackToTheSameSpec(t *testing.T) {
	// JSON is YAML, so the canonical form is itself a valid experiment file.
	for _, path := range examples {
		s := mustLoad(t, path)
		b, err := Canonical(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("canonical.json", b)
		if err != nil {
			t.Fatalf("%s: parse canonical JSON: %v\n%s", path, err, b)
		}
		if !reflect.DeepEqual(s, again) {
			t.Errorf("%s: canonical JSON parsed to a different spec", path)
		}
	}
}

func TestSpecHashIsStableAndDiscriminates(t *testing.T) {
	a1, a2 := mustLoad(t, examples[0]), mustLoad(t, examples[0])
	b := mustLoad(t, examples[1])
	h := api.SpecHash(a1)
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("SpecHash = %q, want 64 lowercase hex digits", h)
	}
	if api.SpecHash(a2) != h || api.SpecHash(a1) != h {
		t.Errorf("SpecHash differs between parses of the same file")
	}
	if api.SpecHash(b) == h {
		t.Errorf("the two examples have the same hash")
	}
	a2.Spec.Agent.Seed++
	if api.SpecHash(a2) == h {
		t.Errorf("changing the seed did not change the hash")
	}
	c, err := Canonical(a1)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := api.Canonical(a1)
	if string(c) != string(ac) {
		t.Errorf("experiment.Canonical differs from api.Canonical")
	}
}

func TestCanonicalRefusesAnInvalidSpec(t *testing.T) {
	s := mustLoad(t, examples[0])
	s.Spec.Agent.ChunkSteps = 300
	if _, err := Canonical(s); err == nil || !strings.Contains(err.Error(), "spec.agent.chunkSteps") {
		t.Errorf("Canonical(invalid) = %v, want an error naming spec.agent.chunkSteps", err)
	}
}

func TestDefaultsAreFilledIn(t *testing.T) {
	one := 1.0
	doc := `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata: {name: d}
spec:
  app: redis
  agent: {totalSteps: 20480}
`
	s, err := Parse("d.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := api.Spec{
		App:     "redis",
		Cluster: api.Cluster{Mode: api.ModeSim, StepPeriod: api.Duration(15 * time.Second)},
		WarmUp:  api.WarmUp{Duration: api.Duration(2 * time.Minute)},
		Agent: api.Agent{
			Algorithm: "ppo", Policy: "gcn", Head: "per-node", Goal: "slo",
			SLO:        api.Duration(500 * time.Millisecond),
			TotalSteps: 20480,
			// 10 rollouts of SB3's 2048 steps: one per chunk; an episode
			// is an evaluation run (15m / 15s).
			ChunkSteps: 2048, EpisodeSteps: 60, Seed: 42,
			Action: "factored", Credit: "per-service", CostWeight: 1, RandomStarts: 0.5,
			// 20 validations, one per rollout.
			Validation: api.AgentValidation{Every: 2048, Seeds: 3},
			Hyperparameters: api.Hyperparameters{
				LearningRate: 3e-4, NSteps: 2048, BatchSize: 64, Epochs: 10, Gamma: 0.99, Lambda: 0.95,
				ClipRange: 0.2, VFCoef: 0.5, MaxGradNorm: 0.5, AdamEpsilon: 1e-8, NormalizeAdvantage: true,
				NormalizeObservations: true, NormalizeRewards: true,
			},
		},
		Load: api.Load{
			TrainingScenarios: []api.WeightedScenario{
				{Name: "offpeak", Weight: 1}, {Name: "peak", Weight: 1}, {Name: "rushsale", Weight: 1}, {Name: "fluctuating", Weight: 1},
			},
			EvaluationScenarios: []string{"offpeak", "peak", "rushsale", "fluctuating"},
			Duration:            api.Duration(15 * time.Minute),
			Runner:              api.RunnerSim,
		},
		Evaluation: api.Evaluation{
			Controllers: []api.Controller{
				{Name: "agent", Type: api.ControllerAgent, Policy: "gcn", Head: "per-node", Action: "factored", CostWeight: &one},
				{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50", MinReplicas: 1, MaxReplicas: 8},
			},
			Repetitions: 5, ValidationSeeds: 3, SLO: api.Duration(500 * time.Millisecond),
		},
		Storage:   api.Storage{Bucket: "grlscaler", Prefix: "experiments"},
		Execution: api.Execution{HeartbeatTimeout: api.Duration(2 * time.Minute), StageRunner: api.StageRunnerInProcess},
	}
	if !reflect.DeepEqual(s.Spec, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", s.Spec, want)
	}
}

func TestDefaultSLOIsTheRewardsDefault(t *testing.T) {
	if want := envs.DefaultRewardConfig(envs.GoalSLO, 0).SLO; DefaultSLO != want {
		t.Errorf("DefaultSLO = %v, envs.DefaultRewardConfig's SLO = %v", DefaultSLO, want)
	}
}

func TestExplicitZerosAndA2CDefaults(t *testing.T) {
	doc := `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata: {name: z}
spec:
  app: synthetic-20
  warmUp: {duration: 0}
  agent:
    algorithm: a2c
    policy: gat
    head: per-node
    seed: 0
    totalSteps: 1000
    hyperparameters: {entCoef: 0, gamma: 0, normalizeAdvantage: true}
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: mlp, type: agent, policy: mlp}
  storage: {prefix: runs/grl}
`
	s, err := Parse("z.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a := s.Spec.Agent
	h := a.Hyperparameters
	if s.Spec.WarmUp.Duration != 0 || a.Seed != 0 || h.Gamma != 0 || !h.NormalizeAdvantage {
		t.Errorf("explicit zero or true was replaced: warmUp %v seed %d gamma %g normalize %v", s.Spec.WarmUp.Duration, a.Seed, h.Gamma, h.NormalizeAdvantage)
	}
	d := model.DefaultA2CHyperparameters()
	if h.NSteps != d.NSteps || h.LearningRate != d.LearningRate || h.Lambda != d.Lambda {
		t.Errorf("a2c hyperparameters = %+v, want A2C defaults %+v", h, d)
	}
	// 200 rollouts of 5 steps in about 10 chunks.
	if a.ChunkSteps != 100 {
		t.Errorf("chunkSteps = %d, want 100", a.ChunkSteps)
	}
	if c := s.Spec.Evaluation.Controllers[1]; c.Head != "joint" {
		t.Errorf("mlp baseline head = %q, want joint (per-node needs a graph policy)", c.Head)
	}
	if got := Hyperparameters(a); got.Algorithm != model.A2C || got.TotalSteps != 1000 {
		t.Errorf("Hyperparameters(agent) = %+v", got)
	}
}

func TestAPIHyperparametersMirrorTheModels(t *testing.T) {
	// Every model.Hyperparameters field but algorithm and totalSteps (kept
	// on the agent) must be settable in the spec under the same name.
	apiFields := fieldNames(reflect.TypeFor[api.Hyperparameters]())
	for _, f := range fieldNames(reflect.TypeFor[model.Hyperparameters]()) {
		if f == "algorithm" || f == "totalSteps" {
			continue
		}
		if !slices.Contains(apiFields, f) {
			t.Errorf("model.Hyperparameters.%s has no api.Hyperparameters field", f)
		}
	}
	if n, m := len(apiFields), reflect.TypeFor[model.Hyperparameters]().NumField()-2; n != m {
		t.Errorf("api.Hyperparameters has %d fields, model.Hyperparameters %d (+2)", n, m)
	}
}

// wantErr is one expected error: its position, path and a fragment of its
// message.
type wantErr struct{ at, path, msg string }

// malformed returns the table of bad documents and the errors each must
// give, exactly and in order.
func malformed(t testing.TB) []struct {
	name string
	doc  string
	want []wantErr
} {
	type tc = struct {
		name string
		doc  string
		want []wantErr
	}
	var cases []tc
	add := func(name, doc string, want ...wantErr) { cases = append(cases, tc{name, doc, want}) }

	d := base + "status: done\n"
	add("unknown top-level field", d, wantErr{loc(t, d, "status"), "status", "unknown field"})

	d = edit(t, "  name: t\n", "  nmae: t\n")
	add("unknown metadata field, and the missing name located at its parent", d,
		wantErr{loc(t, d, "metadata:"), "metadata.name", "required"},
		wantErr{loc(t, d, "nmae"), "metadata.nmae", "unknown field"})

	d = edit(t, "chunkSteps: 500", "chunk_steps: 500")
	add("unknown agent field", d, wantErr{loc(t, d, "chunk_steps"), "spec.agent.chunk_steps", `did you mean "chunkSteps"`})

	d = edit(t, "batchSize: 50}", "batchSize: 50, clip: 0.2}")
	add("unknown hyperparameter", d, wantErr{loc(t, d, "clip"), "spec.agent.hyperparameters.clip", "valid fields of spec.agent.hyperparameters"})

	d = edit(t, "{name: agent, type: agent}", "{name: agent, type: agent, replica: 2}")
	add("unknown field in a list item", d, wantErr{loc(t, d, "replica"), "spec.evaluation.controllers[0].replica", "unknown field"})

	d = edit(t, "totalSteps: 2000", "totalSteps: many")
	add("string for an integer", d, wantErr{loc(t, d, "totalSteps"), "spec.agent.totalSteps", `want an integer, got the string "many"`})

	d = edit(t, "batchSize: 50}", "batchSize: 50.5}")
	add("float for an integer", d, wantErr{loc(t, d, "batchSize"), "spec.agent.hyperparameters.batchSize", "want an integer"})

	d = edit(t, "evaluationScenarios: [peak, rushsale]", "evaluationScenarios: peak")
	add("scalar for a list", d, wantErr{loc(t, d, "evaluationScenarios"), "spec.load.evaluationScenarios", "want a list"})

	d = edit(t, "stepPeriod: 15s", "stepPeriod: 15")
	add("duration without unit", d, wantErr{loc(t, d, "stepPeriod"), "spec.cluster.stepPeriod", "has no unit"})

	d = edit(t, "    policy: gcn\n", "    slo: 5 sec\n")
	add("bad duration string", d, wantErr{loc(t, d, "slo"), "spec.agent.slo", `"5 sec" is not a duration`})

	d = edit(t, "totalSteps: 2000", "totalSteps: -2000")
	add("negative steps", d, wantErr{loc(t, d, "totalSteps"), "spec.agent.totalSteps", "-2000 must be in [1, "})

	d = edit(t, "chunkSteps: 500", "chunkSteps: 300")
	add("chunk not a multiple of nSteps", d, wantErr{loc(t, d, "chunkSteps"), "spec.agent.chunkSteps", "300 is not a multiple of hyperparameters.nSteps (250)"})

	d = edit(t, "chunkSteps: 500", "chunkSteps: 2250")
	add("chunk longer than training", d, wantErr{loc(t, d, "chunkSteps"), "spec.agent.chunkSteps", "must not exceed totalSteps (2000)"})

	d = edit(t, "totalSteps: 2000", "totalSteps: 2100")
	add("total not whole rollouts", d, wantErr{loc(t, d, "totalSteps"), "spec.agent.totalSteps", "not a multiple of hyperparameters.nSteps (250)"})

	d = edit(t, "batchSize: 50}", "batchSize: 500}")
	add("model validation mapped to the path", d, wantErr{loc(t, d, "batchSize"), "spec.agent.hyperparameters.batchSize", "must be in [1, nSteps=250]"})

	d = edit(t, "app: onlineboutique", "app: boutique")
	add("unknown app", d, wantErr{loc(t, d, "app:"), "spec.app", `unknown app "boutique" (valid: onlineboutique, redis, or synthetic-N`})

	d = edit(t, "app: onlineboutique", "app: synthetic-1")
	add("too small synthetic app", d, wantErr{loc(t, d, "app:"), "spec.app", "2 to 10000 services"})

	d = edit(t, "trainingScenario: peak", "trainingScenario: blackfriday")
	add("unknown training scenario", d, wantErr{loc(t, d, "trainingScenario"), "spec.load.trainingScenario", `unknown scenario "blackfriday" for onlineboutique`})

	d = edit(t, "[peak, rushsale]", "[peak, rush]")
	add("unknown evaluation scenario", d, wantErr{loc(t, d, "rush]"), "spec.load.evaluationScenarios[1]", "valid: offpeak, peak, rushsale, fluctuating"})

	d = edit(t, "    policy: gcn\n", "    goal: throughput\n")
	add("unknown goal", d, wantErr{loc(t, d, "goal"), "spec.agent.goal", "valid: cost, latency, slo"})

	d = edit(t, "policy: gcn", "policy: gnn")
	add("unknown policy", d, wantErr{loc(t, d, "policy"), "spec.agent.policy", "valid: mlp, gcn, gat"})

	d = edit(t, "hpa: cpu-50}", "hpa: cpu50}")
	add("unknown HPA preset", d, wantErr{loc(t, d, "hpa: cpu50"), "spec.evaluation.controllers[1].hpa", "the seed's grid for onlineboutique"})

	d = edit(t, "    policy: gcn\n", "    policy: mlp\n    head: per-node\n")
	add("per-node head with mlp", d, wantErr{loc(t, d, "head"), "spec.agent.head", "per-node needs a graph policy"})

	d = edit(t, "trainingScenario: peak", "runner: locust")
	add("locust in sim mode", d, wantErr{loc(t, d, "runner"), "spec.load.runner", "locust needs a real cluster (mode k8s)"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: replay, replay: {}}")
	add("replay without a dataset", d, wantErr{loc(t, d, "replay: {}"), "spec.cluster.replay.dataset", "required"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: replay}")
	add("replay without its block", d, wantErr{loc(t, d, "cluster"), "spec.cluster.replay", "required in replay mode"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {prometheusURL: http://prometheus:9090}}")
	add("k8s without a namespace", d, wantErr{loc(t, d, "k8s: {"), "spec.cluster.k8s.namespace", "required"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob, prometheusURL: http://prometheus:9090, linkerd: sidecar}}")
	add("unknown linkerd mode", d, wantErr{loc(t, d, "linkerd: sidecar"), "spec.cluster.k8s.linkerd", "valid: inject, disabled"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob, prometheusURL: http://prometheus:9090}}")
	d = strings.Replace(d, "trainingScenario: peak", "trainingScenario: peak\n    locust: {runner: ssh}", 1)
	add("unknown locust runner", d, wantErr{loc(t, d, "runner: ssh"), "spec.load.locust.runner", "valid: local, kubernetes, remote"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob, prometheusURL: http://prometheus:9090}}")
	d = strings.Replace(d, "trainingScenario: peak", "trainingScenario: peak\n    locust: {runner: remote}", 1)
	d += "  execution: {stageRunners: {load: kubernetes}}\n"
	add("locust elsewhere than the kubernetes load stage's Job", d, wantErr{loc(t, d, "runner: remote"), "spec.load.locust.runner", "a Job of the Locust image"})

	d = edit(t, "{name: hpa-cpu-50,", "{name: agent,")
	add("duplicate controller names", d, wantErr{loc(t, d, "name: agent, type: hpa"), "spec.evaluation.controllers[1].name", "names must be unique"})

	d = edit(t, "    chunkSteps: 500\n", "    chunkSteps: 500\n    totalSteps: 4000\n")
	add("duplicate key", d, wantErr{loc(t, d, "totalSteps: 4000"), "spec.agent.totalSteps", "duplicate key (first set at line 10)"})

	d = base + "---\napiVersion: grlscaler.io/v1alpha1\n"
	add("two documents", d, wantErr{loc(t, d, "---"), "", "a second document"})

	d = edit(t, "stepPeriod: 15s}", "stepPeriod: 15s, token: s3cr3t-value}")
	add("a secret-named field", d, wantErr{loc(t, d, "token"), "spec.cluster.token", "environment variable or a Kubernetes Secret"})

	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz"
	d = edit(t, "name: t\n", "name: "+jwt+"\n")
	add("a JWT-looking value", d, wantErr{loc(t, d, jwt), "metadata.name", "looks like a credential"})

	d = edit(t, "  storage:", "  # kubectl token: Bearer abcdefghijklmnopqrstuvwxyz0123\n  storage:")
	add("a bearer token in a comment", d, wantErr{loc(t, d, "Bearer"), "spec.storage", "a comment holds"})

	add("empty file", "", wantErr{"1:1", "", "the file is empty"})
	add("only comments", "# nothing here\n", wantErr{"1:1", "", "the file is empty"})
	add("not a mapping", "- apiVersion\n- kind\n", wantErr{"1:1", "", "the document must be a mapping"})
	// The YAML parser reports no column; its lines are checked for both
	// of its error classes (parser and scanner).
	add("syntax error: unclosed flow list", "apiVersion: grlscaler.io/v1alpha1\nkind: [Experiment\n", wantErr{"2", "", "yaml syntax error"})
	add("syntax error: list item in a mapping", "a: 1\nb: 2\n- x\n", wantErr{"3", "", "did not find expected key"})
	add("syntax error: bad indentation", "a: 1\nb: 2\n c: 3\n", wantErr{"3", "", "mapping values are not allowed"})
	add("syntax error: tab on the first line", "\tx: 1\n", wantErr{"1", "", "cannot start any token"})

	d = edit(t, "    chunkSteps: 500\n", "    chunkSteps: &c 500\n    episodeSteps: *c\n")
	add("alias", d, wantErr{loc(t, d, "episodeSteps"), "spec.agent.episodeSteps", "aliases"})

	d = edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob, prometheusURL: 'http://admin:pw@prom:9090'}}")
	add("credentials in a URL", d,
		wantErr{loc(t, d, "prometheusURL"), "spec.cluster.k8s.prometheusURL", "must not contain credentials"})

	d = edit(t, "  name: t\n", "  name: t\n  labels: {team: 7}\n")
	add("label value of the wrong type", d, wantErr{loc(t, d, "team"), "metadata.labels.team", "want a string"})

	d = edit(t, "  app: onlineboutique\n", "")
	add("missing app located at spec", d, wantErr{loc(t, d, "spec:"), "spec.app", "required"})

	d = edit(t, "{name: agent, type: agent}", "{name: agent, type: agent, policy: mlp, head: per-node}")
	add("per-node baseline with mlp", d, wantErr{loc(t, d, "head: per-node"), "spec.evaluation.controllers[0].head", "per-node needs a graph policy"})

	d = edit(t, "{name: agent, type: agent}", "{name: s, type: static, hpa: cpu-20}")
	add("field of another controller type", d,
		wantErr{loc(t, d, "{name: s"), "spec.evaluation.controllers[0].replicas", "required"},
		wantErr{loc(t, d, "hpa: cpu-20"), "spec.evaluation.controllers[0].hpa", "only for type hpa"})

	d = base + "  execution: {heartbeatTimeout: 1s}\n"
	add("heartbeat timeout too short", d, wantErr{loc(t, d, "heartbeatTimeout"), "spec.execution.heartbeatTimeout", "1s must be in [5s, 1h0m0s]"})

	d = edit(t, "kind: Experiment", "kind: Experiment\nkind: Job")
	add("duplicate top-level key", d, wantErr{loc(t, d, "kind: Job"), "kind", "duplicate key (first set at line 2)"})

	d = edit(t, "totalSteps: 2000", "totalSteps: many") + "bogus: 1\n"
	add("several problems sorted by line", d,
		wantErr{loc(t, d, "totalSteps"), "spec.agent.totalSteps", "want an integer"},
		wantErr{loc(t, d, "bogus"), "bogus", "unknown field"})
	d = edit(t, "policy: gcn\n", "policy: gcn\n    action: continuous\n")
	add("unknown action space", d, wantErr{loc(t, d, "action: continuous"), "spec.agent.action", "seed, factored, hpa-residual"})

	d = edit(t, "policy: gcn\n", "policy: gcn\n    action: seed\n    credit: per-service\n")
	add("per-service credit in the seed space", d, wantErr{loc(t, d, "credit:"), "spec.agent.credit", "needs a factored action space"})

	d = edit(t, "policy: gcn\n", "policy: gcn\n    baseHPA: cpu-50\n")
	add("a base HPA without hpa-residual", d, wantErr{loc(t, d, "baseHPA:"), "spec.agent.baseHPA", "only used with action hpa-residual"})

	d = edit(t, "policy: gcn\n", "policy: gcn\n    action: hpa-residual\n    baseHPA: cpu-fifty\n")
	add("a base HPA that is no preset", d, wantErr{loc(t, d, "baseHPA:"), "spec.agent.baseHPA", "cpu-fifty"})

	d = edit(t, "policy: gcn\n", "policy: gcn\n    randomStarts: 1.5\n    costWeight: -1\n")
	add("random starts and cost weight out of range", d,
		wantErr{loc(t, d, "randomStarts:"), "spec.agent.randomStarts", "must be in [0, 1]"},
		wantErr{loc(t, d, "costWeight:"), "spec.agent.costWeight", "must be in [0, 100]"})

	d = edit(t, "chunkSteps: 500\n", "chunkSteps: 500\n    validation: {every: 300}\n")
	add("validation between rollouts only", d, wantErr{loc(t, d, "every:"), "spec.agent.validation.every", "not a multiple of hyperparameters.nSteps (250)"})

	d = edit(t, "    trainingScenario: peak\n", "    trainingScenarios: [{name: peak, weight: 2}, {name: blackfriday}, {name: peak, weight: 1}, {name: offpeak, weight: 0}]\n")
	add("a training mix with an unknown scenario, a repeat and a zero weight", d,
		wantErr{loc(t, d, "name: blackfriday"), "spec.load.trainingScenarios[1].name", "unknown scenario"},
		wantErr{loc(t, d, "name: peak, weight: 1}"), "spec.load.trainingScenarios[2].name", "listed twice"},
		wantErr{loc(t, d, "weight: 0}"), "spec.load.trainingScenarios[3].weight", "must be in (0,"})

	d = edit(t, "    trainingScenario: peak\n", "    trainingScenario: peak\n    trainingScenarios: [{name: rushsale}]\n")
	add("both the shorthand and the mix", d, wantErr{loc(t, d, "trainingScenario: peak"), "spec.load.trainingScenario", "shorthand"})

	d = edit(t, "{name: hpa-cpu-50, type: hpa, hpa: cpu-50}", "{name: hpa-cpu-50, type: hpa, hpa: cpu-50, action: factored}")
	add("an action for an HPA", d, wantErr{loc(t, d, "action: factored"), "spec.evaluation.controllers[1].action", "only for type agent"})

	d = edit(t, "{name: agent, type: agent}\n    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}", "{name: agent, type: agent, costWeight: 101}\n    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50, costWeight: 1}")
	add("cost weights out of range and for an HPA", d,
		wantErr{loc(t, d, "costWeight: 101"), "spec.evaluation.controllers[0].costWeight", "must be in [0, 100]"},
		wantErr{loc(t, d, "costWeight: 1}"), "spec.evaluation.controllers[1].costWeight", "only for type agent"})

	return cases
}

func TestTrainingMixAndAgentDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(edit(t, "    trainingScenario: peak\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	l := s.Spec.Load
	if len(l.TrainingScenarios) != 2 || l.TrainingScenarios[0] != (api.WeightedScenario{Name: "peak", Weight: 1}) || l.TrainingScenarios[1].Name != "rushsale" || l.TrainingScenario != "" {
		t.Errorf("without a training scenario the mix is the evaluation scenarios, equally weighted: %+v", l)
	}
	a := s.Spec.Agent
	// 2000 steps of nSteps 250 make 8 rollouts: a validation after each.
	if a.Action != "factored" || a.Credit != "per-service" || a.EpisodeSteps != 60 || a.Validation != (api.AgentValidation{Every: 250, Seeds: 3}) {
		t.Errorf("agent defaults %+v", a)
	}
	s, err = Parse("t.yaml", []byte(edit(t, "policy: gcn\n", "policy: gcn\n    action: seed\n")))
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Agent.Credit != "shared" || s.Spec.Load.TrainingScenarios[0].Name != "peak" || len(s.Spec.Load.TrainingScenarios) != 1 {
		t.Errorf("seed space: credit %q, mix %+v", s.Spec.Agent.Credit, s.Spec.Load.TrainingScenarios)
	}
	// Specs recorded before action spaces still validate (the seed's).
	old := *s
	old.Spec.Agent.Action, old.Spec.Agent.Credit = "", ""
	old.Spec.Load.TrainingScenarios = nil
	if err := Validate(&old); err != nil {
		t.Errorf("a spec without the new fields: %v", err)
	}
}

func TestMalformedDocumentsNameTheFieldAndPosition(t *testing.T) {
	cases := malformed(t)
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a spec with an error")
			}
			got := fieldErrors(t, err)
			if len(got) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(c.want), err)
			}
			for i, w := range c.want {
				g := got[i]
				at := fmt.Sprintf("%d:%d", g.Line, g.Column)
				prefix := "t.yaml:" + at + ": "
				if g.Column == 0 {
					at = fmt.Sprint(g.Line)
					prefix = "t.yaml:" + at + ": "
				}
				if w.path != "" {
					prefix += w.path + ": "
				}
				if at != w.at || g.Path != w.path || !strings.HasPrefix(g.Error(), prefix) || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("error %d = %q\nwant at %s, path %q, message containing %q", i, g.Error(), w.at, w.path, w.msg)
				}
			}
		})
	}
}

func TestErrorsNeverRepeatASecret(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz"
	for _, doc := range []string{
		edit(t, "stepPeriod: 15s}", "stepPeriod: 15s, password: hunter2-hunter2}"),
		edit(t, "name: t\n", "name: "+jwt+"\n"),
		edit(t, "[peak, rushsale]", "[peak, "+jwt+"]"),
		edit(t, "totalSteps: 2000", "totalSteps: Bearer "+jwt),
		edit(t, "  name: t\n", "  name: t\n  labels: {"+jwt+": x}\n"),
	} {
		_, err := Parse("t.yaml", []byte(doc))
		if err == nil {
			t.Fatalf("Parse accepted a secret:\n%s", doc)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "c2lnbmF0") || !strings.Contains(msg, "environment variable") {
			t.Errorf("error repeats the secret or gives no advice:\n%s", msg)
		}
	}
}

func TestEnvNameFieldsAreNotSecrets(t *testing.T) {
	doc := edit(t, "{mode: sim, stepPeriod: 15s}",
		"{mode: k8s, k8s: {namespace: onlineboutique, prometheusURL: 'http://prometheus:9090', tokenEnv: K8S_TOKEN, apiHostEnv: K8S_API_HOST}}")
	s, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	k := s.Spec.Cluster.K8s
	if k.TokenEnv != "K8S_TOKEN" || k.LinkerdVizURL != DefaultLinkerdVizURL || s.Spec.Load.Runner != api.RunnerLocust {
		t.Errorf("k8s = %+v, runner %s", k, s.Spec.Load.Runner)
	}
	// The k8s defaults: injection, metrics-server, Locust as a Job aimed
	// at the app's entry Service.
	if k.Linkerd != "inject" || k.Resources != "metrics-server" || k.HPAReadyTimeout.Std() != DefaultHPAReadyTimeout {
		t.Errorf("k8s defaults %+v", k)
	}
	if l := s.Spec.Load.Locust; l == nil || l.Runner != api.LocustKubernetes || l.Host != "http://frontend.onlineboutique.svc.cluster.local:80" {
		t.Errorf("locust defaults %+v", l)
	}
}

func TestValidateReportsPathsWithoutPositions(t *testing.T) {
	err := Validate(&api.ExperimentSpec{})
	if err == nil {
		t.Fatal("Validate accepted an empty spec")
	}
	for _, want := range []string{"apiVersion: required", "metadata.name: required", "spec.app: required", "spec.agent.totalSteps: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(empty) lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadNamesAMissingFile(t *testing.T) {
	_, err := Load("no-such-experiment.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no-such-experiment.yaml") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range examples {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(base))
	for _, c := range malformed(f) {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned both a spec and an error")
			}
			for _, fe := range fieldErrors(t, err) {
				if fe.File != "fuzz.yaml" || fe.Msg == "" {
					t.Fatalf("malformed error %#v", fe)
				}
				if tokenRE.MatchString(fe.Error()) {
					t.Fatalf("error repeats a credential: %q", fe.Error())
				}
			}
			return
		}
		if err := Validate(s); err != nil {
			t.Fatalf("Parse accepted a spec that Validate rejects: %v", err)
		}
		b, err := api.Canonical(s)
		if err != nil {
			t.Fatalf("canonical JSON: %v", err)
		}
		var back api.ExperimentSpec
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(s, &back) {
			t.Fatalf("JSON round trip: %v\n%s", err, b)
		}
		again, err := Parse("canonical.json", b)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("canonical JSON does not parse back to the spec: %v\n%s", err, b)
		}
		_ = api.SpecHash(s)
	})
}

func TestStepPeriodBelowASecondOnlyOnACluster(t *testing.T) {
	k8s := edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, stepPeriod: 300ms, k8s: {namespace: ob, prometheusURL: 'http://prometheus:9090'}}")
	if _, err := Parse("t.yaml", []byte(k8s)); err != nil {
		t.Errorf("k8s with the seed's 0.3 s wait: %v", err)
	}
	sim := edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: sim, stepPeriod: 300ms}")
	if _, err := Parse("t.yaml", []byte(sim)); err == nil || !strings.Contains(err.Error(), "spec.cluster.stepPeriod") {
		t.Errorf("sim with a 0.3 s step: %v, want an error naming spec.cluster.stepPeriod", err)
	}
}

func TestLoadTakesMissingClusterURLsFromTheSeedsVariables(t *testing.T) {
	env := map[string]string{EnvPrometheusURL: "http://prometheus.monitoring:9090", EnvLinkerdVizURL: "http://web.linkerd-viz:8084/api/edges"}
	getenv := func(k string) string { return env[k] }
	bare := edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob}}")
	s, err := ParseEnv("t.yaml", []byte(bare), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if k := s.Spec.Cluster.K8s; k.PrometheusURL != env[EnvPrometheusURL] || k.LinkerdVizURL != env[EnvLinkerdVizURL] {
		t.Errorf("urls %q %q, want the environment's", k.PrometheusURL, k.LinkerdVizURL)
	}
	given := edit(t, "{mode: sim, stepPeriod: 15s}", "{mode: k8s, k8s: {namespace: ob, prometheusURL: 'http://prom:9090'}}")
	s, err = ParseEnv("t.yaml", []byte(given), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Spec.Cluster.K8s.PrometheusURL; got != "http://prom:9090" {
		t.Errorf("prometheusURL %q: the file's value must win", got)
	}
	if _, err := Parse("t.yaml", []byte(bare)); err == nil || !strings.Contains(err.Error(), EnvPrometheusURL) {
		t.Errorf("Parse without an environment: %v, want the missing prometheusURL to mention %s", err, EnvPrometheusURL)
	}
}
