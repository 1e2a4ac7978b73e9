package loader_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// slowWrites holds every pipeline that publishes (the coordinator's
// write-back: entries, lock releases, the notice) until release is closed,
// and counts the ones held.
type slowWrites struct {
	release chan struct{}
	held    atomic.Int32
}

func (h *slowWrites) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slowWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *slowWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "publish" {
				h.held.Add(1)
				<-h.release
				break
			}
		}
		return next(ctx, cmds)
	}
}

// TestAnswersComeBeforeTheWriteBackUnlessAwaited: with Redis, a Load
// answers as soon as the bot is read, while its write-back is still held;
// a Load under AwaitShared (the watcher's, which then tells the other
// replicas to read Redis) answers only once the entry is in Redis.
func TestAnswersComeBeforeTheWriteBackUnlessAwaited(t *testing.T) {
	acct := testkit.Account("shared", 2)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	r := testkit.MustRedis(t)
	hook := &slowWrites{release: make(chan struct{})}
	client := redis.NewClient(&redis.Options{Addr: r.Addr})
	client.AddHook(hook)
	t.Cleanup(func() { _ = client.Close() })
	reader := redis.NewClient(&redis.Options{Addr: r.Addr}) // not held
	t.Cleanup(func() { _ = reader.Close() })

	policy := cache.DefaultPolicy
	tiered := cache.NewTiered(cache.NewMemory(policy), cache.NewRedis(client, policy), policy, cache.WithSharedTimeout(5*time.Second))
	coord := cache.NewRedisCoordinator(client, tiered, policy, func(string) budget.Limits { return budget.Limits{} }, time.Minute, nil)
	t.Cleanup(func() { _ = coord.Close() })
	up, err := upstream.New(sim.URL, upstream.Credentials{ClientID: acct.ClientID, ClientSecret: acct.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	src := loader.NewSource(tiered, policy, map[string]loader.Fetcher{"shared": up}, loader.WithCoordinator(coord, coord.CheckInterval()))
	t.Cleanup(func() { src.Close() })
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(hook.release) }) }
	t.Cleanup(unblock) // before src.Close, which waits for the write-backs
	shared := cache.NewRedis(reader, policy)
	inRedis := func(bot string) bool {
		es, err := shared.GetMany(context.Background(), []cache.Key{{Environment: "shared", BotID: bot}})
		if err != nil {
			t.Fatal(err)
		}
		return es[0] != nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A plain Load answers with the write-back held.
	first := acct.Bots[0].ID
	out := src.Load(ctx, []loader.Key{{Environment: "shared", BotID: first}})
	if out[0].Err != nil || out[0].Result.Job == nil {
		t.Fatalf("plain Load: %+v", out[0])
	}
	if inRedis(first) {
		t.Fatal("the entry was in Redis while its write-back was held")
	}
	if hook.held.Load() != 1 {
		t.Fatalf("%d write-backs held, want 1", hook.held.Load())
	}

	// An awaiting Load does not answer while the write-back is held...
	second := acct.Bots[1].ID
	done := make(chan loader.Outcome, 1)
	go func() {
		done <- src.Load(loader.AwaitShared(ctx), []loader.Key{{Environment: "shared", BotID: second}})[0]
	}()
	testkit.Eventually(t, 10*time.Second, "the second write-back is held", func() bool { return hook.held.Load() == 2 })
	select {
	case o := <-done:
		t.Fatalf("AwaitShared Load answered before its write-back: %+v", o)
	default:
	}
	// ...and answers once it is in Redis.
	unblock()
	o := <-done
	if o.Err != nil || o.Result.Job == nil {
		t.Fatalf("AwaitShared Load: %+v", o)
	}
	if !inRedis(second) {
		t.Fatal("AwaitShared Load answered, but its entry is not in Redis")
	}
}
