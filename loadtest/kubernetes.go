package loadtest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultLocustImage is the Locust image Kubernetes jobs run: the release
// the generated files are written and tested for (Debian's python3-locust
// is 2.12.1). Generated Redis files also need redis-py, which the stock
// image lacks: give KubernetesOptions.Image an image built FROM it with
// `pip install redis==4.3.4`.
const DefaultLocustImage = "docker.io/locustio/locust:2.12.1"

// Labels and annotations on a load job's objects.
const (
	LabelLoadJob       = "grlscaler.io/load-job"
	labelManagedBy     = "app.kubernetes.io/managed-by"
	labelName          = "app.kubernetes.io/name"
	annotationApp      = "grlscaler.io/app"
	annotationName     = "grlscaler.io/name"
	annotationDuration = "grlscaler.io/duration"
)

// In the Job's pod: where the Locust file and the results live, and the
// container's name.
const (
	locustContainer = "locust"
	locustfileDir   = "/locust"
	resultsDir      = "/results"
)

// The wrapper prints these around the results in the pod's log.
const (
	markExitCode = "grlscaler-locust-exit-code: "
	markBegin    = "grlscaler-results-begin"
	markEnd      = "grlscaler-results-end"
)

// wrapperScript runs Locust with the arguments it is given, then prints
// its exit code and the CSV files (tar, gzip, base64) to the log, where
// the runner reads them once the pod has ended: no volume, sidecar or
// object store is needed. Exit code 1 (some request failed) is a result,
// so the container succeeds; other codes fail it.
const wrapperScript = `locust "$@"
rc=$?
echo "` + markExitCode + `$rc"
echo "` + markBegin + `"
cd "$GRL_RESULTS" && tar czf - . | base64
echo "` + markEnd + `"
if [ "$rc" -le 1 ]; then exit 0; fi
exit "$rc"
`

// KubernetesOptions configure a KubernetesJobRunner.
type KubernetesOptions struct {
	// Namespace holds the jobs' ConfigMaps and Jobs (required).
	Namespace string
	// Image is the Locust image, pinned by tag or digest; empty means
	// DefaultLocustImage.
	Image string
	// Resources of the Locust container; empty means a request of one CPU
	// (Locust runs on one core) and 512Mi, and a 1Gi memory limit. No CPU
	// limit: throttling Locust would lower the load it sends.
	Resources corev1.ResourceRequirements
	// NodeSelector and Tolerations place the pod, e.g. away from the app.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// Grace: a Job still running Grace after its duration is failed by
	// Kubernetes (activeDeadlineSeconds); zero means two minutes, which
	// leaves room to pull the image.
	Grace time.Duration
	// TTL keeps a finished Job, and so its pod's log with the results,
	// this long; zero means 24 h.
	TTL time.Duration
}

// KubernetesJobRunner runs Locust as a Kubernetes Job: a ConfigMap holds
// the Locust file, the Job's single pod runs the pinned Locust image with
// the arguments LocalRunner uses, and the results are read from the pod's
// log (see wrapperScript). The pod runs without a service account token,
// as a non-root user on a read-only root file system; its spec holds no
// secrets, so a job's host must not carry credentials.
//
// A Job is never retried (backoffLimit 0): a second pod would send the
// load again. Stop deletes the Job, its pod and its ConfigMap, and with
// them the results.
type KubernetesJobRunner struct {
	client kubernetes.Interface
	opts   KubernetesOptions

	mu      sync.Mutex
	release map[string]func() bool
	stopped map[string]Status
	logs    map[string]*podLog
}

// podLog is what the runner read from a finished pod's log.
type podLog struct {
	exitCode int
	files    map[string][]byte
	err      error // why there are no files
}

// NewKubernetesJobRunner returns a runner creating jobs through client.
func NewKubernetesJobRunner(client kubernetes.Interface, opts KubernetesOptions) (*KubernetesJobRunner, error) {
	if opts.Namespace == "" {
		return nil, errors.New("kubernetes load runner: no namespace")
	}
	if opts.Image == "" {
		opts.Image = DefaultLocustImage
	}
	if err := checkPinned(opts.Image); err != nil {
		return nil, err
	}
	if opts.Resources.Requests == nil && opts.Resources.Limits == nil {
		opts.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}
	}
	if opts.Grace == 0 {
		opts.Grace = 2 * time.Minute
	}
	if opts.TTL == 0 {
		opts.TTL = 24 * time.Hour
	}
	return &KubernetesJobRunner{client: client, opts: opts,
		release: map[string]func() bool{}, stopped: map[string]Status{}, logs: map[string]*podLog{}}, nil
}

