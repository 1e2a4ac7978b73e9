package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/redislock"
)

// Redis names of the fill coordination.
const (
	// LockPrefix namespaces the fill locks.
	LockPrefix = "publishgate:v1:fill:"
	// FilledChannel is where the holder of a fill lock announces its result.
	FilledChannel = "publishgate:v1:filled"
)

var errSharedPaused = errors.New("shared cache paused after a failure")

// ErrFillFailed means the replica holding the fill lock could not fetch the
// value; Reason is what it reported.
type ErrFillFailed struct{ Reason string }

// Error implements error.
func (e *ErrFillFailed) Error() string { return "another replica's fetch failed: " + e.Reason }

// Filler lets one replica fetch a key from the upstream while the others
// wait for its result, so that a herd of replicas missing the same bot makes
// one upstream request.
type Filler interface {
	// Acquire tries to become the one filling k. When acquired, the caller
	// fetches, writes the value to the cache, then calls done with the entry
	// (or with the reason it failed). When another replica wrote an entry
	// fetched after since in the meantime, Acquire returns it instead.
	Acquire(ctx context.Context, k Key, since time.Time) (done func(e *Entry, failure string), fresh *Entry, acquired bool, err error)
	// Await waits for the holder's result: an entry fetched after since, or
	// *ErrFillFailed. It returns nil, nil when the holder went away without
	// a word (the caller then fetches itself).
	Await(ctx context.Context, k Key, since time.Time) (*Entry, error)
}

// RedisFiller is a Filler built on short Redis locks (SET NX PX with a random
// token, released by a compare-and-delete script so that a slow holder never
// deletes a successor's lock) and one pub/sub subscription per process on
// which holders announce results, so waiters need no polling. A waiter also
// checks, every check interval, that the lock still exists, so a holder that
// died is noticed before its lock expires.
type RedisFiller struct {
	client redis.UniversalClient
	cache  *Tiered
	ttl    time.Duration
	check  time.Duration
	log    *slog.Logger

	startOnce sync.Once
	sub       *redis.PubSub
	mu        sync.Mutex
	waiters   map[string][]chan fillNotice
	closed    chan struct{}
	wg        sync.WaitGroup
}

type fillNotice struct {
	Key     string `json:"k"`
	Entry   *Entry `json:"e,omitempty"`
	Failure string `json:"f,omitempty"`
}

// noticeHead is a fillNotice with its entry left encoded: every replica
// hears every fill, and decodes the entry only when it waits for that key.
type noticeHead struct {
	Key     string          `json:"k"`
	Entry   json.RawMessage `json:"e,omitempty"`
	Failure string          `json:"f,omitempty"`
}

// notice decodes the entry of h.
func (h noticeHead) notice() fillNotice {
	n := fillNotice{Key: h.Key, Failure: h.Failure}
	if len(h.Entry) > 0 && string(h.Entry) != "null" {
		var e Entry
		if json.Unmarshal(h.Entry, &e) == nil {
			n.Entry = &e
		}
	}
	return n
}

// NewRedisFiller returns a filler whose locks live ttl (they expire by
// themselves if their holder dies). Close stops its subscription.
func NewRedisFiller(client redis.UniversalClient, c *Tiered, ttl time.Duration, logger *slog.Logger) *RedisFiller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RedisFiller{
		client: client, cache: c, ttl: ttl, check: 250 * time.Millisecond,
		log: logger.With("component", "fill"), waiters: map[string][]chan fillNotice{}, closed: make(chan struct{}),
	}
}

func lockKey(k Key) string { return LockPrefix + "{" + k.Environment + "}:" + k.BotID }

// start subscribes once, on first use.
func (f *RedisFiller) start() {
	f.startOnce.Do(func() {
		f.sub = f.client.Subscribe(context.Background(), FilledChannel)
		ch := f.sub.Channel()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				select {
				case <-f.closed:
					return
				case m, ok := <-ch:
					if !ok {
						return
					}
					var h noticeHead
					if json.Unmarshal([]byte(m.Payload), &h) != nil {
						continue
					}
					f.mu.Lock()
					ws := f.waiters[h.Key]
					delete(f.waiters, h.Key)
					f.mu.Unlock()
					if len(ws) == 0 {
						continue
					}
					n := h.notice()
					for _, w := range ws {
						w <- n
					}
				}
			}
		}()
	})
}

// Close stops the subscription.
func (f *RedisFiller) Close() error {
	select {
	case <-f.closed:
		return nil
	default:
	}
	close(f.closed)
	var err error
	if f.sub != nil {
		err = f.sub.Close()
	}
	f.wg.Wait()
	return err
}

