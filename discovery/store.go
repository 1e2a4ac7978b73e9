package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/lease"
	"github.com/publishgate/publishgate/upstream"
)

// List is a bot list as it is shared: what Kore.ai listed (ID, name and
// status only; upstream.ListedBot has no room for anything else) and when.
type List struct {
	FetchedAt time.Time            `json:"fetchedAt"`
	Bots      []upstream.ListedBot `json:"bots"`
}

// store is where a list is shared between replicas, and the lock that makes
// one replica list the bots for all.
type store interface {
	// load returns the shared list, nil when there is none.
	load(ctx context.Context) (*List, error)
	// save shares l for keep.
	save(ctx context.Context, l *List, keep time.Duration) error
	// lock tries to become the one replica listing the bots, for at most
	// ttl; ok is false when another holds the lock. unlock releases it, or
	// with holdFor > 0 keeps it that much longer (after a failed listing,
	// so that the other replicas do not each try again at once).
	lock(ctx context.Context, ttl time.Duration) (unlock func(holdFor time.Duration), ok bool, err error)
}

// memoryStore is the in-process store: one process, nothing to share, no
// one to wait for.
type memoryStore struct {
	mu   sync.Mutex
	list *List
}

func (m *memoryStore) load(context.Context) (*List, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list, nil
}

func (m *memoryStore) save(_ context.Context, l *List, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = l
	return nil
}

func (m *memoryStore) lock(context.Context, time.Duration) (func(time.Duration), bool, error) {
	return func(time.Duration) {}, true, nil
}

// redisStore shares the list of one environment through Redis.
type redisStore struct {
	c   redis.UniversalClient
	env string
}

func (r *redisStore) load(ctx context.Context) (*List, error) {
	raw, err := r.c.Get(ctx, keyspace.BotList(r.env)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read shared bot list: %w", err)
	}
	var l List
	if err := json.Unmarshal(raw, &l); err != nil {
		// Not ours (or from another version): as good as none.
		return nil, nil
	}
	return &l, nil
}

func (r *redisStore) save(ctx context.Context, l *List, keep time.Duration) error {
	raw, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode bot list: %w", err)
	}
	if err := r.c.Set(ctx, keyspace.BotList(r.env), raw, keep).Err(); err != nil {
		return fmt.Errorf("share bot list: %w", err)
	}
	return nil
}

// lock takes keyspace.BotListLock with a fresh token, so that a replica
// whose lock expired mid-listing never releases or extends the next one's.
func (r *redisStore) lock(ctx context.Context, ttl time.Duration) (func(time.Duration), bool, error) {
	l := lease.New(r.c, keyspace.BotListLock(r.env), ttl)
	ok, err := l.TryAcquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("take bot list lock: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return func(holdFor time.Duration) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if holdFor > 0 {
			_, _ = l.Extend(ctx, holdFor)
			return
		}
		_, _ = l.Release(ctx)
	}, true, nil
}
