package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	kustomizeBase    = "infra/kustomize/base"
	kustomizeExample = "infra/kustomize/overlays/example"
	// The Secret the workers read their S3 keys from; referenced, never
	// part of the manifests.
	s3SecretName = "grlscaler-s3"
	// The example overlay's namespace.
	exampleNamespace = "grlscaler"
)

// manifests is one `kustomize build`, decoded strictly into the API types:
// a misspelt field is an error, not a silently dropped setting.
type manifests struct {
	deployments     []appsv1.Deployment
	configMaps      map[string]corev1.ConfigMap
	serviceAccounts map[string]corev1.ServiceAccount
	roles           map[string]rbacv1.Role
	roleBindings    []rbacv1.RoleBinding
	namespaces      []string
	// ids lists every object as Kind/name.
	ids []string
	// objectNamespaces maps every namespaced object's Kind/name to its
	// namespace.
	objectNamespaces map[string]string
}

// kustomizeBuild builds a kustomization in the repository, as `kustomize
// build` (or `kubectl apply -k`) would.
func kustomizeBuild(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := manifests{
		configMaps:       map[string]corev1.ConfigMap{},
		serviceAccounts:  map[string]corev1.ServiceAccount{},
		roles:            map[string]rbacv1.Role{},
		objectNamespaces: map[string]string{},
	}
	for _, r := range rm.Resources() {
		id := r.GetKind() + "/" + r.GetName()
		m.ids = append(m.ids, id)
		if r.GetKind() != "Namespace" {
			m.objectNamespaces[id] = r.GetNamespace()
		}
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, id, err)
		}
		decode := func(into any) {
			if err := yaml.UnmarshalStrict(y, into); err != nil {
				t.Fatalf("%s: %s: %v", dir, id, err)
			}
		}
		switch r.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			decode(&d)
			m.deployments = append(m.deployments, d)
		case "ConfigMap":
			var c corev1.ConfigMap
			decode(&c)
			m.configMaps[c.Name] = c
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			decode(&sa)
			m.serviceAccounts[sa.Name] = sa
		case "Role":
			var role rbacv1.Role
			decode(&role)
			m.roles[role.Name] = role
		case "RoleBinding":
			var rb rbacv1.RoleBinding
			decode(&rb)
			m.roleBindings = append(m.roleBindings, rb)
		case "Namespace":
			m.namespaces = append(m.namespaces, r.GetName())
		case "Secret":
			t.Errorf("%s: includes %s; secrets are referenced, never part of the manifests", dir, id)
		default:
			t.Errorf("%s: unexpected %s; teach this test about it", dir, id)
		}
	}
	slices.Sort(m.ids)
	return m
}

// The base holds the two worker Deployments, their ServiceAccount and RBAC
// and the generated ConfigMap, and nothing else (no Secret).
func TestKustomizeBaseResources(t *testing.T) {
	m := kustomizeBuild(t, kustomizeBase)
	var cm []string
	for name := range m.configMaps {
		cm = append(cm, name)
	}
	if len(cm) != 1 || !strings.HasPrefix(cm[0], "grlscaler-worker-") {
		t.Errorf("ConfigMaps %v, want the generated grlscaler-worker-<hash>", cm)
	}
	want := []string{
		"ConfigMap/" + strings.Join(cm, ","),
		"Deployment/grlscaler-worker",
		"Deployment/grlscaler-worker-train",
		"Role/grlscaler-worker",
		"RoleBinding/grlscaler-worker",
		"ServiceAccount/grlscaler-worker",
	}
	slices.Sort(want)
	if !slices.Equal(m.ids, want) {
		t.Errorf("base builds %v, want %v", m.ids, want)
	}
}

// containerEnv resolves a container's environment to variable -> where it
// comes from: "configmap <name>", "secret <name>/<key>" or "value".
func containerEnv(t *testing.T, m manifests, where string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	set := func(name, from string) {
		if prev, dup := env[name]; dup {
			t.Errorf("%s: %s set twice (%s, %s)", where, name, prev, from)
		}
		env[name] = from
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil && ef.Prefix == "":
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %s is not in the build", where, ef.ConfigMapRef.Name)
				continue
			}
			for k := range cm.Data {
				set(k, "configmap "+cm.Name)
			}
		default:
			t.Errorf("%s: envFrom %+v: only ConfigMaps without a prefix are expected", where, ef)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			set(e.Name, "secret "+e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
			if _, ok := m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]; !ok {
				t.Errorf("%s: %s from ConfigMap %s, which is not in the build", where, e.Name, e.ValueFrom.ConfigMapKeyRef.Name)
			}
			set(e.Name, "configmap "+e.ValueFrom.ConfigMapKeyRef.Name)
		case e.ValueFrom != nil:
			set(e.Name, "other")
		default:
			set(e.Name, "value")
		}
	}
	return env
}

