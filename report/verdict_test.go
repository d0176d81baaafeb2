package report

import (
	"strings"
	"testing"
)

// verdictInput is one scenario with two agents and two HPA
// configurations, test and validation runs. On validation hpa-cpu-40 wins
// among the HPAs (fewer violations), and "lean" among the agents: it
// violates no more than hpa-cpu-40 and is cheaper than "fat", which
// violates less but costs more than the HPA. On the test runs "fat" would
// also look better to a chooser that picked on them (no violations): the
// report must keep the validation choice.
func verdictInput() Input {
	var runs []Run
	add := func(ctrl, kind, split string, viol, cost float64) {
		for rep := range 3 {
			runs = append(runs, Run{Controller: ctrl, Kind: kind, Scenario: "peak", Split: split, Repetition: rep, Seed: uint64(rep + 1), Valid: true,
				Metrics: map[string]float64{MetricSLOViolation: viol, MetricCost: cost + float64(rep)}})
		}
	}
	add("lean", KindAgent, SplitTest, 0.05, 20000)
	add("fat", KindAgent, SplitTest, 0, 50000)
	add("hpa-cpu-40", KindHPA, SplitTest, 0.05, 40000)
	add("hpa-cpu-80", KindHPA, SplitTest, 0.1, 30000)
	add("static-2", KindStatic, SplitTest, 1, 19800)
	add("lean", KindAgent, SplitValidation, 0.05, 20000)
	add("fat", KindAgent, SplitValidation, 0.02, 50000)
	add("hpa-cpu-40", KindHPA, SplitValidation, 0.05, 40000)
	add("hpa-cpu-80", KindHPA, SplitValidation, 0.1, 30000)
	return Input{
		ExperimentID: "v", Name: "v", App: "onlineboutique", SLOMs: 500, Scenarios: []string{"peak"},
		Controllers: []ControllerSpec{{"lean", KindAgent}, {"fat", KindAgent}, {"hpa-cpu-40", KindHPA}, {"hpa-cpu-80", KindHPA}, {"static-2", KindStatic}},
		Runs:        runs,
	}
}

func TestVerdictsCompareTheValidationChosenAgentWithTheBestHPA(t *testing.T) {
	r := Build(verdictInput())
	if len(r.BestAgents) != 1 || r.BestAgents[0].Name != "lean" {
		t.Fatalf("best agent %+v, want lean (chosen on the validation seeds)", r.BestAgents)
	}
	var best *Verdict
	for i, v := range r.Verdicts {
		if v.BestHPA {
			best = &r.Verdicts[i]
		}
	}
	if best == nil || best.Agent != "lean" || best.Baseline != "hpa-cpu-40" || !best.Beats || best.AgentCost != 20001 || best.BaselineCost != 40001 {
		t.Fatalf("verdict against the best HPA %+v", best)
	}
	if r.Outcome != (Outcome{Scenarios: 1, Beaten: 1, MeanCostChange: best.CostChange}) || best.CostChange > -0.49 || best.CostChange < -0.51 {
		t.Errorf("outcome %+v", r.Outcome)
	}
	if !strings.HasPrefix(r.Summary, "On peak, lean beats the best HPA (hpa-cpu-40): SLO violation rate 0.050 vs 0.050, cost 20001 vs 40001 replica-seconds (-50 %).") {
		t.Errorf("summary does not open with the verdict: %s", r.Summary)
	}
	for _, want := range []string{
		"static-2 is cheaper (19801) but violates the SLO on 100 % of the steps (lean 5 %)",
		"The best agent beats the best HPA on 1 of 1 scenarios, at -50 % cost on average.",
	} {
		if !strings.Contains(r.Summary, want) {
			t.Errorf("summary lacks %q: %s", want, r.Summary)
		}
	}
	md := Markdown(r)
	if !strings.Contains(md, "| peak | lean | 0.050 | 20001 | hpa-cpu-40 | 0.050 | 40001 | -50.0 % | yes |") || !strings.Contains(md, "## Best agent per scenario") {
		t.Errorf("markdown lacks the verdict table or the agent choice:\n%s", md)
	}
}

func TestAnAgentThatViolatesMoreDoesNotBeatTheHPA(t *testing.T) {
	in := verdictInput()
	for i := range in.Runs {
		if in.Runs[i].Controller == "lean" || in.Runs[i].Controller == "fat" {
			in.Runs[i].Metrics[MetricSLOViolation] = 0.2
		}
	}
	r := Build(in)
	if r.Outcome.Beaten != 0 {
		t.Errorf("an agent with more violations beat the HPA: %+v", r.Verdicts)
	}
	if !strings.Contains(r.Summary, "the best HPA (hpa-cpu-40) keeps the SLO better than lean") {
		t.Errorf("summary: %s", r.Summary)
	}
}
