// Package lease owns publishgate's Redis leases: keys that elect one replica
// for a piece of work. A replica takes a lease with SET NX PX and a random
// token, renews it by compare-and-PEXPIRE and releases it by
// compare-and-DEL, so that a holder whose lease expired (a pause, a
// partition) never renews or deletes its successor's.
//
// A Lease is one key: the watcher's per-environment lease, discovery's
// listing lock. A Batch holds many keys that share nothing (the live
// pollers' shards) with one pipelined round trip, per Cluster node, however
// many there are. The cache's fill locks are taken in the cache's own
// pipelines, with NewToken and ReleaseMany from here.
//
// Which keys exist is not decided here: internal/keyspace names them.
package lease

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewToken returns a fresh holder token: 128 random bits (crypto/rand.Text),
// so that no two holders (replicas, or one replica's successive leases)
// ever share one.
func NewToken() string { return rand.Text() }

// ReleaseMany deletes each of KEYS that still holds its token (ARGV[i] for
// KEYS[i]) and returns how many it deleted. The keys must share one slot
// (one hash tag) in a Cluster: the cache's batch step releases the fill
// locks of one script group (an environment; on a Cluster, one bucket) with
// one call. In a pipeline, send it with
// internal/script (EVALSHA, then EVAL where the answer is NOSCRIPT).
var ReleaseMany = redis.NewScript(`
local n = 0
for i, k in ipairs(KEYS) do
	if redis.call("GET", k) == ARGV[i] then n = n + redis.call("DEL", k) end
end
return n`)

// The scripts of one key, KEYS[1], held with the token ARGV[1]. Each
// answers 1 when it did what it is named for, else 0.
var (
	// renew sets the lifetime to ARGV[2] ms if the key still holds the token.
	renew = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	// release deletes the key if it still holds the token.
	release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	// hold renews the key if it holds the token, or takes it for ARGV[2] ms
	// if nobody holds it: Hold in one command.
	hold = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
if not v then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0`)
)

// Option configures a Lease or a Batch.
type Option func(*settings)

type settings struct{ token string }

// WithToken makes token the holder's value instead of a fresh NewToken: a
// live hub's leases carry its ID, which its messages carry too. It must be
// as unguessable and as unique as NewToken's.
func WithToken(token string) Option { return func(s *settings) { s.token = token } }

func apply(opts []Option) settings {
	s := settings{}
	for _, o := range opts {
		o(&s)
	}
	if s.token == "" {
		s.token = NewToken()
	}
	return s
}

// Lease is one Redis key held with a token for ttl at a time. Its methods
// may be called from any goroutine; Held reports the last answer Redis gave.
type Lease struct {
	c     redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
	held  atomic.Bool
}

// New returns the lease on key, held ttl at a time; nothing is sent yet.
func New(c redis.UniversalClient, key string, ttl time.Duration, opts ...Option) *Lease {
	return &Lease{c: c, key: key, token: apply(opts).token, ttl: ttl}
}

// Key is the lease's Redis key.
func (l *Lease) Key() string { return l.key }

// Token is the value the lease holds while this holder has it.
func (l *Lease) Token() string { return l.token }

// Held reports whether the last answer from Redis left this holder with the
// lease: true after a TryAcquire, Renew, Extend or Hold that succeeded, false
// after one that did not (a TryAcquire refused because this holder had it
// already included) and after Release. An error leaves it as it was.
func (l *Lease) Held() bool { return l.held.Load() }

// TryAcquire takes the lease if nobody holds it (SET NX PX) and reports
// whether it did. It does not renew a lease this holder has: Hold does.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	ok, err := l.c.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", l.key, err)
	}
	l.held.Store(ok)
	return ok, nil
}

// Renew makes the lease last ttl from now if this holder still has it, and
// reports whether it did: false when it expired (and perhaps was taken).
func (l *Lease) Renew(ctx context.Context) (bool, error) { return l.Extend(ctx, l.ttl) }

// Extend is Renew for d instead of the lease's ttl (a listing lock kept
// after a failure, so that nobody retries at once).
func (l *Lease) Extend(ctx context.Context, d time.Duration) (bool, error) {
	ok, err := l.run(ctx, renew, d)
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	l.held.Store(ok)
	return ok, nil
}

// Release deletes the lease if this holder still has it, and reports
// whether it did.
func (l *Lease) Release(ctx context.Context) (bool, error) {
	ok, err := l.run(ctx, release)
	if err != nil {
		return false, fmt.Errorf("release lease %s: %w", l.key, err)
	}
	l.held.Store(false)
	return ok, nil
}

// Hold renews the lease if this holder has it, or takes it if nobody does
// (one script, one round trip), and reports whether this holder leads now.
// On an error it reports false and Held keeps the last answer: whether to
// act as the leader without Redis is the caller's choice.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	ok, err := l.run(ctx, hold, l.ttl)
	if err != nil {
		return false, fmt.Errorf("hold lease %s: %w", l.key, err)
	}
	l.held.Store(ok)
	return ok, nil
}

// run runs s on the lease's key with its token (and d in milliseconds).
func (l *Lease) run(ctx context.Context, s *redis.Script, d ...time.Duration) (bool, error) {
	args := []any{l.token}
	if len(d) > 0 {
		args = append(args, millis(d[0]))
	}
	n, err := s.Run(ctx, l.c, []string{l.key}, args...).Int()
	return n == 1, err
}

// millis is d in whole milliseconds, at least one: PEXPIRE 0 would delete
// the key, and SET PX 0 is an error.
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
