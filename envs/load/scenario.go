// Package load declares the load scenarios of grlscaler once, as data.
//
// The seed (gym-hpa / GRLScaler, seed-spec.md section 4) kept each scenario as
// a separate Locust script whose numbers drifted from every document that
// quoted them (seed-spec 4.4) and from the report generator's hard-coded
// "theoretical requests" (seed-spec 8 C6). Here a Scenario is plain data: the
// simulator turns it into an arrival process, the Locust runner turns it into a
// LoadTestShape, and reports compute the expected load from the same value.
package load

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// WaitKind mirrors Locust's wait_time functions.
type WaitKind string

// The two wait_time functions the seed's scenarios use (seed-spec 4.1, 4.3).
const (
	// ConstantThroughput is Locust's constant_throughput(x): after a task the
	// user waits max(0, 1/x - task time), so it runs at most x tasks per second.
	ConstantThroughput WaitKind = "constant_throughput"
	// Between is Locust's between(min, max): a uniform think time after each task.
	Between WaitKind = "between"
)

// Wait is a user's wait_time.
type Wait struct {
	Kind WaitKind
	// TasksPerSecond is x in constant_throughput(x); zero for between.
	TasksPerSecond float64
	// Min and Max bound between(min, max); zero for constant_throughput.
	Min, Max time.Duration
}

// RatePerUser is the long-run task rate (tasks/s) of one user whose tasks take
// latency end to end. Users are closed loops: a user waits for its response
// before it thinks, so the rate is 1 / E[cycle] by the renewal-reward theorem.
//
//   - constant_throughput(x): the cycle is max(1/x, latency), so the rate is
//     min(x, 1/latency). Above 1/x of latency the offered load collapses, which
//     is why the seed's OB peak reached only about 157 of 400 RPS (seed-spec 8 L1).
//   - between(a, b): the cycle is latency + a uniform wait of mean (a+b)/2.
//
// A negative latency counts as zero. An invalid Wait yields 0.
func (w Wait) RatePerUser(latency time.Duration) float64 {
	lat := max(latency, 0).Seconds()
	switch w.Kind {
	case ConstantThroughput:
		if w.TasksPerSecond <= 0 {
			return 0
		}
		return 1 / max(1/w.TasksPerSecond, lat)
	case Between:
		cycle := (w.Min+w.Max).Seconds()/2 + lat
		if cycle <= 0 {
			return 0
		}
		return 1 / cycle
	}
	return 0
}

// String renders the wait the way a locustfile spells it.
func (w Wait) String() string {
	switch w.Kind {
	case ConstantThroughput:
		return fmt.Sprintf("constant_throughput(%g)", w.TasksPerSecond)
	case Between:
		return fmt.Sprintf("between(%g, %g)", w.Min.Seconds(), w.Max.Seconds())
	}
	return fmt.Sprintf("wait(%q)", string(w.Kind))
}

// Stage holds the user count constant from the previous stage's End (or 0)
// until End, i.e. over [previous End, End). The seed's shapes switch at
// exact seconds, so a step function reproduces them without interpolation.
type Stage struct {
	End   time.Duration
	Users float64
}

// Task is one user task with its Locust weight. RequestType names one request
// type of the app (see RequestTypes); one task execution sends exactly one
// request of that type, so task counts and request counts are the same thing
// (ExpectedRequests relies on this).
type Task struct {
	RequestType string
	Weight      float64
}

// Scenario is one load scenario of one app.
type Scenario struct {
	App, Name string
	// Stable marks the seed's "stable_" variants (seed-spec 4.1); Validate
	// requires it to agree with the "stable_" name prefix.
	Stable bool
	// Duration is the default run length (the seed's LOCUST_RUN_TIME, 900 s).
	Duration time.Duration
	// Stages are piecewise-constant user counts; the last stage's End equals
	// Duration and Ends strictly increase.
	Stages []Stage
	// MaxUsers caps every stage, as the seed's LOCUST_MAX_RPS does in its
	// stable files; 0 means no cap. The cap is kept apart from Stages so the
	// declaration shows the seed's phase numbers and the cap that binds them.
	MaxUsers float64
	Wait     Wait
	Tasks    []Task
	// Seed records the seed's own numbers beside ours, for reports and docs.
	Seed SeedNote
}

