package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
)

// HTMLMetrics are the metrics of the HTML page's controller table.
var HTMLMetrics = []string{MetricCost, MetricSLOViolation, MetricLatencyP95, MetricErrorRate, MetricScalingActions}

// pngSignature starts every PNG file (PNG specification, section 5.2).
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and the plots as data: URIs, so that the file works offline and can be
// mailed or attached as it is. plots maps a name (the caption) to PNG
// bytes, shown in sorted order; markdownTable (the controller table as
// Markdown, may be empty) is included verbatim, collapsed, for pasting
// into a review. Every value is escaped by html/template.
func WriteHTML(w io.Writer, r *Report, markdownTable string, plots map[string][]byte) error {
	if r == nil {
		return fmt.Errorf("write HTML: %w: no report", ErrNoData)
	}
	names := make([]string, 0, len(plots))
	for name, data := range plots {
		if !bytes.HasPrefix(data, pngSignature) {
			return fmt.Errorf("write HTML: plot %q is not a PNG (%d bytes)", name, len(data))
		}
		names = append(names, name)
	}
	slices.Sort(names)
	page := htmlPage{Report: r, Metrics: HTMLMetrics, MarkdownTable: markdownTable}
	for _, name := range names {
		page.Plots = append(page.Plots, htmlPlot{
			Name: name,
			// Trusted: the bytes were checked to be a PNG and are base64, which
			// cannot break out of the attribute.
			Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(plots[name])),
		})
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, page); err != nil {
		return fmt.Errorf("write HTML of experiment %q: %w", r.ExperimentID, err)
	}
	_, err := b.WriteTo(w)
	return err
}

type htmlPage struct {
	*Report
	Metrics       []string
	MarkdownTable string
	Plots         []htmlPlot
}

type htmlPlot struct {
	Name string
	Src  template.URL
}

// num formats a statistic for the page: four significant digits, and a
// dash for what JSON cannot hold anyway (NaN, infinities).
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num,
	// stat is the metric's statistic, nil without a valid run.
	"stat": func(m map[string]Stat, name string) *Stat {
		if s, ok := m[name]; ok && s.N > 0 {
			return &s
		}
		return nil
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Experiment {{.Name}} ({{.ExperimentID}})</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci, .n { color: #666; font-size: 0.8rem; }
.invalid { color: #a00; }
tr.invalid td { background: #fff4f4; }
.meta { color: #555; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>Experiment {{.Name}} <span class="meta">({{.ExperimentID}})</span></h1>
<p class="meta">App {{.App}}, SLO p95 &le; {{num .SLOMs}} ms, spec hash <code>{{.SpecHash}}</code>, report schema {{.SchemaVersion}}.
Means with 95 % confidence intervals (Student's t) over the valid test runs; validation runs only choose the best HPA and the best agent per scenario.</p>
<h2>Summary</h2>
<p>{{.Summary}}</p>

<h2>Controllers (all scenarios)</h2>
<table id="controllers">
<thead><tr><th>controller</th><th>kind</th><th>valid</th>{{range .Metrics}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- $metrics := .Metrics}}
{{- range .Controllers}}
<tr{{if not .Valid}} class="invalid"{{end}}><td>{{.Name}}</td><td>{{.Kind}}</td>
<td>{{if .Valid}}yes{{else}}<span class="invalid">no</span>{{range .Invalid}}<br>{{.}}{{end}}{{end}}</td>
{{- $c := .}}
{{- range $metrics}}
<td class="num">{{with stat $c.Metrics .}}{{num .Mean}}<br>{{if ge .N 2}}<span class="ci">[{{num .CI95Low}}, {{num .CI95High}}]</span> {{end}}<span class="n">n={{.N}}</span>{{else}}–{{end}}</td>
{{- end}}
</tr>
{{- end}}
</tbody>
</table>
{{- if .MarkdownTable}}
<details><summary>Markdown table</summary>
<pre>{{.MarkdownTable}}</pre>
</details>
{{- end}}

<h2>Best HPA per scenario</h2>
{{- range .BestHPA}}
<h3>{{.Scenario}}: {{.Name}}</h3>
<p>Criterion: {{.Criterion}}.</p>
<table class="candidates">
<thead><tr><th>candidate</th><th>valid</th><th>slo_violation_rate</th><th>cost_replica_seconds</th></tr></thead>
<tbody>
{{- $chosen := .Name}}
{{- range .Candidates}}
<tr{{if not .Valid}} class="invalid"{{end}}><td>{{.Name}}{{if eq .Name $chosen}} (chosen){{end}}</td><td>{{if .Valid}}yes{{else}}no{{end}}</td><td class="num">{{num .SLOViolationRate}}</td><td class="num">{{num .CostReplicaSecs}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No HPA configuration was chosen.</p>
{{- end}}

<h2>Paired comparisons</h2>
{{- if .Comparisons}}
<p>Differences agent &minus; baseline over the test runs that share a seed, with 95 % confidence intervals and the paired t-test's two-sided p-value.</p>
<table id="comparisons">
<thead><tr><th>agent</th><th>baseline</th><th>scenario</th><th>metric</th><th>n</th><th>mean difference [95 % CI]</th><th>p-value</th></tr></thead>
<tbody>
{{- range .Comparisons}}
<tr><td>{{.Agent}}</td><td>{{.Baseline}}</td><td>{{.Scenario}}</td><td>{{.Metric}}</td><td class="num">{{.N}}</td><td class="num">{{num .MeanDiff}} <span class="ci">{{.Interval}}</span></td><td class="num">{{.P}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No paired comparisons.</p>
{{- end}}

<h2>Plots</h2>
{{- range .Plots}}
<figure><img src="{{.Src}}" alt="{{.Name}}"><figcaption>{{.Name}}</figcaption></figure>
{{- else}}
<p>No plots.</p>
{{- end}}

<h2>Training</h2>
{{- range .Training}}
<h3>{{.Agent}}</h3>
<table class="training">
<thead><tr><th>chunk</th><th>step</th><th>mean episode reward</th><th>policy loss</th><th>value loss</th><th>entropy</th></tr></thead>
<tbody>
{{- range .Chunks}}
<tr><td class="num">{{.Chunk}}</td><td class="num">{{.Step}}</td><td class="num">{{num .MeanEpisodeReward}}</td><td class="num">{{num .PolicyLoss}}</td><td class="num">{{num .ValueLoss}}</td><td class="num">{{num .Entropy}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No training curves (no agent was trained in this experiment).</p>
{{- end}}
</body>
</html>
`))
