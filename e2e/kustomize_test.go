package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/grlscaler/grlscaler/infra/k8stest"
)

// warnings collects the API server's warnings (PodSecurity's among them).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// The Kustomize manifests (infra/kustomize: the base and the example
// overlay) pass a real API server's validation: each object is
// server-side applied with dryRun=All into a test namespace, so unknown
// fields, invalid values and admission are checked without creating
// anything. The namespace warns at the restricted Pod Security level, and
// the workers' pod templates must draw no warning.
func TestKustomizeManifestsDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs a Kubernetes cluster (make e2e)")
	}
	if os.Getenv(k8stest.EnvKubeconfig) == "" {
		t.Skipf("%s not set: end-to-end tests run with make e2e", k8stest.EnvKubeconfig)
	}
	ns := k8stest.NewNamespace(t, "kustomize")
	cfg := k8stest.RESTConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	label := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/warn-version":"latest"}}}`)
	if _, err := k8stest.Clientset(t).CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, label, metav1.PatchOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("label namespace %s: %v", ns, err)
	}

	w := &warnings{}
	cfg.WarningHandler = w
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	for _, dir := range []string{"infra/kustomize/base", "infra/kustomize/overlays/example"} {
		rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", dir))
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		applied := 0
		for _, r := range rm.Resources() {
			m, err := r.Map()
			if err != nil {
				t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
			}
			obj := &unstructured.Unstructured{Object: m}
			gvk := obj.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s: %s %s: %v", dir, gvk, obj.GetName(), err)
				continue
			}
			res := dyn.Resource(mapping.Resource)
			var ri dynamic.ResourceInterface = res
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				// The overlay's namespace is not created (dry run): apply
				// into the test's namespace instead.
				obj.SetNamespace(ns)
				ri = res.Namespace(ns)
			}
			_, err = ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: k8stest.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Errorf("%s: dry-run apply %s %s: %v", dir, gvk.Kind, obj.GetName(), err)
				continue
			}
			applied++
			for _, msg := range w.take() {
				t.Errorf("%s: %s %s: API server warning: %s", dir, gvk.Kind, obj.GetName(), msg)
			}
		}
		if applied == 0 {
			t.Errorf("%s: nothing applied", dir)
		}
		t.Logf("%s: %d objects pass a dry-run apply in %s", dir, applied, ns)
	}
	if got, err := k8stest.Clientset(t).AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	} else if len(got.Items) != 0 {
		var names []string
		for _, d := range got.Items {
			names = append(names, d.Name)
		}
		t.Errorf("the dry run created Deployments: %s", strings.Join(names, ", "))
	}
}
