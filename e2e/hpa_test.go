package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/infra/k8stest"
)

// The local cluster's fake nodes carry this label (infra/localk8s/manifests/node.yaml).
var kwokNode = map[string]string{"type": "kwok"}

func newDeployment(name string, cpuRequest string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: kwokNode,
					Containers: []corev1.Container{{
						Name: "app",
						// Never pulled: kwok only pretends to run containers.
						Image: "registry.k8s.io/pause:3.10",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse(cpuRequest),
							corev1.ResourceMemory: resource.MustParse("32Mi"),
						}},
					}},
				},
			},
		},
	}
}

func newCPUHPA(target string, minReplicas, maxReplicas, utilization int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: target},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    &minReplicas,
			MaxReplicas:    maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &utilization},
				},
			}},
		},
	}
}

// The platform test: the real HPA controller, reading metrics.k8s.io from
// metrics-server, which scrapes kwok's fake kubelet, scales a Deployment on
// the usage written in its pods' annotations. With a 100m request and no
// annotation (kwok's default 1m) the HPA sees about 1 % and keeps 1
// replica; 250m is 250 % against a 50 % target, so it wants 5x the replicas
// (capped at 4); 10m is 10 %, so it goes back to 1 once the local cluster's
// 15 s downscale stabilisation has passed. Measured on the local cluster:
// the HPA's first metric after about 20 s, 1 -> 4 within about 30 s of the
// new usage and back in about 45 s, hence the 2- and 3-minute deadlines.
func TestRealHPAScalesADeploymentWithKwokUsage(t *testing.T) {
	cs := cluster(t)
	ns := k8stest.NewNamespace(t, "hpa-kwok")
	ctx := t.Context()
	const name = "web"

	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, newDeployment(name, "100m"), metav1.CreateOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	k8stest.WaitForDeployments(t, cs, ns, time.Minute)
	hpas := cs.AutoscalingV2().HorizontalPodAutoscalers(ns)
	if _, err := hpas.Create(ctx, newCPUHPA(name, 1, 4, 50), metav1.CreateOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("create hpa: %v", err)
	}

	// The metrics pipeline first: the HPA reads the pod's idle usage from
	// metrics.k8s.io (two scrapes of kwok by metrics-server, 10 s apart)
	// and, at about 1 %, keeps one replica.
	start := time.Now()
	var utilization int32
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		h, err := hpas.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u, ok := cpuUtilization(h)
		utilization = u
		return ok, nil
	})
	if err != nil {
		h, _ := hpas.Get(context.Background(), name, metav1.GetOptions{})
		t.Fatalf("the HPA never got a CPU metric: %v; HPA %s", err, describeHPAConditions(h))
	}
	t.Logf("the HPA reads %d%% CPU after %v", utilization, time.Since(start).Round(time.Second))
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if utilization >= 50 || *d.Spec.Replicas != 1 {
		t.Fatalf("idle pods: HPA at %d%% CPU with %d replicas, want below 50%% and 1 replica", utilization, *d.Spec.Replicas)
	}

	start = time.Now()
	n := waitForReplicas(t, cs, ns, name, "250m", 3*time.Minute, func(n int32) bool { return n >= 3 })
	t.Logf("with 250m usage the HPA scaled up to %d replicas in %v", n, time.Since(start).Round(time.Second))

	start = time.Now()
	waitForReplicas(t, cs, ns, name, "10m", 3*time.Minute, func(n int32) bool { return n == 1 })
	t.Logf("with 10m usage the HPA scaled back to 1 replica in %v", time.Since(start).Round(time.Second))
}

// waitForReplicas keeps every pod of Deployment name annotated with the
// given CPU usage (pods the HPA adds start without it) and polls until the
// replicas the HPA set satisfy ok, logging each change; after timeout it
// fails with the HPA's and the Deployment's state. It returns the replicas.
func waitForReplicas(t *testing.T, cs kubernetes.Interface, ns, name, usage string, timeout time.Duration, ok func(int32) bool) int32 {
	t.Helper()
	var replicas int32
	last := ""
	err := wait.PollUntilContextTimeout(t.Context(), 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if _, err := k8stest.SetPodUsage(ctx, cs, ns, "app="+name, usage); err != nil {
			return false, err
		}
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		replicas = *d.Spec.Replicas
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if s := fmt.Sprintf("replicas %d, HPA %s", replicas, describeHPA(h)); s != last {
			t.Logf("usage %s: %s", usage, s)
			last = s
		}
		return ok(replicas), nil
	})
	if err != nil {
		d, _ := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		h, _ := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
		t.Fatalf("with usage %s, replicas never reached the target within %v (%v): deployment %s; HPA %s",
			usage, timeout, err, k8stest.Describe(d), describeHPAConditions(h))
	}
	return replicas
}

// cpuUtilization returns the average CPU utilisation the HPA last read.
func cpuUtilization(h *autoscalingv2.HorizontalPodAutoscaler) (int32, bool) {
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			return *m.Resource.Current.AverageUtilization, true
		}
	}
	return 0, false
}

func describeHPA(h *autoscalingv2.HorizontalPodAutoscaler) string {
	cpu := "no metric yet"
	if u, ok := cpuUtilization(h); ok {
		cpu = fmt.Sprintf("CPU %d%%", u)
	}
	return fmt.Sprintf("%s, desired %d", cpu, h.Status.DesiredReplicas)
}

func describeHPAConditions(h *autoscalingv2.HorizontalPodAutoscaler) string {
	if h == nil {
		return "not found"
	}
	var b strings.Builder
	b.WriteString(describeHPA(h))
	for _, c := range h.Status.Conditions {
		fmt.Fprintf(&b, "; %s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}
