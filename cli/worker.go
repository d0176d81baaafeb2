package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/envs/k8s"
	"github.com/grlscaler/grlscaler/infra/objstore"

	"github.com/grlscaler/grlscaler/worker"
)

// NewCmdWorker builds grlctl worker.
func NewCmdWorker(streams IO) *cobra.Command {
	var tf temporalFlags
	var jf jobFlags
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
			jobs, err := jf.runner(cfg, log)
			if err != nil {
				return err
			}
			return worker.Run(cmd.Context(), worker.Options{Client: c, Store: store, MaxConcurrentTraining: training, Logger: log,
				StageCommand: stage, StageEnv: cfg.Environ(), Jobs: jobs})
		},
	}
	tf.add(cmd)
	s3.add(cmd, true)
	cmd.Flags().IntVar(&training, "max-training", 1, "training chunks this worker runs at once")
	jf.add(cmd)
	return cmd
}

// jobFlags configure the kubernetes stage runner of a worker.
type jobFlags struct {
	namespace, image, serviceAccount, s3Secret, kubeconfig, context string
	inCluster                                                       bool
}

func (f *jobFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.namespace, "stage-namespace", "", "run stages whose spec asks for the kubernetes runner as Jobs in this namespace")
	fl.StringVar(&f.image, "stage-image", "", "the grlscaler image the stage Jobs run")
	fl.StringVar(&f.serviceAccount, "stage-service-account", "", "service account of the stage Jobs")
	fl.StringVar(&f.s3Secret, "stage-s3-secret", "grlscaler-s3", "Secret with GRL_S3_ACCESS_KEY and GRL_S3_SECRET_KEY for the stage Jobs")
	fl.StringVar(&f.kubeconfig, "stage-kubeconfig", "", "kubeconfig of the stage Jobs' cluster (default: client-go's loading rules)")
	fl.StringVar(&f.context, "stage-context", "", "kubeconfig context of the stage Jobs' cluster")
	fl.BoolVar(&f.inCluster, "stage-in-cluster", false, "reach the stage Jobs' cluster with the pod's service account")
}

// runner returns the Job runner, or nil without --stage-namespace.
func (f *jobFlags) runner(store objstore.Config, log *slog.Logger) (*activities.JobRunner, error) {
	if f.namespace == "" {
		return nil, nil
	}
	if f.image == "" {
		return nil, fmt.Errorf("%w: --stage-namespace needs --stage-image", ErrUsage)
	}
	rc, err := k8s.Connect(k8s.ConnOptions{Kubeconfig: f.kubeconfig, Context: f.context, InCluster: f.inCluster, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("stage Jobs' cluster: %w", err)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("stage Jobs' cluster: %w", err)
	}
	return &activities.JobRunner{Client: kube, Namespace: f.namespace, Image: f.image, ServiceAccount: f.serviceAccount,
		S3Secret: f.s3Secret, Store: store}, nil
}
