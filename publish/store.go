package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/upstream"
)

// Answer is what an idempotency key holds: nothing yet (Pending, while the
// first request is still publishing) or the first request's answer.
type Answer struct {
	Pending     bool          `json:"pending,omitempty"`
	Environment string        `json:"environment,omitempty"`
	BotID       string        `json:"botId,omitempty"`
	Job         *upstream.Job `json:"job,omitempty"`
	FetchedAt   time.Time     `json:"fetchedAt,omitzero"`
}

// Store keeps idempotency keys. Claim reserves a key for the caller
// (claimed true) or returns what another request stored under it; Complete
// stores the answer; Abandon frees the key after a failure so a retry may
// publish.
type Store interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (a Answer, claimed bool, err error)
	Complete(ctx context.Context, key string, a Answer, ttl time.Duration) error
	Abandon(ctx context.Context, key string) error
}

// NewMemoryStore returns an in-process store (a gateway without Redis).
func NewMemoryStore(now func() time.Time) Store {
	if now == nil {
		now = time.Now
	}
	return &memoryStore{now: now, m: map[string]memoryEntry{}}
}

type memoryEntry struct {
	a       Answer
	expires time.Time
}

type memoryStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]memoryEntry
}

func (s *memoryStore) Claim(_ context.Context, key string, ttl time.Duration) (Answer, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, e := range s.m { // bounded by the keys of the last ttl
		if !now.Before(e.expires) {
			delete(s.m, k)
		}
	}
	if e, ok := s.m[key]; ok {
		return e.a, false, nil
	}
	s.m[key] = memoryEntry{a: Answer{Pending: true}, expires: now.Add(ttl)}
	return Answer{}, true, nil
}

func (s *memoryStore) Complete(_ context.Context, key string, a Answer, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = memoryEntry{a: a, expires: s.now().Add(ttl)}
	return nil
}

func (s *memoryStore) Abandon(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// NewRedisStore returns a store shared by every replica: SET NX claims a
// key, so two replicas receiving the same double click publish once. Every
// command names one key (keyspace.Idempotency), so it works alike on one
// node, Sentinel or a Cluster.
func NewRedisStore(client redis.UniversalClient) Store { return redisStore{client} }

type redisStore struct{ c redis.UniversalClient }

var pending = []byte(`{"pending":true}`)

func (s redisStore) Claim(ctx context.Context, key string, ttl time.Duration) (Answer, bool, error) {
	for range 3 {
		ok, err := s.c.SetNX(ctx, keyspace.Idempotency(key), pending, ttl).Result()
		if err != nil {
			return Answer{}, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		if ok {
			return Answer{}, true, nil
		}
		raw, err := s.c.Get(ctx, keyspace.Idempotency(key)).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // freed between the two calls: claim again
		}
		if err != nil {
			return Answer{}, false, fmt.Errorf("read idempotency key: %w", err)
		}
		var a Answer
		if err := json.Unmarshal(raw, &a); err != nil {
			return Answer{}, false, fmt.Errorf("decode idempotency key: %w", err)
		}
		return a, false, nil
	}
	return Answer{Pending: true}, false, nil
}

func (s redisStore) Complete(ctx context.Context, key string, a Answer, ttl time.Duration) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.c.Set(ctx, keyspace.Idempotency(key), raw, ttl).Err()
}

func (s redisStore) Abandon(ctx context.Context, key string) error {
	return s.c.Del(ctx, keyspace.Idempotency(key)).Err()
}
