package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

const loadNS = "load"

// fakeLoadCluster is the fake clientset plus what the Job controller and
// the kubelet would do: finish a Job, create its pod, and serve the pod's
// log.
type fakeLoadCluster struct {
	t    *testing.T
	kube *fake.Clientset
	log  []byte // the pod's log
}

func newFakeLoadCluster(t *testing.T) (*fakeLoadCluster, *KubernetesJobRunner) {
	t.Helper()
	c := &fakeLoadCluster{t: t, kube: fake.NewClientset()}
	// The fake records no pod name for a log request; each test has one pod.
	c.kube.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		if c.log == nil {
			return true, nil, apierrors.NewNotFound(corev1.Resource("pods"), "log")
		}
		return true, &runtime.Unknown{Raw: c.log}, nil
	})
	r, err := NewKubernetesJobRunner(c.kube, KubernetesOptions{Namespace: loadNS})
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// finish marks the Job done (condition Complete or Failed) and gives it a
// pod whose log is log, as the Job controller and kubelet would.
func (c *fakeLoadCluster) finish(id string, cond batchv1.JobConditionType, reason string, log []byte) {
	c.t.Helper()
	ctx := context.Background()
	j, err := c.kube.BatchV1().Jobs(loadNS).Get(ctx, id, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue,
		Reason: reason, LastTransitionTime: metav1.Now()})
	gvr := batchv1.SchemeGroupVersion.WithResource("jobs")
	if err := c.kube.Tracker().Update(gvr, j, loadNS); err != nil {
		c.t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: id + "-x7k2p", Namespace: loadNS, Labels: j.Spec.Template.Labels}}
	if err := c.kube.Tracker().Add(pod); err != nil {
		c.t.Fatal(err)
	}
	c.log = log
}

