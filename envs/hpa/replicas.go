package hpa

import (
	"math"
	"time"

	"github.com/grlscaler/grlscaler/envs"
)

// tolerances mirrors Tolerances in replica_calculator.go: the usage ratio
// band around 1.0 within which the HPA keeps the current replicas.
type tolerances struct {
	scaleDown, scaleUp float64
}

// isWithin mirrors Tolerances.isWithin.
func (t tolerances) isWithin(usageRatio float64) bool {
	return (1.0-t.scaleDown) <= usageRatio && usageRatio <= (1.0+t.scaleUp)
}

// metricFailure says why a metric yielded no replica proposal; each value
// matches an error return of GetResourceReplicas.
type metricFailure uint8

const (
	metricOK metricFailure = iota
	// failNoMetrics: metricsClient.GetResourceMetric returned no samples
	// ("no metrics returned from resource metrics API").
	failNoMetrics
	// failNoReadyMetrics: every sample belonged to an ignored or unready pod
	// ("did not receive metrics for targeted pods (pods might be unready)").
	failNoReadyMetrics
	// failMissingRequest: calculateRequests found no request
	// ("missing request for <resource> in container <c> of Pod <p>").
	failMissingRequest
)

// resolvedMetric is a MetricSpec with its resource decoded once.
type resolvedMetric struct {
	isCPU  bool
	target int32
}

// replicaCalculator mirrors ReplicaCalculator: the controller-manager flags
// that shape pod grouping.
type replicaCalculator struct {
	cpuInitializationPeriod       time.Duration
	delayOfInitialReadinessStatus time.Duration
	metricWindow                  time.Duration
}

// podGroups is what groupPods returns, as counts: with one request per
// service (every pod of a Deployment shares the template) the utilisation
// sums only need how many pods fall in each group, which keeps the hot path
// free of the sets and maps Kubernetes allocates.
type podGroups struct {
	readyPodCount int
	unready       int
	missing       int
	// usageTotal is the milli-value sum of the samples of ready pods, i.e. the
	// metrics map after removeMetricsForPods(ignored, unready).
	usageTotal int64
}

// resourceReplicas mirrors ReplicaCalculator.GetResourceReplicas for a
// Utilization target. It returns the proposed replicas and the utilisation
// the HPA reports in its status (the original average, before missing and
// unready pods are rebalanced).
func (rc *replicaCalculator) resourceReplicas(svc *envs.ServiceView, currentReplicas int32, m resolvedMetric, tol tolerances, now time.Duration) (replicaCount, utilization int32, fail metricFailure) {
	// metrics-server only lists pods it has a sample for; an empty list is an
	// error before the pods are even looked at (so the "no pods returned by
	// selector" error cannot happen after it: no pods means no samples).
	anySample := false
	for i := range svc.Pods {
		if svc.Pods[i].HasMetrics {
			anySample = true
			break
		}
	}
	if !anySample {
		return 0, 0, failNoMetrics
	}
	g := rc.groupPods(svc.Pods, m.isCPU, now)
	if g.readyPodCount == 0 {
		return 0, 0, failNoReadyMetrics
	}

	// calculateRequests fails if any pod lacks the request; in the view the
	// request is per service, so zero means every pod lacks it.
	request := requestMilli(svc, m.isCPU)
	if request <= 0 {
		return 0, 0, failMissingRequest
	}

	usageRatio, utilization := resourceUtilizationRatio(g.usageTotal, request*int64(g.readyPodCount), m.target)

	scaleUpWithUnready := g.unready > 0 && usageRatio > 1.0
	if !scaleUpWithUnready && g.missing == 0 {
		if tol.isWithin(usageRatio) {
			// The change would be too small.
			return currentReplicas, utilization, metricOK
		}
		// No unready or missing pods: the plain formula over ready pods.
		return ceilReplicas(usageRatio * float64(g.readyPodCount)), utilization, metricOK
	}

	// Rebalance conservatively: metricsCount is len(metrics) after the
	// missing and unready pods have been given their assumed samples.
	usageTotal := g.usageTotal
	metricsCount := g.readyPodCount
	if g.missing > 0 {
		if usageRatio < 1.0 {
			// On a scale-down, a missing pod uses 100% of its request, or the
			// target when the target is above 100%. (The docs say "100% of the
			// desired value"; the code uses the request.)
			fallbackUtilization := int64(max(100, m.target))
			usageTotal += int64(g.missing) * (request * fallbackUtilization / 100)
			metricsCount += g.missing
		} else if usageRatio > 1.0 {
			// On a scale-up, a missing pod uses 0%.
			metricsCount += g.missing
		}
	}
	if scaleUpWithUnready {
		// On a scale-up, an unready pod uses 0%.
		metricsCount += g.unready
	}

	newUsageRatio, _ := resourceUtilizationRatio(usageTotal, request*int64(metricsCount), m.target)
	if tol.isWithin(newUsageRatio) || (usageRatio < 1.0 && newUsageRatio > 1.0) || (usageRatio > 1.0 && newUsageRatio < 1.0) {
		// Too small a change, or the rebalance reversed the direction.
		return currentReplicas, utilization, metricOK
	}
	newReplicas := ceilReplicas(newUsageRatio * float64(metricsCount))
	if (newUsageRatio < 1.0 && newReplicas > currentReplicas) || (newUsageRatio > 1.0 && newReplicas < currentReplicas) {
		// The number of pods counted would reverse the direction.
		return currentReplicas, utilization, metricOK
	}
	return newReplicas, utilization, metricOK
}

