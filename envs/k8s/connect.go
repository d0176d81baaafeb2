package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// ConnOptions say how to reach the cluster: in-cluster (the worker's pod
// service account), a bearer token and API host read from environment
// variables (the seed's K8S_TOKEN), or a kubeconfig (the default). They
// hold names, never the token itself, so they may be logged and may travel
// in workflow inputs.
type ConnOptions struct {
	// Kubeconfig is a kubeconfig path; empty means client-go's loading
	// rules ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// InCluster uses the pod's service account; it excludes the others.
	InCluster bool
	// TokenEnv and APIHostEnv name the variables holding a bearer token and
	// the API server's https URL; set both or neither. A variable missing
	// from the environment is read from EnvFile.
	TokenEnv, APIHostEnv string
	// EnvFile is a dotenv file (KEY=VALUE lines, # comments, optional
	// quotes and "export "); default ".env". A missing file is not an error.
	EnvFile string
	// CAFile is a PEM bundle that verifies the API server in token mode;
	// empty means the system roots. TLS is always verified (the seed
	// disabled it, seed-spec 8 O6).
	CAFile string
	// LookupEnv reads the process environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger receives one record naming the mode; nil discards it.
	Logger *slog.Logger
}

// LogValue implements slog.LogValuer: the options hold no secret, but log
// them through one path so that none is ever added by accident.
func (o ConnOptions) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", o.mode()),
		slog.String("kubeconfig", o.Kubeconfig),
		slog.String("context", o.Context),
		slog.String("tokenEnv", o.TokenEnv),
		slog.String("apiHostEnv", o.APIHostEnv),
	)
}

func (o ConnOptions) mode() string {
	switch {
	case o.InCluster:
		return "in-cluster"
	case o.TokenEnv != "" || o.APIHostEnv != "":
		return "token"
	}
	return "kubeconfig"
}

// secret is a value that never prints: fmt verbs, slog and JSON all see
// "[redacted]".
type secret string

const redacted = "[redacted]"

func (secret) String() string               { return redacted }
func (secret) GoString() string             { return redacted }
func (secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }

// credentials are what token mode reads; the token never leaves it except
// into rest.Config.BearerToken (whose String and GoString redact it too).
type credentials struct {
	host  string
	token secret
}

// Format prints the host only: fmt does not call the token's methods on an
// unexported field, so every verb goes through here.
func (c credentials) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "{host:%s token:%s}", c.host, redacted)
}

// LogValue implements slog.LogValuer.
func (c credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.host), slog.Any("token", c.token))
}

// Connect returns the REST config for the cluster. Errors name variables,
// files and contexts, never a variable's value.
func Connect(o ConnOptions) (*rest.Config, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.InCluster && (o.Kubeconfig != "" || o.Context != "" || o.TokenEnv != "" || o.APIHostEnv != "") {
		return nil, errors.New("connect: inCluster excludes kubeconfig, context, tokenEnv and apiHostEnv")
	}
	if (o.TokenEnv == "") != (o.APIHostEnv == "") {
		return nil, errors.New("connect: set both tokenEnv and apiHostEnv, or neither")
	}
	if o.TokenEnv != "" && (o.Kubeconfig != "" || o.Context != "") {
		return nil, errors.New("connect: tokenEnv excludes kubeconfig and context")
	}
	log.Info("kubernetes connection", "options", o)
	switch o.mode() {
	case "in-cluster":
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("connect in-cluster: %w", err)
		}
		return cfg, nil
	case "token":
		creds, err := o.readCredentials()
		if err != nil {
			return nil, fmt.Errorf("connect with %s and %s: %w", o.TokenEnv, o.APIHostEnv, err)
		}
		log.Debug("kubernetes token credentials", "credentials", creds)
		return &rest.Config{
			Host:            creds.host,
			BearerToken:     string(creds.token),
			TLSClientConfig: rest.TLSClientConfig{CAFile: o.CAFile},
		}, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("connect with kubeconfig %q context %q: %w", o.Kubeconfig, o.Context, err)
	}
	return cfg, nil
}

// NewClients returns the API clients a Cluster needs from a REST config:
// the Kubernetes clientset and the metrics.k8s.io one.
func NewClients(cfg *rest.Config) (kubernetes.Interface, metricsclient.Interface, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	metrics, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics.k8s.io client for %s: %w", cfg.Host, err)
	}
	return kube, metrics, nil
}

// readCredentials takes the token and host from the environment, falling
// back to the dotenv file for whichever is missing.
func (o ConnOptions) readCredentials() (credentials, error) {
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	token, okToken := lookup(o.TokenEnv)
	host, okHost := lookup(o.APIHostEnv)
	if !okToken || !okHost {
		file := o.EnvFile
		if file == "" {
			file = ".env"
		}
		vars, err := readDotEnv(file)
		if err != nil {
			return credentials{}, err
		}
		if !okToken {
			token, okToken = vars[o.TokenEnv]
		}
		if !okHost {
			host, okHost = vars[o.APIHostEnv]
		}
	}
	switch {
	case !okToken || token == "":
		return credentials{}, fmt.Errorf("%s is not set in the environment or the .env file", o.TokenEnv)
	case !okHost || host == "":
		return credentials{}, fmt.Errorf("%s is not set in the environment or the .env file", o.APIHostEnv)
	}
	// The error must not quote host: a token pasted into the wrong variable
	// would otherwise end up in logs.
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return credentials{}, fmt.Errorf("%s must be an https:// URL of the API server (without credentials)", o.APIHostEnv)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return credentials{}, fmt.Errorf("%s must be a bare bearer token (no whitespace, no \"Bearer \" prefix)", o.TokenEnv)
	}
	return credentials{host: host, token: secret(token)}, nil
}

// readDotEnv parses a dotenv file. A missing file yields no variables;
// errors name the line, never its content.
func readDotEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return nil, fmt.Errorf("read %s line %d: want KEY=VALUE", path, n)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		} else if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i])
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return vars, nil
}