// checkPinned refuses images that name no version, or a moving one.
func checkPinned(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	_, tag, ok := strings.Cut(path.Base(image), ":")
	if !ok || tag == "" || tag == "latest" {
		return fmt.Errorf("kubernetes load runner: image %q must be pinned to a version tag or digest", image)
	}
	return nil
}

func configMapName(id string) string { return id + "-locustfile" }

// Start creates the job's ConfigMap and Job. A job whose Name already has
// a Job is not started again: its handle is returned.
func (r *KubernetesJobRunner) Start(ctx context.Context, job Job) (Handle, error) {
	if err := job.Validate(); err != nil {
		return Handle{}, fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	if u, err := url.Parse(job.Host); err == nil && u.User != nil {
		return Handle{}, errors.New("kubernetes load runner: the job's host carries credentials, which would be stored in the Job's spec; give the target access another way")
	}
	id := job.Name
	if id == "" {
		rid, err := newID()
		if err != nil {
			return Handle{}, err
		}
		id = "grl-load-" + rid
	}
	h := Handle{ID: id}
	ns := r.opts.Namespace
	jobs := r.client.BatchV1().Jobs(ns)
	if _, err := jobs.Get(ctx, id, metav1.GetOptions{}); err == nil {
		return h, nil
	} else if !apierrors.IsNotFound(err) {
		return Handle{}, fmt.Errorf("load job %s/%s: %w", ns, id, err)
	}

	cm := r.configMap(id, job)
	cms := r.client.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		// Left by a start that failed before its Job existed: no pod reads it.
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return Handle{}, fmt.Errorf("load job %s/%s: update configmap: %w", ns, id, err)
		}
	} else if err != nil {
		return Handle{}, fmt.Errorf("load job %s/%s: create configmap: %w", ns, id, err)
	}
	created, err := jobs.Create(ctx, r.job(id, job), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return h, nil // another start won the race
	}
	if err != nil {
		return Handle{}, fmt.Errorf("load job %s/%s: create job: %w", ns, id, err)
	}
	// The Job owns its ConfigMap, so the TTL's deletion of the Job removes
	// both. Best effort: a ConfigMap left behind is a few kilobytes.
	if cur, err := cms.Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
		cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: created.Name, UID: created.UID}}
		_, _ = cms.Update(ctx, cur, metav1.UpdateOptions{})
	}
	r.mu.Lock()
	if _, ok := r.release[id]; !ok {
		r.release[id] = context.AfterFunc(ctx, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = r.Stop(sctx, h)
		})
	}
	r.mu.Unlock()
	return h, nil
}

func (r *KubernetesJobRunner) labels(id string) map[string]string {
	return map[string]string{labelName: "locust", labelManagedBy: "grlscaler", LabelLoadJob: id}
}

func (r *KubernetesJobRunner) configMap(id string, job Job) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: configMapName(id), Namespace: r.opts.Namespace, Labels: r.labels(id)},
		Data:       map[string]string{locustfileName: string(job.Locustfile)},
	}
}

func ptrTo[T any](v T) *T { return &v }

