package emulator

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/envs/sim"
)

// query serves the Prometheus HTTP API's instant query (GET or POST
// /api/v1/query with query and optional time) from the twin's last step.
func (e *Emulator) query(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	v, pods := e.current()
	at := v.at
	if ts := r.FormValue("time"); ts != "" {
		t, err := parsePromTime(ts)
		if err != nil {
			writePromError(w, "invalid parameter \"time\": "+err.Error())
			return
		}
		at = t
	}
	ex, err := parseQuery(q)
	if err != nil {
		writePromError(w, "query "+q+": parse error: "+err.Error())
		return
	}
	res, hist, err := eval(ex, e.families(v, pods))
	if err == nil && hist {
		err = errHistogramResult
	}
	if err != nil {
		writePromError(w, "query "+q+": "+err.Error()+" (the emulator answers envs/k8s's queries only)")
		return
	}
	slices.SortFunc(res, func(x, y series) int { return strings.Compare(labelKey(x.labels), labelKey(y.labels)) })
	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	out := make([]sample, len(res))
	unix := float64(at.UnixMilli()) / 1e3
	for i, s := range res {
		out[i] = sample{Metric: s.labels, Value: [2]any{unix, promFloat(s.value)}}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success",
		"data":   map[string]any{"resultType": "vector", "result": out},
	})
}

type promError string

func (e promError) Error() string { return string(e) }

// errHistogramResult refuses raw buckets: the twin has distributions, not
// bucket counts.
const errHistogramResult = promError("histogram buckets are served under histogram_quantile only")

// writePromError answers as Prometheus does a query it cannot run.
func writePromError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
}

// promFloat renders a sample value as Prometheus does: NaN and infinities
// by name.
func promFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// parsePromTime reads a query time: unix seconds or RFC 3339.
func parsePromTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// families returns the metric families the emulated Prometheus holds at
// step v: Linkerd's proxy metrics (request_total, response_total,
// response_latency_ms) inbound per deployment and outbound per edge, and
// cAdvisor's per-pod series over the pods that run on the cluster. Every
// series carries the app's namespace.
func (e *Emulator) families(v *view, pods [][]string) families {
	ns := e.o.Namespace
	a := e.o.App
	s := &v.snap
	return func(metric string) (kind, []series, bool) {
		var out []series
		inbound := func(i int) map[string]string {
			return map[string]string{"namespace": ns, "deployment": a.Services[i].Name, "direction": "inbound"}
		}
		outbound := func(k int) map[string]string {
			m := v.edges[k]
			return map[string]string{"namespace": ns, "deployment": a.Services[m.Src].Name, "direction": "outbound",
				"dst_namespace": ns, "dst_deployment": a.Services[m.Dst].Name}
		}
		// Traffic per inbound and outbound series: rate, failed fraction,
		// latency distribution and mean.
		each := func(f func(labels map[string]string, rps, fail, mean float64, d sim.Lognormal, ok bool)) {
			for i := range a.Services {
				d, mean, ok := e.inboundLatency(s, i)
				d.W = s.RPS[i]
				f(inbound(i), s.RPS[i], s.DropRate[i], mean, d, ok)
			}
			for k, m := range v.edges {
				d, ok := fitMoments(s.LatMeanMs[m.Dst], s.LatVarMs2[m.Dst], m.RPS)
				f(outbound(k), m.RPS, 1-m.SuccessRate, s.LatMeanMs[m.Dst], d, ok)
			}
		}
		perPod := func(labels func(i int, pod string) map[string]string, value func(i, n int) float64) {
			for i, ps := range pods {
				for _, p := range ps {
					out = append(out, series{labels: labels(i, p), value: value(i, len(ps))})
				}
			}
		}
		podCtr := func(i int, pod string) map[string]string {
			return map[string]string{"namespace": ns, "pod": pod, "container": a.Services[i].Container}
		}
		// Network counters belong to the pod's sandbox, not a container.
		podNet := func(_ int, pod string) map[string]string {
			return map[string]string{"namespace": ns, "pod": pod, "interface": "eth0"}
		}
		switch metric {
		case "request_total":
			each(func(l map[string]string, rps, _, _ float64, _ sim.Lognormal, _ bool) {
				out = append(out, series{labels: l, value: rps})
			})
			return counter, out, true
		case "response_total":
			each(func(l map[string]string, rps, fail, _ float64, _ sim.Lognormal, _ bool) {
				ok, bad := clone(l), clone(l)
				ok["classification"], bad["classification"] = "success", "failure"
				out = append(out, series{labels: ok, value: rps * (1 - fail)}, series{labels: bad, value: rps * fail})
			})
			return counter, out, true
		case "response_latency_ms_bucket":
			each(func(l map[string]string, rps, _, _ float64, d sim.Lognormal, ok bool) {
				sr := series{labels: l, value: rps}
				if ok && rps > 0 {
					sr.dist = []sim.Lognormal{d}
				}
				out = append(out, sr)
			})
			return histogram, out, true
		case "response_latency_ms_sum":
			each(func(l map[string]string, rps, _, mean float64, _ sim.Lognormal, _ bool) {
				out = append(out, series{labels: l, value: rps * mean})
			})
			return counter, out, true
		case "response_latency_ms_count":
			each(func(l map[string]string, rps, _, _ float64, _ sim.Lognormal, _ bool) {
				out = append(out, series{labels: l, value: rps})
			})
			return counter, out, true
		case "container_cpu_usage_seconds_total":
			perPod(podCtr, func(i, n int) float64 { cpu, _ := e.perPod(v, i, n); return cpu / 1e3 })
			return counter, out, true
		case "container_memory_working_set_bytes":
			perPod(podCtr, func(i, n int) float64 { _, mem := e.perPod(v, i, n); return mem * (1 << 20) })
			return gauge, out, true
		case "container_network_receive_bytes_total":
			perPod(podNet, func(i, n int) float64 { return s.RxKBps[i] * 1e3 / float64(n) })
			return counter, out, true
		case "container_network_transmit_bytes_total":
			perPod(podNet, func(i, n int) float64 { return s.TxKBps[i] * 1e3 / float64(n) })
			return counter, out, true
		}
		return 0, nil, false
	}
}

