package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/grlscaler/grlscaler/workflows/api"
)

const (
	composeFile    = "docker-compose.yaml"
	composeEnvFile = ".env.compose.example"
	// The env file the example is copied to; it holds real secrets.
	composeSecretsFile = ".env.compose"
	// The placeholder the example env file holds for every password; the
	// setup scripts refuse it.
	placeholder = "change-me"
)

// compose is the part of the Compose file format this repository uses.
// Decoding is strict, so a misspelt key fails the tests instead of being
// ignored by them; add a field here when docker-compose.yaml uses a new key.
type compose struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	// Extension fields (x-...), such as the workers' shared definition.
	Extensions map[string]any `yaml:",inline"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           *composeBuild                `yaml:"build"`
	Command         []string                     `yaml:"command"`
	Entrypoint      []string                     `yaml:"entrypoint"`
	Environment     map[string]string            `yaml:"environment"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Ports           []string                     `yaml:"ports"`
	Expose          []string                     `yaml:"expose"`
	Volumes         []string                     `yaml:"volumes"`
	Healthcheck     *composeHealthcheck          `yaml:"healthcheck"`
	Restart         string                       `yaml:"restart"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
	ReadOnly        bool                         `yaml:"read_only"`
	Tmpfs           []string                     `yaml:"tmpfs"`
	CapDrop         []string                     `yaml:"cap_drop"`
	SecurityOpt     []string                     `yaml:"security_opt"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// loadCompose parses docker-compose.yaml strictly (merge keys resolved, as
// Compose does) and returns it with the example env file's variables.
func loadCompose(t *testing.T) (*compose, map[string]string) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, composeFile)))
	dec.KnownFields(true)
	var c compose
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	for k := range c.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Fatalf("%s: unknown top-level key %q", composeFile, k)
		}
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return &c, loadEnvFile(t, composeEnvFile)
}

// loadEnvFile reads a Compose env file: KEY=VALUE lines, # comments.
func loadEnvFile(t *testing.T, rel string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, rel)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", rel, n, line)
		}
		if _, dup := env[k]; dup {
			t.Fatalf("%s:%d: %s set twice", rel, n, k)
		}
		env[k] = v
	}
	return env
}

// interpolation matches Compose's variable references: ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?error}, ${VAR?error} and $VAR.
var interpolation = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

