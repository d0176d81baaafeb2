package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// ManifestSchemaVersion is the schemaVersion of manifest.json.
const ManifestSchemaVersion = 1

// Manifest is manifest.json: the index of every object an experiment
// stored, each with its SHA-256. It is written last, so it is the
// experiment's commit record: an object it does not list, or whose bytes
// do not hash to what it lists, is not part of the experiment.
type Manifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	ExperimentID  string `json:"experimentId"`
	Name          string `json:"name"`
	SpecHash      string `json:"specHash"`
	// CodeVersion is the worker's build: module version, VCS revision and
	// whether the tree was modified.
	CodeVersion string    `json:"codeVersion"`
	Seed        uint64    `json:"seed"`
	Outcome     string    `json:"outcome"`
	Error       string    `json:"error,omitempty"`
	WrittenAt   time.Time `json:"writtenAt"`
	// Checkpoints are the training chunks' checkpoints, per agent in chunk
	// order.
	Checkpoints []ManifestCheckpoint `json:"checkpoints"`
	// Artifacts are every other object: spec, metrics sidecars, evaluation
	// series, reports, logs; sorted by key.
	Artifacts []ManifestArtifact `json:"artifacts"`
}

// ManifestCheckpoint is one chunk's checkpoint.
type ManifestCheckpoint struct {
	Agent  string `json:"agent"`
	Chunk  int    `json:"chunk"`
	Step   int64  `json:"step"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ManifestArtifact is any other stored object.
type ManifestArtifact struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Artifact kinds.
const (
	KindSpec         = "spec"
	KindCheckpoint   = "checkpoint" // a checkpoint no finished chunk returned (a failed run's)
	KindChunkMetrics = "chunk-metrics"
	KindSeries       = "series"
	KindReport       = "report"
	KindLog          = "log"
	KindStage        = "stage" // a stage's input, output or status object
	kindUnknown      = "other"
)

// Directories under an experiment's root.
const (
	checkpointsDir = "checkpoints"
	evalsDir       = "evals"
	reportsDir     = "reports"
)

// manifestMaxObjects bounds the objects one manifest indexes (each costs a
// Stat); a bigger experiment points at a misconfigured prefix.
const manifestMaxObjects = 100000

// CodeVersion describes the running binary: the main module's version and
// its VCS revision ("+dirty" when the tree had changes), as the Go
// toolchain stamped them.
func CodeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Path + "@" + bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		v += " " + rev
		if modified == "true" {
			v += "+dirty"
		}
	}
	return v
}

// WriteManifest checks every object the workflow knows against the
// store's checksums, indexes the rest of the experiment's objects (logs,
// sidecars, checkpoints of unfinished training) from a listing, and
// writes manifest.json. A known object whose stored checksum differs from
// the one its writer returned is a non-retryable error: the manifest never
// vouches for bytes nobody wrote.
func (a *Activities) WriteManifest(ctx context.Context, in api.ManifestInput) (api.ObjectRef, error) {
	spec := &in.Spec
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.ObjectRef{}, fmt.Errorf("write manifest %s: %w", in.ExperimentID, err)
	}
	m := Manifest{
		SchemaVersion: ManifestSchemaVersion, ExperimentID: in.ExperimentID, Name: spec.Metadata.Name,
		SpecHash: api.SpecHash(spec), CodeVersion: CodeVersion(), Seed: spec.Spec.Agent.Seed,
		Outcome: in.Outcome, Error: in.Error, WrittenAt: time.Now().UTC(),
		Checkpoints: []ManifestCheckpoint{}, Artifacts: []ManifestArtifact{},
	}
	known := map[string]string{} // key -> SHA-256 its writer returned
	for _, t := range in.Training {
		for i, c := range t.History {
			ck := c.Checkpoint
			m.Checkpoints = append(m.Checkpoints, ManifestCheckpoint{Agent: t.Agent, Chunk: i, Step: ck.Step, Key: ck.Key, SHA256: ck.SHA256, Size: ck.Size})
			known[ck.Key] = ck.SHA256
		}
	}
	if in.SpecObject != nil {
		known[in.SpecObject.Key] = in.SpecObject.SHA256
	}
	for _, r := range in.Runs {
		known[r.SeriesKey] = r.SHA256
	}
	if r := in.Report; r != nil {
		known[r.JSONKey] = r.JSONSHA256
		known[r.MarkdownKey] = r.MarkdownSHA256
	}

	root := experimentKey(spec, in.ExperimentID) + "/"
	manifestKey := experimentKey(spec, in.ExperimentID, api.ManifestObject)
	objs, err := store.List(ctx, root)
	if err != nil {
		return api.ObjectRef{}, fmt.Errorf("write manifest %s: list %s: %w", in.ExperimentID, root, err)
	}
	if len(objs) > manifestMaxObjects {
		return api.ObjectRef{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("write manifest %s: %d objects under %s, more than the %d a manifest indexes", in.ExperimentID, len(objs), root, manifestMaxObjects), "TooManyObjects", nil)
	}
	stored := make(map[string]objstore.ObjectInfo, len(objs))
	for i, o := range objs {
		if o.Key == manifestKey {
			continue
		}
		// Listings carry no metadata; the SHA-256 PutVerified recorded is
		// in the object's metadata.
		info, err := store.Stat(ctx, o.Key)
		if err != nil {
			return api.ObjectRef{}, fmt.Errorf("write manifest %s: stat %s: %w", in.ExperimentID, o.Key, err)
		}
		stored[o.Key] = info
		if i%100 == 99 {
			heartbeat(ctx, i+1)
		}
	}
	for key, want := range known {
		info, ok := stored[key]
		switch {
		case !ok:
			return api.ObjectRef{}, corruptObject(fmt.Errorf("write manifest %s: %s is missing from the store", in.ExperimentID, key))
		case info.SHA256 != want:
			return api.ObjectRef{}, corruptObject(fmt.Errorf("write manifest %s: %s has sha256 %q in the store, but its writer returned %q", in.ExperimentID, key, info.SHA256, want))
		}
	}
	keys := make([]string, 0, len(stored))
	for k := range stored {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		info := stored[k]
		kind := artifactKind(strings.TrimPrefix(k, root))
		if kind == KindCheckpoint {
			if _, ok := known[k]; ok {
				continue // listed under Checkpoints
			}
		}
		if info.SHA256 == "" {
			// Not written through PutVerified (by hand, or another tool):
			// the manifest cannot vouch for it.
			continue
		}
		m.Artifacts = append(m.Artifacts, ManifestArtifact{Kind: kind, Key: k, SHA256: info.SHA256, Size: info.Size})
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return api.ObjectRef{}, fmt.Errorf("write manifest %s: encode: %w", in.ExperimentID, err)
	}
	info, err := objstore.PutVerified(ctx, store, manifestKey, data)
	if err != nil {
		return api.ObjectRef{}, fmt.Errorf("write manifest %s: %w", in.ExperimentID, err)
	}
	ref := api.ObjectRef{Key: manifestKey, SHA256: info.SHA256, Size: int64(len(data))}
	if in.Outcome == api.OutcomeCompleted {
		// Only completed runs are compared with (drift reports).
		if err := indexRun(ctx, store, spec, in.ExperimentID, ref, in.Report); err != nil {
			return api.ObjectRef{}, fmt.Errorf("write manifest %s: index the run: %w", in.ExperimentID, err)
		}
	}
	logger(ctx).Info("manifest written", "key", manifestKey, "checkpoints", len(m.Checkpoints), "artifacts", len(m.Artifacts), "outcome", m.Outcome)
	return ref, nil
}

// artifactKind classifies an object by its key relative to the
// experiment's root.
func artifactKind(rel string) string {
	switch {
	case rel == api.SpecObject:
		return KindSpec
	case strings.HasPrefix(rel, checkpointsDir+"/") && strings.HasSuffix(rel, ".metrics.json"):
		return KindChunkMetrics
	case strings.HasPrefix(rel, checkpointsDir+"/"):
		return KindCheckpoint
	case strings.HasPrefix(rel, evalsDir+"/"):
		return KindSeries
	case strings.HasPrefix(rel, reportsDir+"/"):
		return KindReport
	case strings.HasPrefix(rel, api.LogsDir+"/"):
		return KindLog
	case strings.HasPrefix(rel, "stages/"):
		return KindStage
	}
	return kindUnknown
}
