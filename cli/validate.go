package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// ErrUsage marks errors that are the caller's: bad flags, arguments or
// input files. grlctl exits with 2 for them, 1 for other failures.
var ErrUsage = errors.New("usage")

// NewCmdValidate builds grlctl validate.
func NewCmdValidate(streams IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check an experiment.yaml and print it with every default filled in",
		Long: `Check an experiment.yaml strictly: unknown fields, wrong types, out-of-range
values, unknown apps, scenarios, policies or HPA configurations, and anything
that looks like a secret are errors naming the file, line:column and field path.
On success it prints the spec hash, or the full spec with defaults (-o json).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			spec, err := experiment.Load(args[0])
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(spec)
			}
			_, err = fmt.Fprintf(streams.Out, "%s: valid experiment %q (spec hash %s)\n", args[0], spec.Metadata.Name, api.SpecHash(spec))
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}
