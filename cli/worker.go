package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/worker"
)

// NewCmdWorker builds grlctl worker.
func NewCmdWorker(streams IO) *cobra.Command {
	var tf temporalFlags
	var s3 s3Flags
	var training int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker: execute experiments' workflows and activities",
		Long: `Run a Temporal worker for the grlscaler and grlscaler-train task queues
until interrupted. The object store comes from the environment:
` + s3EnvHelp + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, cfg, err := storeFromEnv(&s3, "", true)
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
			stage, err := stageCommand()
			if err != nil {
				return err
			}
			return worker.Run(cmd.Context(), worker.Options{Client: c, Store: store, MaxConcurrentTraining: training, Logger: log,
				StageCommand: stage, StageEnv: cfg.Environ()})
		},
	}
	tf.add(cmd)
	s3.add(cmd, true)
	cmd.Flags().IntVar(&training, "max-training", 1, "training chunks this worker runs at once")
	return cmd
}
