//go:build !linux

package loadtest

import "syscall"

// sysProcAttr puts Locust in its own process group, so stopping it reaches
// everything it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// processRunning reports whether pid is alive; without /proc it cannot tell
// a recycled pid from the job's Locust.
func processRunning(pid int, _ string) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