// SeedNote records what the seed's script for a scenario did.
type SeedNote struct {
	// Tasks lists the seed's tasks and weights, e.g. "GET /cart (1)".
	Tasks string
	// Users describes the seed's user curve.
	Users string
	// RequestsIn900s is the seed-spec 4.2/4.3 "Requests in 900 s" column.
	RequestsIn900s float64
	// Notes explains where we differ from the seed, and the seed's defects we keep.
	Notes string
}

// Apps that have scenarios, in a fixed order.
const (
	OnlineBoutique = "onlineboutique"
	Redis          = "redis"
)

// requestTypes must agree with the requestTypes of envs/app/<app>.yaml,
// which the simulator and the Locust generator resolve names against.
var requestTypes = map[string][]string{
	OnlineBoutique: {"home", "set_currency", "product", "view_cart", "add_to_cart", "checkout"},
	Redis:          {"get", "set", "list", "hash", "info", "zset"},
}

// Apps returns the apps that have scenarios.
func Apps() []string { return []string{OnlineBoutique, Redis} }

// RequestTypes returns the request types a Task of app may name, or nil for
// an unknown app.
func RequestTypes(app string) []string { return slices.Clone(requestTypes[app]) }

// UsersAt returns the user count at time t from the start of the run: the
// stage containing t, capped at MaxUsers. It is 0 before the start and at or
// after Duration, where the seed's tick() returns None and Locust stops.
func (s Scenario) UsersAt(t time.Duration) float64 {
	if t < 0 || t >= s.Duration {
		return 0
	}
	for _, st := range s.Stages {
		if t < st.End {
			return s.capped(st.Users)
		}
	}
	return 0
}

func (s Scenario) capped(users float64) float64 {
	if s.MaxUsers > 0 {
		return min(users, s.MaxUsers)
	}
	return users
}

// Phases returns the stages as the load generator runs them, with MaxUsers
// already applied, so a LoadTestShape needs no cap logic of its own.
func (s Scenario) Phases() []Stage {
	out := make([]Stage, len(s.Stages))
	for i, st := range s.Stages {
		out[i] = Stage{End: st.End, Users: s.capped(st.Users)}
	}
	return out
}

// TaskRate is the task rate (tasks/s) the users try to send at time t when
// each task takes latency end to end: UsersAt(t) * Wait.RatePerUser(latency).
// For constant_throughput(x) that is users * min(x, 1/latency); for
// between(a, b) it is users / (mean(a, b) + latency).
func (s Scenario) TaskRate(t, latency time.Duration) float64 {
	return s.UsersAt(t) * s.Wait.RatePerUser(latency)
}

// ExpectedRequests integrates UsersAt times the nominal per-user rate (zero
// latency) over Duration: the "theoretical requests" of a run, computed from
// the same shape the load generator runs (seed-spec 8 C6) instead of a
// hard-coded table. Achieved counts below it measure closed-loop collapse.
func (s Scenario) ExpectedRequests() float64 {
	rate := s.Wait.RatePerUser(0)
	var total float64
	var start time.Duration
	for _, st := range s.Phases() {
		end := min(st.End, s.Duration)
		if end > start {
			total += st.Users * (end - start).Seconds() * rate
		}
		start = max(start, st.End)
	}
	return total
}

// RequestMix returns each request type's share of tasks (weights normalised
// to sum to 1); a request type listed twice gets the sum of its weights.
func (s Scenario) RequestMix() map[string]float64 {
	var sum float64
	for _, tk := range s.Tasks {
		sum += tk.Weight
	}
	mix := make(map[string]float64, len(s.Tasks))
	if sum <= 0 {
		return mix
	}
	for _, tk := range s.Tasks {
		mix[tk.RequestType] += tk.Weight / sum
	}
	return mix
}

