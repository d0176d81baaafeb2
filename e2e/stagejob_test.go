package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/k8stest"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// The kubernetes stage runner (activities.JobRunner) on the local control
// plane, through the activity's own code path: an EvaluateRun activity in
// Temporal's test activity environment, whose spec asks for the kubernetes
// runner, creates a real Job that the real Job controller turns into a
// pod. kwok's fake kubelets run no container, so the test plays the pod:
// it runs what the container's `grlctl stage` runs
// (Activities.RunStageFromStore) against the store the worker and the pod
// share (in memory here; S3 in a deployment), and then reports the pod's
// end as a kubelet would, by writing the pod's status.
//
// The Job's node selector matches no node, so its pod stays Pending (the
// scheduler finds no node). That is on purpose: a Job pod that kwok runs is
// marked Succeeded at once (kwok's pod-complete Stage completes every
// Running pod a Job owns), before the test has written the stage's output.
// The real Job controller acts on the pod phase the test writes whatever
// the node: Succeeded completes the Job (conditions SuccessCriteriaMet and
// Complete, status.succeeded 1), Failed fails it (FailureTarget, then
// Failed with reason BackoffLimitExceeded, as backoffLimit is 0).
//
// The test namespaces enforce the restricted Pod Security level, as a
// hardened cluster's do: the Job controller could create no pod for a Job
// whose pod does not meet it.

const (
	stageServiceAccount = "grlscaler-stage"
	stageSecret         = "grlscaler-s3"
	// Marker strings for the store's keys, searched for in the Job.
	stageAccessKey = "e2e-access-key-5c0ffee1"
	stageSecretKey = "e2e-secret-key-b16b00b5"
	// stagePool is the node selector's label; no node has it.
	stagePool = "grlscaler.io/e2e-stage-pool"
)

const stageSpecYAML = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: stagejob
spec:
  app: onlineboutique
  cluster:
    mode: sim
    stepPeriod: 15s
  agent:
    algorithm: ppo
    policy: gcn
    head: joint
    goal: slo
    slo: 500ms
    totalSteps: 100
    chunkSteps: 50
    episodeSteps: 25
    seed: 7
    hyperparameters: {nSteps: 50, batchSize: 25, epochs: 1}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 2m
  evaluation:
    controllers:
      - {name: hpa-cpu-50, type: hpa, hpa: cpu-50, minReplicas: 1, maxReplicas: 8}
      - {name: static-2, type: static, replicas: 2}
    repetitions: 1
    slo: 500ms
  execution:
    stageRunner: kubernetes
    jobs:
      cpu: 1500m
      memory: 3Gi
      nodeSelector: {"` + stagePool + `": "evaluation"}
      tolerations:
        - {key: grlscaler.io/stage, operator: Exists, effect: NoSchedule}
