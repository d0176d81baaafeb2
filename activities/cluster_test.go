package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const k8sYAML = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: tiny-k8s
spec:
  app: onlineboutique
  cluster:
    mode: k8s
    stepPeriod: 1s
    k8s:
      namespace: ob
      prometheusURL: http://127.0.0.1:1
      hpaReadyTimeout: 10s
  agent: {totalSteps: 32, chunkSteps: 16, hyperparameters: {nSteps: 16, batchSize: 8}}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 1m
  evaluation:
    controllers:
      - {name: agent, type: agent}
      - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
    repetitions: 1
    validationSeeds: 1
`

func k8sSpec(t *testing.T, edit func(*api.Spec)) api.ExperimentSpec {
	t.Helper()
	spec, err := experiment.Parse("tiny-k8s.yaml", []byte(k8sYAML))
	if err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	if edit != nil {
		edit(&spec.Spec)
	}
	return *spec
}

// newK8sEnv is newEnv whose activities reach kube instead of a cluster.
func newK8sEnv(t *testing.T, kube kubernetes.Interface) *env {
	t.Helper()
	e := newEnv(t)
	e.acts.Kube = func(context.Context, *api.K8s) (kubernetes.Interface, metricsclient.Interface, error) {
		return kube, metricsfake.NewSimpleClientset(), nil
	}
	return e
}

func TestK8sDeployWithInjectionOnAClusterWithoutLinkerdFailsByName(t *testing.T) {
	kube := fake.NewClientset()
	e := newK8sEnv(t, kube)
	_, err := e.ExecuteActivity(api.DeployAppActivityName, api.DeployInput{ExperimentID: testID, Spec: k8sSpec(t, nil)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeLinkerdMissing || !appErr.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable %s error", err, ErrTypeLinkerdMissing)
	}
	for _, want := range []string{"linkerd", "cluster.k8s.linkerd: disabled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "create" {
			t.Errorf("the refused deploy wrote to the cluster: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestReplayModeIsRefusedByEveryClusterStage(t *testing.T) {
	spec := testSpec(t)
	spec.Spec.Cluster.Mode = api.ModeReplay
	spec.Spec.Cluster.Replay = &api.Replay{Dataset: "observations.csv"}
	e := newEnv(t)
	for name, in := range map[string]any{
		api.DeployAppActivityName:   api.DeployInput{ExperimentID: testID, Spec: spec},
		api.WarmUpActivityName:      api.WarmUpInput{ExperimentID: testID, Spec: spec},
		api.EvaluateRunActivityName: api.EvaluateRunInput{ExperimentID: testID, Spec: spec, Controller: spec.Spec.Evaluation.Controllers[1], Scenario: "peak"},
	} {
		_, err := e.ExecuteActivity(name, in)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != ErrTypeNotImplemented {
			t.Errorf("%s in replay mode: got %v, want %s", name, err, ErrTypeNotImplemented)
		}
	}
}

// appDeployments are the app's Deployments as Deploy leaves them.
func appDeployments(t *testing.T, ns string) []runtime.Object {
	t.Helper()
	ap, err := sim.LookupApp("onlineboutique", 1)
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, s := range ap.Services {
		one := int32(1)
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: map[string]string{"app": s.Name, manifests.PartOfLabel: ap.Name, manifests.ManagedByLabel: manifests.ManagedBy}},
			Spec:       appsv1.DeploymentSpec{Replicas: &one},
			Status:     appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1},
		})
	}
	return objs
}

func TestK8sEvaluationOfADeadHPABaselineIsAnInvalidRunAndLeavesNoHPA(t *testing.T) {
	kube := fake.NewClientset(appDeployments(t, "ob")...)
	// The fake scale subresource: the activity resets replicas through it.
	kube.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		name := a.(k8stesting.GetAction).GetName()
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ob"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, nil
	})
	kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		return true, a.(k8stesting.UpdateAction).GetObject(), nil
	})
	e := newK8sEnv(t, kube)
	spec := k8sSpec(t, nil)
	v, err := e.ExecuteActivity(api.EvaluateRunActivityName, api.EvaluateRunInput{
		ExperimentID: testID, Spec: spec, Controller: spec.Spec.Evaluation.Controllers[1],
		Scenario: "peak", Split: api.SplitValidation, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var res api.EvaluateRunResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	// The fake cluster has no HPA controller: the HPAs never report a
	// metric, which is a dead baseline.
	if res.Valid || !strings.Contains(res.InvalidReason, "dead HPA baseline") || !strings.Contains(res.InvalidReason, "hpa-frontend") {
		t.Errorf("result valid %v, reason %q; want an invalid run naming the dead HPAs", res.Valid, res.InvalidReason)
	}
	created := 0
	for _, a := range kube.Actions() {
		if a.GetResource().Resource == "horizontalpodautoscalers" && a.GetVerb() == "patch" {
			created++
		}
	}
	if created != 11 {
		t.Errorf("%d HPAs applied, want one per service (11)", created)
	}
	left, err := kube.AutoscalingV2().HorizontalPodAutoscalers("ob").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Errorf("%d HPAs left after the run", len(left.Items))
	}
}