// job builds the Job of a load job.
func (r *KubernetesJobRunner) job(id string, job Job) *batchv1.Job {
	deadline := int64((job.Duration + r.opts.Grace + time.Second - 1) / time.Second)
	ttl := int32(min(r.opts.TTL/time.Second, 1<<31-1))
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: r.opts.Namespace, Labels: r.labels(id),
			Annotations: map[string]string{annotationApp: job.App, annotationName: job.Name, annotationDuration: job.Duration.String()},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptrTo(int32(0)),
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.labels(id)},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					AutomountServiceAccountToken:  ptrTo(false),
					EnableServiceLinks:            ptrTo(false),
					TerminationGracePeriodSeconds: ptrTo(int64(30)),
					NodeSelector:                  r.opts.NodeSelector,
					Tolerations:                   r.opts.Tolerations,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptrTo(true),
						RunAsUser:      ptrTo(int64(1000)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    locustContainer,
						Image:   r.opts.Image,
						Command: []string{"/bin/sh", "-c", wrapperScript, "locust-wrapper"},
						Args:    locustArgs(path.Join(locustfileDir, locustfileName), job.Host, path.Join(resultsDir, csvPrefix)),
						Env: []corev1.EnvVar{
							{Name: "GRL_RESULTS", Value: resultsDir},
							{Name: "PYTHONDONTWRITEBYTECODE", Value: "1"},
							{Name: "PYTHONUNBUFFERED", Value: "1"},
							{Name: "HOME", Value: "/tmp"},
						},
						Resources: r.opts.Resources,
						VolumeMounts: []corev1.VolumeMount{
							{Name: "locustfile", MountPath: locustfileDir, ReadOnly: true},
							{Name: "results", MountPath: resultsDir},
							{Name: "tmp", MountPath: "/tmp"},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptrTo(false),
							ReadOnlyRootFilesystem:   ptrTo(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "locustfile", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(id)}}}},
						{Name: "results", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}

// Status reads the Job; once it has completed, the pod's log decides
// between succeeded and failed (complete statistics or not).
func (r *KubernetesJobRunner) Status(ctx context.Context, h Handle) (Status, error) {
	st, _, err := r.status(ctx, h)
	return st, err
}

func (r *KubernetesJobRunner) status(ctx context.Context, h Handle) (Status, *batchv1.Job, error) {
	ns := r.opts.Namespace
	j, err := r.client.BatchV1().Jobs(ns).Get(ctx, h.ID, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.mu.Lock()
		st, ok := r.stopped[h.ID]
		r.mu.Unlock()
		if ok {
			return st, nil, nil
		}
		return Status{}, nil, fmt.Errorf("%w: %s/%s", ErrNotFound, ns, h.ID)
	}
	if err != nil {
		return Status{}, nil, fmt.Errorf("load job %s/%s: %w", ns, h.ID, err)
	}
	st := Status{ID: h.ID, Name: j.Annotations[annotationName], State: StateRunning, Started: j.CreationTimestamp.UTC()}
	if j.Status.StartTime != nil {
		st.Started = j.Status.StartTime.UTC()
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st.Finished = c.LastTransitionTime.UTC()
			pl := r.podLog(ctx, h.ID)
			if pl.err == nil {
				st.ExitCode = ptrTo(pl.exitCode)
				st.State = StateSucceeded
			} else {
				st.State, st.Reason = StateFailed, pl.err.Error()
			}
		case batchv1.JobFailed:
			st.Finished = c.LastTransitionTime.UTC()
			st.State = StateFailed
			st.Reason = fmt.Sprintf("the Job failed: %s: %s", c.Reason, c.Message)
			if pl := r.podLog(ctx, h.ID); pl.exitCode >= 0 {
				st.ExitCode = ptrTo(pl.exitCode)
			}
		}
	}
	if st.State.Done() {
		r.forget(h.ID)
	}
	return st, j, nil
}

func (r *KubernetesJobRunner) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if release, ok := r.release[id]; ok {
		release()
		delete(r.release, id)
	}
}

// podLog reads the results from the log of the job's pod, once; a read
// that fails for want of a pod or log is not remembered.
func (r *KubernetesJobRunner) podLog(ctx context.Context, id string) *podLog {
	r.mu.Lock()
	pl, ok := r.logs[id]
	r.mu.Unlock()
	if ok {
		return pl
	}
	ns := r.opts.Namespace
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelLoadJob + "=" + id})
	if err != nil {
		return &podLog{err: fmt.Errorf("list the pods of load job %s/%s: %w", ns, id, err)}
	}
	if len(pods.Items) == 0 {
		return &podLog{err: fmt.Errorf("load job %s/%s has no pod, so no results", ns, id)}
	}
	pod := slices.MaxFunc(pods.Items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	stream, err := r.client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: locustContainer}).Stream(ctx)
	if err != nil {
		return &podLog{err: fmt.Errorf("read the log of pod %s/%s: %w", ns, pod.Name, err)}
	}
	defer stream.Close()
	pl = parsePodLog(stream)
	r.mu.Lock()
	r.logs[id] = pl
	r.mu.Unlock()
	return pl
}

