package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// experimentsQuery selects experiments, not their child workflows.
const experimentsQuery = "WorkflowType = '" + api.ExperimentWorkflowName + "'"

// visibilityStatus maps --status values (statusName's names) to the
// ExecutionStatus values of Temporal's visibility queries.
var visibilityStatus = map[string]string{
	"running":    "Running",
	"completed":  "Completed",
	"failed":     "Failed",
	"canceled":   "Canceled",
	"terminated": "Terminated",
	"timed_out":  "TimedOut",
}

// maxPageSize is the most rows asked for in one ListWorkflow call.
const maxPageSize = 1000

// listFilters are grlctl list's filters: flag values by search attribute.
type listFilters struct {
	status, query string
	attrs         map[string]*string
}

// NewCmdList builds grlctl list.
func NewCmdList(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	var limit int
	f := listFilters{attrs: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List experiments: running ones, then the most recently closed",
		Long: `List experiments (ExperimentWorkflow runs) from Temporal's visibility
store, which lags the workflows by a moment. Filters combine with AND:
--status, the search-attribute filters --app, --mode, --policy, --goal,
--stage and --spec-hash (these need grlscaler's search attributes registered
in the namespace), and --query, a raw visibility query such as
"StartTime > '2025-01-01T00:00:00Z'".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if limit <= 0 {
				return fmt.Errorf("%w: --limit must be positive, got %d", ErrUsage, limit)
			}
			query, err := f.build()
			if err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			if err := checkSearchAttributes(ctx, c, tf.namespace, f.usedAttributes()); err != nil {
				return err
			}
			rows, err := listExperiments(ctx, c, tf.namespace, query, limit)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeListJSON(streams, rows)
			}
			return writeListTable(streams, rows)
		},
	}
	tf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.status, "status", "", "only experiments with this status: running, completed, failed, canceled, terminated, timed_out")
	for _, a := range []struct{ flag, attr, what string }{
		{"app", api.SearchAttrApp, "app"},
		{"mode", api.SearchAttrMode, "cluster mode (sim, replay, k8s)"},
		{"policy", api.SearchAttrPolicy, "agent policy"},
		{"goal", api.SearchAttrGoal, "agent goal"},
		{"stage", api.SearchAttrStage, "current stage"},
		{"spec-hash", api.SearchAttrSpecHash, "spec hash"},
	} {
		f.attrs[a.attr] = fl.String(a.flag, "", "only experiments with this "+a.what+" (search attribute "+a.attr+")")
	}
	fl.StringVar(&f.query, "query", "", "raw visibility query, ANDed with the other filters")
	fl.IntVar(&limit, "limit", 50, "list at most this many experiments")
	fl.StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// build returns the visibility query for the filters.
func (f listFilters) build() (string, error) {
	q := []string{experimentsQuery}
	if f.status != "" {
		v, ok := visibilityStatus[f.status]
		if !ok {
			return "", fmt.Errorf("%w: unknown --status %q (valid: running, completed, failed, canceled, terminated, timed_out)", ErrUsage, f.status)
		}
		q = append(q, "ExecutionStatus = '"+v+"'")
	}
	for _, attr := range api.SearchAttributeNames {
		v := f.value(attr)
		if v == "" {
			continue
		}
		if strings.ContainsAny(v, `'"\`) {
			return "", fmt.Errorf("%w: filter value %q for %s contains a quote or backslash", ErrUsage, v, attr)
		}
		q = append(q, attr+" = '"+v+"'")
	}
	if strings.TrimSpace(f.query) != "" {
		q = append(q, "("+f.query+")")
	}
	return strings.Join(q, " AND "), nil
}

// value is the filter on search attribute attr, "" for none.
func (f listFilters) value(attr string) string {
	if v, ok := f.attrs[attr]; ok {
		return *v
	}
	return ""
}

// usedAttributes are grlscaler's search attributes the filters use,
// including those named in --query.
func (f listFilters) usedAttributes() []string {
	var used []string
	for _, attr := range api.SearchAttributeNames {
		if f.value(attr) != "" || strings.Contains(f.query, attr) {
			used = append(used, attr)
		}
	}
	return used
}

// checkSearchAttributes fails, saying how to register them, when any of
// names is not a registered Keyword search attribute: the server's own
// error for a query naming one is obscure.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, n := range names {
		if resp.GetCustomAttributes()[n] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("cannot filter on %s: not registered as a Keyword search attribute in namespace %s (and experiments started before registration lack it). Register with: temporal operator search-attribute create --namespace %s%s",
		strings.Join(missing, ", "), namespace, namespace, flagsFor(missing))
}

// listExperiments pages through the matching experiments, up to limit.
func listExperiments(ctx context.Context, c client.Client, namespace, query string, limit int) ([]experimentInfo, error) {
	var rows []experimentInfo
	var token []byte
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     namespace,
			PageSize:      int32(min(limit-len(rows), maxPageSize)),
			NextPageToken: token,
			Query:         query,
		})
		if err != nil {
			return nil, fmt.Errorf("list experiments (query %s): %w", query, err)
		}
		for _, info := range resp.GetExecutions() {
			if len(rows) < limit {
				rows = append(rows, experimentFromInfo(info))
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return rows, nil
}

type listRow struct {
	ID        string     `json:"id"`
	RunID     string     `json:"run_id"`
	Status    string     `json:"status"`
	App       string     `json:"app"`
	Mode      string     `json:"mode"`
	Policy    string     `json:"policy"`
	Goal      string     `json:"goal"`
	Stage     string     `json:"stage"`
	SpecHash  string     `json:"spec_hash"`
	StartTime time.Time  `json:"start_time"`
	CloseTime *time.Time `json:"close_time"`
}

func writeListJSON(streams IO, rows []experimentInfo) error {
	out := []listRow{}
	for _, e := range rows {
		r := listRow{
			ID: e.ID, RunID: e.RunID, Status: e.Status,
			App: e.Memo[api.MemoApp], Mode: e.Memo[api.MemoMode], Policy: e.Memo[api.MemoPolicy], Goal: e.Memo[api.MemoGoal],
			Stage: e.Stage, SpecHash: e.Memo[api.MemoSpecHash], StartTime: e.Start,
		}
		if !e.Running {
			r.CloseTime = &e.Close
		}
		out = append(out, r)
	}
	enc := json.NewEncoder(streams.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeListTable(streams IO, rows []experimentInfo) error {
	tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tAPP\tPOLICY\tSTAGE\tSTARTED\tCLOSED")
	for _, e := range rows {
		closed := "-"
		if !e.Running {
			closed = localTime(e.Close)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status,
			orDash(e.Memo[api.MemoApp]), orDash(e.Memo[api.MemoPolicy]), orDash(e.Stage), localTime(e.Start), closed)
	}
	if len(rows) == 0 {
		fmt.Fprintln(streams.Err, "grlctl: no experiments match")
	}
	return tw.Flush()
}

func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