// groupPods mirrors groupPods in replica_calculator.go.
//
// The view has no pod phase, so every pod that is neither deleting nor failed
// is treated as Running: Kubernetes puts Pending pods with the unready ones,
// here a starting pod without a sample is "missing" and one with a sample is
// judged by readiness (CPU only), exactly as for a Running pod.
func (rc *replicaCalculator) groupPods(pods []envs.PodMetrics, isCPU bool, now time.Duration) podGroups {
	var g podGroups
	for i := range pods {
		p := &pods[i]
		if p.Deleting || p.Failed {
			// Ignored: their samples are dropped and they count nowhere.
			continue
		}
		if !p.HasMetrics {
			g.missing++
			continue
		}
		if isCPU && rc.cpuSampleUnready(p, now) {
			g.unready++
			continue
		}
		g.readyPodCount++
		g.usageTotal += usageMilli(p, isCPU)
	}
	return g
}

// cpuSampleUnready is the CPU branch of groupPods. Pod start time is Created
// (the view has no separate kubelet start time), and the Ready condition's
// last transition is Ready for a ready pod; for a pod that is not ready it is
// Ready if the view kept one (a lower bound of the later unready transition),
// else Created, because the kubelet sets Ready=False when the pod starts.
func (rc *replicaCalculator) cpuSampleUnready(p *envs.PodMetrics, now time.Duration) bool {
	lastTransition := p.Created
	if p.Ready > p.Created {
		lastTransition = p.Ready
	}
	if p.Created+rc.cpuInitializationPeriod > now {
		// Still within the initialisation period: ignore the sample if the pod
		// is unready or one metric window has not passed since it became ready.
		return !p.IsReady || p.SampleTime < lastTransition+rc.metricWindow
	}
	// After the period: ignore the sample only if the pod is unready and has
	// never been ready (it went unready within the initial readiness delay).
	return !p.IsReady && p.Created+rc.delayOfInitialReadinessStatus > lastTransition
}

// resourceUtilizationRatio mirrors metrics.GetResourceUtilizationRatio,
// including its integer percent: utilisation is truncated before the ratio.
func resourceUtilizationRatio(metricsTotal, requestsTotal int64, targetUtilization int32) (float64, int32) {
	currentUtilization := int32((metricsTotal * 100) / requestsTotal)
	return float64(currentUtilization) / float64(targetUtilization), currentUtilization
}

// bytesPerMiB converts the view's MiB to the bytes a Quantity holds.
const bytesPerMiB = 1 << 20

// usageMilli is the sample as resource.Quantity.MilliValue() gives it to the
// HPA: millicores for CPU (rounded up, as MilliValue rounds metrics-server's
// nanocores), milli-bytes for memory.
func usageMilli(p *envs.PodMetrics, isCPU bool) int64 {
	if isCPU {
		return ceilMilli(p.CPUMilli)
	}
	return ceilMilli(p.MemMiB*bytesPerMiB) * 1000
}

// requestMilli is the container request as a milli-value (see usageMilli).
func requestMilli(svc *envs.ServiceView, isCPU bool) int64 {
	if isCPU {
		return ceilMilli(svc.CPURequestMilli)
	}
	return ceilMilli(svc.MemRequestMiB*bytesPerMiB) * 1000
}

func ceilMilli(v float64) int64 {
	if !(v > 0) {
		return 0
	}
	return int64(math.Ceil(v))
}

// ceilReplicas is int32(math.Ceil(x)) with a guard Kubernetes only has in
// getUsageRatioReplicaCount, so an absurd ratio cannot wrap around.
func ceilReplicas(x float64) int32 {
	c := math.Ceil(x)
	if c > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(c)
}
