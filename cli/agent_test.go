package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/loadtest"
)

// TestAgentServesUntilInterrupted runs grlctl agent's server on loopback:
// it answers /healthz, requires the token from the environment on /jobs,
// never prints the token, and stops when its context ends.
func TestAgentServesUntilInterrupted(t *testing.T) {
	const token = "Zq8-agent-test-token-4711"
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	var out, errOut bytes.Buffer
	o := &AgentOptions{Listen: addr, Dir: t.TempDir(), Locust: "locust", Grace: time.Minute,
		streams: IO{Out: &out, Err: &errOut},
		getenv:  func(k string) string { return map[string]string{loadtest.TokenEnv: token}[k] }}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	base := "http://" + addr
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent does not answer: %v", err)
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %s", resp.Status)
	}
	if resp, err = http.Get(base + "/jobs"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/jobs without the token: %s, want 401", resp.Status)
	}
	jobs, err := (&loadtest.RemoteRunner{BaseURL: base, Token: token}).Jobs(context.Background())
	if err != nil || len(jobs) != 0 {
		t.Errorf("/jobs with the token: %v, %v", jobs, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop")
	}
	if !strings.Contains(out.String(), "load agent on http://"+addr) || !strings.Contains(out.String(), "token required: true") {
		t.Errorf("the agent did not say where it listens: %q", out.String())
	}
	if !strings.Contains(errOut.String(), "path=/jobs status=401") {
		t.Errorf("the refused request was not logged: %q", errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), token) {
		t.Error("the agent printed its token")
	}
}

func TestAgentFlagErrorsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--grace", "0s"},
		{"agent", "--listen", "nonsense"},
		{"agent", "--dir", ""},
		{"agent", "extra"},
		{"agent", "--no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := Execute(context.Background(), args, IO{Out: &out, Err: &errOut}); code != 2 {
			t.Errorf("grlctl %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, errOut.String())
		}
	}
}
