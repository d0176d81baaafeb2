//go:build !linux

package objstoretest

import "os/exec"

// killWithParent is a no-op where there is no parent-death signal; the
// test's cleanup still kills the server.
func killWithParent(*exec.Cmd) {}
