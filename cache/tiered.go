package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// errSharedPaused is the answer of the shared cache while it is left alone
// after a failure.
var errSharedPaused = errors.New("shared cache paused after a failure")

// Tiered puts an in-process copy in front of a shared cache. Fresh local
// entries are served without a round trip; the rest are read from the shared
// cache in one batch and copied locally. When the shared cache fails (Redis
// down or slow), Tiered answers from the local copy, stops asking the shared
// cache for a short pause so that requests do not each wait for a timeout,
// and tries again afterwards: it recovers by itself.
type Tiered struct {
	local   *Memory
	shared  JobCache
	policy  Policy
	now     func() time.Time
	timeout time.Duration
	pause   time.Duration
	onError func(error)

	downUntil atomic.Int64 // unix nanoseconds
}

// TieredOption configures a Tiered cache.
type TieredOption func(*Tiered)

// WithSharedTimeout bounds every shared-cache call (default 500ms).
func WithSharedTimeout(d time.Duration) TieredOption { return func(t *Tiered) { t.timeout = d } }

// WithPause sets how long the shared cache is left alone after it failed
// (default 1s).
func WithPause(d time.Duration) TieredOption { return func(t *Tiered) { t.pause = d } }

// WithErrorHook is called with every shared-cache failure (for metrics).
func WithErrorHook(f func(error)) TieredOption { return func(t *Tiered) { t.onError = f } }

// WithTieredClock sets the clock.
func WithTieredClock(now func() time.Time) TieredOption { return func(t *Tiered) { t.now = now } }

// NewTiered returns a cache with local in front of shared.
func NewTiered(local *Memory, shared JobCache, policy Policy, opts ...TieredOption) *Tiered {
	t := &Tiered{local: local, shared: shared, policy: policy, now: time.Now, timeout: 500 * time.Millisecond, pause: time.Second}
	for _, o := range opts {
		o(t)
	}
	return t
}

// SharedHealthy reports whether the shared cache answered its last call.
func (t *Tiered) SharedHealthy() bool { return !t.down() }

func (t *Tiered) down() bool { return time.Now().UnixNano() < t.downUntil.Load() }

func (t *Tiered) fail(err error) {
	t.downUntil.Store(time.Now().Add(t.pause).UnixNano())
	if t.onError != nil {
		t.onError(err)
	}
}

// GetMany implements JobCache. It never returns an error: a failing shared
// cache degrades to the local copy.
func (t *Tiered) GetMany(ctx context.Context, keys []Key) ([]*Entry, error) {
	out, _ := t.local.GetMany(ctx, keys)
	now := t.now()
	var need []int
	for i, e := range out {
		if e == nil || !t.policy.Fresh(*e, now) {
			need = append(need, i)
		}
	}
	if len(need) == 0 || t.down() {
		return out, nil
	}
	sub := make([]Key, len(need))
	for j, i := range need {
		sub[j] = keys[i]
	}
	sctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	shared, err := t.shared.GetMany(sctx, sub)
	if err != nil {
		if ctx.Err() == nil { // the caller's own deadline is not the cache's fault
			t.fail(err)
		}
		return out, nil
	}
	var copyLocal []Item
	for j, i := range need {
		s := shared[j]
		if s == nil || (out[i] != nil && !s.FetchedAt.After(out[i].FetchedAt)) {
			continue
		}
		out[i] = s
		copyLocal = append(copyLocal, Item{Key: keys[i], Entry: *s})
	}
	_ = t.local.SetMany(ctx, copyLocal)
	return out, nil
}

// SetMany implements JobCache: always locally, and in the shared cache unless
// it is paused after a failure.
func (t *Tiered) SetMany(ctx context.Context, items []Item) error {
	_ = t.local.SetMany(ctx, items)
	if t.down() {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	if err := t.shared.SetMany(sctx, items); err != nil {
		t.fail(err)
	}
	return nil
}

// SetLocal stores items in the in-process copy only: the batch step of the
// loader writes what it fetched there at once and to Redis with the rest of
// its batch (Coordinator.Finish).
func (t *Tiered) SetLocal(ctx context.Context, items []Item) error {
	return t.local.SetMany(ctx, items)
}

// GetShared reads keys from the shared cache only, bypassing the local copy
// (used while waiting for another replica to fill a key).
func (t *Tiered) GetShared(ctx context.Context, keys []Key) ([]*Entry, error) {
	if t.down() {
		return nil, errSharedPaused
	}
	sctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.shared.GetMany(sctx, keys)
}
