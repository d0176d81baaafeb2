package report

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pixel sizes at vgimg's default 96 DPI: 8x4.5 inches, and 8x6 for the
// stacked training figure.
const (
	wantPlotW, wantPlotH         = 768, 432
	wantTrainingH                = 576
	savePlotsEnv                 = "GRL_SAVE_PLOTS" // a directory to write the test PNGs into, to look at them
	plotSLOMs                    = 250.0
	plotServices                 = "frontend,cart"
	plotSteps                    = 120
	plotStepSeconds              = 15.0
	plotAgent, plotHPA           = "gnn-ppo", "hpa-cpu70"
	plotStatic, plotInvalidAgent = "static-3", "mlp-ppo"
)

// plotSeries is a run's series with two services whose replicas follow a
// daily-ish wave, phase-shifted per controller, and a p95 latency with a
// gap (NaN) where a step had no requests.
func plotSeries(phase float64) *Series {
	s := &Series{Services: strings.Split(plotServices, ","), Columns: map[string][]float64{}}
	for i := range plotSteps {
		t := float64(i) * plotStepSeconds
		wave := math.Sin(t/300 + phase)
		s.Columns["time_s"] = append(s.Columns["time_s"], t)
		s.Columns["frontend_replicas"] = append(s.Columns["frontend_replicas"], math.Round(4+3*wave))
		s.Columns["cart_replicas"] = append(s.Columns["cart_replicas"], math.Round(2+wave))
		p95 := 180 + 120*wave
		if i == 40 {
			p95 = math.NaN()
		}
		s.Columns["p95_ms"] = append(s.Columns["p95_ms"], p95)
	}
	return s
}

func plotSeriesMap() map[string]*Series {
	return map[string]*Series{plotAgent: plotSeries(0), plotHPA: plotSeries(1)}
}

func plotStat(mean, halfWidth float64, n int) Stat {
	return Stat{Mean: mean, Std: halfWidth, CI95Low: mean - halfWidth, CI95High: mean + halfWidth, N: n}
}

func plotControllers() []Controller {
	c := func(name, kind string, valid bool, cost, slo float64) Controller {
		return Controller{Name: name, Kind: kind, Valid: valid, Metrics: map[string]Stat{
			MetricCost: plotStat(cost, cost/20, 5), MetricSLOViolation: plotStat(slo, 0.01, 5),
		}}
	}
	invalid := c(plotInvalidAgent, KindAgent, false, 5200, 0.2)
	invalid.Invalid = []string{"run 3: pods crash-looped"}
	return []Controller{
		c(plotAgent, KindAgent, true, 6000, 0.03),
		c(plotHPA, KindHPA, true, 7500, 0.05),
		c(plotStatic, KindStatic, true, 9000, 0.01),
		invalid,
		// No valid run: no statistics, left out of the plot.
		{Name: "never-ran", Kind: KindHPA, Metrics: map[string]Stat{}},
	}
}

func plotTraining() []Training {
	var out []Training
	for a, name := range []string{plotAgent, plotInvalidAgent} {
		tr := Training{Agent: name}
		for i := range 20 {
			tr.Chunks = append(tr.Chunks, TrainingChunk{
				Chunk: i, Step: int64(i+1) * 2048,
				MeanEpisodeReward: -100 + 80*(1-math.Exp(-float64(i)/5)) + float64(a)*5,
				PolicyLoss:        0.05 * math.Exp(-float64(i)/8),
				ValueLoss:         400 * math.Exp(-float64(i)/6),
			})
		}
		out = append(out, tr)
	}
	return out
}

// plotCase renders one figure from the test inputs.
type plotCase struct {
	name          string
	width, height int
	render        func(*bytes.Buffer) error
}

func plotCases() []plotCase {
	return []plotCase{
		{"replicas", wantPlotW, wantPlotH, func(b *bytes.Buffer) error {
			return PlotReplicas(b, "Replicas: peak scenario", plotSeriesMap(), strings.Split(plotServices, ","))
		}},
		{"replicas one service", wantPlotW, wantPlotH, func(b *bytes.Buffer) error {
			return PlotReplicas(b, "Replicas of frontend", plotSeriesMap(), []string{"frontend"})
		}},
		{"p95", wantPlotW, wantPlotH, func(b *bytes.Buffer) error {
			return PlotP95(b, "p95 latency: peak scenario", plotSeriesMap(), plotSLOMs)
		}},
		{"cost vs slo", wantPlotW, wantPlotH, func(b *bytes.Buffer) error {
			return PlotCostVsSLO(b, "Cost vs SLO violations (test runs, 95 % CI)", plotControllers())
		}},
		{"training", wantPlotW, wantTrainingH, func(b *bytes.Buffer) error {
			return PlotTraining(b, "Training", plotTraining())
		}},
	}
}

