package lease_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/lease"
	"github.com/publishgate/publishgate/internal/testkit"
)

// roundTrips counts what a client sends: single commands and pipelines.
type roundTrips struct{ cmds, pipelines atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func (r *roundTrips) reset() { r.cmds.Store(0); r.pipelines.Store(0) }

// expire makes key expire now, as if its holder had stopped renewing it for
// its whole TTL, and waits until Redis has dropped it.
func expire(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	if err := c.PExpire(t.Context(), key, time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, key+" expires", func() bool {
		n, err := c.Exists(t.Context(), key).Result()
		return err == nil && n == 0
	})
}

// TestAnExpiredHolderCannotTouchItsSuccessor: once a's lease has expired and
// b has taken it, nothing a does renews, shortens, deletes or takes b's.
func TestAnExpiredHolderCannotTouchItsSuccessor(t *testing.T) {
	const ttl = time.Minute
	for _, tt := range []struct {
		name string
		call func(a *lease.Lease, ctx context.Context) (bool, error) // a method expression
	}{
		{"renew fails", (*lease.Lease).Renew},
		{"extend fails", func(a *lease.Lease, ctx context.Context) (bool, error) { return a.Extend(ctx, time.Millisecond) }},
		{"release fails", (*lease.Lease).Release},
		{"hold fails", (*lease.Lease).Hold},
		{"try acquire fails", (*lease.Lease).TryAcquire},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.MustRedis(t).Client(t)
			ctx := t.Context()
			a, b := lease.New(c, "l", ttl), lease.New(c, "l", ttl)
			if ok, err := a.TryAcquire(ctx); !ok || err != nil {
				t.Fatalf("a takes a free lease: %v, %v", ok, err)
			}
			expire(t, c, "l")
			if ok, err := b.TryAcquire(ctx); !ok || err != nil {
				t.Fatalf("b takes the expired lease: %v, %v", ok, err)
			}
			ok, err := tt.call(a, ctx)
			if ok || err != nil {
				t.Fatalf("a's call on b's lease: %v, %v; want false, nil", ok, err)
			}
			if a.Held() {
				t.Error("a believes it holds b's lease")
			}
			v, _ := c.Get(ctx, "l").Result()
			left, _ := c.PTTL(ctx, "l").Result()
			if v != b.Token() || left < ttl-10*time.Second {
				t.Fatalf("b's lease after a's call: value %q (b's is %q), %v left", v, b.Token(), left)
			}
		})
	}
}

// TestHold: Hold takes a free lease, renews its own, and leaves another's.
func TestHold(t *testing.T) {
	c := testkit.MustRedis(t).Client(t)
	ctx := t.Context()
	a, b := lease.New(c, "l", time.Minute), lease.New(c, "l", time.Minute)
	if ok, err := a.Hold(ctx); !ok || err != nil {
		t.Fatalf("a holds a free lease: %v, %v", ok, err)
	}
	if err := c.PExpire(ctx, "l", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Hold(ctx); !ok || err != nil {
		t.Fatalf("a renews its lease: %v, %v", ok, err)
	}
	if left, _ := c.PTTL(ctx, "l").Result(); left < 50*time.Second {
		t.Errorf("a's renewed lease lasts %v more; want about a minute", left)
	}
	if ok, err := b.Hold(ctx); ok || err != nil {
		t.Fatalf("b holds a's lease: %v, %v", ok, err)
	}
	if ok, err := a.Release(ctx); !ok || err != nil {
		t.Fatalf("a releases: %v, %v", ok, err)
	}
	if ok, err := b.Hold(ctx); !ok || err != nil {
		t.Fatalf("b holds the released lease: %v, %v", ok, err)
	}
}

// TestErrorsAreWrapped: a lease whose Redis is gone says which lease, and
// the cause is still there for errors.Is/As.
func TestErrorsAreWrapped(t *testing.T) {
	c := testkit.MustRedis(t).Client(t)
	_ = c.Close()
	_, err := lease.New(c, "l", time.Second).Hold(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "hold lease l: ") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, redis.ErrClosed) {
		t.Errorf("%v does not wrap redis.ErrClosed", err)
	}
}

