package cli

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// TestEmulatePrintsItsAddressAndServesUntilInterrupted runs grlctl
// emulate's server on a free loopback port against a fake cluster: it
// prints the URL scripts read, answers there, and returns when its
// context ends.
func TestEmulatePrintsItsAddressAndServesUntilInterrupted(t *testing.T) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	o := &EmulateOptions{App: "onlineboutique", Namespace: "ob", Listen: "127.0.0.1:0", Tick: 50 * time.Millisecond, Seed: 1,
		streams: IO{Out: out, Err: errOut}, kube: fake.NewClientset()}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if line, ok := strings.CutPrefix(out.String(), "listening on "); ok && strings.HasSuffix(line, "\n") {
			base = strings.TrimSpace(line)
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no address printed; stdout %q, stderr %q", out.String(), errOut.String())
		}
	}
	for _, path := range []string{"/healthz", "/jobs", "/api/edges?resource_type=deployment&namespace=ob"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("emulate ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("emulate did not stop when interrupted")
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
