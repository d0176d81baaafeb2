package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/worker"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// DevOptions are the flags of grlctl dev.
type DevOptions struct {
	Dir                  string
	TemporalBin, S3Bin   string
	TemporalPort, UIPort int
	S3Port               int
	Bucket               string
	streams              IO
}

// NewCmdDev builds grlctl dev.
func NewCmdDev(streams IO) *cobra.Command {
	o := &DevOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local stack: Temporal dev server with its web UI, an S3 server and a worker",
		Long: `Start, on loopback, the Temporal dev server with its web UI, a local
S3-compatible server (versitygw) over a directory, and a worker, with all
state under --dir, and run until interrupted; Ctrl-C stops all of them, and
a restart continues where they stopped. It writes <dir>/env with the
settings other grlctl commands need (source it in another shell) and
<dir>/ready once everything answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", ".grlscaler", "directory for all state")
	f.StringVar(&o.TemporalBin, "temporal", "bin/temporal-v1.5.1", "Temporal CLI binary (built by make tools)")
	f.StringVar(&o.S3Bin, "s3", "bin/versitygw-v1.8.0", "versitygw binary (built by make tools)")
	f.IntVar(&o.TemporalPort, "temporal-port", 7233, "Temporal frontend port on 127.0.0.1")
	f.IntVar(&o.UIPort, "ui-port", 8233, "Temporal web UI port on 127.0.0.1")
	f.IntVar(&o.S3Port, "s3-port", 7070, "S3 port on 127.0.0.1")
	f.StringVar(&o.Bucket, "bucket", "grlscaler", "bucket for experiments")
	return cmd
}

// credentials returns the S3 keys kept in <dir>/s3-credentials, creating
// them on the first run; the file is readable by its owner only.
func (o *DevOptions) credentials() (access, secret string, err error) {
	path := filepath.Join(o.Dir, "s3-credentials")
	if b, err := os.ReadFile(path); err == nil {
		if a, s, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
			return a, s, nil
		}
	}
	buf := make([]byte, 20)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	access, secret = "grlscaler", hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(access+":"+secret+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", path, err)
	}
	return access, secret, nil
}

func (o *DevOptions) start(ctx context.Context, name, bin string, args ...string) (*exec.Cmd, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %s binary %s not found; run `make tools` (or pass --%s)", ErrUsage, name, bin, name)
	}
	logf, err := os.OpenFile(filepath.Join(o.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches grlctl, which stops the servers in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	return cmd, nil
}

// Run starts the stack and blocks until ctx is done.
func (o *DevOptions) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(o.Dir, "s3"), 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(o.Dir, "ready"))
	access, secret, err := o.credentials()
	if err != nil {
		return err
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1",
		"--port", fmt.Sprint(o.TemporalPort), "--ui-port", fmt.Sprint(o.UIPort),
		"--db-filename", filepath.Join(o.Dir, "temporal.db"), "--log-level", "warn"}
	for _, name := range api.SearchAttributeNames {
		args = append(args, "--search-attribute", name+"=Keyword")
	}
	temporal, err := o.start(ctx, "temporal", o.TemporalBin, args...)
	if err != nil {
		return err
	}
	defer stopProcess(temporal)
	s3, err := o.start(ctx, "s3", o.S3Bin, "--access", access, "--secret", secret,
		"--port", fmt.Sprintf("127.0.0.1:%d", o.S3Port), "posix", filepath.Join(o.Dir, "s3"))
	if err != nil {
		return err
	}
	defer stopProcess(s3)

	log := slog.New(slog.NewTextHandler(o.streams.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	addr := fmt.Sprintf("127.0.0.1:%d", o.TemporalPort)
	var tc client.Client
	if err := retry(ctx, 60*time.Second, func() error {
		c, err := client.Dial(client.Options{HostPort: addr, Logger: tlog.NewStructuredLogger(log)})
		if err != nil {
			return err
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(hctx, &client.CheckHealthRequest{}); err != nil {
			c.Close()
			return err
		}
		tc = c
		return nil
	}); err != nil {
		return fmt.Errorf("temporal dev server did not answer on %s (see %s): %w", addr, filepath.Join(o.Dir, "temporal.log"), err)
	}
	defer tc.Close()
	// start-dev registers --search-attribute only when it creates its
	// database; a state directory from an older grlctl lacks them.
	if err := registerSearchAttributes(ctx, tc, "default"); err != nil {
		return fmt.Errorf("register search attributes on the dev server: %w", err)
	}
	cfg := objstore.Config{Endpoint: fmt.Sprintf("127.0.0.1:%d", o.S3Port), Bucket: o.Bucket, AccessKey: access, SecretKey: secret, CreateBucket: true}
	var store objstore.Store
	if err := retry(ctx, 30*time.Second, func() error {
		s, err := objstore.NewMinIO(cfg)
		store = s
		return err
	}); err != nil {
		return fmt.Errorf("S3 server did not answer on %s (see %s): %w", cfg.Endpoint, filepath.Join(o.Dir, "s3.log"), err)
	}
	env := fmt.Sprintf("export TEMPORAL_ADDRESS=%s GRL_S3_ENDPOINT=%s GRL_S3_BUCKET=%s GRL_S3_ACCESS_KEY=%s GRL_S3_SECRET_KEY=$(cut -d: -f2 %s)\n",
		addr, cfg.Endpoint, o.Bucket, access, filepath.Join(o.Dir, "s3-credentials"))
	if err := os.WriteFile(filepath.Join(o.Dir, "env"), []byte(env), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "ready"), nil, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.Out, "local stack up: Temporal %s, web UI http://127.0.0.1:%d, S3 %s (bucket %s), worker running; state in %s; Ctrl-C stops\n",
		addr, o.UIPort, cfg.Endpoint, o.Bucket, o.Dir)
	stage, err := stageCommand()
	if err != nil {
		return err
	}
	err = worker.Run(ctx, worker.Options{Client: tc, Store: store, Logger: log, StageCommand: stage, StageEnv: cfg.Environ()})
	_ = os.Remove(filepath.Join(o.Dir, "ready"))
	return err
}

// retry calls f until it succeeds, ctx ends or timeout passes.
func retry(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopProcess asks a server to stop (SIGTERM) and kills it after 10 s.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		// Signal 0 fails once the process has exited and been reaped by
		// the Wait in start.
		for cmd.Process.Signal(syscall.Signal(0)) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
	}
}

// registerSearchAttributes adds grlscaler's search attributes that
// namespace lacks.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range api.SearchAttributeNames {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	return err
}
