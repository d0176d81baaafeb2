package k8s

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"

	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

// HPAPresetLabel records the preset an HPA was created from.
const HPAPresetLabel = "grlscaler.io/hpa-preset"

// ErrHPANotLive means an HPA has no usable metric or is not scaling: a
// baseline measured with it would be a static deployment, not the HPA
// (the seed's HPA apparently never scaled in one run, seed-spec 8 C6).
var ErrHPANotLive = errors.New("hpa is not live")

// HPAName is the name of a Deployment's HPA; one per Deployment, so that
// creating another preset replaces the previous one instead of adding a
// second autoscaler fighting over the same replicas.
func HPAName(deployment string) string { return "hpa-" + deployment }

// CreateHPA creates (or replaces) the autoscaling/v2 HPA of one Deployment
// from a seed-style preset ("cpu-50", "mem-40", "cpu-60-mem-80"), with
// ContainerResource metrics on the app container so that the Linkerd
// proxy's usage does not dilute the utilisation, and no behavior field, as
// the seed's manifests (and the twin's default Config) have.
func (c *Cluster) CreateHPA(ctx context.Context, deployment, preset string, minReplicas, maxReplicas int32) error {
	k := c.o.App.Index(deployment)
	if k < 0 {
		return fmt.Errorf("create hpa for %s/%s: not a service of app %s", c.o.Namespace, deployment, c.o.App.Name)
	}
	cfg, err := hpa.ParsePreset(preset, minReplicas, maxReplicas)
	if err != nil {
		return fmt.Errorf("create hpa for %s/%s: %w", c.o.Namespace, deployment, err)
	}
	container := c.o.App.Services[k].Container
	spec := autoscalingv2ac.HorizontalPodAutoscalerSpec().
		WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName(deployment)).
		WithMinReplicas(cfg.MinReplicas).WithMaxReplicas(cfg.MaxReplicas)
	for _, m := range cfg.Metrics {
		resource := corev1.ResourceCPU
		if m.Resource == hpa.ResourceMemory {
			resource = corev1.ResourceMemory
		}
		spec.WithMetrics(autoscalingv2ac.MetricSpec().
			WithType(autoscalingv2.ContainerResourceMetricSourceType).
			WithContainerResource(autoscalingv2ac.ContainerResourceMetricSource().
				WithName(resource).WithContainer(container).
				WithTarget(autoscalingv2ac.MetricTarget().WithType(autoscalingv2.UtilizationMetricType).WithAverageUtilization(m.TargetUtilization))))
	}
	obj := autoscalingv2ac.HorizontalPodAutoscaler(HPAName(deployment), c.o.Namespace).
		WithLabels(map[string]string{
			manifests.ManagedByLabel: manifests.ManagedBy,
			manifests.PartOfLabel:    c.o.App.Name,
			HPAPresetLabel:           cfg.Name,
		}).
		WithSpec(spec)
	if _, err := c.o.Kube.AutoscalingV2().HorizontalPodAutoscalers(c.o.Namespace).Apply(ctx, obj, applyOptions); err != nil {
		return fmt.Errorf("create hpa %s/%s (%s): %w", c.o.Namespace, HPAName(deployment), preset, err)
	}
	return nil
}

// DeleteHPAs deletes the app's HPAs that grlscaler created (by label),
// leaving any other HPA in the namespace alone.
func (c *Cluster) DeleteHPAs(ctx context.Context) error {
	hpas := c.o.Kube.AutoscalingV2().HorizontalPodAutoscalers(c.o.Namespace)
	list, err := hpas.List(ctx, metav1.ListOptions{LabelSelector: appSelector(c.o.App)})
	if err != nil {
		return fmt.Errorf("delete hpas in %s: %w", c.o.Namespace, err)
	}
	var errs []error
	for _, h := range list.Items {
		if err := hpas.Delete(ctx, h.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete hpa %s/%s: %w", c.o.Namespace, h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// WaitHPALive waits until every grlscaler HPA of the app reports a current
// value for each of its metrics and the condition ScalingActive=True. It
// fails with ErrHPANotLive naming each HPA that is not, with the
// condition's reason and message, so that a dead baseline is refused
// rather than measured.
func (c *Cluster) WaitHPALive(ctx context.Context, timeout time.Duration) error {
	hpas := c.o.Kube.AutoscalingV2().HorizontalPodAutoscalers(c.o.Namespace)
	var dead []string
	cond := func(ctx context.Context) (bool, error) {
		list, err := hpas.List(ctx, metav1.ListOptions{LabelSelector: appSelector(c.o.App)})
		if err != nil {
			return false, fmt.Errorf("list hpas in %s: %w", c.o.Namespace, err)
		}
		if len(list.Items) == 0 {
			return false, fmt.Errorf("%w: no grlscaler HPAs of app %s in %s (create them first)", ErrHPANotLive, c.o.App.Name, c.o.Namespace)
		}
		dead = dead[:0]
		for i := range list.Items {
			if why := notLive(&list.Items[i]); why != "" {
				dead = append(dead, fmt.Sprintf("%s/%s: %s", c.o.Namespace, list.Items[i].Name, why))
			}
		}
		return len(dead) == 0, nil
	}
	err := c.o.Poll(ctx, c.o.PollInterval, timeout, cond)
	if err != nil && wait.Interrupted(err) && ctx.Err() == nil {
		return fmt.Errorf("%w after %s: %s", ErrHPANotLive, timeout, strings.Join(dead, "; "))
	}
	return err
}

// notLive says why an HPA is not live, or "" if it is.
func notLive(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var active *autoscalingv2.HorizontalPodAutoscalerCondition
	for i, cond := range h.Status.Conditions {
		switch cond.Type {
		case autoscalingv2.ScalingActive:
			active = &h.Status.Conditions[i]
		case autoscalingv2.AbleToScale:
			if cond.Status != corev1.ConditionTrue {
				return fmt.Sprintf("AbleToScale=%s (%s): %s", cond.Status, cond.Reason, cond.Message)
			}
		}
	}
	if active == nil {
		return "no ScalingActive condition yet (the HPA controller has not processed it)"
	}
	if active.Status != corev1.ConditionTrue {
		return fmt.Sprintf("ScalingActive=%s (%s): %s", active.Status, active.Reason, active.Message)
	}
	for _, m := range h.Spec.Metrics {
		if m.ContainerResource == nil {
			continue
		}
		if !hasCurrent(h.Status.CurrentMetrics, m.ContainerResource) {
			return fmt.Sprintf("no current %s utilization of container %s", m.ContainerResource.Name, m.ContainerResource.Container)
		}
	}
	return ""
}

func hasCurrent(current []autoscalingv2.MetricStatus, want *autoscalingv2.ContainerResourceMetricSource) bool {
	for _, s := range current {
		cr := s.ContainerResource
		if cr != nil && cr.Name == want.Name && cr.Container == want.Container && cr.Current.AverageUtilization != nil {
			return true
		}
	}
	return false
}
