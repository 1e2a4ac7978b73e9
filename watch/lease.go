package watch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/lease"
)

// election makes one replica the poller of an environment: it holds the
// environment's lease (keyspace.WatchLease) every ttl/3 and releases it when
// it stops. Without Redis the process always leads.
type election struct {
	l   *lease.Lease // nil: always leading
	ttl time.Duration

	leading atomic.Bool
	changed chan struct{} // a value when leadership was gained
}

func newElection(c redis.UniversalClient, env string, ttl time.Duration) *election {
	e := &election{ttl: ttl, changed: make(chan struct{}, 1)}
	if c == nil {
		e.leading.Store(true)
		return e
	}
	e.l = lease.New(c, keyspace.WatchLease(env), ttl)
	return e
}

// run holds (or tries for) the lease every ttl/3 until ctx ends, then
// releases it if held.
func (e *election) run(ctx context.Context, onChange func(leading bool)) {
	if e.l == nil {
		return
	}
	t := time.NewTicker(e.ttl / 3)
	defer t.Stop()
	for {
		e.set(e.hold(ctx), onChange)
		select {
		case <-ctx.Done():
			if e.leading.Load() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_, _ = e.l.Release(rctx)
				cancel()
				e.set(false, onChange)
			}
			return
		case <-t.C:
		}
	}
}

func (e *election) set(leading bool, onChange func(bool)) {
	if e.leading.Swap(leading) == leading {
		return
	}
	if onChange != nil {
		onChange(leading)
	}
	if leading {
		select {
		case e.changed <- struct{}{}:
		default:
		}
	}
}

// hold renews the lease when held, or tries to take it, and reports whether
// this replica leads now. Without an answer from Redis a leader keeps
// polling (a duplicate poll is better than none) and a follower waits.
func (e *election) hold(ctx context.Context) bool {
	ok, err := e.l.Hold(ctx)
	if err != nil {
		return e.leading.Load() && ctx.Err() == nil
	}
	return ok
}
