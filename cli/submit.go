package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/workflows"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// NewCmdSubmit builds grlctl submit.
func NewCmdSubmit(streams IO) *cobra.Command {
	var tf temporalFlags
	var id, output string
	var wait bool
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Start an experiment from an experiment.yaml",
		Long: `Validate an experiment.yaml and start it as a Temporal workflow whose ID is
the experiment's metadata.name (or --id). Submitting a name that is already
running is an error. With --wait, wait for the experiment and print its
report summary.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			spec, err := experiment.Load(args[0])
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			if id == "" {
				id = spec.Metadata.Name
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			// A spec with a matrix is a sweep: one experiment per
			// combination, under SweepWorkflow.
			workflowName := api.ExperimentWorkflowName
			if spec.Spec.Matrix != nil {
				workflowName = api.SweepWorkflowName
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                       id,
				TaskQueue:                api.TaskQueue,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				Memo:                     workflows.ExperimentMemo(spec),
				TypedSearchAttributes:    searchAttributes(ctx, c, tf.namespace, spec, streams),
			}, workflowName, *spec)
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return fmt.Errorf("%w: experiment %q is already running; wait for it, cancel it, or submit with another --id", ErrUsage, id)
			}
			if err != nil {
				return fmt.Errorf("start experiment %q: %w", id, err)
			}
			out := map[string]any{"id": run.GetID(), "run_id": run.GetRunID(), "spec_hash": api.SpecHash(spec)}
			if wait {
				var res struct {
					Report api.ReportResult `json:"report"`
				}
				if err := run.Get(ctx, &res); err != nil {
					return fmt.Errorf("experiment %q: %w", id, err)
				}
				out["report"] = res.Report
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(streams.Out, "started experiment %s (run %s)\n", run.GetID(), run.GetRunID())
			if wait {
				rep := out["report"].(api.ReportResult)
				fmt.Fprintf(streams.Out, "%s\nreport: %s, %s\n", strings.TrimSpace(rep.Summary), rep.JSONKey, rep.MarkdownKey)
			}
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&id, "id", "", "workflow ID (default: metadata.name)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the experiment to finish")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// NewCmdStatus builds grlctl status.
func NewCmdStatus(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an experiment's status and progress",
		Long: `Show an experiment's status, stage, training chunks and steps, and how
many runs of each stage have finished, and of them how many were served from
the store (an output already stored for the same input, which the subprocess
and kubernetes stage runners reuse) instead of run. -o json prints one object;
its "stages" maps each stage to {"ran": N, "cached": M}.`,
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
			desc, err := c.DescribeWorkflow(ctx, args[0], "")
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				return fmt.Errorf("%w: no experiment %q", ErrUsage, args[0])
			}
			if err != nil {
				return fmt.Errorf("describe experiment %q: %w", args[0], err)
			}
			info := desc.RawResponse.GetWorkflowExecutionInfo()
			status := statusName(desc.Status)
			var p api.Progress
			if q, err := c.QueryWorkflow(ctx, args[0], "", api.ProgressQueryName); err == nil {
				_ = q.Get(&p)
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(statusRecord(args[0], watchState{status: status, runID: info.GetExecution().GetRunId(), progress: p}))
			}
			line := fmt.Sprintf("%s: %s, stage %s, chunk %d/%d, steps %d/%d", args[0], status, p.Stage, p.Chunk, p.Chunks, p.Steps, p.TotalSteps)
			if runs := stageRunsText(p.Runs); runs != "" {
				line += "; stage runs: " + runs
			}
			_, err = fmt.Fprintln(streams.Out, line)
			return err
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// statusName maps Temporal's execution status to the names scripts use.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued_as_new"
	}
	return "unknown"
}

// searchAttributes returns the experiment's search attributes when the
// namespace has them all registered, and otherwise warns once on stderr and
// returns none: the experiment runs either way, only filtering by them is
// lost.
func searchAttributes(ctx context.Context, c client.Client, namespace string, spec *api.ExperimentSpec, streams IO) temporal.SearchAttributes {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	var missing []string
	for _, name := range api.SearchAttributeNames {
		if err != nil || resp.GetCustomAttributes()[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return workflows.StartSearchAttributes(spec)
	}
	fmt.Fprintf(streams.Err, "grlctl: namespace %s lacks the search attributes %s (Keyword); the experiment runs without them. Register them with: temporal operator search-attribute create --namespace %s%s\n",
		namespace, strings.Join(missing, ", "), namespace, flagsFor(missing))
	return temporal.SearchAttributes{}
}

func flagsFor(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(" --name " + n + " --type Keyword")
	}
	return b.String()
}
