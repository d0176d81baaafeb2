package sim

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/grlscaler/grlscaler/envs/app"
)

// seedDataset is the seed's observation log, which sits beside the
// repository (shared/datasets) under a non-commercial licence and is never
// copied into it.
var seedDataset = filepath.Join("..", "..", "..", "shared", "datasets", "online_boutique_gym_observation_sim_slypex_d5292f2.csv")

// TestObservedRangesAreTheDatasetsStatistics recomputes the statistics
// that observedOB and docs/calibration.md quote, so they cannot drift from
// the file they cite. It skips where the dataset is not beside the repo.
func TestObservedRangesAreTheDatasetsStatistics(t *testing.T) {
	f, err := os.Open(seedDataset)
	if os.IsNotExist(err) {
		t.Skipf("%s not present", seedDataset)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1822 {
		t.Fatalf("%d rows, want 1822", len(rows))
	}
	column := func(c int) []float64 {
		v := make([]float64, len(rows))
		for i, r := range rows {
			if v[i], err = strconv.ParseFloat(r[c], 64); err != nil {
				t.Fatalf("row %d column %d: %v", i+1, c, err)
			}
		}
		slices.Sort(v)
		return v
	}
	pct := func(v []float64, p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	for i, name := range app.OnlineBoutique().ServiceNames() {
		o := observedOB[name]
		cpu := column(1 + 7*i + 2)
		rx := column(1 + 7*i + 4)
		tx := column(1 + 7*i + 5)
		got := [8]float64{pct(cpu, 0.05), pct(cpu, 0.95), cpu[0], cpu[len(cpu)-1], rx[0], rx[len(rx)-1], tx[0], tx[len(tx)-1]}
		want := [8]float64{o.cpuP5, o.cpuP95, o.cpuMin, o.cpuMax, o.rxMin, o.rxMax, o.txMin, o.txMax}
		if got != want {
			t.Errorf("%s: dataset gives cpu p5/p95/min/max, rx min/max, tx min/max = %v; the test quotes %v", name, got, want)
		}
	}
	lat := column(7)
	if lat[0] != 961.844 || lat[len(lat)-1] != 1428.067 {
		t.Errorf("latency range %v-%v, docs quote 961.8-1428.1", lat[0], lat[len(lat)-1])
	}
}
