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
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/envs/emulator"
	"github.com/grlscaler/grlscaler/envs/k8s"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/loadtest"
)

// EmulateOptions are the flags of grlctl emulate.
type EmulateOptions struct {
	Kubeconfig, Context string
	App, Namespace      string
	Listen              string
	Tick                time.Duration
	Seed                uint64

	streams IO
	// kube replaces the client built from the kubeconfig in tests.
	kube kubernetes.Interface
	// getenv reads the agent token; os.Getenv unless a test sets it.
	getenv func(string) string
}

// NewCmdEmulate builds grlctl emulate.
func NewCmdEmulate(streams IO) *cobra.Command {
	o := &EmulateOptions{streams: streams, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Make a local cluster with kwok nodes behave as if the app ran, driven by the digital twin",
		Long: `Run the app's emulated physics on a cluster whose nodes are kwok's fakes
(make cluster-up) until interrupted. Every --tick the digital twin takes the
replicas of the app's Deployments in --namespace, steps, and writes each
running pod's share of its service's CPU and memory into the pod's kwok usage
annotations, so metrics-server and the HPA see the app's load.

One loopback HTTP server stands in for the rest of the app's world:
  the load agent's API (` + loadtest.HostEnv + `): a job replays its scenario in the twin
  GET|POST /api/v1/query   Prometheus (PROMETHEUS_URL): the Linkerd and cAdvisor
                           queries of the k8s backend, from the twin
  GET /api/edges           Linkerd viz (LINKERD_VIZ_API_URL=<url>/api/edges)

When ` + loadtest.TokenEnv + ` is set, every /jobs request must carry it as
"Authorization: Bearer <token>", as grlctl agent requires.

It prints "listening on http://ADDR" once it serves.`,
		Example: `  grlctl emulate --kubeconfig .cluster/kubeconfig --namespace onlineboutique
  grlctl emulate --kubeconfig kc --app redis --namespace redis --listen 127.0.0.1:9090 --tick 1s --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context (default: the current one)")
	f.StringVar(&o.App, "app", "onlineboutique", "the deployed app: onlineboutique, redis, or synthetic-N")
	f.StringVar(&o.Namespace, "namespace", "", "namespace the app is deployed in (default: the app's own, e.g. onlineboutique)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to serve on; port 0 picks a free one")
	f.DurationVar(&o.Tick, "tick", time.Second, "the twin's step, and how often pods are annotated")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed of the twin (and of a synthetic app)")
	return cmd
}

// Validate checks the flags.
func (o *EmulateOptions) Validate() error {
	if o.Tick <= 0 {
		return fmt.Errorf("--tick %v must be positive", o.Tick)
	}
	if o.App == "" {
		return errors.New("--app must not be empty")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	return nil
}

// Run emulates and serves until ctx ends.
func (o *EmulateOptions) Run(ctx context.Context) error {
	a, err := sim.LookupApp(o.App, o.Seed)
	if err != nil {
		return fmt.Errorf("%w: --app: %w", ErrUsage, err)
	}
	ns := o.Namespace
	if ns == "" {
		ns = a.Namespace
	}
	if ns == "" {
		return fmt.Errorf("%w: --namespace: app %s declares none; name the namespace it is deployed in", ErrUsage, a.Name)
	}
	kube := o.kube
	if kube == nil {
		cfg, err := k8s.Connect(k8s.ConnOptions{Kubeconfig: o.Kubeconfig, Context: o.Context})
		if err != nil {
			return err
		}
		if kube, _, err = k8s.NewClients(cfg); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(o.streams.Err, nil))
	em, err := emulator.New(emulator.Options{Kube: kube, App: a, Namespace: ns, Tick: o.Tick, Seed: o.Seed,
		Token: o.getenv(loadtest.TokenEnv), Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("emulate: listen on %s: %w", o.Listen, err)
	}
	srv := &http.Server{Handler: em.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- em.Run(ctx) }()
	fmt.Fprintf(o.streams.Out, "listening on http://%s\n", ln.Addr())

	var runErr error
	select {
	case err := <-served:
		cancel()
		<-ran
		return fmt.Errorf("emulate: serve: %w", err)
	case runErr = <-ran:
	case <-ctx.Done():
		runErr = <-ran
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return errors.Join(runErr, srv.Shutdown(sctx))
}
