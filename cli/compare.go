package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// comparedMetrics are grlctl compare's metrics, in output order.
var comparedMetrics = []string{
	report.MetricCost, report.MetricSLOViolation, report.MetricLatencyP95, report.MetricErrorRate, report.MetricScalingActions,
}

// metricDiff is one row of grlctl compare: a controller's pooled test
// statistic of one metric in experiment A (the first ID) and B. Values a
// side lacks (the controller is not in it, or had no valid run) are null,
// and so is whatever needs them.
type metricDiff struct {
	Controller string   `json:"controller"`
	Metric     string   `json:"metric"`
	A          *float64 `json:"a"`
	B          *float64 `json:"b"`
	// Diff is b - a.
	Diff *float64 `json:"diff"`
	// RelDiff is (b - a) / |a|: 0 when both are 0, null when only a is.
	RelDiff *float64 `json:"rel_diff"`
	// CIOverlap tells whether the two 95 % confidence intervals of the
	// mean overlap; when they do not, the difference is unlikely to be
	// noise between the runs.
	CIOverlap *bool `json:"ci_overlap"`
	// OnlyIn names the experiment holding the controller when only one does.
	OnlyIn string `json:"only_in,omitempty"`
	// InvalidIn names the experiments in which the controller is invalid
	// (some of its runs failed their checks and are left out of its
	// statistics).
	InvalidIn []string `json:"invalid_in,omitempty"`
}

// NewCmdCompare builds grlctl compare.
// minCompareSchema is the oldest report schema compare reads.
const minCompareSchema = 2

