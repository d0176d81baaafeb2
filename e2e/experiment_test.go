package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/envs/emulator"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/k8stest"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/loadtest"
	"github.com/grlscaler/grlscaler/worker"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// quickstartK8s is the quickstart experiment in k8s mode, shrunk to run in
// minutes: short steps (the local controller-manager syncs HPAs every 5 s),
// a few training rollouts, one evaluation seed. Linkerd is disabled (the
// local cluster has none); the emulator serves the Prometheus and viz APIs
// Linkerd would feed.
const quickstartK8s = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: e2e-k8s
spec:
  app: onlineboutique
  cluster:
    mode: k8s
    stepPeriod: 5s
    k8s:
      kubeconfig: %[1]s
      namespace: %[2]s
      prometheusURL: %[3]s
      linkerdVizURL: %[3]s/api/edges
      linkerd: disabled
      hpaReadyTimeout: 2m
  warmUp: {duration: 15s}
  agent:
    policy: gcn
    goal: cost
    totalSteps: 32
    chunkSteps: 16
    episodeSteps: 8
    seed: 7
    hyperparameters: {nSteps: 16, batchSize: 8, epochs: 1}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 100s
    locust: {runner: remote, host: "http://frontend.%[2]s.svc.cluster.local:80"}
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50, maxReplicas: 6}
    repetitions: 1
    validationSeeds: 1
