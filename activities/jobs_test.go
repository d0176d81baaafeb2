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
	"k8s.io/client-go/kubernetes/fake"

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
	// The same input again: the stored output is reused, no Job.
	if out, err := a.WarmUp(context.Background(), in); err != nil || out != want {
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
