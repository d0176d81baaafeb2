package cli

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestCompletionPrintsAScriptForEachShell(t *testing.T) {
	for _, shell := range []struct{ name, marker string }{
		{"bash", "__start_grlctl"},
		{"zsh", "#compdef grlctl"},
		{"fish", "complete -c grlctl"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		t.Run(shell.name, func(t *testing.T) {
			code, out, errOut := runGrlctl(t, "completion", shell.name)
			if code != 0 || !strings.Contains(out, shell.marker) {
				t.Errorf("exit %d (stderr %q); script lacks %q:\n%.300s", code, errOut, shell.marker, out)
			}
		})
	}
}

// completions runs cobra's hidden __complete command, as the shell scripts
// do, and returns the offered values (without descriptions) and the
// directive line.
func completions(t *testing.T, args ...string) (values []string, directive, stderr string) {
	t.Helper()
	code, out, errOut := runGrlctl(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, lines[len(lines)-1], errOut
}

// TestIDArgumentsCompleteToExperiments completes the ID of every command
// taking one: running experiments first, no child workflows, and only
// those matching what is typed.
func TestIDArgumentsCompleteToExperiments(t *testing.T) {
	s := startStack(t)
	s.submit(t, "complete-done", true)
	s.startFake(t, s.spec(t, "complete-running", nil))
	for _, cmd := range []string{"status", "watch", "cancel", "report", "logs"} {
		t.Run(cmd, func(t *testing.T) {
			var got []string
			eventually(t, func() string { return fmt.Sprintf("offered %v", got) }, func() bool {
				got, _, _ = completions(t, cmd, "--address", s.addr, "")
				return slices.Equal(got, []string{"complete-running", "complete-done"})
			})
			if got, dir, _ := completions(t, cmd, "--address", s.addr, "complete-r"); !slices.Equal(got, []string{"complete-running"}) || dir != ":4" {
				t.Errorf("completing complete-r offered %v, directive %s; want complete-running and no files (:4)", got, dir)
			}
			if got, _, _ := completions(t, cmd, "--address", s.addr, "complete-running", ""); len(got) != 0 {
				t.Errorf("a second argument offered %v", got)
			}
		})
	}
}

func TestIDCompletionIsSilentWhenTemporalIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	got, dir, errOut := completions(t, "status", "--address", addr, "")
	if len(got) != 0 || dir != ":4" {
		t.Errorf("offered %v, directive %s; want nothing and no files", got, dir)
	}
	// Cobra notes the directive on stderr; nothing else may appear.
	if rest := strings.TrimSpace(strings.ReplaceAll(errOut, "Completion ended with directive: ShellCompDirectiveNoFileComp", "")); rest != "" {
		t.Errorf("stderr: %q", rest)
	}
}
