package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// temporalFlags are the connection settings shared by the commands that
// talk to Temporal. Defaults come from the SDK's environment variables
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE), then the local dev server.
type temporalFlags struct {
	address, namespace string
}

func (f *temporalFlags) add(cmd *cobra.Command) {
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:7233"
	}
	ns := os.Getenv("TEMPORAL_NAMESPACE")
	if ns == "" {
		ns = "default"
	}
	cmd.Flags().StringVar(&f.address, "address", addr, "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	cmd.Flags().StringVar(&f.namespace, "namespace", ns, "Temporal namespace (env TEMPORAL_NAMESPACE)")
}

// dial connects to Temporal; the SDK logs warnings and errors to stderr.
func (f *temporalFlags) dial(streams IO) (client.Client, error) {
	c, err := client.Dial(client.Options{
		HostPort:  f.address,
		Namespace: f.namespace,
		Logger:    tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", f.address, f.namespace, err)
	}
	return c, nil
}
