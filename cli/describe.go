package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// experimentInfo is what grlctl reads about an experiment from Temporal:
// from DescribeWorkflow or from a ListWorkflow row.
type experimentInfo struct {
	ID, RunID, Type string
	// Status is statusName's name for the execution status.
	Status  string
	Running bool
	// Memo holds the memo's string values (api.Memo* keys).
	Memo map[string]string
	// Stage is the GrlStage search attribute, empty when not set.
	Stage        string
	Start, Close time.Time
}

func experimentFromInfo(info *workflowpb.WorkflowExecutionInfo) experimentInfo {
	e := experimentInfo{
		ID:      info.GetExecution().GetWorkflowId(),
		RunID:   info.GetExecution().GetRunId(),
		Type:    info.GetType().GetName(),
		Status:  statusName(info.GetStatus()),
		Running: info.GetCloseTime() == nil,
		Memo:    memoStrings(info.GetMemo()),
		Stage:   keywordAttr(info.GetSearchAttributes(), api.SearchAttrStage),
	}
	if t := info.GetStartTime(); t != nil {
		e.Start = t.AsTime()
	}
	if t := info.GetCloseTime(); t != nil {
		e.Close = t.AsTime()
	}
	return e
}

// describeExperiment describes the latest run of workflow id. An unknown
// id is a usage error (exit 2), as for grlctl status.
func describeExperiment(ctx context.Context, c client.Client, id string) (experimentInfo, error) {
	desc, err := c.DescribeWorkflow(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return experimentInfo{}, fmt.Errorf("%w: no experiment %q", ErrUsage, id)
	}
	if err != nil {
		return experimentInfo{}, fmt.Errorf("describe experiment %q: %w", id, err)
	}
	return experimentFromInfo(desc.RawResponse.GetWorkflowExecutionInfo()), nil
}

// storage returns where the experiment keeps its objects, from its memo.
func (e experimentInfo) storage() (bucket, prefix string, err error) {
	bucket, ok := e.Memo[api.MemoBucket]
	if !ok || bucket == "" {
		if e.Type != api.ExperimentWorkflowName {
			return "", "", fmt.Errorf("%w: %q is a %s, not an experiment (%s)", ErrUsage, e.ID, e.Type, api.ExperimentWorkflowName)
		}
		return "", "", fmt.Errorf("experiment %q has no %q in its memo; was it started by an older grlctl?", e.ID, api.MemoBucket)
	}
	return bucket, e.Memo[api.MemoPrefix], nil
}

// memoStrings decodes the memo's string values; others are skipped.
func memoStrings(m *commonpb.Memo) map[string]string {
	out := map[string]string{}
	dc := converter.GetDefaultDataConverter()
	for k, p := range m.GetFields() {
		var s string
		if dc.FromPayload(p, &s) == nil {
			out[k] = s
		}
	}
	return out
}

// keywordAttr decodes the Keyword search attribute name, or returns "".
func keywordAttr(sa *commonpb.SearchAttributes, name string) string {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var s string
	if converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}
