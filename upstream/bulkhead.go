package upstream

import (
	"context"
	"errors"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// ErrQueueFull means too many calls were already waiting for a concurrency
// slot of this environment: the call was refused at once instead of joining
// the queue. It comes wrapped in an *Error whose Kind is ErrUnavailable.
var ErrQueueFull = errors.New("too many calls waiting for this host")

// bulkhead bounds the calls in flight to one host and the calls waiting for
// them, so that a slow or hanging host holds at most slots+maxWaiting
// goroutines of the gateway, whatever the load.
type bulkhead struct {
	sem        *semaphore.Weighted
	waiting    atomic.Int64
	maxWaiting int64
}

func newBulkhead(slots, maxWaiting int) *bulkhead {
	return &bulkhead{sem: semaphore.NewWeighted(int64(slots)), maxWaiting: int64(maxWaiting)}
}

// acquire takes a slot, waiting if the queue has room, until ctx ends.
func (b *bulkhead) acquire(ctx context.Context) error {
	if b.sem.TryAcquire(1) {
		return nil
	}
	if b.waiting.Add(1) > b.maxWaiting {
		b.waiting.Add(-1)
		return &Error{Kind: ErrUnavailable, Err: ErrQueueFull}
	}
	defer b.waiting.Add(-1)
	if err := b.sem.Acquire(ctx, 1); err != nil {
		return contextError(ctx, err)
	}
	return nil
}

func (b *bulkhead) release() { b.sem.Release(1) }

// Queued is how many calls are waiting for a concurrency slot right now.
func (c *Client) Queued() int { return int(c.slots.waiting.Load()) }
