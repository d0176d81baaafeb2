// Package temporaltest starts a real Temporal dev server (the pinned
// Temporal CLI's `server start-dev`) on loopback for tests.
package temporaltest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// EnvTemporal names the Temporal CLI binary the end-to-end tests run as a
// dev server; `make test` sets it after `make tools` builds the pin.
const EnvTemporal = "GRL_TEMPORAL"

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartDevServer runs `temporal server start-dev` on loopback with its
// state in a temp directory and returns a connected client and its
// address, with grlscaler's search attributes registered. Without the binary it skips under -short and fails otherwise:
// tests that need Temporal run for real in `make test`.
func StartDevServer(t testing.TB) (client.Client, string) {
	t.Helper()
	bin := os.Getenv(EnvTemporal)
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if testing.Short() {
			t.Skipf("%s not set or missing: the Temporal dev server is not built (make tools)", EnvTemporal)
		}
		t.Fatalf("%s=%q: the Temporal dev server binary is missing; run `make tools` (or `make test`, which builds it)", EnvTemporal, bin)
	}
	port := freePort(t)
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--headless", "--db-filename", filepath.Join(t.TempDir(), "temporal.db"), "--log-level", "error"}
	for _, name := range api.SearchAttributeNames {
		args = append(args, "--search-attribute", name+"=Keyword")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.Dial(client.Options{
			HostPort: fmt.Sprintf("127.0.0.1:%d", port),
			Logger:   tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			cancel()
			if err == nil {
				t.Cleanup(c.Close)
				return c, fmt.Sprintf("127.0.0.1:%d", port)
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporal dev server on port %d not ready after 60s: %v", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
