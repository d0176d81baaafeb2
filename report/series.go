package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Series is one run's per-step time series, as EvaluateRun stores it in
// CSV: a time_s column, per service <svc>_replicas, <svc>_ready, <svc>_cpu_m
// and <svc>_mem_mib, then rps, p50_ms, p95_ms, p99_ms, error_rate and
// actions (replica changes the controller made in the step).
type Series struct {
	// Services are the services in column order.
	Services []string
	// Columns maps every column name to its values, one per step.
	Columns map[string][]float64
}

// Column returns the values of column name (nil if absent).
func (s *Series) Column(name string) []float64 { return s.Columns[name] }

// Time returns the time_s column.
func (s *Series) Time() []float64 { return s.Columns["time_s"] }

// Replicas returns service svc's replicas column.
func (s *Series) Replicas(svc string) []float64 { return s.Columns[svc+"_replicas"] }

// ParseSeries reads a run's CSV. name identifies it in errors.
func ParseSeries(name string, r io.Reader) (*Series, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("series %s: header: %w", name, err)
	}
	s := &Series{Columns: make(map[string][]float64, len(header))}
	for _, h := range header {
		if svc, ok := strings.CutSuffix(h, "_replicas"); ok {
			s.Services = append(s.Services, svc)
		}
		s.Columns[h] = nil
	}
	if _, ok := s.Columns["time_s"]; !ok {
		return nil, fmt.Errorf("series %s: no time_s column", name)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", name, err)
		}
		for i, v := range rec {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("series %s line %d column %s: %w", name, line, header[i], err)
			}
			s.Columns[header[i]] = append(s.Columns[header[i]], x)
		}
	}
	return s, nil
}
