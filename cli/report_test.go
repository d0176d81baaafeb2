package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// storedObject reads an object the way report does, checksum-verified.
func storedObject(t *testing.T, s *stack, key string) string {
	t.Helper()
	data, _, err := objstore.GetVerified(context.Background(), s.store, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReportPrintsAndDownloadsTheStoredReport runs a real experiment and
// reads its report in every form. GRL_S3_BUCKET names another bucket: the
// bucket must come from the experiment's memo.
func TestReportPrintsAndDownloadsTheStoredReport(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	spec := s.submit(t, "report-e2e", true)
	key := func(rel string) string { return api.ExperimentKey(spec.Spec.Storage.Prefix, "report-e2e", rel) }
	md, js := storedObject(t, s, key(api.ReportMarkdownObject)), storedObject(t, s, key(api.ReportJSONObject))

	t.Run("markdown", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "report", "report-e2e")
		if code != 0 || out != md {
			t.Errorf("exit %d (%s); printed\n%s\nwant reports/report.md:\n%s", code, errOut, out, md)
		}
	})
	t.Run("json as stored", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "report", "report-e2e", "-o", "json")
		if code != 0 || out != js || !json.Valid([]byte(out)) {
			t.Errorf("exit %d (%s); printed\n%s\nwant reports/report.json:\n%s", code, errOut, out, js)
		}
	})
	// Every object under reports/, as stored.
	objs, err := s.store.List(context.Background(), key("reports/"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var all []string
	for _, o := range objs {
		want[filepath.Base(o.Key)] = storedObject(t, s, o.Key)
		all = append(all, filepath.Base(o.Key))
	}
	for _, name := range []string{"report.html", "report.json", "report.md", "report.csv", "training.png"} {
		if _, ok := want[name]; !ok {
			t.Fatalf("the worker stored no reports/%s (it stored %v)", name, all)
		}
	}
	cases := []struct {
		name      string
		args      []string
		wantFiles []string
	}{
		{"download", []string{"--download", "DIR"}, all},
		{"open", []string{"--open"}, []string{"report.html"}},
		{"open into the download directory", []string{"--open", "--download", "DIR"}, all},
		{"download with JSON", []string{"--download", "DIR", "-o", "json"}, all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // where --open alone writes
			args := []string{"report", "report-e2e"}
			for _, a := range tc.args {
				args = append(args, strings.Replace(a, "DIR", dir, 1))
			}
			code, out, errOut := s.grlctl(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var paths []string
			if slices.Contains(tc.args, "json") {
				if err := json.Unmarshal([]byte(out), &paths); err != nil {
					t.Fatalf("not a JSON array of paths: %v\n%s", err, out)
				}
			} else {
				paths = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			}
			var names []string
			for _, p := range paths {
				if slices.Contains(tc.args, "--download") && filepath.Dir(p) != dir {
					t.Errorf("%s is not in the --download directory %s", p, dir)
				}
				if !slices.Contains(tc.args, "--download") && !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
					t.Errorf("%s is not in a temporary directory under %s", p, tmp)
				}
				names = append(names, filepath.Base(p))
				got, err := os.ReadFile(p)
				if err != nil || string(got) != want[filepath.Base(p)] {
					t.Errorf("%s holds %q (%v), want the stored object", p, got, err)
				}
			}
			if !slices.Equal(names, tc.wantFiles) {
				t.Errorf("wrote %v, want %v", names, tc.wantFiles)
			}
		})
	}

	t.Run("open without an HTML report", func(t *testing.T) {
		// A report written before report.html existed.
		if err := s.store.Delete(context.Background(), key(api.ReportHTMLObject)); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := s.grlctl(t, "report", "report-e2e", "--open")
		if code != 1 || !strings.Contains(errOut, "no HTML report") || !strings.Contains(errOut, "report.html") {
			t.Errorf("exit %d, stderr %q; want 1 saying there is no HTML report", code, errOut)
		}
	})

	t.Run("object failing verification", func(t *testing.T) {
		// Replaced without a SHA-256: the report must not be trusted.
		if _, err := objstore.PutBytes(context.Background(), s.store, key(api.ReportMarkdownObject), []byte("forged\n"), ""); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := s.grlctl(t, "report", "report-e2e")
		if code != 1 || out != "" || !strings.Contains(errOut, "sha256") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 with a sha256 error and nothing printed", code, out, errOut)
		}
	})
}

// TestReportSaysWhyThereIsNoReport covers experiments that are running,
// closed without a report, unknown, or unreachable for want of S3
// settings.
func TestReportSaysWhyThereIsNoReport(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	s.startFake(t, s.spec(t, "report-running", nil))
	s.signal(t, "report-running", signalProgress, trainingProgress)
	s.startFake(t, s.spec(t, "report-completed", nil))
	s.finish(t, "report-completed", "")
	s.startFake(t, s.spec(t, "report-failed", nil))
	s.finish(t, "report-failed", "boom")
	eventually(t, func() string { return "stage search attribute not updated" }, func() bool {
		_, out, _ := s.grlctl(t, "list", "--stage", "train")
		return strings.Contains(out, "report-running")
	})

	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"running", []string{"report-running"}, nil, 1, `experiment "report-running" is still running (stage train)`},
		{"running, download", []string{"report-running", "--download", t.TempDir()}, nil, 1, "still running"},
		{"completed without a report", []string{"report-completed"}, nil, 1, `experiment "report-completed" has no report yet: s3://`},
		{"failed", []string{"report-failed"}, nil, 1, "has no report yet (it failed before writing one)"},
		{"failed, download", []string{"report-failed", "--download", t.TempDir()}, nil, 1, "has no report yet (it failed before writing one)"},
		{"unknown experiment", []string{"no-such-experiment"}, nil, 2, `no experiment "no-such-experiment"`},
		{"no S3 endpoint", []string{"report-completed"}, map[string]string{objstore.EnvEndpoint: ""}, 2, objstore.EnvEndpoint},
		{"unknown output format", []string{"report-completed", "-o", "yaml"}, nil, 2, "yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := s.grlctl(t, append([]string{"report"}, tc.args...)...)
			if code != tc.wantCode || out != "" || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
}