`

// stageJobEnv is a worker's activities whose kubernetes runner makes Jobs
// in a fresh namespace of the local cluster, the store they share with the
// Jobs' pods, and an experiment that runs its stages as Jobs.
type stageJobEnv struct {
	kube   kubernetes.Interface
	ns     string
	store  *objstore.Memory
	worker *activities.Activities
	spec   api.ExperimentSpec
}

func newStageJobEnv(t *testing.T) *stageJobEnv {
	t.Helper()
	kube := cluster(t)
	ns := k8stest.NewNamespace(t, "stagejob")
	ctx := t.Context()
	// What an administrator sets up once (README, Deploying): the stage
	// ServiceAccount and the store's Secret, in a namespace that enforces
	// the restricted Pod Security level.
	restricted := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(restricted), metav1.PatchOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("label namespace %s: %v", ns, err)
	}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: stageServiceAccount}},
		metav1.CreateOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: stageSecret},
		StringData: map[string]string{objstore.EnvAccessKey: stageAccessKey, objstore.EnvSecretKey: stageSecretKey},
	}, metav1.CreateOptions{FieldManager: k8stest.FieldManager}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	spec, err := experiment.Parse("stagejob.yaml", []byte(stageSpecYAML))
	if err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	store := objstore.NewMemory()
	return &stageJobEnv{
		kube: kube, ns: ns, store: store, spec: *spec,
		worker: &activities.Activities{Store: store, Jobs: &activities.JobRunner{
			Client: kube, Namespace: ns, Image: "ghcr.io/grlscaler/grlscaler:e2e", ServiceAccount: stageServiceAccount,
			S3Secret: stageSecret, Poll: 100 * time.Millisecond,
			// The worker knows the keys (it reads the store with them); the
			// Job must not carry them.
			Store: objstore.Config{Endpoint: "minio.grlscaler:9000", Region: "us-east-1", AccessKey: stageAccessKey, SecretKey: stageSecretKey},
		}},
	}
}

// evaluateRun is the input of one evaluation run of the static controller.
func (e *stageJobEnv) evaluateRun() api.EvaluateRunInput {
	return api.EvaluateRunInput{ExperimentID: "stagejob-1", Spec: e.spec, Controller: e.spec.Spec.Evaluation.Controllers[1],
		Scenario: "peak", Repetition: 0, Seed: 11}
}

type activityResult struct {
	out api.EvaluateRunResult
	err error
}

// start runs the EvaluateRun activity in Temporal's test activity
// environment, whose activity context ends when ctx does (a worker cancels
// an activity's context when its workflow is cancelled).
func (e *stageJobEnv) start(ctx context.Context, in api.EvaluateRunInput) <-chan activityResult {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	e.worker.Register(env)
	done := make(chan activityResult, 1)
	go func() {
		var r activityResult
		v, err := env.ExecuteActivity(api.EvaluateRunActivityName, in)
		if r.err = err; err == nil {
			r.err = v.Get(&r.out)
		}
		done <- r
	}()
	return done
}

// waitResult waits for the activity to return.
func waitResult(t *testing.T, done <-chan activityResult) activityResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(2 * time.Minute):
		t.Fatal("the activity did not return within 2m")
		return activityResult{}
	}
}

// poll polls cond every 50ms until it holds, failing the test with what()
// after timeout.
func poll(t *testing.T, timeout time.Duration, what func() string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what(), err)
	}
}

// waitJob waits for a stage Job other than the one with UID not and
// returns it.
func (e *stageJobEnv) waitJob(t *testing.T, not types.UID) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	seen := 0
	poll(t, 30*time.Second, func() string { return "no new stage Job" }, func(ctx context.Context) (bool, error) {
		jobs, err := e.kube.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=grlscaler"})
		if err != nil {
			return false, nil
		}
		seen = len(jobs.Items)
		for i := range jobs.Items {
			if j := &jobs.Items[i]; j.UID != not && j.DeletionTimestamp == nil {
				job = j
				return true, nil
			}
		}
		return false, nil
	})
	if seen != 1 {
		t.Fatalf("%d stage Jobs, want 1", seen)
	}
	return job
}

// waitPod waits for the Job controller to have created the Job's pod (in
// a namespace enforcing the restricted level, only if the pod meets it).
func (e *stageJobEnv) waitPod(t *testing.T, job *batchv1.Job) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, 30*time.Second, func() string { return "the Job controller created no pod for " + job.Name + e.events(job) },
		func(ctx context.Context) (bool, error) {
			pods, err := e.kube.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(job.UID)})
			if err != nil || len(pods.Items) == 0 {
				return false, nil
			}
			pod = &pods.Items[0]
			return true, nil
		})
	return pod
}

// events lists the Job's events, for failure messages.
func (e *stageJobEnv) events(job *batchv1.Job) string {
	evs, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID)})
	if err != nil {
		return "; events: " + err.Error()
	}
	if n := len(evs.Items); n > 0 {
		return fmt.Sprintf("; %d events, the last: %s: %s", n, evs.Items[n-1].Reason, evs.Items[n-1].Message)
	}
	return "; no events"
}

// runStageAsThePod runs what the Job's container runs, `grlctl stage NAME
// --input KEY --output KEY`, against the shared store, and returns its
// exit code.
func (e *stageJobEnv) runStageAsThePod(t *testing.T, job *batchv1.Job) int {
	t.Helper()
	args := job.Spec.Template.Spec.Containers[0].Args
	pod := &activities.Activities{Store: e.store}
	code, err := pod.RunStageFromStore(t.Context(), args[0], argValue(args, "--input"), argValue(args, "--output"))
	if err != nil {
		t.Logf("the stage exited %d: %v", code, err)
	}
	return code
}

