package manifests

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/grlscaler/grlscaler/envs/app"
)

func build(t *testing.T, name string, mode Linkerd) (*app.App, *Set) {
	t.Helper()
	a, err := app.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Build(a, "ns1", mode)
	if err != nil {
		t.Fatal(err)
	}
	return a, set
}

func TestBuildTakesImagesAndResourcesFromTheAppDeclaration(t *testing.T) {
	t.Parallel()
	for _, name := range app.Names() {
		t.Run(name, func(t *testing.T) {
			a, set := build(t, name, LinkerdInject)
			if len(set.Deployments) != len(a.Services) {
				t.Fatalf("%d deployments for %d services", len(set.Deployments), len(a.Services))
			}
			for i, s := range a.Services {
				d := set.Deployments[i]
				if *d.Name != s.Name {
					t.Fatalf("deployment %d is %s, want %s (canonical order)", i, *d.Name, s.Name)
				}
				var found bool
				for _, c := range d.Spec.Template.Spec.Containers {
					if *c.Name != s.Container {
						continue
					}
					found = true
					if *c.Image != s.Image {
						t.Errorf("%s image %s, want %s", s.Name, *c.Image, s.Image)
					}
					req, lim := *c.Resources.Requests, *c.Resources.Limits
					check := func(what string, got resource.Quantity, want string) {
						if got.Cmp(resource.MustParse(want)) != 0 {
							t.Errorf("%s %s = %s, want %s", s.Name, what, got.String(), want)
						}
					}
					check("cpu request", req[corev1.ResourceCPU], ftoa(s.CPURequestMilli)+"m")
					check("cpu limit", lim[corev1.ResourceCPU], ftoa(s.CPULimitMilli)+"m")
					check("memory request", req[corev1.ResourceMemory], ftoa(s.MemRequestMiB)+"Mi")
					check("memory limit", lim[corev1.ResourceMemory], ftoa(s.MemLimitMiB)+"Mi")
				}
				if !found {
					t.Errorf("%s has no container %s", s.Name, s.Container)
				}
				if d.Spec.Replicas != nil {
					t.Errorf("%s sets replicas; a re-apply would undo scaling", s.Name)
				}
			}
		})
	}
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func TestEveryObjectIsLabelledManagedByGrlscaler(t *testing.T) {
	t.Parallel()
	for _, name := range app.Names() {
		_, set := build(t, name, LinkerdDisabled)
		check := func(kind, obj string, labels map[string]string, ns *string) {
			if labels[ManagedByLabel] != ManagedBy || labels[PartOfLabel] != name {
				t.Errorf("%s %s labels %v lack %s=%s, %s=%s", kind, obj, labels, ManagedByLabel, ManagedBy, PartOfLabel, name)
			}
			if ns != nil && *ns != "ns1" {
				t.Errorf("%s %s in namespace %s, want ns1", kind, obj, *ns)
			}
		}
		check("namespace", *set.Namespace.Name, set.Namespace.Labels, nil)
		for _, d := range set.Deployments {
			check("deployment", *d.Name, d.Labels, d.Namespace)
			check("pod template of", *d.Name, d.Spec.Template.Labels, nil)
			if d.Spec.Template.Labels[SelectorLabel] != *d.Name {
				t.Errorf("deployment %s pod template lost its selector label", *d.Name)
			}
		}
		for _, s := range set.Services {
			check("service", *s.Name, s.Labels, s.Namespace)
		}
		if len(set.Services) != len(set.Deployments) {
			t.Errorf("%s: %d services for %d deployments", name, len(set.Services), len(set.Deployments))
		}
	}
}

func TestLinkerdModeAnnotatesNamespaceAndPodTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode                 Linkerd
		namespace, templates string // "" = no annotation
	}{
		{LinkerdInject, "enabled", "enabled"},
		{LinkerdDisabled, "", "disabled"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			_, set := build(t, "onlineboutique", tt.mode)
			if got := set.Namespace.Annotations[InjectAnnotation]; got != tt.namespace {
				t.Errorf("namespace %s = %q, want %q", InjectAnnotation, got, tt.namespace)
			}
			for _, d := range set.Deployments {
				if got := d.Spec.Template.Annotations[InjectAnnotation]; got != tt.templates {
					t.Errorf("%s template %s = %q, want %q", *d.Name, InjectAnnotation, got, tt.templates)
				}
			}
		})
	}
}

func TestBuildRejectsWhatItCannotDeploy(t *testing.T) {
	t.Parallel()
	ob := app.OnlineBoutique()
	syn, err := app.Synthetic(1, app.SyntheticOptions{Services: 3})
	if err != nil {
		t.Fatal(err)
	}
	drifted := app.OnlineBoutique()
	drifted.Services[0].Container = "main"
	fractional := app.Redis()
	fractional.Services[0].CPURequestMilli = 0.5
	tests := []struct {
		name string
		app  *app.App
		ns   string
		mode Linkerd
		want string
	}{
		{"unknown mode", ob, "ns", "auto", "unknown linkerd injection mode"},
		{"no namespace", ob, "", LinkerdInject, "namespace must not be empty"},
		{"app without manifests", syn, "ns", LinkerdInject, "no manifests for app"},
		{"container drift", drifted, "ns", LinkerdInject, `no container "main"`},
		{"fractional millicores", fractional, "ns", LinkerdInject, "whole numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.app, tt.ns, tt.mode)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
