package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr puts Locust in its own process group, so stopping it reaches
// everything it started, and asks the kernel to send it SIGTERM (Locust's
// orderly exit) if the process that started it dies, so a crashed runner
// leaves no load behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// processRunning reports whether pid is a live process whose command line
// mentions dir: a recycled pid, a zombie (empty command line) or an exited
// process is not the job's Locust.
func processRunning(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte(dir))
}
