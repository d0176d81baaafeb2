package activities

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const (
	jobNamespace = "grl-stages"
	markerAccess = "access-key-marker-7d1e"
	markerSecret = "secret-key-marker-93af"
)

// jobEnv is an Activities whose kubernetes runner talks to a fake
// clientset, and a spec asking for it.
func jobEnv(t *testing.T) (*Activities, *fake.Clientset, api.ExperimentSpec) {
	t.Helper()
	kube := fake.NewClientset()
	a := &Activities{Store: objstore.NewMemory(), Jobs: &JobRunner{
		Client: kube, Namespace: jobNamespace, Image: "ghcr.io/grlscaler/grlctl:v0.1.0", ServiceAccount: "grlscaler-stage",
		S3Secret: "grlscaler-s3", Poll: time.Millisecond,
		Store: objstore.Config{Endpoint: "minio:9000", Region: "eu-1", AccessKey: markerAccess, SecretKey: markerSecret},
	}}
	spec := testSpec(t)
	spec.Spec.Execution.StageRunner = api.StageRunnerKubernetes
	spec.Spec.Execution.Jobs = &api.StageJobs{CPU: "2", Memory: "4Gi", NodeSelector: map[string]string{"pool": "train"},
		Tolerations: []api.Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoSchedule"}}}
	return a, kube, spec
}

// waitJob waits for the stage's Job to exist and returns it.
func waitJob(t *testing.T, kube *fake.Clientset) *batchv1.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		jobs, err := kube.BatchV1().Jobs(jobNamespace).List(context.Background(), metav1.ListOptions{})
		if err == nil && len(jobs.Items) == 1 {
			return &jobs.Items[0]
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no Job was created")
	return nil
}

func setJobStatus(t *testing.T, kube *fake.Clientset, job *batchv1.Job, st batchv1.JobStatus) {
	t.Helper()
	job.Status = st
	if _, err := kube.BatchV1().Jobs(jobNamespace).UpdateStatus(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// argValue returns the value after flag in args.
func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestJobRunnerRunsTheStageAsAJobWithoutCredentialsInItsSpec(t *testing.T) {
	a, kube, spec := jobEnv(t)
	in := api.WarmUpInput{ExperimentID: testID, Spec: spec}
	type result struct {
		out api.WarmUpResult
		err error
	}
	done := make(chan result, 1)
	go func() { out, err := a.WarmUp(context.Background(), in); done <- result{out, err} }()
	job := waitJob(t, kube)

	raw, _ := json.Marshal(job)
	if strings.Contains(string(raw), markerAccess) || strings.Contains(string(raw), markerSecret) {
		t.Fatal("the Job's spec holds a store key")
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/grlscaler/grlctl:v0.1.0" || strings.Join(c.Command, " ") != "grlctl stage" || c.Args[0] != api.StageNameWarmUp {
		t.Fatalf("container %s %v %v", c.Image, c.Command, c.Args)
	}
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if refs[objstore.EnvAccessKey] != "grlscaler-s3/GRL_S3_ACCESS_KEY" || refs[objstore.EnvSecretKey] != "grlscaler-s3/GRL_S3_SECRET_KEY" {
		t.Fatalf("secret references %v", refs)
	}
	if c.Resources.Requests.Cpu().String() != "2" || c.Resources.Limits.Memory().String() != "4Gi" ||
		job.Spec.Template.Spec.NodeSelector["pool"] != "train" || job.Spec.Template.Spec.Tolerations[0].Key != "gpu" ||
		job.Spec.Template.Spec.ServiceAccountName != "grlscaler-stage" || *job.Spec.BackoffLimit != 0 {
		t.Fatalf("scheduling: %+v %+v", c.Resources, job.Spec.Template.Spec)
	}

	// The Job's pod does the work: it writes the output object; the Job
	// completes.
	outKey := argValue(c.Args, "--output")
	want := api.WarmUpResult{Steps: 8, LatencyP95Ms: 123}
	data, _ := json.Marshal(want)
	if _, err := objstore.PutVerified(context.Background(), a.Store, outKey, data); err != nil {
		t.Fatal(err)
	}
	setJobStatus(t, kube, job, batchv1.JobStatus{Succeeded: 1})
	r := <-done
	if r.err != nil || r.out != want {
		t.Fatalf("stage result %+v, %v", r.out, r.err)
	}
	if _, err := kube.BatchV1().Jobs(jobNamespace).Get(context.Background(), job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the finished Job was not deleted: %v", err)
	}
	if r.out.Cached {
		t.Fatal("a stage that ran says it was cached")
	}
	// The same input again: the stored output is reused, no Job, and the
	// result says so.
	cached := want
	cached.Cached = true
	if out, err := a.WarmUp(context.Background(), in); err != nil || out != cached {
		t.Fatalf("cached stage: %+v %v", out, err)
	}
	if jobs, _ := kube.BatchV1().Jobs(jobNamespace).List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatal("a cached stage created a Job")
	}
}

func TestJobRunnerFailuresAndCancellation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end makes the Job end (or cancels); status is the stage's
		// status object, if it wrote one.
		status       *stageStatus
		cancel       bool
		wantRetry    bool
		wantContains string
	}{
		{name: "an evicted pod is retryable", wantRetry: true, wantContains: "Evicted"},
		{name: "invalid input is not retryable", status: &stageStatus{ExitCode: StageExitInvalid, Error: "bad spec", ErrorType: api.ErrTypeInvalidSpec, NonRetryable: true}, wantContains: "bad spec"},
		{name: "cancelling deletes the Job", cancel: true, wantRetry: true, wantContains: "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, kube, spec := jobEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := a.WarmUp(ctx, api.WarmUpInput{ExperimentID: testID, Spec: spec})
				done <- err
			}()
			job := waitJob(t, kube)
			if tc.status != nil {
				data, _ := json.Marshal(tc.status)
				if _, err := objstore.PutVerified(context.Background(), a.Store, statusKey(argValue(job.Spec.Template.Spec.Containers[0].Args, "--output")), data); err != nil {
					t.Fatal(err)
				}
			}
			if tc.cancel {
				cancel()
			} else {
				setJobStatus(t, kube, job, batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "Evicted", Message: "node drained"}}})
			}
			err := <-done
			var appErr *temporal.ApplicationError
			nonRetryable := errors.As(err, &appErr) && appErr.NonRetryable()
			if err == nil || nonRetryable == tc.wantRetry || !strings.Contains(err.Error(), tc.wantContains) {
				t.Fatalf("err = %v (non-retryable %v), want retryable %v containing %q", err, nonRetryable, tc.wantRetry, tc.wantContains)
			}
			if _, err := kube.BatchV1().Jobs(jobNamespace).Get(context.Background(), job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("the Job was not deleted: %v", err)
			}
		})
	}
}

