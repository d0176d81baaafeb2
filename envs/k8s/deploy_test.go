package k8s

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

func deployOptions(fc *fakeCluster, a *app.App, mode LinkerdMode, progress *[]string) DeployOptions {
	return DeployOptions{
		App: a, Namespace: fc.ns, Linkerd: mode, Poll: fc.poll,
		Now:      func() time.Time { return fc.now },
		Progress: func(s string) { *progress = append(*progress, s) },
	}
}

func patches(actions []k8stesting.Action) []k8stesting.PatchActionImpl {
	var out []k8stesting.PatchActionImpl
	for _, a := range actions {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			out = append(out, p)
		}
	}
	return out
}

func TestDeployAppliesEveryObjectServerSideAndWaitsForTheRollout(t *testing.T) {
	t.Parallel()
	for _, name := range app.Names() {
		t.Run(name, func(t *testing.T) {
			a, _ := app.Lookup(name)
			fc := newFakeCluster(t, "apps", true)
			var progress []string
			if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
				t.Fatal(err)
			}
			applied := map[string]bool{}
			for _, p := range patches(fc.actions()) {
				if p.GetPatchType() != types.ApplyPatchType {
					t.Errorf("%s %s patched with %s; a fresh deploy only applies", p.GetResource().Resource, p.GetName(), p.GetPatchType())
				}
				if p.PatchOptions.FieldManager != manifests.FieldManager || p.PatchOptions.Force == nil || !*p.PatchOptions.Force {
					t.Errorf("%s %s applied with %+v, want field manager %s and force", p.GetResource().Resource, p.GetName(), p.PatchOptions, manifests.FieldManager)
				}
				applied[p.GetResource().Resource+"/"+p.GetName()] = true
			}
			want := []string{"namespaces/apps"}
			for _, s := range a.Services {
				want = append(want, "deployments/"+s.Name, "services/"+s.Name)
			}
			for _, w := range want {
				if !applied[w] {
					t.Errorf("%s not applied", w)
				}
			}
			if len(applied) != len(want) {
				t.Errorf("applied %d objects, want %d", len(applied), len(want))
			}
			for _, d := range fc.deployments() {
				if d.Labels[manifests.ManagedByLabel] != manifests.ManagedBy {
					t.Errorf("deployment %s not labelled %s", d.Name, manifests.ManagedByLabel)
				}
			}
			if len(progress) == 0 || !strings.Contains(progress[len(progress)-1], "deployments available") {
				t.Errorf("progress %q, want rollout heartbeats", progress)
			}
		})
	}
}

func TestSecondDeployAppliesNothingNew(t *testing.T) {
	t.Parallel()
	a := app.OnlineBoutique()
	fc := newFakeCluster(t, "ob", true)
	var progress []string
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
		t.Fatal(err)
	}
	first := patches(fc.actions())
	before := fc.deployments()
	fc.ticks = 0
	podsBefore := len(fc.pods())

	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
		t.Fatal(err)
	}
	second := fc.actions()
	for _, act := range second {
		switch act.GetVerb() {
		case "get", "list":
		case "patch":
			p := act.(k8stesting.PatchActionImpl)
			if p.GetPatchType() != types.ApplyPatchType {
				t.Errorf("second deploy sent a %s patch to %s (a restart?)", p.GetPatchType(), p.GetName())
				continue
			}
			i := slices.IndexFunc(first, func(f k8stesting.PatchActionImpl) bool {
				return f.GetResource() == p.GetResource() && f.GetName() == p.GetName()
			})
			if i < 0 || !bytes.Equal(first[i].GetPatch(), p.GetPatch()) {
				t.Errorf("second apply of %s %s differs from the first", p.GetResource().Resource, p.GetName())
			}
		default:
			t.Errorf("second deploy made a %s of %s", act.GetVerb(), act.GetResource().Resource)
		}
	}
	if fc.ticks != 0 {
		// The first check of the rollout already passed: nothing rolled.
		t.Errorf("second deploy waited %d ticks, want none", fc.ticks)
	}
	after := fc.deployments()
	for i := range before {
		if before[i].Name != after[i].Name || !equalTemplates(before[i].Spec.Template, after[i].Spec.Template) {
			t.Errorf("deployment %s changed", before[i].Name)
		}
	}
	if len(fc.pods()) != podsBefore {
		t.Errorf("pods %d, want %d", len(fc.pods()), podsBefore)
	}
}

func equalTemplates(a, b corev1.PodTemplateSpec) bool {
	return a.String() == b.String()
}

