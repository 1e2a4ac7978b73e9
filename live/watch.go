package live

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// watch is the poll loop of one bot on this replica.
type watch struct {
	h      *Hub
	key    Key
	subs   map[sink]struct{} // guarded by h.mu
	cancel context.CancelFunc

	// pending is the latest job heard of outside the loop (another replica,
	// publishBot); only the latest matters.
	mu      sync.Mutex
	pending *loader.Outcome
	wake    chan struct{}

	last     string // fingerprint of the last job passed on
	hasLast  bool
	inFlight bool // the last job was publishing
}

// startWatch starts the watch of k; h.mu must be held.
func (h *Hub) startWatch(k Key) *watch {
	ctx, cancel := context.WithCancel(h.ctx)
	w := &watch{h: h, key: k, subs: map[sink]struct{}{}, cancel: cancel, wake: make(chan struct{}, 1)}
	h.watches[k] = w
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		w.run(ctx)
	}()
	return w
}

// offer hands the loop a job heard of elsewhere.
func (w *watch) offer(o loader.Outcome) {
	w.mu.Lock()
	w.pending = &o
	w.mu.Unlock()
	w.nudge()
}

// nudge wakes the loop: a job was offered, or its shard became led here.
func (w *watch) nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run polls while this replica leads the bot's shard (always, without
// Redis), and otherwise relays what the leader publishes and waits to be
// told the shard is led here (shards holds the leases).
func (w *watch) run(ctx context.Context) {
	h := w.h
	var sh *shard // nil without Redis: always leading
	if h.shards != nil {
		sh = h.shards.join(ctx, w)
		defer h.shards.leave(sh, w)
	}
	nextPoll := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			w.mu.Lock()
			o := w.pending
			w.pending = nil
			w.mu.Unlock()
			if o != nil && w.observe(*o) && w.inFlight {
				// Something moved: poll at the fast cadence from now.
				nextPoll = minTime(nextPoll, time.Now().Add(h.opts.InProgressEvery))
			}
		case <-t.C:
		}
		if sh != nil && !sh.leading.Load() {
			t.Stop() // a follower wakes for a job or the lead, not a poll
			continue
		}
		if !time.Now().Before(nextPoll) {
			// Refresh: the leader's poll is the one upstream read of this
			// bot per interval (still coalesced, budgeted and cached),
			// unless someone else read it within the last half interval.
			o, at, recent := w.recent(ctx)
			if !recent {
				o = h.src.Load(ctx, []loader.Key{{Environment: w.key.Environment, BotID: w.key.BotID, Refresh: true}})[0]
				at = time.Now()
			}
			if ctx.Err() != nil {
				return
			}
			if w.observe(o) && o.Err == nil && h.ps != nil {
				h.ps.publish(ctx, w.key, o.Result)
			}
			nextPoll = at.Add(w.every())
		}
		// Since Go 1.23 Reset needs no drain: no stale tick is received.
		t.Reset(max(time.Until(nextPoll), 0))
	}
}

// every is the poll interval at the bot's state.
func (w *watch) every() time.Duration {
	if w.inFlight {
		return w.h.opts.InProgressEvery
	}
	return w.h.opts.IdleEvery
}

// recent returns the cached answer when someone else fetched the bot within
// the last half interval, with when it was fetched.
func (w *watch) recent(ctx context.Context) (loader.Outcome, time.Time, bool) {
	if w.h.opts.Cache == nil {
		return loader.Outcome{}, time.Time{}, false
	}
	es, err := w.h.opts.Cache.GetMany(ctx, []cache.Key{{Environment: w.key.Environment, BotID: w.key.BotID}})
	if err != nil || len(es) == 0 || es[0] == nil {
		return loader.Outcome{}, time.Time{}, false
	}
	e := es[0]
	if time.Since(e.FetchedAt) >= w.every()/2 {
		return loader.Outcome{}, time.Time{}, false
	}
	return loader.Outcome{Result: loader.Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true}}, e.FetchedAt, true
}

// observe passes o to the subscribers if it differs from the last job
// passed on, and reports whether it did.
func (w *watch) observe(o loader.Outcome) bool {
	fp := fingerprint(o)
	if w.hasLast && fp == w.last {
		return false
	}
	if o.Err != nil && w.hasLast && !strings.HasPrefix(w.last, "error") {
		// A failed poll after a good one: keep quiet and keep the job; the
		// answers are stale, not changed.
		return false
	}
	w.last, w.hasLast = fp, true
	w.inFlight = o.Err == nil && o.Result.Job != nil && o.Result.Job.Status == upstream.StateInProgress
	h := w.h
	h.mu.Lock()
	subs := make([]sink, 0, len(w.subs))
	for s := range w.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	ev := Event{Key: w.key, Outcome: o}
	for _, s := range subs {
		s.deliver(ev, false)
	}
	return true
}

// fingerprint is what makes two answers the same to a subscriber: the job,
// its status, percentage and resource statuses. Freshness is not a change.
func fingerprint(o loader.Outcome) string {
	if o.Err != nil {
		return "error"
	}
	j := o.Result.Job
	if j == nil {
		return "none"
	}
	var b strings.Builder
	b.WriteString(j.ID)
	b.WriteByte('|')
	b.WriteString(j.RawStatus)
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(j.PercentageComplete))
	for _, r := range j.StatusSummary {
		b.WriteByte('|')
		b.WriteString(r.ResourceID)
		b.WriteByte('=')
		b.WriteString(r.RawStatus)
	}
	return b.String()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
