package report

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

const scriptName = "<script>alert(1)</script>"

// tinyPNG is a w x h PNG, standing in for a plot.
func tinyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func htmlTestReport() *Report {
	controllers := plotControllers()
	evil := controllers[0]
	evil.Name = scriptName
	controllers = append(controllers, evil)
	return &Report{
		SchemaVersion: SchemaVersion, ExperimentID: "exp-42", Name: "peak & trough", SpecHash: "abc123", App: "onlineboutique",
		SLOMs: plotSLOMs, Summary: "gnn-ppo is 20 % cheaper than hpa-cpu70 at a similar SLO violation rate.",
		Controllers: controllers,
		BestHPA: []BestHPA{{Scenario: "peak", Name: plotHPA, Criterion: "lowest mean slo_violation_rate",
			Candidates: []Candidate{{Name: plotHPA, Valid: true, SLOViolationRate: 0.05, CostReplicaSecs: 7500}, {Name: "hpa-cpu50", Valid: false}}}},
		Comparisons: []Comparison{{Agent: plotAgent, Baseline: plotHPA, Scenario: "peak", Metric: MetricCost, N: 5,
			MeanDiff: -1500, Inferred: true, CI95Low: ptr(-1800), CI95High: ptr(-1200), T: ptr(-9), PValue: ptr(0.0004)}},
		Training: plotTraining(),
	}
}

func ptr(x float64) *float64 { return &x }

// walk calls f on every node of the tree under n.
func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func TestWriteHTMLIsASelfContainedPage(t *testing.T) {
	r := htmlTestReport()
	plots := map[string][]byte{"b-p95": tinyPNG(t, 3, 2), "a-cost-vs-slo": tinyPNG(t, 5, 4)}
	var b bytes.Buffer
	if err := WriteHTML(&b, r, "| controller |\n|---|\n| gnn-ppo |\n", plots); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}

	var (
		imgs       []*html.Node
		scripts    int
		links      int
		firstCells []string // each controller row's name cell
	)
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "img":
			imgs = append(imgs, n)
		case "script":
			scripts++
		case "link":
			links++
		case "table":
			if attr(n, "id") != "controllers" {
				return
			}
			walk(n, func(tr *html.Node) {
				if tr.Type == html.ElementNode && tr.Data == "tr" {
					for td := tr.FirstChild; td != nil; td = td.NextSibling {
						if td.Type == html.ElementNode && td.Data == "td" {
							firstCells = append(firstCells, text(td))
							break
						}
					}
				}
			})
		}
	})

	t.Run("controllers listed by name", func(t *testing.T) {
		var want []string
		for _, c := range r.Controllers {
			want = append(want, c.Name)
		}
		if !slices.Equal(firstCells, want) {
			t.Errorf("controller table rows %q, want %q", firstCells, want)
		}
	})
	t.Run("names are escaped", func(t *testing.T) {
		if scripts != 0 {
			t.Errorf("%d <script> elements; the controller named %s was not escaped", scripts, scriptName)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("the escaped controller name is missing")
		}
		if !strings.Contains(page, "peak &amp; trough") {
			t.Error("the experiment's name is not escaped")
		}
	})
	t.Run("plots embedded in sorted order", func(t *testing.T) {
		if links != 0 {
			t.Errorf("%d <link> elements; the page must not load anything", links)
		}
		if len(imgs) != 2 {
			t.Fatalf("%d images, want 2", len(imgs))
		}
		for i, want := range []struct {
			alt  string
			w, h int
		}{{"a-cost-vs-slo", 5, 4}, {"b-p95", 3, 2}} {
			if got := attr(imgs[i], "alt"); got != want.alt {
				t.Errorf("image %d is %q, want %q", i, got, want.alt)
			}
			b64, ok := strings.CutPrefix(attr(imgs[i], "src"), "data:image/png;base64,")
			if !ok {
				t.Fatalf("image %d src %.40q is not a PNG data URI", i, attr(imgs[i], "src"))
			}
			data, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("image %d: %v", i, err)
			}
			if got := img.Bounds().Size(); got.X != want.w || got.Y != want.h {
				t.Errorf("image %d is %v, want %dx%d", i, got, want.w, want.h)
			}
		}
	})
	t.Run("sections", func(t *testing.T) {
		body := text(doc)
		for _, want := range []string{
			r.Summary,
			"run 3: pods crash-looped",                 // an invalid reason
			"6000[5700, 6300] n=5",                     // a mean, its CI and n
			"lowest mean slo_violation_rate",           // the best HPA's criterion
			"hpa-cpu70 (chosen)",                       // and its candidates
			"hpa-cpu50",                                //
			"gnn-ppohpa-cpu70peakcost_replica_seconds", // a comparison row
			"-1500 [-1800, -1200]",                     //
			"0.0004",                                   // its p-value
			"| gnn-ppo |",                              // the Markdown table
			"mean episode reward",                      // the training table
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page text lacks %q", want)
			}
		}
	})
}

func TestWriteHTMLRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		r       *Report
		plots   map[string][]byte
		noData  bool
		wantErr string
	}{
		{"no report", nil, nil, true, "no report"},
		{"a plot that is not a PNG", htmlTestReport(), map[string][]byte{"p95": []byte("GIF89a")}, false, `plot "p95" is not a PNG`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteHTML(&b, tc.r, "", tc.plots)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNoData) != tc.noData {
				t.Errorf("errors.Is(%v, ErrNoData) = %v, want %v", err, !tc.noData, tc.noData)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", b.Len())
			}
		})
	}
}

func TestWriteHTMLIsDeterministic(t *testing.T) {
	plots := map[string][]byte{"c": tinyPNG(t, 1, 1), "a": tinyPNG(t, 2, 1), "b": tinyPNG(t, 1, 2)}
	var first bytes.Buffer
	if err := WriteHTML(&first, htmlTestReport(), "", plots); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var again bytes.Buffer
		if err := WriteHTML(&again, htmlTestReport(), "", plots); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatal("two pages of the same report differ")
		}
	}
}