// wrapperLog runs the Job's wrapper script under /bin/sh, as the pod would,
// with a stand-in locust on PATH that writes testdata/ob_run's files with
// the --csv prefix it is given and exits with rc. It returns the wrapper's
// output (the pod's log) and exit code.
func wrapperLog(t *testing.T, rc string) ([]byte, int) {
	t.Helper()
	run, err := filepath.Abs("testdata/ob_run")
	if err != nil {
		t.Fatal(err)
	}
	bin, results := t.TempDir(), t.TempDir()
	fakeLocust := `#!/bin/sh
prefix=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--csv" ]; then prefix="$2"; fi
  shift
done
echo "[fake] Starting Locust"
for f in "$FAKE_RUN"/locust_*.csv; do cp "$f" "$(dirname "$prefix")/"; done
exit "$FAKE_RC"
`
	if err := os.WriteFile(filepath.Join(bin, "locust"), []byte(fakeLocust), 0o755); err != nil {
		t.Fatal(err)
	}
	args := locustArgs("/locust/locustfile.py", "http://frontend", filepath.Join(results, csvPrefix))
	cmd := exec.Command("/bin/sh", append([]string{"-c", wrapperScript, "locust-wrapper"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GRL_RESULTS="+results, "FAKE_RUN="+run, "FAKE_RC="+rc)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), code
}

func obJob(t *testing.T, d time.Duration) Job {
	t.Helper()
	s, err := load.Lookup(load.OnlineBoutique, "peak")
	if err != nil {
		t.Fatal(err)
	}
	job, err := NewJob(s.WithDuration(d), app.OnlineBoutique(), "http://frontend.onlineboutique.svc:80", GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestKubernetesJobRunnerCreatesAPinnedLocustJob(t *testing.T) {
	t.Setenv(TokenEnv, "agent-token-never-in-a-spec")
	c, r := newFakeLoadCluster(t)
	ctx := context.Background()
	job := obJob(t, 15*time.Minute)
	job.Name = "eval-peak-agent-1"
	h, err := r.Start(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != job.Name {
		t.Errorf("handle %q, want the job's name", h.ID)
	}
	var verbs []string
	for _, a := range c.kube.Actions() {
		verbs = append(verbs, a.GetVerb()+" "+a.GetResource().Resource)
	}
	want := []string{"get jobs", "create configmaps", "create jobs", "get configmaps", "update configmaps"}
	if !slices.Equal(verbs, want) {
		t.Errorf("actions %v, want %v", verbs, want)
	}

	cm, err := c.kube.CoreV1().ConfigMaps(loadNS).Get(ctx, "eval-peak-agent-1-locustfile", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[locustfileName] != string(job.Locustfile) {
		t.Error("the ConfigMap does not hold the Locust file")
	}
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Kind != "Job" || cm.OwnerReferences[0].Name != job.Name {
		t.Errorf("ConfigMap owners %+v, want the Job", cm.OwnerReferences)
	}
	j, err := c.kube.BatchV1().Jobs(loadNS).Get(ctx, job.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := j.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	if ctr.Image != "docker.io/locustio/locust:2.12.1" {
		t.Errorf("image %q, want the pinned Locust 2.12.1", ctr.Image)
	}
	if want := locustArgs("/locust/locustfile.py", job.Host, "/results/locust"); !slices.Equal(ctr.Args, want) {
		t.Errorf("args %q, want %q", ctr.Args, want)
	}
	if !slices.Equal(ctr.Command, []string{"/bin/sh", "-c", wrapperScript, "locust-wrapper"}) {
		t.Errorf("command %q", ctr.Command)
	}
	mounted := false
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == "/locust" && m.ReadOnly {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("the ConfigMap is not mounted read-only at /locust: %+v %+v", ctr.VolumeMounts, spec.Volumes)
	}
	wantRes := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	if !equalResources(ctr.Resources, wantRes) {
		t.Errorf("resources %+v, want %+v", ctr.Resources, wantRes)
	}
	if *j.Spec.BackoffLimit != 0 || *j.Spec.ActiveDeadlineSeconds != 17*60 || *j.Spec.TTLSecondsAfterFinished != 86400 {
		t.Errorf("backoffLimit %d, activeDeadlineSeconds %d, ttl %d; want 0, 1020 (15m + 2m), 86400",
			*j.Spec.BackoffLimit, *j.Spec.ActiveDeadlineSeconds, *j.Spec.TTLSecondsAfterFinished)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever || spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("restart policy %s, automount %v", spec.RestartPolicy, spec.AutomountServiceAccountToken)
	}
	if sc := ctr.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v", sc)
	}
	if j.Annotations[annotationApp] != "onlineboutique" || j.Spec.Template.Labels[LabelLoadJob] != job.Name {
		t.Errorf("annotations %v, pod labels %v", j.Annotations, j.Spec.Template.Labels)
	}

	// No secrets: nothing read from Secrets, no pull secrets, no service
	// account, and nothing of the process's environment.
	if spec.ServiceAccountName != "" || len(spec.ImagePullSecrets) > 0 || len(ctr.EnvFrom) > 0 {
		t.Errorf("service account %q, pull secrets %v, envFrom %v", spec.ServiceAccountName, spec.ImagePullSecrets, ctr.EnvFrom)
	}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil {
			t.Errorf("env %s comes from %+v", e.Name, e.ValueFrom)
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil || v.Projected != nil {
			t.Errorf("volume %s holds secrets", v.Name)
		}
	}
	for _, obj := range []any{j, cm} {
		b, _ := json.Marshal(obj)
		if bytes.Contains(b, []byte("agent-token-never-in-a-spec")) {
			t.Errorf("a %T carries the agent token", obj)
		}
	}

}

func equalResources(a, b corev1.ResourceRequirements) bool {
	eq := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || v.Cmp(w) != 0 {
				return false
			}
		}
		return true
	}
	return eq(a.Requests, b.Requests) && eq(a.Limits, b.Limits)
}

func TestKubernetesJobRunnerRefusesUnpinnedImagesAndCredentialHosts(t *testing.T) {
	for image, ok := range map[string]bool{
		"locustio/locust":                                   false,
		"locustio/locust:latest":                            false,
		"registry:5000/locust":                              false,
		"registry:5000/locust:2.12.1":                       true,
		"locustio/locust@sha256:" + strings.Repeat("a", 64): true,
	} {
		_, err := NewKubernetesJobRunner(fake.NewClientset(), KubernetesOptions{Namespace: loadNS, Image: image})
		if (err == nil) != ok {
			t.Errorf("image %q: %v", image, err)
		}
	}
	if _, err := NewKubernetesJobRunner(fake.NewClientset(), KubernetesOptions{}); err == nil {
		t.Error("a runner without a namespace")
	}
	c, r := newFakeLoadCluster(t)
	job := obJob(t, time.Minute)
	job.Host = "redis://:hunter2@redis-leader.redis.svc:6379"
	_, err := r.Start(context.Background(), job)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("start with a password in the host: %v", err)
	}
	if n := len(c.kube.Actions()); n != 0 {
		t.Errorf("%d API calls for a refused job", n)
	}
}

func TestKubernetesJobRunnerReadsResultsFromThePodLog(t *testing.T) {
	c, r := newFakeLoadCluster(t)
	ctx := context.Background()
	h, err := r.Start(ctx, obJob(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.ID, "grl-load-") {
		t.Errorf("unnamed job's id %q", h.ID)
	}
	if st, err := r.Status(ctx, h); err != nil || st.State != StateRunning {
		t.Errorf("status before the end: %+v, %v", st, err)
	}
	if _, err := r.Results(ctx, h); !errors.Is(err, ErrNotDone) {
		t.Errorf("results before the end: %v, want ErrNotDone", err)
	}
	// Locust exits with 1 (some requests failed); the wrapper succeeds.
	log, code := wrapperLog(t, "1")
	if code != 0 {
		t.Fatalf("the wrapper exited with %d for Locust's 1:\n%s", code, log)
	}
	c.finish(h.ID, batchv1.JobComplete, "", log)
	st, err := r.Status(ctx, h)
	if err != nil || st.State != StateSucceeded || st.ExitCode == nil || *st.ExitCode != 1 {
		t.Fatalf("status %+v, %v; want succeeded with Locust's exit code 1", st, err)
	}
	res, err := r.Results(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Requests != 545 || res.Total.Failures != 82 || res.Source != SourceSamples {
		t.Errorf("totals %+v from %s", res.Total, res.Source)
	}
	for _, s := range res.Requests {
		if s.RequestType == "" {
			t.Errorf("%s %s not mapped to a request type", s.Method, s.Name)
		}
	}
}

func TestKubernetesJobRunnerFailsJobsWithoutCompleteResults(t *testing.T) {
	crashed, code := wrapperLog(t, "2")
	if code != 2 {
		t.Fatalf("the wrapper exited with %d for Locust's 2", code)
	}
	for _, tc := range []struct {
		name   string
		cond   batchv1.JobConditionType
		reason string
		log    []byte
		want   string
		exit   int
	}{
		{"no results in the log", batchv1.JobComplete, "", []byte("Traceback (most recent call last):\nSyntaxError\n"), "the pod's log has no results", -1},
		{"the deadline passed", batchv1.JobFailed, "DeadlineExceeded", []byte("[fake] Starting Locust\n"), "the Job failed: DeadlineExceeded", -1},
		{"Locust crashed", batchv1.JobFailed, "BackoffLimitExceeded", crashed, "BackoffLimitExceeded", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, r := newFakeLoadCluster(t)
			ctx := context.Background()
			h, err := r.Start(ctx, obJob(t, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			c.finish(h.ID, tc.cond, tc.reason, tc.log)
			st, err := r.Status(ctx, h)
			if err != nil || st.State != StateFailed || !strings.Contains(st.Reason, tc.want) {
				t.Errorf("status %+v, %v; want failed: %q", st, err, tc.want)
			}
			if tc.exit >= 0 && (st.ExitCode == nil || *st.ExitCode != tc.exit) {
				t.Errorf("exit code %v, want %d", st.ExitCode, tc.exit)
			}
			if _, err := r.Results(ctx, h); tc.exit < 0 && !errors.Is(err, ErrNoResults) {
				t.Errorf("results: %v, want ErrNoResults", err)
			}
		})
	}
}

func TestKubernetesJobRunnerStopDeletesTheJob(t *testing.T) {
	c, r := newFakeLoadCluster(t)
	ctx := context.Background()
	h, err := r.Start(ctx, obJob(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Stop(ctx, h)
	if err != nil || st.State != StateStopped {
		t.Fatalf("stop: %+v, %v", st, err)
	}
	if _, err := c.kube.BatchV1().Jobs(loadNS).Get(ctx, h.ID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there: %v", err)
	}
	if _, err := c.kube.CoreV1().ConfigMaps(loadNS).Get(ctx, configMapName(h.ID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap is still there: %v", err)
	}
	if st, err := r.Status(ctx, h); err != nil || st.State != StateStopped {
		t.Errorf("status after stop: %+v, %v", st, err)
	}
	if _, err := r.Results(ctx, h); !errors.Is(err, ErrNoResults) {
		t.Errorf("results after stop: %v, want ErrNoResults", err)
	}
	if _, err := r.Status(ctx, Handle{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
}

func TestKubernetesJobRunnerStartsANamedJobOnceAndStopsItWithItsContext(t *testing.T) {
	c, r := newFakeLoadCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	job := obJob(t, time.Minute)
	job.Name = "warmup-1"
	h1, err := r.Start(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := r.Start(ctx, job)
	if err != nil || h2 != h1 {
		t.Errorf("second start: %v, %v; want %v", h2, err, h1)
	}
	creates := 0
	for _, a := range c.kube.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "jobs" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("%d Jobs created, want 1", creates)
	}
	cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := c.kube.BatchV1().Jobs(loadNS).Get(context.Background(), job.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Job outlived its context")
		}
	}
}
