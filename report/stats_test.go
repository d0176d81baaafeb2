package report

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f (±%g)", what, got, want, tol)
	}
}

// The expected values are worked by hand: t_{0.975} from printed tables
// (4 df: 2.776445; 3 df: 3.182446) and the 3-df t CDF from its closed
// form F(t) = 1/2 + (1/π)(u/(1+u²) + atan u), u = t/√3.
func TestSummarizeMatchesHandComputedInterval(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		xs                   []float64
		mean, std, low, high float64
		n                    int
	}{
		// mean 3, s = sqrt(2.5) = 1.581139, half = 2.776445*1.581139/sqrt(5) = 1.963243.
		{"five values", []float64{1, 2, 3, 4, 5}, 3, 1.581139, 1.036757, 4.963243, 5},
		// mean 0.15, s = 0.070711, half = 12.706205*0.070711/sqrt(2) = 0.635310.
		{"two values", []float64{0.1, 0.2}, 0.15, 0.070711, -0.485310, 0.785310, 2},
		{"one value has no spread", []float64{7}, 7, 0, 7, 7, 1},
		{"no values", nil, 0, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.xs)
			if s.N != tc.n {
				t.Fatalf("n = %d, want %d", s.N, tc.n)
			}
			near(t, "mean", s.Mean, tc.mean, 1e-6)
			near(t, "std", s.Std, tc.std, 1e-6)
			near(t, "ci95_low", s.CI95Low, tc.low, 1e-5)
			near(t, "ci95_high", s.CI95High, tc.high, 1e-5)
		})
	}
}

func TestPairedComparisonMatchesHandComputedTTest(t *testing.T) {
	// d = [2, 1, 0, 3]: mean 1.5, s = sqrt(5/3) = 1.290994, se = 0.645497,
	// t = 2.323790, half = 3.182446*0.645497 = 2.054259.
	// u = t/√3 = 1.341641: F = 0.5 + (0.479158 + 0.930274)/π = 0.948633,
	// p = 2(1-F) = 0.102734.
	c := Paired([]float64{10, 12, 9, 11}, []float64{8, 11, 9, 8})
	if c.N != 4 {
		t.Fatalf("n = %d", c.N)
	}
	near(t, "mean_diff", c.MeanDiff, 1.5, 1e-9)
	near(t, "std_diff", c.StdDiff, 1.290994, 1e-6)
	if !c.Inferred {
		t.Fatal("four varying pairs have an interval and a test")
	}
	near(t, "t", *c.T, 2.323790, 1e-5)
	near(t, "ci95_low", *c.CI95Low, -0.554259, 1e-5)
	near(t, "ci95_high", *c.CI95High, 3.554259, 1e-5)
	near(t, "p_value", *c.PValue, 0.102734, 1e-5)
	if c.Interval() != "[-0.5543, 3.554]" || c.P() != "0.103" {
		t.Errorf("printed interval %s and p %s", c.Interval(), c.P())
	}
}

func TestPairedWithoutEnoughEvidenceHasNoIntervalOrTest(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float64
		mean float64
	}{
		{"identical differences have no spread to test", []float64{5, 6, 7}, []float64{3, 4, 5}, 2},
		{"identical runs", []float64{5, 6, 7}, []float64{5, 6, 7}, 0},
		{"two varying pairs are too few", []float64{5, 9}, []float64{4, 4}, 3},
		{"one pair cannot be tested", []float64{5}, []float64{4}, 1},
		{"no pairs", nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Paired(tc.a, tc.b)
			if c.Inferred || c.T != nil || c.PValue != nil || c.CI95Low != nil || c.CI95High != nil || c.MeanDiff != tc.mean {
				t.Fatalf("got %+v, want mean %v and no interval or test", c, tc.mean)
			}
			if c.Interval() != "n/a" || c.P() != "n/a" {
				t.Errorf("printed interval %s and p %s, want n/a", c.Interval(), c.P())
			}
		})
	}
}
