package api

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestStageRunCountsFollowCountedStageNames: Add, ByStage and the JSON keys use
// the stage names, in CountedStageNames order.
func TestStageRunCountsFollowCountedStageNames(t *testing.T) {
	var c StageRunCounts
	for i, stage := range CountedStageNames {
		for range i + 1 {
			c.Add(stage, false)
		}
		c.Add(stage, true)
	}
	c.Add("cleanup", true) // not a stage that runs outside the worker
	for i, r := range c.ByStage() {
		if r != (StageRuns{Ran: i + 1, Cached: 1}) {
			t.Errorf("stage %s: %+v, want %d ran and 1 cached", CountedStageNames[i], r, i+1)
		}
	}
	if got := c.Total(); got != (StageRuns{Ran: 15, Cached: 5}) {
		t.Errorf("total %+v", got)
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var byName map[string]StageRuns
	if err := json.Unmarshal(data, &byName); err != nil {
		t.Fatal(err)
	}
	for i, stage := range CountedStageNames {
		if byName[stage] != c.ByStage()[i] {
			t.Errorf("JSON %s: %+v, want %+v", stage, byName[stage], c.ByStage()[i])
		}
	}
	if len(byName) != len(CountedStageNames) {
		t.Errorf("JSON keys %v, want %v", slices.Sorted(maps.Keys(byName)), CountedStageNames)
	}
}

// TestStageCacheIsOmittedWhenFalse: a stage's stored output, written by
// the run that did the work, carries no cached key, and a cached result's
// JSON says so at the result's top level.
func TestStageCacheIsOmittedWhenFalse(t *testing.T) {
	ran, _ := json.Marshal(WarmUpResult{Steps: 4})
	if string(ran) != `{"steps":4,"latencyP95Ms":0}` {
		t.Errorf("ran: %s", ran)
	}
	r := WarmUpResult{Steps: 4}
	r.MarkCached()
	cached, _ := json.Marshal(r)
	if string(cached) != `{"steps":4,"latencyP95Ms":0,"cached":true}` {
		t.Errorf("cached: %s", cached)
	}
}