// Validate reports every problem it finds, each naming the bad field.
func (s Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	types, knownApp := requestTypes[s.App]
	if !knownApp {
		bad("App %q is not one of %s", s.App, strings.Join(Apps(), ", "))
	}
	if s.Name == "" {
		bad("Name is empty")
	}
	if strings.HasPrefix(s.Name, "stable_") != s.Stable {
		bad("Stable is %t but Name is %q: Stable must be true exactly when Name starts with \"stable_\"", s.Stable, s.Name)
	}
	if s.Duration <= 0 {
		bad("Duration %v must be positive", s.Duration)
	}

	if len(s.Stages) == 0 {
		bad("Stages is empty")
	}
	var prev time.Duration
	for i, st := range s.Stages {
		if st.End <= prev {
			bad("Stages[%d].End %v must be after %v", i, st.End, prev)
		}
		if !finiteNonNeg(st.Users) {
			bad("Stages[%d].Users %g must be a finite number >= 0", i, st.Users)
		}
		prev = max(prev, st.End)
	}
	if n := len(s.Stages); n > 0 && s.Stages[n-1].End != s.Duration {
		bad("Stages[%d].End %v must equal Duration %v", n-1, s.Stages[n-1].End, s.Duration)
	}
	if !finiteNonNeg(s.MaxUsers) {
		bad("MaxUsers %g must be a finite number >= 0 (0 = no cap)", s.MaxUsers)
	}

	switch s.Wait.Kind {
	case ConstantThroughput:
		if !finiteNonNeg(s.Wait.TasksPerSecond) || s.Wait.TasksPerSecond == 0 {
			bad("Wait.TasksPerSecond %g must be a finite number > 0", s.Wait.TasksPerSecond)
		}
		if s.Wait.Min != 0 || s.Wait.Max != 0 {
			bad("Wait.Min and Wait.Max must be zero for %s", ConstantThroughput)
		}
	case Between:
		if s.Wait.Min < 0 || s.Wait.Max < s.Wait.Min {
			bad("Wait.Min %v and Wait.Max %v must satisfy 0 <= Min <= Max", s.Wait.Min, s.Wait.Max)
		}
		// between(0, 0) is legal Locust, but its rate at zero latency is
		// unbounded, so ExpectedRequests would be infinite.
		if s.Wait.Max <= 0 {
			bad("Wait.Max %v must be positive for %s", s.Wait.Max, Between)
		}
		if s.Wait.TasksPerSecond != 0 {
			bad("Wait.TasksPerSecond must be zero for %s", Between)
		}
	default:
		bad("Wait.Kind %q is not %s or %s", s.Wait.Kind, ConstantThroughput, Between)
	}

	if len(s.Tasks) == 0 {
		bad("Tasks is empty")
	}
	seen := make(map[string]int, len(s.Tasks))
	for i, tk := range s.Tasks {
		if knownApp && !slices.Contains(types, tk.RequestType) {
			bad("Tasks[%d].RequestType %q is not a request type of %s (valid: %s)", i, tk.RequestType, s.App, strings.Join(types, ", "))
		}
		if j, dup := seen[tk.RequestType]; dup {
			bad("Tasks[%d].RequestType %q repeats Tasks[%d]", i, tk.RequestType, j)
		} else {
			seen[tk.RequestType] = i
		}
		if !finiteNonNeg(tk.Weight) || tk.Weight == 0 {
			bad("Tasks[%d].Weight %g must be a finite number > 0", i, tk.Weight)
		}
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scenario %s/%s: %w", s.App, s.Name, err)
	}
	return nil
}

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }

