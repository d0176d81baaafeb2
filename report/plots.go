package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ErrNoData is wrapped by the Plot functions' errors when their input has
// nothing to draw; the message names what is missing.
var ErrNoData = errors.New("nothing to plot")

// Plot sizes: wide enough for a time axis of a few hundred steps in a
// page's column, at vgimg's default 96 DPI (768x432 pixels). The training
// figure stacks three panels and needs more height.
const (
	plotWidth          = 8 * vg.Inch
	plotHeight         = 4.5 * vg.Inch
	trainingPlotHeight = 6 * vg.Inch
)

// plotPalette is Okabe and Ito's colour-blind-safe palette ("Color Universal
// Design", 2008), without its black, which the axes and SLO line use.
var plotPalette = []color.Color{
	color.RGBA{R: 0x00, G: 0x72, B: 0xB2, A: 0xFF}, // blue
	color.RGBA{R: 0xE6, G: 0x9F, B: 0x00, A: 0xFF}, // orange
	color.RGBA{R: 0x00, G: 0x9E, B: 0x73, A: 0xFF}, // bluish green
	color.RGBA{R: 0xD5, G: 0x5E, B: 0x00, A: 0xFF}, // vermillion
	color.RGBA{R: 0xCC, G: 0x79, B: 0xA7, A: 0xFF}, // reddish purple
	color.RGBA{R: 0x56, G: 0xB4, B: 0xE9, A: 0xFF}, // sky blue
	color.RGBA{R: 0xF0, G: 0xE4, B: 0x42, A: 0xFF}, // yellow
}

// invalidColor draws invalid controllers, which must not look like
// contenders.
var invalidColor = color.Gray{Y: 0x99}

// plotDashes tell controllers apart where colour is spent on something else
// (services in PlotReplicas) and keep lines distinguishable in greyscale.
var plotDashes = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(2), vg.Points(2)},
	{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)},
	{vg.Points(12), vg.Points(4)},
}

func plotColor(i int) color.Color { return plotPalette[i%len(plotPalette)] }
func plotDash(i int) []vg.Length  { return plotDashes[i%len(plotDashes)] }

// kindGlyph gives each controller kind its own marker in PlotCostVsSLO.
var kindGlyph = map[string]draw.GlyphDrawer{
	KindAgent:  draw.CircleGlyph{},
	KindHPA:    draw.SquareGlyph{},
	KindStatic: draw.TriangleGlyph{},
}

// PlotReplicas plots the replicas of each of services over time, one line
// per (controller, service); controllers are series' keys, drawn in sorted
// order. With one service each controller has its own colour and dash
// pattern; with several, a service keeps its colour across controllers
// and the dash pattern tells the controllers apart, so that the lines to
// compare look alike.
func PlotReplicas(w io.Writer, title string, series map[string]*Series, services []string) error {
	names, err := seriesNames("replicas", series)
	if err != nil {
		return err
	}
	if len(services) == 0 {
		return fmt.Errorf("plot replicas: %w: no services given", ErrNoData)
	}
	p := newPlot(title, "time (s)", "replicas")
	p.Y.Min = 0
	drawn := 0
	for ci, name := range names {
		for si, svc := range services {
			col := svc + "_replicas"
			ys := series[name].Column(col)
			if ys == nil {
				return fmt.Errorf("plot replicas: series of controller %q has no column %s (it has services %v)", name, col, series[name].Services)
			}
			style := lineStyle(plotColor(ci), plotDash(ci))
			label := name
			if len(services) > 1 {
				style.Color = plotColor(si)
				label = name + ": " + svc
			}
			n, err := addLine(p, label, series[name].Time(), ys, style, plotter.PostStep)
			if err != nil {
				return fmt.Errorf("plot replicas: controller %q column %s: %w", name, col, err)
			}
			drawn += n
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot replicas: %w: no finite replica counts in columns %v", ErrNoData, withSuffix(services, "_replicas"))
	}
	legendHeadroom(p)
	return writePNG(w, p, plotWidth, plotHeight)
}

// PlotP95 plots each controller's p95 latency (column p95_ms) over time,
// with the SLO as a black dashed line when sloMs is positive.
func PlotP95(w io.Writer, title string, series map[string]*Series, sloMs float64) error {
	names, err := seriesNames("p95 latency", series)
	if err != nil {
		return err
	}
	p := newPlot(title, "time (s)", "p95 latency (ms)")
	p.Y.Min = 0
	drawn := 0
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, name := range names {
		ys := series[name].Column("p95_ms")
		if ys == nil {
			return fmt.Errorf("plot p95 latency: series of controller %q has no column p95_ms", name)
		}
		n, err := addLine(p, name, series[name].Time(), ys, lineStyle(plotColor(i), plotDash(i)), plotter.NoStep)
		if err != nil {
			return fmt.Errorf("plot p95 latency: controller %q: %w", name, err)
		}
		drawn += n
		for _, t := range series[name].Time() {
			if isFinite(t) {
				xmin, xmax = min(xmin, t), max(xmax, t)
			}
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot p95 latency: %w: no finite values in column p95_ms", ErrNoData)
	}
	if sloMs > 0 && isFinite(sloMs) {
		slo, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: sloMs}, {X: xmax, Y: sloMs}})
		if err != nil {
			return fmt.Errorf("plot p95 latency: SLO line: %w", err)
		}
		slo.LineStyle = lineStyle(color.Black, []vg.Length{vg.Points(4), vg.Points(4)})
		p.Add(slo)
		p.Legend.Add(fmt.Sprintf("SLO %g ms", sloMs), slo)
	}
	legendHeadroom(p)
	return writePNG(w, p, plotWidth, plotHeight)
}