// TestStageJobPodMeetsTheRestrictedPodSecurityLevel checks the fields the
// restricted level requires (kubernetes.io/docs/concepts/security/
// pod-security-standards, "Restricted"): in a namespace that enforces it the
// Job controller can create no pod without them. The local control plane
// checks the level itself (e2e TestStageJobRunsAStageOnTheControlPlane).
func TestStageJobPodMeetsTheRestrictedPodSecurityLevel(t *testing.T) {
	a, _, spec := jobEnv(t)
	job, err := a.Jobs.job(&stageRun{stage: api.StageNameWarmUp, id: testID, spec: &spec, inKey: "in.json", outKey: "out.output.json"})
	if err != nil {
		t.Fatal(err)
	}
	ps := job.Spec.Template.Spec
	psc, sc := ps.SecurityContext, ps.Containers[0].SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want a non-root user and the RuntimeDefault seccomp profile", psc)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.Privileged != nil {
		t.Errorf("container security context %+v: want no privilege escalation and every capability dropped", sc)
	}
	// The root filesystem is read-only; /tmp is an emptyDir.
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		len(ps.Containers[0].VolumeMounts) != 1 || ps.Containers[0].VolumeMounts[0].MountPath != "/tmp" ||
		len(ps.Volumes) != 1 || ps.Volumes[0].EmptyDir == nil {
		t.Errorf("want a read-only root filesystem with an emptyDir on /tmp: %+v %+v", ps.Containers[0].VolumeMounts, ps.Volumes)
	}
}

// stageJobName is the Job name the runner gives in's warm-up stage.
func stageJobName(t *testing.T, spec *api.ExperimentSpec, in api.WarmUpInput) string {
	t.Helper()
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	_, outKey := stageKeys(spec, testID, api.StageNameWarmUp, input)
	return jobName(&stageRun{stage: api.StageNameWarmUp, outKey: outKey})
}

