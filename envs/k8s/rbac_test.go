package k8s

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"sigs.k8s.io/yaml"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
	"github.com/grlscaler/grlscaler/loadtest"
)

// request is one API request as the authorizer sees it.
type request struct {
	group, resource, verb, namespace, name string // resource includes "/subresource"
}

func (r request) String() string {
	return fmt.Sprintf("%s %s.%s %s/%s", r.verb, r.resource, r.group, r.namespace, r.name)
}

// recorder turns a fake clientset's actions into requests; an apply that
// creates its object is authorized as patch and create, like the API
// server's server-side apply.
type recorder struct {
	created map[string]bool // apply actions that created their object, by resource/ns/name
}

func (rc *recorder) watch(f *k8stesting.Fake, tracker k8stesting.ObjectTracker) {
	f.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() == types.ApplyPatchType && p.GetSubresource() == "" {
			if _, err := tracker.Get(p.GetResource(), p.GetNamespace(), p.GetName()); err != nil {
				rc.created[p.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName()] = true
			}
		}
		return false, nil, nil
	})
}

func (rc *recorder) requests(actions []k8stesting.Action) []request {
	var out []request
	for _, a := range actions {
		r := request{group: a.GetResource().Group, resource: a.GetResource().Resource, verb: a.GetVerb(), namespace: a.GetNamespace()}
		if s := a.GetSubresource(); s != "" {
			r.resource += "/" + s
		}
		switch a := a.(type) {
		case interface{ GetName() string }: // get, patch, delete
			r.name = a.GetName()
		case k8stesting.UpdateAction:
			if m, err := metaName(a.GetObject()); err == nil {
				r.name = m
			}
		}
		out = append(out, r)
		if r.verb == "patch" && rc.created[a.GetResource().Resource+"/"+r.namespace+"/"+r.name] {
			c := r
			c.verb = "create"
			out = append(out, c)
		}
	}
	return out
}

func metaName(obj runtime.Object) (string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("%T has no metadata", obj)
	}
	return m.GetName(), nil
}

// rbacManifest is infra/k8s/rbac.yaml.
type rbacManifest struct {
	roles        map[string]*rbacv1.Role // by namespace
	clusterRoles []*rbacv1.ClusterRole
	bound        map[string]bool // "Role ns/name" or "ClusterRole name" bound to the worker
}

func readRBAC(t *testing.T) *rbacManifest {
	t.Helper()
	data, err := os.ReadFile("../../infra/k8s/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &rbacManifest{roles: map[string]*rbacv1.Role{}, bound: map[string]bool{}}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		worker := func(subjects []rbacv1.Subject) bool {
			return slices.Contains(subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: "grlscaler-worker", Namespace: "grlscaler"})
		}
		switch head.Kind {
		case "Role":
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict(doc, &r); err != nil {
				t.Fatal(err)
			}
			m.roles[r.Namespace] = &r
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(doc, &r); err != nil {
				t.Fatal(err)
			}
			m.clusterRoles = append(m.clusterRoles, &r)
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := yaml.UnmarshalStrict(doc, &b); err != nil {
				t.Fatal(err)
			}
			if worker(b.Subjects) && b.RoleRef.Kind == "Role" {
				m.bound["Role "+b.Namespace+"/"+b.RoleRef.Name] = true
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.UnmarshalStrict(doc, &b); err != nil {
				t.Fatal(err)
			}
			if worker(b.Subjects) && b.RoleRef.Kind == "ClusterRole" {
				m.bound["ClusterRole "+b.RoleRef.Name] = true
			}
		case "Namespace", "ServiceAccount":
		default:
			t.Fatalf("unexpected kind %q in rbac.yaml", head.Kind)
		}
	}
	return m
}

// grant is one (rule, group, resource, verb, name) a rule allows.
type grant struct {
	role                         string
	group, resource, verb, named string
}

func grantsOf(role string, rules []rbacv1.PolicyRule) []grant {
	var out []grant
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						out = append(out, grant{role, g, res, v, n})
					}
				}
			}
		}
	}
	return out
}

func (g grant) allows(r request) bool {
	return g.group == r.group && g.resource == r.resource && g.verb == r.verb && (g.named == "" || g.named == r.name)
}