// WithDuration returns a copy whose run lasts d, with every stage End scaled
// by d/Duration, so each phase keeps its share of the run and the average
// load (ExpectedRequests / Duration) is unchanged.
//
// The seed is not consistent here (seed-spec 4.2, 4.3): its fluctuating
// scripts split LOCUST_RUN_TIME into quarters and the stable Redis rushsale
// uses ratios (rush from 0.2 to 0.8 of the run), but the plain OB and Redis
// rushsale scripts use an absolute 180 s start and 300 s duration, so a 30 min
// run keeps a 5 min rush. We scale every scenario proportionally, so a
// scenario means the same shape at any length; at the default 900 s all of
// them match the seed exactly.
//
// Ends are rounded to the nanosecond and the last End is set to d exactly. A
// non-positive d (or a receiver without a positive Duration) yields a copy
// that fails Validate. Seed is unchanged: it describes the seed's 900 s run.
func (s Scenario) WithDuration(d time.Duration) Scenario {
	out := s.clone()
	old := s.Duration
	out.Duration = d
	if d <= 0 || old <= 0 {
		return out
	}
	for i := range out.Stages {
		out.Stages[i].End = scaleDuration(out.Stages[i].End, d, old)
	}
	if n := len(out.Stages); n > 0 && s.Stages[n-1].End == old {
		out.Stages[n-1].End = d
	}
	return out
}

// scaleDuration returns round(x*num/den) for x >= 0 and num, den > 0 without
// overflow: nanosecond products of minutes-long durations exceed int64.
func scaleDuration(x, num, den time.Duration) time.Duration {
	if x <= 0 {
		return x
	}
	hi, lo := bits.Mul64(uint64(x), uint64(num))
	if hi >= uint64(den) { // quotient overflows uint64
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(den))
	if r >= uint64(den)-r { // round half up
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(q)
}

// clone copies the slices so callers cannot change the declared scenarios.
func (s Scenario) clone() Scenario {
	s.Stages = slices.Clone(s.Stages)
	s.Tasks = slices.Clone(s.Tasks)
	return s
}

// String summarises the scenario on one line, e.g.
// "onlineboutique/rushsale 15m0s: 100 users to 3m0s, 800 to 8m0s, 100 to 15m0s; constant_throughput(1); tasks home:1 ...".
func (s Scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %v:", s.App, s.Name, s.Duration)
	for i, st := range s.Stages {
		sep := ","
		if i == 0 {
			sep = ""
		}
		unit := ""
		if i == 0 {
			unit = " users"
		}
		fmt.Fprintf(&b, "%s %g%s to %v", sep, st.Users, unit, st.End)
	}
	if s.MaxUsers > 0 {
		fmt.Fprintf(&b, "; cap %g users", s.MaxUsers)
	}
	fmt.Fprintf(&b, "; %s; tasks", s.Wait)
	for _, tk := range s.Tasks {
		fmt.Fprintf(&b, " %s:%g", tk.RequestType, tk.Weight)
	}
	return b.String()
}

// Lookup returns a copy of the declared scenario name of app.
func Lookup(app, name string) (Scenario, error) {
	if _, ok := requestTypes[app]; !ok {
		return Scenario{}, fmt.Errorf("unknown app %q (valid: %s)", app, strings.Join(Apps(), ", "))
	}
	for i := range scenarios {
		if scenarios[i].App == app && scenarios[i].Name == name {
			return scenarios[i].clone(), nil
		}
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q for app %s (valid: %s)", name, app, strings.Join(Names(app), ", "))
}

// Names returns the scenario names of app in declaration order (offpeak,
// peak, rushsale, fluctuating, then the stable_ variants), or nil for an
// unknown app.
func Names(app string) []string {
	var names []string
	for i := range scenarios {
		if scenarios[i].App == app {
			names = append(names, scenarios[i].Name)
		}
	}
	return names
}

// All returns copies of every declared scenario, app by app in Apps order.
func All() []Scenario {
	out := make([]Scenario, 0, len(scenarios))
	for _, app := range Apps() {
		for i := range scenarios {
			if scenarios[i].App == app {
				out = append(out, scenarios[i].clone())
			}
		}
	}
	return out
}
