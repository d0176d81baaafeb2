package emulator

import (
	"math"

	"github.com/grlscaler/grlscaler/envs/sim"
)

// z95 is the standard normal's 95th percentile: the twin reports p95.
const z95 = 1.6448536269514722

// The emulator describes latency as the twin does, by weighted lognormals
// (sim.Lognormal): quantiles of a group of deployments, or of a run's
// steps, are quantiles of their weighted mixture (sim.MixtureQuantile).

// fitMoments is the lognormal with the given mean and variance (moment
// matching, as the twin fits its per-service sojourn times); ok is false
// without a positive mean.
func fitMoments(mean, variance, w float64) (sim.Lognormal, bool) {
	if mean <= 0 || math.IsNaN(mean) {
		return sim.Lognormal{}, false
	}
	s2 := math.Log1p(math.Max(variance, 0) / (mean * mean))
	return sim.Lognormal{Mu: math.Log(mean) - s2/2, Sigma: math.Sqrt(s2), W: w}, true
}

// fitQuantiles is the lognormal through the twin's end-to-end p50 and p95;
// ok is false without a positive median.
func fitQuantiles(p50, p95, w float64) (sim.Lognormal, bool) {
	if p50 <= 0 || math.IsNaN(p50) {
		return sim.Lognormal{}, false
	}
	return sim.Lognormal{Mu: math.Log(p50), Sigma: math.Max(math.Log(p95/p50), 0) / z95, W: w}, true
}

// quantile of one lognormal, by the inverse normal CDF.
func quantile(l sim.Lognormal, p float64) float64 {
	return math.Exp(l.Mu + l.Sigma*math.Sqrt2*math.Erfinv(2*p-1))
}
