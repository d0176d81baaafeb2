package k8s

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

// LinkerdMode is the proxy injection mode of Deploy.
type LinkerdMode = manifests.Linkerd

// The injection modes.
const (
	LinkerdInject   = manifests.LinkerdInject
	LinkerdDisabled = manifests.LinkerdDisabled
)

// Names used on the cluster.
const (
	// LinkerdNamespace is where Linkerd's control plane lives; Deploy with
	// injection refuses to run without it.
	LinkerdNamespace = "linkerd"
	// ProxyContainer is the name of Linkerd's sidecar (a container, or an
	// init container with restartPolicy Always in native-sidecar mode).
	ProxyContainer = "linkerd-proxy"
	// restartedAtAnnotation is kubectl rollout restart's template annotation.
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// restartFieldManager owns the restart annotation, so that grlscaler's
	// own applies (which never carry it) do not remove it and roll again.
	restartFieldManager = "grlscaler-rollout-restart"
)

// ErrLinkerdMissing means Linkerd injection was asked for but Linkerd is
// not installed or does not inject.
var ErrLinkerdMissing = errors.New("linkerd is not installed")

// Poller waits until cond returns true or an error, or timeout passes,
// checking every interval. Nil means wait.PollUntilContextTimeout (first
// check immediately); tests pass one that advances a fake cluster instead
// of sleeping.
type Poller func(ctx context.Context, interval, timeout time.Duration, cond wait.ConditionWithContextFunc) error

func realPoll(ctx context.Context, interval, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, interval, timeout, true, cond)
}

// DeployOptions configure Deploy.
type DeployOptions struct {
	App       *app.App
	Namespace string
	Linkerd   LinkerdMode
	// Progress receives a line per check while Deploy waits; an activity
	// heartbeats with it. Nil discards them.
	Progress func(string)
	// Timeout bounds each wait for the rollout; default 10m.
	Timeout time.Duration
	// PollInterval is the time between checks; default 2s.
	PollInterval time.Duration
	// Poll waits; nil means real time.
	Poll Poller
	// Now stamps a rollout restart; nil means time.Now.
	Now func() time.Time
}

func (o *DeployOptions) defaults() error {
	if o.App == nil {
		return errors.New("deploy: app is required")
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Poll == nil {
		o.Poll = realPoll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	return nil
}

// applyOptions are every apply's: grlscaler's field manager, and force, so
// that a field last set by hand (kubectl edit) returns to the declaration.
var applyOptions = metav1.ApplyOptions{FieldManager: manifests.FieldManager, Force: true}

// Deploy applies the app's manifests to the namespace (created if missing)
// with server-side apply and waits until every Deployment is available.
// With Linkerd injection it first checks that Linkerd is installed, and
// after the rollout that every pod runs the proxy, restarting only the
// Deployments whose pods predate injection. It is idempotent: on an app
// already deployed it re-applies identical objects and changes nothing.
func Deploy(ctx context.Context, kube kubernetes.Interface, o DeployOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	set, err := manifests.Build(o.App, o.Namespace, o.Linkerd)
	if err != nil {
		return fmt.Errorf("deploy %s: %w", o.App.Name, err)
	}
	ns := o.Namespace
	if o.Linkerd == LinkerdInject {
		if _, err := kube.CoreV1().Namespaces().Get(ctx, LinkerdNamespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return fmt.Errorf("deploy %s to %s: %w (no namespace %q): install Linkerd (linkerd install --crds | kubectl apply -f -; linkerd install | kubectl apply -f -; linkerd viz install | kubectl apply -f -) or set the experiment's Linkerd injection to disabled",
				o.App.Name, ns, ErrLinkerdMissing, LinkerdNamespace)
		} else if err != nil {
			return fmt.Errorf("deploy %s to %s: check for Linkerd: %w", o.App.Name, ns, err)
		}
	}
	if _, err := kube.CoreV1().Namespaces().Apply(ctx, set.Namespace, applyOptions); err != nil {
		return fmt.Errorf("deploy %s: apply namespace %s: %w", o.App.Name, ns, err)
	}
	for _, s := range set.Services {
		if _, err := kube.CoreV1().Services(ns).Apply(ctx, s, applyOptions); err != nil {
			return fmt.Errorf("deploy %s: apply service %s/%s: %w", o.App.Name, ns, *s.Name, err)
		}
	}
	for _, d := range set.Deployments {
		if _, err := kube.AppsV1().Deployments(ns).Apply(ctx, d, applyOptions); err != nil {
			return fmt.Errorf("deploy %s: apply deployment %s/%s: %w", o.App.Name, ns, *d.Name, err)
		}
	}
	names := o.App.ServiceNames()
	if err := waitRollout(ctx, kube, &o, names); err != nil {
		return err
	}
	if o.Linkerd != LinkerdInject {
		return nil
	}
	lacking, err := withoutProxy(ctx, kube, ns, o.App)
	if err != nil || len(lacking) == 0 {
		return err
	}
	// Pods started before Linkerd was installed, or before the namespace
	// was annotated, keep running without a proxy until they are replaced.
	for _, name := range lacking {
		o.Progress(fmt.Sprintf("restarting %s: its pods lack the %s container", name, ProxyContainer))
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, restartedAtAnnotation, o.Now().UTC().Format(time.RFC3339))
		if _, err := kube.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: restartFieldManager}); err != nil {
			return fmt.Errorf("deploy %s: restart %s/%s: %w", o.App.Name, ns, name, err)
		}
	}
	if err := waitRollout(ctx, kube, &o, names); err != nil {
		return err
	}
	lacking, err = withoutProxy(ctx, kube, ns, o.App)
	if err != nil {
		return err
	}
	if len(lacking) > 0 {
		return fmt.Errorf("deploy %s to %s: %w: pods of %s have no %s container after a rollout restart; check the proxy injector (linkerd check), install Linkerd, or set the experiment's Linkerd injection to disabled",
			o.App.Name, ns, ErrLinkerdMissing, strings.Join(lacking, ", "), ProxyContainer)
	}
	return nil
}

