package api

// Search attributes (all of type Keyword) that grlctl sets when it starts
// an experiment and ExperimentWorkflow keeps current, so that runs can be
// filtered in the Temporal web UI and by `grlctl list`, for example
// `GrlApp = "onlineboutique" AND GrlStage = "train"`. They must be
// registered in the namespace first: `grlctl dev` and the test dev server
// pass them to `temporal server start-dev --search-attribute`; on another
// server run `temporal operator search-attribute create --name GrlApp
// --type Keyword` (and so on) once. When they are not registered,
// experiments run without them.
const (
	SearchAttrApp      = "GrlApp"
	SearchAttrMode     = "GrlMode"
	SearchAttrPolicy   = "GrlPolicy"
	SearchAttrGoal     = "GrlGoal"
	SearchAttrStage    = "GrlStage"
	SearchAttrSpecHash = "GrlSpecHash"
)

// SearchAttributeNames lists every search attribute grlscaler uses.
var SearchAttributeNames = []string{
	SearchAttrApp, SearchAttrMode, SearchAttrPolicy, SearchAttrGoal, SearchAttrStage, SearchAttrSpecHash,
}

// Memo keys of an ExperimentWorkflow. The memo is set at start and updated
// by the workflow; commands that read the store (report, logs) find the
// experiment's bucket and prefix here.
const (
	MemoApp      = "app"
	MemoMode     = "mode"
	MemoPolicy   = "policy"
	MemoGoal     = "goal"
	MemoSpecHash = "specHash"
	MemoBucket   = "bucket"
	MemoPrefix   = "prefix"
	MemoSummary  = "summary"
)

// RunIndexKey is where a completed run of a spec hash is indexed, under
// the storage prefix: <prefix>/_runs/<specHash>/<id>.json. Drift reports
// find earlier runs of the same spec there.
func RunIndexKey(prefix, specHash, id string) string {
	return ExperimentKey(prefix, "_runs", specHash, id+".json")
}

// ExperimentKey is where an experiment's object rest lives in its bucket:
// <prefix>/<id>/<rest...> (prefix may be empty).
func ExperimentKey(prefix, id string, rest ...string) string {
	key := id
	if prefix != "" {
		key = prefix + "/" + id
	}
	for _, r := range rest {
		key += "/" + r
	}
	return key
}

// Well-known objects of an experiment, relative to ExperimentKey(prefix, id).
const (
	SpecObject           = "spec.json"
	ManifestObject       = "manifest.json"
	ReportJSONObject     = "reports/report.json"
	ReportMarkdownObject = "reports/report.md"
	ReportHTMLObject     = "reports/report.html"
	DriftJSONObject      = "reports/drift.json"
	DriftMarkdownObject  = "reports/drift.md"
	LogsDir              = "logs"
)
