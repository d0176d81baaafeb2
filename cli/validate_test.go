package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateAcceptsTheExamples(t *testing.T) {
	for _, f := range []string{"../examples/quickstart.yaml", "../examples/seed-full.yaml"} {
		code, out, errOut := runGrlctl(t, "validate", f)
		if code != 0 || !strings.Contains(out, "valid experiment") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", f, code, out, errOut)
		}
	}
}

func TestValidateRejectsABadSpecWithExitCode2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	data, err := os.ReadFile("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(string(data), "spec:\n", "spec:\n  colour: red\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runGrlctl(t, "validate", bad)
	if code != 2 || !strings.Contains(errOut, "bad.yaml:") || !strings.Contains(errOut, "spec.colour") {
		t.Errorf("exit %d, stderr %q: want 2 and an error naming bad.yaml and spec.colour", code, errOut)
	}
}
