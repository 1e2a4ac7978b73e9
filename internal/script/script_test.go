package script_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/script"
	"github.com/publishgate/publishgate/internal/testkit"
)

// incrBy adds ARGV[1] to KEYS[1], or answers an error when ARGV[1] is
// "fail": one call's error must not fail its neighbours.
var incrBy = redis.NewScript(`
if ARGV[1] == "fail" then return redis.error_reply("ERR asked to fail") end
return redis.call("INCRBY", KEYS[1], ARGV[1])`)

// TestRun: on a single Redis and on a 3-master Cluster (keys in every
// slot), every call answers in order, a failing call fails alone, and
// after the script is lost (SCRIPT FLUSH on every node: a restart or a
// failover) the calls still run, exactly once each.
func TestRun(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
		flush  func(ctx context.Context, c redis.UniversalClient) error
	}{
		{
			name: "redis",
			client: func(t *testing.T) redis.UniversalClient {
				return redis.NewClient(&redis.Options{Addr: testkit.MustRedis(t).Addr})
			},
			flush: func(ctx context.Context, c redis.UniversalClient) error { return c.ScriptFlush(ctx).Err() },
		},
		{
			name: "cluster",
			client: func(t *testing.T) redis.UniversalClient {
				return redis.NewClusterClient(&redis.ClusterOptions{Addrs: testkit.MustRedisCluster(t, 3).Addrs})
			},
			flush: func(ctx context.Context, c redis.UniversalClient) error {
				return c.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
					return n.ScriptFlush(ctx).Err()
				})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client(t)
			t.Cleanup(func() { _ = c.Close() })
			var calls []script.Call
			for i := range 30 {
				arg := any(i + 1)
				if i == 7 {
					arg = "fail"
				}
				calls = append(calls, script.Call{Keys: []string{fmt.Sprintf("k%d", i)}, Args: []any{arg}})
			}
			check := func(round int, cmds []*redis.Cmd) {
				t.Helper()
				if len(cmds) != len(calls) {
					t.Fatalf("round %d: %d answers for %d calls", round, len(cmds), len(calls))
				}
				for i, cmd := range cmds {
					n, err := cmd.Int()
					if i == 7 {
						if err == nil || script.IsNoScript(err) {
							t.Fatalf("round %d: call 7 answered %v, %v; want its own error", round, n, err)
						}
						continue
					}
					if err != nil || n != round*(i+1) {
						t.Fatalf("round %d: call %d answered %d, %v; want %d", round, i, n, err, round*(i+1))
					}
				}
			}
			cmds, err := script.Run(ctx, c, incrBy, calls)
			if err != nil {
				t.Fatal(err)
			}
			check(1, cmds)
			if err := tc.flush(ctx, c); err != nil {
				t.Fatal(err)
			}
			cmds, err = script.Run(ctx, c, incrBy, calls)
			if err != nil {
				t.Fatal(err)
			}
			check(2, cmds) // every call ran exactly once more

			// Queue with other commands in the caller's pipeline, then Rerun.
			if err := tc.flush(ctx, c); err != nil {
				t.Fatal(err)
			}
			pipe := c.Pipeline()
			set := pipe.Set(ctx, "other", "v", 0)
			cmds = script.Queue(ctx, pipe, incrBy, calls)
			if _, err := pipe.Exec(ctx); err != nil && !script.IsPerCommand(err) {
				t.Fatal(err)
			}
			if set.Err() != nil {
				t.Fatalf("a command beside the scripts: %v", set.Err())
			}
			if err := script.Rerun(ctx, c, incrBy, calls, cmds); err != nil {
				t.Fatal(err)
			}
			check(3, cmds)
		})
	}
}

// TestRunConnectionFailure: with Redis gone, Run says so in err.
func TestRunConnectionFailure(t *testing.T) {
	r := testkit.MustRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	r.Stop()
	if _, err := script.Run(context.Background(), c, incrBy, []script.Call{{Keys: []string{"k"}, Args: []any{1}}}); err == nil || script.IsPerCommand(err) {
		t.Fatalf("Run with Redis stopped: %v, want the connection's error", err)
	}
}
