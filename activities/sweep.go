package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// SweepSchemaVersion is sweep.json's schema_version.
const SweepSchemaVersion = 1

// sweepJSONObject is the sweep's aggregate; its Markdown is the sweep's
// reports/report.md, so that grlctl report prints it.
const sweepJSONObject = reportsDir + "/sweep.json"

// SweepMember is one experiment as the sweep report lists it.
type SweepMember struct {
	Name  string           `json:"name"`
	Group string           `json:"group"`
	Combo []api.ComboValue `json:"combo"`
	// Report is the member's report.json key; Error why it failed.
	Report string `json:"report,omitempty"`
	Error  string `json:"error,omitempty"`
}

// SweepCell aggregates one controller's metric over a group's seeds: each
// member contributes its pooled mean.
type SweepCell struct {
	Group      string      `json:"group"`
	Controller string      `json:"controller"`
	Metric     string      `json:"metric"`
	Stat       report.Stat `json:"stat"`
	// Invalid counts members where the controller was invalid; their
	// values are left out.
	Invalid int `json:"invalid,omitempty"`
}

// Sweep is sweep.json.
type Sweep struct {
	SchemaVersion int           `json:"schema_version"`
	SweepID       string        `json:"sweep_id"`
	SpecHash      string        `json:"spec_hash"`
	Members       []SweepMember `json:"members"`
	Cells         []SweepCell   `json:"cells"`
}

// WriteSweepReport reads every completed member's report and aggregates
// each group's controllers across seeds (mean and 95 % confidence
// interval of the members' means), listing every member with its report
// or its failure.
func (a *Activities) WriteSweepReport(ctx context.Context, in api.SweepReportInput) (api.ReportResult, error) {
	spec := &in.Spec
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write sweep report %s: %w", in.SweepID, err)
	}
	sw := Sweep{SchemaVersion: SweepSchemaVersion, SweepID: in.SweepID, SpecHash: api.SpecHash(spec), Members: []SweepMember{}, Cells: []SweepCell{}}
	type cellKey struct{ group, controller, metric string }
	values := map[cellKey][]float64{}
	invalid := map[cellKey]int{}
	var order []cellKey
	for _, m := range in.Members {
		sm := SweepMember{Name: m.Name, Group: m.Group, Combo: m.Combo, Error: m.Error}
		if m.Report == nil {
			sw.Members = append(sw.Members, sm)
			continue
		}
		sm.Report = m.Report.JSONKey
		sw.Members = append(sw.Members, sm)
		var r report.Report
		if err := readJSON(ctx, store, m.Report.JSONKey, m.Report.JSONSHA256, &r); err != nil {
			return api.ReportResult{}, fmt.Errorf("write sweep report %s: report of %s: %w", in.SweepID, m.Name, err)
		}
		for _, c := range r.Controllers {
			for _, metric := range report.TableMetrics {
				k := cellKey{m.Group, c.Name, metric}
				if _, seen := values[k]; !seen {
					if _, seenInvalid := invalid[k]; !seenInvalid {
						order = append(order, k)
					}
				}
				if !c.Valid || c.Metrics[metric].N == 0 {
					invalid[k]++
					continue
				}
				values[k] = append(values[k], c.Metrics[metric].Mean)
			}
		}
	}
	for _, k := range order {
		sw.Cells = append(sw.Cells, SweepCell{Group: k.group, Controller: k.controller, Metric: k.metric, Stat: report.Summarize(values[k]), Invalid: invalid[k]})
	}
	js, err := json.MarshalIndent(sw, "", "  ")
	if err != nil {
		return api.ReportResult{}, err
	}
	mdInfo, err := objstore.PutVerified(ctx, store, experimentKey(spec, in.SweepID, api.ReportMarkdownObject), []byte(sweepMarkdown(&sw)))
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write sweep report %s: %w", in.SweepID, err)
	}
	jsInfo, err := objstore.PutVerified(ctx, store, experimentKey(spec, in.SweepID, sweepJSONObject), js)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write sweep report %s: %w", in.SweepID, err)
	}
	failed := 0
	for _, m := range sw.Members {
		if m.Error != "" {
			failed++
		}
	}
	summary := fmt.Sprintf("Sweep %s: %d experiments, %d failed; %d groups aggregated across seeds.", in.SweepID, len(sw.Members), failed, countGroups(sw.Cells))
	logger(ctx).Info("sweep report written", "key", jsInfo.Key, "members", len(sw.Members), "failed", failed)
	return api.ReportResult{JSONKey: jsInfo.Key, JSONSHA256: jsInfo.SHA256, MarkdownKey: mdInfo.Key, MarkdownSHA256: mdInfo.SHA256, Summary: summary}, nil
}

func countGroups(cells []SweepCell) int {
	seen := map[string]bool{}
	for _, c := range cells {
		seen[c.Group] = true
	}
	return len(seen)
}

func sweepMarkdown(sw *Sweep) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Sweep %s\n\nEach value is the mean over the group's seeds of every experiment's pooled mean, with its 95 %% confidence interval (Student's t).\n\n", sw.SweepID)
	b.WriteString("| group | controller | n |")
	for _, m := range report.TableMetrics {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(report.TableMetrics)) + "\n")
	type row struct{ group, controller string }
	cells := map[row]map[string]SweepCell{}
	var rows []row
	for _, c := range sw.Cells {
		r := row{c.Group, c.Controller}
		if cells[r] == nil {
			cells[r] = map[string]SweepCell{}
			rows = append(rows, r)
		}
		cells[r][c.Metric] = c
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d |", r.group, r.controller, cells[r][report.MetricCost].Stat.N)
		for _, m := range report.TableMetrics {
			s := cells[r][m].Stat
			if s.N == 0 {
				b.WriteString(" n/a |")
				continue
			}
			fmt.Fprintf(&b, " %.4g [%.4g, %.4g] |", s.Mean, s.CI95Low, s.CI95High)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Experiments\n\n| experiment | group | report |\n|---|---|---|\n")
	for _, m := range sw.Members {
		where := m.Report
		if m.Error != "" {
			where = "failed: " + m.Error
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m.Name, m.Group, where)
	}
	return b.String()
}
