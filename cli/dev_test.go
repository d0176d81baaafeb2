package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDevStartsTheLocalStackAndStopsIt runs grlctl dev's stack until it is
// ready, then cancels it: the servers must stop, and the S3 secret must
// stay out of what it prints.
func TestDevStartsTheLocalStackAndStopsIt(t *testing.T) {
	temporal, s3 := os.Getenv("GRL_TEMPORAL"), os.Getenv("GRL_VERSITYGW")
	if temporal == "" || s3 == "" {
		if testing.Short() {
			t.Skip("GRL_TEMPORAL and GRL_VERSITYGW are not set (make tools)")
		}
		t.Fatal("GRL_TEMPORAL and GRL_VERSITYGW must name the pinned binaries; run `make test`")
	}
	dir := t.TempDir()
	// The stack's worker may still log a line while it stops.
	var out, errOut syncBuffer
	o := &DevOptions{Dir: dir, TemporalBin: temporal, S3Bin: s3, Bucket: "grlscaler",
		TemporalPort: freeLoopbackPort(t), UIPort: freeLoopbackPort(t), S3Port: freeLoopbackPort(t),
		streams: IO{Out: &out, Err: &errOut}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("dev stopped before it was ready: %v\n%s", err, errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready after 60 s")
		}
	}
	creds, err := os.ReadFile(filepath.Join(dir, "s3-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(strings.TrimSpace(string(creds)), ":")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("dev: %v", err)
	}
	if secret == "" || strings.Contains(out.String()+errOut.String(), secret) {
		t.Errorf("the S3 secret is empty or was printed")
	}
	if !strings.Contains(out.String(), "web UI http://127.0.0.1:") {
		t.Errorf("dev did not say where the web UI is: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); !os.IsNotExist(err) {
		t.Error("the ready marker outlived the stack")
	}
}
