package k8s

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// testToken looks like a service-account JWT; every test below checks that
// it appears nowhere but in the request's Authorization header.
const testToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cw.c2lnbmF0dXJl"

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnectReadsTokenAndHostFromEnvironmentOrEnvFile(t *testing.T) {
	t.Parallel()
	const host = "https://api.example.test:6443"
	tests := []struct {
		name    string
		env     map[string]string
		envFile string
	}{
		{"environment", map[string]string{"K8S_TOKEN": testToken, "K8S_API_HOST": host}, ""},
		{"env file", nil, "# grlscaler\nexport K8S_TOKEN=\"" + testToken + "\"\nK8S_API_HOST=" + host + " # the API server\n"},
		{"environment wins over env file", map[string]string{"K8S_TOKEN": testToken}, "K8S_TOKEN=stale\nK8S_API_HOST='" + host + "'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ConnOptions{TokenEnv: "K8S_TOKEN", APIHostEnv: "K8S_API_HOST", LookupEnv: envOf(tt.env),
				EnvFile: filepath.Join(t.TempDir(), "absent.env")}
			if tt.envFile != "" {
				o.EnvFile = writeFile(t, ".env", tt.envFile)
			}
			cfg, err := Connect(o)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != host || cfg.BearerToken != testToken || cfg.Insecure {
				t.Errorf("config host %q, token set %v, insecure %v", cfg.Host, cfg.BearerToken == testToken, cfg.Insecure)
			}
		})
	}
}

// TestTokenNeverAppearsInErrorsOrLogs drives every path that handles the
// token, including a request the API server refuses, and searches the
// errors, the logs and the printed config for it.
func TestTokenNeverAppearsInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("request without the bearer token")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
	}))
	t.Cleanup(srv.Close)
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	tests := []struct {
		name string
		env  map[string]string
		file string
	}{
		{"token in the host variable", map[string]string{"K8S_TOKEN": testToken, "K8S_API_HOST": testToken}, ""},
		{"host missing", map[string]string{"K8S_TOKEN": testToken}, ""},
		{"token with a Bearer prefix", map[string]string{"K8S_TOKEN": "Bearer " + testToken, "K8S_API_HOST": srv.URL}, ""},
		{"host with the token as user info", map[string]string{"K8S_TOKEN": testToken, "K8S_API_HOST": "https://" + testToken + "@h"}, ""},
		{"malformed env file line", nil, "K8S_TOKEN " + testToken + "\n"},
	}
	for _, tt := range tests {
		o := ConnOptions{TokenEnv: "K8S_TOKEN", APIHostEnv: "K8S_API_HOST", LookupEnv: envOf(tt.env), Logger: logger,
			EnvFile: filepath.Join(t.TempDir(), "absent.env")}
		if tt.file != "" {
			o.EnvFile = writeFile(t, ".env", tt.file)
		}
		_, err := Connect(o)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		errs = append(errs, err)
	}

	cfg, err := Connect(ConnOptions{TokenEnv: "K8S_TOKEN", APIHostEnv: "K8S_API_HOST", CAFile: ca, Logger: logger,
		LookupEnv: envOf(map[string]string{"K8S_TOKEN": testToken, "K8S_API_HOST": srv.URL})})
	if err != nil {
		t.Fatal(err)
	}
	kube, metrics, err := NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kube.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err == nil {
		t.Fatal("the API server refused the request, but List returned no error")
	}
	errs = append(errs, err)
	_, err = metrics.MetricsV1beta1().PodMetricses("ns").List(context.Background(), metav1.ListOptions{})
	if err == nil {
		t.Fatal("the API server refused the metrics request, but List returned no error")
	}
	errs = append(errs, err)

	for _, err := range errs {
		if strings.Contains(err.Error(), testToken) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testToken) {
			t.Errorf("error reveals the token: %v", err)
		}
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("logs reveal the token: %s", logs.String())
	}
	if !strings.Contains(logs.String(), redacted) {
		t.Errorf("debug log of the credentials missing: %s", logs.String())
	}
	creds := credentials{host: srv.URL, token: secret(testToken)}
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprint(creds), fmt.Sprintf("%+v %#v %s %q %x", creds, creds, creds.token, creds.token, creds.token),
	} {
		if strings.Contains(s, testToken) {
			t.Errorf("printing reveals the token: %s", s)
		}
	}
}

func TestConnectRejectsConflictingModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    ConnOptions
		want string
	}{
		{"in-cluster with kubeconfig", ConnOptions{InCluster: true, Kubeconfig: "k"}, "inCluster excludes"},
		{"in-cluster with token", ConnOptions{InCluster: true, TokenEnv: "T", APIHostEnv: "H"}, "inCluster excludes"},
		{"token without host", ConnOptions{TokenEnv: "T"}, "set both tokenEnv and apiHostEnv"},
		{"token with context", ConnOptions{TokenEnv: "T", APIHostEnv: "H", Context: "c"}, "tokenEnv excludes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Connect(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConnectUsesTheKubeconfigContext(t *testing.T) {
	t.Parallel()
	kubeconfig := writeFile(t, "config", `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {server: "https://a.example.test"}
- name: b
  cluster: {server: "https://b.example.test"}
users:
- name: u
  user: {token: abc}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
`)
	tests := []struct{ context, host string }{{"", "https://a.example.test"}, {"b", "https://b.example.test"}}
	for _, tt := range tests {
		cfg, err := Connect(ConnOptions{Kubeconfig: kubeconfig, Context: tt.context})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != tt.host {
			t.Errorf("context %q: host %s, want %s", tt.context, cfg.Host, tt.host)
		}
	}
	if _, err := Connect(ConnOptions{Kubeconfig: kubeconfig, Context: "missing"}); err == nil || !strings.Contains(err.Error(), `context "missing"`) {
		t.Errorf("unknown context: error %v", err)
	}
}

func TestConnectInClusterOutsideAPodFails(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := Connect(ConnOptions{InCluster: true}); !errors.Is(err, rest.ErrNotInCluster) {
		t.Errorf("error %v, want rest.ErrNotInCluster", err)
	}
}
