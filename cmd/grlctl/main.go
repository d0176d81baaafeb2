// Command grlctl is grlscaler's command-line interface.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/grlscaler/grlscaler/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], cli.IO{Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
