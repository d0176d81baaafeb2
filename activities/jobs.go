package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// JobRunner runs stages as Kubernetes Jobs of the grlscaler image: the
// kubernetes stage runner. The Job runs `grlctl stage`, reads the store's
// keys from a Secret (never from its own spec), and the activity watches
// it with heartbeats, deletes it when it is done or the activity is
// cancelled, and reads the result from the store.
type JobRunner struct {
	Client    kubernetes.Interface
	Namespace string
	// Image is the grlscaler image whose entrypoint is grlctl.
	Image          string
	ServiceAccount string
	// S3Secret names the Secret holding the store's keys under
	// GRL_S3_ACCESS_KEY and GRL_S3_SECRET_KEY.
	S3Secret string
	// Store holds the store's other settings (endpoint, region, TLS); its
	// keys are ignored.
	Store objstore.Config
	// Poll is how often the Job's status is read; default 2s.
	Poll time.Duration
}

// stageUser is the uid and gid of the grlscaler image's user (the
// Dockerfile's USER 65532:65532).
const stageUser = 65532

// jobName is the Job of a stage run: derived from its output key, so a
// retry of the same work finds the same Job.
func jobName(r *stageRun) string {
	sum := sha256.Sum256([]byte(r.outKey))
	return "grl-" + r.stage + "-" + hex.EncodeToString(sum[:])[:16]
}

// Job returns the Job that runs r. Exported through runJob for tests of
// its shape.
func (j *JobRunner) job(r *stageRun) (*batchv1.Job, error) {
	labels := map[string]string{
		"app.kubernetes.io/managed-by": "grlscaler",
		"app.kubernetes.io/component":  "stage",
		"grlscaler.io/stage":           r.stage,
	}
	secretEnv := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: j.S3Secret}, Key: name,
		}}}
	}
	c := corev1.Container{
		Name:    "stage",
		Image:   j.Image,
		Command: []string{"grlctl", "stage"},
		Args:    stageArgs(r),
		Env: []corev1.EnvVar{
			{Name: objstore.EnvEndpoint, Value: j.Store.Endpoint},
			{Name: objstore.EnvRegion, Value: j.Store.Region},
			{Name: objstore.EnvTLS, Value: strconv.FormatBool(j.Store.UseTLS)},
			secretEnv(objstore.EnvAccessKey),
			secretEnv(objstore.EnvSecretKey),
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			ReadOnlyRootFilesystem:   new(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
	}
	// The restricted Pod Security level, as the worker's own Deployment
	// (infra/kustomize/base/worker.yaml): in a namespace that enforces it
	// the Job controller could not create a pod that does not meet it, and
	// the Job would wait with none. The user is the image's (distroless's
	// nonroot), numerically so that runAsNonRoot can check it; /tmp is the
	// only writable directory.
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: j.ServiceAccount,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      new(int64(stageUser)),
			RunAsGroup:     new(int64(stageUser)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: new(resource.MustParse("1Gi"))},
		}}},
	}
	if s := r.spec.Spec.Execution.Jobs; s != nil {
		res := corev1.ResourceList{}
		for name, q := range map[corev1.ResourceName]string{corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Memory} {
			if q == "" {
				continue
			}
			v, err := resource.ParseQuantity(q)
			if err != nil {
				return nil, fmt.Errorf("execution.jobs %s %q: %w", name, q, err)
			}
			res[name] = v
		}
		if len(res) > 0 {
			pod.Containers[0].Resources = corev1.ResourceRequirements{Requests: res, Limits: res}
		}
		pod.NodeSelector = s.NodeSelector
		for _, t := range s.Tolerations {
			pod.Tolerations = append(pod.Tolerations, corev1.Toleration{
				Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value, Effect: corev1.TaintEffect(t.Effect),
			})
		}
	}
	// Temporal retries the activity; the Job itself never retries, and
	// disappears a while after it ends even if the worker does not delete
	// it.
	backoff, ttl := int32(0), int32(3600)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName(r), Namespace: j.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template:                corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}, nil
}

func (a *Activities) runJob(ctx context.Context, stage, id string, spec *api.ExperimentSpec, in, out any) error {
	if a.Jobs == nil || a.Jobs.Client == nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stage %s: this worker runs no Kubernetes Jobs (start it with --stage-namespace and --stage-image)", stage), ErrTypeNotImplemented, nil)
	}
	return a.runOutside(ctx, stage, id, spec, in, out, "in its Kubernetes Job", a.Jobs.launch)
}

