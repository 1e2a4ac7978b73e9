// Package cache holds publish jobs between upstream calls: one interface,
// JobCache, with an in-process implementation (Memory) and a Redis one.
//
// Entries are kept past their freshness for Policy.StaleFor so that the last
// good answer can be served when the upstream fails; whether an entry is
// fresh is decided by the Policy from its state and fetch time.
package cache

import (
	"context"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// Key names one bot in one environment.
type Key struct {
	Environment string
	BotID       string
}

// Entry is a cached publish-status answer.
type Entry struct {
	// Job is the publish job; nil means the bot was never published.
	Job *upstream.Job `json:"job"`
	// FetchedAt is when the upstream answered.
	FetchedAt time.Time `json:"at"`
}

// JobCache stores entries by key. Implementations are safe for concurrent
// use. GetMany returns one slot per key, in key order, nil for a miss; a
// failing cache returns an error and callers carry on without it.
type JobCache interface {
	GetMany(ctx context.Context, keys []Key) ([]*Entry, error)
	SetMany(ctx context.Context, items []Item) error
}

// Item is a key and the entry to store under it.
type Item struct {
	Key   Key
	Entry Entry
}

// Policy holds the state-dependent lifetimes of SPEC §4.
type Policy struct {
	// TTL is how long a finished job (successful, failed) stays fresh.
	TTL time.Duration
	// InProgressTTL is how long a job still publishing stays fresh.
	InProgressTTL time.Duration
	// NotFoundTTL is how long "never published" stays fresh.
	NotFoundTTL time.Duration
	// StaleFor is how long past freshness an entry is kept to be served when
	// the upstream fails.
	StaleFor time.Duration
}

// DefaultPolicy is the SPEC's default lifetimes.
var DefaultPolicy = Policy{TTL: 30 * time.Second, InProgressTTL: 2 * time.Second, NotFoundTTL: 30 * time.Second, StaleFor: 10 * time.Minute}

// FreshFor is how long e stays fresh after it was fetched.
func (p Policy) FreshFor(e Entry) time.Duration {
	switch {
	case e.Job == nil:
		return p.NotFoundTTL
	case e.Job.Status == upstream.StateInProgress || e.Job.Status == upstream.StateUnknown:
		return p.InProgressTTL
	default:
		return p.TTL
	}
}

// RetainFor is how long e is kept at all: its freshness plus StaleFor.
func (p Policy) RetainFor(e Entry) time.Duration { return p.FreshFor(e) + p.StaleFor }

// Fresh reports whether e is still fresh at now.
func (p Policy) Fresh(e Entry, now time.Time) bool {
	return now.Sub(e.FetchedAt) < p.FreshFor(e)
}