// requiredVariable matches a value that is nothing but a required
// variable, ${VAR:?message}: Compose refuses to start without it.
var requiredVariable = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$`)

// composeRef is one variable reference in docker-compose.yaml.
type composeRef struct {
	name string
	op   string // "", ":-", "-", ":?" or "?"
}

// references lists the variables s refers to.
func references(s string) []composeRef {
	var refs []composeRef
	for _, m := range interpolation.FindAllStringSubmatch(strings.ReplaceAll(s, "$$", ""), -1) {
		name := m[1]
		if name == "" {
			name = m[4]
		}
		refs = append(refs, composeRef{name: name, op: m[2]})
	}
	return refs
}

// interpolate substitutes env into s as Compose does; an unset variable
// without a default is an error.
func interpolate(s string, env map[string]string) (string, error) {
	var err error
	out := interpolation.ReplaceAllStringFunc(strings.ReplaceAll(s, "$$", "\x00"), func(ref string) string {
		m := interpolation.FindStringSubmatch(ref)
		name, op, arg := m[1], m[2], m[3]
		if name == "" {
			name = m[4]
		}
		v, set := env[name]
		switch {
		case op == ":-" && v == "", op == "-" && !set:
			return arg
		case set && (v != "" || !strings.HasPrefix(op, ":")):
			return v
		default:
			if err == nil {
				err = fmt.Errorf("%s is not set", name)
			}
			return ""
		}
	})
	return strings.ReplaceAll(out, "\x00", "$"), err
}

// mustInterpolate is interpolate for values the tests need resolved.
func mustInterpolate(t *testing.T, where, s string, env map[string]string) string {
	t.Helper()
	v, err := interpolate(s, env)
	if err != nil {
		t.Fatalf("%s: %q: %v (define it in %s)", where, s, err, composeEnvFile)
	}
	return v
}

// grlscalerServices are the services built from this repository (the
// workers), sorted by name.
func grlscalerServices(c *compose) []string {
	var names []string
	for name, s := range c.Services {
		if s.Build != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// imageRef is a parsed image reference: [registry/]repository[:tag][@digest].
type imageRef struct {
	repository, tag, digest string
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func parseImage(ref string) imageRef {
	var r imageRef
	ref, r.digest, _ = strings.Cut(ref, "@")
	// A colon after the last slash starts the tag (one before it is a
	// registry's port).
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, r.tag = ref[:i], ref[i+1:]
	}
	r.repository = ref
	return r
}

// pinned reports why ref is not pinned, or "" when it is: a version tag
// (not latest, with a version number in it), and a well-formed digest if
// it has one. requireDigest also wants the digest.
func pinned(ref string, requireDigest bool) string {
	r := parseImage(ref)
	switch {
	case r.tag == "":
		return "no tag"
	case r.tag == "latest":
		return "tag latest"
	case r.digest == "" && !strings.ContainsAny(r.tag, "0123456789"):
		return fmt.Sprintf("tag %q is not a version", r.tag)
	case r.digest != "" && !digestPattern.MatchString(r.digest):
		return fmt.Sprintf("malformed digest %q", r.digest)
	case r.digest == "" && requireDigest:
		return "no digest"
	}
	return ""
}

func TestPinnedImages(t *testing.T) {
	for _, tc := range []struct {
		ref           string
		requireDigest bool
		want          string
	}{
		{"postgres:16.4-bookworm", false, ""},
		{"postgres:16.4-bookworm", true, "no digest"},
		{"quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z@sha256:" + strings.Repeat("a", 64), true, ""},
		{"registry:5000/grlscaler@sha256:" + strings.Repeat("a", 64), false, "no tag"},
		{"registry:5000/grlscaler:latest", false, "tag latest"},
		{"postgres", false, "no tag"},
		{"gcr.io/distroless/static-debian12:nonroot", false, `tag "nonroot" is not a version`},
		{"gcr.io/distroless/static-debian12:nonroot@sha256:" + strings.Repeat("b", 64), true, ""},
		{"postgres:16@sha256:abc", false, `malformed digest "sha256:abc"`},
	} {
		if got := pinned(tc.ref, tc.requireDigest); got != tc.want {
			t.Errorf("pinned(%q, %t) = %q, want %q", tc.ref, tc.requireDigest, got, tc.want)
		}
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"${SET}", "v", false},
		{"$SET/x", "v/x", false},
		{"${UNSET:-d}:${SET:-d}:${EMPTY:-d}:${EMPTY-d}", "d:v:d:", false},
		{"${SET:?msg}", "v", false},
		{"${UNSET:?set it}", "", true},
		{"${EMPTY:?set it}", "", true},
		{"${UNSET}", "", true},
		{"$$SET", "$SET", false},
	} {
		got, err := interpolate(tc.in, env)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("interpolate(%q) = %q, %v; want %q, error %t", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// Every image pulled from a registry is pinned by version tag (digest where
// known); the grlscaler services are built from this repository's
// Dockerfile, which TestDockerfile* checks.
func TestComposeImagesArePinned(t *testing.T) {
	c, _ := loadCompose(t)
	for name, s := range c.Services {
		switch {
		case s.Build != nil:
			if s.Build.Context != "." || s.Build.Dockerfile != dockerfile {
				t.Errorf("service %s: builds %s in %s, want the repository's %s in .", name, s.Build.Dockerfile, s.Build.Context, dockerfile)
			}
		case s.Image == "":
			t.Errorf("service %s: neither image nor build", name)
		default:
			if why := pinned(s.Image, false); why != "" {
				t.Errorf("service %s: image %s is not pinned: %s", name, s.Image, why)
			}
		}
	}
}

var dependencyConditions = []string{"service_started", "service_healthy", "service_completed_successfully"}

// depends_on names services that exist, with a condition they can meet,
// and without a cycle.
func TestComposeDependenciesExist(t *testing.T) {
	c, _ := loadCompose(t)
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which is not a service", name, dep)
				continue
			}
			switch d.Condition {
			case "service_healthy":
				if target.Healthcheck == nil {
					t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "no" {
					t.Errorf("service %s waits for %s to complete; a one-shot service wants restart: \"no\", not %q", name, dep, target.Restart)
				}
			default:
				if !slices.Contains(dependencyConditions, d.Condition) {
					t.Errorf("service %s depends on %s with condition %q, want one of %v", name, dep, d.Condition, dependencyConditions)
				}
			}
		}
	}
	// Depth-first search for a cycle.
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case 1:
			t.Errorf("depends_on cycle: %s", strings.Join(append(path, name), " -> "))
			return
		case 2:
			return
		}
		state[name] = 1
		for _, dep := range slices.Sorted(maps.Keys(c.Services[name].DependsOn)) {
			if _, ok := c.Services[dep]; ok {
				visit(dep, append(path, name))
			}
		}
		state[name] = 2
	}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		visit(name, nil)
	}
}

// Servers, the services that publish ports or that others wait on to be
// healthy, have a health check.
func TestComposeServersHaveHealthchecks(t *testing.T) {
	c, _ := loadCompose(t)
	servers := map[string]bool{}
	for name, s := range c.Services {
		if len(s.Ports) > 0 {
			servers[name] = true
		}
		for dep, d := range s.DependsOn {
			if d.Condition == "service_healthy" {
				servers[dep] = true
			}
		}
	}
	if len(servers) == 0 {
		t.Fatal("no servers found")
	}
	for name := range servers {
		s, ok := c.Services[name]
		if !ok {
			continue // TestComposeDependenciesExist reports it
		}
		h := s.Healthcheck
		if h == nil || len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
			t.Errorf("server %s: healthcheck %+v, want test [CMD ...] or [CMD-SHELL ...]", name, h)
			continue
		}
		if h.Interval == "" || h.Retries == 0 {
			t.Errorf("server %s: healthcheck without interval or retries", name)
		}
	}
}

// publishedPort is one host binding of a ports entry.
type publishedPort struct {
	hostIP, proto string
	host          int
	container     int
}

// parsePort parses the short ports syntax: [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL].
func parsePort(spec string) (publishedPort, error) {
	p := publishedPort{proto: "tcp"}
	spec, proto, ok := strings.Cut(spec, "/")
	if ok {
		p.proto = proto
	}
	parts := strings.Split(spec, ":")
	var host, container string
	switch len(parts) {
	case 1:
		container = parts[0]
	case 2:
		host, container = parts[0], parts[1]
	case 3:
		p.hostIP, host, container = parts[0], parts[1], parts[2]
	default:
		return p, fmt.Errorf("%q: want [[HOST_IP:]HOST_PORT:]CONTAINER_PORT", spec)
	}
	var err error
	if p.container, err = strconv.Atoi(container); err != nil {
		return p, fmt.Errorf("%q: container port: %w", spec, err)
	}
	if host != "" {
		if p.host, err = strconv.Atoi(host); err != nil {
			return p, fmt.Errorf("%q: host port: %w (ranges are not used here)", spec, err)
		}
	}
	return p, nil
}

// Published ports name a host port (no random ones, which a client could
// not find), and no two bindings share a host address and port.
func TestComposePortsDoNotCollide(t *testing.T) {
	c, env := loadCompose(t)
	type binding struct {
		ip    string
		port  int
		proto string
	}
	owner := map[binding]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		for _, spec := range c.Services[name].Ports {
			p, err := parsePort(mustInterpolate(t, "service "+name+" ports", spec, env))
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			if p.host == 0 {
				t.Errorf("service %s: port %q publishes a random host port", name, spec)
				continue
			}
			b := binding{p.hostIP, p.host, p.proto}
			for other, who := range owner {
				wildcard := other.ip == "" || other.ip == "0.0.0.0" || b.ip == "" || b.ip == "0.0.0.0"
				if other.port == b.port && other.proto == b.proto && (other.ip == b.ip || wildcard) {
					t.Errorf("host port %d/%s: published by %s and by %s", b.port, b.proto, who, name)
				}
			}
			owner[b] = name
		}
	}
}

// hostPort matches an address such as temporal:7233 or http://minio:9000.
var hostPort = regexp.MustCompile(`^(?:[a-z]+://)?([a-z0-9-]+):([0-9]+)$`)

// An address one service gives another (service:port in its environment)
// names a port that service serves, as its ports or expose say.
func TestComposeAddressesMatchPorts(t *testing.T) {
	c, env := loadCompose(t)
	served := map[string][]int{}
	for name, s := range c.Services {
		for _, spec := range append(slices.Clone(s.Ports), s.Expose...) {
			p, err := parsePort(mustInterpolate(t, "service "+name+" ports", spec, env))
			if err == nil {
				served[name] = append(served[name], p.container)
			}
		}
	}
	checked := 0
	for name, s := range c.Services {
		for k, v := range s.Environment {
			m := hostPort.FindStringSubmatch(v)
			if m == nil {
				continue
			}
			if _, ok := c.Services[m[1]]; !ok {
				continue
			}
			port, _ := strconv.Atoi(m[2])
			checked++
			if !slices.Contains(served[m[1]], port) {
				t.Errorf("service %s: %s=%s, but %s serves ports %v", name, k, v, m[1], served[m[1]])
			}
		}
	}
	if checked == 0 {
		t.Error("no service:port addresses found")
	}
}

// isBindMount reports whether a volumes entry's source is a host path
// rather than a named volume.
func isBindMount(source string) bool {
	return strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/") || strings.HasPrefix(source, "~")
}

// Named volumes are declared at the top level and every declared one is
// used; bind-mounted paths exist in the repository.
func TestComposeVolumesAreDeclared(t *testing.T) {
	c, _ := loadCompose(t)
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		for _, v := range c.Services[name].Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("service %s: volume %q is anonymous; name it and declare it", name, v)
				continue
			}
			source := parts[0]
			if isBindMount(source) {
				if _, err := os.Stat(filepath.Join(repoRoot, source)); err != nil {
					t.Errorf("service %s: bind mount %q: %v", name, v, err)
				}
				continue
			}
			used[source] = true
			if _, ok := c.Volumes[source]; !ok {
				t.Errorf("service %s: volume %s is not declared under volumes", name, source)
			}
		}
	}
	for name := range c.Volumes {
		if !used[name] {
			t.Errorf("volume %s is declared but no service uses it", name)
		}
	}
}