// launch creates the run's Job (or finds it, on a retry), waits for it
// with heartbeats and deletes it when it ends or ctx is cancelled.
func (j *JobRunner) launch(ctx context.Context, r *stageRun) error {
	log := logger(ctx)
	want, err := j.job(r)
	if err != nil {
		return &stageExit{code: StageExitInvalid, err: err}
	}
	jobs := j.Client.BatchV1().Jobs(j.Namespace)
	// Deleting in a context of its own: ctx may be cancelled already.
	remove := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		bg := metav1.DeletePropagationBackground
		if err := jobs.Delete(dctx, want.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			log.Warn("could not delete the stage Job", "job", want.Name, "error", err)
		}
	}
	existing, err := jobs.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err := jobs.Create(ctx, want, metav1.CreateOptions{FieldManager: jobFieldManager})
		switch {
		case apierrors.IsAlreadyExists(err):
			// Another attempt created it meanwhile: watch that one.
			log.Info("stage Job created meanwhile by another attempt; watching it", "job", want.Name)
		case err != nil:
			return fmt.Errorf("create Job %s: %w", want.Name, err)
		default:
			log.Info("stage Job created", "stage", r.stage, "job", want.Name, "namespace", j.Namespace)
		}
	case err != nil:
		return fmt.Errorf("get Job %s: %w", want.Name, err)
	case existing.DeletionTimestamp != nil:
		// An earlier attempt's Job on its way out (its deletion waits for
		// finalizers or its pods): this attempt cannot create its own yet.
		return fmt.Errorf("the Job %s of an earlier attempt is still being deleted; the retry creates a new one", want.Name)
	case jobFailed(existing) != "":
		// A failed attempt's Job: replace it.
		remove()
		return fmt.Errorf("the Job %s of an earlier attempt had failed (%s); it is deleted and the retry creates a new one", want.Name, jobFailed(existing))
	default:
		log.Info("stage Job of an earlier attempt found; watching it", "job", want.Name)
	}
	defer remove()
	poll := j.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	events := true
	for {
		job, err := jobs.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case apierrors.IsNotFound(err):
			return fmt.Errorf("the Job %s disappeared before it finished", want.Name)
		case err != nil:
			log.Warn("reading the stage Job failed; retrying", "job", want.Name, "error", err)
		case job.Status.Succeeded > 0:
			return nil
		case jobFailed(job) != "":
			return &stageExit{code: -1, err: errors.New("Job " + want.Name + " failed: " + jobFailed(job))}
		default:
			if events && !hasPods(job) {
				why, err := j.podNotCreated(ctx, job)
				switch {
				case apierrors.IsForbidden(err):
					// Reading events needs `list events` in the namespace;
					// without it a Job whose pod cannot be created waits
					// until the activity times out.
					log.Warn("cannot read the stage Job's events, so cannot tell when its pod cannot be created", "job", want.Name, "error", err)
					events = false
				case err != nil:
					// The next poll reads them again.
				case why != "":
					return &stageExit{code: -1, err: fmt.Errorf("the Job controller cannot create the pod of Job %s: %s", want.Name, why)}
				}
			}
			heartbeat(ctx, map[string]any{"stage": r.stage, "job": want.Name, "active": job.Status.Active})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// jobFieldManager owns the fields of the stage Jobs the runner creates.
const jobFieldManager = "grlscaler-worker"

// hasPods reports whether job has, or had, a pod.
func hasPods(job *batchv1.Job) bool {
	st := job.Status
	return st.Active > 0 || st.Succeeded > 0 || st.Failed > 0 ||
		(st.Ready != nil && *st.Ready > 0) || (st.Terminating != nil && *st.Terminating > 0) ||
		st.UncountedTerminatedPods != nil && len(st.UncountedTerminatedPods.Succeeded)+len(st.UncountedTerminatedPods.Failed) > 0
}

// podNotCreated returns why the Job controller could not create job's pod,
// from the FailedCreate events it records on the Job (a pod that the
// namespace's Pod Security level, a quota or a missing service account
// forbids), or "" when it has recorded none. The Job's status shows
// nothing of it (no condition, no pod counted) while the controller keeps
// trying.
func (j *JobRunner) podNotCreated(ctx context.Context, job *batchv1.Job) (string, error) {
	sel := fields.Set{"involvedObject.kind": "Job", "involvedObject.name": job.Name, "reason": reasonFailedCreate}
	if job.UID != "" {
		sel["involvedObject.uid"] = string(job.UID)
	}
	evs, err := j.Client.CoreV1().Events(j.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String()})
	if err != nil {
		return "", err
	}
	// The newest; and filter here too, as not every client applies field
	// selectors.
	var last *corev1.Event
	for i := range evs.Items {
		ev := &evs.Items[i]
		if ev.Reason != reasonFailedCreate || ev.InvolvedObject.Kind != "Job" || ev.InvolvedObject.Name != job.Name || ev.InvolvedObject.UID != job.UID {
			continue
		}
		if last == nil || eventTime(ev).After(eventTime(last)) {
			last = ev
		}
	}
	if last == nil {
		return "", nil
	}
	return last.Message, nil
}

// reasonFailedCreate is the reason of the events the Job controller
// records when it cannot create a pod (k8s.io/kubernetes
// pkg/controller/controller_utils.go FailedCreatePodReason).
const reasonFailedCreate = "FailedCreate"

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// jobFailed returns why a Job failed, or "" while it has not.
func jobFailed(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return c.Reason + ": " + c.Message
		}
	}
	if job.Status.Failed > 0 {
		return fmt.Sprintf("%d failed pods", job.Status.Failed)
	}
	return ""
}
