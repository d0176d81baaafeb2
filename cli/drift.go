package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// NewCmdDrift builds grlctl drift.
func NewCmdDrift(streams IO) *cobra.Command {
	var tf temporalFlags
	var s3 s3Flags
	var output string
	cmd := &cobra.Command{
		Use:   "drift NAME",
		Short: "Print the latest drift report of a schedule (or of an experiment)",
		Long: `Print how the latest completed run of schedule NAME compares with the
previous completed run of the same spec: per controller and metric the
previous and current values, the difference and whether it lies within the
earlier runs' spread, and whether checkpoints and metrics are byte-identical
(reports/drift.md; -o json prints reports/drift.json). NAME may also be an
experiment ID. The S3 settings are those of grlctl report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			id, err := latestScheduledRun(ctx, c, args[0])
			if err != nil {
				return err
			}
			e, err := describeExperiment(ctx, c, id)
			if err != nil {
				return err
			}
			if e.Running {
				return fmt.Errorf("experiment %q is still running; its drift report is written when it finishes", id)
			}
			bucket, prefix, err := e.storage()
			if err != nil {
				return err
			}
			store, _, err := storeFromEnv(&s3, bucket, false)
			if err != nil {
				return err
			}
			rel := api.DriftMarkdownObject
			if output == "json" {
				rel = api.DriftJSONObject
			}
			data, err := (&reportReader{store: store, bucket: bucket, prefix: prefix, exp: e}).get(ctx, rel)
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(data)
			return err
		},
	}
	tf.add(cmd)
	s3.add(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// latestScheduledRun returns the newest completed run among schedule
// name's recent runs, or name itself when there is no such schedule.
func latestScheduledRun(ctx context.Context, c client.Client, name string) (string, error) {
	desc, err := c.ScheduleClient().GetHandle(ctx, name).Describe(ctx)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return name, nil
	}
	if err != nil {
		return "", fmt.Errorf("describe schedule %q: %w", name, err)
	}
	recent := desc.Info.RecentActions
	for i := len(recent) - 1; i >= 0; i-- {
		r := recent[i].StartWorkflowResult
		if r == nil {
			continue
		}
		e, err := describeExperiment(ctx, c, r.WorkflowID)
		if err == nil && e.Status == "completed" {
			return r.WorkflowID, nil
		}
	}
	return "", fmt.Errorf("schedule %q has no completed run yet (%d recent runs)", name, len(recent))
}
