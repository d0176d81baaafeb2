package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// NewCmdCancel builds grlctl cancel.
func NewCmdCancel(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running experiment",
		Long: `Request cancellation of a running experiment. The experiment stops its
current stage, tears down what it deployed, and closes as canceled. With
--wait, wait until it has closed and print its final status; the exit code
is 1 when it closed other than canceled or completed (for example when its
clean-up failed).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeExperimentIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, id := cmd.Context(), args[0]
			e, err := describeExperiment(ctx, c, id)
			if err != nil {
				return err
			}
			if !e.Running {
				return fmt.Errorf("experiment %q is not running: it is already %s", id, e.Status)
			}
			if err := c.CancelWorkflow(ctx, id, e.RunID); err != nil {
				return fmt.Errorf("cancel experiment %q: %w", id, err)
			}
			status := "cancel_requested"
			if wait {
				// Get returns once the run has closed, with an error for
				// every ending but completion; the status says which.
				_ = c.GetWorkflow(ctx, id, e.RunID).Get(ctx, nil)
				if err := ctx.Err(); err != nil {
					return err
				}
				desc, err := c.DescribeWorkflow(ctx, id, e.RunID)
				if err != nil {
					return fmt.Errorf("describe experiment %q: %w", id, err)
				}
				status = statusName(desc.Status)
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"id": id, "run_id": e.RunID, "status": status}); err != nil {
					return err
				}
			} else if wait {
				fmt.Fprintf(streams.Out, "%s: %s\n", id, status)
			} else {
				fmt.Fprintf(streams.Out, "requested cancellation of experiment %s (run %s)\n", id, e.RunID)
			}
			if status != "cancel_requested" && status != "canceled" && status != "completed" {
				if reason := closeReason(ctx, c, id, e.RunID); reason != "" {
					return fmt.Errorf("experiment %q %s: %s", id, status, reason)
				}
				return fmt.Errorf("experiment %q %s", id, status)
			}
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the experiment has closed and print its final status")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}