// Acquire implements Filler. The lock and a read of the value go out in
// one round trip: a replica that decided to fetch after another had just
// finished finds the value and fetches nothing (double-checked locking).
func (f *RedisFiller) Acquire(ctx context.Context, k Key, since time.Time) (func(*Entry, string), *Entry, bool, error) {
	if !f.cache.SharedHealthy() {
		return nil, nil, false, errSharedPaused
	}
	token := redislock.NewToken()
	pipe := f.client.Pipeline()
	get := pipe.Get(ctx, RedisKey(k))
	set := pipe.SetNX(ctx, lockKey(k), token, f.ttl)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, false, fmt.Errorf("fill lock: %w", err)
	}
	ok := set.Val()
	if raw, err := get.Bytes(); err == nil && fetchedAfter(raw, since) {
		var e Entry
		if json.Unmarshal(raw, &e) == nil && e.FetchedAt.After(since) {
			if ok {
				_ = redislock.Release.Run(ctx, f.client, []string{lockKey(k)}, token).Err()
			}
			return nil, &e, false, nil
		}
	}
	if !ok {
		return nil, nil, false, nil
	}
	done := func(e *Entry, failure string) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		payload, _ := json.Marshal(fillNotice{Key: lockKey(k), Entry: e, Failure: failure})
		pipe := f.client.Pipeline()
		pipe.Publish(rctx, FilledChannel, payload)
		// EVAL, not EVALSHA: a pipeline cannot fall back when the script is not loaded.
		redislock.Release.Eval(rctx, pipe, []string{lockKey(k)}, token)
		if _, err := pipe.Exec(rctx); err != nil {
			f.log.Debug("fill release failed", "err", err)
		}
	}
	return done, nil, true, nil
}

// fetchedAfter reports whether the encoded entry raw was fetched after
// since, reading its fetch time only: most fills find an older entry (a
// refresh, an expired one), and decoding its whole job just to compare one
// time cost a cold query more CPU than its upstream request did.
func fetchedAfter(raw []byte, since time.Time) bool {
	if at, ok := encodedFetchTime(raw); ok {
		return at.After(since)
	}
	var head struct {
		FetchedAt time.Time `json:"at"`
	}
	return json.Unmarshal(raw, &head) == nil && head.FetchedAt.After(since)
}

// atKey opens the fetch time of an encoded Entry, its last member.
var atKey = []byte(`"at":"`)

// encodedFetchTime finds the fetch time of an encoded Entry without
// scanning the job: Entry encodes it last, and a quote inside a JSON string
// is always escaped, so the last `"at":"` is the entry's own. ok is false
// when the text is not as Entry writes it (the caller then decodes).
func encodedFetchTime(raw []byte) (time.Time, bool) {
	i := bytes.LastIndex(raw, atKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := raw[i+len(atKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || !bytes.Equal(bytes.TrimSpace(rest[j+1:]), []byte("}")) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}

// Await implements Filler.
func (f *RedisFiller) Await(ctx context.Context, k Key, since time.Time) (*Entry, error) {
	f.start()
	name := lockKey(k)
	ch := make(chan fillNotice, 1)
	f.mu.Lock()
	f.waiters[name] = append(f.waiters[name], ch)
	f.mu.Unlock()
	defer f.forget(name, ch)

	// The holder may have finished between our failed SET NX and the
	// subscription: look once.
	if e := f.lookup(ctx, k, since); e != nil {
		return e, nil
	}
	t := time.NewTicker(f.check)
	defer t.Stop()
	for {
		select {
		case n := <-ch:
			if n.Failure != "" {
				return nil, &ErrFillFailed{Reason: n.Failure}
			}
			if n.Entry != nil && n.Entry.FetchedAt.After(since) {
				return n.Entry, nil
			}
			return f.lookup(ctx, k, since), nil
		case <-t.C:
			exists, err := f.client.Exists(ctx, name).Result()
			if err != nil {
				return nil, fmt.Errorf("fill lock: %w", err)
			}
			if exists == 0 {
				return f.lookup(ctx, k, since), nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (f *RedisFiller) lookup(ctx context.Context, k Key, since time.Time) *Entry {
	entries, err := f.cache.GetShared(ctx, []Key{k})
	if err == nil && entries[0] != nil && entries[0].FetchedAt.After(since) {
		return entries[0]
	}
	return nil
}

func (f *RedisFiller) forget(name string, ch chan fillNotice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := f.waiters[name]
	for i, w := range ws {
		if w == ch {
			f.waiters[name] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(f.waiters[name]) == 0 {
		delete(f.waiters, name)
	}
}