// endPod reports the pod's end as its kubelet would: the container
// terminated with exit code code, the pod Succeeded (0) or Failed. A merge
// patch of the status, as the scheduler updates the pod's conditions
// meanwhile.
func (e *stageJobEnv) endPod(t *testing.T, pod *corev1.Pod, code int) {
	t.Helper()
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	now := metav1.Now()
	patch, err := json.Marshal(map[string]any{"status": corev1.PodStatus{
		Phase: phase,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "stage", Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, StartedAt: now, FinishedAt: now}},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.kube.CoreV1().Pods(e.ns).Patch(t.Context(), pod.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: k8stest.FieldManager}, "status"); err != nil {
		t.Fatalf("set pod %s %s: %v", pod.Name, phase, err)
	}
}

// waitGone waits until the Job and its pods are deleted.
func (e *stageJobEnv) waitGone(t *testing.T, job *batchv1.Job) {
	t.Helper()
	left := ""
	poll(t, 30*time.Second, func() string { return "the stage Job's objects remain: " + left }, func(ctx context.Context) (bool, error) {
		left = ""
		got, err := e.kube.BatchV1().Jobs(e.ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err == nil && got.UID == job.UID {
			left += "Job " + job.Name + " "
		} else if err != nil && !apierrors.IsNotFound(err) {
			return false, nil
		}
		pods, err := e.kube.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(job.UID)})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			left += "pod " + p.Name + " "
		}
		return left == "", nil
	})
}

func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// inProcess is the run's result computed in the worker's process, from
// a store of its own: what the Job's result must equal.
func inProcess(t *testing.T, in api.EvaluateRunInput) api.EvaluateRunResult {
	t.Helper()
	in.Spec.Spec.Execution.StageRunner = api.StageRunnerInProcess
	out, err := (&activities.Activities{Store: objstore.NewMemory()}).EvaluateRun(t.Context(), in)
	if err != nil {
		t.Fatalf("evaluate in process: %v", err)
	}
	return out
}