// TestBatchHoldIsOneRoundTrip: a batch of 48 keys spread over slots takes
// the free ones, renews its own, leaves another holder's and reports each
// in one pipeline; a key Redis fails fails alone.
func TestBatchHoldIsOneRoundTrip(t *testing.T) {
	const n = 48
	r := testkit.MustRedis(t)
	c := r.Client(t)
	count := &roundTrips{}
	c.AddHook(count)
	ctx := t.Context()
	other := r.Client(t)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("lease:{%d}", i)
	}
	// Every third key is held by someone else; key 1 is not a string.
	for i := 0; i < n; i += 3 {
		if err := other.Set(ctx, keys[i], "someone-else", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.RPush(ctx, keys[1], "x").Err(); err != nil {
		t.Fatal(err)
	}
	b := lease.NewBatch(c, time.Minute)
	check := func(what string) {
		t.Helper()
		count.reset()
		res := b.Hold(ctx, keys)
		if got := count.pipelines.Load(); got != 1 || count.cmds.Load() != 0 {
			t.Errorf("%s: %d pipelines and %d single commands; want one pipeline", what, got, count.cmds.Load())
		}
		if len(res) != n {
			t.Fatalf("%s: %d results for %d keys", what, len(res), n)
		}
		for i, got := range res {
			switch {
			case i == 1:
				if got.Err == nil || got.Held {
					t.Errorf("%s: key 1 (a list): %+v; want its own error", what, got)
				}
			case i%3 == 0:
				if got.Held || got.Err != nil {
					t.Errorf("%s: %s, someone else's: %+v", what, keys[i], got)
				}
			default:
				if !got.Held || got.Err != nil {
					t.Errorf("%s: %s, free or ours: %+v", what, keys[i], got)
				}
			}
		}
	}
	// The first call also loads the script (EVALSHA answers NOSCRIPT, and
	// EVAL follows in a second pipeline) and dials.
	count.reset()
	b.Hold(ctx, keys)
	t.Logf("first hold, the script not loaded yet: %d pipelines", count.pipelines.Load())
	check("taking")
	if err := c.PExpire(ctx, keys[2], time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	check("renewing")
	if left, _ := c.PTTL(ctx, keys[2]).Result(); left < 50*time.Second {
		t.Errorf("%s renewed lasts %v more; want about a minute", keys[2], left)
	}

	_ = b.Release(ctx, []string{"none"}) // loads the script
	count.reset()
	if err := b.Release(ctx, keys); err == nil {
		t.Error("Release: no error for the list key")
	}
	if count.pipelines.Load() != 1 {
		t.Errorf("Release: %d pipelines", count.pipelines.Load())
	}
	for i, k := range keys {
		v, err := other.Get(ctx, k).Result()
		switch {
		case i == 1:
		case i%3 == 0:
			if v != "someone-else" {
				t.Errorf("%s, someone else's, after Release: %q, %v", k, v, err)
			}
		default:
			if err != redis.Nil {
				t.Errorf("%s after Release: %q, %v; want none", k, v, err)
			}
		}
	}
}

// TestBatchHoldAfterTheScriptIsLost: after SCRIPT FLUSH (a restarted or
// failed-over Redis) Hold still answers, with a second round trip.
func TestBatchHoldAfterTheScriptIsLost(t *testing.T) {
	c := testkit.MustRedis(t).Client(t)
	ctx := t.Context()
	b := lease.NewBatch(c, time.Minute)
	keys := []string{"a", "b", "c"}
	b.Hold(ctx, keys)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Hold(ctx, keys) {
		if !r.Held || r.Err != nil {
			t.Fatalf("hold after SCRIPT FLUSH: %+v", r)
		}
	}
}

// TestReleaseManyDeletesOnlyTheKeysStillHoldingTheirTokens: of three fill
// locks of one slot, the one a successor took and the one that expired are
// left alone; the count says how many went.
func TestReleaseManyDeletesOnlyTheKeysStillHoldingTheirTokens(t *testing.T) {
	c := testkit.MustRedis(t).Client(t)
	ctx := t.Context()
	keys := []string{"fill:{b3}:x", "fill:{b3}:y", "fill:{b3}:z"}
	tokens := []any{lease.NewToken(), lease.NewToken(), lease.NewToken()}
	for i, k := range keys {
		if err := c.Set(ctx, k, tokens[i], time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	successor := lease.NewToken()
	if err := c.Set(ctx, keys[1], successor, time.Minute).Err(); err != nil { // y expired and was taken
		t.Fatal(err)
	}
	if err := c.Del(ctx, keys[2]).Err(); err != nil { // z expired
		t.Fatal(err)
	}
	n, err := lease.ReleaseMany.Run(ctx, c, keys, tokens...).Int()
	if err != nil || n != 1 {
		t.Fatalf("ReleaseMany = %d, %v; want 1", n, err)
	}
	if v, err := c.Get(ctx, keys[0]).Result(); err != redis.Nil {
		t.Errorf("x, still ours: %q, %v; want deleted", v, err)
	}
	if v, _ := c.Get(ctx, keys[1]).Result(); v != successor {
		t.Errorf("y, the successor's: %q; want kept", v)
	}
}

// TestTokensDiffer: 128 random bits each.
func TestTokensDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := lease.NewToken()
		if len(tok) != 26 || seen[tok] {
			t.Fatalf("token %q (len %d, seen %v)", tok, len(tok), seen[tok])
		}
		seen[tok] = true
	}
}
