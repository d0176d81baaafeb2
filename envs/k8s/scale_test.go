package k8s

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/grlscaler/grlscaler/envs/app"
)

// deployedRedis is the Redis app deployed on a fake cluster (cheap: two
// Deployments), with a Cluster over it.
func deployedRedis(t *testing.T) (*fakeCluster, *Cluster) {
	t.Helper()
	fc := newFakeCluster(t, "redis", false)
	var progress []string
	if err := Deploy(context.Background(), fc.kube, deployOptions(fc, app.Redis(), LinkerdDisabled, &progress)); err != nil {
		t.Fatal(err)
	}
	c, err := NewCluster(Options{Kube: fc.kube, Metrics: metricsfake.NewSimpleClientset(), App: app.Redis(), Namespace: "redis", Poll: fc.poll})
	if err != nil {
		t.Fatal(err)
	}
	fc.actions()
	return fc, c
}

func TestScaleGoesThroughTheScaleSubresource(t *testing.T) {
	t.Parallel()
	fc, c := deployedRedis(t)
	if err := c.Scale(context.Background(), "redis-follower", 4); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range fc.actions() {
		got = append(got, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
	}
	if strings.Join(got, ", ") != "get deployments/scale, update deployments/scale" {
		t.Errorf("actions %v, want a get and an update of deployments/scale", got)
	}
	rc, err := c.Replicas(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Spec changes at once; readiness follows the controllers.
	if rc[1] != (ReplicaCount{Name: "redis-follower", Spec: 4, Ready: 1}) || rc[0] != (ReplicaCount{Name: "redis-leader", Spec: 1, Ready: 1}) {
		t.Errorf("replicas %+v before the rollout", rc)
	}
	fc.tick()
	if rc, _ = c.Replicas(context.Background()); rc[1].Ready != 4 {
		t.Errorf("replicas %+v after the rollout, want 4 ready followers", rc)
	}
}

func TestScaleToTheCurrentReplicasOnlyReads(t *testing.T) {
	t.Parallel()
	fc, c := deployedRedis(t)
	if err := c.Scale(context.Background(), "redis-leader", 1); err != nil {
		t.Fatal(err)
	}
	for _, a := range fc.actions() {
		if a.GetVerb() != "get" {
			t.Errorf("%s %s/%s for a no-op scale", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
	}
}

func TestScaleRetriesAConflict(t *testing.T) {
	t.Parallel()
	fc, c := deployedRedis(t)
	conflicts := 1
	fc.kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "scale" && conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "redis-leader", nil)
		}
		return false, nil, nil
	})
	if err := c.Scale(context.Background(), "redis-leader", 2); err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, a := range fc.actions() {
		if a.GetVerb() == "update" {
			updates++
		}
	}
	if d, _ := fc.deployment("redis-leader"); updates != 2 || replicasOf(d) != 2 {
		t.Errorf("%d updates, replicas %d; want a retry after the conflict and 2 replicas", updates, replicasOf(d))
	}
}

func TestScaleRejectsWhatIsNotTheApps(t *testing.T) {
	t.Parallel()
	_, c := deployedRedis(t)
	tests := []struct {
		deployment string
		replicas   int
		want       string
	}{
		{"redis-exporter", 1, "not a service of app redis"},
		{"redis-leader", -1, "must not be negative"},
	}
	for _, tt := range tests {
		if err := c.Scale(context.Background(), tt.deployment, tt.replicas); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("scale %s to %d: error %v, want %q", tt.deployment, tt.replicas, err, tt.want)
		}
	}
}

func TestReplicasNamesAMissingDeployment(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, "redis", false)
	c, err := NewCluster(Options{Kube: fc.kube, Metrics: metricsfake.NewSimpleClientset(), App: app.Redis(), Namespace: "redis"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Replicas(context.Background()); err == nil || !strings.Contains(err.Error(), "redis/redis-leader not found: deploy app redis first") {
		t.Errorf("error %v", err)
	}
}
