package report

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// tQuantile975 is the 97.5 % quantile of Student's t with df degrees of
// freedom, the multiplier of a two-sided 95 % confidence interval.
func tQuantile975(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}

// Summarize returns the mean, sample standard deviation and 95 %
// confidence interval of the mean of xs (Student's t with n-1 degrees of
// freedom). With one value the deviation is 0 and the interval is the
// value itself; with none, the zero Stat.
func Summarize(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	s.Mean = stat.Mean(xs, nil)
	s.CI95Low, s.CI95High = s.Mean, s.Mean
	if len(xs) > 1 {
		s.Std = stat.StdDev(xs, nil)
		half := tQuantile975(len(xs)-1) * s.Std / math.Sqrt(float64(len(xs)))
		s.CI95Low, s.CI95High = s.Mean-half, s.Mean+half
	}
	return s
}

// MinPairs is the fewest paired runs for which the report gives a
// confidence interval and a p-value of the mean difference: with two, the
// t interval has one degree of freedom and spans orders of magnitude.
const MinPairs = 3

// Paired compares a against b, paired by index (the same seed): the
// differences a[i]-b[i], their mean and standard deviation, and, when
// there are at least MinPairs pairs and the differences vary, their 95 %
// confidence interval and the paired t test's statistic and two-sided
// p-value (Inferred). Without them the interval and the test are left
// out (nil), not faked: identical differences, as a deterministic twin
// gives when both controllers behave the same on every seed, have no
// spread to test against, and a p of 0 or a zero-width interval would
// claim a certainty the runs do not have. a and b must have the same
// length.
func Paired(a, b []float64) Comparison {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	s := Summarize(d)
	c := Comparison{N: s.N, MeanDiff: s.Mean, StdDiff: s.Std}
	if s.N < MinPairs || s.Std == 0 {
		return c
	}
	t := s.Mean / (s.Std / math.Sqrt(float64(s.N)))
	p := 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Survival(math.Abs(t))
	lo, hi := s.CI95Low, s.CI95High
	c.Inferred, c.T, c.PValue, c.CI95Low, c.CI95High = true, &t, &p, &lo, &hi
	return c
}