// appSelector selects the objects Deploy created for an app.
func appSelector(a *app.App) string {
	return labels.SelectorFromSet(labels.Set{manifests.ManagedByLabel: manifests.ManagedBy, manifests.PartOfLabel: a.Name}).String()
}

// waitRollout waits until every named Deployment has rolled out, as
// kubectl rollout status decides it, reporting progress at each check.
func waitRollout(ctx context.Context, kube kubernetes.Interface, o *DeployOptions, names []string) error {
	ns := o.Namespace
	var pending []string
	cond := func(ctx context.Context) (bool, error) {
		list, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(o.App)})
		if err != nil {
			return false, fmt.Errorf("list deployments in %s: %w", ns, err)
		}
		pending = pending[:0]
		for _, name := range names {
			i := slices.IndexFunc(list.Items, func(d appsv1.Deployment) bool { return d.Name == name })
			if i < 0 {
				pending = append(pending, name+" (missing)")
				continue
			}
			done, err := rolledOut(&list.Items[i])
			if err != nil {
				return false, err
			}
			if !done {
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			o.Progress(fmt.Sprintf("rollout: %d/%d deployments available", len(names), len(names)))
			return true, nil
		}
		o.Progress(fmt.Sprintf("rollout: %d/%d deployments available, waiting for %s", len(names)-len(pending), len(names), strings.Join(pending, ", ")))
		return false, nil
	}
	err := o.Poll(ctx, o.PollInterval, o.Timeout, cond)
	if err != nil && wait.Interrupted(err) && ctx.Err() == nil {
		return fmt.Errorf("deploy %s to %s: rollout not done after %s, waiting for %s", o.App.Name, ns, o.Timeout, strings.Join(pending, ", "))
	}
	if err != nil {
		return fmt.Errorf("deploy %s to %s: %w", o.App.Name, ns, err)
	}
	return nil
}

// rolledOut mirrors kubectl's DeploymentStatusViewer: the controller has
// seen the latest spec, all replicas are updated, no old ones remain, and
// all updated ones are available. A Deployment past its progress deadline
// is an error, not something to wait for.
func rolledOut(d *appsv1.Deployment) (bool, error) {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Errorf("deployment %s/%s exceeded its progress deadline: %s", d.Namespace, d.Name, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == want && s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas, nil
}

// withoutProxy returns the app's Deployments (in canonical order) with a
// live pod that lacks the Linkerd proxy.
func withoutProxy(ctx context.Context, kube kubernetes.Interface, ns string, a *app.App) ([]string, error) {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(a)})
	if err != nil {
		return nil, fmt.Errorf("deploy %s: list pods in %s: %w", a.Name, ns, err)
	}
	lacking := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !hasProxy(p) {
			lacking[p.Labels[manifests.SelectorLabel]] = true
		}
	}
	var out []string
	for _, s := range a.Services {
		if lacking[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

func hasProxy(p *corev1.Pod) bool {
	isProxy := func(c corev1.Container) bool { return c.Name == ProxyContainer }
	return slices.ContainsFunc(p.Spec.Containers, isProxy) || slices.ContainsFunc(p.Spec.InitContainers, isProxy)
}