// PlotCostVsSLO plots each controller's mean cost (replica-seconds, x)
// against its mean SLO violation rate (y), with 95 % confidence intervals
// as error bars and the controller's name next to its point. A marker
// shape per kind; invalid controllers are hollow, grey and labelled
// "(invalid)". Controllers without both statistics (no valid run) are left
// out.
func PlotCostVsSLO(w io.Writer, title string, controllers []Controller) error {
	if len(controllers) == 0 {
		return fmt.Errorf("plot cost vs SLO: %w: no controllers", ErrNoData)
	}
	p := newPlot(title, "mean cost (replica-seconds)", "mean SLO violation rate")
	var (
		xErr   xErrors
		yErr   yErrors
		labels plotter.XYLabels
		kinds  []string
		drawn  int
	)
	for i, c := range controllers {
		x, okX := c.Metrics[MetricCost]
		y, okY := c.Metrics[MetricSLOViolation]
		if !okX || !okY || x.N == 0 || y.N == 0 || !isFinite(x.Mean) || !isFinite(y.Mean) {
			continue
		}
		pt := plotter.XY{X: x.Mean, Y: y.Mean}
		s, err := plotter.NewScatter(plotter.XYs{pt})
		if err != nil {
			return fmt.Errorf("plot cost vs SLO: controller %q: %w", c.Name, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: plotColor(i), Radius: vg.Points(4), Shape: glyphFor(c.Kind)}
		label := c.Name
		if !c.Valid {
			s.GlyphStyle.Color = invalidColor
			s.GlyphStyle.Shape = draw.RingGlyph{}
			label += " (invalid)"
		}
		p.Add(s)
		drawn++
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
		labels.XYs = append(labels.XYs, pt)
		labels.Labels = append(labels.Labels, label)
		if lo, hi, ok := ciHalfWidths(x); ok {
			xErr = append(xErr, errPoint{XY: pt, lo: lo, hi: hi})
		}
		if lo, hi, ok := ciHalfWidths(y); ok {
			yErr = append(yErr, errPoint{XY: pt, lo: lo, hi: hi})
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot cost vs SLO: %w: no controller has both %s and %s", ErrNoData, MetricCost, MetricSLOViolation)
	}
	if len(xErr) > 0 {
		bars, err := plotter.NewXErrorBars(xErr)
		if err != nil {
			return fmt.Errorf("plot cost vs SLO: cost intervals: %w", err)
		}
		bars.Color = color.Gray{Y: 0x60}
		p.Add(bars)
	}
	if len(yErr) > 0 {
		bars, err := plotter.NewYErrorBars(yErr)
		if err != nil {
			return fmt.Errorf("plot cost vs SLO: SLO violation intervals: %w", err)
		}
		bars.Color = color.Gray{Y: 0x60}
		p.Add(bars)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("plot cost vs SLO: labels: %w", err)
	}
	l.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(3)}
	p.Add(l)
	// The legend explains the marker shapes; names are on the points.
	slices.Sort(kinds)
	for _, k := range kinds {
		p.Legend.Add(k, glyphThumb{draw.GlyphStyle{Color: color.Black, Radius: vg.Points(4), Shape: glyphFor(k)}})
	}
	p.Y.Min = min(p.Y.Min, 0)
	// Room for the labels right of the rightmost point and above the top one.
	p.X.Max += (p.X.Max - p.X.Min) * 0.15
	legendHeadroom(p)
	return writePNG(w, p, plotWidth, plotHeight)
}

// PlotTraining plots the agents' training curves in three stacked
// panels against the training step: mean episode reward per chunk, then
// policy loss and value loss side by side (their scales differ by orders
// of magnitude). Each agent keeps its colour and dash pattern in all
// three.
func PlotTraining(w io.Writer, title string, training []Training) error {
	if len(training) == 0 {
		return fmt.Errorf("plot training: %w: no agents' training curves", ErrNoData)
	}
	reward := newPlot(title, "step", "mean episode reward")
	policy := newPlot("policy loss", "step", "")
	value := newPlot("value loss", "step", "")
	drawn := 0
	for i, tr := range training {
		if len(tr.Chunks) == 0 {
			continue
		}
		xs := make([]float64, len(tr.Chunks))
		rs := make([]float64, len(tr.Chunks))
		ps := make([]float64, len(tr.Chunks))
		vs := make([]float64, len(tr.Chunks))
		for j, c := range tr.Chunks {
			xs[j], rs[j], ps[j], vs[j] = float64(c.Step), c.MeanEpisodeReward, c.PolicyLoss, c.ValueLoss
		}
		style := lineStyle(plotColor(i), plotDash(i))
		for _, panel := range []struct {
			p     *plot.Plot
			ys    []float64
			label string
		}{{reward, rs, tr.Agent}, {policy, ps, ""}, {value, vs, ""}} {
			n, err := addLine(panel.p, panel.label, xs, panel.ys, style, plotter.NoStep)
			if err != nil {
				return fmt.Errorf("plot training: agent %q: %w", tr.Agent, err)
			}
			drawn += n
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot training: %w: no agent has a training chunk with finite values", ErrNoData)
	}
	legendHeadroom(reward)
	img := vgimg.New(plotWidth, trainingPlotHeight)
	dc := draw.New(img)
	rows := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(6)}
	reward.Draw(rows.At(dc, 0, 0))
	losses := plot.Align([][]*plot.Plot{{policy, value}}, draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(12)}, rows.At(dc, 0, 1))
	policy.Draw(losses[0][0])
	value.Draw(losses[0][1])
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("plot training: write PNG: %w", err)
	}
	return nil
}

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func lineStyle(c color.Color, d []vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: d}
}

