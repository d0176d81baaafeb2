package app

import (
	"strings"
	"testing"
)

func TestOnlineBoutiqueHasTheSeedsDeploymentsInCanonicalOrder(t *testing.T) {
	a := OnlineBoutique()
	want := []string{"recommendationservice", "productcatalogservice", "cartservice", "adservice", "paymentservice",
		"shippingservice", "currencyservice", "redis-cart", "checkoutservice", "frontend", "emailservice"}
	if got := strings.Join(a.ServiceNames(), ","); got != strings.Join(want, ",") {
		t.Fatalf("services %s", got)
	}
	// seed-spec 1.1: requests and limits.
	cart := a.Services[a.Index("cartservice")]
	redisCart := a.Services[a.Index("redis-cart")]
	if cart.CPURequestMilli != 200 || cart.CPULimitMilli != 300 || cart.MemRequestMiB != 64 || cart.MemLimitMiB != 128 {
		t.Errorf("cartservice resources %+v", cart)
	}
	if redisCart.CPURequestMilli != 70 || redisCart.CPULimitMilli != 125 || redisCart.MemRequestMiB != 200 || redisCart.Container != "redis" {
		t.Errorf("redis-cart resources %+v", redisCart)
	}
	for _, s := range a.Services {
		if s.MinReplicas != 1 || s.MaxReplicas != 8 {
			t.Errorf("%s bounds %d..%d, want gym-hpa's 1..8", s.Name, s.MinReplicas, s.MaxReplicas)
		}
	}
}

func TestOnlineBoutiqueCallGraphHasTheUpstreamEdges(t *testing.T) {
	a := OnlineBoutique()
	has := map[[2]string]bool{}
	for _, e := range a.Edges() {
		has[[2]string{a.Services[e.Src].Name, a.Services[e.Dst].Name}] = true
	}
	for _, e := range [][2]string{
		{"frontend", "currencyservice"}, {"frontend", "productcatalogservice"}, {"frontend", "cartservice"},
		{"frontend", "recommendationservice"}, {"frontend", "shippingservice"}, {"frontend", "checkoutservice"},
		{"frontend", "adservice"}, {"cartservice", "redis-cart"}, {"recommendationservice", "productcatalogservice"},
		{"checkoutservice", "cartservice"}, {"checkoutservice", "productcatalogservice"}, {"checkoutservice", "currencyservice"},
		{"checkoutservice", "shippingservice"}, {"checkoutservice", "paymentservice"}, {"checkoutservice", "emailservice"},
	} {
		if !has[e] {
			t.Errorf("missing edge %s -> %s", e[0], e[1])
		}
	}
	if len(has) != 15 {
		t.Errorf("%d edges, want 15", len(has))
	}
}

func TestVisitsSeparateSyncAsyncAndBroadcastCalls(t *testing.T) {
	a := Redis()
	rt := a.RequestTypes[a.RequestTypeIndex("set")]
	v := a.Visits(rt)
	if len(v) != 2 || v[0].Sync != 1 || v[1].Broadcast != 1 || v[1].Sync != 0 {
		t.Errorf("set visits %+v: want 1 sync call to the leader, 1 broadcast to followers", v)
	}
	ob := OnlineBoutique()
	home := ob.Visits(ob.RequestTypes[ob.RequestTypeIndex("home")])
	for _, x := range home {
		if ob.Services[x.Service].Name == "currencyservice" && x.Sync != 10 {
			t.Errorf("home calls currencyservice %v times, want 1 + 9", x.Sync)
		}
	}
}

func TestParseRejectsBadDeclarationsNamingTheField(t *testing.T) {
	base := `name: x
namespace: x
requestTimeoutSeconds: 1
services:
- name: a
  cpuRequestMilli: 100
  cpuLimitMilli: 200
  memRequestMiB: 64
  memLimitMiB: 128
  twin: {cpuPerCallMs: 1, queuePerReplica: 10}
requestTypes:
- name: r
  entry: {service: a}
`
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", strings.Replace(base, "namespace: x", "namespace: x\ncolour: red", 1), "colour"},
		{"unknown service in a call", strings.Replace(base, "entry: {service: a}", "entry: {service: b}", 1), `requestTypes[0].entry.service: unknown service "b"`},
		{"limit below request", strings.Replace(base, "cpuLimitMilli: 200", "cpuLimitMilli: 50", 1), "services[0]: cpu request"},
		{"no demand", strings.Replace(base, "cpuPerCallMs: 1", "cpuPerCallMs: 0", 1), "services[0].twin"},
		{"wrong type", strings.Replace(base, "cpuRequestMilli: 100", "cpuRequestMilli: lots", 1), "cpuRequestMilli"},
	}
	if _, err := Parse("ok.yaml", []byte(base)); err != nil {
		t.Fatalf("base declaration: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %v, want one naming bad.yaml and %q", err, tt.want)
			}
		})
	}
}

func TestLookupNamesTheValidApps(t *testing.T) {
	_, err := Lookup("hipster")
	if err == nil || !strings.Contains(err.Error(), "onlineboutique, redis") {
		t.Errorf("error %v", err)
	}
}

func TestSyntheticIsDeterministicPerSeed(t *testing.T) {
	a, _ := Synthetic(3, SyntheticOptions{Services: 50})
	b, _ := Synthetic(3, SyntheticOptions{Services: 50})
	c, _ := Synthetic(4, SyntheticOptions{Services: 50})
	if len(a.Edges()) != len(b.Edges()) || a.Services[7].Twin != b.Services[7].Twin {
		t.Error("same seed, different apps")
	}
	if a.Services[7].Twin == c.Services[7].Twin {
		t.Error("different seeds, same app")
	}
	if _, err := Synthetic(1, SyntheticOptions{Services: 1}); err == nil {
		t.Error("a one-service app must be rejected")
	}
}
