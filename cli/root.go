// Package cli implements grlctl, grlscaler's command-line interface.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// IO carries the streams a command writes to, so tests run commands in
// process and read what they print.
type IO struct {
	Out, Err io.Writer
}

// NewRootCmd builds the grlctl command tree.
func NewRootCmd(streams IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "grlctl",
		Short:         "Run reinforcement-learning autoscaling experiments for microservices",
		Long:          "grlctl runs reinforcement-learning autoscaling experiments for microservice apps on Kubernetes or on a simulated cluster (a digital twin of the app).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	})
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	// status is built with submit; its ID completes like the others'.
	status := NewCmdStatus(streams)
	status.ValidArgsFunction = completeExperimentIDs
	root.AddCommand(NewCmdSim(streams), NewCmdValidate(streams), NewCmdSubmit(streams), status, NewCmdWorker(streams), NewCmdDev(streams),
		NewCmdWatch(streams), NewCmdList(streams), NewCmdCancel(streams), NewCmdReport(streams), NewCmdLogs(streams), NewCmdCompare(streams), NewCmdAgent(streams))
	root.AddCommand(NewCmdSchedule(streams), NewCmdDrift(streams), NewCmdStage(streams))
	root.AddCommand(NewCmdEmulate(streams))
	usageArgs(root)
	return root
}

// usageArgs makes a wrong number of arguments a usage error (exit 2), like
// a bad flag, for every command below c.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if args := sub.Args; args != nil {
			sub.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return fmt.Errorf("%w: %w", ErrUsage, err)
				}
				return nil
			}
		}
		usageArgs(sub)
	}
}

// Execute runs grlctl with args and returns the process exit code.
func Execute(ctx context.Context, args []string, streams IO) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		_, _ = io.WriteString(streams.Err, "grlctl: "+strings.TrimPrefix(err.Error(), ErrUsage.Error()+": ")+"\n")
		if errors.Is(err, ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// checkOutput validates an -o value: every command that prints data offers
// text and json.
func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("%w: unknown output format %q (valid: text, json)", ErrUsage, output)
	}
	return nil
}
