package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/grlscaler/grlscaler/loadtest"
)

// startEmulate runs grlctl emulate's server on a free loopback port
// against a fake cluster, with env as its environment, and returns the
// URL it printed; stop interrupts it and returns what Run returned.
func startEmulate(t *testing.T, env map[string]string) (base string, stop func() error) {
	t.Helper()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	o := &EmulateOptions{App: "onlineboutique", Namespace: "ob", Listen: "127.0.0.1:0", Tick: 50 * time.Millisecond, Seed: 1,
		streams: IO{Out: out, Err: errOut}, kube: fake.NewClientset(), getenv: func(k string) string { return env[k] }}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("emulate did not stop when interrupted")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })

	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if line, ok := strings.CutPrefix(out.String(), "listening on "); ok && strings.HasSuffix(line, "\n") {
			base = strings.TrimSpace(line)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stdout %q, stderr %q", out.String(), errOut.String())
		}
	}
	return base, stop
}

// getStatus sends GET path to base with token as the bearer token, if
// any, and returns the status code.
func getStatus(t *testing.T, base, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEmulatePrintsItsAddressAndServesUntilInterrupted: grlctl emulate
// prints the URL scripts read, answers there, and returns when its
// context ends.
func TestEmulatePrintsItsAddressAndServesUntilInterrupted(t *testing.T) {
	base, stop := startEmulate(t, nil)
	for _, path := range []string{"/healthz", "/jobs", "/api/edges?resource_type=deployment&namespace=ob"} {
		if code := getStatus(t, base, path, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("emulate ended with %v", err)
	}
}

// TestEmulateRequiresTheAgentToken: with GRL_AGENT_TOKEN set, the
// emulated load agent refuses /jobs requests without it, as grlctl agent
// does; health and the Prometheus and viz endpoints stay open.
func TestEmulateRequiresTheAgentToken(t *testing.T) {
	base, _ := startEmulate(t, map[string]string{loadtest.TokenEnv: "s3cret"})
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/jobs", "", http.StatusUnauthorized},
		{"/jobs", "wrong", http.StatusUnauthorized},
		{"/jobs", "s3cret", http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/api/edges?resource_type=deployment&namespace=ob", "", http.StatusOK},
	} {
		if code := getStatus(t, base, tt.path, tt.token); code != tt.want {
			t.Errorf("GET %s with token %q: %d, want %d", tt.path, tt.token, code, tt.want)
		}
	}
}

func TestEmulateRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"tick", []string{"--tick", "0s"}, "--tick"},
		{"listen", []string{"--listen", "nonsense"}, "--listen"},
		{"app", []string{"--app", "nope", "--kubeconfig", "/nonexistent"}, "unknown app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Execute(context.Background(), append([]string{"emulate"}, tt.args...), IO{Out: &out, Err: &errOut})
			if code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 naming %s", code, errOut.String(), tt.want)
			}
		})
	}
}
