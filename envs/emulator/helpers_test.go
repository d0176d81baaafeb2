package emulator

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/loadtest"
)

const testNS = "ob"

// clock is the emulator's injected clock; each step advances it a tick.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeCluster is an app deployed on a fake clientset as kwok runs it: every
// pod of a Deployment is scheduled and running at once.
type fakeCluster struct {
	t    *testing.T
	kube *fake.Clientset
	a    *app.App
	seq  int
}

// newFakeCluster deploys a with one replica per service.
func newFakeCluster(t *testing.T, a *app.App) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{t: t, kube: fake.NewClientset(), a: a}
	for _, s := range a.Services {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: testNS, Labels: fc.labels("")},
			Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{manifests.SelectorLabel: s.Name}}},
		}
		if _, err := fc.kube.AppsV1().Deployments(testNS).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		fc.scale(s.Name, 1)
	}
	return fc
}

func ptr[T any](x T) *T { return &x }

func (fc *fakeCluster) labels(service string) map[string]string {
	l := map[string]string{manifests.ManagedByLabel: manifests.ManagedBy, manifests.PartOfLabel: fc.a.Name}
	if service != "" {
		l[manifests.SelectorLabel] = service
	}
	return l
}

// scale does what the Deployment controller and kwok do: spec.replicas,
// and as many running pods.
func (fc *fakeCluster) scale(name string, replicas int) {
	fc.t.Helper()
	ctx := context.Background()
	deps := fc.kube.AppsV1().Deployments(testNS)
	d, err := deps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		fc.t.Fatal(err)
	}
	d.Spec.Replicas = ptr(int32(replicas))
	d.Status.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = int32(replicas), int32(replicas), int32(replicas)
	if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		fc.t.Fatal(err)
	}
	pods := fc.pods(name)
	for i := len(pods); i < replicas; i++ {
		fc.seq++
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, fc.seq), Namespace: testNS, Labels: fc.labels(name)},
			Spec:       corev1.PodSpec{NodeName: "kwok-node-0", Containers: []corev1.Container{{Name: fc.a.Services[fc.a.Index(name)].Container}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
		if _, err := fc.kube.CoreV1().Pods(testNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			fc.t.Fatal(err)
		}
	}
	for _, p := range pods[min(replicas, len(pods)):] {
		if err := fc.kube.CoreV1().Pods(testNS).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			fc.t.Fatal(err)
		}
	}
}

func (fc *fakeCluster) pods(service string) []corev1.Pod {
	fc.t.Helper()
	list, err := fc.kube.CoreV1().Pods(testNS).List(context.Background(), metav1.ListOptions{LabelSelector: manifests.SelectorLabel + "=" + service})
	if err != nil {
		fc.t.Fatal(err)
	}
	return list.Items
}

// usage is the CPU (millicores) and memory (MiB) annotations of every pod
// of service.
func (fc *fakeCluster) usage(service string) (cpu, mem []float64) {
	fc.t.Helper()
	for _, p := range fc.pods(service) {
		c, err := resource.ParseQuantity(p.Annotations[AnnotationUsageCPU])
		if err != nil {
			fc.t.Fatalf("pod %s: cpu usage %q: %v", p.Name, p.Annotations[AnnotationUsageCPU], err)
		}
		m, err := resource.ParseQuantity(p.Annotations[AnnotationUsageMemory])
		if err != nil {
			fc.t.Fatalf("pod %s: memory usage %q: %v", p.Name, p.Annotations[AnnotationUsageMemory], err)
		}
		cpu = append(cpu, float64(c.MilliValue()))
		mem = append(mem, float64(m.Value())/(1<<20))
	}
	return cpu, mem
}

// scene is Online Boutique on a fake cluster with its emulator served on
// loopback, stepped by hand on an injected clock.
type scene struct {
	fc    *fakeCluster
	em    *Emulator
	clock *clock
	srv   *httptest.Server
	agent *loadtest.RemoteRunner
}

func newScene(t *testing.T) *scene {
	t.Helper()
	return newSceneWithToken(t, "")
}

// newSceneWithToken is newScene whose load agent requires token; the
// scene's agent sends it.
func newSceneWithToken(t *testing.T, token string) *scene {
	t.Helper()
	a := app.OnlineBoutique()
	s := &scene{fc: newFakeCluster(t, a), clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	em, err := New(Options{Kube: s.fc.kube, App: a, Namespace: testNS, Seed: 1, Token: token, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.em = em
	s.srv = httptest.NewServer(em.Handler())
	t.Cleanup(s.srv.Close)
	s.agent = &loadtest.RemoteRunner{BaseURL: s.srv.URL, Token: token}
	return s
}

// step advances the clock and the emulator n ticks.
func (s *scene) step(t *testing.T, n int) {
	t.Helper()
	for range n {
		s.clock.add(time.Second)
		if err := s.em.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// obJob is the Locust job of an Online Boutique scenario, as an activity
// builds it.
func obJob(t *testing.T, scenario string, d time.Duration) loadtest.Job {
	t.Helper()
	sc, err := load.Lookup(load.OnlineBoutique, scenario)
	if err != nil {
		t.Fatal(err)
	}
	j, err := loadtest.NewJob(sc.WithDuration(d), app.OnlineBoutique(), "http://frontend.onlineboutique.svc:80", loadtest.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// errorBody is the load agent's error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
