// Package manifests holds the Kubernetes objects of the apps grlscaler
// deploys (Online Boutique and a Redis leader/follower pair), embedded as
// YAML from their pinned upstream releases, and builds the server-side
// apply configurations the k8s backend sends: the images, requests and
// limits come from the envs/app declaration (so the twin and the cluster
// agree), every object carries the grlscaler labels, and pod templates
// carry the Linkerd injection choice.
package manifests

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/grlscaler/grlscaler/envs/app"
)

// Names shared by the objects, the RBAC manifests and the cleanup.
const (
	// FieldManager owns the fields grlscaler applies (server-side apply).
	FieldManager = "grlscaler"
	// ManagedByLabel with value ManagedBy marks every object grlscaler
	// creates, so cleanup deletes only those.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "grlscaler"
	// PartOfLabel names the app an object belongs to.
	PartOfLabel = "app.kubernetes.io/part-of"
	// SelectorLabel is the upstream manifests' pod selector label: its value
	// is the Deployment's name.
	SelectorLabel = "app"
	// InjectAnnotation is Linkerd's proxy injection switch.
	InjectAnnotation = "linkerd.io/inject"
)

// Linkerd is the proxy injection mode.
type Linkerd string

// The injection modes.
const (
	// LinkerdInject annotates the namespace and pod templates
	// linkerd.io/inject: enabled.
	LinkerdInject Linkerd = "inject"
	// LinkerdDisabled annotates pod templates linkerd.io/inject: disabled,
	// so a namespace-wide injection set by someone else does not apply.
	LinkerdDisabled Linkerd = "disabled"
)

// ParseLinkerd returns the mode named s, or an error naming the valid ones.
func ParseLinkerd(s string) (Linkerd, error) {
	switch Linkerd(s) {
	case LinkerdInject, LinkerdDisabled:
		return Linkerd(s), nil
	}
	return "", fmt.Errorf("unknown linkerd injection mode %q (valid: inject, disabled)", s)
}

var (
	//go:embed onlineboutique.yaml
	onlineBoutiqueYAML []byte
	//go:embed redis.yaml
	redisYAML []byte
)

// Set is one app's objects.
type Set struct {
	Namespace *corev1ac.NamespaceApplyConfiguration
	// Deployments are in the app's canonical service order.
	Deployments []*appsv1ac.DeploymentApplyConfiguration
	Services    []*corev1ac.ServiceApplyConfiguration
}

// Build returns the apply configurations of app a in namespace ns. It fails
// when the embedded manifests and the declaration disagree (a service
// without a Deployment, a container or port that does not match), so such a
// drift is found by a test rather than on a cluster.
func Build(a *app.App, ns string, linkerd Linkerd) (*Set, error) {
	if _, err := ParseLinkerd(string(linkerd)); err != nil {
		return nil, err
	}
	if ns == "" {
		return nil, errors.New("build manifests: namespace must not be empty")
	}
	var data []byte
	switch a.Name {
	case "onlineboutique":
		data = onlineBoutiqueYAML
	case "redis":
		data = redisYAML
	default:
		return nil, fmt.Errorf("build manifests: no manifests for app %q (have onlineboutique, redis)", a.Name)
	}
	labels := map[string]string{ManagedByLabel: ManagedBy, PartOfLabel: a.Name}
	set := &Set{
		Namespace:   corev1ac.Namespace(ns).WithLabels(labels),
		Deployments: make([]*appsv1ac.DeploymentApplyConfiguration, len(a.Services)),
	}
	inject := "disabled"
	if linkerd == LinkerdInject {
		inject = "enabled"
		set.Namespace.WithAnnotations(map[string]string{InjectAnnotation: inject})
	}
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("build manifests %s: document %d: %w", a.Name, i, err)
		}
		switch head.Kind {
		case "Deployment":
			var d appsv1ac.DeploymentApplyConfiguration
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				return nil, fmt.Errorf("build manifests %s: document %d: %w", a.Name, i, err)
			}
			k := a.Index(*d.Name)
			if k < 0 {
				return nil, fmt.Errorf("build manifests %s: deployment %s is not a service of the app declaration", a.Name, *d.Name)
			}
			if set.Deployments[k] != nil {
				return nil, fmt.Errorf("build manifests %s: deployment %s declared twice", a.Name, *d.Name)
			}
			if err := fillDeployment(&d, &a.Services[k], ns, labels, inject); err != nil {
				return nil, fmt.Errorf("build manifests %s: %w", a.Name, err)
			}
			set.Deployments[k] = &d
		case "Service":
			var s corev1ac.ServiceApplyConfiguration
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				return nil, fmt.Errorf("build manifests %s: document %d: %w", a.Name, i, err)
			}
			s.WithNamespace(ns).WithLabels(labels)
			set.Services = append(set.Services, &s)
		default:
			return nil, fmt.Errorf("build manifests %s: document %d: unexpected kind %q", a.Name, i, head.Kind)
		}
	}
	for k, d := range set.Deployments {
		if d == nil {
			return nil, fmt.Errorf("build manifests %s: service %s has no deployment", a.Name, a.Services[k].Name)
		}
	}
	return set, nil
}

