package emulator

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/grlscaler/grlscaler/envs/sim"
)

// This file reads and evaluates the small part of PromQL that envs/k8s
// sends (metrics.go, queries): a selector with label matchers, rate() over
// it, sum with an optional by clause, histogram_quantile over a sum, and
// one division of two sums. It is not a PromQL engine on purpose: the
// prometheus/prometheus module is a very heavy dependency for a test
// fixture, and the twin's values are rates already, so there is no time
// series storage to evaluate range vectors over; a query outside the
// subset is refused with a bad_data error that names it.

// expr is a parsed query.
type expr interface{ String() string }

type matcher struct {
	label, op, value string
	re               *regexp.Regexp // for =~ and !~, anchored as PromQL does
}

func (m matcher) matches(labels map[string]string) bool {
	v := labels[m.label] // a missing label matches as the empty string
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default: // "!~"
		return !m.re.MatchString(v)
	}
}

type selectorExpr struct {
	metric   string
	matchers []matcher
}

func (s *selectorExpr) String() string { return s.metric + "{...}" }

// rateExpr is rate(selector[window]); the window is ignored because the
// twin's values are already per-second rates over its last step.
type rateExpr struct {
	sel    *selectorExpr
	window string
}

func (r *rateExpr) String() string { return "rate(" + r.sel.String() + "[" + r.window + "])" }

type sumExpr struct {
	by  []string
	arg expr
}

func (s *sumExpr) String() string {
	return "sum by (" + strings.Join(s.by, ", ") + ") (" + s.arg.String() + ")"
}

type quantileExpr struct {
	q   float64
	arg expr
}

func (q *quantileExpr) String() string {
	return "histogram_quantile(" + strconv.FormatFloat(q.q, 'f', -1, 64) + ", " + q.arg.String() + ")"
}

type divExpr struct{ l, r expr }

func (d *divExpr) String() string { return d.l.String() + " / " + d.r.String() }

// token kinds.
const (
	tokIdent = iota
	tokNumber
	tokString
	tokDuration
	tokPunct
)

