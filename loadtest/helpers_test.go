package loadtest

import (
	"os"
	"os/exec"
	"testing"
)

// locustBin returns Debian's Locust (python3-locust, which `make
// debian-deps` installs), the version the generated files are written for.
// Without it the test fails, or skips under -short.
func locustBin(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/locust"); err == nil {
		return "/usr/bin/locust"
	}
	if p, err := exec.LookPath("locust"); err == nil {
		return p
	}
	if testing.Short() {
		t.Skip("Locust is not installed (apt-get install python3-locust, or make debian-deps)")
	}
	t.Fatal("Locust is not installed: apt-get install python3-locust (make debian-deps does)")
	return ""
}

// python returns Debian's interpreter, the one /usr/bin/locust runs on (the
// python3 on PATH may be another without Locust).
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	if testing.Short() {
		t.Skip("/usr/bin/python3 is not installed")
	}
	t.Fatal("/usr/bin/python3 is not installed (apt-get install python3-locust)")
	return ""
}