func fillDeployment(d *appsv1ac.DeploymentApplyConfiguration, s *app.Service, ns string, labels map[string]string, inject string) error {
	if d.Spec == nil || d.Spec.Template == nil || d.Spec.Template.Spec == nil {
		return fmt.Errorf("deployment %s: no pod template", s.Name)
	}
	if d.Spec.Replicas != nil {
		// A re-apply would reset the replicas the agent or the HPA chose.
		return fmt.Errorf("deployment %s: the manifest must not set replicas", s.Name)
	}
	if sel := d.Spec.Selector; sel == nil || sel.MatchLabels[SelectorLabel] != s.Name {
		return fmt.Errorf("deployment %s: selector must be %s=%s", s.Name, SelectorLabel, s.Name)
	}
	d.WithNamespace(ns).WithLabels(labels)
	t := d.Spec.Template
	t.WithLabels(labels).WithAnnotations(map[string]string{InjectAnnotation: inject})
	c := slices.IndexFunc(t.Spec.Containers, func(c corev1ac.ContainerApplyConfiguration) bool {
		return c.Name != nil && *c.Name == s.Container
	})
	if c < 0 {
		return fmt.Errorf("deployment %s: no container %q (the app declaration's container)", s.Name, s.Container)
	}
	ctr := &t.Spec.Containers[c]
	if !slices.ContainsFunc(ctr.Ports, func(p corev1ac.ContainerPortApplyConfiguration) bool {
		return p.ContainerPort != nil && int(*p.ContainerPort) == s.Port
	}) {
		return fmt.Errorf("deployment %s: container %s does not expose the declared port %d", s.Name, s.Container, s.Port)
	}
	if ctr.Image != nil || ctr.Resources != nil {
		return fmt.Errorf("deployment %s: image and resources come from the app declaration, not the manifest", s.Name)
	}
	req, err := resources(s.CPURequestMilli, s.MemRequestMiB)
	if err != nil {
		return fmt.Errorf("deployment %s requests: %w", s.Name, err)
	}
	lim, err := resources(s.CPULimitMilli, s.MemLimitMiB)
	if err != nil {
		return fmt.Errorf("deployment %s limits: %w", s.Name, err)
	}
	ctr.WithImage(s.Image).WithResources(corev1ac.ResourceRequirements().WithRequests(req).WithLimits(lim))
	return nil
}

// resources turns the declaration's millicores and MiB into a resource
// list; both must be whole numbers so that the cluster runs exactly the
// twin's requests.
func resources(cpuMilli, memMiB float64) (corev1.ResourceList, error) {
	if cpuMilli != math.Trunc(cpuMilli) || memMiB != math.Trunc(memMiB) || cpuMilli <= 0 || memMiB <= 0 {
		return nil, fmt.Errorf("cpu %vm and memory %vMi must be positive whole numbers", cpuMilli, memMiB)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(cpuMilli), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(memMiB)<<20, resource.BinarySI),
	}, nil
}