// TestJobRunnerFailsWhenThePodCannotBeCreated: the Job controller records
// a FailedCreate event on a Job whose pod the API server refuses, and the
// Job stays active with no pod; the attempt fails, retryably, with the
// event's message, and its Job is deleted. Without permission to read
// events the runner keeps watching the Job.
func TestJobRunnerFailsWhenThePodCannotBeCreated(t *testing.T) {
	const refused = `Error creating: pods "grl-warm-up-x" is forbidden: violates PodSecurity "restricted:latest"`
	for _, tc := range []struct {
		name          string
		eventsAllowed bool
	}{
		{name: "the FailedCreate event fails the attempt", eventsAllowed: true},
		{name: "without access to events the runner waits for the Job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, kube, spec := jobEnv(t)
			if !tc.eventsAllowed {
				kube.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("RBAC: no"))
				})
			}
			done := make(chan error, 1)
			go func() {
				_, err := a.WarmUp(context.Background(), api.WarmUpInput{ExperimentID: testID, Spec: spec})
				done <- err
			}()
			job := waitJob(t, kube)
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: job.Name + ".1", Namespace: jobNamespace},
				InvolvedObject: corev1.ObjectReference{Kind: "Job", Namespace: jobNamespace, Name: job.Name, UID: job.UID},
				Reason:         "FailedCreate", Message: refused, Type: corev1.EventTypeWarning, LastTimestamp: metav1.Now(),
			}
			if _, err := kube.CoreV1().Events(jobNamespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if !tc.eventsAllowed {
				select {
				case err := <-done:
					t.Fatalf("the runner returned %v without being able to read events", err)
				case <-time.After(50 * time.Millisecond): // 50 polls
				}
				outKey := argValue(job.Spec.Template.Spec.Containers[0].Args, "--output")
				if _, err := objstore.PutVerified(context.Background(), a.Store, outKey, []byte(`{"steps":4}`)); err != nil {
					t.Fatal(err)
				}
				setJobStatus(t, kube, job, batchv1.JobStatus{Succeeded: 1})
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the runner still waits for a Job whose pod cannot be created")
			}
			var appErr *temporal.ApplicationError
			if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) || !strings.Contains(err.Error(), "cannot create the pod of Job "+job.Name+": "+refused) {
				t.Fatalf("err = %v, want a retryable error with the event's message", err)
			}
			if _, err := kube.BatchV1().Jobs(jobNamespace).Get(context.Background(), job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("the Job was not deleted: %v", err)
			}
		})
	}
}

// TestJobRunnerLeavesAJobBeingDeletedToGo: an earlier attempt's Job that
// is still being deleted (foreground deletion, finalizers) is neither
// watched nor replaced; the attempt fails, retryably, and the retry creates
// the new Job.
func TestJobRunnerLeavesAJobBeingDeletedToGo(t *testing.T) {
	a, kube, spec := jobEnv(t)
	in := api.WarmUpInput{ExperimentID: testID, Spec: spec}
	now := metav1.Now()
	old := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: stageJobName(t, &spec, in), Namespace: jobNamespace,
		DeletionTimestamp: &now, Finalizers: []string{metav1.FinalizerDeleteDependents}}}
	if err := kube.Tracker().Add(old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.WarmUp(ctx, in)
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) || !strings.Contains(err.Error(), "still being deleted") {
		t.Fatalf("err = %v, want a retryable error saying the old Job is being deleted", err)
	}
	for _, act := range kube.Actions() {
		if act.GetVerb() == "create" || act.GetVerb() == "delete" {
			t.Errorf("the runner %s the Job being deleted", act.GetVerb())
		}
	}
}

// TestJobRunnerWatchesAJobAnotherAttemptCreated: when the Job appears
// between the runner's Get and its Create (another worker's attempt of the
// same work), the runner watches that Job instead of failing.
func TestJobRunnerWatchesAJobAnotherAttemptCreated(t *testing.T) {
	a, kube, spec := jobEnv(t)
	kube.PrependReactor("create", "jobs", func(act k8stesting.Action) (bool, runtime.Object, error) {
		job := act.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if err := kube.Tracker().Add(job.DeepCopy()); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Group: "batch", Resource: "jobs"}, job.Name)
	})
	done := make(chan error, 1)
	go func() {
		_, err := a.WarmUp(context.Background(), api.WarmUpInput{ExperimentID: testID, Spec: spec})
		done <- err
	}()
	job := waitJob(t, kube)
	outKey := argValue(job.Spec.Template.Spec.Containers[0].Args, "--output")
	if _, err := objstore.PutVerified(context.Background(), a.Store, outKey, []byte(`{"steps":4}`)); err != nil {
		t.Fatal(err)
	}
	setJobStatus(t, kube, job, batchv1.JobStatus{Succeeded: 1})
	if err := <-done; err != nil {
		t.Fatalf("err = %v, want the other attempt's Job watched to its end", err)
	}
}
