package main

import (
	"os"
	"strings"
	"testing"
)

// envArgs, when set, makes the test binary run as grlctl with these
// arguments (separated by newlines): the crash tests start real grlctl
// processes this way and kill them.
const envArgs = "GRL_TEST_AS_GRLCTL"

func TestMain(m *testing.M) {
	if args := os.Getenv(envArgs); args != "" {
		// A grlctl process started by a test gets its arguments from the
		// environment; one that grlctl itself started (a stage run by a
		// worker) gets real arguments.
		if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-test.") {
			os.Args = append([]string{"grlctl"}, strings.Split(args, "\n")...)
		}
		main()
		return
	}
	os.Exit(m.Run())
}
