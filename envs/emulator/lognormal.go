package emulator

import "math"

// Standard normal quantiles of the percentiles the twin reports.
const (
	z95 = 1.6448536269514722
	z99 = 2.3263478740408408
)

// lognormal is a latency distribution in ms (log-space location and
// scale) with a weight: the request rate or count it stands for. The twin
// describes latency by lognormals (envs/sim/queue.go), so quantiles of a
// group of deployments, or of a run's steps, are quantiles of their
// weighted mixture.
type lognormal struct {
	mu, sigma, w float64
}

// fitMoments is the lognormal with the given mean and variance (moment
// matching, as the twin fits its per-service sojourn times); ok is false
// without a positive mean.
func fitMoments(mean, variance, w float64) (lognormal, bool) {
	if mean <= 0 || math.IsNaN(mean) {
		return lognormal{}, false
	}
	s2 := math.Log1p(math.Max(variance, 0) / (mean * mean))
	return lognormal{mu: math.Log(mean) - s2/2, sigma: math.Sqrt(s2), w: w}, true
}

// fitQuantiles is the lognormal through the twin's end-to-end p50 and p95;
// ok is false without a positive median.
func fitQuantiles(p50, p95, w float64) (lognormal, bool) {
	if p50 <= 0 || math.IsNaN(p50) {
		return lognormal{}, false
	}
	return lognormal{mu: math.Log(p50), sigma: math.Max(math.Log(p95/p50), 0) / z95, w: w}, true
}

// quantile of one lognormal, by the inverse normal CDF.
func (l lognormal) quantile(p float64) float64 {
	return math.Exp(l.mu + l.sigma*math.Sqrt2*math.Erfinv(2*p-1))
}

// mixtureQuantile is the p-quantile of the weighted mixture, found by
// bisection on log latency (the mixture's CDF is monotone); NaN without
// weight, as Prometheus' histogram_quantile over no requests.
func mixtureQuantile(ls []lognormal, p float64) float64 {
	var wsum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range ls {
		if l.w <= 0 {
			continue
		}
		wsum += l.w
		lo = math.Min(lo, l.mu-8*l.sigma-1e-9)
		hi = math.Max(hi, l.mu+8*l.sigma+1e-9)
	}
	if wsum == 0 {
		return math.NaN()
	}
	cdf := func(x float64) float64 {
		var f float64
		for _, l := range ls {
			switch {
			case l.w <= 0:
			case l.sigma == 0:
				if l.mu <= x {
					f += l.w
				}
			default:
				f += l.w * 0.5 * math.Erfc(-(x-l.mu)/(l.sigma*math.Sqrt2))
			}
		}
		return f / wsum
	}
	for range 100 {
		mid := (lo + hi) / 2
		if cdf(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}
