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
		os.Args = append([]string{"grlctl"}, strings.Split(args, "\n")...)
		main()
		return
	}
	os.Exit(m.Run())
}
