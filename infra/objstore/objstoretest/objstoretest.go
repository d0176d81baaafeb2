// Package objstoretest starts a real S3 server on loopback for tests:
// versitygw (Apache-2.0) serving a temporary directory. `make tools` builds
// the pinned binary into bin/ and `make test` passes its path in
// GRL_VERSITYGW.
//
// Tests that need the server run for real in `make test`. Under
// `go test -short` they are skipped when the binary is missing; otherwise a
// missing binary fails the test, so a misconfigured run cannot pass by
// skipping them.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/infra/objstore"
)

// EnvBinary names the environment variable holding the versitygw binary's
// path.
const EnvBinary = "GRL_VERSITYGW"

// Bucket is the bucket the server is started with.
const Bucket = "grlscaler-test"

const (
	healthPath = "/healthz"
	// startTimeout is generous: the server answers in about 0.1 s, but a
	// loaded CI machine running the race detector can be much slower.
	startTimeout = 30 * time.Second
	// startAttempts covers the rare loss of the port we picked to another
	// process between choosing it and the server binding it.
	startAttempts = 3
)

// Server is a running local S3 server.
type Server struct {
	// Config reaches the server's bucket with its root credentials.
	Config objstore.Config
	// Dir is the directory the server serves: bucket b is the directory
	// Dir/b and object k in it the file Dir/b/k. Tests use it to damage
	// objects behind the server's back.
	Dir string
}

// ObjectPath is the file holding key in the server's bucket.
func (s *Server) ObjectPath(key string) string {
	return filepath.Join(s.Dir, s.Config.Bucket, filepath.FromSlash(key))
}

// StartLocalServer starts a local S3 server for the test with a fresh
// bucket and random credentials, and returns the Config to reach it. The
// server is stopped when the test ends.
func StartLocalServer(t testing.TB) objstore.Config {
	t.Helper()
	return Start(t).Config
}

// Start is StartLocalServer returning the Server, for tests that also need
// its directory.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	// versitygw's posix backend serves an existing directory; each
	// subdirectory is a bucket.
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatalf("objstoretest: %v", err)
	}
	access, secret := randomHex(t, 10), randomHex(t, 20)
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("objstoretest: pick a port: %v", err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("versitygw-%d.log", attempt))
		stop, err := start(bin, addr, root, access, secret, logPath)
		if err != nil {
			errs = append(errs, fmt.Errorf("attempt %d on %s: %w", attempt, addr, err))
			continue
		}
		t.Cleanup(stop)
		cfg := objstore.Config{
			Endpoint:  addr,
			Bucket:    Bucket,
			AccessKey: access,
			SecretKey: secret,
			// versitygw's default; setting it saves minio-go a
			// bucket-location request.
			Region:       "us-east-1",
			CreateBucket: true,
		}
		if _, err := objstore.NewMinIO(cfg); err != nil {
			t.Fatalf("objstoretest: create bucket on the local S3 server: %v", err)
		}
		cfg.CreateBucket = false
		return &Server{Config: cfg, Dir: root}
	}
	t.Fatalf("objstoretest: start local S3 server %s: %v", bin, errors.Join(errs...))
	return nil
}

// binary returns the versitygw path from EnvBinary, or skips (under -short)
// or fails the test when it is not there.
func binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	var problem string
	if bin == "" {
		problem = EnvBinary + " is not set"
	} else if fi, err := os.Stat(bin); err != nil {
		problem = fmt.Sprintf("%s=%s: %v", EnvBinary, bin, err)
	} else if fi.IsDir() {
		problem = fmt.Sprintf("%s=%s is a directory", EnvBinary, bin)
	}
	if problem == "" {
		return bin
	}
	if testing.Short() {
		t.Skipf("objstoretest: skipping: needs the local S3 server (versitygw) and %s; `make test` runs it", problem)
	}
	t.Fatalf("objstoretest: the local S3 server (versitygw) is not available: %s. "+
		"Run `make tools` to build it into bin/ and run the tests with `make test`, "+
		"or set %s to its path; use `go test -short` to skip tests that need it", problem, EnvBinary)
	return ""
}

// start runs versitygw on addr and waits until it answers. The returned
// stop kills it and waits for it to exit.
func start(bin, addr, root, access, secret, logPath string) (stop func(), err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--port", addr,
		"--quiet",      // no per-request log lines
		"--keep-alive", // reuse connections, as a production server would
		"--health", healthPath,
		"posix", root)
	// Keys go in the environment, not on the command line where ps and
	// error messages would show them. A minimal environment keeps the
	// caller's VGW_* settings from changing the server.
	cmd.Env = []string{
		"ROOT_ACCESS_KEY_ID=" + access,
		"ROOT_SECRET_ACCESS_KEY=" + secret,
		"HOME=" + filepath.Dir(root),
		"TMPDIR=" + filepath.Dir(root),
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		logf.Close()
	}()
	stop = func() {
		// Kill, not a graceful stop: the test is over and its directory
		// is about to be removed; waiting reaps the process.
		_ = cmd.Process.Kill()
		<-exited
	}
	if err := waitReady(addr, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; server log: %s", err, logTail(logPath))
	}
	return stop, nil
}

// waitReady polls the health endpoint until it answers 200, the process
// exits, or startTimeout passes.
func waitReady(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + healthPath
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before answering: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("server did not answer on %s within %v", url, startTimeout)
		case <-tick.C:
		}
	}
}

// freeLoopbackAddr asks the kernel for a free loopback port. The server
// binds it a moment later; start retries if someone else got there first.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("objstoretest: %v", err)
	}
	return hex.EncodeToString(b)
}

// logTail returns the end of the server's log for a failure message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return strings.ReplaceAll(string(b), "\n", "\n\t")
}
