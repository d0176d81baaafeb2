package replay

import (
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/grlscaler/grlscaler/envs/app"
)

// FieldSuffixes are the seven per-deployment columns of a gym-hpa
// observation CSV, in file order (seed-spec 1.8, 1.9). Column names are
// "<deployment>" + "_" + suffix.
var FieldSuffixes = []string{
	"num_pods",
	"desired_replicas",
	"cpu_usage",
	"mem_usage",
	"traffic_in",
	"traffic_out",
	"latency",
}

// Indices into FieldSuffixes.
const (
	fPods = iota
	fDesired
	fCPU
	fMem
	fRx
	fTx
	fLat
	numFields
)

// Dataset is a parsed gym-hpa observation CSV: one row per recorded step,
// with the per-deployment values of one app in canonical service order.
//
// The rows are treated as a bag of (pod vector, metrics) snapshots, not as a
// time series: gym-hpa's simulated mode re-samples rows, so file order means
// nothing (datasets/README.md), and the seed's file-order "diff" column
// (seed-spec 1.8) is not used.
type Dataset struct {
	name string
	app  *app.App
	n    int // services
	rows int
	// Row-major, rows x n.
	pods                  []int
	cpu, mem, rx, tx, lat []float64
	exact                 map[string][]int // pods-vector key -> row indices
	requiredWidthNoHeader int
	headerless            bool
	declaredServiceNames  []string
}

// Len returns the number of data rows.
func (d *Dataset) Len() int { return d.rows }

// Name returns the name the dataset was read under (for messages).
func (d *Dataset) Name() string { return d.name }

// Headerless reports whether the file had no header row.
func (d *Dataset) Headerless() bool { return d.headerless }

// Services returns the app's service names in the dataset's (canonical) order.
func (d *Dataset) Services() []string { return append([]string(nil), d.declaredServiceNames...) }

// ColumnName returns gym-hpa's name of a column, e.g. "frontend_cpu_usage".
func ColumnName(service, suffix string) string { return service + "_" + suffix }

// ReadCSV parses a gym-hpa observation CSV for app a. name is used in error
// messages only (pass the file name).
//
// Two layouts are accepted:
//   - with a header row (gym-hpa's dataset loader reads columns by name,
//     seed-spec 1.8): columns are matched by name, "<service>_<suffix>" for
//     each service of a and each of FieldSuffixes; extra columns (including
//     "date" and a pandas index column) are ignored and a missing column is
//     an error naming it. The date column is not required because nothing
//     uses it. The first record is a header when one of its fields is
//     "date" or ends in "_num_pods".
//   - without a header (the observation log gym-hpa writes, seed-spec 1.9,
//     e.g. datasets/README.md): exactly 1 + 7*len(a.Services) columns, the
//     date and then the seven fields per service in canonical order.
//
// Every row must have as many fields as the header (or 1 + 7n). Numbers are
// parsed strictly: a field that is not a finite number is an error naming
// the file, line and column, never a skipped row. num_pods must be a
// non-negative integer. desired_replicas is validated but not used: the
// environment recomputes it. A file without data rows is an error.
func ReadCSV(name string, r io.Reader, a *app.App) (*Dataset, error) {
	if a == nil || len(a.Services) == 0 {
		return nil, fmt.Errorf("%s: no app (or an app without services) to read the dataset for", name)
	}
	n := len(a.Services)
	d := &Dataset{
		name:                  name,
		app:                   a,
		n:                     n,
		exact:                 map[string][]int{},
		requiredWidthNoHeader: 1 + numFields*n,
		declaredServiceNames:  a.ServiceNames(),
	}

	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // field counts are checked here, with better messages
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: no data rows", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rec) > 0 {
		rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
	}

	// cols[s*numFields+f] is the record index of service s's field f.
	cols := make([]int, n*numFields)
	names := make([]string, n*numFields)
	for s, svc := range a.Services {
		for f, suf := range FieldSuffixes {
			names[s*numFields+f] = ColumnName(svc.Name, suf)
		}
	}
	var width int
	if isHeader(rec) {
		width = len(rec)
		byName := make(map[string]int, len(rec))
		for i, h := range rec {
			h = strings.TrimSpace(h)
			if _, dup := byName[h]; dup {
				byName[h] = -1 // ambiguous; an error if it is a column we need
				continue
			}
			byName[h] = i
		}
		var missing, dups []string
		for k, col := range names {
			i, ok := byName[col]
			switch {
			case !ok:
				missing = append(missing, col)
			case i < 0:
				dups = append(dups, col)
			}
			cols[k] = i
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s:1: header is missing column(s) %s (app %s)", name, strings.Join(missing, ", "), a.Name)
		}
		if len(dups) > 0 {
			return nil, fmt.Errorf("%s:1: header has duplicate column(s) %s", name, strings.Join(dups, ", "))
		}
	} else {
		d.headerless = true
		width = d.requiredWidthNoHeader
		for k := range cols {
			cols[k] = 1 + k
		}
		if err := d.parseRow(cr, rec, width, cols, names); err != nil {
			return nil, err
		}
	}

	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := d.parseRow(cr, rec, width, cols, names); err != nil {
			return nil, err
		}
	}
	if d.rows == 0 {
		return nil, fmt.Errorf("%s: no data rows", name)
	}
	return d, nil
}

// isHeader reports whether the first record names columns.
func isHeader(rec []string) bool {
	for _, f := range rec {
		f = strings.TrimSpace(f)
		if f == "date" || strings.HasSuffix(f, "_"+FieldSuffixes[fPods]) {
			return true
		}
	}
	return false
}

// parseRow appends one data record.
func (d *Dataset) parseRow(cr *csv.Reader, rec []string, width int, cols []int, names []string) error {
	if len(rec) != width {
		line, _ := cr.FieldPos(0)
		want := fmt.Sprintf("%d (as in the header)", width)
		if d.headerless {
			want = fmt.Sprintf("%d (date + 7 x %d services of %s, or a header row)", width, d.n, d.app.Name)
		}
		return fmt.Errorf("%s:%d: %d fields, want %s", d.name, line, len(rec), want)
	}
	var vals [numFields]float64
	for s := 0; s < d.n; s++ {
		for f := 0; f < numFields; f++ {
			k := s*numFields + f
			i := cols[k]
			raw := strings.TrimSpace(rec[i])
			v, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				line, _ := cr.FieldPos(i)
				return fmt.Errorf("%s:%d: column %d (%s): %q is not a finite number", d.name, line, i+1, names[k], raw)
			}
			if f == fPods && (v < 0 || v != math.Trunc(v) || v > math.MaxInt32) {
				line, _ := cr.FieldPos(i)
				return fmt.Errorf("%s:%d: column %d (%s): %q is not a non-negative integer pod count", d.name, line, i+1, names[k], raw)
			}
			vals[f] = v
		}
		p := int(vals[fPods])
		d.pods = append(d.pods, p)
		d.cpu = append(d.cpu, vals[fCPU])
		d.mem = append(d.mem, vals[fMem])
		d.rx = append(d.rx, vals[fRx])
		d.tx = append(d.tx, vals[fTx])
		d.lat = append(d.lat, vals[fLat])
	}
	row := d.rows
	key := string(appendKey(nil, d.pods[row*d.n:]))
	d.exact[key] = append(d.exact[key], row)
	d.rows++
	return nil
}

// appendKey encodes a pod vector as a map key. Uvarints are prefix-free, so
// the concatenation of a fixed number of them is unique.
func appendKey(b []byte, pods []int) []byte {
	for _, p := range pods {
		b = binary.AppendUvarint(b, uint64(p))
	}
	return b
}
