package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
)

// temporalFlags are the connection settings shared by the commands that
// talk to Temporal. The SDK's environment configuration comes first: the
// profile of the Temporal config file (TEMPORAL_CONFIG_FILE, default
// ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE) and the
// environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH, ...), exactly as the Temporal CLI reads
// them; --address and --namespace override it; the local dev server is the
// fallback.
type temporalFlags struct {
	address, namespace string
}

const (
	defaultTemporalAddress   = "127.0.0.1:7233"
	defaultTemporalNamespace = "default"
)

func (f *temporalFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.address, "address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS or the config profile, else "+defaultTemporalAddress+")")
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or the config profile, else "+defaultTemporalNamespace+")")
}

// options resolves the client options: environment configuration, then
// flags, then the dev server's defaults. It fills f.address and
// f.namespace with what it resolved.
func (f *temporalFlags) options() (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return client.Options{}, fmt.Errorf("%w: Temporal environment configuration: %w", ErrUsage, err)
	}
	if f.address != "" {
		opts.HostPort = f.address
	}
	if f.namespace != "" {
		opts.Namespace = f.namespace
	}
	if opts.HostPort == "" {
		opts.HostPort = defaultTemporalAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = defaultTemporalNamespace
	}
	f.address, f.namespace = opts.HostPort, opts.Namespace
	return opts, nil
}

// dial connects to Temporal; the SDK logs warnings and errors to stderr.
func (f *temporalFlags) dial(streams IO) (client.Client, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	opts.Logger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", f.address, f.namespace, err)
	}
	return c, nil
}
