package deploy

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const dockerfile = "Dockerfile"

// A small Dockerfile parser rather than a library: the one Go parser
// (github.com/moby/buildkit/frontend/dockerfile/parser) would pull BuildKit
// and its dependencies into go.mod for the few instructions this
// Dockerfile uses, and these tests need only instructions, their arguments
// and stages. It handles comments, line continuations and the exec (JSON)
// form; not heredocs or parser directives, which the Dockerfile does not
// use.

// instruction is one Dockerfile instruction: keyword (upper case) and the
// rest of its (joined) line.
type instruction struct {
	line    int
	keyword string
	args    string
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	image, name  string
	instructions []instruction
}

func parseDockerfile(t *testing.T, src string) []stage {
	t.Helper()
	var stages []stage
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		text := strings.TrimSpace(lines[i])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		// A trailing backslash continues the instruction; comment lines
		// inside it are dropped, as Docker does.
		parts := []string{strings.TrimSpace(strings.TrimSuffix(text, `\`))}
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSpace(lines[i])
			if strings.HasPrefix(text, "#") {
				text = `\`
			}
			if part := strings.TrimSpace(strings.TrimSuffix(text, `\`)); part != "" {
				parts = append(parts, part)
			}
		}
		text = strings.Join(parts, " ")
		keyword, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)}
		if in.keyword == "FROM" {
			f := strings.Fields(in.args)
			st := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				t.Fatalf("%s:%d: FROM %s: want IMAGE [AS NAME] (no --platform)", dockerfile, start, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.keyword == "ARG" {
				continue
			}
			t.Fatalf("%s:%d: %s before the first FROM", dockerfile, start, in.keyword)
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	return stages
}

// exec parses an instruction's exec form, ["a", "b"].
func (in instruction) exec(t *testing.T) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Fatalf("%s:%d: %s %s is not in exec form: %v", dockerfile, in.line, in.keyword, in.args, err)
	}
	return argv
}

// envAssignments returns a stage's ENV KEY=VALUE settings.
func (s stage) env() map[string]string {
	env := map[string]string{}
	for _, in := range s.instructions {
		if in.keyword != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	return env
}

func (s stage) last(keyword string) (instruction, bool) {
	for i := len(s.instructions) - 1; i >= 0; i-- {
		if s.instructions[i].keyword == keyword {
			return s.instructions[i], true
		}
	}
	return instruction{}, false
}

func loadDockerfile(t *testing.T) []stage {
	t.Helper()
	stages := parseDockerfile(t, string(readFile(t, dockerfile)))
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM", dockerfile)
	}
	return stages
}

func TestParseDockerfile(t *testing.T) {
	src := `# comment
ARG V=1
FROM golang:1.26 AS build
ENV A=1 B="two"
RUN echo a \
    # dropped
    && echo b
FROM scratch
COPY --from=build /x /x
ENTRYPOINT ["/x", "y"]
`
	stages := parseDockerfile(t, src)
	if len(stages) != 2 || stages[0].name != "build" || stages[1].image != "scratch" {
		t.Fatalf("stages = %+v", stages)
	}
	run, _ := stages[0].last("RUN")
	if run.args != "echo a && echo b" || run.line != 5 {
		t.Errorf("RUN = %+v", run)
	}
	if env := stages[0].env(); env["A"] != "1" || env["B"] != "two" {
		t.Errorf("env = %v", env)
	}
	ep, _ := stages[1].last("ENTRYPOINT")
	if got := ep.exec(t); !slices.Equal(got, []string{"/x", "y"}) {
		t.Errorf("ENTRYPOINT = %v", got)
	}
}

// The image is built in one stage and shipped in another that receives
// only the built binary.
func TestDockerfileIsMultiStage(t *testing.T) {
	stages := loadDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stage(s), want a build stage and a final one", len(stages))
	}
	final := stages[len(stages)-1]
	names := map[string]bool{}
	for _, s := range stages[:len(stages)-1] {
		names[s.name] = s.name != ""
	}
	copied := false
	for _, in := range final.instructions {
		switch in.keyword {
		case "RUN":
			t.Errorf("%s:%d: the final stage runs %q; it has no shell", dockerfile, in.line, in.args)
		case "COPY", "ADD":
			from, ok := strings.CutPrefix(strings.Fields(in.args)[0], "--from=")
			if !ok || !names[from] {
				t.Errorf("%s:%d: the final stage copies %q from outside the build stages", dockerfile, in.line, in.args)
			}
			copied = true
		}
	}
	if !copied {
		t.Error("the final stage copies nothing from the build stage")
	}
}

// Base images are pinned by version tag and digest.
func TestDockerfileBaseImagesArePinned(t *testing.T) {
	stages := loadDockerfile(t)
	for i, s := range stages {
		if slices.ContainsFunc(stages[:i], func(p stage) bool { return p.name == s.image }) {
			continue // an earlier stage
		}
		if why := pinned(s.image, true); why != "" {
			t.Errorf("FROM %s: not pinned: %s", s.image, why)
		}
	}
}

// The binary is static (CGO_ENABLED=0), built with the SIMD experiment and
// -trimpath from ./cmd/grlctl.
func TestDockerfileBuildsStaticGrlctl(t *testing.T) {
	stages := loadDockerfile(t)
	var build *stage
	var run instruction
	for i := range stages {
		for _, in := range stages[i].instructions {
			if in.keyword == "RUN" && strings.Contains(in.args, "go build") {
				build, run = &stages[i], in
			}
		}
	}
	if build == nil {
		t.Fatal("no stage runs go build")
	}
	env := build.env()
	for k, want := range map[string]string{"CGO_ENABLED": "0", "GOEXPERIMENT": "simd"} {
		if env[k] != want && !strings.Contains(run.args, k+"="+want) {
			t.Errorf("the build stage does not set %s=%s (ENV %v)", k, want, env)
		}
	}
	for _, want := range []string{"-trimpath", "./cmd/grlctl"} {
		if !strings.Contains(run.args, want) {
			t.Errorf("%s:%d: go build without %s: %s", dockerfile, run.line, want, run.args)
		}
	}
	if !strings.HasPrefix(parseImage(build.image).repository, "golang") {
		t.Errorf("build stage FROM %s, want golang", build.image)
	}
}

// dockerfileUser returns the final stage's USER as uid and gid.
func dockerfileUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	stages := loadDockerfile(t)
	user, ok := stages[len(stages)-1].last("USER")
	if !ok {
		t.Fatal("the final stage sets no USER: it would run as root")
	}
	u, g, _ := strings.Cut(user.args, ":")
	var err error
	if uid, err = strconv.ParseInt(u, 10, 64); err != nil {
		t.Fatalf("%s:%d: USER %s is not numeric; Kubernetes' runAsNonRoot can verify only a numeric user", dockerfile, user.line, user.args)
	}
	gid = uid
	if g != "" {
		if gid, err = strconv.ParseInt(g, 10, 64); err != nil {
			t.Fatalf("%s:%d: USER %s: group is not numeric", dockerfile, user.line, user.args)
		}
	}
	return uid, gid
}

// The final stage runs as a non-root user.
func TestDockerfileRunsAsNonRoot(t *testing.T) {
	if uid, gid := dockerfileUser(t); uid == 0 || gid == 0 {
		t.Errorf("USER %d:%d is root", uid, gid)
	}
}

// The image's entry point is grlctl (exec form, so it gets signals
// directly), worker by default, and it ships no Temporal CLI.
func TestDockerfileEntrypointIsGrlctl(t *testing.T) {
	stages := loadDockerfile(t)
	final := stages[len(stages)-1]
	ep, ok := final.last("ENTRYPOINT")
	if !ok {
		t.Fatal("no ENTRYPOINT in the final stage")
	}
	if argv := ep.exec(t); len(argv) != 1 || path.Base(argv[0]) != "grlctl" {
		t.Errorf("ENTRYPOINT %v, want [/path/to/grlctl]", argv)
	}
	if cmd, ok := final.last("CMD"); !ok || !slices.Equal(cmd.exec(t), []string{"worker"}) {
		t.Errorf("CMD %q, want [\"worker\"]", cmd.args)
	}
	temporal := regexp.MustCompile(`\btemporal\b|temporalio/`)
	for _, in := range final.instructions {
		if temporal.MatchString(in.args) {
			t.Errorf("%s:%d: the final stage carries Temporal's tools: %s %s", dockerfile, in.line, in.keyword, in.args)
		}
	}
}

// The build context leaves out secrets and build output.
func TestDockerignore(t *testing.T) {
	di := readFile(t, ".dockerignore")
	for _, want := range []string{".env", ".env.*", "bin/", ".grlscaler/"} {
		if !lineIn(di, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	if lineIn(di, ".git") || lineIn(di, ".git/") {
		t.Error(".dockerignore excludes .git, which the build reads for the code version")
	}
}
