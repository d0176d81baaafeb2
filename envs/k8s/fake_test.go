package k8s

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

var (
	deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
	podsGVR        = corev1.SchemeGroupVersion.WithResource("pods")
)

// fakeCluster is the fake clientset plus what the real control plane would
// do between two checks: the deployment controller and the kubelet (tick
// creates and replaces pods, and marks Deployments rolled out) and the
// Linkerd proxy injector. It changes objects through the tracker, so the
// clientset's recorded actions are only the code under test's.
type fakeCluster struct {
	t    *testing.T
	kube *fake.Clientset
	ns   string
	// injector: pods of a template whose injection is enabled get the proxy.
	injector bool
	// now is the cluster's clock; tick advances it by a second.
	now time.Time
	seq int
	// ticks counts the poller's waits.
	ticks int
}

func newFakeCluster(t *testing.T, ns string, linkerdInstalled bool, objs ...runtime.Object) *fakeCluster {
	t.Helper()
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if linkerdInstalled {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: LinkerdNamespace}})
	}
	fc := &fakeCluster{t: t, kube: fake.NewClientset(objs...), ns: ns, injector: linkerdInstalled,
		now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	fc.kube.PrependReactor("get", "deployments", fc.getScale)
	fc.kube.PrependReactor("update", "deployments", fc.updateScale)
	fc.kube.PrependReactor("patch", "deployments", fc.bumpGeneration)
	return fc
}

// bumpGeneration does what the API server does on a spec change and the
// fake tracker does not: increment metadata.generation, so that a rollout
// waits for the controller to observe it.
func (fc *fakeCluster) bumpGeneration(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "" {
		return false, nil, nil
	}
	name := a.(k8stesting.PatchAction).GetName()
	old, _ := fc.deployment(name)
	handled, obj, err := k8stesting.ObjectReaction(fc.kube.Tracker())(a)
	if err != nil {
		return handled, obj, err
	}
	d, err := fc.deployment(name)
	if err != nil {
		return true, nil, err
	}
	if old == nil || !equality.Semantic.DeepEqual(old.Spec, d.Spec) {
		d.Generation++
		if err := fc.kube.Tracker().Update(deploymentsGVR, d, fc.ns, metav1.UpdateOptions{FieldManager: "kube-apiserver"}); err != nil {
			return true, nil, err
		}
	}
	return true, d, nil
}

// getScale and updateScale serve the scale subresource as the API server
// does (the fake clientset would return the Deployment itself).
func (fc *fakeCluster) getScale(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "scale" {
		return false, nil, nil
	}
	d, err := fc.deployment(a.(k8stesting.GetAction).GetName())
	if err != nil {
		return true, nil, err
	}
	return true, scaleOf(d), nil
}

func (fc *fakeCluster) updateScale(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "scale" {
		return false, nil, nil
	}
	s := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
	d, err := fc.deployment(s.Name)
	if err != nil {
		return true, nil, err
	}
	if s.ResourceVersion != "" && s.ResourceVersion != d.ResourceVersion {
		return true, nil, fmt.Errorf("conflict on %s", s.Name)
	}
	r := s.Spec.Replicas
	if replicasOf(d) != r {
		d.Generation++
	}
	d.Spec.Replicas = &r
	if err := fc.kube.Tracker().Update(deploymentsGVR, d, fc.ns, metav1.UpdateOptions{FieldManager: "scale"}); err != nil {
		return true, nil, err
	}
	d, err = fc.deployment(s.Name)
	if err != nil {
		return true, nil, err
	}
	return true, scaleOf(d), nil
}

func scaleOf(d *appsv1.Deployment) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, ResourceVersion: d.ResourceVersion},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicasOf(d)},
		Status:     autoscalingv1.ScaleStatus{Replicas: d.Status.Replicas, Selector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()},
	}
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func (fc *fakeCluster) deployment(name string) (*appsv1.Deployment, error) {
	obj, err := fc.kube.Tracker().Get(deploymentsGVR, fc.ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*appsv1.Deployment).DeepCopy(), nil
}

func (fc *fakeCluster) deployments() []appsv1.Deployment {
	obj, err := fc.kube.Tracker().List(deploymentsGVR, appsv1.SchemeGroupVersion.WithKind("Deployment"), fc.ns)
	if err != nil {
		fc.t.Fatal(err)
	}
	return obj.(*appsv1.DeploymentList).Items
}

func (fc *fakeCluster) pods() []corev1.Pod {
	obj, err := fc.kube.Tracker().List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), fc.ns)
	if err != nil {
		fc.t.Fatal(err)
	}
	return obj.(*corev1.PodList).Items
}

// tick advances the cluster a second: every Deployment gets exactly its
// replicas of ready pods of its current template, and a rolled-out status.
func (fc *fakeCluster) tick() {
	fc.t.Helper()
	fc.ticks++
	fc.now = fc.now.Add(time.Second)
	tr := fc.kube.Tracker()
	for _, d := range fc.deployments() {
		want := int(replicasOf(&d))
		tmpl, _ := json.Marshal(d.Spec.Template)
		hash := fmt.Sprintf("%x", sha256.Sum256(tmpl))[:10]
		have := 0
		for _, p := range fc.pods() {
			if p.Labels[manifests.SelectorLabel] != d.Name {
				continue
			}
			if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || have >= want {
				if err := tr.Delete(podsGVR, fc.ns, p.Name); err != nil {
					fc.t.Fatal(err)
				}
				continue
			}
			have++
		}
		for ; have < want; have++ {
			fc.seq++
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("%s-%s-%d", d.Name, hash[:5], fc.seq), Namespace: fc.ns,
					Labels:            map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash},
					CreationTimestamp: metav1.NewTime(fc.now.Add(-time.Second)),
				},
				Spec: *d.Spec.Template.Spec.DeepCopy(),
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{
					Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(fc.now),
				}}},
			}
			for k, v := range d.Spec.Template.Labels {
				p.Labels[k] = v
			}
			if fc.injector && d.Spec.Template.Annotations[manifests.InjectAnnotation] == "enabled" {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ProxyContainer, Image: "cr.l5d.io/linkerd/proxy"})
			}
			if err := tr.Create(podsGVR, p, fc.ns, metav1.CreateOptions{FieldManager: "kubelet"}); err != nil {
				fc.t.Fatal(err)
			}
		}
		r := int32(want)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		if err := tr.Update(deploymentsGVR, &d, fc.ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
			fc.t.Fatal(err)
		}
	}
}

// poll is a Poller that, instead of sleeping between checks, lets the fake
// control plane act; it gives up like a timeout after 20 checks.
func (fc *fakeCluster) poll(ctx context.Context, _, _ time.Duration, cond wait.ConditionWithContextFunc) error {
	for range 20 {
		ok, err := cond(ctx)
		if err != nil || ok {
			return err
		}
		fc.tick()
	}
	return context.DeadlineExceeded
}

// stuckPoll is a Poller for a cluster where nothing happens.
func stuckPoll(ctx context.Context, _, _ time.Duration, cond wait.ConditionWithContextFunc) error {
	for range 3 {
		if ok, err := cond(ctx); err != nil || ok {
			return err
		}
	}
	return context.DeadlineExceeded
}

// actions returns the recorded actions and clears them.
func (fc *fakeCluster) actions() []k8stesting.Action {
	a := fc.kube.Actions()
	fc.kube.ClearActions()
	return a
}
