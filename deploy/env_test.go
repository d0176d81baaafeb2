package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/grlscaler/grlscaler/infra/objstore"
)

// repoRoot is the repository's root, relative to this package's directory
// (where go test runs).
const repoRoot = ".."

// Temporal's environment configuration variables that a worker is given
// everywhere (docker-compose.yaml, the Kustomize ConfigMap). The rest (TLS,
// API key, profiles) depend on the server; workerEnv checks that the SDK
// really reads these two.
const (
	envTemporalAddress   = "TEMPORAL_ADDRESS"
	envTemporalNamespace = "TEMPORAL_NAMESPACE"
)

// credentialName matches variables that hold credentials: their values
// come from the env file (compose) or a Secret (Kubernetes), never from
// the files checked in.
var credentialName = regexp.MustCompile(`PASSWORD|PWD|SECRET|TOKEN|ACCESS_KEY|ROOT_USER`)

// passwordName matches the credentials that are secret on their own (an
// access key or a user name is not): the example env file may only hold a
// placeholder for them.
var passwordName = regexp.MustCompile(`PASSWORD|PWD|SECRET|TOKEN`)

// recorder is an environment lookup that remembers which variables were
// asked for; every variable is set to value (unset when value is "").
type recorder struct {
	value string
	asked map[string]bool
}

func newRecorder(value string) *recorder { return &recorder{value: value, asked: map[string]bool{}} }

func (r *recorder) LookupEnv(name string) (string, bool) {
	r.asked[name] = true
	return r.value, r.value != ""
}

func (r *recorder) Environ() []string { return nil }

func (r *recorder) names() []string { return slices.Sorted(maps.Keys(r.asked)) }

// objstoreEnvConstants returns the values of infra/objstore's exported
// Env* constants, read from its source: a variable added there is seen
// here without anyone updating a list.
func objstoreEnvConstants(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(repoRoot, "infra", "objstore")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Env") {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: objstore.%s is not a string literal; update this test", fset.Position(id.Pos()), id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, v)
				}
			}
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatalf("no Env* constants in %s", dir)
	}
	return names
}

// s3Env returns the variables infra/objstore.ConfigFromEnv reads when
// every one is set: the primary names, without the AWS fallbacks it
// consults only when ours are unset. grlctl worker reads its store with
// ConfigFromEnv (cli/storeenv.go), so a worker must be given exactly these.
// It first checks that the exported Env* constants are exactly what
// ConfigFromEnv consults, so that neither can change alone.
func s3Env(t *testing.T) []string {
	t.Helper()
	none := newRecorder("")
	_, _ = objstore.ConfigFromEnv(none.LookupEnv) // an error is expected: nothing is set
	if got, want := none.names(), objstoreEnvConstants(t); !slices.Equal(got, want) {
		t.Fatalf("objstore.ConfigFromEnv reads %v, but objstore's Env* constants are %v", got, want)
	}
	// "1" is a valid value for every setting, the boolean included.
	all := newRecorder("1")
	if _, err := objstore.ConfigFromEnv(all.LookupEnv); err != nil {
		t.Fatalf("objstore.ConfigFromEnv with every variable set: %v", err)
	}
	return all.names()
}

// temporalEnv returns the variables Temporal's environment configuration
// reads (envconfig.LoadClientOptions, as grlctl does in cli/temporal.go).
func temporalEnv(t *testing.T) []string {
	t.Helper()
	r := newRecorder("")
	// The config file is looked up too; point it at one that does not
	// exist so the machine's own ~/.config/temporalio does not count.
	_, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{
		ConfigFilePath: filepath.Join(t.TempDir(), "absent.toml"),
		EnvLookup:      r,
	})
	if err != nil {
		t.Fatalf("envconfig.LoadClientOptions: %v", err)
	}
	return r.names()
}

// workerEnv is the environment every grlscaler worker is given: the S3
// store's variables and Temporal's address and namespace, each of which
// the code really reads.
func workerEnv(t *testing.T) []string {
	t.Helper()
	temporal := temporalEnv(t)
	for _, name := range []string{envTemporalAddress, envTemporalNamespace} {
		if !slices.Contains(temporal, name) {
			t.Fatalf("Temporal's environment configuration no longer reads %s (it reads %v)", name, temporal)
		}
	}
	env := append(s3Env(t), envTemporalAddress, envTemporalNamespace)
	slices.Sort(env)
	return env
}

// workerSecrets are the worker's variables that hold credentials.
var workerSecrets = []string{objstore.EnvAccessKey, objstore.EnvSecretKey}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWorkerEnvIsWhatTheCodeReads(t *testing.T) {
	got := workerEnv(t)
	// The S3 keys are secrets only if the worker reads them.
	for _, name := range workerSecrets {
		if !slices.Contains(got, name) {
			t.Errorf("the worker does not read %s, which this package treats as its secret", name)
		}
		if !credentialName.MatchString(name) {
			t.Errorf("%s does not look like a credential to credentialName", name)
		}
	}
	for _, name := range got {
		if credentialName.MatchString(name) && !slices.Contains(workerSecrets, name) {
			t.Errorf("the worker reads %s, which looks like a credential but is not in workerSecrets", name)
		}
	}
}
