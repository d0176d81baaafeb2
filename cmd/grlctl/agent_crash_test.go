package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/loadtest"
)

func locustPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/locust"); err == nil {
		return "/usr/bin/locust"
	}
	if p, err := exec.LookPath("locust"); err == nil {
		return p
	}
	if testing.Short() {
		t.Skip("Locust is not installed (apt-get install python3-locust, or make debian-deps)")
	}
	t.Fatal("Locust is not installed: apt-get install python3-locust (make debian-deps does)")
	return ""
}

// agentJob is a job of 4 users against target for d.
func agentJob(t *testing.T, target string, d time.Duration) loadtest.Job {
	t.Helper()
	peak, err := load.Lookup(load.OnlineBoutique, "peak")
	if err != nil {
		t.Fatal(err)
	}
	s := load.Scenario{App: load.OnlineBoutique, Name: "agent-crash", Duration: d,
		Stages: []load.Stage{{End: d, Users: 4}}, Wait: load.Wait{Kind: load.ConstantThroughput, TasksPerSecond: 5}, Tasks: peak.Tasks}
	job, err := loadtest.NewJob(s, app.OnlineBoutique(), target, loadtest.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func startAgentProcess(t *testing.T, dir, jobs, locust string) (*process, *loadtest.RemoteRunner) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := startGrlctl(t, dir, []string{loadtest.TokenEnv + "=crash-test-token"},
		"agent", "--listen", addr, "--dir", jobs, "--locust", locust)
	r := &loadtest.RemoteRunner{BaseURL: "http://" + addr, Token: "crash-test-token"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := r.Jobs(context.Background()); err == nil {
			return p, r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent does not answer:\n%s", p.output(t))
		}
	}
}

// TestAgentProcessKilledMidJob kills a real grlctl agent (SIGKILL) while
// Locust runs a job for it: Locust must not outlive the agent by more than
// its orderly exit, and the restarted agent must still serve the job that
// finished before and report the other as failed, saying why.
func TestAgentProcessKilledMidJob(t *testing.T) {
	locust := locustPath(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(target.Close)
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs")
	ctx := context.Background()

	agent, remote := startAgentProcess(t, dir, jobs, locust)
	finished, err := remote.Start(ctx, agentJob(t, target.URL, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadtest.Wait(ctx, remote, finished, 200*time.Millisecond)
	if err != nil || st.State != loadtest.StateSucceeded {
		t.Fatalf("first job: %+v, %v\n%s", st, err, agent.output(t))
	}
	before, err := remote.Results(ctx, finished)
	if err != nil {
		t.Fatal(err)
	}

	running, err := remote.Start(ctx, agentJob(t, target.URL, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(jobs, running.ID, "locust_samples.csv")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(samples); err == nil && strings.Count(string(b), "\n") > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second job's Locust wrote no samples")
		}
	}
	var rec struct{ PID int }
	b, err := os.ReadFile(filepath.Join(jobs, running.ID, "job.json"))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.PID == 0 {
		t.Fatalf("job record %s: %v", b, err)
	}
	if err := agent.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = agent.cmd.Wait()
	// The kernel sends Locust SIGTERM when the agent dies; Locust writes
	// its statistics and exits. Its group gets SIGKILL here only if it did not.
	gone := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !alive(rec.PID) {
			gone = true
			break
		}
	}
	if !gone {
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL)
		t.Errorf("Locust (pid %d) outlived its agent by 20 s", rec.PID)
	}

	_, remote2 := startAgentProcess(t, dir, jobs, locust)
	st2, err := remote2.Status(ctx, finished)
	if err != nil || st2.State != loadtest.StateSucceeded {
		t.Errorf("after the restart the finished job is %+v, %v", st2, err)
	}
	after, err := remote2.Results(ctx, finished)
	if err != nil || after.Total != before.Total {
		t.Errorf("after the restart the finished job's results are %+v, %v; before %+v", after, err, before.Total)
	}
	st3, err := remote2.Status(ctx, running)
	if err != nil || st3.State != loadtest.StateFailed ||
		!strings.Contains(st3.Reason, fmt.Sprintf("Locust (pid %d) ended while no runner watched it", rec.PID)) {
		t.Errorf("after the restart the job that ran at the crash is %+v, %v; want failed, with the reason", st3, err)
	}
}

// alive reports whether pid runs (Linux: /proc); a zombie (exited, not
// yet reaped by whoever adopted it) does not.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
