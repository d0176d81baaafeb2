package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// reportsDir holds every object of an experiment's report.
var reportsDir = path.Dir(api.ReportJSONObject)

// NewCmdReport builds grlctl report.
func NewCmdReport(streams IO) *cobra.Command {
	var tf temporalFlags
	var s3 s3Flags
	var output, download string
	var open bool
	cmd := &cobra.Command{
		Use:   "report ID",
		Short: "Print or download a finished experiment's report",
		Long: `Print a finished experiment's report (reports/report.md; -o json prints
reports/report.json as stored). The experiment's bucket and prefix come from
its workflow memo; the S3 server and credentials from the environment:
` + s3EnvHelp + ` (GRL_S3_BUCKET is not needed).
Every object is checked against its SHA-256 before it is used.

--download DIR writes every object under reports/ into DIR and prints the
paths. --open writes reports/report.html into the --download directory or a
new temporary one and prints its path, to open in a browser.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeExperimentIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, id := cmd.Context(), args[0]
			e, err := describeExperiment(ctx, c, id)
			if err != nil {
				return err
			}
			bucket, prefix, err := e.storage()
			if err != nil {
				return err
			}
			if e.Running {
				return fmt.Errorf("experiment %q is still running (stage %s); its report is written when it finishes (follow it with: grlctl watch %s)", id, orDash(e.Stage), id)
			}
			store, _, err := storeFromEnv(&s3, bucket, false)
			if err != nil {
				return err
			}
			r := &reportReader{store: store, bucket: bucket, prefix: prefix, exp: e}
			if download == "" && !open {
				key := api.ReportMarkdownObject
				if output == "json" {
					key = api.ReportJSONObject
				}
				data, err := r.get(ctx, key)
				if err != nil {
					return err
				}
				_, err = streams.Out.Write(data)
				return err
			}
			paths, err := r.save(ctx, download, open)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(paths)
			}
			_, err = fmt.Fprintln(streams.Out, strings.Join(paths, "\n"))
			return err
		},
	}
	tf.add(cmd)
	s3.add(cmd, false)
	cmd.Flags().StringVar(&download, "download", "", "write every report object into this directory and print the paths")
	cmd.Flags().BoolVar(&open, "open", false, "write reports/report.html (into the --download directory, or a temporary one) and print its path")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// reportReader reads a closed experiment's report objects.
type reportReader struct {
	store          objstore.Store
	bucket, prefix string
	exp            experimentInfo
}

func (r *reportReader) key(rel string) string { return api.ExperimentKey(r.prefix, r.exp.ID, rel) }

// get reads one report object, checksum-verified; a missing one is
// reported as the experiment having no report.
func (r *reportReader) get(ctx context.Context, rel string) ([]byte, error) {
	key := r.key(rel)
	data, _, err := objstore.GetVerified(ctx, r.store, key, "")
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, r.missing(key)
	}
	if err != nil {
		return nil, fmt.Errorf("read report of experiment %q: %w", r.exp.ID, err)
	}
	return data, nil
}

func (r *reportReader) missing(key string) error {
	why := ""
	if r.exp.Status != "completed" {
		why = fmt.Sprintf(" (it %s before writing one)", r.exp.Status)
	}
	if rel, _ := strings.CutPrefix(key, r.key("")); rel == api.ReportHTMLObject {
		return fmt.Errorf("experiment %q has no HTML report: s3://%s/%s does not exist; grlctl report %s prints the Markdown one", r.exp.ID, r.bucket, key, r.exp.ID)
	}
	return fmt.Errorf("experiment %q has no report yet%s: s3://%s/%s does not exist", r.exp.ID, why, r.bucket, key)
}

// save writes the report objects into files and returns their paths:
// every object under reports/ into dir when dir is set, and with open the
// HTML report, into dir or a new temporary directory.
func (r *reportReader) save(ctx context.Context, dir string, open bool) ([]string, error) {
	if dir == "" {
		data, err := r.get(ctx, api.ReportHTMLObject)
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "grlctl-report-")
		if err != nil {
			return nil, err
		}
		p := filepath.Join(tmp, path.Base(api.ReportHTMLObject))
		return []string{p}, os.WriteFile(p, data, 0o644)
	}
	base := r.key(reportsDir) + "/"
	objs, err := r.store.List(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("list the report of experiment %q: %w", r.exp.ID, err)
	}
	if len(objs) == 0 {
		return nil, r.missing(base)
	}
	var paths []string
	html := false
	for _, o := range objs {
		rel := filepath.FromSlash(strings.TrimPrefix(o.Key, base))
		if !filepath.IsLocal(rel) {
			return paths, fmt.Errorf("report object %s has a key that does not name a file under %s", o.Key, dir)
		}
		data, err := r.get(ctx, path.Join(reportsDir, filepath.ToSlash(rel)))
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return paths, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
		html = html || o.Key == r.key(api.ReportHTMLObject)
	}
	if open && !html {
		return paths, r.missing(r.key(api.ReportHTMLObject))
	}
	return paths, nil
}
