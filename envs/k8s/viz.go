package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultVizURL is the Linkerd viz dashboard's JSON edges endpoint.
//
// The seed (and the first version of this spec) pointed at
// http://metrics-api.linkerd-viz.svc.cluster.local:8085/api/edges, which
// does not exist: the metrics API serves gRPC-over-HTTP, POST
// /api/v1/Edges with length-prefixed protobuf (linkerd2
// viz/metrics-api/http_server.go, client/client.go), and its
// AuthorizationPolicy admits only the web dashboard's identity
// (viz/charts/linkerd-viz/templates/metrics-api-policy.yaml). The
// dashboard (web, port 8084) serves the same EdgesResponse as JSON at GET
// /api/edges?namespace=&resource_type= (web/srv/server.go,
// api_handlers.go handleAPIEdges, marshalled with protojson) and accepts
// requests whose Host is web.linkerd-viz.svc.cluster.local or localhost
// (its -enforced-host default).
const DefaultVizURL = "http://web.linkerd-viz.svc.cluster.local:8084/api/edges"

// Viz reads the service graph from the Linkerd viz dashboard.
type Viz struct {
	// URL is the edges endpoint; empty means DefaultVizURL.
	URL string
	// Client is the HTTP client; nil means http.DefaultClient.
	Client *http.Client
}

// VizEdge is one edge as Linkerd viz reports it: a meshed source
// deployment that has open connections to a destination deployment.
type VizEdge struct {
	SrcNamespace, Src string
	DstNamespace, Dst string
	// ClientID and ServerID are the mTLS identities; NoIdentityMsg says why
	// there is none.
	ClientID, ServerID, NoIdentityMsg string
}

// vizResource, vizEdge and vizEdgesResponse are linkerd2.viz.EdgesResponse
// (viz/metrics-api/proto/viz.proto) in protojson's camelCase: {"ok":
// {"edges": [...]}} or {"error": {"resource": ..., "error": "..."}}. A
// dashboard-side failure is {"error": "..."} with a 5xx status.
type vizResource struct {
	Namespace string `json:"namespace"`
	Type      string `json:"type"`
	Name      string `json:"name"`
}

type vizEdge struct {
	Src           vizResource `json:"src"`
	Dst           vizResource `json:"dst"`
	ClientID      string      `json:"clientId"`
	ServerID      string      `json:"serverId"`
	NoIdentityMsg string      `json:"noIdentityMsg"`
}

type vizEdgesResponse struct {
	Ok *struct {
		Edges []vizEdge `json:"edges"`
	} `json:"ok"`
	Error json.RawMessage `json:"error"`
}

// Edges returns the deployment edges with an end in namespace ns.
func (v *Viz) Edges(ctx context.Context, ns string) ([]VizEdge, error) {
	raw := v.URL
	if raw == "" {
		raw = DefaultVizURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("linkerd viz edges: URL %q must be absolute http(s)", raw)
	}
	q := u.Query()
	q.Set("namespace", ns)
	q.Set("resource_type", "deployment")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("linkerd viz edges: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	client := v.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("linkerd viz edges from %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("linkerd viz edges from %s: %w", u.Redacted(), err)
	}
	var r vizEdgesResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("linkerd viz edges from %s: status %s, not an EdgesResponse (is this the viz dashboard's /api/edges?): %w", u.Redacted(), resp.Status, err)
	}
	if msg := vizError(r.Error); msg != "" || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("linkerd viz edges from %s: status %s: %s", u.Redacted(), resp.Status, msg)
	}
	if r.Ok == nil {
		return nil, errors.New("linkerd viz edges: response has neither ok nor error")
	}
	out := make([]VizEdge, 0, len(r.Ok.Edges))
	for _, e := range r.Ok.Edges {
		out = append(out, VizEdge{
			SrcNamespace: e.Src.Namespace, Src: e.Src.Name,
			DstNamespace: e.Dst.Namespace, Dst: e.Dst.Name,
			ClientID: e.ClientID, ServerID: e.ServerID, NoIdentityMsg: e.NoIdentityMsg,
		})
	}
	return out, nil
}

// vizError reads either error form: a ResourceError object or a string.
func vizError(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var re struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &re) == nil && re.Error != "" {
		return re.Error
	}
	return strings.TrimSpace(string(raw))
}
