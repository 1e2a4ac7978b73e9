package discovery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/discovery"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

const (
	listPath = "GET /api/public/bots"
	ttl      = 5 * time.Minute
)

// clock is a fake clock shared by the replicas of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// world is a simulator account of n bots (each with an app of its own), and
// the secrets its bot list serves.
type world struct {
	acct    simulator.Account
	srv     *simulator.Server
	secrets []string
	clock   *clock
	logs    *syncBuffer
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	w := &world{acct: testkit.Account("disc", n), clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	w.secrets = append(w.secrets, w.acct.ClientSecret)
	for i := range w.acct.Bots {
		w.acct.Bots[i].AppSecret = fmt.Sprintf("app-secret-of-bot-%03d-0123456789", i)
		w.secrets = append(w.secrets, w.acct.Bots[i].AppSecret)
	}
	w.srv = testkit.MustSimulator(t, simulator.WithAccounts(w.acct))
	return w
}

// replica is one gateway's view: its own catalog and refresher.
type replica struct {
	env *catalog.Environment
	r   *discovery.Refresher
}

func (w *world) replica(t *testing.T, rdb redis.UniversalClient, opts discovery.Options) replica {
	t.Helper()
	cat, err := catalog.New([]catalog.Environment{{Name: "disc", Host: w.srv.URL, Bots: []catalog.Bot{
		{ID: w.acct.Bots[0].ID, Name: "Configured name"},
		{ID: testkit.BotID("configured-only"), Name: "Configured only"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := cat.Lookup("disc")
	c, err := upstream.New(w.srv.URL, upstream.Credentials{ClientID: w.acct.ClientID, ClientSecret: w.acct.ClientSecret}, upstream.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	opts.Redis, opts.TTL, opts.Now = rdb, ttl, w.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return replica{env: env, r: discovery.New(env, c, opts)}
}

func (w *world) lists() int64 { return w.srv.Simulator.Stats().ByPath[listPath] }

func newRedisClient(t *testing.T, r *testkit.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wantKnown checks the merged list: configured first (configured names
// win), then every discovered bot once.
func wantKnown(t *testing.T, w *world, env *catalog.Environment) {
	t.Helper()
	known := env.Known()
	if len(known) != len(w.acct.Bots)+1 {
		t.Fatalf("known %d bots, want %d", len(known), len(w.acct.Bots)+1)
	}
	seen := map[string]bool{}
	for _, b := range known {
		if seen[b.ID] {
			t.Fatalf("%s listed twice", b.ID)
		}
		seen[b.ID] = true
	}
	if known[0].Name != "Configured name" || known[1].Name != "Configured only" || known[2].ID != w.acct.Bots[1].ID {
		t.Fatalf("known starts %+v", known[:3])
	}
}

func TestReplicasListOncePerTTL(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", shared), func(t *testing.T) {
			w := newWorld(t, 120)
			var rdb *testkit.Redis
			if shared {
				rdb = testkit.MustRedis(t)
			}
			var reps []replica
			for range 3 {
				var c redis.UniversalClient
				if shared {
					c = newRedisClient(t, rdb)
				}
				reps = append(reps, w.replica(t, c, discovery.Options{}))
			}
			ctx := context.Background()
			wantPages := func(perReplicaListing int64, step string) {
				t.Helper()
				if got := w.lists(); got != perReplicaListing*3 {
					t.Fatalf("%s: the simulator served %d list pages, want %d (3 per listing)", step, got, perReplicaListing*3)
				}
			}
			listings := int64(1) // with Redis one listing serves all
			if !shared {
				listings = 3
			}
			// Concurrent first syncs: one replica lists, the others either
			// wait for it or (in process) list for themselves.
			var wg sync.WaitGroup
			for _, r := range reps {
				wg.Go(func() {
					if _, err := r.r.Sync(ctx); err != nil {
						t.Errorf("Sync: %v", err)
					}
				})
			}
			wg.Wait()
			for _, r := range reps {
				if _, err := r.r.Sync(ctx); err != nil { // the waiters read the shared list
					t.Fatal(err)
				}
				wantKnown(t, w, r.env)
				select {
				case <-r.r.Loaded():
				default:
					t.Fatal("Loaded not closed after a list")
				}
			}
			wantPages(listings, "first sync")

			w.clock.Advance(ttl - time.Second)
			for _, r := range reps {
				next, err := r.r.Sync(ctx)
				if err != nil || next.Sub(w.clock.Now()) != time.Second {
					t.Fatalf("Sync before the TTL: next in %v, err %v", next.Sub(w.clock.Now()), err)
				}
			}
			wantPages(listings, "within the TTL")

			w.clock.Advance(time.Second)
			for _, r := range reps {
				if _, err := r.r.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				wantKnown(t, w, r.env)
			}
			wantPages(2*listings, "after the TTL")
		})
	}
}

func TestFailedListingKeepsTheLastListAndWaits(t *testing.T) {
	w := newWorld(t, 60)
	rdb := testkit.MustRedis(t)
	var outcomes []string
	var mu sync.Mutex
	onSync := func(o string, _ int) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }
	a := w.replica(t, newRedisClient(t, rdb), discovery.Options{OnSync: onSync, RetryAfter: 10 * time.Second})
	b := w.replica(t, newRedisClient(t, rdb), discovery.Options{OnSync: onSync, RetryAfter: 10 * time.Second})
	ctx := context.Background()
	if _, err := a.r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Simulator.SetAccountFault(w.acct.ClientID, simulator.Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(ttl)
	before := w.lists()
	next, err := a.r.Sync(ctx)
	if !errors.Is(err, upstream.ErrUnavailable) || next.Sub(w.clock.Now()) != 10*time.Second {
		t.Fatalf("failed Sync: err %v, next in %v", err, next.Sub(w.clock.Now()))
	}
	wantKnown(t, w, a.env)
	// The other replica adopts the (stale) shared list and does not try
	// again while the failed lister's lock holds.
	if _, err := b.r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	wantKnown(t, w, b.env)
	if got := w.lists() - before; got != 1 {
		t.Fatalf("%d list requests after the failure, want the one that failed", got)
	}
	if !strings.Contains(w.logs.String(), "keeping the last list") {
		t.Fatalf("no warning logged:\n%s", w.logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[len(outcomes)-1] != discovery.OutcomeShared || !containsOutcome(outcomes, discovery.OutcomeFailed) {
		t.Fatalf("outcomes %q", outcomes)
	}
}

// TestTheSharedListAndItsLockAreKeyspaceNamed: a listing shares the list at
// keyspace.BotList and releases keyspace.BotListLock; a failed one keeps the
// lock for RetryAfter, so that no replica lists again at once.
func TestTheSharedListAndItsLockAreKeyspaceNamed(t *testing.T) {
	w := newWorld(t, 10)
	c := newRedisClient(t, testkit.MustRedis(t))
	a := w.replica(t, c, discovery.Options{RetryAfter: 10 * time.Second})
	ctx := t.Context()
	if _, err := a.r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, keyspace.BotList("disc")).Result(); n != 1 || err != nil {
		t.Fatalf("%s after a listing: exists %d, %v", keyspace.BotList("disc"), n, err)
	}
	if n, err := c.Exists(ctx, keyspace.BotListLock("disc")).Result(); n != 0 || err != nil {
		t.Fatalf("%s after a listing: exists %d, %v; want released", keyspace.BotListLock("disc"), n, err)
	}
	if err := w.srv.Simulator.SetAccountFault(w.acct.ClientID, simulator.Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(ttl)
	if _, err := a.r.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded against a failing Kore.ai")
	}
	if left, err := c.PTTL(ctx, keyspace.BotListLock("disc")).Result(); err != nil || left < 9*time.Second || left > 10*time.Second {
		t.Fatalf("the lock after a failed listing lasts %v more (%v); want about RetryAfter, 10s", left, err)
	}
}

func containsOutcome(outs []string, o string) bool {
	for _, x := range outs {
		if x == o {
			return true
		}
	}
	return false
}

func TestGateRefusalIsAFailedListing(t *testing.T) {
	w := newWorld(t, 120)
	pages := 0
	refuse := &upstream.Error{Kind: upstream.ErrRateLimited, RetryAfter: time.Minute}
	r := w.replica(t, nil, discovery.Options{Gate: func(context.Context) error {
		pages++
		if pages > 1 {
			return refuse
		}
		return nil
	}})
	next, err := r.r.Sync(context.Background())
	if !errors.Is(err, upstream.ErrRateLimited) || next.Sub(w.clock.Now()) != time.Minute {
		t.Fatalf("err %v, next in %v; want rate limited, a minute", err, next.Sub(w.clock.Now()))
	}
	if got := w.lists(); got != 1 {
		t.Fatalf("%d pages requested, want 1 (the gate refused the second)", got)
	}
	if len(r.env.Known()) != 2 {
		t.Fatalf("a partial listing was applied: %d bots", len(r.env.Known()))
	}
}

func TestSecretsAreNeverStoredOrLogged(t *testing.T) {
	w := newWorld(t, 120)
	rdb := testkit.MustRedis(t)
	c := newRedisClient(t, rdb)
	r := w.replica(t, c, discovery.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	r.r.Start(ctx)
	defer cancel()
	<-r.r.Loaded()
	if err := r.r.Close(); err != nil {
		t.Fatal(err)
	}
	wantKnown(t, w, r.env)
	var stored strings.Builder
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %q, err %v", keys, err)
	}
	for _, k := range keys {
		v, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		stored.WriteString(v)
	}
	stored.WriteString(fmt.Sprintf("%#v", r.env.Known()))
	for _, s := range w.secrets {
		for where, text := range map[string]string{"redis or the catalog": stored.String(), "logs": w.logs.String()} {
			if strings.Contains(text, s) {
				t.Fatalf("%s hold the secret %q", where, s)
			}
		}
	}
	if w.lists() != 3 {
		t.Fatalf("%d list pages, want 3", w.lists())
	}
}
