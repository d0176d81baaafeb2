package objstoretest

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill the server if the test binary dies
// without running its cleanups (a panic in another goroutine, a timeout's
// os.Exit), so no server outlives the test run.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
