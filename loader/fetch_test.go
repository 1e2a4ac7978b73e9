package loader

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// countingFetcher answers job "ds-new" and counts its calls.
type countingFetcher struct {
	mu    sync.Mutex
	calls int
}

func (f *countingFetcher) PublishStatus(context.Context, string) (*upstream.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return &upstream.Job{ID: "ds-new", Status: upstream.StateInProgress, RawStatus: "inprogress"}, nil
}

// TestARefreshDoesNotTakeACallFromBeforeIt: a refresh that finds a call for
// its bot in flight, started before the refresh was asked for (a poller's,
// say, sent before a publish), waits for it and asks again, so that it sees
// what Kore.ai says after it was asked; a plain miss takes the call in
// flight. The call in flight is registered first and released only once
// the caller waits for it: the join is certain, not a matter of timing.
func TestARefreshDoesNotTakeACallFromBeforeIt(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	asked := t0.Add(time.Second)
	tests := []struct {
		name      string
		notBefore time.Time
		wantJob   string
		wantCalls int
	}{
		{name: "a refresh asks again", notBefore: asked, wantJob: "ds-new", wantCalls: 1},
		{name: "a miss takes the call in flight", wantJob: "ds-old", wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := cache.Policy{TTL: time.Minute, InProgressTTL: time.Minute, NotFoundTTL: time.Minute, StaleFor: time.Minute}
			f := &countingFetcher{}
			s := NewSource(cache.NewMemory(policy), policy, map[string]Fetcher{"e": f}, WithClock(func() time.Time { return asked }))
			defer s.Close()
			k := cache.Key{Environment: "e", BotID: "b"}
			early := &flight{key: k, started: t0, done: make(chan struct{})}
			s.flights[k] = early
			var once sync.Once
			s.testHookWaiting = func() {
				once.Do(func() {
					s.mu.Lock()
					delete(s.flights, k)
					s.mu.Unlock()
					early.resolve(fetchResult{job: &upstream.Job{ID: "ds-old"}, at: t0})
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			key := Key{Environment: "e", BotID: "b", Refresh: !tt.notBefore.IsZero()}
			r := s.fetchAll(ctx, []Key{key}, func(Key) time.Time { return tt.notBefore })[key]
			if r.err != nil || r.job == nil || r.job.ID != tt.wantJob {
				t.Fatalf("got %+v, want job %s", r, tt.wantJob)
			}
			if f.calls != tt.wantCalls {
				t.Fatalf("%d upstream calls, want %d", f.calls, tt.wantCalls)
			}
		})
	}
}