// grlctlContainer returns the Deployment's one container.
func grlctlContainer(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment %s: %d containers, want 1", d.Name, len(cs))
	}
	return cs[0]
}

// maxTrainingArg returns the container's --max-training value.
func maxTrainingArg(t *testing.T, where string, args []string) int {
	t.Helper()
	if len(args) == 0 || args[0] != "worker" {
		t.Fatalf("%s: args %v, want worker ...", where, args)
	}
	i := slices.Index(args, "--max-training")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: args %v have no --max-training N", where, args)
	}
	n, err := strconv.Atoi(args[i+1])
	if err != nil || n < 1 {
		t.Fatalf("%s: --max-training %q, want a positive integer", where, args[i+1])
	}
	return n
}

// Each worker runs grlctl worker from a pinned image with the environment
// grlctl worker reads: settings from the ConfigMap, the S3 keys from the
// Secret, nothing in plain text; resource requests and limits are set and
// training workers request a CPU per concurrent chunk.
func TestKustomizeWorkers(t *testing.T) {
	m := kustomizeBuild(t, kustomizeBase)
	want := workerEnv(t)
	uid, gid := dockerfileUser(t)
	if len(m.deployments) != 2 {
		t.Fatalf("%d Deployments, want the main and the training worker", len(m.deployments))
	}
	maxTraining := 0
	for _, d := range m.deployments {
		where := "Deployment " + d.Name
		c := grlctlContainer(t, d)
		if why := pinned(c.Image, false); why != "" {
			t.Errorf("%s: image %s is not pinned: %s", where, c.Image, why)
		}
		if parseImage(c.Image).repository != "grlscaler" {
			t.Errorf("%s: image %s, want grlscaler (overlays rename it)", where, c.Image)
		}
		env := containerEnv(t, m, where, c)
		if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, want) {
			t.Errorf("%s: environment %v, want what grlctl worker reads: %v", where, got, want)
		}
		for name, from := range env {
			secret := slices.Contains(workerSecrets, name)
			switch {
			case secret && from != "secret "+s3SecretName+"/"+name:
				t.Errorf("%s: %s from %s, want secretKeyRef %s/%s", where, name, from, s3SecretName, name)
			case !secret && !strings.HasPrefix(from, "configmap "):
				t.Errorf("%s: %s from %s, want the ConfigMap", where, name, from)
			}
		}
		n := maxTrainingArg(t, where, c.Args)
		maxTraining = max(maxTraining, n)
		req, lim := c.Resources.Requests, c.Resources.Limits
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			rq, okr := req[r]
			lm, okl := lim[r]
			if !okr || !okl {
				t.Errorf("%s: no %s request or limit", where, r)
				continue
			}
			if rq.Cmp(lm) > 0 {
				t.Errorf("%s: %s request %s above limit %s", where, r, rq.String(), lm.String())
			}
		}
		if cpu := req[corev1.ResourceCPU]; cpu.MilliValue() < int64(n)*1000 && n > 1 {
			t.Errorf("%s: --max-training %d but requests %s CPU; a chunk keeps a core busy", where, n, cpu.String())
		}
		checkPodSecurity(t, where, d, c, uid, gid)
		if sa := d.Spec.Template.Spec.ServiceAccountName; sa == "" {
			t.Errorf("%s: no serviceAccountName", where)
		} else if _, ok := m.serviceAccounts[sa]; !ok {
			t.Errorf("%s: ServiceAccount %s is not in the build", where, sa)
		}
		sel := d.Spec.Selector.MatchLabels
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod template's labels", where, k, v)
			}
		}
	}
	if maxTraining < 2 {
		t.Errorf("no worker trains more than one chunk at a time (--max-training %d)", maxTraining)
	}
	for name, cm := range m.configMaps {
		for k := range cm.Data {
			if credentialName.MatchString(k) {
				t.Errorf("ConfigMap %s holds %s, a credential", name, k)
			}
		}
	}
}

// checkPodSecurity holds a worker pod to the image's non-root user and a
// read-only, unprivileged container.
func checkPodSecurity(t *testing.T, where string, d appsv1.Deployment, c corev1.Container, uid, gid int64) {
	t.Helper()
	psc := d.Spec.Template.Spec.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", where)
	case psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.RunAsGroup == nil || *psc.RunAsGroup != gid:
		t.Errorf("%s: pod runs as %v:%v, the image's USER is %d:%d", where, ptrString(psc.RunAsUser), ptrString(psc.RunAsGroup), uid, gid)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container securityContext %+v, want no privilege escalation, a read-only root and all capabilities dropped", where, sc)
	}
}