func TestDeployRestartsOnlyDeploymentsWhosePodsLackTheProxy(t *testing.T) {
	t.Parallel()
	a := app.OnlineBoutique()
	fc := newFakeCluster(t, "ob", true)
	var progress []string
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
		t.Fatal(err)
	}
	// Pods of two services predate injection: drop their proxies.
	stale := []string{"cartservice", "frontend"}
	for _, p := range fc.pods() {
		if slices.Contains(stale, p.Labels[manifests.SelectorLabel]) {
			p.Spec.Containers = slices.DeleteFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == ProxyContainer })
			if err := fc.kube.Tracker().Update(podsGVR, &p, fc.ns, metav1.UpdateOptions{FieldManager: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fc.actions()
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
		t.Fatal(err)
	}
	var restarted []string
	for _, p := range patches(fc.actions()) {
		if p.GetPatchType() == types.StrategicMergePatchType {
			restarted = append(restarted, p.GetName())
			if !strings.Contains(string(p.GetPatch()), restartedAtAnnotation) || p.PatchOptions.FieldManager != restartFieldManager {
				t.Errorf("restart of %s: patch %s by %q", p.GetName(), p.GetPatch(), p.PatchOptions.FieldManager)
			}
		}
	}
	if !slices.Equal(restarted, []string{"cartservice", "frontend"}) {
		t.Errorf("restarted %v, want exactly %v (canonical order)", restarted, stale)
	}
	for _, p := range fc.pods() {
		if !hasProxy(&p) {
			t.Errorf("pod %s still lacks the proxy", p.Name)
		}
	}
	// The restart annotation belongs to another field manager: the next
	// apply leaves it, so nothing rolls again.
	fc.ticks = 0
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); err != nil {
		t.Fatal(err)
	}
	for _, p := range patches(fc.actions()) {
		if p.GetPatchType() != types.ApplyPatchType {
			t.Errorf("deploy after a restart sent a %s patch to %s", p.GetPatchType(), p.GetName())
		}
	}
	if fc.ticks != 0 {
		t.Errorf("deploy after a restart rolled out again (%d ticks)", fc.ticks)
	}
}

func TestDeployWithoutLinkerdNamesTheRemedy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		namespace        bool // the linkerd namespace exists
		injector         bool // the proxy injector works
		want             string
		appliesSomething bool
	}{
		{"no linkerd namespace", false, false, `no namespace "linkerd"`, false},
		{"no proxy after a rollout restart", true, false, "have no linkerd-proxy container after a rollout restart", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeCluster(t, "ob", tt.namespace)
			fc.injector = tt.injector
			var progress []string
			err := Deploy(context.Background(), fc.kube, deployOptions(fc, app.Redis(), LinkerdInject, &progress))
			if !errors.Is(err, ErrLinkerdMissing) {
				t.Fatalf("error %v, want ErrLinkerdMissing", err)
			}
			for _, w := range []string{tt.want, "install Linkerd", "disabled"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := len(patches(fc.actions())) > 0; got != tt.appliesSomething {
				t.Errorf("applied objects: %v, want %v", got, tt.appliesSomething)
			}
		})
	}
}

func TestDeployWithInjectionDisabledNeedsNoLinkerd(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, "redis", false)
	var progress []string
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, app.Redis(), LinkerdDisabled, &progress)); err != nil {
		t.Fatal(err)
	}
	for _, act := range fc.actions() {
		if act.GetResource().Resource == "namespaces" && act.GetVerb() == "get" {
			t.Errorf("looked for Linkerd with injection disabled")
		}
	}
	for _, d := range fc.deployments() {
		if got := d.Spec.Template.Annotations[manifests.InjectAnnotation]; got != "disabled" {
			t.Errorf("%s template %s = %q, want disabled", d.Name, manifests.InjectAnnotation, got)
		}
	}
}

func TestDeployTimeoutNamesThePendingDeployments(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, "redis", false)
	o := DeployOptions{App: app.Redis(), Namespace: fc.ns, Linkerd: LinkerdDisabled, Poll: stuckPoll, Timeout: time.Minute}
	err := Deploy(context.Background(), fc.kube, o)
	if err == nil || !strings.Contains(err.Error(), "rollout not done after 1m0s, waiting for redis-leader, redis-follower") {
		t.Errorf("error %v, want one naming both pending deployments", err)
	}
}

func TestDeployFailsFastPastTheProgressDeadline(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, "redis", false)
	var progress []string
	o := deployOptions(fc, app.Redis(), LinkerdDisabled, &progress)
	o.Poll = func(ctx context.Context, i, to time.Duration, cond wait.ConditionWithContextFunc) error {
		d, err := fc.deployment("redis-follower")
		if err != nil {
			t.Fatal(err)
		}
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "redis-follower-1" has timed out progressing.`}}
		if err := fc.kube.Tracker().Update(deploymentsGVR, d, fc.ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
			t.Fatal(err)
		}
		return fc.poll(ctx, i, to, cond)
	}
	err := Deploy(context.Background(), fc.kube, o)
	if err == nil || !strings.Contains(err.Error(), "redis-follower exceeded its progress deadline") {
		t.Errorf("error %v", err)
	}
}