// The workers get exactly the environment grlctl worker reads, their keys
// from the env file, and run grlctl worker; one of them trains several
// chunks at once.
func TestComposeWorkersGetWhatGrlctlReads(t *testing.T) {
	c, env := loadCompose(t)
	want := workerEnv(t)
	workers := grlscalerServices(c)
	if len(workers) < 2 {
		t.Fatalf("grlscaler services %v, want a main worker and a training worker", workers)
	}
	maxTraining := 0
	for _, name := range workers {
		s := c.Services[name]
		if got := slices.Sorted(maps.Keys(s.Environment)); !slices.Equal(got, want) {
			t.Errorf("service %s: environment %v, want what grlctl worker reads: %v", name, got, want)
		}
		for _, k := range workerSecrets {
			if m := requiredVariable.FindStringSubmatch(s.Environment[k]); m == nil || m[1] != k {
				t.Errorf("service %s: %s=%q, want ${%s:?...} from the env file", name, k, s.Environment[k], k)
			}
		}
		args := make([]string, len(s.Command))
		for i, a := range s.Command {
			args[i] = mustInterpolate(t, "service "+name+" command", a, env)
		}
		if len(args) == 0 || args[0] != "worker" {
			t.Errorf("service %s: command %v, want worker ...", name, args)
			continue
		}
		i := slices.Index(args, "--max-training")
		if i < 0 || i+1 >= len(args) {
			t.Errorf("service %s: command %v has no --max-training N", name, args)
			continue
		}
		n, err := strconv.Atoi(args[i+1])
		if err != nil || n < 1 {
			t.Errorf("service %s: --max-training %q, want a positive integer", name, args[i+1])
		}
		maxTraining = max(maxTraining, n)
		for dep, cond := range map[string]string{"temporal": "service_healthy"} {
			if s.DependsOn[dep].Condition != cond {
				t.Errorf("service %s: depends_on %s %q, want %s", name, dep, s.DependsOn[dep].Condition, cond)
			}
		}
	}
	if maxTraining < 2 {
		t.Errorf("no worker trains more than one chunk at a time (--max-training %d)", maxTraining)
	}
}