// parsePodLog finds the wrapper's exit code and results in a pod's log.
func parsePodLog(rd io.Reader) *podLog {
	pl := &podLog{exitCode: -1}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var b64 bytes.Buffer
	in := false
	sawEnd := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, markExitCode):
			if n, err := strconv.Atoi(strings.TrimPrefix(line, markExitCode)); err == nil {
				pl.exitCode = n
			}
		case line == markBegin:
			in = true
			b64.Reset()
		case line == markEnd:
			in, sawEnd = false, true
		case in:
			b64.WriteString(line)
		}
	}
	if err := sc.Err(); err != nil {
		pl.err = fmt.Errorf("read the pod's log: %w", err)
		return pl
	}
	if pl.exitCode < 0 || !sawEnd {
		pl.err = fmt.Errorf("%w: the pod's log has no results (did Locust's container run to its end?)", ErrIncomplete)
		return pl
	}
	files, err := untarResults(base64.NewDecoder(base64.StdEncoding, &b64))
	if err != nil {
		pl.err = fmt.Errorf("results in the pod's log: %w", err)
		return pl
	}
	pl.files = files
	if err := Complete(files); err != nil {
		pl.err = fmt.Errorf("locust exited with %d but %w", pl.exitCode, err)
	} else if pl.exitCode > 1 {
		pl.err = fmt.Errorf("locust exited with %d", pl.exitCode)
	}
	return pl
}

// untarResults reads the gzipped tar of the results directory into files
// keyed by their ResultFiles name.
func untarResults(rd io.Reader) (map[string][]byte, error) {
	zr, err := gzip.NewReader(rd)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(path.Base(hdr.Name), csvPrefix+"_")
		if hdr.Typeflag != tar.TypeReg || !ok || !slices.Contains(ResultFiles, name) {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 256<<20))
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
}

// Stop deletes the Job (its pod goes with it) and its ConfigMap, and
// remembers the job as stopped; its results are gone with the pod.
func (r *KubernetesJobRunner) Stop(ctx context.Context, h Handle) (Status, error) {
	st, j, err := r.status(ctx, h)
	if err != nil || j == nil || st.State.Done() {
		return st, err
	}
	ns := r.opts.Namespace
	policy := metav1.DeletePropagationBackground
	if err := r.client.BatchV1().Jobs(ns).Delete(ctx, h.ID, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
		return Status{}, fmt.Errorf("stop load job %s/%s: %w", ns, h.ID, err)
	}
	if err := r.client.CoreV1().ConfigMaps(ns).Delete(ctx, configMapName(h.ID), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return Status{}, fmt.Errorf("stop load job %s/%s: delete configmap: %w", ns, h.ID, err)
	}
	st.State, st.Reason, st.Finished = StateStopped, "stopped on request; the Job and its pod were deleted, and its results with them", time.Now().UTC()
	r.mu.Lock()
	r.stopped[h.ID] = st
	r.mu.Unlock()
	r.forget(h.ID)
	return st, nil
}

// Results parses the results in the pod's log once the job is done.
func (r *KubernetesJobRunner) Results(ctx context.Context, h Handle) (*Results, error) {
	st, j, err := r.status(ctx, h)
	if err != nil {
		return nil, err
	}
	if !st.State.Done() {
		return nil, fmt.Errorf("%w: %s", ErrNotDone, h.ID)
	}
	if j == nil {
		return nil, fmt.Errorf("%w: load job %s was stopped", ErrNoResults, h.ID)
	}
	pl := r.podLog(ctx, h.ID)
	if pl.files == nil {
		return nil, fmt.Errorf("%w: load job %s (%s): %w", ErrNoResults, h.ID, st.State, pl.err)
	}
	res, err := ParseResults(pl.files, Job{App: j.Annotations[annotationApp]}.app())
	if err != nil {
		return nil, fmt.Errorf("%w: load job %s (%s): %w", ErrNoResults, h.ID, st.State, err)
	}
	return res, nil
}
