package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// Controllers grlctl sim can run.
var simControllers = []string{"hpa", "static"}

// Output formats.
var outputFormats = []string{"table", "json"}

// SimOptions are the flags of grlctl sim.
type SimOptions struct {
	App, Scenario, Controller string
	HPACPU, HPAMem            int
	HPAPreset                 string
	MinReplicas, MaxReplicas  int
	StaticReplicas            int
	Seed                      uint64
	Duration, SLO, Step       time.Duration
	Output                    string

	streams IO
}

// NewCmdSim builds grlctl sim.
func NewCmdSim(streams IO) *cobra.Command {
	o := &SimOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a load scenario on the simulated cluster under a controller",
		Long: `Run a load scenario on the digital twin of an app under a controller (the
Kubernetes HPA or static replicas) and print per-service and overall results:
replicas, CPU, latency percentiles, cost, SLO violations, errors and scaling
actions. The same seed gives byte-identical output.`,
		Example: `  grlctl sim --app onlineboutique --scenario peak --controller hpa --hpa-cpu 50 --seed 7
  grlctl sim --app redis --scenario rushsale --controller hpa --hpa-preset cpu-40-mem-80 -o json
  grlctl sim --scenario fluctuating --controller static --static-replicas 3 --duration 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			return o.Run()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.App, "app", "onlineboutique", "app to simulate: onlineboutique, redis, or synthetic-N")
	f.StringVar(&o.Scenario, "scenario", "peak", "load scenario: offpeak, peak, rushsale, fluctuating, or a stable_ variant")
	f.StringVar(&o.Controller, "controller", "hpa", "controller: "+strings.Join(simControllers, ", "))
	f.IntVar(&o.HPACPU, "hpa-cpu", 50, "HPA target CPU utilisation in percent of requests (0: no CPU metric)")
	f.IntVar(&o.HPAMem, "hpa-mem", 0, "HPA target memory utilisation in percent of requests (0: no memory metric)")
	f.StringVar(&o.HPAPreset, "hpa-preset", "", "HPA configuration by the seed's name, e.g. cpu-20 or cpu-40-mem-80 (overrides --hpa-cpu and --hpa-mem)")
	f.IntVar(&o.MinReplicas, "min-replicas", 1, "HPA minReplicas")
	f.IntVar(&o.MaxReplicas, "max-replicas", 8, "HPA maxReplicas (the seed's HPAs used 7 for Online Boutique)")
	f.IntVar(&o.StaticReplicas, "static-replicas", 1, "replicas per service for the static controller")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed gives the same output")
	f.DurationVar(&o.Duration, "duration", 0, "simulated run length (default: the scenario's, 15m)")
	f.DurationVar(&o.SLO, "slo", 500*time.Millisecond, "p95 end-to-end latency objective for the SLO violation rate")
	f.DurationVar(&o.Step, "step", 15*time.Second, "simulated time per step (the HPA's sync period)")
	f.StringVarP(&o.Output, "output", "o", "table", "output format: "+strings.Join(outputFormats, ", "))
	return cmd
}

// Validate checks the flags and names the bad one.
func (o *SimOptions) Validate() error {
	if !slices.Contains(simControllers, o.Controller) {
		return fmt.Errorf("unknown controller %q (valid: %s)", o.Controller, strings.Join(simControllers, ", "))
	}
	if !slices.Contains(outputFormats, o.Output) {
		return fmt.Errorf("unknown output format %q (valid: %s)", o.Output, strings.Join(outputFormats, ", "))
	}
	if o.HPACPU < 0 || o.HPAMem < 0 {
		return fmt.Errorf("--hpa-cpu %d and --hpa-mem %d must not be negative", o.HPACPU, o.HPAMem)
	}
	if o.Controller == "hpa" && o.HPAPreset == "" && o.HPACPU == 0 && o.HPAMem == 0 {
		return fmt.Errorf("--hpa-cpu and --hpa-mem are both 0: the HPA needs at least one metric")
	}
	if o.MinReplicas < 1 || o.MaxReplicas < o.MinReplicas {
		return fmt.Errorf("--min-replicas %d and --max-replicas %d must satisfy 1 <= min <= max", o.MinReplicas, o.MaxReplicas)
	}
	if o.StaticReplicas < 1 {
		return fmt.Errorf("--static-replicas %d must be at least 1", o.StaticReplicas)
	}
	if o.Step <= 0 {
		return fmt.Errorf("--step %s must be positive", o.Step)
	}
	if o.Duration < 0 || (o.Duration > 0 && o.Duration < o.Step) {
		return fmt.Errorf("--duration %s must be at least one step (%s)", o.Duration, o.Step)
	}
	if o.SLO <= 0 {
		return fmt.Errorf("--slo %s must be positive", o.SLO)
	}
	return nil
}

func (o *SimOptions) controller() (envs.Controller, error) {
	if o.Controller == "static" {
		return &envs.StaticController{Replicas: []int{o.StaticReplicas}}, nil
	}
	preset := o.HPAPreset
	if preset == "" {
		var parts []string
		if o.HPACPU > 0 {
			parts = append(parts, fmt.Sprintf("cpu-%d", o.HPACPU))
		}
		if o.HPAMem > 0 {
			parts = append(parts, fmt.Sprintf("mem-%d", o.HPAMem))
		}
		preset = strings.Join(parts, "-")
	}
	cfg, err := hpa.ParsePreset(preset, int32(o.MinReplicas), int32(o.MaxReplicas))
	if err != nil {
		return nil, fmt.Errorf("%w: --hpa-preset: %w", ErrUsage, err)
	}
	return hpa.New(cfg)
}

// Run simulates and prints.
func (o *SimOptions) Run() error {
	a, err := sim.LookupApp(o.App, o.Seed)
	if err != nil {
		return fmt.Errorf("%w: --app: %w", ErrUsage, err)
	}
	sc, err := sim.ScenarioFor(a, o.Scenario)
	if err != nil {
		return fmt.Errorf("%w: --scenario: %w", ErrUsage, err)
	}
	ctrl, err := o.controller()
	if err != nil {
		return err
	}
	c, err := sim.NewCluster(sim.Options{App: a, Scenario: sc, StepPeriod: o.Step})
	if err != nil {
		return err
	}
	res, err := sim.Run(c, ctrl, sim.RunOptions{Seed: o.Seed, Duration: o.Duration, SLO: o.SLO})
	if err != nil {
		return err
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return writeSimTable(o.streams.Out, res, o.SLO)
}

func writeSimTable(w io.Writer, r sim.Result, slo time.Duration) error {
	width := len("service")
	for _, s := range r.Services {
		width = max(width, len(s.Name))
	}
	fmt.Fprintf(w, "app %s, scenario %s, controller %s, seed %d, %s simulated\n\n",
		r.App, r.Scenario, r.Controller, r.Seed, time.Duration(r.DurationS*float64(time.Second)))
	fmt.Fprintf(w, "%-*s  %12s  %12s  %11s  %9s\n", width, "service", "avg replicas", "max replicas", "avg cpu (m)", "p95 (ms)")
	for _, s := range r.Services {
		fmt.Fprintf(w, "%-*s  %12.2f  %12d  %11.0f  %9.1f\n", width, s.Name, s.AvgReplicas, s.MaxReplicas, s.AvgCPUMillicores, s.LatencyP95Ms)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "cost               %.0f replica-seconds\n", r.CostReplicaSeconds)
	fmt.Fprintf(w, "SLO violations     %.1f %% of steps with p95 > %s\n", 100*r.SLOViolationRate, slo)
	fmt.Fprintf(w, "latency p50/95/99  %.0f / %.0f / %.0f ms\n", r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms)
	fmt.Fprintf(w, "failed requests    %.2f %%\n", 100*r.ErrorRate)
	_, err := fmt.Fprintf(w, "scaling actions    %d\n", r.ScalingActions)
	return err
}