`

// TestQuickstartRunsInK8sModeOnTheLocalCluster runs the quickstart through
// a real Temporal dev server and this worker against the local control
// plane, with the emulator playing the app (pod usage, Prometheus, Linkerd
// viz, the load agent): the real HPA controller scales the baseline from
// metrics-server, the agent's actions scale the Deployments through the
// scale subresource, and the report compares them. Deploying is
// idempotent, and a cluster without Linkerd gets a clear error when the
// spec asks for injection.
func TestQuickstartRunsInK8sModeOnTheLocalCluster(t *testing.T) {
	kube := cluster(t)
	ns := k8stest.NewNamespace(t, "ob")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	ap, err := sim.LookupApp("onlineboutique", 7)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	emu, err := emulator.New(emulator.Options{Kube: kube, App: ap, Namespace: ns, Tick: time.Second, Seed: 7, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	emuDone := make(chan error, 1)
	emuCtx, stopEmu := context.WithCancel(ctx)
	go func() { emuDone <- emu.Run(emuCtx) }()
	defer func() {
		stopEmu()
		if err := <-emuDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("emulator: %v", err)
		}
	}()
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	t.Setenv(loadtest.HostEnv, srv.URL)

	spec, err := experiment.Parse("e2e-k8s.yaml", fmt.Appendf(nil, quickstartK8s, os.Getenv(k8stest.EnvKubeconfig), ns, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	store := objstore.NewMemory()

	t.Run("injection without Linkerd is refused by name", func(t *testing.T) {
		withInjection := *spec
		k := *spec.Spec.Cluster.K8s
		k.Linkerd = "inject"
		withInjection.Spec.Cluster.K8s = &k
		_, err := deploy(t, store, withInjection)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeLinkerdMissing || !appErr.NonRetryable() {
			t.Fatalf("deploy with injection on a cluster without Linkerd: got %v, want a non-retryable %s error", err, activities.ErrTypeLinkerdMissing)
		}
		if !strings.Contains(err.Error(), "linkerd: disabled") {
			t.Errorf("the error does not say how to proceed: %v", err)
		}
	})

	// While the experiment runs, record the replicas the Deployments reach
	// before the first HPA exists (the agent's doing) and after.
	watch := watchReplicas(ctx, kube, ns)

	tc, _ := temporaltest.StartDevServer(t)
	workerDone := make(chan error, 1)
	wctx, stopWorker := context.WithCancel(ctx)
	go func() { workerDone <- worker.Run(wctx, worker.Options{Client: tc, Store: store, Logger: log}) }()
	defer func() {
		stopWorker()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-k8s", TaskQueue: api.TaskQueue}, api.ExperimentWorkflowName, *spec)
	if err != nil {
		t.Fatal(err)
	}
	var res api.ExperimentResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("experiment failed: %v", err)
	}
	agentMax, hpaMax := watch()

	t.Run("the agent's actions scaled the Deployments", func(t *testing.T) {
		if agentMax == 0 {
			t.Errorf("no Deployment left 1 replica while the agent trained and was evaluated (before any HPA)")
		}
	})
	t.Run("the real HPA scaled under peak", func(t *testing.T) {
		rows := series(t, ctx, store, spec, "hpa-cpu-50", api.SplitTest)
		peak := 0
		for _, r := range rows {
			peak = max(peak, r)
		}
		if peak <= len(ap.Services) {
			t.Errorf("hpa-cpu-50 on peak never ran more than %d replicas in total (the minimum is %d); max seen by the watch: %d", peak, len(ap.Services), hpaMax)
		}
	})
	t.Run("the report compares the agent with the HPA", func(t *testing.T) {
		data, _, err := objstore.GetVerified(ctx, store, res.Report.JSONKey, "")
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Controllers []struct {
				Name    string `json:"name"`
				Valid   bool   `json:"valid"`
				Metrics map[string]struct {
					Mean float64 `json:"mean"`
					N    int     `json:"n"`
				} `json:"metrics"`
			} `json:"controllers"`
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, c := range rep.Controllers {
			seen[c.Name] = true
			cost := c.Metrics["cost_replica_seconds"]
			if !c.Valid || cost.N != 1 || cost.Mean <= 0 {
				t.Errorf("controller %s: valid %v, cost %+v", c.Name, c.Valid, cost)
			}
		}
		if !seen["agent"] || !seen["hpa-cpu-50"] {
			t.Errorf("report controllers %v, want agent and hpa-cpu-50", seen)
		}
		md, _, err := objstore.GetVerified(ctx, store, strings.TrimSuffix(res.Report.JSONKey, ".json")+".md", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("report:\n%s", md)
	})
	t.Run("deploying again changes nothing", func(t *testing.T) {
		before := resourceVersions(t, ctx, kube, ns)
		if _, err := deploy(t, store, *spec); err != nil {
			t.Fatal(err)
		}
		after := resourceVersions(t, ctx, kube, ns)
		for name, v := range before {
			if after[name] != v {
				t.Errorf("deployment %s changed: resourceVersion %s -> %s", name, v, after[name])
			}
		}
	})
	t.Run("cleanup left no HPA", func(t *testing.T) {
		hpas, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hpas.Items) != 0 {
			t.Errorf("%d HPAs left in %s", len(hpas.Items), ns)
		}
	})
}

// deploy runs the DeployApp activity in a test activity environment.
func deploy(t *testing.T, store objstore.Store, spec api.ExperimentSpec) (api.DeployResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := s.NewTestActivityEnvironment()
	(&activities.Activities{Store: store}).Register(e)
	v, err := e.ExecuteActivity(api.DeployAppActivityName, api.DeployInput{ExperimentID: "e2e-k8s", Spec: spec})
	if err != nil {
		return api.DeployResult{}, err
	}
	var res api.DeployResult
	return res, v.Get(&res)
}

// watchReplicas polls the namespace's Deployments every second until the
// returned function is called, which returns the highest total replicas
// above one per Deployment seen before the first HPA existed (0 if none
// left 1) and the highest total replicas seen while HPAs existed.
func watchReplicas(ctx context.Context, kube kubernetes.Interface, ns string) func() (int, int) {
	var mu sync.Mutex
	agentMax, hpaMax := 0, 0
	hpaSeen := false
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			deps, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			hpas, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			total, above := 0, 0
			for _, d := range deps.Items {
				r := int(*d.Spec.Replicas)
				total += r
				above += max(r-1, 0)
			}
			mu.Lock()
			hpaSeen = hpaSeen || len(hpas.Items) > 0
			if hpaSeen {
				hpaMax = max(hpaMax, total)
			} else {
				agentMax = max(agentMax, above)
			}
			mu.Unlock()
		}
	}()
	return func() (int, int) {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return agentMax, hpaMax
	}
}

// series returns the total replicas per step of a controller's first run
// on peak.
func series(t *testing.T, ctx context.Context, store objstore.Store, spec *api.ExperimentSpec, controller, split string) []int {
	t.Helper()
	key := activities.SeriesKey(spec, "e2e-k8s", controller, "peak", split, 0)
	data, _, err := objstore.GetVerified(ctx, store, key, "")
	if err != nil {
		t.Fatalf("series %s: %v", key, err)
	}
	r := csv.NewReader(strings.NewReader(string(data)))
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, h := range header {
			if strings.HasSuffix(h, "_replicas") {
				n, _ := strconv.Atoi(row[i])
				total += n
			}
		}
		out = append(out, total)
	}
	if len(out) == 0 {
		t.Fatalf("series %s has no rows", key)
	}
	return out
}

func resourceVersions(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range deps.Items {
		out[d.Name] = d.ResourceVersion
	}
	return out
}