func NewCmdCompare(streams IO) *cobra.Command {
	var tf temporalFlags
	var s3 s3Flags
	var output string
	cmd := &cobra.Command{
		Use:   "compare ID1 ID2",
		Short: "Compare two finished experiments' reports, controller by controller",
		Long: `Compare the reports (reports/report.json, schema version 2) of two finished
experiments: for every controller in both and each of ` + strings.Join(comparedMetrics, ", ") + `,
print ID1's mean, ID2's mean, the difference ID2 - ID1, the relative
difference (ID2 - ID1) / |ID1| and whether the two 95 % confidence intervals
overlap. Controllers in only one report are listed as such. -o json prints an
array of objects {controller, metric, a, b, diff, rel_diff, ci_overlap}, with
only_in and invalid_in when they apply, and null for what a report lacks.

Each experiment's bucket and prefix come from its workflow memo; the S3
server and credentials from the environment:
` + s3EnvHelp + ` (GRL_S3_BUCKET is not needed).`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) >= 2 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeExperimentIDs(cmd, nil, toComplete)
		},
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
			stores := map[string]objstore.Store{}
			a, err := readReportJSON(ctx, c, &s3, stores, args[0])
			if err != nil {
				return err
			}
			b, err := readReportJSON(ctx, c, &s3, stores, args[1])
			if err != nil {
				return err
			}
			rows := compareReports(args[0], a, args[1], b)
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			return printComparison(streams.Out, args[0], a, args[1], b, rows)
		},
	}
	tf.add(cmd)
	s3.add(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// readReportJSON reads and decodes experiment id's report.json,
// checksum-verified, opening the store of its bucket once (stores caches
// them by bucket).
func readReportJSON(ctx context.Context, c client.Client, s3 *s3Flags, stores map[string]objstore.Store, id string) (*report.Report, error) {
	e, err := describeExperiment(ctx, c, id)
	if err != nil {
		return nil, err
	}
	bucket, prefix, err := e.storage()
	if err != nil {
		return nil, err
	}
	if e.Running {
		return nil, fmt.Errorf("experiment %q is still running (stage %s); its report is written when it finishes (follow it with: grlctl watch %s)", id, orDash(e.Stage), id)
	}
	store, ok := stores[bucket]
	if !ok {
		s, _, err := storeFromEnv(s3, bucket, false)
		if err != nil {
			return nil, err
		}
		store, stores[bucket] = s, s
	}
	data, err := (&reportReader{store: store, bucket: bucket, prefix: prefix, exp: e}).get(ctx, api.ReportJSONObject)
	if err != nil {
		return nil, err
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("experiment %q: decode %s: %w", id, api.ReportJSONObject, err)
	}
	// Version 3 changed only the comparisons' inference fields, which
	// compare does not read: version 2 reads the same.
	if r.SchemaVersion < minCompareSchema || r.SchemaVersion > report.SchemaVersion {
		why := ""
		if r.SchemaVersion == 0 {
			why = " (it has no schema_version: an older grlscaler wrote it)"
		}
		return nil, fmt.Errorf("experiment %q has a report of schema version %d%s; grlctl compare reads versions %d to %d", id, r.SchemaVersion, why, minCompareSchema, report.SchemaVersion)
	}
	return &r, nil
}

// compareReports compares the controllers of report a (experiment idA)
// with those of b: A's controllers in its order, then those only in B.
func compareReports(idA string, a *report.Report, idB string, b *report.Report) []metricDiff {
	inB := map[string]*report.Controller{}
	for i := range b.Controllers {
		inB[b.Controllers[i].Name] = &b.Controllers[i]
	}
	var rows []metricDiff
	seen := map[string]bool{}
	add := func(ca, cb *report.Controller) {
		for _, m := range comparedMetrics {
			row := diffStats(controllerStat(ca, m), controllerStat(cb, m))
			switch {
			case ca == nil:
				row.Controller, row.OnlyIn = cb.Name, idB
			case cb == nil:
				row.Controller, row.OnlyIn = ca.Name, idA
			default:
				row.Controller = ca.Name
			}
			row.Metric = m
			if ca != nil && !ca.Valid {
				row.InvalidIn = append(row.InvalidIn, idA)
			}
			if cb != nil && !cb.Valid {
				row.InvalidIn = append(row.InvalidIn, idB)
			}
			rows = append(rows, row)
		}
	}
	for i := range a.Controllers {
		ca := &a.Controllers[i]
		seen[ca.Name] = true
		add(ca, inB[ca.Name])
	}
	for i := range b.Controllers {
		if cb := &b.Controllers[i]; !seen[cb.Name] {
			add(nil, cb)
		}
	}
	return rows
}

// controllerStat returns controller c's statistic of metric m, nil if c is nil or
// has no valid run of it.
func controllerStat(c *report.Controller, m string) *report.Stat {
	if c == nil {
		return nil
	}
	if s, ok := c.Metrics[m]; ok && s.N > 0 {
		return &s
	}
	return nil
}

// diffStats fills a row's numbers from the statistics of A and B (nil
// when missing).
func diffStats(a, b *report.Stat) metricDiff {
	var d metricDiff
	if a != nil {
		d.A = &a.Mean
	}
	if b != nil {
		d.B = &b.Mean
	}
	if a == nil || b == nil {
		return d
	}
	diff := b.Mean - a.Mean
	d.Diff = &diff
	switch {
	case a.Mean != 0:
		rel := diff / math.Abs(a.Mean)
		d.RelDiff = &rel
	case diff == 0:
		rel := 0.0
		d.RelDiff = &rel
	}
	overlap := a.CI95Low <= b.CI95High && b.CI95Low <= a.CI95High
	d.CIOverlap = &overlap
	return d
}

// printComparison writes rows as a table, followed by the controllers
// that only one experiment has.
func printComparison(w io.Writer, idA string, a *report.Report, idB string, b *report.Report, rows []metricDiff) error {
	if _, err := fmt.Fprintf(w, "%s: %s (app %s)\n%s: %s (app %s)\n\n", idA, orDash(a.Name), orDash(a.App), idB, orDash(b.Name), orDash(b.App)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CONTROLLER\tMETRIC\t%s\t%s\tDIFF\tREL DIFF\tCI OVERLAP\tNOTE\n", idA, idB)
	onlyIn := map[string][]string{}
	for _, r := range rows {
		if r.OnlyIn != "" {
			if names := onlyIn[r.OnlyIn]; len(names) == 0 || names[len(names)-1] != r.Controller {
				onlyIn[r.OnlyIn] = append(names, r.Controller)
			}
			continue
		}
		note := ""
		if len(r.InvalidIn) > 0 {
			note = "invalid in " + strings.Join(r.InvalidIn, " and ")
		}
		overlap := "-"
		if r.CIOverlap != nil {
			overlap = map[bool]string{true: "yes", false: "no"}[*r.CIOverlap]
		}
		rel := "-"
		if r.RelDiff != nil {
			rel = strconv.FormatFloat(*r.RelDiff*100, 'f', 1, 64) + "%"
			if *r.RelDiff > 0 {
				rel = "+" + rel
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Controller, r.Metric, fmtOptional(r.A), fmtOptional(r.B), fmtOptional(r.Diff), rel, overlap, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, id := range []string{idA, idB} {
		if names := onlyIn[id]; len(names) > 0 {
			if _, err := fmt.Fprintf(w, "only in %s: %s\n", id, strings.Join(names, ", ")); err != nil {
				return err
			}
		}
	}
	return nil
}

// fmtOptional prints a value with four significant digits, "-" when missing.
func fmtOptional(x *float64) string {
	if x == nil {
		return "-"
	}
	return strconv.FormatFloat(*x, 'g', 4, 64)
}