func ptrString(p *int64) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// The workers' ServiceAccount is bound to the Role in the build.
func TestKustomizeRBAC(t *testing.T) {
	m := kustomizeBuild(t, kustomizeBase)
	bound := map[string]bool{}
	for _, rb := range m.roleBindings {
		if rb.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s binds %s %s; the base grants namespaced roles only", rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
			continue
		}
		if _, ok := m.roles[rb.RoleRef.Name]; !ok {
			t.Errorf("RoleBinding %s binds Role %s, which is not in the build", rb.Name, rb.RoleRef.Name)
		}
		for _, s := range rb.Subjects {
			if s.Kind == "ServiceAccount" {
				bound[s.Name] = true
			}
		}
	}
	for name := range m.serviceAccounts {
		if !bound[name] {
			t.Errorf("ServiceAccount %s is bound to no Role", name)
		}
	}
	for name, role := range m.roles {
		for _, rule := range role.Rules {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.Resources, "secrets") {
				t.Errorf("Role %s grants %v on %v; keep it minimal", name, rule.Verbs, rule.Resources)
			}
		}
	}
}

// The example overlay builds: everything in its namespace, the image from
// its registry, the ConfigMap merged (still every setting the worker
// reads).
func TestKustomizeExampleOverlay(t *testing.T) {
	m := kustomizeBuild(t, kustomizeExample)
	if !slices.Equal(m.namespaces, []string{exampleNamespace}) {
		t.Errorf("Namespaces %v, want [%s]", m.namespaces, exampleNamespace)
	}
	for id, ns := range m.objectNamespaces {
		if ns != exampleNamespace {
			t.Errorf("%s in namespace %q, want %s", id, ns, exampleNamespace)
		}
	}
	for _, rb := range m.roleBindings {
		for _, s := range rb.Subjects {
			if s.Kind == "ServiceAccount" && s.Namespace != exampleNamespace {
				t.Errorf("RoleBinding %s: subject %s in namespace %q, want %s", rb.Name, s.Name, s.Namespace, exampleNamespace)
			}
		}
	}
	want := workerEnv(t)
	for _, d := range m.deployments {
		c := grlctlContainer(t, d)
		if r := parseImage(c.Image); !strings.Contains(r.repository, "/") || pinned(c.Image, false) != "" {
			t.Errorf("Deployment %s: image %s, want the overlay's registry and a pinned tag", d.Name, c.Image)
		}
		env := containerEnv(t, m, "Deployment "+d.Name, c)
		if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, want) {
			t.Errorf("Deployment %s: environment %v, want %v", d.Name, got, want)
		}
	}
}

// clusterRBAC is the k8s backend's RBAC, applied by an administrator next
// to the Kustomize manifests (see infra/kustomize/base/rbac.yaml).
const clusterRBAC = "infra/k8s/rbac.yaml"

// The k8s backend's RBAC grants its permissions to the ServiceAccount the
// workers run as, in the namespace the example overlay deploys them to.
func TestKustomizeServiceAccountMatchesClusterRBAC(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, clusterRBAC))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist", clusterRBAC)
	}
	if err != nil {
		t.Fatal(err)
	}
	m := kustomizeBuild(t, kustomizeExample)
	if len(m.serviceAccounts) != 1 {
		t.Fatalf("ServiceAccounts %v, want one", slices.Collect(maps.Keys(m.serviceAccounts)))
	}
	var sa corev1.ServiceAccount
	for _, v := range m.serviceAccounts {
		sa = v
	}
	type subject struct{ Kind, Name, Namespace string }
	var doc struct {
		Kind     string
		Metadata struct{ Name, Namespace string }
		Subjects []subject
	}
	found, bindings := false, 0
	for i, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(src), -1) {
		doc.Kind, doc.Metadata.Name, doc.Metadata.Namespace, doc.Subjects = "", "", "", nil
		if err := yaml.Unmarshal([]byte(part), &doc); err != nil {
			t.Fatalf("%s document %d: %v", clusterRBAC, i, err)
		}
		switch doc.Kind {
		case "ServiceAccount":
			if doc.Metadata.Name == sa.Name && doc.Metadata.Namespace == sa.Namespace {
				found = true
			} else {
				t.Errorf("%s: ServiceAccount %s/%s, the workers run as %s/%s", clusterRBAC, doc.Metadata.Namespace, doc.Metadata.Name, sa.Namespace, sa.Name)
			}
		case "RoleBinding", "ClusterRoleBinding":
			bindings++
			for _, s := range doc.Subjects {
				if s != (subject{"ServiceAccount", sa.Name, sa.Namespace}) {
					t.Errorf("%s: %s %s binds %+v, the workers run as ServiceAccount %s/%s", clusterRBAC, doc.Kind, doc.Metadata.Name, s, sa.Namespace, sa.Name)
				}
			}
		}
	}
	if !found {
		t.Errorf("%s does not define the workers' ServiceAccount %s/%s", clusterRBAC, sa.Namespace, sa.Name)
	}
	if bindings == 0 {
		t.Errorf("%s binds nothing", clusterRBAC)
	}
}