// TestRBACAllowsExactlyWhatTheWorkerDoes runs every operation of the
// backend against the fake API servers, with Linkerd injection and a
// rollout restart, and checks infra/k8s/rbac.yaml both ways.
func TestRBACAllowsExactlyWhatTheWorkerDoes(t *testing.T) {
	t.Parallel()
	rbac := readRBAC(t)
	var requests []request
	for _, run := range []struct {
		a  *app.App
		ns string
	}{{app.OnlineBoutique(), "onlineboutique"}, {app.Redis(), "redis"}} {
		requests = append(requests, workerRequests(t, run.a, run.ns)...)
	}

	grants := map[string][]grant{}
	for ns, r := range rbac.roles {
		if !rbac.bound["Role "+ns+"/"+r.Name] {
			t.Errorf("role %s/%s is not bound to the worker", ns, r.Name)
		}
		grants[ns] = grantsOf("Role "+ns+"/"+r.Name, r.Rules)
	}
	for _, r := range rbac.clusterRoles {
		if !rbac.bound["ClusterRole "+r.Name] {
			t.Errorf("cluster role %s is not bound to the worker", r.Name)
		}
		grants[""] = append(grants[""], grantsOf("ClusterRole "+r.Name, r.Rules)...)
	}
	if !equality.Semantic.DeepEqual(rbac.roles["onlineboutique"].Rules, rbac.roles["redis"].Rules) {
		t.Errorf("the apps' Roles differ")
	}
	used := map[grant]bool{}
	for _, req := range requests {
		ok := false
		for _, g := range grants[req.namespace] {
			if g.allows(req) {
				used[g], ok = true, true
			}
		}
		if !ok {
			t.Errorf("not allowed: %s", req)
		}
	}
	var unused []string
	for _, gs := range grants {
		for _, g := range gs {
			if g.group == "*" || g.resource == "*" || g.verb == "*" {
				t.Errorf("%s grants a wildcard", g.role)
			}
			if !used[g] {
				unused = append(unused, fmt.Sprintf("%s: %s %s.%s %s", g.role, g.verb, g.resource, g.group, g.named))
			}
		}
	}
	sort.Strings(unused)
	for _, u := range unused {
		t.Errorf("granted but never used: %s", u)
	}
}

// workerRequests runs every operation on app a in namespace ns (which,
// as with rbac.yaml, exists beforehand) and returns the API requests made.
func workerRequests(t *testing.T, a *app.App, ns string) []request {
	t.Helper()
	ctx := context.Background()
	fc := newFakeCluster(t, ns, true)
	mc := metricsfake.NewSimpleClientset()
	rc := &recorder{created: map[string]bool{}}
	rc.watch(&fc.kube.Fake, fc.kube.Tracker())
	prom := newFakeProm(t, ns)
	c, err := NewCluster(Options{Kube: fc.kube, Metrics: mc, Prometheus: prom.client(t), App: a, Namespace: ns,
		Now: func() time.Time { return fc.now }, Poll: fc.poll})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Deploy(ctx, LinkerdInject, nil); err != nil {
		t.Fatal(err)
	}
	// Pods that predate injection make the next Deploy restart them.
	first := a.Services[0].Name
	for _, p := range fc.pods() {
		if p.Labels[manifests.SelectorLabel] == first {
			p.Spec.Containers = slices.DeleteFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == ProxyContainer })
			if err := fc.kube.Tracker().Update(podsGVR, &p, ns, metav1.UpdateOptions{FieldManager: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Deploy(ctx, LinkerdInject, nil); err != nil {
		t.Fatal(err)
	}
	restarted := false
	for _, act := range fc.kube.Actions() {
		if p, ok := act.(k8stesting.PatchAction); ok && p.GetPatchType() == types.StrategicMergePatchType {
			restarted = true
		}
	}
	if !restarted {
		t.Fatal("the scenario must include a rollout restart")
	}
	if err := c.Scale(ctx, first, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Replicas(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Services {
		if err := c.CreateHPA(ctx, s.Name, "cpu-50", 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	c.o.Poll = func(ctx context.Context, _, _ time.Duration, cond wait.ConditionWithContextFunc) error {
		for _, s := range a.Services {
			h := fc.hpa(HPAName(s.Name)).DeepCopy()
			live(h)
			if err := fc.kube.Tracker().Update(hpasGVR, h, ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := cond(ctx)
		return err
	}
	if err := c.WaitHPALive(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteHPAs(ctx); err != nil {
		t.Fatal(err)
	}
	// The load stage's default: Locust as a Job in the app's namespace.
	locust, err := loadtest.NewKubernetesJobRunner(fc.kube, loadtest.KubernetesOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	host := "http://frontend." + ns + ".svc.cluster.local:80"
	if a.Name == "redis" {
		host = "redis://redis-leader." + ns + ".svc.cluster.local:6379"
	}
	h, err := locust.Start(ctx, loadtest.Job{Name: "load-rbac", App: a.Name, Locustfile: []byte("# locustfile"), Host: host, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Locust ran to its end: the runner reads the results from its pod's log.
	job, err := fc.kube.BatchV1().Jobs(ns).Get(ctx, h.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue})
	if err := fc.kube.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), job, ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: h.ID + "-x", Namespace: ns, Labels: map[string]string{loadtest.LabelLoadJob: h.ID}}}
	if err := fc.kube.Tracker().Create(podsGVR, pod, ns, metav1.CreateOptions{FieldManager: "kube-controller-manager"}); err != nil {
		t.Fatal(err)
	}
	if _, err := locust.Status(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := locust.Stop(ctx, h); err != nil {
		t.Fatal(err)
	}
	_, _ = locust.Results(ctx, h)
	// A load stopped before its end (a training chunk's) is deleted.
	h2, err := locust.Start(ctx, loadtest.Job{Name: "load-rbac-2", App: a.Name, Locustfile: []byte("# locustfile"), Host: host, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locust.Stop(ctx, h2); err != nil {
		t.Fatal(err)
	}
	return append(rc.requests(fc.kube.Actions()), rc.requests(mc.Actions())...)
}
