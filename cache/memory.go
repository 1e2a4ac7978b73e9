package cache

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process JobCache used when no Redis is configured. It
// keeps at most a bounded number of entries, dropping expired ones first.
type Memory struct {
	policy Policy
	now    func() time.Time
	max    int

	mu      sync.RWMutex
	entries map[Key]memEntry
}

type memEntry struct {
	entry   Entry
	expires time.Time
}

// MemoryOption configures a Memory cache.
type MemoryOption func(*Memory)

// WithMaxEntries bounds the number of entries (default 100,000).
func WithMaxEntries(n int) MemoryOption {
	return func(m *Memory) {
		if n > 0 {
			m.max = n
		}
	}
}

// WithClock sets the clock used for expiry.
func WithClock(now func() time.Time) MemoryOption { return func(m *Memory) { m.now = now } }

// NewMemory returns an in-process cache keeping entries for policy.RetainFor.
func NewMemory(policy Policy, opts ...MemoryOption) *Memory {
	m := &Memory{policy: policy, now: time.Now, max: 100_000, entries: make(map[Key]memEntry)}
	for _, o := range opts {
		o(m)
	}
	return m
}

// GetMany implements JobCache.
func (m *Memory) GetMany(_ context.Context, keys []Key) ([]*Entry, error) {
	now := m.now()
	out := make([]*Entry, len(keys))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, k := range keys {
		if me, ok := m.entries[k]; ok && now.Before(me.expires) {
			e := me.entry
			out[i] = &e
		}
	}
	return out, nil
}

// SetMany implements JobCache.
func (m *Memory) SetMany(_ context.Context, items []Item) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range items {
		if _, exists := m.entries[it.Key]; !exists && len(m.entries) >= m.max {
			m.evict(now)
		}
		m.entries[it.Key] = memEntry{entry: it.Entry, expires: it.Entry.FetchedAt.Add(m.policy.RetainFor(it.Entry))}
	}
	return nil
}

// evict makes room: it inspects a bounded sample of entries (map iteration
// order is random), drops the expired ones, and if none was, the one expiring
// soonest.
func (m *Memory) evict(now time.Time) {
	const sampleMax = 64
	var (
		victim  Key
		soonest time.Time
		seen    int
		dropped bool
	)
	for k, me := range m.entries {
		if !now.Before(me.expires) {
			delete(m.entries, k)
			dropped = true
		} else if seen == 0 || me.expires.Before(soonest) {
			victim, soonest = k, me.expires
		}
		if seen++; seen >= sampleMax {
			break
		}
	}
	if !dropped && seen > 0 {
		delete(m.entries, victim)
	}
}

// Len is the number of entries held, expired or not.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}
