package sim

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/grlscaler/grlscaler/envs"
)

func newEnv(t testing.TB, appName, scenario string, goal envs.Goal) *Env {
	t.Helper()
	a, sc := appAndScenario(t, appName, scenario)
	e, err := NewEnv(EnvOptions{
		Options: Options{App: a, Scenario: sc},
		Reward:  envs.DefaultRewardConfig(goal, a.LatencyCapMs),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestObservationShapesMatchGymHPA(t *testing.T) {
	// seed-spec 1.3: 66 values for Online Boutique, 12 for Redis.
	tests := []struct {
		app             string
		flat, nodes     int
		edges, services int
	}{
		{"onlineboutique", 66, 11 * len(envs.NodeFeatureNames), 15, 11},
		{"redis", 12, 2 * len(envs.NodeFeatureNames), 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			e := newEnv(t, tt.app, "peak", envs.GoalCost)
			obs, err := e.Reset(1)
			if err != nil {
				t.Fatal(err)
			}
			if len(obs.Flat) != tt.flat || len(obs.Nodes) != tt.nodes || len(obs.Edges) != tt.edges {
				t.Errorf("flat %d nodes %d edges %d, want %d %d %d", len(obs.Flat), len(obs.Nodes), len(obs.Edges), tt.flat, tt.nodes, tt.edges)
			}
			if s := e.Spec(); len(s.Services) != tt.services || s.FlatSize != tt.flat || s.EpisodeSteps != 25 {
				t.Errorf("spec %+v", s)
			}
			for k := 0; k < 25; k++ {
				res, err := e.Step(envs.Action{Deployment: k % tt.services, Move: k % envs.NumMoves})
				if err != nil {
					t.Fatal(err)
				}
				for i, x := range res.Obs.Nodes {
					if x < -1 || x > 1 {
						t.Fatalf("step %d node feature %s = %v outside [-1, 1]", k, envs.NodeFeatureNames[i%len(envs.NodeFeatureNames)], x)
					}
				}
				if res.Done != (k == 24) {
					t.Errorf("step %d done = %v", k+1, res.Done)
				}
			}
		})
	}
}

func TestActionChangesReplicasFromTheFirstStep(t *testing.T) {
	// The seed discarded the first action of every episode (seed-spec 1.5).
	e := newEnv(t, "onlineboutique", "peak", envs.GoalCost)
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	fe := e.Cluster().App().Index("frontend")
	res, err := e.Step(envs.Action{Deployment: fe, Move: 3}) // Add-3
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Replicas[fe] != 4 || res.Obs.Flat[fe*envs.FlatPerService] != 4 {
		t.Errorf("frontend replicas %d (obs %v) after Add-3 from 1, want 4", res.Info.Replicas[fe], res.Obs.Flat[fe*envs.FlatPerService])
	}
}

func TestMovesBeyondReplicaBoundsArePenalisedAndIgnored(t *testing.T) {
	tests := []struct {
		goal envs.Goal
		want float64
	}{
		{envs.GoalCost, -1},
		{envs.GoalLatency, -3000},
	}
	for _, tt := range tests {
		t.Run(string(tt.goal), func(t *testing.T) {
			e := newEnv(t, "onlineboutique", "peak", tt.goal)
			if _, err := e.Reset(1); err != nil {
				t.Fatal(err)
			}
			res, err := e.Step(envs.Action{Deployment: 0, Move: 8}) // Stop-1 from 1 replica
			if err != nil {
				t.Fatal(err)
			}
			if !res.Info.BoundHit || res.Reward != tt.want || res.Info.Replicas[0] != 1 {
				t.Errorf("bound hit %v reward %v replicas %d, want true %v 1", res.Info.BoundHit, res.Reward, res.Info.Replicas[0], tt.want)
			}
		})
	}
}

func TestInvalidActionsAreErrors(t *testing.T) {
	e := newEnv(t, "redis", "peak", envs.GoalCost)
	if _, err := e.Step(envs.Action{}); err == nil {
		t.Error("step before reset: want an error")
	}
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	for _, a := range []envs.Action{{Deployment: 2}, {Deployment: -1}, {Move: 15}, {Move: -1}} {
		if _, err := e.Step(a); err == nil {
			t.Errorf("action %+v: want an error", a)
		}
	}
}

func TestLatencyRewardIsNeverASilentZero(t *testing.T) {
	// The seed's Online Boutique latency reward read a metric nobody
	// exported and was always 0 (seed-spec 8 C1).
	e := newEnv(t, "onlineboutique", "peak", envs.GoalLatency)
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	res, err := e.Step(envs.Action{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reward >= 0 || res.Reward != -min(res.Info.LatencyMeanMs, 3000) {
		t.Errorf("latency reward %v for mean latency %v ms", res.Reward, res.Info.LatencyMeanMs)
	}
}

func TestEnvIsDeterministicPerSeed(t *testing.T) {
	trajectory := func(seed uint64) string {
		e := newEnv(t, "onlineboutique", "fluctuating", envs.GoalSLO)
		obs, err := e.Reset(seed)
		if err != nil {
			t.Fatal(err)
		}
		out := fmt.Sprint(obs.Clone())
		for k := range 25 {
			res, err := e.Step(envs.Action{Deployment: k % 11, Move: (3 * k) % envs.NumMoves})
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprint(res.Obs.Clone(), res.Reward)
		}
		return out
	}
	if a, b := trajectory(5), trajectory(5); a != b {
		t.Error("seed 5 gave two trajectories")
	}
	if reflect.DeepEqual(trajectory(5), trajectory(6)) {
		t.Error("seeds 5 and 6 gave the same trajectory")
	}
}
