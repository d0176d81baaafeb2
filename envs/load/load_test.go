package load

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// tol is the relative tolerance for float comparisons; every expected value
// here is an exact product of small integers, so only rounding can differ.
const tol = 1e-9

func near(got, want float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func mustLookup(t *testing.T, app, name string) Scenario {
	t.Helper()
	sc, err := Lookup(app, name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestEveryDeclaredScenarioValidates(t *testing.T) {
	for _, sc := range All() {
		t.Run(sc.App+"/"+sc.Name, func(t *testing.T) {
			if err := sc.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEachAppHasTheEightSeedScenariosInOrder(t *testing.T) {
	want := []string{"offpeak", "peak", "rushsale", "fluctuating",
		"stable_offpeak", "stable_peak", "stable_rushsale", "stable_fluctuating"}
	if got := Apps(); !slices.Equal(got, []string{"onlineboutique", "redis"}) {
		t.Fatalf("Apps() = %v", got)
	}
	for _, app := range Apps() {
		if got := Names(app); !slices.Equal(got, want) {
			t.Errorf("Names(%q) = %v, want %v", app, got, want)
		}
	}
	if got := len(All()); got != 16 {
		t.Errorf("len(All()) = %d, want 16", got)
	}
	if got := Names("nope"); got != nil {
		t.Errorf("Names(unknown) = %v, want nil", got)
	}
}

func TestUsersAtPhaseBoundaries(t *testing.T) {
	// Boundaries from seed-spec 4.2 and 4.3: a stage holds [previous End, End).
	tests := []struct {
		app, name string
		at        time.Duration
		want      float64
	}{
		{"onlineboutique", "rushsale", -time.Nanosecond, 0},
		{"onlineboutique", "rushsale", 0, 100},
		{"onlineboutique", "rushsale", 179 * time.Second, 100},
		{"onlineboutique", "rushsale", 180*time.Second - time.Nanosecond, 100},
		{"onlineboutique", "rushsale", 180 * time.Second, 800},
		{"onlineboutique", "rushsale", 479 * time.Second, 800},
		{"onlineboutique", "rushsale", 480 * time.Second, 100},
		{"onlineboutique", "rushsale", 900*time.Second - time.Nanosecond, 100},
		{"onlineboutique", "rushsale", 900 * time.Second, 0}, // tick() returns None at run time
		{"onlineboutique", "rushsale", time.Hour, 0},
		{"onlineboutique", "fluctuating", 224 * time.Second, 50},
		{"onlineboutique", "fluctuating", 225 * time.Second, 300},
		{"onlineboutique", "fluctuating", 675 * time.Second, 800},
		{"onlineboutique", "stable_fluctuating", 674 * time.Second, 50},
		{"onlineboutique", "stable_fluctuating", 675 * time.Second, 400}, // 800 capped by LOCUST_MAX_RPS
		{"onlineboutique", "peak", 450 * time.Second, 400},
		{"redis", "rushsale", 180 * time.Second, 6000},
		{"redis", "rushsale", 480 * time.Second, 500},
		{"redis", "stable_rushsale", 179 * time.Second, 1000},
		{"redis", "stable_rushsale", 180 * time.Second, 3000},
		{"redis", "stable_rushsale", 719 * time.Second, 3000},
		{"redis", "stable_rushsale", 720 * time.Second, 1000},
		{"redis", "stable_fluctuating", 675 * time.Second, 3000}, // under the 3500 cap
		{"redis", "fluctuating", 675 * time.Second, 4000},
	}
	for _, tt := range tests {
		sc := mustLookup(t, tt.app, tt.name)
		if got := sc.UsersAt(tt.at); got != tt.want {
			t.Errorf("%s/%s UsersAt(%v) = %g, want %g", tt.app, tt.name, tt.at, got, tt.want)
		}
	}
}

func TestPhasesApplyTheUserCap(t *testing.T) {
	sc := mustLookup(t, "onlineboutique", "stable_fluctuating")
	want := []Stage{{225 * time.Second, 50}, {450 * time.Second, 300}, {675 * time.Second, 50}, {900 * time.Second, 400}}
	if got := sc.Phases(); !slices.Equal(got, want) {
		t.Errorf("Phases() = %v, want %v", got, want)
	}
	if sc.Stages[3].Users != 800 {
		t.Errorf("declared phase 4 = %g, want the seed's uncapped 800", sc.Stages[3].Users)
	}
}

func TestExpectedRequestsMatchesSeedTable(t *testing.T) {
	// The "Requests in 900 s" columns of seed-spec 4.2 (OB) and 4.3 (Redis).
	// Redis offpeak: between(1, 3) has mean wait 2 s, so 500 * 900 / 2.
	want := map[string]map[string]float64{
		"onlineboutique": {
			"offpeak": 90_000, "peak": 360_000, "rushsale": 300_000, "fluctuating": 270_000,
			"stable_offpeak": 90_000, "stable_peak": 360_000, "stable_rushsale": 300_000, "stable_fluctuating": 180_000,
		},
		"redis": {
			"offpeak": 225_000, "peak": 1_800_000, "rushsale": 2_100_000, "fluctuating": 1_575_000,
			"stable_offpeak": 450_000, "stable_peak": 2_700_000, "stable_rushsale": 1_980_000, "stable_fluctuating": 1_462_500,
		},
	}
	for _, sc := range All() {
		w, ok := want[sc.App][sc.Name]
		if !ok {
			t.Errorf("%s/%s has no seed figure in this test", sc.App, sc.Name)
			continue
		}
		if got := sc.ExpectedRequests(); !near(got, w) {
			t.Errorf("%s/%s ExpectedRequests() = %g, want %g", sc.App, sc.Name, got, w)
		}
		if sc.Seed.RequestsIn900s != w {
			t.Errorf("%s/%s Seed.RequestsIn900s = %g, want %g", sc.App, sc.Name, sc.Seed.RequestsIn900s, w)
		}
	}
}

func TestTaskRateCollapsesWhenLatencyExceedsThroughputInterval(t *testing.T) {
	tests := []struct {
		app, name string
		latency   time.Duration
		want      float64
	}{
		// constant_throughput(1): flat up to 1 s, then users / latency.
		{"onlineboutique", "peak", 0, 400},
		{"onlineboutique", "peak", 500 * time.Millisecond, 400},
		{"onlineboutique", "peak", time.Second, 400},
		{"onlineboutique", "peak", 2 * time.Second, 200},
		{"onlineboutique", "peak", 2500 * time.Millisecond, 160}, // seed-spec 8 L1: ~157 RPS achieved
		{"onlineboutique", "peak", -time.Second, 400},            // negative latency counts as zero
		// between(1, 3): users / (2 s + latency) at every latency.
		{"redis", "offpeak", 0, 250},
		{"redis", "offpeak", time.Second, 500.0 / 3},
		{"redis", "offpeak", 3 * time.Second, 100},
	}
	for _, tt := range tests {
		sc := mustLookup(t, tt.app, tt.name)
		if got := sc.TaskRate(100*time.Second, tt.latency); !near(got, tt.want) {
			t.Errorf("%s/%s TaskRate(100s, %v) = %g, want %g", tt.app, tt.name, tt.latency, got, tt.want)
		}
	}
	sc := mustLookup(t, "onlineboutique", "peak")
	if got := sc.TaskRate(900*time.Second, 0); got != 0 {
		t.Errorf("TaskRate after the run = %g, want 0", got)
	}
}

func TestLookupErrorsNameTheBadValueAndTheValidChoices(t *testing.T) {
	tests := []struct {
		app, name string
		want      []string
	}{
		{"onlineboutique", "pk", []string{`"pk"`, "onlineboutique",
			"valid: offpeak, peak, rushsale, fluctuating, stable_offpeak, stable_peak, stable_rushsale, stable_fluctuating"}},
		{"redis", "", []string{`""`, "redis", "valid: offpeak,"}},
		{"OnlineBoutique", "peak", []string{`unknown app "OnlineBoutique"`, "valid: onlineboutique, redis"}},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.app, tt.name)
		if err == nil {
			t.Errorf("Lookup(%q, %q) succeeded, want an error", tt.app, tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Lookup(%q, %q) error %q lacks %q", tt.app, tt.name, err, w)
			}
		}
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	a := mustLookup(t, "redis", "peak")
	a.Stages[0].Users = 1
	a.Tasks[0].Weight = 1000
	b := mustLookup(t, "redis", "peak")
	if b.Stages[0].Users != 2000 || b.Tasks[0].Weight != 40 {
		t.Errorf("mutating a looked-up scenario changed the registry: %v", b)
	}
}

func TestWithDurationKeepsPhaseProportions(t *testing.T) {
	for _, d := range []time.Duration{60 * time.Second, 1800 * time.Second, 7 * time.Second / 3} {
		for _, sc := range All() {
			got := sc.WithDuration(d)
			if err := got.Validate(); err != nil {
				t.Errorf("WithDuration(%v): %v", d, err)
				continue
			}
			if got.Duration != d || got.Stages[len(got.Stages)-1].End != d {
				t.Errorf("%s/%s WithDuration(%v): Duration %v, last End %v", sc.App, sc.Name, d, got.Duration, got.Stages[len(got.Stages)-1].End)
			}
			// Each phase keeps its share of the run, to the nanosecond.
			for i := range sc.Stages {
				wantFrac := float64(sc.Stages[i].End) / float64(sc.Duration)
				gotFrac := float64(got.Stages[i].End) / float64(d)
				if math.Abs(gotFrac-wantFrac) > 1/float64(d) {
					t.Errorf("%s/%s WithDuration(%v) Stages[%d] at %.9f of the run, want %.9f", sc.App, sc.Name, d, i, gotFrac, wantFrac)
				}
				if got.Stages[i].Users != sc.Stages[i].Users {
					t.Errorf("%s/%s WithDuration(%v) changed Stages[%d].Users", sc.App, sc.Name, d, i)
				}
			}
			// Average load is unchanged, so expected requests scale with d.
			want := sc.ExpectedRequests() * d.Seconds() / sc.Duration.Seconds()
			if r := got.ExpectedRequests(); math.Abs(r-want) > 1e-6*want {
				t.Errorf("%s/%s WithDuration(%v) ExpectedRequests() = %g, want %g", sc.App, sc.Name, d, r, want)
			}
		}
	}

	// A 30 min OB rushsale rushes from 360 s to 960 s (seed's absolute 180 s
	// start would not move; see WithDuration).
	rush := mustLookup(t, "onlineboutique", "rushsale").WithDuration(30 * time.Minute)
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{359 * time.Second, 100}, {360 * time.Second, 800}, {959 * time.Second, 800}, {960 * time.Second, 100}, {30 * time.Minute, 0}} {
		if got := rush.UsersAt(c.at); got != c.want {
			t.Errorf("30 min rushsale UsersAt(%v) = %g, want %g", c.at, got, c.want)
		}
	}
}

func TestWithDurationLeavesTheReceiverAlone(t *testing.T) {
	sc := mustLookup(t, "redis", "rushsale")
	_ = sc.WithDuration(time.Hour)
	if sc.Duration != 900*time.Second || sc.Stages[0].End != 180*time.Second {
		t.Errorf("WithDuration changed its receiver: %v", sc)
	}
}

func TestWithNonPositiveDurationFailsValidate(t *testing.T) {
	sc := mustLookup(t, "redis", "peak")
	for _, d := range []time.Duration{0, -time.Second} {
		if err := sc.WithDuration(d).Validate(); err == nil || !strings.Contains(err.Error(), "Duration") {
			t.Errorf("WithDuration(%v).Validate() = %v, want an error naming Duration", d, err)
		}
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Scenario)
		want   string
	}{
		{"unknown app", func(s *Scenario) { s.App = "mongo" }, `App "mongo"`},
		{"empty name", func(s *Scenario) { s.Name = "" }, "Name is empty"},
		{"stable flag disagrees with name", func(s *Scenario) { s.Stable = true }, "Stable is true"},
		{"zero duration", func(s *Scenario) { s.Duration = 0 }, "Duration 0s"},
		{"no stages", func(s *Scenario) { s.Stages = nil }, "Stages is empty"},
		{"stage ends out of order", func(s *Scenario) { s.Stages[1].End = s.Stages[0].End }, "Stages[1].End"},
		{"negative users", func(s *Scenario) { s.Stages[0].Users = -1 }, "Stages[0].Users"},
		{"NaN users", func(s *Scenario) { s.Stages[2].Users = math.NaN() }, "Stages[2].Users"},
		{"last end short of duration", func(s *Scenario) { s.Duration = time.Hour }, "Stages[2].End 15m0s must equal Duration"},
		{"negative cap", func(s *Scenario) { s.MaxUsers = -5 }, "MaxUsers"},
		{"unknown wait kind", func(s *Scenario) { s.Wait.Kind = "constant" }, `Wait.Kind "constant"`},
		{"zero throughput", func(s *Scenario) { s.Wait.TasksPerSecond = 0 }, "Wait.TasksPerSecond"},
		{"between without max", func(s *Scenario) { s.Wait = Wait{Kind: Between} }, "Wait.Max"},
		{"between min above max", func(s *Scenario) { s.Wait = Wait{Kind: Between, Min: 3 * time.Second, Max: time.Second} }, "Wait.Min"},
		{"no tasks", func(s *Scenario) { s.Tasks = nil }, "Tasks is empty"},
		{"request type of the other app", func(s *Scenario) { s.Tasks[1].RequestType = "get" }, `Tasks[1].RequestType "get"`},
		{"repeated request type", func(s *Scenario) { s.Tasks[2].RequestType = "home" }, `Tasks[2].RequestType "home" repeats Tasks[0]`},
		{"zero weight", func(s *Scenario) { s.Tasks[3].Weight = 0 }, "Tasks[3].Weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := mustLookup(t, "onlineboutique", "rushsale")
			tt.mutate(&sc)
			err := sc.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", msg, tt.want)
			}
			if !strings.HasPrefix(msg, "scenario "+sc.App+"/"+sc.Name+": ") {
				t.Errorf("Validate() = %q, want it to name the scenario", msg)
			}
		})
	}
}

func TestOnlineBoutiqueUsesTheUpstreamJourney(t *testing.T) {
	// Weights of UserBehavior.tasks in GoogleCloudPlatform/microservices-demo
	// src/loadgenerator/locustfile.py; the seed's GET /cart stays in SeedNote.
	want := map[string]float64{"home": 1, "set_currency": 2, "product": 10, "add_to_cart": 2, "view_cart": 3, "checkout": 1}
	for _, name := range Names("onlineboutique") {
		sc := mustLookup(t, "onlineboutique", name)
		mix := sc.RequestMix()
		for typ, w := range want {
			if !near(mix[typ], w/19) {
				t.Errorf("%s: share of %s = %g, want %g", name, typ, mix[typ], w/19)
			}
		}
		if sc.Wait != (Wait{Kind: ConstantThroughput, TasksPerSecond: 1}) {
			t.Errorf("%s: Wait = %v, want constant_throughput(1)", name, sc.Wait)
		}
		if !strings.Contains(sc.Seed.Tasks, "GET /cart") {
			t.Errorf("%s: Seed.Tasks = %q, want the seed's GET /cart", name, sc.Seed.Tasks)
		}
	}
}

func TestRedisOffpeakKeepsTheSeedsBetweenWait(t *testing.T) {
	for _, name := range Names("redis") {
		sc := mustLookup(t, "redis", name)
		wantBetween := name == "offpeak"
		if got := sc.Wait.Kind == Between; got != wantBetween {
			t.Errorf("redis/%s Wait = %v", name, sc.Wait)
		}
	}
	sc := mustLookup(t, "redis", "offpeak")
	if !strings.Contains(sc.Seed.Notes, "L2") {
		t.Errorf("redis/offpeak Seed.Notes = %q, want it to cite the seed's L2 defect", sc.Seed.Notes)
	}
}

func TestStringSummarisesTheShape(t *testing.T) {
	sc := mustLookup(t, "onlineboutique", "stable_fluctuating")
	got := sc.String()
	for _, w := range []string{"onlineboutique/stable_fluctuating 15m0s", "50 users to 3m45s", "800 to 15m0s", "cap 400 users", "constant_throughput(1)", "product:10"} {
		if !strings.Contains(got, w) {
			t.Errorf("String() = %q, want it to contain %q", got, w)
		}
	}
	redis := mustLookup(t, "redis", "offpeak")
	if got := redis.String(); !strings.Contains(got, "between(1, 3)") {
		t.Errorf("String() = %q, want between(1, 3)", got)
	}
}
