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

// Paired compares a against b, paired by index (the same seed): the
// differences a[i]-b[i], their mean, standard deviation and 95 %
// confidence interval, and the paired t test's statistic and two-sided
// p-value. With fewer than two pairs there is no test: T is 0 and PValue
// 1 (one pair is no evidence of a difference). When the differences have
// no spread there is no t statistic either: T is 0 and PValue is 0 if the
// mean difference is not zero (every pair differs by the same amount) and
// 1 if it is. a and b must have the same length.
func Paired(a, b []float64) Comparison {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	s := Summarize(d)
	c := Comparison{N: s.N, MeanDiff: s.Mean, StdDiff: s.Std, CI95Low: s.CI95Low, CI95High: s.CI95High, PValue: 1}
	switch {
	case s.N < 2:
	case s.Std == 0:
		if s.Mean != 0 {
			c.PValue = 0
		}
	default:
		c.T = s.Mean / (s.Std / math.Sqrt(float64(s.N)))
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}
		c.PValue = 2 * t.Survival(math.Abs(c.T))
	}
	return c
}