// addLine draws ys against xs, broken where either is NaN or infinite
// (a step without requests has no latency), and adds label to the legend
// unless it is empty. It returns how many points it drew.
func addLine(p *plot.Plot, label string, xs, ys []float64, style draw.LineStyle, step plotter.StepKind) (int, error) {
	if len(xs) != len(ys) {
		return 0, fmt.Errorf("%d times but %d values", len(xs), len(ys))
	}
	var first *plotter.Line
	drawn := 0
	for i := 0; i < len(xs); {
		var seg plotter.XYs
		for ; i < len(xs) && isFinite(xs[i]) && isFinite(ys[i]); i++ {
			seg = append(seg, plotter.XY{X: xs[i], Y: ys[i]})
		}
		i++ // past the gap
		if len(seg) == 0 {
			continue
		}
		l, err := plotter.NewLine(seg)
		if err != nil {
			return 0, err
		}
		l.LineStyle, l.StepStyle = style, step
		p.Add(l)
		drawn += len(seg)
		if first == nil {
			first = l
		}
		if len(seg) == 1 {
			// A lone point has no line to show it.
			s, err := plotter.NewScatter(seg)
			if err != nil {
				return 0, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
			p.Add(s)
		}
	}
	if first != nil && label != "" {
		p.Legend.Add(label, first)
	}
	return drawn, nil
}

// legendHeadroom makes room above the data for the legend, drawn at the top.
func legendHeadroom(p *plot.Plot) {
	if p.Y.Max > p.Y.Min {
		p.Y.Max += (p.Y.Max - p.Y.Min) * 0.25
	}
}

func seriesNames(what string, series map[string]*Series) ([]string, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("plot %s: %w: no series", what, ErrNoData)
	}
	names := make([]string, 0, len(series))
	for name, s := range series {
		if s == nil {
			return nil, fmt.Errorf("plot %s: %w: controller %q has a nil series", what, ErrNoData, name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func glyphFor(kind string) draw.GlyphDrawer {
	if g, ok := kindGlyph[kind]; ok {
		return g
	}
	return draw.CircleGlyph{}
}

// ciHalfWidths returns how far s's confidence interval reaches below and
// above its mean, if it is usable (finite, around the mean).
func ciHalfWidths(s Stat) (lo, hi float64, ok bool) {
	lo, hi = s.Mean-s.CI95Low, s.CI95High-s.Mean
	if !isFinite(lo) || !isFinite(hi) || lo < 0 || hi < 0 || lo+hi == 0 {
		return 0, 0, false
	}
	return lo, hi, true
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func withSuffix(names []string, suffix string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + suffix
	}
	return strings.Join(out, ", ")
}

func writePNG(w io.Writer, p *plot.Plot, width, height vg.Length) error {
	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return fmt.Errorf("render %q: %w", p.Title.Text, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("write PNG %q: %w", p.Title.Text, err)
	}
	return nil
}

// errPoint is a point with an asymmetric interval, for the error bar
// plotters, which take the distances below and above the point.
type errPoint struct {
	plotter.XY
	lo, hi float64
}

type xErrors []errPoint

func (e xErrors) Len() int                        { return len(e) }
func (e xErrors) XY(i int) (float64, float64)     { return e[i].X, e[i].Y }
func (e xErrors) XError(i int) (float64, float64) { return e[i].lo, e[i].hi }

type yErrors []errPoint

func (e yErrors) Len() int                        { return len(e) }
func (e yErrors) XY(i int) (float64, float64)     { return e[i].X, e[i].Y }
func (e yErrors) YError(i int) (float64, float64) { return e[i].lo, e[i].hi }

// glyphThumb draws a legend entry's marker.
type glyphThumb struct{ style draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) { c.DrawGlyph(g.style, c.Center()) }