// The one-shot setup service registers exactly api.SearchAttributeNames as
// Keyword attributes, in the workers' namespace, before the workers start.
func TestComposeRegistersTheSearchAttributes(t *testing.T) {
	c, _ := loadCompose(t)
	var setup string
	for name, s := range c.Services {
		if _, ok := s.Environment["GRL_SEARCH_ATTRIBUTES"]; ok {
			if setup != "" {
				t.Fatalf("services %s and %s both register search attributes", setup, name)
			}
			setup = name
		}
	}
	if setup == "" {
		t.Fatal("no service has GRL_SEARCH_ATTRIBUTES")
	}
	s := c.Services[setup]
	got := strings.Fields(s.Environment["GRL_SEARCH_ATTRIBUTES"])
	want := slices.Clone(api.SearchAttributeNames)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s registers %v, want api.SearchAttributeNames %v", setup, got, want)
	}
	if len(s.Entrypoint) != 2 || s.Entrypoint[0] != "/bin/sh" {
		t.Fatalf("%s: entrypoint %v, want [/bin/sh SCRIPT]", setup, s.Entrypoint)
	}
	script := scriptInRepo(t, s, s.Entrypoint[1])
	for _, needle := range []string{"GRL_SEARCH_ATTRIBUTES", "search-attribute create", "--type Keyword", "cluster health"} {
		if !strings.Contains(script, needle) {
			t.Errorf("%s's script does not contain %q", setup, needle)
		}
	}
	for _, w := range grlscalerServices(c) {
		for _, k := range []string{envTemporalAddress, envTemporalNamespace} {
			if s.Environment[k] != c.Services[w].Environment[k] {
				t.Errorf("%s has %s=%q, worker %s %q", setup, k, s.Environment[k], w, c.Services[w].Environment[k])
			}
		}
		if d := c.Services[w].DependsOn[setup]; d.Condition != "service_completed_successfully" {
			t.Errorf("worker %s does not wait for %s to complete (depends_on condition %q)", w, setup, d.Condition)
		}
	}
}

