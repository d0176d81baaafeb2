// Package experiment reads experiment.yaml files into api.ExperimentSpec:
// strictly, with every default filled in, and with errors that name the
// file, the line and column, and the field path, e.g.
//
//	experiment.yaml:17:5: spec.agent.chunkSteps: 1500 is not a multiple of hyperparameters.nSteps (500)
//
// Parse reports every problem it finds, sorted by position: YAML syntax,
// more than one document, unknown fields (at any depth), duplicate keys,
// values of the wrong type, bad durations, out-of-range and inconsistent
// values, names unknown to the app, scenario, HPA and model registries, and
// anything that looks like a secret. Anchors may be defined but aliases and
// merge keys (<<) are rejected. YAML syntax errors carry a line but no
// column (the YAML parser does not report one).
//
// # Schema and defaults
//
// Fields marked (required) have no default. Durations are Go durations
// (15s, 500ms, 2m, 1h30m; a bare 0 is also accepted). A field that is left
// out or null takes its default; an explicit 0 or false is kept.
//
//	apiVersion: grlscaler.io/v1alpha1           (required)
//	kind: Experiment                            (required)
//	metadata:
//	  name                                      (required) DNS-1123 label, <= 63 characters
//	  labels                                    Kubernetes label keys and values
//	spec:
//	  app                                       (required) onlineboutique | redis | synthetic-N (2 <= N <= 10000; sim only)
//	  cluster:
//	    mode                                    sim | replay | k8s; default sim
//	    replay.dataset                          (required in replay mode) gym-hpa observation CSV path
//	    k8s:                                    (required in k8s mode; rejected in the others)
//	      namespace                             (required) DNS-1123 label
//	      prometheusURL                         (required) http(s) URL without credentials
//	      linkerdVizURL                         default DefaultLinkerdVizURL
//	      kubeconfig, context                   default: the client's loading rules, current context
//	      inCluster                             default false; excludes kubeconfig, context, tokenEnv, apiHostEnv
//	      tokenEnv, apiHostEnv                  names of environment variables, set together; exclude kubeconfig, context
//	    stepPeriod                              default 15s; in [1s, 1h]
//	  warmUp.duration                           default 2m; in [0, 24h]
//	  agent:
//	    algorithm                               ppo | a2c; default ppo
//	    policy                                  mlp | gcn | gat | tgn | mlp-lstm; default gcn
//	    head                                    joint | per-node (gcn, gat, tgn); default per-node (joint for mlp, mlp-lstm)
//	    goal                                    cost | latency | slo; default slo
//	    slo                                     default 500ms; in [1ms, 1m]
//	    totalSteps                              (required) multiple of hyperparameters.nSteps, <= 1e9
//	    chunkSteps                              multiple of nSteps, <= totalSteps; default about totalSteps/10
//	    episodeSteps                            default load.duration / cluster.stepPeriod (an evaluation run); in [1, 100000]
//	    seed                                    default 42
//	    action                                  seed | factored | hpa-residual; default factored
//	    baseHPA                                 hpa-residual's HPA preset, default cpu-50 (only with hpa-residual)
//	    credit                                  per-service | shared; default per-service in the factored spaces with goal slo
//	    costWeight                              the slo goal's weight of replicas; default 1; in [0, 100]
//	    randomStarts                            fraction of training episodes from random states; default 0.5
//	    validation: {every, seeds}              greedy validation every N steps (multiple of nSteps; default totalSteps/20,
//	                                            0 in k8s mode) on `seeds` validation seeds (default evaluation.validationSeeds)
//	    hyperparameters:                        each field defaults to model.DefaultHyperparameters
//	                                            (ppo) or model.DefaultA2CHyperparameters (a2c):
//	      learningRate, nSteps, batchSize, epochs, gamma, lambda, clipRange, clipRangeVF,
//	      entCoef, vfCoef, maxGradNorm, adamEpsilon, normalizeAdvantage, linearSchedule,
//	      normalizeObservations, normalizeRewards (default true)
//	  load:
//	    trainingScenarios                       [{name, weight}], default the evaluation scenarios, weight 1
//	    trainingScenario                        one-scenario shorthand of trainingScenarios
//	    evaluationScenarios                     default [offpeak, peak, rushsale, fluctuating]; no repeats
//	    duration                                default 15m; in [stepPeriod, 24h]
//	    runner                                  sim | locust; locust in k8s mode (the default there), sim otherwise
//	  evaluation:
//	    controllers                             default [{name: agent, type: agent},
//	                                                     {name: hpa-cpu-50, type: hpa, hpa: cpu-50}]
//	      - name                                (required) DNS-1123 label, unique
//	        type                                (required) agent | hpa | static
//	        policy, head, action, costWeight    agent only; default the agent's (head joint for mlp)
//	        hpa                                 hpa only (required): cpu-<pct>, mem-<pct>, cpu-<pct>-mem-<pct>
//	        minReplicas, maxReplicas            hpa only; default 1 and 8
//	        replicas                            static only (required); in [1, 1000]
//	    repetitions                             default 5; in [1, 1000]
//	    validationSeeds                         default 3; in [1, 1000]
//	    slo                                     default agent.slo
//	  storage:
//	    bucket                                  default grlscaler; an S3 bucket name
//	    prefix                                  default experiments; no leading or trailing '/'
//
// Scenarios are the app's (load.Names); synthetic apps use Online
// Boutique's. The spec holds no secrets: keys named like token, password,
// secret, accessKey or secretKey (other than the *Env fields, which name
// environment variables) are rejected, and so are values and comments that
// look like credentials (JWTs, bearer tokens, AWS access key IDs, GitHub
// tokens, PEM private keys). Errors never repeat such values.
package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// MaxFileSize bounds an experiment file; real ones are a few kilobytes.
const MaxFileSize = 1 << 20

