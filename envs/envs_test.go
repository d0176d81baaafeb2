package envs

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMovesFollowTheSeedsEncoding(t *testing.T) {
	// seed-spec 1.4: 0 none, 1..7 add k, 8..14 remove k-7.
	tests := []struct {
		move  int
		delta int
		label string
	}{
		{0, 0, "None"}, {1, 1, "Add-1"}, {7, 7, "Add-7"}, {8, -1, "Stop-1"}, {14, -7, "Stop-7"},
	}
	for _, tt := range tests {
		if got := (Action{Move: tt.move}).Delta(); got != tt.delta {
			t.Errorf("move %d delta %d, want %d", tt.move, got, tt.delta)
		}
		if got := MoveLabel(tt.move); got != tt.label {
			t.Errorf("move %d label %q, want %q", tt.move, got, tt.label)
		}
		if got := MoveFor(tt.delta); got != tt.move {
			t.Errorf("MoveFor(%d) = %d, want %d", tt.delta, got, tt.move)
		}
	}
	if MoveFor(12) != 7 || MoveFor(-12) != 14 {
		t.Error("MoveFor must clamp to the representable range")
	}
}

func TestDesiredReplicasIsGymHPAsFormula(t *testing.T) {
	tests := []struct {
		name           string
		cpu, mem       float64
		cpuReq, memReq float64
		want           int
	}{
		// seed-spec 1.1's worked example: cpu 310 m, target 75 -> 5; mem 1 -> 1; ceil(3.8) = 4.
		{"dataset example", 310, 1, 100, 220, 4},
		// 0.7*10 is 7.000000000000001 in floating point; the formula must give 7, not 8.
		{"no floating point overshoot", 750, 0, 100, 64, 7},
		{"clamped to max", 10000, 10000, 100, 64, 8},
		{"idle is min", 0, 0, 100, 64, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DesiredReplicas(tt.cpu, tt.mem, tt.cpuReq, tt.memReq, 1, 8); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRewardGoals(t *testing.T) {
	in := RewardInput{
		Replicas: []int{2, 3}, Desired: []int{2, 1},
		MinReplicas: []int{1, 1}, MaxReplicas: []int{8, 8},
		LatencyMeanMs: 120, LatencyP95Ms: 750, ErrorRate: 0.01,
	}
	slo := DefaultRewardConfig(GoalSLO, 250)
	tests := []struct {
		name string
		cfg  RewardConfig
		in   RewardInput
		want float64
	}{
		{"cost counts services at their desired replicas", DefaultRewardConfig(GoalCost, 250), in, 1},
		{"latency is the negative mean", DefaultRewardConfig(GoalLatency, 250), in, -120},
		{"latency is capped", DefaultRewardConfig(GoalLatency, 100), in, -100},
		// v = 1 + log2(750/500); u = (1+2)/14; e = 0.01.
		{"slo adds violation, cost and errors", slo, in, -(1 + math.Log2(1.5) + 0.5*3.0/14 + 5*0.01)},
		{"slo met costs only replicas and errors", slo, withP95(in, 400), -(0.5*3.0/14 + 5*0.01)},
		{"cost penalty on a bound hit", DefaultRewardConfig(GoalCost, 250), bound(in), -1},
		{"latency penalty on a bound hit", DefaultRewardConfig(GoalLatency, 3000), bound(in), -3000},
		{"slo penalty on a bound hit", slo, bound(in), -(5 + 0.5*3.0/14)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Reward(tt.in); got < tt.want-1e-12 || got > tt.want+1e-12 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func withP95(in RewardInput, p95 float64) RewardInput { in.LatencyP95Ms = p95; return in }
func bound(in RewardInput) RewardInput                { in.BoundHit = true; return in }

func TestParseGoalNamesTheChoices(t *testing.T) {
	if g, err := ParseGoal("slo"); err != nil || g != GoalSLO {
		t.Fatalf("ParseGoal(slo) = %v, %v", g, err)
	}
	_, err := ParseGoal("speed")
	if err == nil || !strings.Contains(err.Error(), `"speed"`) || !strings.Contains(err.Error(), "cost, latency, slo") {
		t.Errorf("error %v", err)
	}
	if DefaultRewardConfig(GoalSLO, 1).SLO != 500*time.Millisecond {
		t.Error("default SLO is 500 ms")
	}
}

func TestStaticControllerSetsEveryService(t *testing.T) {
	d := make([]int, 3)
	(&StaticController{Replicas: []int{2}}).Decide(&ClusterView{}, d)
	if d[0] != 2 || d[2] != 2 {
		t.Errorf("one value applies to all: %v", d)
	}
	(&StaticController{Replicas: []int{1, 3}}).Decide(&ClusterView{}, d)
	if d[0] != 1 || d[1] != 3 || d[2] != -1 {
		t.Errorf("per-service values, the rest unchanged: %v", d)
	}
}
