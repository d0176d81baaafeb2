package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/worker"
)

// NewCmdWorker builds grlctl worker.
func NewCmdWorker(streams IO) *cobra.Command {
	var tf temporalFlags
	var training int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker: execute experiments' workflows and activities",
		Long: `Run a Temporal worker for the grlscaler and grlscaler-train task queues
until interrupted. The object store comes from the environment:
GRL_S3_ENDPOINT, GRL_S3_BUCKET, GRL_S3_ACCESS_KEY, GRL_S3_SECRET_KEY
(or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), GRL_S3_TLS, GRL_S3_REGION.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := objstore.ConfigFromEnv(os.LookupEnv)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			cfg.CreateBucket = true
			store, err := objstore.NewMinIO(cfg)
			if err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			log := slog.New(slog.NewTextHandler(streams.Err, nil))
			log.Info("worker started", "temporal", tf.address, "namespace", tf.namespace, "store", cfg.Endpoint, "bucket", cfg.Bucket)
			return worker.Run(cmd.Context(), worker.Options{Client: c, Store: store, MaxConcurrentTraining: training, Logger: log})
		},
	}
	tf.add(cmd)
	cmd.Flags().IntVar(&training, "max-training", 1, "training chunks this worker runs at once")
	return cmd
}
