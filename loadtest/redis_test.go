package loadtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

// redisScenario sends every Redis request type, weight 1 each, from users
// at constant_throughput(perUser).
func redisScenario(t *testing.T, users, perUser float64, d time.Duration) load.Scenario {
	t.Helper()
	s := load.Scenario{App: load.Redis, Name: "commands", Duration: d,
		Stages: []load.Stage{{End: d, Users: users}},
		Wait:   load.Wait{Kind: load.ConstantThroughput, TasksPerSecond: perUser}}
	for _, rt := range load.RequestTypes(load.Redis) {
		s.Tasks = append(s.Tasks, load.Task{RequestType: rt, Weight: 1})
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// startRedis runs redis-server on a free loopback port without persistence,
// or skips the test when it is not installed.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server): the Redis scenario test needs a real Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not listen within 10 s")
		}
	}
}

// TestRedisScenarioAgainstARealRedis runs a generated Redis file (every
// request type) against redis-server: each command must appear in
// Locust's statistics as its request type, without failures, and reach
// Redis. 20 users at constant_throughput(5) declare 100 commands/s while
// a command takes well under the 0.2 s cycle (load.Wait.RatePerUser), and
// the steady rate must be within 10 % of it.
func TestRedisScenarioAgainstARealRedis(t *testing.T) {
	t.Parallel()
	addr := startRedis(t)
	const run = 8 * time.Second
	s := redisScenario(t, 20, 5, run)
	job, err := NewJob(s, app.Redis(), "redis://"+addr, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, r, h, time.Minute)
	if st.State != StateSucceeded {
		t.Fatalf("status %+v", st)
	}
	res, err := r.Results(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	a := app.Redis()
	seen := map[string]bool{}
	for _, tot := range res.ByRequest {
		rt := a.RequestTypes[a.RequestTypeIndex(tot.RequestType)]
		seen[tot.RequestType] = true
		if tot.Method != rt.Method || tot.Requests == 0 || tot.Failures != 0 {
			t.Errorf("%s: %+v, want %s requests without failures", tot.RequestType, tot, rt.Method)
		}
	}
	for _, rt := range a.RequestTypes {
		if !seen[rt.Name] {
			t.Errorf("no %s commands in Locust's statistics: %+v", rt.Name, res.ByRequest)
		}
	}
	if len(res.Exceptions) > 0 || len(res.Failures) > 0 {
		t.Errorf("failures %+v, exceptions %+v", res.Failures, res.Exceptions)
	}

	var n int64
	var secs float64
	for _, sm := range res.Aggregate.Samples {
		if sm.Time-sm.Interval >= 2 && sm.Time <= run.Seconds()-1 {
			n += sm.Requests
			secs += sm.Interval
		}
	}
	declared := s.TaskRate(run/2, time.Duration(res.Total.Mean*float64(time.Millisecond)))
	achieved := float64(n) / secs
	t.Logf("Redis: achieved %.1f commands/s over %.1f s, declared %.1f; %d in all, mean %.2f ms",
		achieved, secs, declared, res.Total.Requests, res.Total.Mean)
	if secs < 3 || math.Abs(achieved-declared) > 0.10*declared {
		t.Errorf("achieved %.1f commands/s over %.1f s, declared %.1f", achieved, secs, declared)
	}

	// Redis saw the commands behind the request types.
	if cli, err := exec.LookPath("redis-cli"); err == nil {
		host, port, _ := net.SplitHostPort(addr)
		out, err := exec.Command(cli, "-h", host, "-p", port, "info", "commandstats").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"cmdstat_get:", "cmdstat_set:", "cmdstat_lpush:", "cmdstat_hset:", "cmdstat_info:", "cmdstat_zadd:", "cmdstat_zremrangebyrank:"} {
			if !strings.Contains(string(out), c) {
				t.Errorf("Redis ran no %s commands:\n%s", strings.TrimSuffix(strings.TrimPrefix(c, "cmdstat_"), ":"), out)
			}
		}
	}
}

// A command that fails is a failed request and the users go on: against a
// closed port every command fails, and the run still finishes.
func TestRedisCommandFailuresAreFailedRequests(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	job, err := NewJob(redisScenario(t, 2, 5, 3*time.Second), app.Redis(), "redis://"+addr, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, r, h, time.Minute); st.State != StateSucceeded || st.ExitCode == nil || *st.ExitCode != 1 {
		t.Fatalf("status %+v, want succeeded with Locust's exit code 1", st)
	}
	res, err := r.Results(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Requests < 10 || res.Total.FailureRate != 1 || len(res.Failures) == 0 {
		t.Errorf("totals %+v, failures %+v: want every command failed, and more than a few tried", res.Total, res.Failures)
	}
	if len(res.Failures) > 0 && !strings.Contains(res.Failures[0].Error, "Connection") {
		t.Errorf("failure %+v does not say the connection failed", res.Failures[0])
	}
}
