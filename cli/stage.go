package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// NewCmdStage builds grlctl stage.
func NewCmdStage(streams IO) *cobra.Command {
	var s3 s3Flags
	var input, output string
	cmd := &cobra.Command{
		Use:   "stage NAME --input KEY --output KEY",
		Short: "Run one pipeline stage from an input object to an output object (what a stage container runs)",
		Long: `Run one stage of an experiment (` + strings.Join(api.StageNames, ", ") + `)
outside the worker: read its input object (JSON) from the S3 store, do the
work with the same code the worker runs in process, write the output object
and then a status object (<output>.status.json). Progress goes to stderr as
"` + strings.TrimSpace(`grlctl-progress: {...}`) + `" lines, which the worker turns into heartbeats.
Exit code 0 on success, 1 on a retryable failure, 2 on invalid input
(retrying cannot help). The store comes from the environment: ` + s3EnvHelp + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" || output == "" {
				return fmt.Errorf("%w: --input and --output are required", ErrUsage)
			}
			store, _, err := storeFromEnv(&s3, "", false)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(streams.Err, nil))
			ctx := activities.WithStageReporter(cmd.Context(), activities.StageReporter{
				Logger: log,
				Progress: func(details any) {
					if b, err := json.Marshal(details); err == nil {
						_, _ = io.WriteString(streams.Err, "grlctl-progress: "+string(b)+"\n")
					}
				},
			})
			acts := &activities.Activities{Store: store, Logger: log}
			// Exit codes: invalid input is a usage error (2), any other
			// failure 1.
			code, err := acts.RunStageFromStore(ctx, args[0], input, output)
			if code == activities.StageExitInvalid {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			return err
		},
	}
	s3.add(cmd, true)
	cmd.Flags().StringVar(&input, "input", "", "key of the input object")
	cmd.Flags().StringVar(&output, "output", "", "key of the output object")
	return cmd
}

// stageCommand is how this worker runs a stage in a child process: this
// very binary's stage command, so that worker and stages are one build.
func stageCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable for stage subprocesses: %w", err)
	}
	return []string{exe, "stage"}, nil
}
