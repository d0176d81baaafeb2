package activities

import (
	"context"
	"testing"
	"time"
)

// TestKeepAliveRepeatsTheLatestDetailsWhileTheWorkIsSilentAndStopsWhenAsked
// checks what keeps a slow training update from losing its attempt: the
// latest details are heartbeated again while nothing new is reported, and
// nothing is heartbeated after stop.
func TestKeepAliveRepeatsTheLatestDetailsWhileTheWorkIsSilentAndStopsWhenAsked(t *testing.T) {
	beats := make(chan any, 100)
	ctx := WithStageReporter(context.Background(), StageReporter{Progress: func(d any) { beats <- d }})
	report, stop := keepAlive(ctx, 5*time.Millisecond, "start")
	if got := <-beats; got != "start" {
		t.Fatalf("first heartbeat %v, want the initial details", got)
	}
	report("rollout 1")
	// Ticks that fired before the report may still repeat the initial
	// details; after it, only the latest details are repeated.
	got := <-beats
	for got == "start" {
		got = <-beats
	}
	if got != "rollout 1" {
		t.Fatalf("a report heartbeated %v, want its details", got)
	}
	if got := <-beats; got != "rollout 1" {
		t.Fatalf("repeated heartbeat %v, want the latest details", got)
	}
	stop()
	stop() // stopping twice is harmless
	for len(beats) > 0 {
		<-beats
	}
	time.Sleep(30 * time.Millisecond)
	if n := len(beats); n != 0 {
		t.Errorf("%d heartbeats after stop, want none", n)
	}
}