// The environment variables the seed located Prometheus and Linkerd viz
// with; Load takes a k8s spec's missing URLs from them.
const (
	EnvPrometheusURL = "PROMETHEUS_URL"
	EnvLinkerdVizURL = "LINKERD_VIZ_API_URL"
)

// Load reads and parses the experiment file at path, as grlctl does: a
// k8s spec that leaves cluster.k8s.prometheusURL or linkerdVizURL out
// takes them from PROMETHEUS_URL and LINKERD_VIZ_API_URL when those are
// set, and records them, so the run's history holds the URLs it used.
func Load(path string) (*api.ExperimentSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load experiment: %w", err)
	}
	return ParseEnv(path, data, os.Getenv)
}

// Parse parses and validates an experiment document and fills in its
// defaults. file names the document in errors. On failure it returns every
// problem as a *FieldError, joined and sorted by position. It reads no
// environment.
func Parse(file string, data []byte) (*api.ExperimentSpec, error) {
	return ParseEnv(file, data, nil)
}

// ParseEnv is Parse with the environment Load reads (getenv; nil reads
// none).
func ParseEnv(file string, data []byte, getenv func(string) string) (*api.ExperimentSpec, error) {
	if len(data) > MaxFileSize {
		return nil, &FieldError{File: file, Line: 1, Column: 1, Msg: fmt.Sprintf("the file is %d bytes; an experiment file is at most %d", len(data), MaxFileSize)}
	}
	d := newDecoder(file)
	doc := d.document(data)
	if doc == nil {
		return nil, joinSorted(d.errs)
	}
	d.scanSecrets(doc, "", data)

	var spec api.ExperimentSpec
	root := doc.Content[0]
	at := position{root.Line, root.Column}
	d.pos[""] = at
	d.value(root, "", at, reflect.ValueOf(&spec).Elem())

	given := func(p string) bool { return d.given[p] }
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	applyDefaults(&spec, given, d.quiet, getenv)
	v := &validator{quiet: d.quiet}
	v.validate(&spec)
	for _, e := range v.errs {
		e.File = d.file
		p := e.Path
		for ; p != ""; p = parentPath(p) {
			if _, ok := d.pos[p]; ok {
				break
			}
		}
		at := d.pos[p]
		e.Line, e.Column = at.line, at.col
	}

	var errs []*FieldError
	for _, e := range append(d.errs, v.errs...) {
		if d.secret[e.Path] && !e.secret {
			// It would repeat the secret; the secret error says enough.
			continue
		}
		e.Msg = redact(e.Msg)
		e.Path = redact(e.Path)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return &spec, nil
}

// Canonical returns the canonical JSON of a valid spec (api.Canonical, whose
// SHA-256 is api.SpecHash): what grlctl submits and stores. It refuses an
// invalid spec.
func Canonical(spec *api.ExperimentSpec) ([]byte, error) {
	if err := Validate(spec); err != nil {
		return nil, fmt.Errorf("canonical json of experiment %q: %w", spec.Metadata.Name, err)
	}
	return api.Canonical(spec)
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): `)

// document reads the one YAML document of data. It returns nil, with the
// errors recorded, when there is nothing to decode.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := decodeNode(dec, &doc); {
	case errors.Is(err, io.EOF):
		d.errs = append(d.errs, &FieldError{File: d.file, Line: 1, Column: 1, Msg: "the file is empty; want an Experiment document (apiVersion, kind, metadata, spec)"})
		return nil
	case err != nil:
		d.syntaxError(err)
		return nil
	}
	if len(doc.Content) == 0 || isEmpty(doc.Content[0]) {
		d.errs = append(d.errs, &FieldError{File: d.file, Line: doc.Line, Column: doc.Column, Msg: "the document is empty; want an Experiment (apiVersion, kind, metadata, spec)"})
		return nil
	}
	var next yaml.Node
	switch err := decodeNode(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err)
	case len(next.Content) > 0 && !isEmpty(next.Content[0]):
		d.errs = append(d.errs, &FieldError{File: d.file, Line: next.Line, Column: next.Column,
			Msg: "a second document starts here; an experiment file holds exactly one document (split it into one file per experiment)"})
	}
	return &doc
}

// decodeNode decodes one document, turning a panic inside the YAML library
// into an error: a malformed file must not crash grlctl.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

func isEmpty(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// parserProblems are the messages of the YAML library's parser (as
// opposed to its scanner). It reports their lines 0-based, the scanner's
// 1-based (go.yaml.in/yaml/v3 decode.go, parser.fail), and omits the line
// when that number is 0.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxError turns a YAML library error into a FieldError with the
// 1-based line (the library reports no column).
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &FieldError{File: d.file}
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = err.Error()[len(m[0]):]
	}
	switch {
	case slices.Contains(parserProblems, msg):
		e.Line++
	case e.Line == 0 && !strings.Contains(msg, "anchor") && !strings.Contains(msg, "alias") && !strings.HasPrefix(msg, "the YAML parser failed"):
		// A scanner error on the first line; errors about anchors come
		// from the composer, which knows no position.
		e.Line = 1
	}
	e.Msg = "yaml syntax error: " + msg
	d.errs = append(d.errs, e)
}
