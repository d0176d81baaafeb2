package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/loadtest"
)

// AgentOptions are the flags of grlctl agent.
type AgentOptions struct {
	Listen, Dir, Locust string
	Grace               time.Duration

	streams IO
	// getenv reads the token; os.Getenv unless a test sets it.
	getenv func(string) string
}

// NewCmdAgent builds grlctl agent.
func NewCmdAgent(streams IO) *cobra.Command {
	o := &AgentOptions{streams: streams, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the load agent: Locust jobs over a small HTTP API",
		Long: `Run the load agent until interrupted: an HTTP API that runs Locust jobs
on this machine, for workers that reach it through ` + loadtest.HostEnv + `
(host, host:port or URL; port ` + loadtest.DefaultAgentPort + ` by default).

  POST /jobs               {"locustfile", "host", "duration", "name", "app"} -> the job's status
  GET  /jobs/{id}          its status: running, succeeded, failed or stopped
  POST /jobs/{id}/stop     stop it
  GET  /jobs/{id}/results  parsed series and totals, and Locust's CSV files
  GET  /healthz

Jobs are kept under --dir and survive a restart: a restarted agent reports
the jobs that ended, and fails those whose Locust ended with the agent
that ran it. When ` + loadtest.TokenEnv + ` is set, every /jobs request must
carry it as "Authorization: Bearer <token>"; it is never logged.`,
		Example: `  grlctl agent --listen :8099 --dir /var/lib/grlscaler/load
  ` + loadtest.TokenEnv + `=$(cat token) grlctl agent --dir load-jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", ":"+loadtest.DefaultAgentPort, "address to serve the API on")
	f.StringVar(&o.Dir, "dir", "load-jobs", "directory for the jobs: Locust files, logs, statistics and records")
	f.StringVar(&o.Locust, "locust", "locust", "the locust executable")
	f.DurationVar(&o.Grace, "grace", time.Minute, "how long a job may run past its duration before it is stopped and failed")
	return cmd
}

// Validate checks the flags.
func (o *AgentOptions) Validate() error {
	if o.Dir == "" {
		return errors.New("--dir must not be empty")
	}
	if o.Grace <= 0 {
		return fmt.Errorf("--grace %v must be positive", o.Grace)
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	return nil
}

// Run serves the agent until ctx ends, then stops its running jobs.
func (o *AgentOptions) Run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(o.streams.Err, nil))
	runner, err := loadtest.NewLocalRunner(o.Dir, loadtest.LocalOptions{Locust: o.Locust, Grace: o.Grace, Log: log})
	if err != nil {
		return err
	}
	defer runner.Close()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	token := o.getenv(loadtest.TokenEnv)
	srv := &http.Server{
		Handler:           loadtest.NewAgent(runner, loadtest.AgentOptions{Token: token, Log: log}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(o.streams.Out, "load agent on http://%s, jobs in %s, token required: %t; Ctrl-C stops it and its jobs\n", ln.Addr(), o.Dir, token != "")
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}