type token struct {
	kind int
	text string
	pos  int
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// lex splits a query into tokens.
func lex(q string) ([]token, error) {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			out = append(out, token{tokIdent, q[i:j], i})
			i = j
		case (c >= '0' && c <= '9') || c == '.':
			j := i
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.' || q[j] == 'e' || q[j] == 'E' ||
				((q[j] == '+' || q[j] == '-') && (q[j-1] == 'e' || q[j-1] == 'E'))) {
				j++
			}
			out = append(out, token{tokNumber, q[i:j], i})
			i = j
		case c == '"':
			j := i + 1
			for j < len(q) && q[j] != '"' {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			s, err := strconv.Unquote(q[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad string at %d: %w", i, err)
			}
			out = append(out, token{tokString, s, i})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(q[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated range at %d", i)
			}
			out = append(out, token{tokDuration, strings.TrimSpace(q[i+1 : i+j]), i})
			i += j + 1
		case strings.HasPrefix(q[i:], "=~") || strings.HasPrefix(q[i:], "!~") || strings.HasPrefix(q[i:], "!="):
			out = append(out, token{tokPunct, q[i : i+2], i})
			i += 2
		case strings.ContainsRune("(){},=/", rune(c)):
			out = append(out, token{tokPunct, q[i : i+1], i})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at %d", c, i)
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
}

// errEnd means the query ended where more was expected.
var errEnd = errors.New("unexpected end of query")

func (p *parser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) next() (token, error) {
	t, ok := p.peek()
	if !ok {
		return token{}, errEnd
	}
	p.pos++
	return t, nil
}

func (p *parser) expect(kind int, text string) (token, error) {
	t, err := p.next()
	if err != nil {
		return t, fmt.Errorf("want %q: %w", text, err)
	}
	if t.kind != kind || (text != "" && t.text != text) {
		return t, fmt.Errorf("unexpected %q at %d, want %s", t.text, t.pos, describe(kind, text))
	}
	return t, nil
}

func describe(kind int, text string) string {
	if text != "" {
		return strconv.Quote(text)
	}
	return map[int]string{tokIdent: "a name", tokNumber: "a number", tokString: "a string", tokDuration: "a range"}[kind]
}

func (p *parser) isPunct(text string) bool {
	t, ok := p.peek()
	return ok && t.kind == tokPunct && t.text == text
}

// parseQuery parses the supported subset:
//
//	query    = term [ "/" term ]
//	term     = "histogram_quantile" "(" number "," term ")"
//	         | "sum" [ "by" "(" labels ")" ] "(" term ")"
//	         | "rate" "(" selector range ")"
//	         | selector
//	selector = metric [ "{" matcher { "," matcher } [ "," ] "}" ]
func parseQuery(q string) (expr, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	var e = l
	if p.isPunct("/") {
		p.pos++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		e = &divExpr{l: l, r: r}
	}
	if t, ok := p.peek(); ok {
		return nil, fmt.Errorf("unexpected %q at %d", t.text, t.pos)
	}
	return e, nil
}

func (p *parser) term() (expr, error) {
	t, err := p.expect(tokIdent, "")
	if err != nil {
		return nil, err
	}
	switch t.text {
	case "histogram_quantile":
		if _, err := p.expect(tokPunct, "("); err != nil {
			return nil, err
		}
		n, err := p.expect(tokNumber, "")
		if err != nil {
			return nil, err
		}
		q, err := strconv.ParseFloat(n.text, 64)
		if err != nil {
			return nil, fmt.Errorf("quantile %q: %w", n.text, err)
		}
		if _, err := p.expect(tokPunct, ","); err != nil {
			return nil, err
		}
		arg, err := p.term()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokPunct, ")"); err != nil {
			return nil, err
		}
		return &quantileExpr{q: q, arg: arg}, nil
	case "sum":
		s := &sumExpr{}
		if b, ok := p.peek(); ok && b.kind == tokIdent && b.text == "by" {
			p.pos++
			if s.by, err = p.labels(); err != nil {
				return nil, err
			}
		}
		if _, err := p.expect(tokPunct, "("); err != nil {
			return nil, err
		}
		if s.arg, err = p.term(); err != nil {
			return nil, err
		}
		if _, err := p.expect(tokPunct, ")"); err != nil {
			return nil, err
		}
		return s, nil
	case "rate":
		if _, err := p.expect(tokPunct, "("); err != nil {
			return nil, err
		}
		m, err := p.expect(tokIdent, "")
		if err != nil {
			return nil, err
		}
		sel, err := p.selector(m.text)
		if err != nil {
			return nil, err
		}
		w, err := p.expect(tokDuration, "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokPunct, ")"); err != nil {
			return nil, err
		}
		return &rateExpr{sel: sel, window: w.text}, nil
	}
	if n, ok := p.peek(); ok && (n.text == "(" || n.text == "by" || n.text == "without") {
		return nil, fmt.Errorf("unsupported function %s", t.text)
	}
	return p.selector(t.text)
}

func (p *parser) labels() ([]string, error) {
	if _, err := p.expect(tokPunct, "("); err != nil {
		return nil, err
	}
	var out []string
	for !p.isPunct(")") {
		l, err := p.expect(tokIdent, "")
		if err != nil {
			return nil, err
		}
		out = append(out, l.text)
		if p.isPunct(",") {
			p.pos++
		}
	}
	p.pos++
	return out, nil
}

func (p *parser) selector(metric string) (*selectorExpr, error) {
	s := &selectorExpr{metric: metric}
	if !p.isPunct("{") {
		return s, nil
	}
	p.pos++
	for !p.isPunct("}") {
		l, err := p.expect(tokIdent, "")
		if err != nil {
			return nil, err
		}
		op, err := p.next()
		if err != nil {
			return nil, err
		}
		if op.kind != tokPunct || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.text) {
			return nil, fmt.Errorf("unexpected %q at %d, want a label matcher", op.text, op.pos)
		}
		v, err := p.expect(tokString, "")
		if err != nil {
			return nil, err
		}
		m := matcher{label: l.text, op: op.text, value: v.text}
		if op.text == "=~" || op.text == "!~" {
			if m.re, err = regexp.Compile("^(?:" + v.text + ")$"); err != nil {
				return nil, fmt.Errorf("label %s: %w", l.text, err)
			}
		}
		s.matchers = append(s.matchers, m)
		if p.isPunct(",") {
			p.pos++
		}
	}
	p.pos++
	return s, nil
}

// kind is how a metric family may be queried.
type kind int

const (
	gauge     kind = iota // plain selector
	counter               // only under rate()
	histogram             // _bucket: only under rate(), then sum by (..., le) and histogram_quantile
)