// scriptInRepo returns the repository file that path names inside
// service s, through one of its bind mounts.
func scriptInRepo(t *testing.T, s composeService, path string) string {
	t.Helper()
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !isBindMount(parts[0]) {
			continue
		}
		if rel, ok := strings.CutPrefix(path, parts[1]+"/"); ok {
			return string(readFile(t, filepath.Join(parts[0], rel)))
		}
	}
	t.Fatalf("%s is not in a bind mount of the repository", path)
	return ""
}

// Every one-shot service's script is in the repository and mounted.
func TestComposeSetupScriptsExist(t *testing.T) {
	c, _ := loadCompose(t)
	n := 0
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if s.Restart != "no" {
			continue
		}
		n++
		if len(s.Entrypoint) != 2 || s.Entrypoint[0] != "/bin/sh" {
			t.Errorf("one-shot %s: entrypoint %v, want [/bin/sh SCRIPT]", name, s.Entrypoint)
			continue
		}
		if script := scriptInRepo(t, s, s.Entrypoint[1]); !strings.Contains(script, "set -eu") {
			t.Errorf("one-shot %s: %s does not set -eu", name, s.Entrypoint[1])
		}
	}
	if n == 0 {
		t.Error("no one-shot services")
	}
}

// Credentials come only from the env file: each is a required variable,
// documented in the example env file with a placeholder, and the real
// env file is kept out of git and out of the image.
func TestComposeSecretsComeFromTheEnvFile(t *testing.T) {
	c, env := loadCompose(t)
	raw := string(readFile(t, composeFile))
	for _, ref := range references(raw) {
		if _, ok := env[ref.name]; !ok && ref.op != ":-" && ref.op != "-" {
			t.Errorf("%s uses ${%s} without a default; document it in %s", composeFile, ref.name, composeEnvFile)
		}
	}
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		for k, v := range c.Services[name].Environment {
			if !credentialName.MatchString(k) {
				continue
			}
			checked++
			if !requiredVariable.MatchString(v) {
				t.Errorf("service %s: %s=%q, want only ${VAR:?...} from %s", name, k, v, composeEnvFile)
			}
		}
	}
	if checked == 0 {
		t.Error("no credentials found in the services' environments")
	}
	for k, v := range env {
		if passwordName.MatchString(k) && v != placeholder {
			t.Errorf("%s: %s=%q; the example holds only the placeholder %q", composeEnvFile, k, v, placeholder)
		}
	}
	if !lineIn(readFile(t, ".gitignore"), composeSecretsFile) {
		t.Errorf(".gitignore does not list %s", composeSecretsFile)
	}
	if di := readFile(t, ".dockerignore"); !lineIn(di, ".env.*") && !lineIn(di, composeSecretsFile) {
		t.Errorf(".dockerignore does not exclude %s", composeSecretsFile)
	}
}

func lineIn(file []byte, line string) bool {
	return slices.Contains(strings.Split(string(file), "\n"), line)
}
