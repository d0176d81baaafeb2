package sim

import "math"

// erlangC is the probability that an arrival waits in an M/M/c queue with
// c servers and per-server utilisation rho < 1 (Erlang's C formula). It uses
// the Erlang B recursion B(k) = a*B(k-1) / (k + a*B(k-1)), which is stable
// for any c and costs O(c), and C = B / (1 - rho*(1 - B)).
func erlangC(c int, rho float64) float64 {
	if c <= 0 || rho <= 0 {
		return 0
	}
	if rho >= 1 {
		return 1
	}
	a := rho * float64(c) // offered load in Erlangs
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b / (1 - rho*(1-b))
}

// Standard normal quantiles of the reported percentiles.
const (
	z95 = 1.6448536269514722
	z99 = 2.3263478740408408
)

// lognormalFit returns the log-space location and scale of the lognormal
// with the given mean and variance (moment matching). Sums of sojourn times
// along a call path are right-skewed and positive; a moment-matched
// lognormal keeps their tail within a few percent of simulation for the
// M/M/c mixtures the twin produces, at the cost of two logs per fit.
func lognormalFit(mean, variance float64) (mu, sigma float64) {
	if mean <= 0 {
		return math.Inf(-1), 0
	}
	s2 := math.Log1p(variance / (mean * mean))
	return math.Log(mean) - s2/2, math.Sqrt(s2)
}

// lognormalQuantiles returns p50, p95 and p99 of a lognormal.
func lognormalQuantiles(mu, sigma float64) (p50, p95, p99 float64) {
	p50 = math.Exp(mu)
	return p50, p50 * math.Exp(sigma*z95), p50 * math.Exp(sigma*z99)
}

// lognormalTail is P(X > x) for a lognormal.
func lognormalTail(mu, sigma, x float64) float64 {
	if x <= 0 {
		return 1
	}
	if sigma == 0 {
		if math.Log(x) < mu {
			return 1
		}
		return 0
	}
	return 0.5 * math.Erfc((math.Log(x)-mu)/(sigma*math.Sqrt2))
}
