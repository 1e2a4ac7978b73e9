package cache

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
)

// A fill notice is one pub/sub message per finished batch on
// keyspace.FilledChannel. Every replica hears every notice, and decodes an
// entry only when one of its batches waits for that key. The format:
//
//	"N1", then per key: uvarint len, the fill lock's key name, one byte
//	(0: an entry follows, 1: a failure's kind follows), uvarint len, bytes
//
// The entry is in the cache's value encoding (codec.go).
const noticeMagic = "N1"

// noticeWriter builds one notice.
type noticeWriter struct {
	buf   []byte
	count int
}

func (n *noticeWriter) add(lockKey string, entry []byte, failure string) {
	if n.buf == nil {
		n.buf = append(n.buf, noticeMagic...)
	}
	n.buf = binary.AppendUvarint(n.buf, uint64(len(lockKey)))
	n.buf = append(n.buf, lockKey...)
	if failure != "" || entry == nil {
		if failure == "" {
			failure = "unavailable"
		}
		n.buf = append(n.buf, 1)
		n.buf = binary.AppendUvarint(n.buf, uint64(len(failure)))
		n.buf = append(n.buf, failure...)
	} else {
		n.buf = append(n.buf, 0)
		n.buf = binary.AppendUvarint(n.buf, uint64(len(entry)))
		n.buf = append(n.buf, entry...)
	}
	n.count++
}

func (n *noticeWriter) bytes() []byte { return n.buf }

// Notice is the outcome of one key another replica filled.
type Notice struct {
	// Key is the key filled.
	Key Key
	// Entry is what it fetched (nil when it failed or the entry could not
	// be read).
	Entry *Entry
	// Failure names the upstream error kind when its fetch failed.
	Failure string
}

// Watch receives the notices of a set of keys until End.
type Watch struct {
	n    *notices
	keys map[string]Key // fill lock key -> key
	c    chan Notice
}

// C delivers the notices of the watched keys, each key at most once.
func (w *Watch) C() <-chan Notice { return w.c }

// End stops the watch; it is safe to call more than once.
func (w *Watch) End() { w.n.forget(w) }

// notices is the process's subscription to fill notices.
type notices struct {
	client redis.UniversalClient
	log    *slog.Logger
	check  time.Duration

	startOnce sync.Once
	sub       *redis.PubSub
	mu        sync.Mutex
	waiters   map[string][]*Watch
	closed    chan struct{}
	wg        sync.WaitGroup
}

func newNotices(client redis.UniversalClient, log *slog.Logger) *notices {
	return &notices{client: client, log: log, check: 250 * time.Millisecond, waiters: map[string][]*Watch{}, closed: make(chan struct{})}
}

// start subscribes once, on first use, and waits (briefly) for Redis to
// confirm the subscription, so that a notice sent after a claim is heard.
func (n *notices) start() {
	n.startOnce.Do(func() {
		sub := n.client.Subscribe(context.Background(), keyspace.FilledChannel)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := sub.Receive(ctx); err != nil {
			n.log.Debug("fill notice subscription not confirmed yet", "err", err)
		}
		cancel()
		n.mu.Lock()
		n.sub = sub
		n.mu.Unlock()
		ch := sub.Channel(redis.WithChannelSize(1024))
		n.wg.Go(func() {
			for {
				select {
				case <-n.closed:
					return
				case m, ok := <-ch:
					if !ok {
						return
					}
					n.dispatch(m.Payload)
				}
			}
		})
	})
}

func (n *notices) close() error {
	select {
	case <-n.closed:
		return nil
	default:
	}
	close(n.closed)
	var err error
	n.mu.Lock()
	sub := n.sub
	n.mu.Unlock()
	if sub != nil {
		err = sub.Close()
	}
	n.wg.Wait()
	return err
}

func (n *notices) watch(keys []Key) *Watch {
	n.start()
	w := &Watch{n: n, keys: make(map[string]Key, len(keys)), c: make(chan Notice, len(keys))}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		name := keyspace.FillLock(k.Environment, k.BotID)
		if _, dup := w.keys[name]; dup {
			continue
		}
		w.keys[name] = k
		n.waiters[name] = append(n.waiters[name], w)
	}
	return w
}

func (n *notices) forget(w *Watch) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name := range w.keys {
		ws := n.waiters[name]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(n.waiters, name)
		} else {
			n.waiters[name] = ws
		}
	}
	clear(w.keys)
}

// dispatch hands each key of a notice to the watches waiting for it. A
// watch hears a key once: it is then no longer registered for it.
func (n *notices) dispatch(payload string) {
	if len(payload) < len(noticeMagic) || payload[:len(noticeMagic)] != noticeMagic {
		return
	}
	p := payload[len(noticeMagic):]
	for len(p) > 0 {
		name, rest, ok := readField(p)
		if !ok || len(rest) < 1 {
			return
		}
		kind := rest[0]
		data, rest, ok := readField(rest[1:])
		if !ok {
			return
		}
		p = rest
		n.mu.Lock()
		ws := n.waiters[name]
		if len(ws) > 0 {
			delete(n.waiters, name)
		}
		n.mu.Unlock()
		if len(ws) == 0 {
			continue
		}
		var no Notice
		if kind == 1 {
			no.Failure = data
		} else if e, err := decodeEntryString(data); err == nil {
			no.Entry = &e
		}
		for _, w := range ws {
			n.mu.Lock()
			k, ok := w.keys[name]
			delete(w.keys, name)
			n.mu.Unlock()
			if ok {
				no.Key = k
				w.c <- no // buffered for every key of the watch
			}
		}
	}
}

// readField reads a uvarint length and that many bytes of p.
func readField(p string) (field, rest string, ok bool) {
	l, n := binary.Uvarint([]byte(p[:min(len(p), binary.MaxVarintLen64)]))
	if n <= 0 || uint64(len(p)-n) < l {
		return "", "", false
	}
	return p[n : n+int(l)], p[n+int(l):], true
}
