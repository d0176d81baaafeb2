package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// NewCmdLogs builds grlctl logs.
func NewCmdLogs(streams IO) *cobra.Command {
	var tf temporalFlags
	var s3 s3Flags
	var output, activity string
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print the activity logs an experiment's workers stored",
		Long: `Print the log objects under <prefix>/<ID>/logs/ in key order, each after a
header line "==> KEY <==" (-o json: one JSON object per log, with key, size,
last_modified and content). --activity keeps the logs whose file name
contains the name (case-insensitively), for example TrainChunk. -f keeps
polling every --interval for new log objects until the experiment closes.
The bucket and prefix come from the experiment's memo; the S3 server and
credentials from the environment: ` + s3EnvHelp + `
(GRL_S3_BUCKET is not needed).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeExperimentIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("%w: --interval must be positive, got %v", ErrUsage, interval)
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
			store, _, err := storeFromEnv(&s3, bucket, false)
			if err != nil {
				return err
			}
			l := &logPrinter{
				store: store, dir: api.ExperimentKey(prefix, id, api.LogsDir) + "/", activity: strings.ToLower(activity),
				out: streams.Out, errOut: streams.Err, json: output == "json", seen: map[string]bool{},
			}
			for {
				// The status is read before the listing, so that the
				// listing after a closed status is the final one.
				running := e.Running
				if err := l.printNew(ctx); err != nil {
					return err
				}
				if !follow || !running {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(interval):
				}
				if e, err = describeExperiment(ctx, c, id); err != nil {
					return err
				}
			}
			if len(l.seen) == 0 {
				fmt.Fprintf(streams.Err, "grlctl: no logs%s under s3://%s/%s\n", l.forActivity(activity), bucket, l.dir)
			}
			if l.failed > 0 {
				return fmt.Errorf("%d log object(s) of experiment %q could not be read", l.failed, id)
			}
			return nil
		},
	}
	tf.add(cmd)
	s3.add(cmd, false)
	cmd.Flags().StringVar(&activity, "activity", "", "only logs of activities with this name (e.g. TrainChunk)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new logs until the experiment closes")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often -f polls for new logs")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// logPrinter prints each log object under dir once.
type logPrinter struct {
	store       objstore.Store
	dir         string
	activity    string // lower case; "" for all
	out, errOut io.Writer
	json        bool
	seen        map[string]bool
	failed      int
}

func (l *logPrinter) forActivity(name string) string {
	if name == "" {
		return ""
	}
	return " of activity " + name
}

// printNew prints the log objects not printed yet, in key order. An object
// that cannot be read or fails verification is reported on stderr and
// counted, and the others are still printed.
func (l *logPrinter) printNew(ctx context.Context) error {
	objs, err := l.store.List(ctx, l.dir)
	if err != nil {
		return fmt.Errorf("list logs under %s: %w", l.dir, err)
	}
	for _, o := range objs {
		if l.seen[o.Key] || !strings.Contains(strings.ToLower(path.Base(o.Key)), l.activity) {
			continue
		}
		data, info, err := objstore.GetVerified(ctx, l.store, o.Key, "")
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(l.errOut, "grlctl: %v\n", err)
			l.failed++
			l.seen[o.Key] = true
			continue
		}
		info.Key = o.Key
		if err := l.print(info, data); err != nil {
			return err
		}
		l.seen[o.Key] = true
	}
	return nil
}

func (l *logPrinter) print(info objstore.ObjectInfo, data []byte) error {
	if l.json {
		return json.NewEncoder(l.out).Encode(map[string]any{
			"key": info.Key, "size": info.Size, "last_modified": info.LastModified, "content": string(data),
		})
	}
	var b strings.Builder
	if len(l.seen) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("==> " + info.Key + " <==\n")
	b.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		b.WriteString("\n")
	}
	_, err := io.WriteString(l.out, b.String())
	return err
}
