package k8s

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

var hpasGVR = autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers")

func (fc *fakeCluster) hpa(name string) *autoscalingv2.HorizontalPodAutoscaler {
	fc.t.Helper()
	obj, err := fc.kube.Tracker().Get(hpasGVR, fc.ns, name)
	if err != nil {
		fc.t.Fatal(err)
	}
	return obj.(*autoscalingv2.HorizontalPodAutoscaler)
}

func containerMetric(resource corev1.ResourceName, container string, pct int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ContainerResourceMetricSourceType,
		ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: resource, Container: container,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(pct)},
		},
	}
}

func TestCreateHPAUsesContainerResourceOnTheAppContainer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		deployment, preset string
		metrics            []autoscalingv2.MetricSpec
	}{
		{"redis-leader", "cpu-50", []autoscalingv2.MetricSpec{containerMetric(corev1.ResourceCPU, "redis", 50)}},
		{"redis-follower", "cpu-20-mem-40", []autoscalingv2.MetricSpec{
			containerMetric(corev1.ResourceCPU, "redis", 20), containerMetric(corev1.ResourceMemory, "redis", 40)}},
	}
	fc, c := deployedRedis(t)
	for _, tt := range tests {
		if err := c.CreateHPA(context.Background(), tt.deployment, tt.preset, 1, 5); err != nil {
			t.Fatal(err)
		}
		h := fc.hpa(HPAName(tt.deployment))
		want := autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: tt.deployment},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, Metrics: tt.metrics,
		}
		if !equality.Semantic.DeepEqual(h.Spec, want) {
			t.Errorf("%s spec\n got %+v\nwant %+v", tt.preset, h.Spec, want)
		}
		if h.Labels[manifests.ManagedByLabel] != manifests.ManagedBy || h.Labels[HPAPresetLabel] != tt.preset {
			t.Errorf("%s labels %v", h.Name, h.Labels)
		}
	}
	for _, p := range patches(fc.actions()) {
		if p.PatchOptions.FieldManager != manifests.FieldManager {
			t.Errorf("hpa applied by %q", p.PatchOptions.FieldManager)
		}
	}
}

func TestCreateHPAWithAnotherPresetReplacesTheFirst(t *testing.T) {
	t.Parallel()
	fc, c := deployedRedis(t)
	for _, preset := range []string{"mem-80", "cpu-60"} {
		if err := c.CreateHPA(context.Background(), "redis-leader", preset, 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	h := fc.hpa(HPAName("redis-leader"))
	want := []autoscalingv2.MetricSpec{containerMetric(corev1.ResourceCPU, "redis", 60)}
	if !equality.Semantic.DeepEqual(h.Spec.Metrics, want) || h.Labels[HPAPresetLabel] != "cpu-60" {
		t.Errorf("metrics %+v preset %s, want only cpu-60", h.Spec.Metrics, h.Labels[HPAPresetLabel])
	}
}

func TestCreateHPARejectsBadInput(t *testing.T) {
	t.Parallel()
	_, c := deployedRedis(t)
	tests := []struct {
		deployment, preset string
		min, max           int32
		want               string
	}{
		{"frontend", "cpu-50", 1, 5, "not a service of app redis"},
		{"redis-leader", "cpu-fifty", 1, 5, "parse hpa preset"},
		{"redis-leader", "cpu-50", 3, 2, "maxReplicas"},
	}
	for _, tt := range tests {
		if err := c.CreateHPA(context.Background(), tt.deployment, tt.preset, tt.min, tt.max); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: error %v, want %q", tt.deployment, tt.preset, err, tt.want)
		}
	}
}

func TestDeleteHPAsDeletesOnlyGrlscalers(t *testing.T) {
	t.Parallel()
	fc, c := deployedRedis(t)
	foreign := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: "redis"}}
	if err := fc.kube.Tracker().Add(foreign); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"redis-leader", "redis-follower"} {
		if err := c.CreateHPA(context.Background(), d, "cpu-50", 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	fc.actions()
	if err := c.DeleteHPAs(context.Background()); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range fc.actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(interface{ GetName() string }).GetName())
		}
	}
	if strings.Join(deleted, ",") != "hpa-redis-follower,hpa-redis-leader" {
		t.Errorf("deleted %v", deleted)
	}
	fc.hpa("someone-elses") // still there
}

// hpaController sets HPA statuses the way the HPA controller would, on the
// first wait of WaitHPALive.
func hpaPoll(fc *fakeCluster, status func(h *autoscalingv2.HorizontalPodAutoscaler)) Poller {
	return func(ctx context.Context, interval, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
		for i := range 3 {
			if ok, err := cond(ctx); err != nil || ok {
				return err
			}
			if i == 0 {
				for _, name := range []string{HPAName("redis-leader"), HPAName("redis-follower")} {
					h := fc.hpa(name).DeepCopy()
					status(h)
					if err := fc.kube.Tracker().Update(hpasGVR, h, fc.ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
						fc.t.Fatal(err)
					}
				}
			}
		}
		return context.DeadlineExceeded
	}
}

func live(h *autoscalingv2.HorizontalPodAutoscaler) {
	h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{
		{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"},
		{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"},
	}
	h.Status.CurrentMetrics = nil
	for _, m := range h.Spec.Metrics {
		h.Status.CurrentMetrics = append(h.Status.CurrentMetrics, autoscalingv2.MetricStatus{
			Type: autoscalingv2.ContainerResourceMetricSourceType,
			ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: m.ContainerResource.Name, Container: m.ContainerResource.Container,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](12)}},
		})
	}
}

func TestWaitHPALive(t *testing.T) {
	t.Parallel()
	const failedMetric = "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"
	tests := []struct {
		name   string
		status func(h *autoscalingv2.HorizontalPodAutoscaler)
		want   string // "" = live
	}{
		{"live", live, ""},
		{"scaling not active", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale"},
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetContainerResourceMetric", Message: failedMetric},
			}
		}, "redis/hpa-redis-leader: ScalingActive=False (FailedGetContainerResourceMetric): " + failedMetric},
		{"active without current metrics", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			live(h)
			h.Status.CurrentMetrics = nil
		}, "redis/hpa-redis-follower: no current cpu utilization of container redis"},
		{"never synced", func(*autoscalingv2.HorizontalPodAutoscaler) {}, "no ScalingActive condition yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc, c := deployedRedis(t)
			for _, d := range []string{"redis-leader", "redis-follower"} {
				if err := c.CreateHPA(context.Background(), d, "cpu-50", 1, 5); err != nil {
					t.Fatal(err)
				}
			}
			c.o.Poll = hpaPoll(fc, tt.status)
			err := c.WaitHPALive(context.Background(), 2*time.Minute)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("live HPAs refused: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrHPANotLive) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want ErrHPANotLive naming %q", err, tt.want)
			}
		})
	}
}

func TestWaitHPALiveWithoutHPAsIsAnError(t *testing.T) {
	t.Parallel()
	_, c := deployedRedis(t)
	if err := c.WaitHPALive(context.Background(), time.Minute); !errors.Is(err, ErrHPANotLive) || !strings.Contains(err.Error(), "no grlscaler HPAs") {
		t.Errorf("error %v", err)
	}
}