func TestStageJobRunsAStageOnTheControlPlane(t *testing.T) {
	e := newStageJobEnv(t)
	start := time.Now()
	in := e.evaluateRun()
	done := e.start(context.Background(), in)
	job := e.waitJob(t, "")
	t.Logf("Job %s created after %v", job.Name, time.Since(start).Round(time.Millisecond))

	// The Job as the API server stored it: the stage command, the spec's
	// scheduling, the store's keys by reference only.
	raw, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{stageAccessKey, stageSecretKey} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the Job holds a store key (%q):\n%s", secret, raw)
		}
	}
	ps := job.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	c := ps.Containers[0]
	if got := strings.Join(c.Command, " "); got != "grlctl stage" || c.Image != "ghcr.io/grlscaler/grlscaler:e2e" {
		t.Errorf("container runs %q of %s", got, c.Image)
	}
	if len(c.Args) != 7 || c.Args[0] != api.StageNameEvaluateRun || c.Args[1] != "--input" || c.Args[3] != "--output" ||
		c.Args[5] != "--s3-bucket" || c.Args[6] != e.spec.Spec.Storage.Bucket ||
		!strings.HasSuffix(c.Args[2], ".input.json") || !strings.HasSuffix(c.Args[4], ".output.json") {
		t.Errorf("args %q, want evaluate-run --input KEY --output KEY --s3-bucket %s", c.Args, e.spec.Spec.Storage.Bucket)
	}
	if cpu, mem := c.Resources.Requests.Cpu(), c.Resources.Requests.Memory(); cpu.String() != "1500m" || mem.String() != "3Gi" {
		t.Errorf("requests cpu %v memory %v, want 1500m and 3Gi", cpu, mem)
	}
	if cpu, mem := c.Resources.Limits.Cpu(), c.Resources.Limits.Memory(); cpu.String() != "1500m" || mem.String() != "3Gi" {
		t.Errorf("limits cpu %v memory %v, want 1500m and 3Gi", cpu, mem)
	}
	if len(ps.NodeSelector) != 1 || ps.NodeSelector[stagePool] != "evaluation" {
		t.Errorf("node selector %v", ps.NodeSelector)
	}
	if len(ps.Tolerations) != 1 || ps.Tolerations[0] != (corev1.Toleration{Key: "grlscaler.io/stage", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}) {
		t.Errorf("tolerations %+v", ps.Tolerations)
	}
	if ps.ServiceAccountName != stageServiceAccount || ps.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.BackoffLimit != 0 {
		t.Errorf("service account %q, restart policy %s, backoff limit %d", ps.ServiceAccountName, ps.RestartPolicy, *job.Spec.BackoffLimit)
	}
	secretRefs := map[string]string{}
	for _, env := range c.Env {
		if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
			secretRefs[env.Name] = env.ValueFrom.SecretKeyRef.Name + "/" + env.ValueFrom.SecretKeyRef.Key
		}
	}
	if secretRefs[objstore.EnvAccessKey] != stageSecret+"/"+objstore.EnvAccessKey || secretRefs[objstore.EnvSecretKey] != stageSecret+"/"+objstore.EnvSecretKey || len(secretRefs) != 2 {
		t.Errorf("env from secrets %v", secretRefs)
	}

	// The Job controller made the pod (it meets the restricted level);
	// no node matches it, so it waits, Pending, for the test to play it.
	pod := e.waitPod(t, job)
	if pod.Status.Phase != corev1.PodPending {
		t.Fatalf("pod %s is %s, want Pending", pod.Name, pod.Status.Phase)
	}
	if code := e.runStageAsThePod(t, job); code != activities.StageExitOK {
		t.Fatalf("the stage exited %d", code)
	}
	e.endPod(t, pod, 0)
	r := waitResult(t, done)
	t.Logf("the activity returned %v after it started", time.Since(start).Round(time.Millisecond))
	if r.err != nil {
		t.Fatalf("activity: %v", r.err)
	}
	want := inProcess(t, in)
	if r.out.SHA256 != want.SHA256 || r.out.Metrics != want.Metrics || r.out.SeriesKey != want.SeriesKey || !r.out.Valid {
		t.Fatalf("the Job's result %+v differs from the in-process run's %+v", r.out, want)
	}
	if _, err := e.store.Stat(t.Context(), r.out.SeriesKey); err != nil {
		t.Fatalf("the run's series is not in the store: %v", err)
	}
	// The activity deletes the finished Job; the garbage collector its pod.
	e.waitGone(t, job)

	if r.out.Cached {
		t.Error("the run says it was served from the store")
	}
	// The same run again: its output is stored, so no Job, and the result
	// says it was served from the store.
	again := waitResult(t, e.start(context.Background(), in))
	if again.err != nil || again.out.SHA256 != want.SHA256 || !again.out.Cached {
		t.Fatalf("rerun: %+v, %v", again.out, again.err)
	}
	if jobs, err := e.kube.BatchV1().Jobs(e.ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(jobs.Items) != 0 {
		t.Fatalf("a stage served from the store made a Job (%v)", err)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

func TestStageJobThatFailsIsRetried(t *testing.T) {
	e := newStageJobEnv(t)
	start := time.Now()
	in := e.evaluateRun()
	done := e.start(context.Background(), in)
	job := e.waitJob(t, "")
	pod := e.waitPod(t, job)
	// The pod dies without writing a status object (killed, evicted,
	// crashed): exit 137.
	e.endPod(t, pod, 137)
	r := waitResult(t, done)
	t.Logf("failed attempt returned after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
	var appErr *temporal.ApplicationError
	if !errors.As(r.err, &appErr) || appErr.NonRetryable() {
		t.Fatalf("err = %v, want a retryable application error", r.err)
	}
	if msg := r.err.Error(); !strings.Contains(msg, "in its Kubernetes Job") || !strings.Contains(msg, job.Name) {
		t.Errorf("err %q does not say the Job %s failed", msg, job.Name)
	}
	e.waitGone(t, job)

	// Temporal's retry: the same input makes a new Job of the same name,
	// which this time succeeds.
	retry := time.Now()
	done = e.start(context.Background(), in)
	job2 := e.waitJob(t, job.UID)
	if job2.Name != job.Name {
		t.Errorf("the retry's Job is %s, want %s (named after the work)", job2.Name, job.Name)
	}
	pod = e.waitPod(t, job2)
	if code := e.runStageAsThePod(t, job2); code != activities.StageExitOK {
		t.Fatalf("the stage exited %d", code)
	}
	e.endPod(t, pod, 0)
	r = waitResult(t, done)
	if r.err != nil {
		t.Fatalf("retry: %v", r.err)
	}
	if want := inProcess(t, in); r.out.SHA256 != want.SHA256 {
		t.Fatalf("retry's series %s, want %s", r.out.SHA256, want.SHA256)
	}
	e.waitGone(t, job2)
	t.Logf("retry took %v; total %v", time.Since(retry).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func TestCancellingAStageDeletesItsJob(t *testing.T) {
	e := newStageJobEnv(t)
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := e.start(ctx, e.evaluateRun())
	job := e.waitJob(t, "")
	e.waitPod(t, job)
	cancel()
	// The test environment reports the end of the activity's context as
	// the activity's failure, where a worker whose workflow cancelled it
	// reports it cancelled; either way the runner stops and deletes.
	r := waitResult(t, done)
	if r.err == nil || !strings.Contains(r.err.Error(), context.Canceled.Error()) {
		t.Errorf("err = %v, want the activity stopped by its context", r.err)
	}
	e.waitGone(t, job)
	t.Logf("cancelled, Job and pod deleted, after %v", time.Since(start).Round(time.Millisecond))
}

// TestStageJobWhosePodCannotBeCreatedFails: a Job whose pod the API server
// refuses (here its service account does not exist; equally a Pod Security
// violation or an exhausted quota) stays active with no pod while the Job
// controller retries; the runner reads the controller's FailedCreate event
// and fails the attempt, retryably, instead of waiting for the activity's
// timeout.
func TestStageJobWhosePodCannotBeCreatedFails(t *testing.T) {
	e := newStageJobEnv(t)
	e.worker.Jobs.ServiceAccount = "no-such-account"
	start := time.Now()
	done := e.start(context.Background(), e.evaluateRun())
	job := e.waitJob(t, "")
	r := waitResult(t, done)
	t.Logf("the attempt failed %v after it started: %v", time.Since(start).Round(time.Millisecond), r.err)
	var appErr *temporal.ApplicationError
	if !errors.As(r.err, &appErr) || appErr.NonRetryable() {
		t.Fatalf("err = %v, want a retryable application error", r.err)
	}
	if msg := r.err.Error(); !strings.Contains(msg, "cannot create the pod of Job "+job.Name) || !strings.Contains(msg, `serviceaccount "no-such-account" not found`) {
		t.Errorf("err %q does not say why the pod could not be created", msg)
	}
	e.waitGone(t, job)
}