// series is one result series: its labels and value, or for a histogram
// the latency distributions it aggregates (value is then their weight).
type series struct {
	labels map[string]string
	value  float64
	dist   []sim.Lognormal
}

// families returns a metric family's kind and series at the last step.
type families func(metric string) (kind, []series, bool)

// eval evaluates a parsed query; errors say what of the subset is missing.
func eval(e expr, fam families) ([]series, bool, error) {
	switch e := e.(type) {
	case *selectorExpr:
		k, all, ok := fam(e.metric)
		if !ok {
			return nil, false, fmt.Errorf("unknown metric %s", e.metric)
		}
		if k != gauge {
			return nil, false, fmt.Errorf("%s is a counter: query its rate()", e.metric)
		}
		out := filter(all, e.matchers)
		for i := range out {
			out[i].labels["__name__"] = e.metric
		}
		return out, false, nil
	case *rateExpr:
		k, all, ok := fam(e.sel.metric)
		if !ok {
			return nil, false, fmt.Errorf("unknown metric %s", e.sel.metric)
		}
		if k == gauge {
			return nil, false, fmt.Errorf("%s is a gauge: rate() of it is not served", e.sel.metric)
		}
		return filter(all, e.sel.matchers), k == histogram, nil
	case *sumExpr:
		in, hist, err := eval(e.arg, fam)
		if err != nil {
			return nil, false, err
		}
		if hist && !slices.Contains(e.by, "le") {
			return nil, false, errors.New("a sum of histogram buckets needs le in its by clause")
		}
		groups := map[string]*series{}
		var order []string
		for _, s := range in {
			labels := map[string]string{}
			var key strings.Builder
			for _, l := range e.by {
				if l == "le" {
					continue // buckets are kept as distributions, not series
				}
				if v := s.labels[l]; v != "" {
					labels[l] = v
				}
				key.WriteString(s.labels[l])
				key.WriteByte(0)
			}
			g, ok := groups[key.String()]
			if !ok {
				g = &series{labels: labels}
				groups[key.String()] = g
				order = append(order, key.String())
			}
			g.value += s.value
			g.dist = append(g.dist, s.dist...)
		}
		out := make([]series, 0, len(order))
		for _, k := range order {
			out = append(out, *groups[k])
		}
		return out, hist, nil
	case *quantileExpr:
		in, hist, err := eval(e.arg, fam)
		if err != nil {
			return nil, false, err
		}
		if !hist {
			return nil, false, errors.New("histogram_quantile needs histogram buckets (a _bucket metric)")
		}
		out := make([]series, len(in))
		for i, s := range in {
			var v float64
			switch {
			case e.q < 0:
				v = math.Inf(-1)
			case e.q > 1:
				v = math.Inf(1)
			default:
				v = sim.MixtureQuantile(s.dist, e.q)
			}
			out[i] = series{labels: s.labels, value: v}
		}
		return out, false, nil
	case *divExpr:
		l, lh, err := eval(e.l, fam)
		if err != nil {
			return nil, false, err
		}
		r, rh, err := eval(e.r, fam)
		if err != nil {
			return nil, false, err
		}
		if lh || rh {
			return nil, false, errors.New("histogram buckets cannot be divided")
		}
		// One-to-one matching on the whole label set, without the name.
		den := map[string]float64{}
		for _, s := range r {
			den[labelKey(s.labels)] = s.value
		}
		var out []series
		for _, s := range l {
			d, ok := den[labelKey(s.labels)]
			if !ok {
				continue
			}
			labels := map[string]string{}
			for k, v := range s.labels {
				if k != "__name__" {
					labels[k] = v
				}
			}
			out = append(out, series{labels: labels, value: s.value / d})
		}
		return out, false, nil
	}
	return nil, false, fmt.Errorf("unsupported expression %s", e)
}

// filter returns copies of the series every matcher accepts.
func filter(all []series, ms []matcher) []series {
	var out []series
	for _, s := range all {
		ok := true
		for _, m := range ms {
			if !m.matches(s.labels) {
				ok = false
				break
			}
		}
		if ok {
			labels := make(map[string]string, len(s.labels)+1)
			for k, v := range s.labels {
				labels[k] = v
			}
			out = append(out, series{labels: labels, value: s.value, dist: s.dist})
		}
	}
	return out
}

// labelKey is a label set's canonical string, without the metric name.
func labelKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}
