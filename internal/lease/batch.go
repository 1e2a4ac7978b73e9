package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/script"
)

// Batch holds many leases that share nothing but their holder (one token)
// and ttl: the shards of a live hub. Hold acquires or renews all of them
// with one pipelined round trip, where a Lease each would cost one round
// trip per key. The keys may fall in any slots: a Cluster client sends the
// pipeline to each node in one round trip. A Batch keeps no state besides
// its token, so one may be shared by any number of goroutines.
type Batch struct {
	c     redis.UniversalClient
	token string
	ttl   time.Duration
}

// NewBatch returns a batch of leases held ttl at a time.
func NewBatch(c redis.UniversalClient, ttl time.Duration, opts ...Option) *Batch {
	return &Batch{c: c, token: apply(opts).token, ttl: ttl}
}

// Token is the value the batch's leases hold while this holder has them.
func (b *Batch) Token() string { return b.token }

// Result is one key's answer to Hold.
type Result struct {
	// Held reports whether this holder has the lease now (false with Err).
	Held bool
	// Err is why Redis gave no answer for the key.
	Err error
}

// Hold renews each of keys that this holder has and takes each that nobody
// does, in one round trip, and returns exactly len(keys) results in key
// order. A key whose node failed has its error and does not fail the
// others. Only when Redis lost the script (a restart, a failover) does a
// second round trip resend it.
func (b *Batch) Hold(ctx context.Context, keys []string) []Result {
	cmds := b.runAll(ctx, hold, keys, millis(b.ttl))
	out := make([]Result, len(keys))
	for i, cmd := range cmds {
		n, err := cmd.Int()
		if err != nil {
			out[i].Err = fmt.Errorf("hold lease %s: %w", keys[i], err)
			continue
		}
		out[i].Held = n == 1
	}
	return out
}

// Release deletes each of keys that this holder still has, in one round
// trip. It returns the error of the first key that failed; the others were
// released all the same.
func (b *Batch) Release(ctx context.Context, keys []string) error {
	for i, cmd := range b.runAll(ctx, release, keys) {
		if err := cmd.Err(); err != nil {
			return fmt.Errorf("release lease %s: %w", keys[i], err)
		}
	}
	return nil
}

// runAll runs s once per key (KEYS[1] = the key, ARGV = the token, then
// args) in one pipeline, resending only the calls that answered NOSCRIPT;
// each command carries its own error.
func (b *Batch) runAll(ctx context.Context, s *redis.Script, keys []string, args ...any) []*redis.Cmd {
	argv := append([]any{b.token}, args...)
	calls := make([]script.Call, len(keys))
	for i, k := range keys {
		calls[i] = script.Call{Keys: []string{k}, Args: argv}
	}
	cmds, _ := script.Run(ctx, b.c, s, calls) // a failed pipeline sets every command's error
	return cmds
}