// inboundLatency is the latency of service i's responses at its inbound
// proxy, in ms, and its mean. The twin's per-service latency is the
// service's own sojourn; an entry service's responses wait for every
// synchronous call below it, which is the twin's end-to-end latency.
func (e *Emulator) inboundLatency(s *sim.Snapshot, i int) (sim.Lognormal, float64, bool) {
	if e.entry[i] {
		d, ok := fitQuantiles(s.P50Ms, s.P95Ms, 0)
		return d, s.MeanMs, ok
	}
	d, ok := fitMoments(s.LatMeanMs[i], s.LatVarMs2[i], 0)
	return d, s.LatMeanMs[i], ok
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// vizEdges serves the Linkerd viz dashboard's GET /api/edges: the app's
// edges that have carried traffic and whose ends both have ready pods, as
// linkerd2.viz.EdgesResponse in protojson (see envs/k8s/viz.go).
func (e *Emulator) vizEdges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if rt := q.Get("resource_type"); rt != "deployment" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "resource_type " + strconv.Quote(rt) + ": the emulator serves deployment edges only"})
		return
	}
	type resource struct {
		Namespace string `json:"namespace"`
		Type      string `json:"type"`
		Name      string `json:"name"`
	}
	type edge struct {
		Src           resource `json:"src"`
		Dst           resource `json:"dst"`
		ClientID      string   `json:"clientId"`
		ServerID      string   `json:"serverId"`
		NoIdentityMsg string   `json:"noIdentityMsg"`
	}
	edges := []edge{}
	ns := e.o.Namespace
	if q.Get("namespace") == ns {
		e.mu.Lock()
		v, seen := e.last, slices.Clone(e.seen)
		e.mu.Unlock()
		// The upstream manifests run every pod as the default service account.
		id := "default." + ns + ".serviceaccount.identity.linkerd.cluster.local"
		for k, m := range v.edges {
			if !seen[k] || v.snap.Ready[m.Src] == 0 || v.snap.Ready[m.Dst] == 0 {
				continue
			}
			edges = append(edges, edge{
				Src:      resource{Namespace: ns, Type: "deployment", Name: e.o.App.Services[m.Src].Name},
				Dst:      resource{Namespace: ns, Type: "deployment", Name: e.o.App.Services[m.Dst].Name},
				ClientID: id, ServerID: id,
			})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": map[string]any{"edges": edges}})
}
