package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/grlscaler/grlscaler/workflows/api"
)

const (
	// completionTimeout bounds a completion's calls to Temporal: a shell
	// waiting on Tab must not hang on an unreachable server.
	completionTimeout = 3 * time.Second
	// completionRows is how many experiments a completion offers at most.
	completionRows = 100
)

// completeExperimentIDs is the ValidArgsFunction of the commands taking an
// experiment ID: it offers the IDs of the namespace's experiments, running
// ones first, then the most recent, with their status and app as the
// description. It reads the command's --address and --namespace flags. It
// is best effort: when Temporal cannot be reached it offers nothing and
// prints nothing.
func completeExperimentIDs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	tf := temporalFlags{}
	tf.address, _ = cmd.Flags().GetString("address")
	tf.namespace, _ = cmd.Flags().GetString("namespace")
	opts, err := tf.options()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	namespace := opts.Namespace
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	opts.Logger = tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: namespace, PageSize: completionRows, Query: experimentsQuery,
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var rows []experimentInfo
	for _, info := range resp.GetExecutions() {
		rows = append(rows, experimentFromInfo(info))
	}
	// Running first, then newest first.
	slices.SortStableFunc(rows, func(a, b experimentInfo) int {
		if a.Running != b.Running {
			if a.Running {
				return -1
			}
			return 1
		}
		return b.Start.Compare(a.Start)
	})
	var out []cobra.Completion
	seen := map[string]bool{}
	for _, e := range rows {
		if seen[e.ID] || !strings.HasPrefix(e.ID, toComplete) {
			continue
		}
		seen[e.ID] = true
		desc := e.Status
		if app := e.Memo[api.MemoApp]; app != "" {
			desc += ", " + app
		}
		out = append(out, cobra.CompletionWithDesc(e.ID, desc))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
