// Package k8stest connects tests to a real Kubernetes cluster: the local
// one `make cluster-up` starts (a real control plane with kwok's fake nodes
// and metrics-server, infra/localk8s), or any cluster a kubeconfig names.
// `make e2e` starts that cluster and passes its admin kubeconfig in
// GRL_KUBECONFIG.
//
// Each test works in its own namespace (NewNamespace), deleted when the test
// ends, so tests can share one cluster.
package k8stest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvKubeconfig names the kubeconfig of the cluster tests run against;
// `make e2e` sets it to the local cluster's admin kubeconfig.
const EnvKubeconfig = "GRL_KUBECONFIG"

// FieldManager owns the fields Apply sets (server-side apply).
const FieldManager = "grlscaler-e2e"

// LabelTest marks the namespaces NewNamespace creates, so leftovers of an
// interrupted run can be found: kubectl get ns -l grlscaler.io/test.
const LabelTest = "grlscaler.io/test"

// Kubeconfig returns the path in GRL_KUBECONFIG. When it is unset the test
// is skipped under -short and fails otherwise; a path that does not exist
// always fails.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	path := os.Getenv(EnvKubeconfig)
	if path == "" {
		if testing.Short() {
			t.Skipf("%s not set: no Kubernetes cluster (make e2e starts one)", EnvKubeconfig)
		}
		t.Fatalf("%s not set: these tests need a Kubernetes cluster; run them with make e2e (or make cluster-up and %s=.grlscaler/k8s/kubeconfig)", EnvKubeconfig, EnvKubeconfig)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%q: %v (is the cluster up? make cluster-up)", EnvKubeconfig, path, err)
	}
	return path
}

// RESTConfig loads the kubeconfig Kubeconfig names, with client-side rate
// limits raised above client-go's defaults (5 QPS), which polling tests hit.
func RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	path := Kubeconfig(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "grlscaler-e2e/" + t.Name()
	return cfg
}

// Clientset returns a client-go clientset for the cluster.
func Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RESTConfig(t))
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return cs
}

// NewNamespace creates a namespace named prefix-<random suffix> and deletes
// it (and so everything in it) when the test ends.
func NewNamespace(t testing.TB, prefix string) string {
	t.Helper()
	cs := Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: prefix + "-",
			Labels:       map[string]string{LabelTest: "true"},
		},
	}, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		t.Fatalf("create namespace %s-*: %v", prefix, err)
	}
	t.Cleanup(func() {
		// The test's context may be done; deletion must still happen.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// kwok's fake kubelets report a pod's usage from these annotations (kwok's
// ClusterResourceUsage "usage-from-annotation"; 1m CPU and 1Mi memory when
// absent): metrics-server serves it and the HPA acts on it.
const (
	AnnotationUsageCPU    = "kwok.x-k8s.io/usage-cpu"
	AnnotationUsageMemory = "kwok.x-k8s.io/usage-memory"
)

// SetPodUsage sets the CPU usage annotation (a quantity such as "250m") on
// every pod in ns that matches selector and does not carry it yet, and
// returns how many it changed. Pods created later (by a scale-up) lack it:
// call it again, typically from the same polling loop that waits for the
// outcome.
func SetPodUsage(ctx context.Context, cs kubernetes.Interface, ns, selector, cpu string) (int, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, fmt.Errorf("list pods %s in %s: %w", selector, ns, err)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, AnnotationUsageCPU, cpu)
	changed := 0
	for _, p := range pods.Items {
		if p.Annotations[AnnotationUsageCPU] == cpu || p.DeletionTimestamp != nil {
			continue
		}
		_, err := cs.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
		if apierrors.IsNotFound(err) {
			continue // deleted meanwhile (a scale-down)
		}
		if err != nil {
			return changed, fmt.Errorf("annotate pod %s/%s with %s=%s: %w", ns, p.Name, AnnotationUsageCPU, cpu, err)
		}
		changed++
	}
	return changed, nil
}

// Apply server-side applies every object of a multi-document YAML or JSON
// manifest (an app's Deployments, Services, ...) in namespace ns, the way
// `kubectl apply --server-side -n ns` does; objects that name another
// namespace keep it. Cluster-scoped objects are not deleted with the
// namespace.
func Apply(t testing.TB, ns string, manifest []byte) {
	t.Helper()
	cfg := RESTConfig(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for i := 0; ; i++ {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("manifest document %d: %v", i, err)
		}
		if len(obj.Object) == 0 {
			continue // an empty document
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("manifest document %d (%s %s): %v", i, gvk, obj.GetName(), err)
		}
		var r dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(ns)
			}
			r = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		if _, err := r.Apply(ctx, obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			t.Fatalf("apply %s %s/%s: %v", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

// WaitForDeployments polls until every Deployment in ns has rolled out
// (observed, updated and available replicas as specified), failing the test
// after timeout with the Deployments still waiting.
func WaitForDeployments(t testing.TB, cs kubernetes.Interface, ns string, timeout time.Duration) {
	t.Helper()
	var waiting []string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil // transient; the deadline reports it
		}
		waiting = waiting[:0]
		for i := range list.Items {
			if !RolledOut(&list.Items[i]) {
				waiting = append(waiting, list.Items[i].Name)
			}
		}
		return len(waiting) == 0, nil
	})
	if err != nil {
		t.Fatalf("deployments in %s not rolled out after %v: %v (%v)", ns, timeout, waiting, err)
	}
}

// RolledOut reports whether the Deployment controller has acted on d's
// latest spec and all its replicas are updated and available.
func RolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
		s.AvailableReplicas == want && s.Replicas == want
}

// Describe summarises a Deployment's state for failure messages.
func Describe(d *appsv1.Deployment) string {
	if d == nil {
		return "no deployment"
	}
	want := "nil"
	if d.Spec.Replicas != nil {
		want = fmt.Sprint(*d.Spec.Replicas)
	}
	return fmt.Sprintf("%s: spec %s, status %d replicas, %d updated, %d ready, %d available",
		d.Name, want, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
}
