package api

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDurationRoundTripsThroughJSON(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Microsecond, 15 * time.Second, 90 * time.Minute, -time.Second, 1<<63 - 1} {
		b, err := json.Marshal(Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back.Std() != d {
			t.Errorf("%v -> %s -> %v", d, b, back.Std())
		}
	}
}

func TestDurationIsAStringInJSON(t *testing.T) {
	b, _ := json.Marshal(WarmUp{Duration: Duration(2 * time.Minute)})
	if string(b) != `{"duration":"2m0s"}` {
		t.Errorf("got %s", b)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`120`), &d); err == nil {
		t.Errorf("a bare number was accepted as a duration")
	}
	if err := json.Unmarshal([]byte(`"2 minutes"`), &d); err == nil {
		t.Errorf("a bad duration string was accepted")
	}
	d = Duration(time.Second)
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d != Duration(time.Second) {
		t.Errorf("null: %v, %v", err, d)
	}
}

func sample() *ExperimentSpec {
	return &ExperimentSpec{
		APIVersion: APIVersion,
		Kind:       ExperimentKind,
		Metadata:   Metadata{Name: "x", Labels: map[string]string{"b": "2", "a": "<1>"}},
		Spec: Spec{
			App:     "onlineboutique",
			Cluster: Cluster{Mode: ModeK8s, K8s: &K8s{Namespace: "ob", PrometheusURL: "http://p:9090"}, StepPeriod: Duration(15 * time.Second)},
			Agent:   Agent{Algorithm: "ppo", TotalSteps: 100, Seed: 1<<64 - 1, Hyperparameters: Hyperparameters{LearningRate: 3e-4, AdamEpsilon: 1e-8}},
			Load:    Load{EvaluationScenarios: []string{"peak"}},
			Evaluation: Evaluation{Controllers: []Controller{
				{Name: "agent", Type: ControllerAgent, Policy: "gcn", Head: "joint"},
				{Name: "static-2", Type: ControllerStatic, Replicas: 2},
			}},
		},
	}
}

func TestSpecRoundTripsThroughJSON(t *testing.T) {
	s := sample()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back ExperimentSpec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, &back) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, *s)
	}
}

func TestCanonicalIsCompactSortedAndUnescaped(t *testing.T) {
	b, err := Canonical(sample())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.HasSuffix(s, "\n") || strings.Contains(s, `\u003c`) || !strings.Contains(s, `"labels":{"a":"<1>","b":"2"}`) {
		t.Errorf("canonical JSON = %s", s)
	}
	if !strings.Contains(s, `"seed":18446744073709551615`) {
		t.Errorf("seed lost precision: %s", s)
	}
}

func TestSpecHashIsHexSHA256AndTracksContent(t *testing.T) {
	a, b := sample(), sample()
	h := SpecHash(a)
	if len(h) != 64 {
		t.Fatalf("SpecHash = %q", h)
	}
	if _, err := strconv.ParseUint(h[:16], 16, 64); err != nil {
		t.Errorf("not hex: %q", h)
	}
	if SpecHash(b) != h {
		t.Errorf("equal specs hash differently")
	}
	b.Spec.Evaluation.Controllers[1].Replicas = 3
	if SpecHash(b) == h {
		t.Errorf("different specs hash the same")
	}
}

// The api package is shared by the CLI and the deterministic workflows, so
// it must not pull in anything but the standard library (architecture.md).
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; workflows/api imports the standard library only", f, path)
			}
		}
	}
}
