package k8s

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// vizEdge JSON as the Linkerd viz dashboard renders linkerd2.viz.Edge with
// protojson (EmitUnpopulated): camelCase names, resource type "deployment".
func vizEdgeJSON(srcNS, src, dstNS, dst string) string {
	id := func(ns string) string { return "default." + ns + ".serviceaccount.identity.linkerd.cluster.local" }
	return `{"src":{"namespace":"` + srcNS + `","type":"deployment","name":"` + src + `"},` +
		`"dst":{"namespace":"` + dstNS + `","type":"deployment","name":"` + dst + `"},` +
		`"clientId":"` + id(srcNS) + `","serverId":"` + id(dstNS) + `","noIdentityMsg":""}`
}

// vizServer serves body at /api/edges with status, and checks the request.
func vizServer(t *testing.T, status int, body string) *Viz {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/edges" {
			t.Errorf("request %s %s, want GET /api/edges", r.Method, r.URL.Path)
		}
		if q := r.URL.Query(); q.Get("resource_type") != "deployment" || q.Get("namespace") == "" {
			t.Errorf("query %s, want namespace and resource_type=deployment", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return &Viz{URL: srv.URL + "/api/edges", Client: srv.Client()}
}

func TestVizEdgesParseTheDashboardsEdgesResponse(t *testing.T) {
	t.Parallel()
	body := `{"ok":{"edges":[` + vizEdgeJSON("ob", "frontend", "ob", "cartservice") + `,` +
		vizEdgeJSON("ob", "cartservice", "ob", "redis-cart") + `]}}`
	edges, err := vizServer(t, http.StatusOK, body).Edges(context.Background(), "ob")
	if err != nil {
		t.Fatal(err)
	}
	want := []VizEdge{
		{SrcNamespace: "ob", Src: "frontend", DstNamespace: "ob", Dst: "cartservice",
			ClientID: "default.ob.serviceaccount.identity.linkerd.cluster.local", ServerID: "default.ob.serviceaccount.identity.linkerd.cluster.local"},
		{SrcNamespace: "ob", Src: "cartservice", DstNamespace: "ob", Dst: "redis-cart",
			ClientID: "default.ob.serviceaccount.identity.linkerd.cluster.local", ServerID: "default.ob.serviceaccount.identity.linkerd.cluster.local"},
	}
	if len(edges) != len(want) {
		t.Fatalf("edges %+v", edges)
	}
	for i := range want {
		if edges[i] != want[i] {
			t.Errorf("edge %d = %+v, want %+v", i, edges[i], want[i])
		}
	}
}

func TestVizErrorsAreErrorsNotEmptyGraphs(t *testing.T) {
	t.Parallel()
	// The seed turned every failure into an empty graph (seed-spec 8 O4).
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"resource error", http.StatusOK, `{"error":{"resource":{"namespace":"ob","type":"deployment","name":""},"error":"Edges request missing Selector Resource"}}`, "Edges request missing Selector Resource"},
		{"dashboard error", http.StatusInternalServerError, `{"error":"No prometheus instance to connect"}`, "No prometheus instance to connect"},
		{"not the dashboard", http.StatusNotFound, "404 page not found\n", "is this the viz dashboard's /api/edges?"},
		{"neither ok nor error", http.StatusOK, `{}`, "neither ok nor error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vizServer(t, tt.status, tt.body).Edges(context.Background(), "ob")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVizRejectsARelativeURL(t *testing.T) {
	t.Parallel()
	if _, err := (&Viz{URL: "web.linkerd-viz:8084/api/edges"}).Edges(context.Background(), "ob"); err == nil {
		t.Error("no error for a URL without scheme")
	}
}