func TestPlotsArePNGsOfTheDocumentedSize(t *testing.T) {
	for _, tc := range plotCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := tc.render(&b); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if got := img.Bounds().Size(); got.X != tc.width || got.Y != tc.height {
				t.Errorf("size %v, want %dx%d", got, tc.width, tc.height)
			}
			if dir := os.Getenv(savePlotsEnv); dir != "" {
				if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".png"), b.Bytes(), 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestPlotsAreDeterministic(t *testing.T) {
	for _, tc := range plotCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a, b bytes.Buffer
			if err := tc.render(&a); err != nil {
				t.Fatal(err)
			}
			if err := tc.render(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("two renderings of the same input differ (%d and %d bytes)", a.Len(), b.Len())
			}
		})
	}
}

// TestPlotReplicasDrawsEachController checks that the controllers are
// actually drawn: removing one changes the image.
func TestPlotReplicasDrawsEachController(t *testing.T) {
	var both, one bytes.Buffer
	if err := PlotReplicas(&both, "r", plotSeriesMap(), []string{"frontend"}); err != nil {
		t.Fatal(err)
	}
	if err := PlotReplicas(&one, "r", map[string]*Series{plotAgent: plotSeries(0)}, []string{"frontend"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(both.Bytes(), one.Bytes()) {
		t.Error("plot with two controllers is identical to the plot with one")
	}
}

func TestPlotsRejectMissingData(t *testing.T) {
	noP95 := plotSeries(0)
	delete(noP95.Columns, "p95_ms")
	allNaN := plotSeries(0)
	for i := range allNaN.Columns["p95_ms"] {
		allNaN.Columns["p95_ms"][i] = math.NaN()
	}
	short := plotSeries(0)
	short.Columns["frontend_replicas"] = short.Columns["frontend_replicas"][:3]
	cases := []struct {
		name    string
		render  func() error
		noData  bool // the error wraps ErrNoData
		wantErr string
	}{
		{"replicas without series", func() error { return PlotReplicas(&bytes.Buffer{}, "t", nil, []string{"frontend"}) }, true, "no series"},
		{"replicas with a nil series", func() error {
			return PlotReplicas(&bytes.Buffer{}, "t", map[string]*Series{plotAgent: nil}, []string{"frontend"})
		}, true, `controller "gnn-ppo" has a nil series`},
		{"replicas without services", func() error { return PlotReplicas(&bytes.Buffer{}, "t", plotSeriesMap(), nil) }, true, "no services"},
		{"replicas of an unknown service", func() error {
			return PlotReplicas(&bytes.Buffer{}, "t", plotSeriesMap(), []string{"payment"})
		}, false, "no column payment_replicas"},
		{"replicas column shorter than time", func() error {
			return PlotReplicas(&bytes.Buffer{}, "t", map[string]*Series{plotAgent: short}, []string{"frontend"})
		}, false, "120 times but 3 values"},
		{"p95 without series", func() error { return PlotP95(&bytes.Buffer{}, "t", map[string]*Series{}, plotSLOMs) }, true, "no series"},
		{"p95 without its column", func() error {
			return PlotP95(&bytes.Buffer{}, "t", map[string]*Series{plotAgent: noP95}, plotSLOMs)
		}, false, "no column p95_ms"},
		{"p95 all NaN", func() error {
			return PlotP95(&bytes.Buffer{}, "t", map[string]*Series{plotAgent: allNaN}, plotSLOMs)
		}, true, "no finite values in column p95_ms"},
		{"cost vs slo without controllers", func() error { return PlotCostVsSLO(&bytes.Buffer{}, "t", nil) }, true, "no controllers"},
		{"cost vs slo without statistics", func() error {
			return PlotCostVsSLO(&bytes.Buffer{}, "t", []Controller{{Name: "x", Metrics: map[string]Stat{MetricCost: plotStat(1, 0, 1)}}})
		}, true, "no controller has both cost_replica_seconds and slo_violation_rate"},
		{"training without agents", func() error { return PlotTraining(&bytes.Buffer{}, "t", nil) }, true, "no agents' training curves"},
		{"training without chunks", func() error {
			return PlotTraining(&bytes.Buffer{}, "t", []Training{{Agent: plotAgent}})
		}, true, "no agent has a training chunk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.render()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNoData) != tc.noData {
				t.Errorf("errors.Is(%v, ErrNoData) = %v, want %v", err, !tc.noData, tc.noData)
			}
		})
	}
}
